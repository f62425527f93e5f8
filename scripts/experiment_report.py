#!/usr/bin/env python3
"""Turns the raw outputs of scripts/experiment.sh into results.json, report.md and PNG plots.

Prices (S3 Standard): PUT/LIST $0.005 per 1000, GET $0.0004 per 1000, DELETE free; compared with a
Managed NAT Gateway's $0.045 per GB processed."""
import argparse
import glob
import json
import os
import re
import subprocess

PUT_LIST_PRICE = 0.005 / 1000
GET_PRICE = 0.0004 / 1000
NAT_PER_GB = 0.045

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--idle", type=float, required=True)
ap.add_argument("--duration", type=float, required=True)
ap.add_argument("--sizes", nargs="+", required=True)
a = ap.parse_args()
d = a.dir


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))] if v else float("nan")


def prom(name):
    out = {}
    for line in open(os.path.join(d, name)):
        if line.startswith("#") or not line.strip():
            continue
        key, value = line.rsplit(" ", 1)
        out[key] = float(value)
    return out


def delta(before, after, key):
    return sum(prom(f"{after}-{n}.prom").get(key, 0) - prom(f"{before}-{n}.prom").get(key, 0) for n in "ab")


floor = json.load(open(os.path.join(d, "floor.json")))
put1m = json.load(open(os.path.join(d, "put-1mib.json")))
floor_ms = 2 * (floor["put_p50_ms"] + floor["list_p50_ms"])

rtt = {}
for s in a.sizes:
    times = [float(m) for m in re.findall(r"time=([\d.]+) ms", open(os.path.join(d, f"ping-{s}.txt")).read())]
    sent = int(re.search(r"(\d+) packets transmitted", open(os.path.join(d, f"ping-{s}.txt")).read()).group(1))
    rtt[s] = {"sent": sent, "received": len(times), "p50_ms": pct(times, .5), "p90_ms": pct(times, .9),
              "p99_ms": pct(times, .99), "ratio_p50_to_floor": pct(times, .5) / floor_ms, "samples_ms": times}

iperf = json.load(open(os.path.join(d, "iperf.json")))
goodput = iperf["end"]["sum_received"]["bits_per_second"] / 1e6
per_second = [iv["sum"]["bits_per_second"] / 1e6 for iv in iperf["intervals"]]

ops = {op: delta("before-bulk", "after-bulk", f'hoshino_s3_requests_total{{op="{op}"}}') for op in ("put", "list", "get", "delete")}
packets = delta("before-bulk", "after-bulk", 'hoshino_packets_total{direction="egress"}')
nbytes = delta("before-bulk", "after-bulk", 'hoshino_bytes_total{direction="egress"}')
requests = sum(ops.values())
gb = nbytes / 1e9
cost = (ops["put"] + ops["list"]) * PUT_LIST_PRICE + ops["get"] * GET_PRICE
idle_lists = [prom(f"after-idle-{n}.prom").get('hoshino_s3_requests_total{op="list"}', 0) -
              prom(f"before-idle-{n}.prom").get('hoshino_s3_requests_total{op="list"}', 0) for n in "ab"]
idle_rate = max(idle_lists) / a.idle
cpu = json.load(open(os.path.join(d, "cpu.json")))
pkts_a = (prom("after-bulk-a.prom")['hoshino_packets_total{direction="egress"}'] - prom("before-bulk-a.prom")['hoshino_packets_total{direction="egress"}'] +
          prom("after-bulk-a.prom")['hoshino_packets_total{direction="ingress"}'] - prom("before-bulk-a.prom")['hoshino_packets_total{direction="ingress"}'])
rss_samples = [int(x) * 1024 for x in open(os.path.join(d, "rss-a-kib.txt")).read().split() if x.isdigit() and int(x) > 0]

results = {
    "floor": {"put_p50_ms": floor["put_p50_ms"], "put_p90_ms": floor["put_p90_ms"], "list_p50_ms": floor["list_p50_ms"],
              "list_p90_ms": floor["list_p90_ms"], "get_p50_ms": floor["get_p50_ms"], "get_p90_ms": floor["get_p90_ms"],
              "two_times_put_plus_list_ms": floor_ms},
    "ping": {s: {k: v for k, v in r.items() if k != "samples_ms"} for s, r in rtt.items()},
    "bulk": {"goodput_mbit_s": goodput, "raw_put_1mib_mbit_s": 8 * 1048576 / (put1m["put_p50_ms"] / 1000) / 1e6,
             "requests": ops, "packets": packets, "bytes": nbytes,
             "requests_per_packet": requests / packets if packets else None,
             "requests_per_gb": requests / gb if gb else None, "dollars_per_gb": cost / gb if gb else None,
             "nat_gateway_dollars_per_gb": NAT_PER_GB,
             "cpu_us_per_packet_node_a": cpu["cpu_ticks_a"] / cpu["hz"] * 1e6 / pkts_a if pkts_a else None},
    "idle": {"list_per_second": idle_rate, "dollars_per_idle_day_per_node": idle_rate * 86400 * PUT_LIST_PRICE,
             "rss_bytes_a": prom("after-idle-a.prom").get("process_resident_memory_bytes")},
    "peak_rss_bytes_a": max(rss_samples) if rss_samples else None,
}
json.dump(results, open(os.path.join(d, "results.json"), "w"), indent=2)

md = [f"# hoshino experiment ({os.path.basename(os.path.normpath(d))})", "",
      "| figure | value |", "|---|---|",
      f"| S3 PUT p50 / p90 (100 B) | {floor['put_p50_ms']:.2f} / {floor['put_p90_ms']:.2f} ms |",
      f"| S3 LIST p50 / p90 | {floor['list_p50_ms']:.2f} / {floor['list_p90_ms']:.2f} ms |",
      f"| S3 GET p50 / p90 | {floor['get_p50_ms']:.2f} / {floor['get_p90_ms']:.2f} ms |",
      f"| floor 2 × (PUT p50 + LIST p50) | {floor_ms:.2f} ms |"]
for s, r in rtt.items():
    md.append(f"| ping {s} B: p50 / p90 / p99 ({r['received']}/{r['sent']} answered) | "
              f"{r['p50_ms']:.1f} / {r['p90_ms']:.1f} / {r['p99_ms']:.1f} ms; p50 / floor = {r['ratio_p50_to_floor']:.2f} |")
b = results["bulk"]
md += [f"| bulk TCP goodput (iperf3, {a.duration:.0f} s) | {goodput:.0f} Mbit/s |",
       f"| raw single-stream PUT at 1 MiB | {b['raw_put_1mib_mbit_s']:.0f} Mbit/s |",
       f"| S3 requests during bulk (put/list/get/delete) | {ops['put']:.0f} / {ops['list']:.0f} / {ops['get']:.0f} / {ops['delete']:.0f} |",
       f"| requests per forwarded packet | {b['requests_per_packet']:.3f} |",
       f"| requests per GB | {b['requests_per_gb']:.0f} |",
       f"| $ per GB at S3 Standard prices | {b['dollars_per_gb']:.4f} (NAT Gateway: {NAT_PER_GB}) |",
       f"| idle LIST/s per node | {idle_rate:.3f} (${results['idle']['dollars_per_idle_day_per_node']:.3f} per idle day) |",
       f"| resident memory idle / peak under bulk | {results['idle']['rss_bytes_a'] / 2**20:.1f} / "
       f"{(results['peak_rss_bytes_a'] or 0) / 2**20:.1f} MiB |",
       f"| CPU per forwarded packet (node a) | {b['cpu_us_per_packet_node_a']:.1f} µs |", ""]
open(os.path.join(d, "report.md"), "w").write("\n".join(md))
print("\n".join(md))

# Plots: RTT CDF per size, throughput per second.
for s, r in rtt.items():
    with open(os.path.join(d, f"rtt-{s}.dat"), "w") as f:
        xs = sorted(r["samples_ms"])
        for i, x in enumerate(xs):
            f.write(f"{x} {(i + 1) / len(xs)}\n")
with open(os.path.join(d, "throughput.dat"), "w") as f:
    for i, v in enumerate(per_second):
        f.write(f"{i + 1} {v}\n")
plots = " , ".join(f"'{d}/rtt-{s}.dat' using 1:2 with steps title 'ping {s} B'" for s in rtt)
script = f"""set terminal pngcairo size 800,500
set output '{d}/rtt-cdf.png'
set title 'Ping RTT through the tunnel (CDF)'
set xlabel 'RTT (ms)'; set ylabel 'fraction'; set grid; set key bottom right; set xrange [0:*]
set arrow from {floor_ms},0 to {floor_ms},1 nohead dt 2
set label 'floor 2x(PUT+LIST)' at {floor_ms},0.05
plot {plots}
set output '{d}/throughput.png'
unset arrow; unset label
set title 'Bulk TCP through the tunnel (iperf3)'
set xlabel 'second'; set ylabel 'Mbit/s'; set yrange [0:*]
plot '{d}/throughput.dat' using 1:2 with linespoints title 'goodput'
"""
subprocess.run(["gnuplot"], input=script, text=True, check=True)
