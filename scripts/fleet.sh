#!/usr/bin/env bash
# The fleet experiment: N nodes (default 12) in network namespaces on one fresh local RGW, defaults
# (sealed per pair of nodes, presence records, doorbells), measured in one run:
#   1. all-pairs first ping: every node pings every other one once, all at once, from cold (idle nodes);
#   2. a hub: node 1 receives iperf3 from the N-1 others at once: aggregate throughput and per-sender
#      fairness (min/max, Jain's index);
#   3. idle: S3 requests of every node over --idle seconds, priced per node-day, and resident memory.
# Writes results.json and report.md under --out (default bench-results/fleet-<time>).
#
#   scripts/fleet.sh [--nodes N] [--duration S] [--idle S] [--out DIR]
# Needs root (TUN, namespaces).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
nodes=12 duration=10 idle=60 out=""
while (($#)); do
  case $1 in
    --nodes) nodes=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fleet.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "fleet.sh: run as root" >&2; exit 1; }
((nodes >= 3 && nodes <= 99)) || { echo "fleet.sh: --nodes from 3 to 99" >&2; exit 2; }
out=${out:-$root/bench-results/fleet-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"

bash "$root/scripts/install-deps.sh" >/dev/null
bash "$root/scripts/build.sh" "$root/build"
HS_BIN=$root/build/src
source "$root/scripts/lib/nodes.sh"
rgw_dir=$(mktemp -d /tmp/hoshino-fleet-rgw.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  hs_cleanup
  bash "$root/scripts/rgw.sh" stop "$rgw_dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
source "$(bash "$root/scripts/rgw.sh" start "$rgw_dir")"
bucket=hoshino-fleet
"$HS_BIN/hoshino-s3" mb "$bucket"

declare -A addr
for ((i = 1; i <= nodes; i++)); do
  hex=$(printf '%04x' "$i")c0dec0dec0de
  hs_netns "hsl$$-$i"
  addr[$i]=$(hs_address "$hex")
  hs_start "n$i" "hsl$$-$i" "$(hs_machine_id "n$i" "$hex")" "$bucket"
done
wait_pids() { local p; for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done; pids=(); }
scrape() { # scrape TAG: every node's metrics into $out/TAG-nI.prom
  for ((i = 1; i <= nodes; i++)); do curl -s "http://127.0.0.1:$(eval echo \$HS_PORT_n$i)/metrics" > "$out/$1-n$i.prom"; done
}

hs_log "idle for 15 s (every node watches its doorbell), then all-pairs first pings, all at once"
sleep 15
for ((i = 1; i <= nodes; i++)); do
  for ((j = 1; j <= nodes; j++)); do
    ((i == j)) && continue
    ip netns exec "hsl$$-$i" ping -c 1 -W 10 "${addr[$j]}" > "$out/ping-$i-$j.txt" 2>&1 &
    pids+=($!)
  done
done
wait_pids

hs_log "hub: node 1 receives iperf3 from the $((nodes - 1)) others at once, $duration s"
sleep 5
scrape before-hub
for ((j = 2; j <= nodes; j++)); do
  ip netns exec "hsl$$-1" iperf3 -s -1 -B "${addr[1]}" -p $((5200 + j)) >/dev/null 2>&1 &
  pids+=($!)
done
sleep 0.5
clients=()
for ((j = 2; j <= nodes; j++)); do
  ip netns exec "hsl$$-$j" iperf3 -c "${addr[1]}" -p $((5200 + j)) -t "$duration" -J > "$out/iperf-$j.json" 2>/dev/null &
  clients+=($!)
done
for p in "${clients[@]}"; do wait "$p" 2>/dev/null || true; done
wait_pids
scrape after-hub

hs_log "idle: settling 20 s, then counting every node's S3 requests for $idle s"
sleep 20
scrape before-idle
sleep "$idle"
scrape after-idle
for ((i = 1; i <= nodes; i++)); do
  awk '/VmRSS/ { print $2 }' "/proc/$(cat "$HS_WORK/n$i.pid")/status" > "$out/rss-n$i.kib"
done

python3 - "$out" "$nodes" "$idle" "$duration" <<'PY'
import json, re, statistics, sys
out, n, idle, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
def prom(path):
    d = {}
    for line in open(path):
        if line.startswith('#'): continue
        k, _, v = line.rpartition(' ')
        try: d[k] = float(v)
        except ValueError: pass
    return d
ops = ('put', 'list', 'get', 'delete')
def requests(tag_a, tag_b, i):
    a, b = prom(f'{out}/{tag_a}-n{i}.prom'), prom(f'{out}/{tag_b}-n{i}.prom')
    return {op: b.get(f'hoshino_s3_requests_total{{op="{op}"}}', 0) - a.get(f'hoshino_s3_requests_total{{op="{op}"}}', 0) for op in ops}
def dollars(r): return (r['put'] + r['list']) * 0.005 / 1000 + r['get'] * 0.0004 / 1000

rtts, lost = [], 0
for i in range(1, n + 1):
    for j in range(1, n + 1):
        if i == j: continue
        m = re.search(r'time=([0-9.]+) ms', open(f'{out}/ping-{i}-{j}.txt').read())
        if m: rtts.append(float(m.group(1)))
        else: lost += 1
rtts.sort()
q = lambda p: rtts[min(len(rtts) - 1, int(p * len(rtts)))] if rtts else None

senders = []
for j in range(2, n + 1):
    try: senders.append(json.load(open(f'{out}/iperf-{j}.json'))['end']['sum_received']['bits_per_second'] / 1e6)
    except Exception: senders.append(0.0)
total = sum(senders)
jain = total ** 2 / (len(senders) * sum(s * s for s in senders)) if any(senders) else 0
hub = [requests('before-hub', 'after-hub', i) for i in range(1, n + 1)]
hub_all = {op: sum(r[op] for r in hub) for op in ops}
hub_bytes = sum(prom(f'{out}/after-hub-n{i}.prom').get('hoshino_bytes_total{direction="egress"}', 0) -
                prom(f'{out}/before-hub-n{i}.prom').get('hoshino_bytes_total{direction="egress"}', 0) for i in range(2, n + 1))
idle_r = [requests('before-idle', 'after-idle', i) for i in range(1, n + 1)]
per_day = [dollars(r) * 86400 / idle for r in idle_r]
rss = [int(open(f'{out}/rss-n{i}.kib').read() or 0) / 1024 for i in range(1, n + 1)]
res = {
    'nodes': n,
    'first_ping_ms': {'p50': q(0.5), 'p90': q(0.9), 'max': rtts[-1] if rtts else None, 'answered': len(rtts), 'lost': lost},
    'hub': {'senders': n - 1, 'aggregate_mbit_s': total, 'per_sender_mbit_s': senders, 'min': min(senders), 'max': max(senders),
            'jain': jain, 'requests': hub_all, 'dollars_per_gb': dollars(hub_all) / (hub_bytes / 1e9) if hub_bytes else None},
    'idle': {'seconds': idle, 'dollars_per_node_day': {'mean': statistics.mean(per_day), 'max': max(per_day)},
             'requests_per_node_day': {op: statistics.mean(r[op] for r in idle_r) * 86400 / idle for op in ops}},
    'rss_mib': {'mean': statistics.mean(rss), 'max': max(rss)},
}
json.dump(res, open(f'{out}/results.json', 'w'), indent=2)
f = res['first_ping_ms']; h = res['hub']; i = res['idle']
report = f"""# hoshino fleet experiment: {n} nodes, one local RGW, 2 cores

| figure | value |
|---|---|
| all-pairs first ping, {n * (n - 1)} pings at once from idle: p50 / p90 / max | {f['p50']:.0f} / {f['p90']:.0f} / {f['max']:.0f} ms ({f['lost']} lost) |
| hub receiving from {n - 1} senders at once: aggregate | {h['aggregate_mbit_s']:.0f} Mbit/s |
| per sender: min / max, Jain's fairness index | {h['min']:.1f} / {h['max']:.1f} Mbit/s, {h['jain']:.3f} |
| $ per GB in the hub run (all nodes' requests) | {h['dollars_per_gb'] or 0:.4f} |
| idle $ per node-day: mean / max | {i['dollars_per_node_day']['mean']:.4f} / {i['dollars_per_node_day']['max']:.4f} |
| idle requests per node-day: PUT / LIST / GET | {i['requests_per_node_day']['put']:.0f} / {i['requests_per_node_day']['list']:.0f} / {i['requests_per_node_day']['get']:.0f} |
| resident memory per node: mean / max | {res['rss_mib']['mean']:.1f} / {res['rss_mib']['max']:.1f} MiB |
"""
open(f'{out}/report.md', 'w').write(report)
print(report)
PY
hs_log "results: $out/report.md, $out/results.json"
