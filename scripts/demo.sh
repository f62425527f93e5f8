#!/usr/bin/env bash
# The main job (README): installs dependencies, builds, starts a local Ceph RGW, starts two hoshino
# nodes whose interfaces live in two network namespaces, pings one from the other, fetches a file over
# TCP across the tunnel, prints both nodes' key metrics, and tears everything down. Needs root.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HOSHINO_BUILD_DIR:-$root/build}
[[ $(id -u) -eq 0 ]] || { echo "demo.sh: run as root (TUN interfaces and network namespaces)" >&2; exit 1; }

bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh" "$build"

HS_BIN=$build/src
source "$root/scripts/lib/nodes.sh"
rgw_dir=$(mktemp -d /tmp/hoshino-demo-rgw.XXXXXX)
cleanup() {
  hs_cleanup
  bash "$root/scripts/rgw.sh" stop "$rgw_dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== 1. a local S3 server (single-node Ceph RGW)"
source "$(bash "$root/scripts/rgw.sh" start "$rgw_dir")"
bucket=hoshino-demo
"$HS_BIN/hoshino-s3" mb "$bucket"
echo "   bucket $bucket at $AWS_ENDPOINT_URL"

echo "== 2. two nodes, each with its TUN interface in its own network namespace"
hs_netns hs-demo-a
hs_netns hs-demo-b
hs_start a hs-demo-a "$(hs_machine_id a a1a1a1a1a1a1a1a1)" "$bucket"
hs_start b hs-demo-b "$(hs_machine_id b b2b2b2b2b2b2b2b2)" "$bucket"
addr_b=$(hs_address b2b2b2b2b2b2b2b2)

echo "== 3. ping $addr_b from node a's namespace"
echo "   (the first reply waits for b's next inbox LIST: up to 5 s while b is idle)"
ip netns exec hs-demo-a ping -c 10 -i 0.5 -W 10 "$addr_b"

echo "== 4. fetch a 10 MB file over HTTP (TCP) across the tunnel"
mkdir -p "$HS_WORK/www"
head -c 10000000 /dev/urandom > "$HS_WORK/www/file.bin"
ip netns exec hs-demo-b python3 -m http.server 8080 --bind "$addr_b" --directory "$HS_WORK/www" >/dev/null 2>&1 &
http_pid=$!
for _ in $(seq 50); do ip netns exec hs-demo-a curl -s -g -o /dev/null "http://[$addr_b]:8080/" && break; sleep 0.1; done
ip netns exec hs-demo-a curl -g -s --max-time 120 -o "$HS_WORK/file.back" \
  -w '   %{size_download} bytes in %{time_total} s (%{speed_download} bytes/s)\n' "http://[$addr_b]:8080/file.bin"
kill "$http_pid"; wait "$http_pid" 2>/dev/null || true
if cmp -s "$HS_WORK/www/file.bin" "$HS_WORK/file.back"; then echo "   sha256 matches: $(sha256sum < "$HS_WORK/file.back" | cut -c1-16)…"
else echo "   file corrupted in transit"; exit 1; fi

echo "== 5. key metrics"
for n in a b; do
  echo "   node $n:"
  port_var="HS_PORT_$n"
  curl -s "http://127.0.0.1:${!port_var}/metrics" |
    grep -E '^hoshino_(packets_total|bytes_total|objects_total|s3_requests_total|beat_interval_seconds)|^process_resident' |
    sed 's/^/     /'
done

echo "== 6. teardown"
hs_stop a TERM; echo "   node a exited with $HS_STATUS"
hs_stop b TERM; echo "   node b exited with $HS_STATUS"
echo "== demo finished"
