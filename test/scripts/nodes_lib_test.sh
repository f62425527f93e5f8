#!/usr/bin/env bash
# scripts/lib/nodes.sh without nodes: hs_metric against a stand-in /metrics endpoint (a metric present, a
# metric absent) and against a port where nothing answers, which must fail loudly, also inside $(...)
# as the e2e tests use it. Needs no root and no S3.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/test/support/checks.sh"
HS_WORK=$(mktemp -d /tmp/hoshino-nodes-lib-test.XXXXXX)
source "$root/scripts/lib/nodes.sh"

# The stand-in endpoint: serves a fixed page on a port it picks, and writes that port to a file.
printf 'hoshino_packets_total{direction="ingress"} 7\nhoshino_beat_interval_seconds 0.25\n' > "$HS_WORK/page"
python3 - "$HS_WORK/page" "$HS_WORK/port" <<'PY' &
import http.server, sys
page = open(sys.argv[1], "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[2] + ".tmp", "w").write(str(s.server_address[1]))
__import__("os").rename(sys.argv[2] + ".tmp", sys.argv[2])
s.serve_forever()
PY
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$HS_WORK"' EXIT
for _ in $(seq 100); do [[ -s $HS_WORK/port ]] && break; sleep 0.1; done
HS_PORT_up=$(cat "$HS_WORK/port")
HS_PORT_down=$(hs_free_port) # nothing listens there
HS_PORT_down=${HS_PORT_down:?}

check "a metric the endpoint serves reads its value" test "$(hs_metric up 'hoshino_packets_total{direction="ingress"}')" = 7
check "a fractional one too" test "$(hs_metric up hoshino_beat_interval_seconds)" = 0.25
check "a metric absent from a working endpoint reads 0" test "$(hs_metric up 'hoshino_packets_total{direction="egress"}')" = 0

hs_metric down 'hoshino_packets_total{direction="ingress"}' > "$HS_WORK/out" 2> "$HS_WORK/err"
status=$?
check "endpoint down: hs_metric fails" test "$status" -ne 0
check "endpoint down: nothing on stdout" test ! -s "$HS_WORK/out"
check "endpoint down: the reason on stderr" grep -q "node down's metrics endpoint (127.0.0.1:$HS_PORT_down) does not answer" "$HS_WORK/err"
# SNIPPET in a fresh shell, as an e2e test runs: checks.sh and nodes.sh sourced, node "down"'s port set.
in_shell() {
  bash -c "HS_WORK='$HS_WORK'; source '$root/test/support/checks.sh'; source '$root/scripts/lib/nodes.sh'
           HS_PORT_down=$HS_PORT_down; $1" 2>/dev/null
}
fails() { ! "$@"; }
check "no port known for the node: fails too" fails in_shell 'hs_metric nosuch m'
# The e2e tests' patterns: none passes vacuously when the node is gone.
check "endpoint down: 'delivered none' (test \$(...) = 0) does not pass" fails in_shell 'test "$(hs_metric down m)" = 0'
check "endpoint down: ge \$(...) 0 does not pass" fails in_shell 'ge "$(hs_metric down m)" 0'
check "endpoint down: an assignment under set -e ends the script" fails in_shell 'set -e; v=$(hs_metric down m); exit 0'
in_shell 'v=$(hs_metric down m) || abort "read the metrics"; exit 0' > "$HS_WORK/abort.out"
status=$?
check "endpoint down: abort counts a failed check and ends the script" bash -c "
  [[ $status -ne 0 ]] && grep -qx 'FAIL - read the metrics' '$HS_WORK/abort.out' && grep -qx '0 passed, 1 failed' '$HS_WORK/abort.out'"
check "ge: numbers still compare" bash -c "source '$root/test/support/checks.sh'; ge 2 1 && ge 1.5 1.5 && ge 1e6 999 && ! ge 1 2"

finish
