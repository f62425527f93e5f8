#!/usr/bin/env python3
"""Prints the closing line of a test run from meson's testlog.json: 'N passed, N failed, N skipped'.

Counts test cases, not just test programs: a Catch2 program contributes its test cases, an e2e script
its own 'N passed, N failed' line. A program whose output has no such count counts as one. A program
meson saw fail always counts at least one failure; one that exited 77 is one skipped."""
import json
import re
import sys

CATCH_ALL = re.compile(r"All tests passed \(\d+ assertions? in (\d+) test cases?\)")
CATCH_SOME = re.compile(r"test cases:\s+(\d+) \|\s+(\d+) passed \|\s+(\d+) failed")
SCRIPT = re.compile(r"^(\d+) passed, (\d+) failed$", re.M)

passed = failed = skipped = 0
with open(sys.argv[1]) as log:
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
print(f"{passed} passed, {failed} failed, {skipped} skipped")
