/*
 * Sparse copies between memfds (region/mem/copy.h): exact bytes, holes kept
 * and made, partial pages, the two-thread split of large ranges, the
 * unmapped path, and errors.  Every expectation comes from the pattern
 * that wrote the source, never from reading the source back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "region/mem/copy.h"
#include "tests/helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

struct mfd {
	int fd;
	uint8_t *map;
	uint64_t size;
};

static struct mfd new_mfd(uint64_t size)
{
	struct mfd m = { .size = size };

	m.fd = memfd_create("test_copy", MFD_CLOEXEC);
	assert_true(m.fd >= 0);
	assert_int_equal(ftruncate(m.fd, (off_t)size), 0);
	m.map = mmap(NULL, size, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_NORESERVE, m.fd, 0);
	assert_true(m.map != MAP_FAILED);
	return m;
}

/*
 * A hugetlbfs memfd of 2 MiB pages, or fd -1 when the kernel has none
 * reserved (the tests that need one skip then).  hugetlbfs has no
 * write(2): the pattern goes in through the mapping.
 */
static struct mfd new_huge_mfd(uint64_t size)
{
	struct mfd m = { .fd = -1, .size = size };
	int fd = memfd_create("test_copy_huge", MFD_CLOEXEC | MFD_HUGETLB);

	if (fd < 0)
		return m;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    (m.map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			  fd, 0)) == MAP_FAILED) {
		close(fd);
		return m;
	}
	m.fd = fd;
	return m;
}

static void free_mfd(struct mfd *m)
{
	munmap(m->map, m->size);
	close(m->fd);
}

static struct copy_side side(const struct mfd *m)
{
	return (struct copy_side){ .fd = m->fd, .map = m->map };
}

/* The byte the pattern puts at off: never 0, and differs page to page. */
static uint8_t pat(uint64_t off, uint8_t seed)
{
	uint8_t b = (uint8_t)((off >> 12) * 131 + (off & 0xfff) * 7 + seed);

	return b ? b : 1;
}

/* Write the pattern into [off, off + len) of m with pwrite (no mapping). */
static void put_pat(const struct mfd *m, uint64_t off, uint64_t len,
		    uint8_t seed)
{
	static uint8_t buf[MiB];

	while (len) {
		size_t n = len > sizeof(buf) ? sizeof(buf) : len;

		for (size_t i = 0; i < n; i++)
			buf[i] = pat(off + i, seed);
		assert_int_equal(pwrite(m->fd, buf, n, (off_t)off), (ssize_t)n);
		off += n;
		len -= n;
	}
}

/*
 * Whether [off, off + len) of m reads as the pattern of seed v (pattern)
 * or as bytes v (pread: no faults).
 */
static bool reads_as(const struct mfd *m, uint64_t off, uint64_t len,
		     bool pattern, uint8_t v)
{
	static uint8_t buf[MiB];

	while (len) {
		size_t n = len > sizeof(buf) ? sizeof(buf) : len;

		assert_int_equal(pread(m->fd, buf, n, (off_t)off), (ssize_t)n);
		for (size_t i = 0; i < n; i++)
			if (buf[i] != (pattern ? pat(off + i, v) : v))
				return false;
		off += n;
		len -= n;
	}
	return true;
}

static bool is_pat(const struct mfd *m, uint64_t off, uint64_t len,
		   uint8_t seed)
{
	return reads_as(m, off, len, true, seed);
}

static bool is_byte(const struct mfd *m, uint64_t off, uint64_t len,
		    uint8_t b)
{
	return reads_as(m, off, len, false, b);
}

static uint64_t allocated(const struct mfd *m)
{
	struct stat st;

	assert_int_equal(fstat(m->fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static int64_t seek(const struct mfd *m, uint64_t off, int whence)
{
	off_t r = lseek(m->fd, (off_t)off, whence);

	return r < 0 ? -errno : r;
}

static int copy(const struct mfd *dst, const struct mfd *src, uint64_t off,
		uint64_t end, bool fill_holes)
{
	uint8_t *buf = malloc(COPY_CHUNK);
	struct extents x = { .hole = 0 };
	int ret;

	assert_non_null(buf);
	ret = copy__sides(side(dst), side(src), buf, &x, off, end, fill_holes);
	free(buf);
	return ret;
}

/* Data at pages 3-4 and 100, holes elsewhere: the copy has the same. */
static void test_holes_kept(void **state)
{
	struct mfd s = new_mfd(1 * MiB), d = new_mfd(1 * MiB);

	(void)state;
	put_pat(&s, 3 * PAGE, 2 * PAGE, 1);
	put_pat(&s, 100 * PAGE, PAGE, 1);
	assert_int_equal(copy(&d, &s, 0, 1 * MiB, false), 0);
	assert_true(is_pat(&d, 3 * PAGE, 2 * PAGE, 1));
	assert_true(is_pat(&d, 100 * PAGE, PAGE, 1));
	assert_true(is_byte(&d, 0, 3 * PAGE, 0));
	assert_true(is_byte(&d, 5 * PAGE, 95 * PAGE, 0));
	assert_true(is_byte(&d, 101 * PAGE, 1 * MiB - 101 * PAGE, 0));
	assert_int_equal(allocated(&d), 3 * PAGE);
	assert_int_equal(seek(&d, 0, SEEK_DATA), 3 * PAGE);
	assert_int_equal(seek(&d, 3 * PAGE, SEEK_HOLE), 5 * PAGE);
	assert_int_equal(seek(&d, 5 * PAGE, SEEK_DATA), 100 * PAGE);
	assert_int_equal(seek(&d, 101 * PAGE, SEEK_DATA), -ENXIO);
	free_mfd(&s);
	free_mfd(&d);
}

/*
 * Pages the source holds but that read as zeros (a guest's read makes
 * those) become holes; a page with one byte set does not.
 */
static void test_zero_pages_become_holes(void **state)
{
	struct mfd s = new_mfd(64 * PAGE), d = new_mfd(64 * PAGE);
	uint8_t *zeros = calloc(1, 8 * PAGE), one = 7;

	(void)state;
	assert_non_null(zeros);
	assert_int_equal(pwrite(s.fd, zeros, 8 * PAGE, 0), (ssize_t)(8 * PAGE));
	assert_int_equal(pwrite(s.fd, &one, 1, (off_t)(5 * PAGE + PAGE - 1)), 1);
	assert_int_equal(allocated(&s), 8 * PAGE);
	assert_int_equal(copy(&d, &s, 0, 64 * PAGE, false), 0);
	assert_int_equal(allocated(&d), PAGE);
	assert_int_equal(seek(&d, 0, SEEK_DATA), 5 * PAGE);
	assert_true(is_byte(&d, 5 * PAGE, PAGE - 1, 0));
	assert_true(is_byte(&d, 6 * PAGE - 1, 1, one));
	free(zeros);
	free_mfd(&s);
	free_mfd(&d);
}

/*
 * A range that starts and ends inside pages, over a destination full of
 * 0xEE: the bytes outside it stay, inside it are the source's, and the
 * source's holes become zeros (fill_holes).
 */
static void test_partial_pages(void **state)
{
	struct mfd s = new_mfd(16 * PAGE), d = new_mfd(16 * PAGE);
	uint64_t off = 2 * PAGE + 100, end = 9 * PAGE + 4000;
	uint8_t *ee = malloc(16 * PAGE);

	(void)state;
	assert_non_null(ee);
	memset(ee, 0xEE, 16 * PAGE);
	assert_int_equal(pwrite(d.fd, ee, 16 * PAGE, 0), (ssize_t)(16 * PAGE));
	put_pat(&s, 2 * PAGE, 2 * PAGE, 3);	/* data at 2-3 */
	put_pat(&s, 7 * PAGE, 3 * PAGE, 3);	/* and 7-9, holes at 4-6 */
	assert_int_equal(copy(&d, &s, off, end, true), 0);
	assert_true(is_byte(&d, 0, off, 0xEE));
	assert_true(is_pat(&d, off, 4 * PAGE - off, 3));
	assert_true(is_byte(&d, 4 * PAGE, 3 * PAGE, 0));
	assert_true(is_pat(&d, 7 * PAGE, end - 7 * PAGE, 3));
	assert_true(is_byte(&d, end, 16 * PAGE - end, 0xEE));
	/* The whole pages of the source's holes went back. */
	assert_int_equal(allocated(&d), 13 * PAGE);
	free(ee);
	free_mfd(&s);
	free_mfd(&d);
}

/*
 * Fully written and longer than COPY_SPLIT_MIN: two threads, one writing
 * with pwrite and one through the mapping, blocks meeting at
 * COPY_BLOCK boundaries; a range starting and ending off those.
 */
static void test_large_full(void **state)
{
	uint64_t size = COPY_SPLIT_MIN + 3 * COPY_BLOCK;
	uint64_t off = COPY_BLOCK / 2 + PAGE, end = size - 5 * PAGE;
	struct mfd s = new_mfd(size), d = new_mfd(size);

	(void)state;
	put_pat(&s, 0, size, 5);
	assert_int_equal(copy(&d, &s, off, end, false), 0);
	assert_true(is_byte(&d, 0, off, 0));
	assert_true(is_pat(&d, off, end - off, 5));
	assert_true(is_byte(&d, end, size - end, 0));
	assert_int_equal(allocated(&d), end - off);
	free_mfd(&s);
	free_mfd(&d);
}

/* Bytes this process has read with read(2)-like calls (/proc/self/io). */
static uint64_t rchar(void)
{
	FILE *f = fopen("/proc/self/io", "re");
	unsigned long long v = 0;
	char line[128];

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "rchar: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

static uint64_t minor_faults(void)
{
	struct rusage u;

	getrusage(RUSAGE_SELF, &u);
	return (uint64_t)u.ru_minflt;
}

/*
 * 16 GiB with a few MiB of data scattered: the copy costs the data, not
 * the size, and takes only the data's pages.  Counted, not timed (a time
 * flakes under ThreadSanitizer and on a loaded machine): the bytes read
 * and the pages faulted in stay within a small multiple of the data,
 * where reading 16 GiB would read or fault 4 Mi pages, and the source
 * gains no page.
 */
static void test_large_sparse(void **state)
{
	uint64_t size = 16 * GiB, at[] = { 0, 3 * GiB + 5 * PAGE,
					   8 * GiB - MiB, 16 * GiB - 2 * MiB };
	struct mfd s = new_mfd(size), d = new_mfd(size);
	uint64_t t0, data = 0, read0, faults0;

	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		put_pat(&s, at[i], 2 * MiB, 9);
		data += 2 * MiB;
	}
	read0 = rchar();
	faults0 = minor_faults();
	t0 = now_ms();
	assert_int_equal(copy(&d, &s, 0, size, false), 0);
	t0 = now_ms() - t0;
	read0 = rchar() - read0;
	faults0 = minor_faults() - faults0;
	print_message("copy of 16 GiB with 8 MiB of data: %llu bytes read, "
		      "%llu minor faults, %llu ms\n", (unsigned long long)read0,
		      (unsigned long long)faults0, (unsigned long long)t0);
	/*
	 * The data's pages, a few times over (ThreadSanitizer's shadow
	 * faults too: about 10 times the data's pages there), where reading
	 * or mapping the 16 GiB would take 4 Mi faults or 16 GiB of reads.
	 */
	assert_true(read0 <= 4 * data);
	assert_true(faults0 <= 32 * data / PAGE);
	assert_int_equal(allocated(&s), data);
	assert_int_equal(allocated(&d), data);
	for (unsigned i = 0; i < 4; i++)
		assert_true(is_pat(&d, at[i], 2 * MiB, 9));
	assert_int_equal(seek(&d, 2 * MiB, SEEK_DATA), (int64_t)at[1]);
	assert_int_equal(seek(&d, at[1], SEEK_HOLE), (int64_t)(at[1] + 2 * MiB));
	free_mfd(&s);
	free_mfd(&d);
}

/*
 * A restore of a large range: the destination's data where the source
 * has holes is punched, its other bytes replaced, whichever thread has
 * the block.
 */
static void test_large_restore(void **state)
{
	uint64_t size = COPY_SPLIT_MIN * 2;
	struct mfd s = new_mfd(size), d = new_mfd(size);

	(void)state;
	put_pat(&s, 0, size / 4, 2);
	put_pat(&s, size / 2, size / 4, 2);
	put_pat(&d, 0, size, 8);
	assert_int_equal(allocated(&d), size);
	assert_int_equal(copy(&d, &s, 0, size, true), 0);
	assert_true(is_pat(&d, 0, size / 4, 2));
	assert_true(is_byte(&d, size / 4, size / 4, 0));
	assert_true(is_pat(&d, size / 2, size / 4, 2));
	assert_true(is_byte(&d, 3 * size / 4, size / 4, 0));
	assert_int_equal(allocated(&d), size / 2);
	free_mfd(&s);
	free_mfd(&d);
}

/* Without mappings (copy__range: a saved file, a resize): the same. */
static void test_unmapped(void **state)
{
	struct mfd s = new_mfd(4 * MiB), d = new_mfd(4 * MiB);
	uint8_t *buf = malloc(COPY_CHUNK);
	struct extents x = { .hole = 0 };

	(void)state;
	assert_non_null(buf);
	put_pat(&s, MiB + 10 * PAGE, 300 * PAGE, 4);
	assert_int_equal(copy__range(d.fd, s.fd, buf, &x, 0, 4 * MiB, false),
			 0);
	assert_true(is_pat(&d, MiB + 10 * PAGE, 300 * PAGE, 4));
	assert_true(is_byte(&d, 0, MiB + 10 * PAGE, 0));
	assert_int_equal(allocated(&d), 300 * PAGE);
	free(buf);
	free_mfd(&s);
	free_mfd(&d);
}

/*
 * Errors come back as errno, whichever thread meets them: a file that is
 * not open as the source, as the destination of pwrite, and as the one
 * to punch holes in while both threads copy.
 */
static void test_errors(void **state)
{
	struct mfd s = new_mfd(COPY_SPLIT_MIN), d = new_mfd(COPY_SPLIT_MIN);
	uint8_t *buf = malloc(COPY_CHUNK);
	struct extents x = { .hole = 0 };
	struct copy_side bad = { .fd = -1 };

	(void)state;
	assert_non_null(buf);
	put_pat(&s, 0, COPY_SPLIT_MIN / 2, 6);
	assert_int_equal(copy__range(-1, s.fd, buf, &x, 0, MiB, false), EBADF);
	x = (struct extents){ .hole = 0 };
	assert_int_equal(copy__sides(side(&d), bad, buf, &x, 0, MiB, false),
			 EBADF);
	x = (struct extents){ .hole = 0 };
	bad.map = d.map;
	assert_int_equal(copy__sides(bad, side(&s), buf, &x, 0,
				     COPY_SPLIT_MIN, true), EBADF);
	/* An empty range does nothing. */
	x = (struct extents){ .hole = 0 };
	assert_int_equal(copy__sides(side(&d), side(&s), buf, &x, MiB, MiB,
				     false), 0);
	free(buf);
	free_mfd(&s);
	free_mfd(&d);
}

#define HUGE (2 * MiB)

/* The pattern into [off, off + len) of m through its mapping. */
static void map_pat(const struct mfd *m, uint64_t off, uint64_t len,
		    uint8_t seed)
{
	for (uint64_t i = 0; i < len; i++)
		m->map[off + i] = pat(off + i, seed);
}

/* The huge pages the huge cases need, reserved here, given back at exit. */
static char huge_why[160] = "no hugetlbfs memfd of 4 huge pages could be made";

static int reserve_huge(void **state)
{
	(void)state;
	if (hugepages_add(4, huge_why, sizeof(huge_why)) != 0)
		hugepages_release();
	return 0;
}

static int give_back_huge(void **state)
{
	(void)state;
	hugepages_release();
	return 0;
}

/*
 * A source and a destination of 4 huge pages, one of them hugetlbfs;
 * false (nothing left open) when none could be made (why: huge_why).
 */
static bool huge_pair(struct mfd *s, struct mfd *d, bool huge_src)
{
	struct mfd *h = huge_src ? s : d, *o = huge_src ? d : s;

	*h = new_huge_mfd(4 * HUGE);
	if (h->fd < 0)
		return false;
	*o = new_mfd(4 * HUGE);
	return true;
}

/*
 * A hugetlbfs source: its SEEK_DATA says "all data", so it is read with
 * pread (its holes read as zeros and stay unallocated), and only its
 * pages with data reach the copy.
 */
static void test_huge_source(void **state)
{
	struct mfd s, d;

	(void)state;
	if (!huge_pair(&s, &d, true))
		skip_because("%s", huge_why);
	map_pat(&s, HUGE + PAGE, 2 * PAGE, 11);
	assert_int_equal(allocated(&s), HUGE);
	assert_int_equal(copy(&d, &s, 0, 4 * HUGE, false), 0);
	assert_int_equal(allocated(&s), HUGE);
	assert_int_equal(allocated(&d), 2 * PAGE);
	assert_true(is_pat(&d, HUGE + PAGE, 2 * PAGE, 11));
	assert_true(is_byte(&d, 0, HUGE + PAGE, 0));
	assert_true(is_byte(&d, HUGE + 3 * PAGE, 3 * HUGE - 3 * PAGE, 0));
	free_mfd(&s);
	free_mfd(&d);
}

/*
 * A hugetlbfs destination (no write(2)): written through its mapping,
 * holes left where the source has none of its data, punched whole
 * pages at a time in a restore.
 */
static void test_huge_destination(void **state)
{
	struct mfd s, d;

	(void)state;
	if (!huge_pair(&s, &d, false))
		skip_because("%s", huge_why);
	put_pat(&s, 2 * HUGE + 5 * PAGE, PAGE, 12);
	assert_int_equal(copy(&d, &s, 0, 4 * HUGE, false), 0);
	assert_int_equal(allocated(&d), HUGE);
	assert_true(is_pat(&d, 2 * HUGE + 5 * PAGE, PAGE, 12));
	assert_true(is_byte(&d, 0, 2 * HUGE + 5 * PAGE, 0));
	assert_true(is_byte(&d, 2 * HUGE + 6 * PAGE, 2 * HUGE - 6 * PAGE, 0));
	/* A restore over data everywhere: the source's holes punched. */
	map_pat(&d, 0, 4 * HUGE, 13);
	assert_int_equal(allocated(&d), 4 * HUGE);
	assert_int_equal(copy(&d, &s, 0, 4 * HUGE, true), 0);
	assert_int_equal(allocated(&d), HUGE);
	assert_true(is_pat(&d, 2 * HUGE + 5 * PAGE, PAGE, 12));
	assert_true(is_byte(&d, 0, 2 * HUGE + 5 * PAGE, 0));
	assert_true(is_byte(&d, 2 * HUGE + 6 * PAGE, 2 * HUGE - 6 * PAGE, 0));
	free_mfd(&s);
	free_mfd(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_holes_kept),
		cmocka_unit_test(test_zero_pages_become_holes),
		cmocka_unit_test(test_partial_pages),
		cmocka_unit_test(test_large_full),
		cmocka_unit_test(test_large_sparse),
		cmocka_unit_test(test_large_restore),
		cmocka_unit_test(test_unmapped),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_huge_source),
		cmocka_unit_test(test_huge_destination),
	};

	return cmocka_run_group_tests(tests, reserve_huge, give_back_huge);
}
