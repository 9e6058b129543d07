/*
 * Regions: sizes, the views of the mapping, guard pages that fault, sparse
 * memory, bounds of host I/O, zero, resize, SEEK_DATA/SEEK_HOLE and the
 * bounded exclusivity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "region/mem/region.h"
#include "tests/helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


static struct region *new_region(uint64_t size)
{
	struct region *r = NULL;

	assert_int_equal(region__new("test", size, &r), 0);
	assert_non_null(r);
	return r;
}




static void test_sizes(void **state)
{
	const uint64_t page = PAGE;
	const struct { uint64_t size, want; } ok[] = {
		{ 1, page }, { page, page }, { page + 1, 2 * page },
		{ 4097, 4097 <= page ? page : 2 * page },
		{ 3 * page - 1, 3 * page },
		/* The largest is only address space: it must be accepted. */
		{ REGION_SIZE_MAX, REGION_SIZE_MAX },
	};
	char long_name[REGION_NAME_MAX + 2];
	struct region *r = NULL;

	size_t n = sizeof(ok) / sizeof(ok[0]);

	(void)state;
#ifdef __SANITIZE_THREAD__
	n--;	/* ThreadSanitizer's shadow leaves no room for 1 TiB */
#endif
	for (size_t i = 0; i < n; i++) {
		r = new_region(ok[i].size);
		if (region__mem_size(r) != ok[i].want)
			fail_msg("size %llu: mem_size %llu, want %llu",
				 (unsigned long long)ok[i].size,
				 (unsigned long long)region__mem_size(r),
				 (unsigned long long)ok[i].want);
		assert_int_equal(region__round_size(ok[i].size), ok[i].want);
		region__put(r);
	}
	r = NULL;
	assert_int_equal(region__new("test", 0, &r), EINVAL);
	assert_int_equal(region__new("test", REGION_SIZE_MAX + 1, &r), EINVAL);
	assert_int_equal(region__new("test", UINT64_MAX, &r), EINVAL);
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(region__new(long_name, PAGE, &r), ENAMETOOLONG);
	assert_null(r);
}

static void test_views(void **state)
{
	struct region *r;

	(void)state;
	r = new_region(5 * PAGE + 3);
	assert_int_equal(region__mem_size(r), 6 * PAGE);
	assert_int_equal(region__raw_size(r), region__mem_size(r) + 2 * PAGE);
	assert_ptr_equal(region__base_addr(r), region__raw_addr(r) + PAGE);
	assert_ptr_equal(region__host_region_base(r), region__base_addr(r));
	assert_ptr_equal(region__host_region_end(r),
			 region__base_addr(r) + region__mem_size(r));
	assert_ptr_equal(region__raw_addr(r) + region__raw_size(r),
			 region__host_region_end(r) + PAGE);
	assert_int_equal((uintptr_t)region__base_addr(r) % PAGE, 0);
	assert_false(region__mapped(r));
	assert_int_equal(region__kind(r), REGION_EXCLUSIVE);
	assert_string_equal(region__kind_name(region__kind(r)), "exclusive");
	assert_string_equal(region__kind_name(REGION_HOST), "host");
	assert_string_equal(region__kind_name(REGION_READONLY), "readonly");
	region__put(r);
}

static void test_guard_pages(void **state)
{
	struct region *r;

	(void)state;
	r = new_region(3 * PAGE);
	assert_guards(r);
	region__put(r);
}

static void test_sparse_64g(void **state)
{
	const uint64_t size = 64ULL << 30;
	uint64_t rss_before, rss_after;
	uint8_t buf[256], one = 0x5a;
	struct region *r;

	(void)state;
	rss_before = rss_bytes();
	r = new_region(size);
	rss_after = rss_bytes();
	assert_int_equal(region__mem_size(r), size);
	assert_int_equal(region__resident(r), 0);
	/* A few pages of page tables at most, never the region itself. */
	assert_true(rss_after < rss_before + (1ULL << 20));

	/* Reads anywhere return zeros without allocating. */
	for (uint64_t off = 0; off < size; off += size / 8) {
		memset(buf, 0xff, sizeof(buf));
		assert_int_equal(t_read(r, buf, sizeof(buf), off),
				 sizeof(buf));
		for (size_t i = 0; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0);
	}
	assert_int_equal(region__resident(r), 0);

	/* One byte written at the far end costs one page. */
	assert_int_equal(t_write(r, &one, 1, size - 1), 1);
	assert_int_equal(region__resident(r), PAGE);
	assert_int_equal(region__base_addr(r)[size - 1], one);
	assert_int_equal(t_seek_data(r, 0), size - PAGE);
	region__put(r);
}

static void test_bounds(void **state)
{
	uint8_t buf[100], src[100];
	struct region *r;
	uint64_t end;

	(void)state;
	r = new_region(2 * PAGE);
	end = region__mem_size(r);
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i + 1);

	assert_int_equal(t_read(r, buf, sizeof(buf), end), 0);
	assert_int_equal(t_read(r, buf, sizeof(buf), end + 100), 0);
	assert_int_equal(t_read(r, buf, sizeof(buf), UINT64_MAX), 0);
	assert_int_equal(t_write(r, src, sizeof(src), end), -ENOSPC);
	assert_int_equal(t_write(r, src, sizeof(src), end + 5), -ENOSPC);
	assert_int_equal(t_write(r, src, sizeof(src), UINT64_MAX),
			 -ENOSPC);

	/* Straddling the end: short, and only the bytes that fit land. */
	assert_int_equal(t_write(r, src, sizeof(src), end - 10), 10);
	assert_memory_equal(region__base_addr(r) + end - 10, src, 10);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(t_read(r, buf, sizeof(buf), end - 10), 10);
	assert_memory_equal(buf, src, 10);

	/* Inside: whole. */
	assert_int_equal(t_write(r, src, sizeof(src), PAGE - 50),
			 sizeof(src));
	assert_int_equal(t_read(r, buf, sizeof(buf), PAGE - 50),
			 sizeof(buf));
	assert_memory_equal(buf, src, sizeof(src));
	region__put(r);
}

static void test_write_visible(void **state)
{
	const char msg[] = "hello, region";
	char buf[sizeof(msg)];
	struct region *r;

	(void)state;
	r = new_region(4 * PAGE);
	assert_int_equal(t_write(r, msg, sizeof(msg), 3 * PAGE + 7),
			 sizeof(msg));
	/* The mapping, the memfd and region__read see the same bytes. */
	assert_memory_equal(region__base_addr(r) + 3 * PAGE + 7, msg,
			    sizeof(msg));
	memset(buf, 0, sizeof(buf));
	assert_int_equal(pread(r->memfd, buf, sizeof(buf),
			       (off_t)(3 * PAGE + 7)), sizeof(buf));
	assert_memory_equal(buf, msg, sizeof(msg));
	memset(buf, 0, sizeof(buf));
	assert_int_equal(t_read(r, buf, sizeof(buf), 3 * PAGE + 7),
			 sizeof(buf));
	assert_memory_equal(buf, msg, sizeof(msg));

	/* And the other way round: a store in the mapping reads back. */
	region__base_addr(r)[0] = 'X';
	assert_int_equal(t_read(r, buf, 1, 0), 1);
	assert_int_equal(buf[0], 'X');
	assert_int_equal(region__resident(r), 2 * PAGE);
	region__put(r);
}

static void test_read_does_not_allocate(void **state)
{
	static uint8_t buf[64 * 1024];
	struct region *r;
	uint64_t off;

	(void)state;
	r = new_region(1 << 20);
	for (off = 0; off < region__mem_size(r); off += sizeof(buf)) {
		memset(buf, 0xaa, sizeof(buf));
		assert_int_equal(t_read(r, buf, sizeof(buf), off),
				 sizeof(buf));
		for (size_t i = 0; i < sizeof(buf); i++)
			if (buf[i])
				fail_msg("byte %zu of a fresh region is %#x",
					 (size_t)off + i, buf[i]);
	}
	assert_int_equal(off, region__mem_size(r));
	assert_int_equal(region__resident(r), 0);
	region__put(r);
}

static void test_zero(void **state)
{
	uint8_t ones[300], buf[300];
	struct region *r;
	uint64_t size;

	(void)state;
	r = new_region(16 * PAGE);
	size = region__mem_size(r);
	memset(ones, 0xff, sizeof(ones));
	assert_int_equal(t_write(r, ones, sizeof(ones), 0), sizeof(ones));
	assert_int_equal(t_write(r, ones, sizeof(ones), 5 * PAGE - 100),
			 sizeof(ones));
	assert_int_equal(t_write(r, ones, sizeof(ones),
				       size - sizeof(ones)), sizeof(ones));
	assert_true(region__resident(r) >= 4 * PAGE);

	assert_int_equal(region__zero(r, NULL), 0);
	assert_int_equal(region__resident(r), 0);
	assert_int_equal(t_seek_data(r, 0), -ENXIO);
	for (uint64_t off = 0; off < size; off += sizeof(buf)) {
		ssize_t n = t_read(r, buf, sizeof(buf), off);

		assert_true(n > 0);
		for (ssize_t i = 0; i < n; i++)
			assert_int_equal(buf[i], 0);
	}
	/* The host mapping sees the zeros too (no stale pages). */
	for (uint64_t i = 0; i < size; i++)
		if (region__base_addr(r)[i])
			fail_msg("byte %llu is %#x after zero",
				 (unsigned long long)i, region__base_addr(r)[i]);
	region__put(r);
}

static void test_resize(void **state)
{
	uint8_t pattern[2 * 4096], buf[2 * 4096];
	struct region *r;

	(void)state;
	assert_true(sizeof(pattern) >= 2 * PAGE);
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 1);
	r = new_region(2 * PAGE);
	assert_int_equal(t_write(r, pattern, 2 * PAGE, 0), 2 * PAGE);

	/* Up: the bytes stay, the new tail is zero, the guards move. */
	assert_int_equal(region__resize(r, 3 * PAGE + 1, NULL), 0);
	assert_int_equal(region__mem_size(r), 4 * PAGE);
	assert_int_equal(region__raw_size(r), 6 * PAGE);
	assert_ptr_equal(region__host_region_end(r),
			 region__base_addr(r) + 4 * PAGE);
	assert_int_equal(t_read(r, buf, 2 * PAGE, 0), 2 * PAGE);
	assert_memory_equal(buf, pattern, 2 * PAGE);
	assert_memory_equal(region__base_addr(r), pattern, 2 * PAGE);
	assert_int_equal(t_read(r, buf, 2 * PAGE, 2 * PAGE), 2 * PAGE);
	for (size_t i = 0; i < 2 * PAGE; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(t_write(r, pattern, 1, 4 * PAGE - 1), 1);
	assert_int_equal(t_write(r, pattern, 1, 4 * PAGE), -ENOSPC);
	assert_guards(r);

	/* Down: the leading page stays, the end guard follows. */
	assert_int_equal(region__resize(r, PAGE, NULL), 0);
	assert_int_equal(region__mem_size(r), PAGE);
	assert_int_equal(region__raw_size(r), 3 * PAGE);
	assert_memory_equal(region__base_addr(r), pattern, PAGE);
	assert_int_equal(t_read(r, buf, 2 * PAGE, 0), PAGE);
	assert_int_equal(t_write(r, pattern, 1, PAGE), -ENOSPC);
	assert_guards(r);

	/* What a shrink cut off is gone, not resurrected by growing. */
	assert_int_equal(region__resize(r, 2 * PAGE, NULL), 0);
	assert_int_equal(t_read(r, buf, PAGE, PAGE), PAGE);
	for (size_t i = 0; i < PAGE; i++)
		assert_int_equal(buf[i], 0);

	assert_int_equal(region__resize(r, 2 * PAGE, NULL), 0);
	assert_int_equal(region__resize(r, 0, NULL), EINVAL);
	assert_int_equal(region__resize(r, REGION_SIZE_MAX + 1, NULL), EINVAL);
	assert_int_equal(region__mem_size(r), 2 * PAGE);
	region__put(r);
}

/* Nobody can grow or shrink the memfd behind the region's back. */
static void test_sealed(void **state)
{
	uint8_t x = 7, buf[8];
	struct region *r;
	struct stat st;

	(void)state;
	r = new_region(2 * PAGE);
	/* A writer of the memfd itself gets EPERM past the end... */
	errno = 0;
	assert_int_equal(pwrite(r->memfd, &x, 1, (off_t)(5 * PAGE)), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(r->memfd, (off_t)(4 * PAGE)), -1);
	assert_int_equal(ftruncate(r->memfd, (off_t)PAGE), -1);
	/* ...and cannot take the seals off or add its own. */
	assert_int_equal(fcntl(r->memfd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(fstat(r->memfd, &st), 0);
	assert_int_equal(st.st_size, 2 * PAGE);
	assert_int_equal(t_read(r, buf, sizeof(buf), 2 * PAGE), 0);
	/* Inside it, the memfd is written like any file. */
	assert_int_equal(pwrite(r->memfd, &x, 1, (off_t)(PAGE + 3)), 1);
	assert_int_equal(t_read(r, buf, 1, PAGE + 3), 1);
	assert_int_equal(buf[0], 7);
	/* A resize makes a new memfd, sealed too, with the data kept. */
	assert_int_equal(region__resize(r, 8 * PAGE, NULL), 0);
	assert_int_equal(fstat(r->memfd, &st), 0);
	assert_int_equal(st.st_size, 8 * PAGE);
	assert_int_equal(pwrite(r->memfd, &x, 1, (off_t)(9 * PAGE)), -1);
	assert_int_equal(t_read(r, buf, 1, PAGE + 3), 1);
	assert_int_equal(buf[0], 7);
	/* Only the data is copied: the new memfd holds one page. */
	assert_int_equal(region__resident(r), PAGE);
	region__put(r);
}

/* A line of /proc/self/status in KiB ("VmHWM:", "VmRSS:"), or -1. */
static long status_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long v = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0)
			v = strtol(line + strlen(key), NULL, 10);
	fclose(f);
	return v;
}

/* Reset the peak resident size to the resident size: VmHWM now. */
static long peak_reset(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "we");

	assert_non_null(f);
	assert_true(fputs("5", f) >= 0);
	assert_int_equal(fclose(f), 0);
	return status_kib("VmHWM:");
}

/*
 * Resizing a 1 TiB region by a page touches neither its data nor its
 * stamps: the stamp arrays move with mremap, the data is copied sparsely.
 * ThreadSanitizer keeps its shadow where a 1 TiB reservation would go: the
 * same test at 64 GiB there, whose stamp arrays (64 MiB) are still more
 * than the bound if the resize touched them.
 */
#ifdef __SANITIZE_THREAD__
#define CHEAP_SIZE (64ULL << 30)
#else
#define CHEAP_SIZE REGION_SIZE_MAX
#endif

static void test_resize_huge_cheap(void **state)
{
	long before, after;
	struct region *r;

	(void)state;
	r = new_region(CHEAP_SIZE);
	assert_int_equal(t_write(r, "x", 1, CHEAP_SIZE / 2), 1);
	/*
	 * The peak resident size of the resize itself: the high-water mark
	 * reset to the resident size now (clear_refs 5), not ru_maxrss,
	 * which an earlier test may have raised past anything this does.
	 */
	before = peak_reset();
	assert_int_equal(region__resize(r, CHEAP_SIZE - PAGE, NULL), 0);
	after = status_kib("VmHWM:");
	print_message("resize of %llu GiB by a page: peak RSS %ld -> %ld KiB\n",
		      (unsigned long long)(CHEAP_SIZE >> 30), before, after);
	assert_true(before > 0);
	assert_true(after - before < 64 * 1024);
	assert_int_equal(region__mem_size(r), CHEAP_SIZE - PAGE);
	assert_int_equal(region__resident(r), PAGE);
	region__put(r);
}

static void test_seek(void **state)
{
	const uint64_t a = 3, b = 200;	/* the pages written */
	struct region *r;
	uint64_t size;
	uint8_t x = 1;

	(void)state;
	r = new_region(256 * PAGE);
	size = region__mem_size(r);
	assert_int_equal(t_seek_data(r, 0), -ENXIO);
	assert_int_equal(t_seek_hole(r, 0), 0);

	assert_int_equal(t_write(r, &x, 1, a * PAGE + 17), 1);
	assert_int_equal(t_write(r, &x, 1, b * PAGE + PAGE - 1), 1);
	assert_int_equal(region__resident(r), 2 * PAGE);

	assert_int_equal(t_seek_data(r, 0), a * PAGE);
	assert_int_equal(t_seek_data(r, a * PAGE + 5), a * PAGE + 5);
	assert_int_equal(t_seek_hole(r, a * PAGE), (a + 1) * PAGE);
	assert_int_equal(t_seek_data(r, (a + 1) * PAGE), b * PAGE);
	assert_int_equal(t_seek_hole(r, b * PAGE), (b + 1) * PAGE);
	assert_int_equal(t_seek_hole(r, 0), 0);
	assert_int_equal(t_seek_hole(r, (a + 1) * PAGE), (a + 1) * PAGE);
	assert_int_equal(t_seek_data(r, (b + 1) * PAGE), -ENXIO);
	assert_int_equal(t_seek_hole(r, size - 1), size - 1);
	assert_int_equal(t_seek_data(r, size), -ENXIO);
	assert_int_equal(t_seek_hole(r, size), -ENXIO);
	assert_int_equal(t_seek_data(r, UINT64_MAX), -ENXIO);
	region__put(r);
}

/* A thread that holds a region shared or exclusive, as another request. */
struct holder {
	pthread_t thread;
	struct region *r;
	bool exclusive;
	unsigned hold_ms;	/* 0: until hold_stop */
	struct fake_guest *start_guest;	/* set running just before letting go */
	sem_t ready, release;
	int ret;
};

static void *hold(void *arg)
{
	struct holder *h = arg;

	h->ret = h->exclusive ? region__exclusive_begin(h->r, NULL) :
				region__shared_begin(h->r);
	sem_post(&h->ready);
	if (h->ret)
		return NULL;
	if (h->hold_ms)
		sleep_ms(h->hold_ms);
	else
		while (sem_wait(&h->release) < 0 && errno == EINTR)
			;
	if (h->start_guest)
		h->start_guest->running = true;
	if (h->exclusive)
		region__exclusive_end(h->r);
	else
		region__shared_end(h->r);
	return NULL;
}

static void hold_start(struct holder *h, struct region *r, bool exclusive,
		       unsigned hold_ms, struct fake_guest *start_guest)
{
	memset(h, 0, sizeof(*h));
	h->r = r;
	h->exclusive = exclusive;
	h->hold_ms = hold_ms;
	h->start_guest = start_guest;
	assert_int_equal(sem_init(&h->ready, 0, 0), 0);
	assert_int_equal(sem_init(&h->release, 0, 0), 0);
	assert_int_equal(pthread_create(&h->thread, NULL, hold, h), 0);
	while (sem_wait(&h->ready) < 0 && errno == EINTR)
		;
	assert_int_equal(h->ret, 0);
}

static void hold_stop(struct holder *h)
{
	if (!h->hold_ms)
		sem_post(&h->release);
	assert_int_equal(pthread_join(h->thread, NULL), 0);
	sem_destroy(&h->ready);
	sem_destroy(&h->release);
}

static void test_shared_shared(void **state)
{
	struct holder h;
	struct region *r;
	uint64_t t0;
	uint8_t x = 9;

	(void)state;
	r = new_region(PAGE);
	hold_start(&h, r, false, 0, NULL);
	t0 = now_ms();
	assert_int_equal(region__shared_begin(r), 0);
	region__shared_end(r);
	assert_int_equal(t_write(r, &x, 1, 0), 1);
	assert_int_equal(t_read(r, &x, 1, 0), 1);
	assert_true(now_ms() - t0 < REGION_EXCL_WAIT_MS / 2);
	hold_stop(&h);
	region__put(r);
}

static void test_exclusive_waits_bounded(void **state)
{
	uint64_t t0, waited, waits0, busy0, waits, busy;
	struct holder h;
	struct region *r;

	(void)state;
	r = new_region(PAGE);
	hold_start(&h, r, false, 0, NULL);
	/*
	 * What bounds the wait is that it is one timed wait ending in EBUSY
	 * (counted: one wait, one refusal each), not a clock: a wait that
	 * never ended would hang, not fail a check of how long it took.
	 */
	region__exclusive_stats(&waits0, &busy0);
	t0 = now_ms();
	assert_int_equal(region__exclusive_begin(r, NULL), EBUSY);
	waited = now_ms() - t0;
	assert_true(waited >= REGION_EXCL_WAIT_MS);
	region__exclusive_stats(&waits, &busy);
	assert_int_equal(waits - waits0, 1);
	assert_int_equal(busy - busy0, 1);
	t0 = now_ms();
	assert_int_equal(region__zero(r, NULL), EBUSY);
	assert_int_equal(region__resize(r, 2 * PAGE, NULL), EBUSY);
	assert_int_equal(region__mem_size(r), PAGE);
	assert_true(now_ms() - t0 >= 2 * REGION_EXCL_WAIT_MS);
	region__exclusive_stats(&waits0, &busy0);
	assert_int_equal(waits0 - waits, 2);
	assert_int_equal(busy0 - busy, 2);

	/* A writer that gave up must not leave new readers queued. */
	t0 = now_ms();
	assert_int_equal(region__shared_begin(r), 0);
	region__shared_end(r);
	assert_true(now_ms() - t0 < REGION_EXCL_WAIT_MS / 2);

	hold_stop(&h);
	t0 = now_ms();
	assert_int_equal(region__exclusive_begin(r, NULL), 0);
	region__exclusive_end(r);
	assert_true(now_ms() - t0 < REGION_EXCL_WAIT_MS / 2);

	/* A host access that ends inside the bound: granted when it ends. */
	hold_start(&h, r, false, REGION_EXCL_WAIT_MS / 5, NULL);
	t0 = now_ms();
	assert_int_equal(region__exclusive_begin(r, NULL), 0);
	waited = now_ms() - t0;
	region__exclusive_end(r);
	assert_true(waited < REGION_EXCL_WAIT_MS);
	hold_stop(&h);
	region__put(r);
}

static void test_shared_waits_bounded(void **state)
{
	uint64_t t0, waited;
	struct holder h;
	struct region *r;
	uint8_t x;

	(void)state;
	r = new_region(PAGE);
	hold_start(&h, r, true, 0, NULL);
	t0 = now_ms();
	assert_int_equal(region__shared_begin(r), EBUSY);
	waited = now_ms() - t0;
	assert_true(waited >= REGION_SHARED_WAIT_MS);
	assert_true(waited < 10 * REGION_SHARED_WAIT_MS);
	/* Host I/O gives up the same way, with -EBUSY. */
	assert_int_equal(t_read(r, &x, 1, 0), -EBUSY);
	hold_stop(&h);
	assert_int_equal(t_read(r, &x, 1, 0), 1);
	region__put(r);
}

/* What region__with_contents handed its function, and what it saw. */
struct seen {
	struct region *r;
	int calls;
	int memfd;
	uint64_t off;
	size_t len;
	int trywrlock;		/* an exclusive try while fn runs */
	char first;		/* the first byte, pread from the memfd */
	int ret;		/* what fn returns */
};

static int see(void *arg, int memfd, uint64_t off, size_t len)
{
	struct seen *s = arg;

	s->calls++;
	s->memfd = memfd;
	s->off = off;
	s->len = len;
	s->trywrlock = pthread_rwlock_trywrlock(&s->r->lock);
	if (s->trywrlock == 0)
		pthread_rwlock_unlock(&s->r->lock);
	if (len)
		assert_int_equal(pread(memfd, &s->first, 1, (off_t)off), 1);
	return s->ret;
}

static void test_with_contents(void **state)
{
	struct seen s = { 0 };
	struct holder h;
	struct region *r;

	(void)state;
	r = new_region(4 * PAGE);
	s.r = r;
	assert_int_equal(t_write(r, "ab", 2, PAGE - 1), 2);

	/* Inside: as asked, with the region held (no exclusive holder). */
	assert_int_equal(region__with_contents(r, 2, PAGE - 1, see, &s), 0);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.memfd, r->memfd);
	assert_int_equal(s.off, PAGE - 1);
	assert_int_equal(s.len, 2);
	assert_int_equal(s.trywrlock, EBUSY);
	assert_int_equal(s.first, 'a');

	/* Straddling the end: cut at mem_size; at or past it: 0 bytes. */
	assert_int_equal(region__with_contents(r, 3 * PAGE, 2 * PAGE, see, &s),
			 0);
	assert_int_equal(s.off, 2 * PAGE);
	assert_int_equal(s.len, 2 * PAGE);
	assert_int_equal(region__with_contents(r, 1, 4 * PAGE, see, &s), 0);
	assert_int_equal(s.len, 0);
	assert_int_equal(region__with_contents(r, SIZE_MAX, UINT64_MAX, see,
					       &s), 0);
	assert_int_equal(s.len, 0);
	assert_int_equal(s.calls, 4);

	/* fn's error is the caller's, and the region is let go after it. */
	s.ret = EIO;
	assert_int_equal(region__with_contents(r, 1, 0, see, &s), EIO);
	assert_int_equal(region__exclusive_begin(r, NULL), 0);
	region__exclusive_end(r);

	/* Held exclusive by another: EBUSY after the bound, fn not called. */
	hold_start(&h, r, true, 0, NULL);
	assert_int_equal(region__with_contents(r, 1, 0, see, &s), EBUSY);
	assert_int_equal(s.calls, 5);
	hold_stop(&h);
	region__put(r);
}

static void test_readonly(void **state)
{
	const char msg[] = "snap";
	struct region *r;
	char buf[8];

	(void)state;
	r = new_region(PAGE);
	assert_int_equal(t_write(r, msg, sizeof(msg), 0), sizeof(msg));
	r->readonly = true;
	assert_int_equal(region__kind(r), REGION_READONLY);
	assert_int_equal(region__exclusive_begin(r, NULL), EPERM);
	assert_int_equal(region__zero(r, NULL), EPERM);
	assert_int_equal(region__resize(r, 2 * PAGE, NULL), EPERM);
	assert_int_equal(t_write(r, "x", 1, 0), -EPERM);
	assert_int_equal(t_read(r, buf, sizeof(msg), 0), sizeof(msg));
	assert_memory_equal(buf, msg, sizeof(msg));
	assert_int_equal(region__mem_size(r), PAGE);
	/* Shared access (reads) is still allowed. */
	assert_int_equal(region__shared_begin(r), 0);
	region__shared_end(r);
	region__put(r);
}

static void test_guest_running(void **state)
{
	struct fake_guest g = { .running = false };
	struct holder h;
	struct region *r;
	uint64_t t0;

	(void)state;
	r = new_region(PAGE);
	fake_guest_attach(r, &g);
	assert_int_equal(region__kind(r), REGION_HOST);
	g.running = true;
	/* EBUSY at once, even with a host access in flight to wait for. */
	hold_start(&h, r, false, 0, NULL);
	t0 = now_ms();
	assert_int_equal(region__exclusive_begin(r, NULL), EBUSY);
	assert_int_equal(region__zero(r, NULL), EBUSY);
	assert_int_equal(region__resize(r, 2 * PAGE, NULL), EBUSY);
	assert_true(now_ms() - t0 < REGION_EXCL_WAIT_MS / 2);
	hold_stop(&h);
	assert_int_equal(region__exclusive_begin(r, NULL), EBUSY);
	/* The host still reads and writes while the guest runs. */
	assert_int_equal(t_write(r, "g", 1, 0), 1);

	g.running = false;
	assert_int_equal(region__exclusive_begin(r, NULL), 0);
	region__exclusive_end(r);
	assert_int_equal(region__zero(r, NULL), 0);
	/* Mapped but paused: a resize is refused, not a zero. */
	assert_int_equal(region__resize(r, 2 * PAGE, NULL), EPERM);
	fake_guest_detach(r);
	region__put(r);
}

static void test_guest_started_while_waiting(void **state)
{
	struct fake_guest g = { .running = false };
	struct holder h;
	struct region *r;
	uint64_t t0;

	(void)state;
	r = new_region(PAGE);
	fake_guest_attach(r, &g);
	/* A host access ends, but the vCPU started in the meantime. */
	hold_start(&h, r, false, REGION_EXCL_WAIT_MS / 5, &g);
	t0 = now_ms();
	assert_int_equal(region__exclusive_begin(r, NULL), EBUSY);
	assert_true(now_ms() - t0 < REGION_EXCL_WAIT_MS);
	hold_stop(&h);
	assert_true(g.running);
	/* And the lock was let go: a reader gets in at once. */
	assert_int_equal(region__shared_begin(r), 0);
	region__shared_end(r);
	fake_guest_detach(r);
	region__put(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_views),
		cmocka_unit_test(test_guard_pages),
		cmocka_unit_test(test_sparse_64g),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_write_visible),
		cmocka_unit_test(test_read_does_not_allocate),
		cmocka_unit_test(test_zero),
		cmocka_unit_test(test_resize),
		cmocka_unit_test(test_sealed),
		cmocka_unit_test(test_resize_huge_cheap),
		cmocka_unit_test(test_seek),
		cmocka_unit_test(test_shared_shared),
		cmocka_unit_test(test_exclusive_waits_bounded),
		cmocka_unit_test(test_shared_waits_bounded),
		cmocka_unit_test(test_with_contents),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_guest_running),
		cmocka_unit_test(test_guest_started_while_waiting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
