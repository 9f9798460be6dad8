"""Generates a Go package of random function signatures for the differential ABI test.

Deterministic from a seed: the same (seed, count) always writes the same files. Each generated
function prints its arguments when called and its results before returning, and `main` prints
what each call returned, one canonical line each:

    CALL <key> <call#> <leaf>=<tag>:<value> ...   (arguments, after the prologue)
    RET  <key> <call#> <leaf>=...                 (results, in the callee before it returns)
    GOT  <key> <call#> <leaf>=...                 (results, as the caller received them)

A leaf is a parameter or result name followed by bpfault's piece path (`p3.F1.ptr`, `p0[2]`,
`o1.len`); the tag says how to compare: i signed, u unsigned, b bool, f4/f8 float, p a
pointer-sized word in hex, t text (an interface's `.dynamic_type`, as %T spells it), x bytes in hex (string contents, `.bytes`), and `.first[i]` are
slice elements (`.esize` z: their size). The manifest (manifest.json) names each function as Go does and lists its
values with the values the runner must expect bpfault to refuse (floats in XMM on amd64).
"""

import json
import random
import string

INT_TYPES = {  # name: (size, signed)
    "int8": (1, True), "int16": (2, True), "int32": (4, True), "int64": (8, True), "int": (8, True),
    "uint8": (1, False), "uint16": (2, False), "uint32": (4, False), "uint64": (8, False), "uint": (8, False),
    "uintptr": (8, False),
}
INT_REGS, FLOAT_REGS = 9, 15  # amd64 ABIInternal
INT_REG_NAMES = ["rax", "rbx", "rcx", "rdi", "rsi", "r8", "r9", "r10", "r11"]


class T:
    """A Go type: its spelling, how main writes a random value of it, how it prints."""

    def __init__(self, kind, go, **kw):
        self.kind, self.go = kind, go
        self.__dict__.update(kw)
        self.fid = None  # printer function name, set by Gen.printer

    # register needs in the amd64 ABI: (ints, floats, register_ok)
    def regs(self):
        k = self.kind
        if k in ("int", "bool", "ptr", "map", "chan", "func"):
            return 1, 0, True
        if k == "float":
            return 0, 1, True
        if k == "string" or k == "iface":
            return 2, 0, True
        if k == "slice":
            return 3, 0, True
        if k == "struct":
            i = f = 0
            ok = True
            for _, ft in self.fields:
                a, b, c = ft.regs()
                i, f, ok = i + a, f + b, ok and c
            return i, f, ok
        if k == "array":
            if self.n == 0:
                return 0, 0, True
            a, b, c = self.elem.regs()
            return a * self.n, b * self.n, c and self.n == 1
        raise AssertionError(k)

    def size_align(self, ptr):
        """Go's size and alignment of the type on a `ptr`-byte architecture."""
        k = self.kind
        if k == "int":
            size = ptr if self.go in ("int", "uint", "uintptr") else self.size
            return size, min(size, ptr)
        if k == "bool":
            return 1, 1
        if k == "float":
            size = 4 if self.go == "float32" else 8
            return size, min(size, ptr)
        if k in ("ptr", "map", "chan", "func"):
            return ptr, ptr
        if k in ("string", "iface"):
            return 2 * ptr, ptr
        if k == "slice":
            return 3 * ptr, ptr
        if k == "array":
            es, ea = self.elem.size_align(ptr)
            return es * self.n, ea
        if k == "struct":
            off, align = 0, 1
            for _, ft in self.fields:
                fs, fa = ft.size_align(ptr)
                off = -(-off // fa) * fa + fs
                align = max(align, fa)
            if self.fields and off > 0 and self.fields[-1][1].size_align(ptr)[0] == 0:
                off += 1  # a final zero-size field must not point past the struct
            return -(-off // align) * align, align
        raise AssertionError(k)

    def pieces(self, ptr, base=0):
        """[(offset, size, opaque)]: the scalar pieces bpfault decodes (harness/binary/go_type.cpp:
        an array of more than 16 pieces is one opaque piece)."""
        k = self.kind
        if k in ("string", "iface"):
            return [(base, ptr, False), (base + ptr, ptr, False)]
        if k == "slice":
            return [(base + i * ptr, ptr, False) for i in range(3)]
        if k == "struct":
            out, off = [], 0
            for _, ft in self.fields:
                fs, fa = ft.size_align(ptr)
                off = -(-off // fa) * fa
                out += ft.pieces(ptr, base + off)
                off += fs
            return out
        if k == "array":
            if self.n == 0:
                return []
            es = self.elem.size_align(ptr)[0]
            one = self.elem.pieces(ptr)
            if len(one) * self.n > 16:
                return [(base, es * self.n, True)]
            return [(base + i * es + o, s, q) for i in range(self.n) for o, s, q in one]
        return [(base, self.size_align(ptr)[0], False)]

    def reg_kinds(self):
        """The register classes of the type's pieces in order: "i" integer, "f" float."""
        k = self.kind
        if k == "float":
            return ["f"]
        if k in ("string", "iface"):
            return ["i", "i"]
        if k == "slice":
            return ["i", "i", "i"]
        if k == "struct":
            return [c for _, ft in self.fields for c in ft.reg_kinds()]
        if k == "array":
            return self.elem.reg_kinds() * self.n
        return ["i"]

    def has_float(self):
        if self.kind == "float":
            return True
        if self.kind == "struct":
            return any(ft.has_float() for _, ft in self.fields)
        if self.kind == "array":
            return self.n > 0 and self.elem.has_float()
        return False

    def zero_size(self):
        if self.kind == "struct":
            return all(ft.zero_size() for _, ft in self.fields)
        if self.kind == "array":
            return self.n == 0 or self.elem.zero_size()
        return False


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.structs = []  # named struct types, in declaration order
        self.printers = {}  # go spelling -> (fid, T)
        self.decls = []  # Go source of types, methods, printers
        self.funcs = []  # manifest entries

    # ---- types ----
    def scalar(self):
        r = self.r.random()
        if r < 0.55:
            name = self.r.choice(list(INT_TYPES))
            return T("int", name, size=INT_TYPES[name][0], signed=INT_TYPES[name][1])
        if r < 0.7:
            return T("bool", "bool")
        if r < 0.82:
            return T("float", self.r.choice(["float32", "float64"]))
        return T("string", "string")

    def typ(self, depth=0):
        r = self.r.random()
        if r < 0.45 or depth >= 3:
            return self.scalar()
        if r < 0.62:
            return self.struct(depth + 1)
        if r < 0.70:
            n = self.r.choice([0, 1, 1, 2, 3, 4])
            e = self.small(depth + 1)
            return T("array", f"[{n}]{e.go}", n=n, elem=e)
        if r < 0.77:
            e = T("int", n := self.r.choice(["int32", "uint8", "int64", "int16"]), size=INT_TYPES[n][0], signed=INT_TYPES[n][1])
            return T("slice", "[]" + e.go, elem=e)
        if r < 0.83:
            target = self.r.choice([self.scalar(), None])
            if target is None:
                target = self.struct(depth + 1)
            return T("ptr", "*" + target.go, target=target)
        if r < 0.87:
            return T("map", "map[string]int")
        if r < 0.90:
            return T("chan", "chan int")
        if r < 0.93:
            return T("func", "func() int")
        if r < 0.97:
            return T("iface", "any")
        return T("iface", "fmt.Stringer")

    def small(self, depth):  # an array element: a scalar or a small struct
        return self.struct(depth) if self.r.random() < 0.3 and depth < 3 else self.scalar()

    def struct(self, depth):
        fields = []
        for i in range(self.r.randint(0, 4)):
            if self.r.random() < 0.12:
                ft = T("struct", "struct{}", fields=[], name=None)
            else:
                ft = self.typ(depth)
            fields.append((f"F{i}", ft))
        name = f"S{len(self.structs)}"
        t = T("struct", name, fields=fields, name=name)
        self.structs.append(t)
        body = "; ".join(f"{fn} {ft.go}" for fn, ft in fields)
        self.decls.append(f"type {name} struct{{ {body} }}")
        return t

    # ---- printing (Go source) ----
    def printer(self, t):
        """The name of a Go function `func(l *line, path string, v T)` printing v's leaves."""
        if t.go in self.printers:
            return self.printers[t.go][0]
        fid = f"pr{len(self.printers)}"
        self.printers[t.go] = (fid, t)
        k = t.kind
        if k == "int":
            body = f'l.{"i" if t.signed else "u"}(path, {"int64" if t.signed else "uint64"}(v))'
        elif k == "bool":
            body = "l.b(path, v)"
        elif k == "float":
            body = f'l.f(path, float64(v), {32 if t.go == "float32" else 64})'
        elif k == "string":
            body = 'l.p(path+".ptr", sptr(v)); l.i(path+".len", int64(len(v))); l.x(path+".bytes", []byte(v))'
        elif k == "slice":
            ep = self.printer(t.elem)
            body = (f'l.p(path+".ptr", slptr(v)); l.i(path+".len", int64(len(v))); l.i(path+".cap", int64(cap(v)))\n'
                    f'\tl.kv(path+".esize", "z"); l.buf = strconv.AppendInt(l.buf, int64(unsafe.Sizeof(v[0])), 10)\n'
                    f'\tfor i, e := range v {{ {ep}(l, path+".first["+strconv.Itoa(i)+"]", e) }}')
        elif k in ("ptr", "map", "chan", "func"):
            body = "l.p(path, word(v))"
        elif k == "iface":
            # and, for a whole argument or result, its dynamic type as %T spells it, which
            # bpfault names from the type word (not inside a struct or an array)
            body = ('w := iface(v); l.p(path+".type", w[0]); l.p(path+".data", w[1]); '
                    'if w[0] != 0 && whole(path) { l.t(path+".dynamic_type", fmt.Sprintf("%T", v)) }')
        elif k == "struct":
            body = "; ".join(f'{self.printer(ft)}(l, path+".{fn}", v.{fn})' for fn, ft in t.fields) or "_ = v"
        elif k == "array":
            ep = self.printer(t.elem)
            body = f'for i := range v {{ {ep}(l, path+"["+strconv.Itoa(i)+"]", v[i]) }}' if t.n else "_ = v"
        else:
            raise AssertionError(k)
        self.decls.append(f"func {fid}(l *line, path string, v {t.go}) {{\n\t{body}\n}}")
        return fid

    # ---- random values (Go literals) ----
    def value(self, t, depth=0):
        r = self.r
        k = t.kind
        if k == "int":
            bits = 8 * t.size if t.go not in ("int", "uint", "uintptr") else 32  # 32 bits on 386
            if t.signed:
                lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
            else:
                lo, hi = 0, (1 << bits) - 1
            v = r.choice([lo, hi, 0, 1, -1 if t.signed else 2, r.randint(lo, hi), r.randint(-100 if t.signed else 0, 100)])
            return f"{t.go}({v})"
        if k == "bool":
            return r.choice(["true", "false"])
        if k == "float":
            v = r.choice([0.0, 1.5, -2.25, 1e10, -3.0e-5, r.randint(-1000, 1000) / 8.0, float(r.randint(-(1 << 20), 1 << 20))])
            return f"{t.go}({v!r})"
        if k == "string":
            n = r.choice([0, 1, 3, 8, 17, 40, 63, 64, 65, 100])
            s = "".join(r.choice(string.ascii_letters + string.digits + "-_.:/") for _ in range(n))
            return json.dumps(s)
        if k == "slice":
            n = r.choice([0, 1, 2, 5, 9, 20])
            elems = ", ".join(self.value(t.elem) for _ in range(n))
            extra = r.choice([0, 0, 3])
            if n == 0 and r.random() < 0.5:
                return f"{t.go}(nil)"
            return f"escape(append(make({t.go}, 0, {n + extra}), {elems}))" if elems else f"escape(make({t.go}, 0, {extra}))"
        if k == "ptr":
            if r.random() < 0.2:
                return f"({t.go})(nil)"
            return f"escape(&[]{t.target.go}{{{self.value(t.target, depth + 1)}}}[0])"
        if k == "map":
            return r.choice(["map[string]int(nil)", 'escape(map[string]int{"k": 1})', "escape(make(map[string]int))"])
        if k == "chan":
            return r.choice(["(chan int)(nil)", "make(chan int)", "make(chan int, 3)"])
        if k == "func":
            return r.choice(["(func() int)(nil)", "fortyTwo", f"func() int {{ return {r.randint(0, 9)} }}"])
        if k == "iface":
            if t.go == "any":
                return r.choice(["any(nil)", f"escape(any({r.randint(0, 999)}))", 'any("iface")', "escape(any(Str(7)))",
                                 "any(&counter)"])
            return r.choice(["fmt.Stringer(nil)", f"escape(fmt.Stringer(Str({r.randint(0, 99)})))", "fmt.Stringer(&strPtr)"])
        if k == "struct":
            return t.go + "{" + ", ".join(f"{fn}: {self.value(ft, depth + 1)}" for fn, ft in t.fields) + "}"
        if k == "array":
            return t.go + "{" + ", ".join(self.value(t.elem, depth + 1) for _ in range(t.n)) + "}"
        raise AssertionError(k)

    # ---- functions ----
    def signature(self, nparams, floats=True):
        return [self.typ_where(lambda t: floats or not t.has_float()) for _ in range(nparams)]

    def typ_where(self, ok):
        while True:
            t = self.typ()
            if ok(t):
                return t

    def function(self, idx):
        r = self.r
        shape = r.random()
        # generic functions get no floats at all: which of their values go in XMM would depend
        # on the instance, and the manifest states refusals per function
        floats = not (0.3 <= shape < 0.42)
        many = r.random() < 0.12  # more arguments than registers
        nparams = r.randint(10, 16) if many else r.randint(0, 6)
        params = [(f"p{i}", t) for i, t in enumerate(self.signature(nparams, floats))]
        if many:  # mostly integers, so the register sequence really runs out
            params = [(n, T("int", "int", size=8, signed=True) if r.random() < 0.6 else t) for n, t in params]
        # a blank parameter: takes its place in the ABI sequence, is neither printed nor recorded
        if params and r.random() < 0.1:
            i = r.randrange(len(params))
            params[i] = ("_", params[i][1])
        variadic = r.random() < 0.1
        if variadic:
            e = T("int", "int32", size=4, signed=True)
            params.append((f"p{len(params)}", T("slice", "[]int32", elem=e, variadic=True)))
        nres = r.choice([0, 1, 1, 2, 2, 3, 4])
        results = self.signature(nres, floats)
        named = r.random() < 0.5
        rnames = []
        for i in range(nres):
            rnames.append(("_" if r.random() < 0.25 else f"o{i}") if named else None)
        kind = "func"
        recv = None
        tparams = []
        if shape < 0.15:
            kind = "value_method"
        elif shape < 0.3:
            kind = "pointer_method"
        elif not floats and not variadic:
            kind = "generic"
        key = f"F{idx}"
        if kind in ("value_method", "pointer_method"):
            st = self.struct(1)
            recv = ("rv", st if kind == "value_method" else T("ptr", "*" + st.go, target=st))
            key = f"{st.name}.M{idx}"
        if kind == "generic":
            ntp = r.choice([1, 2])
            tparams = [f"T{j}" for j in range(ntp)]
            # each type parameter is used by one argument and maybe the first result
            gp = [(f"g{j}", tp) for j, tp in enumerate(tparams)]
            insts = []
            for _ in range(r.randint(2, 3)):
                insts.append([self.typ_where(lambda t: not t.has_float() and t.kind != "iface") for _ in tparams])
            params = gp + params
            if results and r.random() < 0.6:
                results[0] = "T0"
            # which values of an instance bpfault must refuse (beyond the stack a probe copies)
            # would depend on the instance, and the runner merges the instances' calls: keep
            # every instance's values well inside that stack instead
            for inst in insts:
                concrete = dict(params=[("_dict", T("ptr", "unsafe.Pointer"))] + [(n, inst[int(t[1:])] if isinstance(t, str) else t)
                                                                                for n, t in params],
                                results=[inst[0] if isinstance(t, str) else t for t in results], recv=None,
                                rnames=rnames)
                for arch, ptr in (("amd64", 8), ("386", 4)):
                    lay = stack_layout(concrete, arch)
                    if any(e["opaque"] or (e["end"] or 0) + ptr + lay["__args_size"] > 112
                           for n, e in lay.items() if not n.startswith("__")):
                        return self.function(idx)
        return dict(key=key, idx=idx, kind=kind, params=params, results=results, rnames=rnames, recv=recv,
                    tparams=tparams, insts=insts if kind == "generic" else None, variadic=variadic)


def go_source(g, fn):
    """The Go declaration of one generated function."""
    idx = fn["idx"]
    tp = fn["tparams"]

    def tname(t):
        return t if isinstance(t, str) else t.go

    def params_src():
        out = []
        for i, (n, t) in enumerate(fn["params"]):
            if getattr(t, "variadic", False) if not isinstance(t, str) else False:
                out.append(f"{n} ...{t.elem.go}")
            else:
                out.append(f"{n} {tname(t)}")
        return ", ".join(out)

    res = fn["results"]
    if fn["rnames"] and fn["rnames"][0] is not None:
        rs = "(" + ", ".join(f"{n} {tname(t)}" for n, t in zip(fn["rnames"], res)) + ")"
    elif len(res) == 1:
        rs = tname(res[0])
    elif res:
        rs = "(" + ", ".join(tname(t) for t in res) + ")"
    else:
        rs = ""
    name = f"F{idx}"
    recv = ""
    if fn["kind"] == "generic":
        name += "[" + ", ".join(f"{t} any" for t in tp) + "]"
    if fn["recv"]:
        recv = f"({fn['recv'][0]} {fn['recv'][1].go}) "
        name = f"M{idx}"
    lines = [f"//go:noinline", f"func {recv}{name}({params_src()}) {rs} {{"]
    lines.append(f"\tc{idx}++")
    lines.append(f"\tn := c{idx}")
    lines.append(f'\tl := start("CALL", "{fn["key"]}", n)')
    values = ([fn["recv"]] if fn["recv"] else []) + fn["params"]
    for n, t in values:
        if n == "_":
            continue
        if isinstance(t, str):
            lines.append(f'\tpv(l, "{n}", {n})')
        else:
            lines.append(f'\t{g.printer(t)}(l, "{n}", {n})')
    lines.append("\tl.end()")
    # results: the first result of the parameter's type when there is one, else a constant
    rvals = []
    for i, t in enumerate(res):
        if isinstance(t, str):
            rvals.append("g0")
            continue
        same = [n for n, pt in values if n != "_" and not isinstance(pt, str) and pt.go == t.go]
        rvals.append(g.r.choice(same) if same and g.r.random() < 0.7 else g.value(t))
    for i, (t, v) in enumerate(zip(res, rvals)):
        lines.append(f"\tv{i} := {v}")
    if res:
        lines.append(f'\tl = start("RET", "{fn["key"]}", n)')
        for i, t in enumerate(res):
            rn = result_name(fn, i)
            lines.append(f'\t{"pv" if isinstance(t, str) else g.printer(t)}(l, "{rn}", v{i})')
        lines.append("\tl.end()")
        lines.append("\treturn " + ", ".join(f"v{i}" for i in range(len(res))))
    lines.append("}")
    return "\n".join(lines)


def result_name(fn, i):
    """The name bpfault records a result by: its Go name, or r<i> when unnamed or blank."""
    n = fn["rnames"][i] if fn["rnames"] else None
    return n if n and n != "_" else f"r{i}"


def call_src(g, fn, inst=None):
    """One call of fn from main, with random arguments, printing what it returned."""
    idx = fn["idx"]
    args = []
    for n, t in fn["params"]:
        if isinstance(t, str):
            t = inst[int(t[1:])]
        if getattr(t, "variadic", False):
            args.extend(g.value(t.elem) for _ in range(g.r.choice([0, 1, 3])))
        else:
            args.append(g.value(t))
    res = fn["results"]
    lhs = ", ".join(f"r{i}" for i in range(len(res)))
    callee = f"F{idx}"
    if fn["kind"] == "generic":
        callee += "[" + ", ".join(t.go for t in inst) + "]"
    if fn["recv"]:
        rt = fn["recv"][1]
        st = rt.target if rt.kind == "ptr" else rt
        recv = f"escape(&[]{st.go}{{{g.value(st)}}}[0])" if rt.kind == "ptr" else f"{st.go}({g.value(st)})"
        callee = f"({recv}).M{idx}"
    call = f"{callee}({', '.join(args)})"
    if not res:
        return f"\t{call}"
    out = [f"\t{{", f"\t\t{lhs} := {call}", f'\t\tl := start("GOT", "{fn["key"]}", c{idx})']
    for i, t in enumerate(res):
        rt = inst[0] if isinstance(t, str) else t
        out.append(f'\t\t{g.printer(rt)}(l, "{result_name(fn, i)}", r{i})')
    out.append("\t\tl.end()")
    out.append("\t}")
    return "\n".join(out)


PRELUDE = '''// Code generated by fuzz/abi/gen.py (seed %(seed)d, %(count)d functions). DO NOT EDIT.
package main

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"unsafe"
)

var _ = fmt.Sprint

// One canonical line per call: "CALL key n leaf=tag:value ...".
type line struct{ buf []byte }

func start(what, key string, n int) *line {
	l := &line{}
	l.buf = append(l.buf, what...)
	l.buf = append(l.buf, ' ')
	l.buf = append(l.buf, key...)
	l.buf = append(l.buf, ' ')
	l.buf = strconv.AppendInt(l.buf, int64(n), 10)
	return l
}
func (l *line) kv(k, tag string) { l.buf = append(l.buf, ' '); l.buf = append(l.buf, k...); l.buf = append(l.buf, '='); l.buf = append(l.buf, tag...); l.buf = append(l.buf, ':') }
func (l *line) i(k string, v int64)  { l.kv(k, "i"); l.buf = strconv.AppendInt(l.buf, v, 10) }
func (l *line) u(k string, v uint64) { l.kv(k, "u"); l.buf = strconv.AppendUint(l.buf, v, 10) }
func (l *line) b(k string, v bool)   { l.kv(k, "b"); l.buf = strconv.AppendBool(l.buf, v) }
func (l *line) f(k string, v float64, bits int) {
	l.kv(k, "f"+strconv.Itoa(bits/8))
	l.buf = strconv.AppendFloat(l.buf, v, 'g', -1, bits)
}
func whole(path string) bool {
	for i := 0; i < len(path); i++ {
		if path[i] == '.' || path[i] == '[' {
			return false
		}
	}
	return true
}
func (l *line) t(k, v string)       { l.kv(k, "t"); l.buf = append(l.buf, v...) } // no spaces: the iface values' types
func (l *line) p(k string, v uintptr) { l.kv(k, "p"); l.buf = append(l.buf, "0x"...); l.buf = strconv.AppendUint(l.buf, uint64(v), 16) }
func (l *line) x(k string, v []byte) {
	l.kv(k, "x")
	const hex = "0123456789abcdef"
	for _, c := range v {
		l.buf = append(l.buf, hex[c>>4], hex[c&15])
	}
}
func (l *line) end() { l.buf = append(l.buf, '\\n'); os.Stdout.Write(l.buf) }

func sptr(s string) uintptr { return (*reflect.StringHeader)(unsafe.Pointer(&s)).Data }
func slptr[E any](s []E) uintptr { return (*reflect.SliceHeader)(unsafe.Pointer(&s)).Data }
func word[W any](v W) uintptr   { return *(*uintptr)(unsafe.Pointer(&v)) }
func iface[I any](v I) [2]uintptr { return *(*[2]uintptr)(unsafe.Pointer(&v)) }

type Str int

func (s Str) String() string { return "Str" + strconv.Itoa(int(s)) }

var counter int
var strPtr Str

func fortyTwo() int { return 42 }

// escape puts what v points to on the heap (it escapes to sink): a pointer into the caller's
// stack moves when that stack grows, between the probe's read and the program's print (seed 510,
// Go 1.19 on 386: a *int8 read at the call as 0xb500c1f was printed as 0xb540c1f).
func escape[T any](v T) T { sink = v; return v }

var sink any
'''


def generate(seed, count):
    """(files: {name: text}, manifest: dict)"""
    g = Gen(seed)
    fns = [g.function(i) for i in range(count)]
    bodies = [go_source(g, fn) for fn in fns]
    calls = []
    for fn in fns:
        if fn["kind"] == "generic":
            for inst in fn["insts"]:
                for _ in range(g.r.randint(1, 2)):
                    calls.append(call_src(g, fn, inst))
        else:
            for _ in range(g.r.randint(2, 3)):
                calls.append(call_src(g, fn))
    # the generic printer: one case per type a type parameter is instantiated with
    seen, cases = set(), []
    for fn in fns:
        for inst in fn["insts"] or []:
            for t in inst:
                if t.go not in seen:
                    seen.add(t.go)
                    cases.append(f"\tcase {t.go}:\n\t\t{g.printer(t)}(l, path, x)")
    pv = "func pv(l *line, path string, v any) {\n\tswitch x := v.(type) {\n" + "\n".join(cases) + \
         '\n\tdefault:\n\t\tpanic(fmt.Sprintf("pv: no printer for %T", v))\n\t}\n}'
    # pv itself: an interface argument would lose a nil interface's identity, so generic
    # arguments of interface type are never generated
    counters = "var (\n" + "\n".join(f"\tc{fn['idx']} int" for fn in fns) + "\n)"
    src = [PRELUDE % {"seed": seed, "count": count}, counters, *g.decls, pv, *bodies,
           "func main() {\n" + "\n".join(calls) + '\n\tfmt.Println("DONE")\n}\n']
    files = {"go.mod": "module abi\n\ngo 1.19\n", "main.go": "\n\n".join(src)}
    manifest = {"seed": seed, "count": count, "functions": [manifest_entry(g, fn, body) for fn, body in zip(fns, bodies)]}
    return files, manifest


def manifest_entry(g, fn, body):
    """What the runner needs: the Go name (prefix for generics), each value's name, and the
    names of values whose floats the amd64 register ABI puts in XMM (bpfault must refuse those)."""
    idx = fn["idx"]
    if fn["recv"]:
        rt = fn["recv"][1]
        go_name = f"main.(*{rt.target.go}).M{idx}" if rt.kind == "ptr" else f"main.{rt.go}.M{idx}"
    else:
        go_name = f"main.F{idx}"
    values = ([fn["recv"]] if fn["recv"] else []) + fn["params"]
    params = [n for n, _ in values if n != "_"]
    results = [result_name(fn, i) for i in range(len(fn["results"]))]
    entry = {"key": fn["key"], "go": go_name, "kind": fn["kind"], "params": params, "results": results, "source": body,
             "blank": any(n == "_" for n, _ in values)}
    if fn["kind"] == "generic":
        entry["instances"] = [[t.go for t in inst] for inst in fn["insts"]]
    entry["xmm"] = sorted(xmm_values(fn)) if fn["kind"] != "generic" else []  # generics hold no floats
    if fn["kind"] != "generic":
        entry["layout"] = {arch: stack_layout(fn, arch) for arch in ("amd64", "386")}
    return entry


def stack_layout(fn, arch):
    """Where each value ends up, by the ABI alone: {name: {"end": bytes from the first stack
    argument (or from the first stack result) past the value's last piece's first 8 bytes, or
    None in registers; "opaque": it holds a piece bpfault cannot decode}}. The runner adds the
    SP offset of the first stack word at the probe point to decide what lies beyond the stack
    bytes a probe copies."""
    ptr = 8 if arch == "amd64" else 4
    out = {}

    def assign(named, offset):
        ints = floats = 0
        for n, t in named:
            size, align = t.size_align(ptr)
            pieces = t.pieces(ptr)
            entry = {"end": None, "start": None, "regs": None, "opaque": any(q for _, _, q in pieces)}
            if size == 0:
                offset = -(-offset // align) * align
            else:
                a, b, ok = t.regs()
                if arch == "amd64" and ok and ints + a <= INT_REGS and floats + b <= FLOAT_REGS:
                    entry["regs"] = []
                    for kind in t.reg_kinds():
                        if kind == "f":
                            entry["regs"].append(f"xmm{floats}")
                            floats += 1
                        else:
                            entry["regs"].append(INT_REG_NAMES[ints])
                            ints += 1
                else:
                    offset = -(-offset // align) * align
                    entry["start"] = offset
                    entry["end"] = max(offset + o + min(s, 8) for o, s, _ in pieces)
                    offset += size
            if n != "_":
                out[n] = entry
        return offset

    end = assign(([fn["recv"]] if fn["recv"] else []) + fn["params"], 0)
    assign([(result_name(fn, i), t) for i, t in enumerate(fn["results"])], 0)
    out["__args_size"] = -(-end // ptr) * ptr
    return out


def xmm_values(fn):
    """Names of the values that the amd64 register ABI assigns to registers and that hold a
    float: src/cmd/compile/abi-internal.md, each value wholly in registers or wholly on the stack."""
    out = []

    def assign(named):
        ints = floats = 0
        for n, t in named:
            if t.zero_size():
                continue
            a, b, ok = t.regs()
            if ok and ints + a <= INT_REGS and floats + b <= FLOAT_REGS:
                ints, floats = ints + a, floats + b
                if t.has_float() and n != "_":
                    out.append(n)

    assign(([fn["recv"]] if fn["recv"] else []) + fn["params"])
    assign([(result_name(fn, i), t) for i, t in enumerate(fn["results"])])
    return out


def write(seed, count, out_dir):
    import os
    files, manifest = generate(seed, count)
    os.makedirs(out_dir, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(text)
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


if __name__ == "__main__":
    import sys
    write(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
