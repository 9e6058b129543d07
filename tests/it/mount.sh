#!/bin/bash
# The mount itself: the tree, the values and modes of a region's files,
# the command line (good and bad), what a killed daemon leaves behind, a
# mountpoint that is taken (refused) or holds files (said), and the log
# kept after the daemon when there is no syslog.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

# The tree: exactly the regions given, each with exactly its 14 files.
check_tree() {
	local r want
	expect_eq "regions at the root" "$(ls_regions)" "ram rom "
	want=$(printf '%s\n' "${REGION_FILES[@]}" | sort | tr '\n' ' ')
	for r in ram rom; do
		[ -d "$MNT/$r" ] || bad "$r is not a directory"
		expect_eq "ls of $r" "$(ls_sorted "$MNT/$r")" "$want"
		expect_eq "mode of $r/" "$(stat -c '%F %a' "$MNT/$r")" "directory 755"
	done
}

# The modes of attr.c: host addresses are the owner's only (like kernel
# pointers), sizes and state are public, control files are the owner's.
check_modes() {
	local r=$1 f mode
	declare -A want=(
		[contents]=600 [base_addr]=400 [mem_size]=644 [raw_addr]=400
		[raw_size]=444 [host_region_base]=400 [host_region_end]=400
		[kind]=444 [guest_addr]=644 [access]=644 [zero]=600
		[dirty]=600 [page_size]=644 [mmap_rw]=644 [base]=400
	)
	for f in "${REGION_FILES[@]}"; do
		[ -f "$MNT/$r/$f" ] || bad "$r/$f is not a regular file"
		mode=$(stat -c '%a %u %g' "$MNT/$r/$f")
		expect_eq "mode and owner of $r/$f" "$mode" "${want[$f]} 0 0"
	done
}

# One value per file, newline-terminated, and an honest st_size.
check_values() {
	local r=$1 size=$2 f v mem raw base rawa hrb hre
	for f in "${REGION_FILES[@]}"; do
		# dirty is a list, empty until a page is written; base is empty
		# but for a region mapping a file (cowfrom.sh).
		case $f in contents | zero | dirty) continue ;; esac
		if [ "$f" = base ]; then
			expect_eq "$r/base" "$(stat -c %s "$MNT/$r/base") $(wc -c <"$MNT/$r/base")" "0 0"
			continue
		fi
		expect_eq "last byte of $r/$f" "$(tail -c 1 "$MNT/$r/$f" | xxd -p)" 0a
		expect_eq "lines in $r/$f" "$(wc -l <"$MNT/$r/$f")" 1
		expect_eq "st_size of $r/$f" "$(stat -c %s "$MNT/$r/$f")" \
			"$(wc -c <"$MNT/$r/$f")"
	done
	expect_eq "st_size of $r/contents" "$(stat -c %s "$MNT/$r/contents")" "$size"
	for f in base_addr raw_addr host_region_base host_region_end; do
		v=$(attr "$r" "$f")
		[[ $v =~ ^0x[0-9a-f]+$ ]] || bad "$r/$f: '$v' is not hex"
	done
	mem=$(attr "$r" mem_size)
	raw=$(attr "$r" raw_size)
	expect_eq "$r/mem_size" "$mem" "$size"
	expect_eq "$r/raw_size (mem_size + 2 guard pages)" "$raw" $((mem + 2 * PAGE))
	base=$(hex2dec "$(attr "$r" base_addr)")
	rawa=$(hex2dec "$(attr "$r" raw_addr)")
	hrb=$(hex2dec "$(attr "$r" host_region_base)")
	hre=$(hex2dec "$(attr "$r" host_region_end)")
	expect_eq "$r: base_addr - raw_addr (the leading guard page)" $((base - rawa)) "$PAGE"
	expect_eq "$r: host_region_base = base_addr" "$hrb" "$base"
	expect_eq "$r: host_region_end - host_region_base" $((hre - hrb)) "$mem"
	expect_eq "$r/kind" "$(attr "$r" kind)" exclusive
	expect_eq "$r/guest_addr" "$(attr "$r" guest_addr)" none
	expect_eq "$r/access" "$(attr "$r" access)" rw
}

check_bad_command_lines() {
	local dir=$WORK/cmdline
	mkdir "$dir"
	: >"$WORK/a-file"
	expect_start_fails '^regionfs: --region bad: expected NAME:SIZE' --region bad "$dir"
	expect_start_fails '^regionfs: --region ram:0: expected NAME:SIZE' --region ram:0 "$dir"
	expect_start_fails '^regionfs: --region vcpu: .*not reserved' --region vcpu:1M "$dir"
	expect_start_fails '^regionfs: --region a: name given twice' --region a:1M --region a:2M "$dir"
	expect_start_fails 'default_size=0: not a size' -o default_size=0 "$dir"
	expect_start_fails "reader_gid=-2: not a user or group id" -o reader_gid=-2 "$dir"
	expect_start_fails "uid=x: not a user or group id" -o uid=x "$dir"
	expect_start_fails '^regionfs: no mountpoint' --region a:1M
	expect_start_fails "$WORK/nope" --region a:1M "$WORK/nope"
	# The root is a directory: a file mountpoint gives a mount where every
	# stat fails with EIO, so it must be refused up front.
	expect_start_fails 'not a directory' --region a:1M "$WORK/a-file"
	# A region mapped at start needs KVM: refused without it, wherever
	# this runs (with a usable /dev/kvm, guest_addr.sh maps at start).
	expect_start_fails '--region x: .*no KVM' "${NO_KVM[@]}" --region x:1M@0x1000 "$dir"
}

# kill -9: auto_unmount removes the mount, and the mountpoint takes a new
# daemon at once.
check_kill9() {
	local dir
	start_daemon --region k:1M
	dir=$MNT
	kill -9 "$DAEMON_PID"
	DAEMON_PID=
	# 20 s, lib.sh's bound for what must happen (wait_for): a ThreadSanitizer
	# build on a loaded machine once took over 5 s to be unmounted.
	for _ in $(seq 200); do
		mountpoint -q "$dir" || break
		sleep 0.1
	done
	mountpoint -q "$dir" && fail "still mounted 20 s after kill -9 (auto_unmount)"
	start_daemon_at "$dir" --region k2:1M
	expect_eq "ls after remount" "$(ls_regions)" "k2 "
	stop_daemon
}

# refused_start ARGS...: regionfs ARGS exits non-zero within 20 s; its
# stderr in $WORK/err.
refused_start() {
	local rc=0
	timeout 20 "$REGIONFS" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
	[ "$rc" -ne 0 ] || bad "regionfs $(describe "$@"): exit 0, want a refusal"
	[ "$rc" -ne 124 ] || bad "regionfs $(describe "$@"): still running after 20 s"
}

# A second regionfs on a live mount point is refused, naming the running
# one (its pid), and nothing is stacked: the first sandbox still answers.
# The reason is on stderr, and in the file the refused start logs to
# after it has gone: -o log=FILE, or without it (no syslog) the kept log.
check_live_mountpoint() {
	local want kept
	start_daemon --region first:1M
	want="mountpoint $MNT refused: a regionfs is mounted there already (pid $DAEMON_PID, source regionfs)"
	refused_start -o "log=$WORK/second.log" --region second:1M "$MNT"
	grep -qF -- "$want" "$WORK/err" || bad "second regionfs, stderr: $(cat "$WORK/err")"
	grep -qF -- "$want" "$WORK/second.log" ||
		bad "second regionfs, its -o log file: $(cat "$WORK/second.log")"
	if [ -S /dev/log ]; then
		skip_part "kept log of a refused start" "a syslog listens on /dev/log: no file is kept"
	elif [ -z "$KEPT_DIR" ]; then
		skip_part "kept log of a refused start" "systemd-escape missing"
	else
		kept=$(kept_log "$MNT")
		refused_start --region third:1M "$MNT"
		grep -qF -- "$want" "$WORK/err" || bad "third regionfs, stderr: $(cat "$WORK/err")"
		grep -qF -- "$want" "$kept" 2>/dev/null ||
			bad "third regionfs: the refusal is not in $kept: $(cat "$kept" 2>&1)"
	fi
	expect_eq "mounts at MNT" "$(awk -v t="$MNT" '$2 == t' /proc/self/mounts | wc -l)" 1
	expect_eq "the first sandbox's regions" "$(ls_regions)" "first "
	expect_eq "first/mem_size" "$(cat "$MNT/first/mem_size")" 1048576
	stop_daemon
}

# Two regionfs started at once on one mount point: one mounts, the other
# is refused, never both stacked (the check and the mount are one step
# for whoever else starts there).  A few rounds: the window is a race.
check_concurrent_starts() {
	local dir rc_a rc_b n pid_a pid_b
	for round in 1 2 3 4 5; do
		dir=$WORK/both$round
		mkdir "$dir"
		rc_a=0 rc_b=0
		timeout 20 "$REGIONFS" -o "log=$WORK/both$round.a.log" --region a:1M "$dir" 2>/dev/null &
		pid_a=$!
		timeout 20 "$REGIONFS" -o "log=$WORK/both$round.b.log" --region b:1M "$dir" 2>/dev/null &
		pid_b=$!
		wait "$pid_a" || rc_a=$?
		wait "$pid_b" || rc_b=$?
		n=$(awk -v t="$dir" '$2 == t' /proc/self/mounts | wc -l)
		expect_eq "round $round: mounts after two starts at once" "$n" 1
		[ $((rc_a == 0)) -ne $((rc_b == 0)) ] ||
			bad "round $round: two starts at once exit $rc_a and $rc_b, want one 0"
		while mountpoint -q "$dir"; do
			fusermount3 -u -z "$dir" || break
		done
	done
}

# A mountpoint that holds files is mounted over (as every FUSE mount), and
# the log says so; the files are back after the unmount.
check_nonempty_mountpoint() {
	local dir=$WORK/nonempty
	mkdir "$dir"
	echo kept >"$dir/a-file"
	start_daemon_at "$dir" --region r:1M
	log_has "mountpoint $dir is not empty \(it holds a-file, ...\)" ||
		bad "no 'not empty' line in the log: $(cat "$LOG")"
	expect_eq "regions over a non-empty mountpoint" "$(ls_regions)" "r "
	stop_daemon
	expect_eq "the file, after the unmount" "$(cat "$dir/a-file")" kept
}

# Without -o log= and without syslog, the log is kept in a file that the
# first line names, and that outlives the daemon: its lines from start to
# unmount, and a start refused after the fork (a bad --from) is there too,
# as on stderr.
check_kept_log() {
	local dir=$WORK/kept kept pid
	if [ -S /dev/log ]; then
		skip_part "kept log" "a syslog listens on /dev/log: no file is kept"
		return
	fi
	[ -n "$KEPT_DIR" ] || { skip_part "kept log" "systemd-escape missing"; return; }
	mkdir "$dir"
	kept=$(kept_log "$dir")
	timeout 20 "$REGIONFS" --region k:1M "$dir" 2>"$WORK/err" ||
		fail "regionfs without -o log= did not start: $(cat "$WORK/err")"
	pid=$(sed -n 's/.* regionfs\[\([0-9]*\)\]: mounted at .*/\1/p' "$kept" | tail -n 1)
	[ -n "$pid" ] || fail "no 'mounted at' line in $kept: $(cat "$kept" 2>&1)"
	grep -qF "log: to $kept (kept after the daemon ends" "$kept" ||
		bad "the log's line on where it goes does not name $kept: $(grep 'log: to' "$kept")"
	fusermount3 -u "$dir" || fail "fusermount3 -u $dir failed"
	for _ in $(seq 100); do
		[ -d "/proc/$pid" ] || break
		sleep 0.1
	done
	[ ! -d "/proc/$pid" ] || fail "the daemon $pid runs on 10 s after the unmount"
	grep -q "regionfs\[$pid\]: unmounted$" "$kept" ||
		bad "the kept log has no 'unmounted' line after the daemon ended: $(cat "$kept")"
	refused_start "${NO_KVM[@]}" --from "$WORK/no-such-snapshot" "$dir"
	grep -qF -- "--from $WORK/no-such-snapshot: " "$WORK/err" ||
		bad "a refused --from: stderr '$(cat "$WORK/err")' does not say why"
	grep -qF -- "--from $WORK/no-such-snapshot: " "$kept" ||
		bad "a refused --from is not in the kept log: $(tail -n 3 "$kept")"
}

# A daemon killed before its mount was ready (here while it waits to read
# its guest from a FIFO; the OOM killer would do the same) cannot say why
# itself: the command says it, on stderr and in the log file, and exits 1.
check_killed_start() {
	local dir=$WORK/killed fifo=$WORK/guest.fifo cmd child=
	if ! have_kvm; then
		skip_part "killed start" "no usable /dev/kvm: no guest to load"
		return
	fi
	mkdir "$dir"
	mkfifo "$fifo"
	timeout 20 "$REGIONFS" --region ram:1M@0x100000 --guest "$fifo" \
		-o "log=$WORK/killed.log" "$dir" >"$WORK/out" 2>"$WORK/err" &
	cmd=$!
	# timeout's child is the command; the command's child, once it has
	# forked, is the daemon (matched by parentage, not by age: a slow
	# sanitizer build may not have forked yet when both others run).
	local start=
	for _ in $(seq 200); do
		[ -n "$start" ] || start=$(pgrep -P "$cmd" -f -- "--guest $fifo")
		[ -n "$start" ] && child=$(pgrep -P "$start" -f -- "--guest $fifo") && break
		sleep 0.1
	done
	[ -n "$child" ] || fail "no daemon forked for the killed start"
	kill -KILL "$child"
	if wait "$cmd"; then
		bad "a start whose daemon was killed: exit 0"
	fi
	grep -qF "the daemon (pid $child) was killed by signal 9" "$WORK/err" ||
		bad "a killed start, stderr: $(cat "$WORK/err")"
	grep -qF "the daemon (pid $child) was killed by signal 9" "$WORK/killed.log" ||
		bad "a killed start, its log file: $(cat "$WORK/killed.log")"
	if mountpoint -q "$dir"; then
		bad "a killed start left $dir mounted"
	fi
}

start_daemon --region ram:16M --region rom:64K
check_tree
check_modes ram
check_modes rom
check_values ram 16777216
check_values rom 65536
stop_daemon

check_bad_command_lines
check_kill9
check_live_mountpoint
check_concurrent_starts
check_nonempty_mountpoint
check_kept_log
check_killed_start
finish
