# shellcheck shell=bash
# shellcheck disable=SC2034 # DEPS_*: used by the scripts that source this
# Shared by scripts/run, scripts/test and scripts/bench: source it.
# Installs what is missing (Debian packages) and builds regionfs; have_kvm
# (scripts/kvm.sh) says whether /dev/kvm is usable.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# shellcheck source=scripts/kvm.sh
. "$ROOT/scripts/kvm.sh"

# Packages by what needs them; every script installs what it uses.
DEPS_BUILD="meson ninja-build pkg-config gcc libc6-dev libfuse3-dev scdoc"
DEPS_RUN="fuse3 xxd"
DEPS_TEST="libcmocka-dev python3 util-linux bubblewrap clang libclang-rt-dev rsync fio libtsan2 mandoc man-db systemd gdb binutils elfutils python3-prometheus-client"
DEPS_BENCH="fio"
DEPS_FRESH="debootstrap"
DEPS_KVMLAB="qemu-system-x86 linux-image-amd64 busybox-static cpio"

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "$*"; exit 1; }

# need_pkgs PKG...: apt-get install the ones dpkg does not know as installed.
need_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]} (run as root, or install them)"
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || die "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
}

# build DIR [MESON_ARGS...]: configure DIR once, then ninja.
build() {
	local dir=$1; shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$ROOT" "$@" >"$dir.setup.log" 2>&1 ||
			{ cat "$dir.setup.log" >&2; die "meson setup $dir failed"; }
	fi
	ninja -C "$dir" >"$dir.ninja.log" 2>&1 ||
		{ cat "$dir.ninja.log" >&2; die "build in $dir failed"; }
}
