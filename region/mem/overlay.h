/*
 * An overlay: a readonly region that holds some of its pages itself and
 * reads the others through from a base, another readonly region of the
 * same size (a diff snapshot's copy over its parent's).  The pages it
 * holds are a set of its own, apart from its memfd: a held page that is
 * a hole in the memfd reads as zeros (the page was zeroed since the
 * base), not as the base's bytes.
 *
 * It is the third backing (backing.h, overlay_ops): everything that reads
 * a region (region__read, SEEK_DATA/SEEK_HOLE, st_blocks, the `dirty`
 * text, region__copy_out) sees the whole view through its table; what
 * the overlay takes in memory is its memfd's (region__resident).  An
 * overlay is built before its region is handed out, and never changes.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_OVERLAY_H
#define REGIONFS_OVERLAY_H

#include "region/mem/copy.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct region;

/* Bases below bases: a chain longer than this is refused when made. */
#define OVERLAY_DEPTH_MAX (COPY_LEVELS - 1)

struct overlay_run {
	uint64_t first, end;	/* pages [first, end) */
};

struct backing_ops;
struct overlay {
	const struct backing_ops *own;	/* of the pages it holds itself */
	struct region *base;	/* a reference; NULL: every page is held */
	unsigned depth;		/* 1 over a plain base, base's + 1 over an overlay */
	struct overlay_run *runs;	/* ascending, never adjacent */
	uint64_t nr, cap;
	uint64_t pages;		/* held */
	uint64_t shown;		/* resident bytes of the whole view */
	uint64_t digits;	/* hex digits of the runs' byte offsets */
	/*
	 * The extents seeks found, kept from one seek to the next (the
	 * memfds never change): cp --sparse and tar -S ask SEEK_DATA and
	 * SEEK_HOLE extent after extent, and shmem answers SEEK_HOLE by
	 * walking the data up to the next hole, which in a base may lie far
	 * past where the view's piece ends.  Under seek_lock, taken last
	 * (its region held shared).
	 */
	pthread_mutex_t seek_lock;
	struct copy_cursor seen;
};

/*
 * r (readonly, fresh, not handed out) becomes an overlay over base
 * (readonly, r's size; NULL: r holds every page itself).  EINVAL: base
 * is not readonly or not r's size; ELOOP: the chain would be longer than
 * OVERLAY_DEPTH_MAX; ENOMEM.
 */
int overlay__new(struct region *r, struct region *base);
/* r holds pages [first, end) (ascending, after the runs added so far). */
int overlay__hold(struct region *r, uint64_t first, uint64_t end);
/* Done adding: the view's resident bytes are counted once, here. */
int overlay__seal(struct region *r);
/* r's overlay, NULL for a region that is none (the tests look inside). */
const struct overlay *overlay__of(const struct region *r);

#endif
