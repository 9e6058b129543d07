#!/bin/bash
# Bad input, table-driven: for every writable file and every directory
# operation, each bad value or call gets its exact errno, changes nothing
# that can be read back, and leaves exactly one log line saying why.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

LONG=$(head -c 5000 /dev/zero | tr '\0' 1)	# longer than a page
NAME65=$(head -c 65 /dev/zero | tr '\0' a)
BLANKS=$(head -c 5000 /dev/zero | tr '\0' ' ')	# a long write of blanks around a value

# "file|value|errno[|offset]": a write of value to r/file, in one write()
# at offset 0 (or the offset given, without O_TRUNC).  "Empty" is what
# `echo > file` writes, a bare newline: a write() of 0 bytes never reaches
# a filesystem, so there is nothing else to refuse.
WRITES=(
	$'mem_size|\n|EINVAL'
	$'mem_size| \t  \n|EINVAL'
	'mem_size|-1|EINVAL'
	'mem_size|abc|EINVAL'
	'mem_size|0|EINVAL'
	'mem_size|0x|EINVAL'
	'mem_size|0K|EINVAL'
	'mem_size|99999999999999999999|EINVAL'
	'mem_size|2T|EINVAL'
	'mem_size|64X|EINVAL'
	'mem_size|1.5M|EINVAL'
	'mem_size|4096 4096|EINVAL'
	$'mem_size|4096\n4096|EINVAL'
	"mem_size|$LONG|EINVAL"
	'mem_size|4096|EINVAL|1'
	'zero|0|EINVAL'
	'zero|2|EINVAL'
	'zero|yes|EINVAL'
	'zero|11|EINVAL'
	$'zero|\n|EINVAL'
	'zero|1|EINVAL|1'
	"zero|${BLANKS}1|EINVAL"
	"mem_size|${BLANKS}8192|EINVAL"
	'access|RW|EINVAL'
	'access|x|EINVAL'
	'access|r|EINVAL'
	$'access|\n|EINVAL'
	'access|rw|EINVAL|1'
	'guest_addr|garbage|EINVAL'
	'guest_addr|0x|EINVAL'
	'guest_addr|-1|EINVAL'
	'guest_addr|NONE|EINVAL'
	'guest_addr|0xzz|EINVAL'
	$'guest_addr|\n|EINVAL'
	"guest_addr|$LONG|EINVAL"
	'guest_addr|none|EINVAL|1'
	# The files without a store are closed to writers.  Root passes the
	# kernel's mode check (CAP_DAC_OVERRIDE), so the daemon refuses: with
	# a log line, like every refusal (README: one log line saying why).
	'base_addr|0x1000|EACCES'
	'raw_addr|0x1000|EACCES'
	'raw_size|4096|EACCES'
	'host_region_base|0x1000|EACCES'
	'host_region_end|0x1000|EACCES'
	'kind|host|EACCES'
)

# Without KVM, any well-formed guest_addr write is ENODEV (the parse comes
# first, so garbage above is still EINVAL).  With KVM these map: its
# ENODEV side is checked on every machine by guest_addr.sh (no_kvm).
if ! have_kvm; then
	WRITES+=(
		'guest_addr|0x100000|ENODEV'
		'guest_addr|none|ENODEV'
		$'guest_addr| 0x200000\n|ENODEV'
		'guest_addr|1G|ENODEV'
		'guest_addr|0x1001|ENODEV'
	)
fi

# "op|path|errno|log lines": the other operations, paths under the mount.
# A failed lookup is the kernel's answer before the operation reaches the
# daemon: no refusal, no log line.
OPS=(
	"mkdir|$NAME65|ENAMETOOLONG|1"
	'mkdir|.hidden|EINVAL|1'
	'mkdir|a b|EINVAL|1'
	'mkdir|a:b|EINVAL|1'
	'mkdir|a*b|EINVAL|1'
	$'mkdir|a\tb|EINVAL|1'
	$'mkdir|caf\xc3\xa9|EINVAL|1'
	'mkdir|r/sub|EPERM|1'
	'rmdir|nope|ENOENT|0'
	'unlink|r/kind|EPERM|1'
	'unlink|r/contents|EPERM|1'
	'rename|r/kind|EPERM|1'
	'rename|r|EPERM|1'
	'create|r/newfile|EPERM|1'
	'create|newfile|EPERM|1'
	'mknod|r/node|EPERM|1'
	# chmod and chown: the owner's are ignored, others' EPERM (inplace.sh).
	'truncate:9999999999|r/contents|EFBIG|1'
	'truncate:1|r/mem_size|EPERM|1'
	# console takes no writes; as above, root reaches the daemon.
	'create|console|EACCES|1'
	'symlink|r/lnk|EPERM|1'
	'link|r/kind|EPERM|1'
)

# run_op OP PATH: the errno_of call for a table entry.
run_op() {
	local op=$1 path=$MNT/$2
	case $op in
	rename) errno_of rename "$path" "$path.renamed" ;;
	chmod) errno_of chmod "$path" 666 ;;
	chown) errno_of chown "$path" 1 1 ;;
	truncate:*) errno_of truncate "$path" "${op#truncate:}" ;;
	*) errno_of "$op" "$path" ;;
	esac
}

# check WANT LOGS CMD...: the errno, the state, the log line(s); and
# that the refusals for want of KVM say so.
check() {
	local want=$1
	expect_refused r "$@"
	if [ "$want" = ENODEV ] && [[ $(last_log_line) != *"no KVM"* ]]; then
		bad "guest_addr ENODEV: the log line does not say there is no KVM: $(last_log_line)"
	fi
}

start_daemon --region r:1M --region other:64K
# Bytes that a wrongful zero or resize would change.
dd if=/dev/urandom of="$MNT/r/contents" bs=64K count=2 conv=notrunc status=none

# The root's reserved names: EINVAL from the daemon, or EEXIST from the
# kernel where this build already shows that entry at the root.
for name in "${ROOT_NAMES[@]}"; do
	if [ -e "$MNT/$name" ]; then
		OPS+=("mkdir|$name|EEXIST|0")
	else
		OPS+=("mkdir|$name|EINVAL|1")
	fi
done

# Every entry is refused: the state stays what it is now, all along.
BASELINE=$(snapshot r)

for e in "${WRITES[@]}"; do
	file=${e%%|*}
	rest=${e#*|}
	value=${rest%%|*}
	rest=${rest#*|}
	want=${rest%%|*}
	off=
	[ "$rest" = "$want" ] || off=${rest#*|}
	if [ -n "$off" ]; then
		check "$want" 1 errno_of pwrite "$MNT/r/$file" "$value" "$off"
	else
		check "$want" 1 errno_of write "$MNT/r/$file" "$value"
	fi
done

for e in "${OPS[@]}"; do
	IFS='|' read -r op path want logs <<<"$e"
	check "$want" "$logs" run_op "$op" "$path"
done

expect_eq "regions at the end" "$(ls_regions)" "other r "
finish
