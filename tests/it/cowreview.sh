#!/bin/bash
# --from mapped copy-on-write: the cases a second reader found.
#   launder: a snapshot taken while (or after) the deferred check runs on
#     damaged bytes must not read them back with success.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"
LOG_NOTICES+='|: started from '
LOG_NOTICES+='|: --from: .*/contents does not match its checksum in info'
LOG_NOTICES+='|: open refused: its bytes do not match the checksum'
LOG_NOTICES+='|, which it mapped copy-on-write, was opened for writing or truncated by another process: '

save_plain() {
	say "a saved sandbox, copied out with cp -r"
	start_daemon "${NO_KVM[@]}" --region ram:1M
	head -c $((1024 * 1024)) /dev/urandom >"$WORK/ram.bytes"
	cp "$WORK/ram.bytes" "$MNT/ram/contents"
	echo plain >"$MNT/snapshot" || bad "snapshot failed"
	cp -r --sparse=always "$MNT/snapshots/plain" "$WORK/plain" || bad "cp -r failed"
	stop_daemon
}

launder() {
	local copy=$WORK/damaged
	say "a snapshot of damaged bytes mapped copy-on-write: never read with success"
	cp -a --sparse=always "$WORK/plain" "$copy"
	flip "$copy/ram/contents" 4242
	start_daemon "${NO_KVM[@]}" --from "$copy"
	# Refused (EIO, the check's verdict), or a copy that reads as saved.
	if echo later 2>/dev/null >"$MNT/snapshot"; then
		:
	else
		REFUSALS=$((REFUSALS + 1))
	fi
	# Let the deferred check finish: the live ram is EIO then.
	if cat "$MNT/ram/contents" >/dev/null 2>&1; then
		bad "a read of the damaged ram succeeded"
	fi
	REFUSALS=$((REFUSALS + 1))
	if [ ! -d "$MNT/snapshots/later" ]; then
		:
	elif cat "$MNT/snapshots/later/ram/contents" >"$WORK/later.bytes" 2>/dev/null; then
		cmp -s "$WORK/ram.bytes" "$WORK/later.bytes" ||
			bad "a snapshot taken after the start read the damaged bytes with success"
	else
		REFUSALS=$((REFUSALS + 1))
	fi
	stop_daemon
	rm -rf "$copy"
}

# diffwrap: a diff snapshot over the loaded (copy-on-write) snapshot
# shows its view's blocks, not 0 less what it covers (a wrap to 16 EiB).
diffwrap() {
	local blocks
	say "a diff over a copy-on-write base: st_blocks is the view's"
	start_daemon "${NO_KVM[@]}" --from "$WORK/plain"
	printf 'xxxx' | dd of="$MNT/ram/contents" conv=notrunc status=none
	head -c 8192 /dev/zero | dd of="$MNT/ram/contents" bs=4096 seek=10 conv=notrunc status=none
	echo d1:plain >"$MNT/snapshot" || bad "the diff snapshot failed"
	blocks=$(stat -c %b "$MNT/snapshots/d1/ram/contents")
	[ "$blocks" -le 4096 ] || bad "d1/ram/contents: st_blocks $blocks, more than the region's 1 MiB"
	[ "$blocks" -ge 1024 ] || bad "d1/ram/contents: st_blocks $blocks: the base's data is not counted"
	stop_daemon
}

# hugerestore: the loaded snapshot (copy-on-write) restored into the
# region moved to huge pages since: its bytes, holes included.
hugerestore() {
	say "restore of a copy-on-write snapshot into a region made huge"
	start_daemon "${NO_KVM[@]}" --region ram:2M
	head -c $((512 * 1024)) /dev/urandom >"$WORK/ram2.head"
	cp "$WORK/ram2.head" "$MNT/ram/contents"
	truncate -s 2M "$WORK/ram2.head"
	echo p2 >"$MNT/snapshot" || bad "snapshot failed"
	cp -r --sparse=always "$MNT/snapshots/p2" "$WORK/p2" || bad "cp -r failed"
	stop_daemon
	start_daemon "${NO_KVM[@]}" --from "$WORK/p2"
	if echo 2M 2>/dev/null >"$MNT/ram/page_size"; then
		head -c 2M /dev/urandom | dd of="$MNT/ram/contents" conv=notrunc status=none
		echo p2 >"$MNT/restore" || bad "restore into the huge region failed"
		cmp -s "$WORK/ram2.head" "$MNT/ram/contents" ||
			bad "the huge region does not read as the snapshot after the restore"
	else
		REFUSALS=$((REFUSALS + 1))
		say "no 2M huge pages here: skipped"
	fi
	stop_daemon
}

ticks() {
	od -A n -t u8 -N 8 "$MNT/heartbeat/contents" | tr -d ' '
}
ticks_above() {
	[ "$(ticks)" -gt "$1" ]
}

# guest: the demo guest started --from a save, on its copy-on-write
# heartbeat: it ticks on; a zero while paused (the region leaves its
# file, new pages at the same addresses) is what the guest sees; a
# writer of the saved file while it runs (the lease) changes nothing.
guest() {
	local t0 p0
	have_kvm || { say "no usable /dev/kvm: guest skipped"; return; }
	say "the demo guest started copy-on-write: ticks, zero, lease break"
	start_daemon --demo
	wait_for ticks_above 2 || bad "the demo does not tick"
	echo pause >"$MNT/vcpu"
	echo g >"$MNT/snapshot" || bad "snapshot failed"
	cp -r --sparse=always "$MNT/snapshots/g" "$WORK/g" || bad "cp -r failed"
	stop_daemon
	start_daemon --from "$WORK/g"
	grep -q "$WORK/g/heartbeat/contents" "$MNT/heartbeat/base" || bad "heartbeat is not copy-on-write: $(cat "$MNT/heartbeat/base")"
	[ "$(cat "$MNT/vcpu")" = running ] || echo run >"$MNT/vcpu" || bad "run failed"
	t0=$(ticks)
	wait_for ticks_above "$((t0 + 2))" || bad "the guest started --from does not tick ($t0)"
	echo pause >"$MNT/vcpu"
	p0=$(ticks)
	echo 1 >"$MNT/heartbeat/zero" || bad "zero while paused failed"
	expect_eq "zeroed" "$(ticks)" 0
	expect_eq "heartbeat's base after the zero" "$(cat "$MNT/heartbeat/base")" ""
	echo run >"$MNT/vcpu"
	wait_for ticks_above 0 || bad "the guest did not tick again after the zero"
	[ "$(ticks)" -lt "$p0" ] || bad "the guest did not see the zeroed pages ($(ticks) >= $p0)"
	# A writer of the saved boot region's file while the guest runs.
	t0=$(ticks)
	printf 'XXXXXXXX' | dd of="$WORK/g/heartbeat/contents" conv=notrunc status=none
	head -c 4096 /dev/zero | dd of="$WORK/g/boot/contents" conv=notrunc status=none
	wait_for ticks_above "$((t0 + 2))" || bad "the guest stopped ticking after a writer of its saved files"
	expect_eq "vcpu after the lease breaks" "$(cat "$MNT/vcpu")" running
	expect_eq "boot's base after the lease break" "$(cat "$MNT/boot/base")" ""
	stop_daemon
}

# sparse: a saved region of many data runs (a page every other one):
# a cp --sparse of its snapshot (SEEK_DATA/SEEK_HOLE) and a lease break
# (the region leaves its file) cost the runs, not runs x size.
sparse() {
	local t0 took
	say "many data runs: cp --sparse and a lease break, each in seconds"
	start_daemon "${NO_KVM[@]}" --region ram:128M
	python3 - "$MNT/ram/contents" <<'PY' || bad "writing the pages failed"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
page = os.urandom(4096)
for off in range(0, 128 << 20, 8192):
    os.pwrite(fd, page, off)
os.close(fd)
PY
	echo sp >"$MNT/snapshot" || bad "snapshot failed"
	cp -r --sparse=always "$MNT/snapshots/sp" "$WORK/sp" || bad "cp -r failed"
	stop_daemon
	start_daemon "${NO_KVM[@]}" --from "$WORK/sp"
	t0=$(date +%s%N)
	timeout 30 cp --sparse=always "$MNT/snapshots/sp/ram/contents" "$WORK/sp.out" ||
		bad "cp --sparse of the snapshot did not finish in 30 s"
	took=$((($(date +%s%N) - t0) / 1000000))
	say "cp --sparse: $took ms"
	[ "$took" -lt 10000 ] || bad "cp --sparse of a 128M snapshot took $took ms"
	cmp -s "$WORK/sp/ram/contents" "$WORK/sp.out" || bad "the copy differs"
	t0=$(date +%s%N)
	: >>"$WORK/sp/ram/contents"
	took=$((($(date +%s%N) - t0) / 1000000))
	say "lease break: the writer waited $took ms"
	[ "$took" -lt 10000 ] || bad "the writer waited $took ms for the regions to leave the file"
	stop_daemon
	rm -f "$WORK/sp.out"
}

# twodamaged: two regions damaged: the check stops at the first; the
# other, never checked, must not read with success either.
twodamaged() {
	local f
	say "two damaged regions: neither reads with success"
	start_daemon "${NO_KVM[@]}" --region a:1M --region b:1M
	for f in a b; do
		head -c 1M /dev/urandom >"$WORK/$f.bytes"
		cp "$WORK/$f.bytes" "$MNT/$f/contents"
	done
	echo two >"$MNT/snapshot" || bad "snapshot failed"
	cp -r --sparse=always "$MNT/snapshots/two" "$WORK/two" || bad "cp -r failed"
	stop_daemon
	flip "$WORK/two/a/contents" 100
	flip "$WORK/two/b/contents" 100
	start_daemon "${NO_KVM[@]}" --from "$WORK/two"
	for f in a b; do
		if cat "$MNT/$f/contents" >"$WORK/$f.out" 2>/dev/null; then
			cmp -s "$WORK/$f.bytes" "$WORK/$f.out" ||
				bad "$f, damaged, read with success"
		else
			REFUSALS=$((REFUSALS + 1))
		fi
	done
	stop_daemon
}

save_plain
twodamaged
launder
diffwrap
hugerestore
guest
sparse
finish
