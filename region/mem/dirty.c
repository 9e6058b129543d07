/*
 * Dirty stamps (dirty.h): four bytes a page, an epoch each, and the
 * highest stamp of each group of pages, so that a walk skips clean groups
 * whole and costs what was written, not the size of the memory.
 *
 * Host writes stamp their pages as they happen.  Guest writes sit in the
 * KVM dirty log of the region's slot until the region harvests them
 * (region.c), before anything reads the stamps and before the slot goes.
 * A boundary is only taken after a harvest, with the guest kept out, so
 * guest writes land on the right side of it too.
 */
#include "region/mem/dirty.h"

#include <errno.h>
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

static uint64_t nr_groups(uint64_t npages)
{
	return (npages + (1ULL << DIRTY_GROUP_SHIFT) - 1) >> DIRTY_GROUP_SHIFT;
}

/*
 * Mapped lazily (0.1 % of the memory): a 1 TiB region reserves 1 GiB of
 * address space for its stamps, but only the stamps of written pages
 * ever take memory.  Resized with mremap, which moves page tables, not
 * bytes, so a resize never touches the stamps of unwritten pages.
 */
static _Atomic uint32_t *array_map(uint64_t n)
{
	void *p = mmap(NULL, n * sizeof(uint32_t), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int array_remap(_Atomic uint32_t **a, uint64_t old, uint64_t n)
{
	void *p = mremap((void *)*a, old * sizeof(uint32_t),
			 n * sizeof(uint32_t), MREMAP_MAYMOVE);

	if (p == MAP_FAILED)
		return errno;
	*a = p;
	return 0;
}

static void array_unmap(_Atomic uint32_t *a, uint64_t n)
{
	if (a)
		munmap((void *)a, n * sizeof(uint32_t));
}

int dirty__init(struct dirty *d, uint64_t npages, unsigned page_shift,
		bool track)
{
	uint32_t e;

	memset(d, 0, sizeof(*d));
	d->npages = npages;
	d->page_shift = page_shift;
	d->track = track && npages;
	pthread_mutex_init(&d->runs_lock, NULL);
	if (!d->track)
		return 0;
	d->stamps = array_map(npages);
	d->groups = d->stamps ? array_map(nr_groups(npages)) : NULL;
	if (!d->groups) {
		dirty__free(d);
		return ENOMEM;
	}
	/*
	 * Written now (with zeros), after every snapshot already taken, so
	 * restoring one into memory made since rewrites it whole.
	 */
	e = dirty__boundary();
	atomic_store(&d->floor, e);
	d->cleared = e;
	return 0;
}

int dirty__resize(struct dirty *d, uint64_t npages)
{
	uint64_t old = d->npages;
	int ret;

	if (!d->track) {
		__atomic_store_n(&d->npages, npages, __ATOMIC_RELEASE);
		return 0;
	}
	/*
	 * The stamps of the pages both sizes have stay; the others start at
	 * 0, and every page counts as written (the caller marks them all).
	 */
	ret = array_remap(&d->stamps, old, npages);
	if (!ret) {
		ret = array_remap(&d->groups, nr_groups(old), nr_groups(npages));
		if (ret)
			array_remap(&d->stamps, npages, old);
	}
	if (ret)
		return ret;
	/* Growing maps fresh pages: a tail cut before comes back as 0. */
	__atomic_store_n(&d->npages, npages, __ATOMIC_RELEASE);
	return 0;
}

void dirty__free(struct dirty *d)
{
	array_unmap(d->stamps, d->npages);
	array_unmap(d->groups, nr_groups(d->npages));
	d->stamps = NULL;
	d->groups = NULL;
	pthread_mutex_destroy(&d->runs_lock);
}

static bool page_dirty(struct dirty *d, uint32_t since, uint64_t p)
{
	return atomic_load_explicit(&d->stamps[p], memory_order_relaxed) > since;
}

/* Hex digits of page p's byte offset, as the record prints it. */
static uint64_t digits(struct dirty *d, uint64_t p)
{
	uint64_t v = p << d->page_shift, n = 1;

	while (v >>= 4)
		n++;
	return n;
}

/*
 * Page p, clean since the last clear, becomes dirty: a run begins, grows
 * at one end, or two runs become one.  Under runs_lock, like every such
 * change, so the neighbours cannot change meanwhile.
 */
static void count_new_page(struct dirty *d, uint64_t p)
{
	bool left = p > 0 && page_dirty(d, d->cleared, p - 1);
	bool right = p + 1 < d->npages && page_dirty(d, d->cleared, p + 1);
	uint64_t a = digits(d, p), b = digits(d, p + 1);

	d->pages++;
	if (!left && !right) {
		d->runs++;
		d->digits += a + b;
	} else if (left && !right) {
		d->digits += b - a;		/* the end moves from p to p + 1 */
	} else if (!left && right) {
		d->digits -= b - a;		/* the start moves from p + 1 to p */
	} else {
		d->runs--;
		d->digits -= a + b;		/* [s, p) and [p + 1, e) join */
	}
}

static void raise_group(struct dirty *d, uint64_t p, uint32_t e)
{
	_Atomic uint32_t *g = &d->groups[p >> DIRTY_GROUP_SHIFT];
	uint32_t cur = atomic_load_explicit(g, memory_order_relaxed);

	while (cur < e && !atomic_compare_exchange_weak(g, &cur, e))
		;
}

static void mark_page(struct dirty *d, uint64_t p, uint32_t e)
{
	raise_group(d, p, e);
	/* Already dirty since the clear: the record's shape stays. */
	if (page_dirty(d, d->cleared, p)) {
		atomic_store_explicit(&d->stamps[p], e, memory_order_relaxed);
		return;
	}
	pthread_mutex_lock(&d->runs_lock);
	if (!page_dirty(d, d->cleared, p) && e > d->cleared)
		count_new_page(d, p);
	atomic_store_explicit(&d->stamps[p], e, memory_order_relaxed);
	pthread_mutex_unlock(&d->runs_lock);
}

void dirty__mark(struct dirty *d, uint64_t first, uint64_t end)
{
	uint32_t e;

	if (!d->stamps)
		return;
	if (end > d->npages)
		end = d->npages;
	e = dirty__epoch();
	for (uint64_t p = first; p < end; p++)
		mark_page(d, p, e);
}

void dirty__mark_all(struct dirty *d)
{
	if (d->track)
		atomic_store(&d->floor, dirty__epoch());
}

void dirty__mark_bits(struct dirty *d, const uint64_t *bits, uint64_t npages)
{
	uint32_t e = dirty__epoch();

	if (!d->stamps)
		return;
	if (npages > d->npages)
		npages = d->npages;
	for (uint64_t w = 0; w < (npages + 63) / 64; w++) {
		uint64_t word = bits[w];

		while (word) {
			uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(word);

			word &= word - 1;
			if (p < npages)
				mark_page(d, p, e);
		}
	}
}

void dirty__unseen(struct dirty *d)
{
	atomic_store(&d->unseen, true);
}

void dirty__reset_unseen(struct dirty *d)
{
	atomic_store(&d->unseen, false);
}

void dirty__clear(struct dirty *d)
{
	pthread_mutex_lock(&d->runs_lock);
	__atomic_store_n(&d->cleared, dirty__boundary(), __ATOMIC_RELEASE);
	d->runs = 0;
	d->digits = 0;
	d->pages = 0;
	pthread_mutex_unlock(&d->runs_lock);
}

bool dirty__all_since(struct dirty *d, uint32_t since)
{
	/* track, not stamps: a stat asks without the region's lock. */
	return !d->track || atomic_load(&d->unseen) ||
	       atomic_load(&d->floor) > since;
}

void dirty__record(struct dirty *d, uint64_t *runs, uint64_t *digits_out)
{
	/* Without the region's lock (stat): npages moves with a resize. */
	uint64_t n = __atomic_load_n(&d->npages, __ATOMIC_ACQUIRE);

	if (!n) {
		*runs = *digits_out = 0;
	} else if (dirty__all_since(d, __atomic_load_n(&d->cleared,
						       __ATOMIC_ACQUIRE))) {
		*runs = 1;
		*digits_out = digits(d, 0) + digits(d, n);
	} else {
		pthread_mutex_lock(&d->runs_lock);
		*runs = d->runs;
		*digits_out = d->digits;
		pthread_mutex_unlock(&d->runs_lock);
	}
}

uint64_t dirty__pages(struct dirty *d)
{
	uint64_t n = __atomic_load_n(&d->npages, __ATOMIC_ACQUIRE), pages;

	if (!d->track)
		return 0;
	if (dirty__all_since(d, __atomic_load_n(&d->cleared, __ATOMIC_ACQUIRE)))
		return n;
	pthread_mutex_lock(&d->runs_lock);
	pages = d->pages;
	pthread_mutex_unlock(&d->runs_lock);
	return pages;
}

/* The first page at or after p stamped above since, or npages. */
static uint64_t next_dirty(struct dirty *d, uint32_t since, uint64_t p)
{
	uint64_t n = d->npages;

	while (p < n) {
		uint64_t g = p >> DIRTY_GROUP_SHIFT;

		if (atomic_load_explicit(&d->groups[g], memory_order_relaxed) <=
		    since) {
			p = (g + 1) << DIRTY_GROUP_SHIFT;
			continue;
		}
		if (page_dirty(d, since, p))
			return p;
		p++;
	}
	return n;
}

bool dirty__next(struct dirty *d, uint32_t since, uint64_t from,
		 uint64_t *first, uint64_t *end)
{
	uint64_t n = d->npages, p;

	if (from >= n)
		return false;
	/* Untracked, or a writer we cannot see: everything may differ. */
	if (dirty__all_since(d, since)) {
		*first = from;
		*end = n;
		return true;
	}
	p = next_dirty(d, since, from);
	if (p >= n)
		return false;
	*first = p;
	for (*end = p + 1; *end < n && page_dirty(d, since, *end); (*end)++)
		;
	return true;
}
