#!/bin/bash
# mount(8) as operators use it, with regionfs installed: mount -t
# fuse.regionfs, a temporary fstab (mount -T FILE MOUNTPOINT, mount -T FILE
# -a, twice: the second sees it mounted), umount ends the daemon, and bad
# options in fstab are refused with the daemon's message and a non-zero
# status.  mount.fuse3 runs "regionfs SOURCE MOUNTPOINT -o OPTIONS".
# shellcheck source=tests/it/installed.sh
. "$(dirname "$0")/installed.sh"

command -v mount.fuse3 >/dev/null || [ -x /sbin/mount.fuse3 ] ||
	skip "mount.fuse3 (Debian: fuse3) missing"

# The daemon of the regionfs mounted at MNT, from its log (log= in the
# options, as the daemon detaches), as start_daemon_at has it.
adopt_daemon() {
	DAEMON_PID=$(sed -n 's/.* regionfs\[\([0-9]*\)\]: mounted at .*/\1/p' "$LOG" | tail -n 1)
	[ -n "$DAEMON_PID" ] || fail "no 'mounted at' line in the log: $(cat "$LOG")"
	mountpoint -q "$MNT" || fail "$MNT not mounted after mount returned 0"
}

# Mounts at MNT as /proc/self/mountinfo has them: "SOURCE FSTYPE" lines.
mounts_at() {
	awk -v mnt="$MNT" '$5 == mnt {
		for (i = 7; $i != "-"; i++) ;
		print $(i + 2), $(i + 1)
	}' /proc/self/mountinfo | sort
}

# umount MNT: the mount goes, and so does its daemon (within 10 s), having
# logged only what the test expected.
umount_daemon() {
	daemon_alive || fail "the daemon (pid $DAEMON_PID) died during the test"
	umount "$MNT" || fail "umount $MNT failed"
	for _ in $(seq 100); do
		daemon_alive || break
		sleep 0.1
	done
	daemon_alive && fail "the daemon still runs 10 s after umount"
	mountpoint -q "$MNT" && fail "$MNT still mounted after umount"
	log_has ': unmounted$' || bad "the daemon did not log its clean exit"
	log_clean
	DAEMON_PID=
}

# expect_mount_fails PATTERN MOUNT-ARGS...: mount exits non-zero, its
# stderr (the daemon's message) matches PATTERN, nothing is mounted.
expect_mount_fails() {
	local pattern=$1 rc=0
	shift
	timeout 30 mount "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
	[ "$rc" -ne 0 ] || bad "mount $*: exit 0, want a failure"
	grep -qE -- "$pattern" "$WORK/err" ||
		bad "mount $*: stderr '$(cat "$WORK/err")' does not match /$pattern/"
	if mountpoint -q "$MNT"; then
		bad "mount $*: left $MNT mounted"
		umount -l "$MNT" || true
	fi
}

# mount(8) takes a SOURCE that names a file in the current directory for
# that file (the build's regionfs, under meson test): not here.
cd "$WORK" || fail "cd $WORK"
MNT=$(mktemp -d -p "$WORK" mnt.XXXXXX)
LOG=$WORK/daemon.log
if have_kvm; then
	# Regions mapped into the guest, and the demo (its own ram and heartbeat;
	# boot holds the page tables of any guest).
	regions=region=scratch:16M@0x1000000,demo
	want="boot heartbeat ram scratch "
	guest_opts=region=ram:64M@0x100000,guest=$GUESTS_DIR/reporter.elf
	guest_want="boot ram "
else
	skip_part "mapped regions, demo and guest" "/dev/kvm missing: no mapped region, no demo, no guest below"
	regions=region=scratch:16M,region=more:1M
	want="more scratch "
	guest_opts=region=ram:64M
	guest_want="ram "
fi

# --- mount -t fuse.regionfs ---------------------------------------------------
: >"$LOG"
REFUSALS=0
mount -t fuse.regionfs regionfs "$MNT" -o "$regions,reader_gid=2000,log=$LOG" ||
	fail "mount -t fuse.regionfs regionfs MNT -o $regions,reader_gid=2000 failed"
adopt_daemon
expect_eq "mounts at MNT" "$(mounts_at)" "regionfs fuse.regionfs"
expect_eq "regions" "$(ls_regions)" "$want"
expect_eq "scratch/contents: mode and group (reader_gid)" \
	"$(stat -c '%a %g' "$MNT/scratch/contents")" "640 2000"
if have_kvm; then
	expect_eq "scratch/guest_addr" "$(attr scratch guest_addr)" 0x1000000
	wait_for grep -q . "$MNT/console" || bad "the demo printed nothing on console"
	expect_eq "vcpu" "$(cat "$MNT/vcpu")" running
fi
umount_daemon

# --- fstab ----------------------------------------------------------------------
FSTAB=$WORK/fstab
printf '# a temporary fstab for mount -T\nregionfs %s fuse.regionfs %s,nofail,log=%s 0 0\n' \
	"$MNT" "$guest_opts" "$LOG" >"$FSTAB"
: >"$LOG"
mount -T "$FSTAB" "$MNT" || fail "mount -T FSTAB MNT failed: $(cat "$FSTAB")"
adopt_daemon
expect_eq "regions from fstab" "$(ls_regions)" "$guest_want"
expect_eq "ram/mem_size" "$(attr ram mem_size)" $((64 << 20))
if have_kvm; then
	# reporter prints the first bytes of its data, in hex, again and again.
	wait_for grep -q '^[0-9a-f]\{32\}$' "$MNT/console" ||
		bad "the guest from fstab printed nothing on console"
fi
# mount -a: the line is mounted already (same source, type and target),
# so nothing happens, and certainly no second sandbox over the first.
mount -T "$FSTAB" -a || bad "mount -T FSTAB -a with the line mounted: exit $?"
expect_eq "mounts at MNT after mount -a" "$(mounts_at)" "regionfs fuse.regionfs"
umount_daemon
# And mount -a mounts it when it is not.
: >"$LOG"
mount -T "$FSTAB" -a || fail "mount -T FSTAB -a failed"
adopt_daemon
expect_eq "regions after mount -a" "$(ls_regions)" "$guest_want"
umount_daemon

# A SOURCE of its own names the mount, and -a sees it as mounted.
sed -i "s|^regionfs |sandbox-a |" "$FSTAB"
: >"$LOG"
mount -T "$FSTAB" -a || fail "mount -T FSTAB -a (source sandbox-a) failed"
adopt_daemon
mount -T "$FSTAB" -a || bad "second mount -a (source sandbox-a): exit $?"
expect_eq "mounts at MNT (source sandbox-a)" "$(mounts_at)" "sandbox-a fuse.regionfs"
umount_daemon

# --- bad options in fstab: refused, with the daemon's message -----------------
bad_line() {
	printf 'regionfs %s fuse.regionfs %s 0 0\n' "$MNT" "$1" >"$FSTAB"
}
bad_line "region=ram,nofail"
expect_mount_fails 'region=ram: expected NAME:SIZE' -T "$FSTAB" "$MNT"
bad_line "region=ram:64M,bogus"
expect_mount_fails "unknown option.*bogus" -T "$FSTAB" "$MNT"
bad_line "region=ram:64M,default_size=0"
expect_mount_fails 'default_size=0: not a size' -T "$FSTAB" "$MNT"
bad_line "conf=$WORK/nope.conf"
expect_mount_fails "conf=$WORK/nope.conf: No such file" -T "$FSTAB" "$MNT"
printf 'region=ram:64M\nregion=x:\n' >"$WORK/bad.conf"
bad_line "conf=$WORK/bad.conf"
expect_mount_fails "bad.conf:2: region=x:: expected" -T "$FSTAB" "$MNT"
if have_kvm; then
	bad_line "region=ram:64M@0x100000,demo"
	expect_mount_fails 'region ram: --demo .* brings its own ram' -T "$FSTAB" "$MNT"
fi
expect_mount_fails 'region=a:0: expected' -t fuse.regionfs regionfs "$MNT" -o region=a:0
# A source that cannot name a mount.
expect_mount_fails "source 'a,b'" -t fuse.regionfs 'a,b' "$MNT" -o region=a:1M
finish
