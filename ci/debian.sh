# Debian package helpers for bpfault's scripts (sourced, not run).
#
# The system's apt sources are never edited: suites other than the system's
# are reached through project-local apt configurations under $BPFAULT_CACHE/apt.
#   install: bookworm + bookworm-backports, for packages installed on the host
#   archive: trixie, trixie-backports, sid, only ever downloaded and unpacked
#            (Go toolchains, kernels), never installed.

BPFAULT_ROOT=${BPFAULT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# The same cache as bpfault's own (diag::cache_root()): the scripts and the tool share it.
if [ -z "${BPFAULT_CACHE:-}" ]; then
	if [ -n "${XDG_CACHE_HOME:-}" ]; then BPFAULT_CACHE=$XDG_CACHE_HOME/bpfault
	elif [ "$(id -u)" = 0 ]; then BPFAULT_CACHE=/var/cache/bpfault
	else BPFAULT_CACHE=$HOME/.cache/bpfault
	fi
fi

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"
	elif command -v sudo >/dev/null; then sudo "$@"
	else die "need root to run: $* (run as root or install sudo)"
	fi
}

# apt_config NAME SUITE... -> prints the apt options of a private configuration
# reaching SUITE... (main), refreshing its package lists once a day.
apt_config() {
	local name=$1; shift
	local dir=$BPFAULT_CACHE/apt/$name
	mkdir -p "$dir/parts" "$dir/lists/partial" "$dir/archives/partial"
	local sources="Types: deb
URIs: http://deb.debian.org/debian
Suites: $*
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
	[ "$(cat "$dir/parts/bpfault.sources" 2>/dev/null)" = "$sources" ] ||
		{ printf '%s\n' "$sources" >"$dir/parts/bpfault.sources"; rm -f "$dir/updated"; }
	local opts="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$dir/parts"
	opts+=" -o Dir::State::Lists=$dir/lists -o Dir::Cache::Archives=$dir/archives"
	opts+=" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o Debug::NoLocking=1 -o APT::Sandbox::User=root"
	if [ -z "$(find "$dir/updated" -mmin -1440 2>/dev/null)" ]; then
		say "refreshing package lists for $*"
		# shellcheck disable=SC2086
		apt-get $opts -qq update >&2 || die "apt-get update failed for $* (network or mirror down?)"
		touch "$dir/updated"
	fi
	echo "$opts"
}

# apt_depends OPTS PACKAGE[/SUITE] REGEX -> the first dependency of PACKAGE matching REGEX
# (resolves a metapackage such as golang-go or linux-image-cloud-amd64 at run time).
apt_depends() {
	# shellcheck disable=SC2086
	apt-cache $1 depends "$2" 2>/dev/null | awk -v re="$3" '$1 ~ /Depends:/ && $2 ~ re { print $2; exit }'
}

# apt_version OPTS PACKAGE/SUITE -> candidate version in that suite, or nothing
apt_version() {
	# shellcheck disable=SC2086
	apt-cache $1 show "$2" 2>/dev/null | awk '/^Version:/ { print $2; exit }'
}

# apt_unpack OPTS DEST PACKAGE[/SUITE]... -> downloads the packages and unpacks them into DEST
apt_unpack() {
	local opts=$1 dest=$2; shift 2
	local tmp; tmp=$(mktemp -d)
	# shellcheck disable=SC2086
	(cd "$tmp" && apt-get $opts -qq download "$@" >&2) || { rm -rf "$tmp"; die "apt-get download $* failed"; }
	mkdir -p "$dest"
	for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dest"; done
	rm -rf "$tmp"
}
