#!/bin/bash
# contents: the region's bytes through cat, dd, cp, cmp and xxd; its
# bounds, its sparseness, and that every read returns what the memory
# holds now (through FUSE passthrough and through the daemon).
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

SIZE=$((16 << 20))

# fresh_on_same_fd PATH OFF: read 8 bytes at OFF from an fd opened for
# reading, let dd (another open, another process) write new bytes there,
# and pread the same fd again: it must see the new bytes.
# dd opens read-write when given seek=; while a reader holds contents
# open for passthrough that is refused (EBUSY, logged: see mmap_rw), and
# dd opens it write-only instead: each such refusal is counted here.
fresh_on_same_fd() {
	local before after
	before=$(grep -c 'open for reading and writing refused' "$LOG" || true)
	py - "$1" "$2" <<'EOF' || return 1
import os, subprocess, sys
path, off = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_RDONLY)
for new in (b'NEWBYTES', b'newbytes'):
    os.pread(fd, 8, off)
    dd = subprocess.run(['dd', 'of=' + path, 'bs=8', 'seek=%d' % (off // 8),
                         'conv=notrunc', 'status=none'],
                        input=new, stderr=subprocess.PIPE)
    if dd.returncode:
        sys.exit('dd writing while a reader has contents open failed: '
                 + dd.stderr.decode().strip())
    got = os.pread(fd, 8, off)
    if got != new:
        sys.exit('stale read on the same fd: %r, want %r' % (got, new))
os.close(fd)
EOF
	after=$(grep -c 'open for reading and writing refused' "$LOG" || true)
	REFUSALS=$((REFUSALS + after - before))
}

blocks() {
	stat -c %b "$MNT/$1/contents"
}

# The st_blocks r shows after a zero: 0, as the memory goes back; on huge
# pages (huge_contents) what it holds now, as zero keeps its pages (a
# punch would give back their reservation, which the pool may not give
# again: hugepool.sh).
zeroed_blocks() {
	if [ -n "${IT_HUGE:-}" ]; then blocks r; else echo 0; fi
}

# The bytes, whole: cp in, cmp, cp out; O_TRUNC zeroes the region.
check_copy() {
	dd if=/dev/urandom of="$WORK/img" bs=1M count=16 status=none
	cp "$WORK/img" "$MNT/r/contents" || bad "cp img contents failed"
	expect_eq "st_size after cp" "$(stat -c %s "$MNT/r/contents")" "$SIZE"
	cmp "$WORK/img" "$MNT/r/contents" || bad "contents differs from what cp wrote"
	cp "$MNT/r/contents" "$WORK/out" || bad "cp contents out failed"
	cmp "$WORK/img" "$WORK/out" || bad "cp contents out: not the bytes written"
	# An open with O_TRUNC and nothing written: zeros, the size stays.
	local held
	held=$(zeroed_blocks)
	: >"$MNT/r/contents" || bad ": > contents failed"
	cmp -n "$SIZE" /dev/zero "$MNT/r/contents" || bad "O_TRUNC left bytes"
	expect_eq "st_size after O_TRUNC" "$(stat -c %s "$MNT/r/contents")" "$SIZE"
	expect_eq "st_blocks after O_TRUNC" "$(blocks r)" "$held"
	expect_eq "SEEK_DATA after O_TRUNC" "$(errno_of seek "$MNT/r/contents" 0 data)" ENXIO
	cp "$WORK/img" "$MNT/r/contents" || bad "cp img contents failed"
}

# dd at an offset with conv=notrunc: exactly those bytes change.
check_offset_write() {
	local off=1234567
	printf 'regionfs-offset!' >"$WORK/pat"
	dd if="$WORK/pat" of="$MNT/r/contents" bs=16 oflag=seek_bytes seek=$off \
		conv=notrunc status=none || bad "dd at offset $off failed"
	dd if="$WORK/pat" of="$WORK/img" bs=16 oflag=seek_bytes seek=$off \
		conv=notrunc status=none
	expect_eq "xxd at $off" "$(xxd -s $off -l 16 -p "$MNT/r/contents")" \
		"$(xxd -p "$WORK/pat")"
	cmp "$WORK/img" "$MNT/r/contents" || bad "bytes outside the dd range changed"
}

# Bounds: reads past the end return 0 bytes; writes starting at the end
# fail ENOSPC, straddling ones are short; ftruncate(N) zeroes from N on,
# past mem_size it is EFBIG.
check_bounds() {
	expect_eq "bytes read past the end (dd)" \
		"$(nbytes dd if="$MNT/r/contents" bs=4096 skip=$((SIZE / 4096)) status=none)" 0
	expect_eq "bytes read from the last 100 (tail)" \
		"$(tail -c +$((SIZE - 99)) "$MNT/r/contents" | wc -c)" 100
	check_write_bounds "no reader open"
	truncate -s "$SIZE" "$MNT/r/contents" || bad "truncate -s mem_size failed"
	cmp "$WORK/img" "$MNT/r/contents" || bad "truncate to mem_size changed bytes"
	expect_errno EFBIG truncate "$MNT/r/contents" $((SIZE + 4096))
	expect_eq "st_size = mem_size" "$(stat -c %s "$MNT/r/contents")" "$(attr r mem_size)"
	# Read-write opens write through the daemon: bounds as above.
	expect_errno ENOSPC rwpwrite "$MNT/r/contents" past "$SIZE"
	expect_errno_unlogged SHORT:2 rwpwrite "$MNT/r/contents" xy12 $((SIZE - 2))
	expect_eq "the last two bytes, read-write" "$(tail -c 2 "$MNT/r/contents")" xy
	expect_errno_unlogged OK rwpwrite "$MNT/r/contents" ab $((SIZE - 2))
	# While a reader (less, xxd, a container) holds contents open for
	# passthrough, a write-only opener still goes through the daemon
	# (bounds as above).  A read-write one would have to be passed
	# through too, and could map the memory where dirty cannot see:
	# refused (EBUSY) unless mmap_rw allows it; then the sealed memory
	# refuses its writes past the end (EPERM, the kernel's answer: the
	# daemon never sees them) and cuts straddling ones short.
	exec 3<"$MNT/r/contents"
	check_write_bounds "a reader open"
	if [ "$(attr r page_size)" = "$PAGE" ] && log_has 'contents read path: FUSE passthrough'; then
		expect_refused r EBUSY 1 errno_of rwpwrite "$MNT/r/contents" zz 0
		echo 1 >"$MNT/r/mmap_rw"
		expect_errno_unlogged EPERM rwpwrite "$MNT/r/contents" past "$SIZE"
		expect_errno_unlogged SHORT:2 rwpwrite "$MNT/r/contents" xy12 $((SIZE - 2))
		expect_eq "the last two bytes, read-write" "$(tail -c 2 "$MNT/r/contents")" xy
		expect_errno_unlogged OK rwpwrite "$MNT/r/contents" ab $((SIZE - 2))
		echo 0 >"$MNT/r/mmap_rw"
	elif [ "$(attr r page_size)" != "$PAGE" ]; then
		# A huge region is never passed through, a reader open or not:
		# a read-write opener writes through the daemon, bounds as above.
		expect_errno ENOSPC rwpwrite "$MNT/r/contents" past "$SIZE"
		expect_errno_unlogged SHORT:2 rwpwrite "$MNT/r/contents" xy12 $((SIZE - 2))
		expect_eq "the last two bytes, read-write, a reader open" "$(tail -c 2 "$MNT/r/contents")" xy
		expect_errno_unlogged OK rwpwrite "$MNT/r/contents" ab $((SIZE - 2))
	else
		skip_part "read-write bounds (${IT_HUGE:+huge, }$TEST_NAME)" \
			"no FUSE passthrough here: a read-write opener's writes past the end and straddling it are not checked"
	fi
	expect_eq "bytes read past the end, a reader open" \
		"$(nbytes dd if="$MNT/r/contents" bs=4096 skip=$((SIZE / 4096)) status=none)" 0
	exec 3<&-
	expect_eq "st_size after writes with a reader open" "$(stat -c %s "$MNT/r/contents")" "$SIZE"
	cmp "$WORK/img" "$MNT/r/contents" || bad "a refused or short write changed other bytes"
}

# ftruncate(N) keeps the size and zeroes from N on: a partial page too.
check_truncate() {
	local n=$((3 * 4096 + 100))
	truncate -s $n "$MNT/r/contents" || bad "truncate -s $n failed"
	expect_eq "st_size after truncate" "$(stat -c %s "$MNT/r/contents")" "$SIZE"
	cmp -n $n "$WORK/img" "$MNT/r/contents" || bad "bytes before $n changed"
	expect_eq "zeros from $n" "$(nonzero_bytes tail -c +$((n + 1)) "$MNT/r/contents")" 0
	cp "$WORK/img" "$MNT/r/contents" || bad "cp img contents failed"
}

# check_write_bounds WHEN: writes at and past the end, and one straddling.
check_write_bounds() {
	local n
	n=$FAILURES
	expect_errno ENOSPC pwrite "$MNT/r/contents" x "$SIZE"
	expect_errno ENOSPC pwrite "$MNT/r/contents" x $((SIZE + 4096))
	expect_errno_unlogged SHORT:2 pwrite "$MNT/r/contents" abcd $((SIZE - 2))
	expect_eq "the last two bytes" "$(tail -c 2 "$MNT/r/contents")" ab
	[ "$FAILURES" -eq "$n" ] || bad "write bounds broken with $1"
	printf ab | dd of="$WORK/img" bs=1 seek=$((SIZE - 2)) conv=notrunc status=none
}

# Sparse: untouched memory is a hole, reading does not allocate it,
# st_blocks, SEEK_DATA/SEEK_HOLE and cp --sparse see exactly the written
# ranges, in whole pages of the region's page_size (4 KiB, or a huge page
# on the huge_contents run).
check_sparse() {
	local a=$((1 << 20)) b=$((500 << 20)) n resident pg ae
	pg=$(attr big page_size)
	ae=$(((a + 65536 + pg - 1) / pg * pg))
	expect_eq "st_blocks of a fresh 1G region" "$(blocks big)" 0
	cat "$MNT/big/contents" >/dev/null || bad "cat big/contents failed"
	expect_eq "st_blocks after cat" "$(blocks big)" 0
	dd if=/dev/urandom of="$WORK/64k" bs=64K count=1 status=none
	dd if="$WORK/64k" of="$MNT/big/contents" bs=64K seek=$((a >> 16)) conv=notrunc status=none
	dd if="$WORK/64k" of="$MNT/big/contents" bs=64K seek=$((b >> 16)) conv=notrunc status=none
	# 128K written = 256 blocks; shmem huge pages may round each up to 2M.
	resident=$(blocks big)
	if [ "$resident" -lt 256 ] || [ "$resident" -gt 8192 ]; then
		bad "st_blocks after writing 2 x 64K: $resident, want about 256"
	fi
	expect_eq "SEEK_DATA from 0" "$(errno_of seek "$MNT/big/contents" 0 data)" $((a / pg * pg))
	expect_eq "SEEK_HOLE from $a" "$(errno_of seek "$MNT/big/contents" $a hole)" $ae
	expect_eq "SEEK_DATA from $ae" \
		"$(errno_of seek "$MNT/big/contents" $ae data)" $((b / pg * pg))
	expect_eq "SEEK_HOLE from $b" "$(errno_of seek "$MNT/big/contents" $b hole)" \
		$(((b + 65536 + pg - 1) / pg * pg))
	cp --sparse=always "$MNT/big/contents" "$WORK/sparse.out" || bad "cp --sparse failed"
	n=$(stat -c %b "$WORK/sparse.out")
	[ "$n" -le 8192 ] || bad "cp --sparse=always wrote $n blocks for 128K of data"
	cmp "$WORK/sparse.out" "$MNT/big/contents" || bad "cp --sparse copy differs"
	rm -f "$WORK/sparse.out"
	expect_eq "st_blocks after cp and cmp" "$(blocks big)" "$resident"
}

# echo 1 > zero: all zeros, and the memory goes back (st_blocks 0; on
# huge pages the pages are kept, zeroed: zeroed_blocks).
check_zero() {
	local held
	held=$(zeroed_blocks)
	echo 1 >"$MNT/r/zero" || bad "echo 1 > zero failed"
	cmp -n "$SIZE" "$MNT/r/contents" /dev/zero || bad "contents not zero after zero"
	expect_eq "st_blocks after zero" "$(blocks r)" "$held"
	expect_eq "SEEK_DATA after zero" "$(errno_of seek "$MNT/r/contents" 0 data)" ENXIO
}

# The daemon's large reads splice the memfd into /dev/fuse (one copy) in
# requests no larger than a worker's pipe holds (-o max_read, said in the
# log).  Exact bytes for 1 MiB and odd sizes and offsets, reads straddling
# and past the end, whatever the request split; then readers against a
# writer and zero: every 8-byte word read holds its own offset (never
# bytes of another place) and a generation no older than the last one
# written before the read began, or is zero when zero ran meanwhile.
check_daemon_reads() {
	local kib
	kib=$(sed -n 's/.*daemon reads are spliced from the memfd, in requests of at most \([0-9]*\) KiB.*/\1/p' "$LOG" | tail -1)
	if [ -n "$kib" ]; then
		awk -v m="$MNT" -v r="max_read=$((kib * 1024))" '$2 == m && index($4 ",", r ",") { f = 1 } END { exit !f }' /proc/self/mounts ||
			bad "the log says requests of $kib KiB, the mount says $(awk -v m="$MNT" '$2 == m { print $4 }' /proc/self/mounts)"
	elif ! log_has 'daemon reads are spliced from the memfd' && ! log_has 'daemon reads are copied through a buffer'; then
		bad "the log does not say how the daemon reads contents"
	fi
	dd if=/dev/urandom of="$WORK/pat" bs=1M count=16 status=none
	cp "$WORK/pat" "$MNT/r/contents" || bad "cp pattern contents failed"
	dd if="$MNT/r/contents" bs=1M status=none | cmp - "$WORK/pat" || bad "dd bs=1M differs"
	cmp "$MNT/r/contents" "$WORK/pat" || bad "cmp differs"
	for bs in 1048575 1048577 1032193 777777 12345 8191 8192; do
		dd if="$MNT/r/contents" bs=$bs status=none | cmp - "$WORK/pat" || bad "dd bs=$bs differs"
	done
	py - "$MNT/r/contents" "$WORK/pat" "${kib:-1008}" <<'EOF' || bad "daemon reads of odd sizes and offsets differ"
import os, sys
path, pat, kib = sys.argv[1], open(sys.argv[2], 'rb').read(), int(sys.argv[3])
size, MiB = len(pat), 1 << 20
fd = os.open(path, os.O_RDONLY)
cases = [(0, MiB), (12345, MiB), (4095, MiB - 1), (3, 777777),
         (5, kib * 1024 + 1), (MiB, kib * 1024), (0, 8192), (1, 8191),
         (7, 1), (size - 5000, MiB), (size - 1, MiB), (size, MiB),
         (size + 4096, MiB), (size - 3 * MiB - 17, 3 * MiB)]
for off, n in cases:
    got = os.pread(fd, n, off)
    want = pat[off:off + n]
    if got != want:
        sys.exit('pread(%d bytes at %d): %d bytes, %s' % (n, off, len(got),
                 'the wrong ones' if len(got) == len(want) else
                 'want %d' % len(want)))
os.close(fd)
EOF
	py - "$MNT/r" <<'EOF' || bad "daemon reads against a writer and zero saw wrong bytes"
import os, struct, sys, threading, time
d = sys.argv[1]
path, MiB, SIZE, GENS = d + '/contents', 1 << 20, 16 << 20, 40
# Word i of the region: (i, generation); pages of one generation at a time.
base = b''.join(struct.pack('<II', i, 0) for i in range(SIZE // 8))
done, fails, gen = threading.Event(), [], [0]
def writer():
    fd = os.open(path, os.O_WRONLY)
    w = bytearray(base)
    for g in range(1, GENS + 1):
        w[4::8] = bytes([g]) * (SIZE // 8)
        for off in range(0, SIZE, MiB):
            os.pwrite(fd, memoryview(w)[off:off + MiB], off)
        gen[0] = g
    os.close(fd)
def check(buf, off, lo, hi, zero_ok):
    words = struct.unpack('<%dI' % (len(buf) // 4), buf[:len(buf) // 8 * 8])
    first = off // 8
    for k in range(0, len(words), 2):
        i, g = words[k], words[k + 1]
        if zero_ok and i == 0 and g == 0:
            continue
        if i != first + k // 2 or not lo <= g <= hi:
            return 'word at %d: offset %d, generation %d (want %d, %d..%d)' % (
                off + k * 4, i * 8, g, off + k * 4, lo, hi)
def reader(zero_ok, sizes):
    fd = os.open(path, os.O_RDONLY)
    n = 0
    while not done.is_set() and not fails:
        size = sizes[n % len(sizes)]
        off = (n * 8 * 12347) % SIZE
        lo = 0 if zero_ok else gen[0]
        buf = os.pread(fd, size, off)
        want = min(size, SIZE - off)
        why = 'read %d at %d: %d bytes' % (size, off, len(buf)) \
            if len(buf) != want else check(buf, off, lo, GENS, zero_ok)
        if why:
            fails.append(why)
        n += 1
    os.close(fd)
    if n < 2:
        fails.append('a reader read %d times only' % n)
def zeroer():
    while not done.is_set():
        with open(d + '/zero', 'w') as f:
            f.write('1')
        time.sleep(0.01)
def run(zero_ok, sizes):
    done.clear()
    gen[0] = 0
    fd = os.open(path, os.O_WRONLY)
    os.pwrite(fd, base, 0)
    os.close(fd)
    ts = [threading.Thread(target=reader, args=(zero_ok, s)) for s in sizes]
    if zero_ok:
        ts.append(threading.Thread(target=zeroer))
    w = threading.Thread(target=writer)
    for t in ts + [w]:
        t.start()
    w.join()
    done.set()
    for t in ts:
        t.join()
# A read begun after generation g was written sees g or later, exactly.
run(False, [[MiB], [MiB - 4096 + 8, 777776, 16384]])
with open(path, 'rb') as f:
    why = check(f.read(), 0, GENS, GENS, False)
if why:
    fails.append('after the writer: ' + why)
# With zero besides: each request wholly before or after a zero.
run(True, [[MiB, 65536]])
if fails:
    sys.exit(fails[0])
EOF
	# A region removed while open lives until the last close, and a
	# large read just before that close returns its bytes.  (The read
	# path holds its own reference across the reply, so the release of
	# that close cannot free the region under it; the window is too
	# narrow for this test to catch that alone.)
	py - "$MNT" <<'EOF' || bad "reads of a removed region's contents failed"
import os, sys
mnt, MiB = sys.argv[1], 1 << 20
for i in range(8):
    d = '%s/gone%d' % (mnt, i)
    os.mkdir(d)
    with open(d + '/mem_size', 'w') as f:
        f.write('2M')
    pat = bytes([i + 1]) * (2 * MiB)
    fd = os.open(d + '/contents', os.O_RDWR)
    os.pwrite(fd, pat, 0)
    os.rmdir(d)
    got = os.pread(fd, MiB, 12345)
    os.close(fd)
    if got != pat[12345:12345 + MiB]:
        sys.exit('%s: %d bytes read after rmdir, not the ones written'
                 % (d, len(got)))
EOF
}

# The daemon's read path (-o no_passthrough): reading all of a 1G region
# allocates nothing, and reads are fresh on the same fd.
start_daemon -o no_passthrough --region r:16M --region big:1G
log_has 'contents read path: daemon' || bad "no_passthrough: the log does not say the daemon serves reads"
dd if="$MNT/big/contents" of=/dev/null bs=1M status=none || bad "dd big/contents failed"
expect_eq "st_blocks after dd through the daemon" "$(blocks big)" 0
cat "$MNT/big/contents" >/dev/null || bad "cat big/contents failed"
expect_eq "st_blocks after cat through the daemon" "$(blocks big)" 0
fresh_on_same_fd "$MNT/r/contents" 4096 || bad "no_passthrough: a reader saw stale bytes"
check_daemon_reads
stop_daemon

# The default daemon: readers through FUSE passthrough where the kernel
# offers it.
start_daemon --region r:16M --region big:1G
check_copy
check_offset_write
check_bounds
check_truncate
check_sparse
fresh_on_same_fd "$MNT/r/contents" 8192 || bad "passthrough: a reader and a writer cannot share contents"
check_zero
finish
