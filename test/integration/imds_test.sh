#!/usr/bin/env bash
# Runs imds_test against a local IMDSv2 responder that hands out the local RGW's keys as expiring
# instance-profile credentials (4 s lifetime, so renewal happens within the test).
# Skips (77) without the RGW environment (scripts/test.sh provides it).
set -uo pipefail
[[ -n ${AWS_ENDPOINT_URL:-} ]] || { echo "no AWS_ENDPOINT_URL (run scripts/test.sh): skipped"; exit 77; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(mktemp)
python3 "$here/../support/imds_responder.py" --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" \
  --fixed-key --lifetime 4 > "$out" &
responder=$!
trap 'kill $responder 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 50); do [[ -s $out ]] && break; sleep 0.1; done
export AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$(head -1 "$out")"
"$1"
