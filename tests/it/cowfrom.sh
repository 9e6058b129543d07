#!/bin/bash
# --from maps each saved region's contents copy-on-write (issue 24): a
# sandbox saved with cp -r --sparse=always and started again with --from
# reads the saved file's bytes, writes only add private pages, and the
# saved file is never written.  Checked with standard tools (cmp,
# sha256sum, dd, SEEK_DATA/SEEK_HOLE, stat -c %b, cat) on every file of a
# copy-on-write region: base (PAGES PATH), contents, holes, st_blocks,
# dirty, restore of the loaded snapshot (bytes back, PAGES back to 0),
# zero (the region leaves its base), a snapshot, diff snapshot and restore
# cycle, resize, page_size 2M, guest_addr, access, pmem, core, metrics.
# Loads that copy show an empty base, and say why in one log line unless
# asked to (-o from_copy): a saved file open for writing elsewhere (no
# lease), a region on huge pages.  With /dev/kvm, two sandboxes run the counter guest from
# one saved directory: each goes on from the saved count, the saved
# files never change.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"
LOG_NOTICES+='|: started from |: vcpu: halted at rip '

# The second daemon of a pair: lib.sh keeps one current daemon (MNT, LOG,
# DAEMON_PID, REFUSALS); hold NAME keeps the current one aside, use NAME
# makes it current again.
declare -A HELD=()
hold() {
	HELD[$1]="$MNT|$LOG|$DAEMON_PID|$REFUSALS"
}
use() {
	IFS='|' read -r MNT LOG DAEMON_PID REFUSALS <<<"${HELD[$1]}"
	unset "HELD[$1]"
}
# Whatever is still held when the test ends is unmounted too (lib.sh's
# cleanup takes the current one).
cleanup_held() {
	local k m
	for k in "${!HELD[@]}"; do
		m=${HELD[$k]%%|*}
		mountpoint -q "$m" 2>/dev/null && fusermount3 -u -z "$m"
	done
	[ -z "${HOLDER_PID:-}" ] || kill "$HOLDER_PID" 2>/dev/null
	return 0
}
exit_with() { return "$1"; }
trap 'rc=$?; cleanup_held; exit_with $rc; cleanup' EXIT
HOLDER_PID=

range() {
	printf '0x%x-0x%x ' "$1" "$2"
}

# blocks_are REGION N: its contents' st_blocks is N.
blocks_are() {
	[ "$(stat -c %b "$MNT/$1/contents")" = "$2" ]
}

# dirty REGION: its dirty ranges on one line ("0x1000-0x2000 ").
dirty() {
	local d
	d=$(must cat "$MNT/$1/dirty") || { echo "$d"; return 1; }
	[ -z "$d" ] || tr '\n' ' ' <<<"$d"
}

# base_of DIR: what DIR/base says, as read.
base_of() {
	must cat "$1/base"
}

# expect_base WHAT DIR PAGES PATH: DIR/base is exactly "PAGES PATH\n".
expect_base() {
	local got
	got=$(must cat "$2/base")
	expect_eq "$1: base" "$got" "$3 $4"
	expect_eq "$1: base's size (one line)" "$(stat -c %s "$2/base")" $((${#3} + 1 + ${#4} + 1))
}

# expect_no_base WHAT DIR: DIR/base is there and empty.
expect_no_base() {
	[ -f "$2/base" ] || { bad "$1: no base file"; return; }
	expect_eq "$1: base (empty)" "$(nbytes cat "$2/base")" 0
	expect_eq "$1: base's st_size" "$(stat -c %s "$2/base")" 0
}

# put_from SRC SKIP FILE SEEK COUNT: COUNT pages of SRC from page SKIP
# into FILE at page SEEK, with dd conv=notrunc.
put_from() {
	dd if="$1" of="$3" bs="$PAGE" skip="$2" seek="$4" count="$5" conv=notrunc status=none ||
		bad "dd of $5 pages into $3 at page $4 failed"
}

# fill_page FILE N BYTE: page N of FILE full of BYTE (one char), with dd.
fill_page() {
	head -c "$PAGE" /dev/zero | tr '\0' "$3" |
		dd of="$1" bs="$PAGE" seek="$2" conv=notrunc status=none ||
		bad "dd of page $2 of $1 failed"
}

# sums_unchanged WHAT: the saved files' sha256 sums are those at save time.
sums_unchanged() {
	sha256sum --quiet -c "$WORK/saved.sha256" >"$WORK/sha.out" 2>&1 ||
		bad "$1: a saved contents changed: $(tr '\n' ' ' <"$WORK/sha.out")"
}

# copy_lines: the log's "copied, not mapped copy-on-write" lines.
copy_lines() {
	grep -c 'copied, not mapped copy-on-write: ' "$LOG" || true
}

MiB=$((1 << 20))
PG_A=$((16 * MiB / PAGE))	# pages of a

# ---------------------------------------------------------------------------
# The saved sandbox: a (16 MiB) random data at [1 MiB, 5 MiB), one page at
# 8 MiB, the last page, holes elsewhere; b (1 MiB) 64 KiB at 0; e (1 MiB)
# never written; m (64 MiB) all random.  The models a.want, b.want: what they must read.
save() {
	say "save a sandbox: random data and holes, cp -r --sparse=always"
	head -c $((8 * MiB)) /dev/urandom >"$WORK/rand"
	{ truncate -s 16M "$WORK/a.want" && truncate -s 1M "$WORK/b.want" "$WORK/e.want"; } ||
		fail "cannot make the models"
	start_daemon --region a:16M --region b:1M --region e:1M --region m:64M
	local f
	for f in "$MNT/a/contents" "$WORK/a.want"; do
		put_from "$WORK/rand" 0 "$f" $((MiB / PAGE)) $((4 * MiB / PAGE))
		put_from "$WORK/rand" 1024 "$f" $((8 * MiB / PAGE)) 1
		put_from "$WORK/rand" 1025 "$f" $((PG_A - 1)) 1
	done
	for f in "$MNT/b/contents" "$WORK/b.want"; do
		put_from "$WORK/rand" 1100 "$f" 0 16
	done
	# m: 64 MiB of data, what snapshots copy with two threads.
	head -c $((64 * MiB)) /dev/urandom >"$MNT/m/contents" || bad "the fill of m failed"
	echo saved >"$MNT/snapshot" || bad "echo saved > snapshot failed"
	cp -r --sparse=always "$MNT/snapshots/saved" "$WORK/saved" || fail "cp -r of the snapshot failed"
	stop_daemon
	cmp "$WORK/a.want" "$WORK/saved/a/contents" || fail "the saved a is not what was written"
	cmp "$WORK/b.want" "$WORK/saved/b/contents" || fail "the saved b is not what was written"
	A_EXTENTS="$(range $MiB $((5 * MiB)))$(range $((8 * MiB)) $((8 * MiB + PAGE)))$(range $((16 * MiB - PAGE)) $((16 * MiB)))"
	expect_eq "the saved a's extents" "$(extents "$WORK/saved/a/contents")" "$A_EXTENTS"
	A_BLOCKS=$(((4 * MiB + 2 * PAGE) / 512))
	expect_eq "the saved a's st_blocks" "$(stat -c %b "$WORK/saved/a/contents")" "$A_BLOCKS"
	(cd / && sha256sum "$WORK"/saved/*/contents) >"$WORK/saved.sha256"
	SAVED=$(realpath "$WORK/saved")
}

# ---------------------------------------------------------------------------
loaded() {
	local before
	say "--from: base PAGES PATH, the saved bytes, holes and blocks"
	start_daemon --from "$WORK/saved"
	[ -e "$MNT/a/base" ] || fail "no a/base: this regionfs does not map --from copy-on-write"
	expect_eq "log lines saying a region was copied" "$(copy_lines)" 0
	expect_base "a" "$MNT/a" 0 "$SAVED/a/contents"
	expect_base "b" "$MNT/b" 0 "$SAVED/b/contents"
	expect_base "e (all holes)" "$MNT/e" 0 "$SAVED/e/contents"
	# The owner's alone, like dirty: it tells what the guest writes.
	expect_eq "base's mode" "$(stat -c %a "$MNT/a/base")" 400
	expect_errno EACCES write "$MNT/a/base" 0
	expect_eq "files of a" "$(ls_sorted "$MNT/a")" \
		"$(printf '%s\n' "${REGION_FILES[@]}" base | sort -u | tr '\n' ' ')"
	expect_eq "kind" "$(attr a kind)" exclusive
	cmp "$WORK/a.want" "$MNT/a/contents" || bad "a does not read as saved"
	cmp "$WORK/b.want" "$MNT/b/contents" || bad "b does not read as saved"
	cmp "$WORK/e.want" "$MNT/e/contents" || bad "e does not read as saved"
	expect_eq "a's extents" "$(extents "$MNT/a/contents")" "$A_EXTENTS"
	expect_eq "e's extents" "$(extents "$MNT/e/contents")" ""
	expect_eq "a's st_blocks" "$(stat -c %b "$MNT/a/contents")" "$A_BLOCKS"
	expect_eq "e's st_blocks" "$(stat -c %b "$MNT/e/contents")" 0
	expect_eq "a's st_size" "$(stat -c %s "$MNT/a/contents")" $((16 * MiB))
	expect_eq "a's dirty after the start" "$(dirty a)" ""
	expect_eq "snapshots" "$(ls_sorted "$MNT/snapshots")" "saved "
	[[ $(base_of "$MNT/snapshots/saved/a") == *" $SAVED/a/contents" ]] ||
		bad "snapshots/saved/a/base does not name the saved file: '$(base_of "$MNT/snapshots/saved/a")'"
	cmp "$WORK/a.want" "$MNT/snapshots/saved/a/contents" || bad "snapshots/saved/a does not read as saved"
	expect_eq "metrics: a's resident bytes" \
		"$(sed -n 's/^regionfs_region_resident_bytes{region="a",.*} //p' "$MNT/metrics")" $((A_BLOCKS * 512))
	expect_eq "metrics: a's mem_size" \
		"$(sed -n 's/^regionfs_region_mem_size_bytes{region="a",.*} //p' "$MNT/metrics")" $((16 * MiB))
	# A copy made with cp --sparse reads the same and is as sparse.
	cp --sparse=always "$MNT/a/contents" "$WORK/a.cp" || bad "cp --sparse=always of a failed"
	cmp "$WORK/a.want" "$WORK/a.cp" || bad "cp of a differs"
	expect_eq "cp of a: st_blocks" "$(stat -c %b "$WORK/a.cp")" "$A_BLOCKS"
	rm -f "$WORK/a.cp"
	sums_unchanged "after the start"
}

# Writes add private pages, and only those.
writes() {
	local p0=$(((5 * MiB) / PAGE - 1)) m=$WORK/a.now
	say "writes: dd conv=notrunc of 2 pages, python r+b, each a private page"
	cp "$WORK/a.want" "$m"
	# Two pages: the last of the first data extent, the hole after it.
	put_from "$WORK/rand" 2000 "$MNT/a/contents" "$p0" 2
	put_from "$WORK/rand" 2000 "$m" "$p0" 2
	expect_base "a after a 2-page write" "$MNT/a" 2 "$SAVED/a/contents"
	expect_eq "dirty after the 2-page write" "$(dirty a)" "$(range $((p0 * PAGE)) $(((p0 + 2) * PAGE)))"
	cmp "$m" "$MNT/a/contents" || bad "a is not the saved bytes and the 2 pages"
	# 50 bytes inside a page of the base: its other bytes stay.
	"$PYTHON" - "$MNT/a/contents" "$m" <<-'EOF' || bad "python r+b write failed"
		import sys
		for p in sys.argv[1:]:
		    with open(p, 'r+b') as f:
		        f.seek(300 * 4096 + 100)
		        f.write(b'python r+b wrote these fifty bytes, just these ..')
	EOF
	expect_base "a after a python write" "$MNT/a" 3 "$SAVED/a/contents"
	expect_eq "dirty after both" "$(dirty a)" \
		"$(range $((300 * PAGE)) $((301 * PAGE)))$(range $((p0 * PAGE)) $(((p0 + 2) * PAGE)))"
	cmp "$m" "$MNT/a/contents" || bad "a is not the saved bytes and the writes"
	expect_eq "a's extents after the writes" "$(extents "$MNT/a/contents")" \
		"$(range $MiB $((5 * MiB + PAGE)))$(range $((8 * MiB)) $((8 * MiB + PAGE)))$(range $((16 * MiB - PAGE)) $((16 * MiB)))"
	# st_blocks: the base's blocks plus the private pages (a page
	# written over the base's data takes memory of its own).  The
	# private pages are counted at most once a second (a scan of the
	# region: a stat stays cheap), so it may lag that long.
	say "a's st_blocks right after the writes: $(stat -c %b "$MNT/a/contents") (in a second: $((A_BLOCKS + 3 * PAGE / 512)))"
	wait_for blocks_are a $((A_BLOCKS + 3 * PAGE / 512)) ||
		bad "a's st_blocks 2 s after the writes: $(stat -c %b "$MNT/a/contents"), want $((A_BLOCKS + 3 * PAGE / 512))"
	expect_eq "metrics: a's resident bytes after the writes" \
		"$(sed -n 's/^regionfs_region_resident_bytes{region="a",.*} //p' "$MNT/metrics")" $((A_BLOCKS * 512 + 3 * PAGE))
	expect_base "b untouched" "$MNT/b" 0 "$SAVED/b/contents"
	# Reads change nothing.
	cat "$MNT/a/contents" "$MNT/b/contents" "$MNT/e/contents" >/dev/null
	expect_base "a after reads" "$MNT/a" 3 "$SAVED/a/contents"
	sums_unchanged "after the writes"

	say "restore of the loaded snapshot: the private pages go"
	echo 0 >"$MNT/a/dirty" || bad "echo 0 > dirty failed"
	expect_eq "dirty after the clear" "$(dirty a)" ""
	echo saved >"$MNT/restore" || bad "echo saved > restore failed: $(last_log_line)"
	cmp "$WORK/a.want" "$MNT/a/contents" || bad "a is not the saved bytes after restore"
	expect_base "a after restore" "$MNT/a" 0 "$SAVED/a/contents"
	expect_eq "a's extents after restore" "$(extents "$MNT/a/contents")" "$A_EXTENTS"
	# (The check right after the writes says whether st_blocks lags.)
	wait_for blocks_are a "$A_BLOCKS" ||
		bad "a's st_blocks after restore: $(stat -c %b "$MNT/a/contents"), want $A_BLOCKS"
	# The restore changed exactly the pages written: dirty says so.
	expect_eq "dirty after restore" "$(dirty a)" \
		"$(range $((300 * PAGE)) $((301 * PAGE)))$(range $((p0 * PAGE)) $(((p0 + 2) * PAGE)))"
	sums_unchanged "after the restore"
}

# A snapshot of a copy-on-write region, a diff of it, restores.
cycle() {
	local c1=$WORK/a.c1 d1=$WORK/a.d1
	say "snapshot, diff snapshot, restore of a copy-on-write region"
	cp "$WORK/a.want" "$c1"
	for f in "$MNT/a/contents" "$c1"; do
		fill_page "$f" 10 A
		fill_page "$f" 2000 B
	done
	put_from "$WORK/rand" 300 "$MNT/m/contents" 1000 1
	cp "$MNT/m/contents" "$WORK/m.c1"
	if ! echo c1 2>/dev/null >"$MNT/snapshot"; then
		REFUSALS=$((REFUSALS + 1))
		bad "snapshot c1 failed (the rest of the cycle not run): $(last_log_line)"
		echo saved >"$MNT/restore" || bad "restore saved failed: $(last_log_line)"
		return 0
	fi
	cmp "$WORK/m.c1" "$MNT/snapshots/c1/m/contents" || bad "snapshots/c1/m is not m's bytes"
	cmp "$c1" "$MNT/snapshots/c1/a/contents" || bad "snapshots/c1/a is not a's bytes"
	cmp "$WORK/b.want" "$MNT/snapshots/c1/b/contents" || bad "snapshots/c1/b is not b's bytes"
	expect_eq "c1/a's extents" "$(extents "$MNT/snapshots/c1/a/contents")" "$(extents "$MNT/a/contents")"
	wait_for blocks_are a "$(stat -c %b "$MNT/snapshots/c1/a/contents")" ||
		bad "c1/a's st_blocks: $(stat -c %b "$MNT/snapshots/c1/a/contents"), a's $(stat -c %b "$MNT/a/contents")"
	say "snapshots/c1/a/base: '$(base_of "$MNT/snapshots/c1/a")', snapshots/saved/a/base: '$(base_of "$MNT/snapshots/saved/a")'"
	# A copy that shares the base names it; one that copied the bytes
	# is empty.
	[[ $(base_of "$MNT/snapshots/c1/a") =~ ^([0-9]+\ $SAVED/a/contents)?$ ]] ||
		bad "snapshots/c1/a/base names another file: '$(base_of "$MNT/snapshots/c1/a")'"
	cp "$c1" "$d1"
	echo 0 >"$MNT/a/dirty"
	fill_page "$MNT/a/contents" 20 C
	fill_page "$d1" 20 C
	echo d1:c1 >"$MNT/snapshot" || bad "snapshot d1:c1 failed: $(last_log_line)"
	expect_eq "d1/a/dirty" "$(dirty snapshots/d1/a)" "$(range $((20 * PAGE)) $((21 * PAGE)))"
	cmp "$d1" "$MNT/snapshots/d1/a/contents" || bad "snapshots/d1/a is not a's bytes"
	expect_eq "d1/a's extents" "$(extents "$MNT/snapshots/d1/a/contents")" "$(extents "$MNT/a/contents")"
	fill_page "$MNT/a/contents" 30 D
	echo c1 >"$MNT/restore" || bad "restore c1 failed: $(last_log_line)"
	cmp "$c1" "$MNT/a/contents" || bad "a is not c1's bytes after restore c1"
	echo d1 >"$MNT/restore" || bad "restore d1 failed: $(last_log_line)"
	cmp "$d1" "$MNT/a/contents" || bad "a is not d1's bytes after restore d1"
	expect_eq "a's extents after restore d1" "$(extents "$MNT/a/contents")" "$(extents "$d1")"
	echo saved >"$MNT/restore" || bad "restore saved failed: $(last_log_line)"
	cmp "$WORK/a.want" "$MNT/a/contents" || bad "a is not the saved bytes after restore saved"
	expect_base "a after the cycle and restore saved" "$MNT/a" 0 "$SAVED/a/contents"
	cmp "$c1" "$MNT/snapshots/c1/a/contents" || bad "snapshots/c1/a changed"
	cmp "$d1" "$MNT/snapshots/d1/a/contents" || bad "snapshots/d1/a changed"
	rmdir "$MNT/snapshots/d1" "$MNT/snapshots/c1" || bad "rmdir of d1, c1 failed"
	sums_unchanged "after the snapshot cycle"
}

# echo 1 > zero: the region leaves its base.
zero() {
	say "zero: the region leaves its base"
	fill_page "$MNT/a/contents" 40 Z
	echo 1 >"$MNT/a/zero" || bad "echo 1 > zero failed"
	expect_no_base "a after zero" "$MNT/a"
	cmp -n $((16 * MiB)) /dev/zero "$MNT/a/contents" || bad "a is not zeros after zero"
	expect_eq "a's extents after zero" "$(extents "$MNT/a/contents")" ""
	expect_eq "a's st_blocks after zero" "$(stat -c %b "$MNT/a/contents")" 0
	expect_eq "dirty after zero" "$(dirty a)" "$(range 0 $((16 * MiB)))"
	echo saved >"$MNT/restore" || bad "restore saved after zero failed: $(last_log_line)"
	cmp "$WORK/a.want" "$MNT/a/contents" || bad "a is not the saved bytes after zero and restore"
	expect_eq "a's extents after zero and restore" "$(extents "$MNT/a/contents")" "$A_EXTENTS"
	say "a/base after zero and restore of the loaded snapshot: '$(base_of "$MNT/a")'"
	sums_unchanged "after zero"
}

# guest_addr, access, pmem and core of a copy-on-write region: b (a
# left its base with zero above).
mapped() {
	local gpa=$((0x1000000)) off
	say "guest_addr, access, pmem, core of a copy-on-write region"
	expect_base "b before the mapping" "$MNT/b" 0 "$SAVED/b/contents"
	echo 0x1000000 >"$MNT/b/guest_addr" || bad "echo 0x1000000 > guest_addr failed: $(last_log_line)"
	expect_eq "guest_addr" "$(attr b guest_addr)" 0x1000000
	expect_eq "kind mapped" "$(attr b kind)" host
	expect_base "b mapped" "$MNT/b" 0 "$SAVED/b/contents"
	cmp -n "$MiB" -i "$gpa:0" "$MNT/pmem" "$WORK/b.want" || bad "pmem at 0x1000000 is not b's bytes"
	expect_eq "pmem's hole after b's data" "$(errno_of seek "$MNT/pmem" "$gpa" hole)" $((gpa + 16 * PAGE))
	readelf -lW "$MNT/core" >"$WORK/readelf.out" 2>&1 || bad "readelf -l core failed: $(cat "$WORK/readelf.out")"
	off=$(awk '$1 == "LOAD" && $4 == "0x0000000001000000" { print $2 }' "$WORK/readelf.out")
	if [ -z "$off" ]; then
		bad "core: no LOAD segment at 0x1000000: $(grep LOAD "$WORK/readelf.out" | tr '\n' ' ')"
	else
		cmp -n "$MiB" -i "$((off)):0" "$MNT/core" "$WORK/b.want" || bad "core's segment is not b's bytes"
	fi
	echo ro >"$MNT/b/access" || bad "echo ro > access failed"
	expect_eq "access" "$(attr b access)" ro
	echo rw >"$MNT/b/access"
	echo none >"$MNT/b/guest_addr" || bad "echo none > guest_addr failed"
	expect_eq "kind unmapped" "$(attr b kind)" exclusive
	expect_base "b after map and unmap" "$MNT/b" 0 "$SAVED/b/contents"
	cmp "$WORK/b.want" "$MNT/b/contents" || bad "b changed by map and unmap"
	sums_unchanged "after the mapping"
}

# Huge pages for page_size 2M: N more in the pool, or false.
huge_try() {
	[ -w /proc/sys/vm/nr_hugepages ] && [ -d "$HUGE_SYS" ] || return 1
	local had
	had=$(hugepages_spare)
	huge_set $(($(cat /proc/sys/vm/nr_hugepages) + $1))
	[ "$(hugepages_spare)" -ge $((had + $1)) ]
}

# page_size 2M, then a resize: the region leaves its base, keeping bytes.
sizes() {
	say "page_size 2M and resize: the region leaves its base, its bytes stay"
	if huge_try 16; then
		echo 2M >"$MNT/a/page_size" || bad "echo 2M > page_size failed: $(last_log_line)"
		expect_eq "page_size" "$(attr a page_size)" $((2 * MiB))
		expect_no_base "a on 2 MiB pages" "$MNT/a"
		cmp "$WORK/a.want" "$MNT/a/contents" || bad "a's bytes changed with page_size 2M"
		echo 4K >"$MNT/a/page_size" || bad "echo 4K > page_size failed: $(last_log_line)"
		cmp "$WORK/a.want" "$MNT/a/contents" || bad "a's bytes changed with page_size 4K"
		expect_no_base "a back on 4 KiB pages" "$MNT/a"
	else
		skip_part page_size "no 16 spare 2 MiB huge pages here: page_size 2M of a copy-on-write region not tested"
	fi
	hugepages_release
	expect_base "b before the resize" "$MNT/b" 0 "$SAVED/b/contents"
	echo 2M >"$MNT/b/mem_size" || bad "echo 2M > b/mem_size failed: $(last_log_line)"
	expect_eq "b's mem_size" "$(attr b mem_size)" $((2 * MiB))
	expect_eq "b's st_size" "$(stat -c %s "$MNT/b/contents")" $((2 * MiB))
	expect_no_base "b after the resize" "$MNT/b"
	cmp -n "$MiB" "$WORK/b.want" "$MNT/b/contents" || bad "b's first 1 MiB changed with the resize"
	cmp -n "$MiB" -i "$MiB:0" "$MNT/b/contents" /dev/zero || bad "b's new 1 MiB is not zeros"
	expect_eq "b's extents after the resize" "$(extents "$MNT/b/contents")" "$(range 0 $((16 * PAGE)))"
	sums_unchanged "after page_size and resize"
	stop_daemon
	sums_unchanged "after the daemon ended"
}

# -o from_copy, a saved file without a lease, huge regions: copied.
copies() {
	local f line
	say "-o from_copy: copied, base empty"
	start_daemon --from "$WORK/saved" -o from_copy
	for f in a b e; do
		expect_no_base "-o from_copy: $f" "$MNT/$f"
		cmp "$WORK/$f.want" "$MNT/$f/contents" || bad "-o from_copy: $f does not read as saved"
	done
	expect_eq "-o from_copy: a's extents" "$(extents "$MNT/a/contents")" "$A_EXTENTS"
	# Asked for: no line explains it (load.c).
	expect_eq "-o from_copy: 'copied, not mapped copy-on-write' lines" "$(copy_lines)" 0
	fill_page "$MNT/a/contents" 0 x
	stop_daemon
	sums_unchanged "after -o from_copy"

	say "a saved contents open for writing elsewhere: no lease, copied, one log line"
	cp -r --sparse=always "$WORK/saved" "$WORK/held"
	(exec 3>>"$WORK/held/a/contents" && exec sleep 60) &
	HOLDER_PID=$!
	wait_for test -e "/proc/$HOLDER_PID/fd/3" || bad "the holder did not open a/contents"
	start_daemon --from "$WORK/held"
	kill "$HOLDER_PID"
	wait "$HOLDER_PID" 2>/dev/null || true
	HOLDER_PID=
	expect_no_base "held a" "$MNT/a"
	expect_base "held b (not held)" "$MNT/b" 0 "$(realpath "$WORK/held/b/contents")"
	expect_eq "log lines saying a region was copied" "$(copy_lines)" 1
	line=$(grep 'copied, not mapped copy-on-write: ' "$LOG" || true)
	say "the line: ${line#* * }"
	[[ $line == *"held/a"* && $line =~ copy-on-write:\ [[:alnum:]] ]] ||
		bad "the line does not name held/a and a reason: $line"
	cmp "$WORK/a.want" "$MNT/a/contents" || bad "held a does not read as saved"
	expect_eq "held a's extents" "$(extents "$MNT/a/contents")" "$A_EXTENTS"
	# Its own copy: the saved file may change now.
	head -c $((16 * MiB)) /dev/zero | tr '\0' 'w' >"$WORK/held/a/contents"
	cmp "$WORK/a.want" "$MNT/a/contents" || bad "held a changed with the saved file"
	stop_daemon

	if huge_try 12; then
		say "a region on huge pages: copied, base empty"
		start_daemon --region h:4M:huge --region s:1M
		put_from "$WORK/rand" 0 "$MNT/h/contents" 10 3
		put_from "$WORK/rand" 0 "$MNT/s/contents" 10 3
		cp "$MNT/h/contents" "$WORK/h.want"
		echo hs >"$MNT/snapshot" || bad "snapshot of the huge sandbox failed: $(last_log_line)"
		cp -r --sparse=always "$MNT/snapshots/hs" "$WORK/hs" || bad "cp -r of hs failed"
		stop_daemon
		start_daemon --from "$WORK/hs"
		expect_no_base "huge h" "$MNT/h"
		expect_base "s beside it" "$MNT/s" 0 "$(realpath "$WORK/hs/s/contents")"
		expect_eq "h's page_size" "$(attr h page_size)" $((2 * MiB))
		cmp "$WORK/h.want" "$MNT/h/contents" || bad "huge h does not read as saved"
		expect_eq "log lines saying a region was copied" "$(copy_lines)" 1
		grep -q 'hs/h.*copied, not mapped copy-on-write: ' "$LOG" ||
			bad "no line saying hs/h was copied: $(grep 'copied, not' "$LOG")"
		stop_daemon
	else
		skip_part huge "no 12 spare 2 MiB huge pages here: a huge region's --from not tested"
	fi
	hugepages_release
}

# A fork of the live sandbox 2 (paused): --from its snapshot f, which its
# daemon passes through to the owner, so the fork maps its memfd
# copy-on-write; ram, unwritten, is f's copy of the saved file itself
# (no memfd: copied, said).  The fork's counter goes on from f's, and
# after the fork ends sandbox 2 is untouched.
fork() {
	local m=$n f FM
	say "a fork of a live sandbox: --from its snapshots/f"
	echo f >"$MNT/snapshot" || bad "snapshot f failed"
	m=$(counter_count)
	FM=$MNT
	hold s2
	start_daemon --from "$FM/snapshots/f"
	expect_eq "fork: vcpu" "$(cat "$MNT/vcpu")" paused
	expect_eq "fork: the count" "$(counter_count)" "$m"
	expect_base "fork: data" "$MNT/data" 0 "$FM/snapshots/f/data/contents"
	log_has "/ram/contents: copied, not mapped copy-on-write: .*maps a saved file itself" ||
		bad "fork: no line saying ram was copied, and why"
	f=$(stat -c %s "$MNT/console")
	echo run >"$MNT/vcpu" || bad "fork: echo run failed: $(last_log_line)"
	wait_for counter_above $((m + 3)) || bad "fork: the guest did not go on"
	echo pause >"$MNT/vcpu"
	counter_went_on "$f" "$m" "fork"
	expect_base "fork: data after the run" "$MNT/data" 2 "$FM/snapshots/f/data/contents"
	stop_daemon
	use s2
	expect_eq "sandbox 2 after the fork: the count" "$(counter_count)" "$m"
	cmp "$MNT/snapshots/f/data/contents" "$MNT/data/contents" ||
		bad "sandbox 2: data changed by its fork"
}

# ---------------------------------------------------------------------------
# With KVM: the counter guest saved, two sandboxes run from it.
guests() {
	local n i r
	say "the counter guest: saved, two sandboxes from it, both run on"
	start_daemon --region ram:1M@0x100000 --region data:64K@0x200000 \
		--guest "$GUESTS_DIR/counter.elf"
	wait_for counter_above 2 || bad "the counter guest does not count"
	echo pause >"$MNT/vcpu"
	n=$(counter_count)
	echo g >"$MNT/snapshot" || bad "snapshot g failed"
	cp -r --sparse=always "$MNT/snapshots/g" "$WORK/g" || bad "cp -r of g failed"
	stop_daemon
	(cd / && sha256sum "$WORK"/g/*/contents) >"$WORK/g.sha256"
	local G
	G=$(realpath "$WORK/g")
	declare -A con=()
	for i in 1 2; do
		start_daemon --from "$WORK/g"
		expect_eq "sandbox $i: vcpu" "$(cat "$MNT/vcpu")" paused
		expect_eq "sandbox $i: the count" "$(counter_count)" "$n"
		for r in ram data; do
			expect_base "sandbox $i: $r" "$MNT/$r" 0 "$G/$r/contents"
		done
		con[$i]=$(stat -c %s "$MNT/console")
		hold "s$i"
	done
	for i in 1 2; do
		use "s$i"
		echo run >"$MNT/vcpu" || bad "sandbox $i: echo run > vcpu failed"
		hold "s$i"
	done
	for i in 1 2; do
		use "s$i"
		wait_for counter_above $((n + 5)) || bad "sandbox $i: the guest did not go on"
		echo pause >"$MNT/vcpu"
		expect_eq "sandbox $i: vcpu" "$(cat "$MNT/vcpu")" paused
		counter_went_on "${con[$i]}" "$n" "sandbox $i"
		# It writes its count at data and data+0x3000: two private pages.
		expect_base "sandbox $i: data after the run" "$MNT/data" 2 "$G/data/contents"
		expect_eq "sandbox $i: data/dirty" "$(dirty data)" "$(range 0 "$PAGE")$(range $((3 * PAGE)) $((4 * PAGE)))"
		cmp -n "$((3 * PAGE - 8))" -i 8:8 "$MNT/data/contents" "$WORK/g/data/contents" ||
			bad "sandbox $i: data changed between the counter's two words"
		say "sandbox $i: count $(counter_count), ram/base '$(base_of "$MNT/ram")', Pss $(awk '/^Pss:/ { print $2 }' "/proc/$DAEMON_PID/smaps_rollup") kB"
		sha256sum --quiet -c "$WORK/g.sha256" || bad "sandbox $i: a saved contents changed"
		hold "s$i"
	done
	use s1
	echo g >"$MNT/restore" || bad "restore g failed: $(last_log_line)"
	expect_eq "sandbox 1: the count after restore g" "$(counter_count)" "$n"
	expect_base "sandbox 1: data after restore g" "$MNT/data" 0 "$G/data/contents"
	cmp "$WORK/g/data/contents" "$MNT/data/contents" || bad "sandbox 1: data is not the saved bytes after restore"
	echo run >"$MNT/vcpu"
	wait_for counter_above $((n + 2)) || bad "sandbox 1: the guest did not go on after restore g"
	echo pause >"$MNT/vcpu"
	stop_daemon
	use s2
	[ "$(counter_count)" -gt "$n" ] || bad "sandbox 2: the count went back with sandbox 1's restore"
	fork
	stop_daemon
	sha256sum --quiet -c "$WORK/g.sha256" || bad "a saved contents of g changed"
}

save
loaded
writes
cycle
zero
if have_kvm; then
	mapped
else
	skip_part mapped "no usable /dev/kvm: guest_addr, access, pmem and core of a copy-on-write region not tested here"
fi
sizes
copies
if have_kvm; then
	guests
else
	skip_part guest "no usable /dev/kvm: two sandboxes running from one saved directory not tested here"
fi
sums_unchanged "at the end"
finish
