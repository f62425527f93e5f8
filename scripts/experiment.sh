#!/usr/bin/env bash
# The latency/cost experiment kit: two nodes in network namespaces on the local RGW (or a bucket you
# name), measured side by side in one run, written as JSON, a Markdown table and PNG plots.
#
#   scripts/experiment.sh [--duration S] [--sizes "56 1200"] [--interval S] [--count N] [--out DIR]
#                         [--bucket B --endpoint-from-env] [-- extra hoshino flags]
#
#   --duration S     iperf3 bulk TCP seconds (default 10)
#   --sizes "..."    ping payload sizes (default "56 1200")
#   --interval S     ping interval (default 0.2); --count N pings per size (default 50)
#   --idle S         seconds of idle LIST counting after the traffic settles (default 30)
#   --out DIR        results directory (default bench-results/experiment-<time>)
#   --bucket B --endpoint-from-env   use AWS_ENDPOINT_URL/AWS_* from the environment and bucket B
#                    instead of a fresh local RGW (the bucket must exist)
#   -- FLAGS         passed to both hoshino nodes (e.g. -- --poll-min 5ms)
# Needs root (TUN, namespaces). Not yet: an emulated S3 distance (this kernel has no tc netem) and the
# original-design comparison (needs bundling/anticipation switches in hoshino).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
duration=10 sizes="56 1200" interval=0.2 count=50 idle=30 out="" bucket="" from_env=0 node_flags=()
while (($#)); do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --interval) interval=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --bucket) bucket=$2; shift 2 ;;
    --endpoint-from-env) from_env=1; shift ;;
    --) shift; node_flags=("$@"); break ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "experiment.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "experiment.sh: run as root" >&2; exit 1; }
out=${out:-$root/bench-results/experiment-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"

bash "$root/scripts/install-deps.sh" >/dev/null
bash "$root/scripts/build.sh" "$root/build"
HS_BIN=$root/build/src
source "$root/scripts/lib/nodes.sh"
rgw_dir=""
cleanup() {
  hs_cleanup
  [[ -n $rgw_dir ]] && bash "$root/scripts/rgw.sh" stop "$rgw_dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
if ((from_env)); then
  [[ -n $bucket ]] || { echo "experiment.sh: --endpoint-from-env needs --bucket" >&2; exit 2; }
else
  rgw_dir=$(mktemp -d /tmp/hoshino-exp-rgw.XXXXXX)
  source "$(bash "$root/scripts/rgw.sh" start "$rgw_dir")"
  bucket=hoshino-experiment
  "$HS_BIN/hoshino-s3" mb "$bucket"
fi

hs_log "1/5 the floor: raw S3 PUT/LIST/GET of a small object"
"$HS_BIN/hoshino-s3" bench "$bucket" 200 100 0 > "$out/floor.json"
hs_log "    and single-stream PUT throughput at the bundle size (1 MiB)"
"$HS_BIN/hoshino-s3" bench "$bucket" 20 1048576 0 > "$out/put-1mib.json"

hs_netns "hsx$$-a"; hs_netns "hsx$$-b"
hs_start a "hsx$$-a" "$(hs_machine_id a a1a1a1a1a1a1a1a1)" "$bucket" "${node_flags[@]}"
hs_start b "hsx$$-b" "$(hs_machine_id b b2b2b2b2b2b2b2b2)" "$bucket" "${node_flags[@]}"
addr_b=$(hs_address b2b2b2b2b2b2b2b2)
metrics() { curl -s "http://127.0.0.1:$HS_PORT_a/metrics" > "$out/$1-a.prom"; curl -s "http://127.0.0.1:$HS_PORT_b/metrics" > "$out/$1-b.prom"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$(cat "$HS_WORK/$1.pid")/stat"; }

hs_log "2/5 ping RTT through the tunnel (sizes: $sizes; $count each, interval $interval s)"
ip netns exec "hsx$$-a" ping -c 3 -W 10 "$addr_b" >/dev/null
for s in $sizes; do
  ip netns exec "hsx$$-a" ping -c "$count" -i "$interval" -s "$s" -W 5 "$addr_b" > "$out/ping-$s.txt"
done

hs_log "3/5 bulk TCP (iperf3, $duration s)"
metrics before-bulk
cpu_a0=$(cpu_ticks a); cpu_b0=$(cpu_ticks b)
ip netns exec "hsx$$-b" iperf3 -s -1 -B "$addr_b" >/dev/null 2>&1 &
sleep 0.5
( while sleep 0.5; do
    r=$(awk '/VmRSS/ { print $2 }' "/proc/$(cat "$HS_WORK/a.pid")/status" 2>/dev/null || echo 0)
    echo "$r"
  done ) > "$out/rss-a-kib.txt" &
sampler=$!
ip netns exec "hsx$$-a" iperf3 -c "$addr_b" -t "$duration" -i 1 -J > "$out/iperf.json"
kill "$sampler"
cpu_a1=$(cpu_ticks a); cpu_b1=$(cpu_ticks b)
metrics after-bulk
echo "{\"cpu_ticks_a\": $((cpu_a1 - cpu_a0)), \"cpu_ticks_b\": $((cpu_b1 - cpu_b0)), \"hz\": $(getconf CLK_TCK)}" > "$out/cpu.json"

hs_log "4/5 idle: waiting for the heartbeat to slow down, then counting LISTs for $idle s"
sleep 15
metrics before-idle
sleep "$idle"
metrics after-idle

hs_log "5/5 report"
python3 "$root/scripts/experiment_report.py" "$out" --idle "$idle" --duration "$duration" --sizes $sizes
echo "results: $out/report.md, $out/results.json, $out/rtt-cdf.png, $out/throughput.png"
