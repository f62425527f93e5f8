#!/usr/bin/env bash
# The main job (README): installs dependencies, builds, starts a local Ceph RGW, round-trips objects
# through hoshino's own S3 client and checks them, then stops everything it started.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HOSHINO_BUILD_DIR:-$root/build}

bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh" "$build"

rgw_dir=$(mktemp -d /tmp/hoshino-demo-rgw.XXXXXX)
work=$(mktemp -d /tmp/hoshino-demo.XXXXXX)
cleanup() {
  bash "$root/scripts/rgw.sh" stop "$rgw_dir" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
echo "== starting a local Ceph RGW"
source "$(bash "$root/scripts/rgw.sh" start "$rgw_dir")"

s3="$build/src/hoshino-s3"
bucket=hoshino-demo
echo "== bucket $bucket at $AWS_ENDPOINT_URL"
"$s3" mb "$bucket"
"$build/src/hoshino" --bucket "$bucket"

echo "== round trip"
head -c 100000 /dev/urandom > "$work/blob"
printf 'hello from hoshino\n' > "$work/hello"
"$s3" put "$bucket" "demo/blob" "$work/blob"
"$s3" put "$bucket" "demo/hello world.txt" "$work/hello"
"$s3" ls "$bucket" demo/
"$s3" get "$bucket" "demo/blob" > "$work/blob.back"
"$s3" get "$bucket" "demo/hello world.txt"
cmp "$work/blob" "$work/blob.back"
echo "blob: $(sha256sum < "$work/blob" | cut -c1-16)… round-tripped intact"
"$s3" rm "$bucket" "demo/blob" "demo/hello world.txt"
[[ -z $("$s3" ls "$bucket" demo/) ]] && echo "deleted: inbox empty"

echo "== client latency (100 sequential PUT/LIST/GET, then 400 PUTs 64 at a time)"
"$s3" bench "$bucket" 100 100
echo "== demo finished"
