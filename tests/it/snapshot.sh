#!/bin/bash
# Snapshots and dirty tracking through the mount, with standard tools: the
# host's writes in dirty, snapshot/restore of every region, readonly
# copies, refusals, limits, a sparse 16 GiB snapshot, and the save-to-disk
# round trip with cp --sparse.  With /dev/kvm, the guest's side: its
# writes in dirty, and a snapshot it continues from after a restore.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"
LOG_NOTICES+='|: vcpu: halted at rip '

# The text of dirty, as one line ("0x1000-0x2000 0x5000-0x6000 ").
dirty() {
	local d
	d=$(must cat "$MNT/$1/dirty") || { echo "$d"; return 1; }
	[ -z "$d" ] || tr '\n' ' ' <<<"$d"
}

range() {
	printf '0x%x-0x%x ' "$1" "$2"
}

# page REGION N BYTE: write page N full of BYTE (hex) with dd.
#
# A write-only open, which the daemon serves and stamps page by page (a
# read-write one, as dd seek= makes, is passed through: see README).
page() {
	[ "$(errno_of fill "$MNT/$1/contents" "$3" $(($2 * PAGE)) "$PAGE")" = OK ] ||
		bad "write of page $2 of $1 failed"
}

# page_is FILE N BYTE: page N of FILE is full of BYTE (hex): what page
# wrote, checked against the test's own model, not a copy the daemon made.
page_is() {
	cmp -s -n "$PAGE" -i "$(($2 * PAGE)):0" "$1" \
		<(head -c "$PAGE" /dev/zero | tr '\0' "\\$(printf '%03o' $((16#$3)))")
}

# byte_at REGION OFF: one byte, in hex.
byte_at() {
	dd if="$MNT/$1/contents" bs=1 skip="$2" count=1 status=none | xxd -p
}

host_dirty() {
	say "dirty: the host's writes"
	expect_eq "dirty of a fresh region" "$(dirty a)" ""
	page a 3 a5
	page a 4 a5
	page a 9 a5
	errno_of fill "$MNT/a/contents" 78 $((16 * PAGE - 1)) 1 >/dev/null
	expect_eq "dirty after writes" "$(dirty a)" \
		"$(range $((3 * PAGE)) $((5 * PAGE)))$(range $((9 * PAGE)) $((10 * PAGE)))$(range $((15 * PAGE)) $((16 * PAGE)))"
	expect_eq "reading does not clear" "$(dirty a)" \
		"$(range $((3 * PAGE)) $((5 * PAGE)))$(range $((9 * PAGE)) $((10 * PAGE)))$(range $((15 * PAGE)) $((16 * PAGE)))"
	expect_eq "st_size of dirty" "$(stat -c %s "$MNT/a/dirty")" "$(wc -c <"$MNT/a/dirty")"
	echo 0 >"$MNT/a/dirty" || bad "echo 0 > dirty failed"
	expect_eq "dirty after clear" "$(dirty a)" ""
	page a 7 01
	expect_eq "dirty after one page" "$(dirty a)" "$(range $((7 * PAGE)) $((8 * PAGE)))"
	expect_refused a EINVAL 1 errno_of write "$MNT/a/dirty" 1
	expect_refused a EINVAL 1 errno_of write "$MNT/a/dirty" clear
	echo 1 >"$MNT/b/zero"
	expect_eq "dirty after zero" "$(dirty b)" "$(range 0 "$(attr b mem_size)")"
	echo 0 >"$MNT/b/dirty"
	# A long list (every other page: 80 ranges, over 1 KiB) reads whole
	# with cat, dd in small blocks and cp (which looks for holes).
	echo 0 >"$MNT/a/dirty"
	local want="" i
	for i in $(seq 1000 2 1158); do
		errno_of fill "$MNT/a/contents" 78 $((i * PAGE)) 1 >/dev/null
		want+=$(range $((i * PAGE)) $(((i + 1) * PAGE)))
	done
	expect_eq "80 ranges" "$(dirty a)" "$want"
	expect_eq "dd bs=7 of dirty" "$(dd if="$MNT/a/dirty" bs=7 status=none | tr '\n' ' ')" "$want"
	cp "$MNT/a/dirty" "$WORK/dirty.copy" || bad "cp of dirty failed"
	expect_eq "cp of dirty" "$(tr '\n' ' ' <"$WORK/dirty.copy")" "$want"
	expect_eq "st_size of the long dirty" "$(stat -c %s "$MNT/a/dirty")" "$(wc -c <"$WORK/dirty.copy")"
	echo 0 >"$MNT/a/dirty"
	# A read-write open (dd with seek= makes one) writes through the
	# daemon: exact.  With mmap_rw 1 it is passed through and may write
	# through a mapping nobody sees, even after its close: every page
	# counts until a clear finds it and its mappings gone (or a resize
	# gives the region new memory).  On a region of its own, rw.
	mkdir "$MNT/rw" && echo 1M >"$MNT/rw/mem_size" || bad "mkdir rw failed"
	echo 0 >"$MNT/rw/dirty"
	printf '\245' | dd of="$MNT/rw/contents" bs=1 seek=$((3 * PAGE)) conv=notrunc status=none
	expect_eq "dirty after a read-write open" "$(dirty rw)" "$(range $((3 * PAGE)) $((4 * PAGE)))"
	if log_has 'contents read path: FUSE passthrough'; then
		echo 1 >"$MNT/rw/mmap_rw"
		echo 0 >"$MNT/rw/dirty"
		printf '\245' | dd of="$MNT/rw/contents" bs=1 seek=$((3 * PAGE)) conv=notrunc status=none
		expect_eq "dirty after a read-write open, mmap_rw 1" "$(dirty rw)" "$(range 0 $((1 << 20)))"
		echo 0 >"$MNT/rw/dirty"
		page rw 5 01
		expect_eq "dirty cleared after it closed" "$(dirty rw)" "$(range $((5 * PAGE)) $((6 * PAGE)))"
	fi
	expect_eq "the byte written read-write" "$(byte_at rw $((3 * PAGE)))" a5
	rmdir "$MNT/rw"
}

snapshots() {
	local f want before
	say "snapshot, restore, the readonly copies"
	page a 100 11
	page a 200 22
	page b 0 33
	expect_eq "root files" "$(stat -c '%n %a' "$MNT/snapshot" "$MNT/restore" "$MNT/snapshots" | tr '\n' ' ')" \
		"$MNT/snapshot 600 $MNT/restore 600 $MNT/snapshots 755 "
	expect_eq "no snapshots yet" "$(ls_sorted "$MNT/snapshots")" ""
	# The bytes s1 must hold, kept by the test (and checked against what
	# it wrote): a snapshot that aliased the live memory, or a restore
	# that did nothing, must not compare equal to itself.
	cp --sparse=always "$MNT/a/contents" "$WORK/a.s1" || bad "cp of a failed"
	cp --sparse=always "$MNT/b/contents" "$WORK/b.s1" || bad "cp of b failed"
	for f in 3:a5 4:a5 7:01 9:a5 100:11 200:22 101:00 300:00; do
		page_is "$WORK/a.s1" "${f%:*}" "${f#*:}" || bad "page ${f%:*} of a is not ${f#*:}"
	done
	page_is "$WORK/b.s1" 0 33 || bad "page 0 of b is not 33"
	page_is "$WORK/b.s1" 1 00 || bad "page 1 of b is not 00"
	echo s1 >"$MNT/snapshot" || bad "echo s1 > snapshot failed"
	expect_eq "snapshots" "$(ls_sorted "$MNT/snapshots")" "s1 "
	expect_eq "snapshots/s1" "$(ls_sorted "$MNT/snapshots/s1")" "a b console info vcpu_state "
	# Its own files: the owner's, read-only; no vCPU here, and info says so.
	expect_eq "modes of info, vcpu_state" "$(stat -c '%a' "$MNT/snapshots/s1/info" "$MNT/snapshots/s1/vcpu_state" | tr '\n' ' ')" "400 400 "
	grep -qx 'vcpu none' "$MNT/snapshots/s1/info" || bad "info does not say there is no vCPU"
	expect_eq "vcpu_state magic" "$(head -c 7 "$MNT/snapshots/s1/vcpu_state")" RFSVCPU
	want=$(printf '%s\n' "${REGION_FILES[@]}" | sort | tr '\n' ' ')
	expect_eq "snapshots/s1/a" "$(ls_sorted "$MNT/snapshots/s1/a")" "$want"
	expect_eq "kind of a copy" "$(attr snapshots/s1/a kind)" readonly
	expect_eq "mem_size of a copy" "$(attr snapshots/s1/a mem_size)" "$(attr a mem_size)"
	expect_eq "dirty of a copy" "$(dirty snapshots/s1/a)" ""
	cmp "$MNT/a/contents" "$MNT/snapshots/s1/a/contents" || bad "a and its copy differ"
	cmp "$MNT/b/contents" "$MNT/snapshots/s1/b/contents" || bad "b and its copy differ"
	# The copy takes the pages with data: 5 of a (3, 4, 9, 15... and 7,
	# 100, 200 minus what zero took), here a's 7 pages.
	expect_eq "memory of a's copy" $(($(stat -c %b "$MNT/snapshots/s1/a/contents") * 512)) \
		$(($(stat -c %b "$MNT/a/contents") * 512))

	# Every control write on a copy: EPERM, one log line, nothing changes.
	BASELINE=$(snapshot snapshots/s1/a)
	for f in zero:1 guest_addr:0x100000 guest_addr:none access:ro mem_size:1M dirty:0; do
		expect_refused snapshots/s1/a EPERM 1 errno_of write "$MNT/snapshots/s1/a/${f%%:*}" "${f#*:}"
	done
	expect_refused snapshots/s1/a EPERM 1 errno_of pwrite "$MNT/snapshots/s1/a/contents" x 0
	expect_refused snapshots/s1/a EPERM 1 errno_of rmdir "$MNT/snapshots/s1/a"
	expect_refused snapshots/s1/a EPERM 1 errno_of mkdir "$MNT/snapshots/new"
	BASELINE=
	if { echo 1 >"$MNT/snapshots/s1/a/zero"; } 2>"$WORK/err"; then
		bad "echo 1 > a copy's zero succeeded"
	fi
	REFUSALS=$((REFUSALS + 1))
	grep -q 'Operation not permitted' "$WORK/err" || bad "echo 1 > zero of a copy: '$(cat "$WORK/err")'"

	# Refusals of snapshot and restore.
	BASELINE=$(snapshot a)
	expect_refused a EEXIST 1 errno_of write "$MNT/snapshot" s1
	expect_refused a EINVAL 1 errno_of write "$MNT/snapshot" .hidden
	expect_refused a EINVAL 1 errno_of write "$MNT/snapshot" a/b
	expect_refused a ENOENT 1 errno_of write "$MNT/restore" nope
	expect_eq "snapshot reads empty" "$(wc -c <"$MNT/snapshot")" 0
	expect_eq "restore reads empty" "$(wc -c <"$MNT/restore")" 0
	BASELINE=

	# Change a (rewrite, a new page, a page gone) and zero b; restore.
	echo 0 >"$MNT/a/dirty"
	page a 100 99
	page a 300 77
	echo 1 >"$MNT/b/zero"
	page_is "$MNT/a/contents" 100 99 || bad "page 100 of a is not 99 before the restore"
	cmp "$WORK/a.s1" "$MNT/snapshots/s1/a/contents" || bad "s1's a changed with a"
	cmp "$WORK/b.s1" "$MNT/snapshots/s1/b/contents" || bad "s1's b changed with b"
	echo s1 >"$MNT/restore" || bad "echo s1 > restore failed"
	cmp "$WORK/a.s1" "$MNT/a/contents" || bad "a is not what it held at s1, after restore"
	cmp "$WORK/b.s1" "$MNT/b/contents" || bad "b is not what it held at s1, after restore"
	# It rewrote exactly the pages written since (and dirty says so).
	expect_eq "dirty after restore" "$(dirty a)" \
		"$(range $((100 * PAGE)) $((101 * PAGE)))$(range $((300 * PAGE)) $((301 * PAGE)))"
	expect_eq "resident of a after restore" "$(stat -c %b "$MNT/a/contents")" \
		"$(stat -c %b "$MNT/snapshots/s1/a/contents")"

	# A region created since is left alone; one removed since is ENOENT,
	# and nothing changes.
	mkdir "$MNT/c"
	put c 0
	echo s2 >"$MNT/snapshot"
	rmdir "$MNT/c"
	mkdir "$MNT/d"
	put d 0
	page a 5 55
	before=$(snapshot a)
	expect_refused d ENOENT 1 errno_of write "$MNT/restore" s2
	[[ $(last_log_line) == *"region c was removed"* ]] || bad "restore s2: the log does not name c: $(last_log_line)"
	expect_eq "a untouched by the refused restore" "$(snapshot a)" "$before"
	mkdir "$MNT/c"
	echo s2 >"$MNT/restore" || bad "restore s2 with c back failed"
	has c 0 || bad "c did not get its bytes back"
	has d 0 || bad "d (created since) was not left alone"
	expect_eq "a's page 5 after restoring s2" "$(byte_at a $((5 * PAGE)))" 00

	# The limit on the number (-o max_snapshots=3): ENOSPC.
	echo s3 >"$MNT/snapshot"
	expect_refused a ENOSPC 1 errno_of write "$MNT/snapshot" s4
	expect_eq "snapshots" "$(ls_sorted "$MNT/snapshots")" "s1 s2 s3 "
	rmdir "$MNT/snapshots/s3" || bad "rmdir of a snapshot failed"
	rmdir "$MNT/snapshots/s2"
	expect_eq "snapshots after rmdir" "$(ls_sorted "$MNT/snapshots")" "s1 "
	expect_refused a EPERM 1 errno_of rmdir "$MNT/snapshots"
	rmdir "$MNT/c" "$MNT/d"
}

# cp -r --sparse=always of a snapshot to disk, and back into a new sandbox.
save_and_reload() {
	local saved=$WORK/saved
	say "save to disk with cp -r --sparse=always, reload into a new daemon"
	cp -r --sparse=always "$MNT/snapshots/s1" "$saved" || bad "cp -r of snapshots/s1 failed"
	# Against the bytes the test kept when it took s1 (snapshots).
	cmp "$WORK/a.s1" "$saved/a/contents" || bad "the saved a is not what a held at s1"
	cmp "$WORK/b.s1" "$saved/b/contents" || bad "the saved b is not what b held at s1"
	expect_eq "saved a is sparse" "$(stat -c %b "$saved/a/contents")" \
		"$(stat -c %b "$MNT/snapshots/s1/a/contents")"
	expect_eq "saved kind" "$(cat "$saved/a/kind")" readonly
	stop_daemon
	start_daemon --region a:16M --region b:1M
	cp --sparse=always "$saved/a/contents" "$MNT/a/contents" || bad "cp into a failed"
	cp --sparse=always "$saved/b/contents" "$MNT/b/contents" || bad "cp into b failed"
	cmp "$WORK/a.s1" "$MNT/a/contents" || bad "a reloaded is not what a held at s1"
	cmp "$WORK/b.s1" "$MNT/b/contents" || bad "b reloaded is not what b held at s1"
	expect_eq "reloaded a's pages" "$(stat -c %b "$MNT/a/contents")" "$(stat -c %b "$saved/a/contents")"
	stop_daemon
}

# A 16 GiB region with 64 MiB written: the snapshot takes about 64 MiB.
sparse_big() {
	local blocks t0 t1
	say "a sparse 16 GiB snapshot"
	start_daemon --region big:16G
	for i in 0 1 2 3; do
		head -c 16M /dev/urandom >"$WORK/big.$i"
		dd if="$WORK/big.$i" of="$MNT/big/contents" bs=1M seek=$((i * 4096)) conv=notrunc status=none ||
			bad "dd of 16 MiB at $((i * 4)) GiB failed"
	done
	t0=$(date +%s%N)
	echo big >"$MNT/snapshot" || bad "snapshot of a 16 GiB region failed"
	t1=$(date +%s%N)
	blocks=$(stat -c %b "$MNT/snapshots/big/big/contents")
	say "16 GiB region, 64 MiB written: snapshot in $(((t1 - t0) / 1000000)) ms, copy $((blocks / 2048)) MiB"
	expect_eq "copy's st_blocks (64 MiB)" "$blocks" $((64 * 2048))
	expect_eq "copy's st_size" "$(stat -c %s "$MNT/snapshots/big/big/contents")" $((16 << 30))
	# The copy against the bytes the test wrote, at each 4 GiB.
	for i in 0 1 2 3; do
		cmp -n $((16 << 20)) -i "0:$((i << 32))" "$WORK/big.$i" "$MNT/snapshots/big/big/contents" ||
			bad "the copy's 16 MiB at $((i * 4)) GiB are not those written"
	done
	stop_daemon
}

# -o nodirty: no record; restore copies every page back.
nodirty() {
	say "-o nodirty"
	start_daemon --region a:1M -o nodirty
	page a 1 11
	expect_eq "dirty untracked" "$(cat "$MNT/a/dirty")" untracked
	# EOPNOTSUPP; python names the same errno ENOTSUP.
	expect_refused a ENOTSUP 1 errno_of write "$MNT/a/dirty" 0
	echo n >"$MNT/snapshot"
	page a 1 22
	page a 2 33
	echo n >"$MNT/restore" || bad "restore with -o nodirty failed"
	cmp "$MNT/a/contents" "$MNT/snapshots/n/a/contents" || bad "a differs from its snapshot"
	expect_eq "a's pages after restore" "$(stat -c %b "$MNT/a/contents")" $((PAGE / 512))
	stop_daemon
}

# ---- With KVM: the guest's side.

# The guest's writes to pages 1 and 5 of data, then its halt.
guest_dirty() {
	local i
	say "dirty: the guest's writes (KVM dirty log)"
	start_daemon --region ram:1M@0x100000 --region data:64K@0x200000 \
		--guest "$GUESTS_DIR/dirtier.elf"
	for i in $(seq 200); do
		[ "$(cat "$MNT/vcpu")" = halted ] && break
		sleep 0.1
	done
	expect_eq "vcpu" "$(cat "$MNT/vcpu")" halted
	expect_eq "console" "$(cat "$MNT/console")" dirtied
	expect_eq "data/dirty: the guest's pages" "$(dirty data)" \
		"$(range 0x1000 0x2000)$(range 0x5000 0x6000)"
	expect_eq "the guest's bytes" "$(byte_at data $((0x1000)))$(byte_at data $((0x5000)))" a1b2
	echo 0 >"$MNT/data/dirty" || bad "clear of data/dirty failed"
	expect_eq "data/dirty after clear" "$(dirty data)" ""
	page data 8 cc
	expect_eq "data/dirty after the host's write" "$(dirty data)" "$(range 0x8000 0x9000)"
	stop_daemon
}

# counter: its count in %r12 and at data+0, compared each round.
count() {
	od -A n -t u8 -N 8 "$MNT/data/contents" | tr -d ' '
}

count_above() {
	[ "$(count)" -gt "$1" ]
}

guest_snapshot() {
	local n con
	say "snapshot and restore of a running guest"
	start_daemon --region ram:1M@0x100000 --region data:64K@0x200000 \
		--guest "$GUESTS_DIR/counter.elf"
	wait_for count_above 2 || bad "the counter guest does not count"
	# Running: EBUSY at once (the guest changes data meanwhile).
	expect_errno EBUSY write "$MNT/snapshot" s
	expect_eq "no snapshot while running" "$(ls_sorted "$MNT/snapshots")" ""
	# A read-write open whose O_TRUNC is refused wrote nothing: dirty
	# stays exact (nothing written while paused).
	expect_errno EBUSY rwtrunc "$MNT/data/contents"
	echo pause >"$MNT/vcpu"
	echo 0 >"$MNT/data/dirty"
	expect_eq "dirty after a refused read-write O_TRUNC" "$(dirty data)" ""
	n=$(count)
	echo s >"$MNT/snapshot" || bad "snapshot while paused failed"
	echo run >"$MNT/vcpu"
	wait_for count_above $((n + 5)) || bad "the counter did not go on after the snapshot"
	expect_errno EBUSY write "$MNT/restore" s
	echo pause >"$MNT/vcpu"
	echo s >"$MNT/restore" || bad "restore while paused failed"
	expect_eq "vcpu after restore" "$(cat "$MNT/vcpu")" paused
	# The console as the snapshot kept it: the guest goes on after it.
	cmp "$MNT/console" "$MNT/snapshots/s/console" || bad "restore did not put the console back"
	con=$(stat -c %s "$MNT/console")
	expect_eq "the count after restore" "$(count)" "$n"
	cmp "$MNT/data/contents" "$MNT/snapshots/s/data/contents" || bad "data differs from the snapshot"
	echo run >"$MNT/vcpu"
	wait_for count_above $((n + 3)) || bad "the guest did not go on after restore"
	echo pause >"$MNT/vcpu"
	# It went on from the snapshot point: the first tick after restore is
	# the snapshot's count (paused between store and print) or the next.
	first=$(tail -c +$((con + 1)) "$MNT/console" | grep -m 1 -o 'tick [0-9a-f]*' | cut -d' ' -f2)
	if [ -z "$first" ] || { [ $((16#$first)) -ne "$n" ] && [ $((16#$first)) -ne $((n + 1)) ]; }; then
		bad "first tick after restore: '$first', want $n or $((n + 1)) (hex)"
	fi
	! grep -q MISMATCH "$MNT/console" || bad "the guest saw registers and memory disagree"
	say "restored at count $n; the guest went on with tick 0x$first"
	stop_daemon
}

start_daemon --region a:16M --region b:1M -o max_snapshots=3
host_dirty
snapshots
save_and_reload
sparse_big
nodirty
if have_kvm; then
	guest_dirty
	guest_snapshot
else
	skip_part guest "no usable /dev/kvm: the guest's dirty pages and snapshot not tested here (scripts/test runs this test in the KVM lab)"
fi
finish
