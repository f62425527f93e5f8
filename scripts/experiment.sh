#!/usr/bin/env bash
# The latency/cost experiment kit: two nodes in network namespaces on the local RGW (or a bucket you
# name), measured in one run, written as JSON, a Markdown table and PNG plots. The same experiment runs
# with hoshino's defaults and with the original design's settings (--experiment original-design), side by side.
#
#   scripts/experiment.sh [--duration S] [--sizes "56 1200"] [--interval S] [--count N] [--idle S]
#                         [--streams N] [--s3-delay MS | --distance A,B] [--no-original] [--variant NAME "FLAGS"]
#                         [--baseline-bin DIR] [--out DIR]
#                         [--bucket B --endpoint-from-env] [-- extra hoshino flags]
#
#   --nodes N ...    the fleet experiment instead: N nodes, all-pairs first pings, a hub, idle cost
#                    (scripts/fleet.sh --nodes N [--duration S] [--idle S] [--out DIR])
#   --duration S     iperf3 bulk TCP seconds (default 10)
#   --streams N      parallel TCP streams in the bulk phase (iperf3 -P, default 1)
#   --sizes "..."    ping payload sizes (default "56 1200")
#   --interval S     ping interval (default 0.2); --count N pings per size (default 50)
#   --idle S         seconds of idle LIST counting after the traffic settles (default 30)
#   --s3-delay MS    emulated S3 distance: every byte to and from S3 is delayed MS ms each way
#                    (scripts/delay_proxy.py; this kernel has no tc netem)
#   --distance A,B   each node its own S3 distance, as a round trip in ms (e.g. 20,80: VMs in two regions
#                    sharing a bucket): node a's S3 traffic through a proxy delaying A/2 each way, node b's
#                    through one delaying B/2; the floors are measured from each side in the same run
#   --no-original    skip the original-design run (halves the time)
#   --variant NAME "FLAGS"  one more run with these hoshino flags, e.g. --variant one-list
#                    "--experiment no-second-list" (repeatable; A/B tests of a setting in the same run)
#   --baseline-bin DIR  one more run named "baseline": hoshino's default flags (not the ones after --),
#                    run with DIR/hoshino instead of the fresh build, e.g. today's defaults built from
#                    an older commit (scripts/build-baseline.sh REV DIR builds one; pass DIR/src), so old
#                    and new compare side by side in one run on the same RGW
#   --out DIR        results directory (default bench-results/experiment-<time>)
#   --bucket B --endpoint-from-env   use AWS_ENDPOINT_URL/AWS_* from the environment and bucket B
#                    instead of a fresh local RGW (the bucket must exist)
#   -- FLAGS         passed to both hoshino nodes of the default run (e.g. -- --beat-min 5ms)
# Needs root (TUN, namespaces).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
streams=1 duration=10 sizes="56 1200" interval=0.2 count=50 idle=30 out="" bucket="" from_env=0 delay=0 original=1
distance=""
node_flags=() extra_names=() extra_flags=() baseline_bin=""
while (($#)); do
  case $1 in
    --nodes) exec bash "$(dirname "${BASH_SOURCE[0]}")/fleet.sh" "$@" ;; # the fleet experiment (scripts/fleet.sh)
    --duration) duration=$2; shift 2 ;;
    --streams) streams=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --interval) interval=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --s3-delay) delay=$2; shift 2 ;;
    --distance) distance=$2; shift 2 ;;
    --no-original) original=0; shift ;;
    --variant) extra_names+=("$2"); extra_flags+=("$3"); shift 3 ;;
    --baseline-bin) baseline_bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --bucket) bucket=$2; shift 2 ;;
    --endpoint-from-env) from_env=1; shift ;;
    --) shift; node_flags=("$@"); break ;;
    -h|--help) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "experiment.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "experiment.sh: run as root" >&2; exit 1; }
dist_a="" dist_b=""
if [[ -n $distance ]]; then
  [[ $distance =~ ^([0-9]+(\.[0-9]+)?),([0-9]+(\.[0-9]+)?)$ ]] ||
    { echo "experiment.sh: --distance takes two round trips in ms, e.g. 20,80" >&2; exit 2; }
  dist_a=${BASH_REMATCH[1]} dist_b=${BASH_REMATCH[3]}
  [[ $delay == 0 ]] || { echo "experiment.sh: --distance and --s3-delay contradict each other" >&2; exit 2; }
fi
if [[ -n $baseline_bin ]]; then
  [[ -x $baseline_bin/hoshino ]] || { echo "experiment.sh: no hoshino in $baseline_bin" >&2; exit 2; }
  baseline_bin=$(cd "$baseline_bin" && pwd)
  for n in "${extra_names[@]}"; do
    [[ $n != baseline ]] || { echo "experiment.sh: --baseline-bin's run is named baseline: rename --variant baseline" >&2; exit 2; }
  done
fi
out=${out:-$root/bench-results/experiment-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"

bash "$root/scripts/install-deps.sh" >/dev/null
bash "$root/scripts/build.sh" "$root/build"
HS_BIN=$root/build/src
source "$root/scripts/lib/nodes.sh"
rgw_dir="" proxy_pid="" proxy_pids=()
cleanup() {
  hs_cleanup
  [[ -n $proxy_pid ]] && kill "$proxy_pid" 2>/dev/null
  ((${#proxy_pids[@]} == 0)) || kill "${proxy_pids[@]}" 2>/dev/null
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
if [[ $delay != 0 ]]; then
  port=$(hs_free_port)
  target=${AWS_ENDPOINT_URL#http://}
  python3 "$root/scripts/delay_proxy.py" "$port" "${target%%/*}" "$delay" > "$out/delay-proxy.log" 2>&1 &
  proxy_pid=$!
  until grep -q ready "$out/delay-proxy.log"; do sleep 0.1; done
  export AWS_ENDPOINT_URL=http://127.0.0.1:$port
  hs_log "S3 reached through a ${delay} ms-each-way delay (127.0.0.1:$port)"
fi

# start_proxy NAME DELAY_MS_EACH_WAY: a delaying relay to the S3 endpoint; prints its URL.
start_proxy() {
  local port target
  port=$(hs_free_port)
  target=${AWS_ENDPOINT_URL#http://}
  python3 "$root/scripts/delay_proxy.py" "$port" "${target%%/*}" "$2" > "$out/delay-proxy-$1.log" 2>&1 &
  proxy_pids+=($!)
  until grep -q ready "$out/delay-proxy-$1.log"; do sleep 0.1; done
  echo "http://127.0.0.1:$port"
}
endpoint_a=() endpoint_b=()
if [[ -n $distance ]]; then
  url_a=$(start_proxy a "$(python3 -c "print($dist_a / 2)")")
  url_b=$(start_proxy b "$(python3 -c "print($dist_b / 2)")")
  endpoint_a=(--endpoint "$url_a") endpoint_b=(--endpoint "$url_b")
  hs_log "node a's S3 is $dist_a ms away (round trip, via $url_a), node b's $dist_b ms (via $url_b)"
fi

hs_log "warm-up: 100 discarded S3 round trips (a fresh RGW's first requests are slower)"
"$HS_BIN/hoshino-s3" bench "$bucket" 100 100 0 > /dev/null
if [[ -n $distance ]]; then
  hs_log "the floors, from each node's side: raw S3 PUT/LIST/GET of a small object"
  "$HS_BIN/hoshino-s3" --endpoint "$url_a" bench "$bucket" 100 100 0 > "$out/floor.json"
  "$HS_BIN/hoshino-s3" --endpoint "$url_b" bench "$bucket" 100 100 0 > "$out/floor-b.json"
  hs_log "    and single-stream PUT throughput at the bundle size (1 MiB), from a's side"
  "$HS_BIN/hoshino-s3" --endpoint "$url_a" bench "$bucket" 20 1048576 0 > "$out/put-1mib.json"
else
  hs_log "the floor: raw S3 PUT/LIST/GET of a small object"
  "$HS_BIN/hoshino-s3" bench "$bucket" 200 100 0 > "$out/floor.json"
  hs_log "    and single-stream PUT throughput at the bundle size (1 MiB)"
  "$HS_BIN/hoshino-s3" bench "$bucket" 20 1048576 0 > "$out/put-1mib.json"
fi

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$(cat "$HS_WORK/$1.pid")/stat"; }

# run_variant NAME [hoshino flags]: two fresh nodes; ping, bulk TCP, idle; results under $out/NAME/.
run_variant() {
  local name=$1 dir=$out/$1 ns_a ns_b addr_b
  shift
  mkdir -p "$dir"
  ns_a="hsx$$-$name-a" ns_b="hsx$$-$name-b"
  hs_netns "$ns_a"; hs_netns "$ns_b"
  hs_start a "$ns_a" "$(hs_machine_id a a1a1a1a1a1a1a1a1)" "$bucket" "${endpoint_a[@]}" "$@"
  hs_start b "$ns_b" "$(hs_machine_id b b2b2b2b2b2b2b2b2)" "$bucket" "${endpoint_b[@]}" "$@"
  addr_b=$(hs_address b2b2b2b2b2b2b2b2)
  metrics() {
    date +%s.%N > "$dir/$1.time"
    curl -s "http://127.0.0.1:$HS_PORT_a/metrics" > "$dir/$1-a.prom"; curl -s "http://127.0.0.1:$HS_PORT_b/metrics" > "$dir/$1-b.prom"
  }

  hs_log "[$name] ping RTT through the tunnel (sizes: $sizes; $count each, interval $interval s)"
  ip netns exec "$ns_a" ping -c 3 -W 10 "$addr_b" >/dev/null || true
  metrics before-ping
  for s in $sizes; do
    ip netns exec "$ns_a" ping -c "$count" -i "$interval" -s "$s" -W 5 "$addr_b" > "$dir/ping-$s.txt" || true
  done

  hs_log "[$name] bulk TCP (iperf3, $duration s, $streams stream(s))"
  metrics before-bulk
  local cpu_a0 cpu_b0 cpu_a1 cpu_b1 sampler
  cpu_a0=$(cpu_ticks a); cpu_b0=$(cpu_ticks b)
  ip netns exec "$ns_b" iperf3 -s -1 -B "$addr_b" >/dev/null 2>&1 &
  sleep 0.5
  ( while sleep 0.5; do
      awk '/VmRSS/ { print $2 }' "/proc/$(cat "$HS_WORK/a.pid")/status" 2>/dev/null || echo 0
    done ) > "$dir/rss-a-kib.txt" &
  sampler=$!
  ip netns exec "$ns_a" iperf3 -c "$addr_b" -t "$duration" -P "$streams" -i 1 -J > "$dir/iperf.json" || true
  kill "$sampler"
  cpu_a1=$(cpu_ticks a); cpu_b1=$(cpu_ticks b)
  metrics after-bulk
  echo "{\"cpu_ticks_a\": $((cpu_a1 - cpu_a0)), \"cpu_ticks_b\": $((cpu_b1 - cpu_b0)), \"hz\": $(getconf CLK_TCK)}" > "$dir/cpu.json"

  hs_log "[$name] idle: waiting for the heartbeat to slow down, then counting LISTs for $idle s"
  sleep 15
  metrics before-idle
  sleep "$idle"
  metrics after-idle
  hs_stop a; hs_stop b
  ip netns del "$ns_a"; ip netns del "$ns_b"
}

variants=(defaults)
run_variant defaults "${node_flags[@]}"
if ((original)); then
  variants+=(original)
  run_variant original --experiment original-design
fi
for i in "${!extra_names[@]}"; do
  variants+=("${extra_names[$i]}")
  read -ra flags <<< "${extra_flags[$i]}"
  run_variant "${extra_names[$i]}" "${flags[@]}"
done
if [[ -n $baseline_bin ]]; then
  variants+=(baseline)
  HS_BIN=$baseline_bin
  run_variant baseline
  HS_BIN=$root/build/src
  "$baseline_bin/hoshino" --version > "$out/baseline/version.txt" 2>&1 || true
  cat "$baseline_bin/../REVISION" >> "$out/baseline/version.txt" 2>/dev/null || true
fi

hs_log "report"
python3 "$root/scripts/experiment_report.py" "$out" --idle "$idle" --duration "$duration" --sizes $sizes \
  --variants "${variants[@]}" --s3-delay-ms "$delay" --streams "$streams" \
  ${distance:+--distance-ms "$dist_a" "$dist_b"}
echo "results: $out/report.md, $out/results.json, $out/rtt-cdf.png, $out/throughput.png"
