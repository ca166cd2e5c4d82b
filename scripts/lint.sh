#!/usr/bin/env bash
# Python lint: pyflakes on the folders that pyproject.toml lists under
# [tool.winsock-bench.lint] (unused imports and names, undefined names,
# redefinitions). pyflakes has no style opinions, so every finding is a
# probable bug or dead code.
set -euo pipefail
source "$(dirname "$0")/common.sh"
usage() {
  echo "usage: scripts/lint.sh [--help] [--version]"
  echo "pyflakes on the paths pyproject.toml lists under [tool.winsock-bench.lint]."
}
handle_help_and_version "$@"
refuse_arguments "$@"
cd "$ROOT"
python=$(find_python) || die "no usable python3 (run scripts/setup.sh)"
mapfile -t paths < <("$python" -c '
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["tool"]["winsock-bench"]["lint"]["paths"]))')
"$python" -m pyflakes "${paths[@]}"
echo "pyflakes: clean (${paths[*]})" >&2
