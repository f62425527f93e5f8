#!/usr/bin/env python3
"""Turns the raw files of scripts/coldstart.sh into results.json, report.md and coldstart.png.

    scripts/coldstart_report.py DIR

One row per setting (a node pair of the same run, same RGW, same rounds). Idle cost: both nodes' S3
requests by operation over the idle gaps only (from the scrape after a round's settle to the scrape
before the next ping, each node timed by its own scrapes), as requests per second per node (the mean of
the two nodes), priced per node-day at S3 Standard (PUT/COPY/POST/LIST $0.005 per 1000, GET $0.0004 per
1000, DELETE free) and S3 Express One Zone (PUT/LIST $0.00113 per 1000, GET $0.00003 per 1000, DELETE
free; AWS's S3 FAQ). Cold latency: the RTT of the one ping per round after the idle gap; a ping that got
no answer within ping's 5 s is counted as lost, not as a time.
"""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

# $ per request, by tier. An operation this script does not know is priced at the dearer tier.
STANDARD = {"put": 0.005 / 1000, "list": 0.005 / 1000, "get": 0.0004 / 1000, "head": 0.0004 / 1000, "delete": 0.0}
EXPRESS = {"put": 0.00113 / 1000, "list": 0.00113 / 1000, "get": 0.00003 / 1000, "head": 0.00003 / 1000, "delete": 0.0}
DAY = 86400
REQUESTS = re.compile(r'^hoshino_s3_requests_total\{op="([^"]+)"\}\s+(\S+)$')
ERRORS = re.compile(r'^hoshino_s3_errors_total\{[^}]*\}\s+(\S+)$')


def price(table, op):
    return table.get(op, table["put"])


def prom(path):
    """{op: count} of hoshino_s3_requests_total, plus the S3 errors as "errors"; None if unreadable."""
    try:
        text = open(path).read()
    except OSError:
        return None
    ops, errors, seen = {}, 0.0, False
    for line in text.splitlines():
        m = REQUESTS.match(line)
        if m:
            ops[m.group(1)] = float(m.group(2))
            seen = True
            continue
        m = ERRORS.match(line)
        if m:
            errors += float(m.group(1))
    return {"ops": ops, "errors": errors} if seen else None


def scrape_times(path):
    times = {}
    if os.path.exists(path):
        for line in open(path):
            parts = line.split()
            if len(parts) == 3:
                times[(parts[0], parts[1])] = float(parts[2])
    return times


def setting(d, rounds):
    times = scrape_times(os.path.join(d, "scrapes.tsv"))
    counts = {"a": {}, "b": {}}
    seconds = {"a": 0.0, "b": 0.0}
    errors = {"a": 0.0, "b": 0.0}
    windows, dropped = 0, 0
    for r in range(1, rounds + 1):
        start, end = f"r{r - 1:02d}-after", f"r{r:02d}-before"
        if not os.path.exists(os.path.join(d, f"{end}-a.prom")):
            continue  # the run stopped before this round
        pages = {n: (prom(os.path.join(d, f"{start}-{n}.prom")), prom(os.path.join(d, f"{end}-{n}.prom"))) for n in "ab"}
        spans = {n: times.get((end, n), 0) - times.get((start, n), 0) for n in "ab"}
        ok = all(p0 and p1 and spans[n] > 0 and all(p1["ops"].get(op, 0) >= v for op, v in p0["ops"].items())
                 for n, (p0, p1) in pages.items())
        if not ok:
            dropped += 1  # a node's metrics did not answer, or it restarted (counters went back)
            continue
        windows += 1
        for n, (p0, p1) in pages.items():
            seconds[n] += spans[n]
            errors[n] += p1["errors"] - p0["errors"]
            for op in set(p0["ops"]) | set(p1["ops"]):
                counts[n][op] = counts[n].get(op, 0) + p1["ops"].get(op, 0) - p0["ops"].get(op, 0)
    ops = sorted(set(counts["a"]) | set(counts["b"]))
    per_node = {n: {op: counts[n].get(op, 0) / seconds[n] if seconds[n] else None for op in ops} for n in "ab"}
    rate = {op: (per_node["a"][op] + per_node["b"][op]) / 2 if seconds["a"] and seconds["b"] else None for op in ops}
    have = all(v is not None for v in rate.values()) and windows > 0

    def per_day(table):
        return DAY * sum(v * price(table, op) for op, v in rate.items()) if have else None

    rtts, lost, sent = [], 0, 0
    for r in range(1, rounds + 1):
        path = os.path.join(d, f"ping-{r:02d}.txt")
        if not os.path.exists(path):
            continue
        sent += 1
        m = re.search(r"time=([\d.]+) ms", open(path).read())
        if m:
            rtts.append(float(m.group(1)))
        else:
            lost += 1
    return {
        "idle": {
            "windows": windows, "windows_dropped": dropped,
            "seconds_per_node": {n: round(seconds[n], 3) for n in "ab"},
            "requests": {n: {op: counts[n].get(op, 0) for op in ops} for n in "ab"},
            "per_second_per_node": rate if have else None,
            "per_second_by_node": per_node if have else None,
            "requests_per_node_day": {op: v * DAY for op, v in rate.items()} if have else None,
            "s3_errors": errors,
            "dollars_per_node_day_standard": per_day(STANDARD),
            "dollars_per_node_day_express": per_day(EXPRESS),
        },
        "cold_ping": {
            "sent": sent, "received": len(rtts), "lost": lost,
            "p50_ms": statistics.median(rtts) if rtts else None,
            "max_ms": max(rtts) if rtts else None,
            "min_ms": min(rtts) if rtts else None,
            "mean_ms": statistics.fmean(rtts) if rtts else None,
            "samples_ms": rtts,
        },
    }


def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: coldstart_report.py DIR")
    d = sys.argv[1]
    run = json.load(open(os.path.join(d, "run.json")))
    results = {"run": run, "prices_per_1000": {"standard": {k: v * 1000 for k, v in STANDARD.items()},
                                               "express_one_zone": {k: v * 1000 for k, v in EXPRESS.items()}},
               "settings": {}}
    for s in run["settings"]:
        results["settings"][s["name"]] = {"flags": s["flags"], "bin": s["bin"], "version": s.get("version", ""),
                                          "revision": s.get("revision", ""),
                                          **setting(os.path.join(d, s["name"]), run["rounds"])}
    json.dump(results, open(os.path.join(d, "results.json"), "w"), indent=2)

    rs = results["settings"]
    bins = {(v["bin"], v["revision"]) for v in rs.values()}
    sweep = f" (+ a fixed sweep of 0–{run['sweep_s']:g} s)" if run["sweep_s"] else ""
    md = [f"# hoshino cold start and idle cost ({os.path.basename(os.path.normpath(d))})", "",
          f"{run['backend']}, tree {run['tree']}, started {run['started']}. {len(rs)} node pairs side by side, "
          f"{run['rounds']} round(s) each: idle {run['idle_s']:g} s{sweep}, one "
          f"`ping -c 1 -W 5` a → b, {run['settle_s']:g} s to settle. Requests counted over the idle gaps only, "
          f"per node (mean of a and b); $ per node-day at S3 Standard / S3 Express One Zone request prices.", ""]
    if len(bins) > 1:
        md += ["Binaries: " + "; ".join(f"{n}: {v['bin']}/hoshino" + (f" (commit {v['revision'][:12]})" if v["revision"] else "")
                                       for n, v in rs.items()) + ".", ""]
    md += ["| setting | flags | idle LIST/s | GET/s | PUT/s | requests/node-day | $/node-day Standard "
           "| $/node-day Express | cold p50 (ms) | cold worst (ms) | lost | n |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    others = []
    for name, v in rs.items():
        i, c = v["idle"], v["cold_ping"]
        rate = i["per_second_per_node"] or {}
        total = sum(i["requests_per_node_day"].values()) if i["requests_per_node_day"] else None
        md.append(f"| {name} | `{v['flags'] or '(defaults)'}` | {fmt(rate.get('list', 0) if rate else None, '.3f')} "
                  f"| {fmt(rate.get('get', 0) if rate else None, '.3f')} | {fmt(rate.get('put', 0) if rate else None, '.3f')} "
                  f"| {fmt(total, ',.0f')} | {fmt(i['dollars_per_node_day_standard'], '.4f')} "
                  f"| {fmt(i['dollars_per_node_day_express'], '.5f')} | {fmt(c['p50_ms'], '.0f')} | {fmt(c['max_ms'], '.0f')} "
                  f"| {c['lost']} | {c['sent']} |")
        extra = {op: x for op, x in rate.items() if op not in ("list", "get", "put") and x}
        if extra:
            others.append(f"{name}: " + ", ".join(f"{op} {x:.3f}/s" for op, x in sorted(extra.items())))
        if i["windows_dropped"]:
            others.append(f"{name}: {i['windows_dropped']} idle gap(s) left out (a node's metrics did not answer)")
        if i["s3_errors"]["a"] or i["s3_errors"]["b"]:
            others.append(f"{name}: S3 errors in the idle gaps: a {i['s3_errors']['a']:.0f}, b {i['s3_errors']['b']:.0f}")
    md.append("")
    if others:
        md += ["Other idle requests and remarks: " + "; ".join(others) + ". (DELETE is free at both prices; an "
               "operation the price lists do not name is priced as a PUT.)", ""]
    md += ["Idle gaps measured per node: " + ", ".join(
               f"{n} {v['idle']['windows']} × ≈{v['idle']['seconds_per_node']['a'] / max(1, v['idle']['windows']):.0f} s"
               for n, v in rs.items()) + ". "
           "Cold p50 is the median of the answered pings and worst their maximum; a ping unanswered within "
           "5 s is lost, not a time. With a few rounds the worst case is a loose lower bound of the true worst."
           + (" The sweep spreads the pings over the phases of the nodes' idle schedules (which restart at each "
              "exchange); its offsets are the same in every run and for every pair." if run["sweep_s"] else
              " No sweep: the pings may keep hitting one phase of the nodes' idle schedules."), "",
           "Prices per 1000 requests: Standard PUT/LIST $0.005, GET $0.0004; Express One Zone PUT/LIST $0.00113, "
           "GET $0.00003; DELETE free. Express also charges per GB uploaded and retrieved; for these requests of "
           "a few hundred bytes that is well under $0.0001 per node-day and left out.", ""]
    if os.path.exists(os.path.join(d, "coldstart.png")):
        os.remove(os.path.join(d, "coldstart.png"))
    if plot(d, rs):
        md += ["![idle cost against cold latency](coldstart.png)", ""]
    else:
        md += ["(No plot: gnuplot is not installed; scripts/install-deps.sh installs it.)", ""]
    open(os.path.join(d, "report.md"), "w").write("\n".join(md))
    print("\n".join(md))


def plot(d, rs):
    """coldstart.png: idle $ per node-day (x, Standard) against cold latency (p50 point, worst marker)."""
    if not shutil.which("gnuplot"):
        print("coldstart_report.py: gnuplot not found, no plot", file=sys.stderr)
        return False
    rows = [(n + (f" ({v['cold_ping']['lost']} lost)" if v["cold_ping"]["lost"] else ""),
             v["idle"]["dollars_per_node_day_standard"], v["cold_ping"]["p50_ms"], v["cold_ping"]["max_ms"])
            for n, v in rs.items()]
    rows = [r for r in rows if r[1] is not None and r[2] is not None]
    if not rows:
        return False
    data = os.path.join(d, "coldstart.dat")
    with open(data, "w") as f:
        f.write("# setting dollars_per_node_day_standard p50_ms max_ms\n")
        for n, x, p50, worst in rows:
            f.write(f'"{n}" {x} {p50} {worst}\n')
    xs = [r[1] for r in rows]
    logx = min(xs) > 0 and max(xs) / min(xs) > 20
    ymax = max(5500, max(r[3] for r in rows) * 1.15)
    if logx:
        xrange = f"set logscale x; set xrange [{min(xs) / 2}:{max(xs) * 2}]"
    else:
        xrange = f"set xrange [0:{max(xs) * 1.25 or 1}]"
    script = f"""set terminal pngcairo size 800,560 noenhanced
set output '{d}/coldstart.png'
set title 'Idle cost against cold first-packet latency (one point per setting)'
set xlabel '$ per node-day, idle (S3 Standard request prices)'
set ylabel 'cold ping RTT (ms)'
set grid; set key below
set arrow from graph 0, first 5000 to graph 1, first 5000 nohead dt 2 lc rgb '#888888'
set label 'ping -W 5: slower is lost' at graph 0.02, first 4800 tc rgb '#888888'
{xrange}
set yrange [0:{ymax}]
plot '{data}' using 2:3:3:4 with yerrorbars pt 7 ps 1.3 lc rgb '#1f77b4' title 'p50 (bar up to the worst)', \\
     '{data}' using 2:4 with points pt 9 ps 1.5 lc rgb '#d62728' title 'worst', \\
     '{data}' using 2:3:1 with labels offset char 1,char 0.8 left notitle
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return True


if __name__ == "__main__":
    main()
