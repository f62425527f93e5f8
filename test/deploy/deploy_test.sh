#!/usr/bin/env bash
# Deployment files, checked as far as this machine allows: the Terraform parses (HCL, via the npm
# registry's @cdktf/hcl2json; Terraform itself cannot run here) and has the bucket protections and the
# per-node least-privilege policy; the cloud-init user data passes `cloud-init schema`; the systemd unit
# installed by `meson install` passes `systemd-analyze verify`; scripts/launch.sh --dry-run runs nothing,
# and a real run against a stand-in ssh ships the binary and unit and prints the right addresses.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${HOSHINO_BUILD_ROOT:-$root/build}
source "$root/test/support/checks.sh"
work=$(mktemp -d /tmp/hoshino-deploy-test.XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- Terraform
tf_json() { NODE_PATH="$root/build-tools/node_modules" node "$root/scripts/deploy/parse-terraform.js" "$1"; }
check "Terraform files parse" bash -c "$(declare -f tf_json); root=$root; tf_json '$root/scripts/deploy/terraform' > '$work/tf.json'"
tf_has() { python3 - "$work/tf.json" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["resource"]
checks = {
  "public access blocked": all(r["aws_s3_bucket_public_access_block"]["this"][0][k] is True for k in
      ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")),
  "objects expire after 1 day, incomplete uploads aborted": (lambda rule:
      rule["expiration"][0]["days"] == 1 and rule["abort_incomplete_multipart_upload"][0]["days_after_initiation"] == 1
      and rule["filter"][0]["prefix"] == "${var.key_prefix}/")(r["aws_s3_bucket_lifecycle_configuration"]["this"][0]["rule"][0]),
  "a role, policy and instance profile per node": all(r[t][n][0]["count"] == "${var.node_count}" for t, n in
      (("aws_iam_role", "node"), ("aws_iam_role_policy", "node"), ("aws_iam_instance_profile", "node"), ("aws_instance", "node"))),
  "least privilege: put as self, list/get/delete own inbox, ring any bell, watch own, publish own presence": (lambda st: {s["sid"]: (s["actions"], s["resources"]) for s in st} == {
      "SendAsSelf": (["s3:PutObject"], ["${local.arn}/${var.key_prefix}/*/${local.node_hex[count.index]}/*"]),
      "ListOwnInbox": (["s3:ListBucket"], ["${local.arn}"]),
      "ReceiveFromOwnInbox": (["s3:GetObject", "s3:DeleteObject"], ["${local.arn}/${var.key_prefix}/${local.node_hex[count.index]}/*"]),
      "RingOthers": (["s3:PutObject"], ["${local.arn}/${var.key_prefix}/bell/*"]),
      "WatchOwnBell": (["s3:GetObject"], ["${local.arn}/${var.key_prefix}/bell/${local.node_hex[count.index]}"]),
      "ListPeers": (["s3:ListBucket"], ["${local.arn}"]),
      "ReadPeers": (["s3:GetObject"], ["${local.arn}/${var.key_prefix}/peers/*"]),
      "PublishOwnPresence": (["s3:PutObject", "s3:DeleteObject"], ["${local.arn}/${var.key_prefix}/peers/${local.node_hex[count.index]}.*"]),
      "ReadPsk": (["ssm:GetParameter"], ["${aws_ssm_parameter.psk.arn}"])})(
      d["data"]["aws_iam_policy_document"]["node"][0]["statement"]),
  "list limited to the own inbox prefix": any(s.get("condition", [{}])[0].get("values") == ["${var.key_prefix}/${local.node_hex[count.index]}/*"]
      for s in d["data"]["aws_iam_policy_document"]["node"][0]["statement"]),
  "presence list limited to peers/": [s.get("condition", [{}])[0].get("values") for s in d["data"]["aws_iam_policy_document"]["node"][0]["statement"]
      if s["sid"] == "ListPeers"] == [["${var.key_prefix}/peers/*"]],
  "instances require IMDSv2": r["aws_instance"]["node"][0]["metadata_options"][0]["http_tokens"] == "required",
  "the PSK in SSM as a SecureString, readable by the nodes, not in user data": r["aws_ssm_parameter"]["psk"][0]["type"] == "SecureString"
      and "psk_hex" not in r["aws_instance"]["node"][0]["user_data"]
      and [s["actions"] for s in d["data"]["aws_iam_policy_document"]["node"][0]["statement"] if s["sid"] == "ReadPsk"] == [["ssm:GetParameter"]],
}
sys.exit(0 if checks[sys.argv[2]] else 1)
PY
}
for what in "public access blocked" "objects expire after 1 day, incomplete uploads aborted" \
            "a role, policy and instance profile per node" "least privilege: put as self, list/get/delete own inbox, ring any bell, watch own, publish own presence" \
            "list limited to the own inbox prefix" "presence list limited to peers/" "instances require IMDSv2" \
            "the PSK in SSM as a SecureString, readable by the nodes, not in user data"; do
  check "Terraform: $what" tf_has "$what"
done
printf 'resource "aws_s3_bucket" "x" {\n  bucket = \n' > "$work/broken.tf"
mkdir -p "$work/broken" && mv "$work/broken.tf" "$work/broken/"
check "the HCL check rejects a broken file" bash -c "! NODE_PATH='$root/build-tools/node_modules' node '$root/scripts/deploy/parse-terraform.js' '$work/broken' >/dev/null 2>&1"

# --- cloud-init: the template rendered with sample values, as Terraform's templatefile would.
python3 - "$root/scripts/deploy/cloud-init.yaml.tftpl" "$work/user-data.yaml" <<'PY'
import re, sys
values = {"bucket": "hoshino-example", "ula": "fd5e:59b8:f71d:9a3e::/64", "key_prefix": "hoshino",
          "region": "eu-central-1", "machine_id": "a1a1a1a1a1a1a1a1b2b2b2b2b2b2b2b2", "psk_parameter": "/hoshino/hoshino-example/psk",
          "repo_url": "https://example.com/hoshino.git", "repo_ref": "main"}
text = open(sys.argv[1]).read()
out = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text)
assert "${" not in out
open(sys.argv[2], "w").write(out)
PY
check "cloud-init user data passes cloud-init schema" cloud-init schema --config-file "$work/user-data.yaml"
check "the user data carries no PSK, only the SSM parameter it is fetched from (0600)" bash -c "
  ! grep -qiE '[0-9a-f]{64}' '$work/user-data.yaml' && ! grep -q 'psk_hex' '$root/scripts/deploy/cloud-init.yaml.tftpl' &&
  grep -q 'umask 077 && aws ssm get-parameter .*--name \"/hoshino/hoshino-example/psk\" --with-decryption.* > /etc/hoshino/psk' '$work/user-data.yaml'"
python3 - "$work/user-data.yaml" "$work/cloud-init.conf" <<'PY'
import sys, yaml
files = {f["path"]: f["content"] for f in yaml.safe_load(open(sys.argv[1]))["write_files"]}
open(sys.argv[2], "w").write(files["/etc/hoshino/hoshino.conf"])
PY
check "cloud-init's /etc/hoshino/hoshino.conf passes hoshino check, with the template's values" bash -c "
  '$build/src/hoshino' check --config '$work/cloud-init.conf' > '$work/cloud-init.effective' &&
  grep -qx 'bucket = hoshino-example' '$work/cloud-init.effective' &&
  grep -qx 'machine-id = /etc/hoshino/machine-id' '$work/cloud-init.effective' &&
  grep -qx 'psk-file = /etc/hoshino/psk' '$work/cloud-init.effective'"
printf '#cloud-config\npackages: 5\nruncmd: nope\n' > "$work/bad.yaml"
check "cloud-init schema rejects a bad config (the check can fail)" bash -c "! cloud-init schema --config-file '$work/bad.yaml' >/dev/null 2>&1"

# --- systemd unit and meson install
check "meson install puts binary, unit and example settings in place" bash -c "
  meson install -C '$build' --destdir '$work/inst' --no-rebuild >/dev/null &&
  test -x '$work/inst/usr/local/bin/hoshino' &&
  test -f '$work/inst/usr/local/lib/systemd/system/hoshino.service' &&
  test -f '$work/inst/usr/local/etc/hoshino/hoshino.conf.example' &&
  test -f '$work/inst/usr/local/etc/hoshino/hoshino.env.example'"
check "the installed binary holds no test doubles (test/fakes is a test-only library)" bash -c "
  nm -C '$work/inst/usr/local/bin/hoshino' > '$work/nm.txt' && grep -q 'hoshino::node::Node::run' '$work/nm.txt' &&
  ! grep -qE 'MemoryStore|MemoryDevice' '$work/nm.txt'"
check "the example hoshino.conf passes hoshino check" bash -c "'$build/src/hoshino' check --config '$work/inst/usr/local/etc/hoshino/hoshino.conf.example' > /dev/null"
printf 'bucket = b\nula = fd5e::/64\nbell-intervall = 2s\n' > "$work/typo.conf"
check "hoshino check refuses a config with a typo, naming file and line (the check can fail)" bash -c "
  ! '$build/src/hoshino' check --config '$work/typo.conf' > /dev/null 2> '$work/typo.err' &&
  grep -q \"typo.conf:3: unknown key 'bell-intervall'\" '$work/typo.err'"
unit=$work/inst/usr/local/lib/systemd/system/hoshino.service
sed "s|^ExecStart=/usr/local/bin/hoshino|ExecStart=$build/src/hoshino|" "$unit" > "$work/hoshino.service"
check "the unit passes systemd-analyze verify" systemd-analyze verify --man=no "$work/hoshino.service"
check "the unit: restart on failure, only CAP_NET_ADMIN, /dev/net/tun, no new privileges, read-only system" bash -c "
  grep -qx 'Restart=on-failure' '$unit' && grep -qx 'CapabilityBoundingSet=CAP_NET_ADMIN' '$unit' &&
  grep -qx 'DeviceAllow=/dev/net/tun rw' '$unit' && grep -qx 'DevicePolicy=closed' '$unit' &&
  grep -qx 'NoNewPrivileges=yes' '$unit' && grep -qx 'ProtectSystem=strict' '$unit' &&
  grep -q '^EnvironmentFile=' '$unit'"
check "the unit runs hoshino on /etc/hoshino/hoshino.conf" grep -qx 'ExecStart=/usr/local/bin/hoshino --config /usr/local/etc/hoshino/hoshino.conf' "$unit"

# --- launch.sh, with a stand-in ssh that records what each host receives
cat > "$work/fake-ssh" <<'SH'
#!/usr/bin/env bash
# Stand-in for ssh: HOST COMMAND. Records the call, unpacks what would be installed, answers machine-id.
while [[ $1 == -o ]]; do shift 2; done
host=$1
shift
cmd="$*" # like ssh: the remote command is the rest of the arguments, joined
echo "$host: $cmd" >> "$FAKE_SSH_LOG"
dir=$FAKE_ROOT/$host
mkdir -p "$dir/etc/hoshino"
case $cmd in
  *"tar -C / -xzf -"*) tar -C "$dir" -xzf - ;;
  # The files with secrets: the real command, sudo dropped and /etc/hoshino inside this host's tree, under
  # a permissive umask, so the modes checked are the ones the command itself sets.
  *"/etc/hoshino/hoshino.env"*|*"/etc/hoshino/psk"*|*"/etc/hoshino/hoshino.conf"*)
    cmd=${cmd//sudo /}; (umask 022; bash -c "${cmd//\/etc\/hoshino/$dir/etc/hoshino}") ;;
  "cat /etc/machine-id") [[ $host == *node1 ]] && echo 0123456789abcdef0000000000000000 || echo fedcba98765432100000000000000000 ;;
  *) cat > /dev/null ;;
esac
SH
chmod +x "$work/fake-ssh"
export FAKE_SSH_LOG=$work/ssh.log FAKE_ROOT=$work/hosts
echo "0011223344556677889900112233445566778899001122334455667788990011" > "$work/psk"
printf 'AWS_REGION=eu-central-1\nAWS_ACCESS_KEY_ID=AKIDEXAMPLE\nAWS_SECRET_ACCESS_KEY=s3cr3t-v4lue\nAWS_SESSION_TOKEN=t0ken-v4lue\n' > "$work/aws.env"
PATH="$work/shim:$PATH"; mkdir -p "$work/shim"; cp "$work/fake-ssh" "$work/shim/ssh" # any stray plain ssh call lands here too
bash "$root/scripts/launch.sh" --bucket demo --ula fd5e:59b8:f71d:9a3e::/64 --psk-file "$work/psk" \
  --env-file "$work/aws.env" --set verbose=1 --dry-run user@node1 node2 > "$work/dry.txt" 2>&1
check "launch --dry-run: runs nothing" test ! -e "$FAKE_SSH_LOG"
check "launch --dry-run: shows every step for every host" bash -c "
  [[ \$(grep -c 'would run: ssh' '$work/dry.txt') == 12 ]] && grep -q 'user@node1: address' '$work/dry.txt' &&
  grep -q '^node2: address' '$work/dry.txt' && grep -q '^  bucket = demo' '$work/dry.txt' && grep -q '^  verbose = 1' '$work/dry.txt'"
check "launch --dry-run: secrets redacted, other settings shown" bash -c "
  ! grep -q -e s3cr3t-v4lue -e t0ken-v4lue '$work/dry.txt' && grep -q 'AWS_SECRET_ACCESS_KEY=<redacted>' '$work/dry.txt' &&
  grep -q 'AWS_SESSION_TOKEN=<redacted>' '$work/dry.txt' && grep -q 'AWS_ACCESS_KEY_ID=AKIDEXAMPLE' '$work/dry.txt'"
bash "$root/scripts/launch.sh" --bucket demo --ula fd5e:59b8:f71d:9a3e::/64 --psk-file "$work/psk" \
  --env-file "$work/aws.env" --ssh "$work/fake-ssh -o BatchMode=yes" user@node1 node2 > "$work/real.txt" 2>&1
tail -3 "$work/real.txt"
check "launch: prints each node's address from its machine-id" bash -c "
  grep -qx 'user@node1: fd5e:59b8:f71d:9a3e:123:4567:89ab:cdef' '$work/real.txt' &&
  grep -qx 'node2: fd5e:59b8:f71d:9a3e:fedc:ba98:7654:3210' '$work/real.txt'"
check "launch: ships the binary, the unit, the settings and the key" bash -c "
  test -x '$FAKE_ROOT/node2/usr/bin/hoshino' && test -f '$FAKE_ROOT/node2/usr/lib/systemd/system/hoshino.service' &&
  grep -qx 'ExecStart=/usr/bin/hoshino --config /etc/hoshino/hoshino.conf' '$FAKE_ROOT/node2/usr/lib/systemd/system/hoshino.service' &&
  grep -q 'EnvironmentFile=-/etc/hoshino/hoshino.env' '$FAKE_ROOT/node2/usr/lib/systemd/system/hoshino.service' &&
  grep -qx 'psk-file = /etc/hoshino/psk' '$FAKE_ROOT/node2/etc/hoshino/hoshino.conf' &&
  grep -qx 'bucket = demo' '$FAKE_ROOT/node2/etc/hoshino/hoshino.conf' &&
  '$build/src/hoshino' check --config '$FAKE_ROOT/node2/etc/hoshino/hoshino.conf' > /dev/null &&
  cmp -s '$work/psk' '$FAKE_ROOT/user@node1/etc/hoshino/psk'"
bash "$root/scripts/launch.sh" --bucket demo --ula fd5e:59b8:f71d:9a3e::/64 --set bell-intervall=2s \
  --ssh "$work/fake-ssh -o BatchMode=yes" node3 > "$work/typo.txt" 2>&1
check "launch: a bad setting stops it before any host is touched" bash -c "
  grep -q \"unknown key 'bell-intervall'\" '$work/typo.txt' && ! grep -q '^node3: ' '$FAKE_SSH_LOG'"
check "launch: the settings (with the secret) and the key are root-only files (0600)" bash -c "
  grep -qx 'AWS_SECRET_ACCESS_KEY=s3cr3t-v4lue' '$FAKE_ROOT/node2/etc/hoshino/hoshino.env' &&
  [[ \$(stat -c %a '$FAKE_ROOT/node2/etc/hoshino/hoshino.env') == 600 && \$(stat -c %a '$FAKE_ROOT/node2/etc/hoshino/psk') == 600 ]]"
check "launch: the secret files are written under umask 077 (never readable, not even briefly)" bash -c "
  [[ \$(grep -c \"umask 077 && install -m 0600 /dev/stdin /etc/hoshino/\" '$FAKE_SSH_LOG') == 4 ]]"
check "launch: enables and restarts the service on every host" bash -c "
  [[ \$(grep -c 'systemctl enable hoshino.service && sudo systemctl restart hoshino.service' '$FAKE_SSH_LOG') == 2 ]]"

finish
