#!/bin/bash
# hugepool: a huge region whose pool is emptied under it (issue 21, item
# 4).  Its pages filled, then no spare page left in the pool and the ones
# it holds made surplus (they go back to the system when freed): zero,
# truncate and restore keep the region's pages, so the writes after them
# and a guest's still find a page, and the daemon never dies of SIGBUS.
# A resize that needs pages the pool has not is refused with ENOMEM and
# changes nothing.  A guest touching a page the pool cannot give (punched
# behind the daemon's back) faults, reported in fault, and a write into
# it is refused with ENOMEM, nothing written.  The pool is global
# (other tests may use it at the same time): this adds what it needs,
# checks it got it, and gives back exactly what it changed, whatever
# happened (lib.sh's huge_set counts every change).
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"
LOG_NOTICES+='|: vcpu: halted at rip |: vcpu: faulted: exit reason 6 \(MMIO\) at rip 0x[0-9a-f]+: write of 1 bytes at 0x201000 \(data\)'

HUGE=$((2 << 20))

# pool_empty HELD: no spare page left, and the HELD pages in use made
# surplus, so that a page given back leaves the pool for the system.
# Another test may add pages at any moment: what it added is cut too (and
# given back at the end), and each step that needs the pool empty empties
# it again just before.
pool_empty() {
	local cut=$1 try
	for try in 1 2 3 4 5; do
		cut=$((cut + $(hugepages_spare)))
		[ "$cut" -gt 0 ] || [ "$try" -eq 1 ] || return 0
		huge_set $(($(cat /proc/sys/vm/nr_hugepages) - cut))
		cut=0
		[ "$(hugepages_spare)" -eq 0 ] && return 0
	done
	bad "the pool could not be emptied: $(hugepages_spare) spare"
}

# The region's bytes are what $WORK/h.img holds.
same() {
	cmp "$WORK/h.img" "$MNT/h/contents" || bad "h/contents differs from what was written ($1)"
}

blocks() {
	stat -c %b "$MNT/h/contents"
}

# ---------------------------------------------------------------------------
say "an 8M huge region filled, a snapshot of 1M of it (8M reserved), then no page to spare"
hugepages_reserve 8
start_daemon "${NO_KVM[@]}" --region h:8M:huge
head -c $((8 << 20)) /dev/urandom >"$WORK/h.img"
cp "$WORK/h.img" "$MNT/h/contents" || bad "filling h failed"
truncate -s 1M "$WORK/h.img"
expect_ok truncate "$MNT/h/contents" $((1 << 20))
echo s >"$MNT/snapshot" || bad "snapshot s failed"
cp "$WORK/h.img" "$WORK/s.img"
truncate -s 8M "$WORK/h.img" "$WORK/s.img"
same "after truncate"
head -c $((8 << 20)) /dev/urandom >"$WORK/h.img"
cp "$WORK/h.img" "$MNT/h/contents" || bad "refilling h failed"
pool_empty 4
held=$(blocks)
expect_eq "h: st_blocks, its four pages" "$held" $((4 * HUGE / 512))

say "zero keeps the pages: a write after it finds one"
pool_empty 0
expect_ok write "$MNT/h/zero" 1
daemon_alive || fail "the daemon died zeroing h"
cmp -n $((8 << 20)) /dev/zero "$MNT/h/contents" || bad "h is not zeros after zero"
expect_eq "SEEK_DATA after zero: all holes" "$(errno_of seek "$MNT/h/contents" 0 data)" ENXIO
expect_eq "st_blocks after zero: the pages kept" "$(blocks)" "$held"
truncate -s 0 "$WORK/h.img"
truncate -s 8M "$WORK/h.img"
printf x | dd of="$MNT/h/contents" bs=1 seek=$((3 * HUGE + 5)) conv=notrunc status=none ||
	bad "dd into h after zero failed"
daemon_alive || fail "the daemon died of a write after zero"
printf x | dd of="$WORK/h.img" bs=1 seek=$((3 * HUGE + 5)) conv=notrunc status=none
same "a byte written after zero"
fill_with h y
head -c $((8 << 20)) /dev/zero | tr '\0' y >"$WORK/h.img"
same "every page written after zero"

say "truncate keeps the pages"
pool_empty 0
expect_ok truncate "$MNT/h/contents" $((HUGE + 100))
truncate -s $((HUGE + 100)) "$WORK/h.img"
truncate -s 8M "$WORK/h.img"
same "after truncate"
expect_ok fill "$MNT/h/contents" 7a $((2 * HUGE)) $((2 * HUGE))
dd if=/dev/zero bs=1M count=4 status=none | tr '\0' z |
	dd of="$WORK/h.img" bs=1M seek=4 conv=notrunc status=none
same "written after truncate"
daemon_alive || fail "the daemon died of a write after truncate"

say "restore keeps the pages (the snapshot's holes filled in place)"
pool_empty 0
echo s >"$MNT/restore" || bad "restore of s failed"
cp "$WORK/s.img" "$WORK/h.img"
same "after restore"
fill_with h w
head -c $((8 << 20)) /dev/zero | tr '\0' w >"$WORK/h.img"
same "written after restore"
daemon_alive || fail "the daemon died of a write after restore"

say "a resize the pool cannot give: ENOMEM, nothing changed"
pool_empty 0
expect_refused h ENOMEM 1 errno_of write "$MNT/h/mem_size" 16M
log_has 'h/mem_size: .*refused: cannot reserve .*nr_hugepages' ||
	bad "the ENOMEM line does not name nr_hugepages: $(last_log_line)"
same "after the refused resize"
rmdir "$MNT/snapshots/s" || bad "rmdir of snapshot s failed"
stop_daemon

if have_kvm; then
	say "a guest on a huge region whose pool is empty: zero, then it writes"
	hugepages_reserve 1
	start_daemon --region ram:1M@0x100000 --region data:2M@0x200000:huge \
		--guest "$GUESTS_DIR/dirtier.elf"
	wait_for grep -qx halted "$MNT/vcpu" || bad "the guest did not halt: $(cat "$MNT/vcpu")"
	pool_empty 1
	pool_empty 0
	expect_ok write "$MNT/data/zero" 1
	{ echo stop >"$MNT/vcpu" && echo run >"$MNT/vcpu"; } || bad "restarting the guest failed"
	wait_for grep -qx halted "$MNT/vcpu" || bad "the guest did not halt again: $(cat "$MNT/vcpu")"
	expect_eq "the guest's bytes after zero and a new run" \
		"$(xxd -s 0x1000 -l 1 -p "$MNT/data/contents")$(xxd -s 0x5000 -l 1 -p "$MNT/data/contents")" a1b2
	daemon_alive || fail "the daemon died under the guest"
	say "a guest touching a page the pool cannot give: a reported fault"
	# Only a page punched behind the daemon's back can be one: punched
	# through its memfd (/proc/PID/fd), the pool emptied again.
	fd=$(find "/proc/$DAEMON_PID/fd" -lname '/memfd:data*' -printf '%f\n' | head -n 1)
	[ -n "$fd" ] || fail "data's memfd not found in /proc/$DAEMON_PID/fd"
	py - "/proc/$DAEMON_PID/fd/$fd" <<-'PY' || bad "the punch behind the daemon's back failed"
	import ctypes, os, sys
	libc = ctypes.CDLL(None, use_errno=True)
	fd = os.open(sys.argv[1], os.O_RDWR)
	# FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE over the huge page
	sys.exit(libc.fallocate(fd, 3, ctypes.c_long(0), ctypes.c_long(2 << 20)) != 0)
	PY
	pool_empty 0
	{ echo stop >"$MNT/vcpu" && echo run >"$MNT/vcpu"; } || bad "restarting the guest failed"
	wait_for grep -qx faulted "$MNT/vcpu" || bad "the guest did not fault: $(cat "$MNT/vcpu")"
	if ! grep -qx 'gpa 0x0000000000201000' "$MNT/fault" ||
		! grep -qx 'region data' "$MNT/fault"; then
		bad "fault does not name the page: $(cat "$MNT/fault")"
	fi
	daemon_alive || fail "the daemon died of the guest's fault"
	say "a write into that page: ENOMEM, nothing written, the daemon lives"
	pool_empty 0
	expect_refused data ENOMEM 1 errno_of pwrite "$MNT/data/contents" x $((HUGE / 2))
	log_has 'data/contents: write of 1 bytes at 1048576 refused: .*nr_hugepages' ||
		bad "the write's refusal does not name nr_hugepages: $(last_log_line)"
	daemon_alive || fail "the daemon died of a write into a page the pool cannot give"
	stop_daemon
else
	skip_part "guest" "no usable /dev/kvm"
fi
finish
