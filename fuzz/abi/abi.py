"""The differential ABI test's runner: generate, build, probe, compare (README.md, "Differential ABI test").

For each Go toolchain and architecture it builds the generated package, writes bpfault
scenarios that record every argument and result by name (reads) or write a random sample of
them (writes), runs them all through `bpfault run --json` (amd64 reads natively, everything
else in one VM boot), and compares bpfault's record call by call with the program's own lines.
"""

import glob
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import time

import gen

MAX_PROBES = 60  # bpfault takes 64 probes per scenario (PROBE_MAX_PROBES)
VM_SCENARIOS = 80  # scenarios per VM boot
STACK_BYTES = 128  # bytes of stack a probe copies from SP (bpf/probe.h PROBE_STACK_BYTES)


def goroot(version, cache):
    if version == "1.19":
        return "/usr/lib/go-1.19"
    if version == "newest":
        found = sorted(glob.glob(f"{cache}/go/1.*/usr/lib/go-1.*"), key=lambda p: int(p.rsplit(".", 1)[1]))
        if not found:
            sys.exit(f"no Go toolchain in {cache}/go: run ci/go-toolchain newest")
        return found[-1]
    root = f"{cache}/go/{version}/usr/lib/go-{version}"
    if not os.path.isdir(root):
        sys.exit(f"Go {version} is not in {cache}/go: run ci/go-toolchain {version}")
    return root


def build(pkg, root, arch, out):
    env = {k: v for k, v in os.environ.items() if k not in ("GOROOT", "GOFLAGS", "GOENV")}
    env.update(GOARCH=arch, GOOS="linux", CGO_ENABLED="0", GOTOOLCHAIN="local", GOPROXY="off", GOFLAGS="-mod=mod",
               GOTELEMETRY="off", GOCACHE=os.environ.get("GOCACHE", os.path.expanduser("~/.cache/go-build")))
    subprocess.run([f"{root}/bin/go", "build", "-o", out, "."], cwd=pkg, env=env, check=True)


def go_version(root):
    return subprocess.run([f"{root}/bin/go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()


def analysis(bpfault, binary):
    """{Go function name: (SP delta at the probe point, signature line)} for main's functions,
    from `bpfault list -v`."""
    out, name = {}, None
    text = subprocess.run([bpfault, "list", "-v", binary, "main.*"], capture_output=True, text=True).stdout
    for line in text.splitlines():
        if line.startswith("uprobe:"):
            name = line.rsplit(":", 1)[1]
            out[name] = [0, ""]
        elif name and line.startswith("    " + name + "("):
            out[name][1] = line.strip()
        elif name and line.strip().startswith("entry "):
            m = re.search(r"sp = entry sp - (\d+)", line)
            out[name][0] = int(m.group(1)) if m else 0
    return out


def split_top(text):
    """Splits "a b @rax,rbx, c (d, e) f" at the ", " outside brackets (locations have no space)."""
    parts, depth, cur = [], 0, ""
    for i, ch in enumerate(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0 and text[i + 1:i + 2] == " ":
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return parts + ([cur.strip()] if cur.strip() else [])


def parse_signature(go_name, line):
    """bpfault's signature line as ([(name or None, location or None)] params, results)."""
    rest = line[len(go_name):]
    depth = 0
    for i, ch in enumerate(rest):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            break
    params, results = rest[1:i], rest[i + 1:].strip()
    if results.startswith("(") and results.endswith(")"):
        results = results[1:-1]

    def entries(text):
        out = []
        for e in split_top(text):
            left, _, loc = e.rpartition(" @") if " @" in e else (e, "", None)
            out.append((left.split(" ", 1)[0], loc))
        return out
    return entries(params), entries(results)


def expected_loc(entry, base):
    if entry["regs"] is not None:
        return ",".join(entry["regs"])
    return None if entry["start"] is None else f"sp+{base + entry['start']}"


def check_locations(rep, manifest, listed, arch, where, binary):
    """bpfault's locations (`list -v`) against the generator's own ABI model, for every value
    of every non-generic function: registers in order, or the stack offset at the probe point.
    Returns {key: names bpfault does not place}: Go 1.19-1.21 leave blank parameters out of
    DWARF, and a parameter DWARF does not place either may sit before or after the blank;
    bpfault must then say "unknown" (and refuse to record it), never guess."""
    ptr = 8 if arch == "amd64" else 4
    unknown = {}
    for fn in manifest["functions"]:
        if fn["kind"] == "generic" and fn["blank"]:  # no model of the instances: only their unknowns
            for go_name in probe_names(listed, fn):
                params, results = parse_signature(go_name, listed[go_name][1])
                for n, loc in params + list(zip(fn["results"], (loc for _, loc in results))):
                    if n in fn["params"] + fn["results"] and loc and set(loc.split(",")) == {"?"}:
                        unknown.setdefault(go_name, set()).add(n)  # per instance: the shapes differ
        if fn["kind"] == "generic" or fn["go"] not in listed:
            continue
        delta, line = listed[fn["go"]]
        lay = fn["layout"][arch]
        params, results = parse_signature(fn["go"], line)
        got = {n: loc for n, loc in params}
        for n in fn["params"]:
            exp = expected_loc(lay[n], ptr + delta)
            rep.locations += 1
            if fn["blank"] and got.get(n) and set(got[n].split(",")) == {"?"}:
                unknown.setdefault(fn["key"], set()).add(n)
                rep.unknown += 1
                continue
            if got.get(n, "missing") != exp:
                rep.mismatch(where, fn, f"location of {n}", exp, got.get(n, "(not listed)"), binary)
        res_base = ptr + -(-lay["__args_size"] // ptr) * ptr
        if len(results) != len(fn["results"]):
            rep.mismatch(where, fn, "results listed", len(fn["results"]), line, binary)
            continue
        for n, (_, loc) in zip(fn["results"], results):
            exp = expected_loc(lay[n], res_base)
            rep.locations += 1
            if fn["blank"] and loc and set(loc.split(",")) == {"?"}:
                unknown.setdefault(fn["key"], set()).add(n)
                rep.unknown += 1
                continue
            if loc != exp:
                rep.mismatch(where, fn, f"location of {n}", exp, loc, binary)
    return unknown


def probe_names(listed, fn):
    """The Go function names bpfault probes for a manifest entry (every instance of a generic)."""
    if fn["kind"] != "generic":
        return [fn["go"]] if fn["go"] in listed else []
    return sorted(n for n in listed if n.startswith(fn["go"] + "[") and n.endswith("]"))  # not its closures (...].func1)


def beyond_stack(fn, arch, delta, opaque=True):
    """Values the ABI puts (partly) past the stack bytes a probe copies, and values holding a
    piece bpfault cannot decode: bpfault must refuse to record them."""
    layout = fn.get("layout", {}).get(arch)
    if not layout:
        return set()
    ptr = 8 if arch == "amd64" else 4
    out = set()
    for n, e in layout.items():
        if n.startswith("__"):
            continue
        base = ptr + delta if n in fn["params"] else ptr + layout["__args_size"]
        if (opaque and e["opaque"]) or (e["end"] is not None and base + e["end"] > STACK_BYTES):
            out.add(n)
    return out


# ---- the program's own lines ----

LINE = re.compile(r"^(CALL|RET|GOT) (\S+) (\d+)(.*)$")


def parse_lines(stdout):
    """{(what, key): [leaves of call 1, call 2, ...]}; leaves: {path: (tag, text)}."""
    out = {}
    for line in stdout.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        leaves = {}
        for kv in m.group(4).split():
            k, v = kv.split("=", 1)
            tag, text = v.split(":", 1)
            leaves[k] = (tag, text)
        out.setdefault((m.group(1), m.group(2)), []).append((int(m.group(3)), leaves))
    return {k: [leaves for _, leaves in sorted(v, key=lambda c: c[0])] for k, v in out.items()}


# ---- bpfault's record, flattened to the same leaves ----

def flatten(name, v, is_string):
    """bpfault's recorded value of `name` as {leaf path: json value} (see harness/run/decode.cpp)."""
    if not isinstance(v, dict):
        if is_string and isinstance(v, str):
            return {name + ".text": v}  # a whole string, captured
        return {name: v}
    if set(v) == {"len", "cap", "first"}:  # a slice, its first elements captured
        out = {name + ".len": v["len"], name + ".cap": v["cap"]}
        out.update({f"{name}.first[{i}]": e for i, e in enumerate(v["first"])})
        out[name + ".first"] = len(v["first"])
        return out
    if set(v) == {"text", "len"}:  # a string whose bytes were captured in part
        return {name + ".text": v["text"], name + ".len": v["len"]}
    # pieces by path without its first character: ".X.ptr" -> "X.ptr", "[1]" -> "1]"
    return {(f"{name}[{k}" if k[:1].isdigit() else f"{name}.{k}"): e for k, e in v.items()}


def same(tag, text, rec):
    if rec is None:
        return False
    if tag in ("i", "u"):
        return isinstance(rec, int) and not isinstance(rec, bool) and rec == int(text)
    if tag == "b":
        return rec is (text == "true")
    if tag == "p":
        return isinstance(rec, str) and rec.startswith("0x") and int(rec, 16) == int(text, 16)
    if tag == "t":
        return rec == text
    if tag in ("f4", "f8"):
        if not isinstance(rec, (int, float)) or isinstance(rec, bool):
            return False
        if tag == "f4":
            return struct.pack("<f", float(rec)) == struct.pack("<f", float(text))
        return float(rec) == float(text)
    raise AssertionError(tag)


def compare_value(name, printed, recorded, unreadable=None):
    """Differences between what the program printed for one value and what bpfault recorded
    for it: [(leaf, expected, recorded)]. A string whose bytes bpfault recorded as unreadable
    (the probe could not copy them: a page not resident) is compared by its words only, and
    its leaf is appended to `unreadable`: not a wrong value, a value bpfault says it lacks."""
    mine = {k: v for k, v in printed.items() if k == name or k.startswith(name + ".") or k.startswith(name + "[")}
    rec = flatten(name, recorded, name + ".bytes" in mine)
    for k in [k for k in rec if k.endswith(".unreadable")]:
        rec.pop(k)
        if unreadable is not None:
            unreadable.append(k[: -len(".unreadable")])
    diffs = []
    if not mine:  # a zero-size value: bpfault has nothing to read either
        return [] if recorded in ({}, None) else [(name, "(no leaves)", recorded)]
    if name + ".text" in rec:  # a string with its bytes: compare the text against the bytes
        tag, hexbytes = mine.pop(name + ".bytes")
        want = bytes.fromhex(hexbytes).decode("latin-1")
        got = rec.pop(name + ".text")
        full_len = int(mine[name + ".len"][1])
        if name + ".len" not in rec:
            rec[name + ".len"] = len(got)
        if want[: len(got)] != got or (len(got) < full_len and len(got) != 64) or len(got) > full_len:
            diffs.append((name + ".bytes", want, got))
        mine.pop(name + ".ptr")  # a captured string's record carries no pointer
    for k in [k for k in mine if k.endswith(".bytes")]:
        mine.pop(k)  # strings not captured (nested, or past the 4 captures): their ptr and len only
    if name + ".first" in rec:  # a slice: its first elements, as many as fit 64 bytes
        count = rec.pop(name + ".first")
        mine.pop(name + ".ptr")
        length = int(mine[name + ".len"][1])
        elems = [k for k in mine if k.startswith(name + ".first[")]
        esize = int(mine.pop(name + ".esize")[1])
        if count != min(length, 64 // esize):
            diffs.append((name + ".first", f"min(len, 64 bytes) elements", f"{count} elements"))
        for k in elems[count:]:
            mine.pop(k)
    else:
        for k in [k for k in mine if ".first[" in k]:
            mine.pop(k)  # elements of slices not captured
    for k in [k for k in mine if k.endswith(".esize")]:
        mine.pop(k)
    for k in [k for k, v in rec.items() if v is None]:  # a nil interface is recorded as null
        words = [mine.get(k + ".type"), mine.get(k + ".data")]
        if all(w is not None and w[0] == "p" and int(w[1], 16) == 0 for w in words):
            mine.pop(k + ".type"), mine.pop(k + ".data"), rec.pop(k)
    for k, (tag, text) in mine.items():
        if k not in rec:
            diffs.append((k, f"{tag}:{text}", "(not in the record)"))
        elif not same(tag, text, rec[k]):
            diffs.append((k, f"{tag}:{text}", rec[k]))
    for k in rec:
        if k not in mine:
            diffs.append((k, "(no such leaf)", rec[k]))
    return diffs


# ---- scenarios ----

def chunks(xs, n):
    return [xs[i:i + n] for i in range(0, len(xs), n)]


def read_scenarios(manifest, arch, binary, info, label):
    """Scenarios recording every value of every function, and one scenario per function with
    the values bpfault must refuse to record (in XMM, beyond the copied stack, undecodable).
    Returns [(scenario json, what to check)]."""
    groups, refusals = [], []  # a generic's instances share a scenario: their calls are merged
    for fn in manifest["functions"]:
        groups.append([])
        for go_name in info["names"][fn["key"]]:
            xmm = info["refused"][fn["key"]] | info["unknown"].get(go_name, set())
            params = [n for n in fn["params"] if n not in xmm]
            results = [n for n in fn["results"] if n not in xmm]
            groups[-1].append({"function": go_name, "record": params + results})
            if xmm:
                refusals.append((fn, go_name, sorted(xmm)))
    parts = [[]]
    for g in groups:
        if len(parts[-1]) + len(g) > MAX_PROBES:
            parts.append([])
        parts[-1] += g
    out = []
    for i, part in enumerate(parts):
        out.append(({"version": 1, "name": f"{label} reads part {i}", "target": {"binary": binary, "timeout_ms": 60000},
                     "probes": part, "expect": {"exit_code": 0}}, {"kind": "read"}))
    for fn, go_name, xmm in refusals:
        out.append(({"version": 1, "name": f"{label} refuses {go_name}", "target": {"binary": binary, "timeout_ms": 60000},
                     "probes": [{"function": go_name, "record": xmm}], "expect": {"exit_code": 0}},
                    {"kind": "refusal", "key": fn["key"], "names": {n: refusal_reasons(fn, arch, n, info["delta"][go_name][0],
                                                                                    info["unknown"].get(fn["key"], set()) |
                                                                                    info["unknown"].get(go_name, set()))
                                                                    for n in xmm}}))
    return out


def writable(leaves, name):
    """The leaves of value `name` bpfault can be asked to set, with the assignment and the
    leaves it must change: [(target, json value, {leaf: (tag, text)})]. Array elements of a
    top-level array have no name."""
    out = []
    mine = {k: v for k, v in leaves.items() if k == name or k.startswith(name + ".") or k.startswith(name + "[")}
    for k, (tag, text) in mine.items():
        if k.startswith(name + "[") or ".first[" in k or k.endswith(".esize") or k.endswith(".bytes"):
            continue
        if tag == "i" and not k.endswith((".len", ".cap")):
            out.append((k, None, tag))
        elif tag in ("u", "b"):
            out.append((k, None, tag))
        elif tag == "p" and not k.endswith((".ptr", ".type", ".data")):
            out.append((k, None, "nil"))
        elif k.endswith(".len") and k[:-4] + ".bytes" in mine and int(text) > 0:
            out.append((k[:-4], None, "strlen"))
        elif k.endswith(".data") and k[:-5] + ".type" in mine:
            out.append((k[:-5], None, "nil-iface"))
        elif tag in ("f4", "f8"):
            out.append((k, None, "float"))
    return out


def choose_write(r, leaves, name, in_xmm):
    """A random write into value `name` given its printed leaves at the first call: (target,
    assignment, expected leaves {leaf: (tag, text)} or None for a refusal, refusal text).
    `in_xmm`: the value is in registers and holds a float, whose XMM register BPF cannot write."""
    options = writable(leaves, name)
    if not options:
        return None
    target, _, how = r.choice(options)
    if how == "i":
        v = r.choice([-100, -1, 0, 7, 99])
        return target, v, {target: ("i", str(v))}, None
    if how == "u":
        v = r.choice([0, 1, 77, 200])
        return target, v, {target: ("u", str(v))}, None
    if how == "b":
        v = r.choice([True, False])
        return target, v, {target: ("b", "true" if v else "false")}, None
    if how == "nil":
        return target, None, {target: ("p", "0x0")}, None
    if how == "nil-iface":
        return target, None, {target + ".type": ("p", "0x0"), target + ".data": ("p", "0x0")}, None
    if how == "strlen":  # shorter only: a longer length would read past the bytes
        n = int(leaves[target + ".len"][1])
        k = r.randint(0, n - 1)
        return target, {"len": k}, {target + ".len": ("i", str(k))}, None
    if how == "float":  # in memory (the 386 stack, a value on the stack) it is written as asked
        return (target, 1.5, None, "is passed in xmm") if in_xmm else (target, 1.5, {target: (leaves[target][0], "1.5")}, None)
    raise AssertionError(how)


def write_scenarios(r, manifest, arch, binary, info, reads_stdout, label, sample):
    """Scenarios that each set one random leaf of `sample` functions at their first call
    (arguments at the call, results at the RET), with what the program must then print."""
    lines = parse_lines(reads_stdout)
    probes, refusals = [], []
    fns = [fn for fn in manifest["functions"] if fn["kind"] != "generic"]  # one instance each
    for fn in r.sample(fns, min(sample, len(fns))):
        calls = lines.get(("CALL", fn["key"]), [])
        gots = lines.get(("GOT", fn["key"]), [])
        unplaced = info["unknown"].get(fn["key"], set())  # refused with "unknown", checked by the reads
        choices = [("set_args", n, calls[0]) for n in fn["params"] if calls and n not in unplaced] + \
                  [("set_results", n, gots[0]) for n in fn["results"] if gots and n not in unplaced]
        r.shuffle(choices)
        for what, name, leaves in choices:
            if fn.get("layout", {}).get(arch, {}).get(name, {}).get("opaque"):  # its array elements have no names
                leaves = {k: v for k, v in leaves.items() if "[" not in k}
            w = choose_write(r, leaves, name, arch == "amd64" and name in fn["xmm"])
            if not w:
                continue
            target, value, expect, refusal = w
            probe = {"function": fn["go"], what: {target: value}, "when": {"nth": 1}}
            check = {"key": fn["key"], "what": what, "target": target, "value": value, "expect": expect, "refusal": refusal}
            (refusals if refusal else probes).append((probe, check))
            break
    out = []
    for i, part in enumerate(chunks(probes, MAX_PROBES)):
        out.append(({"version": 1, "name": f"{label} writes part {i}", "target": {"binary": binary, "timeout_ms": 60000},
                     "probes": [p for p, _ in part], "expect": {"exit_code": 0}}, {"kind": "write", "checks": [c for _, c in part]}))
    for probe, check in refusals:
        out.append(({"version": 1, "name": f"{label} refuses {check['key']} {check['target']}", "target": {"binary": binary, "timeout_ms": 60000},
                     "probes": [probe], "expect": {"exit_code": 0}}, {"kind": "write-refusal", "checks": [check]}))
    return out


# ---- checking one record ----

class Report:
    def __init__(self, seed, count, out_dir):
        self.seed, self.count, self.out_dir = seed, count, out_dir
        self.mismatches = []
        self.values = self.calls = self.refusals = self.writes = self.locations = self.unknown = 0
        self.unreadable = []  # values whose bytes bpfault recorded as unreadable (not a mismatch)

    def mismatch(self, where, fn, what, expected, recorded, scenario):
        self.mismatches.append(dict(where=where, key=fn["key"] if fn else "", source=fn["source"] if fn else "", what=what,
                                    expected=expected, recorded=recorded, scenario=scenario))


def check_reads(rep, manifest, info, rec, scen_file, where):
    fns = {fn["key"]: fn for fn in manifest["functions"]}
    by_name = {go: key for key, gos in info["names"].items() for go in gos}
    if rec.get("status") != "passed" or "error" in rec:
        rep.mismatch(where, None, "the read scenario did not pass", "passed", {"status": rec.get("status"), "error": rec.get("error"),
                     "verdicts": [v for v in rec.get("verdicts", []) if not v.get("passed")]}, scen_file)
        return
    lines = parse_lines(rec["stdout"])
    hits = {}
    for p in rec["probes"]:
        key = by_name.get(p["function"])
        if key is None:
            continue
        hits.setdefault(key, []).extend(p["hits"])
    for key, hs in hits.items():
        fn = fns[key]
        hs.sort(key=lambda h: h["time_ns"])
        for site, what, names_ in (("call", "CALL", fn["params"]), ("ret", "RET", fn["results"])):
            seen = [h for h in hs if h["site"] == site]
            printed = lines.get((what, key), [])
            if what == "RET" and not names_:
                continue
            unplaced = set().union(*(info["unknown"].get(g, set()) for g in info["names"][key]))  # in some instance
            wanted = [n for n in names_ if n not in info["refused"][key] and n not in unplaced]
            if not wanted:
                continue  # nothing recorded at this site: no hits
            if len(seen) != len(printed):
                rep.mismatch(where, fn, f"{site} hits", f"{len(printed)} (the program's {what} lines)", len(seen), scen_file)
                continue
            for i, (h, leaves) in enumerate(zip(seen, printed)):
                rep.calls += site == "call"
                for n in wanted:
                    rep.values += 1
                    for leaf, exp, got in compare_value(n, leaves, h["values"].get(n), rep.unreadable):
                        rep.mismatch(where, fn, f"{site} {i + 1} {leaf}", exp, got, scen_file)


def error_texts(err):
    return [err.get("what", "")] + [a.get("what", "") for a in err.get("also", [])]


REASONS = {"xmm": "in xmm", "unknown": "is unknown", "stack": "beyond the 128 bytes of stack a probe copies", "opaque": "has no scalar pieces bpfault can decode"}


def refusal_reasons(fn, arch, name, delta, unplaced):
    """Why bpfault must refuse to record `name` (any of these: it names the first it finds)."""
    out = ["xmm"] if arch == "amd64" and name in fn["xmm"] else []
    if name in unplaced:
        out.append("unknown")
    if fn.get("layout", {}).get(arch, {}).get(name, {}).get("opaque"):
        out.append("opaque")
    if name in beyond_stack(fn, arch, delta, opaque=False):
        out.append("stack")
    return out


def check_refusal(rep, manifest, meta, rec, scen_file, where):
    fn = next(f for f in manifest["functions"] if f["key"] == meta["key"])
    texts = error_texts(rec.get("error") or {})
    rep.refusals += 1
    for n, reasons in meta["names"].items():
        # a blank or unnamed result recorded as r<i> is named as DWARF names it (~r<i>, ~b<i>)
        names = [n] + ([f"~r{n[1:]}", f"~b{n[1:]}"] if re.fullmatch(r"r\d+", n) else [])
        aliases = tuple(a + sep for a in names for sep in " .[")
        named = [t for t in texts if t.startswith(aliases) or any("the location of " + a in t for a in aliases)]
        if not any(REASONS[r] in t for t in named for r in reasons):
            rep.mismatch(where, fn, f"refusal of {n}", "refused: " + " or ".join(REASONS[r] for r in reasons), rec.get("error") or rec.get("status"),
                         scen_file)
    if len(texts) != len(meta["names"]):
        rep.mismatch(where, fn, "refusals", meta["names"], texts, scen_file)


def check_writes(rep, manifest, meta, rec, scen_file, where, reads_stdout):
    fns = {fn["key"]: fn for fn in manifest["functions"]}
    if meta["kind"] == "write-refusal":
        c = meta["checks"][0]
        texts = error_texts(rec.get("error") or {})
        rep.refusals += 1
        if rec.get("status") != "error" or not any(c["refusal"] in t for t in texts):
            rep.mismatch(where, fns[c["key"]], f"{c['what']} {c['target']}", f"refused: {c['refusal']}", rec.get("error") or rec.get("status"), scen_file)
        return
    if rec.get("status") != "passed" or "error" in rec:
        rep.mismatch(where, None, "the write scenario did not pass", "passed", {"status": rec.get("status"), "error": rec.get("error"),
                     "verdicts": [v for v in rec.get("verdicts", []) if not v.get("passed")]}, scen_file)
        return
    before, after = parse_lines(reads_stdout), parse_lines(rec["stdout"])
    injections = {p["function"]: p for p in rec["probes"]}
    for c in meta["checks"]:
        fn = fns[c["key"]]
        rep.writes += 1
        what = "CALL" if c["what"] == "set_args" else "GOT"
        old, new = before.get((what, c["key"]), []), after.get((what, c["key"]), [])
        if len(old) != len(new) or not new:
            rep.mismatch(where, fn, f"{c['what']} {c['target']}: {what} lines", len(old), len(new), scen_file)
            continue
        for i, (o, n) in enumerate(zip(old, new)):
            want = dict(o)
            if i == 0:
                want.update(c["expect"])
            for leaf, (tag, text) in want.items():
                if tag not in ("i", "u", "b") and (leaf not in c["expect"] or i > 0):
                    continue  # pointers and bytes differ between runs; integers and bools must not
                if leaf.startswith(c["target"] + ".") and leaf not in c["expect"] and i == 0:
                    continue  # the rest of a value set as a whole (a string's bytes after its length)
                if n.get(leaf) != (tag, text):
                    rep.mismatch(where, fn, f"{c['what']} {c['target']}={json.dumps(c['value'])}: call {i + 1} {leaf}",
                                 f"{tag}:{text}", n.get(leaf), scen_file)
        p = injections.get(fn["go"])
        if not p or p["injected"] != 1:
            rep.mismatch(where, fn, f"{c['what']} {c['target']}: injected calls", 1, p and p["injected"], scen_file)
            continue
        inj = [h["injection"] for h in p["hits"] if h.get("injection")]
        errs = [w for i in inj for w in i.get("writes", []) if w.get("error")]
        if errs:
            rep.mismatch(where, fn, f"{c['what']} {c['target']}: write errors", "none", errs, scen_file)


# ---- the campaign ----

def run_bpfault(bpfault, scenarios, record, vm, kernel=None, log=None):
    cmd = [bpfault, "run", "--json", record, f"--vm={vm}"] + ([f"--kernel={kernel}"] if kernel else []) + scenarios
    t = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if log:
        with open(log, "w") as f:
            f.write(" ".join(cmd) + "\n" + p.stdout + p.stderr)
    if not os.path.exists(record):
        sys.exit(f"bpfault wrote no record (exit {p.returncode}):\n{p.stdout[-3000:]}{p.stderr[-3000:]}")
    with open(record) as f:
        j = json.load(f)
    return j, time.monotonic() - t, p.returncode


def records_by_file(j):
    out = {}
    for r in j.get("scenarios", j if isinstance(j, list) else []):
        out[os.path.abspath(r["file"])] = r
    return out


def cache_root():
    """bpfault's cache, by the same rule as the tool (diag::cache_root) and ci/debian.sh."""
    if os.environ.get("BPFAULT_CACHE"):
        return os.environ["BPFAULT_CACHE"]
    if os.environ.get("XDG_CACHE_HOME"):
        return os.path.join(os.environ["XDG_CACHE_HOME"], "bpfault")
    return "/var/cache/bpfault" if os.geteuid() == 0 else os.path.expanduser("~/.cache/bpfault")


def campaign(args):
    cache = cache_root()
    out = os.path.abspath(args.out)
    pkg = os.path.join(out, f"seed-{args.seed}")
    if os.path.exists(pkg):
        shutil.rmtree(pkg)
    manifest = gen.write(args.seed, args.count, pkg)
    rep = Report(args.seed, args.count, pkg)
    r = random.Random(args.seed)
    plans = []  # (go, arch, binary, names)
    t0 = time.monotonic()
    for go in args.go:
        root = goroot(go, cache)
        for arch in args.arch:
            binary = os.path.join(pkg, "bin", f"go{go}-{arch}")
            build(pkg, root, arch, binary)
            listed = analysis(args.bpfault, binary)
            names = {fn["key"]: probe_names(listed, fn) for fn in manifest["functions"]}
            unknown = check_locations(rep, manifest, listed, arch, f"go{go} {arch}", binary)
            refused = {fn["key"]: set(fn["xmm"] if arch == "amd64" else []) | beyond_stack(fn, arch, listed.get(fn["go"], [0])[0]) |
                       unknown.get(fn["key"], set()) for fn in manifest["functions"]}
            for fn in manifest["functions"]:
                if not names[fn["key"]]:
                    rep.mismatch(f"go{go} {arch}", fn, "bpfault list", f"{fn['go']} listed as probe-able", "not listed", binary)
            plans.append((go, arch, binary, {"names": names, "refused": refused, "delta": listed, "unknown": unknown}))
    t_build = time.monotonic() - t0
    times = {"build": t_build}

    def emit(phase, batch):
        files = []
        for go, arch, binary, names, scen, meta in batch:
            d = os.path.join(pkg, "scenarios", phase)
            os.makedirs(d, exist_ok=True)
            f = os.path.join(d, f"go{go}-{arch}-{len(files):03d}.json")
            scen["target"]["binary"] = os.path.relpath(binary, d)
            with open(f, "w") as fh:
                json.dump(scen, fh, indent=1)
            files.append((f, go, arch, names, meta))
        return files

    # amd64 reads natively (this host reads); then one VM boot for the 386 reads (this host runs
    # no 32-bit executables) and every write, which are chosen from the amd64 run's first calls
    # (the same values: the generator keeps integers to 32 bits) and checked against the reads
    # of their own build
    if args.locations_only:
        return rep, times
    native = [p for p in plans if p[1] == "amd64" and not args.vm_all]
    guest = [p for p in plans if p not in native]
    reads = {}

    def check_all(files, recs):
        for f, go, arch, names, meta in files:
            rec = recs.get(os.path.abspath(f))
            where = f"go{go} {arch}"
            if rec is None:
                rep.mismatch(where, None, "no record for the scenario", "a record", None, f)
            elif meta["kind"] == "read":
                check_reads(rep, manifest, names, rec, f, where)
                reads.setdefault((go, arch), rec.get("stdout", ""))
            elif meta["kind"] == "refusal":
                check_refusal(rep, manifest, meta, rec, f, where)
        for f, go, arch, names, meta in files:
            rec = recs.get(os.path.abspath(f))
            if rec is not None and meta["kind"].startswith("write"):
                check_writes(rep, manifest, meta, rec, f, f"go{go} {arch}", reads.get((go, arch), ""))

    def read_batch(ps):
        return [(go, arch, binary, names, s, m) for go, arch, binary, names in ps
                for s, m in read_scenarios(manifest, arch, binary, names, f"seed {args.seed} go{go} {arch}")]

    if native:
        files = emit("native", read_batch(native))
        j, secs, _ = run_bpfault(args.bpfault, [f for f, *_ in files], os.path.join(pkg, "native.record.json"), "never",
                                 None, os.path.join(pkg, "native.log"))
        times["reads amd64 (native)"] = secs
        check_all(files, records_by_file(j))
    batch = read_batch(guest) if not args.no_vm else []
    if args.no_vm:
        args.writes = 0
    if args.writes:
        for go, arch, binary, names in plans:
            base = reads.get((go, "amd64"))
            if base is None:
                sys.exit("--writes chooses its writes from a native amd64 read run: add amd64 to --arch")
            batch += [(go, arch, binary, names, s, m) for s, m in
                      write_scenarios(r, manifest, arch, binary, names, base, f"seed {args.seed} go{go} {arch}", args.writes)]
    if batch:
        files = emit("vm", batch)
        # boots of at most VM_SCENARIOS scenarios: one boot of a long campaign outlasts the VM's watchdog
        recs, secs = {}, 0.0
        for i, part in enumerate(chunks(files, VM_SCENARIOS)):
            j, t, _ = run_bpfault(args.bpfault, [f for f, *_ in part], os.path.join(pkg, f"vm-{i}.record.json"), "always",
                                  args.kernel, os.path.join(pkg, f"vm-{i}.log"))
            recs.update(records_by_file(j))
            secs += t
        times["VM (386 reads, writes)"] = secs
        check_all(files, recs)
    return rep, times
