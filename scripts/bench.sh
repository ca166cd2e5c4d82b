#!/usr/bin/env bash
# Runs the default benchmark and writes its results and report under results/runs/.
set -euo pipefail
source "$(dirname "$0")/common.sh"
report_failures
cd "$ROOT"
"$ROOT/scripts/setup.sh"
"$ROOT/scripts/build.sh" >/dev/null
exec "$(find_python)" -m harness "$@"
