# shellcheck shell=bash
# Source it first (instead of lib.sh) in a test of regionfs as `meson
# install` puts it: the test runs in a private mount namespace of its own,
# where the build is installed with --destdir into its work directory and
# that tree is bound over the prefix (/usr/local).  So mount(8), whose
# helper mount.fuse3 runs `regionfs` from the standard PATH only, systemd's
# tools and man see the installed files, and nothing on the host changes.
#
# Environment: BUILD_ROOT (the build to install), REGIONFS (the built
# binary, for lib.sh), MAN (the built man page; empty without scdoc).
# Sets PREFIX and DEST (the destdir), and puts PREFIX/bin first on PATH.

if [ -z "${REGIONFS_INSTALLED_NS:-}" ]; then
	if [ "$(id -u)" != 0 ]; then
		printf 'skip: not root (the test mounts in a private mount namespace)\n'
		exit 77
	fi
	command -v unshare >/dev/null || { printf 'skip: unshare (util-linux) missing\n'; exit 77; }
	REGIONFS_INSTALLED_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi

# shellcheck source=tests/it/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${BUILD_ROOT:?BUILD_ROOT must name the build directory}"
command -v meson >/dev/null || skip "meson missing"
PREFIX=$(meson introspect --buildoptions "$BUILD_ROOT" |
	py -c 'import json, sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')
# Binding the installed tree over /usr would hide the system's own tools.
[ "$PREFIX" = /usr/local ] || skip "prefix $PREFIX: these tests bind the installed tree over /usr/local only"

DEST=$WORK/dest
meson install -C "$BUILD_ROOT" --no-rebuild --quiet --destdir "$DEST" \
	>"$WORK/install.log" 2>&1 || { cat "$WORK/install.log" >&2; fail "meson install --destdir failed"; }
mount --bind "$DEST$PREFIX" "$PREFIX" || fail "cannot bind $DEST$PREFIX over $PREFIX"
export PATH=$PREFIX/bin:$PATH
# What the daemon tests start is the installed binary.
# shellcheck disable=SC2034  # lib.sh's start_daemon uses it
REGIONFS=$PREFIX/bin/regionfs
