#!/bin/bash
# A copy-on-write region's saved file written underneath it (issue 24):
# dd conv=notrunc, truncate -s 0 (truncate(1), then truncate(2) from
# python) and cp over the saved contents, one at a
# time, each on a fresh start from a fresh copy of the saved directory,
# while a reader loops over contents (cat) and, with /dev/kvm, the
# counter guest runs on the region.  The lease makes the daemon copy the
# region's base pages into its own memory first (pausing the guest while
# it does), so: each writer completes within lease-break-time, the
# daemon stays alive, the region reads the saved bytes plus the guest's
# own writes (never the writer's), the vCPU does not fault, no reader
# fails, base becomes empty, and the log has the one line saying so.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"
LOG_NOTICES+='|: started from |: vcpu: halted at rip |[Ll]ease|copy-on-write'

MiB=$((1 << 20))
LEASE_BREAK=$(cat /proc/sys/fs/lease-break-time 2>/dev/null || echo 45)
READER_PID=
exit_with() { return "$1"; }
stop_reader() {
	[ -n "$READER_PID" ] || return 0
	touch "$WORK/stop"
	wait "$READER_PID" 2>/dev/null || true
	READER_PID=
	rm -f "$WORK/stop"
}
trap 'rc=$?; stop_reader; exit_with $rc; cleanup' EXIT

# same_but_counter A B: A and B hold the same bytes but for the counter's
# two words (offsets 0 and 0x3000, 8 bytes each); prints the first
# offset that differs, or nothing.
cat >"$WORK/same.py" <<'EOF'
import sys
a, b = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read()
if len(a) != len(b):
    print('sizes %d and %d' % (len(a), len(b)))
    sys.exit()
skip = set(range(0, 8)) | set(range(0x3000, 0x3008))
for i in range(len(a)):
    if a[i] != b[i] and i not in skip:
        print('offset 0x%x: 0x%02x, want 0x%02x' % (i, a[i], b[i]))
        break
EOF

# The saved sandbox: data (1 MiB) random but for the counter's page 0 and
# 3, ram; with KVM the counter guest, paused after it counted a while.
save() {
	local f=$WORK/rand
	head -c "$MiB" /dev/urandom >"$f"
	if [ "$GUEST" = 1 ]; then
		say "save the counter guest, its data region full of random bytes"
		start_daemon --region ram:1M@0x100000 --region data:1M@0x200000 \
			--guest "$GUESTS_DIR/counter.elf"
		wait_for counter_above 2 || bad "the counter guest does not count"
	else
		say "save a sandbox without a vCPU, its data region full of random bytes"
		start_daemon "${NO_KVM[@]}" --region ram:1M --region data:1M
		dd if="$f" of="$MNT/ram/contents" bs=64K count=1 conv=notrunc status=none
	fi
	# Pages 4 on: the guest never writes there.
	dd if="$f" of="$MNT/data/contents" bs="$PAGE" skip=4 seek=4 conv=notrunc status=none ||
		bad "dd into data failed"
	[ "$GUEST" = 0 ] || echo pause >"$MNT/vcpu"
	echo g >"$MNT/snapshot" || fail "snapshot failed"
	cp -r --sparse=always "$MNT/snapshots/g" "$WORK/g" || fail "cp -r failed"
	N=$([ "$GUEST" = 1 ] && counter_count || echo 0)
	stop_daemon
	head -c "$MiB" /dev/zero | tr '\0' W >"$WORK/other"
}

# The writers, each on FILE.
write_dd() {
	head -c $((16 * PAGE)) /dev/zero | tr '\0' '\356' |
		dd of="$1" bs="$PAGE" seek=2 conv=notrunc status=none
}
wrote_dd() {
	cmp -s -n $((16 * PAGE)) -i $((2 * PAGE)):0 "$1" <(head -c $((16 * PAGE)) /dev/zero | tr '\0' '\356')
}
# truncate(1) opens O_NONBLOCK: a lease being broken gives it EAGAIN
# (the kernel's answer to a non-blocking open of a leased file, whatever
# the holder does), so it is run again until it succeeds, and the first
# failure said (in $WORK/retried).
write_truncate() {
	local t0=$SECONDS
	until truncate -s 0 "$1" 2>"$WORK/truncate.err"; do
		[ -s "$WORK/retried" ] || cat "$WORK/truncate.err" >"$WORK/retried"
		[ $((SECONDS - t0)) -lt 60 ] || return 1
		sleep 0.05
	done
}
wrote_truncate() { [ "$(stat -c %s "$1")" = 0 ]; }
# truncate(2) itself waits for the lease to go.
write_truncate2() { "$PYTHON" -c 'import os, sys; os.truncate(sys.argv[1], 0)' "$1"; }
wrote_truncate2() { wrote_truncate "$@"; }
write_cp() { cp "$WORK/other" "$1"; }
wrote_cp() { cmp -s "$WORK/other" "$1"; }

# reader: cat contents in a loop until $WORK/stop, each read's bytes
# compared with the saved ones (but for the counter's words); each
# failure or difference a line in $WORK/reader.err.
cat >"$WORK/reader.py" <<'EOF'
import os, subprocess, sys
path, saved, stop, err, count = sys.argv[1:6]
want = open(saved, 'rb').read()
n = 0
with open(err, 'a') as e:
    while not os.path.exists(stop):
        r = subprocess.run(['cat', path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        got = r.stdout
        if r.returncode:
            e.write('cat failed: %s\n' % r.stderr.decode(errors='replace').strip())
        elif len(got) != len(want) or got[8:0x3000] != want[8:0x3000] or got[0x3008:] != want[0x3008:]:
            i = next((i for i in range(min(len(got), len(want)))
                      if got[i] != want[i] and not (i < 8 or 0x3000 <= i < 0x3008)), min(len(got), len(want)))
            e.write('read %d: differs at 0x%x (%d bytes read)\n' % (n, i, len(got)))
        n += 1
open(count, 'w').write('%d\n' % n)
EOF
reader() {
	py "$WORK/reader.py" "$MNT/data/contents" "$WORK/g/data/contents" "$WORK/stop" \
		"$WORK/reader.err" "$WORK/reader.count"
}

race() {
	local w=$1 dir=$WORK/run-$1 f t0 ms rc=0 l0 l1 new one others got
	say "$w over the saved data/contents$([ "$GUEST" = 1 ] && echo ', the guest running'), a reader looping"
	rm -rf "$dir"
	cp -r --sparse=always "$WORK/g" "$dir"
	f=$dir/data/contents
	start_daemon --from "$dir"
	[ -e "$MNT/data/base" ] || fail "no data/base: this regionfs does not map --from copy-on-write"
	[ -n "$(cat "$MNT/data/base")" ] || fail "data is not copy-on-write, nothing to race: $(grep 'copied, not' "$LOG")"
	if [ "$GUEST" = 1 ]; then
		echo run >"$MNT/vcpu"
		wait_for counter_above $((N + 2)) || bad "$w: the guest does not go on"
	fi
	: >"$WORK/reader.err"
	reader &
	READER_PID=$!
	sleep 0.3
	read -r l0 _ < <(log_counts)
	t0=$EPOCHREALTIME
	rm -f "$WORK/retried"
	timeout $((LEASE_BREAK + 15)) bash -c "$(declare -f "write_$w"); WORK='$WORK' PAGE=$PAGE PYTHON='$PYTHON' write_$w '$f'" || rc=$?
	ms=$(((${EPOCHREALTIME/./} - ${t0/./}) / 1000))
	read -r l1 _ < <(log_counts)
	say "$w: exit $rc after $ms ms (lease-break-time $LEASE_BREAK s)"
	[ ! -s "$WORK/retried" ] || say "$w: the first try failed, run again until it worked: $(cat "$WORK/retried")"
	[ "$rc" = 0 ] || bad "$w: the writer failed (exit $rc)"
	[ "$ms" -lt $((LEASE_BREAK * 1000)) ] || bad "$w: the writer took $ms ms, lease-break-time is $LEASE_BREAK s"
	"wrote_$w" "$f" || bad "$w: the saved file does not hold what the writer wrote"
	daemon_alive || fail "$w: the daemon died"
	if [ "$GUEST" = 1 ]; then
		expect_eq "$w: vcpu after the writer" "$(cat "$MNT/vcpu")" running
		wait_for counter_above $(($(counter_count) + 3)) || bad "$w: the guest did not go on after the writer"
	fi
	sleep 0.2
	stop_reader
	[ ! -s "$WORK/reader.err" ] || bad "$w: the reader failed: $(sort "$WORK/reader.err" | uniq -c | head -n 3 | tr '\n' ' ')"
	say "$w: the reader read contents $(cat "$WORK/reader.count") times, each the saved bytes"
	if [ "$GUEST" = 1 ]; then
		echo pause >"$MNT/vcpu"
		expect_eq "$w: vcpu" "$(cat "$MNT/vcpu")" paused
		expect_eq "$w: fault" "$(must cat "$MNT/fault")" ""
		! grep -q MISMATCH "$MNT/console" || bad "$w: the guest saw registers and memory disagree"
	fi
	# The one line for the region, and base empty: it holds its own
	# copy.  The loaded snapshot's copy (snapshots/g/data) maps the file
	# too: a line of its own is allowed, and shown.
	new=$(tail -n $((l1 - l0)) "$LOG" | grep -v 'contents read path:' || true)
	one=$(grep -E '\]: data: ' <<<"$new" || true)
	if [ "$(grep -c . <<<"$one")" != 1 ]; then
		bad "$w: $(grep -c . <<<"$one") new log lines about data, want the one: $(tr '\n' '|' <<<"$new")"
	else
		say "$w: the line: ${one#* * }"
	fi
	others=$(grep -vE '\]: data: ' <<<"$new" || true)
	if [ -n "$others" ]; then
		if grep -qvE "\]: a snapshot's copy of data: " <<<"$others"; then
			bad "$w: other new log lines: $(tr '\n' '|' <<<"$others")"
		else
			say "$w: and for the loaded snapshot's copy: ${others#* * }"
		fi
	fi
	expect_eq "$w: data/base" "$(nbytes cat "$MNT/data/base")" 0
	[ -n "$(cat "$MNT/ram/base")" ] || bad "$w: ram left its base, its file was not written"
	# The saved bytes and the guest's own writes, never the writer's.
	got=$(py "$WORK/same.py" "$MNT/data/contents" "$WORK/g/data/contents")
	[ -z "$got" ] || bad "$w: data is not the saved bytes and the guest's: $got"
	if [ "$GUEST" = 1 ]; then
		expect_eq "$w: the counter's two words" \
			"$(od -A n -t u8 -j $((0x3000)) -N 8 "$MNT/data/contents" | tr -d ' ')" "$(counter_count)"
		[ "$(counter_count)" -gt "$N" ] || bad "$w: the count did not go on from $N"
	fi
	# Still the daemon's to write, and the writer's file is its own.
	put data $((8 * PAGE))
	has data $((8 * PAGE)) || bad "$w: a write to data after the writer is not there"
	"wrote_$w" "$f" || bad "$w: the daemon's write reached the saved file"
	stop_daemon
	rm -rf "$dir"
}

if have_kvm; then
	GUEST=1
else
	GUEST=0
	skip_part guest "no usable /dev/kvm: the writers race a reader, not a running guest"
fi
save
for w in dd truncate truncate2 cp; do
	race "$w"
done
finish
