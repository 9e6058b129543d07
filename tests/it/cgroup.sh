#!/bin/bash
# The default max_snapshot_total is half the memory the daemon may have:
# the host's RAM or its cgroup's limit, whichever is lower.  In a 512 MiB
# memory cgroup (v2's memory.max, or v1's memory.limit_in_bytes where
# the memory controller is v1's), a snapshot of a 1 GiB region holding
# 300 MiB is refused with ENOSPC and a log line, and the daemon lives;
# with the host's RAM as the default, the copy got it OOM-killed.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "not root: cannot make a cgroup"

if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null &&
	grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
	CG=/sys/fs/cgroup/regionfs-test-$$
	LIMIT_FILE=memory.max
elif [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
	CG=/sys/fs/cgroup/memory/regionfs-test-$$
	LIMIT_FILE=memory.limit_in_bytes
else
	skip "no memory cgroup controller to limit the daemon with"
fi

# The daemon goes before its cgroup can: then lib.sh's cleanup.
cgroup_cleanup() {
	local rc=$?
	set +e
	if daemon_alive; then
		fusermount3 -u -z "$MNT"
		kill "$DAEMON_PID"
		for _ in $(seq 50); do
			daemon_alive || break
			sleep 0.1
		done
	fi
	# A process the OOM killer took may take a moment to leave it.
	for _ in $(seq 50); do
		[ -d "$CG" ] || break
		rmdir "$CG" 2>/dev/null || sleep 0.1
	done
	(exit "$rc")
	cleanup
}
trap cgroup_cleanup EXIT

mkdir "$CG" || skip "cannot make the cgroup $CG"
echo 512M >"$CG/$LIMIT_FILE" || fail "cannot limit $CG to 512M"

# regionfs, started in the cgroup (it stays there once it forks).
cat >"$WORK/in-cgroup" <<EOF
#!/bin/bash
echo \$\$ >"$CG/cgroup.procs" || exit 1
exec "$REGIONFS" "\$@"
EOF
chmod +x "$WORK/in-cgroup"

say "a 1 GiB region in a 512 MiB cgroup: the snapshot is refused, not OOM-killed"
# no_passthrough: the daemon writes the bytes, so its cgroup holds them.
REGIONFS=$WORK/in-cgroup start_daemon "${NO_KVM[@]}" -o no_passthrough --region big:1G
grep -qx "$DAEMON_PID" "$CG/cgroup.procs" || bad "the daemon is not in $CG"
{ yes regionfs || true; } | head -c $((300 * 1024 * 1024)) | dd of="$MNT/big/contents" bs=1M conv=notrunc iflag=fullblock status=none ||
	bad "writing 300 MiB failed"
expect_errno ENOSPC write "$MNT/snapshot" s
log_has 'max_snapshot_total' || bad "the log does not say which limit refused it"
daemon_alive || bad "the daemon died"
expect_eq "snapshots" "$(ls_sorted "$MNT/snapshots")" ""
stop_daemon
rmdir "$CG" || bad "cannot remove $CG"
finish
