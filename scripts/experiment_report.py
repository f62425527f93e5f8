#!/usr/bin/env python3
"""Turns the raw outputs of scripts/experiment.sh into results.json, report.md and PNG plots.

One column per variant (hoshino's defaults, the original design), all from the same run and the same
RGW, so they compare as ratios. Prices (S3 Standard): PUT/LIST $0.005 per 1000, GET $0.0004 per 1000,
DELETE free; compared with a Managed NAT Gateway's $0.045 per GB processed."""
import argparse
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
ap.add_argument("--variants", nargs="+", default=["defaults"])
ap.add_argument("--s3-delay-ms", type=float, default=0)
ap.add_argument("--distance-ms", type=float, nargs=2, default=None,
                help="round trips to S3 of node a and node b (experiment.sh --distance); floor-b.json is b's floor")
ap.add_argument("--streams", type=int, default=1)
a = ap.parse_args()
d = a.dir


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))] if v else float("nan")


def prom(path):
    out = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        key, value = line.rsplit(" ", 1)
        out[key] = float(value)
    return out


floor = json.load(open(os.path.join(d, "floor.json")))
put1m = json.load(open(os.path.join(d, "put-1mib.json")))
floor_b = json.load(open(os.path.join(d, "floor-b.json"))) if a.distance_ms else floor
floor_ms = floor["put_p50_ms"] + floor_b["list_p50_ms"] + floor_b["put_p50_ms"] + floor["list_p50_ms"]
# A conversation on chained keys finds the reply with a GET, not a LIST: the four-request floor of a ping
# is PUT from a + GET at b + PUT from b + GET at a (each from its own side when the distances differ).
floor_get_ms = floor["put_p50_ms"] + floor_b["get_p50_ms"] + floor_b["put_p50_ms"] + floor["get_p50_ms"]
EGRESS_PACKETS = 'hoshino_packets_total{direction="egress"}'
INGRESS_PACKETS = 'hoshino_packets_total{direction="ingress"}'


def variant(name):
    vd = os.path.join(d, name)
    p = lambda stage, node: prom(os.path.join(vd, f"{stage}-{node}.prom"))
    delta = lambda before, after, key: sum(p(after, n).get(key, 0) - p(before, n).get(key, 0) for n in "ab")
    rtt = {}
    for s in a.sizes:
        text = open(os.path.join(vd, f"ping-{s}.txt")).read()
        times = [float(m) for m in re.findall(r"time=([\d.]+) ms", text)]
        sent = int(re.search(r"(\d+) packets transmitted", text).group(1))
        rtt[s] = {"sent": sent, "received": len(times), "p50_ms": pct(times, .5), "p90_ms": pct(times, .9),
                  "p99_ms": pct(times, .99), "ratio_p50_to_floor": pct(times, .5) / floor_ms,
                  "ratio_p50_to_put_get": pct(times, .5) / floor_get_ms, "samples_ms": times}
    # The conversation's own cost: GETs per node per second while the pings ran (both sizes), in dollars
    # per hour of conversation at S3 Standard's GET price. (Runs older than this row have no snapshot.)
    conversation = None
    if os.path.exists(os.path.join(vd, "before-ping.time")):
        seconds = float(open(os.path.join(vd, "before-bulk.time")).read()) - float(open(os.path.join(vd, "before-ping.time")).read())
        gets = delta("before-ping", "before-bulk", 'hoshino_s3_requests_total{op="get"}') / 2
        conversation = {"seconds": seconds, "get_per_second_per_node": gets / seconds,
                        "dollars_per_hour_per_node": gets / seconds * 3600 * GET_PRICE}
    iperf = json.load(open(os.path.join(vd, "iperf.json")))
    ok = "end" in iperf and "sum_received" in iperf["end"]
    goodput = iperf["end"]["sum_received"]["bits_per_second"] / 1e6 if ok else 0.0
    per_second = [iv["sum"]["bits_per_second"] / 1e6 for iv in iperf.get("intervals", [])]
    ops = {op: delta("before-bulk", "after-bulk", f'hoshino_s3_requests_total{{op="{op}"}}')
           for op in ("put", "list", "get", "delete")}
    packets = delta("before-bulk", "after-bulk", EGRESS_PACKETS)
    nbytes = delta("before-bulk", "after-bulk", 'hoshino_bytes_total{direction="egress"}')
    requests = sum(ops.values())
    late = delta("before-bulk", "after-bulk", "hoshino_objects_out_of_order_total")
    held = delta("before-bulk", "after-bulk", "hoshino_objects_held_total")
    hold_expired = delta("before-bulk", "after-bulk", "hoshino_objects_hold_expired_total")
    objects_in = delta("before-bulk", "after-bulk", 'hoshino_objects_total{direction="ingress"}')
    polls = {r: delta("before-bulk", "after-bulk", f'hoshino_polls_total{{result="{r}"}}') for r in ("hit", "miss", "error")}
    gb = nbytes / 1e9
    cost = (ops["put"] + ops["list"]) * PUT_LIST_PRICE + ops["get"] * GET_PRICE
    idle_lists = [p("after-idle", n).get('hoshino_s3_requests_total{op="list"}', 0) -
                  p("before-idle", n).get('hoshino_s3_requests_total{op="list"}', 0) for n in "ab"]
    idle_rate = max(idle_lists) / a.idle
    idle_gets = [p("after-idle", n).get('hoshino_s3_requests_total{op="get"}', 0) -
                 p("before-idle", n).get('hoshino_s3_requests_total{op="get"}', 0) for n in "ab"]
    idle_get_rate = max(idle_gets) / a.idle
    cpu = json.load(open(os.path.join(vd, "cpu.json")))
    pkts_a = sum(p("after-bulk", "a").get(k, 0) - p("before-bulk", "a").get(k, 0) for k in (EGRESS_PACKETS, INGRESS_PACKETS))
    rss = [int(x) * 1024 for x in open(os.path.join(vd, "rss-a-kib.txt")).read().split() if x.isdigit() and int(x) > 0]
    return {
        "ping": rtt,
        "conversation": conversation,
        "bulk": {"goodput_mbit_s": goodput, "per_second_mbit_s": per_second,
                 # What the sending TCP used (the route's --tcp-congestion, else the host's default).
                 "sender_tcp_congestion": iperf.get("end", {}).get("sender_tcp_congestion"), "requests": ops, "packets": packets,
                 "bytes": nbytes, "requests_per_packet": requests / packets if packets else None,
                 "objects_received": objects_in, "objects_out_of_order": late, "objects_held": held,
                 "objects_hold_expired": hold_expired, "polls": polls,
                 "requests_per_gb": requests / gb if gb else None, "dollars_per_gb": cost / gb if gb else None,
                 "cpu_us_per_packet_node_a": cpu["cpu_ticks_a"] / cpu["hz"] * 1e6 / pkts_a if pkts_a else None},
        "idle": {"list_per_second": idle_rate, "get_per_second": idle_get_rate,
                 "dollars_per_idle_day_per_node": 86400 * (idle_rate * PUT_LIST_PRICE + idle_get_rate * GET_PRICE),
                 "rss_bytes_a": p("after-idle", "a").get("process_resident_memory_bytes")},
        "peak_rss_bytes_a": max(rss) if rss else None,
    }


vs = {name: variant(name) for name in a.variants}
results = {
    "s3_delay_ms_each_way": a.s3_delay_ms,
    "distance_round_trip_ms": {"a": a.distance_ms[0], "b": a.distance_ms[1]} if a.distance_ms else None,
    "floor_b": ({k: floor_b[k] for k in ("put_p50_ms", "put_p90_ms", "list_p50_ms", "get_p50_ms", "get_p90_ms")}
                if a.distance_ms else None),
    "tcp_streams": a.streams,
    "floor": {"put_p50_ms": floor["put_p50_ms"], "put_p90_ms": floor["put_p90_ms"], "list_p50_ms": floor["list_p50_ms"],
              "list_p90_ms": floor["list_p90_ms"], "get_p50_ms": floor["get_p50_ms"], "get_p90_ms": floor["get_p90_ms"],
              "two_times_put_plus_list_ms": floor_ms, "two_times_put_plus_get_ms": floor_get_ms,
              "raw_put_1mib_mbit_s": 8 * 1048576 / (put1m["put_p50_ms"] / 1000) / 1e6},
    "variants": {n: {**v, "ping": {s: {k: x for k, x in r.items() if k != "samples_ms"} for s, r in v["ping"].items()}}
                 for n, v in vs.items()},
}
json.dump(results, open(os.path.join(d, "results.json"), "w"), indent=2)


def fmt(x, spec, none="n/a"):
    return none if x is None else format(x, spec)


names = list(vs)
head = "| figure | " + " | ".join(names) + (" | ratio |" if len(names) == 2 else "")
md = [f"# hoshino experiment ({os.path.basename(os.path.normpath(d))})", "",
      (f"S3: local RGW, node a {a.distance_ms[0]:g} ms away and node b {a.distance_ms[1]:g} ms (round trips, "
       f"delaying proxies). Floor from a's side: PUT p50/p90 {floor['put_p50_ms']:.1f}/{floor['put_p90_ms']:.1f} ms, "
       f"GET {floor['get_p50_ms']:.1f} ms; from b's side: PUT {floor_b['put_p50_ms']:.1f}/{floor_b['put_p90_ms']:.1f} ms, "
       f"GET {floor_b['get_p50_ms']:.1f} ms (100-byte objects); four-request floor of a ping "
       f"PUT_a + GET_b + PUT_b + GET_a = {floor_get_ms:.1f} ms (with LISTs: {floor_ms:.1f} ms)."
       if a.distance_ms else
       f"S3: {'local RGW' if not a.s3_delay_ms else f'local RGW behind {a.s3_delay_ms:g} ms each way'}. "
       f"Floor: PUT p50/p90 {floor['put_p50_ms']:.2f}/{floor['put_p90_ms']:.2f} ms, "
       f"LIST {floor['list_p50_ms']:.2f}/{floor['list_p90_ms']:.2f} ms, GET {floor['get_p50_ms']:.2f}/{floor['get_p90_ms']:.2f} ms "
       f"(100-byte objects); 2 × (PUT + LIST) = {floor_ms:.2f} ms.") +
      f" Single-stream PUT at 1 MiB: {results['floor']['raw_put_1mib_mbit_s']:.0f} Mbit/s.", "",
      head, "|---|" + "---|" * (len(names) + (1 if len(names) == 2 else 0))]


def text_row(label, cells):
    md.append(f"| {label} | " + " | ".join(cells) + " |" + (" |" if len(names) == 2 else ""))


def row(label, values, spec):
    """A numeric row; with two variants, the last column is original / defaults."""
    cells = [fmt(v, spec) for v in values]
    ratio = ""
    if len(values) == 2:
        ratio = f" {values[1] / values[0]:.3g}× |" if values[0] and values[1] is not None else " |"
    md.append(f"| {label} | " + " | ".join(cells) + " |" + ratio)


for s in a.sizes:
    row(f"ping {s} B p50 (ms)", [v["ping"][s]["p50_ms"] for v in vs.values()], ".1f")
    text_row(f"ping {s} B p90 / p99 (ms)", [f"{v['ping'][s]['p90_ms']:.1f} / {v['ping'][s]['p99_ms']:.1f}" for v in vs.values()])
    row(f"ping {s} B p50 / floor", [v["ping"][s]["ratio_p50_to_floor"] for v in vs.values()], ".2f")
    row(f"ping {s} B p50 / 2 × (PUT + GET)", [v["ping"][s]["ratio_p50_to_put_get"] for v in vs.values()], ".2f")
    text_row(f"ping {s} B answered", [f"{v['ping'][s]['received']}/{v['ping'][s]['sent']}" for v in vs.values()])
text_row("GETs per second per node during the pings (GET $ per hour)",
         [f"{v['conversation']['get_per_second_per_node']:.0f} (${v['conversation']['dollars_per_hour_per_node']:.2f})"
          if v["conversation"] else "n/a" for v in vs.values()])
row(f"bulk TCP goodput, iperf3 {a.duration:g} s × {a.streams} stream(s) (Mbit/s)", [v["bulk"]["goodput_mbit_s"] for v in vs.values()], ".0f")
text_row("sending TCP's congestion control, bulk", [v["bulk"]["sender_tcp_congestion"] or "n/a" for v in vs.values()])
text_row("S3 requests in bulk, put/list/get/delete",
         ["{put:.0f} / {list:.0f} / {get:.0f} / {delete:.0f}".format(**v["bulk"]["requests"]) for v in vs.values()])
text_row("objects received / held for their predecessor (hold expired) / delivered out of order, bulk",
         [f"{v['bulk']['objects_received']:.0f} / {v['bulk'].get('objects_held', 0):.0f} "
          f"({v['bulk'].get('objects_hold_expired', 0):.0f}) / {v['bulk']['objects_out_of_order']:.0f}"
          for v in vs.values()])
text_row("of the GETs, polls of announced keys: hit / miss, bulk",
         [f"{v['bulk'].get('polls', {}).get('hit', 0):.0f} / {v['bulk'].get('polls', {}).get('miss', 0):.0f}"
          for v in vs.values()])
row("S3 requests per forwarded packet", [v["bulk"]["requests_per_packet"] for v in vs.values()], ".3f")
row("S3 requests per GB", [v["bulk"]["requests_per_gb"] for v in vs.values()], ".0f")
row(f"$ per GB (NAT Gateway: {NAT_PER_GB})", [v["bulk"]["dollars_per_gb"] for v in vs.values()], ".4f")
row("idle LIST/s per node", [v["idle"]["list_per_second"] for v in vs.values()], ".2f")
row("idle GET/s per node", [v["idle"].get("get_per_second", 0) for v in vs.values()], ".2f")
row("$ per idle day per node", [v["idle"]["dollars_per_idle_day_per_node"] for v in vs.values()], ".3f")
row("resident memory idle (MiB)", [(v["idle"]["rss_bytes_a"] or 0) / 2**20 for v in vs.values()], ".1f")
row("resident memory peak under bulk (MiB)", [(v["peak_rss_bytes_a"] or 0) / 2**20 for v in vs.values()], ".1f")
row("CPU per forwarded packet, node a (µs)", [v["bulk"]["cpu_us_per_packet_node_a"] for v in vs.values()], ".1f")
md.append("")
open(os.path.join(d, "report.md"), "w").write("\n".join(md))
print("\n".join(md))

# Plots: RTT CDF per size and variant, throughput per second per variant.
plots, tplots = [], []
for n, v in vs.items():
    for s, r in v["ping"].items():
        path = os.path.join(d, f"rtt-{n}-{s}.dat")
        with open(path, "w") as f:
            xs = sorted(r["samples_ms"])
            for i, x in enumerate(xs):
                f.write(f"{x} {(i + 1) / len(xs)}\n")
        if xs:
            plots.append(f"'{path}' using 1:2 with steps title '{n}, ping {s} B'")
    path = os.path.join(d, f"throughput-{n}.dat")
    with open(path, "w") as f:
        for i, x in enumerate(v["bulk"]["per_second_mbit_s"]):
            f.write(f"{i + 1} {x}\n")
    tplots.append(f"'{path}' using 1:2 with linespoints title '{n}'")
script = f"""set terminal pngcairo size 800,500
set output '{d}/rtt-cdf.png'
set title 'Ping RTT through the tunnel (CDF)'
set xlabel 'RTT (ms)'; set ylabel 'fraction'; set grid; set key top left
set logscale x
set arrow from {floor_ms},0 to {floor_ms},1 nohead dt 2
set label 'floor 2x(PUT+LIST)' at {floor_ms},0.05
plot {' , '.join(plots)}
set output '{d}/throughput.png'
unset arrow; unset label; unset logscale x
set title 'Bulk TCP through the tunnel (iperf3)'
set xlabel 'second'; set ylabel 'Mbit/s'; set yrange [0:*]; set key top right
plot {' , '.join(tplots)}
"""
subprocess.run(["gnuplot"], input=script, text=True, check=True)
