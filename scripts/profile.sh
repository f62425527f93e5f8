#!/usr/bin/env bash
# Where a node's CPU goes under bulk load: two nodes on a fresh local RGW, iperf3 through the tunnel,
# `perf record` (software cpu-clock sampling, as these VMs have no hardware counters) on the sending
# node. Prints the top symbols and leaves perf.data under the output directory.
#
#   scripts/profile.sh [SECONDS] [OUT_DIR] [-- extra hoshino flags]      (root)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-10}
out=${2:-$root/bench-results/profile-$(date +%Y%m%d-%H%M%S)}
shift $(( $# >= 2 ? 2 : $# ))
[[ ${1:-} == -- ]] && shift
[[ $(id -u) -eq 0 ]] || { echo "profile.sh: run as root" >&2; exit 1; }
mkdir -p "$out"
bash "$root/scripts/install-deps.sh" >/dev/null
bash "$root/scripts/build.sh" "$root/build"
HS_BIN=$root/build/src
source "$root/scripts/lib/nodes.sh"
rgw_dir=$(mktemp -d /tmp/hoshino-prof-rgw.XXXXXX)
cleanup() { hs_cleanup; bash "$root/scripts/rgw.sh" stop "$rgw_dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT
source "$(bash "$root/scripts/rgw.sh" start "$rgw_dir")"
"$HS_BIN/hoshino-s3" mb hoshino-profile
hs_netns "hsp$$-a"; hs_netns "hsp$$-b"
hs_start a "hsp$$-a" "$(hs_machine_id a a1a1a1a1a1a1a1a1)" hoshino-profile "$@"
hs_start b "hsp$$-b" "$(hs_machine_id b b2b2b2b2b2b2b2b2)" hoshino-profile "$@"
addr_b=$(hs_address b2b2b2b2b2b2b2b2)
ip netns exec "hsp$$-b" iperf3 -s -1 -B "$addr_b" >/dev/null 2>&1 &
sleep 0.5
perf record -e cpu-clock -F 2000 -g -o "$out/perf.data" -p "$(cat "$HS_WORK/a.pid")" -- sleep "$seconds" \
  > "$out/perf-record.log" 2>&1 &
perf_pid=$!
ip netns exec "hsp$$-a" iperf3 -c "$addr_b" -t "$seconds" > "$out/iperf.txt"
wait "$perf_pid" || true
report() { perf report -i "$out/perf.data" --no-children -g none --sort "$1" --stdio 2>/dev/null | grep '%' | sed 's/ *$//'; }
{ echo "== by library"; report dso | head -15; echo "== by symbol"; report dso,symbol | head -30; } | tee "$out/top.txt"
echo "profile: $out/perf.data, $out/top.txt"
