#!/usr/bin/env bash
# libFuzzer: builds the targets of tests/fuzz (preset fuzz, Clang, ASan+UBSan)
# and runs each for WSB_FUZZ_SECONDS (default 15) from its corpus in
# tests/fuzz/corpus/NAME. The repository's corpus is only read: what a run
# finds goes to build/fuzz/corpus/NAME, a failing input to build/fuzz/findings/.
#   scripts/fuzz.sh [NAME...]          run the targets (default: all)
#   scripts/fuzz.sh --merge [NAME...]  add the inputs of build/fuzz/corpus that
#                                      reach new code to tests/fuzz/corpus
# Reproduce a finding: build/fuzz/tests/fuzz/NAME build/fuzz/findings/NAME-crash-...
set -uo pipefail
source "$(dirname "$0")/common.sh"
targets_all=(fuzz_server_options fuzz_loadgen_options fuzz_echo_buffer fuzz_verifier)
usage() {
  echo "usage: scripts/fuzz.sh [--merge] [NAME...] [--help] [--version]"
  echo "Builds the libFuzzer targets and runs each for WSB_FUZZ_SECONDS (default 15) from its corpus;"
  echo "--merge adds what the runs found that reaches new code to tests/fuzz/corpus."
  echo "NAME: ${targets_all[*]} (default: all)"
}
handle_help_and_version "$@"
for target in "$@"; do
  [[ "$target" == --merge || " ${targets_all[*]} " == *" $target "* ]] ||
    { echo "fuzz.sh: unknown option or target '$target' (see --help)" >&2; exit 2; }
done
cd "$ROOT"
seconds=${WSB_FUZZ_SECONDS:-15}
merge=0
if [ "${1:-}" = "--merge" ]; then
  merge=1
  shift
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${targets_all[@]}")

say "fuzz: building ${targets[*]}"
cmake --preset fuzz -DWSB_WERROR="${WSB_WERROR:-OFF}" >/dev/null || exit 1
cmake --build --preset fuzz --parallel "$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}" || exit 1

dictionary() {
  case "$1" in
    fuzz_server_options) echo "-dict=tests/fuzz/server_options.dict" ;;
    fuzz_loadgen_options) echo "-dict=tests/fuzz/loadgen_options.dict" ;;
  esac
}

failed=()
for target in "${targets[@]}"; do
  binary=build/fuzz/tests/fuzz/$target
  kept=tests/fuzz/corpus/$target found=build/fuzz/corpus/$target
  mkdir -p "$kept" "$found" build/fuzz/findings
  if [ "$merge" -eq 1 ]; then
    "$binary" -merge=1 "$kept" "$found" 2>&1 | tail -1
    continue
  fi
  say "fuzz: $target for ${seconds} s"
  # New inputs go to the first folder; ASan/UBSan stop at the first report.
  # shellcheck disable=SC2046
  if ! "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="build/fuzz/findings/$target-" $(dictionary "$target") "$found" "$kept" \
      >"build/fuzz/$target.log" 2>&1; then
    tail -60 "build/fuzz/$target.log" >&2
    failed+=("$target")
    continue
  fi
  grep -E "^(stat::number_of_executed_units|Done)" "build/fuzz/$target.log" | tail -1 >&2
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzz FAILED: ${failed[*]} (inputs in build/fuzz/findings)" >&2; exit 1; }
[ "$merge" -eq 1 ] || echo "fuzz: no finding in ${seconds} s each (${targets[*]})" >&2
