#!/usr/bin/env bash
# Startup errors are one clear line and a non-zero exit, and leave nothing half-configured: bad flags,
# bad --ula, unreadable/malformed machine-id, unknown netns, a TCP congestion control the kernel lacks,
# unknown bucket, wrong credentials, S3 down,
# interface name taken, metrics port taken, not root, no /dev/net/tun.
# Skips (77) without root or without an S3 endpoint (scripts/test.sh provides one).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/test/support/checks.sh"
require_root
require_s3
HS_BIN=${HOSHINO_BIN:-$root/build/src}
source "$root/scripts/lib/nodes.sh"
trap hs_cleanup EXIT

# expect DESCRIPTION EXIT_CODE PATTERN -- ARGS...: runs hoshino, checks its exit code, that stderr is
# one line matching PATTERN, and that no hs-err interface exists afterwards.
expect() {
  local what=$1 code=$2 pattern=$3
  shift 4
  local out status=0
  out=$(timeout 20 "$@" 2>&1 >/dev/null) || status=$?
  local lines
  lines=$(printf '%s\n' "$out" | grep -c .)
  if [[ $status -eq $code ]] && grep -qE -- "$pattern" <<<"$out" && [[ $lines -eq 1 ]] &&
     ! ip link show hs-err >/dev/null 2>&1 && ! ip -n "hsx$$" link show hs-err >/dev/null 2>&1; then
    echo "ok - $what: $out"
    checks=$((checks + 1))
  else
    echo "FAIL - $what: exit $status (want $code), output: $out"
    checks=$((checks + 1)); failures=$((failures + 1))
  fi
}

bucket=errors-$$
"$HS_BIN/hoshino-s3" mb "$bucket" || exit 1
hs_netns "hsx$$"
mid=$(hs_machine_id err e5e5e5e5e5e5e5e5)
printf 'not-a-machine-id\n' > "$HS_WORK/bad.machine-id"
hs=("$HS_BIN/hoshino")
ok_args=(--bucket "$bucket" --ula fd5e::/64 --tun hs-err --machine-id "$mid" --metrics off --state-dir "$HS_WORK/err.state")

expect "unknown flag" 2 "unknown option '--frobnicate'" -- "${hs[@]}" "${ok_args[@]}" --frobnicate
expect "missing --bucket" 2 "--bucket is required" -- "${hs[@]}" --ula fd5e::/64
expect "flag without value" 2 "--mtu needs a value" -- "${hs[@]}" "${ok_args[@]}" --mtu
expect "bad --mtu" 2 "must be a number from 1280 to 65535" -- "${hs[@]}" "${ok_args[@]}" --mtu 99
expect "bad duration" 2 "unit must be" -- "${hs[@]}" "${ok_args[@]}" --beat-max 5
printf 'bucket = %s\n# the interval, misspelt\nbell-intervall = 2s\n' "$bucket" > "$HS_WORK/typo.conf"
expect "config file: an unknown key, with file and line" 2 "typo.conf:3: unknown key 'bell-intervall'" -- "${hs[@]}" "${ok_args[@]}" --config "$HS_WORK/typo.conf"
expect "config file: unreadable" 2 "cannot read /nonexistent/hoshino.conf \(--config\)" -- "${hs[@]}" "${ok_args[@]}" --config /nonexistent/hoshino.conf
expect "--ula not a ULA" 1 "fc00::/7" -- "${hs[@]}" "${ok_args[@]}" --ula 2001:db8::/64
expect "--ula not a /64" 1 "must be a /64" -- "${hs[@]}" "${ok_args[@]}" --ula fd5e::/48
expect "unreadable machine-id" 1 "cannot read /nonexistent/machine-id" -- "${hs[@]}" "${ok_args[@]}" --machine-id /nonexistent/machine-id
expect "malformed machine-id" 1 "32 hex digits" -- "${hs[@]}" "${ok_args[@]}" --machine-id "$HS_WORK/bad.machine-id"
expect "unknown netns" 1 "unknown network namespace 'no-such-ns'" -- "${hs[@]}" "${ok_args[@]}" --netns no-such-ns
expect "unknown bucket" 1 "NoSuchBucket" -- "${hs[@]}" "${ok_args[@]}" --bucket "no-such-bucket-$$"
secret="wrong-secret-$$"
expect "wrong credentials" 1 "SignatureDoesNotMatch" -- env AWS_SECRET_ACCESS_KEY="$secret" "${hs[@]}" "${ok_args[@]}"
if env AWS_SECRET_ACCESS_KEY="$secret" "${hs[@]}" "${ok_args[@]}" 2>&1 | grep -q "$secret"; then
  echo "FAIL - the secret appears in the output"; checks=$((checks + 1)); failures=$((failures + 1))
else
  echo "ok - the secret never appears in the output"; checks=$((checks + 1))
fi
# Without credentials the chain ends at the instance metadata service: never the real 169.254.169.254
# here, so it is either disabled or pointed at a local port.
no_creds=(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME=/nonexistent)
expect "no credentials, metadata disabled" 1 "no credentials.*instance metadata disabled" -- \
  "${no_creds[@]}" AWS_EC2_METADATA_DISABLED=true "${hs[@]}" "${ok_args[@]}"
dead=$(hs_free_port)
expect "no credentials, metadata service not answering" 1 "no credentials.*instance metadata \(http://127.0.0.1:$dead\)" -- \
  "${no_creds[@]}" AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$dead" "${hs[@]}" "${ok_args[@]}"
down_port=$(hs_free_port)
expect "S3 not reachable" 1 "connection error" -- "${hs[@]}" "${ok_args[@]}" --endpoint "http://127.0.0.1:$down_port"
# (With a key of its own: the route is added after the state directory's key is created, which warns.)
(umask 077; "$HS_BIN/hoshino" genkey > "$HS_WORK/cc.key")
expect "TCP congestion control not in this kernel" 1 "congestion control 'nosuchcc'.*tcp_available_congestion_control" -- \
  "${hs[@]}" "${ok_args[@]}" --private-key-file "$HS_WORK/cc.key" --tcp-congestion nosuchcc
expect "interface name taken" 1 "interface lo already exists" -- "${hs[@]}" "${ok_args[@]}" --tun lo
expect "state directory not writable" 1 "cannot create state directory /proc/hoshino-state" -- "${hs[@]}" "${ok_args[@]}" --state-dir /proc/hoshino-state
mkdir -p "$HS_WORK/open.state" && chmod 777 "$HS_WORK/open.state"
expect "state directory writable by others" 1 "is writable by other users" -- "${hs[@]}" "${ok_args[@]}" --state-dir "$HS_WORK/open.state"
mkdir -p "$HS_WORK/theirs.state" && chown nobody "$HS_WORK/theirs.state"
expect "state directory of another user" 1 "belongs to uid" -- "${hs[@]}" "${ok_args[@]}" --state-dir "$HS_WORK/theirs.state"
mkdir -p "$HS_WORK/held.state" && : > "$HS_WORK/held.state/replay"
python3 -c "import fcntl,sys,time; f=open(sys.argv[1],'a'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)" \
  "$HS_WORK/held.state/replay" > "$HS_WORK/held.ready" &
flock_pid=$!
for _ in $(seq 100); do [[ -s $HS_WORK/held.ready ]] && break; sleep 0.1; done
expect "state directory in use" 1 "in use by another hoshino" -- "${hs[@]}" "${ok_args[@]}" --state-dir "$HS_WORK/held.state"
kill "$flock_pid"
printf 'garbage-%s\n' "$$" > "$HS_WORK/bad.key"
expect "malformed private key" 1 "bad.key \(--private-key-file\): not a key" -- "${hs[@]}" "${ok_args[@]}" --private-key-file "$HS_WORK/bad.key"
if timeout 20 "${hs[@]}" "${ok_args[@]}" --private-key-file "$HS_WORK/bad.key" 2>&1 | grep -q "garbage-$$"; then
  echo "FAIL - the key file's content appears in the output"; checks=$((checks + 1)); failures=$((failures + 1))
else
  echo "ok - the key file's content is not echoed"; checks=$((checks + 1))
fi
expect "missing private key" 1 "cannot read /nonexistent/key \(--private-key-file\)" -- "${hs[@]}" "${ok_args[@]}" --private-key-file /nonexistent/key
printf '[Peer]\nAddress = fd5e::b\nEndpoint = 1.2.3.4\n' > "$HS_WORK/bad.peers"
expect "bad peers file" 1 "bad.peers:3: unknown key 'Endpoint'" -- "${hs[@]}" "${ok_args[@]}" --peers-file "$HS_WORK/bad.peers"
expect "--no-seal with --psk-file" 2 "--no-seal and --psk-file contradict" -- "${hs[@]}" "${ok_args[@]}" --no-seal --psk-file /dev/null
busy_port=$(hs_free_port)
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$busy_port)); s.listen(); print('ready', flush=True); time.sleep(30)" \
  > "$HS_WORK/busy.ready" &
busy_pid=$!
# Wait until it listens (a fixed sleep lost the race on a loaded machine: the node got the port).
for _ in $(seq 100); do [[ -s $HS_WORK/busy.ready ]] && break; sleep 0.1; done
expect "metrics port taken" 1 "--metrics 127.0.0.1:$busy_port: Address already in use" -- "${hs[@]}" "${ok_args[@]/off/127.0.0.1:$busy_port}"
kill "$busy_pid"
# The default port taken (a local user squats it, or it is simply in use) is no reason not to run: the
# node warns and runs without /metrics. (If something else holds 8081 already, the more so.)
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',8081)); s.listen(); print('ready', flush=True); time.sleep(30)" \
  > "$HS_WORK/squat.ready" 2>/dev/null &
squat_pid=$!
for _ in $(seq 100); do [[ -s $HS_WORK/squat.ready ]] && break; sleep 0.1; done
default_metrics=()
for a in "${ok_args[@]}"; do [[ $a == --metrics || $a == off ]] || default_metrics+=("$a"); done
"${hs[@]}" "${default_metrics[@]}" --netns "hsx$$" > "$HS_WORK/squat.log" 2>&1 &
squat_node=$!
for _ in $(seq 200); do grep -q "^hoshino .* on hs-err" "$HS_WORK/squat.log" && break; sleep 0.1; done
check "default metrics port squatted: the node warns and runs" \
  bash -c "grep -q 'running without /metrics' '$HS_WORK/squat.log' && grep -q '^hoshino .* on hs-err' '$HS_WORK/squat.log' && kill -0 $squat_node"
kill "$squat_node" "$squat_pid" 2>/dev/null; wait "$squat_node" 2>/dev/null
chmod 0755 "$HS_WORK"; chmod 0644 "$mid" # readable by the unprivileged user
expect "not root" 1 "run as root" -- setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "${hs[@]}" "${ok_args[@]}"
expect "no /dev/net/tun" 1 "/dev/net/tun not found" -- unshare -m bash -c 'mount -t tmpfs none /dev/net && exec "$@"' _ "${hs[@]}" "${ok_args[@]}"

# And the positive case: instance-profile credentials from a local IMDSv2 responder start a node.
python3 "$root/test/support/imds_responder.py" --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" \
  --fixed-key --lifetime 3600 > "$HS_WORK/imds.port" &
imds_pid=$!
for _ in $(seq 50); do [[ -s $HS_WORK/imds.port ]] && break; sleep 0.1; done
starts_with_imds() ( # a subshell: the credential variables are gone only here
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  export HOME=/nonexistent AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$(cat "$HS_WORK/imds.port")"
  hs_start imds "hsx$$" "$mid" "$bucket" 2>/dev/null && hs_stop imds TERM && [[ $HS_STATUS == 0 ]]
)
if starts_with_imds; then
  echo "ok - starts with instance-profile credentials (IMDSv2)"; checks=$((checks + 1))
else
  echo "FAIL - did not start with instance-profile credentials:"; cat "$HS_WORK/imds.log"; checks=$((checks + 1)); failures=$((failures + 1))
fi
kill "$imds_pid"

finish
