#!/bin/bash
# The mount itself: the tree, the values and modes of a region's files,
# the command line (good and bad), and what a killed daemon leaves behind.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

# The tree: exactly the regions given, each with exactly its 13 files.
check_tree() {
	local r want
	expect_eq "regions at the root" "$(ls_regions)" "ram rom "
	want=$(printf '%s\n' "${REGION_FILES[@]}" | sort | tr '\n' ' ')
	for r in ram rom; do
		[ -d "$MNT/$r" ] || bad "$r is not a directory"
		expect_eq "ls of $r" "$(ls_sorted "$MNT/$r")" "$want"
		expect_eq "mode of $r/" "$(stat -c '%F %a' "$MNT/$r")" "directory 755"
	done
}

# The modes of attr.c: host addresses are the owner's only (like kernel
# pointers), sizes and state are public, control files are the owner's.
check_modes() {
	local r=$1 f mode
	declare -A want=(
		[contents]=600 [base_addr]=400 [mem_size]=644 [raw_addr]=400
		[raw_size]=444 [host_region_base]=400 [host_region_end]=400
		[kind]=444 [guest_addr]=644 [access]=644 [zero]=600
		[dirty]=600 [page_size]=644
	)
	for f in "${REGION_FILES[@]}"; do
		[ -f "$MNT/$r/$f" ] || bad "$r/$f is not a regular file"
		mode=$(stat -c '%a %u %g' "$MNT/$r/$f")
		expect_eq "mode and owner of $r/$f" "$mode" "${want[$f]} 0 0"
	done
}

# One value per file, newline-terminated, and an honest st_size.
check_values() {
	local r=$1 size=$2 f v mem raw base rawa hrb hre
	for f in "${REGION_FILES[@]}"; do
		# dirty is a list, empty until a page is written.
		case $f in contents | zero | dirty) continue ;; esac
		expect_eq "last byte of $r/$f" "$(tail -c 1 "$MNT/$r/$f" | xxd -p)" 0a
		expect_eq "lines in $r/$f" "$(wc -l <"$MNT/$r/$f")" 1
		expect_eq "st_size of $r/$f" "$(stat -c %s "$MNT/$r/$f")" \
			"$(wc -c <"$MNT/$r/$f")"
	done
	expect_eq "st_size of $r/contents" "$(stat -c %s "$MNT/$r/contents")" "$size"
	for f in base_addr raw_addr host_region_base host_region_end; do
		v=$(attr "$r" "$f")
		[[ $v =~ ^0x[0-9a-f]+$ ]] || bad "$r/$f: '$v' is not hex"
	done
	mem=$(attr "$r" mem_size)
	raw=$(attr "$r" raw_size)
	expect_eq "$r/mem_size" "$mem" "$size"
	expect_eq "$r/raw_size (mem_size + 2 guard pages)" "$raw" $((mem + 2 * PAGE))
	base=$(hex2dec "$(attr "$r" base_addr)")
	rawa=$(hex2dec "$(attr "$r" raw_addr)")
	hrb=$(hex2dec "$(attr "$r" host_region_base)")
	hre=$(hex2dec "$(attr "$r" host_region_end)")
	expect_eq "$r: base_addr - raw_addr (the leading guard page)" $((base - rawa)) "$PAGE"
	expect_eq "$r: host_region_base = base_addr" "$hrb" "$base"
	expect_eq "$r: host_region_end - host_region_base" $((hre - hrb)) "$mem"
	expect_eq "$r/kind" "$(attr "$r" kind)" exclusive
	expect_eq "$r/guest_addr" "$(attr "$r" guest_addr)" none
	expect_eq "$r/access" "$(attr "$r" access)" rw
}

check_bad_command_lines() {
	local dir=$WORK/cmdline
	mkdir "$dir"
	: >"$WORK/a-file"
	expect_start_fails '^regionfs: --region bad: expected NAME:SIZE' --region bad "$dir"
	expect_start_fails '^regionfs: --region ram:0: expected NAME:SIZE' --region ram:0 "$dir"
	expect_start_fails '^regionfs: --region vcpu: .*not reserved' --region vcpu:1M "$dir"
	expect_start_fails '^regionfs: --region a: name given twice' --region a:1M --region a:2M "$dir"
	expect_start_fails 'default_size=0: not a size' -o default_size=0 "$dir"
	expect_start_fails "reader_gid=-2: not a user or group id" -o reader_gid=-2 "$dir"
	expect_start_fails "uid=x: not a user or group id" -o uid=x "$dir"
	expect_start_fails '^regionfs: no mountpoint' --region a:1M
	expect_start_fails "$WORK/nope" --region a:1M "$WORK/nope"
	# The root is a directory: a file mountpoint gives a mount where every
	# stat fails with EIO, so it must be refused up front.
	expect_start_fails 'not a directory' --region a:1M "$WORK/a-file"
	# A region mapped at start needs KVM: refused without it, wherever
	# this runs (with a usable /dev/kvm, guest_addr.sh maps at start).
	expect_start_fails '--region x: .*no KVM' "${NO_KVM[@]}" --region x:1M@0x1000 "$dir"
}

# kill -9: auto_unmount removes the mount, and the mountpoint takes a new
# daemon at once.
check_kill9() {
	local dir
	start_daemon --region k:1M
	dir=$MNT
	kill -9 "$DAEMON_PID"
	DAEMON_PID=
	# 20 s, lib.sh's bound for what must happen (wait_for): a ThreadSanitizer
	# build on a loaded machine once took over 5 s to be unmounted.
	for _ in $(seq 200); do
		mountpoint -q "$dir" || break
		sleep 0.1
	done
	mountpoint -q "$dir" && fail "still mounted 20 s after kill -9 (auto_unmount)"
	start_daemon_at "$dir" --region k2:1M
	expect_eq "ls after remount" "$(ls_regions)" "k2 "
	stop_daemon
}

start_daemon --region ram:16M --region rom:64K
check_tree
check_modes ram
check_modes rom
check_values ram 16777216
check_values rom 65536
stop_daemon

check_bad_command_lines
check_kill9
finish
