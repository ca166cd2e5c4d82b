#!/usr/bin/env bash
# Configures and builds the presets: native (reference server, unit tests),
# mingw (the Winsock servers and loadgen.exe, gcc) and clang-mingw (the same
# with clang: a second compiler family keeps the Windows code portable).
# WSB_WERROR=ON (as .ci/run sets it) makes every compiler warning an error.
set -euo pipefail
source "$(dirname "$0")/common.sh"
usage() {
  echo "usage: scripts/build.sh [--help] [--version]"
  echo "Configures and builds the native preset (build/native: reference server, loadgen, unit tests),"
  echo "the mingw preset (build/mingw: the Winsock servers and loadgen.exe, gcc) and the clang-mingw"
  echo "preset (build/clang-mingw: the same with clang and lld; skipped when those are not installed)."
}
handle_help_and_version "$@"
refuse_arguments "$@"
report_failures
cd "$ROOT"
jobs=$(nproc 2>/dev/null || echo 2)
presets=(native mingw)
if command -v clang >/dev/null && command -v ld.lld >/dev/null; then
  presets+=(clang-mingw)
else
  say "clang or lld not found: the clang-mingw preset is skipped (scripts/setup.sh installs them)"
fi
for preset in "${presets[@]}"; do
  say "building preset $preset"
  cmake --preset "$preset" -DWSB_WERROR="${WSB_WERROR:-OFF}" >/dev/null
  cmake --build --preset "$preset" --parallel "$jobs"
done
