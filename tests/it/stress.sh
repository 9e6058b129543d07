#!/bin/bash
# Load: readers and writers of contents, zero, resize, guest_addr,
# mkdir/rmdir, snapshots and dirty, all at once for STRESS_SECONDS (30).
# It passes when the daemon survives, no operation outlives the watchdog
# (OP_BOUND seconds), every error is one the README's file tables allow for
# the operation, the daemon logged exactly one refusal line for each
# refusal the tools reported, its threads and memory stay bounded, and the
# bytes a writer wrote are the bytes a later reader reads.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"
# Control writes use bash -c "echo": dash reports any failed write as
# "I/O error", hiding the errno this test checks.

SECONDS_TOTAL=${STRESS_SECONDS:-30}
OP_BOUND=10		# the watchdog: no single operation may take longer
MAX_THREADS=8

# With KVM the demo guest runs too, and the vCPU is paused and resumed
# while everything else goes on (the KVM lab runs this test).
GUEST=()
have_kvm && GUEST=(--demo)
start_daemon --region data:8M --region churn:4M --region grow:1M \
	${GUEST[@]+"${GUEST[@]}"} \
	-o max_threads=$MAX_THREADS,default_size=1M,max_regions=64
OUT=$WORK/stress
mkdir -p "$OUT"
END=$(( $(date +%s) + SECONDS_TOTAL ))

# op NAME ALLOWED CMD...: run CMD under the watchdog; count it; an error
# must match the ALLOWED pattern (strerror texts), else it is recorded.
# Each error the tool reports (one line of its stderr each) that is a
# refusal of the daemon's goes to $OUT/refused: the log must hold exactly
# as many refusal lines.  The kernel's own answers reach no daemon and
# leave no line: a failed lookup (ENOENT), and mkdir of a name the lookup
# found (EEXIST; each dirs worker owns its names, so no mkdir races
# another to the daemon).
op() {
	local name=$1 allowed=$2 err rc line
	shift 2
	err=$(timeout $OP_BOUND "$@" 2>&1 >/dev/null) && rc=0 || rc=$?
	echo x >>"$OUT/$name.ops"
	[ $rc -ne 0 ] || echo x >>"$OUT/$name.done"
	if [ $rc -eq 124 ]; then
		echo "$name: over ${OP_BOUND}s: $*" >>"$OUT/violations"
	elif [ $rc -ne 0 ] && ! [[ $err =~ $allowed ]]; then
		echo "$name: '$err' from: $*" >>"$OUT/violations"
	fi
	[ $rc -ne 0 ] || return 0
	while IFS= read -r line; do
		case $line in
		'' | *"No such file or directory") ;;
		*"File exists") [ "$name" = mkdir ] || echo "$name: $line" >>"$OUT/refused" ;;
		*) echo "$name: $line" >>"$OUT/refused" ;;
		esac
	done <<<"$err"
	return 0
}

running() { [ "$(date +%s)" -lt "$END" ]; }

# Writers own disjoint 64K slots of "data" and check what they wrote.
writer() {
	local id=$1 n=0 off pat
	off=$((id * 65536))
	while running; do
		n=$((n + 1))
		pat=$WORK/pat.$id
		head -c 65536 /dev/urandom >"$pat"
		op write 'Device or resource busy' \
			dd if="$pat" of="$MNT/data/contents" bs=65536 seek=$((off / 65536)) conv=notrunc status=none
		if ! cmp -s "$pat" <(dd if="$MNT/data/contents" bs=65536 skip=$((off / 65536)) count=1 status=none); then
			echo "writer $id: round $n: read back differs" >>"$OUT/violations"
		fi
		echo x >>"$OUT/verified.ops"
	done
}

reader() {
	while running; do
		op read 'Device or resource busy' cat "$MNT/data/contents"
		op read 'Device or resource busy|No such file' cat "$MNT/churn/contents"
		op stat 'No such file' stat "$MNT/grow/contents"
	done
}

zeroer() {
	while running; do
		op zero 'Device or resource busy' bash -c "echo 1 > '$MNT/churn/zero'"
		op write 'Device or resource busy' \
			dd if=/dev/urandom of="$MNT/churn/contents" bs=64K count=4 conv=notrunc status=none
	done
}

resizer() {
	local sizes=(1M 2M 64K 3M 4096) i=0
	while running; do
		# EPERM: the mapper has it mapped (resize while mapped).
		op resize 'Device or resource busy|Operation not permitted' bash -c "echo ${sizes[i % 5]} > '$MNT/grow/mem_size'"
		op read 'Device or resource busy' cat "$MNT/grow/contents"
		i=$((i + 1))
	done
}

mapper() {
	local want='Device or resource busy|No such device'
	have_kvm && want='Device or resource busy|File exists|Invalid argument'
	while running; do
		op guest_addr "$want" bash -c "echo 0x40000000 > '$MNT/grow/guest_addr'"
		op guest_addr "$want" bash -c "echo none > '$MNT/grow/guest_addr'"
		op access 'Device or resource busy' bash -c "echo ro > '$MNT/grow/access'"
		op access 'Device or resource busy' bash -c "echo rw > '$MNT/grow/access'"
	done
}

dirs() {
	local id=$1 i=0
	while running; do
		op mkdir 'File exists|No space left' mkdir "$MNT/tmp$id-$((i % 3))"
		op write 'No such file|Device or resource busy' \
			dd if=/dev/zero of="$MNT/tmp$id-$((i % 3))/contents" bs=4K count=4 conv=notrunc status=none
		op ls 'No such file' ls "$MNT"
		op rmdir 'No such file|Device or resource busy' rmdir "$MNT/tmp$id-$(((i + 1) % 3))"
		i=$((i + 1))
	done
}

# Snapshots of everything, taken, read and removed, and dirty read and
# cleared, while the rest goes on.  No restore: it would rewrite what the
# writers check.  EBUSY: the guest runs, or a region's accesses did not
# drain; ENOSPC: both names in use; ENOENT: removed by the other round.
snapshotter() {
	local i=0 s
	while running; do
		s=s$((i % 2))
		op snapshot 'Device or resource busy|File exists|No space left' \
			bash -c "echo $s > '$MNT/snapshot'"
		op read 'No such file' cat "$MNT/snapshots/$s/data/contents" "$MNT/snapshots/$s/churn/dirty"
		op dirty 'Device or resource busy' cat "$MNT/data/dirty" "$MNT/churn/dirty"
		op dirty 'Device or resource busy' bash -c "echo 0 > '$MNT/churn/dirty'"
		op rmdir 'No such file|Device or resource busy' rmdir "$MNT/snapshots/s$(((i + 1) % 2))"
		i=$((i + 1))
	done
}

# The guest: pause, zero its mapped heartbeat, run; and zero while it
# runs, which must be refused (EBUSY) unless a pause got in between.
vcpuer() {
	while running; do
		op vcpu 'Invalid argument|Device or resource busy' bash -c "echo pause > '$MNT/vcpu'"
		op zero 'Device or resource busy' bash -c "echo 1 > '$MNT/heartbeat/zero'"
		op vcpu 'Device or resource busy' bash -c "echo run > '$MNT/vcpu'"
		op zero 'Device or resource busy' bash -c "echo 1 > '$MNT/heartbeat/zero'"
		op read 'Device or resource busy' cat "$MNT/heartbeat/contents" "$MNT/console"
	done
}

# Sample the daemon's threads and memory while it works.
sampler() {
	local t rss
	while running; do
		t=$(awk '/^Threads:/ { print $2 }' "/proc/$DAEMON_PID/status" 2>/dev/null || echo 0)
		rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$DAEMON_PID/status" 2>/dev/null || echo 0)
		echo "$t $rss" >>"$OUT/samples"
		sleep 0.5
	done
}

pids=()
for i in 0 1 2; do writer $i & pids+=($!); done
reader & pids+=($!)
reader & pids+=($!)
zeroer & pids+=($!)
resizer & pids+=($!)
mapper & pids+=($!)
dirs 0 & pids+=($!)
dirs 1 & pids+=($!)
sampler & pids+=($!)
snapshotter & pids+=($!)
if have_kvm; then
	vcpuer & pids+=($!)
else
	skip_part vcpu "no usable /dev/kvm: no guest, so no pause, run and zero of its mapped memory under load here (scripts/test runs this test in the KVM lab)"
fi
for p in "${pids[@]}"; do wait "$p"; done

daemon_alive || fail "the daemon died under load"
total=$(cat "$OUT"/*.ops | wc -l)
for f in "$OUT"/*.ops; do
	say "$(basename "$f" .ops): $(wc -l <"$f") operations"
done
say "total: $total operations in ${SECONDS_TOTAL}s"
# At least one operation a second (the KVM lab emulates its CPU: slow).
[ "$total" -gt "$SECONDS_TOTAL" ] || bad "only $total operations ran: the load did not happen"
# And every kind of operation really ran: succeeded at least once, the
# writers' read-backs a few times (a normal build does tens to hundreds of
# each in 10 s, a sanitizer build several times fewer; an operation that
# always failed with an allowed errno would pass every check above).
kinds=(write:3 read:3 verified:3 zero:1 resize:1 access:1 mkdir:1 rmdir:1 snapshot:1 dirty:1 ls:1 stat:1)
have_kvm && kinds+=(guest_addr:1 vcpu:1)
for kind in "${kinds[@]}"; do
	want=${kind#*:} kind=${kind%:*}
	if [ "$kind" = verified ]; then f=$OUT/verified.ops; else f=$OUT/$kind.done; fi
	n=$(cat "$f" 2>/dev/null | wc -l)
	say "$kind: $n succeeded"
	[ "$n" -ge "$want" ] || bad "$kind: $n operations succeeded in ${SECONDS_TOTAL}s, want $want at least"
done
if [ -s "$OUT/violations" ]; then
	bad "$(wc -l <"$OUT/violations") violations, first ones:"
	head -20 "$OUT/violations" >&2
fi

# Bounded: threads never past the pool + the main and helper threads,
# resident memory never past the regions' bytes plus 64 MiB of daemon.
max_t=$(sort -n "$OUT/samples" | tail -n 1 | cut -d' ' -f1)
max_rss=$(sort -n -k2 "$OUT/samples" | tail -n 1 | cut -d' ' -f2)
say "max threads $max_t, max VmRSS ${max_rss} KiB"
# + the vCPU thread when there is a guest.
[ "$max_t" -le $((MAX_THREADS + 5)) ] || bad "threads reached $max_t (pool of $MAX_THREADS)"
[ "$max_rss" -le $(( (8 + 4 + 4 + 64 * 1 + 2 + 64) * 1024 )) ] || bad "VmRSS reached $max_rss KiB"
if have_kvm; then
	s=$(cat "$MNT/vcpu")
	case $s in running|paused) ;; *) bad "vcpu ended $s: $(grep 'vcpu:' "$LOG" | tail -n 1)" ;; esac
fi

# Every refusal (EBUSY, EPERM, ENODEV, ...) a tool reported was logged,
# once, and the log holds no other refusal: finish compares the count.
# dd with seek= opens read-write, refused (EBUSY, logged) while the
# readers hold data open for passthrough, and then opens it write-only,
# reporting nothing: those refusals are the log's only.
touch "$OUT/refused"
REFUSALS=$(($(wc -l <"$OUT/refused") + $(grep -c 'data/contents: open for reading and writing refused' "$LOG" || true)))
say "refusals reported by the tools: $REFUSALS, refusal lines in the log: $(refusals_logged)"
finish
