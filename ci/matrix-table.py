#!/usr/bin/env python3
"""matrix-table.py RUN.json...: one markdown table of `bpfault run --json` records:
rows Go toolchain x build, columns where they ran, cells passed / skipped (capability) / failed."""
import collections, json, re, sys

cells = collections.defaultdict(lambda: collections.Counter())
skips = collections.defaultdict(set)
columns, rows = [], set()
for path in sys.argv[1:]:
    run = json.load(open(path))
    for r in run["scenarios"]:
        where = "native " + r["kernel"].split("-")[0] if r["where"] == "native" else "VM " + r["kernel"].split("+")[0].split("-")[0]
        if where not in columns:
            columns.append(where)
        m = re.search(r"\[go([0-9.]+), ([a-z0-9-]+)\]$", r["name"])
        row = (m.group(1), m.group(2)) if m else ("?", "?")
        rows.add(row)
        cells[(row, where)][r["status"]] += 1
        if r["status"] == "skipped" and r.get("error"):
            cap = re.search(r"needs (\w+)", r["error"]["what"])
            skips[(row, where)].add(cap.group(1) if cap else "?")

def key(row):
    return tuple(int(x) for x in row[0].split(".")), row[1]

print("| Go | build | " + " | ".join(columns) + " |")
print("|---|---|" + "---|" * len(columns))
for row in sorted(rows, key=key):
    out = []
    for c in columns:
        n = cells[(row, c)]
        if not sum(n.values()):
            out.append("–")
            continue
        s = f"{n['passed']} passed"
        if n["skipped"]:
            s += f", {n['skipped']} skipped ({', '.join(sorted(skips[(row, c)]))})"
        if n["failed"] or n["error"]:
            s += f", **{n['failed'] + n['error']} failed**"
        out.append(s)
    print(f"| {row[0]} | {row[1]} | " + " | ".join(out) + " |")
