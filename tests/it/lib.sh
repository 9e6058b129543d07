# shellcheck shell=bash
# Shared by the integration tests: each starts the same way,
#
#	#!/bin/bash
#	# What it tests...
#	# shellcheck source=tests/it/lib.sh
#	. "$(dirname "$0")/lib.sh"
#
# starts the real daemon with start_daemon (or start_daemon_at) on a
# mktemp -d mountpoint, drives it with standard tools, and ends with
# finish: the daemon is alive, its log holds exactly the refusals the test
# caused, and it unmounts cleanly.  A start that must fail goes through
# expect_start_fails.  Environment: REGIONFS (the binary), GUESTS_DIR (the
# test guests' ELF files, for the tests that run one).
#
# Results, as meson and scripts/test count them: exit 0 passed, 77
# skipped (after a line "skip: WHY"), anything else failed.  A test that
# cannot run one of its parts here (no usable /dev/kvm) says so with
# skip_part, one line "skip: PART: WHY" that scripts/test counts as a skip
# of its own, "NAME (PART)", beside the test's pass.
set -euo pipefail

TEST_NAME=$(basename "$0" .sh)
FAILURES=0

say() { printf '%s: %s\n' "$TEST_NAME" "$*"; }

# Exit 77: meson counts the test as skipped, never as passed.  After a
# failed check (bad) it is a failure: a skip must not hide what went wrong
# before it.
skip() {
	if [ "${FAILURES:-0}" -gt 0 ]; then
		printf '%s: FAIL: %s check(s) failed before a skip (%s)\n' \
			"$TEST_NAME" "$FAILURES" "$*" >&2
		exit 1
	fi
	printf 'skip: %s\n' "$*"
	exit 77
}

# skip_part PART WHY: a part of the test that does not run here; the rest
# does.  Never silent: scripts/test counts the line as one skip.
SKIPPED_PARTS=0
skip_part() {
	local part=$1
	shift
	printf 'skip: %s: %s\n' "$part" "$*"
	SKIPPED_PARTS=$((SKIPPED_PARTS + 1))
}

# Fatal: what follows cannot run meaningfully.
fail() {
	printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2
	exit 1
}

# Non-fatal: record it and go on, so one bug does not hide the next.
# finish exits 1 when any was recorded.
bad() {
	printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2
	FAILURES=$((FAILURES + 1))
}

# expect_eq WHAT GOT WANT
expect_eq() {
	[ "$2" = "$3" ] || bad "$1: got '$2', want '$3'"
}

# A read a check depends on must succeed: "$(cmd)" loses cmd's status, and
# a failed read prints nothing, which is what a check of an empty file or
# of "0 bytes" wants.  These print, instead of a failed command's output,
# a value no check expects ("<CMD failed: exit N>"), and return its status.
#
# must CMD...: CMD's output (trailing newlines kept out, as "$(...)" does).
must() {
	local out rc=0
	out=$("$@") || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '<%s failed: exit %d>\n' "$(describe "$@")" "$rc"
		return "$rc"
	fi
	printf '%s\n' "$out"
}

# nbytes CMD...: the number of bytes CMD writes to stdout.
nbytes() {
	local rc=0 n
	n=$("$@" | wc -c; exit "${PIPESTATUS[0]}") || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '<%s failed: exit %d>\n' "$(describe "$@")" "$rc"
		return "$rc"
	fi
	echo "$n"
}

# nonzero_bytes CMD...: the number of bytes other than NUL CMD writes.
nonzero_bytes() {
	local rc=0 n
	n=$("$@" | tr -d '\0' | wc -c; exit "${PIPESTATUS[0]}") || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '<%s failed: exit %d>\n' "$(describe "$@")" "$rc"
		return "$rc"
	fi
	echo "$n"
}

[ -c /dev/fuse ] || skip "/dev/fuse missing"
[ "$(id -u)" = 0 ] || skip "not root (FUSE passthrough and allow_other need it)"
command -v fusermount3 >/dev/null || skip "fusermount3 missing"
command -v mountpoint >/dev/null || skip "mountpoint (util-linux) missing"
command -v python3 >/dev/null || skip "python3 missing (exact errnos)"
: "${REGIONFS:?REGIONFS must name the regionfs binary}"
[ -x "$REGIONFS" ] || fail "REGIONFS=$REGIONFS is not executable"

# The interpreter itself, once: a version manager's shim can take half a
# second per start, and the tests start python for every exact errno.
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
py() {
	"$PYTHON" -S "$@"
}

# shellcheck disable=SC2034  # used by the tests that source this
PAGE=$(getconf PAGESIZE)
WORK=$(mktemp -d -t "regionfs-it-$TEST_NAME.XXXXXX")
# Tests that act as another uid need to reach the mountpoints and helpers.
chmod 755 "$WORK"

# The current daemon: one at a time, started by start_daemon.
MNT=
LOG=
DAEMON_PID=
REFUSALS=0	# refusal lines the test expects in LOG
# The lines a log may hold besides refusals (an ERE; a test may add its own).
LOG_NOTICES=': no KVM \(|: mounted at |: log: to |: guest: |: contents read path: |: unmounted$|: mountpoint .* is not empty '
# The owner's chmod, chown and utimens, accepted and ignored (tree.c).
LOG_NOTICES+='| ignored \(owners, modes and times are the mount'
# What another uid's rate-limited lines dropped (fs/lograte.h).
LOG_NOTICES+='|: uid [0-9]+: [0-9]+ lines dropped \(rate limit|: uids no longer tracked: '
# A clear that leaves dirty whole for a writer it cannot see (mmap_rw).
LOG_NOTICES+='|/dirty: cleared, but it still counts every page as written: '
# --from: a region copied rather than mapped copy-on-write, and why.
LOG_NOTICES+='|: copied, not mapped copy-on-write: |: --from: checked: '

# have_kvm: /dev/kvm can be opened, so the daemon has a VM.  The one probe
# every script uses.
# shellcheck source=scripts/kvm.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/kvm.sh"

# NO_KVM: daemon options for a sandbox without a VM on any machine, usable
# /dev/kvm or not: a KVM device that does not exist.
# shellcheck disable=SC2034  # used by the tests that source this
NO_KVM=(-o "kvm=$WORK/no-kvm")

# ---------------------------------------------------------------------------
# errno_of OP ARGS...: run one system call and print OK, SHORT:N (a write
# that moved N bytes, fewer than asked) or the errno name (EINVAL, ...).
# Standard tools only print strerror text; this is exact.
cat >"$WORK/errno_of.py" <<'EOF'
import errno, os, sys

def data(s):
    return s.encode('utf-8', 'surrogateescape')

def write(path, buf, off=None, flags=os.O_WRONLY | os.O_TRUNC):
    fd = os.open(path, flags)
    try:
        n = os.write(fd, buf) if off is None else os.pwrite(fd, buf, off)
    finally:
        os.close(fd)
    return 'OK' if n == len(buf) else 'SHORT:%d' % n

op, a = sys.argv[1], sys.argv[2:]
try:
    if op == 'write':	# PATH DATA: what the shell's "printf %s DATA > PATH" does
        print(write(a[0], data(a[1])))
    elif op == 'pwrite':	# PATH DATA OFF: no O_TRUNC, at an offset
        print(write(a[0], data(a[1]), int(a[2], 0), os.O_WRONLY))
    elif op == 'rwpwrite':	# PATH DATA OFF: pwrite on an O_RDWR open
        print(write(a[0], data(a[1]), int(a[2], 0), os.O_RDWR))
    elif op == 'fill':	# PATH BYTE OFF LEN: LEN bytes of hex BYTE at OFF, O_WRONLY
        print(write(a[0], bytes([int(a[1], 16)]) * int(a[3], 0), int(a[2], 0),
                    os.O_WRONLY))
    elif op == 'read':	# PATH: open for reading and read it all
        fd = os.open(a[0], os.O_RDONLY)
        try:
            while os.read(fd, 1 << 20):
                pass
        finally:
            os.close(fd)
        print('OK')
    elif op == 'seek':	# PATH OFF data|hole: print the offset found
        fd = os.open(a[0], os.O_RDONLY)
        try:
            how = os.SEEK_DATA if a[2] == 'data' else os.SEEK_HOLE
            print(os.lseek(fd, int(a[1], 0), how))
        finally:
            os.close(fd)
    elif op == 'mkdir':
        os.mkdir(a[0]); print('OK')
    elif op == 'rmdir':
        os.rmdir(a[0]); print('OK')
    elif op == 'unlink':
        os.unlink(a[0]); print('OK')
    elif op == 'rename':
        os.rename(a[0], a[1]); print('OK')
    elif op == 'create':
        os.close(os.open(a[0], os.O_WRONLY | os.O_CREAT, 0o644)); print('OK')
    elif op == 'symlink':
        os.symlink('target', a[0]); print('OK')
    elif op == 'link':
        os.link(a[0], a[0] + '.link'); print('OK')
    elif op == 'mknod':
        os.mknod(a[0], 0o644); print('OK')
    elif op == 'chmod':
        os.chmod(a[0], int(a[1], 8)); print('OK')
    elif op == 'chown':
        os.chown(a[0], int(a[1]), int(a[2])); print('OK')
    elif op == 'truncate':
        os.truncate(a[0], int(a[1], 0)); print('OK')
    elif op == 'stat':
        os.stat(a[0]); print('OK')
    elif op == 'rwtrunc':	# PATH: open O_RDWR|O_TRUNC, close
        os.close(os.open(a[0], os.O_RDWR | os.O_TRUNC)); print('OK')
    else:
        sys.exit('errno_of: unknown op ' + op)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF

errno_of() {
	py "$WORK/errno_of.py" "$@"
}

# log_counts: the number of log lines, then of refusal lines.  "contents
# read path: ... refused the backing file" is a notice about the read
# path, not a refused operation.  Plain bash: the tests count before and
# after every operation, and starting a process costs more than the count.
log_counts() {
	local lines l n=0
	mapfile -t lines <"$LOG"
	for l in "${lines[@]}"; do
		[[ $l == *" refused: "* && $l != *"contents read path:"* ]] && n=$((n + 1))
	done
	echo "${#lines[@]} $n"
}

refusals_logged() {
	local n
	read -r _ n < <(log_counts)
	echo "$n"
}

last_log_line() {
	local lines
	mapfile -t lines <"$LOG"
	[ "${#lines[@]}" -eq 0 ] || printf '%s\n' "${lines[-1]}"
}

log_has() {
	grep -qE -- "$1" "$LOG"
}

# describe CMD...: a short, quoted form of a command for messages.
describe() {
	local what
	what=$(printf '%q ' "$@")
	what=${what//"$MNT"/MNT}
	printf '%s\n' "${what:0:100}"
}

# expect_errno WANT OP ARGS...: a refusal the daemon makes, so exactly one
# new log line, a refusal saying why (checked here, and counted for
# log_clean).
expect_errno() {
	local want=$1 got l0 n0 l1 n1
	shift
	read -r l0 n0 < <(log_counts)
	got=$(errno_of "$@")
	read -r l1 n1 < <(log_counts)
	REFUSALS=$((REFUSALS + n1 - n0))
	[ "$got" = "$want" ] || bad "$(describe "$@"): got $got, want $want"
	if [ $((l1 - l0)) -ne 1 ] || [ $((n1 - n0)) -ne 1 ]; then
		bad "$(describe "$@"): $((l1 - l0)) new log lines ($((n1 - n0)) refusals), want 1 saying why"
	fi
}

# expect_errno_unlogged WANT OP ARGS...: an answer that is not a refused
# operation, so no log line: a failed lookup (the kernel looks the name up
# before mkdir/rmdir ever reach the daemon), a short write, a success.
expect_errno_unlogged() {
	local want=$1 got l0 n0 l1 n1
	shift
	read -r l0 n0 < <(log_counts)
	got=$(errno_of "$@")
	read -r l1 n1 < <(log_counts)
	REFUSALS=$((REFUSALS + n1 - n0))
	[ "$got" = "$want" ] || bad "$(describe "$@"): got $got, want $want"
	[ "$l1" -eq "$l0" ] ||
		bad "$(describe "$@"): $((l1 - l0)) new log lines, want none: $(last_log_line)"
}

expect_ok() {
	expect_errno_unlogged OK "$@"
}

# expect_refused REGION WANT LOGS CMD...: CMD (an errno_of call) prints
# WANT, nothing readable in REGION nor the list of regions changes, and
# the log gains exactly LOGS lines, each a refusal saying why (a value
# holding a newline must not split its line).  With BASELINE set (a
# snapshot of REGION), the state is compared with it instead of a fresh
# one: a run of refusals must leave the state as it was at the start.
BASELINE=
expect_refused() {
	local r=$1 want=$2 logs=$3 what before after got l0 n0 l1 n1
	shift 3
	what=$(describe "$@")
	before=${BASELINE:-$(snapshot "$r")}
	read -r l0 n0 < <(log_counts)
	got=$("$@")
	read -r l1 n1 < <(log_counts)
	after=$(snapshot "$r")
	REFUSALS=$((REFUSALS + n1 - n0))
	[ "$got" = "$want" ] || bad "$what: got $got, want $want"
	[ "$after" = "$before" ] ||
		bad "$what: the state changed: $(diff <(echo "$before") <(echo "$after") | grep '^[<>]' | tr '\n' ' ')"
	if [ $((l1 - l0)) -ne "$logs" ] || [ $((n1 - n0)) -ne "$logs" ]; then
		bad "$what: $((l1 - l0)) new log lines ($((n1 - n0)) refusals), want $logs: $(tail -n $((l1 - l0)) "$LOG" | sed 's/$/\\n/' | tr -d '\n')"
	elif [ "$logs" -gt 0 ] && ! [[ $(last_log_line) =~ \ refused:\ [[:alnum:]] ]]; then
		bad "$what: the log line says no why: $(last_log_line)"
	fi
}

# ---------------------------------------------------------------------------
# The daemon.

# The state letter of a process (R, S, Z, ...); fails when it is gone.
proc_state() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	printf '%s\n' "${s%% *}"
}

# Alive: exists and is not a zombie (its reaper may be slow or absent).
daemon_alive() {
	local s
	[ -n "$DAEMON_PID" ] || return 1
	s=$(proc_state "$DAEMON_PID") || return 1
	[ "$s" != Z ] && [ "$s" != X ]
}

# start_daemon_at DIR [ARGS...]: mount on an existing directory.
start_daemon_at() {
	local err=$WORK/start.err
	MNT=$1
	shift
	LOG=$(mktemp -p "$WORK" daemon.log.XXXXXX)
	REFUSALS=0
	DAEMON_PID=
	# Without -f it returns once the mount is ready; the bound is for a
	# daemon that never answers.
	if ! timeout 20 "$REGIONFS" -o "log=$LOG" "${IT_HUGE_OPTS[@]}" "$@" "$MNT" 2>"$err"; then
		cat "$err" >&2
		fail "regionfs $* $MNT did not start"
	fi
	# The daemon (the forked child) says its pid in its log.
	DAEMON_PID=$(sed -n 's/.* regionfs\[\([0-9]*\)\]: mounted at .*/\1/p' "$LOG" | tail -n 1)
	[ -n "$DAEMON_PID" ] || fail "no 'mounted at' line in the log"
	tr '\0' ' ' <"/proc/$DAEMON_PID/cmdline" 2>/dev/null | grep -qF -- "$MNT" ||
		fail "pid $DAEMON_PID from the log is not the daemon of $MNT"
	for _ in $(seq 100); do
		mountpoint -q "$MNT" && return 0
		daemon_alive || fail "the daemon died while mounting"
		sleep 0.1
	done
	fail "$MNT not mounted 10 s after regionfs returned"
}

# start_daemon [ARGS...]: on a fresh mktemp -d mountpoint.
start_daemon() {
	start_daemon_at "$(mktemp -d -p "$WORK" mnt.XXXXXX)" "$@"
}

# expect_start_fails PATTERN ARGS...: regionfs exits non-zero, says why
# on stderr (matching PATTERN), and leaves nothing mounted.
expect_start_fails() {
	local pattern=$1 rc=0 target
	shift
	timeout 20 "$REGIONFS" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
	if [ "$rc" -eq 0 ]; then
		bad "regionfs $*: exit 0, want a failure"
	elif [ "$rc" -eq 124 ]; then
		bad "regionfs $*: still running after 20 s"
	fi
	grep -qiE -- "$pattern" "$WORK/err" ||
		bad "regionfs $*: stderr '$(cat "$WORK/err")' does not match /$pattern/"
	# Whatever it was given last is the would-be mountpoint: a wrongly
	# successful start must not leave a mount behind for the next case.
	target=${*: -1}
	if awk -v t="$target" '$2 == t { f = 1 } END { exit !f }' /proc/self/mounts; then
		bad "regionfs $*: left $target mounted"
		fusermount3 -u -z "$target" || true
	fi
}

# flip FILE OFFSET: one byte of FILE changed in place (a damaged copy).
flip() {
	local old
	old=$(od -A n -t u1 -j "$2" -N 1 "$1" | tr -d ' ')
	printf '%b' "\\0$(printf '%03o' $(((old + 1) % 256)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# expect_damaged_refused SRC NAME FROM PATTERN: a copy of the saved
# directory SRC, changed by the commands on stdin (run in the copy), is
# refused by --from COPY/FROM (FROM empty: the copy itself) with
# PATTERN, and nothing is mounted.
expect_damaged_refused() {
	local src=$1 name=$2 from=$3 pattern=$4 dir=$WORK/damaged/$2
	rm -rf "$dir"
	mkdir -p "$dir"
	cp -a --sparse=always "$src/." "$dir"
	(cd "$dir" && bash -e) || fail "could not damage $name"
	# shellcheck disable=SC2086 # FROM_OPTS: words, or none
	expect_start_fails "$pattern" "${NO_KVM[@]}" ${FROM_OPTS:-} --from "$dir${from:+/$from}" \
		"$(mktemp -d -p "$WORK")"
	say "refused $name: $(cat "$WORK/err")"
}

# The log holds the daemon's notices and exactly the refusals the test
# expected, nothing else.
log_clean() {
	local n unexpected
	n=$(refusals_logged)
	[ "$n" -eq "$REFUSALS" ] ||
		bad "the log has $n refusal lines, the test expected $REFUSALS; the commonest: $(grep ' refused: ' "$LOG" | grep -v 'contents read path:' | cut -d' ' -f3- | sort | uniq -c | sort -rn | head -n 3 | tr '\n' '|')"
	unexpected=$(grep -vE " refused: |$LOG_NOTICES" "$LOG" || true)
	[ -z "$unexpected" ] || bad "unexpected log lines: $unexpected"
}

# End the daemon the way users do and check it goes: alive until now,
# fusermount3 -u succeeds, the process exits within 10 s, nothing mounted.
stop_daemon() {
	daemon_alive || fail "the daemon (pid $DAEMON_PID) died during the test"
	fusermount3 -u "$MNT" || fail "fusermount3 -u $MNT failed"
	for _ in $(seq 100); do
		daemon_alive || break
		sleep 0.1
	done
	daemon_alive && fail "the daemon still runs 10 s after fusermount3 -u"
	mountpoint -q "$MNT" && fail "$MNT still mounted after the daemon exited"
	log_has ': unmounted$' || bad "the daemon did not log its clean exit"
	log_clean
	DAEMON_PID=
}

# The last step of every test.
finish() {
	[ -z "$DAEMON_PID" ] || stop_daemon
	[ "$FAILURES" -eq 0 ] || fail "$FAILURES check(s) failed"
	if [ "$SKIPPED_PARTS" -gt 0 ]; then
		say "ok ($SKIPPED_PARTS part(s) skipped, see the skip: lines)"
	else
		say ok
	fi
}

# ---------------------------------------------------------------------------
# Huge pages: a test reserves what it needs on top of what the system has
# (nr_hugepages), and cleanup gives back exactly what it added, whatever
# happened: never a value read before, other tests may grow the pool
# meanwhile (HUGE_ADDED counts every change this test made).
HUGE_SYS=/sys/kernel/mm/hugepages/hugepages-2048kB
HUGE_ADDED=0

# huge_set N: nr_hugepages = N, the change counted in HUGE_ADDED.
huge_set() {
	local was now
	was=$(cat /proc/sys/vm/nr_hugepages)
	echo "$1" >/proc/sys/vm/nr_hugepages || true
	now=$(cat /proc/sys/vm/nr_hugepages)
	HUGE_ADDED=$((HUGE_ADDED + now - was))
}
# 2 MiB pages free and not reserved by anyone now.
hugepages_spare() {
	echo $(($(cat "$HUGE_SYS/free_hugepages") - $(cat "$HUGE_SYS/resv_hugepages")))
}

# hugepages_reserve N: N more 2 MiB pages in the pool, or skip (exit 77).
hugepages_reserve() {
	local want=$1 had
	if ! [ -w /proc/sys/vm/nr_hugepages ] || ! [ -d "$HUGE_SYS" ]; then
		skip "no 2 MiB huge pages here (/proc/sys/vm/nr_hugepages)"
	fi
	had=$(hugepages_spare)
	huge_set $(($(cat /proc/sys/vm/nr_hugepages) + want))
	[ "$(hugepages_spare)" -ge $((had + want)) ] ||
		skip "the kernel could reserve only $(($(hugepages_spare) - had)) of $want huge pages"
}

# hugepages_limit N: shrink the pool so that exactly N pages are spare.
hugepages_limit() {
	huge_set $(($(cat /proc/sys/vm/nr_hugepages) - $(hugepages_spare) + $1))
}

# hugepages_1g: one more 1 GiB page in its pool, or fail (the caller
# skips that part).
HUGE_1G=/sys/kernel/mm/hugepages/hugepages-1048576kB
HUGE_ADDED_1G=0
hugepages_1g() {
	local was
	[ -w "$HUGE_1G/nr_hugepages" ] || return 1
	was=$(cat "$HUGE_1G/nr_hugepages")
	echo $((was + 1)) >"$HUGE_1G/nr_hugepages" 2>/dev/null || true
	HUGE_ADDED_1G=$((HUGE_ADDED_1G + $(cat "$HUGE_1G/nr_hugepages") - was))
	[ $(($(cat "$HUGE_1G/free_hugepages") - $(cat "$HUGE_1G/resv_hugepages"))) -ge 1 ]
}

hugepages_release_1g() {
	local nr
	if [ "$HUGE_ADDED_1G" -ne 0 ]; then
		nr=$(cat "$HUGE_1G/nr_hugepages")
		echo $((nr > HUGE_ADDED_1G ? nr - HUGE_ADDED_1G : 0)) >"$HUGE_1G/nr_hugepages"
	fi
	HUGE_ADDED_1G=0
}

hugepages_release() {
	local nr
	if [ "$HUGE_ADDED" -ne 0 ]; then
		nr=$(cat /proc/sys/vm/nr_hugepages)
		echo $((nr > HUGE_ADDED ? nr - HUGE_ADDED : 0)) >/proc/sys/vm/nr_hugepages
	fi
	HUGE_ADDED=0
	hugepages_release_1g
}

# IT_HUGE=N: the variant that runs a test on huge pages (meson's huge_NAME
# tests): N pages reserved for it, and every region it makes under
# -o hugepages.  Sizes in the test that are not whole huge pages are
# refused (EINVAL), so only tests whose regions all are run this way.
IT_HUGE_OPTS=()
if [ -n "${IT_HUGE:-}" ]; then
	hugepages_reserve "$IT_HUGE"
	IT_HUGE_OPTS=(-o hugepages)
	say "on huge pages: -o hugepages, $IT_HUGE pages of 2 MiB reserved"
fi

# kept_log DIR: the file a daemon started without -o log= where there is
# no syslog keeps its log in, for mountpoint DIR (fs/logkeep.c): the
# mountpoint escaped as systemd-escape --path does, in /run/regionfs (the
# tests run as root).
KEPT_DIR=/run/regionfs
kept_name() {
	systemd-escape --path "$1"
}
kept_log() {
	printf '%s/%s.log\n' "$KEPT_DIR" "$(kept_name "$1")"
}
command -v systemd-escape >/dev/null || KEPT_DIR=

cleanup() {
	local rc=$?
	set +e
	if [ -n "$MNT" ] && mountpoint -q "$MNT"; then
		fusermount3 -u -z "$MNT"
	fi
	if daemon_alive; then
		for _ in $(seq 50); do
			daemon_alive || break
			sleep 0.1
		done
		daemon_alive && kill "$DAEMON_PID"
	fi
	hugepages_release
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$LOG" ] && [ -f "$LOG" ]; then
		echo "--- daemon log ($LOG) ---" >&2
		cat "$LOG" >&2
	fi
	# The logs kept for this test's mountpoints (each under WORK).
	[ -z "$KEPT_DIR" ] || rm -f "$KEPT_DIR/$(kept_name "$WORK")"-*.log*
	# --one-file-system: never walk into a mount left behind.
	rm -rf --one-file-system "$WORK"
	exit "$rc"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# Reading the mount.

# extents FILE: its data extents by SEEK_DATA/SEEK_HOLE, "0xA-0xB " each.
extents() {
	must py - "$1" <<-'EOF'
		import errno, os, sys
		fd = os.open(sys.argv[1], os.O_RDONLY)
		size, off, out = os.fstat(fd).st_size, 0, []
		while off < size:
		    try:
		        d = os.lseek(fd, off, os.SEEK_DATA)
		    except OSError as e:
		        if e.errno != errno.ENXIO:
		            raise
		        break
		    h = os.lseek(fd, d, os.SEEK_HOLE)
		    out.append('0x%x-0x%x ' % (d, h))
		    off = h
		print(''.join(out))
	EOF
}


# The files of a region directory, in attr.c's order.
REGION_FILES=(contents base_addr mem_size raw_addr raw_size host_region_base
	host_region_end kind guest_addr access zero dirty page_size mmap_rw base)

# ls_sorted DIR: the names in DIR, sorted, on one line ("a b c ").
ls_sorted() {
	local names
	# shellcheck disable=SC2012  # ls is the tool users look with
	names=$(must ls -A "$1") || { echo "$names"; return 1; }
	[ -z "$names" ] || sort <<<"$names" | tr '\n' ' '
}

# The root's own entries (README: the root files, and the names mkdir
# refuses): never regions, and never names for mkdir.  Which of them exist
# depends on the build.
ROOT_NAMES=(vcpu console log why regs fault layout pmem vmem core snapshot restore
	snapshots metrics)

# ls_regions: the regions, i.e. what ls shows at the root except the
# root's own entries, sorted, on one line ("a b c ").
ls_regions() {
	local pat
	pat=$(printf '%s|' "${ROOT_NAMES[@]}")
	# shellcheck disable=SC2012  # ls is the tool users look with
	ls -A "$MNT" | { grep -vxE "${pat%|}" || true; } | sort | tr '\n' ' '
}

# attr REGION FILE: the value without its newline.
attr() {
	must cat "$MNT/$1/$2"
}

# hex2dec 0x7f...: bash arithmetic in base 16.
hex2dec() {
	echo $((16#${1#0x}))
}

# Everything readable about a region, one line per value, and the
# checksum of its bytes: compared before and after a refused operation.
# One grep reads all the values: each process start costs more than the
# reads themselves.
snapshot() {
	local r=$1 f files=()
	for f in "${REGION_FILES[@]}"; do
		case $f in contents | zero) ;; *) files+=("$f") ;; esac
	done
	(cd "$MNT/$r" && grep -H '' "${files[@]}") ||
		echo "<reading the files of $r failed>"
	# A failed read must not give the same (empty) sum on both sides.
	printf 'contents=%s\n' "$(must cksum "$MNT/$r/contents")"
	printf 'regions=%s\n' "$(cd "$MNT" && shopt -s dotglob nullglob && echo *)"
}

# fill_with REGION CHAR: every byte of REGION's contents CHAR, so that a
# load that skips a hole shows it.
fill_with() {
	head -c "$(attr "$1" mem_size)" /dev/zero | tr '\0' "$2" >"$MNT/$1/contents" ||
		bad "fill of $1 failed"
}

# expect_image WHAT REGION IMAGE: REGION holds exactly IMAGE, zeros after
# it, and its size is still mem_size.
expect_image() {
	local n size
	n=$(stat -c %s "$3")
	size=$(attr "$2" mem_size)
	cmp -n "$n" "$3" "$MNT/$2/contents" || bad "$1: not the image's bytes"
	if [ "$n" -lt "$size" ]; then
		cmp -n $((size - n)) -i 0:"$n" /dev/zero "$MNT/$2/contents" ||
			bad "$1: not zeros after the image"
	fi
	expect_eq "$1: st_size" "$(stat -c %s "$MNT/$2/contents")" "$size"
}

# wait_for CMD...: until it succeeds, 20 s at most (the KVM lab is slow).
# CMD is run anew each time: what it reads must be read inside it (a
# "$(...)" in its arguments would be read once, before the first try).
wait_for() {
	for _ in $(seq 200); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# put REGION OFF: write a 16-byte marker at OFF with dd.
put() {
	printf 'marker@%09d' "$2" |
		dd of="$MNT/$1/contents" bs=16 oflag=seek_bytes seek="$2" conv=notrunc status=none ||
		bad "dd of $1/contents at $2 failed"
}

# has REGION OFF: the marker put wrote is there.
has() {
	[ "$(dd if="$MNT/$1/contents" bs=16 iflag=skip_bytes skip="$2" count=1 status=none)" = \
		"$(printf 'marker@%09d' "$2")" ]
}

# ---------------------------------------------------------------------------
# The counter guest (tests/guests/counter.S): its count at DATA, the
# first 8 bytes of region "data".

counter_count() {
	od -A n -t u8 -N 8 "$MNT/data/contents" | tr -d ' '
}

counter_above() {
	[ "$(counter_count)" -gt "$1" ]
}

# counter_went_on CON N WHAT: the first tick the console got past byte CON
# is N (paused between store and print) or N + 1, and the guest never saw
# its registers and memory disagree.
counter_went_on() {
	local first
	first=$(tail -c +$(($1 + 1)) "$MNT/console" | grep -m 1 -o 'tick [0-9a-f]*' | cut -d' ' -f2)
	if [ -z "$first" ] || { [ $((16#$first)) -ne "$2" ] && [ $((16#$first)) -ne $(($2 + 1)) ]; }; then
		bad "$3: first tick '$first', want $2 or $(($2 + 1)) (hex)"
	fi
	! grep -q MISMATCH "$MNT/console" || bad "$3: registers and memory disagree"
}
