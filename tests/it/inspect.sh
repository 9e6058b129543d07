# Inspecting the guest through the mount: regs, fault, layout, pmem, vmem
# and core, read with cat, xxd, dd, cp, readelf, eu-readelf and gdb.
# Without a guest: layout after map/move/unmap, pmem against each
# region's contents, holes, writes and refusals, a sparse 64 GiB core.
# With guests: the demo (EBUSY while running, doc/inspecting.md's gdb session
# verbatim), regset (known registers), the faults (read-only write,
# unmapped access, triple fault) and vpaging (page tables of its own);
# metrics through Debian's prometheus_client parser, following actions.
. "$TESTS_DIR/it/lib.sh"
LOG_NOTICES+='|: vcpu: halted at rip |: vcpu: faulted: '

have_kvm || skip "/dev/kvm missing: nothing can be mapped into a guest here"
for tool in gdb readelf eu-readelf xxd; do
	command -v $tool >/dev/null ||
		skip "$tool missing (scripts/test installs gdb, binutils, elfutils, xxd)"
done
GUESTS=${GUESTS_DIR:?GUESTS_DIR must name the test guests}
BUILD=$(dirname "$REGIONFS")
INSPECTING=$TESTS_DIR/../doc/inspecting.md

# reg NAME: the value of one line of regs.
reg() {
	awk -v n="$1" '$1 == n { print $2 }' "$MNT/regs"
}

# fault_field NAME: the value(s) of one line of fault.
fault_field() {
	must awk -v n="$1" '$1 == n { $1 = ""; sub(/^ /, ""); print }' "$MNT/fault"
}

# seek FILE OFF data|hole: the offset lseek finds, or the errno name.
seek() {
	errno_of seek "$@"
}

# bytes FILE OFF LEN: hex of LEN bytes at OFF (dd skip=, like a user would).
bytes() {
	dd if="$1" bs=1 iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none | xxd -p | tr -d '\n'
}

# same_bytes WHAT FILE1 OFF1 FILE2 OFF2 LEN: equal ranges.
same_bytes() {
	cmp -s <(dd if="$2" iflag=skip_bytes,count_bytes skip="$3" count="$6" bs=64K status=none) \
		<(dd if="$4" iflag=skip_bytes,count_bytes skip="$5" count="$6" bs=64K status=none) ||
		bad "$1: $2@$3 and $4@$5 differ over $6 bytes"
}

# ---------------------------------------------------------------------------
say "layout and pmem without a guest"
start_daemon --region a:64K@0x100000 --region b:1M@0x400000 --region c:16K
expect_eq "layout" "$(cat "$MNT/layout")" \
"0x0000000000100000-0x0000000000110000 rw a
0x0000000000400000-0x0000000000500000 rw b"
expect_eq "layout's st_size" "$(stat -c %s "$MNT/layout")" "$(wc -c <"$MNT/layout")"
expect_eq "layout mode" "$(stat -c %A "$MNT/layout")" "-r--r--r--"
expect_eq "regs without a guest" "$(must cat "$MNT/regs")" ""
expect_eq "fault without a guest" "$(must cat "$MNT/fault")" ""
expect_eq "vmem size without a guest" "$(stat -c %s "$MNT/vmem")" 0
expect_eq "pmem st_size: end of the highest mapping" "$(stat -c %s "$MNT/pmem")" $((0x500000))
expect_eq "pmem st_blocks, nothing written" "$(stat -c %b "$MNT/pmem")" 0
expect_eq "pmem: SEEK_DATA, nothing written" "$(seek "$MNT/pmem" 0 data)" ENXIO
expect_eq "pmem: SEEK_HOLE at 0" "$(seek "$MNT/pmem" 0 hole)" 0

dd if=/dev/urandom of="$MNT/a/contents" bs=4K seek=2 count=1 conv=notrunc status=none
dd if=/dev/urandom of="$MNT/b/contents" bs=4K seek=100 count=3 conv=notrunc status=none
same_bytes "pmem over a" "$MNT/pmem" $((0x100000)) "$MNT/a/contents" 0 $((0x10000))
same_bytes "pmem over b" "$MNT/pmem" $((0x400000)) "$MNT/b/contents" 0 $((0x100000))
expect_eq "pmem: a gap reads zeros" "$(bytes "$MNT/pmem" $((0x200000)) 8)" 0000000000000000
expect_eq "xxd -s into pmem" "$(xxd -s $((0x102000)) -l 4 -p "$MNT/pmem")" "$(xxd -s $((0x2000)) -l 4 -p "$MNT/a/contents")"
expect_eq "pmem: SEEK_DATA from 0" "$(seek "$MNT/pmem" 0 data)" $((0x102000))
expect_eq "pmem: SEEK_HOLE after a's data" "$(seek "$MNT/pmem" $((0x102000)) hole)" $((0x103000))
expect_eq "pmem: SEEK_DATA over the gap" "$(seek "$MNT/pmem" $((0x103000)) data)" $((0x464000))
expect_eq "pmem: SEEK_HOLE after b's data" "$(seek "$MNT/pmem" $((0x464000)) hole)" $((0x467000))
expect_eq "pmem: SEEK_DATA past the last data" "$(seek "$MNT/pmem" $((0x467000)) data)" ENXIO
expect_eq "pmem: SEEK_HOLE at the end" "$(seek "$MNT/pmem" $((0x500000)) hole)" ENXIO
expect_eq "pmem st_blocks" "$(stat -c %b "$MNT/pmem")" $((4 * 4096 / 512))
cp --sparse=always "$MNT/pmem" "$WORK/phys.bin" || bad "cp --sparse=always pmem failed"
expect_eq "phys.bin blocks" "$(stat -c %b "$WORK/phys.bin")" $((4 * 4096 / 512))
cmp -s "$WORK/phys.bin" "$MNT/pmem" || bad "cp of pmem differs from pmem"

# Writes through pmem land in the region underneath, like contents writes.
printf 'through-pmem' | dd of="$MNT/pmem" bs=1 seek=$((0x400010)) conv=notrunc status=none ||
	bad "a write through pmem failed"
expect_eq "the write in b" "$(dd if="$MNT/b/contents" bs=1 skip=16 count=12 status=none)" through-pmem
# Short at the region's end, as contents; refused in a gap and past the end.
expect_errno_unlogged SHORT:16 pwrite "$MNT/pmem" "$(printf 'x%.0s' $(seq 32))" $((0x10fff0))
expect_errno ENXIO pwrite "$MNT/pmem" x $((0x200000))
expect_errno ENOSPC pwrite "$MNT/pmem" x $((0x500000))

# Map, move and unmap: layout and pmem follow at once.
echo 0x800000 >"$MNT/c/guest_addr"
echo 0x200000 >"$MNT/a/guest_addr"
echo ro >"$MNT/b/access"
expect_eq "layout after map and move" "$(cat "$MNT/layout")" \
"0x0000000000200000-0x0000000000210000 rw a
0x0000000000400000-0x0000000000500000 ro b
0x0000000000800000-0x0000000000804000 rw c"
same_bytes "pmem follows the move" "$MNT/pmem" $((0x200000)) "$MNT/a/contents" 0 $((0x10000))
expect_eq "the old place is a gap" "$(bytes "$MNT/pmem" $((0x102000)) 4)" 00000000
echo none >"$MNT/c/guest_addr"
expect_eq "layout after unmap" "$(cat "$MNT/layout")" \
"0x0000000000200000-0x0000000000210000 rw a
0x0000000000400000-0x0000000000500000 ro b"
expect_eq "pmem st_size after unmap" "$(stat -c %s "$MNT/pmem")" $((0x500000))
stop_daemon

say "a 64 GiB sparse sandbox: pmem and core"
start_daemon --region small:1M@0x100000 --region big:64G@0x100000000
printf 'far away' | dd of="$MNT/big/contents" bs=1 seek=$((40 << 30)) conv=notrunc status=none
expect_eq "pmem: SEEK_DATA over a 64 GiB-wide sparse range" \
	"$(seek "$MNT/pmem" $((0x200000)) data)" $(((0x100000000) + (40 << 30)))
expect_eq "pmem st_size" "$(stat -c %s "$MNT/pmem")" $((0x100000000 + (64 << 30)))
core_size=$(stat -c %s "$MNT/core")
[ "$core_size" -gt $((64 << 30)) ] || bad "core st_size $core_size, want over 64 GiB"
blocks=$(stat -c %b "$MNT/core")
[ "$blocks" -le 64 ] || bad "core st_blocks $blocks, want a header page and one written page"
t0=$(date +%s%N)
cp --sparse=always "$MNT/core" "$WORK/big.core" || bad "cp --sparse=always core failed"
ms=$((($(date +%s%N) - t0) / 1000000))
say "cp --sparse=always of a $((core_size >> 30)) GiB core: $ms ms, $(stat -c %b "$WORK/big.core") blocks"
[ "$ms" -lt 10000 ] || bad "copying the sparse core took $ms ms"
[ "$(stat -c %b "$WORK/big.core")" -le 64 ] || bad "the copy of the core is not sparse"
readelf -lW "$WORK/big.core" >"$WORK/readelf.out" 2>&1 || bad "readelf -l of the core copy failed: $(cat "$WORK/readelf.out")"
# No guest, no page tables: p_vaddr 0, p_paddr the guest address.
expect_eq "LOAD segments: vaddr paddr memsz" \
	"$(awk '$1 == "LOAD" { print $3, $4, $6 }' "$WORK/readelf.out" | tr '\n' ' ')" \
	"0x0000000000000000 0x0000000000100000 0x100000 0x0000000000000000 0x0000000100000000 0x1000000000 "
off=$(awk '$1 == "LOAD" && $4 == "0x0000000100000000" { print $2 }' "$WORK/readelf.out")
expect_eq "the far bytes at their segment's offset" \
	"$(dd if="$WORK/big.core" bs=1 iflag=skip_bytes skip=$((off + (40 << 30))) count=8 status=none)" "far away"
rm -f "$WORK/big.core"
stop_daemon

# ---------------------------------------------------------------------------
say "the demo: regs, core and gdb"
start_daemon --demo
expect_eq "vcpu" "$(cat "$MNT/vcpu")" running
expect_errno EBUSY read "$MNT/regs"
log_has 'regs: read refused: the vCPU is running' || bad "the EBUSY log line does not say why: $(last_log_line)"
expect_eq "fault of a guest that never faulted" "$(must cat "$MNT/fault")" ""
# Live while running: the core is readable, its NT_PRSTATUS all zeros.
readelf -l "$MNT/core" >/dev/null 2>&1 || bad "readelf -l of a running guest's core failed"
echo pause >"$MNT/vcpu"
expect_eq "regs' st_size" "$(stat -c %s "$MNT/regs")" "$(wc -c <"$MNT/regs")"
rip=$(reg rip)
[ -n "$rip" ] || bad "no rip in regs: $(cat "$MNT/regs")"
expect_eq "cr3: the boot tables" "$(reg cr3)" 0x0000000000001000
expect_eq "cs" "$(reg cs)" 0x0008
expect_eq "efer: LME and LMA" "$(( $(reg efer) & 0x500 ))" $((0x500))
expect_eq "heartbeat through pmem" "$(xxd -s 0x200000 -l 16 -p "$MNT/pmem")" "$(xxd -l 16 -p "$MNT/heartbeat/contents")"
same_bytes "vmem = pmem under identity paging" "$MNT/vmem" $((0x100000)) "$MNT/pmem" $((0x100000)) $((0x101000))
expect_eq "vmem: SEEK_DATA from 0" "$(seek "$MNT/vmem" 0 data)" $((0x1000))
expect_eq "vmem st_size: the lower canonical half, whatever the guest maps" "$(stat -c %s "$MNT/vmem")" $((1 << 47))
expect_eq "vmem: past the 4 GiB identity map, zeros" "$(dd if="$MNT/vmem" bs=4K skip=$(((4 << 30) / 4096)) count=1 status=none | tr -d '\0' | wc -c)/$(dd if="$MNT/vmem" bs=4K skip=$(((4 << 30) / 4096)) count=1 status=none | wc -c)" 0/4096
expect_eq "vmem: reads end at 2^47" "$(nbytes dd if="$MNT/vmem" bs=4K skip=$(((1 << 47) / 4096)) count=1 status=none)" 0
expect_eq "vmem: SEEK_DATA past the demo's memory" "$(seek "$MNT/vmem" $((0x201000)) data)" ENXIO

readelf -lW "$MNT/core" >"$WORK/readelf.out" 2>&1 || bad "readelf -l core failed: $(cat "$WORK/readelf.out")"
expect_eq "core: LOAD segments" "$(awk '$1 == "LOAD" { print $3, $4, $6 }' "$WORK/readelf.out" | tr '\n' ' ')" \
	"0x0000000000001000 0x0000000000001000 0x007000 0x0000000000100000 0x0000000000100000 0x100000 0x0000000000200000 0x0000000000200000 0x001000 "
grep -q 'Elf file type is CORE' "$WORK/readelf.out" || bad "readelf does not see a core"
eu-readelf -n "$MNT/core" >"$WORK/notes.out" 2>&1 || bad "eu-readelf -n core failed: $(cat "$WORK/notes.out")"
grep -q 'CORE.*PRSTATUS' "$WORK/notes.out" || bad "eu-readelf -n shows no NT_PRSTATUS: $(cat "$WORK/notes.out")"
nrip=$(grep -oE 'rip: *0x[0-9a-f]+' "$WORK/notes.out" | awk '{ print $2 }')
expect_eq "eu-readelf's rip is regs'" "$((nrip))" "$((rip))"
eu-readelf -l "$MNT/core" >/dev/null 2>&1 || bad "eu-readelf -l core failed"
ticks=$(od -A n -t u8 -N 8 "$MNT/heartbeat/contents" | tr -d ' ')
out=$(gdb -batch -ex 'info registers rip' -ex 'x/2gx 0x200000' "$BUILD/guests/demo.elf" "$MNT/core" 2>&1) ||
	bad "gdb failed: $out"
grep -qE "^rip +$(printf '0x%x' "$rip") " <<<"$out" || bad "gdb's rip is not regs' $rip: $out"
grep -qE "^0x200000:[[:space:]]+$(printf '0x%016x' "$ticks")[[:space:]]" <<<"$out" ||
	bad "gdb's heartbeat is not $ticks: $out"
blocks=$(stat -c %b "$MNT/core")
cp --sparse=always "$MNT/core" "$WORK/demo.core"
cmp -s "$WORK/demo.core" "$MNT/core" || bad "the core's copy differs from the core"
[ "$(stat -c %b "$WORK/demo.core")" -le "$blocks" ] ||
	bad "the core's copy takes $(stat -c %b "$WORK/demo.core") blocks, st_blocks said $blocks"

# doc/inspecting.md's session, verbatim: its mountpoint and build/ are
# ours, and what it copies goes to a scratch directory.
session=$(awk '/<!-- inspect-session/ { on = 1; next }
	on && /^```sh/ { inblock = 1; next }
	inblock && /^```/ { exit }
	inblock { print }' "$INSPECTING")
[ -n "$session" ] || bad "no session block in doc/inspecting.md"
echo run >"$MNT/vcpu"
session=${session//\/tmp\/sb/$MNT}
session=${session//build\//$BUILD/}
mkdir -p "$WORK/session"
out=$(cd "$WORK/session" && bash -e -o pipefail -c "$session" 2>&1) || bad "the doc/inspecting.md session failed: $out"
srip=$(awk '$1 == "rip" && $2 ~ /^0x0/ { print $2 }' <<<"$out")
grep -qE "^rip +$(printf '0x%x' "$((srip))") " <<<"$out" ||
	bad "the session's gdb rip is not its regs' rip $srip: $out"
beat=$(awk '/^00200000:/ { print $2 $3 $4 $5; exit }' <<<"$out")
le=$(sed 's/\(..\)/\1 /g' <<<"$beat" | awk '{ for (i = NF; i > 0; i--) printf "%s", $i }')
grep -qE "^0x200000:[[:space:]]+0x$le[[:space:]]" <<<"$out" ||
	bad "the session's gdb heartbeat is not xxd's ($le): $out"
expect_eq "vcpu after the session" "$(cat "$MNT/vcpu")" running
stop_daemon

# ---------------------------------------------------------------------------
say "regset: known registers after hlt"
start_daemon --region ram:1M@0x100000 --region data:64K@0x200000 --guest "$GUESTS/regset.elf"
wait_for grep -qx halted "$MNT/vcpu" || bad "regset did not halt: $(cat "$MNT/vcpu")"
halted=$(nm "$GUESTS/regset.elf" | awk '$3 == "halted" { print "0x" $1 }')
ghalted=$(printf '0x%x' "$halted")
expect_eq "rip after hlt" "$(reg rip)" "$halted"
n=1
for r in rax rbx rcx rdx rsi rdi; do
	d=$(printf '%x' $n)
	expect_eq "$r" "$(reg $r)" "0x$d$d$d$d$d$d$d$d$d$d$d$d$d${d}5$d"
	n=$((n + 1))
done
n=8
for r in r8 r9 r10 r11 r12 r13 r14 r15; do
	d=$(printf '%x' $n)
	expect_eq "$r" "$(reg $r)" "0x$d$d$d$d$d$d$d$d$d$d$d$d$d${d}5$d"
	n=$((n + 1))
done
expect_eq "rsp: the top of ram" "$(reg rsp)" 0x0000000000200000
out=$(gdb -batch -ex 'info registers rax r15 rip' "$GUESTS/regset.elf" "$MNT/core" 2>&1)
grep -qE '^rax +0x1111111111111151 ' <<<"$out" || bad "gdb: rax: $out"
grep -qE '^r15 +0xffffffffffffff5f ' <<<"$out" || bad "gdb: r15: $out"
grep -qE "^rip +$ghalted " <<<"$out" || bad "gdb: rip: $out"
expect_eq "no fault" "$(must cat "$MNT/fault")" ""
stop_daemon

# ---------------------------------------------------------------------------
say "fault: a write to a read-only region"
start_daemon --region ram:1M@0x100000 --region data:64K@0x200000:ro --guest "$GUESTS/rowriter.elf"
wait_for grep -qx faulted "$MNT/vcpu" || bad "rowriter did not fault: $(cat "$MNT/vcpu")"
expect_eq "exit_reason" "$(fault_field exit_reason)" "6 MMIO"
expect_eq "gpa" "$(fault_field gpa)" 0x0000000000200000
expect_eq "access" "$(fault_field access)" write
expect_eq "size" "$(fault_field size)" 8
expect_eq "region" "$(fault_field region)" data
expect_eq "region_access" "$(fault_field region_access)" ro
expect_eq "rip: the faulting instruction, as regs" "$(fault_field rip)" "$(reg rip)"
expect_eq "fault's st_size" "$(stat -c %s "$MNT/fault")" "$(wc -c <"$MNT/fault")"
fault_field message | grep -q 'read-only' || bad "the message does not say read-only: $(fault_field message)"
# It stays after stop, until the next fault.
echo stop >"$MNT/vcpu"
expect_eq "fault after stop" "$(fault_field gpa)" 0x0000000000200000
stop_daemon

say "fault: an access to unmapped memory"
start_daemon --region ram:1M@0x100000 --guest "$GUESTS/rowriter.elf"
wait_for grep -qx faulted "$MNT/vcpu" || bad "rowriter did not fault: $(cat "$MNT/vcpu")"
expect_eq "exit_reason" "$(fault_field exit_reason)" "6 MMIO"
expect_eq "gpa" "$(fault_field gpa)" 0x0000000000200000
expect_eq "region" "$(fault_field region)" none
expect_eq "no region_access line" "$(fault_field region_access)" ""
stop_daemon

say "fault: a triple fault"
start_daemon --region ram:1M@0x100000 --guest "$GUESTS/triple.elf"
wait_for grep -qx faulted "$MNT/vcpu" || bad "triple did not fault: $(cat "$MNT/vcpu")"
expect_eq "exit_reason" "$(fault_field exit_reason)" "8 SHUTDOWN"
[ -n "$(fault_field rip)" ] || bad "no rip in fault"
expect_eq "no gpa for a shutdown" "$(fault_field gpa)" ""
stop_daemon

# ---------------------------------------------------------------------------
say "vpaging: page tables of its own"
start_daemon --region ram:1M@0x100000 --region data:64K@0x200000 --guest "$GUESTS/vpaging.elf"
wait_for grep -qx halted "$MNT/vcpu" || bad "vpaging did not halt: $(cat "$MNT/vcpu")"
expect_eq "cr3: its own" "$(reg cr3)" 0x0000000000201000
expect_eq "xxd of vmem at 0x200000" "$(xxd -s 0x200000 -l 8 -p "$MNT/vmem" | xxd -r -p)" "vpaging!"
same_bytes "vmem 0x200000 = pmem 0x208000" "$MNT/vmem" $((0x200000)) "$MNT/pmem" $((0x208000)) 4096
same_bytes "vmem 0x201000 = pmem 0x200000" "$MNT/vmem" $((0x201000)) "$MNT/pmem" $((0x200000)) 4096
expect_eq "xxd of vmem at 0x201010" "$(xxd -s 0x201010 -l 8 -p "$MNT/vmem" | xxd -r -p)" "through!"
same_bytes "vmem through the 1 GiB page" "$MNT/vmem" $((0x40100000)) "$MNT/pmem" $((0x100000)) $((0x100000))
same_bytes "vmem = pmem where identity" "$MNT/vmem" $((0x100000)) "$MNT/pmem" $((0x100000)) $((0x100000))
[ "$(bytes "$MNT/vmem" $((0x200000)) 8)" != "$(bytes "$MNT/pmem" $((0x200000)) 8)" ] ||
	bad "vmem and pmem agree at 0x200000: the paging is not the identity"
expect_eq "vmem: an unmapped page reads zeros" "$(bytes "$MNT/vmem" $((0x202000)) 8)" 0000000000000000
expect_eq "vmem: SEEK_HOLE after the two pages" "$(seek "$MNT/vmem" $((0x200000)) hole)" $((0x202000))
expect_eq "vmem: SEEK_DATA over 1 GiB unmapped" "$(seek "$MNT/vmem" $((0x202000)) data)" $((0x40001000))
expect_eq "vmem: SEEK_DATA past its end" "$(seek "$MNT/vmem" $((0x80000000)) data)" ENXIO
expect_eq "vmem st_size: the same for this guest" "$(stat -c %s "$MNT/vmem")" $((1 << 47))
expect_eq "vmem: SEEK_HOLE at the top of 1 GiB page data" "$(seek "$MNT/vmem" $((0x40100000)) hole)" $((0x40101000))
readelf -lW "$MNT/core" >"$WORK/readelf.out" 2>&1 || bad "readelf -l core failed"
expect_eq "core: p_vaddr 0 for data (not identity), = p_paddr for the rest" \
	"$(awk '$1 == "LOAD" { print $3, $4 }' "$WORK/readelf.out" | tr '\n' ' ')" \
	"0x0000000000001000 0x0000000000001000 0x0000000000100000 0x0000000000100000 0x0000000000000000 0x0000000000200000 "
stop_daemon

# ---------------------------------------------------------------------------
say "metrics: parsed by prometheus_client, values following actions"
# Debian's python3-prometheus-client, with Debian's python3.
/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null ||
	skip "python3-prometheus-client missing (scripts/test installs it)"
cat >"$WORK/metric.py" <<'EOF2'
import sys
from prometheus_client.parser import text_string_to_metric_families
# metric.py FILE NAME [k=v...]: the value of the one sample that matches.
text = open(sys.argv[1]).read()
name, want = sys.argv[2], dict(a.split('=', 1) for a in sys.argv[3:])
found = [s.value for f in text_string_to_metric_families(text)
         for s in f.samples
         if s.name == name and all(s.labels.get(k) == v for k, v in want.items())]
print(int(found[0]) if len(found) == 1 and found[0] == int(found[0])
      else found[0] if len(found) == 1 else 'none' if not found else 'many')
EOF2
# metric NAME [k=v...]: read the file once (like a scrape) and look it up.
metric() {
	cat "$MNT/metrics" >"$WORK/scrape.txt"
	/usr/bin/python3 "$WORK/metric.py" "$WORK/scrape.txt" "$@"
}
start_daemon --demo --region spare:2M
expect_eq "metrics mode" "$(stat -c %A "$MNT/metrics")" "-r--r--r--"
expect_eq "metrics' st_size" "$(stat -c %s "$MNT/metrics")" "$(wc -c <"$MNT/metrics")"
/usr/bin/python3 -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
n = sum(len(f.samples) for f in text_string_to_metric_families(open(sys.argv[1]).read()))
print(n)' "$MNT/metrics" >"$WORK/n" 2>&1 || bad "prometheus_client cannot parse metrics: $(cat "$WORK/n")"
expect_eq "ram's mem_size" "$(metric regionfs_region_mem_size_bytes region=ram guest_addr=0x100000 access=rw kind=host)" 1048576
expect_eq "spare, unmapped" "$(metric regionfs_region_mem_size_bytes region=spare guest_addr=none kind=exclusive)" 2097152
expect_eq "regions" "$(metric regionfs_regions)" 4
expect_eq "mappings" "$(metric regionfs_mappings)" 3
expect_eq "vcpu running" "$(metric regionfs_vcpu_state state=running)" 1
[ "$(metric regionfs_vcpu_exits_total reason=IO code=2)" -gt 0 ] || bad "no IO exits counted"
expect_eq "no EINVAL of zero yet" "$(metric regionfs_control_writes_total file=zero result=EINVAL)" none
expect_errno EINVAL write "$MNT/spare/zero" 2
expect_eq "a refused write counts" "$(metric regionfs_control_writes_total file=zero result=EINVAL)" 1
expect_errno EBUSY write "$MNT/heartbeat/zero" 1
expect_eq "EBUSY counts" "$(metric regionfs_control_writes_total file=zero result=EBUSY)" 1
expect_eq "ebusy_total" "$(metric regionfs_ebusy_total)" 1
echo 1 >"$MNT/spare/zero"
expect_eq "an accepted write counts" "$(metric regionfs_control_writes_total file=zero result=ok)" 1
dd if=/dev/urandom of="$MNT/spare/contents" bs=4K count=3 conv=notrunc status=none
expect_eq "spare's resident bytes" "$(metric regionfs_region_resident_bytes region=spare)" $((3 * 4096))
expect_eq "spare's own bytes (no file shared)" "$(metric regionfs_region_own_bytes region=spare)" $((3 * 4096))
echo 0 >"$MNT/spare/dirty"
expect_eq "spare's dirty pages after a clear" "$(metric regionfs_region_dirty_pages region=spare)" 0
errno_of fill "$MNT/spare/contents" 11 $((20 * 4096)) 8192 >/dev/null
errno_of fill "$MNT/spare/contents" 11 $((40 * 4096)) 1 >/dev/null
expect_eq "spare's dirty pages" "$(metric regionfs_region_dirty_pages region=spare)" 3
[ "$(metric regionfs_exclusive_busy_total)" -ge 1 ] ||
	bad "the refused zero of a running guest's region is not in exclusive_busy_total"
w0=$(metric regionfs_fuse_bytes_total op=write file=contents)
# Write-only opens write through the daemon (dd with seek= opens read-write,
# which is passed through and counted by nobody).
errno_of fill "$MNT/spare/contents" 00 $((10 * 4096)) 4096 >/dev/null
expect_eq "bytes written through contents" "$(metric regionfs_fuse_bytes_total op=write file=contents)" $((w0 + 4096))
echo pause >"$MNT/vcpu"
expect_eq "vcpu paused" "$(metric regionfs_vcpu_state state=paused)" 1
t1=$(metric regionfs_vcpu_run_seconds_total)
sleep 0.2
expect_eq "no run time while paused" "$(metric regionfs_vcpu_run_seconds_total)" "$t1"
echo s1 >"$MNT/snapshot"
expect_eq "snapshots" "$(metric regionfs_snapshots)" 1
[ "$(metric regionfs_snapshot_bytes)" -ge $((3 * 4096)) ] || bad "snapshot bytes: $(metric regionfs_snapshot_bytes)"
errno_of fill "$MNT/spare/contents" 5a $((100 * 4096)) 8192 >/dev/null
echo s1 >"$MNT/restore"
expect_eq "restores" "$(metric regionfs_restores_total)" 1
expect_eq "pages restored: the two written since" "$(metric regionfs_restore_pages_total)" 2
last=$(metric regionfs_restore_last_seconds)
/usr/bin/python3 -c "import sys; sys.exit(0 if 0 < float('$last') < 10 else 1)" ||
	bad "last restore latency: $last"
stop_daemon

# ---------------------------------------------------------------------------
say "the reader group, on the host"
command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
PY=/usr/bin/python3
[ -x $PY ] || skip "$PY missing (the other uid cannot use root's python)"
start_daemon --demo -o reader_gid=2000
echo pause >"$MNT/vcpu"
hostas() {
	setpriv --reuid=1234 --regid="$1" --clear-groups $PY "$WORK/errno_of.py" "${@:2}"
}
# (vmem is 128 TiB long: its first page is enough.)
firstpage() {
	local err
	err=$(setpriv --reuid=1234 --regid="$1" --clear-groups dd if="$2" of=/dev/null bs=4096 count=1 status=none 2>&1) || true
	case $err in
	*"Permission denied"*) echo EACCES ;;
	"") echo OK ;;
	*) echo "$err" ;;
	esac
}
for f in regs fault pmem vmem core; do
	expect_eq "reader group reads $f" "$(firstpage 2000 "$MNT/$f")" OK
	expect_eq "another uid cannot read $f" "$(firstpage 1234 "$MNT/$f")" EACCES
done
expect_eq "reader group: the heartbeat through vmem" \
	"$(setpriv --reuid=1234 --regid=2000 --clear-groups xxd -s 0x200000 -l 8 -p "$MNT/vmem")" \
	"$(xxd -l 8 -p "$MNT/heartbeat/contents")"
expect_eq "anyone reads layout" "$(hostas 1234 read "$MNT/layout")" OK
expect_eq "the reader group cannot write pmem" "$(hostas 2000 pwrite "$MNT/pmem" x $((0x200000)))" EACCES
# In a container (bwrap: new user, PID and network namespaces, the mount
# bound read-only), the reader group answers with cat, xxd and gdb.
if command -v bwrap >/dev/null; then
	got=$(setpriv --reuid=1234 --regid=2000 --clear-groups \
		bwrap --unshare-user --unshare-pid --unshare-net --die-with-parent \
		--ro-bind /usr /usr --ro-bind /lib /lib --ro-bind /bin /bin \
		$([ -e /lib64 ] && echo --ro-bind /lib64 /lib64) \
		--proc /proc --dev /dev --tmpfs /tmp --ro-bind "$MNT" /sandbox -- \
		sh -c 'grep "^rip " /sandbox/regs; xxd -s 0x200000 -l 8 -p /sandbox/pmem
			gdb -nx -batch -ex "info registers rip" -c /sandbox/core 2>&1 | grep "^rip"' |
		awk '{ print $1 (NF > 1 ? " " $2 : "") }' | tr '\n' ' ')
	expect_eq "a container with the reader group: regs, pmem, gdb" "$got" \
		"rip $(reg rip) $(xxd -l 8 -p "$MNT/heartbeat/contents") rip $(printf '0x%x' "$(reg rip)") "
fi
expect_eq "the reader group runs gdb on the core" \
	"$(setpriv --reuid=1234 --regid=2000 --clear-groups gdb -batch -ex 'info registers rip' -c "$MNT/core" 2>&1 | awk '$1 == "rip" { print $2 }')" \
	"$(printf '0x%x' "$(reg rip)")"
stop_daemon
finish
