# Shared by the scripts: paths, messages, the Python that has our packages.
# shellcheck shell=bash
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export WINEPREFIX=${WINEPREFIX:-$ROOT/build/wine-prefix}
export WINEDEBUG=${WINEDEBUG:--all}
export WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-mscoree,mshtml=}

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
