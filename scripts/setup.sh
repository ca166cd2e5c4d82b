#!/usr/bin/env bash
# Installs what winsock-bench needs on Debian/Ubuntu (only what is missing),
# and prepares the project's private Wine prefix (never the user's ~/.wine).
set -euo pipefail
source "$(dirname "$0")/common.sh"
usage() {
  echo "usage: scripts/setup.sh [--help] [--version]"
  echo "Installs what winsock-bench needs (Debian packages, only those missing, with apt-get) and"
  echo "prepares the project's private Wine prefix under build/; starts a persistent wineserver."
}
handle_help_and_version "$@"
refuse_arguments "$@"
report_failures

packages=(cmake make gcc clang lld libc6-dev pkg-config gcc-mingw-w64-x86-64 wine wine64 libcmocka-dev
          python3 python3-pytest python3-matplotlib
          python3-pyflakes clang-tidy clang-format  # the checks: lint.sh, analyze.sh, format.sh
          libclang-rt-dev llvm  # sanitizer runtimes, symbolizer: scripts/sanitize.sh
          iproute2 openssh-server  # the test hosts: tests/remote
          chromium python3-jsonschema  # the report in a real browser; summary.json against its schema
          python3-yaml)  # the CI workflows, read by their tests
# Node.js and npm parse the PowerShell scripts (tests/tools/powershell): Debian's,
# unless the machine has its own already.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  if [[ " ${missing[*]} " == *" openssh-server "* ]]; then
    # The tests start sshd themselves, inside network namespaces of their own
    # (tests/remote); the system's SSH service must not start because we
    # installed the package. Debian's ssh service never runs while this file exists.
    "${sudo[@]}" mkdir -p /etc/ssh
    "${sudo[@]}" touch /etc/ssh/sshd_not_to_be_run
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
find_python >/dev/null || die "no python3 here imports matplotlib and pytest (python3-matplotlib, python3-pytest)"

# The PowerShell grammar and its WebAssembly runtime, from npm at the versions
# package-lock.json pins, into build/ (no install scripts: nothing is compiled).
parser_src=$ROOT/tests/tools/powershell parser_dir=$ROOT/build/powershell-syntax
if ! cmp -s "$parser_src/package-lock.json" "$parser_dir/package-lock.json" || [ ! -d "$parser_dir/node_modules" ]; then
  say "installing the PowerShell grammar (npm) into $parser_dir"
  mkdir -p "$parser_dir"
  cp "$parser_src/package.json" "$parser_src/package-lock.json" "$parser_dir/"
  (cd "$parser_dir" && timeout 600 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) ||
    die "npm could not install the PowerShell grammar into $parser_dir"
fi

if [ ! -f "$WINEPREFIX/system.reg" ]; then
  say "creating the Wine prefix $WINEPREFIX"
  mkdir -p "$WINEPREFIX"
  timeout 600 "$ROOT/scripts/wine-run" wineboot --init >/dev/null 2>&1 || die "wineboot failed in $WINEPREFIX"
fi
# A wineserver that outlives each program (a Wine start then costs ~25 ms,
# not ~0.5 s, and never races with a wineserver's shutdown), and Wine's
# background services kept off our pipes: the harness's own way of starting them.
(cd "$ROOT" && "$(find_python)" -c 'import sys; from harness.platforms.wine import main; sys.exit(main())') || die "no persistent wineserver for $WINEPREFIX"
