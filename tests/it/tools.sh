#!/bin/bash
# Standard tools keep their promises: exact loads of sparse images (cp,
# cp --sparse=always, tar -xS, rsync --inplace, dd), honest times (rsync
# -a twice, find -newer), recursive copies of a region, a snapshot and
# the whole mount (cp -r, cp -a, rsync -a, tar -cS, diff -r) as root and
# as the reader group in a container, mmap (read-only, read-write,
# private) against pread and the guest, fio's mmap engine with
# verification, the log file, and df.  Every tool gets the right bytes or
# a clear error, never wrong data with status 0.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

for t in rsync tar fio bwrap setpriv find diff; do
	command -v $t >/dev/null || skip "$t missing"
done
PY=/usr/bin/python3
[ -x $PY ] || skip "$PY missing (the reader uid cannot use root's python)"

SIZE=$((4 << 20))
READER=2000

# A 4 MiB image in pattern B with holes ([0, 1M), [2M, 3M) and the last
# 512K), and a shorter one: what loads must leave exactly.
make_images() {
	rm -f "$WORK/img" "$WORK/short"
	truncate -s $SIZE "$WORK/img"
	head -c $((1 << 20)) /dev/zero | tr '\0' B |
		dd of="$WORK/img" bs=1M seek=1 conv=notrunc status=none
	head -c $((512 << 10)) /dev/zero | tr '\0' b |
		dd of="$WORK/img" bs=512K seek=6 conv=notrunc status=none
	cp --sparse=always "$WORK/img" "$WORK/short"
	truncate -s $((2 << 20)) "$WORK/short"
	# Older than any region write: rsync's quick check compares seconds.
	touch -d '-1 hour' "$WORK/img" "$WORK/short"
}

# fill: the region all pattern A, so a load that skips a hole shows it.
fill() {
	fill_with r A
}

expect_load() {
	expect_image "$1" r "$2"
}

loads() {
	say "loads of sparse images are exact"
	make_images
	fill
	cp "$WORK/img" "$MNT/r/contents" || bad "cp failed"
	expect_load "cp" "$WORK/img"
	fill
	cp --sparse=always "$WORK/img" "$MNT/r/contents" || bad "cp --sparse=always failed"
	expect_load "cp --sparse=always" "$WORK/img"
	fill
	cp --sparse=always "$WORK/short" "$MNT/r/contents" || bad "cp of a short image failed"
	expect_load "cp of a shorter image" "$WORK/short"
	fill
	dd if="$WORK/img" of="$MNT/r/contents" bs=1M status=none || bad "dd failed"
	expect_load "dd" "$WORK/img"
	# tar -xS: an archive holding r/contents, sparse, extracted into the
	# mount.  --overwrite: by default tar opens with O_EXCL and, on
	# EEXIST, unlinks, which a region's file refuses (EPERM, logged).
	# Its owner and mode are the region's, as in an archive of the mount.
	mkdir -p "$WORK/stage/r" && cp --sparse=always "$WORK/img" "$WORK/stage/r/contents"
	chown --reference="$MNT/r/contents" "$WORK/stage/r/contents"
	chmod --reference="$MNT/r/contents" "$WORK/stage/r/contents"
	tar -cSf "$WORK/img.tar" -C "$WORK/stage" r/contents
	fill
	tar -xS --overwrite -f "$WORK/img.tar" -C "$MNT" r/contents || bad "tar -xS failed"
	expect_load "tar -xS" "$WORK/img"
	fill
	tar -xpS --overwrite -f "$WORK/img.tar" -C "$MNT" r/contents || bad "tar -xpS failed"
	expect_load "tar -xpS (owner and mode kept)" "$WORK/img"
	fill
	rsync --inplace "$WORK/img" "$MNT/r/contents" || bad "rsync --inplace failed"
	expect_load "rsync --inplace" "$WORK/img"
	fill
	rsync --inplace --sparse "$WORK/short" "$MNT/r/contents" || bad "rsync --inplace --sparse failed"
	expect_load "rsync --inplace --sparse of a shorter image" "$WORK/short"
	# A patch keeps its meaning: dd conv=notrunc changes those bytes only.
	printf 'patch' | dd of="$MNT/r/contents" bs=1 seek=100 conv=notrunc status=none
	printf 'patch' | dd of="$WORK/short" bs=1 seek=100 conv=notrunc status=none
	expect_load "dd conv=notrunc" "$WORK/short"
}

dfs() {
	say "df shows the sandbox's memory"
	local used
	expect_eq "df size (KiB)" "$(df -k --output=size "$MNT" | tail -1 | tr -d ' ')" \
		$(((SIZE + (64 << 10)) >> 10))
	used=$(df -k --output=used "$MNT" | tail -1 | tr -d ' ')
	expect_eq "df used (KiB) = resident" "$used" \
		$((($(stat -c %b "$MNT/r/contents") + $(stat -c %b "$MNT/small/contents")) / 2))
	[ "$(df --output=iused "$MNT" | tail -1 | tr -d ' ')" -gt 20 ] || bad "df -i: no inodes used"
}

times() {
	say "times tell the truth: rsync -a twice, find -newer"
	rsync -a "$MNT/r/" "$WORK/sync/" || bad "rsync -a failed"
	cmp "$MNT/r/contents" "$WORK/sync/contents" || bad "rsync -a: not the bytes"
	touch -d '-1 second' "$WORK/ref"
	sleep 1.1
	[ "$(errno_of fill "$MNT/r/contents" 5a 12345 100)" = OK ] || bad "write failed"
	expect_eq "find -newer" "$(find "$MNT/r" -newer "$WORK/ref" -name contents)" "$MNT/r/contents"
	rsync -a "$MNT/r/" "$WORK/sync/" || bad "second rsync -a failed"
	cmp "$MNT/r/contents" "$WORK/sync/contents" || bad "rsync -a the second time copied stale bytes"
	local m0 m1
	m0=$(stat -c %Y "$MNT/small/mem_size")
	sleep 1.1
	echo 8M >"$MNT/small/mem_size"
	m1=$(stat -c %Y "$MNT/small/mem_size")
	[ "$m1" -gt "$m0" ] || bad "mem_size's mtime did not move with its value"
	echo 64K >"$MNT/small/mem_size"
}

# copies WHAT DIR: cp -r, cp -a, rsync -a, tar -cS round trips of DIR,
# each checked with diff -r (metrics, which counts the very requests of
# the copy, is live and cannot compare equal: left out of the diff).
copies() {
	local what=$1 dir=$2 out=$WORK/copies.$1
	local -a diff=(diff -r --exclude=metrics)
	rm -rf "$out" && mkdir -p "$out"
	cp -r "$dir" "$out/cp-r" || bad "$what: cp -r failed"
	"${diff[@]}" "$dir" "$out/cp-r" >/dev/null || bad "$what: diff -r after cp -r"
	cp -a "$dir" "$out/cp-a" || bad "$what: cp -a failed"
	"${diff[@]}" "$dir" "$out/cp-a" >/dev/null || bad "$what: diff -r after cp -a"
	rsync -a "$dir/" "$out/rsync/" || bad "$what: rsync -a failed"
	"${diff[@]}" "$dir" "$out/rsync" >/dev/null || bad "$what: diff -r after rsync -a"
	tar -cSf "$out.tar" -C "$(dirname "$dir")" "$(basename "$dir")" || bad "$what: tar -cS failed"
	mkdir "$out/tar"
	tar -xSf "$out.tar" -C "$out/tar" || bad "$what: tar -x failed"
	"${diff[@]}" "$dir" "$out/tar/$(basename "$dir")" >/dev/null || bad "$what: diff -r after tar"
}

recursive() {
	say "recursive copies of a region, a snapshot and the whole mount"
	echo s >"$MNT/snapshot" || bad "snapshot failed"
	copies region "$MNT/r"
	copies snapshot "$MNT/snapshots/s"
	copies mount "$MNT"
	# An empty control file copies as an empty file; zero reads empty.
	expect_eq "zero reads empty" "$(wc -c <"$MNT/r/zero")" 0
	# cp -a back into the mount: owner, mode and times that change nothing
	# succeed for contents; the read-only attributes are refused, logged.
	local n0 n f
	n0=$(refusals_logged)
	cp -a "$WORK/copies.region/cp-a/." "$MNT/r/" 2>"$WORK/err" || true
	# One refusal logged for each file cp could not write, no more: the
	# six read-only attributes at least (guest_addr too without a VM).
	n=$(grep -c '^cp: ' "$WORK/err" || true)
	[ "$n" -ge 6 ] || bad "cp -a into the mount: $n errors, want the 6 read-only attributes at least: $(cat "$WORK/err")"
	expect_eq "refusals logged for cp -a's $n errors" "$(($(refusals_logged) - n0))" "$n"
	for f in base_addr raw_addr raw_size host_region_base host_region_end kind; do
		grep -q "r/$f: open for writing refused: " "$LOG" ||
			bad "cp -a into the mount: no refusal of $f logged"
	done
	REFUSALS=$((REFUSALS + n))
	cmp "$WORK/copies.region/cp-a/contents" "$MNT/r/contents" ||
		bad "cp -a into the mount: not the bytes"
	! grep -q 'contents' "$WORK/err" || bad "cp -a into the mount: $(cat "$WORK/err")"
}

# The reader group, inside a container: the same copies.
as_reader() {
	local lib64=()
	if [ -e /lib64 ]; then lib64=(--ro-bind /lib64 /lib64); fi
	setpriv --reuid=65534 --regid=65534 --groups=$READER \
		bwrap --unshare-pid --unshare-net --die-with-parent \
		--ro-bind /usr /usr --ro-bind /lib /lib --ro-bind /bin /bin \
		${lib64[@]+"${lib64[@]}"} \
		--proc /proc --dev /dev --tmpfs /tmp \
		--ro-bind "$MNT" /sandbox -- "$@"
}

reader_copies() {
	say "the reader group copies a region and a snapshot from a container"
	local got
	got=$(as_reader sh -c 'cp -r /sandbox/r /tmp/r && diff -r /sandbox/r /tmp/r &&
		rsync -a /sandbox/snapshots/s/ /tmp/s/ && diff -r /sandbox/snapshots/s /tmp/s &&
		tar -cSf /tmp/r.tar -C /sandbox r && echo copied' 2>&1)
	expect_eq "reader group: cp -r, rsync -a, tar, diff -r" "$got" copied
	# Other uids still see nothing of the memory.
	expect_eq "another uid reads contents" \
		"$(setpriv --reuid=65534 --regid=65534 --clear-groups $PY -c "
import os, errno
try:
    os.open('$MNT/r/contents', os.O_RDONLY); print('OK')
except OSError as e:
    print(errno.errorcode[e.errno])")" EACCES
}

mmaps() {
	say "mmap: read-only, read-write and private, coherent with read and write"
	local got
	# Shared writable mappings are the owner's choice (dirtyexact.sh).
	echo 1 >"$MNT/r/mmap_rw"
	echo 1 >"$MNT/small/mmap_rw"
	got=$($PY - "$MNT/r/contents" <<-'EOF'
		import mmap, os, sys
		p = sys.argv[1]
		fd = os.open(p, os.O_RDWR)
		m = mmap.mmap(fd, 1 << 20, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
		m[4096:4100] = b'MMAP'
		r = os.open(p, os.O_RDONLY)
		ok = os.pread(r, 4, 4096) == b'MMAP'
		w = os.open(p, os.O_WRONLY)
		os.pwrite(w, b'PWRT', 8192)
		ok = ok and m[8192:8196] == b'PWRT'
		ro = mmap.mmap(r, 1 << 20, mmap.MAP_SHARED, mmap.PROT_READ)
		ok = ok and ro[4096:4100] == b'MMAP'
		pv = mmap.mmap(r, 1 << 20, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)
		pv[0:4] = b'PRIV'
		ok = ok and os.pread(r, 4, 0) != b'PRIV'
		print('coherent' if ok else 'INCOHERENT')
	EOF
	)
	expect_eq "mmap" "$got" coherent
	# O_DIRECT cleared with fcntl, or an mmap of such an fd, must not
	# put contents in the kernel's cached mode: reads stay fresh.
	got=$($PY - "$MNT/r/contents" <<-'EOF'
		import fcntl, mmap, os, sys
		p = sys.argv[1]
		fd = os.open(p, os.O_RDWR | os.O_DIRECT)
		fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)
		first = os.pread(fd, 4, 12288)
		m = mmap.mmap(fd, 16384)
		w = os.open(p, os.O_WRONLY)
		os.pwrite(w, bytes(b ^ 0xff for b in first), 12288)
		fresh = os.pread(fd, 4, 12288) != first and m[12288:12292] != first
		print('fresh' if fresh else 'STALE')
	EOF
	)
	expect_eq "O_DIRECT cleared by fcntl, then mmap" "$got" fresh
	# A mapping outlives its open: what it writes after the close must
	# still count, or a restore would keep bytes the snapshot lacks.
	echo s3 >"$MNT/snapshot" || bad "snapshot s3 failed"
	got=$($PY - "$MNT" <<-'EOF'
		import mmap, os, sys
		m = sys.argv[1]
		fd = os.open(m + '/small/contents', os.O_RDWR)
		mp = mmap.mmap(fd, 4096)
		os.close(fd)
		def w(path, v):
		    f = os.open(m + '/' + path, os.O_WRONLY | os.O_TRUNC)
		    os.write(f, v)
		    os.close(f)
		w('small/dirty', b'0')
		w('snapshot', b's4')
		before = os.pread(os.open(m + '/small/contents', os.O_RDONLY), 5, 0)
		mp[0:5] = b'HELLO'
		dirty = open(m + '/small/dirty').read()
		w('restore', b's4')
		after = os.pread(os.open(m + '/small/contents', os.O_RDONLY), 5, 0)
		print('ok' if dirty.startswith('0x0-') and after == before else
		      'WRONG dirty=%r after=%r before=%r' % (dirty, after, before))
	EOF
	)
	expect_eq "a mapping's writes after close, then restore" "$got" ok
	# O_TRUNC zeroes whatever the access mode (the kernel checked it).
	errno_of fill "$MNT/small/contents" 5a 0 100 >/dev/null
	$PY -c "import os; os.close(os.open('$MNT/small/contents', os.O_RDONLY | os.O_TRUNC))"
	expect_eq "O_RDONLY|O_TRUNC zeroes" "$(nonzero_bytes head -c 100 "$MNT/small/contents")" 0
	# A snapshot's copy is passed through for the owner only (what a
	# fork maps, forkmap.sh): the reader group's open is the daemon's, so
	# no mapping of another uid keeps its memory after rmdir.
	cat >"$WORK/mapcopy.py" <<-EOF
	import mmap, os, errno
	fd = os.open('$MNT/snapshots/s3/small/contents', os.O_RDONLY)
	try:
	    mmap.mmap(fd, 4096, prot=mmap.PROT_READ); print('OK')
	except OSError as e:
	    print(errno.errorcode[e.errno])
	EOF
	expect_eq "the owner's mmap of a snapshot's copy" "$($PY "$WORK/mapcopy.py")" OK
	expect_eq "the reader group's mmap of a snapshot's copy" \
		"$(setpriv --reuid=65534 --regid=65534 --groups=$READER $PY "$WORK/mapcopy.py")" ENODEV
	fio --name=mmap --filename="$MNT/r/contents" --ioengine=mmap --rw=randwrite \
		--bs=4k --size=2M --verify=crc32c --do_verify=1 --output="$WORK/fio.out" \
		>/dev/null 2>&1 || bad "fio --ioengine=mmap --verify=crc32c failed: $(tail -5 "$WORK/fio.out")"
	grep -q 'err= 0' "$WORK/fio.out" || bad "fio reported an error: $(grep err= "$WORK/fio.out")"
}

logs() {
	say "the reason of a refusal is in MOUNT/log"
	expect_refused r EINVAL 1 errno_of write "$MNT/r/zero" 2
	tail -n 1 "$MNT/log" | grep -q 'r/zero: write .2. refused: write 1 to zero the region' ||
		bad "tail MOUNT/log: '$(tail -n 1 "$MNT/log")'"
	# Once the ring has dropped lines, cat reads what is kept once.
	local i n0 refused=0
	n0=$(refusals_logged)
	for i in $(seq 1500); do
		printf '%s' "bad$i" >"$MNT/r/mem_size" 2>/dev/null || refused=$((refused + 1))
	done
	expect_eq "bad mem_size writes refused" "$refused" 1500
	expect_eq "refusals logged for 1500 bad writes" "$(($(refusals_logged) - n0))" 1500
	REFUSALS=$((REFUSALS + 1500))
	[ "$(stat -c %s "$MNT/log")" -gt 65536 ] || bad "the log did not wrap"
	cat "$MNT/log" >"$WORK/log.cat" || bad "cat log failed"
	[ -s "$WORK/log.cat" ] || bad "cat log read nothing"
	[ "$(wc -c <"$WORK/log.cat")" -le 65536 ] || bad "cat log read more than the ring keeps"
	expect_eq "lines repeated by cat log" "$(sort "$WORK/log.cat" | uniq -d | wc -l)" 0
	# On one open: a read of it all, then a seek back from the end (as
	# less does) reads the same last bytes as tail -c; the shell's read
	# and head, which seek back into what they read, go on line by line.
	expect_eq "read all, then seek from the end" "$(py -c '
import os, sys
f = open(sys.argv[1], "rb")
f.read()
f.seek(-100, os.SEEK_END)
sys.stdout.write(f.read(100).decode())' "$MNT/log" | od -c)" "$(tail -c 100 "$MNT/log" | od -c)"
	local lines
	lines=$(while IFS= read -r l; do printf '%s\n' "$l"; done <"$MNT/log")
	expect_eq "a read loop of log" "$lines" "$(cat "$MNT/log")"
	expect_eq "head -n 1, then cat, on one open" "$({ head -n 1; cat; } <"$MNT/log")" "$(cat "$MNT/log")"
	tail -n 1 "$MNT/log" | grep -q 'r/mem_size: write .bad1500. refused' ||
		bad "tail -n 1 of the wrapped log: '$(tail -n 1 "$MNT/log")'"
}

start_daemon --region r:4M --region small:64K -o reader_gid=$READER
loads
dfs
times
recursive
reader_copies
mmaps
logs
stop_daemon

# With the guest: a shared mapping sees what the guest writes (a
# read-only one: it needs no mmap_rw).
if have_kvm; then
	start_daemon --demo
	got=$($PY - "$MNT/heartbeat/contents" <<-'EOF'
		import mmap, os, struct, sys, time
		fd = os.open(sys.argv[1], os.O_RDONLY)
		m = mmap.mmap(fd, 4096, prot=mmap.PROT_READ)
		t0 = struct.unpack('<Q', m[0:8])[0]
		end = time.time() + 5
		while struct.unpack('<Q', m[0:8])[0] == t0 and time.time() < end:
		    time.sleep(0.05)
		print('live' if struct.unpack('<Q', m[0:8])[0] != t0 else 'stale')
	EOF
	)
	expect_eq "mmap sees the guest's ticks" "$got" live
	stop_daemon
else
	skip_part guest "no usable /dev/kvm: the guest's writes through mmap are not checked"
fi
finish
