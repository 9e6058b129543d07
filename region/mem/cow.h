/*
 * A copy-on-write region's file (cow_file.c), for its backing (cow.c):
 * the file opened again and leased, its data extents, and the list by
 * which a lease break finds its region.  Private to region/mem/.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_COW_H
#define REGIONFS_COW_H

#include "region/mem/backing.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

struct cow_ext {
	uint64_t a, b;	/* [a, b) of the file is data, page-aligned */
};

struct cow {
	int fd;			/* the file, O_RDONLY, leased */
	dev_t dev;
	ino_t ino;
	uint64_t file_bytes;	/* its st_blocks, in bytes */
	char path[PATH_MAX];
	struct cow_lease lease;	/* sig 0: not leased */
	/*
	 * The file's data extents, read at the first need: tmpfs's
	 * SEEK_HOLE walks to the next hole (in a file of data, its end:
	 * 10 ms a GiB), so not at the start.  The file cannot change
	 * meanwhile (the lease); a write fault into a hole of a tmpfs file
	 * puts a page of zeros in it, which the table, read later, calls
	 * data (zeros all the same).
	 */
	pthread_mutex_t ext_lock;
	struct cow_ext *ext;
	uint64_t next;
	bool ext_read;
	/* The private page count last read, and when (stat's). */
	_Atomic uint64_t priv_pages;
	_Atomic int64_t priv_at_ns;
	/* In the list of every one (region__by_base_fd). */
	struct region *r;
	struct cow *prev, *nextc;
};

static inline struct cow *cow__of(struct region *r)
{
	return r->ops == &cow_ops ? r->priv : NULL;
}

/*
 * The first run of r's file's data in [off, end): [*a, *b), or *a = *b =
 * end; r is a copy-on-write region.
 */
int cow__file_run(struct region *r, uint64_t off, uint64_t end,
		  uint64_t *a, uint64_t *b);
/* The private page count shown by a stat is at most this old. */
#define COW_COUNT_MAX_AGE_NS 1000000000LL
/* Whether c's count is older than that; c's count is pages, now. */
bool cow__stale(struct cow *c);
void cow__counted(struct cow *c, uint64_t pages);
/* Let go of c: out of the list, the file closed (the lease with it). */
void cow__free(struct cow *c);

#endif
