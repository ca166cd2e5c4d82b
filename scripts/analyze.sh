#!/usr/bin/env bash
# Static analysis: clang-tidy with the checks of .clang-tidy (each one's
# reason is written there) on every C file of the tree: the portable and
# Linux code through the native build's compile_commands.json, the Windows
# code (the six servers, their core, loadgen's Winsock and Win32 layers)
# through the mingw build's, i.e. the mingw-w64 headers, and the fuzz
# targets through the fuzz preset's. Any finding fails (WarningsAsErrors).
# Needs the native and mingw presets configured (scripts/build.sh does it).
set -uo pipefail
source "$(dirname "$0")/common.sh"
usage() {
  echo "usage: scripts/analyze.sh [--help] [--version]"
  echo "clang-tidy (checks in .clang-tidy) on every C file: native, through the mingw-w64 headers, and the fuzz targets."
}
handle_help_and_version "$@"
refuse_arguments "$@"
cd "$ROOT"
command -v clang-tidy >/dev/null || die "clang-tidy not found (run scripts/setup.sh)"
jobs=$(nproc 2>/dev/null || echo 2)
for preset in native mingw fuzz; do  # configuring writes compile_commands.json
  [ -f "build/$preset/compile_commands.json" ] || cmake --preset "$preset" >/dev/null || exit 1
  # The one generated header (wsb_version.h) the sources include: made at build time.
  cmake --build "build/$preset" --target wsb_version_header >/dev/null || exit 1
done

# The files one build compiles, from its compile_commands.json.
compiled_by() {
  "$(find_python)" -c '
import json, os, sys
for entry in json.load(open(sys.argv[1])):
    print(os.path.relpath(entry["file"]))' "build/$1/compile_commands.json" | sort -u
}

mapfile -t native < <(compiled_by native)
mapfile -t windows < <(comm -23 <(compiled_by mingw) <(compiled_by native))
mapfile -t fuzz < <(comm -23 <(compiled_by fuzz) <(compiled_by native))
# Every tracked C file must be analyzed by one of the three.
mapfile -t missed < <(comm -23 <(git ls-files '*.c' | sort) <(printf '%s\n' "${native[@]}" "${windows[@]}" "${fuzz[@]}" | sort -u))
[ ${#missed[@]} -eq 0 ] || die "no build compiles ${missed[*]}: add it to one, or to this script"

status=0
tidy() {
  local build=$1; shift
  say "clang-tidy ($build): $# files"
  # One file per clang-tidy: clang-tidy 14 analyzing a second file in the same
  # process reports a false "uninitialized va_list" (loadgen/options.c).
  printf '%s\n' "$@" | xargs -P "$jobs" -n 1 clang-tidy -p "build/$build" --quiet 2>/dev/null || status=1
}
tidy native "${native[@]}"
tidy mingw "${windows[@]}"
tidy fuzz "${fuzz[@]}"
[ "$status" -eq 0 ] && echo "clang-tidy: clean" >&2
exit "$status"
