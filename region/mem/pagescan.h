/*
 * Which pages of a private file mapping were written (are anonymous
 * memory of this process, present or swapped), read from the page tables
 * with PAGEMAP_SCAN (Linux 6.7): at the cost of the range asked, never
 * the mapping's size, and nothing faulted in.  A file page is never
 * swapped (only dropped), so a swapped page is a written one.
 *
 * Offsets are bytes from base, page-aligned; errors: 0 or a positive
 * errno.  Private to region/mem/.
 */
#ifndef REGIONFS_PAGESCAN_H
#define REGIONFS_PAGESCAN_H

#include "region/util/why.h"

#include <stdint.h>

/* 0 when this kernel has PAGEMAP_SCAN, else ENOSYS and why. */
int pagescan__supported(struct why *why);
/*
 * The first run of written pages in [off, end) of the mapping at base,
 * of size bytes: [*a, *b), or *a = *b = end when there is none.  off and
 * end need not be page-aligned: the run is clipped to them.
 */
int pagescan__run(uint8_t *base, uint64_t size, uint64_t off, uint64_t end,
		  uint64_t *a, uint64_t *b);
/* Every written page of the mapping, counted (SCAN_RUNS at a time). */
int pagescan__count(uint8_t *base, uint64_t size, uint64_t *pages);

#endif
