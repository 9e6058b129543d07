#!/bin/bash
# README.md, the man page and `regionfs --help` must not drift apart:
# the three name the same options (every flag and every -o word), README's
# file table and the man page the same files of the mount, with the same
# modes, and doc/files.md (the same tables with every column) no file the
# man page lacks, with the same modes.  Environment: SOURCE_ROOT (the tree), MAN_SCD (the man
# page's scdoc source, as meson configured it), REGIONFS (the binary).
set -euo pipefail

: "${SOURCE_ROOT:?}" "${MAN_SCD:?}" "${REGIONFS:?}"
command -v python3 >/dev/null || { echo "skip: python3 missing"; exit 77; }

"$REGIONFS" --help >"${TMPDIR:-/tmp}/regionfs-help.$$"
trap 'rm -f "${TMPDIR:-/tmp}/regionfs-help.$$"' EXIT

python3 - "$SOURCE_ROOT/README.md" "$MAN_SCD" "${TMPDIR:-/tmp}/regionfs-help.$$" \
	"$SOURCE_ROOT/doc/files.md" <<'PY'
import re, sys

readme, man, help_text, files_md = (open(p, encoding="utf-8").read() for p in sys.argv[1:5])
failures = 0

def fail(msg):
    global failures
    failures += 1
    print("sync: FAIL: " + msg)

# --- options ---------------------------------------------------------------
# An option block (README's "Command line", --help): a line indented less
# than 10 columns starts with its options, up to the first run of two
# spaces; capitalised words are placeholders (NAME, SIZE) or prose.  The
# -o words of the flags are written "-o region=..." anywhere on a line.
def token_names(text):
    names = set()
    for tok in re.split(r"[\s,/]+", text):
        m = re.match(r"(--?[A-Za-z][-A-Za-z]*|[a-z_]+)(=|$|\[)", tok)
        if m and not tok[:1].isupper():
            names.add(m.group(1))
    return names

def block_options(block):
    names = set()
    for line in block.splitlines():
        names |= set(re.findall(r"-o ([a-z_]+)", line))
        indent = len(line) - len(line.lstrip(" "))
        text = line.strip()
        if not text or indent >= 10:
            continue
        left = re.split(r"\s{2,}", text)[0]
        first = left.split()[0]
        if first.startswith("usage") or first.endswith("regionfs") or first[0].isupper():
            continue
        names |= token_names(left)
    return names

m = re.search(r"^## Command line\n\n```\n(.*?)^```", readme, re.S | re.M)
if not m:
    sys.exit("sync: README.md has no ```-block under '## Command line'")
readme_opts = block_options(m.group(1))
help_opts = block_options(help_text)

# The man page: the term lines of OPTIONS and MOUNT OPTIONS (a line that
# starts with * and is followed by its indented description); each bold
# span names options.
def man_section(name):
    m = re.search(r"^# %s\n(.*?)(?=^# )" % re.escape(name), man, re.S | re.M)
    if not m:
        sys.exit("sync: the man page has no section '# %s'" % name)
    return m.group(1)

man_opts = set()
for sec in ("OPTIONS", "MOUNT OPTIONS"):
    lines = man_section(sec).splitlines()
    for line, after in zip(lines, lines[1:]):
        if line.startswith("*") and after.startswith("\t"):
            for span in re.findall(r"\*([^*]+)\*", line):
                man_opts |= token_names(span)

for a, an, b, bn in ((readme_opts, "README.md", man_opts, "the man page"),
                     (man_opts, "the man page", readme_opts, "README.md"),
                     (help_opts, "--help", man_opts, "the man page"),
                     (man_opts, "the man page", help_opts, "--help")):
    missing = sorted(a - b)
    if missing:
        fail("options in %s but not in %s: %s" % (an, bn, " ".join(missing)))
print("sync: %d options in README.md, %d in the man page, %d in --help"
      % (len(readme_opts), len(man_opts), len(help_opts)))

# --- files of the mount ------------------------------------------------------
# README, doc/files.md: the rows of the tables whose header is "| file | mode |".
def table_files(text):
    files = {}
    in_table = False
    for line in text.splitlines():
        if line.startswith("| file | mode |"):
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        m = re.match(r"\| `([^`]+)` \| `([-rwx]{9})` \|", line)
        if in_table and m:
            files[m.group(1)] = m.group(2)
    return files

readme_files = table_files(readme)
doc_files = table_files(files_md)

# The man page: the term lines of its two "Files of" subsections.
man_files = {}
mount = man_section("THE MOUNT")
for sub in re.findall(r"^## Files of [^\n]*\n(.*?)(?=^## |\Z)", mount, re.S | re.M):
    for line in sub.splitlines():
        m = re.match(r"\*([a-z_]+)\* \(([-rwx]{9})\)", line)
        if m:
            man_files[m.group(1)] = m.group(2)

if len(readme_files) < 10 or len(man_files) < 10:
    fail("too few files found (README.md %d, man page %d): did a format change?"
         % (len(readme_files), len(man_files)))
for a, an, b, bn in ((readme_files, "README.md", man_files, "the man page"),
                     (man_files, "the man page", readme_files, "README.md")):
    missing = sorted(set(a) - set(b))
    if missing:
        fail("files in %s but not in %s: %s" % (an, bn, " ".join(missing)))
for f in sorted(set(readme_files) & set(man_files)):
    if readme_files[f] != man_files[f]:
        fail("%s: mode %s in README.md, %s in the man page"
             % (f, readme_files[f], man_files[f]))
if len(doc_files) < 10:
    fail("too few files found in doc/files.md (%d): did a format change?" % len(doc_files))
missing = sorted(set(doc_files) - set(man_files))
if missing:
    fail("files in doc/files.md but not in the man page: %s" % " ".join(missing))
for f in sorted(set(doc_files) & set(man_files)):
    if doc_files[f] != man_files[f]:
        fail("%s: mode %s in doc/files.md, %s in the man page"
             % (f, doc_files[f], man_files[f]))
print("sync: %d files in README.md, %d in doc/files.md, %d in the man page"
      % (len(readme_files), len(doc_files), len(man_files)))

if failures:
    sys.exit("sync: %d difference(s)" % failures)
print("sync: ok")
PY
