#!/bin/bash
# Shared renderings and a shared core never give stale or torn bytes
# (review of the costs branch): an open's rendering of a generated file
# is never swapped under it mid-read, whatever other opens make the file
# keep; a core opened after the page tables changed in memory (paused,
# through pmem) shows the new p_vaddr; a region removed while core is
# open is freed at its close, not kept by the core for the next open.
. "$TESTS_DIR/it/lib.sh"

have_kvm || skip "/dev/kvm missing: no guest to pause"
command -v readelf >/dev/null || skip "readelf missing (binutils)"

# ---------------------------------------------------------------------------
say "metrics: an open reads one rendering to its end"
start_daemon --demo
exec 3<"$MNT/metrics" 4<"$MNT/metrics"
# Both read at 0 now: the same rendering.
cat <&4 >"$WORK/whole"
dd bs=100 count=1 status=none <&3 >"$WORK/torn"
[ "$(wc -c <"$WORK/torn")" = 100 ] || bad "the first 100 bytes of metrics were not read"
# Opens at 9 generations (a mkdir each, past METRICS_MIN_MS), each holding
# its rendering: the file keeps at most 8.
for i in $(seq 5 13); do
	mkdir "$MNT/churn$i"
	sleep 0.07
	eval "exec $i<\"\$MNT/metrics\""
	dd bs=1 count=1 status=none <&$i >/dev/null
done
# The rest is the same rendering's, or the read fails (ESTALE, logged):
# never another rendering's tail after this one's head, with exit 0.
if cat <&3 >>"$WORK/torn" 2>"$WORK/cat.err"; then
	cmp -s "$WORK/whole" "$WORK/torn" ||
		bad "metrics read in two pieces around other opens is not the rendering its read at 0 took ($(wc -c <"$WORK/torn") bytes, $(wc -c <"$WORK/whole") whole)"
else
	grep -q 'Stale file handle' "$WORK/cat.err" || bad "the rest of metrics failed, not with ESTALE: $(cat "$WORK/cat.err")"
	log_has 'metrics: read refused: its rendering was let go' || bad "the ESTALE is not logged: $(last_log_line)"
	REFUSALS=$((REFUSALS + 1))
	say "the rest of metrics: ESTALE, as it should (its rendering went)"
	[ -n "$(cat "$MNT/metrics")" ] || bad "metrics empty after the ESTALE"
fi
for i in 3 4 $(seq 5 13); do
	eval "exec $i<&-"
done
stop_daemon

# ---------------------------------------------------------------------------
say "core: p_vaddr follows the page tables, paused"
start_daemon --demo
echo pause >"$MNT/vcpu"
readelf -lW "$MNT/core" >"$WORK/before" 2>&1 || bad "readelf -l core failed: $(cat "$WORK/before")"
vaddrs() { awk '$1 == "LOAD" { print $3 }' "$1" | tr '\n' ' '; }
expect_eq "core: identity paging" "$(vaddrs "$WORK/before")" \
	"0x0000000000001000 0x0000000000100000 0x0000000000200000 "
# The PML4 (cr3 0x1000) emptied through pmem: nothing is mapped any more.
dd if=/dev/zero of="$MNT/pmem" bs=4096 seek=1 count=1 conv=notrunc status=none ||
	bad "writing pmem at 0x1000 failed"
readelf -lW "$MNT/core" >"$WORK/after" 2>&1 || bad "readelf -l core failed: $(cat "$WORK/after")"
expect_eq "core after the PML4 was emptied: no virtual address" "$(vaddrs "$WORK/after")" \
	"0x0000000000000000 0x0000000000000000 0x0000000000000000 "
stop_daemon
# ---------------------------------------------------------------------------
say "core: an rmdir while core is open frees the region at its close"
start_daemon --demo --region big:1M@0x40000000
echo pause >"$MNT/vcpu"
exec 3<"$MNT/core"
echo none >"$MNT/big/guest_addr"
rmdir "$MNT/big" || bad "rmdir big failed"
exec 3<&-
# The release is asynchronous to close(2): give it a moment.
for _ in $(seq 20); do
	ls -l "/proc/$DAEMON_PID/fd" | grep -q 'memfd:big ' || break
	sleep 0.1
done
! ls -l "/proc/$DAEMON_PID/fd" | grep -q 'memfd:big ' ||
	bad "big's memory is still held after its rmdir and the last close of core"
stop_daemon
finish
