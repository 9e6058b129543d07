#!/bin/bash
# Snapshots that outlive the daemon: snapshots/NAME saved with
# cp -r --sparse=always, tar -cS and rsync -aS holds everything a new
# daemon needs (regions, their mappings and access, vcpu_state, info), and
# regionfs --from DIR starts from it, paused, sparse, with the snapshot
# there to restore.  With /dev/kvm, the counter guest goes on counting from
# the snapshot's value, and its console is the one kept in the snapshot
# (after --from and after a restore; a directory saved without one starts
# empty, with a log line).  Damaged copies are refused, saying which file
# and what is wrong, and nothing is mounted.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"
LOG_NOTICES+='|: started from |: vcpu: halted at rip |/console: none \(saved before snapshots kept the console\)'

count() {
	od -A n -t u8 -N 8 "$MNT/data/contents" | tr -d ' '
}

count_above() {
	[ "$(count)" -gt "$1" ]
}

attrs() {
	local d=$1 r
	for r in $(ls_sorted "$d"); do
		[ -f "$d/$r/mem_size" ] || continue
		printf '%s %s %s %s; ' "$r" "$(cat "$d/$r/mem_size")" \
			"$(cat "$d/$r/guest_addr")" "$(cat "$d/$r/access")"
	done
}

# Regions without a vCPU: bytes, sizes and holes come back.
no_vcpu() {
	local saved=$WORK/plain
	say "a sandbox without a vCPU: cp -r --sparse=always, --from"
	start_daemon "${NO_KVM[@]}" --region a:16M --region b:1M
	# The same writes into files the test keeps: what the regions must
	# hold, not what the daemon says they hold.
	truncate -s 16M "$WORK/a.want"
	truncate -s 1M "$WORK/b.want"
	local f
	for f in "$MNT/a/contents" "$WORK/a.want"; do
		printf 'first' | dd of="$f" bs=1 seek=$((5 * PAGE)) conv=notrunc status=none ||
			bad "dd of $f failed"
		printf 'last' | dd of="$f" bs=1 seek=$((16 * 1024 * 1024 - 4)) conv=notrunc status=none ||
			bad "dd of $f failed"
	done
	for f in "$MNT/b/contents" "$WORK/b.want"; do
		printf 'b' | dd of="$f" conv=notrunc status=none || bad "dd of $f failed"
	done
	echo ro >"$MNT/b/access"
	echo p >"$MNT/snapshot" || bad "snapshot failed"
	expect_eq "files of snapshots/p" "$(ls_sorted "$MNT/snapshots/p")" "a b console info vcpu_state "
	expect_eq "access of b's copy" "$(cat "$MNT/snapshots/p/b/access")" ro
	grep -qx 'vcpu none' "$MNT/snapshots/p/info" || bad "info: no 'vcpu none'"
	expect_eq "console of a snapshot without a vCPU" "$(stat -c %s "$MNT/snapshots/p/console")" 0
	cp -r --sparse=always "$MNT/snapshots/p" "$saved" || bad "cp -r failed"
	stop_daemon
	expect_eq "saved a is sparse" "$(stat -c %b "$saved/a/contents")" $((2 * PAGE / 512))
	start_daemon "${NO_KVM[@]}" --from "$saved"
	expect_eq "regions" "$(ls_regions)" "a b "
	expect_eq "attributes" "$(attrs "$MNT")" "$(attrs "$saved")"
	cmp "$WORK/a.want" "$saved/a/contents" || bad "the saved a is not what was written"
	cmp "$WORK/b.want" "$saved/b/contents" || bad "the saved b is not what was written"
	cmp "$WORK/a.want" "$MNT/a/contents" || bad "a differs from what was written"
	cmp "$WORK/b.want" "$MNT/b/contents" || bad "b differs from what was written"
	expect_eq "loaded a's pages" "$(stat -c %b "$MNT/a/contents")" "$(stat -c %b "$saved/a/contents")"
	expect_eq "snapshots" "$(ls_sorted "$MNT/snapshots")" "plain "
	printf 'x' | dd of="$MNT/a/contents" conv=notrunc status=none
	echo plain >"$MNT/restore" || bad "restore of the loaded snapshot failed"
	cmp "$WORK/a.want" "$MNT/a/contents" || bad "a differs from what was written, after restore"
	stop_daemon
}

# damaged NAME PATTERN: the saved directory, changed by the commands on
# stdin, is refused (lib.sh).
damaged() { expect_damaged_refused "$WORK/plain" "$1" "" "$2"; }

damage() {
	say "damaged copies are refused, the file named, nothing mounted"
	damaged no-vcpu_state 'plain|/vcpu_state: No such file' <<<'rm vcpu_state'
	damaged no-info '/info: No such file' <<<'rm info'
	damaged no-contents '/a/contents: No such file' <<<'rm a/contents'
	damaged no-mem_size '/b/mem_size: No such file' <<<'rm b/mem_size'
	damaged truncated '/a/contents: 4096 bytes, mem_size says 16777216: truncated' <<<'truncate -s 4096 a/contents'
	damaged sizes '/b/raw_size: .*the sizes disagree' <<<'echo 2097152 >b/mem_size'
	damaged bad-size '/b/mem_size: not a size' <<<'echo lots >b/mem_size'
	damaged bad-access '/a/access: not rw or ro' <<<'echo rwx >a/access'
	damaged overlap 'the guest ranges overlap' <<<'echo 0x100000 >a/guest_addr; echo 0x200000 >b/guest_addr'
	damaged crc 'vcpu_state: CRC-32 of the payload' <<<'printf "\377" | dd of=vcpu_state bs=1 seek=40 conv=notrunc status=none'
	damaged version 'vcpu_state: not format version 1' <<<'printf "\002" | dd of=vcpu_state bs=1 seek=8 conv=notrunc status=none'
	damaged short-state 'vcpu_state: .*truncated' <<<'truncate -s 30 vcpu_state'
	# The console is read only as a regular file of the directory.
	damaged console-link '/console: a symlink \(a saved directory holds none\)' <<<'rm console; ln -s /etc/passwd console'
	! grep -q 'root:' "$WORK/err" || bad "a refusal printed the linked file"
	damaged console-fifo '/console: a FIFO, not a regular file' <<<'rm console; mkfifo console'
	damaged console-big '/console: 65537 bytes, more than the console keeps' <<<'truncate -s 65537 console'
	# Nor is anything else opened: a device's open may act, or fail
	# ENOENT (ptmx outside devpts) as if there were no console; a FIFO's
	# blocked writer would wake.
	damaged console-device '/console: a device, not a regular file' <<<'rm console; mknod console c 5 2'
	damaged console-writer '/console: a FIFO, not a regular file' <<<'rm console; mkfifo console
		(sh -c ": >console; touch opened" </dev/null >/dev/null 2>&1 &)'
	sleep 0.3
	[ ! -e "$WORK/damaged/console-writer/opened" ] || bad "the loader opened the console FIFO"
	timeout 5 cat "$WORK/damaged/console-writer/console" >/dev/null || true
	expect_start_fails 'No such file' "${NO_KVM[@]}" --from "$WORK/not-there" "$(mktemp -d -p "$WORK")"
	expect_start_fails 'cannot be combined' "${NO_KVM[@]}" --region x:4K --from "$WORK/plain" "$(mktemp -d -p "$WORK")"
	# A snapshot copied into a directory that was there already is one
	# level down: the message names it.
	mkdir "$WORK/holder"
	cp -r --sparse=always "$WORK/plain" "$WORK/holder/before"
	expect_start_fails "holder/before is a snapshot directory, not a region: did you mean $WORK/holder/before\\?" \
		"${NO_KVM[@]}" --from "$WORK/holder" "$(mktemp -d -p "$WORK")"
}

# The counter guest: snapshot paused, save, stop, --from, run on.
resume() {
	local how=$1 dir=$2 n=$3 con first
	say "$how: --from, the count goes on from $n"
	# The option's three spellings, one per copy.
	case $how in
	tar*) start_daemon -o "from=$dir" ;;
	rsync*) start_daemon "--from=$dir" ;;
	*) start_daemon --from "$dir" ;;
	esac
	expect_eq "$how: vcpu" "$(cat "$MNT/vcpu")" paused
	expect_eq "$how: attributes" "$(attrs "$MNT")" "$ATTRS"
	expect_eq "$how: the count" "$(count)" "$n"
	expect_eq "$how: snapshots" "$(ls_sorted "$MNT/snapshots")" "$(basename "$dir") "
	cmp "$MNT/console" "$WORK/console.s" || bad "$how: the console is not the snapshot's"
	con=$(stat -c %s "$MNT/console")
	echo run >"$MNT/vcpu"
	wait_for count_above $((n + 3)) || bad "$how: the guest did not go on"
	echo pause >"$MNT/vcpu"
	first=$(tail -c +$((con + 1)) "$MNT/console" | grep -m 1 -o 'tick [0-9a-f]*' | cut -d' ' -f2)
	if [ -z "$first" ] || { [ $((16#$first)) -ne "$n" ] && [ $((16#$first)) -ne $((n + 1)) ]; }; then
		bad "$how: first tick '$first', want $n or $((n + 1)) (hex)"
	fi
	! grep -q MISMATCH "$MNT/console" || bad "$how: registers and memory disagree"
	# The snapshot is there: restore at once.
	echo "$(basename "$dir")" >"$MNT/restore" || bad "$how: restore failed"
	expect_eq "$how: the count after restore" "$(count)" "$n"
	cmp "$MNT/console" "$WORK/console.s" || bad "$how: restore did not put the console back"
	stop_daemon
}

# A directory saved before snapshots kept the console: it starts empty.
no_console() {
	say "a directory without a console file: --from, the console empty"
	cp -r --sparse=always "$WORK/cp" "$WORK/old"
	rm "$WORK/old/console"
	start_daemon --from "$WORK/old"
	expect_eq "old: vcpu" "$(cat "$MNT/vcpu")" paused
	expect_eq "old: console size" "$(stat -c %s "$MNT/console")" 0
	expect_eq "old: the log line" "$(grep -c '/old/console: none' "$LOG")" 1
	stop_daemon
}

guest() {
	local n
	say "the counter guest: snapshot, save three ways, resume"
	start_daemon --region ram:1M@0x100000 --region data:64K@0x200000 \
		--region spare:1M --guest "$GUESTS_DIR/counter.elf"
	echo ro >"$MNT/spare/access"
	wait_for count_above 2 || bad "the counter guest does not count"
	echo pause >"$MNT/vcpu"
	n=$(count)
	echo s >"$MNT/snapshot" || bad "snapshot failed"
	# The console kept when it was taken: what the live one holds now.
	cp "$MNT/console" "$WORK/console.s"
	[ -s "$WORK/console.s" ] || bad "the counter guest printed nothing"
	cmp "$MNT/snapshots/s/console" "$WORK/console.s" || bad "snapshots/s/console is not the console"
	grep -qx "console $(stat -c %s "$WORK/console.s") bytes" "$MNT/snapshots/s/info" || bad "info: no console line"
	ATTRS=$(attrs "$MNT")
	expect_eq "the copies' mappings" "$(attrs "$MNT/snapshots/s")" "$ATTRS"
	grep -qx 'vcpu paused' "$MNT/snapshots/s/info" || bad "info: no 'vcpu paused'"
	cp -r --sparse=always "$MNT/snapshots/s" "$WORK/cp" || bad "cp -r failed"
	tar -cSf "$WORK/s.tar" -C "$MNT/snapshots" s || bad "tar -cS failed"
	if command -v rsync >/dev/null; then
		rsync -aS "$MNT/snapshots/s/" "$WORK/rsync/" || bad "rsync -aS failed"
	fi
	expect_eq "cp: ram is sparse" "$(stat -c %b "$WORK/cp/ram/contents")" "$(stat -c %b "$MNT/snapshots/s/ram/contents")"
	stop_daemon
	resume "cp -r --sparse=always" "$WORK/cp" "$n"
	no_console
	mkdir "$WORK/untar"
	tar -xf "$WORK/s.tar" -C "$WORK/untar" || bad "tar -x failed"
	[ "$(stat -c %b "$WORK/untar/s/spare/contents")" -eq 0 ] || bad "tar -x: spare is not sparse"
	resume "tar -cS, tar -x" "$WORK/untar/s" "$n"
	if [ -d "$WORK/rsync" ]; then
		resume "rsync -aS" "$WORK/rsync" "$n"
	else
		skip_part rsync "rsync missing"
	fi
}

no_vcpu
damage
if have_kvm; then
	guest
else
	skip_part guest "no usable /dev/kvm: the counter guest's resume not tested here"
fi
finish
