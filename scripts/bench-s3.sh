#!/usr/bin/env bash
# Benchmark: hoshino's S3 client next to curl against the same local RGW, in the same run.
#
#   scripts/bench-s3.sh [ROUNDS] [N] [SIZE]      (defaults 10 rounds x 100 ops, 100-byte objects)
#
# Each round runs N sequential PUT/LIST/GET with hoshino-s3, then the same with one curl process
# (--aws-sigv4, connection reused across requests), alternating so both see the same machine state.
# Prints a Markdown table (p50/p90 per operation and the client/curl ratio) and writes JSON to
# bench-results/s3-client.json. Uses a fresh private RGW unless HOSHINO_BENCH_ENDPOINT_FROM_ENV=1
# (then AWS_ENDPOINT_URL and the AWS_* keys from the environment are used).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HOSHINO_BUILD_DIR:-$root/build}
rounds=${1:-10} n=${2:-100} size=${3:-100}

bash "$root/scripts/install-deps.sh" >/dev/null
bash "$root/scripts/build.sh" "$build"
if [[ ${HOSHINO_BENCH_ENDPOINT_FROM_ENV:-0} != 1 ]]; then
  rgw_dir=$(mktemp -d /tmp/hoshino-bench-rgw.XXXXXX)
  trap 'bash "$root/scripts/rgw.sh" stop "$rgw_dir" >/dev/null 2>&1 || true' EXIT
  source "$(bash "$root/scripts/rgw.sh" start "$rgw_dir")"
fi
bucket=hoshino-bench
"$build/src/hoshino-s3" mb "$bucket" 2>/dev/null || true
mkdir -p "$root/bench-results"
python3 "$root/scripts/bench_s3.py" --tool "$build/src/hoshino-s3" --bucket "$bucket" \
  --rounds "$rounds" --n "$n" --size "$size" --json "$root/bench-results/s3-client.json"
