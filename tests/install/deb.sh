#!/usr/bin/env bash
# tests/install/deb.sh BUILD SOURCE OUTDIR: the .deb that ci/package makes (CPack on the build
# tree) declares its dependencies, holds the installed layout, and, installed, runs a scenario
# from another folder with a fresh user's cache (nothing compiled in points at the source tree).
set -euo pipefail
build=$1 src=$2 out=$3
[ "$(id -u)" = 0 ] || { echo "skipped: installing a package and loading BPF programs need root"; exit 77; }
tmp=$(mktemp -d)
fail() { echo "FAIL: $*" >&2; exit 1; }
cpack --config "$build/CPackConfig.cmake" -B "$out" >"$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log"; fail "cpack failed"; }
deb=$(ls -t "$out"/bpfault_*.deb | head -1)
echo "package: $deb"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libbpf1 libdw1 libelf1 golang-go; do
	grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/bpfault ./usr/libexec/bpfault/kernels ./usr/lib/cmake/bpfault/bpfaultConfig.cmake \
	./usr/share/bpfault/scenario-v1.schema.json; do
	grep -q " $f\$" <<<"$contents" || fail "the package lacks $f"
done

# Installed for real when no bpfault package is installed here (and removed afterwards);
# otherwise unpacked into a folder, which runs the same files.
installed=""
if ! dpkg-query -W bpfault >/dev/null 2>&1; then
	dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "dpkg -i failed"; }
	installed=1 exe=/usr/bin/bpfault
else
	dpkg-deb -x "$deb" "$tmp/root"
	exe=$tmp/root/usr/bin/bpfault
fi
trap '[ -n "$installed" ] && dpkg -r bpfault >/dev/null 2>&1; rm -rf "$tmp"' EXIT

mkdir -p "$tmp/xdg" "$tmp/elsewhere"
cd "$tmp/elsewhere"
run() { env -u BPFAULT_CACHE -u BPFAULT_FIXTURE_CACHE XDG_CACHE_HOME="$tmp/xdg" "$@"; }
run "$exe" --version
run "$exe" setup --go 1.19 >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; fail "bpfault setup --go 1.19 failed"; }
grep -q "cache: $tmp/xdg/bpfault" "$tmp/setup.log" || fail "setup did not name the user's cache: $(cat "$tmp/setup.log")"
run "$exe" run "$src/tests/install/downstream/scenarios/pass.json" || fail "the installed bpfault did not pass a scenario"
ls "$tmp/xdg/bpfault/fixtures/" | grep -q '^greet' || fail "the fixture was not built in the user's cache"
echo "the package installs and runs a scenario from another folder"
