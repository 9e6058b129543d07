#!/bin/bash
# README's examples are tests: every ```sh block of README's Examples, of
# doc/guests.md (the demo) and of doc/security.md's containers section
# runs here verbatim, in that order, twice, from a checkout-like scratch
# directory (scripts/ and build/ beside it, regionfs on PATH, as a user
# has them after the two set-up commands), each under set -e: a command
# that fails fails the test.  Running them twice proves they leave
# nothing behind that a second run trips on.  The lines the examples
# promise are checked exactly.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

have_kvm || skip "no usable /dev/kvm: the examples run the demo guest"
for t in rsync setpriv bwrap xxd gdb; do
	command -v $t >/dev/null || skip "$t missing"
done
TOP=$(cd "$(dirname "$0")/../.." && pwd)
for f in README.md doc/guests.md doc/security.md; do
	[ -f "$TOP/$f" ] || fail "no $f in $TOP"
done

# blocks FILE:SECTION...: the sh blocks of those sections, NUL-separated.
blocks() {
	"$PYTHON" - "$TOP" "$@" <<-'PY'
		import sys
		top, want = sys.argv[1], sys.argv[2:]
		blocks = []
		for spec in want:
		    path, title = spec.split(':', 1)
		    lines = open(top + '/' + path).read().split('\n')
		    section, code, block, found = None, False, None, []
		    for line in lines:
		        if line.startswith('```'):
		            if not code and line == '```sh' and section == title:
		                block = []
		            elif code and block is not None:
		                found.append('\n'.join(block) + '\n')
		                block = None
		            code = not code
		        elif code:
		            if block is not None:
		                block.append(line)
		        elif line.startswith('#'):
		            section = line.lstrip('#').strip()
		    if not found:
		        sys.exit('no sh block in %s: %s' % (path, title))
		    blocks += found
		sys.stdout.write('\0'.join(blocks))
	PY
}

SCRATCH=$WORK/user
mkdir -p "$SCRATCH/build"
ln -s "$TOP/scripts" "$SCRATCH/scripts"
ln -s "$REGIONFS" "$SCRATCH/build/regionfs"
ln -s "$(dirname "$REGIONFS")/guests" "$SCRATCH/build/guests"
cleanup_readme() {
	for m in /tmp/sb /tmp/sb2 "$SCRATCH/mnt" /run/sandbox; do
		mountpoint -q "$m" 2>/dev/null && fusermount3 -u -z "$m"
		# The examples start daemons without -o log=: their kept logs.
		[ -z "$KEPT_DIR" ] || rm -f "$(kept_log "$m")" "$(kept_log "$m").old"
	done
	return 0
}
exit_with() { return "$1"; }
trap 'rc=$?; cleanup_readme; exit_with $rc; cleanup' EXIT
cleanup_readme

# The fresh stage (tests/fresh/run) runs README's Install section, its
# first sh block, in a fresh Debian root: the block must be one.
blocks README.md:Install >"$WORK/install" 2>&1 ||
	bad "README's Install, which tests/fresh/run runs: $(cat "$WORK/install")"
grep -q '^meson setup build' "$WORK/install" ||
	bad "README's Install block does not build: $(cat "$WORK/install")"

blocks README.md:Examples doc/guests.md:Guests \
	"doc/security.md:Running regionfs for containers" >"$WORK/blocks" ||
	fail "cannot read the blocks: $(cat "$WORK/blocks")"
for round in 1 2; do
	n=0
	while IFS= read -r -d '' block; do
		n=$((n + 1))
		say "round $round, block $n: $(head -n 1 <<<"$block")"
		out=$WORK/block.$round.$n
		mkdir -p "$WORK/tmp.$round"
		if ! (cd "$SCRATCH" && PATH=$SCRATCH/build:$PATH REGIONFS=$REGIONFS \
			TMPDIR=$WORK/tmp.$round bash -e -o pipefail -c "$block") >"$out" 2>&1; then
			bad "round $round: block $n failed: $(tail -n 5 "$out" | tr '\n' ' ')"
		fi
	done < <(cat "$WORK/blocks"; printf '\0')
	[ "$n" -ge 3 ] || bad "only $n blocks found"

	# What the Examples block says it prints, line for line.
	out=$WORK/block.$round.1
	expect_eq "round $round: notes/dirty after one host write" \
		"$(grep '^/tmp/sb/notes/dirty:' "$out")" "/tmp/sb/notes/dirty:0x1000-0x2000"
	expect_eq "round $round: heartbeat/dirty after the guest's ticks" \
		"$(grep '^/tmp/sb/heartbeat/dirty:' "$out")" "/tmp/sb/heartbeat/dirty:0x0-0x1000"
	grep -qE "^scratch/zero: write '2' refused: write 1 to zero the region \(Invalid argument\)\$" "$out" ||
		bad "round $round: why did not say why the write was refused"
	grep -qE '^#0 +0x0*[1-9a-f][0-9a-f]* in tick \(\)' "$out" ||
		bad "round $round: gdb did not find the paused guest in tick (): $(grep '^#0' "$out")"
	grep -qE '^rip +0x0*[1-9a-f][0-9a-f]* ' "$out" ||
		bad "round $round: gdb's rip is zero: $(grep '^rip' "$out")"
	grep -qE '^before 0x[0-9a-f]{16}$' "$out" ||
		bad "round $round: the diff's parent is not 'before 0x…'"
	expect_eq "round $round: vcpu after --from" "$(grep -x paused "$out")" paused
done
finish
