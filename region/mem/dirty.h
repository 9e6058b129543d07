/*
 * Dirty stamps: which pages of one memory were written, and when.
 *
 * Every page has a stamp, the epoch of its last known write.  The epoch is
 * one counter for the process; a clear of `dirty` or a snapshot takes a
 * boundary (the epoch, which then moves on) while it holds the memory
 * exclusive, so every later write is stamped above the boundary and every
 * earlier one at or below it.  One array thus answers both "written since
 * the last clear" and "written since snapshot S", for any number of
 * snapshots.  This file knows pages only: bytes, locks and the guest's
 * dirty log are the region's business (region.c).
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_DIRTY_H
#define REGIONFS_DIRTY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Pages per group: a group's highest stamp lets a walk skip it whole. */
#define DIRTY_GROUP_SHIFT 9

struct dirty {
	bool track;		/* false: -o nodirty, and snapshot copies */
	uint64_t npages;
	unsigned page_shift;	/* bytes = pages << page_shift */
	/*
	 * Stamps are written atomically by whoever holds the memory shared
	 * or exclusive; the arrays themselves only change under exclusive.
	 * floor stamps every page at once (zero, resize).
	 */
	_Atomic uint32_t *stamps;
	_Atomic uint32_t *groups;	/* the highest stamp of each group */
	_Atomic uint32_t floor;
	uint32_t cleared;	/* the epoch of the last `echo 0 > dirty` */
	/*
	 * A writer nobody sees may still be writing (a mapping outlives its
	 * open): every page counts as written until the memory is replaced.
	 */
	atomic_bool unseen;
	/*
	 * The runs of pages stamped above cleared, counted as pages become
	 * dirty (a page does once per clear): how many runs, and the hex
	 * digits of their byte offsets.  The length of the `dirty` text is
	 * then known in O(1), without a walk.  Under runs_lock, a leaf
	 * (taken under the region held shared or exclusive, or none).
	 */
	pthread_mutex_t runs_lock;
	uint64_t runs;
	uint64_t digits;
	uint64_t pages;		/* pages dirty since cleared, by stamps */
};

/* Whether new memory (and its KVM slots) is tracked; default true. */
void dirty__set_tracking(bool on);
bool dirty__tracking(void);
/* The current epoch, and a boundary: stamps after it are above it. */
uint32_t dirty__epoch(void);
uint32_t dirty__boundary(void);

/*
 * New memory of npages of 1 << page_shift bytes: every page counts as
 * written now (with zeros), after every snapshot already taken, and the
 * record of `dirty` starts empty.  track false: untracked (no array).
 */
int dirty__init(struct dirty *d, uint64_t npages, unsigned page_shift,
		bool track);
/* Keep the stamps of the pages both sizes have; the rest count as written. */
int dirty__resize(struct dirty *d, uint64_t npages);
void dirty__free(struct dirty *d);

/* Pages [first, end) written now; every page written now. */
void dirty__mark(struct dirty *d, uint64_t first, uint64_t end);
void dirty__mark_all(struct dirty *d);
/* From a KVM dirty log: bit p of bits is page p. */
void dirty__mark_bits(struct dirty *d, const uint64_t *bits, uint64_t npages);
/*
 * A writer nobody can see, which may go on writing for good (a mapping):
 * every page counts as written until dirty__reset_unseen.
 */
void dirty__unseen(struct dirty *d);
void dirty__reset_unseen(struct dirty *d);
/* Start the record of `dirty` over: the caller holds the memory exclusive. */
void dirty__clear(struct dirty *d);

/*
 * The next run of pages written since epoch since, at or after page from:
 * true with [*first, *end), false when there is none.
 */
bool dirty__next(struct dirty *d, uint32_t since, uint64_t from,
		 uint64_t *first, uint64_t *end);
/* Whether every page counts as written since since (floor, held writers). */
bool dirty__all_since(struct dirty *d, uint32_t since);
/*
 * The record since the last clear as runs: *runs of them, *digits hex
 * digits in their first and end byte offsets.  O(1).
 */
void dirty__record(struct dirty *d, uint64_t *runs, uint64_t *digits);
/* Pages written since the last clear (as of the last harvest), O(1). */
uint64_t dirty__pages(struct dirty *d);

#endif
