#!/usr/bin/env python3
"""bpfault explore on fixtures/errpaths, end to end (label vm): each planted bug is found with
its class, calls from a site's calling stack are pruned, and each reproducer it writes, run by
`bpfault run --vm=always`, reproduces it (passes while the bug is there).

usage: explore_e2e.py BPFAULT SOURCE_DIR WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

bpfault, source, work = sys.argv[1:4]
fixtures = os.path.join(source, "fixtures")
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
scenario = os.path.join(work, "errpaths.json")
shutil.copy(os.path.join(source, "tests", "explore", "errpaths.json"), scenario)
out, report = os.path.join(work, "out"), os.path.join(work, "explore.json")

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


html = os.path.join(work, "explore.html")
p = subprocess.run([bpfault, "explore", "--vm=always", "--fixtures", fixtures, "--out", out, "--json", report,
                    "--html", html, scenario], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
print(p.stdout)
if p.returncode == 77:
    sys.exit(77)
check(p.returncode == 1, f"explore exits 1 (findings), got {p.returncode}")
rep = json.load(open(report))
sites = {(s["function"], s["caller"], s["nth"]): s for s in rep["sites"]}
want = {
    ("main.loadConfig", "main.run", 1): ("crashed", "nil pointer dereference"),
    ("main.saveStats", "main.report", 1): ("swallowed", "the error vanished"),
    ("main.fetchToken", "main.connect", 1): ("hung", "timed out"),
    ("main.parseRecord", "main.run", 1): ("handled", "exit 1: error: record \"12\": bad input"),
    ("main.process", "main.worker", 1): ("handled", "exit 1: error: worker"),
}
# the second calls come from the same calling stacks as the first: one site each, pruned
pruned = {
    ("main.parseRecord", "main.run", 2): "pruned: the same calling stack as main.parseRecord <- main.run #1",
    ("main.process", "main.worker", 2): "pruned: the same calling stack as main.process <- main.worker #1",
}
check(set(sites) == set(want) | set(pruned), f"the calls are exactly {sorted(set(want) | set(pruned))}: got {sorted(sites)}")
for key, evidence in pruned.items():
    s = sites.get(key)
    check(s is not None and s["class"] == "not run" and evidence in s["evidence"] and "run" not in s,
          f"{key} is pruned, not run: got {s and (s['class'], s['evidence'])}")
for key, (cls, evidence) in want.items():
    s = sites.get(key)
    check(s is not None and s["class"] == cls and evidence in s["evidence"],
          f"{key} is {cls} with evidence containing {evidence!r}: got {s and (s['class'], s['evidence'])}")
    if s:
        inj = s.get("run", {}).get("injection", {})
        check(inj.get("done") is True and inj.get("returned") is True,
              f"{key}: the record shows the early return done and read back")
        # the variable the function's own code refers to; fetchToken refers to none: the first by name
        value = "main.errNoConfig" if key[0] == "main.loadConfig" else "main.errBadInput"
        check(s.get("error_value") == value, f"{key}: the error returned is {value}: {s.get('error_value')}")
check(rep["sites_seen"] == 5 and rep["injected"] == 5 and rep["coverage"] == 1.0 and rep["duplicates"] == 2,
      f"coverage 5/5, 2 duplicates pruned: {rep['injected']}/{rep['sites_seen']}, {rep.get('duplicates')}")
check("goroutine" in json.dumps(sites[("main.fetchToken", "main.connect", 1)].get("run", {}).get("stderr", "")),
      "the hung run keeps the goroutine dump")
check("goroutine" in sites[("main.loadConfig", "main.run", 1)]["run"]["stderr"], "the crash keeps the Go traceback")

page = open(html).read() if os.path.exists(html) else ""
check("error-path coverage 5/5 = 100 %" in page and page.count("<tr class=") == 7,
      "the HTML page has the 5 sites and the 2 pruned calls")

# Deterministic: two more explorations without the VM (on a kernel that refuses writes the
# injections are skipped, 77; where it allows them they run natively) give the same sites,
# in the same order, with the same classes.
def sites_of(json_file):
    r = subprocess.run([bpfault, "explore", "--vm=never", "--fixtures", fixtures, "--json", json_file, scenario],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    check(r.returncode in (1, 77), f"explore --vm=never exits 1 or 77, got {r.returncode}: {r.stdout[-400:]}")
    return [(s["function"], s["caller"], s["nth"], s["class"]) for s in json.load(open(json_file))["sites"]]


again = [sites_of(os.path.join(work, f"again-{i}.json")) for i in (1, 2)]
check(again[0] == again[1], f"the same sites and classes twice: {again[0]} / {again[1]}")
check([s[:3] for s in again[0]] == [(s["function"], s["caller"], s["nth"]) for s in rep["sites"]],
      "the same sites, in the same order, as the exploration in the VM")

# --budget counts from explore's start: one spent by the baseline starts nothing, and says so.
r = subprocess.run([bpfault, "explore", "--vm=never", "--budget", "1ms", "--fixtures", fixtures, scenario],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
check(r.returncode == 2 and "--budget 1ms: error: spent before the first run after the baseline" in r.stdout,
      f"a budget the baseline spent is refused (exit 2, saying so): {r.returncode} {r.stdout[-300:]}")

# The reproducers: one per crashed, hung or swallowed finding, all run in one VM boot.
files = sorted(os.listdir(out)) if os.path.isdir(out) else []
check(len(files) == 3, f"3 reproducers written: {files}")
by_class = {s["class"]: s.get("reproducer") for s in rep["sites"] if s["class"] in ("crashed", "hung", "swallowed")}
rerun = os.path.join(work, "rerun.json")
p = subprocess.run([bpfault, "run", "--vm=always", "--fixtures", fixtures, "--json", rerun] +
                   [by_class[c] for c in ("crashed", "swallowed", "hung")],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
print(p.stdout)
check(p.returncode == 0, f"the reproducers' run exits 0 (each expects what explore saw), got {p.returncode}")
records = {r["file"]: r for r in json.load(open(rerun))["scenarios"]}


def injected(r, function):
    return sum(p.get("injected", 0) for p in r.get("probes", []) if p.get("function") == function)


crash = records.get(by_class["crashed"], {})
check(crash.get("status") == "passed" and crash.get("exit_code") == 2 and injected(crash, "main.loadConfig") == 1,
      "the crash reproducer passes: the injected error crashes the program (exit 2)")
swallowed = records.get(by_class["swallowed"], {})
check(swallowed.get("status") == "passed" and injected(swallowed, "main.saveStats") == 1,
      "the swallowed reproducer passes: injected, exit 0, the same output")
hung = records.get(by_class["hung"], {})
check(hung.get("status") == "passed" and hung.get("timed_out") is True and injected(hung, "main.fetchToken") == 1 and
      any(v["check"] == "hangs" and v["passed"] for v in hung.get("verdicts", [])),
      "the hung reproducer passes (\"hangs\"): still running at its timeout after its injection")
if failures:
    print(f"{len(failures)} checks failed")
    sys.exit(1)
