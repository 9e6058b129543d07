#!/bin/bash
# The sandbox runs a guest, seen and steered through the mount with
# standard tools: the demo guest (--demo) prints on the console and ticks
# a heartbeat; control writes on mapped regions are refused while it runs
# and work once it is paused; guest images are checked at start.  It needs
# a usable /dev/kvm and skips without one; scripts/test then runs it in the
# KVM lab (it is one of KVMLAB_TESTS there).
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

have_kvm || skip "no usable /dev/kvm: the guest cannot run here (scripts/test runs this test in the KVM lab)"

# ticks: the demo's 64-bit counter, at offset 0 of heartbeat.
ticks() {
	od -A n -t u8 -N 8 "$MNT/heartbeat/contents" | tr -d ' '
}

# ticks_above N: the counter is past N now (read anew at every call).
ticks_above() {
	[ "$(ticks)" -gt "$1" ]
}

# console_lines_above N: the console holds more than N lines now.
console_lines_above() {
	[ "$(grep -c . "$MNT/console" || true)" -gt "$1" ]
}

start_daemon --demo
expect_eq "vcpu" "$(cat "$MNT/vcpu")" running
wait_for grep -q . "$MNT/console" || bad "the guest printed nothing on the console"
say "console: $(head -c 80 "$MNT/console" | tr '\n' ' ')"
expect_eq "console's st_size = its length" "$(stat -c %s "$MNT/console")" "$(wc -c <"$MNT/console")"
t0=$(ticks)
if ! wait_for ticks_above "$((t0 + 1))"; then
	bad "the heartbeat does not move (stuck at $t0)"
	# Where the vCPU thread is, for the record: in KVM_RUN or asleep.
	for task in /proc/"$DAEMON_PID"/task/*; do
		say "thread $(cat "$task/comm"): $(cat "$task/wchan"): $(head -n 3 "$task/stack" 2>/dev/null | tr '\n' ' ')"
	done
	say "vcpu: $(cat "$MNT/vcpu"), heartbeat now $(ticks)"
fi
expect_eq "heartbeat kind" "$(cat "$MNT/heartbeat/kind")" host
expect_eq "heartbeat guest_addr" "$(cat "$MNT/heartbeat/guest_addr")" 0x200000
expect_eq "boot region kind" "$(cat "$MNT/boot/kind")" host
# The page tables are memory like any other: PML4[0] points at the PDPT.
pml4=$(od -A n -t x8 -N 8 "$MNT/boot/contents" | tr -d ' ')
[ $((16#$pml4 & ~0xfff)) -eq $((0x2000)) ] || bad "PML4[0] = 0x$pml4, want the PDPT at 0x2000"

# While it runs: every control write on a mapped region is EBUSY, at once,
# and changes nothing; reads and writes of contents keep working.
# control_state: what a control write could change (the guest keeps
# writing contents, and so dirty, meanwhile).
control_state() {
	snapshot heartbeat | grep -v -e '^contents=' -e '^dirty:'
}
before=$(control_state)
expect_errno EBUSY write "$MNT/heartbeat/zero" 1
expect_errno EBUSY write "$MNT/heartbeat/guest_addr" 0x300000
expect_errno EBUSY write "$MNT/heartbeat/access" ro
expect_errno EBUSY write "$MNT/heartbeat/mem_size" 8K
expect_errno EBUSY rmdir "$MNT/heartbeat"
expect_eq "heartbeat after the refused control writes" "$(control_state)" "$before"
expect_eq "heartbeat still mapped" "$(cat "$MNT/heartbeat/guest_addr")" 0x200000
printf 'host' | dd of="$MNT/heartbeat/contents" bs=1 seek=64 conv=notrunc status=none ||
	bad "a contents write while the guest runs failed"
expect_eq "host bytes next to the guest's" "$(dd if="$MNT/heartbeat/contents" bs=1 skip=64 count=4 status=none)" host

# Paused: the same writes work, and the guest sees the result on resume.
echo pause >"$MNT/vcpu"
expect_eq "vcpu" "$(cat "$MNT/vcpu")" paused
p0=$(ticks)
sleep 0.5
expect_eq "no ticks while paused" "$(ticks)" "$p0"
echo 1 >"$MNT/heartbeat/zero" || bad "zero while paused failed"
expect_eq "zeroed" "$(ticks)" 0
echo run >"$MNT/vcpu"
wait_for ticks_above 0 || bad "the guest did not tick again after run"
[ "$(ticks)" -lt "$p0" ] || bad "the counter did not restart from the zeroed memory ($(ticks) >= $p0)"

# stop resets to the entry point: the greeting comes again.
n=$(grep -c . "$MNT/console" || true)
echo stop >"$MNT/vcpu"
expect_eq "vcpu" "$(cat "$MNT/vcpu")" stopped
echo run >"$MNT/vcpu"
wait_for console_lines_above "$n" || bad "no new greeting after stop, run"
expect_errno EINVAL write "$MNT/vcpu" jump
stop_daemon

# Guest images are checked before anything runs: each refused with why,
# and nothing left mounted.
GUEST_ELF=${GUESTS_DIR:?GUESTS_DIR must name the test guests}/pattern.elf
[ -f "$GUEST_ELF" ] || fail "$GUEST_ELF missing (meson builds it for this test)"
head -c 100 "$GUEST_ELF" >"$WORK/truncated.elf"
mnt=$(mktemp -d -p "$WORK")
expect_start_fails '--guest: .*/truncated\.elf: truncated' \
	--region ram:1M@0x100000 --guest "$WORK/truncated.elf" "$mnt"
expect_start_fails '--guest: /etc/hostname: not an ELF' \
	--region ram:1M@0x100000 --guest /etc/hostname "$mnt"
# The guest is linked at 1 MiB; the only region is mapped elsewhere.
expect_start_fails 'not covered by any region' \
	--region ram:64K@0x400000 --guest "$GUEST_ELF" "$mnt"
finish
