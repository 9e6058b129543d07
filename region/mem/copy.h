/*
 * Sparse copies between memfds, for snapshots and restores: data is
 * copied, pages of zeros and holes stay (or become) holes.
 *
 * How a copy moves the bytes, and why:
 *
 *  - Holes come from the source's SEEK_DATA/SEEK_HOLE, so a copy costs the
 *    data, not the size.  Within the data, every page is checked for zeros
 *    before it is written: a page KVM faulted in on a guest's read (shmem
 *    allocates a page of zeros then) stays a hole in the copy.  The check
 *    stops at the first non-zero word, so a page of data costs one cache
 *    line more, the copy reading it next from the cache.
 *  - A mapped source (struct copy_side.map) whose extents are exact (a
 *    shmem memfd) is read through its mapping: no bounce buffer, the data
 *    extents holding only pages that exist, so reading never allocates.
 *    Any other source (no mapping, a file, or hugetlbfs, whose SEEK_DATA
 *    says "all data" and whose read faults would allocate huge pages) is
 *    read with pread, which returns zeros for a hole without allocating.
 *  - The destination is written with pwrite where it can be (shmem): of
 *    the ways measured, the fewest CPU cycles per page (no zeroing, no
 *    page tables).  But shmem's write path holds the inode lock, so a
 *    second thread with pwrite (or copy_file_range) gains nothing.  A
 *    range of COPY_SPLIT_MIN bytes or more with a mapped destination is
 *    therefore split, in COPY_BLOCK-sized blocks taken in turn, between
 *    the caller (pwrite) and one helper thread that writes through the
 *    mapping (MADV_POPULATE_WRITE, then memcpy: page faults take no
 *    inode lock), joined before the call returns; the helper allocates
 *    its own COPY_CHUNK buffer when it needs one.  1 GiB fully written,
 *    both cores free: 3.7-4.1 GB/s, against 1.9-2.4 for pread+pwrite.
 *    The daemon's RSS counts the pages so mapped (shared memory, once
 *    more); dropping them again cost 7 %.
 *  - A hugetlbfs destination has no write(2): both threads (or the
 *    caller alone) write it through its mapping.  Holes are made with
 *    fallocate(PUNCH_HOLE), which hugetlbfs does whole huge pages at a
 *    time (zeroing the partial huge pages at the ends).
 *
 * The caller keeps both memfds still meanwhile (the region held
 * exclusive, or a copy nobody else has yet): a copy reads and writes
 * within [off, end) only, and each mapping (read-write for dst) must
 * cover it.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_COPY_H
#define REGIONFS_COPY_H

#include <stdbool.h>
#include <stdint.h>

/* The copy buffer of one snapshot or restore (and of the helper thread). */
#define COPY_CHUNK (1 << 20)
/* Ranges this long or longer are copied by two threads. */
#define COPY_SPLIT_MIN (64ULL << 20)
/* What each of the two threads takes at a time. */
#define COPY_BLOCK (8ULL << 20)

/*
 * What a copy learned of its two files, remembered across calls (a
 * restore makes one call per run of dirty pages): where src's data and
 * holes are (src is never written meanwhile, and the ranges asked for
 * only move forward), and which files they are.  Start one zeroed per
 * pair of files.
 */
struct extents {
	uint64_t from;	/* [from, data) is a hole, [data, hole) data */
	uint64_t data;
	uint64_t hole;
	uint8_t kinds;	/* 0: not asked yet; else copy.c's bits */
};

/*
 * The extents of each level of a view (a diff's copy reads through its
 * bases, at most COPY_LEVELS deep counting itself), remembered across
 * the calls of one copy: start one zeroed per source.
 */
#define COPY_LEVELS 17
struct copy_cursor {
	struct extents x[COPY_LEVELS];
	/*
	 * Where the source holds data, a bit a page (region__data_map), or
	 * NULL: with it, a short range between two regions that copy by
	 * their mappings is copied page by page (COPY_DENSE_PAGES).
	 */
	const uint64_t *map;
};

/*
 * Ranges of at most this many pages are copied page by page between the
 * mappings, as the source's data map says: no syscall for data, a punch
 * for holes.  Longer ones go through the source's extents and the bounce
 * buffer, which skip its holes in bulk.
 */
#define COPY_DENSE_PAGES 16

/* The bounce buffer (COPY_CHUNK) of a copy, made when first needed. */
int copy__buffer(uint8_t **buf);

/* One end of a copy: the fd, and its mapping from offset 0 (or NULL). */
struct copy_side {
	int fd;
	uint8_t *map;
	/*
	 * A source whose mapping holds its bytes and whose extents are given
	 * (a copy-on-write region: its fd, if any, is not its bytes).
	 */
	bool exact;
};

/*
 * Make dst's [off, end) what src's is: data copied, holes punched when
 * fill_holes (else dst is known to hold zeros there already).  buf
 * (COPY_CHUNK bytes) is used when src must be read with pread.
 */
int copy__sides(struct copy_side dst, struct copy_side src, uint8_t *buf,
		struct extents *x, uint64_t off, uint64_t end,
		bool fill_holes);

/*
 * The same between unmapped files: pread and pwrite, one thread (so dst
 * must take write(2): give a hugetlbfs dst's mapping to copy__sides).
 */
int copy__range(int dst, int src, uint8_t *buf, struct extents *x,
		uint64_t off, uint64_t end, bool fill_holes);
/*
 * x made to hold the extent around off (x->data, x->hole: UINT64_MAX
 * both when there is no data from off on), asking src only when x does
 * not cover off already.
 */
int copy__extent(int src, struct extents *x, uint64_t off);

#endif
