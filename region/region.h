/*
 * A region: one shared memory of the sandbox, backed by a memfd.
 *
 * This is the memory model only: the memfd and its guard pages, the
 * bounded exclusivity, host I/O, zero, holes and the dirty stamps.  Who
 * else shares the memory (a VM that maps it) plugs in through a guard
 * (struct region_guard), so nothing here knows KVM.
 *
 * Errors: every function returns 0 or a positive errno; counts and
 * offsets come back through out-parameters.  Functions that can refuse
 * take a struct why, which they fill with the reason (it may be NULL).
 */
#ifndef REGIONFS_REGION_H
#define REGIONFS_REGION_H

#include "region/dirty.h"
#include "region/util/parse.h"
#include "region/util/why.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define REGION_NAME_MAX PARSE_NAME_MAX

/*
 * The largest region we agree to reserve.  The reservation is only address
 * space (the memfd is sparse), but 47 bits of user address space is all
 * x86-64 has: 1 TiB leaves room for many regions and catches typos like
 * "64T".
 */
#define REGION_SIZE_MAX (1ULL << 40)

/*
 * A truncate that cuts more pages than this marks the whole region dirty
 * rather than stamp each (16 MiB of 4 KiB pages): its cost stays bounded.
 */
#define DIRTY_MARK_MAX_PAGES 4096

/* How long an exclusive operation waits for host accesses to drain. */
#define REGION_EXCL_WAIT_MS 500
/* How long a host access waits for an exclusive operation to finish. */
#define REGION_SHARED_WAIT_MS 2000

enum region_kind {
	REGION_EXCLUSIVE,	/* only the host holds it */
	REGION_HOST,		/* mapped into the VM, shared with the guest */
	REGION_READONLY,	/* immutable: exclusivity can never be taken */
};

struct region;

/*
 * The other side of a mapped region: the guest.  Whoever maps the region
 * (kvm/vm.c) installs its guard while it holds the region exclusive, and
 * removes it when it unmaps; a region has a guard exactly while mapped.
 *   running: the guest holds the region now (exclusivity is refused at
 *            once, without waiting);
 *   enter/exit: keep the guest out for an exclusive operation (enter
 *            returns EBUSY when it started meanwhile);
 *   harvest: move the guest's writes to r into r's dirty stamps.
 */
struct region_guard {
	bool (*running)(void *owner);
	int (*enter)(void *owner);
	void (*exit)(void *owner);
	int (*harvest)(void *owner, struct region *r);
};

struct region {
	char name[REGION_NAME_MAX + 1];
	int memfd;
	uint8_t *raw;		/* the reservation, guard pages included */
	uint64_t mem_size;	/* usable bytes */
	/*
	 * The huge page size of a hugetlbfs memfd (region__new_huge), 0 for
	 * ordinary (shmem) pages; fixed for the region's life, resizes too.
	 */
	uint64_t huge;
	bool readonly;
	atomic_int refs;
	struct timespec created;	/* shown as the files' times */
	/* The access the guest gets when mapped: changed under exclusive. */
	bool guest_ro;
	/*
	 * A snapshot's copy: where the region was mapped in the guest when
	 * the snapshot was taken (the copy itself is never mapped), shown as
	 * its guest_addr; guest_ro is its access then.  Set before the copy
	 * is published, never changed.
	 */
	bool snap_mapped;
	uint64_t snap_gpa;

	/*
	 * Host accesses hold it shared for one request; control writes hold
	 * it exclusive.  Writer-preferring, so a stream of readers cannot
	 * starve an exclusive operation past its bounded wait.
	 */
	pthread_rwlock_t lock;

	/* The guest side: set and cleared by the mapper, under exclusive. */
	const struct region_guard *guard;
	void *guard_owner;
	/* The guard an exclusive holder keeps out (it may unmap meanwhile). */
	const struct region_guard *excl_guard;
	void *excl_owner;

	struct dirty dirty;

	/*
	 * Odd while a resize changes memfd, raw and mem_size: lets metadata
	 * readers (stat, attribute files) go without the region's lock.
	 */
	atomic_uint geo_seq;
	/* Times of the last change of the bytes, and of an attribute. */
	_Atomic int64_t mtime_ns;
	_Atomic int64_t ctime_ns;
	/* CLOCK_MONOTONIC ms of the last harvest of the guest's writes. */
	_Atomic uint64_t harvest_ms;
	/*
	 * A counter that holds this region's bytes until it is freed (the
	 * snapshot limit counts a copy as long as anyone has it open).
	 */
	_Atomic uint64_t *charge;
	uint64_t charged;
	/* The resident bytes last read (region__geometry). */
	_Atomic uint64_t resident_seen;
	atomic_int writers;	/* read-write openers of the memfd itself */
	atomic_uint writer_opens;	/* how many ever opened (the re-arm) */
	/*
	 * Whether shared writable mappings of the memory are allowed (the
	 * owner's choice, region__set_mmap_rw): 0 the mount's default, 1
	 * yes, -1 no.  And the (device, inode) under which the mount shows
	 * the memory in a mapper's /proc/PID/maps (a FUSE passthrough
	 * mapping names the file it was made through, not the memfd).
	 */
	_Atomic int mmap_rw;
	_Atomic uint64_t alias_dev;
	_Atomic uint64_t alias_ino;
	/*
	 * A diff snapshot's copy: the pages it holds itself, the rest read
	 * through from its base (overlay.h).  Set before the copy is handed
	 * out, never changed; NULL for every other region.
	 */
	struct overlay *overlay;
};

/* What a resize changes, read consistently without the region's lock. */
struct region_geometry {
	uint8_t *raw;
	uint64_t mem_size;
	uint64_t resident;	/* bytes the memfd holds (when asked for) */
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
/*
 * A region on huge pages of huge bytes (2 MiB or 1 GiB; 0: ordinary pages,
 * as region__new), readonly or not.  size must be a multiple of huge
 * (EINVAL); every page is reserved now: ENOMEM when the pool of huge
 * pages (/proc/sys/vm/nr_hugepages) cannot hold them, never a SIGBUS
 * later.
 */
int region__new_huge(const char *name, uint64_t size, uint64_t huge,
		     bool readonly, struct region **out);
/* Huge pages of huge bytes free and not reserved in the system now. */
uint64_t region__huge_free(uint64_t huge);
/*
 * Why a region on pages of huge bytes was refused ret (EINVAL: size not a
 * multiple of it; else the pool), in why: returns ret.
 */
int region__huge_refused(int ret, uint64_t size, uint64_t huge,
			 struct why *why);
/* The size of the pages backing r: its huge page size, or the base page. */
uint64_t region__page_bytes(const struct region *r);
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

/* Install (guard non-NULL) or remove the guest side; caller holds r exclusive. */
void region__set_guard(struct region *r, const struct region_guard *guard,
		       void *owner);
/* Whether the guest holds r now (a mapped region and a running guest). */
bool region__guest_running(struct region *r);

/*
 * Exclusivity.  EBUSY when the bounded wait ran out or the guest holds the
 * region, EPERM for a readonly region; why says which.
 */
int region__shared_begin(struct region *r);
void region__shared_end(struct region *r);
int region__exclusive_begin(struct region *r, struct why *why);
/* Exclusive operations so far that waited for host accesses, and EBUSYs. */
void region__exclusive_stats(uint64_t *waits, uint64_t *busy);
void region__exclusive_end(struct region *r);

/*
 * Host I/O, bounds-checked, holding the region shared; *done is the bytes
 * moved.  Reads past the end move 0 bytes, writes that start at or past
 * the end fail with ENOSPC, writes that straddle it are short.
 */
int region__read(struct region *r, void *buf, size_t len, uint64_t off,
		 size_t *done);
int region__write(struct region *r, const void *buf, size_t len, uint64_t off,
		  size_t *done);
/*
 * with_contents: call fn with the memfd and the part of [off, off + len)
 * inside mem_size (len 0 at or past the end), holding the region shared
 * until fn returns, so whatever fn reads (pread, a splice that the kernel
 * copies later in fn) is the memory as it is now, never a zeroed or
 * resized one.  Returns fn's result, or EBUSY (fn not called) when the
 * bounded wait for shared access ran out, or EXDEV (fn not called) for
 * an overlay (a diff's copy), whose bytes are in more than one memfd,
 * and for a huge region, whose memfd cannot be spliced (hugetlbfs has
 * no splice_read): read those with region__read.
 */
typedef int region_contents_fn(void *arg, int memfd, uint64_t off,
			       size_t len);
int region__with_contents(struct region *r, size_t len, uint64_t off,
			  region_contents_fn *fn, void *arg);
/*
 * read_mapped: the same for a huge-page region, whose memfd cannot be
 * spliced: fn gets the part of [off, off + len) inside mem_size as iovecs
 * over the daemon's mapping, a hole (a huge page never written) as
 * zeros that allocate nothing, with the region held shared until fn
 * returns; whoever fn hands them to makes the one copy.  EXDEV (fn not
 * called) for any other region, or len over REGION_MAPPED_READ_MAX, and
 * always in a ThreadSanitizer build (region.c says why); EBUSY as
 * with_contents.
 */
#define REGION_MAPPED_READ_MAX (1U << 20)
struct iovec;
typedef int region_iov_fn(void *arg, const struct iovec *iov, int cnt);
int region__read_mapped(struct region *r, size_t len, uint64_t off,
			region_iov_fn *fn, void *arg);

/* The following need the caller to hold the region exclusive. */
int region__zero_locked(struct region *r);
/* Zeros from off to the end (a truncate that keeps the size). */
int region__zero_from_locked(struct region *r, uint64_t off);
int region__resize_locked(struct region *r, uint64_t size);
/*
 * The same bytes on pages of huge bytes (0: ordinary pages): new memory,
 * like a resize.  EINVAL for another page size or a mem_size that is not
 * a multiple of it, EPERM while mapped, ENOMEM when the pool is short.
 */
int region__repage_locked(struct region *r, uint64_t huge);

/*
 * Make dst's [off, end) what src's is (copy.h's copy__range over the two
 * regions, whatever their pages): data copied through buf (COPY_CHUNK
 * bytes), holes punched when fill_holes.  The caller holds both.
 */
struct extents;
int region__copy(struct region *dst, struct region *src, uint8_t *buf,
		 struct extents *x, uint64_t off, uint64_t end,
		 bool fill_holes);
/*
 * The same, holes left (dst fresh), src read with pread: x may say data
 * where src has holes (a range only known to start with data), which
 * reading them through src's mapping would allocate.
 */
int region__copy_read(struct region *dst, struct region *src, uint8_t *buf,
		      struct extents *x, uint64_t off, uint64_t end);
/*
 * The same from a file that is no region: holes in src punched in dst
 * when fill_holes, else left (dst holds zeros there already).
 */
int region__copy_fd(struct region *dst, int src, uint8_t *buf,
		    struct extents *x, uint64_t off, uint64_t end,
		    bool fill_holes);

/* Convenience: take exclusivity, do it, release. */
int region__zero(struct region *r, struct why *why);
int region__resize(struct region *r, uint64_t size, struct why *why);

/*
 * Sparse layout of the memfd: the next data or hole at or after off
 * (lseek semantics: ENXIO at or past the end), and the resident bytes.
 */
int region__seek_data(struct region *r, uint64_t off, uint64_t *pos);
int region__seek_hole(struct region *r, uint64_t off, uint64_t *pos);
uint64_t region__resident(struct region *r);
/* Without the lock: never waits for an exclusive holder. */
void region__geometry(struct region *r, struct region_geometry *g,
		      bool resident);
/*
 * The bytes changed now (host writes, zero, restore, resize, the guest's
 * writes as harvested), or an attribute did (mapping, access, size); and
 * the times of the last of each (ctime is never before mtime).
 */
void region__touch(struct region *r);
void region__touch_attr(struct region *r);
/*
 * How many times any region was touched (either kind) in this process:
 * a figure summed over many regions (statfs's resident bytes) still
 * holds while it has not moved, but for the writes no touch records
 * (the guest's before their harvest, shared mappings, passthrough
 * writers until their close).  O(1).
 */
uint64_t region__changes(void);
void region__times(struct region *r, struct timespec *mtime,
		   struct timespec *ctime);

/*
 * Dirty tracking (dirty.h) in bytes: host writes stamp as they go, the
 * guest's writes come from its side of the guard.
 */
/* Host writes the region cannot see ([off, off + len), or a writer). */
void region__dirty_mark(struct region *r, uint64_t off, uint64_t len);
/*
 * A read-write opener of the memfd itself (a passthrough open, which may
 * mmap): its writes, and those of a mapping that outlives it, are never
 * seen, so every page counts as written from its open until a resize
 * gives the region new memory.  While it is open the times read as now;
 * after, the time of its close (as tmpfs, which a mapping's writes do not
 * date either).
 */
void region__writer_open(struct region *r);
void region__writer_close(struct region *r);
bool region__writer_is_open(struct region *r);
/*
 * Shared writable mappings of the memory (through a read-write open of
 * the memfd itself), which dirty cannot see: allowed or not, per region;
 * the default is the mount's (region__set_mmap_rw_default, false).  A
 * readonly region refuses (EPERM).
 */
void region__set_mmap_rw_default(bool on);
bool region__mmap_rw(struct region *r);
int region__set_mmap_rw(struct region *r, bool on, struct why *why);
/* Another name of the memory in /proc/PID/maps (dev, ino): see mmap_rw. */
void region__set_alias(struct region *r, dev_t dev, ino_t ino);
/*
 * Whether a process other than this one has a shared mapping of the
 * memory that can write it (writable, or that mprotect could make so),
 * under the memfd's own name or the alias: 0 none, EBUSY (why names the
 * pid), E2BIG when the scan reached its bound.  Reads /proc: root sees
 * every process of its pid namespace and those below it.
 */
int region__shared_writers(struct region *r, struct why *why);
/*
 * Fetch the guest's writes into the stamps (nothing to do when unmapped
 * or untracked).  The caller holds the region shared or exclusive.
 */
int region__dirty_harvest(struct region *r);
/* Milliseconds since the last harvest (UINT64_MAX: never). */
uint64_t region__harvest_age_ms(struct region *r);
/* The next run of pages written since epoch since, as dirty__next. */
bool region__dirty_next(struct region *r, uint32_t since, uint64_t from,
			uint64_t *first, uint64_t *end);
/*
 * `echo 0 > dirty`: takes exclusivity, fetches the guest's writes and
 * starts over.  EOPNOTSUPP when untracked, EPERM for a readonly region.
 * A region counted whole for a writer nobody sees is exact again from
 * the clear when no read-write opener of the memfd and no shared
 * writable mapping of it remain; else it stays whole, and the clear
 * still succeeds with why saying what holds it (why->msg empty: exact).
 */
int region__dirty_clear(struct region *r, struct why *why);

#endif
