/* Written pages of a private mapping, from the page tables (pagescan.h). */
#include "region/mem/pagescan.h"
#include "region/mem/region.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* PAGEMAP_SCAN's ABI (linux/fs.h since 6.7; older headers lack it). */
struct scan_run {
	uint64_t start, end, categories;
};
struct scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask;
	uint64_t return_mask;
};
#define PM_SCAN _IOWR('f', 16, struct scan_arg)
#define PM_PAGE_IS_FILE (1ULL << 2)
#define PM_PAGE_IS_PRESENT (1ULL << 3)
#define PM_PAGE_IS_SWAPPED (1ULL << 4)

/* Runs asked of PAGEMAP_SCAN at a time when counting. */
#define SCAN_RUNS 64

static int pagemap_fd(void)
{
	static _Atomic int fd = -1;
	int f, none = -1;

	if (atomic_load(&fd) >= 0)
		return atomic_load(&fd);
	f = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (f >= 0 && !atomic_compare_exchange_strong(&fd, &none, f))
		close(f);
	return atomic_load(&fd);
}

/*
 * The written runs of [off, end) (page-aligned), at most max of them
 * into v; *walked: where the scan stopped.
 */
static int scan(uint8_t *base, uint64_t off, uint64_t end,
		struct scan_run *v, unsigned max, unsigned *n,
		uint64_t *walked)
{
	struct scan_arg arg = {
		.size = sizeof(arg),
		.start = (uintptr_t)(base + off),
		.end = (uintptr_t)(base + end),
		.vec = (uintptr_t)v,
		.vec_len = max,
		/* Not a file page, and there: present or swapped. */
		.category_inverted = PM_PAGE_IS_FILE,
		.category_mask = PM_PAGE_IS_FILE,
		.category_anyof_mask = PM_PAGE_IS_PRESENT | PM_PAGE_IS_SWAPPED,
		.return_mask = PM_PAGE_IS_PRESENT | PM_PAGE_IS_SWAPPED,
	};
	int fd = pagemap_fd();
	long got;

	if (fd < 0)
		return errno ? errno : EBADF;
	got = ioctl(fd, PM_SCAN, &arg);
	if (got < 0)
		return errno;
	*n = (unsigned)got;
	*walked = arg.walk_end ? arg.walk_end - (uintptr_t)base : end;
	return 0;
}

int pagescan__run(uint8_t *base, uint64_t size, uint64_t off, uint64_t end,
		  uint64_t *a, uint64_t *b)
{
	uint64_t page = region__page_size(), from = off & ~(page - 1),
		 to = (end + page - 1) & ~(page - 1), walked;
	struct scan_run v;
	unsigned n;
	int ret;

	if (to > size)
		to = size;
	ret = scan(base, from, to, &v, 1, &n, &walked);
	if (ret || !n) {
		*a = *b = end;
		return ret;
	}
	*a = v.start - (uintptr_t)base;
	*b = v.end - (uintptr_t)base;
	/* Present and swapped pages come as runs of their own: join them. */
	while (*b < to) {
		ret = scan(base, *b, to, &v, 1, &n, &walked);
		if (ret)
			return ret;
		if (!n || v.start - (uintptr_t)base != *b)
			break;
		*b = v.end - (uintptr_t)base;
	}
	if (*a < off)
		*a = off;
	if (*b > end)
		*b = end;
	return 0;
}

int pagescan__count(uint8_t *base, uint64_t size, uint64_t *pages)
{
	struct scan_run v[SCAN_RUNS];
	uint64_t off = 0, walked, page = region__page_size();
	unsigned n;
	int ret;

	*pages = 0;
	while (off < size) {
		ret = scan(base, off, size, v, SCAN_RUNS, &n, &walked);
		if (ret)
			return ret;
		for (unsigned i = 0; i < n; i++)
			*pages += (v[i].end - v[i].start) / page;
		if (n < SCAN_RUNS || walked <= off)
			break;
		off = walked;
	}
	return 0;
}

int pagescan__supported(struct why *why)
{
	static _Atomic int known = -1;
	uint64_t page = region__page_size(), a, b;
	uint8_t *p;
	int ret;

	if (atomic_load(&known) < 0) {
		p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return why__set(why, errno, "mmap: %s",
					strerror(errno));
		p[page] = 1;
		ret = pagescan__run(p, 2 * page, 0, 2 * page, &a, &b);
		munmap(p, 2 * page);
		/* One page written of two: exactly that one. */
		atomic_store(&known, !ret && a == page && b == 2 * page);
	}
	return atomic_load(&known) ? 0 :
	       why__set(why, ENOSYS, "this kernel has no PAGEMAP_SCAN (Linux "
			"6.7), which tells the pages written");
}

/* At most this many such threads at once; past it the caller frees. */
#define REAPERS_MAX 2

static atomic_int reapers;

struct reap {
	void *addr;
	size_t len;
};

static void *reap(void *arg)
{
	struct reap *r = arg;

	munmap(r->addr, r->len);
	free(r);
	atomic_fetch_sub(&reapers, 1);
	return NULL;
}

/*
 * The private pages of [p, p + len) moved out of the mapping's way in one
 * mremap (page tables, not pages), the file mapped there again, and the
 * pages freed on a thread: a restore waits for neither the freeing of
 * the pages written (about 0.3 µs each) nor a fault of the file's.  A
 * failure puts the pages back where they were: the caller drops them.
 */
int pagescan__drop(uint8_t *p, size_t len, int fd, off_t off)
{
#if defined(__SANITIZE_THREAD__)
	/*
	 * ThreadSanitizer does not follow mremap (its shadow of the moved
	 * pages would be another range's): its builds drop them in place.
	 */
	(void)p, (void)len, (void)fd, (void)off;
	return EAGAIN;
#endif
	struct reap *r = malloc(sizeof(*r));
	pthread_attr_t attr;
	pthread_t t;
	void *to;

	if (!r || atomic_fetch_add(&reapers, 1) >= REAPERS_MAX) {
		atomic_fetch_sub(&reapers, r ? 1 : 0);
		free(r);
		return EBUSY;
	}
	to = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		  MAP_NORESERVE, -1, 0);
	if (to == MAP_FAILED ||
	    mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to) ==
	    MAP_FAILED) {
		if (to != MAP_FAILED)
			munmap(to, len);
		goto fail;
	}
	if (mmap(p, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, off) ==
	    MAP_FAILED) {
		/* Back where they were, whole: then dropped in place. */
		if (mremap(to, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, p) ==
		    MAP_FAILED)
			abort();	/* the mapping would have a hole */
		goto fail;
	}
	*r = (struct reap){ to, len };
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, reap, r) != 0)
		reap(r);
	pthread_attr_destroy(&attr);
	return 0;
fail:
	free(r);
	atomic_fetch_sub(&reapers, 1);
	return EAGAIN;
}
