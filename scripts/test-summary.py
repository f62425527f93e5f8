#!/usr/bin/env python3
"""Prints the closing line of a test run: 'N passed, N failed, N skipped', over all files given.

A meson testlog.json counts test cases, not just test programs: a Catch2 program contributes its test
cases, an e2e script its own 'N passed, N failed' line; a program whose output has no such count counts
as one. A program meson saw fail always counts at least one failure; one that exited 77 is one skipped.
Any other file (e.g. the fuzz run's output) contributes its last 'N passed, N failed' line."""
import json
import re
import sys

CATCH_ALL = re.compile(r"All tests passed \(\d+ assertions? in (\d+) test cases?\)")
CATCH_SOME = re.compile(r"test cases:\s+(\d+) \|\s+(\d+) passed \|\s+(\d+) failed")
SCRIPT = re.compile(r"^(\d+) passed, (\d+) failed$", re.M)

passed = failed = skipped = 0


def count_testlog(path):
    global passed, failed, skipped
    log = open(path)
    for line in log:
        if not line.strip():
            continue
        entry = json.loads(line)
        result, out = entry["result"], entry.get("stdout") or ""
        if result == "SKIP":
            skipped += 1
            continue
        ok = result in ("OK", "EXPECTEDFAIL")
        p = f = None
        if m := CATCH_ALL.search(out):
            p, f = int(m.group(1)), 0
        elif m := CATCH_SOME.search(out):
            p, f = int(m.group(2)), int(m.group(3))
        elif m := SCRIPT.findall(out):
            p, f = int(m[-1][0]), int(m[-1][1])
        if p is None:
            p, f = (1, 0) if ok else (0, 1)
        if not ok and f == 0:
            f = 1  # crashed, timed out or failed outside its own count
        passed += p
        failed += f


def count_plain(path):
    global passed, failed
    found = SCRIPT.findall(open(path).read())
    if found:
        passed += int(found[-1][0])
        failed += int(found[-1][1])
    else:
        failed += 1  # the step did not get as far as reporting


for path in sys.argv[1:]:
    before = (passed, failed, skipped)
    count_testlog(path) if path.endswith(".json") else count_plain(path)
    print(f"  {path}: {passed - before[0]} passed, {failed - before[1]} failed, {skipped - before[2]} skipped")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
