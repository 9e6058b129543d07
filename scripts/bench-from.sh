# shellcheck shell=bash
# shellcheck disable=SC2154 # MiB, GiB, PAT_SIZE and the helpers are scripts/bench's
# Figure 12 of scripts/bench (--from): starting from a saved directory
# copy-on-write (issue 24) against -o from_copy, side by side.  Sourced by
# scripts/bench, which defines the helpers (timed, median, spread, rate,
# out, fill, start_daemon, stop_daemon, ...), TMPFS, WORK, PAT, BIN, N,
# N_READ and QUICK.
#
#   a. start time, exec to mounted, of a saved region full of random data
#      on tmpfs: 64 MiB, 1 GiB and (BENCH_FROM_8G=1, or by default when
#      MemAvailable holds 18 GiB; BENCH_FROM_8G=0 never) 8 GiB
#   b. memory of 16 sandboxes from one 1 GiB base, each writing 4 MiB
#      (the copy peer: 4 sandboxes, extrapolated to 16)
#   c. echo NAME > restore to the loaded snapshot with 64 MiB written
#   d. dd bs=1M of a copy-on-write region's contents against the saved
#      file on tmpfs
#   e. a fork: --from MNT/snapshots/NAME of a live daemon, start time, and
#      whether a fork of a sandbox itself started --from is copy-on-write
#   f. a move of a running sandbox (the demo and 1 GiB of data, 16 pages
#      written meanwhile): downtime from pause to running on the new daemon
#
# Peak memory: 2 x 8 GiB with the 8 GiB case (its saved file and, while
# it is saved, the snapshot; its copy peer runs only with 2 x 8 GiB more
# available: a copied region keeps the loaded snapshot's copy too), else
# about 6 GiB (figure b's copies, figure f's).

FROM_SIZES=()
FROM_WHY_8G=
# The base of figures b-e: 1 GiB (256 MiB with --quick), saved as
# $TMPFS/$FROM_NAME by figure a.
FROM_BASE=
FROM_NAME=
from_sizes() {
	local avail
	FROM_BASE=$GiB
	if [ "$QUICK" = 1 ]; then
		FROM_BASE=$((256 * MiB))
		FROM_SIZES=($((64 * MiB)) "$FROM_BASE")
		FROM_WHY_8G="--quick"
		FROM_NAME=saved$((FROM_BASE / MiB))
		return
	fi
	FROM_NAME=saved$((FROM_BASE / MiB))
	FROM_SIZES=($((64 * MiB)) "$FROM_BASE")
	avail=$(meminfo_kb MemAvailable)
	case ${BENCH_FROM_8G:-auto} in
	0) FROM_WHY_8G="BENCH_FROM_8G=0" ;;
	1) FROM_SIZES+=($((8 * GiB))) ;;
	*)
		if [ "$avail" -ge $((18 << 20)) ]; then
			FROM_SIZES+=($((8 * GiB)))
		else
			FROM_WHY_8G="MemAvailable $((avail >> 20)) GiB, under the 18 GiB it needs (BENCH_FROM_8G=1 forces it)"
		fi
		;;
	esac
}

# saved_dir SIZE NAME: $TMPFS/NAME, a saved sandbox with one region r of
# SIZE bytes, every byte written (the 64 MiB pattern, repeated).  The
# live region is zeroed before the copy: at most 2 x SIZE at once.
saved_dir() {
	local size=$1 name=$2 m=$WORK/mnt-save logf=$WORK/save-$2.log pid
	log "12. saving a $(mib "$size") MiB sandbox to $TMPFS/$name"
	start_daemon "$m" "$logf" -o "kvm=$WORK/no-kvm" --region "r:$size"
	pid=$DPID
	fill "/proc/$pid/mem" $(($(cat "$m/r/base_addr"))) "$size"
	[ "$(blocks "$m/r/contents")" = $((size / 512)) ] || die "r not fully written: st_blocks $(blocks "$m/r/contents")"
	echo "$name" >"$m/snapshot" || die "snapshot $name failed: $(tail -1 "$logf")"
	echo 1 >"$m/r/zero"
	cp -r --sparse=always "$m/snapshots/$name" "$TMPFS/$name" || die "cp -r of $name failed"
	stop_daemon "$m" "$pid"
	[ "$(blocks "$TMPFS/$name/r/contents")" = $((size / 512)) ] || die "the saved $name is not whole"
}

# from_start MNT LOG ARGS...: start regionfs (ARGS include --from), set
# ELAPSED to the time from exec to its return (it returns once mounted),
# and DPID.
from_start() {
	local mnt=$1 logf=$2
	shift 2
	mkdir -p "$mnt"
	timed "$BIN" "$@" -o log="$logf" "$mnt" || die "regionfs $* $mnt failed: $(tail -3 "$logf" 2>/dev/null)"
	MOUNTS+=("$mnt")
	DPID=$(sed -n 's/.*regionfs\[\([0-9]*\)\]: mounted at.*/\1/p' "$logf" | tail -1)
	{ [ -n "$DPID" ] && kill -0 "$DPID"; } || die "no daemon pid in $logf"
}

# is_cow DIR: DIR (a region) maps its base copy-on-write.
is_cow() { [ -s "$1/base" ]; }

# copy_why LOG: the daemon's "copied, not mapped copy-on-write" reason.
copy_why() {
	grep -m 1 -o 'copied, not mapped copy-on-write: .*' "$1" | cut -d' ' -f6- || echo "(no log line)"
}

# from_available: cow works here (a --from of a small saved sandbox maps
# it); else prints why and returns 1.
from_available() {
	local m=$WORK/mnt-probe logf=$WORK/probe.log
	saved_dir $((4 * MiB)) probe
	from_start "$m" "$logf" --from "$TMPFS/probe"
	if [ ! -e "$m/r/base" ]; then
		stop_daemon "$m" "$DPID"
		out "cow" "not available (no base file: this regionfs copies every --from)"
		return 1
	fi
	if ! is_cow "$m/r"; then
		stop_daemon "$m" "$DPID"
		out "cow" "not available (r/base is empty on tmpfs: $(copy_why "$logf"))"
		return 1
	fi
	stop_daemon "$m" "$DPID"
	rm -rf "${TMPFS:?}/probe"
	return 0
}

# a. start time.
from_start_figure() {
	local size name reps i a b a2 b2 t m=$WORK/mnt-from ca cb copy
	for size in "${FROM_SIZES[@]}"; do
		name=saved$((size / MiB))
		saved_dir "$size" "$name"
		reps=$N
		[ "$size" -lt $((8 * GiB)) ] || reps=3
		a=() b=() a2=() b2=() ca=ok cb=ok copy=1
		# A copy takes the region and the loaded snapshot's copy of it,
		# beside the saved file: 3 x 8 GiB did not fit in 24 GiB (the
		# OOM killer took the daemon).
		if [ "$(meminfo_kb MemAvailable)" -lt $((2 * size / 1024 + (2 << 20))) ]; then
			copy=0
		fi
		for ((i = 0; i < reps; i++)); do
			from_start "$m" "$WORK/from-cow.log" --from "$TMPFS/$name"
			a+=("$(ms "$ELAPSED")")
			# Reads wait for the checksums' verdict (a thread checks
			# them after the start): the first byte read is when the
			# region is usable, as echo run waits for it too.
			t=$ELAPSED
			timed dd_read 4096 if="$m/r/contents" bs=4096 count=1
			a2+=("$(calc "($t + $ELAPSED) * 1000" %.1f)")
			if [ $i = 0 ]; then
				is_cow "$m/r" || ca="not copy-on-write: $(copy_why "$WORK/from-cow.log")"
				cmp -s -n "$PAT_SIZE" "$m/r/contents" "$PAT" || ca="bytes differ"
			fi
			stop_daemon "$m" "$DPID"
			[ "$copy" = 1 ] || continue
			from_start "$m" "$WORK/from-copy.log" --from "$TMPFS/$name" -o from_copy
			b+=("$(ms "$ELAPSED")")
			t=$ELAPSED
			timed dd_read 4096 if="$m/r/contents" bs=4096 count=1
			b2+=("$(calc "($t + $ELAPSED) * 1000" %.1f)")
			if [ $i = 0 ]; then
				! is_cow "$m/r" || cb="base not empty"
				cmp -s -n "$PAT_SIZE" "$m/r/contents" "$PAT" || cb="bytes differ"
			fi
			stop_daemon "$m" "$DPID"
		done
		out "from start $(mib "$size") MiB, cow (exec to mounted)" "$(spread %.1f ms "${a[@]}")"
		out "from start $(mib "$size") MiB, cow (exec to the first byte read: checksums verified)" "$(spread %.1f ms "${a2[@]}")"
		if [ "$copy" = 1 ]; then
			out "from start $(mib "$size") MiB, copy (-o from_copy)" "$(spread %.1f ms "${b[@]}")"
			out "from start $(mib "$size") MiB, copy (exec to the first byte read)" "$(spread %.1f ms "${b2[@]}")"
			out "from start $(mib "$size") MiB, ratio (copy / cow)" "$(calc "$(median "${b[@]}") / $(median "${a[@]}")" %.1f)"
			out "from start $(mib "$size") MiB, ratio to the first byte (copy / cow)" "$(calc "$(median "${b2[@]}") / $(median "${a2[@]}")" %.1f)"
		else
			cb="not run"
			out "from start $(mib "$size") MiB, copy (-o from_copy)" "not run: it needs 2 x $(mib "$size") MiB (the region and the loaded snapshot's copy) beside the saved file, MemAvailable is $(($(meminfo_kb MemAvailable) >> 10)) MiB"
		fi
		out "from start $(mib "$size") MiB, check (cow / copy)" "$ca / $cb"
		[ "$size" = "$FROM_BASE" ] || rm -rf "${TMPFS:?}/$name"
	done
	[ -z "$FROM_WHY_8G" ] || out "from start 8192 MiB" "skipped: $FROM_WHY_8G"
}

# sandboxes KIND COUNT: COUNT daemons --from the base (KIND cow or
# copy), each writing 4 MiB; sets MEM to "MEMORY_KB PSS_KB AVAIL_DROP_KB"
# (memory: the growth of Shmem plus the daemons' Anonymous pages).
MEM=()
sandboxes() {
	local kind=$1 count=$2 i m pids=() mnts=() shm0 shm1 av0 av1 anon=0 pss=0 opts=()
	[ "$kind" = cow ] || opts=(-o from_copy)
	sync
	shm0=$(meminfo_kb Shmem) av0=$(meminfo_kb MemAvailable)
	for ((i = 0; i < count; i++)); do
		m=$WORK/mnt-mem$i
		from_start "$m" "$WORK/mem$i.log" --from "$TMPFS/$FROM_NAME" "${opts[@]}"
		pids+=("$DPID") mnts+=("$m")
		dd if="$PAT" of="$m/r/contents" bs=1M count=4 seek=$((i * 4)) conv=notrunc status=none ||
			die "dd into sandbox $i failed"
	done
	sleep 1
	shm1=$(meminfo_kb Shmem) av1=$(meminfo_kb MemAvailable)
	for ((i = 0; i < count; i++)); do
		anon=$((anon + $(awk '$1 == "Anonymous:" { print $2 }' "/proc/${pids[i]}/smaps_rollup")))
		pss=$((pss + $(awk '$1 == "Pss:" { print $2 }' "/proc/${pids[i]}/smaps_rollup")))
	done
	if [ "$kind" = cow ]; then
		[ "$(cut -d' ' -f1 "${mnts[0]}/r/base" 2>/dev/null)" = $((4 * MiB / 4096)) ] ||
			FROM_FAIL+=("memory: sandbox 0's base says '$(cat "${mnts[0]}/r/base" 2>&1 || true)', want 1024 private pages")
	fi
	for ((i = 0; i < count; i++)); do
		stop_daemon "${mnts[i]}" "${pids[i]}"
	done
	MEM=($((shm1 - shm0 + anon)) "$pss" $((av0 - av1)))
}

# b. memory.
from_memory_figure() {
	local cow copy n_copy=4 c p basekb=$((FROM_BASE / 1024))
	sandboxes cow 16
	cow=("${MEM[@]}")
	sandboxes copy $n_copy
	copy=("${MEM[@]}")
	c=${cow[0]} p=$((copy[0] * 16 / n_copy))
	out "from memory, 16 sandboxes cow from one $(mib "$FROM_BASE") MiB base, 4 MiB written each (growth of Shmem + the daemons' Anonymous)" "$(kb_mib "$c") MiB, $(calc "$c / 16 / 1024" %.1f) MiB each, besides the $(mib "$FROM_BASE") MiB base file they share"
	out "from memory, 16 sandboxes cow: sum of the daemons' Pss / drop of MemAvailable" "$(kb_mib "${cow[1]}") MiB / $(kb_mib "${cow[2]}") MiB"
	out "from memory, $n_copy sandboxes copy (-o from_copy), measured" "$(kb_mib "${copy[0]}") MiB, $(calc "${copy[0]} / $n_copy / 1024" %.1f) MiB each (Pss sum $(kb_mib "${copy[1]}") MiB, MemAvailable drop $(kb_mib "${copy[2]}") MiB)"
	out "from memory, 16 sandboxes copy, extrapolated from $n_copy (x $((16 / n_copy)))" "$(kb_mib "$p") MiB"
	out "from memory ratio, 16 sandboxes (copy / (cow + its base))" "$(calc "$p / ($c + $basekb)" %.1f)"
}

restore_to() { echo "$2" >"$1/restore" || die "echo $2 > $1/restore failed"; }

# c. reset to the base after 64 MiB written.
from_reset_figure() {
	local kind m=$WORK/mnt-reset i a=() b=() opts chk=ok t
	for ((i = 0; i < N; i++)); do
		for kind in cow copy; do
			opts=()
			[ "$kind" = cow ] || opts=(-o from_copy)
			from_start "$m" "$WORK/reset.log" --from "$TMPFS/$FROM_NAME" "${opts[@]}"
			# 64 MiB of other bytes than the saved ones there (the
			# pattern repeats every 64 MiB): its halves swapped.
			dd if="$PAT" of="$m/r/contents" bs=1M skip=32 count=32 seek=100 conv=notrunc status=none ||
				die "dd into r failed"
			dd if="$PAT" of="$m/r/contents" bs=1M count=32 seek=132 conv=notrunc status=none ||
				die "dd into r failed"
			timed restore_to "$m" "$FROM_NAME"
			t=$(ms "$ELAPSED")
			if [ "$kind" = cow ]; then a+=("$t"); else b+=("$t"); fi
			if [ $i = 0 ]; then
				cmp -s -n $((64 * MiB)) -i $((100 * MiB)):$((100 * MiB)) "$m/r/contents" "$TMPFS/$FROM_NAME/r/contents" ||
					chk="$kind: the bytes did not come back"
				if [ "$kind" = cow ] && [ "$(cut -d' ' -f1 "$m/r/base" 2>/dev/null)" != 0 ]; then
					chk="cow: base says '$(cat "$m/r/base" 2>&1 || true)' after the restore"
				fi
			fi
			stop_daemon "$m" "$DPID"
		done
	done
	out "from reset, echo NAME > restore after 64 MiB written, cow" "$(spread %.1f ms "${a[@]}")"
	out "from reset, echo NAME > restore after 64 MiB written, copy" "$(spread %.1f ms "${b[@]}")"
	out "from reset ratio (copy / cow)" "$(calc "$(median "${b[@]}") / $(median "${a[@]}")" %.2f)"
	out "from reset check" "$chk"
}

# d. reads of a copy-on-write region against its saved file.
from_read_figure() {
	local m=$WORK/mnt-read m2=$WORK/mnt-read-copy i a=() b=() c=() pid pid2 r
	local sz=$FROM_BASE f=$TMPFS/$FROM_NAME/r/contents
	from_start "$m" "$WORK/read.log" --from "$TMPFS/$FROM_NAME"
	pid=$DPID
	from_start "$m2" "$WORK/read-copy.log" --from "$TMPFS/$FROM_NAME" -o from_copy
	pid2=$DPID
	for ((i = 0; i < N_READ; i++)); do
		timed dd_read "$sz" if="$m/r/contents" bs=1M; a+=("$ELAPSED")
		timed dd_read "$sz" if="$f" bs=1M; b+=("$ELAPSED")
		timed dd_read "$sz" if="$m2/r/contents" bs=1M; c+=("$ELAPSED")
	done
	cmp -s "$m/r/contents" "$f" || FROM_FAIL+=("read: the cow region differs from its saved file")
	r=$(calc "$(median "${b[@]}") / $(median "${a[@]}")" %.2f)
	out "from read path, the mount's (a copy-on-write region has no memfd to pass through: the daemon reads it)" "$(read_path "$WORK/read.log")"
	out "from dd bs=1M of $(mib "$sz") MiB, cow region" "$(rate "$sz" "${a[@]}")"
	out "from dd bs=1M, its saved file on tmpfs" "$(rate "$sz" "${b[@]}")"
	out "from dd bs=1M, copied region (-o from_copy)" "$(rate "$sz" "${c[@]}")"
	out "from dd ratio (cow region / tmpfs)" "$r"
	stop_daemon "$m" "$pid"
	stop_daemon "$m2" "$pid2"
}

# e. a fork of a live snapshot: of a sandbox made with --region (its
# regions memfds), then of one started --from copy-on-write.
from_fork_figure() {
	local src=$WORK/mnt-forksrc m=$WORK/mnt-fork i a=() b=() spid chk=ok why what
	start_daemon "$src" "$WORK/forksrc.log" -o "kvm=$WORK/no-kvm" --region "r:$FROM_BASE"
	spid=$DPID
	fill "/proc/$spid/mem" $(($(cat "$src/r/base_addr"))) "$FROM_BASE"
	echo live >"$src/snapshot" || die "snapshot live failed: $(tail -1 "$WORK/forksrc.log")"
	cat "$src/snapshots/live/info" >/dev/null	# its checksums, once
	for ((i = -1; i < N; i++)); do
		from_start "$m" "$WORK/fork.log" --from "$src/snapshots/live"
		[ $i -lt 0 ] || a+=("$(ms "$ELAPSED")")
		if [ $i = 0 ]; then
			cmp -s "$m/r/contents" "$src/snapshots/live/r/contents" || chk="the fork's bytes differ"
			is_cow "$m/r" || chk="fork copied: $(copy_why "$WORK/fork.log")"
		fi
		stop_daemon "$m" "$DPID"
		from_start "$m" "$WORK/fork-copy.log" --from "$src/snapshots/live" -o from_copy
		[ $i -lt 0 ] || b+=("$(ms "$ELAPSED")")
		stop_daemon "$m" "$DPID"
	done
	stop_daemon "$src" "$spid"
	out "from fork of a live $(mib "$FROM_BASE") MiB snapshot (--from MNT/snapshots/NAME), cow" "$(spread %.1f ms "${a[@]}")"
	out "from fork, copy (-o from_copy)" "$(spread %.1f ms "${b[@]}")"
	out "from fork ratio (copy / cow)" "$(calc "$(median "${b[@]}") / $(median "${a[@]}")" %.1f)"
	out "from fork check" "$chk"

	# A sandbox started --from copy-on-write, 16 MiB written, forked.
	from_start "$src" "$WORK/forksrc2.log" --from "$TMPFS/$FROM_NAME"
	spid=$DPID
	dd if="$PAT" of="$src/r/contents" bs=1M count=16 seek=10 conv=notrunc status=none
	what="16 MiB written"
	if ! echo live 2>/dev/null >"$src/snapshot"; then
		FROM_FAIL+=("fork 2: the snapshot of a copy-on-write region with 16 MiB written failed: $(tail -1 "$WORK/forksrc2.log" | cut -d' ' -f3-)")
		what="nothing written (with 16 MiB written its snapshot failed, see the check)"
		restore_to "$src" "$FROM_NAME"
		echo live >"$src/snapshot" || die "snapshot live failed: $(tail -1 "$WORK/forksrc2.log")"
	fi
	from_start "$m" "$WORK/fork2.log" --from "$src/snapshots/live"
	if is_cow "$m/r"; then why="cow, $(ms "$ELAPSED") ms"
	else why="copied, $(ms "$ELAPSED") ms: $(copy_why "$WORK/fork2.log")"; fi
	cmp -s "$m/r/contents" "$src/snapshots/live/r/contents" || FROM_FAIL+=("fork 2: the fork's bytes differ")
	stop_daemon "$m" "$DPID"
	stop_daemon "$src" "$spid"
	out "from fork of a sandbox itself started --from copy-on-write, $what" "$why"
}

# move_once HOW: one move of the demo with FROM_BASE bytes of data; HOW: cow (cp -r
# of the diff, --from it), copy (the same, -o from_copy), pages (the
# diff's pages alone copied, with dd, into a copy of the full snapshot
# made while it ran; --from cow).  Sets MOVE_MS (pause to running) and
# MOVE_PARTS.
move_once() {
	local how=$1 src=$WORK/mnt-msrc dst=$WORK/mnt-mdst dest=$TMPFS/move pid p t0 t1 t2 t3 t4 r f off end
	local opts=() src_big=$TMPFS/move-src-big
	[ "$how" = copy ] && opts=(-o from_copy)
	[ "$how" = unchecked ] && opts=(-o from_unchecked)
	rm -rf "$dest"
	mkdir -p "$dest"
	start_daemon "$src" "$WORK/msrc.log" --demo --region "big:$FROM_BASE@0x40000000"
	pid=$DPID
	fill "/proc/$pid/mem" $(($(cat "$src/big/base_addr"))) "$FROM_BASE"
	echo pause >"$src/vcpu"
	echo full >"$src/snapshot" || die "snapshot full failed: $(tail -1 "$WORK/msrc.log")"
	echo run >"$src/vcpu"
	cp -r --sparse=always "$src/snapshots/full" "$dest/" || die "cp -r of full failed"
	case $how in pages | unchecked) cp -r --sparse=always "$dest/full" "$dest/last" ;; esac
	for p in $(seq 0 15); do
		dd if="$PAT" of="$src/big/contents" bs=4096 skip="$p" seek=$((p * 4099 + 7)) count=1 conv=notrunc status=none
	done
	sleep 0.1
	t0=$EPOCHREALTIME
	echo pause >"$src/vcpu"
	echo last:full >"$src/snapshot" || die "snapshot last:full failed: $(tail -1 "$WORK/msrc.log")"
	t1=$EPOCHREALTIME
	if [ "$how" = pages ] || [ "$how" = unchecked ]; then
		# Every small file of the diff; of each contents only the
		# pages the diff holds (its dirty), into full's copy.
		# (A region's only file whose name starts with c is contents.)
		for f in "$src/snapshots/last"/*/; do
			f=${f%/}
			r=${f##*/}
			cp "$f"/[!c]* "$dest/last/$r/"
			while IFS=- read -r off end; do
				dd if="$f/contents" of="$dest/last/$r/contents" bs=4096 skip=$((off / 4096)) \
					seek=$((off / 4096)) count=$(((end - off) / 4096)) conv=notrunc status=none
			done <"$f/dirty"
		done
		find "$src/snapshots/last" -maxdepth 1 -type f -exec cp -t "$dest/last/" {} +
	else
		cp -r --sparse=always "$src/snapshots/last" "$dest/" || die "cp -r of last failed"
	fi
	t2=$EPOCHREALTIME
	# The old daemon stays, paused, until the new one runs (on another
	# machine it would: a way back if the start fails); it is ended after.
	start_daemon "$dst" "$WORK/mdst.log" --from "$dest/last" "${opts[@]}"
	t3=$EPOCHREALTIME
	echo run >"$dst/vcpu" || die "echo run on the moved sandbox failed"
	t4=$EPOCHREALTIME
	MOVE_MS=$(calc "($t4 - $t0) * 1000" %.1f)
	MOVE_PARTS="diff $(calc "($t1 - $t0) * 1000" %.1f), save $(calc "($t2 - $t1) * 1000" %.1f), --from $(calc "($t3 - $t2) * 1000" %.1f), run $(calc "($t4 - $t3) * 1000" %.1f) ms"
	[ -n "${MOVE_CHECKED[$how]:-}" ] || cp "$src/snapshots/last/big/contents" "$src_big"
	stop_daemon "$src" "$pid"
	echo pause >"$dst/vcpu"
	if [ -z "${MOVE_CHECKED[$how]:-}" ]; then
		MOVE_CHECKED[$how]=1
		# big: the guest does not write it (the heartbeat moved on).
		cmp -s "$dst/big/contents" "$dest/last/big/contents" || FROM_FAIL+=("move $how: big differs from the saved diff")
		cmp -s "$dest/last/big/contents" "$src_big" || FROM_FAIL+=("move $how: the saved diff's big is not the source's at pause")
		if [ "$how" = copy ]; then ! is_cow "$dst/big" || FROM_FAIL+=("move copy: big/base not empty")
		else is_cow "$dst/big" || FROM_FAIL+=("move $how: big copied: $(copy_why "$WORK/mdst.log")"); fi
	fi
	stop_daemon "$dst" "$DPID"
	rm -rf "$dest" "$src_big"
}

# f. the move.
declare -A MOVE_CHECKED=()
from_move_figure() {
	local how i ms=() parts reps=3
	if ! have_kvm; then
		out "from move" "not available (no usable /dev/kvm)"
		return 0
	fi
	for how in cow copy pages unchecked; do
		ms=()
		for ((i = 0; i < reps; i++)); do
			log "12f. move ($how), round $((i + 1)) of $reps"
			move_once "$how"
			ms+=("$MOVE_MS")
			parts=$MOVE_PARTS
		done
		case $how in
		cow) out "from move downtime, $(mib "$FROM_BASE") MiB + the demo, 16 pages written, cp -r of the diff, --from cow (pause to running; the old daemon ended after)" "$(spread %.1f ms "${ms[@]}") (last: $parts)" ;;
		copy) out "from move downtime, the same, --from -o from_copy" "$(spread %.1f ms "${ms[@]}") (last: $parts)" ;;
		pages) out "from move downtime, the diff's pages alone copied (dd of its dirty ranges into a copy of full made while it ran), --from cow" "$(spread %.1f ms "${ms[@]}") (last: $parts)" ;;
		unchecked) out "from move downtime, the same, --from cow -o from_unchecked (echo run waits for no checksum)" "$(spread %.1f ms "${ms[@]}") (last: $parts)" ;;
		esac
	done
}

FROM_FAIL=()
from_figure() {
	from_sizes
	echo "# 12. --from copy-on-write (cow) against -o from_copy (copy), saved directories on tmpfs; medians of $N (runs: min-max)"
	from_available || return 0
	from_start_figure
	from_memory_figure
	from_reset_figure
	from_read_figure
	from_fork_figure
	from_move_figure
	rm -rf "${TMPFS:?}/$FROM_NAME"
	out "from check" "$(check_word "${FROM_FAIL[@]}")"
}
