#!/usr/bin/env python3
"""Compares the Go stacks bpfault records with the program's own traceback, frame by frame.

Runs scenarios/go-stack-inlined.json (fixtures/tracebacks) through `bpfault run --json -` with
the toolchains and builds given; in each run, the probed (*slowReader).Read printed its caller
chain (runtime.Callers + CallersFrames: Go's traceback, inlined frames expanded) as
"frame FUNCTION FILE:LINE" lines. The recorded stack must have the same frames: the same
functions in the same order, the same file and line for every caller (the probed frame's line
differs: the probe sits at its body, the program printed from a later line), io.ReadFull and
io.ReadFull marked inlined and no other frame, and no cut. Exit 0 when every run matched, 1
otherwise, 77 when bpfault skipped (a missing capability), 2 on bad usage.
"""
import argparse
import json
import re
import subprocess
import sys

INLINED = {"io.ReadFull"}


def program_frames(stdout):
    out = []
    for line in stdout.splitlines():
        m = re.fullmatch(r"frame (\S+) (.+):(\d+)", line)
        if m:
            out.append((m.group(1), m.group(2), int(m.group(3))))
    return out


def compare(run):
    """The differences of one run, as messages (none: it matched)."""
    want = program_frames(run.get("stdout", ""))
    if not want:
        return ["the program printed no frames"]
    hits = [h for p in run.get("probes", []) for h in p.get("hits", []) if h.get("stack") is not None]
    if not hits:
        return ["no stack recorded"]
    errors = []
    for h in hits:
        got = h["stack"]
        if got and "cut" in got[-1]:
            errors.append(f"call {h['call']}: stack cut: {got[-1]['cut']}")
            continue
        names = [f["function"] for f in got]
        if names != [w[0] for w in want]:
            errors.append(f"call {h['call']}: functions {names} != the program's {[w[0] for w in want]}")
            continue
        for i, (f, w) in enumerate(zip(got, want)):
            if i > 0 and (f["file"], f["line"]) != (w[1], w[2]):
                errors.append(f"call {h['call']} frame {i} {w[0]}: {f['file']}:{f['line']} != {w[1]}:{w[2]}")
            if f.get("inlined", False) != (w[0] in INLINED):
                errors.append(f"call {h['call']} frame {i} {w[0]}: inlined={f.get('inlined', False)}")
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bpfault", required=True)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--go", default="all")
    ap.add_argument("--variants", required=True)
    ap.add_argument("--vm", default="auto")
    ap.add_argument("--runs", type=int, required=True, help="runs expected (toolchains x builds)")
    a = ap.parse_args()
    p = subprocess.run([a.bpfault, "run", a.scenario, "--go", a.go, "--variants", a.variants, f"--vm={a.vm}",
                        "--json", "-"], capture_output=True, text=True)
    sys.stderr.write(p.stderr)
    if p.returncode == 77:
        return 77
    try:
        doc = json.loads(p.stdout)
    except json.JSONDecodeError:
        print(f"bpfault exited {p.returncode} without a JSON record")
        return 1
    runs = doc.get("scenarios", [])
    failed = p.returncode != 0
    if failed:
        print(f"bpfault run exited {p.returncode}")
    for run in runs:
        errors = compare(run)
        print(f"{run.get('name')} [{run.get('go_version')} {run.get('where')}]: "
              + ("same frames as the program's traceback" if not errors else "DIFFERENT"))
        for e in errors:
            print("  " + e)
        failed |= bool(errors)
    if len(runs) != a.runs:
        print(f"{len(runs)} runs, expected {a.runs}")
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
