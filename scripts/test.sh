#!/usr/bin/env bash
# Runs every test: installs what is missing, builds both presets, then the
# unit tests (ctest, native), the Windows executables' own checks (ctest under
# Wine) and the conformance suite of all seven servers (pytest).
# Every part runs even when an earlier one fails; the exit code says if any did.
set -uo pipefail
source "$(dirname "$0")/common.sh"
usage() {
  echo "usage: scripts/test.sh [--help] [--version] [-- PYTEST_ARGS...]"
  echo "Installs what is missing, builds both presets, then runs every test: native unit tests,"
  echo "the Windows executables' checks under Wine, and the pytest suites (arguments after -- go to pytest)."
}
handle_help_and_version "$@"
if [ $# -gt 0 ]; then
  [ "$1" = "--" ] || { echo "test.sh: unknown option '$1' (see --help; pytest's options go after --)" >&2; exit 2; }
  shift
fi
cd "$ROOT"
"$ROOT/scripts/setup.sh" || exit 1
"$ROOT/scripts/build.sh" || exit 1
python=$(find_python)

failed=()
say "unit tests (native)"
ctest --preset native || failed+=("ctest native")
say "Windows executables under Wine"
ctest --preset mingw || failed+=("ctest mingw")
say "conformance suite"
"$python" -m pytest tests "$@" || failed+=("pytest")

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all tests passed" >&2
