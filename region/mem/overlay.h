/*
 * An overlay: a readonly region that holds some of its pages itself and
 * reads the others through from a base, another readonly region of the
 * same size (a diff snapshot's copy over its parent's).  The pages it
 * holds are a set of its own, apart from its memfd: a held page that is
 * a hole in the memfd reads as zeros (the page was zeroed since the
 * base), not as the base's bytes.
 *
 * Everything that reads a region (region__read, SEEK_DATA/SEEK_HOLE,
 * st_blocks, the `dirty` text) sees the whole view through region.c;
 * what the overlay takes in memory is its memfd's (region__resident).
 * An overlay is built before its region is handed out, and never changes.
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
#define OVERLAY_DEPTH_MAX 16

struct overlay_run {
	uint64_t first, end;	/* pages [first, end) */
};

/* Extents of each level of a chain, remembered (copy.h's cursor). */
struct overlay_cursor {
	struct extents x[OVERLAY_DEPTH_MAX + 1];
};

struct overlay {
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
	 * past where the view's piece ends.  Under seek_lock.
	 */
	pthread_mutex_t seek_lock;
	struct overlay_cursor seen;
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
void overlay__free(struct overlay *o);

/* The next held run at or after page from (as region__dirty_next). */
bool overlay__next(const struct overlay *o, uint64_t from, uint64_t *first,
		   uint64_t *end);
/* The length of the `dirty` text of the held runs. */
uint64_t overlay__text_size(const struct overlay *o);

/* region.c's read and lseek of an overlay: the whole view. */
int overlay__read(struct region *r, void *buf, size_t len, uint64_t off,
		  size_t *done);
int overlay__seek(struct region *r, uint64_t off, int whence,
		  uint64_t *pos);

/*
 * Copy [off, end) of src's view (an overlay or a plain region) into dst
 * (region__copy: a huge-page dst through its mapping), holes punched:
 * the restore of a diff.  One cursor per chain level (struct
 * overlay_cursor), zeroed by the caller once per src, the ranges moving
 * forward.
 */
int overlay__copy_out(struct region *src, struct region *dst, uint8_t *buf,
		      struct overlay_cursor *cur, uint64_t off,
		      uint64_t end);

#endif
