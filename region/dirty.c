/*
 * Dirty tracking: which pages of a region were written, and when.
 *
 * Every page has a stamp, the epoch of its last known write.  The epoch is
 * one counter for the process; a clear of `dirty` or a snapshot takes a
 * boundary (the epoch, which then moves on) while it holds the region
 * exclusive, so every later write is stamped above the boundary and every
 * earlier one at or below it.  One array thus answers both "written since
 * the last clear" (the `dirty` file) and "written since snapshot S" (what
 * restore must copy back), for any number of snapshots.
 *
 * Host writes stamp their pages as they happen.  Guest writes are in the
 * KVM dirty log of the region's slot (KVM_MEM_LOG_DIRTY_PAGES) until they
 * are harvested: before anything reads the stamps, and before the slot is
 * deleted (vm.c).  A boundary is only taken after a harvest, with the
 * guest kept out, so guest writes land on the right side of it too.
 */
#include "region/region.h"
#include "region/vm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static _Atomic uint32_t epoch = 1;
static atomic_bool tracking = true;

void dirty__set_tracking(bool on)
{
	atomic_store(&tracking, on);
}

bool dirty__tracking(void)
{
	return atomic_load(&tracking);
}

uint32_t dirty__epoch(void)
{
	return atomic_load(&epoch);
}

uint32_t dirty__boundary(void)
{
	return atomic_fetch_add(&epoch, 1);
}

static uint64_t nr_pages(uint64_t size)
{
	return size / region__page_size();
}

/*
 * Four bytes a page (0.1 % of the region), mapped lazily: a 1 TiB region
 * reserves 1 GiB of address space for its stamps but only the stamps of
 * written pages ever take memory.
 */
int region__dirty_alloc(struct region *r, uint64_t size)
{
	uint64_t len = nr_pages(size) * sizeof(*r->stamps);
	void *p;

	r->track = dirty__tracking() && !r->readonly;
	if (!r->track || !len)
		return 0;
	if (!r->stamps) {
		/*
		 * A new region: every page counts as written now (with
		 * zeros), after every snapshot already taken, so restoring
		 * one into a region made since rewrites it whole; and its
		 * record of `dirty` starts empty.
		 */
		uint32_t e = dirty__boundary();

		atomic_store(&r->floor, e);
		r->cleared = e;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return errno;
	if (r->stamps) {
		uint64_t old = nr_pages(r->mem_size), n = nr_pages(size);

		memcpy(p, (void *)r->stamps,
		       (old < n ? old : n) * sizeof(*r->stamps));
		region__dirty_free(r);
	}
	r->stamps = p;
	return 0;
}

void region__dirty_free(struct region *r)
{
	if (r->stamps)
		munmap((void *)r->stamps, nr_pages(r->mem_size) *
		       sizeof(*r->stamps));
	r->stamps = NULL;
}

void region__dirty_mark(struct region *r, uint64_t off, uint64_t len)
{
	uint64_t page = region__page_size(), p, end;
	uint32_t e;

	if (!r->stamps || !len || off >= r->mem_size)
		return;
	if (len > r->mem_size - off)
		len = r->mem_size - off;
	e = dirty__epoch();
	end = (off + len + page - 1) / page;
	for (p = off / page; p < end; p++)
		atomic_store_explicit(&r->stamps[p], e, memory_order_relaxed);
}

void region__dirty_mark_all(struct region *r)
{
	if (r->track)
		atomic_store(&r->floor, dirty__epoch());
}

void region__dirty_hold(struct region *r)
{
	atomic_fetch_add(&r->untracked, 1);
}

void region__dirty_release(struct region *r)
{
	/* Whatever it wrote, it wrote before now. */
	region__dirty_mark_all(r);
	atomic_fetch_sub(&r->untracked, 1);
}

void region__dirty_stamp_bits(struct region *r, const uint64_t *bits,
			      uint64_t npages)
{
	uint32_t e = dirty__epoch();

	if (!r->stamps)
		return;
	if (npages > nr_pages(r->mem_size))
		npages = nr_pages(r->mem_size);
	for (uint64_t w = 0; w < (npages + 63) / 64; w++) {
		uint64_t word = bits[w];

		while (word) {
			uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(word);

			word &= word - 1;
			if (p < npages)
				atomic_store_explicit(&r->stamps[p], e,
						      memory_order_relaxed);
		}
	}
}

int region__dirty_harvest(struct region *r)
{
	if (!r->track || !region__mapped(r) || !r->vm)
		return 0;
	return vm__dirty_harvest(r->vm, r);
}

static bool page_dirty(struct region *r, uint32_t since, uint32_t floor,
		       uint64_t p)
{
	return floor > since ||
	       atomic_load_explicit(&r->stamps[p], memory_order_relaxed) > since;
}

int64_t region__dirty_next(struct region *r, uint32_t since, uint64_t from,
			   uint64_t *end)
{
	uint64_t n = nr_pages(r->mem_size), p;
	uint32_t floor;

	if (from >= n)
		return -1;
	/* Untracked, or a writer we cannot see: everything may differ. */
	if (!r->stamps || atomic_load(&r->untracked) > 0) {
		*end = n;
		return (int64_t)from;
	}
	floor = atomic_load(&r->floor);
	for (p = from; p < n && !page_dirty(r, since, floor, p); p++)
		;
	if (p == n)
		return -1;
	for (*end = p + 1; *end < n && page_dirty(r, since, floor, *end);
	     (*end)++)
		;
	return (int64_t)p;
}

int region__dirty_clear(struct region *r)
{
	int ret;

	if (r->readonly)
		return EPERM;
	if (!r->track)
		return EOPNOTSUPP;
	ret = region__exclusive_begin(r);
	if (ret)
		return ret;
	ret = region__dirty_harvest(r);
	if (!ret)
		r->cleared = dirty__boundary();
	region__exclusive_end(r);
	return ret;
}

/*
 * The text is generated from a bitmap taken at once, so a reader that
 * reads it in pieces sees one consistent list.  Reads in order resume
 * where the last one stopped; a read further back starts over.
 */
struct dirty_text {
	const char *fixed;	/* "untracked\n", or NULL: the ranges */
	uint64_t *bits;
	uint64_t npages;
	uint64_t size;		/* of the whole text */
	/* The cursor: the next line starts at text offset pos, page next. */
	uint64_t pos;
	uint64_t next;
};

#define UNTRACKED "untracked\n"

/* The line of the run of pages [first, end). */
static int format_range(char *line, size_t len, uint64_t first, uint64_t end)
{
	uint64_t page = region__page_size();

	return snprintf(line, len, "0x%" PRIx64 "-0x%" PRIx64 "\n",
			first * page, end * page);
}

static bool bit(const uint64_t *bits, uint64_t p)
{
	return bits[p / 64] >> (p % 64) & 1;
}

/* The line of the run at or after page *p, or 0 past the last run. */
static int next_line(const struct dirty_text *t, uint64_t *p, char *line,
		     size_t len)
{
	uint64_t start;

	while (*p < t->npages && !bit(t->bits, *p))
		(*p)++;
	if (*p >= t->npages)
		return 0;
	start = *p;
	while (*p < t->npages && bit(t->bits, *p))
		(*p)++;
	return format_range(line, len, start, *p);
}

int region__dirty_text(struct region *r, struct dirty_text **out)
{
	struct dirty_text *t = calloc(1, sizeof(*t));
	char line[48];
	uint64_t p, end;
	int64_t s;
	int ret;

	if (!t)
		return ENOMEM;
	*out = t;
	if (r->readonly)
		return 0;	/* nothing was written since it was taken */
	if (!r->track) {
		t->fixed = UNTRACKED;
		t->size = strlen(t->fixed);
		return 0;
	}
	ret = region__shared_begin(r);
	if (ret)
		goto err;
	ret = region__dirty_harvest(r);
	t->npages = nr_pages(r->mem_size);
	t->bits = calloc((t->npages + 63) / 64 + 1, sizeof(*t->bits));
	if (!ret && !t->bits)
		ret = ENOMEM;
	for (p = 0; !ret && (s = region__dirty_next(r, r->cleared, p, &end)) >= 0;
	     p = end) {
		for (uint64_t i = (uint64_t)s; i < end; i++)
			t->bits[i / 64] |= 1ULL << (i % 64);
		t->size += (uint64_t)format_range(line, sizeof(line),
						  (uint64_t)s, end);
	}
	region__shared_end(r);
	if (ret)
		goto err;
	return 0;
err:
	dirty_text__free(t);
	*out = NULL;
	return ret;
}

int64_t region__dirty_text_size(struct region *r)
{
	uint64_t p, end;
	int64_t size = 0, s;
	char line[48];
	int ret;

	if (r->readonly)
		return 0;
	if (!r->track)
		return (int64_t)strlen(UNTRACKED);
	ret = region__shared_begin(r);
	if (ret)
		return -ret;
	ret = region__dirty_harvest(r);
	for (p = 0; !ret && (s = region__dirty_next(r, r->cleared, p, &end)) >= 0;
	     p = end)
		size += format_range(line, sizeof(line), (uint64_t)s, end);
	region__shared_end(r);
	return ret ? -ret : size;
}

uint64_t dirty_text__size(const struct dirty_text *t)
{
	return t->size;
}

size_t dirty_text__read(struct dirty_text *t, char *buf, size_t len,
			uint64_t off)
{
	char line[48];
	size_t done = 0;
	int n;

	if (t->fixed) {
		if (off >= t->size)
			return 0;
		if (len > t->size - off)
			len = t->size - off;
		memcpy(buf, t->fixed + off, len);
		return len;
	}
	if (off < t->pos) {
		t->pos = 0;
		t->next = 0;
	}
	while (done < len) {
		uint64_t page = t->next;

		n = next_line(t, &page, line, sizeof(line));
		if (n <= 0)
			break;
		if (t->pos + (uint64_t)n <= off) {
			/* Before the offset asked for: skip the line. */
			t->pos += (uint64_t)n;
			t->next = page;
			continue;
		}
		{
			size_t from = off > t->pos ? (size_t)(off - t->pos) : 0;
			size_t take = (size_t)n - from;

			if (take > len - done)
				take = len - done;
			memcpy(buf + done, line + from, take);
			done += take;
			off += take;
			if (from + take < (size_t)n)
				break;	/* the rest of this line next time */
			t->pos += (uint64_t)n;
			t->next = page;
		}
	}
	return done;
}

void dirty_text__free(struct dirty_text *t)
{
	if (!t)
		return;
	free(t->bits);
	free(t);
}
