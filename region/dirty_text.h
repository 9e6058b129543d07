/*
 * The text of a region's `dirty` file: one range of byte offsets per
 * line, "0x0-0x3000\n" (end exclusive), ascending, runs of pages merged;
 * "untracked\n" without tracking; empty for a readonly region.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_DIRTY_TEXT_H
#define REGIONFS_DIRTY_TEXT_H

#include "region/region.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Taken at once (the guest's writes harvested first) and read in pieces,
 * so a reader that reads it in pieces sees one consistent list.  Costs
 * one bit per page of the region.
 */
struct dirty_text;
int dirty_text__take(struct region *r, struct dirty_text **out);
uint64_t dirty_text__size(const struct dirty_text *t);
/* The size the text would have now, without keeping it (for stat). */
int dirty_text__size_now(struct region *r, uint64_t *size);
size_t dirty_text__read(struct dirty_text *t, char *buf, size_t len,
			uint64_t off);
void dirty_text__free(struct dirty_text *t);

#endif
