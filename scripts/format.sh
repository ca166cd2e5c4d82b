#!/usr/bin/env bash
# C formatting by .clang-format: scripts/format.sh rewrites every tracked
# .c/.h file in place; scripts/format.sh --check changes nothing and fails
# when a file is not in the style, naming the lines (clang-format's output).
set -euo pipefail
source "$(dirname "$0")/common.sh"
usage() {
  echo "usage: scripts/format.sh [--check] [--help] [--version]"
  echo "Formats every tracked .c/.h file by .clang-format in place; with --check, changes nothing and"
  echo "fails on a file that is not in the style."
}
handle_help_and_version "$@"
[ $# -eq 0 ] || [ "$*" = "--check" ] || refuse_arguments "${@/--check/}"
cd "$ROOT"
command -v clang-format >/dev/null || die "clang-format not found (run scripts/setup.sh)"
mapfile -t files < <(git ls-files '*.c' '*.h')
if [ "${1:-}" = "--check" ]; then
  clang-format --dry-run --Werror "${files[@]}"
  echo "clang-format: ${#files[@]} files in style" >&2
else
  clang-format -i "${files[@]}"
fi
