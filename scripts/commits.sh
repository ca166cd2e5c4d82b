#!/usr/bin/env bash
# Checks the messages of the commits made after the revision recorded in
# scripts/commits-checked-after (the history before it is left as it is):
# a subject of at most 72 characters, then a blank line, then a body whose
# lines are at most 72 characters (a line without a space, such as a long
# path or address, may be longer). Why: the subject is what
# `git log --oneline`, `git shortlog` and every review tool show.
set -uo pipefail
source "$(dirname "$0")/common.sh"
usage() {
  echo "usage: scripts/commits.sh [--help] [--version] [--repo DIR] [--after REV]"
  echo "Checks the commit messages after REV (default: the one in scripts/commits-checked-after) in DIR"
  echo "(default: this checkout): subject <= 72 characters, a blank line, body lines <= 72 characters."
}
handle_help_and_version "$@"
repo=$ROOT after=""
while [ $# -gt 0 ]; do
  case "$1" in
    --repo) repo=${2:?--repo needs a folder}; shift 2 ;;
    --after) after=${2:?--after needs a revision}; shift 2 ;;
    *) echo "commits.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
LIMIT=72
[ -n "$after" ] || after=$(tr -d '[:space:]' < "$ROOT/scripts/commits-checked-after")
cd "$repo" || exit 2
git rev-parse --verify -q HEAD >/dev/null || { echo "commits.sh: $repo has no commit" >&2; exit 2; }
if git merge-base --is-ancestor "$after" HEAD 2>/dev/null; then
  range="$after..HEAD"
else
  # A shallow clone, or history rewritten past the recorded revision: HEAD at least.
  echo "commits.sh: $after is not in this history; checking HEAD only" >&2
  range="-1 HEAD"
fi

# problems_of HASH: one line per rule the commit's message breaks.
problems_of() {
  local hash=$1 number=0 line
  while IFS= read -r line || [ -n "$line" ]; do
    number=$((number + 1))
    if [ $number -eq 1 ]; then
      [ -n "$line" ] || echo "the subject is empty"
      [ ${#line} -le $LIMIT ] || echo "the subject is ${#line} characters (at most $LIMIT)"
    elif [ $number -eq 2 ]; then
      [ -z "$line" ] || echo "no blank line after the subject"
    elif [ ${#line} -gt $LIMIT ] && [[ "$line" == *" "* ]]; then
      echo "body line $((number - 2)) is ${#line} characters (at most $LIMIT)"
    fi
  done < <(git log -1 --format=%B "$hash" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}')
}

checked=0 bad=0
# shellcheck disable=SC2086  # $range is one or two words on purpose
for hash in $(git rev-list --no-merges $range); do
  checked=$((checked + 1))
  found=$(problems_of "$hash")
  if [ -n "$found" ]; then
    bad=$((bad + 1))
    echo "$(git log -1 --format='%h %<(50,trunc)%s' "$hash"):" >&2
    sed 's/^/  /' <<< "$found" >&2
  fi
done
if [ $bad -gt 0 ]; then
  echo "commits.sh: $bad of $checked commit message(s) break the rules (CONTRIBUTING.md, 'A good commit')" >&2
  exit 1
fi
echo "commits.sh: $checked commit message(s) checked, all well formed"
