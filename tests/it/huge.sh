#!/bin/bash
# huge: regions on 2 MiB huge pages (hugetlbfs memfds) through the same
# tools as ordinary ones: dd, cmp, cp --sparse, xxd, zero, truncate, dirty
# at 4 KiB, snapshots, restore, resize, page_size; sizes that are not whole
# huge pages and a short pool refused at once (EINVAL, ENOMEM and a line
# naming nr_hugepages); no SIGBUS for a guest or a reader once the pool is
# empty (hugepool.sh: emptied under a region that holds its pages).
# Reserves its own huge pages and gives them back.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"
LOG_NOTICES+='|: vcpu: halted at rip |: started from '

HUGE=$((2 << 20))
# 8M and 16M regions, a snapshot of each, a resize and a repage: 48 pages.
hugepages_reserve 48
say "reserved 48 huge pages of 2 MiB (nr_hugepages $(cat /proc/sys/vm/nr_hugepages), $HUGE_ADDED added)"

blocks() {
	stat -c %b "$MNT/$1/contents"
}

seek() {
	errno_of seek "$MNT/$1/contents" "$2" "$3"
}

# fill REGION OFF LEN: LEN random bytes at OFF with dd, also kept in
# $WORK/REGION.img at the same offset (the expected bytes).
fill() {
	dd if=/dev/urandom of="$WORK/chunk" bs="$3" count=1 iflag=fullblock status=none
	dd if="$WORK/chunk" of="$MNT/$1/contents" bs=1M oflag=seek_bytes seek="$2" \
		conv=notrunc status=none || bad "dd of $3 bytes at $2 into $1 failed"
	dd if="$WORK/chunk" of="$WORK/$1.img" bs=1M oflag=seek_bytes seek="$2" \
		conv=notrunc status=none
}

same() {
	cmp "$WORK/$2.img" "$MNT/$1/contents" || bad "$1/contents differs from what was written ($3)"
}

# ---------------------------------------------------------------------------
say "the files: page_size, raw_size, an aligned base"
start_daemon "${NO_KVM[@]}" --region h:8M:huge --region n:8M
expect_eq "h/page_size" "$(attr h page_size)" "$HUGE"
expect_eq "n/page_size" "$(attr n page_size)" "$PAGE"
expect_eq "h/raw_size" "$(attr h raw_size)" $((8 * 1048576 + 2 * PAGE))
expect_eq "h/base_addr mod 2M" $(($(hex2dec "$(attr h base_addr)") % HUGE)) 0
expect_eq "h/raw_addr" "$(attr h raw_addr)" \
	"$(printf '0x%x' $(($(hex2dec "$(attr h base_addr)") - PAGE)))"
expect_eq "h/kind" "$(attr h kind)" exclusive
expect_eq "h: nothing resident yet" "$(blocks h)" 0

say "contents: dd across a huge page boundary, cmp, holes honest"
truncate -s 8M "$WORK/h.img"
fill h $((HUGE - 3000)) 9000
fill h $((3 * HUGE + 5)) 100
same h h "two writes"
expect_eq "st_blocks: the two huge pages touched, and one more" "$(blocks h)" \
	$((3 * HUGE / 512))
expect_eq "SEEK_DATA 0" "$(seek h 0 data)" 0
expect_eq "SEEK_HOLE 0" "$(seek h 0 hole)" $((2 * HUGE))
expect_eq "SEEK_DATA past the first data" "$(seek h $((2 * HUGE)) data)" $((3 * HUGE))
expect_eq "SEEK_HOLE inside the last data" "$(seek h $((3 * HUGE + 7)) hole)" $((4 * HUGE))
expect_eq "SEEK_DATA after the last data" "$(seek h $((4 * HUGE)) data)" ENXIO
expect_eq "xxd of the first bytes written" \
	"$(xxd -s $((HUGE - 3000)) -l 16 -p "$MNT/h/contents")" \
	"$(xxd -s $((HUGE - 3000)) -l 16 -p "$WORK/h.img")"
cp --sparse=always "$MNT/h/contents" "$WORK/h.copy" || bad "cp --sparse of h failed"
cmp "$WORK/h.copy" "$WORK/h.img" || bad "cp --sparse copy of h differs"
[ "$(stat -c %b "$WORK/h.copy")" -le $((3 * HUGE / 512)) ] ||
	bad "cp --sparse of h took $(stat -c %b "$WORK/h.copy") blocks, more than the data"

say "dirty: 4 KiB pages on a huge region"
echo 0 >"$MNT/h/dirty" || bad "clear of h/dirty failed"
expect_eq "h/dirty after clear" "$(attr h dirty)" ""
fill h $((2 * HUGE + 0x3000)) 10
expect_eq "h/dirty: one 4 KiB page" "$(attr h dirty)" \
	"$(printf '0x%x-0x%x' $((2 * HUGE + 0x3000)) $((2 * HUGE + 0x4000)))"

say "snapshot and restore"
echo s1 >"$MNT/snapshot" || bad "snapshot of a huge region failed"
expect_eq "the copy's page_size" "$(attr snapshots/s1/h page_size)" "$HUGE"
cmp "$MNT/snapshots/s1/h/contents" "$WORK/h.img" || bad "the snapshot's copy differs"
expect_eq "the copy's st_blocks" "$(blocks snapshots/s1/h)" "$(blocks h)"
cp "$WORK/h.img" "$WORK/s1.img"
cp -r --sparse=always "$MNT/snapshots/s1" "$WORK/saved" || bad "cp -r of snapshot s1 failed"
fill h 0 $((HUGE + 4096))
fill h $((3 * HUGE + 4096)) 64
echo s1 >"$MNT/restore" || bad "restore of a huge region failed"
same h s1 "after restore"
cp "$WORK/s1.img" "$WORK/h.img"

say "zero: the pages kept, zeroed (a hole to seek), reservation kept"
spare=$(hugepages_spare)
held=$(blocks h)
echo 1 >"$MNT/h/zero" || bad "zero of h failed"
expect_eq "h: st_blocks after zero, the pages kept" "$(blocks h)" "$held"
cmp -n $((8 << 20)) /dev/zero "$MNT/h/contents" || bad "h is not zeros after zero"
expect_eq "spare huge pages after zero (h still holds its reservation)" \
	"$(hugepages_spare)" "$spare"
expect_eq "SEEK_DATA after zero" "$(seek h 0 data)" ENXIO

say "truncate: zeros from the cut, on a huge page"
truncate -s 8M "$WORK/h.img"
fill h 0 $((2 * HUGE))
truncate -s $((HUGE + 100)) "$MNT/h/contents" || bad "truncate of h failed"
truncate -s $((HUGE + 100)) "$WORK/h.img"
truncate -s 8M "$WORK/h.img"
same h h "after truncate"

say "bad input: sizes in whole huge pages, page sizes that exist"
BASELINE=$(snapshot h)
expect_refused h EINVAL 1 errno_of write "$MNT/h/mem_size" 3M
expect_refused h EINVAL 1 errno_of write "$MNT/h/page_size" 8K
expect_refused h EINVAL 1 errno_of write "$MNT/h/page_size" 3M
BASELINE=
log_has 'h/mem_size: .*refused: .*not a multiple of the huge page size \(2M\)' ||
	bad "the mem_size refusal does not say why: $(grep mem_size "$LOG" | tail -n 1)"
{ mkdir "$MNT/odd" && echo 3M >"$MNT/odd/mem_size"; } || bad "mkdir odd; mem_size 3M failed"
expect_refused odd EINVAL 1 errno_of write "$MNT/odd/page_size" 2M

say "resize and page_size keep the bytes"
echo 16M >"$MNT/h/mem_size" || bad "resize of h to 16M failed"
truncate -s 16M "$WORK/h.img"
same h h "after resize"
expect_eq "h/page_size after resize" "$(attr h page_size)" "$HUGE"
truncate -s 8M "$WORK/n.img"
fill n 4096 5000
echo 2M >"$MNT/n/page_size" || bad "n: page_size 2M failed"
expect_eq "n/page_size" "$(attr n page_size)" "$HUGE"
same n n "after page_size 2M"
echo 4K >"$MNT/n/page_size" || bad "n: page_size 4K failed"
expect_eq "n/page_size back" "$(attr n page_size)" "$PAGE"
same n n "after page_size 4K"
expect_eq "n: a sparse copy back on 4 KiB pages" "$(blocks n)" $((2 * PAGE / 512))

say "a short pool: ENOMEM at once, the line names nr_hugepages"
hugepages_limit 2
{ mkdir "$MNT/big" && echo 8M >"$MNT/big/mem_size"; } || bad "mkdir big failed"
expect_refused big ENOMEM 1 errno_of write "$MNT/big/page_size" 2M
log_has 'big/page_size: .*refused: cannot reserve 4 huge pages of 2M \(2 free; raise /proc/sys/vm/nr_hugepages\)' ||
	bad "the ENOMEM line does not name nr_hugepages: $(last_log_line)"
expect_eq "spare huge pages after the refusal" "$(hugepages_spare)" 2
{ rmdir "$MNT/snapshots/s1" && rmdir "$MNT/big" "$MNT/odd"; } || bad "cleanup of s1, big, odd failed"
stop_daemon

say "a start on too few huge pages fails with the reason"
hugepages_limit 2
expect_start_fails 'cannot reserve 4 huge pages of 2M.*nr_hugepages' \
	"${NO_KVM[@]}" --region x:8M:huge "$(mktemp -d -p "$WORK")"
expect_start_fails 'not a multiple of the huge page size' \
	"${NO_KVM[@]}" --region x:3M:huge "$(mktemp -d -p "$WORK")"
expect_start_fails 'default_size: with -o hugepages, whole huge pages of 2M' \
	"${NO_KVM[@]}" -o hugepages,default_size=1M "$(mktemp -d -p "$WORK")"
expect_start_fails 'NAME:SIZE\[@GPA\]\[:ro\]\[:huge\]' \
	"${NO_KVM[@]}" --region x:4M:huge=4M "$(mktemp -d -p "$WORK")"

say "no SIGBUS: every page written with the pool empty, after a zero too"
hugepages_limit 5
start_daemon "${NO_KVM[@]}" -o hugepages,default_size=2M --region all:8M
mkdir "$MNT/d" || bad "mkdir under -o hugepages failed"
expect_eq "a mkdir'd region under -o hugepages" "$(attr d page_size)" "$HUGE"
expect_eq "spare huge pages with all reserved" "$(hugepages_spare)" 0
dd if=/dev/urandom of="$WORK/all.img" bs=1M count=8 status=none
for round in 1 2; do
	cp "$WORK/all.img" "$MNT/all/contents" || bad "round $round: cp into all failed"
	same all all "round $round"
	py - "$MNT/all/contents" "$WORK/all.img" <<'PY' || bad "round $round: a private mapping of all/contents differs"
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
m = mmap.mmap(fd, 0, mmap.MAP_PRIVATE, mmap.PROT_READ)
img = open(sys.argv[2], 'rb').read()
sys.exit(0 if m[:] == img else 1)
PY
	echo 1 >"$MNT/all/zero" || bad "round $round: zero failed"
done
# Never passed through: a shared mapping is refused as without passthrough.
expect_eq "a shared mmap of a huge region" "$(py - "$MNT/all/contents" <<'PY'
import errno, mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)
    print('OK')
except OSError as e:
    print(errno.errorcode[e.errno])
PY
)" ENODEV
daemon_alive || fail "the daemon died (SIGBUS?) writing a huge region"
stop_daemon

say "--from: a saved huge region comes back on huge pages"
# The region and the snapshot --from makes of it: 8 pages.
hugepages_limit 8
start_daemon "${NO_KVM[@]}" --from "$WORK/saved"
expect_eq "h/page_size from the saved directory" "$(attr h page_size)" "$HUGE"
expect_eq "n/page_size from the saved directory" "$(attr n page_size)" "$PAGE"
same h s1 "after --from"
stop_daemon
echo 3M >"$WORK/saved/h/page_size"
expect_start_fails "saved/h/page_size: not $PAGE, 2M or 1G dividing mem_size" \
	"${NO_KVM[@]}" --from "$WORK/saved" "$(mktemp -d -p "$WORK")"

say "diff snapshots of a huge region: 4 KiB pages held inside 2 MiB ones"
# d, base's copy and d1's, e moved onto a huge page after base and d1's
# copy of it, f and base's copy of it (moved off huge pages and cut to
# 3M after base), then the same again after --from: 12 pages.
hugepages_limit 14
start_daemon "${NO_KVM[@]}" --region d:4M:huge --region e:2M --region f:4M:huge
expect_ok pwrite "$MNT/e/contents" e1 5000
expect_ok pwrite "$MNT/f/contents" f1 5000
truncate -s 4M "$WORK/d.img"
fill d $((HUGE - 5000)) 10000
fill d $((HUGE + 300000)) 3
echo base >"$MNT/snapshot" || bad "snapshot base failed"
cp "$WORK/d.img" "$WORK/base.img"
echo "$HUGE" >"$MNT/e/page_size" || bad "e: page_size 2M failed"
echo "$PAGE" >"$MNT/f/page_size" || bad "f: page_size $PAGE failed"
echo 3M >"$MNT/f/mem_size" || bad "f: mem_size 3M failed"
expect_ok pwrite "$MNT/e/contents" e2 9000
# One 4 KiB page rewritten inside the first huge page, one zeroed inside
# the second (held, so zeros, not base's), one written in a new place.
fill d 8192 4096
expect_ok fill "$MNT/d/contents" 00 "$HUGE" "$PAGE"
dd if=/dev/zero of="$WORK/d.img" bs=1 count="$PAGE" seek="$HUGE" conv=notrunc status=none
fill d $((HUGE + 7 * PAGE)) 100
expect_ok write "$MNT/snapshot" "d1:base"
s=$MNT/snapshots
cmp "$WORK/d.img" "$s/d1/d/contents" || bad "d1/d is not what d held"
cmp "$WORK/base.img" "$s/base/d/contents" || bad "base/d changed under its diff"
cp --sparse=always "$s/d1/d/contents" "$WORK/d1.copy"
cmp "$WORK/d.img" "$WORK/d1.copy" || bad "cp --sparse of d1/d differs"
fill d 0 $((4 * HUGE / 2))
echo 4M >"$MNT/f/mem_size" || bad "f: mem_size 4M failed"
echo base >"$MNT/restore" || bad "restore base failed"
same d base "restored from base"
echo 3M >"$MNT/f/mem_size" || bad "f: mem_size 3M failed"
echo d1 >"$MNT/restore" || bad "restore d1 failed"
cmp "$WORK/d1.copy" "$MNT/d/contents" || bad "d is not d1 after restore"
mkdir "$WORK/hchain"
cp -r --sparse=always "$s/base" "$s/d1" "$WORK/hchain/" || bad "cp -r of the chain failed"
stop_daemon
start_daemon "${NO_KVM[@]}" --from "$WORK/hchain/d1"
expect_eq "d/page_size after --from the chain" "$(attr d page_size)" "$HUGE"
expect_eq "e/page_size after --from the chain: d1's" "$(attr e page_size)" "$HUGE"
expect_eq "f/page_size after --from the chain: d1's" "$(attr f page_size)" "$PAGE"
expect_eq "f/mem_size after --from the chain: d1's" "$(attr f mem_size)" $((3 << 20))
expect_eq "f's bytes after --from the chain" "$(dd if="$MNT/f/contents" bs=1 skip=5000 count=2 status=none)" f1
expect_eq "e's bytes after --from the chain" "$(dd if="$MNT/e/contents" bs=1 skip=5000 count=2 status=none)$(dd if="$MNT/e/contents" bs=1 skip=9000 count=2 status=none)" e1e2
cmp "$WORK/d1.copy" "$MNT/d/contents" || bad "d is not d1's after --from the chain"
cmp "$WORK/d1.copy" "$MNT/snapshots/d1/d/contents" || bad "snapshot d1 differs after --from"
cmp "$WORK/base.img" "$MNT/snapshots/base/d/contents" || bad "snapshot base differs after --from"
daemon_alive || fail "the daemon died loading a huge chain"
stop_daemon

say "1 GiB pages, where one can be reserved"
if hugepages_1g; then
	start_daemon "${NO_KVM[@]}" --region g:1G:huge=1G
	expect_eq "g/page_size" "$(attr g page_size)" $((1 << 30))
	expect_eq "g/base_addr mod 1G" $(($(hex2dec "$(attr g base_addr)") % (1 << 30))) 0
	truncate -s 1G "$WORK/g.img"
	fill g $((512 << 20)) 5000
	same g g "on a 1 GiB page"
	expect_eq "g: st_blocks, one page" "$(blocks g)" $(((1 << 30) / 512))
	echo 1 >"$MNT/g/zero" || bad "zero of g failed"
	expect_eq "g: st_blocks after zero, the page kept" "$(blocks g)" $(((1 << 30) / 512))
	expect_eq "g: SEEK_DATA after zero" "$(seek g 0 data)" ENXIO
	stop_daemon
	hugepages_release_1g
else
	skip_part "1G" "no 1 GiB huge page could be reserved"
fi

if have_kvm; then
	say "a guest on a huge region: its writes in dirty at 4 KiB"
	hugepages_limit 1
	start_daemon --region ram:1M@0x100000 --region data:2M@0x200000:huge \
		--guest "$GUESTS_DIR/dirtier.elf"
	wait_for grep -qx halted "$MNT/vcpu" || bad "the guest did not halt: $(cat "$MNT/vcpu")"
	expect_eq "console" "$(cat "$MNT/console")" dirtied
	expect_eq "data/dirty: the guest's two 4 KiB pages" "$(attr data dirty)" \
		"$(printf '0x1000-0x2000\n0x5000-0x6000')"
	expect_eq "the guest's bytes" \
		"$(xxd -s 0x1000 -l 1 -p "$MNT/data/contents")$(xxd -s 0x5000 -l 1 -p "$MNT/data/contents")" a1b2
	expect_eq "data/page_size" "$(attr data page_size)" "$HUGE"
	# Zero keeps the page (zeroed): with no spare page in the pool, the
	# guest's next writes still find one (hugepool.sh empties the pool).
	expect_eq "spare huge pages under the guest" "$(hugepages_spare)" 0
	echo 1 >"$MNT/data/zero" || bad "zero of data failed"
	expect_eq "data: st_blocks after zero, the page kept" "$(blocks data)" $((HUGE / 512))
	{ echo stop >"$MNT/vcpu" && echo run >"$MNT/vcpu"; } || bad "restarting the guest failed"
	wait_for grep -qx halted "$MNT/vcpu" || bad "the guest did not halt again: $(cat "$MNT/vcpu")"
	expect_eq "the guest's bytes after zero and a new run" \
		"$(xxd -s 0x1000 -l 1 -p "$MNT/data/contents")$(xxd -s 0x5000 -l 1 -p "$MNT/data/contents")" a1b2
	daemon_alive || fail "the daemon died under the guest"
	stop_daemon
else
	skip_part "guest" "no usable /dev/kvm"
fi
finish
