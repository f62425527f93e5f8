#!/usr/bin/env bash
# Builds an older commit of this repository, to compare with the current tree side by side in one run:
# scripts/experiment.sh --baseline-bin DIR/src, scripts/coldstart.sh --baseline-bin DIR/src.
#
#   scripts/build-baseline.sh REV DIR
#
# REV: anything git names a commit by (a hash, a tag, main~3). DIR: the meson build directory to create;
# the binaries land in DIR/src/ (hoshino, hoshino-s3) and the commit's hash in DIR/REVISION. The commit is
# checked out in a temporary detached git worktree, built by that commit's own scripts/build.sh (tests
# included, as that script does), and the worktree is removed again: the binaries need no sources.
# DIR must not exist yet, or hold a finished build of the same commit (then nothing is done).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
(($# == 2)) || { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
rev=$1 dir=$2
commit=$(git -C "$root" rev-parse --verify --quiet "$rev^{commit}") || {
  echo "build-baseline.sh: '$rev' names no commit of $root" >&2; exit 2; }
if [[ -e $dir ]]; then
  if [[ $(cat "$dir/REVISION" 2>/dev/null) == "$commit" && -x $dir/src/hoshino ]]; then
    echo "build-baseline.sh: $dir already holds $commit" >&2
    echo "$(cd "$dir" && pwd)/src"
    exit 0
  fi
  echo "build-baseline.sh: $dir exists and is not a build of $commit: remove it or name another" >&2
  exit 2
fi
mkdir -p "$(dirname "$dir")"
dir=$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")

tmp=$(mktemp -d /tmp/hoshino-baseline.XXXXXX)
cleanup() {
  git -C "$root" worktree remove --force "$tmp/src" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
git -C "$root" worktree add --detach "$tmp/src" "$commit" >/dev/null 2>&1
echo "build-baseline.sh: building $(git -C "$root" log -1 --format='%h %s' "$commit" | cut -c1-100) into $dir" >&2
bash "$tmp/src/scripts/build.sh" "$dir"
echo "$commit" > "$dir/REVISION"
echo "$dir/src"
