#!/bin/bash
# --from a saved directory from an untrusted store: only regular files
# beneath DIR are read.  A symlink (to a secret outside, or to a directory
# elsewhere), a FIFO (which must not hang the start) or a device in place
# of any of its files is refused naming the file, nothing mounted, and no
# message shows a file's content.  Each region's bytes are checked as
# loaded against the checksum its info records: a flipped byte, in a
# snapshot or in a diff's parent, and a contents rewritten while the
# daemon starts are refused naming the region; -o from_unchecked loads
# them; a directory saved before the record loads, said unchecked.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"
LOG_NOTICES+='|: started from '
# The verdict of a copy-on-write start's check on a damaged directory.
LOG_NOTICES+='|: --from: .*/contents does not match its checksum in info'

SECRET=$WORK/secret.bin
MACHINE_ID=$WORK/machine-id

# What a refusal must never show: the secrets' content.
no_content() {
	if grep -qF -e 'TOPSECRET' -e '5f0c2a7e9b1d' "$WORK/err"; then
		bad "$1: the message shows a file's content: $(cat "$WORK/err")"
	fi
}

# refused NAME PATTERN: the saved directory, changed by the commands on
# stdin, is refused with PATTERN, within expect_start_fails' 20 s.
refused() {
	expect_damaged_refused "$WORK/plain" "$1" "" "$2"
	no_content "$1"
}

# The saved sandbox: hb is one page (the size of the secret), ram 1 MiB
# of data, spare empty.
save_plain() {
	say "a saved sandbox, copied out with cp -r"
	start_daemon "${NO_KVM[@]}" --region hb:4K --region ram:1M --region spare:64K
	head -c $((1024 * 1024)) /dev/urandom >"$WORK/ram.bytes"
	cp "$WORK/ram.bytes" "$MNT/ram/contents"
	printf 'heartbeat' | dd of="$MNT/hb/contents" conv=notrunc status=none
	echo plain >"$MNT/snapshot" || bad "snapshot failed"
	grep -q '^crc32c ram 0x[0-9a-f]\{8\}$' "$MNT/snapshots/plain/info" ||
		bad "info records no checksum of ram: $(cat "$MNT/snapshots/plain/info")"
	cp -r --sparse=always "$MNT/snapshots/plain" "$WORK/plain" || bad "cp -r failed"
	stop_daemon
	# A secret outside: 4096 bytes, mode 600; and a small file with content.
	{ printf 'TOPSECRET'; head -c 4087 /dev/zero; } >"$SECRET"
	chmod 600 "$SECRET"
	echo 5f0c2a7e9b1d >"$MACHINE_ID"
	mkdir -p "$WORK/elsewhere"
	cp -r "$WORK/plain/hb" "$WORK/elsewhere/hb"
	cp "$SECRET" "$WORK/elsewhere/hb/contents"
}

links() {
	say "symlinks are refused, not followed: to a secret outside, to a directory elsewhere"
	refused contents-link 'plain|hb/contents: a symlink' <<<"ln -sf '$SECRET' hb/contents"
	refused region-link '/hb: a symlink' <<<"rm -r hb; ln -s '$WORK/elsewhere/hb' hb"
	refused state-link '/vcpu_state: a symlink' <<<"ln -sf '$SECRET' vcpu_state"
	refused info-link '/info: a symlink' <<<"ln -sf '$SECRET' info"
	refused mem_size-link '/hb/mem_size: a symlink' <<<"ln -sf '$MACHINE_ID' hb/mem_size"
	refused dev-zero-link '/hb/contents: a symlink' <<<"ln -sf /dev/zero hb/contents"
}

kinds() {
	say "FIFOs and devices are refused without being opened; the start does not hang"
	refused contents-fifo '/hb/contents: a FIFO, not a regular file' <<<'rm hb/contents; mkfifo hb/contents'
	refused state-fifo '/vcpu_state: a FIFO, not a regular file' <<<'rm vcpu_state; mkfifo vcpu_state'
	refused info-fifo '/info: a FIFO, not a regular file' <<<'rm info; mkfifo info'
	refused mem_size-fifo '/ram/mem_size: a FIFO, not a regular file' <<<'rm ram/mem_size; mkfifo ram/mem_size'
	# /dev/null's numbers: opening it would run the driver's open.
	refused contents-device '/hb/contents: a device, not a regular file' <<<'rm hb/contents; mknod hb/contents c 1 3'
	refused contents-dir '/hb/contents: a directory, not a regular file' <<<'rm hb/contents; mkdir hb/contents'
	# Content that is not a value: the file and the rule, never the value.
	refused mem_size-content '/hb/mem_size: not a size' <<<"cp '$MACHINE_ID' hb/mem_size"
}

sums() {
	local copy=$WORK/unchecked
	say "the bytes are checked: a flipped byte is refused naming the region (-o from_copy)"
	FROM_OPTS="-o from_copy" refused flipped 'region ram: the bytes loaded do not match its checksum in .*/info' \
		<<<"$(declare -f flip); flip ram/contents 4242"

	say "mapped copy-on-write, the check runs after the start: a read of the flipped region is EIO"
	say "and so is one of a region after it, which the check did not reach (spare)"
	cp -a --sparse=always "$WORK/plain" "$copy"
	flip "$copy/ram/contents" 4242
	flip "$copy/spare/contents" 100
	start_daemon "${NO_KVM[@]}" --from "$copy"
	expect_eq "ram's base" "$(cut -d' ' -f2- "$MNT/ram/base")" "$(realpath "$copy/ram/contents")"
	if cat "$MNT/ram/contents" >/dev/null 2>"$WORK/cat.err"; then
		bad "a read of the damaged ram succeeded"
	fi
	grep -q 'Input/output error' "$WORK/cat.err" || bad "the read of ram failed with: $(cat "$WORK/cat.err")"
	cmp -s "$WORK/plain/hb/contents" "$MNT/hb/contents" || bad "hb, undamaged, does not read as saved"
	if cat "$MNT/spare/contents" >/dev/null 2>&1; then
		bad "a read of spare, damaged and not reached by the check, succeeded"
	fi
	# A snapshot would carry the damaged bytes past the check: refused.
	expect_errno EIO write "$MNT/snapshot" later
	if cat "$MNT/snapshots/unchecked/ram/contents" >/dev/null 2>&1; then
		bad "a read of the loaded snapshot's damaged ram succeeded"
	fi
	# The three opens refused, each with its line.
	REFUSALS=$((REFUSALS + 3))
	log_has 'ram/contents: open refused: its bytes do not match the checksum' ||
		bad "no log line for the refused open"
	log_has 'unchecked/ram/contents does not match its checksum in info' ||
		bad "no log line naming the damaged file"
	stop_daemon
	rm -rf "$copy"
	refused stray-record 'info: line [0-9]+ is the checksum of region gone' \
		<<<'echo "crc32c gone 0x00000000" >>info'
	refused partial-record 'info: no checksum of region spare' <<<"sed -i '/^crc32c spare /d' info"

	say "-o from_unchecked loads the flipped byte, and says so"
	cp -a --sparse=always "$WORK/plain" "$copy"
	flip "$copy/ram/contents" 4242
	start_daemon "${NO_KVM[@]}" -o from_unchecked --from "$copy"
	cmp -s "$copy/ram/contents" "$MNT/ram/contents" || bad "from_unchecked: ram is not the file's"
	log_has 'not checked against their checksums \(-o from_unchecked\)' || bad "from_unchecked: no log line"
	stop_daemon

	say "a directory saved before the record loads, said unchecked"
	rm -rf "$copy"
	cp -a --sparse=always "$WORK/plain" "$copy"
	sed -i '/^crc32c /d' "$copy/info"
	start_daemon "${NO_KVM[@]}" --from "$copy"
	cmp -s "$WORK/ram.bytes" "$MNT/ram/contents" || bad "old directory: ram differs"
	expect_eq "unchecked lines" "$(grep -c 'unchecked: 1 of its snapshot(s) record no checksums' "$LOG")" 1
	stop_daemon
}

# A chain base <- d1 beside it: a byte of base flipped where d1 reads
# through is refused, by base's record and, without it, by d1's own.
chain() {
	local store=$WORK/store
	say "a diff's parent with a flipped byte is refused"
	start_daemon "${NO_KVM[@]}" --region a:1M
	head -c $((1024 * 1024)) /dev/urandom >"$MNT/a/contents"
	echo base >"$MNT/snapshot" || bad "snapshot base failed"
	expect_ok pwrite "$MNT/a/contents" d1 $((8 * PAGE))
	echo d1:base >"$MNT/snapshot" || bad "snapshot d1 failed"
	mkdir "$store"
	cp -r --sparse=always "$MNT/snapshots/base" "$MNT/snapshots/d1" "$store" || bad "cp -r failed"
	stop_daemon
	FROM_OPTS="-o from_copy" expect_damaged_refused "$store" parent-flipped d1 'region a: the bytes loaded do not match its checksum in .*/base/info' \
		<<<"$(declare -f flip); flip base/a/contents 100"
	FROM_OPTS="-o from_copy" expect_damaged_refused "$store" parent-flipped-unrecorded d1 'region a: the bytes loaded do not match its checksum in .*/d1/info' \
		<<<"$(declare -f flip); flip base/a/contents 100; sed -i '/^crc32c /d' base/info"
	expect_damaged_refused "$store" parent-link d1 'd1/parent names base, and .*/base: a symlink' \
		<<<"mv base base.real; ln -s base.real base"
	# Intact, it loads; its parent alone was unchecked (no record).
	start_daemon "${NO_KVM[@]}" --from "$store/d1"
	expect_eq "snapshots" "$(ls_sorted "$MNT/snapshots")" "base d1 "
	stop_daemon
}

# Starts raced by a rewrite of ram/contents (truncated to nothing, to its
# size again, and its bytes put back, over and over): every start is
# refused or mounts the kept bytes, and some are refused.
race() {
	local copy=$WORK/raced refusals=0 mounts=0 ioerrors=0 racer i mnt rc opts
	say "contents rewritten while the daemon starts: refused, or the right bytes"
	cp -a --sparse=always "$WORK/plain" "$copy"
	(
		# truncate opens O_NONBLOCK: EAGAIN while a lease is let go.
		while :; do
			truncate -s 0 "$copy/ram/contents" 2>/dev/null || true
			truncate -s 1M "$copy/ram/contents" 2>/dev/null || true
			cp "$WORK/ram.bytes" "$copy/ram/contents" || true
		done
	) &
	racer=$!
	# Copied (-o from_copy): checked as loaded, so refused; mapped
	# copy-on-write: checked after, so a read is exact or EIO, never
	# other bytes with success.
	for i in $(seq 24); do
		mnt=$(mktemp -d -p "$WORK")
		rc=0
		opts=()
		[ $((i % 2)) -eq 0 ] || opts=(-o from_copy)
		timeout 20 "$REGIONFS" "${NO_KVM[@]}" "${opts[@]}" -o "log=$WORK/race.log" --from "$copy" "$mnt" \
			>/dev/null 2>"$WORK/race.err" || rc=$?
		if [ "$rc" -ne 0 ]; then
			refusals=$((refusals + 1))
			continue
		fi
		mounts=$((mounts + 1))
		if cat "$mnt/ram/contents" >"$WORK/race.bytes" 2>"$WORK/race.cat"; then
			cmp -s "$WORK/ram.bytes" "$WORK/race.bytes" ||
				bad "start $i (${opts[*]}) read ram with success, bytes that are not the saved ones"
		else
			grep -q 'Input/output error' "$WORK/race.cat" ||
				bad "start $i: the read of ram failed with: $(cat "$WORK/race.cat")"
			ioerrors=$((ioerrors + 1))
		fi
		fusermount3 -u "$mnt" || bad "fusermount3 -u $mnt failed"
	done
	kill "$racer"
	wait "$racer" 2>/dev/null || true
	say "raced starts: $refusals refused, $mounts mounted, $ioerrors read EIO"
	[ $((refusals + ioerrors)) -gt 0 ] || bad "no start of 24 was refused or read EIO while ram/contents was rewritten"
}

save_plain
links
kinds
sums
chain
race
finish
