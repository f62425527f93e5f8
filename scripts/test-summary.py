#!/usr/bin/env python3
"""Prints the closing line of a test run from meson's testlog.json: 'N passed, N failed, N skipped'.

Counts meson tests; a test that exited 77 is skipped (root-only tests when not root, integration
tests without a server)."""
import json
import sys

passed = failed = skipped = 0
with open(sys.argv[1]) as log:
    for line in log:
        if not line.strip():
            continue
        result = json.loads(line)["result"]
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
