#!/bin/bash
# Concurrency: many threads open, read, seek, stat and close every kind of
# file of the mount (contents, attributes, dirty, zero, console, log,
# vcpu, snapshot copies) while others take and restore snapshots, resize,
# mkdir and rmdir regions, and remove snapshots.  Under the sanitizers
# (ThreadSanitizer in scripts/test's tsan stage) this is where a race in
# open/read/release shows.  Every error must be one the operation allows.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

SECONDS_HAMMERED=${HAMMER_SECONDS:-6}

start_daemon --region a:1M --region b:64K -o max_snapshots=8
errno_of fill "$MNT/a/contents" 11 8192 65536 >/dev/null

"$PYTHON" - "$MNT" "$SECONDS_HAMMERED" >"$WORK/hammer.out" 2>&1 <<'EOF'
import errno, os, random, sys, threading, time
mnt, secs = sys.argv[1], float(sys.argv[2])
end = time.time() + secs
# What an operation may answer while others change the tree under it.
ALLOWED = {errno.ENOENT, errno.EBUSY, errno.ENOTDIR, errno.EEXIST,
           errno.ENOSPC, errno.EINVAL, errno.EISDIR}
bad = []
counts = {}
# Errors seen: all, and those of control writes (always logged).
errors = {'all': 0, 'writes': 0}
lock = threading.Lock()

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
                        out += [os.path.join(p, r, f) for f in ('contents', 'dirty', 'kind', 'zero')]
                except OSError:
                    pass
            elif n == 'snapshots':
                continue
            elif os.path.isdir(p):
                out += [os.path.join(p, f) for f in ('contents', 'dirty', 'mem_size', 'kind', 'zero', 'guest_addr', 'base_addr')]
            else:
                out.append(p)
    return out

def note(what, e, logged=False):
    with lock:
        errors['all'] += 1
        if logged:
            errors['writes'] += 1
    if e.errno not in ALLOWED:
        bad.append('%s: %s' % (what, errno.errorcode.get(e.errno, e.errno)))

def reader(seed):
    rnd = random.Random(seed)
    n = 0
    while time.time() < end:
        fs = files()
        for p in rnd.sample(fs, min(8, len(fs))):
            try:
                fd = os.open(p, os.O_RDONLY)
                try:
                    os.read(fd, rnd.choice((1, 7, 4096, 65536)))
                    os.pread(fd, 64, rnd.choice((0, 3, 4096)))
                    os.lseek(fd, 0, os.SEEK_DATA)
                except OSError as e:
                    if e.errno != errno.ENXIO:
                        note('read ' + p, e)
                os.fstat(fd)
                os.close(fd)
                n += 1
            except OSError as e:
                note('open ' + p, e)
    counts['reader%d' % seed] = n

def write(path, value):
    fd = os.open(os.path.join(mnt, path), os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)

def changer(seed):
    rnd = random.Random(seed)
    n = 0
    while time.time() < end:
        op = rnd.randrange(7)
        s = 's%d' % rnd.randrange(6)
        try:
            if op == 0:
                write('snapshot', s)
            elif op == 1:
                write('restore', s)
            elif op == 2:
                os.rmdir(os.path.join(mnt, 'snapshots', s))
            elif op == 3:
                write('b/mem_size', rnd.choice(('64K', '128K', '8K')))
            elif op == 4:
                os.mkdir(os.path.join(mnt, 'c%d' % rnd.randrange(3)))
            elif op == 5:
                os.rmdir(os.path.join(mnt, 'c%d' % rnd.randrange(3)))
            else:
                write('a/dirty', '0')
            n += 1
        except OSError as e:
            note('change %d' % op, e, logged=op in (0, 1, 3, 6))
    counts['changer%d' % seed] = n

threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
threads += [threading.Thread(target=changer, args=(100 + i,)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print('ops', sum(counts.values()), ' '.join('%s=%d' % kv for kv in sorted(counts.items())))
print('errors', errors['writes'], errors['all'])
for b in bad[:10]:
    print('BAD', b)
EOF
say "$(grep '^ops' "$WORK/hammer.out")"
grep -q '^ops' "$WORK/hammer.out" || bad "the hammer did not finish: $(tail -5 "$WORK/hammer.out")"
if grep -q '^BAD' "$WORK/hammer.out"; then
	bad "errors no operation allows: $(grep '^BAD' "$WORK/hammer.out" | tr '\n' ' ')"
fi
ops=$(sed -n 's/^ops \([0-9]*\).*/\1/p' "$WORK/hammer.out")
[ "${ops:-0}" -gt 100 ] || bad "only ${ops:-0} operations in ${SECONDS_HAMMERED}s"
# Each refusal the daemon logged is an error some operation got, and every
# refused control write was logged: writes <= logged <= all errors.
read -r _ writes all < <(grep '^errors' "$WORK/hammer.out")
logged=$(refusals_logged)
say "errors: $all, of control writes $writes; refusals logged: $logged"
[ "$logged" -ge "$writes" ] || bad "refusals logged ($logged) fewer than refused writes ($writes)"
[ "$logged" -le "$all" ] ||
	bad "refusals logged ($logged) not between refused writes ($writes) and errors ($all)"
REFUSALS=$logged
finish
