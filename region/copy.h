/*
 * Sparse copies between memfds, for snapshots and restores: data is
 * copied, pages of zeros and holes stay (or become) holes.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_COPY_H
#define REGIONFS_COPY_H

#include <stdbool.h>
#include <stdint.h>

/* The copy buffer of one snapshot or restore. */
#define COPY_CHUNK (1 << 20)

/*
 * Where src's data and holes are, remembered across calls: src is never
 * written meanwhile, and the ranges asked for only move forward.  Start
 * one zeroed per source.
 */
struct extents {
	uint64_t from;	/* [from, data) is a hole, [data, hole) data */
	uint64_t data;
	uint64_t hole;
};

/*
 * Make dst's [off, end) what src's is: data copied through buf
 * (COPY_CHUNK bytes), holes punched when fill_holes (else dst is known
 * to hold holes there already).
 */
int copy__range(int dst, int src, uint8_t *buf, struct extents *x,
		uint64_t off, uint64_t end, bool fill_holes);

#endif
