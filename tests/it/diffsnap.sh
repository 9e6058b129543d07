#!/bin/bash
# Diff snapshots: echo NAME:PARENT > snapshot holds only the pages written
# since PARENT (its regions' dirty files list them) and reads the rest
# through, so every tool reads it as the full snapshot of that moment
# (cmp, diff -r, cp --sparse, SEEK_DATA, st_blocks); it takes the memory
# of its pages; restore gives its moment back; its parent cannot go
# first; saved beside its parent with cp -r it loads with --from as the
# same chain, and a missing or foreign parent is refused, nothing
# mounted.  With /dev/kvm, the counter guest: the pages it wrote, the
# registers, and a resume from the chain.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"
LOG_NOTICES+='|: started from |: vcpu: halted at rip '

lines() {
	printf '%s\n' "$@"
}

# Files that differ between any two copies: where each is in the
# daemon's memory.
HOST_ADDRS=(-x base_addr -x raw_addr -x host_region_base -x host_region_end)

# same_snapshot A B: snapshots A and B read the same everywhere but in
# the files that say what each is (info, a diff's parent and dirty), where
# it is, and vcpu_state (the time stamp counter moves even while paused:
# the registers are compared after a restore).
same_snapshot() {
	local a=$MNT/snapshots/$1 b=$MNT/snapshots/$2 r
	diff -r -x info -x parent -x dirty -x vcpu_state "${HOST_ADDRS[@]}" "$a" "$b" >"$WORK/diff.out" ||
		bad "diff -r $1 $2: $(head -c 300 "$WORK/diff.out")"
	for r in $(ls_sorted "$b"); do
		[ -d "$b/$r" ] || continue
		cmp "$a/$r/contents" "$b/$r/contents" || bad "$1/$r differs from $2/$r"
		expect_eq "st_blocks of $1/$r" "$(stat -c %b "$a/$r/contents")" "$(stat -c %b "$b/$r/contents")"
		expect_eq "SEEK_DATA of $1/$r" "$(errno_of seek "$a/$r/contents" 0 data)" "$(errno_of seek "$b/$r/contents" 0 data)"
		expect_eq "SEEK_HOLE of $1/$r" "$(errno_of seek "$a/$r/contents" 0 hole)" "$(errno_of seek "$b/$r/contents" 0 hole)"
	done
}

# model FILE OFF DATA: DATA written at OFF of FILE, a file the test keeps:
# what a region must hold, whatever the daemon's copies say.
model() {
	printf '%s' "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none ||
		fail "cannot write the model $1"
}

id_of() {
	sed -n 's/^id //p' "$1/info"
}

# Host writes, no vCPU: the pages held, the view, restore, rmdir, save.
host() {
	local s
	say "host writes: a diff holds the pages written, reads as the full snapshot"
	start_daemon "${NO_KVM[@]}" --region a:16M --region b:1M
	# Write-only opens, stamped page by page (dd seek= opens read-write:
	# a writer nobody sees, which makes every page count).
	expect_ok pwrite "$MNT/a/contents" five $((5 * PAGE))
	expect_ok pwrite "$MNT/a/contents" thousand $((1000 * PAGE))
	expect_ok pwrite "$MNT/b/contents" b 0
	# The models: base's bytes and d1's, written as the regions are.
	truncate -s 16M "$WORK/base.a" && truncate -s 1M "$WORK/base.b" "$WORK/d1.b" ||
		fail "cannot make the models"
	model "$WORK/base.a" $((5 * PAGE)) five
	model "$WORK/base.a" $((1000 * PAGE)) thousand
	model "$WORK/base.b" 0 b
	cp "$WORK/base.a" "$WORK/d1.a"
	dd if=/dev/zero of="$WORK/d1.a" bs="$PAGE" seek=5 count=1 conv=notrunc status=none
	model "$WORK/d1.a" $((7 * PAGE)) "$(printf 'w%.0s' $(seq 100))"
	echo base >"$MNT/snapshot" || bad "snapshot base failed"
	# Page 5 zeroed (held: it must read zeros, not base's), 7 written, b zeroed whole.
	expect_ok fill "$MNT/a/contents" 00 $((5 * PAGE)) "$PAGE"
	expect_ok fill "$MNT/a/contents" 77 $((7 * PAGE)) 100
	echo 1 >"$MNT/b/zero"
	expect_ok write "$MNT/snapshot" "d1:base"
	echo full >"$MNT/snapshot" || bad "snapshot full failed"
	s=$MNT/snapshots
	expect_eq "files of d1" "$(ls_sorted "$s/d1")" "a b console info parent vcpu_state "
	expect_eq "files of full" "$(ls_sorted "$s/full")" "a b console info vcpu_state "
	expect_eq "d1/parent" "$(cat "$s/d1/parent")" "base $(id_of "$s/base")"
	expect_eq "d1/a/dirty" "$(cat "$s/d1/a/dirty")" "$(lines "$(printf '0x%x-0x%x' $((5 * PAGE)) $((6 * PAGE)))" "$(printf '0x%x-0x%x' $((7 * PAGE)) $((8 * PAGE)))")"
	expect_eq "d1/b/dirty" "$(cat "$s/d1/b/dirty")" "0x0-0x100000"
	expect_eq "full/a/dirty" "$(must cat "$s/full/a/dirty")" ""
	same_snapshot d1 full
	cmp "$WORK/base.a" "$s/base/a/contents" || bad "base/a is not what a held"
	cmp "$WORK/base.b" "$s/base/b/contents" || bad "base/b is not what b held"
	cmp "$WORK/d1.a" "$s/d1/a/contents" || bad "d1/a is not what a held"
	cmp "$WORK/d1.b" "$s/d1/b/contents" || bad "d1/b is not what b held"
	expect_eq "page 5 of d1" "$(od -A n -t x1 -j $((5 * PAGE)) -N 4 "$s/d1/a/contents" | tr -d ' ')" 00000000
	# What it takes: page 7, the one held page with data.
	grep -qx "diff a holds 2 of 4096 pages, takes $PAGE bytes, the rest read through" "$s/d1/info" ||
		bad "d1/info: $(grep '^diff a' "$s/d1/info")"
	say "memory: full/a takes $(sed -n 's/^region a .* resident \([0-9]*\).*/\1/p' "$s/full/info") bytes, d1/a $PAGE"
	# A parent goes after its diffs.
	expect_errno EBUSY rmdir "$s/base"
	log_has 'snapshot d1 is a diff of it' || bad "rmdir base: the log does not say why"
	[ -d "$s/base" ] || bad "base is gone after a refused rmdir"
	expect_errno ENOENT write "$MNT/snapshot" "d2:nope"
	expect_errno EINVAL write "$MNT/snapshot" "d2:"
	expect_eq "snapshots after refusals" "$(ls_sorted "$s")" "base d1 full "
	# Restore: from anything back to d1's moment.
	expect_ok pwrite "$MNT/a/contents" later $((9 * PAGE))
	echo base >"$MNT/restore" || bad "restore base failed"
	cmp "$WORK/base.a" "$MNT/a/contents" || bad "a is not base after restore"
	cmp "$WORK/base.b" "$MNT/b/contents" || bad "b is not base after restore"
	echo d1 >"$MNT/restore" || bad "restore d1 failed"
	cmp "$WORK/d1.a" "$MNT/a/contents" || bad "a is not d1 after restore"
	cmp "$WORK/d1.b" "$MNT/b/contents" || bad "b is not d1 after restore"
	# Saved beside each other, sparse.
	mkdir "$WORK/saved"
	cp -r --sparse=always "$s/base" "$s/d1" "$WORK/saved/" || bad "cp -r failed"
	tar -cSf "$WORK/chain.tar" -C "$s" base d1 || bad "tar -cS failed"
	cp -r --sparse=always "$s/full" "$WORK/full" || bad "cp -r full failed"
	expect_eq "saved d1/a blocks" "$(stat -c %b "$WORK/saved/d1/a/contents")" "$(stat -c %b "$WORK/full/a/contents")"
	stop_daemon

	say "--from the saved chain: base, then d1's pages"
	start_daemon "${NO_KVM[@]}" --from "$WORK/saved/d1"
	expect_eq "snapshots" "$(ls_sorted "$MNT/snapshots")" "base d1 "
	cmp "$WORK/d1.a" "$MNT/a/contents" || bad "a is not d1's"
	cmp "$WORK/d1.b" "$MNT/b/contents" || bad "b is not d1's"
	expect_eq "d1 again: a/dirty" "$(cat "$MNT/snapshots/d1/a/dirty")" "$(cat "$WORK/saved/d1/a/dirty")"
	expect_eq "d1 again: parent" "$(cat "$MNT/snapshots/d1/parent")" "$(cat "$WORK/saved/d1/parent")"
	expect_eq "d1 again: id" "$(id_of "$MNT/snapshots/d1")" "$(id_of "$WORK/saved/d1")"
	grep -qx "diff a holds 2 of 4096 pages, takes $PAGE bytes, the rest read through" "$MNT/snapshots/d1/info" ||
		bad "d1/info again: $(grep '^diff a' "$MNT/snapshots/d1/info")"
	diff -r -x info "${HOST_ADDRS[@]}" "$MNT/snapshots/d1" "$WORK/saved/d1" >"$WORK/diff.out" || bad "d1 differs from its saved copy: $(head -c 300 "$WORK/diff.out")"
	echo base >"$MNT/restore" || bad "restore base failed"
	cmp "$WORK/base.a" "$MNT/a/contents" || bad "a is not base's"
	stop_daemon

	say "--from the chain through tar -cS, tar -x"
	mkdir "$WORK/untar"
	tar -xf "$WORK/chain.tar" -C "$WORK/untar" || bad "tar -x failed"
	start_daemon "${NO_KVM[@]}" -o "from=$WORK/untar/d1"
	expect_eq "snapshots (tar)" "$(ls_sorted "$MNT/snapshots")" "base d1 "
	cmp "$WORK/d1.a" "$MNT/a/contents" || bad "a is not d1's (tar)"
	expect_eq "d1/a/dirty (tar)" "$(cat "$MNT/snapshots/d1/a/dirty")" "$(cat "$WORK/saved/d1/a/dirty")"
	stop_daemon
}

# other_id INFO: its id made another (the last digit changed).
other_id() {
	local id
	id=$(sed -n 's/^id //p' "$1")
	sed -i -E '/^id /{s/0$/1/;t;s/.$/0/}' "$1"
	[ "$(sed -n 's/^id //p' "$1")" != "$id" ]
}

# broken NAME PATTERN: the saved chain, changed by the commands on stdin,
# is refused when its diff d1 is loaded (lib.sh).
broken() { expect_damaged_refused "$WORK/saved" "$1" d1 "$2"; }

damage() {
	say "a missing or foreign parent, a damaged list of pages: refused"
	broken no-parent 'd1/parent names base, and .*/base: No such file' <<<'rm -r base'
	broken other-parent 'd1/parent names base 0x[0-9a-f]*, but .*base/info says id 0x[0-9a-f]*: not the snapshot' \
		<<<"$(declare -f other_id); other_id base/info"
	broken bad-parent 'd1/parent: not "NAME 0xID"' <<<'echo base >parent.new; mv parent.new d1/parent'
	broken no-dirty 'd1/a/dirty: No such file' <<<'rm d1/a/dirty'
	broken bad-dirty 'd1/a/dirty: line 1 is not a range' <<<'echo 0x5000-0x5001 >d1/a/dirty'
	broken parent-size 'd1/a/dirty: the diff holds some pages .* has no region a of 16777216 bytes' \
		<<<"rm -r base/a; sed -i '/^crc32c a /d' base/info"
}

# The counter guest: what it wrote between base and d1, resumed from d1.
guest() {
	local n0 n1 regs1 r con
	declare -A live
	say "the counter guest: base, run, d1:base, restore, save, --from the chain"
	start_daemon --region ram:1M@0x100000 --region data:64K@0x200000 \
		--guest "$GUESTS_DIR/counter.elf"
	wait_for counter_above 2 || bad "the counter guest does not count"
	echo pause >"$MNT/vcpu"
	n0=$(counter_count)
	echo base >"$MNT/snapshot" || bad "snapshot base failed"
	for r in $(ls_regions); do echo 0 >"$MNT/$r/dirty"; done
	echo run >"$MNT/vcpu"
	wait_for counter_above $((n0 + 3)) || bad "the guest did not go on"
	echo pause >"$MNT/vcpu"
	n1=$(counter_count)
	regs1=$(cat "$MNT/regs")
	for r in $(ls_regions); do live[$r]=$(cat "$MNT/$r/dirty"); done
	echo d1:base >"$MNT/snapshot" || bad "snapshot d1:base failed"
	echo full >"$MNT/snapshot" || bad "snapshot full failed"
	# It writes its count at DATA and DATA+0x3000, nothing else there.
	expect_eq "d1/data/dirty" "$(cat "$MNT/snapshots/d1/data/dirty")" "$(lines 0x0-0x1000 0x3000-0x4000)"
	for r in $(ls_regions); do
		expect_eq "d1/$r/dirty: what $r/dirty said" "$(cat "$MNT/snapshots/d1/$r/dirty")" "${live[$r]}"
	done
	same_snapshot d1 full
	say "memory: $(grep '^diff ' "$MNT/snapshots/d1/info" | tr '\n' ';')"
	echo run >"$MNT/vcpu"
	wait_for counter_above $((n1 + 2)) || bad "the guest did not go on after d1"
	echo pause >"$MNT/vcpu"
	echo d1 >"$MNT/restore" || bad "restore d1 failed"
	expect_eq "count after restore d1" "$(counter_count)" "$n1"
	expect_eq "regs after restore d1" "$(cat "$MNT/regs")" "$regs1"
	mkdir "$WORK/gsaved"
	cp -r --sparse=always "$MNT/snapshots/base" "$MNT/snapshots/d1" "$WORK/gsaved/" || bad "cp -r failed"
	stop_daemon

	start_daemon --from "$WORK/gsaved/d1"
	expect_eq "vcpu" "$(cat "$MNT/vcpu")" paused
	expect_eq "snapshots" "$(ls_sorted "$MNT/snapshots")" "base d1 "
	expect_eq "count from the chain" "$(counter_count)" "$n1"
	expect_eq "regs from the chain" "$(cat "$MNT/regs")" "$regs1"
	expect_eq "d1/data/dirty from the chain" "$(cat "$MNT/snapshots/d1/data/dirty")" "$(lines 0x0-0x1000 0x3000-0x4000)"
	# A diff keeps the console whole, like a full snapshot.
	cmp "$MNT/console" "$WORK/gsaved/d1/console" || bad "the console is not d1's"
	cmp "$MNT/snapshots/base/console" "$WORK/gsaved/base/console" || bad "base's console was not loaded"
	con=$(stat -c %s "$MNT/console")
	echo run >"$MNT/vcpu"
	wait_for counter_above $((n1 + 3)) || bad "the guest did not go on from the chain"
	echo pause >"$MNT/vcpu"
	counter_went_on "$con" "$n1" "from the chain"
	echo base >"$MNT/restore" || bad "restore base failed"
	expect_eq "count after restore base" "$(counter_count)" "$n0"
	cmp "$MNT/console" "$WORK/gsaved/base/console" || bad "restore base did not put its console back"
	stop_daemon
}

host
damage
if have_kvm; then
	guest
else
	skip_part guest "no usable /dev/kvm: the counter guest's diff not tested here"
fi
finish
