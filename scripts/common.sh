# Shared by the scripts: paths, messages, the Python that has our packages.
# shellcheck shell=bash
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export WINEPREFIX=${WINEPREFIX:-$ROOT/build/wine-prefix}

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The python3 first on PATH may be another interpreter (pyenv, a venv) that
# lacks Debian's python3-* packages: use the first one that imports them.
find_python() {
  local candidate
  for candidate in /usr/bin/python3 "$(command -v python3 2>/dev/null)"; do
    [ -x "$candidate" ] || continue
    if "$candidate" -c 'import matplotlib, pytest' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# For scripts under set -e: never stop without saying where.
report_failures() { trap 'echo "error: $(basename "$0"): line $LINENO failed" >&2' ERR; }

# --help and --version for every script, answered before any work is done.
# usage: handle_help_and_version "$@"   (needs a usage() function in the script)
handle_help_and_version() {
  local arg
  for arg in "$@"; do
    case "$arg" in
      -h|--help) usage; exit 0 ;;
      --version) (cd "$ROOT" && python3 -m harness.version "$(basename "$0")"); exit 0 ;;
      --) return 0 ;;
    esac
  done
}

# For scripts that take no options: anything given is refused, before any work.
refuse_arguments() {
  if [ $# -gt 0 ]; then
    echo "$(basename "$0"): unknown option '$1' (see --help)" >&2
    exit 2
  fi
}
