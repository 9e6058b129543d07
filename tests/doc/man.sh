#!/bin/bash
# The man page regionfs(8), as meson built it: mandoc finds no error in
# it, and man -l renders it, with every section the issue asked for.
# Environment: MAN (the built regionfs.8; empty when scdoc was missing).
set -euo pipefail

skip() { printf 'skip: %s\n' "$*"; exit 77; }
fail() { printf 'man: FAIL: %s\n' "$*" >&2; exit 1; }

[ -n "${MAN:-}" ] || skip "the man page was not built (scdoc missing at meson setup)"
[ -f "$MAN" ] || fail "$MAN missing"
command -v mandoc >/dev/null || skip "mandoc missing (Debian: mandoc)"
command -v man >/dev/null || skip "man missing (Debian: man-db)"

# Errors (and unsupported macros) only: scdoc's output draws style notes
# and "skipping paragraph macro" warnings that change nothing rendered.
out=$(mandoc -T lint -W error "$MAN" 2>&1) || fail "mandoc -T lint: ${out:-exit status $?}"
[ -z "$out" ] || fail "mandoc -T lint: $out"

text=$(MANWIDTH=80 man -l "$MAN" 2>"$MAN.err" | col -b) || fail "man -l failed: $(cat "$MAN.err")"
[ ! -s "$MAN.err" ] || fail "man -l said: $(cat "$MAN.err")"
rm -f "$MAN.err"
for section in NAME SYNOPSIS DESCRIPTION OPTIONS "MOUNT OPTIONS" \
	"CONFIGURATION FILE" "THE MOUNT" EXCLUSIVITY SECURITY LOGGING EXAMPLES \
	"EXIT STATUS" FILES "SEE ALSO"; do
	grep -qx "$section" <<<"$text" || fail "no section $section in the rendered page"
done
lines=$(wc -l <<<"$text")
[ "$lines" -gt 300 ] || fail "the rendered page has only $lines lines"
echo "man: ok ($lines lines rendered)"
