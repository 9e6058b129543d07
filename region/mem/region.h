/*
 * A region: one shared memory of the sandbox, backed by a memfd.
 *
 * This is the memory model only: the memfd and its guard pages, the
 * bounded exclusivity, host I/O, zero, holes and the dirty stamps.  Who
 * else shares the memory (a VM that maps it) plugs in through a guard
 * (struct region_guard), so nothing here knows KVM.  Which kind of memory
 * it is (shmem, hugetlbfs, a diff's overlay) is its backing's business:
 * nothing outside region/mem/ asks.
 *
 * Errors: every function returns 0 or a positive errno; counts and
 * offsets come back through out-parameters.  Functions that can refuse
 * take a struct why, which they fill with the reason (it may be NULL).
 */
#ifndef REGIONFS_REGION_H
#define REGIONFS_REGION_H

#include "region/mem/dirty.h"
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

/*
 * struct region is opaque: its memory is reached through the functions
 * below, each of which asks the region's backing (backing.h, private to
 * region/mem/).
 */

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

const char *region__name(const struct region *r);
/* A snapshot's copy (or a readonly template): never held exclusive. */
bool region__readonly(const struct region *r);
/* When it was made: the files' atime. */
struct timespec region__created(const struct region *r);
/* Its huge page size; 0 on base pages. */
uint64_t region__huge_size(const struct region *r);
/*
 * The memfd itself, for an opener that reads it directly (a FUSE
 * passthrough open): a resize replaces it, so the caller keeps a resize
 * from happening meanwhile (fs/contents.c's resizing flag).
 */
int region__memfd(struct region *r);
/* The guest's access when mapped (true: KVM_MEM_READONLY). */
bool region__guest_ro(const struct region *r);
/* Change it: the caller holds r exclusive (or it is a fresh copy). */
void region__set_guest_ro(struct region *r, bool ro);
/*
 * A snapshot's copy: where its region was mapped when it was taken
 * (false: unmapped), set once before the copy is published.
 */
bool region__snap_gpa(const struct region *r, uint64_t *gpa);
void region__set_snap_gpa(struct region *r, bool mapped, uint64_t gpa);
/*
 * From now until r is freed, *counter holds r's resident bytes (the
 * snapshot limit counts a copy as long as anyone has it open).
 */
void region__charge(struct region *r, _Atomic uint64_t *counter);

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
 * One read of [off, off + len) answered by whoever asked (fs/: a FUSE
 * reply), the way the region's memory serves it best, asked once:
 *   fd:   splice fd at off (len 0 at or past the end), when the memory is
 *         a memfd that splices and len <= fd_max;
 *   iov:  iovecs over the daemon's mapping (holes as shared zeros that
 *         allocate nothing), for huge pages, which cannot be spliced
 *         (hugetlbfs has no splice_read), len <= REGION_MAPPED_READ_MAX,
 *         never in a ThreadSanitizer build (hugetlb.c says why);
 *   else buffer: a buffer for up to *len bytes (it may shorten *len;
 *         NULL: it replied itself, nothing more is done), which the
 *         region reads into (pread: holes read as zeros without being
 *         allocated), then copied with the bytes read.
 * A NULL member is a way the asker does not take.  The region is held
 * shared until the callback returns, so whatever it reads (a splice that
 * the kernel copies later) is the memory as it is now, never a zeroed or
 * resized one.  Returns the callback's result, EBUSY (nothing called)
 * when the bounded wait for shared access ran out, EXDEV (nothing
 * called) when no way offered fits.
 */
#define REGION_MAPPED_READ_MAX (1U << 20)
struct iovec;
typedef int region_contents_fn(void *arg, int memfd, uint64_t off,
			       size_t len);
typedef int region_iov_fn(void *arg, const struct iovec *iov, int cnt);
struct region_reader {
	region_contents_fn *fd;
	size_t fd_max;
	region_iov_fn *iov;
	void *(*buffer)(void *arg, size_t *len);
	int (*copied)(void *arg, const void *buf, size_t len);
};
int region__reply_read(struct region *r, size_t len, uint64_t off,
		       const struct region_reader *rd, void *arg);
/*
 * The same, one way only: fn with the memfd to splice (with_contents) or
 * with iovecs over the mapping (read_mapped), else EXDEV.
 */
int region__with_contents(struct region *r, size_t len, uint64_t off,
			  region_contents_fn *fn, void *arg);
int region__read_mapped(struct region *r, size_t len, uint64_t off,
			region_iov_fn *fn, void *arg);

/*
 * Copy-on-write regions (cow.c): the bytes of a file (a saved contents)
 * mapped MAP_PRIVATE, never written; the pages written are the region's
 * own (private), the others the file's page cache, shared with every
 * other mapping of it.
 *
 * The file is leased (F_SETLEASE F_RDLCK) when lease is given: an open
 * of it for writing or a truncate, by anyone, first sends lease->sig to
 * thread lease->tid with si_fd the fd region__by_base_fd knows, and
 * waits (up to /proc/sys/fs/lease-break-time) until the region has left
 * the file (region__leave_base_locked) and closed it.
 */
struct cow_lease {
	int sig;
	pid_t tid;
};
/* 0 when this kernel can keep them (PAGEMAP_SCAN), else why not. */
int region__cow_supported(struct why *why);
/*
 * A region of fd's size bytes (a regular file opened for reading, exactly
 * size bytes), path its name in base_text; fd is opened again (its own
 * lease), the caller keeps its own.  why: the reason (the caller copies
 * instead).
 */
int region__new_cow(const char *name, int fd, const char *path,
		    uint64_t size, const struct cow_lease *lease,
		    struct region **out, struct why *why);
/*
 * A readonly copy of r that shares its file (a snapshot's copy that costs
 * nothing): ENOTSUP when r is not copy-on-write or has private pages.
 */
int region__share(struct region *r, struct region **copy);
/*
 * Whether region__memfd(r) holds r's bytes (false: copy-on-write; no fd
 * does, so nothing may splice or pass it through).
 */
#define REGION_HAS_MEMFD_DECLARED 1
bool region__has_memfd(struct region *r);
/*
 * The `base` file: "PAGES PATH\n" (private pages, the file), or "".
 * fresh: counted now, waiting for r (bounded); else (a stat, layout) the
 * count of at most a second ago, and "" while r is held exclusive.
 */
int region__base_text(struct region *r, char *buf, size_t len, bool fresh);
/*
 * The memory r takes of its own (a copy-on-write region: its written
 * pages; else its resident bytes): what the snapshot limit counts.
 */
uint64_t region__own_bytes(struct region *r);
/* The same as a stat sees it: at most a second old, no walk, no wait. */
uint64_t region__own_bytes_seen(struct region *r);
/* A number that changes whenever a region leaves its file. */
uint64_t region__cow_gen(void);
/* The region leasing fd (a reference), or NULL. */
struct region *region__by_base_fd(int fd);
/*
 * r's file's pages copied into memory of its own, at the same addresses
 * (0: not copy-on-write).  The caller holds r exclusive; a readonly copy
 * (never held so) is safe too: the bytes it reads stay the same.
 */
int region__leave_base_locked(struct region *r);
/* The same, taking r (EBUSY while the guest runs on it: pause first). */
int region__leave_base(struct region *r, struct why *why);

/*
 * A region whose bytes --from checks after the start (the sandbox's
 * fromcheck.c): until region__check_end, a read waits for the verdict
 * (at most REGION_CHECK_WAIT_MS, then EBUSY), and after a failed one a
 * read is EIO.  The checker's own thread reads without waiting
 * (region__checker_thread, once).
 */
#define REGION_CHECK_WAIT_MS 30000
void region__check_begin(struct region *r);
void region__check_end(struct region *r, bool ok);
void region__checker_thread(void);
/*
 * 0, or why r's bytes may not be read now (EIO: its check failed;
 * EBUSY: still checking after the bound): for whoever reads them without
 * region__read (a passthrough open, which the kernel then serves).
 */
int region__check_wait(struct region *r);

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
 * Make dst's [off, end) what src's view is, whatever the two are (a
 * diff's copy read level by level through its bases, huge pages written
 * through the mapping, a short range page by page between the mappings
 * as cur->map says): data copied, holes punched.  *buf is the bounce
 * buffer (COPY_CHUNK bytes), made here when a range needs one; the
 * caller frees it.  cur (copy.h) is zeroed by the caller once per src,
 * the ranges moving forward.  The one copy of pages between two
 * regions: a snapshot's restore.  The caller holds both.
 */
struct copy_cursor;
int region__copy_out(struct region *src, struct region *dst, uint8_t **buf,
		     struct copy_cursor *cur, uint64_t off, uint64_t end);
/*
 * Where src (readonly: it never changes) holds data, a bit a page, for
 * copy_cursor.map: *bits (a private anonymous mapping of *len bytes, only
 * the words of pages with data take memory) or NULL when its copies do
 * not use one (region__copies_by_map).
 */
int region__data_map(struct region *src, uint64_t **bits, size_t *len);
/*
 * The same from src's own memory (a plain region, or a copy being made),
 * with one extents cursor: holes punched when fill_holes.
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
/*
 * The same, asked now: for a caller that holds r exclusive (for whom
 * region__resident, which never waits, gives what a stat saw last).
 */
uint64_t region__resident_locked(struct region *r);
/*
 * The first byte of data of r in [off, end) (*pos = end: none), for a
 * caller that holds r: costs what lies between at most.
 */
int region__next_data_locked(struct region *r, uint64_t off, uint64_t end,
			     uint64_t *pos);
/*
 * x made to hold the extent of r's memory around off (copy.h's
 * copy__extent), for a caller that holds r or a copy that never changes.
 */
int region__extent(struct region *r, struct extents *x, uint64_t off);
/*
 * Whether r's pages can be copied page by page between mappings: read
 * through its mapping without allocating a hole (extents exact), written
 * with memcpy, zeroed with region__punch_locked (a restore's short runs).
 */
bool region__copies_by_map(const struct region *r);
/* Zeros in [off, off + len), whole pages given back; r held exclusive. */
int region__punch_locked(struct region *r, uint64_t off, uint64_t len);
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
/* Whether r has stamps at all (not -o nodirty, not a snapshot's copy). */
bool region__tracked(const struct region *r);
/* Every page written now (zero, a restore that copies all). */
void region__dirty_mark_all(struct region *r);
/* From the guest's side of the guard (a KVM dirty log): bit p = page p. */
void region__dirty_mark_bits(struct region *r, const uint64_t *bits,
			     uint64_t npages);
/* Whether every page counts as written since since (dirty__all_since). */
bool region__dirty_all_since(struct region *r, uint32_t since);
/* Pages written since the last clear (as of the last harvest), O(1). */
uint64_t region__dirty_pages(struct region *r);
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
