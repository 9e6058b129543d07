/*
 * The text of a region's `dirty` file: one range of byte offsets per
 * line, "0x0-0x3000\n" (end exclusive), ascending, runs of pages merged;
 * "untracked\n" without tracking; empty for a readonly region.
 *
 * It is never rendered whole: a cursor walks the live stamps, one read at
 * a time, so an open file costs a few dozen bytes whatever the region's
 * size, and a read costs the bytes it returns plus the pages written in
 * the runs it returns (clean groups of pages are skipped whole).
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_DIRTY_TEXT_H
#define REGIONFS_DIRTY_TEXT_H

#include "region/mem/region.h"

#include <stddef.h>
#include <stdint.h>

/* 0x + 16 digits, twice, '-', '\n'. */
#define DIRTY_LINE_MAX 48

struct dirty_cursor {
	uint32_t since;		/* the clear the record counts from */
	uint64_t pos;		/* text offset of the next byte */
	uint64_t page;		/* the next page to look at */
	char line[DIRTY_LINE_MAX];
	size_t line_len, line_off;	/* the line being handed out */
};

/*
 * The text's length now, in O(1): from the record the stamps keep (as of
 * the last harvest of the guest's writes).
 */
uint64_t dirty_text__size(struct region *r);
/*
 * Start over at offset 0; harvest first fetches the guest's writes from
 * KVM (a cost in the region's size: the caller decides who may).
 */
int dirty_text__start(struct region *r, struct dirty_cursor *c, bool harvest);
/*
 * Up to len bytes of the text at off into buf, *done of them.  Reads in
 * order go on where the last one stopped; any other offset starts over
 * without a harvest and skips to it.
 */
int dirty_text__read(struct region *r, struct dirty_cursor *c, char *buf,
		     size_t len, uint64_t off, size_t *done);

#endif
