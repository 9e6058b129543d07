#!/bin/bash
# Concurrency: many threads open, read, seek, stat and close every kind of
# file of the mount (contents, attributes, dirty, zero, console, log,
# vcpu, snapshot copies) while others take and restore snapshots, resize,
# mkdir and rmdir regions, and remove snapshots.  Under the sanitizers
# (ThreadSanitizer in scripts/test's tsan stage) this is where a race in
# open/read/release shows.  Every error must be one its operation allows;
# every kind of operation must succeed a number of times; the bytes after
# all the restores are those the test wrote (a, and v: a seeded image
# written whole, which every snapshot and restore must keep whole); each
# refusal is logged once.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

SECONDS_HAMMERED=${HAMMER_SECONDS:-6}

start_daemon --region a:1M --region b:64K --region v:64K -o max_snapshots=8
errno_of fill "$MNT/a/contents" 11 8192 65536 >/dev/null
# a's bytes, kept by the test: nothing but restores writes a, and every
# snapshot holds these, so a restore that damaged them shows at the end.
truncate -s 1M "$WORK/a.want"
printf '\021%.0s' $(seq 65536) | dd of="$WORK/a.want" bs=8192 seek=1 conv=notrunc status=none

"$PYTHON" - "$MNT" "$SECONDS_HAMMERED" >"$WORK/hammer.out" 2>&1 <<'EOF'
import errno, os, random, struct, sys, threading, time
mnt, secs = sys.argv[1], float(sys.argv[2])
end = time.time() + secs
E = errno
# What each operation may answer while others change the tree under it
# (anything else is a bug): a file or snapshot removed since it was
# listed (ENOENT), exclusivity not available in time (EBUSY: an open of
# contents while b is resized), a name taken (EEXIST), the snapshot
# limit (ENOSPC), a restore of a snapshot whose b has another size
# (EINVAL) or whose c region was removed since (ENOENT).
ALLOWED = {
    'open': {E.ENOENT, E.EBUSY},
    'read': {E.ENOENT},
    'snapshot': {E.EEXIST, E.ENOSPC, E.EBUSY},
    'restore': {E.ENOENT, E.EBUSY, E.EINVAL},
    'rmsnap': {E.ENOENT, E.EBUSY},
    'resize': {E.EBUSY},
    'mkdir': {E.EEXIST},
    'rmdir': {E.ENOENT, E.EBUSY},
    'clear': {E.EBUSY},
    'seed': {E.EBUSY},
}
# Refusals the daemon makes, so logs, one line each: every refused
# control write, and an open it refused.  A failed mkdir or rmdir may be
# the kernel's answer from its cache (EEXIST, ENOENT), never logged, or
# the daemon's: those are counted apart, as a bound.
WRITES = ('snapshot', 'restore', 'resize', 'clear', 'seed')
bad = []
done = {}      # op -> successes
refused = {}   # (op, errno name) -> count
example = {}   # (op, errno name) -> the first path or name
lock = threading.Lock()

def ok(op):
    with lock:
        done[op] = done.get(op, 0) + 1

def note(op, what, e):
    with lock:
        k = (op, errno.errorcode.get(e.errno, str(e.errno)))
        refused[k] = refused.get(k, 0) + 1
        example.setdefault(k, str(what))
        if e.errno not in ALLOWED[op]:
            bad.append('%s %s: %s' % (op, what, k[1]))

def files():
    out = []
    for top in ('', 'snapshots'):
        try:
            names = os.listdir(os.path.join(mnt, top))
        except OSError:
            continue
        for n in names:
            p = os.path.join(mnt, top, n)
            if top == 'snapshots':
                try:
                    for r in os.listdir(p):
                        if os.path.isdir(os.path.join(p, r)):	# not info
                            out += [os.path.join(p, r, f) for f in ('contents', 'dirty', 'kind', 'zero')]
                except OSError:
                    pass
            elif n == 'snapshots':
                continue
            elif os.path.isdir(p):
                out += [os.path.join(p, f) for f in ('contents', 'dirty', 'mem_size', 'kind', 'zero', 'guest_addr', 'base_addr')]
            elif os.path.isfile(p):	# not a region removed since
                out.append(p)
    return out

def reader(seed):
    rnd = random.Random(seed)
    while time.time() < end:
        fs = files()
        for p in rnd.sample(fs, min(8, len(fs))):
            try:
                fd = os.open(p, os.O_RDONLY)
            except OSError as e:
                note('open', p, e)
                continue
            try:
                os.read(fd, rnd.choice((1, 7, 4096, 65536)))
                os.pread(fd, 64, rnd.choice((0, 3, 4096)))
                try:
                    os.lseek(fd, 0, os.SEEK_DATA)
                except OSError as e:
                    if e.errno != errno.ENXIO:	# no data: allowed
                        raise
                os.fstat(fd)
                ok('read')
            except OSError as e:
                note('read', p, e)
            finally:
                os.close(fd)

def write(path, value):
    fd = os.open(os.path.join(mnt, path), os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, value.encode() if isinstance(value, str) else value)
    finally:
        os.close(fd)

OPS = ('snapshot', 'restore', 'rmsnap', 'resize', 'mkdir', 'rmdir', 'clear')

def changer(seed):
    rnd = random.Random(seed)
    while time.time() < end:
        op = OPS[rnd.randrange(len(OPS))]
        s = 's%d' % rnd.randrange(6)
        try:
            if op == 'snapshot':
                write('snapshot', s)
            elif op == 'restore':
                # v read at once, with no writer of v under way (vlock):
                # a restore that left a page of it out shows torn.
                with vlock:
                    write('restore', s)
                    check_v('after restore ' + s)
            elif op == 'rmsnap':
                os.rmdir(os.path.join(mnt, 'snapshots', s))
            elif op == 'resize':
                write('b/mem_size', rnd.choice(('64K', '128K', '8K')))
            elif op == 'mkdir':
                os.mkdir(os.path.join(mnt, 'c%d' % rnd.randrange(3)))
            elif op == 'rmdir':
                os.rmdir(os.path.join(mnt, 'c%d' % rnd.randrange(3)))
            else:
                write('a/dirty', '0')
            ok(op)
        except OSError as e:
            note(op, s, e)

# v holds, in one write (one request, under the region's lock), a seed
# and 64 KiB of bytes made from it: whatever snapshot a restore puts back,
# v must read as one whole such image, never two halves.
def image(seed):
    return struct.pack('<Q', seed) + random.Random(seed).randbytes(65536 - 8)

# Held while v is written (a seed, a restore) and read right after a
# restore: a read through FUSE passthrough is not atomic with a write.
vlock = threading.Lock()

def whole(path):
    with open(path, 'rb') as f:
        b = f.read()
    seed = struct.unpack('<Q', b[:8])[0]
    # Seed 0: v as made, before the first write (a snapshot taken then).
    return seed, b == (bytes(65536) if seed == 0 else image(seed))

def check_v(when):
    seed, good = whole(os.path.join(mnt, 'v/contents'))
    if not good:
        with lock:
            bad.append('v %s: not one whole image (seed %d)' % (when, seed))
    ok('vcheck')

def seeder():
    n = 0
    while time.time() < end:
        n += 1
        try:
            with vlock:
                write('v/contents', image(n))
            ok('seed')
        except OSError as e:
            note('seed', n, e)
        time.sleep(0.002)

threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
threads += [threading.Thread(target=changer, args=(100 + i,)) for i in range(2)]
threads.append(threading.Thread(target=seeder))
for t in threads:
    t.start()
for t in threads:
    t.join()

checked = 0
for name in sorted(os.listdir(os.path.join(mnt, 'snapshots'))) + [None]:
    path = os.path.join(mnt, 'v/contents') if name is None else \
        os.path.join(mnt, 'snapshots', name, 'v/contents')
    try:
        seed, good = whole(path)
    except OSError as e:
        bad.append('read %s: %s' % (path, errno.errorcode.get(e.errno)))
        continue
    checked += 1
    if not good:
        bad.append('%s: not one whole image (seed %d)' % (path, seed))
print('done', ' '.join('%s=%d' % kv for kv in sorted(done.items())))
print('refused', ' '.join('%s:%s=%d(%s)' % (k[0], k[1], n, example[k].replace(mnt, 'MNT')) for k, n in sorted(refused.items())))
def count(which):
    return sum(n for k, n in refused.items() if which(k))
print('logged', ' '.join('%s=%d' % (w, count(lambda k: k[0] == w)) for w in WRITES),
      'open=%d' % count(lambda k: k[0] == 'open' and k[1] == 'EBUSY'),
      'maybe=%d' % count(lambda k: k[0] in ('mkdir', 'rmdir', 'rmsnap')))
print('images', checked)
for b in bad[:10]:
    print('BAD', b)
EOF
say "$(grep '^done' "$WORK/hammer.out")"
say "$(grep '^refused' "$WORK/hammer.out")"
grep -q '^images' "$WORK/hammer.out" || bad "the hammer did not finish: $(tail -5 "$WORK/hammer.out")"
images=$(sed -n 's/^images //p' "$WORK/hammer.out")
[ "${images:-0}" -ge 1 ] || bad "no image of v checked"
if grep -q '^BAD' "$WORK/hammer.out"; then
	bad "errors no operation allows, or v torn: $(grep '^BAD' "$WORK/hammer.out" | tr '\n' ' ')"
fi
# Every kind of operation really ran, and succeeded, a number of times
# (what a slow sanitizer build does in SECONDS_HAMMERED; a normal build
# does a hundred times more).
for want in read=200 snapshot=5 restore=5 vcheck=5 rmsnap=5 resize=5 mkdir=3 rmdir=3 clear=5 seed=20; do
	got=$(grep '^done' "$WORK/hammer.out" | tr ' ' '\n' | sed -n "s/^${want%=*}=//p")
	[ "${got:-0}" -ge "${want#*=}" ] ||
		bad "${want%=*}: ${got:-0} succeeded in ${SECONDS_HAMMERED}s, want ${want#*=} at least"
done
# a: no one writes it but the restores, which put back what it held.
cmp "$WORK/a.want" "$MNT/a/contents" || bad "a is not what it held: a restore damaged it"
for s in "$MNT"/snapshots/*/; do
	[ -d "$s" ] || continue
	cmp "$WORK/a.want" "$s/a/contents" || bad "$(basename "$s")/a is not what a held"
done
# Each refused control write logged exactly one line (counted by kind in
# the log), and the log's refusals are those the operations got: no
# fewer than the writes' and refused opens', no more than those and the
# failed mkdirs and rmdirs.
logged=$(grep '^logged' "$WORK/hammer.out" | tr ' ' '\n')
n_of() { sed -n "s/^$1=//p" <<<"$logged"; }
expect_eq "snapshot refusals logged" "$(grep -c " snapshot: write '[^']*' refused: " "$LOG")" "$(n_of snapshot)"
expect_eq "restore refusals logged" "$(grep -c " restore: write '[^']*' refused: " "$LOG")" "$(n_of restore)"
expect_eq "b/mem_size refusals logged" "$(grep -c " b/mem_size: write '[^']*' refused: " "$LOG")" "$(n_of resize)"
expect_eq "a/dirty refusals logged" "$(grep -c " a/dirty: write '[^']*' refused: " "$LOG")" "$(n_of clear)"
exact=$(($(n_of snapshot) + $(n_of restore) + $(n_of resize) + $(n_of clear) + $(n_of seed) + $(n_of open)))
n=$(refusals_logged)
say "refusals: $n logged, $exact by control writes and opens, up to $(n_of maybe) more by mkdir and rmdir"
[ "$n" -ge "$exact" ] && [ "$n" -le $((exact + $(n_of maybe))) ] ||
	bad "refusals logged: $n, want $exact to $((exact + $(n_of maybe)))"
REFUSALS=$n
finish
