#!/bin/bash
# Moving a running sandbox to another daemon (another machine, in real
# use) with standard tools and a short pause: while it runs, a full
# snapshot (a brief pause) saved with cp -r --sparse=always; 16 pages
# written meanwhile; then pause, a diff snapshot of what changed since,
# saved beside the full one, the old daemon ended, regionfs --from the
# diff on the new one, echo run > vcpu.  The moved sandbox's regions
# hold exactly the source's bytes at pause time (cmp), its snapshots are
# the chain, and (with /dev/kvm) the counter guest goes on from its
# count.  Twice: with cp -r --sparse=always, then rsync -aS.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"
LOG_NOTICES+='|: started from |: vcpu: halted at rip '

REGIONS=(ram data big)

# save_dir HOW SRC DEST: copy the snapshot directory SRC into DEST/.
save_dir() {
	case $1 in
	cp) cp -r --sparse=always "$2" "$3/" ;;
	rsync) rsync -aS "$2" "$3/" ;;
	esac
}

# data_blocks FILE: its data extents (SEEK_DATA/SEEK_HOLE) in 512-byte
# blocks: what st_blocks of a region holding its bytes says (a file's own
# st_blocks may count its filesystem's extent blocks too).
data_blocks() {
	local e out n=0
	out=$(extents "$1") || return 1
	for e in $out; do
		n=$((n + ${e#*-} - ${e%-*}))
	done
	echo $((n / 512))
}

# blocks_are REGION N: its contents' st_blocks is N.
blocks_are() {
	[ "$(stat -c %b "$MNT/$1/contents")" = "$2" ]
}

# pause_guest / run_guest: with a vCPU only.
pause_guest() { [ "$GUEST" = 0 ] || echo pause >"$MNT/vcpu"; }
run_guest() { [ "$GUEST" = 0 ] || echo run >"$MNT/vcpu"; }

# move I HOW: the current sandbox to a new daemon, snapshots fullI and
# lastI saved into $WORK/destI with HOW.
move() {
	local i=$1 how=$2 dest=$WORK/dest$1 r n=0 con t0 ms p want="" pages file
	say "move $i with $how: full snapshot while it runs, 16 pages, pause, diff, --from the diff"
	mkdir "$dest"
	pause_guest
	echo "full$i" >"$MNT/snapshot" || bad "snapshot full$i failed: $(last_log_line)"
	run_guest
	save_dir "$how" "$MNT/snapshots/full$i" "$dest" || bad "$how of full$i failed"
	# 16 pages written during the move (the guest writes its own too).
	for p in $(seq 0 15); do
		head -c "$PAGE" /dev/urandom |
			dd of="$MNT/big/contents" bs="$PAGE" seek=$((p * 37 + 5)) conv=notrunc status=none ||
			bad "dd into big failed"
		want+=$(printf '0x%x-0x%x' $(((p * 37 + 5) * PAGE)) $(((p * 37 + 6) * PAGE)))$'\n'
	done
	[ "$GUEST" = 0 ] || wait_for counter_above $(($(counter_count) + 2)) || bad "move $i: the guest does not count"
	t0=$EPOCHREALTIME
	pause_guest
	[ "$GUEST" = 0 ] || n=$(counter_count)
	for r in "${REGIONS[@]}"; do
		cp --sparse=always "$MNT/$r/contents" "$WORK/at-pause.$r" || bad "cp of $r at pause failed"
	done
	echo "last$i:full$i" >"$MNT/snapshot" || bad "snapshot last$i:full$i failed: $(last_log_line)"
	expect_eq "move $i: last$i/big/dirty" "$(must cat "$MNT/snapshots/last$i/big/dirty")" "${want%$'\n'}"
	save_dir "$how" "$MNT/snapshots/last$i" "$dest" || bad "$how of last$i failed"
	stop_daemon
	start_daemon --from "$dest/last$i"
	ms=$(((${EPOCHREALTIME/./} - ${t0/./}) / 1000))
	say "move $i: $ms ms from the pause to the new daemon mounted (pause, diff, $how, stop, --from; with this test's own copies)"
	for r in "${REGIONS[@]}"; do
		cmp "$WORK/at-pause.$r" "$MNT/$r/contents" || bad "move $i: $r is not the source's bytes at pause"
		cmp "$WORK/at-pause.$r" "$dest/last$i/$r/contents" || bad "move $i: the saved last$i/$r is not the source's bytes at pause"
		# A copy-on-write region's: its base's data and its private
		# pages (cowfrom.sh checks that st_blocks is right at once).
		want=$(data_blocks "$WORK/at-pause.$r")
		if [ -s "$MNT/$r/base" ]; then
			read -r pages file <"$MNT/$r/base"
			want=$(($(data_blocks "$file") + pages * PAGE / 512))
		fi
		wait_for blocks_are "$r" "$want" ||
			bad "move $i: $r's st_blocks: $(stat -c %b "$MNT/$r/contents"), want $want"
	done
	expect_eq "move $i: snapshots" "$(ls_sorted "$MNT/snapshots")" "full$i last$i "
	if [ -e "$MNT/big/base" ]; then
		# Copy-on-write from the full snapshot, the diff's 16 pages
		# written on it.
		expect_eq "move $i: big/base" "$(must cat "$MNT/big/base")" "16 $(realpath "$dest/full$i/big/contents")"
	fi
	if [ "$GUEST" = 1 ]; then
		expect_eq "move $i: vcpu" "$(cat "$MNT/vcpu")" paused
		expect_eq "move $i: the count" "$(counter_count)" "$n"
		con=$(stat -c %s "$MNT/console")
		run_guest
		wait_for counter_above $((n + 3)) || bad "move $i: the guest did not go on"
		pause_guest
		counter_went_on "$con" "$n" "move $i"
		run_guest
	fi
}

if have_kvm; then
	GUEST=1
	start_daemon --region ram:1M@0x100000 --region data:64K@0x200000 \
		--region big:64M@0x1000000 --guest "$GUESTS_DIR/counter.elf"
	wait_for counter_above 2 || bad "the counter guest does not count"
else
	GUEST=0
	skip_part guest "no usable /dev/kvm: a sandbox without a vCPU is moved"
	start_daemon --region ram:1M --region data:64K --region big:64M
fi
# big: 16 MiB of random data in four pieces, holes between.
for i in 0 1 2 3; do
	head -c 4M /dev/urandom |
		dd of="$MNT/big/contents" bs=1M seek=$((i * 16 + 2)) conv=notrunc status=none ||
		bad "dd into big failed"
done
move 1 cp
if command -v rsync >/dev/null; then
	move 2 rsync
else
	skip_part rsync "rsync missing: the move with rsync -aS not tested"
fi
finish
