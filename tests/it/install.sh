#!/bin/bash
# meson install --destdir: exactly the expected files, in the usual
# places under the prefix, and each usable where it lands: the binary on
# PATH, the man page found by man, the unit pointing at the binary.
# shellcheck source=tests/it/installed.sh
. "$(dirname "$0")/installed.sh"

# What meson install must put in place, relative to the prefix.
want=(
	bin/regionfs
	lib/systemd/system/regionfs@.service
	share/doc/regionfs/example.conf
)
if [ -n "${MAN:-}" ]; then
	want+=(share/man/man8/regionfs.8)
else
	skip_part "man page" "scdoc was missing at meson setup: no man page to install"
fi
got=$(cd "$DEST$PREFIX" && find . ! -type d | sed 's|^\./||' | sort | tr '\n' ' ')
expect_eq "files installed under $PREFIX" "$got" "$(printf '%s\n' "${want[@]}" | sort | tr '\n' ' ')"
other=$(cd "$DEST" && find . ! -type d ! -path ".$PREFIX/*" | head -n 5)
[ -z "$other" ] || bad "meson install wrote outside $PREFIX: $other"

[ -x "$PREFIX/bin/regionfs" ] || bad "$PREFIX/bin/regionfs is not executable"
# The PATH that mount.fuse3's /bin/sh has: dash's default, mount clears ours.
expect_eq "regionfs found by a shell with the default PATH" \
	"$(env -i /bin/sh -c 'command -v regionfs')" "$PREFIX/bin/regionfs"
[[ $(regionfs --version) == "regionfs "* ]] || bad "regionfs --version: $(regionfs --version 2>&1)"

unit=$PREFIX/lib/systemd/system/regionfs@.service
grep -qx "ExecStart=$PREFIX/bin/regionfs .*" "$unit" ||
	bad "the unit does not start $PREFIX/bin/regionfs: $(grep '^ExecStart=' "$unit")"

if [ -n "${MAN:-}" ] && command -v man >/dev/null; then
	expect_eq "man -w regionfs" "$(env -i PATH=/usr/local/bin:/usr/bin:/bin man -w regionfs 2>&1)" \
		"$PREFIX/share/man/man8/regionfs.8"
	man_text=$(env -i PATH=/usr/local/bin:/usr/bin:/bin MANWIDTH=80 man regionfs 2>/dev/null | col -b)
	grep -q '^ *regionfs - a KVM sandbox' <<<"$man_text" || bad "man regionfs does not render the page"
fi

# The example configuration is one regionfs accepts as it is.
if have_kvm; then
	start_daemon -o "conf=$PREFIX/share/doc/regionfs/example.conf"
	expect_eq "regions of example.conf" "$(ls_regions)" "ram scratch "
	expect_eq "ram's guest address" "$(attr ram guest_addr)" 0x100000
	stop_daemon
else
	skip_part "example.conf" "/dev/kvm missing: example.conf (which maps a region) not started"
fi
finish
