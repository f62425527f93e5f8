#!/usr/bin/env bash
# Installs and starts hoshino on a list of Debian 12 hosts over SSH, and prints each node's tunnel address.
#
#   scripts/launch.sh --bucket B --ula PREFIX/64 [options] HOST...
#     --psk-file F     copy this key to every host and seal objects with it (recommended)
#     --env-file F     lines for /etc/hoshino/hoshino.env, hoshino's environment (AWS credentials, AWS_REGION)
#     --set KEY=VALUE  one more line of /etc/hoshino/hoshino.conf (repeatable; keys are hoshino's long
#                      flags, e.g. --set metrics=127.0.0.1:9100 --set verbose=1)
#     --ssh "CMD"      the ssh command (default: ssh -o BatchMode=yes); HOST may be user@host
#     --dry-run        print what would be done (secrets redacted); run nothing (not even the local build)
#
# Per host: installs the runtime libraries, copies the binary and the systemd unit (built here, for
# Debian 12), writes /etc/hoshino/hoshino.conf (checked here first with `hoshino check`) and
# /etc/hoshino/hoshino.env (mode 0600), enables and (re)starts hoshino.service, and reads /etc/machine-id
# to print the node's address.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bucket="" ula="" psk_file="" env_file="" settings=() ssh_cmd="ssh -o BatchMode=yes" dry_run=0 hosts=()
usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while (($#)); do
  case $1 in
    --bucket) bucket=${2:?--bucket needs a value}; shift 2 ;;
    --ula) ula=${2:?--ula needs a value}; shift 2 ;;
    --psk-file) psk_file=${2:?}; shift 2 ;;
    --env-file) env_file=${2:?}; shift 2 ;;
    --set) [[ ${2:-} == *=* ]] || { echo "launch.sh: --set needs KEY=VALUE" >&2; exit 2; }
           settings+=("${2%%=*} = ${2#*=}"); shift 2 ;;
    --ssh) ssh_cmd=${2:?}; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "launch.sh: unknown option $1" >&2; usage ;;
    *) hosts+=("$1"); shift ;;
  esac
done
[[ -n $bucket && -n $ula && ${#hosts[@]} -gt 0 ]] || { echo "launch.sh: --bucket, --ula and at least one HOST are required" >&2; usage; }
[[ -z $psk_file || -r $psk_file ]] || { echo "launch.sh: cannot read $psk_file" >&2; exit 1; }
[[ -z $env_file || -r $env_file ]] || { echo "launch.sh: cannot read $env_file" >&2; exit 1; }

# run CMD...: runs it, or with --dry-run prints it.
run() {
  if ((dry_run)); then printf 'would run:'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}
# feed FILE CMD...: runs CMD with FILE on its standard input, or with --dry-run prints that.
feed() {
  local file=$1; shift
  if ((dry_run)); then printf 'would run:'; printf ' %q' "$@"; printf ' < %q\n' "$file"; else "$@" < "$file"; fi
}

# Build once, install into a staging tree laid out as on the hosts (/usr, /etc).
stage=$(mktemp -d /tmp/hoshino-launch.XXXXXX)
trap 'rm -rf "$stage"' EXIT
run bash "$root/scripts/install-deps.sh"
if ((dry_run)) || [[ ! -f $root/build-release/build.ninja ]]; then
  run meson setup "$root/build-release" "$root" --prefix /usr --sysconfdir /etc -Dtests=false --buildtype release
fi
run ninja -C "$root/build-release"
run meson install -C "$root/build-release" --destdir "$stage/root" --no-rebuild
run tar -C "$stage/root" -czf "$stage/hoshino.tar.gz" usr

# The settings every host gets, checked by the binary that will read them (a typo fails here, not on
# every host at once).
{
  echo "# written by scripts/launch.sh"
  echo "bucket = $bucket"
  echo "ula = $ula"
  [[ -z $psk_file ]] || echo "psk-file = /etc/hoshino/psk"
  for line in "${settings[@]}"; do echo "$line"; done
} > "$stage/hoshino.conf"
if ((dry_run)); then echo "hoshino.conf for every host:"; sed 's/^/  /' "$stage/hoshino.conf"
else "$stage/root/usr/bin/hoshino" check --config "$stage/hoshino.conf" > /dev/null; fi
# The environment file may hold credentials: created under umask 077, so it is never readable by others,
# not even between its creation and a chmod.
(
  umask 077
  if [[ -n $env_file ]]; then cat "$env_file"; else echo "# no environment (an instance profile gives credentials)"; fi > "$stage/hoshino.env"
)
# Dry-run output ends up in terminals and logs: secrets are shown as <redacted>.
redact() {
  sed -E 's/^([[:space:]]*(export[[:space:]]+)?(AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN)[[:space:]]*=).*/\1<redacted>/' "$@"
}
if ((dry_run)); then echo "hoshino.env for every host:"; redact "$stage/hoshino.env" | sed 's/^/  /'; fi

# The node address for a machine-id: the /64's network part and the first 16 hex digits.
address_of() {
  python3 - "$ula" "$1" <<'PY'
import ipaddress, sys
net = ipaddress.IPv6Network(sys.argv[1])
mid = sys.argv[2].strip()
print(ipaddress.IPv6Address(int(net.network_address) | int(mid[:16], 16)))
PY
}

for host in "${hosts[@]}"; do
  echo "== $host"
  run $ssh_cmd "$host" "sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q libcurl4 libpugixml1v5 libfmt9 libssl3"
  feed "$stage/hoshino.tar.gz" $ssh_cmd "$host" "sudo tar -C / -xzf -"
  # Secrets on the host: root-only files, created so (umask 077; install replaces an older file, whatever
  # its mode, by a new one).
  feed "$stage/hoshino.conf" $ssh_cmd "$host" \
    "sudo install -d -m 0755 /etc/hoshino && sudo install -m 0644 /dev/stdin /etc/hoshino/hoshino.conf"
  feed "$stage/hoshino.env" $ssh_cmd "$host" "sudo sh -c 'umask 077 && install -m 0600 /dev/stdin /etc/hoshino/hoshino.env'"
  if [[ -n $psk_file ]]; then
    feed "$psk_file" $ssh_cmd "$host" "sudo sh -c 'umask 077 && install -m 0600 /dev/stdin /etc/hoshino/psk'"
  fi
  run $ssh_cmd "$host" "sudo systemctl daemon-reload && sudo systemctl enable hoshino.service && sudo systemctl restart hoshino.service"
  if ((dry_run)); then
    echo "$host: address <$ula with the first 16 hex digits of $host:/etc/machine-id>"
  else
    echo "$host: $(address_of "$($ssh_cmd "$host" cat /etc/machine-id)")"
  fi
done
