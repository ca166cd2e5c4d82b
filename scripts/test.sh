#!/usr/bin/env bash
# Runs every test: installs what is missing, builds the presets, then the
# checks (Python lint, C formatting, clang-tidy), the unit tests (ctest, native), the
# Windows executables' own checks (ctest under Wine, of the gcc and the clang
# builds), the sanitizer builds'
# tests (scripts/sanitize.sh), a bounded run of each fuzz target
# (scripts/fuzz.sh) and the whole pytest suite: conformance of every
# server, loadgen, harness. Arguments after -- go to pytest.
# Every step runs even when an earlier one fails; the exit code says if any
# did, and the last lines give each step's time.
set -uo pipefail
source "$(dirname "$0")/common.sh"
usage() {
  echo "usage: scripts/test.sh [--help] [--version] [-- PYTEST_ARGS...]"
  echo "Installs what is missing, builds the presets, then runs every check and test: lint, clang-tidy,"
  echo "native unit tests, the Windows executables' checks under Wine (gcc and clang builds), sanitizers, fuzzing, and the"
  echo "pytest suites (arguments after -- go to pytest)."
}
handle_help_and_version "$@"
if [ $# -gt 0 ]; then
  [ "$1" = "--" ] || { echo "test.sh: unknown option '$1' (see --help; pytest's options go after --)" >&2; exit 2; }
  shift
fi
cd "$ROOT"
started=$SECONDS
"$ROOT/scripts/setup.sh" || exit 1
"$ROOT/scripts/build.sh" || exit 1
python=$(find_python)
timings=("setup and build $((SECONDS - started)) s")

failed=()
# step LABEL COMMAND...: runs it, notes its time, and its failure.
step() {
  local label=$1 step_started=$SECONDS
  shift
  say "$label"
  "$@" || failed+=("$label")
  timings+=("$label $((SECONDS - step_started)) s")
}
step "commit messages" "$ROOT/scripts/commits.sh"
step "Python lint" "$ROOT/scripts/lint.sh"
step "C formatting" "$ROOT/scripts/format.sh" --check
step "static analysis" "$ROOT/scripts/analyze.sh"
step "unit tests (native)" ctest --preset native
step "Windows executables under Wine" ctest --preset mingw
step "Windows executables under Wine (clang build)" ctest --preset clang-mingw
step "sanitizers" "$ROOT/scripts/sanitize.sh"
step "fuzzing" "$ROOT/scripts/fuzz.sh"
step "pytest: conformance, loadgen, harness" "$python" -m pytest tests "$@"

say "times"
printf '  %s\n' "${timings[@]}" "total $((SECONDS - started)) s" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all tests passed" >&2
