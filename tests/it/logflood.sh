#!/bin/bash
# logflood: what another uid's log lines cost (issue 21, item 10).  The
# reader group reading regs while the demo guest runs is refused (EBUSY)
# with a log line each time, thousands a second.  Those lines are
# rate-limited per uid (fs/lograte.h: a burst of 20, then 2 a second, and
# all other uids together 40 then 10 a second, the lines counting what was
# dropped included), a line says how many were dropped, and they never
# push the owner's refusals out of MOUNT/log (they may fill a quarter of
# its ring).  Needs /dev/kvm (the demo runs a guest).
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"
have_kvm || skip "/dev/kvm missing: the demo's guest cannot run here"
command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
PY=/usr/bin/python3
[ -x $PY ] || skip "$PY missing (the other uid cannot use root's python)"
READER=2000
SECONDS_OF_FLOOD=${LOGFLOOD_SECONDS:-3}

# The reader's loop: open and read regs until the time is up; how many
# reads it made, and how many were refused.
cat >"$WORK/flood.py" <<'EOF2'
import os, sys, time
path, secs = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + secs
n = refused = 0
while time.monotonic() < end:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.read(fd, 4096)
        finally:
            os.close(fd)
    except OSError:
        refused += 1
    n += 1
print(n, refused)
EOF2

start_daemon --demo -o reader_gid=$READER
expect_eq "vcpu" "$(cat "$MNT/vcpu")" running

# The owner's refusals, one before the flood and one after.
expect_errno ENOENT write "$MNT/restore" before-flood

say "the reader group reads regs for $SECONDS_OF_FLOOD s while the guest runs"
lines0=$(wc -l <"$LOG")
bytes0=$(wc -c <"$LOG")
t0=$(date +%s.%N)
pids=()
for i in 1 2; do
	setpriv --reuid=65534 --regid=65534 --groups=$READER \
		$PY "$WORK/flood.py" "$MNT/regs" "$SECONDS_OF_FLOOD" >"$WORK/flood.$i" &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || bad "a reader's loop failed"
done
t1=$(date +%s.%N)
lines1=$(wc -l <"$LOG")
bytes1=$(wc -c <"$LOG")
read -r n1 r1 <"$WORK/flood.1"
read -r n2 r2 <"$WORK/flood.2"
reads=$((n1 + n2))
refusals=$((r1 + r2))
[ "$refusals" -gt 100 ] || bad "only $refusals reads of regs were refused: no flood to limit"
# One uid: its burst, then its rate over the flood (rounded up), the
# line that says what was dropped included.
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { s = b - a; print (s == int(s)) ? s : int(s) + 1 }')
bound=$((20 + 2 * secs))
grew=$((lines1 - lines0))
say "$reads reads, $refusals refused in ${secs} s: the log grew by $grew lines, $((bytes1 - bytes0)) bytes (at most $bound lines)"
[ "$grew" -le "$bound" ] ||
	bad "the log grew by $grew lines in $secs s of flood, want at most $bound"
log_has ': uid 65534: [0-9]+ lines dropped \(rate limit: 2 a second\)$' ||
	bad "no line says how many of uid 65534's lines were dropped"
# Each refused read made a refusal line or was counted as dropped.
REFUSALS=$(refusals_logged)

expect_errno ENOENT write "$MNT/restore" after-flood
for w in before-flood after-flood; do
	grep -qF "restore: write '$w' refused" "$MNT/log" ||
		bad "the owner's refusal '$w' is no longer in MOUNT/log"
done
# The pending count is said before the last line.
fusermount3 -u "$MNT"
for _ in $(seq 100); do daemon_alive || break; sleep 0.1; done
dropped=$(sed -n 's/.*: uid 65534: \([0-9]*\) lines dropped .*/\1/p' "$LOG" | awk '{ s += $1 } END { print s + 0 }')
kept=$(grep -c 'regs: read refused' "$LOG" || true)
expect_eq "reads refused = lines kept + lines dropped" "$((kept + dropped))" "$refusals"
log_has ': unmounted$' || bad "the daemon did not log its clean exit"
log_clean
DAEMON_PID=
finish
