#!/bin/bash
# guest_addr: mapping regions into the VM.  Without KVM every well-formed
# write is refused with ENODEV and changes nothing (checked on every
# machine: a daemon given a KVM device that does not exist has no VM);
# with a usable /dev/kvm, map, overlap, move, unmap, alignment, resize
# while mapped and rmdir of a mapped region.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

# mapped REGION GPA: kind and guest_addr say where it is (GPA "none": not).
expect_mapping() {
	if [ "$2" = none ]; then
		expect_eq "$1/kind" "$(attr "$1" kind)" exclusive
	else
		expect_eq "$1/kind" "$(attr "$1" kind)" host
	fi
	expect_eq "$1/guest_addr" "$(attr "$1" guest_addr)" "$2"
}

# No KVM: the daemon runs for inspection; mapping is refused with ENODEV,
# one log line that says why, and nothing changes.
no_kvm() {
	local v
	start_daemon "${NO_KVM[@]}" --region a:2M --region b:1M
	log_has 'no KVM \(' || bad "the daemon does not say at start that it has no KVM"
	put a 4096
	for v in 0x100000 0 4096 0x1000 1G 0x100000000 none $' 0x200000\n' $'none\n' 0x1001; do
		expect_refused a ENODEV 1 errno_of write "$MNT/a/guest_addr" "$v"
		[[ $(last_log_line) == *"no KVM"* ]] ||
			bad "guest_addr $(printf '%q' "$v"): the log line does not say there is no KVM: $(last_log_line)"
		expect_mapping a none
	done
	# The standard tool says it too.
	if echo 0x100000 >"$MNT/b/guest_addr" 2>"$WORK/err"; then
		bad "echo 0x100000 > guest_addr succeeded without KVM"
	fi
	REFUSALS=$((REFUSALS + 1))
	grep -q 'No such device' "$WORK/err" || bad "echo > guest_addr: stderr '$(cat "$WORK/err")'"
	expect_mapping b none
	# Everything else still works on an unmapped region.
	has a 4096 || bad "a lost its bytes"
	expect_ok write "$MNT/a/mem_size" 4M
	has a 4096 || bad "a lost its bytes in a resize"
	expect_mapping a none
	stop_daemon
}

# With KVM.  Regions: a and b of 2M, c mapped at start.
with_kvm() {
	start_daemon --region a:2M --region b:2M --region c:1M@0x4000000
	if log_has 'no KVM \('; then
		fail "/dev/kvm opens but the daemon has no VM: $(grep 'no KVM' "$LOG")"
	fi
	expect_mapping c 0x4000000
	put a 4096

	# Map: kind becomes host, the bytes stay and stay writable.
	expect_ok write "$MNT/a/guest_addr" 0x100000
	expect_mapping a 0x100000
	has a 4096 || bad "mapping lost the bytes"
	put a 8192
	has a 8192 || bad "cannot write contents of a mapped region"

	# Overlaps with a ([0x100000, 0x300000)) and c are EEXIST.
	expect_refused b EEXIST 1 errno_of write "$MNT/b/guest_addr" 0x100000
	expect_refused b EEXIST 1 errno_of write "$MNT/b/guest_addr" 0x200000
	expect_refused b EEXIST 1 errno_of write "$MNT/b/guest_addr" 0
	expect_refused b EEXIST 1 errno_of write "$MNT/b/guest_addr" 0x3f00000
	# Adjacent is fine.
	expect_ok write "$MNT/b/guest_addr" 0x300000
	expect_mapping b 0x300000

	# Move a; its old range is free again.
	expect_ok write "$MNT/a/guest_addr" $'0x1000000\n'
	expect_mapping a 0x1000000
	has a 8192 || bad "moving lost the bytes"
	expect_ok write "$MNT/b/guest_addr" 0x100000
	expect_mapping b 0x100000

	# Unaligned, or past the guest's physical address width: EINVAL.
	expect_refused a EINVAL 1 errno_of write "$MNT/a/guest_addr" 0x1000800
	expect_refused a EINVAL 1 errno_of write "$MNT/a/guest_addr" 0xfffffffffffff000
	# Resize while mapped: EPERM, unmap first.
	expect_refused a EPERM 1 errno_of write "$MNT/a/mem_size" 4M
	# Zero needs exclusivity, which a stopped vCPU leaves free.
	expect_ok write "$MNT/a/zero" 1
	cmp -n $((2 << 20)) "$MNT/a/contents" /dev/zero || bad "zero of a mapped region"
	expect_mapping a 0x1000000

	# Unmap (twice: none of an unmapped region is no change), then resize.
	expect_ok write "$MNT/a/guest_addr" none
	expect_mapping a none
	expect_ok write "$MNT/a/guest_addr" none
	expect_mapping a none
	expect_ok write "$MNT/a/mem_size" 4M
	expect_eq "a/mem_size after unmap and resize" "$(attr a mem_size)" $((4 << 20))

	# rmdir of a mapped region unmaps it first: its range is free after.
	rmdir "$MNT/b" || bad "rmdir of a mapped region failed"
	expect_eq "regions after rmdir" "$(ls_regions)" "a c "
	expect_ok write "$MNT/a/guest_addr" 0x100000
	expect_mapping a 0x100000

	# A region made by mkdir maps too.
	mkdir "$MNT/d"
	expect_ok write "$MNT/d/guest_addr" 0x10000000
	expect_mapping d 0x10000000
	rmdir "$MNT/d"
	stop_daemon
}

no_kvm
if have_kvm; then
	with_kvm
else
	skip_part with_kvm "no usable /dev/kvm: mapping not tested here (scripts/test runs this test in the KVM lab)"
fi
finish
