#!/usr/bin/env python3
"""fuzz/abi's comparison of a printed value with a recorded one (abi.compare_value): a string
whose bytes bpfault recorded as unreadable is compared by its words and counted apart, never
passed as if its text had matched, and a wrong text is still a mismatch.

usage: compare_test.py SOURCE_DIR"""
import os
import sys

sys.path.insert(0, os.path.join(sys.argv[1], "fuzz", "abi"))
import abi  # noqa: E402

failures = []


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")


printed = {"s.ptr": ("p", "4c2a10"), "s.len": ("u", "65"), "s.bytes": ("x", "41" * 65)}
unreadable = []
diffs = abi.compare_value("s", printed, {"ptr": "0x4c2a10", "len": 65, "unreadable": "its bytes could not be copied"},
                          unreadable)
check("an unreadable string's words match", diffs, [])
check("it is counted apart", unreadable, ["s"])

unreadable = []
diffs = abi.compare_value("s", printed, {"ptr": "0x4c2a11", "len": 65, "unreadable": "its bytes could not be copied"},
                          unreadable)
check("an unreadable string with a wrong pointer", [d[0] for d in diffs], ["s.ptr"])

diffs = abi.compare_value("s", printed, {"text": "B" * 64, "len": 65})
check("a wrong text is a mismatch", [d[0] for d in diffs], ["s.bytes"])
diffs = abi.compare_value("s", printed, {"text": "A" * 64, "len": 65})
check("the first 64 bytes of a longer string match", diffs, [])

for f in failures:
    print("FAIL " + f)
print(f"{'FAILED' if failures else 'ok'}: compare_value, {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
