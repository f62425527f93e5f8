#!/usr/bin/env python3
"""Runs hoshino-s3's sequential PUT/LIST/GET next to curl's and prints p50/p90 and their ratio.

curl signs with --aws-sigv4; it needs an explicit x-amz-content-sha256 header and a pre-sorted,
pre-encoded query for LIST (libcurl 7.88 does neither itself), which is given here."""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))] if v else 0.0


def run_client(tool, bucket, n, size, concurrency=0):
    out = subprocess.run([tool, "bench", bucket, str(n), str(size), str(concurrency)], check=True,
                         capture_output=True, text=True)
    r = json.loads(out.stdout)
    return {"put": r["put_ms"], "list": r["list_ms"], "get": r["get_ms"]}, r


def run_curl(bucket, n, size, workdir):
    endpoint = os.environ["AWS_ENDPOINT_URL"].rstrip("/")
    region = os.environ.get("AWS_REGION", "us-east-1")
    user = f'{os.environ["AWS_ACCESS_KEY_ID"]}:{os.environ["AWS_SECRET_ACCESS_KEY"]}'
    body = os.path.join(workdir, "body")
    with open(body, "wb") as f:
        f.write(b"x" * size)
    prefix = f"curlbench-{time.time_ns()}/"
    enc_prefix = prefix.replace("/", "%2F")
    common = [f'aws-sigv4 = "aws:amz:{region}:s3"', f'user = "{user}"',
              'header = "x-amz-content-sha256: UNSIGNED-PAYLOAD"', 'output = "/dev/null"',
              'write-out = "%{time_total} %{http_code}\\n"']
    lines = []
    for i in range(n):
        key = f"{prefix}{i:06d}"
        for url, extra in ((f"{endpoint}/{bucket}/{key}", [f'upload-file = "{body}"']),
                           (f"{endpoint}/{bucket}?list-type=2&max-keys=1000&prefix={enc_prefix}", []),
                           (f"{endpoint}/{bucket}/{key}", [])):
            lines += [f'url = "{url}"'] + extra + common + ["next"]
    cfg = os.path.join(workdir, "curl.cfg")
    with open(cfg, "w") as f:
        f.write("\n".join(lines[:-1]) + "\n")
    out = subprocess.run(["curl", "-s", "-K", cfg], check=True, capture_output=True, text=True).stdout.split("\n")
    rows = [l.split() for l in out if l.strip()]
    if len(rows) != 3 * n or any(code != "200" for _, code in rows):
        raise SystemExit(f"curl: unexpected answers: {[c for _, c in rows if c != '200'][:5]}")
    ms = [float(t) * 1000 for t, _ in rows]
    return {"put": ms[0::3], "list": ms[1::3], "get": ms[2::3]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--json")
    a = ap.parse_args()
    client = {"put": [], "list": [], "get": []}
    curl = {"put": [], "list": [], "get": []}
    throughput = []
    with tempfile.TemporaryDirectory() as work:
        for r in range(a.rounds):
            # Alternate who goes first, so neither always meets the server's state the other left.
            order = ("client", "curl") if r % 2 == 0 else ("curl", "client")
            for who in order:
                if who == "client":
                    c, _ = run_client(a.tool, a.bucket, a.n, a.size)
                    for op in client:
                        client[op] += c[op]
                else:
                    k = run_curl(a.bucket, a.n, a.size, work)
                    for op in curl:
                        curl[op] += k[op]
        for _ in range(3):
            _, raw = run_client(a.tool, a.bucket, 100, a.size, 64)
            throughput.append(raw["puts_per_second"])
    result = {"rounds": a.rounds, "n_per_round": a.n, "size": a.size, "ops": {},
              "concurrent_puts_per_second_median": statistics.median(throughput), "concurrency": 64}
    print(f"\n{a.rounds} rounds x {a.n} sequential PUT+LIST+GET, {a.size}-byte objects, client and curl alternating\n")
    print("| op | hoshino p50 ms | hoshino p90 ms | curl p50 ms | curl p90 ms | p50 ratio hoshino/curl |")
    print("|---|---|---|---|---|---|")
    for op in ("put", "list", "get"):
        h50, h90, c50, c90 = pct(client[op], .5), pct(client[op], .9), pct(curl[op], .5), pct(curl[op], .9)
        result["ops"][op] = {"hoshino_p50_ms": h50, "hoshino_p90_ms": h90, "curl_p50_ms": c50, "curl_p90_ms": c90,
                             "ratio_p50": h50 / c50}
        print(f"| {op.upper()} | {h50:.2f} | {h90:.2f} | {c50:.2f} | {c90:.2f} | {h50 / c50:.2f} |")
    print(f"\n400 PUTs of {a.size} bytes, 64 in flight: {statistics.median(throughput):.0f} PUT/s (median of 3 runs)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
