#!/bin/bash
# regionfs@.service, run as systemd would run it, without systemd: its
# ExecStart= (%i expanded; /etc/regionfs and /run/regionfs moved into the
# work directory) under its CapabilityBoundingSet=, NoNewPrivileges= and
# UMask=, with $NOTIFY_SOCKET: READY=1 comes from the main process once
# the sandbox is mounted; ExecStop= unmounts it and the daemon exits 0.
# A bad configuration file fails the start, saying FILE:LINE, unready.
# (The device cgroup, seccomp and the journal need systemd itself:
# systemd-analyze verify checks the unit in tests/it/unit.sh.)
# shellcheck source=tests/it/installed.sh
. "$(dirname "$0")/installed.sh"

command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
UNIT=$PREFIX/lib/systemd/system/regionfs@.service
NAME=t1

# The value of KEY= in the unit, with %i and the two paths expanded.
unit_value() {
	sed -n "s/^$1=//p" "$UNIT" | tail -n 1 |
		sed "s|%i|$NAME|g; s|/etc/regionfs/|$WORK/etc/regionfs/|g; s|/run/regionfs/|$WORK/run/regionfs/|g"
}
expect_eq "Type=" "$(unit_value Type)" notify
read -ra exec_start <<<"$(unit_value ExecStart)"
read -ra exec_stop <<<"$(unit_value ExecStop)"
# CAP_SYS_ADMIN CAP_DAC_READ_SEARCH -> -all,+sys_admin,+dac_read_search
caps=-all
for c in $(unit_value CapabilityBoundingSet); do
	c=${c#CAP_}
	caps+=",+${c,,}"
done
[ "$(unit_value NoNewPrivileges)" = yes ] || bad "NoNewPrivileges= is not yes"
umask_value=$(unit_value UMask)

# A stand-in for systemd's notify socket: every datagram, with the pid of
# its sender and whether the sandbox was mounted when it came.
cat >"$WORK/notify.py" <<'PY'
import os, socket, struct, sys
path, mnt, out = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(path)
with open(out, "a") as f:
    while True:
        msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = [struct.unpack("iII", d)[0] for l, t, d in anc
               if l == socket.SOL_SOCKET and t == socket.SCM_CREDENTIALS]
        f.write("%s pid=%s mounted=%s\n" % (msg.decode(errors="replace"),
                pid[0] if pid else "?", os.path.ismount(mnt)))
        f.flush()
PY

# start_unit CONF: write the instance's configuration, start the listener
# and ExecStart as systemd would (RuntimeDirectory= made first), in the
# background; MAIN_PID is the main process, its stderr in $LOG.
start_unit() {
	mkdir -p "$WORK/etc/regionfs" "$WORK/run/regionfs/$NAME"
	printf '%s\n' "$1" >"$WORK/etc/regionfs/$NAME.conf"
	MNT=$WORK/run/regionfs/$NAME
	LOG=$WORK/journal.$((++STARTS))
	NOTES=$WORK/notify.$STARTS
	: >"$LOG"
	: >"$NOTES"
	rm -f "$WORK/notify.sock"
	"$PYTHON" -S "$WORK/notify.py" "$WORK/notify.sock" "$MNT" "$NOTES" &
	LISTENER=$!
	wait_for test -S "$WORK/notify.sock" || fail "the notify listener did not start"
	(
		umask "$umask_value"
		exec env NOTIFY_SOCKET="$WORK/notify.sock" \
			setpriv --no-new-privs --bounding-set "$caps" -- "${exec_start[@]}"
	) 2>"$LOG" &
	MAIN_PID=$!
	DAEMON_PID=$MAIN_PID	# for lib.sh's cleanup
	REFUSALS=0
}

# end_unit: the listener goes; the daemon must be gone already.
end_unit() {
	kill "$LISTENER" 2>/dev/null
	wait "$LISTENER" 2>/dev/null || true
	LISTENER=
	if kill -0 "$MAIN_PID" 2>/dev/null; then
		kill "$MAIN_PID"
		fail "the daemon (pid $MAIN_PID) still runs"
	fi
	DAEMON_PID=
}
STARTS=0
LISTENER=
# lib.sh's cleanup, and the listener too.
trap 'rc=$?; [ -z "$LISTENER" ] || kill "$LISTENER" 2>/dev/null; (exit "$rc"); cleanup' EXIT

# --- a sandbox that starts, says it is ready, and stops by unmounting --------
if have_kvm; then
	conf=$(cat "$PREFIX/share/doc/regionfs/example.conf")
	want="ram scratch "
else
	skip_part "a mapped region in the instance" "/dev/kvm missing: the instance has no mapped region"
	conf=$'region=ram:64M\n# a comment\nregion=scratch:16M\nnofail'
	want="ram scratch "
fi
start_unit "$conf"
wait_for grep -q '^READY=1 ' "$NOTES" ||
	fail "no READY=1 within 20 s; the daemon said: $(cat "$LOG")"
expect_eq "READY=1: from the main process, once mounted" \
	"$(grep '^READY=1 ' "$NOTES")" "READY=1 pid=$MAIN_PID mounted=True"
expect_eq "regions of the instance" "$(ls_regions)" "$want"
expect_eq "mounts at /run/regionfs/NAME" \
	"$(awk -v mnt="$MNT" '$5 == mnt { for (i = 7; $i != "-"; i++) ; print $(i + 2), $(i + 1) }' \
		/proc/self/mountinfo)" "regionfs fuse.regionfs"
# CapabilityBoundingSet= leaves FUSE passthrough its CAP_SYS_ADMIN.
log_has 'contents read path: FUSE passthrough' ||
	bad "the read path under the unit's capabilities: $(grep 'read path' "$LOG")"

"${exec_stop[@]}" || fail "ExecStop (${exec_stop[*]}) failed"
rc=0
timeout 10 tail --pid="$MAIN_PID" -f /dev/null || fail "the daemon still runs 10 s after ExecStop"
wait "$MAIN_PID" || rc=$?
expect_eq "exit status after ExecStop" "$rc" 0
mountpoint -q "$MNT" && bad "$MNT still mounted after ExecStop"
log_has ': unmounted$' || bad "the daemon did not log its clean exit"
log_clean
DAEMON_PID=
end_unit

# --- a bad configuration file: exit 1, FILE:LINE said, never ready ------------
start_unit $'region=ram:64M\nregion=ram\n'
rc=0
timeout 20 tail --pid="$MAIN_PID" -f /dev/null || fail "a bad configuration: still running after 20 s"
wait "$MAIN_PID" || rc=$?
expect_eq "exit status with a bad configuration" "$rc" 1
grep -qF "$NAME.conf:2: region=ram: expected NAME:SIZE" "$LOG" ||
	bad "the message for a bad configuration: $(cat "$LOG")"
[ ! -s "$NOTES" ] || bad "a failed start notified: $(cat "$NOTES")"
mountpoint -q "$MNT" && bad "a failed start left $MNT mounted"
end_unit
finish
