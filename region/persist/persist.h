/*
 * The saved format: the one owner of a snapshot directory's file names
 * and of the text of every value saved in it, as Firecracker's Persist
 * keeps a saved thing's form in one place.  fs/ renders through it (a
 * live region's attributes are the same files), the snapshot's own files
 * are made through it (region/sandbox/snapfiles.c, diff.c), and --from
 * parses through it (load.c, chain.c).  The vCPU's binary vcpu_state
 * has its versioned header with a CRC here too (header.h); its records
 * are the vCPU's own (region/kvm/state_file.c).
 *
 *   NAME/                 the snapshot
 *   ├── REGION/           one per region: the attribute files, contents,
 *   │                     dirty (a diff: the pages it holds)
 *   ├── vcpu_state        header.h
 *   ├── console           the console's kept bytes, raw
 *   ├── parent            a diff's only: "NAME 0xID\n"
 *   └── info              for people, and the checksums (info.h)
 *
 * Text only, below the memory core: page sizes and bounds are the
 * caller's arguments.  Renders are snprintf's: the length the text
 * takes, whatever fits in len.
 *
 * Errors: 0 or a positive errno (EINVAL: not the form).
 */
#ifndef REGIONFS_PERSIST_H
#define REGIONFS_PERSIST_H

#include "region/util/parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A snapshot directory's own files. */
#define PERSIST_VCPU_STATE	"vcpu_state"
#define PERSIST_INFO		"info"
#define PERSIST_CONSOLE		"console"
#define PERSIST_PARENT		"parent"
/* The files of a region's directory that a snapshot is loaded from. */
#define PERSIST_CONTENTS	"contents"
#define PERSIST_MEM_SIZE	"mem_size"
#define PERSIST_RAW_SIZE	"raw_size"
#define PERSIST_GUEST_ADDR	"guest_addr"
#define PERSIST_ACCESS		"access"
#define PERSIST_PAGE_SIZE	"page_size"
#define PERSIST_DIRTY		"dirty"

/* A vcpu_state larger than this is not one (XSAVE areas are ~11 KiB). */
#define PERSIST_STATE_MAX (1 << 20)
/*
 * Nor an info larger than this: what regionfs writes for a diff of
 * SANDBOX_REGIONS_MAX regions with 64-byte names (its region, diff and
 * checksum lines, some 400 bytes a region: 1.7 MB), with room.
 */
#define PERSIST_INFO_MAX (4 << 20)
/* The parent file: "NAME 0xID\n". */
#define PERSIST_PARENT_MAX (PARSE_NAME_MAX + 24)
/* A dirty line: 0x + 16 digits, twice, '-', '\n'. */
#define PERSIST_DIRTY_LINE_MAX 48
/* dirty without tracking. */
#define PERSIST_UNTRACKED "untracked\n"

/* mem_size, raw_size, page_size: decimal bytes, "4096\n". */
int persist__render_size(char *buf, size_t len, uint64_t bytes);
/* base_addr, raw_addr, host_region_*: hex, "0x7f…\n". */
int persist__render_addr(char *buf, size_t len, uint64_t addr);
/* guest_addr: "none\n" or the address in hex. */
int persist__render_guest_addr(char *buf, size_t len, bool mapped,
			       uint64_t gpa);
/* access: "ro\n" or "rw\n". */
int persist__render_access(char *buf, size_t len, bool ro);
/* One line of dirty: bytes [from, to), "0x0-0x3000\n". */
int persist__render_dirty_line(char *buf, size_t len, uint64_t from,
			       uint64_t to);
/* The parent file of a diff of name (id), malloc'd in *text: ENOMEM. */
int persist__render_parent(char **text, size_t *len, const char *name,
			   uint64_t id);

/*
 * The saved values back, each one trimmed value (parse__value): the
 * form and what the file alone can say of it.  mem_size: whole pages
 * (page), not 0, at most max.  raw_size: mem_size and two pages.
 * guest_addr: "none" (!*mapped) or a page-aligned address.  access:
 * rw or ro.  page_size: page, 2M or 1G, dividing mem_size.
 */
int persist__parse_mem_size(const char *val, uint64_t page, uint64_t max,
			    uint64_t *size);
int persist__parse_raw_size(const char *val, uint64_t page,
			    uint64_t mem_size);
int persist__parse_guest_addr(const char *val, uint64_t page, bool *mapped,
			      uint64_t *gpa);
int persist__parse_access(const char *val, bool *ro);
int persist__parse_page_size(const char *val, uint64_t page,
			     uint64_t mem_size, uint64_t *bytes);
/*
 * A parent file's text (len bytes, one line): name and id.  A snapshot
 * id: "0x" and 1 to 16 hex digits, whole (false otherwise).  One line of
 * a diff's dirty file (NUL-terminated, its newline optional): pages
 * [*first, *end) of page bytes, whole pages, ascending (not before byte
 * prev_end) and within size bytes.
 */
int persist__parse_parent(const char *buf, size_t len, char *name,
			  uint64_t *id);
bool persist__parse_id(const char *s, uint64_t *id);
int persist__parse_dirty_line(const char *line, uint64_t page, uint64_t size,
			      uint64_t prev_end, uint64_t *first,
			      uint64_t *end);

#endif
