#!/usr/bin/env bash
# The native build under sanitizers (Clang):
#   asan  AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer):
#         every native unit test (ctest) and loadgen's end-to-end tests
#         against the reference-epoll server, both built with them;
#   tsan  ThreadSanitizer: loadgen's multi-threaded end-to-end tests.
# scripts/sanitize.sh [asan|tsan]... (default: both). Every report is also
# written to build/<preset>/sanitizer-logs/, and any file there fails the
# step: a report from a process whose exit code a test ignores (a server it
# kills, say) still counts.
set -uo pipefail
source "$(dirname "$0")/common.sh"
usage() {
  echo "usage: scripts/sanitize.sh [asan|tsan]... [--help] [--version]"
  echo "Builds the native code under ASan+UBSan (asan) and TSan (tsan) and runs the unit tests and"
  echo "loadgen's end-to-end tests under them (default: both)."
}
handle_help_and_version "$@"
for preset in "$@"; do
  case "$preset" in
    asan|tsan) ;;
    *) echo "sanitize.sh: unknown option '$preset' (asan or tsan; see --help)" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
python=$(find_python) || die "no usable python3 (run scripts/setup.sh)"
jobs=$(nproc 2>/dev/null || echo 2)

# Exit code 99 tells a sanitizer's stop from the programs' own codes (0-2).
sanitizer_env() {
  local logs=$1
  export ASAN_OPTIONS="log_path=$logs/asan:exitcode=99:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
  export UBSAN_OPTIONS="log_path=$logs/ubsan:exitcode=99:print_stacktrace=1"
  export TSAN_OPTIONS="log_path=$logs/tsan:exitcode=99:second_deadlock_stack=1"
}

# Runs "$@" with the preset's executables and the sanitizer logs of its folder.
run_with() {
  local preset=$1; shift
  WSB_LOADGEN="$ROOT/build/$preset/loadgen/loadgen" WSB_NATIVE_DIR="$ROOT/build/$preset/servers" "$@"
}

no_reports() {
  local logs=$1
  if compgen -G "$logs/*" >/dev/null; then
    cat "$logs"/* >&2
    echo "error: sanitizer reports in $logs" >&2
    return 1
  fi
}

step() {
  local preset=$1 status=0
  local logs="$ROOT/build/$preset/sanitizer-logs"
  say "sanitizers: building preset $preset"
  cmake --preset "$preset" -DWSB_WERROR="${WSB_WERROR:-OFF}" >/dev/null || return 1
  if [ "$preset" = asan ]; then
    cmake --build --preset asan --parallel "$jobs" || return 1
  else  # only loadgen's threads need TSan; the rest is single-threaded
    cmake --build --preset tsan --parallel "$jobs" --target loadgen reference-epoll || return 1
  fi
  rm -rf "$logs" && mkdir -p "$logs"
  (
    sanitizer_env "$logs"
    if [ "$preset" = asan ]; then
      say "asan: native unit tests"
      ctest --preset asan || exit 1
      say "asan: loadgen end to end against reference-epoll"
      run_with asan "$python" -m pytest -q tests/loadgen/test_loadgen.py -k "not wine" || exit 1
    else
      say "tsan: loadgen's multi-threaded runs against reference-epoll"
      run_with tsan "$python" -m pytest -q tests/loadgen/test_loadgen.py -k "workload_runs_clean and 2-" || exit 1
    fi
  ) || status=1
  no_reports "$logs" || status=1
  return $status
}

presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(asan tsan)
failed=()
for preset in "${presets[@]}"; do
  case "$preset" in
    asan|tsan) step "$preset" || failed+=("$preset") ;;
  esac
done
[ ${#failed[@]} -eq 0 ] || { echo "sanitizers FAILED: ${failed[*]}" >&2; exit 1; }
echo "sanitizers: clean (${presets[*]})" >&2
