#!/usr/bin/env bash
# End to end on real kernel TUN devices against the local RGW: two nodes with --netns; 30 pings; a 20 MB
# file over HTTP with matching sha256; iperf3 for 10 s; metrics show the traffic; a node killed and
# restarted does not deliver stale packets; consumed objects re-PUT under either spelling, and kept over a
# kill -9 and restart, are refused as replays; SIGTERM exits 0 and removes the interface.
# Skips (77) without root or without an S3 endpoint (scripts/test.sh provides one).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/test/support/checks.sh"
require_root
require_s3
HS_BIN=${HOSHINO_BIN:-$root/build/src}
source "$root/scripts/lib/nodes.sh"
trap hs_cleanup EXIT


tag=$$
bucket=e2e-$tag
"$HS_BIN/hoshino-s3" mb "$bucket" || exit 1
hs_netns "hse$tag-a"; hs_netns "hse$tag-b"
mid_a=$(hs_machine_id a a1a1a1a1a1a1a1a1); mid_b=$(hs_machine_id b b2b2b2b2b2b2b2b2)
addr_a=$(hs_address a1a1a1a1a1a1a1a1); addr_b=$(hs_address b2b2b2b2b2b2b2b2)
# Sealed end to end with a shared key, and as verbose as it gets: the logs are checked for secrets below.
psk_hex=$(openssl rand -hex 32 2>/dev/null || python3 -c 'import os; print(os.urandom(32).hex())')
(umask 077; echo "$psk_hex" > "$HS_WORK/psk")
hs_start a "hse$tag-a" "$mid_a" "$bucket" --psk-file "$HS_WORK/psk" -vv || exit 1
hs_start b "hse$tag-b" "$mid_b" "$bucket" --psk-file "$HS_WORK/psk" -vv || exit 1
in_a() { ip netns exec "hse$tag-a" "$@"; }
in_b() { ip netns exec "hse$tag-b" "$@"; }

check "interface configured in its namespace (address, MTU, route with cubic congestion control)" \
  bash -c "ip -n hse$tag-a -6 addr show dev hs-a | grep -q '$addr_a/64' &&
           ip -n hse$tag-a link show hs-a | grep -q 'mtu 53049' &&
           ip -n hse$tag-a -6 route | grep '^$HS_ULA::/64 dev hs-a' | grep -q 'congctl cubic'"

# The first packet may wait for the idle peer's next LIST (up to --poll-max, 5 s).
in_a ping -c 1 -W 10 "$addr_b" >/dev/null
ping_out=$(in_a ping -c 30 -i 0.2 -W 5 "$addr_b")
echo "$ping_out" | tail -2
check "30 pings, all answered" grep -q "30 packets transmitted, 30 received" <<<"$ping_out"
# The first sealed echo request fits in a key (on this RGW too): b read it from a LIST, with no GET. It
# announced the key of a's next object, and so did each after it: b found those with GETs of the
# announced keys (polls), not LISTs (a LIST now and then may still find one first).
check "the first ping travelled inline in its key (sealed), read from the LIST" \
  ge "$(hs_metric b 'hoshino_objects_inlined_total{direction="ingress"}')" 1
check "the next ones were found by polling announced keys" \
  ge "$(hs_metric b 'hoshino_polls_total{result="hit"}')" 25

mkdir -p "$HS_WORK/www"
head -c 20000000 /dev/urandom > "$HS_WORK/www/file.bin"
# Not through in_b: a backgrounded function is a subshell, and killing it would leave the server running.
ip netns exec "hse$tag-b" python3 -m http.server 8080 --bind "$addr_b" --directory "$HS_WORK/www" >/dev/null 2>&1 &
http_pid=$!
for _ in $(seq 50); do in_a curl -s -g -o /dev/null "http://[$addr_b]:8080/" && break; sleep 0.1; done
in_a curl -s -g --max-time 120 -o "$HS_WORK/file.back" "http://[$addr_b]:8080/file.bin"
kill "$http_pid"; wait "$http_pid" 2>/dev/null
check "20 MB over HTTP through the tunnel, sha256 matches" \
  test "$(sha256sum < "$HS_WORK/www/file.bin")" = "$(sha256sum < "$HS_WORK/file.back" 2>/dev/null)"

in_b iperf3 -s -1 -B "$addr_b" >/dev/null 2>&1 &
iperf_pid=$!
sleep 0.5
in_a iperf3 -c "$addr_b" -t 10 -J > "$HS_WORK/iperf.json"
wait "$iperf_pid" 2>/dev/null
mbps=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e6,1))' "$HS_WORK/iperf.json" 2>/dev/null || echo 0)
echo "iperf3: $mbps Mbit/s through the tunnel"
check "iperf3 ran 10 s and moved data" ge "$mbps" 1

# With the 53049-byte MTU, 10 s of iperf3 is a few thousand (large) packets: judge by bytes.
eg=$(hs_metric a 'hoshino_packets_total{direction="egress"}') || abort "read a's metrics"
eg_bytes=$(hs_metric a 'hoshino_bytes_total{direction="egress"}') || abort "read a's metrics"
ing_bytes=$(hs_metric b 'hoshino_bytes_total{direction="ingress"}') || abort "read b's metrics"
puts=$(hs_metric a 'hoshino_s3_requests_total{op="put"}') || abort "read a's metrics"
echo "metrics: a egress $eg packets / $eg_bytes bytes in $puts PUTs, b ingress $ing_bytes bytes"
check "metrics show the iperf3 traffic leaving a" ge "$eg_bytes" 50000000
check "metrics show it arriving at b" ge "$ing_bytes" 50000000
check "metrics: bundling (fewer PUTs than packets)" ge "$eg" "$((puts * 2))"
check "metrics: build info and process gauges exported" \
  bash -c "curl -s http://127.0.0.1:$HS_PORT_a/metrics | grep -q '^hoshino_build_info{version=' &&
           curl -s http://127.0.0.1:$HS_PORT_a/metrics | grep -q '^process_resident_memory_bytes [1-9]'"

# Kill b hard; packets sent to it meanwhile wait in its inbox; a restarted b must not deliver them.
hs_stop b KILL
in_a ping -c 3 -i 0.2 -W 1 "$addr_b" >/dev/null 2>&1
sleep 6 # older than the startup grace (5 s)
cp "$HS_WORK/b.log" "$HS_WORK/b-first.log"
hs_start b "hse$tag-b" "$mid_b" "$bucket" --psk-file "$HS_WORK/psk" --tcp-congestion system -vv || exit 1
check "--tcp-congestion system: the route leaves the host's congestion control alone" \
  bash -c "ip -n hse$tag-b -6 route | grep '^$HS_ULA::/64 dev hs-b' | grep -qv congctl"
for _ in $(seq 50); do ge "$(hs_metric b 'hoshino_packets_dropped_total{reason="stale"}')" 3 && break; sleep 0.1; done
check "restarted node drops the stale packets" ge "$(hs_metric b 'hoshino_packets_dropped_total{reason="stale"}')" 3
check "restarted node delivered none of them" test "$(hs_metric b 'hoshino_packets_total{direction="ingress"}')" = 0
check "traffic works again after the restart" bash -c "ip netns exec hse$tag-a ping -c 3 -i 0.2 -W 10 $addr_b >/dev/null"

# Replays that the startup grace does not cover. b keeps what it consumes in the bucket (after the first,
# deletes wait an hour), so each consumed object stays there to be found again.
inbox="hoshino/$(python3 -c 'import ipaddress,sys; print(ipaddress.IPv6Address(sys.argv[1]).exploded.replace(":",""))' "$addr_b")/"
# (Once the last pings' objects are deleted: left over, they would count as stale below.)
for _ in $(seq 50); do [[ -z $("$HS_BIN/hoshino-s3" ls "$bucket" "$inbox") ]] && break; sleep 0.1; done
hs_stop b KILL
hs_start b "hse$tag-b" "$mid_b" "$bucket" --psk-file "$HS_WORK/psk" --delete-interval 60m -vv || exit 1
in_a ping -c 6 -i 0.2 -W 10 "$addr_b" >/dev/null
delivered=$(hs_metric b 'hoshino_packets_total{direction="ingress"}') || abort "read b's metrics"
check "b delivered the pings" ge "$delivered" 6
# kill -9 and an immediate restart, within the 5 s startup grace: only the state directory can tell
# that b delivered these already.
"$HS_BIN/hoshino-s3" ls "$bucket" "$inbox" > "$HS_WORK/before-restart.txt"
left=$(wc -l < "$HS_WORK/before-restart.txt")
hs_stop b KILL
hs_start b "hse$tag-b" "$mid_b" "$bucket" --psk-file "$HS_WORK/psk" --delete-interval 60m -vv || exit 1
check "consumed objects stayed in the bucket" ge "$left" 4
for _ in $(seq 50); do ge "$(hs_metric b 'hoshino_packets_dropped_total{reason="replayed"}')" "$left" && break; sleep 0.1; done
echo "restart: $left objects left; replayed $(hs_metric b 'hoshino_packets_dropped_total{reason="replayed"}'), stale $(hs_metric b 'hoshino_packets_dropped_total{reason="stale"}'), too_old $(hs_metric b 'hoshino_packets_dropped_total{reason="too_old"}')"
check "after kill -9 and an immediate restart, every consumed object is refused as a replay" \
  ge "$(hs_metric b 'hoshino_packets_dropped_total{reason="replayed"}')" "$left"
check "the restarted node delivered none of them" test "$(hs_metric b 'hoshino_packets_total{direction="ingress"}')" = 0
check "none was taken as stale: the state directory, not the age, refused them" \
  test "$(hs_metric b 'hoshino_packets_dropped_total{reason="stale"}')" = 0

# A bucket writer re-PUTs each consumed object under its other spelling: inline into a bare object, a
# body into the key. The same (sender, ULID): refused, not delivered.
in_a ping -c 6 -i 0.2 -W 10 "$addr_b" >/dev/null
delivered=$(hs_metric b 'hoshino_packets_total{direction="ingress"}') || abort "read b's metrics"
replayed=$(hs_metric b 'hoshino_packets_dropped_total{reason="replayed"}') || abort "read b's metrics"
"$HS_BIN/hoshino-s3" ls "$bucket" "$inbox" | cut -f2 > "$HS_WORK/left.txt"
b64url() { python3 -c 'import base64,sys; sys.stdout.write(base64.urlsafe_b64encode(sys.stdin.buffer.read()).decode().rstrip("="))'; }
unb64url() { python3 -c 'import base64,sys; t=sys.argv[1]; sys.stdout.buffer.write(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)))' "$1"; }
respelled=0
while read -r key; do
  if [[ $key == *.* ]]; then
    unb64url "${key#*.}" > "$HS_WORK/body.bin"
    "$HS_BIN/hoshino-s3" put "$bucket" "${key%%.*}" "$HS_WORK/body.bin" && respelled=$((respelled + 1))
  else
    inline=$("$HS_BIN/hoshino-s3" get "$bucket" "$key" | b64url)
    "$HS_BIN/hoshino-s3" put "$bucket" "$key.$inline" /dev/null && respelled=$((respelled + 1))
  fi
done < "$HS_WORK/left.txt"
echo "replay: $(wc -l < "$HS_WORK/left.txt") consumed objects in b's inbox, $respelled re-PUT under their other spelling"
check "each consumed object was re-PUT under its other spelling" \
  bash -c "(( $respelled >= 6 && $respelled == $(wc -l < "$HS_WORK/left.txt") ))"
# b may be idle by now, watching its doorbell: a writer who wants its objects seen rings it too.
echo "ring $RANDOM$RANDOM" > "$HS_WORK/ring.txt"
"$HS_BIN/hoshino-s3" put "$bucket" "$(dirname "$inbox")/bell/$(basename "$inbox")" "$HS_WORK/ring.txt" >/dev/null
for _ in $(seq 100); do ge "$(hs_metric b 'hoshino_packets_dropped_total{reason="replayed"}')" "$((replayed + respelled))" && break; sleep 0.1; done
check "the other spelling of each consumed object is refused as a replay" \
  ge "$(hs_metric b 'hoshino_packets_dropped_total{reason="replayed"}')" "$((replayed + respelled))"
check "and not delivered again" test "$(hs_metric b 'hoshino_packets_total{direction="ingress"}')" = "$delivered"
check "traffic works after all that" bash -c "ip netns exec hse$tag-a ping -c 3 -i 0.2 -W 10 $addr_b >/dev/null"

# Who is there: each node's presence record names its address and public key; a packet to an address
# nobody holds is answered at once with ICMPv6 address unreachable, and costs no PUT.
pub_a=$(sed -n 's/^public key //p' "$HS_WORK/a.log" | head -1)
pub_b=$(sed -n 's/^public key //p' "$HS_WORK/b.log" | tail -1)
"$HS_BIN/hoshino" peers --bucket "$bucket" > "$HS_WORK/peers.txt" 2>&1
cat "$HS_WORK/peers.txt"
check "hoshino peers lists both nodes with their public keys and hostnames" \
  bash -c "grep -q '^$addr_a *$pub_a *$(hostname)' '$HS_WORK/peers.txt' && grep -q '^$addr_b *$pub_b ' '$HS_WORK/peers.txt' && grep -q '^2 node(s)' '$HS_WORK/peers.txt'"
"$HS_BIN/hoshino" show --state-dir "$HS_WORK/a.state" > "$HS_WORK/show.txt" 2>&1
cat "$HS_WORK/show.txt"
check "hoshino show: the node, its key, and b with traffic both ways and a round trip" \
  bash -c "grep -q '^node: $addr_a' '$HS_WORK/show.txt' && grep -qF 'public key: $pub_a' '$HS_WORK/show.txt' &&
           grep -q '^peer: $addr_b' '$HS_WORK/show.txt' && grep -q 'trusted on first use' '$HS_WORK/show.txt' &&
           grep -q 'transfer: .* received in [1-9][0-9]* objects, .* sent in [1-9]' '$HS_WORK/show.txt' &&
           grep -q 'round trip: [0-9.]* ms' '$HS_WORK/show.txt'"
check "the control socket is root's only (mode 0600)" \
  test "$(stat -c %a "$HS_WORK/a.state/control.sock" 2>/dev/null)" = 600
check "hoshino show without a running node says so" \
  bash -c "! '$HS_BIN/hoshino' show --state-dir /nonexistent 2>/dev/null && '$HS_BIN/hoshino' show --state-dir /nonexistent 2>&1 | grep -q 'no running node'"
check "the private key was made in the state directory, mode 0600" \
  test "$(stat -c %a "$HS_WORK/a.state/private.key" 2>/dev/null)" = 600
nobody="$HS_ULA::dead"
puts_before=$(hs_metric a 'hoshino_s3_requests_total{op="put"}') || abort "read a's metrics"
start_ms=$(date +%s%3N)
unreach=$(in_a ping -c 1 -W 5 "$nobody" 2>&1)
took=$(( $(date +%s%3N) - start_ms ))
echo "ping $nobody: $(echo "$unreach" | grep -i unreachable | head -1) ($took ms)"
check "a ping to an address nobody holds says so at once (ICMPv6 address unreachable)" \
  bash -c "grep -qi 'unreachable' <<<'$unreach' && (( $took < 3000 ))"
check "and it cost no PUT" test "$(hs_metric a 'hoshino_s3_requests_total{op="put"}')" = "$puts_before"
check "and nothing was written into an inbox nobody reads" \
  test -z "$("$HS_BIN/hoshino-s3" ls "$bucket" "hoshino/fd5e59b8f71d9a3e000000000000dead/")"
check "counted as no_peer" ge "$(hs_metric a 'hoshino_packets_dropped_total{reason="no_peer"}')" 1

no_secrets() {
  local priv_a priv_b
  priv_a=$(cat "$HS_WORK/a.state/private.key") priv_b=$(cat "$HS_WORK/b.state/private.key")
  ! grep -qF -e "$AWS_SECRET_ACCESS_KEY" -e "$psk_hex" -e "$priv_a" -e "$priv_b" "$HS_WORK"/a.log "$HS_WORK"/b.log "$HS_WORK"/b-first.log
}
check "logs (-vv) carry neither the S3 secret nor the PSK nor a private key" no_secrets
check "the nodes say their objects are sealed" grep -q "objects sealed" "$HS_WORK/a.log"

hs_stop a TERM
check "SIGTERM: exit status 0" test "$HS_STATUS" = 0
check "SIGTERM: interface removed" bash -c "! ip -n hse$tag-a link show hs-a >/dev/null 2>&1"
check "SIGTERM: its presence record removed" \
  bash -c "! '$HS_BIN/hoshino-s3' ls '$bucket' hoshino/peers/ | grep -q '$(python3 -c 'import ipaddress,sys; print(ipaddress.IPv6Address(sys.argv[1]).exploded.replace(":",""))' "$addr_a")'"

finish
