#!/usr/bin/env bash
# C formatting by .clang-format: scripts/format.sh rewrites every tracked
# .c/.h file in place; scripts/format.sh --check changes nothing and fails
# when a file is not in the style, naming the lines (clang-format's output).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
command -v clang-format >/dev/null || die "clang-format not found (run scripts/setup.sh)"
mapfile -t files < <(git ls-files '*.c' '*.h')
if [ "${1:-}" = "--check" ]; then
  clang-format --dry-run --Werror "${files[@]}"
  echo "clang-format: ${#files[@]} files in style" >&2
else
  clang-format -i "${files[@]}"
fi
