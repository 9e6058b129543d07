#!/bin/bash
# dirty is exact for every write through a file descriptor, whatever the
# open mode: README's `dd seek=` case (dd opens read-write whenever seek=
# is given), Python's r+b, fio's psync on an O_RDWR open; and a diff
# snapshot after an 8-byte dd patch holds one page.  Shared writable
# mappings are the region owner's choice (mmap_rw): without it Python's
# mmap MAP_SHARED of an r+b open is refused (ENODEV) and nothing
# changes, while a read-only open's shared mapping and MAP_PRIVATE still
# work; a read-write open while a reader holds contents is refused
# (EBUSY, one line naming the switch).  With it the mapping works (fio
# --ioengine=mmap --verify=crc32c passes) and dirty counts the region
# whole, through clears, until a clear after the mapping is gone, which
# gives exact dirty again.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

command -v fio >/dev/null || skip "fio missing"

dirty() {
	tr '\n' ' ' <"$MNT/$1/dirty"
}

range() {
	printf '0x%x-0x%x ' "$1" "$2"
}

# mm PATH OPEN MAP [HOLD]: Python mmap of one page of PATH opened r (rb)
# or rw (r+b), MAP is shared_w, shared_r or private; a shared_w mapping
# writes "MMAP" at 100.  Prints OK or the errno name of the open or the
# mmap.  HOLD: keep the mapping HOLD seconds after the file is closed,
# in the background, after printing.
cat >"$WORK/mm.py" <<'EOF'
import errno, mmap, os, sys, time
path, how, kind = sys.argv[1:4]
hold = float(sys.argv[4]) if len(sys.argv) > 4 else 0
prot = {'shared_w': mmap.PROT_READ | mmap.PROT_WRITE,
        'shared_r': mmap.PROT_READ,
        'private': mmap.PROT_READ | mmap.PROT_WRITE}[kind]
flags = mmap.MAP_PRIVATE if kind == 'private' else mmap.MAP_SHARED
try:
    f = open(path, 'rb' if how == 'r' else 'r+b', buffering=0)
except OSError as e:
    print(errno.errorcode[e.errno]); sys.exit()
try:
    m = mmap.mmap(f.fileno(), 4096, flags, prot)
except OSError as e:
    print(errno.errorcode[e.errno]); sys.exit()
if kind == 'shared_w':
    m[100:104] = b'MMAP'
f.close()
print('OK', flush=True)
if hold:
    sys.stdout.close()
    time.sleep(hold)
m.close()
EOF
mm() {
	py "$WORK/mm.py" "$@"
}

# hold.py PATH SECONDS: a shared writable mapping made with mmap(2) from
# an r+b open that is then closed (Python's mmap would keep a dup of the
# fd), written, and kept SECONDS: only /proc/PID/maps shows it then.
cat >"$WORK/hold.py" <<'EOF'
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                      ctypes.c_int, ctypes.c_int, ctypes.c_long]
fd = os.open(sys.argv[1], os.O_RDWR)
p = libc.mmap(None, 4096, 3, 1, fd, 0)	# PROT_READ|PROT_WRITE, MAP_SHARED
if p in (None, ctypes.c_void_p(-1).value):
    sys.exit('mmap: errno %d' % ctypes.get_errno())
os.close(fd)
ctypes.memmove(p + 200, b'HELD', 4)
print('OK', flush=True)
time.sleep(float(sys.argv[2]))
EOF

# cleared_says PATTERN: clear a's dirty; its last log line matches.
cleared_says() {
	echo 0 >"$MNT/a/dirty"
	last_log_line | grep -q "$1"
}

# README's case, and every other read-write way to write a few bytes.
fd_writes() {
	local c=$MNT/a/contents
	say "writes through any open are stamped exactly"
	echo 0 >"$MNT/a/dirty"
	printf AAAA | dd of="$c" bs=1 seek=0 conv=notrunc status=none || bad "dd seek= failed"
	expect_eq "dirty after dd seek=0" "$(dirty a)" "$(range 0 "$PAGE")"
	expect_eq "the bytes dd wrote" "$(head -c 4 "$c")" AAAA
	echo 0 >"$MNT/a/dirty"
	py - "$c" $((5 * PAGE + 10)) <<'EOF' || bad "python r+b write failed"
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2]))
    f.write(b'python')
EOF
	expect_eq "dirty after python r+b" "$(dirty a)" "$(range $((5 * PAGE)) $((6 * PAGE)))"
	echo 0 >"$MNT/a/dirty"
	# fio psync, read-write (rw=randrw): pages [64, 72) only.
	fio --name=psync --filename="$c" --ioengine=psync --rw=randrw --bs=4k \
		--offset=$((64 * PAGE)) --size=$((8 * PAGE)) --io_size=$((64 * PAGE)) \
		--fallocate=none --invalidate=0 --randrepeat=1 \
		--output="$WORK/fio-psync.out" >/dev/null 2>&1 ||
		bad "fio psync failed: $(tail -n 5 "$WORK/fio-psync.out")"
	local got want
	got=$(dirty a)
	want=$(range $((64 * PAGE)) $((72 * PAGE)))
	# randrw may leave some of the 8 pages unwritten: never any outside.
	py - "$got" $((64 * PAGE)) $((72 * PAGE)) <<'EOF' || bad "dirty after fio psync: '$got', want within '$want'"
import sys
got, lo, hi = sys.argv[1].split(), int(sys.argv[2]), int(sys.argv[3])
assert got, 'nothing'
for r in got:
    a, b = (int(x, 16) for x in r.split('-'))
    assert lo <= a < b <= hi, r
EOF
}

# The diff after an 8-byte patch: one page.
diff_patch() {
	say "a diff after an 8-byte dd patch holds one page"
	echo base >"$MNT/snapshot" || bad "snapshot base failed"
	printf 'DEADBEEF' | dd of="$MNT/a/contents" bs=1 seek=$((300 * PAGE + 5)) conv=notrunc status=none ||
		bad "dd patch failed"
	echo d1:base >"$MNT/snapshot" || bad "diff snapshot d1 failed"
	expect_eq "d1/a/dirty" "$(dirty snapshots/d1/a)" "$(range $((300 * PAGE)) $((301 * PAGE)))"
	grep -qE "^diff a holds 1 of [0-9]+ pages" "$MNT/snapshots/d1/info" ||
		bad "d1/info: $(grep '^diff a' "$MNT/snapshots/d1/info")"
	cmp "$MNT/a/contents" "$MNT/snapshots/d1/a/contents" || bad "d1/a does not read as a"
	rmdir "$MNT/snapshots/d1" "$MNT/snapshots/base" || bad "rmdir of the snapshots failed"
}

# Without mmap_rw: the refusals, exactly; what still maps.
refusals() {
	local c=$MNT/a/contents before
	say "without mmap_rw: MAP_SHARED of r+b is ENODEV, nothing changes"
	expect_eq "mmap_rw by default" "$(attr a mmap_rw)" 0
	echo 0 >"$MNT/a/dirty"
	before=$(snapshot a)
	expect_eq "mmap shared rw of r+b" "$(mm "$c" rw shared_w)" ENODEV
	expect_eq "mmap shared read-only of r+b" "$(mm "$c" rw shared_r)" ENODEV
	expect_eq "state after the refused mmaps" "$(snapshot a)" "$before"
	expect_eq "mmap private of r+b" "$(mm "$c" rw private)" OK
	expect_eq "mmap shared of rb" "$(mm "$c" r shared_r)" OK
	expect_eq "mmap private of rb" "$(mm "$c" r private)" OK
	expect_eq "mmap shared writable of rb" "$(mm "$c" r shared_w)" EACCES
	expect_eq "state after the mappings" "$(snapshot a)" "$before"
	expect_eq "dirty after the mappings" "$(dirty a)" ""
	# A read-write open while a reader holds it for passthrough.
	exec 3<"$c"
	BASELINE=$before expect_refused a EBUSY 1 errno_of rwpwrite "$c" x 0
	exec 3<&-
	[[ $(last_log_line) == *"echo 1 > a/mmap_rw"* ]] ||
		bad "the refusal does not name the switch: $(last_log_line)"
	log_has 'contents read path: .*unless the region.s mmap_rw is 1' ||
		bad "the start lines do not say shared mmap of a read-write open needs mmap_rw"
	expect_refused a EINVAL 1 errno_of write "$MNT/a/mmap_rw" 2
	expect_refused snapshots/s/a EPERM 1 errno_of write "$MNT/snapshots/s/a/mmap_rw" 1
}

# With mmap_rw: the mapping works, dirty is whole until re-armed.
allowed() {
	local c=$MNT/a/contents pid
	say "with mmap_rw: the mapping works; a clear after it is gone re-arms"
	echo 1 >"$MNT/a/mmap_rw"
	expect_eq "mmap_rw after echo 1" "$(attr a mmap_rw)" 1
	echo 0 >"$MNT/a/dirty"
	expect_eq "mmap shared rw of r+b, mmap_rw 1" "$(mm "$c" rw shared_w)" OK
	expect_eq "the bytes the mapping wrote" "$(dd if="$c" bs=1 skip=100 count=4 status=none)" MMAP
	expect_eq "dirty after a shared mapping" "$(dirty a)" "$(range 0 $((16 << 20)))"
	# Its file closed, the mapping kept: a clear cannot re-arm, says why.
	"$PYTHON" -S "$WORK/hold.py" "$c" 30 >"$WORK/hold.out" &
	pid=$!
	wait_for grep -q OK "$WORK/hold.out" || bad "the held mapping did not start"
	expect_eq "the bytes the held mapping wrote" "$(dd if="$c" bs=1 skip=200 count=4 status=none)" HELD
	# Its close reaches the daemon a little after the kernel let go.
	wait_for cleared_says "a/dirty: cleared, but it still counts every page as written: pid $pid ([^)]*) maps it shared and may write it" ||
		bad "the clear does not say who maps it: $(last_log_line)"
	expect_eq "dirty cleared while mapped" "$(dirty a)" "$(range 0 $((16 << 20)))"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	echo 0 >"$MNT/a/dirty"
	expect_eq "dirty cleared after the mapping went" "$(dirty a)" ""
	# (Write-only: a read-write open would be a passthrough writer again.)
	expect_ok fill "$c" 42 $((7 * PAGE)) 1
	expect_eq "dirty, exact again" "$(dirty a)" "$(range $((7 * PAGE)) $((8 * PAGE)))"
	say "fio --ioengine=mmap --verify=crc32c with mmap_rw"
	fio --name=mmap --filename="$c" --ioengine=mmap --rw=randwrite --bs=4k \
		--size=4M --verify=crc32c --do_verify=1 --fallocate=none \
		--output="$WORK/fio-mmap.out" >/dev/null 2>&1 ||
		bad "fio mmap verify failed: $(tail -n 5 "$WORK/fio-mmap.out")"
	grep -q "err= 0" "$WORK/fio-mmap.out" || bad "fio mmap: $(grep -m1 err= "$WORK/fio-mmap.out")"
	# Back to 0: new read-write opens write through the daemon again.
	echo 0 >"$MNT/a/mmap_rw"
	echo 0 >"$MNT/a/dirty"
	expect_eq "dirty after fio exited and a clear" "$(dirty a)" ""
	expect_eq "mmap shared rw of r+b, back to 0" "$(mm "$c" rw shared_w)" ENODEV
}

start_daemon "${NO_KVM[@]}" --region a:16M
log_has 'contents read path: FUSE passthrough' ||
	skip "no FUSE passthrough here (kernel 6.9 and CAP_SYS_ADMIN): every open goes through the daemon"
fd_writes
diff_patch
echo s >"$MNT/snapshot" || bad "snapshot s failed"
refusals
allowed
stop_daemon

say "-o mmap_rw: new regions allow shared writable mappings"
start_daemon "${NO_KVM[@]}" -o mmap_rw --region a:1M
expect_eq "mmap_rw with -o mmap_rw" "$(attr a mmap_rw)" 1
mkdir "$MNT/b" || bad "mkdir b failed"
expect_eq "mmap_rw of a new region" "$(attr b mmap_rw)" 1
expect_eq "mmap shared rw of r+b, -o mmap_rw" "$(mm "$MNT/b/contents" rw shared_w)" OK
echo 0 >"$MNT/b/mmap_rw"
expect_eq "mmap shared rw of r+b, echo 0" "$(mm "$MNT/b/contents" rw shared_w)" ENODEV
finish
