#!/usr/bin/env bash
# Idle cost and cold first-packet latency of several node settings, side by side in one run.
#
# Each setting gets its own pair of nodes (a and b, each in a network namespace of its own, its own
# --key-prefix so the pairs' inboxes are apart, all on one bucket of one local RGW), and all the pairs run
# at the same time. Each round, per pair: wait --idle seconds (plus a fixed sweep offset, see --sweep),
# then one `ping -c 1 -W 5` from a to b (the cold first packet: its RTT, or "lost"), then --settle
# seconds for the exchange's aftermath. Both nodes' S3 requests are counted, by operation, over the idle
# gaps only: from a scrape of /metrics just after the previous round's settle to one just before the ping.
# scripts/coldstart_report.py turns that into requests and dollars per node-day and cold-ping
# percentiles (report.md, results.json, coldstart.png).
#
#   scripts/coldstart.sh [--setting NAME "FLAGS"]... [--baseline-bin DIR] [--rounds N] [--idle S]
#                        [--settle S] [--sweep S] [--stagger S] [--bin DIR] [--out DIR]
#                        [--bucket B --endpoint-from-env]
#
#   --setting NAME "FLAGS"  one node pair run with these hoshino flags (repeatable; NAME: letters,
#                    digits, . _ -; FLAGS may be ""). Without any: "defaults" (""), plus "no-bell"
#                    ("--bell-interval off") when the binary knows that setting, else "poll-2s" ("--poll-max 2s")
#                    and "poll-10s" ("--poll-max 10s"). The script passes --key-prefix first: a
#                    setting's own --key-prefix would win and its pair could share another's inbox.
#   --baseline-bin DIR  one more pair named "baseline": hoshino's default flags, run with DIR/hoshino
#                    (e.g. an older commit built by scripts/build-baseline.sh REV DIR: DIR/src)
#   --rounds N       cold pings per pair (default 20)
#   --idle S         seconds both nodes stay idle before each cold ping, at least (default 60)
#   --settle S       seconds after each ping before the idle counting starts again (default 10: the
#                    heartbeat is back at its slowest about 7 s after the last activity)
#   --sweep S        round r waits idle + frac(r × 0.618…) × S seconds (default 10; 0: exactly idle).
#                    The same offsets in every run and for every pair: a node's idle schedule restarts
#                    at each exchange, so a fixed gap would hit the same phase of it every round and
#                    measure one point of the latency distribution instead of all of it. Make S a
#                    multiple of the slowest idle interval among the settings (10 s covers 5 s and 2 s).
#   --stagger S      pair i starts its rounds i × S seconds after pair 0 (default 3), so the pairs do
#                    not ping in lockstep
#   --bin DIR        directory holding the hoshino binary (default: a fresh build of this tree into
#                    build/; hoshino-s3 is taken from DIR when it has one, else from that build)
#   --out DIR        results directory (default bench-results/coldstart-<time>)
#   --bucket B --endpoint-from-env   use AWS_ENDPOINT_URL/AWS_* from the environment and bucket B
#                    instead of a fresh local RGW (the bucket must exist)
#
# Runtime: warm-up (~15 s) + (pairs - 1) × stagger + rounds × (idle + sweep/2 + settle + ping), i.e.
# about 26 minutes with the defaults, however many settings (each pair is two idle processes).
# Needs root (TUN, namespaces).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=20 idle=60 settle=10 sweep=10 stagger=3 out="" bin="" bucket="" from_env=0 baseline_bin=""
names=() flags=()
while (($#)); do
  case $1 in
    --setting) (($# >= 3)) || { echo "coldstart.sh: --setting needs NAME and FLAGS" >&2; exit 2; }
               names+=("$2"); flags+=("$3"); shift 3 ;;
    --baseline-bin) baseline_bin=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --settle) settle=$2; shift 2 ;;
    --sweep) sweep=$2; shift 2 ;;
    --stagger) stagger=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --bucket) bucket=$2; shift 2 ;;
    --endpoint-from-env) from_env=1; shift ;;
    -h|--help) sed -n '2,43p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "coldstart.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
number() { [[ $2 =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "coldstart.sh: $1 wants a number, not '$2'" >&2; exit 2; }; }
number --idle "$idle"; number --settle "$settle"; number --sweep "$sweep"; number --stagger "$stagger"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "coldstart.sh: --rounds wants a positive integer" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "coldstart.sh: run as root" >&2; exit 1; }

bash "$root/scripts/install-deps.sh" >/dev/null
fresh=$root/build/src
if [[ -z $bin ]]; then
  bash "$root/scripts/build.sh" "$root/build"
  bin=$fresh
fi
bin=$(cd "$bin" && pwd)
[[ -x $bin/hoshino ]] || { echo "coldstart.sh: no hoshino in $bin" >&2; exit 2; }
s3tool=$bin/hoshino-s3
if [[ ! -x $s3tool ]]; then
  bash "$root/scripts/build.sh" "$root/build"
  s3tool=$fresh/hoshino-s3
fi
bins=()
if ((${#names[@]} == 0)); then
  if "$bin/hoshino" check --bucket b --ula fd5e::/64 --bell-interval off > /dev/null 2>&1; then
    names=(defaults no-bell); flags=("" "--bell-interval off")
  elif "$bin/hoshino" --help 2>&1 | grep -q -- '--no-bell'; then # builds before the config file
    names=(defaults no-bell); flags=("" "--no-bell")
  else
    names=(defaults poll-2s poll-10s); flags=("" "--poll-max 2s" "--poll-max 10s")
  fi
fi
for _ in "${names[@]}"; do bins+=("$bin"); done
if [[ -n $baseline_bin ]]; then
  baseline_bin=$(cd "$baseline_bin" && pwd)
  [[ -x $baseline_bin/hoshino ]] || { echo "coldstart.sh: no hoshino in $baseline_bin" >&2; exit 2; }
  names+=(baseline); flags+=(""); bins+=("$baseline_bin")
fi
declare -A seen=()
for n in "${names[@]}"; do
  [[ $n =~ ^[A-Za-z0-9._-]+$ ]] || { echo "coldstart.sh: setting name '$n': letters, digits, . _ - only" >&2; exit 2; }
  [[ -z ${seen[$n]:-} ]] || { echo "coldstart.sh: setting '$n' given twice" >&2; exit 2; }
  seen[$n]=1
done
((${#names[@]} <= 100)) || { echo "coldstart.sh: at most 100 settings" >&2; exit 2; }

out=${out:-$root/bench-results/coldstart-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

HS_BIN=$bin
# shellcheck source=lib/nodes.sh
source "$root/scripts/lib/nodes.sh"
rgw_dir="" loop_pids=()
cleanup() {
  local p
  for p in "${loop_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${loop_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  hs_cleanup
  if [[ -n $rgw_dir ]]; then bash "$root/scripts/rgw.sh" stop "$rgw_dir" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if ((from_env)); then
  [[ -n $bucket ]] || { echo "coldstart.sh: --endpoint-from-env needs --bucket" >&2; exit 2; }
  backend="$AWS_ENDPOINT_URL, bucket $bucket"
else
  rgw_dir=$(mktemp -d /tmp/hoshino-cold-rgw.XXXXXX)
  # shellcheck disable=SC1090 # the env file rgw.sh prints
  source "$(bash "$root/scripts/rgw.sh" start "$rgw_dir")"
  bucket=hoshino-coldstart
  "$s3tool" mb "$bucket"
  backend="local RGW"
fi

# What was run, for the report (and for whoever reads the raw files later).
settings=()
for i in "${!names[@]}"; do
  settings+=("${names[$i]}" "${flags[$i]}" "${bins[$i]}" "$("${bins[$i]}/hoshino" --version 2>/dev/null | head -1 || true)"
             "$(cat "${bins[$i]}/../REVISION" 2>/dev/null || true)")
done
tree=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
python3 - "$out/run.json" "$rounds" "$idle" "$settle" "$sweep" "$stagger" "$backend" "$tree" "${settings[@]}" <<'PY'
import json, sys, time
path, rounds, idle, settle, sweep, stagger, backend, tree, *rest = sys.argv[1:]
keys = ("name", "flags", "bin", "version", "revision")
settings = [dict(zip(keys, rest[i:i + 5])) for i in range(0, len(rest), 5)]
json.dump({"rounds": int(rounds), "idle_s": float(idle), "settle_s": float(settle), "sweep_s": float(sweep),
           "stagger_s": float(stagger), "backend": backend, "tree": tree,
           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "settings": settings},
          open(path, "w"), indent=2)
PY

# Round r's wait: idle + frac(r × golden ratio) × sweep (evenly spread phases, the same in every run).
gap() { awk -v r="$1" -v i="$idle" -v s="$sweep" 'BEGIN { x = r * 0.6180339887498949; printf "%.3f", i + (x - int(x)) * s }'; }

# pair_loop I NAME NETNS_A ADDR_B PORT_A PORT_B DIR: the rounds of one pair (runs in the background).
# Files in DIR: warmup.txt, ping-NN.txt (ping's output), rNN-{before,after}-{a,b}.prom (metrics; r00-after
# is the warm-up's), scrapes.tsv (label, node, epoch seconds when its scrape started), rounds.tsv.
pair_loop() {
  local i=$1 name=$2 ns_a=$3 addr_b=$4 port_a=$5 port_b=$6 dir=$7 r nn t0 ok=0 try
  trap 'kill $(jobs -p) 2>/dev/null; exit 143' TERM
  nap() { sleep "$1" & wait $!; }
  scrape() {
    local node port
    for node in a b; do
      [[ $node == a ]] && port=$port_a || port=$port_b
      printf '%s\t%s\t%s\n' "$1" "$node" "$EPOCHREALTIME" >> "$dir/scrapes.tsv"
      curl -sf --max-time 5 "http://127.0.0.1:$port/metrics" > "$dir/$1-$node.prom" ||
        hs_log "[$name] node $node's metrics do not answer ($1)"
    done
  }
  nap "$(awk -v i="$i" -v s="$stagger" 'BEGIN { print i * s }')"
  for try in 1 2 3 4 5; do
    if ip netns exec "$ns_a" ping -c 1 -W 10 "$addr_b" >> "$dir/warmup.txt" 2>&1; then ok=1; break; fi
  done
  ((ok)) || hs_log "[$name] warm-up: no ping answered in $try tries (going on: the rounds will show it)"
  nap "$settle"
  scrape r00-after
  printf 'round\twait_s\tping_start\n' > "$dir/rounds.tsv"
  for ((r = 1; r <= rounds; r++)); do
    printf -v nn '%02d' "$r"
    local wait_s
    wait_s=$(gap "$r")
    nap "$wait_s"
    scrape "r$nn-before"
    t0=$EPOCHREALTIME
    ip netns exec "$ns_a" ping -c 1 -W 5 "$addr_b" > "$dir/ping-$nn.txt" 2>&1 || true
    printf '%s\t%s\t%s\n' "$r" "$wait_s" "$t0" >> "$dir/rounds.tsv"
    hs_log "[$name] round $r/$rounds: $(grep -o 'time=[0-9.]* ms' "$dir/ping-$nn.txt" || echo lost)"
    nap "$settle"
    scrape "r$nn-after"
  done
}

addr_b=$(hs_address b2b2b2b2b2b2b2b2)
for i in "${!names[@]}"; do
  name=${names[$i]} dir=$out/${names[$i]}
  mkdir -p "$dir"
  ns_a="hsc$$-$i-a" ns_b="hsc$$-$i-b"
  hs_netns "$ns_a"; hs_netns "$ns_b"
  read -ra f <<< "${flags[$i]}"
  prefix=$(printf 'hoshino-p%02d' "$i")
  HS_BIN=${bins[$i]}
  hs_start "a$i" "$ns_a" "$(hs_machine_id "a$i" a1a1a1a1a1a1a1a1)" "$bucket" --key-prefix "$prefix" "${f[@]}"
  hs_start "b$i" "$ns_b" "$(hs_machine_id "b$i" b2b2b2b2b2b2b2b2)" "$bucket" --key-prefix "$prefix" "${f[@]}"
done

hs_log "${#names[@]} pair(s): ${names[*]}; $rounds rounds of ${idle} s idle (+ up to ${sweep} s sweep) + ${settle} s settle"
for i in "${!names[@]}"; do
  port_a_var=HS_PORT_a$i port_b_var=HS_PORT_b$i
  pair_loop "$i" "${names[$i]}" "hsc$$-$i-a" "$addr_b" "${!port_a_var}" "${!port_b_var}" "$out/${names[$i]}" &
  loop_pids+=($!)
done
failed=0
for p in "${loop_pids[@]}"; do wait "$p" || failed=1; done
loop_pids=()
((failed == 0)) || hs_log "a pair's loop failed (see above); reporting what there is"

for i in "${!names[@]}"; do
  for node in a b; do
    hs_stop "$node$i"
    ((HS_STATUS == 0)) || hs_log "[${names[$i]}] node $node exited with status $HS_STATUS"
    cp "$HS_WORK/$node$i.log" "$out/${names[$i]}/node-$node.log" 2>/dev/null || true
  done
done

hs_log "report"
python3 "$root/scripts/coldstart_report.py" "$out"
echo "results: $out/report.md, $out/results.json, $out/coldstart.png"
