#!/usr/bin/env bash
# A single-node Ceph RGW for development, tests and the demo: one mon, one memstore OSD, one radosgw.
#
#   scripts/rgw.sh start [DIR]    start (or reuse) the cluster whose state lives in DIR; prints its env file
#   scripts/rgw.sh stop  [DIR]    stop the daemons started for DIR (by their recorded PIDs) and remove DIR
#   scripts/rgw.sh env   [DIR]    print the environment (endpoint, keys) of a running cluster
#   scripts/rgw.sh stop-gateway  [DIR]   stop only radosgw (S3 down; data kept by the OSD)
#   scripts/rgw.sh start-gateway [DIR]   start radosgw again
# With HOSHINO_RGW_NETNS=NAME at start, the whole cluster runs in its own network namespace NAME, reached
# through a veth pair (S3 at 10.253.N.2); then also:
#   scripts/rgw.sh cut     [DIR]  take the veth link down (the S3 path is cut: connections fail)
#   scripts/rgw.sh restore [DIR]  bring it back up
#   scripts/rgw.sh delay   [DIR] MS   add MS milliseconds each way (tc netem) to emulate a distant S3; 0 removes
#
# DIR defaults to $HOSHINO_RGW_DIR or /tmp/hoshino-rgw. Each DIR picks free ports of its own, so two
# clusters run side by side. Everything (config, data, logs, pid files, ports) stays inside DIR.
# Ceph's "memstore" keeps objects in memory: a restart loses them, which suits tests.
set -euo pipefail

cmd=${1:-}
dir=${2:-${HOSHINO_RGW_DIR:-/tmp/hoshino-rgw}}
access_key=${HOSHINO_RGW_ACCESS_KEY:-HOSHINOTESTACCESSKEY}
secret_key=${HOSHINO_RGW_SECRET_KEY:-hoshino/test/secret/key/0123456789abcdef}

log() { echo "rgw.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# A port that nothing listens on now (in the cluster's namespace).
free_port() {
  $in_ns python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Set from DIR/netns when the cluster lives in a namespace of its own.
in_ns="" netns="" veth=""
load_netns() {
  if [[ -f $dir/netns ]]; then
    netns=$(cat "$dir/netns"); veth=$(cat "$dir/veth"); in_ns="ip netns exec $netns"
  fi
}

# Creates namespace NAME with loopback up and a veth pair to this namespace: 10.253.N.1 here, 10.253.N.2
# there. Prints the address there.
make_netns() {
  local name=$1 n
  for n in $(shuf -i 1-250); do ip link show "hsr$n" >/dev/null 2>&1 || break; done
  ip netns add "$name"
  ip -n "$name" link set lo up
  ip link add "hsr$n" type veth peer name eth0 netns "$name"
  ip addr add "10.253.$n.1/30" dev "hsr$n"
  ip link set "hsr$n" up
  ip -n "$name" addr add "10.253.$n.2/30" dev eth0
  ip -n "$name" link set eth0 up
  echo "$name" > "$dir/netns"; echo "hsr$n" > "$dir/veth"; echo "10.253.$n.2" > "$dir/host"
}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

ceph_cli() { $in_ns timeout 30 ceph -c "$dir/ceph.conf" "$@"; }

write_env() {
  cat > "$dir/env" <<ENV
export AWS_ENDPOINT_URL=http://$(cat "$dir/host"):$(cat "$dir/rgw.port")
export AWS_ACCESS_KEY_ID=$access_key
export AWS_SECRET_ACCESS_KEY=$secret_key
export AWS_REGION=us-east-1
export HOSHINO_RGW_DIR=$dir
ENV
}

wait_http() {
  local port=$1 deadline=$((SECONDS + 60))
  until curl -s -o /dev/null "http://$(cat "$dir/host"):$port/"; do
    ((SECONDS < deadline)) || die "radosgw did not answer on port $port within 60 s (see $dir/log/)"
    alive "$dir/run/rgw.pid" || die "radosgw exited (see $dir/log/client.rgw.gw.log)"
    sleep 0.2
  done
}

start() {
  for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool; do
    command -v "$b" >/dev/null || die "$b not found: run scripts/install-deps.sh"
  done
  if alive "$dir/run/mon.pid" && alive "$dir/run/osd.pid" && alive "$dir/run/rgw.pid"; then
    log "already running in $dir"
    write_env; echo "$dir/env"; return
  fi
  [[ -e $dir ]] && stop_daemons && remove_netns && rm -rf "$dir"
  mkdir -p "$dir"/{run,log,mon,osd,rgw}
  echo 127.0.0.1 > "$dir/host"
  if [[ -n ${HOSHINO_RGW_NETNS:-} ]]; then
    make_netns "$HOSHINO_RGW_NETNS"
    load_netns
  fi
  local mon_port rgw_port fsid osd_uuid
  mon_port=$(free_port); rgw_port=$(free_port)
  echo "$mon_port" > "$dir/mon.port"; echo "$rgw_port" > "$dir/rgw.port"
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$dir/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
public addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
# with auth none only crc can be negotiated; radosgw otherwise asks the mon for "secure" alone
ms mon client mode = crc secure
ms client mode = crc secure
ms mon service mode = crc secure
ms service mode = crc secure
ms cluster mode = crc secure
ms mon cluster mode = crc secure
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
mon data = $dir/mon/\$id
osd data = $dir/osd/\$id
keyring = /dev/null
osd objectstore = memstore
memstore device bytes = 2147483648
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 10000
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
# S3 keys may be 1024 bytes (hoshino inlines small packets in keys); RGW prefixes them with the
# bucket marker, so the OSD must accept longer RADOS names than the ext4-era 460 suggested in examples
osd max object name len = 2048
osd max object namespace len = 64
mon osd min up ratio = 0
mon osd full ratio = 0.99
osd op num shards = 2
osd op num threads per shard = 1
[client.rgw.gw]
rgw frontends = beast endpoint=$(cat "$dir/host"):$rgw_port tcp_nodelay=1
rgw data = $dir/rgw
rgw dns name = 127.0.0.1
rgw thread pool size = 64
rgw enable usage log = false
rgw enable ops log = false
CONF
  monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  $in_ns ceph-mon -c "$dir/ceph.conf" -i a --mkfs --monmap "$dir/monmap" >"$dir/log/mkfs.log" 2>&1 \
    || die "ceph-mon --mkfs failed (see $dir/log/mkfs.log)"
  $in_ns ceph-mon -c "$dir/ceph.conf" -i a --pid-file "$dir/run/mon.pid"
  ceph_cli -s >/dev/null || die "ceph-mon does not answer (see $dir/log/mon.a.log)"

  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  local id; id=$(ceph_cli osd new "$osd_uuid")
  mkdir -p "$dir/osd/$id"
  $in_ns ceph-osd -c "$dir/ceph.conf" -i "$id" --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/mkfs.log" 2>&1 \
    || die "ceph-osd --mkfs failed (see $dir/log/mkfs.log)"
  $in_ns ceph-osd -c "$dir/ceph.conf" -i "$id" --pid-file "$dir/run/osd.pid" >>"$dir/log/osd.out" 2>&1

  start_gateway
  $in_ns radosgw-admin -c "$dir/ceph.conf" user create --uid=hoshino --display-name=hoshino \
    --access-key="$access_key" --secret-key="$secret_key" >"$dir/log/user.json" 2>"$dir/log/user.err" \
    || die "radosgw-admin user create failed (see $dir/log/user.err)"
  write_env
  log "up: http://$(cat "$dir/host"):$rgw_port (state in $dir)"
  echo "$dir/env"
}

start_gateway() {
  rm -f "$dir/run/rgw.pid"
  $in_ns radosgw -c "$dir/ceph.conf" -n client.rgw.gw --pid-file "$dir/run/rgw.pid" >/dev/null 2>&1
  # radosgw writes its pid file a moment after forking.
  for _ in $(seq 50); do [[ -s $dir/run/rgw.pid ]] && break; sleep 0.1; done
  wait_http "$(cat "$dir/rgw.port")"
}

remove_netns() {
  load_netns
  [[ -n $netns ]] && ip netns del "$netns" 2>/dev/null # takes the veth pair with it
  return 0
}

need_netns() { load_netns; [[ -n $netns ]] || die "the cluster in $dir was not started with HOSHINO_RGW_NETNS"; }

stop_daemons() {
  local f pid
  for f in rgw osd mon; do
    [[ -f $dir/run/$f.pid ]] || continue
    pid=$(cat "$dir/run/$f.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/run/$f.pid"
  done
  return 0
}

stop_gateway() {
  local pid
  pid=$(cat "$dir/run/rgw.pid" 2>/dev/null) || die "no radosgw running for $dir"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/run/rgw.pid"
}

load_netns
case $cmd in
  start) start ;;
  stop) stop_daemons; remove_netns; rm -rf "$dir"; log "stopped ($dir)" ;;
  env) [[ -f $dir/env ]] || die "no cluster in $dir"; cat "$dir/env" ;;
  stop-gateway) stop_gateway; log "radosgw stopped ($dir)" ;;
  start-gateway) start_gateway; log "radosgw started ($dir)" ;;
  cut) need_netns; ip link set "$veth" down; log "S3 path cut ($veth down)" ;;
  restore) need_netns; ip link set "$veth" up; log "S3 path restored ($veth up)" ;;
  delay)
    need_netns
    ms=${3:?delay needs milliseconds}
    for side in "" "$in_ns"; do
      dev=$veth; [[ -n $side ]] && dev=eth0
      $side tc qdisc del dev "$dev" root 2>/dev/null || true
      if [[ $ms != 0 ]] && ! $side tc qdisc add dev "$dev" root netem delay "${ms}ms" 2>/dev/null; then
        die "tc netem is not available in this kernel (sch_netem): cannot add delay"
      fi
    done
    log "S3 path delay ${ms} ms each way" ;;
  *) echo "usage: $0 start|stop|env|stop-gateway|start-gateway|cut|restore|delay [DIR] [MS]" >&2; exit 2 ;;
esac
