#!/usr/bin/env bash
# Runs the default benchmark suite, then writes its report:
#   scripts/bench.sh [run options]      e.g. --servers iocp,select --reps 5 --placement free
# Every option goes to `python3 -m harness run --suite default` (a later
# --suite replaces default); the run folder is results/runs/<time>-<suite>/
# unless --out says otherwise.
set -euo pipefail
source "$(dirname "$0")/common.sh"
report_failures
cd "$ROOT"

usage() {
  echo "usage: scripts/bench.sh [--suite NAME] [--servers A,B] [--reps N] [--seed S] [--placement MODE] [--out DIR]"
  echo "Installs what is missing, builds, runs the suite (default: default), writes report.html and report.md."
  echo "The options are those of 'python3 -m harness run':"
  echo
}

suite=default out="" dry_run=0
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    -h|--help) usage; exec "$(find_python || echo python3)" -m harness run --help ;;
    --version) exec python3 -m harness.version bench.sh ;;
    --suite) suite=${args[i + 1]:-} ;;
    --suite=*) suite=${args[i]#--suite=} ;;
    --out) out=${args[i + 1]:-} ;;
    --out=*) out=${args[i]#--out=} ;;
    --dry-run) dry_run=1 ;;
    --resume|--resume=*) die "bench.sh starts a new run; finish an old one with: python3 -m harness run --resume DIR" ;;
  esac
done
if [ "$dry_run" -eq 1 ]; then  # the plan and its estimate only: nothing to build or report
  exec "$(find_python || echo python3)" -m harness run --suite default "$@"
fi
# Bad options are refused now, not after minutes of installing and building:
# the harness checks them (and the suite) in a dry run, which needs no build.
if ! check=$("$(find_python || echo python3)" -m harness run --suite default "$@" --dry-run 2>&1 >/dev/null); then
  echo "bench.sh: ${check##*$'\n'}" >&2  # the reason, the last line of the harness's answer
  exit 2
fi
if [ -z "$out" ]; then
  name=$(basename "$suite" .toml)
  out="$ROOT/results/runs/$(date +%Y%m%d-%H%M%S)-$name"
  set -- "$@" --out "$out"
fi

"$ROOT/scripts/setup.sh"
"$ROOT/scripts/build.sh" >/dev/null
python=$(find_python)

status=0
"$python" -m harness run --suite default "$@" || status=$?
# 1: some runs failed, the others are recorded and worth a report.
if [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then
  exit "$status"
fi
say "writing the report"
"$python" -m harness report "$out"
echo "report: $out/report.html (and report.md)" >&2
exit "$status"
