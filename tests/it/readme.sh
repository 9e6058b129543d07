#!/bin/bash
# README's examples are tests: every ```sh block of its Examples, Guests
# and containers sections runs here verbatim, in that order, from a
# scratch directory (with scripts/ beside it and regionfs on PATH, as a
# user has them after the two set-up commands), each under set -e: a
# command that fails fails the test.
# shellcheck source=tests/it/lib.sh
. "$(dirname "$0")/lib.sh"

have_kvm || skip "no usable /dev/kvm: the examples run the demo guest"
for t in rsync setpriv bwrap xxd; do
	command -v $t >/dev/null || skip "$t missing"
done
README=$(dirname "$0")/../../README.md
[ -f "$README" ] || fail "no README at $README"

# blocks SECTION...: the sh blocks of those sections, NUL-separated.
blocks() {
	"$PYTHON" - "$README" "$@" <<-'PY'
		import sys
		lines = open(sys.argv[1]).read().split('\n')
		want, out = sys.argv[2:], {}
		section, code, block = None, False, None
		for line in lines:
		    if line.startswith('```'):
		        if not code and line == '```sh' and section in want:
		            block = []
		        elif code and block is not None:
		            out.setdefault(section, []).append('\n'.join(block) + '\n')
		            block = None
		        code = not code
		    elif code:
		        if block is not None:
		            block.append(line)
		    elif line.startswith('#'):
		        section = line.lstrip('#').strip()
		blocks = []
		for title in want:
		    if title not in out:
		        sys.exit('no sh block in ' + title)
		    blocks += out[title]
		sys.stdout.write('\0'.join(blocks))
	PY
}

SCRATCH=$WORK/user
mkdir -p "$SCRATCH/build"
ln -s "$(cd "$(dirname "$0")/../.." && pwd)/scripts" "$SCRATCH/scripts"
ln -s "$REGIONFS" "$SCRATCH/build/regionfs"
cleanup_readme() {
	for m in /tmp/sb /tmp/sb2 "$SCRATCH/mnt" /run/sandbox; do
		mountpoint -q "$m" 2>/dev/null && fusermount3 -u -z "$m"
	done
	return 0
}
exit_with() { return "$1"; }
trap 'rc=$?; cleanup_readme; exit_with $rc; cleanup' EXIT
cleanup_readme

n=0
while IFS= read -r -d '' block; do
	n=$((n + 1))
	say "block $n: $(head -n 1 <<<"$block")"
	if ! (cd "$SCRATCH" && PATH=$SCRATCH/build:$PATH REGIONFS=$REGIONFS \
		bash -e -o pipefail -c "$block") >"$WORK/block.$n" 2>&1; then
		bad "README block $n failed: $(tail -n 5 "$WORK/block.$n" | tr '\n' ' ')"
	fi
done < <(blocks Examples Guests "Running regionfs for containers"; printf '\0')
[ "$n" -ge 3 ] || bad "only $n README blocks found"
# Two lines 0x0-0x1000: the host's write in scratch/dirty and the guest's
# ticks in heartbeat/dirty (one grep for both was satisfied by either).
expect_eq "block 1: lines 0x0-0x1000 (dirty of scratch and of heartbeat)" \
	"$(grep -cx '0x0-0x1000' "$WORK/block.1" || true)" 2
grep -q 'refused: write 1 to zero the region' "$WORK/block.1" ||
	bad "block 1: tail of the log did not show why the write was refused"
finish
