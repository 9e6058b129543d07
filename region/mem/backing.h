/*
 * What the memory core sees of a region, and the one table through which
 * a region's bytes are reached: struct backing_ops, chosen when the region
 * is made.  Private to region/mem/ (and to the unit tests that look
 * inside): everything else holds a struct region through region.h, opaque.
 *
 * The model is rust-vmm vm-memory's GuestMemoryRegion trait (src/region.rs)
 * with one backend per kind of memory (src/mmap/): region.c keeps what
 * every region has (its life and references, exclusivity and the guest's
 * guard, geometry, times, dirty marks) and never names a backing; each
 * backing is one file implementing the table:
 *
 *   shmem.c    an ordinary memfd (tmpfs pages, transparent huge pages on
 *              advice): pread/pwrite, exact SEEK_DATA, splice
 *   hugetlb.c  a hugetlbfs memfd: written and read through the mapping,
 *              holes from the page tables (hugetlb.h says why)
 *   overlay.c  a diff snapshot's copy: the pages it holds in its own
 *              memory, the rest read through from a base region
 *   cow.c      a saved file mapped copy-on-write (MAP_PRIVATE): the
 *              pages written are private, the rest the file's
 *
 * Errors: 0 or a positive errno, as region.h.
 */
#ifndef REGIONFS_BACKING_H
#define REGIONFS_BACKING_H

#include "region/mem/copy.h"
#include "region/mem/dirty.h"
#include "region/mem/region.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

struct backing_ops;

/*
 * Lock order (doc/design-core.md):
 *   snaps.op -> sb->lock -> region locks, in table order -> v->lock ->
 *   vm->lock -> vm->run_lock
 * with leaves beside them (snaps.lock, sb->acct under sb->lock; a
 * dirty's runs_lock and an overlay's seek_lock under their region).
 */
struct region {
	char name[REGION_NAME_MAX + 1];
	const struct backing_ops *ops;	/* set when made, never changed */
	void *priv;			/* the backing's own state, or NULL */
	int memfd;
	uint8_t *raw;		/* the reservation, guard pages included */
	uint64_t mem_size;	/* usable bytes */
	/*
	 * The huge page size of a hugetlbfs memfd, 0 for base pages; a
	 * page_size write moves the region between them (a rebuild), so it
	 * is read atomically outside the region's lock.
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
	 * starve an exclusive operation past its bounded wait.  Must be
	 * acquired *after* snaps.op and sb->lock, and *before* v->lock and
	 * the VM's locks (the guard takes run_lock under it).  More than one
	 * region is held only by a snapshot or a restore (under snaps.op),
	 * in table order; every wait for it is bounded (EBUSY).
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
	/* The resident bytes of its own memfd last read (region__geometry). */
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
	/* Whether its bytes are being checked, or failed it (check.c). */
	atomic_int check;
	_Atomic uint64_t alias_dev;
	_Atomic uint64_t alias_ino;
};

/*
 * r->ops for a caller that may not hold r (a stat, the `dirty` size): a
 * page_size write replaces it, under exclusive, with a release store.
 */
static inline const struct backing_ops *region__ops(const struct region *r)
{
	return __atomic_load_n(&r->ops, __ATOMIC_ACQUIRE);
}

/* Memory a backing made: a memfd mapped into a guarded reservation. */
struct mem {
	int fd;			/* -1: no fd holds the bytes (cow.c) */
	uint8_t *raw;		/* the first guard page */
	uint64_t huge;		/* its page size, 0: base pages */
	const void *arg;	/* in: the backing's own (cow.c: the file) */
};

/* What cow.c's make maps (region__make_arg's arg). */
struct cow_base {
	int fd;
	bool readonly;
};

/*
 * One side of a copy: a region's memory, or a file that is no region
 * (base NULL, huge 0: its holes found with lseek, its data read with
 * pread, which never allocates a hole of it).
 */
struct mem_side {
	int fd;
	uint8_t *base;		/* the first usable byte of its mapping */
	uint64_t huge;
};

/* How copy_in may move the bytes (region.h's three copies). */
enum {
	COPY_FILL_HOLES = 1,	/* punch dst where src has holes */
	COPY_SRC_PREAD = 2,	/* read src with pread, never its mapping */
	COPY_DST_PWRITE = 4,	/* write dst with pwrite where it takes it */
	/*
	 * src's mapping holds its bytes and the extents given are its own
	 * (cow.c: no fd does): read it there, never with its fd.
	 */
	COPY_SRC_MAP = 8,
};

/* How a read is best served (backing_ops.serve), FUSE not named. */
enum serve_kind {
	SERVE_FD,	/* splice fd at the offset: the bytes are there */
	SERVE_MAP,	/* iovecs over the mapping (holes: shared zeros) */
	SERVE_COPY,	/* read into a buffer (backing_ops.read) */
};
struct serve {
	enum serve_kind kind;
	int fd;
	int cnt;
	struct iovec iov[2];
};

/*
 * The table.  r is held shared for read, serve, write and seek (and
 * exclusive for punch), with [off, off + len) inside mem_size (region.c
 * clips); readonly regions are never held exclusive, so their memory
 * changes only before they are handed out.
 */
struct backing_ops {
	const char *name;
	/* Pages copied page by page between mappings (region__copies_by_map). */
	bool by_map;
	/*
	 * New memory of size bytes on pages of huge bytes, its memfd named
	 * name; with the bytes [0, min(size, from's)) of region from when
	 * from is not NULL (a resize or a page_size write: rebuild).
	 */
	int (*make)(const char *name, uint64_t size, uint64_t huge,
		    struct region *from, struct mem *out);
	int (*read)(struct region *r, void *buf, size_t len, uint64_t off,
		    size_t *done);
	/* How [off, off + len) can be replied; want: the length asked. */
	void (*serve)(struct region *r, uint64_t off, size_t len, size_t want,
		      struct serve *how);
	int (*write)(struct region *r, const void *buf, size_t len,
		     uint64_t off, size_t *done);
	/* lseek's SEEK_DATA/SEEK_HOLE, off < mem_size. */
	int (*seek)(struct region *r, uint64_t off, int whence, uint64_t *pos);
	/*
	 * The first byte of data in [off, end) (*pos = end: none), costing
	 * what lies between at most (shmem's SEEK_HOLE would walk on).
	 */
	int (*next_data)(struct region *r, uint64_t off, uint64_t end,
			 uint64_t *pos);
	/*
	 * Bytes of data of r's own memory in [off, end), page-aligned,
	 * costing what copying them would at most (never a walk past end).
	 */
	int (*data_bytes)(struct region *r, uint64_t off, uint64_t end,
			  uint64_t *bytes);
	/* Zeros in [off, off + len), whole pages given back. */
	int (*punch)(struct region *r, uint64_t off, uint64_t len);
	/* st_blocks' bytes: own, the memfd's (an overlay shows its view's). */
	uint64_t (*resident)(struct region *r, uint64_t own);
	/*
	 * Copy src's [off, end) (of this backing) into dst, through dst's
	 * copy_in: an overlay answers a level at a time, each level with
	 * its own extents in cur (region__copy_out).
	 */
	int (*copy_out)(struct region *src, struct region *dst, uint8_t **buf,
			struct copy_cursor *cur, uint64_t off, uint64_t end,
			unsigned how);
	/*
	 * Make dst's [off, end) what src's is, dst being of this backing
	 * (how: COPY_*); x remembers src's extents (copy.h).
	 */
	int (*copy_in)(struct region *dst, const struct mem_side *src,
		       uint8_t *buf, struct extents *x, uint64_t off,
		       uint64_t end, unsigned how);
	/*
	 * x made to hold the extent of r's own memory around byte p (as
	 * copy__extent), asking about [p, end) at most.
	 */
	int (*extent)(struct region *r, struct extents *x, uint64_t p,
		      uint64_t end);
	/*
	 * A readonly copy that holds some pages of a view itself (an
	 * overlay): those are its `dirty` runs (NULL: its stamps say).
	 */
	bool (*held_next)(struct region *r, uint64_t from, uint64_t *first,
			  uint64_t *end);
	uint64_t (*held_text_size)(struct region *r);
	/* Let go of priv (the memfd and the mapping are region.c's). */
	void (*free)(struct region *r);
	/*
	 * Memory that is not all the region's own (cow.c: a file's pages)
	 * made so, at the same addresses, with the bytes when keep (else
	 * holes): before a rebuild, which copies from the memfd.  NULL:
	 * it is all its own.  Under exclusive.
	 */
	int (*leave)(struct region *r, bool keep);
	/*
	 * Whether the memfd holds every byte of r (NULL: it does when there
	 * is one); an overlay over a base holds only some.
	 */
	bool (*fd_whole)(struct region *r);
	/*
	 * The memory r takes of its own, what a snapshot limit counts (NULL:
	 * resident's); fresh: r held, or a copy nobody changes; else counted
	 * at most once a second, holding nothing (metrics).
	 */
	uint64_t (*own_bytes)(struct region *r, bool fresh);
};

/* The table of a diff's copy (overlay.c), and of a file's (cow.c). */
extern const struct backing_ops overlay_ops, cow_ops;

/*
 * A region of ops' memory: the constructors (region__new*, a backing's
 * own) end here.  huge is the page size (0: base pages).
 */
int region__make(const char *name, uint64_t size, bool readonly,
		 uint64_t huge, const struct backing_ops *ops,
		 struct region **out);
/* The same, with arg for ops->make (struct mem's), on base pages. */
int region__make_arg(const char *name, uint64_t size, bool readonly,
		     const struct backing_ops *ops, const void *arg,
		     struct region **out);
/* [off, off + len) of r clipped to mem_size: the length left. */
size_t region__clip(const struct region *r, uint64_t off, size_t len);
/* A region's memory as one side of a copy. */
struct mem_side region__side(struct region *r);

/*
 * Make the memory of r a new one of size bytes on pages of huge bytes,
 * with ops (the rebuild of a resize or a page_size write); the caller
 * holds r exclusive.
 */
int region__rebuild_locked(struct region *r, uint64_t size, uint64_t huge,
			   const struct backing_ops *ops);

/* 0, or why a read may not be given the bytes now (check.c). */
int check__wait(struct region *r);

/* The two memfd backings (pages.c chooses between them by page size). */
extern const struct backing_ops shmem_ops, hugetlb_ops;

/* What the memfd backings share (memfd.c). */
int memfd__new(const char *name, uint64_t size, unsigned flags, int *out);
/*
 * Reserve size + 2 pages of PROT_NONE address space, the memfd mapped
 * over the middle.
 */
int memfd__map(int memfd, uint64_t size, uint8_t **raw);
void memfd__unmake(struct mem *m, uint64_t size);
/*
 * [off, off + len) of a file (a region's or not) read whole: a short
 * read (shorter than its size said) is EIO, never zeros made up.
 */
int memfd__pread_whole(int fd, void *buf, size_t len, uint64_t off);
/* pread of [off, off + len): a hole reads as zeros, never allocated. */
int memfd__read(struct region *r, void *buf, size_t len, uint64_t off,
		size_t *done);
/* copy_out of a region that is all its own memory: dst's copy_in. */
int memfd__copy_out(struct region *src, struct region *dst, uint8_t **buf,
		    struct copy_cursor *cur, uint64_t off, uint64_t end,
		    unsigned how);
uint64_t memfd__resident(struct region *r, uint64_t own);

#endif
