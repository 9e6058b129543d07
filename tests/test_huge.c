/*
 * Huge-page regions (region/mem/hugetlb.c): sizes in whole huge pages, every page
 * reserved at creation (ENOMEM at once, the pool untouched), writes through
 * the mapping, holes from the mapping, zero and truncate keeping the
 * reservation, dirty at 4 KiB, copies both ways between huge and ordinary
 * regions, resize and repage.  Reserves its own huge pages and gives them
 * back; exits 77 where the kernel cannot reserve any.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "region/mem/copy.h"
#include "region/mem/overlay.h"
#include "region/mem/region.h"
#include "region/sandbox/snapshot.h"
#include "tests/helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#define HUGE (2ULL << 20)
/* The most any test holds at once, plus a margin. */
#define RESERVE 24

/* Exactly n pages spare (helpers.c counts what it adds or gives back). */
static void pool_spare(uint64_t n)
{
	assert_int_equal(hugepages_limit((long)n), 0);
	assert_int_equal(region__huge_free(HUGE), n);
}

/*
 * The pool is the system's: other tests (another worktree's, a parallel
 * run) may grow or shrink it while one of these runs.  Each test starts
 * with RESERVE spare pages again, and a check of the spare count before
 * and after an operation is tried again, up to TRIES times, while the
 * count moved: a difference the operation makes comes back every time.
 */
#define TRIES 5

static int refill(void **state)
{
	(void)state;
	hugepages_limit(RESERVE);
	return 0;
}

static struct region *new_huge(uint64_t size)
{
	struct region *r = NULL;

	assert_int_equal(region__new_huge("huge", size, HUGE, false, &r), 0);
	return r;
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 31 + seed + 1);
}

static void test_sizes(void **state)
{
	struct region *r = NULL;

	(void)state;
	assert_int_equal(region__new_huge("x", HUGE + PAGE, HUGE, false, &r),
			 EINVAL);
	assert_int_equal(region__new_huge("x", 4 * HUGE, 3 << 20, false, &r),
			 EINVAL);
	assert_null(r);
	r = new_huge(4 * HUGE);
	assert_int_equal(region__page_bytes(r), HUGE);
	assert_int_equal(region__mem_size(r), 4 * HUGE);
	assert_int_equal(region__raw_size(r), 4 * HUGE + 2 * PAGE);
	assert_int_equal((uintptr_t)region__base_addr(r) % HUGE, 0);
	assert_ptr_equal(region__raw_addr(r) + PAGE, region__base_addr(r));
	assert_int_equal(region__resident(r), 0);
	region__put(r);
}

static void test_guards(void **state)
{
	struct region *r = new_huge(2 * HUGE);

	(void)state;
	assert_guards(r);
	region__put(r);
}

/* Too few pages: ENOMEM at once, and nothing taken from the pool. */
static void test_pool_short(void **state)
{
	struct region *r = NULL;

	(void)state;
	pool_spare(3);
	assert_int_equal(region__new_huge("x", 4 * HUGE, HUGE, false, &r),
			 ENOMEM);
	assert_null(r);
	assert_int_equal(region__huge_free(HUGE), 3);
	r = new_huge(3 * HUGE);
	assert_int_equal(region__huge_free(HUGE), 0);
	/* Every page reserved: writing all of them cannot SIGBUS. */
	memset(region__base_addr(r), 0x5a, 3 * HUGE);
	assert_int_equal(region__resident(r), 3 * HUGE);
	region__put(r);
	assert_int_equal(region__huge_free(HUGE), 3);
	pool_spare(RESERVE);
}

static void test_io_and_holes(void **state)
{
	struct region *r = new_huge(4 * HUGE);
	uint8_t in[9000], out[9000];
	uint64_t off = HUGE - 3000;

	(void)state;
	fill(in, sizeof(in), 1);
	assert_int_equal(t_write(r, in, sizeof(in), off), sizeof(in));
	assert_int_equal(t_read(r, out, sizeof(out), off), sizeof(out));
	assert_memory_equal(in, out, sizeof(in));
	/* The same bytes in the mapping (what the guest sees). */
	assert_memory_equal(region__base_addr(r) + off, in, sizeof(in));
	/* Two huge pages hold data: exactly those are resident. */
	assert_int_equal(region__resident(r), 2 * HUGE);
	assert_int_equal(t_seek_data(r, 0), 0);
	assert_int_equal(t_seek_hole(r, 0), 2 * HUGE);
	assert_int_equal(t_seek_hole(r, HUGE + 5), 2 * HUGE);
	assert_int_equal(t_seek_data(r, 2 * HUGE), -ENXIO);
	assert_int_equal(t_seek_data(r, 4 * HUGE), -ENXIO);
	assert_int_equal(t_write(r, in, 10, 3 * HUGE + 7), 10);
	assert_int_equal(t_seek_data(r, 2 * HUGE), 3 * HUGE);
	assert_int_equal(t_seek_hole(r, 3 * HUGE), 4 * HUGE);
	/* Reads of a hole are zeros and allocate nothing. */
	assert_int_equal(t_read(r, out, sizeof(out), 2 * HUGE), sizeof(out));
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);
	assert_int_equal(region__resident(r), 3 * HUGE);
	/* The bounds of ordinary regions. */
	assert_int_equal(t_write(r, in, 10, 4 * HUGE), -ENOSPC);
	assert_int_equal(t_write(r, in, 100, 4 * HUGE - 10), 10);
	region__put(r);
}

static void test_dirty_4k(void **state)
{
	struct region *r = new_huge(2 * HUGE);
	uint32_t since = dirty__boundary();
	uint64_t first, end;
	uint8_t b = 7;

	(void)state;
	if (!r->dirty.track) {
		region__put(r);
		skip_because("dirty tracking is off (dirty__tracking())");
	}
	assert_int_equal(t_write(r, &b, 1, HUGE + 0x3005), 1);
	assert_true(region__dirty_next(r, since, 0, &first, &end));
	assert_int_equal(first, (HUGE + 0x3000) / PAGE);
	assert_int_equal(end, first + 1);
	assert_false(region__dirty_next(r, since, end, &first, &end));
	region__put(r);
}

/*
 * Zero keeps the pages (a punch would give their reservation back, which
 * the pool may not give again): zeros, holes to seek, still held.
 */
static void test_zero_keeps_reservation(void **state)
{
	struct region *r = new_huge(4 * HUGE);
	uint8_t out[4096];

	(void)state;
	memset(region__base_addr(r), 0xee, 4 * HUGE);
	assert_int_equal(region__resident(r), 4 * HUGE);
	/* No spare page at all: the pages are kept, nothing asked of it. */
	pool_spare(0);
	assert_int_equal(region__zero(r, NULL), 0);
	assert_int_equal(region__resident(r), 4 * HUGE);
	pool_spare(RESERVE);
	assert_int_equal(t_seek_data(r, 0), -ENXIO);
	assert_int_equal(t_read(r, out, sizeof(out), HUGE), sizeof(out));
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);
	/* With no spare page at all, the whole region can be written again. */
	pool_spare(0);
	memset(region__base_addr(r), 0x11, 4 * HUGE);
	assert_int_equal(region__resident(r), 4 * HUGE);
	pool_spare(RESERVE);
	region__put(r);
}

static void test_zero_from(void **state)
{
	struct region *r = new_huge(4 * HUGE);
	uint64_t cut = HUGE + 100, spare = 0, after = 1;
	uint8_t *base;

	(void)state;
	for (unsigned t = 0; t < TRIES && after != spare; t++) {
		memset(region__base_addr(r), 0xab, 4 * HUGE);
		spare = region__huge_free(HUGE);
		assert_int_equal(region__exclusive_begin(r, NULL), 0);
		assert_int_equal(region__zero_from_locked(r, cut), 0);
		region__exclusive_end(r);
		after = region__huge_free(HUGE);
	}
	base = region__base_addr(r);
	assert_int_equal(base[cut - 1], 0xab);
	assert_int_equal(base[cut], 0);
	assert_int_equal(base[2 * HUGE - 1], 0);
	/* Every page stays (zeroed), the two after the cut's are holes. */
	assert_int_equal(region__resident(r), 4 * HUGE);
	assert_int_equal(t_seek_hole(r, 0), 2 * HUGE);
	assert_int_equal(t_seek_data(r, 2 * HUGE), -ENXIO);
	assert_int_equal(after, spare);
	region__put(r);
}

/* An ordinary region with data at a, b and the rest holes. */
static struct region *ordinary_with(uint64_t size, uint64_t a, uint64_t b)
{
	struct region *r = NULL;
	uint8_t buf[100];

	assert_int_equal(region__new("plain", size, &r), 0);
	fill(buf, sizeof(buf), 2);
	assert_int_equal(t_write(r, buf, sizeof(buf), a), sizeof(buf));
	fill(buf, sizeof(buf), 3);
	assert_int_equal(t_write(r, buf, sizeof(buf), b), sizeof(buf));
	return r;
}

static void assert_same(struct region *a, struct region *b, uint64_t len)
{
	static uint8_t x[1 << 16], y[1 << 16];

	for (uint64_t off = 0; off < len; off += sizeof(x)) {
		assert_int_equal(t_read(a, x, sizeof(x), off), sizeof(x));
		assert_int_equal(t_read(b, y, sizeof(y), off), sizeof(y));
		assert_memory_equal(x, y, sizeof(x));
	}
}

/*
 * A page with no reservation that the pool cannot give (punched behind
 * the region's back, the pool emptied): a write into it or a copy onto
 * it fails with ENOMEM and writes nothing, where it used to be SIGBUS.
 */
static void test_write_without_page(void **state)
{
	struct region *r = new_huge(2 * HUGE);
	struct region *plain = ordinary_with(2 * HUGE, 5, HUGE + 5);
	uint8_t *buf = malloc(COPY_CHUNK), b = 0x5a;
	size_t done = 7;

	(void)state;
	assert_non_null(buf);
	assert_int_equal(t_write(r, &b, 1, 10), 1);
	/* An allocated page punched takes its reservation with it. */
	assert_int_equal(t_write(r, &b, 1, HUGE), 1);
	assert_int_equal(fallocate(region__memfd(r), FALLOC_FL_PUNCH_HOLE |
				   FALLOC_FL_KEEP_SIZE, HUGE, HUGE), 0);
	pool_spare(0);
	assert_int_equal(region__write(r, &b, 1, HUGE + 3, &done), ENOMEM);
	assert_int_equal(done, 0);
	assert_int_equal(region__copy(r, plain, buf, &(struct extents){ 0 },
				      0, 2 * HUGE, true), ENOMEM);
	assert_int_equal(region__resident(r), HUGE);
	assert_int_equal(t_seek_data(r, HUGE), -ENXIO);
	/* The page that exists is written as before. */
	assert_int_equal(t_write(r, &b, 1, 11), 1);
	pool_spare(RESERVE);
	assert_int_equal(t_write(r, &b, 1, HUGE + 3), 1);
	assert_int_equal(region__base_addr(r)[HUGE + 3], 0x5a);
	free(buf);
	region__put(plain);
	region__put(r);
}

static void test_copy_both_ways(void **state)
{
	struct region *plain = ordinary_with(4 * HUGE, 5, 3 * HUGE + 0x2000);
	struct region *h = new_huge(4 * HUGE), *back = NULL;
	uint8_t *buf = malloc(COPY_CHUNK);

	(void)state;
	assert_non_null(buf);
	/* Into a huge region: only the pages with data are taken. */
	assert_int_equal(region__copy(h, plain, buf, &(struct extents){ 0 },
				      0, 4 * HUGE, false), 0);
	assert_same(h, plain, 4 * HUGE);
	assert_int_equal(region__resident(h), 2 * HUGE);
	/* Read without allocating the source's holes. */
	assert_int_equal(region__resident(plain), 2 * PAGE);
	/* Back into an ordinary one, sparse. */
	assert_int_equal(region__new("back", 4 * HUGE, &back), 0);
	assert_int_equal(region__copy(back, h, buf, &(struct extents){ 0 },
				      0, 4 * HUGE, false), 0);
	assert_same(back, plain, 4 * HUGE);
	assert_int_equal(region__resident(back), 2 * PAGE);
	/* fill_holes over a range: h's first page emptied, like plain's. */
	memset(region__base_addr(h), 0x77, 2 * HUGE);
	assert_int_equal(region__copy(h, plain, buf, &(struct extents){ 0 },
				      0, 2 * HUGE, true), 0);
	assert_same(h, plain, 4 * HUGE);
	/* h's second page zeroed in place: kept, and a hole. */
	assert_int_equal(region__resident(h), 3 * HUGE);
	assert_int_equal(t_seek_data(h, HUGE), 3 * HUGE);
	/* A 4 KiB range inside a huge page, as a restore copies it. */
	memset(region__base_addr(h) + 3 * HUGE, 0x66, HUGE);
	assert_int_equal(region__copy(h, plain, buf, &(struct extents){ 0 },
				      3 * HUGE + 0x2000, 3 * HUGE + 0x3000,
				      true), 0);
	assert_memory_equal(region__base_addr(h) + 3 * HUGE + 0x2000,
			    region__base_addr(plain) + 3 * HUGE + 0x2000, PAGE);
	assert_int_equal(region__base_addr(h)[3 * HUGE + 0x1fff], 0x66);
	assert_int_equal(region__base_addr(h)[3 * HUGE + 0x3000], 0x66);
	free(buf);
	region__put(back);
	region__put(h);
	region__put(plain);
}

/* A readonly huge copy of r, as a snapshot makes it. */
static struct region *huge_copy(struct region *r, uint8_t *buf)
{
	struct region *c = NULL;

	assert_int_equal(region__new_huge("copy", region__mem_size(r), HUGE,
					  true, &c), 0);
	assert_int_equal(region__copy(c, r, buf, &(struct extents){ 0 }, 0,
				      region__mem_size(r), false), 0);
	return c;
}

/*
 * A diff over a huge parent (overlay.h): hugetlbfs says "data" to every
 * SEEK_DATA, so the view's holes and resident bytes must come from the
 * levels' mappings, as a huge region's own do.  The diff holds page 0
 * (zeroed since: a hole in it) and a page in the parent's empty second
 * huge page.
 */
static void test_diff_over_huge(void **state)
{
	struct region *a = new_huge(2 * HUGE), *base, *empty, *d, *e;
	uint8_t *buf = malloc(COPY_CHUNK), page[PAGE];
	struct region_geometry g;

	(void)state;
	assert_non_null(buf);
	empty = huge_copy(a, buf);
	memset(page, 0x5a, sizeof(page));
	assert_int_equal(t_write(a, page, PAGE, 0), (ssize_t)PAGE);
	assert_int_equal(t_write(a, page, PAGE, PAGE), (ssize_t)PAGE);
	base = huge_copy(a, buf);

	assert_int_equal(region__new_huge("d", 2 * HUGE, HUGE, true, &d), 0);
	assert_int_equal(overlay__new(d, base), 0);
	assert_int_equal(overlay__hold(d, 0, 1), 0);
	assert_int_equal(overlay__hold(d, HUGE / PAGE, HUGE / PAGE + 1), 0);
	assert_int_equal(overlay__seal(d), 0);
	assert_int_equal(t_seek_data(d, 0), (int64_t)PAGE);
	assert_int_equal(t_seek_hole(d, PAGE), (int64_t)HUGE);
	assert_int_equal(t_seek_data(d, HUGE), -ENXIO);
	/* base's huge page, less the 4 KiB of it d holds instead. */
	region__geometry(d, &g, true);
	assert_int_equal(g.resident, HUGE - PAGE);

	/* Over a parent with nothing: nothing, never a wrapped count. */
	assert_int_equal(region__new_huge("e", 2 * HUGE, HUGE, true, &e), 0);
	assert_int_equal(overlay__new(e, empty), 0);
	assert_int_equal(overlay__hold(e, 3, 4), 0);
	assert_int_equal(overlay__seal(e), 0);
	region__geometry(e, &g, true);
	assert_int_equal(g.resident, 0);
	assert_int_equal(t_seek_data(e, 0), -ENXIO);
	region__put(e);
	region__put(d);
	region__put(base);
	region__put(empty);
	region__put(a);
	free(buf);
}

/*
 * What a diff of a huge region will take is checked against
 * max_snapshot_total in huge pages: a 4 KiB page written makes its copy
 * hold the whole 2 MiB page.  Refused, nothing is charged.
 */
static void test_diff_limit_huge(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct why why = { "" };
	struct region *r;
	uint8_t page[PAGE];
	uint64_t before;

	(void)state;
	sandbox__snapshot_limits(sb, 0, 3 * HUGE);
	assert_int_equal(sandbox__create_paged(sb, "h", 4 * HUGE, HUGE, NULL,
					       NULL), 0);
	r = sandbox__find(sb, "h", NULL);
	assert_non_null(r);
	memset(page, 0x42, sizeof(page));
	assert_int_equal(t_write(r, page, PAGE, 0), (ssize_t)PAGE);
	assert_int_equal(snapshot__take(sb, NULL, "base", &why), 0);
	before = sb->snaps.bytes;
	assert_int_equal(before, HUGE);
	/* 12 KiB written, 6 MiB to hold: more than the 4 MiB left. */
	for (uint64_t i = 1; i < 4; i++)
		assert_int_equal(t_write(r, page, PAGE, i * HUGE + PAGE),
				 (ssize_t)PAGE);
	assert_int_equal(snapshot__take(sb, NULL, "d:base", &why), ENOSPC);
	assert_non_null(strstr(why.msg, "max_snapshot_total"));
	assert_int_equal(sb->snaps.bytes, before);
	region__put(r);
	sandbox__free(sb);
}

/*
 * A snapshot of a huge region restored into it after it moved to ordinary
 * pages, twice: the first restore copies it whole and says the region
 * is the snapshot's since; the second copies the pages written since,
 * from a huge copy that has no data map (restore_dense).
 */
static void test_restore_after_repage(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct why why = { "" };
	uint8_t page[PAGE], back[PAGE];
	struct region *r;

	(void)state;
	assert_int_equal(sandbox__create_paged(sb, "h", 2 * HUGE, HUGE, NULL,
					       NULL), 0);
	r = sandbox__find(sb, "h", NULL);
	assert_non_null(r);
	memset(page, 0x42, sizeof(page));
	assert_int_equal(t_write(r, page, PAGE, 3 * PAGE), (ssize_t)PAGE);
	assert_int_equal(snapshot__take(sb, NULL, "a", &why), 0);
	assert_int_equal(sandbox__set_page_size(sb, r, PAGE, &why), 0);
	assert_int_equal(snapshot__restore(sb, NULL, "a", &why), 0);
	memset(page, 0x17, sizeof(page));
	assert_int_equal(t_write(r, page, PAGE, 3 * PAGE), (ssize_t)PAGE);
	assert_int_equal(t_write(r, page, PAGE, HUGE), (ssize_t)PAGE);
	assert_int_equal(snapshot__restore(sb, NULL, "a", &why), 0);
	assert_int_equal(t_read(r, back, PAGE, 3 * PAGE), (ssize_t)PAGE);
	assert_int_equal(back[0], 0x42);
	assert_int_equal(t_seek_data(r, 4 * PAGE), -ENXIO);
	region__put(r);
	sandbox__free(sb);
}

static int spliced(void *arg, int memfd, uint64_t off, size_t len)
{
	(void)memfd;
	(void)off;
	(void)len;
	*(bool *)arg = true;
	return 0;
}

/*
 * The spliced read path is not offered a huge region's memfd: hugetlbfs
 * has no splice_read, and libfuse's fallback costs a pipe per read
 * (half the throughput).  region__read reads it.
 */
static void test_no_splice(void **state)
{
	struct region *h = new_huge(HUGE);
	uint8_t buf[PAGE];
	bool called = false;

	(void)state;
	memset(buf, 0x33, sizeof(buf));
	assert_int_equal(t_write(h, buf, PAGE, PAGE), (ssize_t)PAGE);
	assert_int_equal(region__with_contents(h, 4 * PAGE, 0, spliced,
					       &called), EXDEV);
	assert_false(called);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(t_read(h, buf, PAGE, PAGE), (ssize_t)PAGE);
	assert_int_equal(buf[PAGE - 1], 0x33);
	region__put(h);
}

/* read_mapped's fn: the iovecs gathered into a buffer, as writev would. */
struct gathered {
	uint8_t *buf;
	size_t len;
	int cnt;
};

static int gather(void *arg, const struct iovec *iov, int cnt)
{
	struct gathered *g = arg;

	g->len = 0;
	g->cnt = cnt;
	for (int i = 0; i < cnt; i++) {
		memcpy(g->buf + g->len, iov[i].iov_base, iov[i].iov_len);
		g->len += iov[i].iov_len;
	}
	return 0;
}

/*
 * Huge regions' large reads are replied from the mapping: the bytes
 * across a huge page's edge, a never-written page as zeros that allocate
 * nothing, clipped at the end; any other region (or too long a read) is
 * EXDEV, for the pread path.
 */
static void test_read_mapped(void **state)
{
	struct region *h = new_huge(2 * HUGE), *o = NULL;
	size_t len = REGION_MAPPED_READ_MAX;
	uint8_t *in = malloc(len), *out = malloc(len);
	struct gathered g = { out, 0, 0 };
	uint64_t off = HUGE - len / 2;

	(void)state;
	assert_non_null(in);
	assert_non_null(out);
#if defined(__SANITIZE_THREAD__)
	/* Such builds read huge regions with pread (region.c). */
	assert_int_equal(region__read_mapped(h, len, off, gather, &g), EXDEV);
	region__put(h);
	free(in);
	free(out);
	return;
#endif
	fill(in, len / 2, 5);
	assert_int_equal(t_write(h, in, len / 2, off), (ssize_t)(len / 2));
	memset(in + len / 2, 0, len / 2);
	assert_int_equal(region__read_mapped(h, len, off, gather, &g), 0);
	assert_int_equal(g.cnt, 2);
	assert_int_equal(g.len, len);
	assert_memory_equal(out, in, len);
	/* The second huge page was read, and is still a hole. */
	assert_int_equal(region__resident(h), HUGE);
	assert_int_equal(t_seek_data(h, HUGE), -ENXIO);
	/* Clipped at the end, nothing past it. */
	assert_int_equal(region__read_mapped(h, len, 2 * HUGE - 100, gather,
					     &g), 0);
	assert_int_equal(g.len, 100);
	assert_int_equal(region__read_mapped(h, len, 2 * HUGE, gather, &g), 0);
	assert_int_equal(g.len, 0);
	assert_int_equal(region__read_mapped(h, len + 1, 0, gather, &g), EXDEV);
	assert_int_equal(region__new("small", HUGE, &o), 0);
	assert_int_equal(region__read_mapped(o, PAGE, 0, gather, &g), EXDEV);
	region__put(o);
	region__put(h);
	free(in);
	free(out);
}

/*
 * Sealing a diff over a huge parent costs its runs, not the region's
 * size once per page: a huge level is asked where its data is within
 * the run only.  Every other page of a 16 MiB parent held, one page at
 * a time: 2048 runs.
 */
static void test_diff_seal_cost(void **state)
{
	struct region *a = new_huge(8 * HUGE), *base, *d;
	uint8_t *buf = malloc(COPY_CHUNK);
	struct region_geometry g;
	struct seek_work w0, w;
	uint64_t runs = 8 * HUGE / PAGE / 2;

	(void)state;
	assert_non_null(buf);
	memset(region__base_addr(a), 0x11, 8 * HUGE);
	base = huge_copy(a, buf);
	assert_int_equal(region__new_huge("d", 8 * HUGE, HUGE, true, &d), 0);
	assert_int_equal(overlay__new(d, base), 0);
	for (uint64_t p = 0; p < 8 * HUGE / PAGE; p += 2)
		assert_int_equal(overlay__hold(d, p, p + 1), 0);
	seek_work(&w0);
	assert_int_equal(overlay__seal(d), 0);
	w = seek_work_since(&w0);
	region__geometry(d, &g, true);
	assert_int_equal(g.resident, 8 * HUGE - 8 * HUGE / 2);
	printf("seal of %llu runs over a 16 MiB huge parent: mincore asked "
	       "about %llu bytes, %llu lseeks\n", (unsigned long long)runs,
	       (unsigned long long)w.mincore_bytes,
	       (unsigned long long)w.calls);
	/*
	 * Counted, not timed: each run asks about the huge page it is in
	 * (4 GiB in all, here), where asking about the rest of the region
	 * each time would look at 16 GiB; twice that is the bound.
	 */
	assert_true(w.mincore_bytes > 0);
	assert_true(w.mincore_bytes <= 2 * runs * HUGE);
	region__put(d);
	region__put(base);
	region__put(a);
	free(buf);
}

/* op under exclusivity, as the sandbox calls it. */
static int held(struct region *r, int (*op)(struct region *, uint64_t),
		uint64_t arg)
{
	int ret;

	assert_int_equal(region__exclusive_begin(r, NULL), 0);
	ret = op(r, arg);
	region__exclusive_end(r);
	return ret;
}

static void test_resize_repage(void **state)
{
	struct region *r = ordinary_with(2 * HUGE, 100, HUGE + 5);
	struct region *want = ordinary_with(2 * HUGE, 100, HUGE + 5);

	(void)state;
	assert_int_equal(held(r, region__repage_locked, 3 << 20), EINVAL);
	assert_int_equal(held(r, region__repage_locked, HUGE), 0);
	assert_int_equal(region__page_bytes(r), HUGE);
	assert_same(r, want, 2 * HUGE);
	assert_int_equal(held(r, region__resize_locked, 3 * HUGE + PAGE),
			 EINVAL);
	assert_int_equal(region__mem_size(r), 2 * HUGE);
	assert_int_equal(held(r, region__resize_locked, 4 * HUGE), 0);
	assert_same(r, want, 2 * HUGE);
	assert_int_equal(region__resident(r), 2 * HUGE);
	assert_int_equal(held(r, region__repage_locked, 0), 0);
	assert_int_equal(region__page_bytes(r), PAGE);
	assert_same(r, want, 2 * HUGE);
	assert_int_equal(region__resident(r), 2 * PAGE);
	region__put(want);
	region__put(r);
}

static int give_back(void **state)
{
	(void)state;
	hugepages_release();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_sizes, refill),
		cmocka_unit_test_setup(test_guards, refill),
		cmocka_unit_test_setup(test_pool_short, refill),
		cmocka_unit_test_setup(test_io_and_holes, refill),
		cmocka_unit_test_setup(test_dirty_4k, refill),
		cmocka_unit_test_setup(test_write_without_page, refill),
		cmocka_unit_test_setup(test_zero_keeps_reservation, refill),
		cmocka_unit_test_setup(test_zero_from, refill),
		cmocka_unit_test_setup(test_copy_both_ways, refill),
		cmocka_unit_test_setup(test_resize_repage, refill),
		cmocka_unit_test_setup(test_diff_over_huge, refill),
		cmocka_unit_test_setup(test_diff_limit_huge, refill),
		cmocka_unit_test_setup(test_restore_after_repage, refill),
		cmocka_unit_test_setup(test_no_splice, refill),
		cmocka_unit_test_setup(test_read_mapped, refill),
		cmocka_unit_test_setup(test_diff_seal_cost, refill),
	};
	char why[160];

	if (hugepages_add(RESERVE, why, sizeof(why)) != 0) {
		hugepages_release();
		printf("skip: %s\n", why);
		return 77;
	}
	pool_spare(RESERVE);
	return cmocka_run_group_tests(tests, NULL, give_back);
}
