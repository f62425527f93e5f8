#!/usr/bin/env bash
# S3 faults end to end: the RGW gateway stopped for a few seconds during a ping stream, and the S3 path
# cut and restored. The nodes keep running and traffic resumes by itself.
# Needs root and a local RGW started by scripts/rgw.sh with HOSHINO_RGW_NETNS (scripts/test.sh does);
# skips (77) otherwise.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/test/support/checks.sh"
require_root
[[ -n ${HOSHINO_RGW_DIR:-} && -f ${HOSHINO_RGW_DIR}/netns ]] || {
  echo "needs a local RGW in its own namespace (run scripts/test.sh): skipped"; exit 77; }
HS_BIN=${HOSHINO_BIN:-$root/build/src}
source "$root/scripts/lib/nodes.sh"
rgw() { bash "$root/scripts/rgw.sh" "$1" "$HOSHINO_RGW_DIR"; }
restore_s3() { rgw restore >/dev/null 2>&1; [[ -f $HOSHINO_RGW_DIR/run/rgw.pid ]] || rgw start-gateway >/dev/null 2>&1; }
trap 'restore_s3; hs_cleanup' EXIT

alive() { kill -0 "$(cat "$HS_WORK/$1.pid")" 2>/dev/null; }

tag=$$
bucket=faults-$tag
"$HS_BIN/hoshino-s3" mb "$bucket" || exit 1
hs_netns "hsf$tag-a"; hs_netns "hsf$tag-b"
hs_start a "hsf$tag-a" "$(hs_machine_id a a1a1a1a1a1a1a1a1)" "$bucket" || exit 1
hs_start b "hsf$tag-b" "$(hs_machine_id b b2b2b2b2b2b2b2b2)" "$bucket" || exit 1
addr_b=$(hs_address b2b2b2b2b2b2b2b2)
ping_b() { ip netns exec "hsf$tag-a" ping "$@" "$addr_b"; }
# Five pings in a row all answered (the first may wait out the heartbeat's error backoff).
resumes() { ping_b -c 5 -i 0.2 -W 10 | grep -q ' 0% packet loss'; }
ping_b -c 1 -W 10 >/dev/null

# 1. The gateway goes away for 3 s in the middle of a ping stream.
ping_b -c 40 -i 0.25 -W 2 > "$HS_WORK/ping1.txt" 2>&1 &
ping_pid=$!
sleep 2
rgw stop-gateway
sleep 3
rgw start-gateway
wait "$ping_pid"
tail -2 "$HS_WORK/ping1.txt"
both_alive() { alive a && alive b; }
check "nodes survive the gateway outage" both_alive
check "the outage was seen and counted (S3 errors)" \
  ge "$(curl -s "http://127.0.0.1:$HS_PORT_a/metrics" | awk '/^hoshino_s3_errors_total/ { n += $2 } END { print n + 0 }')" 1
check "traffic resumes after the gateway returns" resumes

# 2. The S3 path is cut for 3 s, then restored.
ping_b -c 40 -i 0.25 -W 2 > "$HS_WORK/ping2.txt" 2>&1 &
ping_pid=$!
sleep 2
rgw cut
sleep 3
rgw restore
wait "$ping_pid"
tail -2 "$HS_WORK/ping2.txt"
check "nodes survive the cut" both_alive
check "traffic resumes after the path is restored" resumes
check "some pings made it during the stream (before/after the cut)" grep -qE ' [1-9][0-9]* received' "$HS_WORK/ping2.txt"

hs_stop a TERM
check "SIGTERM after the faults: exit 0" test "$HS_STATUS" = 0
finish
