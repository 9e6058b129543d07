#!/bin/bash
# A fork maps a live snapshot's copy (issue 24, item 3): the owner's
# read-only open of snapshots/NAME/REGION/contents goes through FUSE
# passthrough, so a MAP_PRIVATE mapping of it shares the copy's memfd and
# reads the exact bytes after the snapshot is removed and after the daemon
# has exited (a mapping of the FUSE page cache would SIGBUS on a page it
# had not read).  How the mapper knows: a MAP_SHARED PROT_READ mapping of
# the same open works only through passthrough (the daemon's direct_io
# path refuses it, ENODEV).  Another uid keeps the daemon's path: refused
# (EBUSY) while the owner's open is live, then reads and private mappings
# of the page cache as before, and no shared mapping (ENODEV).
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
PY=/usr/bin/python3
[ -x $PY ] || skip "$PY missing (the other uid cannot use root's python)"

NOBODY=65534
NPAGES=1024		# of the region's 4 MiB: the first 512 hold the pattern

# The mapper, driven one command a line on stdin, one answer a line:
# map (open O_RDONLY, probe MAP_SHARED, map MAP_PRIVATE rw), close (the
# fd; the mapping stays), check [FIRST END] (the pages' bytes against the
# pattern; all by default), write (a private write, seen by the mapping
# only).  Until the daemon is gone only a few pages are read: a page read
# before would be in the page cache whatever the path.
cat >"$WORK/mapper.py" <<'EOF'
import ctypes, mmap, os, sys
path, pages = sys.argv[1], int(sys.argv[2])
size = pages * mmap.PAGESIZE
# libc's mmap, not Python's: that one keeps a dup of the fd open.
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                      ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
fd = addr = None

def map_(length, flags, prot):
    a = libc.mmap(None, length, prot, flags, fd, 0)
    if a in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), 'mmap')
    return a

def want(i):
    return bytes([i % 251 + 1]) * mmap.PAGESIZE if i < pages // 2 else \
        bytes(mmap.PAGESIZE)

for line in sys.stdin:
    cmd = line.split()
    try:
        if cmd[0] == 'map':
            fd = os.open(path, os.O_RDONLY)
            try:
                libc.munmap(map_(mmap.PAGESIZE, mmap.MAP_SHARED,
                                 mmap.PROT_READ), mmap.PAGESIZE)
                probe = 'shared-ok'
            except OSError as e:
                probe = 'shared-errno-%d' % e.errno
            addr = map_(size, mmap.MAP_PRIVATE,
                        mmap.PROT_READ | mmap.PROT_WRITE)
            print('mapped', probe)
        elif cmd[0] == 'close':
            os.close(fd)
            print('closed')
        elif cmd[0] == 'check':
            first, end = (int(cmd[1]), int(cmd[2])) if len(cmd) > 2 \
                else (0, pages)
            bad = [i for i in range(first, end)
                   if ctypes.string_at(addr + i * mmap.PAGESIZE,
                                       mmap.PAGESIZE) != want(i)]
            print('same' if not bad else 'differ at pages %s' % bad[:8])
        elif cmd[0] == 'write':
            ctypes.memset(addr + 5, 0xee, 1)
            print('wrote %#x' % ctypes.string_at(addr + 5, 1)[0])
    except OSError as e:
        print('errno-%d' % e.errno)
    sys.stdout.flush()
EOF

# other OP: as uid nobody in the reader group, open contents and OP:
# read (8 bytes at page 1), shared (MAP_SHARED PROT_READ), private
# (MAP_PRIVATE, page 1's first byte); prints OK:..., or the errno name.
cat >"$WORK/other.py" <<'EOF'
import errno, mmap, os, sys
path, op = sys.argv[1], sys.argv[2]
try:
    fd = os.open(path, os.O_RDONLY)
    if op == 'read':
        print('OK:%s' % os.pread(fd, 8, mmap.PAGESIZE).hex())
    elif op == 'shared':
        mmap.mmap(fd, mmap.PAGESIZE, mmap.MAP_SHARED, mmap.PROT_READ)
        print('OK')
    elif op == 'private':
        m = mmap.mmap(fd, 2 * mmap.PAGESIZE, mmap.MAP_PRIVATE,
                      mmap.PROT_READ | mmap.PROT_WRITE)
        print('OK:%02x' % m[mmap.PAGESIZE])
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
other() {
	setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- \
		$PY -S "$WORK/other.py" "$COPY" "$1"
}

start_daemon "${NO_KVM[@]}" --region a:$((NPAGES * PAGE)) -o reader_gid=$NOBODY
log_has ': contents read path: FUSE passthrough' ||
	skip "no FUSE passthrough here: $(grep 'contents read path' "$LOG")"
py - "$MNT/a/contents" $((NPAGES / 2)) <<'EOF'
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, b''.join(bytes([i % 251 + 1]) * mmap.PAGESIZE
                       for i in range(int(sys.argv[2]))), 0)
os.close(fd)
EOF
echo s >"$MNT/snapshot"
COPY=$MNT/snapshots/s/a/contents

coproc MAPPER { $PY -S -u "$WORK/mapper.py" "$COPY" $NPAGES 2>&1; }
# Its pipes outlive it (bash unsets MAPPER when it dies, by SIGBUS say).
TO_MAPPER=${MAPPER[1]} FROM_MAPPER=${MAPPER[0]}
# ask CMD: one command to the mapper, its one-line answer (bounded).
ask() {
	local answer
	{ echo "$1" >&"$TO_MAPPER"; } 2>/dev/null &&
		IFS= read -r -t 20 answer <&"$FROM_MAPPER" ||
		answer="<no answer to $1>"
	printf '%s\n' "$answer"
}

expect_eq "the owner maps the copy, shared through passthrough" \
	"$(ask map)" "mapped shared-ok"
# The kernel takes no daemon open while the inode is passthrough, and a
# passthrough open would let nobody map the copy's memory: refused.
expect_eq "nobody opens it while the owner's open is live" "$(other read)" EBUSY
REFUSALS=$((REFUSALS + 1))
log_has "a/contents: open of a snapshot's copy refused: the owner has it open" ||
	bad "no log line for nobody's refused open"
expect_eq "close the mapper's fd" "$(ask close)" closed
# Once the fd is closed the inode has no backing: today's daemon path.
expect_eq "nobody reads it" "$(other read)" OK:0202020202020202
expect_eq "nobody's shared mapping" "$(other shared)" ENODEV
expect_eq "nobody's private mapping (the page cache)" "$(other private)" OK:02
expect_eq "the mapping, snapshot in place" "$(ask 'check 0 2')" same

expect_ok rmdir "$MNT/snapshots/s"
expect_eq "the mapping after rmdir" "$(ask 'check 2 4')" same

# The mapping pins the mount: only a lazy unmount succeeds, and the
# daemon would serve until the mapping goes; it ends on SIGTERM.
fusermount3 -u -z "$MNT" || bad "fusermount3 -u -z $MNT failed"
kill -TERM "$DAEMON_PID"
for _ in $(seq 100); do
	daemon_alive || break
	sleep 0.1
done
daemon_alive && fail "the daemon still runs 10 s after SIGTERM"
mountpoint -q "$MNT" && bad "$MNT still mounted"
log_clean
DAEMON_PID=

# Every page: those never read would SIGBUS on a mapping of the page cache.
expect_eq "the mapping after the daemon exited" "$(ask check)" same
expect_eq "a private write" "$(ask write)" "wrote 0xee"
exec {TO_MAPPER}>&-
wait "$MAPPER_PID" || bad "the mapper failed"
finish
