#!/bin/bash
# systemd-analyze verify accepts regionfs@.service as installed (its
# ExecStart= binary and its man: documentation are found), and it names
# the options file and the mountpoint the man page promises.  No running
# systemd is needed.  The offline security score is printed, for the log.
# shellcheck source=tests/it/installed.sh
. "$(dirname "$0")/installed.sh"

command -v systemd-analyze >/dev/null || skip "systemd-analyze missing (Debian: systemd)"
UNIT=$PREFIX/lib/systemd/system/regionfs@.service
[ -f "$UNIT" ] || fail "$UNIT not installed"

# Documentation=man:regionfs(8) is checked with man: without the page
# (no scdoc at build time), verify would fail for that alone.
man_check=yes
if [ -z "${MAN:-}" ]; then
	man_check=no
	skip_part "man page in systemd-analyze verify" "no man page was built (scdoc missing): verify --man=no"
fi
for u in "$UNIT" "$(dirname "$UNIT")/regionfs@lab.service"; do
	rc=0
	out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man="$man_check" "$u" 2>&1) || rc=$?
	if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
		bad "systemd-analyze verify $(basename "$u"): exit $rc: $out"
	fi
done

grep -qx 'ExecStart=.*-f -o conf=/etc/regionfs/%i.conf regionfs /run/regionfs/%i' "$UNIT" ||
	bad "ExecStart= is not the one of regionfs(8): $(grep '^ExecStart=' "$UNIT")"
grep -qx 'Type=notify' "$UNIT" || bad "the unit is not Type=notify"
# Each of these gives the service a mount namespace of its own, whose
# mounts never reach the host: the sandbox would be mounted unseen.
for k in ProtectSystem ProtectHome PrivateTmp PrivateDevices PrivateMounts \
	ProtectKernelTunables ProtectKernelModules ProtectKernelLogs \
	ProtectControlGroups ProtectProc ProcSubset ReadOnlyPaths \
	ReadWritePaths InaccessiblePaths TemporaryFileSystem BindPaths \
	BindReadOnlyPaths MountFlags RootDirectory; do
	! grep -q "^$k=" "$UNIT" || bad "$k= would hide the mount in a namespace of the service"
done
grep -qx 'DeviceAllow=/dev/kvm rw' "$UNIT" || bad "no DeviceAllow=/dev/kvm rw"
grep -qx 'DeviceAllow=/dev/fuse rw' "$UNIT" || bad "no DeviceAllow=/dev/fuse rw"

systemd-analyze security --offline=yes "$UNIT" 2>/dev/null | tail -n 1 || true
finish
