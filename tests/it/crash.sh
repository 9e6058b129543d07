#!/bin/bash
# Faults: the daemon killed with -9 while readers are mid-read leaves no
# dead mount (auto_unmount), the readers get an answer (an error, or for a
# passthrough reader the memory it already holds) instead of hanging, and
# a new daemon mounts at the same place at once.  A reader killed mid-read
# never takes the daemon down.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

# A reader that keeps reading contents until it gets an error or 20 s
# pass; it prints how it ended.
cat >"$WORK/reader.py" <<'PY'
import errno, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
open(sys.argv[2], 'w').close()		# ready: the file is open
end = time.time() + 20
while time.time() < end:
	try:
		os.pread(fd, 1 << 20, 0)
	except OSError as e:
		print('error', errno.errorcode.get(e.errno, e.errno))
		sys.exit(0)
print('still reading')
PY

# kill9_with_reader LABEL [DAEMON ARGS...]
kill9_with_reader() {
	local label=$1 dir out start ready=$WORK/ready.$1
	shift
	start_daemon --region r:64M "$@"
	dir=$MNT
	dd if=/dev/urandom of="$dir/r/contents" bs=1M count=64 conv=notrunc status=none
	timeout 60 python3 "$WORK/reader.py" "$dir/r/contents" "$ready" >"$WORK/out.$label" &
	local rpid=$!
	for _ in $(seq 100); do [ -e "$ready" ] && break; sleep 0.1; done
	[ -e "$ready" ] || fail "$label: the reader did not start"
	start=$(date +%s)
	kill -9 "$DAEMON_PID"
	DAEMON_PID=
	# auto_unmount's helper acts once it sees the daemon's socket close:
	# a loaded machine may take seconds.
	for _ in $(seq 200); do
		mountpoint -q "$dir" || break
		sleep 0.1
	done
	mountpoint -q "$dir" && bad "$label: still mounted 20 s after kill -9 (auto_unmount)"
	# Reads of a dead mount answer, they never hang: the reader ends well
	# within its own 20 s unless it still holds the memory (passthrough).
	wait "$rpid" || bad "$label: the reader was killed by the timeout: it hung"
	out=$(cat "$WORK/out.$label")
	say "$label: reader after kill -9: $out (after $(( $(date +%s) - start )) s)"
	case $out in
	"error ENOTCONN"|"error ECONNABORTED"|"error ENODEV"|"error EIO") ;;
	"still reading") [ "$label" = passthrough ] ||
		bad "$label: a daemon-path reader kept reading a dead mount" ;;
	*) bad "$label: reader ended with '$out'" ;;
	esac
	# The same place takes a new daemon at once.
	start_daemon_at "$dir" --region again:1M
	expect_eq "$label: remounted" "$(ls_regions)" "again "
	stop_daemon
}

kill9_with_reader daemon-path -o no_passthrough
kill9_with_reader passthrough

# A reader that goes away mid-read: the daemon does not notice.
start_daemon --region big:256M -o no_passthrough
dd if=/dev/zero of="$MNT/big/contents" bs=1M count=256 conv=notrunc status=none
killed=0
for _ in 1 2 3; do
	# 4K requests: the read is still going when it is killed.
	dd if="$MNT/big/contents" of=/dev/null bs=4K status=none &
	sleep 0.2
	kill -9 $! 2>/dev/null || true	# gone already: wait says how it ended
	# 128 + 9: SIGKILL ended it; 0: it had read it all already.
	rc=0
	wait $! 2>/dev/null || rc=$?
	if [ "$rc" -eq 137 ]; then
		killed=$((killed + 1))
		say "killed a reader mid-read"
	elif [ "$rc" -ne 0 ]; then
		bad "a reader of big/contents failed (exit $rc) before it was killed"
	fi
done
# 256 MiB in 4K requests through the daemon take seconds, not 0.2 s.
[ "$killed" -gt 0 ] || bad "every reader had finished before the kill: none was killed mid-read"
daemon_alive || fail "a reader killed mid-read took the daemon down"
cmp -n $((256 << 20)) "$MNT/big/contents" /dev/zero || bad "contents changed"
finish
