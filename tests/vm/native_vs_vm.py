#!/usr/bin/env python3
"""A scenario behaves the same natively and in the VM (issue 18 item 5): a set of read-only
scenarios (a service with its steps, a client under its own probes in them, stacks, strings, errors, a stripped build) is run both ways,
and their records must agree on what the program did and what bpfault saw: status, exit code,
output, each probe's counts, and every recorded hit's values and stack frames (as a multiset:
goroutines may interleave differently). What cannot agree is left out: times, thread and
goroutine ids, durations, and addresses (values spelled "0x...", also in the program's output:
the heap and a PIE's base).

usage: native_vs_vm.py BPFAULT SOURCE_DIR WORK_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys

bpfault, source, work = sys.argv[1:4]
SCENARIOS = ["readfile-expect-values", "error-messages", "seed-trace-args", "seed-trace-stack",
             "go-stack-inlined", "sigs-live-args", "stripped-stdlib-record", "service-steps", "service-client"]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
files = [os.path.join(source, "scenarios", s + ".json") for s in SCENARIOS]


def run(where):
    out = os.path.join(work, where + ".json")
    p = subprocess.run([bpfault, "run", "--vm=" + where, "--fixtures", os.path.join(source, "fixtures"),
                        "--json", out] + files, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(p.stdout)
    if p.returncode == 77:
        sys.exit(77)
    if p.returncode != 0:
        sys.exit(f"FAIL bpfault run --vm={where} exited {p.returncode}: every scenario must pass both ways")
    return {s["name"]: s for s in json.load(open(out))["scenarios"]}


def without_addresses(v):
    if isinstance(v, dict):
        return {k: without_addresses(x) for k, x in v.items()
                if not (isinstance(x, str) and x.startswith("0x"))}
    if isinstance(v, list):
        return [without_addresses(x) for x in v]
    return v


def frames(stack):
    return [{k: f.get(k) for k in ("function", "file", "line", "inlined", "cut")} for f in stack or []]


def what_happened(s):
    probes = []
    for p in s.get("probes", []):
        hits = sorted(json.dumps({"site": h.get("site"), "values": without_addresses(h.get("values")),
                                  "stack": frames(h.get("stack")), "step": h.get("step")}, sort_keys=True)
                      for h in p.get("hits", []))
        probes.append({k: p.get(k) for k in ("function", "calls", "returns", "injected")} | {"hits": hits})
    steps = [{k: st.get(k) for k in ("name", "status", "body", "exit_code", "stdout")}
             | ({"program": what_happened(st["program"])} if "program" in st else {}) for st in s.get("steps", [])]
    return {"status": s.get("status"), "exit_code": s.get("exit_code"), "signal": s.get("signal"),
            "stdout": re.sub(r"0x[0-9a-f]+", "0x...", s.get("stdout") or ""), "probes": probes, "steps": steps}


native, vm = run("never"), run("always")
failures = []
for name in sorted(native):
    a, b = what_happened(native[name]), what_happened(vm.get(name, {}))
    hits = sum(len(p["hits"]) for p in a["probes"])
    if a == b and a["status"] == "passed" and hits:
        print(f"ok   {name}: the same status, output, counts and {hits} hits natively and in the VM")
        continue
    failures.append(name)
    print(f"FAIL {name}:")
    for key in a:
        if a[key] != b.get(key):
            print(f"  {key}: native {json.dumps(a[key])[:600]}\n  {' ' * len(key)}  vm     {json.dumps(b.get(key))[:600]}")
    if not hits:
        print("  no hit recorded: nothing to compare")
if len(native) != len(SCENARIOS) or set(native) != set(vm):
    failures.append("the same scenarios")
    print(f"FAIL ran natively {sorted(native)}, in the VM {sorted(vm)}")
sys.exit(1 if failures else 0)
