# Shared by scripts/demo.sh and test/e2e/*.sh (source it): two hoshino nodes whose TUN interfaces live
# in network namespaces this script creates. It stops only the processes it started (by PID) and deletes
# only the namespaces it made.
#
# Needs: HS_BIN (directory with hoshino), the AWS_* environment of an S3 endpoint, root.

HS_ULA=${HS_ULA:-fd5e:59b8:f71d:9a3e}
HS_WORK=${HS_WORK:-$(mktemp -d /tmp/hoshino-nodes.XXXXXX)}
HS_NETNS=()
HS_NODES=()

hs_log() { echo "[$(date +%T)] $*" >&2; }

hs_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# hs_netns NAME: a fresh namespace with loopback up.
hs_netns() {
  ip netns add "$1"
  HS_NETNS+=("$1")
  ip -n "$1" link set lo up
}

# hs_machine_id NAME HEX16: writes a machine-id file whose first 16 hex digits are HEX16.
hs_machine_id() {
  printf '%s%s\n' "$2" "0123456789abcdef" > "$HS_WORK/$1.machine-id"
  echo "$HS_WORK/$1.machine-id"
}

# hs_address HEX16: the node address for a machine-id starting with HEX16.
hs_address() {
  local h=$1
  echo "$HS_ULA:${h:0:4}:${h:4:4}:${h:8:4}:${h:12:4}"
}

# hs_start NAME NETNS MACHINE_ID_FILE BUCKET [extra hoshino args]: starts a node in the background and
# waits for its startup line. Sets HS_PORT_<NAME> to its metrics port. The interface is hs-NAME, or
# HS_TUN if set (nodes in their own namespaces may all use one name).
hs_start() {
  hs_launch "$@" && hs_wait_up "$1"
}

# hs_launch (arguments as hs_start): starts the node and returns at once (hs_wait_up NAME waits for it):
# several nodes launched together start at the same moment, as a launch script starts a fleet.
hs_launch() {
  local name=$1 netns=$2 mid=$3 bucket=$4
  shift 4
  local port_var="HS_PORT_$name" tun=${HS_TUN:-hs-$name}
  local port=${!port_var:-$(hs_free_port)} # chosen beforehand, launches follow each other within a millisecond
  printf -v "HS_PORT_$name" '%s' "$port"
  printf -v "HS_TUN_$name" '%s' "$tun"
  "$HS_BIN/hoshino" --bucket "$bucket" --ula "$HS_ULA::/64" --tun "$tun" --netns "$netns" \
    --machine-id "$mid" --metrics "127.0.0.1:$port" --state-dir "$HS_WORK/$name.state" "$@" >"$HS_WORK/$name.log" 2>&1 &
  echo $! > "$HS_WORK/$name.pid"
  HS_NODES+=("$name")
}

# hs_wait_up NAME: waits (30 s at most) for a launched node's startup line; fails if it exits first.
hs_wait_up() {
  local name=$1 tun_var="HS_TUN_$1"
  local deadline=$((SECONDS + 30))
  until grep -q "^hoshino .* on ${!tun_var}" "$HS_WORK/$name.log"; do
    if ! kill -0 "$(cat "$HS_WORK/$name.pid")" 2>/dev/null; then
      hs_log "node $name exited during startup:"; cat "$HS_WORK/$name.log" >&2; return 1
    fi
    ((SECONDS < deadline)) || { hs_log "node $name did not start within 30 s"; return 1; }
    sleep 0.1
  done
  hs_log "node $name: $(head -1 "$HS_WORK/$name.log")"
}

# hs_stop NAME [SIGNAL]: signals the node (default TERM), waits, and sets HS_STATUS to its exit status.
# (Not for $(...): a subshell cannot wait for this shell's children.)
hs_stop() {
  local name=$1 sig=${2:-TERM} pid
  HS_STATUS=0
  pid=$(cat "$HS_WORK/$name.pid" 2>/dev/null) || return 0
  kill -"$sig" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || HS_STATUS=$?
  rm -f "$HS_WORK/$name.pid"
}

# hs_metric NAME 'metric{labels}': the current value from the node's /metrics (0 if the endpoint answers
# without it). When the endpoint does not answer it prints nothing, says so on stderr and fails: a check
# such as "delivered none" (= 0) must not pass because the node is gone. Callers check its status (an
# assignment: `v=$(hs_metric ...) || ...`) or rely on the empty value failing the comparison (ge, test =).
hs_metric() {
  local port_var="HS_PORT_$1" page
  local port=${!port_var:-}
  if [[ -z $port ]] || ! page=$(curl -sf --max-time 5 "http://127.0.0.1:$port/metrics"); then
    hs_log "hs_metric: node $1's metrics endpoint (127.0.0.1:${port:-no port}) does not answer"
    return 1
  fi
  awk -v m="$2" '$1 == m { print $2; found=1 } END { if (!found) print 0 }' <<<"$page"
}

hs_cleanup() {
  local name
  for name in "${HS_NODES[@]}"; do
    [[ -f $HS_WORK/$name.pid ]] && hs_stop "$name" KILL
  done
  local ns
  for ns in "${HS_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$HS_WORK"
}
