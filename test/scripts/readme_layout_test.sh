#!/usr/bin/env bash
# docs/design.md's Layout table maps one to one to the tree: every folder holding tracked files under src/,
# test/ (but the fuzz corpora), scripts/ has its row, and every path a row names exists.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/test/support/checks.sh"
cd "$root" || exit 1

# The first cell of each row of the Layout section's table, split at ", " (one row may name two files).
rows=$(awk '/^## Layout/{on=1; next} /^## /{on=0} on && /^\| `/' docs/design.md |
  sed -E 's/^\| ([^|]*) \|.*/\1/' | tr -d '`' | sed 's/, /\n/g')
folders=$( { git ls-files src test scripts 2>/dev/null || find src test scripts -type f; } |
  grep -v '^test/fuzz/corpus/' | xargs -n1 dirname | sort -u)

missing=""
# A folder is named by its own row, or by rows of the files directly in it (src/main.cpp).
for f in $folders; do
  grep -qx "$f/" <<<"$rows" || grep -qE "^$f/[^/]+\$" <<<"$rows" || missing+=" $f/"
done
check "every folder of src/, test/, scripts/ has a row in docs/design.md's Layout${missing:+ (missing:$missing)}" test -z "$missing"
absent=""
for r in $rows; do [[ -e $r ]] || absent+=" $r"; done
check "every path in docs/design.md's Layout exists${absent:+ (absent:$absent)}" test -z "$absent"
finish
