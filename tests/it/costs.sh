#!/bin/bash
# What another uid does costs it, not the owner (issue 21, the costs).
# With 4096 regions: a stat of metrics is cheap; 32 threads of uid nobody
# doing stat, fstat and statvfs on metrics, layout and core leave the
# owner's pause, zero and writes within 100 ms (p99) and its snapshot
# near its quiet figure (see bounds.py); 20,000 fds on metrics and layout
# (nobody) and on core (the reader group), each read one byte, cost the
# daemon at most 64 MiB, and nothing after close; opens of core make one
# layout (page walks) per state, not one each; vmem's st_size is the same
# for two guests.
# Raw figures are printed (say) for the record.
. "$TESTS_DIR/it/lib.sh"

have_kvm || skip "/dev/kvm missing: no guest to pause, no core to lay out"
for t in setpriv prlimit; do
	command -v $t >/dev/null || skip "$t missing (util-linux)"
done
PY=/usr/bin/python3
[ -x $PY ] || skip "$PY missing (the other uids cannot use root's python)"
GUESTS=${GUESTS_DIR:?GUESTS_DIR must name the test guests}

NOBODY=65534
READER=2000
REGIONS=4096
FDS=20000
RSS_MAX_KB=$((64 << 10))
# After close: back near idle (malloc keeps a little).
RSS_AFTER_KB=$((16 << 10))
# Under AddressSanitizer freed memory waits in its quarantine (256 MiB by
# default) before it is reused or returned: keep that small, so RSS
# after close measures the daemon, not the quarantine.
# Its allocator also keeps freed chunks in per-size caches: there, after
# close is held to the bound of the issue, 64 MiB over idle, not 16.
if [ -n "${ASAN_OPTIONS:-}" ]; then
	export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=4"
	RSS_AFTER_KB=$RSS_MAX_KB
fi

# as UID GID CMD...: run CMD as another uid, no supplementary groups.
as() {
	setpriv --reuid="$1" --regid="$2" --clear-groups -- "${@:3}"
}

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status"
}

# ---------------------------------------------------------------------------
# The other uid's loops: stat, fstat and statvfs until the stop file.
cat >"$WORK/attack.py" <<'EOF'
import os, sys, threading
mnt, threads, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
files = [os.path.join(mnt, f) for f in ('metrics', 'layout', 'core')]
fds = [os.open(os.path.join(mnt, f), os.O_RDONLY) for f in ('metrics', 'layout')]
counts = [0] * threads
def loop(i):
    n = 0
    while not os.path.exists(stop):
        for f in files:
            os.stat(f)
        for fd in fds:
            os.fstat(fd)
        os.statvfs(mnt)
        n += 6
    counts[i] = n
ts = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(sum(counts))
EOF

# The owner's operations, timed: ROUNDS of pause, zero of an unmapped
# region, run and four 4 KiB writes to its contents, then at most 10
# snapshots (paused; its rmdir and the run untimed).  200 rounds: their
# p99 is not the one largest figure, which a loaded machine's scheduler
# alone may make.  For each: p99, median and largest, in ms.
cat >"$WORK/owner.py" <<'EOF'
import json, os, sys, time
mnt, region, rounds, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def put(path, value):
    fd = os.open(path, os.O_WRONLY)
    try:
        t0 = time.monotonic()
        os.write(fd, value.encode())
        return (time.monotonic() - t0) * 1000
    finally:
        os.close(fd)
vcpu = os.path.join(mnt, 'vcpu')
# Write-only: through the daemon, each write a change metrics counts.
data = os.open(os.path.join(mnt, region, 'contents'), os.O_WRONLY)
lat = {'pause': [], 'zero': [], 'write': [], 'snapshot': []}
for i in range(rounds):
    lat['pause'].append(put(vcpu, 'pause'))
    lat['zero'].append(put(os.path.join(mnt, region, 'zero'), '1'))
    put(vcpu, 'run')
    for j in range(4):
        t0 = time.monotonic()
        os.pwrite(data, b'x' * 4096, 0)
        lat['write'].append((time.monotonic() - t0) * 1000)
os.close(data)
for i in range(min(10, max(1, rounds // 5))):
    put(vcpu, 'pause')
    name = '%s%d' % (tag, i)
    lat['snapshot'].append(put(os.path.join(mnt, 'snapshot'), name))
    os.rmdir(os.path.join(mnt, 'snapshots', name))
    put(vcpu, 'run')
out = {}
for op, v in lat.items():
    v.sort()
    out[op] = {'p99': round(v[min(len(v) - 1, int(len(v) * 0.99))], 2),
               'median': round(v[len(v) // 2], 2), 'max': round(v[-1], 2)}
print(json.dumps(out))
EOF

# Within bounds: pause, zero and write (each a change that makes the
# next stat of metrics current no more), p99 with the attack at most
# 100 ms or twice the quiet p99 and 100 ms more.  A snapshot of 4096 regions is
# CPU work that any flood of requests slows (the daemon's workers serve
# them at its priority, even stats of a constant file): its median at
# most six times the quiet one and 300 ms more, against a gross
# regression only.  A regression of the stat path (every stat rendering
# metrics, statvfs summing every region) blows the p99 of pause, zero and
# write 3-10 times over (8431dc5: 260-740 ms).
cat >"$WORK/bounds.py" <<'EOF'
import json, sys
quiet, loaded = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ok = True
for op, fig, times, more in (('pause', 'p99', 2, 100.0), ('zero', 'p99', 2, 100.0),
                             ('write', 'p99', 2, 100.0),
                             ('snapshot', 'median', 6, 300.0)):
    bound = max(100.0, times * quiet[op][fig] + more)
    if loaded[op][fig] > bound:
        print('%s: %s %.1f ms with the attack, %.1f ms without; bound %.1f ms'
              % (op, fig, loaded[op][fig], quiet[op][fig], bound))
        ok = False
sys.exit(0 if ok else 1)
EOF

# Open FILE COUNT times, reading one byte each, in two processes (the
# hard limit of open files here may be 20,000 a process), watching the
# daemon's RSS: each stops once it passes IDLE + MAX (KiB).  With all
# open, the peak; then all closed, the RSS once it settles.  Prints:
# opened, peak, after close.
cat >"$WORK/fds.py" <<'EOF'
import os, sys, time
path, count, pid, idle, most = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
def rss():
    with open('/proc/%s/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
def open_n(n):
    fds = []
    for i in range(n):
        fd = os.open(path, os.O_RDONLY)
        fds.append(fd)
        if len(os.read(fd, 1)) != 1:
            sys.exit('short read of %s' % path)
        if i % 250 == 0 and rss() > idle + most:
            break
    return fds
ready_r, ready_w = os.pipe()
go_r, go_w = os.pipe()
child = os.fork()
if child == 0:
    fds = open_n(count // 2)
    os.write(ready_w, b'%d\n' % len(fds))
    os.read(go_r, 1)
    os._exit(0)
fds = open_n(count - count // 2)
theirs = int(os.read(ready_r, 32))
peak = rss()
os.write(go_w, b'x')
os.waitpid(child, 0)
for fd in fds:
    os.close(fd)
for _ in range(20):
    time.sleep(0.1)
    after = rss()
    if after <= idle + most // 8:
        break
print(len(fds) + theirs, peak, after)
EOF

# metric NAME: its value in one read of metrics.
metric() {
	awk -v n="$1" '$1 == n { print $2 }' "$MNT/metrics"
}

say "$REGIONS regions, the demo running"
start_daemon --demo -o reader_gid=$READER,default_size=4K
n0=$(metric regionfs_regions)
$PY - "$MNT" "$n0" "$REGIONS" <<'EOF' || fail "mkdir of the regions failed"
import os, sys
mnt, have, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(want - have):
    os.mkdir(os.path.join(mnt, 'r%d' % i))
EOF
expect_eq "regions" "$(metric regionfs_regions)" $REGIONS
[ "$(stat -c %s "$MNT/metrics")" -gt $((1 << 20)) ] ||
	bad "metrics is not the big text this test is about: $(stat -c %s "$MNT/metrics") bytes"

# ---------------------------------------------------------------------------
say "a stat costs O(1) in the number of regions"
us=$(as $NOBODY $NOBODY $PY - "$MNT" <<'EOF'
import os, sys, time
m = os.path.join(sys.argv[1], 'metrics')
t0 = time.monotonic()
for _ in range(300):
    os.stat(m)
    os.statvfs(sys.argv[1])
print(int((time.monotonic() - t0) * 1e6 / 600))
EOF
)
say "a stat of metrics or statvfs by nobody: $us us on average"
[ "$us" -le 2000 ] || bad "a stat of metrics or statvfs takes $us us with $REGIONS regions"

# ---------------------------------------------------------------------------
# latencies TRY: the owner's loop quiet, then with 32 threads of nobody
# doing stat, fstat and statvfs (at nice 19: what the attackers' own
# loops burn is the scheduler's business, as a plain busy loop's would
# be; what this measures is the daemon's work on their behalf, at the
# daemon's priority).  Fails when a figure is out of bounds.
latencies() {
	local quiet loaded ops verdict
	quiet=$($PY "$WORK/owner.py" "$MNT" r0 200 "q$1") || fail "the owner's loop failed"
	rm -f "$WORK/stop"
	for i in 1 2 3 4; do
		nice -n 19 setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- \
			$PY "$WORK/attack.py" "$MNT" 8 "$WORK/stop" >"$WORK/attack.$i" &
	done
	sleep 1
	loaded=$($PY "$WORK/owner.py" "$MNT" r0 200 "a$1") || loaded=
	touch "$WORK/stop"
	wait
	ops=$(cat "$WORK"/attack.? | awk '{ n += $1 } END { print n }')
	say "try $1: owner, quiet: $quiet"
	say "try $1: owner, with the attack: $loaded"
	say "try $1: the attack: $ops stat, fstat and statvfs calls"
	[ -n "$loaded" ] || fail "the owner's loop failed under the attack"
	[ "${ops:-0}" -ge 1000 ] || fail "the attack did not run: $ops calls"
	verdict=$($PY "$WORK/bounds.py" "$quiet" "$loaded") && return 0
	say "try $1: $verdict"
	return 1
}
say "32 threads of uid nobody stat metrics, layout, core and statvfs"
# The machine is shared: a figure out of bounds is measured once more.
latencies 1 || latencies 2 || bad "the owner waits for the other uid's stat calls"

# ---------------------------------------------------------------------------
# fds FILE UID GID: FDS opens of FILE by UID, one byte read from each.
fds() {
	local file=$1 idle out
	cat "$MNT/$file" >/dev/null
	sleep 0.3
	idle=$(rss_kb)
	out=$(prlimit --nofile=$((FDS / 2 + 100)) setpriv --reuid="$2" \
		--regid="$3" --groups="$3" -- $PY "$WORK/fds.py" "$MNT/$file" \
		$FDS "$DAEMON_PID" "$idle" $RSS_MAX_KB 2>&1) ||
		{ bad "$file: the opener failed: $out"; return; }
	read -r n peak after <<<"$out"
	say "$file: $n fds; the daemon's RSS idle $((idle >> 10)) MiB, with them" \
		"$((peak >> 10)) MiB, after close $((after >> 10)) MiB"
	[ "$n" -eq $FDS ] && [ "$peak" -le $((idle + RSS_MAX_KB)) ] ||
		bad "$file: $n fds took the daemon from $idle to $peak KiB"
	[ "$after" -le $((idle + RSS_AFTER_KB)) ] ||
		bad "$file: after close the daemon holds $after KiB, $idle idle"
}
say "$FDS fds on metrics, layout (nobody) and core (the reader group)"
fds metrics $NOBODY $NOBODY
fds layout $NOBODY $NOBODY
echo pause >"$MNT/vcpu"
fds core $NOBODY $READER

# ---------------------------------------------------------------------------
say "opens of core lay it out once per state"
l0=$(metric regionfs_core_layouts_total)
as $NOBODY $READER $PY - "$MNT/core" <<'EOF' || bad "opens of core failed"
import os, sys
for _ in range(2000):
    fd = os.open(sys.argv[1], os.O_RDONLY)
    os.read(fd, 64)
    os.close(fd)
EOF
sleep 0.1	# metrics may be METRICS_MIN_MS (50 ms) late
l1=$(metric regionfs_core_layouts_total)
say "core layouts: $l0 before 2000 opens, $l1 after"
[ -n "$l0" ] && [ -n "$l1" ] && [ $((l1 - l0)) -le 1 ] ||
	bad "2000 opens of core in one state made $l0 -> $l1 layouts"
echo run >"$MNT/vcpu"
echo pause >"$MNT/vcpu"
head -c 64 "$MNT/core" >/dev/null
sleep 0.1
l2=$(metric regionfs_core_layouts_total)
[ -n "$l2" ] && [ "$l2" -gt "$l1" ] || bad "a new state did not lay core out again: $l1 -> $l2"

# ---------------------------------------------------------------------------
say "vmem's st_size is the same for every guest"
expect_eq "vmem of the demo, stat by nobody" "$(as $NOBODY $NOBODY stat -c %s "$MNT/vmem")" $((1 << 47))
stop_daemon
start_daemon --region ram:1M@0x100000 --region data:64K@0x200000 --guest "$GUESTS/vpaging.elf"
LOG_NOTICES+='|: vcpu: halted at rip '
wait_for grep -qx halted "$MNT/vcpu" || bad "vpaging did not halt: $(cat "$MNT/vcpu")"
expect_eq "vmem of vpaging, stat by nobody" "$(as $NOBODY $NOBODY stat -c %s "$MNT/vmem")" $((1 << 47))
stop_daemon
finish
