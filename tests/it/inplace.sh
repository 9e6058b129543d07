#!/bin/bash
# Loads into a region with the tools that keep attributes: rsync -a
# --inplace and cp -a write exactly the image (zeros after it) and exit
# 0: the owner's chmod, chown and utimens that a region's file cannot
# honour are accepted and ignored, one log line each, nothing changed.
# Plain rsync -a (a temporary file, then a rename) fails having written
# nothing.  Another uid's chmod, chown and utimens are EPERM.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

for t in rsync setpriv; do
	command -v "$t" >/dev/null || skip "$t missing"
done
OTHER=65534

# A 300 KiB image, mode 0644, an hour old: what rsync and cp carry over.
head -c $((300 << 10)) /dev/urandom >"$WORK/img"
chmod 0644 "$WORK/img"
touch -d '-1 hour' "$WORK/img"

fill() {
	fill_with a A
}

expect_load() {
	expect_image "$1" a "$WORK/img"
}

# attrs PATH: what chmod and chown would change.
attrs() {
	stat -c '%a %u %g' "$1"
}

# ignored WHAT CMD...: CMD exits 0, the log gains only lines saying
# what was ignored (at least one), and the attributes of a/contents and
# a/kind stay.
ignored() {
	local what=$1 l0 l1 before
	shift
	before="$(attrs "$MNT/a/contents") $(attrs "$MNT/a/kind")"
	read -r l0 _ < <(log_counts)
	"$@" || bad "$what: exit $?, want 0"
	read -r l1 _ < <(log_counts)
	[ "$l1" -gt "$l0" ] || bad "$what: no log line says what was ignored"
	if tail -n $((l1 - l0)) "$LOG" | grep -v ' ignored (owners, modes and times are the mount' >"$WORK/other"; then
		bad "$what: other log lines: $(cat "$WORK/other")"
	fi
	expect_eq "$what: attributes" "$(attrs "$MNT/a/contents") $(attrs "$MNT/a/kind")" "$before"
}

start_daemon "${NO_KVM[@]}" --region a:1M

say "rsync -a --inplace and cp -a load exactly and exit 0"
fill
ignored "rsync -a --inplace" rsync -a --inplace "$WORK/img" "$MNT/a/contents"
expect_load "rsync -a --inplace"
fill
ignored "cp -a" cp -a "$WORK/img" "$MNT/a/contents"
expect_load "cp -a"
# One line for a chmod, naming the file and what was asked.
ignored "chmod" chmod 0644 "$MNT/a/contents"
last_log_line | grep -q 'a/contents: mode 0644 ignored (owners, modes and times' ||
	bad "chmod: the log line: $(last_log_line)"
ignored "chown" chown 1:1 "$MNT/a/kind"
ignored "touch -d" touch -d '-2 hours' "$MNT/a/contents"
[ "$(stat -c %Y "$MNT/a/contents")" -gt $(($(date +%s) - 3600)) ] ||
	bad "touch -d: the mtime moved back: it says when the memory changed"
ignored "chmod of the region's directory" chmod 0700 "$MNT/a"
expect_eq "mode of a/" "$(stat -c %a "$MNT/a")" 755

say "plain rsync -a fails before writing anything"
fill
before=$(snapshot a)
rc=0
rsync -a "$WORK/img" "$MNT/a/contents" 2>"$WORK/rsync.err" || rc=$?
[ "$rc" -ne 0 ] || bad "plain rsync -a: exit 0, want a failure"
expect_eq "state after plain rsync -a" "$(snapshot a)" "$before"
REFUSALS=$(refusals_logged)	# its create, refused: as many as it tried
log_has 'create \.contents\.[A-Za-z0-9]* refused: .*rsync --inplace' ||
	bad "plain rsync -a: the log does not say to use --inplace"

say "another uid: chmod, chown and utimens are EPERM, nothing changes"
before="$(attrs "$MNT/a/contents") $(attrs "$MNT/a/kind")"
other() {
	setpriv --reuid=$OTHER --regid=$OTHER --clear-groups "$PYTHON" -S "$WORK/errno_of.py" "$@"
}
expect_eq "other uid: chmod contents" "$(other chmod "$MNT/a/contents" 644)" EPERM
expect_eq "other uid: chmod kind" "$(other chmod "$MNT/a/kind" 666)" EPERM
expect_eq "other uid: chown kind" "$(other chown "$MNT/a/kind" $OTHER $OTHER)" EPERM
expect_eq "other uid: utime kind" "$(setpriv --reuid=$OTHER --regid=$OTHER --clear-groups "$PYTHON" -S -c '
import errno, os, sys
try:
    os.utime(sys.argv[1], (1, 1)); print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])' "$MNT/a/kind")" EPERM
expect_eq "attributes after the other uid" "$(attrs "$MNT/a/contents") $(attrs "$MNT/a/kind")" "$before"
finish
