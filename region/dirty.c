/*
 * Dirty stamps (dirty.h): four bytes a page, an epoch each.
 *
 * Host writes stamp their pages as they happen.  Guest writes sit in the
 * KVM dirty log of the region's slot until the region harvests them
 * (region.c), before anything reads the stamps and before the slot goes.
 * A boundary is only taken after a harvest, with the guest kept out, so
 * guest writes land on the right side of it too.
 */
#include "region/dirty.h"

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

/*
 * Mapped lazily (0.1 % of the memory): a 1 TiB region reserves 1 GiB of
 * address space for its stamps, but only the stamps of written pages
 * ever take memory.
 */
static _Atomic uint32_t *stamps_alloc(uint64_t npages)
{
	void *p = mmap(NULL, npages * sizeof(uint32_t), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void stamps_free(_Atomic uint32_t *a, uint64_t npages)
{
	if (a)
		munmap((void *)a, npages * sizeof(uint32_t));
}

int dirty__init(struct dirty *d, uint64_t npages, bool track)
{
	uint32_t e;

	memset(d, 0, sizeof(*d));
	d->npages = npages;
	d->track = track && npages;
	if (!d->track)
		return 0;
	d->stamps = stamps_alloc(npages);
	if (!d->stamps)
		return errno;
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
	_Atomic uint32_t *a;

	if (!d->track) {
		d->npages = npages;
		return 0;
	}
	/*
	 * A new array: the stamps of the pages both sizes have move over,
	 * and every page counts as written (the caller marks them all), so
	 * nothing is lost by starting the others at 0.
	 */
	a = stamps_alloc(npages);
	if (!a)
		return errno;
	memcpy((void *)a, (void *)d->stamps,
	       (npages < d->npages ? npages : d->npages) * sizeof(*a));
	stamps_free(d->stamps, d->npages);
	d->stamps = a;
	d->npages = npages;
	return 0;
}

void dirty__free(struct dirty *d)
{
	stamps_free(d->stamps, d->npages);
	d->stamps = NULL;
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
		atomic_store_explicit(&d->stamps[p], e, memory_order_relaxed);
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
				atomic_store_explicit(&d->stamps[p], e,
						      memory_order_relaxed);
		}
	}
}

void dirty__hold(struct dirty *d)
{
	atomic_fetch_add(&d->untracked, 1);
}

void dirty__release(struct dirty *d)
{
	/* Whatever it wrote, it wrote before now. */
	dirty__mark_all(d);
	atomic_fetch_sub(&d->untracked, 1);
}

void dirty__clear(struct dirty *d)
{
	d->cleared = dirty__boundary();
}

bool dirty__all_since(struct dirty *d, uint32_t since)
{
	return !d->stamps || atomic_load(&d->untracked) > 0 ||
	       atomic_load(&d->floor) > since;
}

static bool page_dirty(struct dirty *d, uint32_t since, uint64_t p)
{
	return atomic_load_explicit(&d->stamps[p], memory_order_relaxed) > since;
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
	for (p = from; p < n && !page_dirty(d, since, p); p++)
		;
	if (p == n)
		return false;
	*first = p;
	for (*end = p + 1; *end < n && page_dirty(d, since, *end); (*end)++)
		;
	return true;
}
