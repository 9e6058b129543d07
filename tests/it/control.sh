#!/bin/bash
# Control writes that succeed, and the limits: zero, mkdir/rmdir of
# regions, resize through mem_size, -o max_regions and -o max_total.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

# The sizes that follow mem_size: raw_size, st_size of contents, the
# host range.
check_sizes() {
	local r=$1 size=$2 hrb hre
	expect_eq "$r/mem_size" "$(attr "$r" mem_size)" "$size"
	expect_eq "$r/raw_size" "$(attr "$r" raw_size)" $((size + 2 * PAGE))
	expect_eq "$r/contents st_size" "$(stat -c %s "$MNT/$r/contents")" "$size"
	hrb=$(hex2dec "$(attr "$r" host_region_base)")
	hre=$(hex2dec "$(attr "$r" host_region_end)")
	expect_eq "$r: host_region_end - host_region_base" $((hre - hrb)) "$size"
}

check_zero() {
	put r 4096
	echo 1 >"$MNT/r/zero" || bad "echo 1 > zero failed"
	cmp -n $((1 << 20)) "$MNT/r/contents" /dev/zero || bad "r not zero after echo 1 > zero"
}

check_mkdir() {
	local want
	mkdir "$MNT/new" || bad "mkdir new failed"
	want=$(printf '%s\n' "${REGION_FILES[@]}" | sort | tr '\n' ' ')
	expect_eq "ls new" "$(ls_sorted "$MNT/new")" "$want"
	check_sizes new $((2 << 20))
	expect_eq "new/kind" "$(attr new kind)" exclusive
	expect_eq "ls of the root" "$(ls_regions)" "new r "
	# The kernel finds the name before mkdir reaches the daemon.
	expect_errno_unlogged EEXIST mkdir "$MNT/new"
	expect_errno_unlogged EEXIST mkdir "$MNT/r"
}

# Resize: the sizes follow, bytes below the old end survive a grow; what
# a shrink cut off reads back as zeros.
check_resize() {
	local v want
	put new $((1 << 20))
	echo 16M >"$MNT/new/mem_size" || bad "echo 16M > mem_size failed"
	check_sizes new $((16 << 20))
	has new $((1 << 20)) || bad "bytes written before a grow are gone after it"
	put new $((15 << 20))
	has new $((15 << 20)) || bad "cannot write in the grown part"

	# Each accepted spelling, with surrounding whitespace and newlines.
	for v in "4096|4096" "0x1000|4096" "64K|65536" "2M|2097152" "1G|1073741824" \
		"  4096|4096" $'\t0x1000\n|4096' $'64K \n|65536' $' 2M\n\n|2097152' \
		$'\n1G\t|1073741824'; do
		want=${v##*|}
		v=${v%|*}
		expect_ok write "$MNT/new/mem_size" "$v"
		check_sizes new "$want"
	done
	# Shrink below the 15M marker: reading there is past the end; grow
	# again: it reads zeros, the cut bytes are gone for good.
	echo 2M >"$MNT/new/mem_size"
	expect_eq "bytes at 15M of a 2M region" \
		"$(nbytes dd if="$MNT/new/contents" bs=16 iflag=skip_bytes skip=$((15 << 20)) count=1 status=none)" 0
	echo 16M >"$MNT/new/mem_size"
	cmp -n 16 <(dd if="$MNT/new/contents" bs=16 iflag=skip_bytes skip=$((15 << 20)) count=1 status=none) \
		/dev/zero || bad "bytes cut off by a shrink came back after a grow"
}

check_rmdir() {
	rmdir "$MNT/new" || bad "rmdir new failed"
	expect_eq "ls of the root after rmdir" "$(ls_regions)" "r "
	expect_errno_unlogged ENOENT stat "$MNT/new"
	expect_errno_unlogged ENOENT stat "$MNT/new/mem_size"
	# The name is free again, and the new region is a new one.
	mkdir "$MNT/new" || bad "mkdir after rmdir failed"
	expect_eq "new/mem_size after re-mkdir" "$(attr new mem_size)" $((2 << 20))
	cmp -n $((2 << 20)) "$MNT/new/contents" /dev/zero || bad "a re-made region is not zero"
	rmdir "$MNT/new"
}

# The root's link count (3 + regions), which the kernel may keep: it
# must follow every mkdir and rmdir, a refused one, and one made from
# another mount namespace (the same FUSE connection).
check_root_links() {
	local n
	n=$(stat -c %h "$MNT")
	mkdir "$MNT/l1" || bad "mkdir l1 failed"
	expect_eq "root links after mkdir" "$(stat -c %h "$MNT")" $((n + 1))
	expect_errno_unlogged EEXIST mkdir "$MNT/l1"
	expect_eq "root links after a refused mkdir" "$(stat -c %h "$MNT")" $((n + 1))
	if unshare -m true 2>/dev/null; then
		unshare -m mkdir "$MNT/l2" || bad "mkdir from another namespace failed"
		expect_eq "root links after mkdir elsewhere" "$(stat -c %h "$MNT")" $((n + 2))
		unshare -m rmdir "$MNT/l2" || bad "rmdir from another namespace failed"
	else
		skip_part "root links from another mount namespace" "unshare -m fails here"
	fi
	rmdir "$MNT/l1" || bad "rmdir l1 failed"
	expect_eq "root links after rmdir" "$(stat -c %h "$MNT")" "$n"
	expect_eq "root links, counted" "$n" $((3 + $(ls_regions | wc -w)))
}

# Open files keep their region: after rmdir they still read its bytes.
check_open_across_rmdir() {
	mkdir "$MNT/keep"
	put keep 8192
	py - "$MNT" <<'EOF' || bad "a file kept open across rmdir lost its region"
import os, sys
mnt = sys.argv[1]
want = b'marker@%09d' % 8192
# O_RDWR first: served by the daemon (and no passthrough open is live yet).
rw = os.open(mnt + '/keep/contents', os.O_RDWR)
ro = os.open(mnt + '/keep/contents', os.O_RDONLY)
size = os.open(mnt + '/keep/mem_size', os.O_RDONLY)
os.rmdir(mnt + '/keep')
if os.path.exists(mnt + '/keep'):
    sys.exit('keep still listed after rmdir')
for name, fd in (('O_RDWR', rw), ('O_RDONLY', ro)):
    got = os.pread(fd, 16, 8192)
    if got != want:
        sys.exit('%s fd after rmdir read %r, want %r' % (name, got, want))
got = os.pread(size, 64, 0)
if got != b'%d\n' % (2 << 20):
    sys.exit('mem_size fd after rmdir read %r' % got)
for fd in (rw, ro, size):
    os.close(fd)
EOF
}

# -o max_regions=3: the 4th region is refused, and the room comes back
# with an rmdir.
check_max_regions() {
	start_daemon -o max_regions=3,default_size=1M --region a:1M
	mkdir "$MNT/b" "$MNT/c" || bad "mkdir of the 2nd and 3rd region failed"
	expect_errno ENOSPC mkdir "$MNT/d"
	expect_eq "regions at the limit" "$(ls_regions)" "a b c "
	rmdir "$MNT/c"
	mkdir "$MNT/d" || bad "mkdir after an rmdir at the limit failed"
	stop_daemon
}

# -o max_total: a resize or mkdir over it is refused and changes nothing;
# up to the limit exactly is fine.
check_max_total() {
	local before
	start_daemon -o max_total=8M,default_size=4M --region a:4M
	put a 4096
	before=$(snapshot a)
	expect_errno ENOSPC write "$MNT/a/mem_size" 16M
	expect_errno ENOSPC write "$MNT/a/mem_size" $(((8 << 20) + PAGE))
	expect_eq "a after refused resizes" "$(snapshot a)" "$before"
	mkdir "$MNT/b" || bad "mkdir up to max_total failed"
	before=$(snapshot a)
	expect_errno ENOSPC mkdir "$MNT/c"
	expect_errno ENOSPC write "$MNT/a/mem_size" 5M
	expect_eq "a after refused resizes" "$(snapshot a)" "$before"
	rmdir "$MNT/b"
	expect_ok write "$MNT/a/mem_size" 8M
	check_sizes a $((8 << 20))
	has a 4096 || bad "a lost its bytes growing to max_total"
	stop_daemon
}

start_daemon -o default_size=2M --region r:1M
check_zero
check_mkdir
check_resize
check_rmdir
check_root_links
check_open_across_rmdir
stop_daemon

check_max_regions
check_max_total
finish
