#!/bin/bash
# Inspection from containers: the mount bound read-only into a bwrap
# sandbox (new user, PID and network namespaces) running as another uid,
# and the same uid on the host through setpriv.  The kernel checks the
# mode bits (default_permissions); allow_other lets other uids in at all.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

command -v bwrap >/dev/null || skip "bwrap (bubblewrap) missing"
command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
# Debian's python3 for the other uid on the host: a pyenv shim under /root
# is out of its reach.
PY=/usr/bin/python3
[ -x $PY ] || skip "$PY missing (the other uid cannot use root's python)"

READER=2000	# the reader group
OTHER=1234	# a uid that owns nothing here

# The other uid reaches the mountpoint: lib.sh made $WORK 755.
start_daemon --region secret:1M --region public:64K -o reader_gid=$READER
printf 'top secret bytes' | dd of="$MNT/secret/contents" conv=notrunc status=none
before_secret=$(snapshot secret)
before_public=$(snapshot public)

# as UID GID CMD: run CMD inside a container with the mount at /sandbox.
as() {
	local uid=$1 gid=$2 lib64=()
	shift 2
	if [ -e /lib64 ]; then lib64=(--ro-bind /lib64 /lib64); fi
	setpriv --reuid="$uid" --regid="$gid" --clear-groups \
		bwrap --unshare-user --unshare-pid --unshare-net --die-with-parent \
		--ro-bind /usr /usr --ro-bind /lib /lib --ro-bind /bin /bin \
		${lib64[@]+"${lib64[@]}"} \
		--proc /proc --dev /dev --tmpfs /tmp \
		--ro-bind "$MNT" /sandbox -- "$@"
}

# The container really is one: its own PID namespace (pid 1 is bwrap's).
pid1=$(as $OTHER $OTHER sh -c 'cat /proc/1/comm')
expect_eq "pid 1 inside the container" "$pid1" bwrap
# ... and no network but loopback.
ifaces=$(as $OTHER $OTHER sh -c 'ls /sys/class/net 2>/dev/null || cat /proc/net/dev | tail -n +3 | cut -d: -f1' | tr -d ' ' | sort | tr '\n' ' ')
case " $ifaces " in
*eth*|*ens*|*enp*) bad "the container sees host interfaces: $ifaces" ;;
*" lo "*) ;;
*) bad "the container's interfaces could not be listed: got '$ifaces', want lo among them" ;;
esac

# The reader group reads memory and addresses with standard tools.
got=$(as $OTHER $READER dd if=/sandbox/secret/contents bs=16 count=1 status=none)
expect_eq "reader group: dd of contents" "$got" "top secret bytes"
got=$(as $OTHER $READER xxd -l 3 -p /sandbox/secret/contents)
expect_eq "reader group: xxd of contents" "$got" "746f70"
got=$(as $OTHER $READER cat /sandbox/secret/base_addr)
expect_eq "reader group: base_addr" "$got" "$(attr secret base_addr)"

# Anyone reads sizes and state, nobody else reads memory or addresses.
got=$(as $OTHER $OTHER cat /sandbox/secret/mem_size /sandbox/secret/kind /sandbox/secret/guest_addr /sandbox/secret/access | tr '\n' ' ')
expect_eq "other uid: public values" "$got" "1048576 exclusive none rw "
for f in contents base_addr raw_addr host_region_base host_region_end dirty; do
	out=$(as $OTHER $OTHER cat "/sandbox/secret/$f" 2>&1 >/dev/null || true)
	case $out in
	*"Permission denied"*) ;;
	*) bad "other uid: cat $f: want Permission denied, got '$out'" ;;
	esac
done

# Every control write fails inside the read-only bind, for both.
for gid in $READER $OTHER; do
	for w in "zero 1" "mem_size 2M" "guest_addr 0x100000" "access ro" "dirty 0"; do
		read -r f v <<<"$w"
		out=$(as $OTHER "$gid" sh -c "echo $v > /sandbox/secret/$f" 2>&1 || true)
		case $out in
		*"Read-only file system"*|*"Permission denied"*) ;;
		*) bad "container gid $gid: echo $v > $f: want a refusal, got '$out'" ;;
		esac
	done
	out=$(as $OTHER "$gid" mkdir /sandbox/new 2>&1 || true)
	case $out in *"Read-only file system"*|*"Permission denied"*) ;;
	*) bad "container gid $gid: mkdir: got '$out'" ;; esac
done

# The same uid on the host, without the read-only bind: the mode bits
# alone keep it out (EACCES, decided by the kernel, so no daemon log line).
hostas() {
	setpriv --reuid=$OTHER --regid="$1" --clear-groups $PY "$WORK/errno_of.py" "${@:2}"
}
expect_eq "host uid: read contents" "$(hostas $OTHER read "$MNT/secret/contents")" EACCES
expect_eq "host reader: read contents" "$(hostas $READER read "$MNT/secret/contents")" OK
for w in "zero 1" "mem_size 2M" "guest_addr 0x100000" "access ro" "dirty 0"; do
	read -r f v <<<"$w"
	expect_eq "host uid: write $f" "$(hostas $READER write "$MNT/secret/$f" "$v")" EACCES
done
for f in snapshot restore; do
	expect_eq "host uid: write $f" "$(hostas $READER write "$MNT/$f" s)" EACCES
done
expect_eq "host reader: read dirty" "$(hostas $READER read "$MNT/secret/dirty")" OK
expect_eq "host uid: mkdir" "$(hostas $OTHER mkdir "$MNT/new")" EACCES
expect_eq "host uid: rmdir" "$(hostas $OTHER rmdir "$MNT/public")" EACCES
expect_eq "host uid: write contents" "$(hostas $READER pwrite "$MNT/secret/contents" x 0)" EACCES

# Nothing in the sandbox changed.
expect_eq "secret unchanged" "$(snapshot secret)" "$before_secret"
expect_eq "public unchanged" "$(snapshot public)" "$before_public"
stop_daemon

# -o ro: the owner too is refused with EROFS, and nothing changes.
start_daemon --region r:1M -o ro
before=$(snapshot r)
for w in "zero 1" "mem_size 2M" "guest_addr 0x100000" "access ro" "dirty 0"; do
	read -r f v <<<"$w"
	expect_eq "-o ro: write $f" "$(errno_of write "$MNT/r/$f" "$v")" EROFS
done
expect_eq "-o ro: write contents" "$(errno_of pwrite "$MNT/r/contents" x 0)" EROFS
expect_eq "-o ro: snapshot" "$(errno_of write "$MNT/snapshot" s)" EROFS
expect_eq "-o ro: restore" "$(errno_of write "$MNT/restore" s)" EROFS
expect_eq "-o ro: mkdir" "$(errno_of mkdir "$MNT/new")" EROFS
expect_eq "-o ro: rmdir" "$(errno_of rmdir "$MNT/r")" EROFS
expect_eq "-o ro: read" "$(errno_of read "$MNT/r/contents")" OK
expect_eq "-o ro: unchanged" "$(snapshot r)" "$before"
finish
