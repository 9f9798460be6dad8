#!/usr/bin/env bash
# tests/install/downstream.sh BUILD SOURCE: `cmake --install` into a fresh prefix, then the
# project in tests/install/downstream uses it through find_package(bpfault) and
# bpfault_add_scenarios(); its ctest run must pass, fail and skip exactly the expected tests,
# and the two write scenarios of writes/ must have run in one VM boot (or natively, where this
# kernel has register writes).
set -euo pipefail
build=$1 src=$2
[ "$(id -u)" = 0 ] || { echo "skipped: loading BPF programs needs root"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
for f in bin/bpfault libexec/bpfault/kernels libexec/bpfault/go-toolchain libexec/bpfault/debian.sh \
	share/bpfault/scenario-v1.schema.json lib/cmake/bpfault/bpfaultConfig.cmake \
	lib/cmake/bpfault/bpfault_add_scenarios.cmake share/doc/bpfault/README.md; do
	[ -e "$tmp/prefix/$f" ] || fail "cmake --install did not install $f"
done

cmake -S "$src/tests/install/downstream" -B "$tmp/down" -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/configure.log" 2>&1 ||
	{ cat "$tmp/configure.log"; fail "the downstream project does not configure"; }
ctest --test-dir "$tmp/down" -N >"$tmp/list.txt"
grep -q 'native/names' "$tmp/list.txt" && fail "a data file (no \"version\") was registered as a scenario"
ctest --test-dir "$tmp/down" --output-junit "$tmp/junit.xml" --output-on-failure >"$tmp/ctest.log" 2>&1 || true
cat "$tmp/ctest.log"
[ -e "$tmp/prefix/bin/fixtures-build" ] && fail "a fixture was built next to the installed executable"

# write scenarios: natively skipped unless this kernel has register writes (bpfault caps)
native_write=notrun  # ctest's JUnit status of a skipped test
"$tmp/prefix/bin/bpfault" caps --json | python3 -c 'import json,sys
c={x["name"]:x["available"] for x in json.load(sys.stdin)["caps"]}
sys.exit(0 if c.get("write_regs") else 1)' && native_write=run
expected="native/run=run native/pass=run native/fail=fail native/write=$native_write writes/run=run writes/three=run writes/four=run"
actual=$(python3 - "$tmp/junit.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    print(f'{case.get("name")}={case.get("status")}')
PY
)
for want in $expected; do
	grep -qx "$want" <<<"$actual" || fail "expected $want; ctest's JUnit says: $(echo $actual)"
done
[ "$(wc -l <<<"$actual")" = 7 ] || fail "expected 7 tests, got: $(echo $actual)"
# one boot for writes/: its run printed one suite header for both scenarios
if [ $native_write = notrun ]; then
	python3 - "$tmp/down/bpfault-writes.json" <<'PY' || fail "writes/ did not run both scenarios in the VM"
import json, sys
r = json.load(open(sys.argv[1]))
where = [s["where"] for s in r["scenarios"]]
assert len(where) == 2 and all(w.startswith("vm") for w in where), where
PY
fi
echo "downstream project: $(echo $actual)"
