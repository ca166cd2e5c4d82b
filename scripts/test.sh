#!/usr/bin/env bash
# Runs every test: installs what is missing, builds both presets, then the
# checks (Python lint, clang-tidy), the unit tests (ctest, native), the Windows
# executables' own checks (ctest under Wine), the sanitizer builds' tests
# (scripts/sanitize.sh), a bounded run of each fuzz target (scripts/fuzz.sh)
# and the whole pytest suite: conformance of all seven
# servers, loadgen, harness.
# Every part runs even when an earlier one fails; the exit code says if any did.
set -uo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh" || exit 1
"$ROOT/scripts/build.sh" || exit 1
python=$(find_python)

failed=()
say "Python lint"
"$ROOT/scripts/lint.sh" || failed+=("lint")
say "static analysis"
"$ROOT/scripts/analyze.sh" || failed+=("clang-tidy")
say "unit tests (native)"
ctest --preset native || failed+=("ctest native")
say "Windows executables under Wine"
ctest --preset mingw || failed+=("ctest mingw")
"$ROOT/scripts/sanitize.sh" || failed+=("sanitizers")
"$ROOT/scripts/fuzz.sh" || failed+=("fuzz")
say "conformance suite"
"$python" -m pytest tests "$@" || failed+=("pytest")

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all tests passed" >&2
