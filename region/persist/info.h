/*
 * A snapshot's info file (persist.h): a summary for people, one fact a
 * line, and two lines --from reads back: "id 0x…" (the snapshot's
 * identity, which a diff's parent file names) and one checksum line per
 * region, "crc32c NAME 0x89abcdef", the CRC-32C (region/mem/sum.h) of
 * the region's whole view.  The checksums catch accidents and torn
 * copies (a flipped bit, a file cut short or rewritten while it was
 * copied or loaded), not a forger, who can write the line again.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_PERSIST_INFO_H
#define REGIONFS_PERSIST_INFO_H

#include "region/persist/persist.h"

#include <stdio.h>
#include <time.h>

/* The checksum line; always the same length for a name, whatever the sum. */
#define PERSIST_SUM_FMT "crc32c %s 0x%08x\n"
#define PERSIST_SUM_KEY "crc32c "

/* One region's line. */
struct persist_info_region {
	const char *name;
	uint64_t mem_size, resident;
	bool mapped;		/* at gpa, when the snapshot was taken */
	uint64_t gpa;
	bool ro;
	/*
	 * A copy that maps a saved file (region/mem/cow.c): "PAGES PATH",
	 * its base file's text, shown as a "base NAME PAGES PATH" line;
	 * NULL or "" for any other.
	 */
	const char *base;
};

/* The lines, in the order info has them. */
void persist__info_head(FILE *f, const char *name, time_t taken,
			unsigned nr);
void persist__info_id(FILE *f, uint64_t id);
void persist__info_parent(FILE *f, const char *name, uint64_t id);
/* A diff's region: held of pages, taking bytes, the rest read through. */
void persist__info_diff(FILE *f, const char *name, uint64_t held,
			uint64_t pages, uint64_t bytes, bool through);
void persist__info_region(FILE *f, const struct persist_info_region *r);
/* state NULL: "vcpu none". */
void persist__info_vcpu(FILE *f, const char *state, uint64_t rip,
			uint64_t entry);
void persist__info_state(FILE *f, size_t len, int version);
void persist__info_console(FILE *f, size_t len);
int persist__render_sum(char *buf, size_t len, const char *name,
			uint32_t crc);

/*
 * One line of info (len bytes, no newline): ENOENT when it is no checksum
 * line (another word first), EINVAL when it starts like one and is not
 * exactly one (a region name, 0x and 8 hex digits); else name and crc.
 */
int persist__parse_sum(const char *line, size_t len,
		       char name[PARSE_NAME_MAX + 1], uint32_t *crc);
/*
 * info's id (info NUL-terminated): ENOENT without an id line (saved
 * before ids), EINVAL when it is not "id 0x" and hex digits.
 */
int persist__info_find_id(char *info, uint64_t *id);

#endif
