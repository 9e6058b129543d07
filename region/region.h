/* A region: one shared memory of the sandbox, backed by a memfd. */
#ifndef REGIONFS_REGION_H
#define REGIONFS_REGION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define REGION_NAME_MAX 64

/*
 * The largest region we agree to reserve.  The reservation is only address
 * space (the memfd is sparse), but 47 bits of user address space is all
 * x86-64 has: 1 TiB leaves room for many regions and catches typos like
 * "64T".
 */
#define REGION_SIZE_MAX (1ULL << 40)

/* How long an exclusive operation waits for host accesses to drain. */
#define REGION_EXCL_WAIT_MS 500
/* How long a host access waits for an exclusive operation to finish. */
#define REGION_SHARED_WAIT_MS 2000

enum region_kind {
	REGION_EXCLUSIVE,	/* only the host holds it */
	REGION_HOST,		/* mapped into the VM, shared with the guest */
	REGION_READONLY,	/* immutable: exclusivity can never be taken */
};

struct vm;

struct region {
	char name[REGION_NAME_MAX + 1];
	int memfd;
	uint8_t *raw;		/* the reservation, guard pages included */
	uint64_t mem_size;	/* usable bytes */
	bool readonly;
	atomic_int refs;
	struct timespec created;	/* shown as the files' times */

	/*
	 * Host accesses hold it shared for one request; control writes hold
	 * it exclusive.  Writer-preferring, so a stream of readers cannot
	 * starve an exclusive operation past its bounded wait.
	 */
	pthread_rwlock_t lock;

	/* The VM an exclusive holder keeps the guest out of (or NULL). */
	struct vm *excl_vm;

	/* Guest mapping: owned by vm.c, changed under vm->lock. */
	struct vm *vm;
	uint64_t gpa;
	int slot;		/* -1 when not mapped */
	bool guest_ro;

	/*
	 * Owned by fs/, opaque here: the FUSE passthrough backing of the
	 * memfd, shared by every passthrough open (the kernel wants one).
	 */
	int fs_backing_id;
	unsigned fs_backing_opens;
	unsigned fs_daemon_opens;	/* contents opens through the daemon */

	/*
	 * Dirty tracking (dirty.c).  A page's stamp is the epoch of its last
	 * known write (0: never); floor stamps every page at once (zero).
	 * Stamps are written atomically under the region held shared or
	 * exclusive; the array itself only changes under exclusive.
	 */
	bool track;		/* false: -o nodirty, and snapshot copies */
	_Atomic uint32_t *stamps;
	_Atomic uint32_t floor;
	uint32_t cleared;	/* the epoch of the last `echo 0 > dirty` */
	atomic_int untracked;	/* open writers whose writes we cannot see */
};

size_t region__page_size(void);
/* A CLOCK_MONOTONIC deadline ms from now, for the bounded waits. */
struct timespec region__deadline_ms(unsigned ms);
/* What a region of size bytes really takes: whole pages. */
uint64_t region__round_size(uint64_t size);

/* Sizes round up to whole pages; 0 and > REGION_SIZE_MAX are EINVAL. */
int region__new(const char *name, uint64_t size, struct region **out);
/*
 * A readonly region from the start (a snapshot's copy): untracked, and
 * exclusivity is never granted, so its memfd is written only by whoever
 * made it, before handing it out.
 */
int region__new_readonly(const char *name, uint64_t size,
			 struct region **out);
struct region *region__get(struct region *r);
void region__put(struct region *r);

uint8_t *region__base_addr(const struct region *r);
uint64_t region__mem_size(const struct region *r);
uint8_t *region__raw_addr(const struct region *r);
uint64_t region__raw_size(const struct region *r);
uint8_t *region__host_region_base(const struct region *r);
uint8_t *region__host_region_end(const struct region *r);
enum region_kind region__kind(const struct region *r);
const char *region__kind_name(enum region_kind kind);
bool region__mapped(const struct region *r);

/*
 * Exclusivity.  Both return 0 or a positive errno: EBUSY when the bounded
 * wait ran out or the guest holds the region, EPERM for a readonly region.
 */
int region__shared_begin(struct region *r);
void region__shared_end(struct region *r);
int region__exclusive_begin(struct region *r);
void region__exclusive_end(struct region *r);

/*
 * Host I/O, bounds-checked, holding the region shared.  Return the bytes
 * moved or -errno: reads past the end return 0, writes that start at or
 * past the end fail with -ENOSPC, writes that straddle it are short.
 */
ssize_t region__read(struct region *r, void *buf, size_t len, uint64_t off);
ssize_t region__write(struct region *r, const void *buf, size_t len,
		      uint64_t off);

/* The following need the caller to hold the region exclusive. */
int region__zero_locked(struct region *r);
int region__resize_locked(struct region *r, uint64_t size);

/*
 * Something that writes the memfd directly (a FUSE passthrough writer) can
 * grow it past mem_size: cut it back.  Returns the bytes cut, or -errno.
 */
int64_t region__trim(struct region *r);


/* Convenience: take exclusivity, do it, release. */
int region__zero(struct region *r);
int region__resize(struct region *r, uint64_t size);

/*
 * Sparse layout of the memfd: the next data or hole at or after off
 * (lseek semantics; -ENXIO past the end), and the resident bytes.
 */
int64_t region__seek_data(struct region *r, uint64_t off);
int64_t region__seek_hole(struct region *r, uint64_t off);
uint64_t region__resident(struct region *r);

/*
 * Dirty tracking: which pages were written, by the host (region__write,
 * zero, restore) and by the guest (the KVM dirty log of its slot).
 * Epochs order writes against clears and snapshots: a page is dirty since
 * epoch E when its stamp (or the region's floor) is above E.
 */
/* Whether new regions (and their KVM slots) are tracked; default true. */
void dirty__set_tracking(bool on);
bool dirty__tracking(void);
/* The current epoch, and a boundary: stamps after it are above it. */
uint32_t dirty__epoch(void);
uint32_t dirty__boundary(void);

int region__dirty_alloc(struct region *r, uint64_t size);
void region__dirty_free(struct region *r);
/* Host writes: the pages of [off, off + len), or all of them. */
void region__dirty_mark(struct region *r, uint64_t off, uint64_t len);
void region__dirty_mark_all(struct region *r);
/* A writer the daemon cannot see: every page counts as dirty meanwhile. */
void region__dirty_hold(struct region *r);
void region__dirty_release(struct region *r);
/* From the KVM dirty log: bit p of bits is page p of the region. */
void region__dirty_stamp_bits(struct region *r, const uint64_t *bits,
			      uint64_t npages);
/*
 * Fetch the guest's writes from KVM into the stamps (a no-op when not
 * mapped or untracked).  The caller holds the region shared or exclusive.
 */
int region__dirty_harvest(struct region *r);
/*
 * The next run of pages dirty since epoch since, at or after page from:
 * returns its first page and sets *end past its last, or returns -1.
 */
int64_t region__dirty_next(struct region *r, uint32_t since, uint64_t from,
			   uint64_t *end);
/*
 * `echo 0 > dirty`: takes exclusivity, fetches the guest's writes and
 * starts over.  EOPNOTSUPP when untracked, EPERM for a readonly region.
 */
int region__dirty_clear(struct region *r);

/*
 * The text of `dirty`, taken at once and read in pieces: one range of
 * byte offsets per line, "0x0-0x3000\n" (end exclusive), ascending, runs of
 * pages merged; "untracked\n" without tracking; empty for a readonly
 * region.  Costs one bit per page of the region.
 */
struct dirty_text;
int region__dirty_text(struct region *r, struct dirty_text **out);
uint64_t dirty_text__size(const struct dirty_text *t);
/* The size the text would have now, without taking it (for stat). */
int64_t region__dirty_text_size(struct region *r);
size_t dirty_text__read(struct dirty_text *t, char *buf, size_t len,
			uint64_t off);
void dirty_text__free(struct dirty_text *t);

#endif
