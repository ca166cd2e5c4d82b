#!/usr/bin/env bash
# Configures and builds both presets: native (reference server, unit tests)
# and mingw (the six Winsock servers). WSB_WERROR=ON (as .ci/run sets it)
# makes every compiler warning an error.
set -euo pipefail
source "$(dirname "$0")/common.sh"
usage() {
  echo "usage: scripts/build.sh [--help] [--version]"
  echo "Configures and builds the native preset (build/native: reference server, loadgen, unit tests)"
  echo "and the mingw preset (build/mingw: the Winsock servers and loadgen.exe)."
}
handle_help_and_version "$@"
refuse_arguments "$@"
report_failures
cd "$ROOT"
jobs=$(nproc 2>/dev/null || echo 2)
for preset in native mingw; do
  say "building preset $preset"
  cmake --preset "$preset" -DWSB_WERROR="${WSB_WERROR:-OFF}" >/dev/null
  cmake --build --preset "$preset" --parallel "$jobs"
done
