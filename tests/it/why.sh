#!/bin/bash
# why: the last refusal made to any process of the reader's session (ps -o
# sid), one line, so the shell that was refused says why without reading
# everyone's log: `echo nope > MOUNT/restore || cat MOUNT/why`.  Each case
# runs in a session of its own (setsid): a session reads its own reason,
# never another's; with nothing refused it reads empty, exit 0; and the
# table of sessions stays bounded (64, the oldest refusal goes first).
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"
command -v setsid >/dev/null || skip "setsid (util-linux) missing"

# in_session SCRIPT: bash -c SCRIPT in a session of its own, MNT and WORK
# in its environment; its output.
in_session() {
	MNT=$MNT WORK=$WORK setsid -w bash -c "$1"
}

# refused N: N more refusal lines the log must hold (log_clean).
refused() {
	REFUSALS=$((REFUSALS + $1))
}

start_daemon "${NO_KVM[@]}" --region a:1M

say "nothing refused: why reads empty, exit 0, like log's mode"
out=$(in_session 'cat "$MNT/why"') || bad "cat why failed"
expect_eq "why with no refusal" "$out" ""
expect_eq "why's mode" "$(stat -c %A "$MNT/why")" "-r--------"
expect_eq "why's size" "$(stat -c %s "$MNT/why")" 0

say "echo nope > restore || cat why"
want="restore: write 'nope' refused: no snapshot of that name (No such file or directory)"
out=$(in_session 'echo nope >"$MNT/restore" 2>/dev/null || cat "$MNT/why"')
refused 1
expect_eq "why after a refused restore" "$out" "$want"
grep -qF "$want" "$LOG" || bad "the log has no line '$want'"
expect_eq "why read by another session" "$(in_session 'cat "$MNT/why"')" ""

say "a child's refusal is its session's; one line whatever was written"
out=$(in_session 'python3 "$WORK/errno_of.py" write "$MNT/a/access" "$(printf "r\nw")" >/dev/null
	cat "$MNT/why"')
refused 1
expect_eq "why after a child's refusal" "$out" \
	"a/access: write 'r\\x0aw' refused: access is \"rw\" or \"ro\" (Invalid argument)"
out=$(in_session 'mkdir "$MNT/snapshots/x" 2>/dev/null || cat "$MNT/why"')
refused 1
expect_eq "why after a refused mkdir" "$out" \
	"mkdir x refused: write the name to snapshot to take one"

say "a refused truncate or read is said too (every refused operation)"
out=$(in_session 'truncate -s 2M "$MNT/a/contents" 2>/dev/null || cat "$MNT/why"')
refused 1
expect_eq "why after a truncate past mem_size" "$out" \
	"a/contents: truncate to 2097152 refused: past mem_size 1048576 (write mem_size to resize)"
out=$(in_session 'truncate -s 5 "$MNT/a/zero" 2>/dev/null || cat "$MNT/why"')
refused 1
expect_eq "why after a truncate of a control file" "$out" \
	"a/zero: truncate to 5 refused: attribute files take O_TRUNC only"
# The owner's chmod is accepted and ignored (vfat's quiet): no refusal,
# so a fresh session's why stays empty (and both commands succeed).
out=$(in_session 'chmod 777 "$MNT/a/zero" && cat "$MNT/why" && echo done')
expect_eq "why after the owner's ignored chmod" "$out" "done"

# held_session: a session, in the background (its pid in HELD), refused
# a restore of nope; it reads why once $WORK/go exists, into $WORK/held.
held_session() {
	rm -f "$WORK/go" "$WORK/refused"
	in_session 'echo nope >"$MNT/restore" 2>/dev/null; touch "$WORK/refused"
		for _ in $(seq 300); do [ -e "$WORK/go" ] && break; sleep 0.1; done
		cat "$MNT/why"' >"$WORK/held" &
	HELD=$!
	wait_for test -e "$WORK/refused" || bad "the held session was not refused"
	refused 1
}

# held_read: the held session reads why now, into $WORK/held.
held_read() {
	touch "$WORK/go"
	wait "$HELD" || bad "the held session failed"
}

say "two sessions at once: each reads its own"
held_session
out=$(in_session 'echo sideways >"$MNT/vcpu" 2>/dev/null || cat "$MNT/why"')
refused 1
expect_eq "the second session's why" "$out" \
	"vcpu: write 'sideways' refused: write run, pause or stop"
held_read
expect_eq "the first session's why, after the second's refusal" "$(cat "$WORK/held")" "$want"

say "bounded: 64 sessions, the oldest refusal gives way"
held_session
for _ in $(seq 64); do
	in_session 'echo nope >"$MNT/restore" 2>/dev/null || true'
done
refused 64
held_read
expect_eq "why of a session 64 others came after" "$(cat "$WORK/held")" ""

# A session id is a pid: once every process of a session is gone, a new
# session may get the same number.  It must not read the old one's
# refusal.  In a pid namespace of its own (daemon and sessions), where
# ns_last_pid hands out the number again at once.
reused_sid() {
	local mnt
	mnt=$(mktemp -d -p "$WORK" mnt.XXXXXX)
	REGIONFS=$REGIONFS WORK=$WORK M=$mnt unshare -pf --mount-proc bash -c '
		"$REGIONFS" -o "kvm=$WORK/no-kvm" --region a:1M "$M" || exit 1
		setsid -w bash -c "echo \$\$ >\"$WORK/old-sid\"
			echo nope >\"$M/restore\" 2>/dev/null || true"
		# Start times are in clock ticks (10 ms): a real reuse comes
		# after the pid space wrapped, never within one tick.
		sleep 0.1
		echo $(($(cat "$WORK/old-sid") - 1)) >/proc/sys/kernel/ns_last_pid
		setsid -w bash -c "echo \$\$ >\"$WORK/new-sid\"
			cat \"$M/why\"" >"$WORK/reused"
		fusermount3 -u "$M"' || bad "the pid namespace case failed"
	expect_eq "the new session got the old one's sid" \
		"$(cat "$WORK/new-sid")" "$(cat "$WORK/old-sid")"
	expect_eq "why of a new session with an old one's sid" \
		"$(cat "$WORK/reused")" ""
}
if unshare -pf --mount-proc true 2>/dev/null &&
	[ -w /proc/sys/kernel/ns_last_pid ]; then
	say "a session id used again: the new session reads none of the old's"
	reused_sid
else
	skip_part "reused sid" "no pid namespaces (unshare -p) here"
fi

finish
