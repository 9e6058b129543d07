/*
 * Diff snapshots without a VM: the pages a diff holds (host writes,
 * zeros written, truncate, zero, resize, new regions), its view read
 * through to the parent (bytes, SEEK_DATA/SEEK_HOLE, st_blocks) against
 * a full snapshot taken at the same moment, restore from it, chains, what
 * it takes, and every refusal changing nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "region/mem/dirty_text.h"
#include "region/kvm/vcpu.h"
#include "region/mem/overlay.h"
#include "region/sandbox/diff.h"
#include "region/sandbox/chain.h"
#include "region/persist/persist.h"
#include "region/mem/sum.h"
#include "tests/helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct region *copy_in(struct sandbox *sb, const char *snap,
			      const char *name)
{
	struct snapshot *s = snapshot__find(&sb->snaps, snap);
	struct region *c;

	assert_non_null(s);
	c = snapshot__region(s, name, NULL);
	snapshot__put(s);
	assert_non_null(c);
	return c;
}

static int take_spec(struct sandbox *sb, const char *spec, char *why_out)
{
	struct why why = { "" };
	int ret = snapshot__take(sb, NULL, spec, &why);

	if (why_out)
		snprintf(why_out, WHY_MAX, "%s", why.msg);
	return ret;
}

/* The `dirty` text of r, read through its cursor in small pieces. */
static char *held_text(struct region *r)
{
	static char out[1 << 14];
	struct dirty_cursor cur;
	size_t n, pos = 0;

	assert_int_equal(dirty_text__start(r, &cur, false), 0);
	do {
		assert_int_equal(dirty_text__read(r, &cur, out + pos, 5, pos,
						  &n), 0);
		pos += n;
		assert_true(pos < sizeof(out) - 8);
	} while (n);
	out[pos] = '\0';
	assert_int_equal(dirty_text__size(r), pos);
	return out;
}

static void fill_page(struct region *r, uint64_t page, uint8_t v)
{
	uint8_t *buf = malloc(PAGE);

	memset(buf, v, PAGE);
	assert_int_equal(t_write(r, buf, PAGE, page * PAGE), (ssize_t)PAGE);
	free(buf);
}

/* a and b hold the same bytes (read in pieces that straddle pages). */
static void same_bytes(struct region *a, struct region *b)
{
	uint64_t size = region__mem_size(a), step = 3 * PAGE + 17;
	uint8_t *x = malloc(step), *y = malloc(step);

	assert_int_equal(region__mem_size(b), size);
	for (uint64_t off = 0; off < size; off += step) {
		ssize_t n = t_read(a, x, step, off);

		assert_true(n > 0);
		assert_int_equal(t_read(b, y, step, off), n);
		assert_memory_equal(x, y, (size_t)n);
	}
	free(x);
	free(y);
}

/*
 * Two copies agree every way they can be looked at: the bytes, each
 * SEEK_DATA and SEEK_HOLE answer from every half page, and the resident
 * bytes stat shows.  (A live region keeps pages of zeros written to it,
 * which copies leave out: compare it by its bytes.)
 */
static void same_view(struct region *a, struct region *b)
{
	uint64_t size = region__mem_size(a);
	struct region_geometry ga, gb;

	same_bytes(a, b);
	for (uint64_t off = 0; off < size; off += PAGE / 2) {
		assert_int_equal(t_seek_data(a, off), t_seek_data(b, off));
		assert_int_equal(t_seek_hole(a, off), t_seek_hole(b, off));
	}
	assert_int_equal(t_seek_data(a, size), -ENXIO);
	assert_int_equal(t_seek_data(b, size), -ENXIO);
	region__geometry(a, &ga, true);
	region__geometry(b, &gb, true);
	assert_int_equal(ga.resident, gb.resident);
}

/*
 * The diff holds exactly the pages written since its parent: a byte
 * written, a page of zeros written over data (held, reads zeros, takes
 * nothing), a truncate; and it reads as the full snapshot of that moment.
 */
static void test_diff_holds_written(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 64 * PAGE);
	struct region *b = add_region(sb, "b", 8 * PAGE);
	struct region *d, *f;
	uint64_t before;
	char expect[256];

	(void)state;
	for (uint64_t p = 0; p < 40; p += 2)
		fill_page(a, p, (uint8_t)(0x10 + p));
	fill_page(b, 1, 0xbb);
	assert_int_equal(take_spec(sb, "base", NULL), 0);

	fill_page(a, 3, 0x33);		/* a hole in base: new data */
	fill_page(a, 4, 0x00);		/* data in base: zeroed */
	fill_page(a, 6, 0x66);		/* data in base: rewritten */
	assert_int_equal(t_write(a, "z", 1, 50 * PAGE + 9), 1);
	assert_int_equal(sandbox__zero_from(sb, a, 60 * PAGE, NULL), 0);
	before = sb->snaps.bytes;
	assert_int_equal(take_spec(sb, "d:base", NULL), 0);
	assert_int_equal(take_spec(sb, "full", NULL), 0);

	d = copy_in(sb, "d", "a");
	f = copy_in(sb, "full", "a");
	snprintf(expect, sizeof(expect),
		 "0x%llx-0x%llx\n0x%llx-0x%llx\n0x%llx-0x%llx\n0x%llx-0x%llx\n",
		 (unsigned long long)(3 * PAGE), (unsigned long long)(5 * PAGE),
		 (unsigned long long)(6 * PAGE), (unsigned long long)(7 * PAGE),
		 (unsigned long long)(50 * PAGE), (unsigned long long)(51 * PAGE),
		 (unsigned long long)(60 * PAGE), (unsigned long long)(64 * PAGE));
	assert_string_equal(held_text(d), expect);
	same_view(d, f);
	/* Page 4 is held and reads zeros, though base has 0x14 there. */
	assert_int_equal(t_seek_data(d, 4 * PAGE), (int64_t)(6 * PAGE));
	/* What it takes: its pages with data (3, 6, 50), not the view. */
	assert_int_equal(region__resident(d), 3 * PAGE);
	assert_int_equal(region__resident(f), 21 * PAGE);
	region__put(d);
	/* b was not written: the diff holds none of it, and reads it all. */
	d = copy_in(sb, "d", "b");
	assert_string_equal(held_text(d), "");
	assert_int_equal(region__resident(d), 0);
	region__put(f);
	f = copy_in(sb, "full", "b");
	same_view(d, f);
	/* The limit counts what the diff takes, not its view. */
	assert_int_equal(sb->snaps.bytes, before + 3 * PAGE + 22 * PAGE);
	region__put(d);
	region__put(f);
	region__put(a);
	region__put(b);
	sandbox__free(sb);
}

static int called(void *arg, int memfd, uint64_t off, size_t len)
{
	(void)memfd;
	(void)off;
	(void)len;
	*(bool *)arg = true;
	return 0;
}

/*
 * A diff's view is in no one memfd: the spliced read path, which hands
 * the reader one memfd's pages, must be refused it (EXDEV, fn not
 * called), or a reader gets zeros where the view reads through to the
 * parent.  region__read gives the view.
 */
static void test_diff_no_single_memfd(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 8 * PAGE), *d;
	uint8_t buf[PAGE];
	bool was_called = false;

	(void)state;
	fill_page(a, 1, 0x11);
	assert_int_equal(take_spec(sb, "base", NULL), 0);
	fill_page(a, 2, 0x22);
	assert_int_equal(take_spec(sb, "d:base", NULL), 0);
	d = copy_in(sb, "d", "a");
	assert_int_equal(region__with_contents(d, 4 * PAGE, 0, called,
					       &was_called), EXDEV);
	assert_false(was_called);
	assert_int_equal(t_read(d, buf, PAGE, PAGE), (ssize_t)PAGE);
	assert_int_equal(buf[0], 0x11);
	/* A plain region, and a full snapshot's copy, still have one. */
	assert_int_equal(region__with_contents(a, PAGE, 0, called,
					       &was_called), 0);
	assert_true(was_called);
	region__put(d);
	region__put(a);
	sandbox__free(sb);
}

static uint64_t blocks_of(struct region *r)
{
	struct stat st;

	assert_int_equal(fstat(r->memfd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/*
 * Taking a diff reads the live region's held pages without allocating
 * its holes: a truncate leaves a run of held pages that are holes after
 * the one it cut, and a read of a shmem hole through the mapping would
 * allocate a page of zeros in the guest's memory.
 */
static void test_diff_take_allocates_nothing(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 1024 * PAGE), *d;
	uint64_t before;

	(void)state;
	assert_int_equal(take_spec(sb, "base", NULL), 0);
	fill_page(a, 10, 0xaa);
	assert_int_equal(sandbox__zero_from(sb, a, 10 * PAGE + 100, NULL), 0);
	before = blocks_of(a);
	assert_int_equal(before, PAGE);
	assert_int_equal(take_spec(sb, "d:base", NULL), 0);
	assert_int_equal(blocks_of(a), before);
	d = copy_in(sb, "d", "a");
	assert_int_equal(region__resident(d), PAGE);
	region__put(d);
	region__put(a);
	sandbox__free(sb);
}

/* Restoring a diff gives its moment back, from anywhere, exactly. */
static void test_diff_restore(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 128 * PAGE), *f, *d;
	struct why why = { "" };

	(void)state;
	for (uint64_t p = 0; p < 128; p += 3)
		fill_page(a, p, (uint8_t)p);
	assert_int_equal(take_spec(sb, "base", NULL), 0);
	fill_page(a, 1, 0xa1);
	fill_page(a, 3, 0);
	fill_page(a, 100, 0xa2);
	assert_int_equal(take_spec(sb, "d:base", NULL), 0);
	assert_int_equal(take_spec(sb, "full", NULL), 0);
	/* Anything at all since: rewritten, zeroed, and base put back. */
	fill_page(a, 1, 0xee);
	fill_page(a, 50, 0xee);
	assert_int_equal(snapshot__restore(sb, NULL, "d", &why), 0);
	f = copy_in(sb, "full", "a");
	same_bytes(a, f);
	assert_int_equal(snapshot__restore(sb, NULL, "base", &why), 0);
	d = copy_in(sb, "base", "a");
	same_bytes(a, d);
	region__put(d);
	/* From nothing: every page comes from the diff or through it. */
	assert_int_equal(region__zero(a, NULL), 0);
	assert_int_equal(snapshot__restore(sb, NULL, "d", &why), 0);
	same_bytes(a, f);
	assert_int_equal(region__resident(a), region__resident(f));
	region__put(f);
	region__put(a);
	sandbox__free(sb);
}

/*
 * Restores count as writes, against the moment each makes: a diff of
 * base right after base is restored holds nothing; after another
 * snapshot is restored, exactly the pages that restore wrote.
 */
static void test_diff_after_restore(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 32 * PAGE), *c, *f;
	struct why why = { "" };
	char expect[128];

	(void)state;
	fill_page(a, 1, 0x11);
	assert_int_equal(take_spec(sb, "base", NULL), 0);
	fill_page(a, 2, 0x22);
	fill_page(a, 9, 0x99);
	assert_int_equal(take_spec(sb, "x", NULL), 0);
	assert_int_equal(snapshot__restore(sb, NULL, "base", &why), 0);
	assert_int_equal(take_spec(sb, "d0:base", NULL), 0);
	c = copy_in(sb, "d0", "a");
	assert_string_equal(held_text(c), "");
	assert_int_equal(region__resident(c), 0);
	region__put(c);
	assert_int_equal(snapshot__restore(sb, NULL, "x", &why), 0);
	assert_int_equal(take_spec(sb, "d1:base", NULL), 0);
	c = copy_in(sb, "d1", "a");
	snprintf(expect, sizeof(expect), "0x%llx-0x%llx\n0x%llx-0x%llx\n",
		 (unsigned long long)(2 * PAGE), (unsigned long long)(3 * PAGE),
		 (unsigned long long)(9 * PAGE), (unsigned long long)(10 * PAGE));
	assert_string_equal(held_text(c), expect);
	f = copy_in(sb, "x", "a");
	same_view(c, f);
	region__put(f);
	region__put(c);
	region__put(a);
	sandbox__free(sb);
}

/*
 * A restore that fails half-way (here past RLIMIT_FSIZE) has written
 * some pages: they count as written, so a diff taken after holds them
 * and reads what the region holds, not its parent's bytes.  Both ways a
 * restore copies: the pages written since, and every page.  The run is
 * longer than the few pages a restore copies through the mappings (which
 * RLIMIT_FSIZE does not stop): it goes through the file.
 */
#define RUN 25
static void test_diff_after_failed_restore(void **state)
{
	struct rlimit was, low = { 8 * PAGE, 8 * PAGE };
	void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
	uint8_t *x = malloc(PAGE), *y = malloc(PAGE);

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
	low.rlim_max = was.rlim_max;
	for (int all = 0; all < 2; all++) {
		struct sandbox *sb = new_sandbox(0, 0);
		struct region *a = add_region(sb, "a", 64 * PAGE), *c;
		struct why why = { "" };

		for (uint64_t p = 6; p < 6 + RUN; p++)
			fill_page(a, p, 0x11);
		assert_int_equal(take_spec(sb, "q", NULL), 0);
		for (uint64_t p = 6; p < 6 + RUN; p++)
			fill_page(a, p, 0x22);
		/* A zero between q and p: the restore copies every page. */
		if (all) {
			assert_int_equal(region__zero(a, NULL), 0);
			for (uint64_t p = 6; p < 6 + RUN; p++)
				fill_page(a, p, 0x22);
		}
		assert_int_equal(take_spec(sb, "p", NULL), 0);
		/* Pages 6 and 7 written back, 8 refused. */
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &low), 0);
		assert_int_not_equal(snapshot__restore(sb, NULL, "q", &why), 0);
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
		assert_int_equal(t_read(a, x, PAGE, 6 * PAGE), (ssize_t)PAGE);
		assert_int_equal(x[0], 0x11);
		assert_int_equal(take_spec(sb, "d:p", NULL), 0);
		c = copy_in(sb, "d", "a");
		for (uint64_t p = 0; p < 64; p++) {
			assert_int_equal(t_read(a, x, PAGE, p * PAGE),
					 (ssize_t)PAGE);
			assert_int_equal(t_read(c, y, PAGE, p * PAGE),
					 (ssize_t)PAGE);
			if (memcmp(x, y, PAGE))
				fail_msg("%s: page %llu of d reads 0x%02x, the "
					 "region holds 0x%02x", all ? "every "
					 "page" : "pages written",
					 (unsigned long long)p, y[0], x[0]);
		}
		region__put(c);
		region__put(a);
		sandbox__free(sb);
	}
	signal(SIGXFSZ, old);
	free(x);
	free(y);
}

/*
 * Diff s<i>'s sum, made from its parent's and the pages it holds
 * (sum__diff, and info's line, which is made so), is the sum of f<i>,
 * the full copy of the same bytes, summed whole.
 */
static void same_sum(struct sandbox *sb, unsigned i, struct region *x,
		     struct region *y)
{
	uint8_t *buf = malloc(SUM_CHUNK);
	uint32_t full, diff, parent;
	char name[16], want[64];
	struct region *p;
	struct snapshot *s;
	const char *text;
	size_t len;

	assert_int_equal(sum__region(y, buf, &full), 0);
	snprintf(name, sizeof(name), "s%u", i - 1);
	p = copy_in(sb, name, "a");
	assert_int_equal(sum__region(p, buf, &parent), 0);
	assert_int_equal(sum__diff(x, parent, buf, &diff), 0);
	assert_int_equal(diff, full);
	snprintf(name, sizeof(name), "s%u", i);
	s = snapshot__find(&sb->snaps, name);
	assert_int_equal(snapshot__info(s, &text, &len), 0);
	snprintf(want, sizeof(want), "crc32c a 0x%08x\n", full);
	assert_non_null(memmem(text, len, want, strlen(want)));
	snapshot__put(s);
	region__put(p);
	free(buf);
}

/* A diff of a diff reads through two levels; each reads as its moment. */
static void test_diff_chain(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 32 * PAGE), *x, *y;
	char name[16], spec[40];

	(void)state;
	fill_page(a, 0, 1);
	assert_int_equal(take_spec(sb, "s0", NULL), 0);
	for (unsigned i = 1; i <= 4; i++) {
		fill_page(a, i * 5, (uint8_t)(0x40 + i));
		if (i == 3)
			fill_page(a, 5, 0);
		snprintf(spec, sizeof(spec), "s%u:s%u", i, i - 1);
		assert_int_equal(take_spec(sb, spec, NULL), 0);
		snprintf(name, sizeof(name), "f%u", i);
		assert_int_equal(take_spec(sb, name, NULL), 0);
	}
	for (unsigned i = 1; i <= 4; i++) {
		snprintf(name, sizeof(name), "s%u", i);
		x = copy_in(sb, name, "a");
		snprintf(name, sizeof(name), "f%u", i);
		y = copy_in(sb, name, "a");
		same_view(x, y);
		same_sum(sb, i, x, y);
		/* Each level holds one page (s3 two: 5 zeroed, 15). */
		assert_int_equal(overlay__of(x)->pages, i == 3 ? 2 : 1);
		assert_int_equal(overlay__of(x)->depth, i);
		region__put(x);
		region__put(y);
	}
	region__put(a);
	sandbox__free(sb);
}

/*
 * What the diff cannot know page by page it holds whole: a region made
 * since the parent, one resized since, one zeroed whole.
 */
static void test_diff_whole(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 16 * PAGE);
	struct region *z = add_region(sb, "z", 16 * PAGE), *n, *c, *f;
	char expect[64];

	(void)state;
	fill_page(a, 2, 0x22);
	fill_page(z, 2, 0x22);
	assert_int_equal(take_spec(sb, "base", NULL), 0);
	assert_int_equal(sandbox__resize(sb, a, 20 * PAGE, NULL), 0);
	assert_int_equal(region__zero(z, NULL), 0);
	n = add_region(sb, "n", 4 * PAGE);
	fill_page(n, 1, 0x11);
	assert_int_equal(take_spec(sb, "d:base", NULL), 0);
	assert_int_equal(take_spec(sb, "full", NULL), 0);
	snprintf(expect, sizeof(expect), "0x0-0x%llx\n",
		 (unsigned long long)(20 * PAGE));
	c = copy_in(sb, "d", "a");
	assert_string_equal(held_text(c), expect);
	assert_null(overlay__of(c)->base);
	f = copy_in(sb, "full", "a");
	same_view(c, f);
	region__put(c);
	region__put(f);
	snprintf(expect, sizeof(expect), "0x0-0x%llx\n",
		 (unsigned long long)(16 * PAGE));
	c = copy_in(sb, "d", "z");
	assert_string_equal(held_text(c), expect);
	assert_int_equal(t_seek_data(c, 0), -ENXIO);
	region__put(c);
	snprintf(expect, sizeof(expect), "0x0-0x%llx\n",
		 (unsigned long long)(4 * PAGE));
	c = copy_in(sb, "d", "n");
	assert_string_equal(held_text(c), expect);
	f = copy_in(sb, "full", "n");
	same_view(c, f);
	region__put(c);
	region__put(f);
	region__put(n);
	region__put(z);
	region__put(a);
	sandbox__free(sb);
}

/* Each refusal: its errno, its reason, and no snapshot more or less. */
static void test_diff_refusals(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 16 * PAGE), *c;
	char why[WHY_MAX], spec[200];
	struct why w = { "" };

	(void)state;
	fill_page(a, 0, 1);
	assert_int_equal(take_spec(sb, "base", NULL), 0);
	assert_int_equal(take_spec(sb, "d:nope", why), ENOENT);
	assert_string_equal(why, "no snapshot nope to take a diff of");
	assert_int_equal(take_spec(sb, "d:", why), EINVAL);
	assert_non_null(strstr(why, "not a snapshot name"));
	assert_int_equal(take_spec(sb, ":base", why), EINVAL);
	assert_int_equal(take_spec(sb, "d:base:base", why), EINVAL);
	assert_int_equal(take_spec(sb, "d:.x", why), EINVAL);
	memset(spec, 'x', 70);
	strcpy(spec + 70, ":base");
	assert_int_equal(take_spec(sb, spec, why), EINVAL);
	assert_int_equal(take_spec(sb, "base:base", why), EEXIST);
	dirty__set_tracking(false);
	assert_int_equal(take_spec(sb, "d:base", why), EOPNOTSUPP);
	dirty__set_tracking(true);
	assert_non_null(strstr(why, "-o nodirty"));
	assert_int_equal(sb->snaps.nr, 1);

	/* A parent goes only after its diffs. */
	assert_int_equal(take_spec(sb, "d:base", NULL), 0);
	assert_int_equal(snapshot__remove(sb, "base", &w), EBUSY);
	assert_string_equal(w.msg, "snapshot d is a diff of it and reads "
			    "through to it (remove d first)");
	assert_int_equal(sb->snaps.nr, 2);
	/* A reader of the diff keeps the parent's copy it reads through. */
	c = copy_in(sb, "d", "a");
	assert_int_equal(snapshot__remove(sb, "d", NULL), 0);
	assert_int_equal(snapshot__remove(sb, "base", NULL), 0);
	assert_int_equal(sb->snaps.nr, 0);
	assert_int_equal(t_read(c, spec, 1, 0), 1);
	assert_int_equal(spec[0], 1);
	assert_true(sb->snaps.bytes > 0);
	region__put(c);
	assert_int_equal(sb->snaps.bytes, 0);
	region__put(a);
	sandbox__free(sb);
}

/*
 * The limit on the copies' memory: a full snapshot that would not fit is
 * refused, a diff of the few pages written since fits.
 */
static void test_diff_limit(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 256 * PAGE);
	char why[WHY_MAX];

	(void)state;
	for (uint64_t p = 0; p < 100; p++)
		fill_page(a, p, 7);
	sandbox__snapshot_limits(sb, 0, 150 * PAGE);
	assert_int_equal(take_spec(sb, "base", NULL), 0);
	fill_page(a, 200, 9);
	assert_int_equal(take_spec(sb, "full", why), ENOSPC);
	assert_int_equal(take_spec(sb, "d:base", why), 0);
	assert_int_equal(sb->snaps.bytes, 101 * PAGE);
	for (uint64_t p = 0; p < 60; p++)
		fill_page(a, p, 8);
	assert_int_equal(take_spec(sb, "d2:d", why), ENOSPC);
	assert_non_null(strstr(why, "the diff would take"));
	assert_int_equal(sb->snaps.nr, 2);
	region__put(a);
	sandbox__free(sb);
}


/*
 * A region the diff holds whole (made since the parent) is counted at
 * what it holds when the diff is taken, not at what a stat saw last:
 * the diff counts it with every region held, when no stat can look.
 */
static void test_diff_limit_whole(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 16 * PAGE), *b;
	char why[WHY_MAX];

	(void)state;
	fill_page(a, 0, 1);
	sandbox__snapshot_limits(sb, 0, 50 * PAGE);
	assert_int_equal(take_spec(sb, "base", NULL), 0);
	b = add_region(sb, "b", 256 * PAGE);
	/* Seen empty, then written: 100 pages that a whole copy takes. */
	assert_int_equal(region__resident(b), 0);
	for (uint64_t p = 0; p < 100; p++)
		fill_page(b, p, 2);
	assert_int_equal(take_spec(sb, "d:base", why), ENOSPC);
	assert_non_null(strstr(why, "the diff would take"));
	assert_int_equal(sb->snaps.nr, 1);
	assert_int_equal(sb->snaps.bytes, PAGE);
	region__put(b);
	region__put(a);
	sandbox__free(sb);
}

static uint64_t restore_us(struct sandbox *sb, struct region *a,
			   const char *name, uint64_t *pages)
{
	struct why why = { "" };
	uint64_t before = atomic_load(&sb->snaps.restored_pages);
	struct timespec t0, t1;

	/* The same 16 pages written each time, then the snapshot back. */
	for (uint64_t p = 0; p < 16; p++)
		fill_page(a, 3000 + p * 7, 0xcc);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(snapshot__restore(sb, NULL, name, &why), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*pages = atomic_load(&sb->snaps.restored_pages) - before;
	return (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL +
			  (t1.tv_nsec - t0.tv_nsec)) / 1000;
}

static int by_value(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/*
 * Restore from a diff costs what restore from a full snapshot does: the
 * pages written since, found through the chain by binary search, whatever
 * the region's size (16 GiB, 64 MiB of data, 16 pages in the diff).
 */
static void test_diff_restore_cost(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 16ULL << 30), *c;
	uint64_t full[15], diff[15], pf, pd;
	uint8_t *chunk = malloc(1 << 20);

	(void)state;
	memset(chunk, 0x5a, 1 << 20);
	for (uint64_t i = 0; i < 64; i++)
		assert_int_equal(t_write(a, chunk, 1 << 20, i << 28), 1 << 20);
	assert_int_equal(take_spec(sb, "base", NULL), 0);
	for (uint64_t p = 0; p < 16; p++)
		fill_page(a, 100 + p * 1000, 0xdd);
	assert_int_equal(take_spec(sb, "d:base", NULL), 0);
	assert_int_equal(take_spec(sb, "full", NULL), 0);
	c = copy_in(sb, "d", "a");
	assert_int_equal(overlay__of(c)->pages, 16);
	assert_int_equal(region__resident(c), 16 * PAGE);
	region__put(c);
	for (unsigned i = 0; i < 15; i++) {
		full[i] = restore_us(sb, a, "full", &pf);
		diff[i] = restore_us(sb, a, "d", &pd);
		/* The same pages copied back, from either. */
		assert_int_equal(pd, pf);
		assert_int_equal(pd, 16);
	}
	qsort(full, 15, sizeof(full[0]), by_value);
	qsort(diff, 15, sizeof(diff[0]), by_value);
	print_message("restore of 16 written pages, 16 GiB region: full "
		      "snapshot %llu us, diff of 16 pages %llu us (medians)\n",
		      (unsigned long long)full[7], (unsigned long long)diff[7]);
	/* d's moment: its pages, and the ones written since put back. */
	for (uint64_t p = 0; p < 16; p++) {
		assert_int_equal(t_read(a, chunk, PAGE, (100 + p * 1000) * PAGE),
				 (ssize_t)PAGE);
		assert_int_equal(chunk[0], 0xdd);
		assert_int_equal(t_read(a, chunk, PAGE, (3000 + p * 7) * PAGE),
				 (ssize_t)PAGE);
		assert_int_equal(chunk[PAGE - 1], 0);
	}
	/* Page 100 is in the first MiB of data already: 15 pages more. */
	assert_int_equal(region__resident(a), (64ULL << 20) + 15 * PAGE);
	free(chunk);
	region__put(a);
	sandbox__free(sb);
}

/*
 * Taking a diff costs the pages it holds, also where the region and its
 * parent are data from end to end: shmem answers SEEK_HOLE by walking the
 * data up to the next hole, so the diff must not ask it where the data
 * it copies ends.  Counted (seek_work), not timed: a diff of 16 pages
 * walks at most its 16 pages, where one SEEK_HOLE walks 256 MiB.
 */
static void test_diff_take_cost(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 256ULL << 20), *c;
	uint64_t big = 256ULL << 20;
	uint8_t *chunk = malloc(1 << 20);
	struct seek_work w0, took, walked;
	char name[16];

	(void)state;
	memset(chunk, 0x5a, 1 << 20);
	for (uint64_t i = 0; i < 256; i++)
		assert_int_equal(t_write(a, chunk, 1 << 20, i << 20), 1 << 20);
	assert_int_equal(take_spec(sb, "base", NULL), 0);
	for (unsigned k = 0; k < 5; k++) {
		for (uint64_t p = 0; p < 16; p++)
			fill_page(a, 5 + p * 4000, (uint8_t)(k + 1));
		snprintf(name, sizeof(name), "d%u:base", k);
		seek_work(&w0);
		assert_int_equal(take_spec(sb, name, NULL), 0);
		took = seek_work_since(&w0);
		print_message("diff %u of 16 pages of 256 MiB of data: %llu "
			      "lseeks, SEEK_HOLE walked %llu bytes\n", k,
			      (unsigned long long)took.calls,
			      (unsigned long long)took.hole_walk);
		assert_true(took.hole_walk <= 16 * PAGE);
	}
	/* The counter sees such a walk (the wrap is in place). */
	seek_work(&w0);
	assert_int_equal(lseek(a->memfd, 5 * PAGE, SEEK_HOLE), (off_t)big);
	walked = seek_work_since(&w0);
	assert_int_equal(walked.hole_walk, big - 5 * PAGE);
	c = copy_in(sb, "d4", "a");
	assert_int_equal(overlay__of(c)->pages, 16);
	assert_int_equal(region__resident(c), 16 * PAGE);
	for (uint64_t p = 0; p < 16; p++) {
		assert_int_equal(t_read(c, chunk, PAGE, (5 + p * 4000) * PAGE),
				 (ssize_t)PAGE);
		assert_int_equal(chunk[7], 5);
	}
	region__put(c);
	free(chunk);
	region__put(a);
	sandbox__free(sb);
}

/* Diff d and full snapshot f of the same moment agree every way. */
static void same_snapshots(struct sandbox *sb, const char *d, const char *f)
{
	struct snapshot *sd = snapshot__find(&sb->snaps, d),
			*sf = snapshot__find(&sb->snaps, f);

	assert_int_equal(sd->nr, sf->nr);
	for (unsigned i = 0; i < sd->nr; i++) {
		assert_string_equal(sd->regions[i].region->name,
				    sf->regions[i].region->name);
		same_view(sd->regions[i].region, sf->regions[i].region);
	}
	snapshot__put(sd);
	snapshot__put(sf);
}

/*
 * Random host writes (zeros among them), zero, truncate, resize, mkdir,
 * rmdir and restores of any snapshot, and diffs of any snapshot taken
 * among them: each reads as the full snapshot taken with it.
 */
static void test_diff_random(void **state)
{
	static const char *const names[] = { "a", "b", "c" };
	uint8_t buf[3 * 4096];

	(void)state;
	for (unsigned seed = 1; seed <= 40; seed++) {
		struct sandbox *sb = new_sandbox(0, 0);
		char spec[32], full[16];
		unsigned n = 0;

		srandom(seed);
		sandbox__snapshot_limits(sb, 256, 1ULL << 34);
		for (int step = 0; step < 300 && n < 60; step++) {
			const char *name = names[random() % 3];
			struct region *r = sandbox__find(sb, name, NULL);
			uint64_t size = PAGE * (1 + (uint64_t)random() % 24);
			long op = random() % 12;

			if (!r) {
				region__put(add_region(sb, name, size));
				continue;
			}
			if (op < 4) {
				size_t len = 1 + (size_t)random() % sizeof(buf);

				memset(buf, random() % 3 ? (int)(random() & 255) :
				       0, len);
				t_write(r, buf, len,
					(uint64_t)random() % r->mem_size);
			} else if (op == 4) {
				sandbox__zero(sb, r, NULL);
			} else if (op == 5) {
				sandbox__zero_from(sb, r, (uint64_t)random() %
						   r->mem_size, NULL);
			} else if (op == 6) {
				sandbox__resize(sb, r, size, NULL);
			} else if (op == 7 && n) {
				snprintf(spec, sizeof(spec), "s%ld",
					 random() % n);
				snapshot__restore(sb, NULL, spec, NULL);
			} else if (op == 8 || op == 9) {
				int len = snprintf(spec, sizeof(spec), "s%u", n);

				if (n && random() % 4)
					snprintf(spec + len, sizeof(spec) -
						 (size_t)len, ":s%ld",
						 random() % n);
				assert_int_equal(take_spec(sb, spec, NULL), 0);
				snprintf(full, sizeof(full), "f%u", n);
				assert_int_equal(take_spec(sb, full, NULL), 0);
				snprintf(spec, sizeof(spec), "s%u", n++);
				same_snapshots(sb, spec, full);
			} else if (op == 10) {
				sandbox__remove(sb, name, NULL);
			}
			region__put(r);
		}
		sandbox__free(sb);
	}
}

/* Every SEEK_DATA and SEEK_HOLE answer of r, as cp --sparse asks them. */
/* Walk r's extents with SEEK_DATA/SEEK_HOLE: the bytes lseek walked. */
static uint64_t scan_walk(struct region *r, uint64_t *extents)
{
	struct seek_work w0;
	int64_t data = 0, hole;

	seek_work(&w0);

	*extents = 0;
	while ((data = t_seek_data(r, (uint64_t)data)) >= 0) {
		hole = t_seek_hole(r, (uint64_t)data);
		assert_true(hole > data);
		(*extents)++;
		data = hole;
	}
	assert_int_equal(data, -ENXIO);
	return seek_work_since(&w0).hole_walk;
}

/*
 * Seeking through a diff costs what seeking through the full snapshot
 * of that moment does: pages of zeros written all over a parent full of
 * data (holes in the diff) must not make every SEEK_HOLE walk the
 * parent's data to its end again.
 */
static void test_diff_seek_cost(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 128ULL << 20), *d, *f;
	uint8_t *chunk = malloc(1 << 20);
	uint64_t nd, nf, td, tf;

	(void)state;
	memset(chunk, 0x5a, 1 << 20);
	for (uint64_t i = 0; i < 128; i++)
		assert_int_equal(t_write(a, chunk, 1 << 20, i << 20), 1 << 20);
	assert_int_equal(take_spec(sb, "base", NULL), 0);
	for (uint64_t p = 7; p < (128ULL << 20) / PAGE; p += 16)
		fill_page(a, p, 0);
	assert_int_equal(take_spec(sb, "d:base", NULL), 0);
	assert_int_equal(take_spec(sb, "full", NULL), 0);
	d = copy_in(sb, "d", "a");
	f = copy_in(sb, "full", "a");
	tf = scan_walk(f, &nf);
	td = scan_walk(d, &nd);
	assert_int_equal(nd, nf);
	print_message("SEEK_DATA/SEEK_HOLE through %llu extents: SEEK_HOLE "
		      "walked %llu bytes in the full snapshot, %llu in the "
		      "diff\n", (unsigned long long)nf,
		      (unsigned long long)tf, (unsigned long long)td);
	/*
	 * The parent's data walked about once in all (the region's size),
	 * not once per hole (2048 holes: 128 GiB).
	 */
	assert_true(tf > 0);
	assert_true(td <= 2 * (128ULL << 20));
	region__put(d);
	region__put(f);
	free(chunk);
	region__put(a);
	sandbox__free(sb);
}

/* The saved forms --from reads: each accepted or refused exactly. */
static void test_diff_parse(void **state)
{
	char name[REGION_NAME_MAX + 1], line[64];
	uint64_t id, first, end;
	const char *bad_parent[] = {
		"base\n", "base 0x\n", "base 12\n", "base 0x12345678901234567\n",
		"base  0x1\n", "base 0x1 \n", "base 0x1\n\n", ".base 0x1\n",
		"ba/se 0x1\n", "base 0xg\n", " 0x1\n", "",
	};
	const char *bad_run[] = {
		"0x1000-0x1000\n", "0x1001-0x2000\n", "0x1000-0x2001\n",
		"0x-0x1000\n", " 0x1000-0x2000\n", "0x1000-0x2000 \n",
		"0x1000 -0x2000\n", "0x1000-0x+2000\n", "0x2000-0x1000\n",
		"0x1000-0x2000x\n", "1000-2000\n", "0x00000000000000001000-0x2000\n",
		"0x0-0x41000\n", "",
	};

	(void)state;
	assert_int_equal(persist__parse_parent("base 0x1f\n", 10, name, &id), 0);
	assert_string_equal(name, "base");
	assert_int_equal(id, 0x1f);
	assert_int_equal(persist__parse_parent("b.1-x_ 0xFFFFFFFFFFFFFFFF", 25,
					       name, &id), 0);
	assert_string_equal(name, "b.1-x_");
	assert_true(id == UINT64_MAX);
	/* A NUL inside is not a shorter file. */
	assert_int_equal(persist__parse_parent("base 0x1\0zz", 11, name, &id),
			 EINVAL);
	for (size_t i = 0; i < sizeof(bad_parent) / sizeof(bad_parent[0]); i++)
		if (persist__parse_parent(bad_parent[i], strlen(bad_parent[i]),
					  name, &id) != EINVAL)
			fail_msg("parent '%s' accepted", bad_parent[i]);

	snprintf(line, sizeof(line), "0x%llx-0x%llx\n",
		 (unsigned long long)PAGE, (unsigned long long)(3 * PAGE));
	assert_int_equal(persist__parse_dirty_line(line, PAGE, 64 * PAGE, PAGE,
						   &first, &end), 0);
	assert_int_equal(first, 1);
	assert_int_equal(end, 3);
	/* Before the end of the last run: not ascending. */
	assert_int_equal(persist__parse_dirty_line(line, PAGE, 64 * PAGE,
						   2 * PAGE, &first, &end),
			 EINVAL);
	/* Past the size. */
	assert_int_equal(persist__parse_dirty_line(line, PAGE, 2 * PAGE, 0,
						   &first, &end), EINVAL);
	for (size_t i = 0; i < sizeof(bad_run) / sizeof(bad_run[0]); i++)
		if (persist__parse_dirty_line(bad_run[i], PAGE, 64 * PAGE, 0,
					      &first, &end) != EINVAL)
			fail_msg("run '%s' accepted", bad_run[i]);
}

/*
 * Saving, as cp -r --sparse=always of snapshots/NAME leaves it: every
 * file of the directory the mount shows, contents with its holes.
 */
static char saved[64];

static void save_region(const char *dir, struct region *c)
{
	char path[256], val[64];
	uint8_t *buf = malloc(PAGE);
	int64_t data = 0, hole;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, c->name);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/mem_size", c->name);
	snprintf(val, sizeof(val), "%llu\n", (unsigned long long)c->mem_size);
	put_file(dir, path, val, strlen(val));
	snprintf(path, sizeof(path), "%s/raw_size", c->name);
	snprintf(val, sizeof(val), "%llu\n",
		 (unsigned long long)region__raw_size(c));
	put_file(dir, path, val, strlen(val));
	snprintf(path, sizeof(path), "%s/guest_addr", c->name);
	put_file(dir, path, "none\n", 5);
	snprintf(path, sizeof(path), "%s/access", c->name);
	put_file(dir, path, c->guest_ro ? "ro\n" : "rw\n", 3);
	snprintf(path, sizeof(path), "%s/dirty", c->name);
	put_file(dir, path, held_text(c), dirty_text__size(c));
	snprintf(path, sizeof(path), "%s/%s/contents", dir, c->name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)c->mem_size), 0);
	while ((data = t_seek_data(c, (uint64_t)data)) >= 0) {
		hole = t_seek_hole(c, (uint64_t)data);
		for (; data < hole; data += (int64_t)PAGE) {
			assert_int_equal(t_read(c, buf, PAGE, (uint64_t)data),
					 (ssize_t)PAGE);
			assert_int_equal(pwrite(fd, buf, PAGE, data),
					 (ssize_t)PAGE);
		}
	}
	close(fd);
	free(buf);
}

static void save(struct sandbox *sb, const char *name)
{
	struct snapshot *s = snapshot__find(&sb->snaps, name);
	const char *info;
	size_t len;
	char dir[128];

	assert_non_null(s);
	snprintf(dir, sizeof(dir), "%s/%s", saved, name);
	assert_int_equal(mkdir(dir, 0755), 0);
	for (unsigned i = 0; i < s->nr; i++)
		save_region(dir, s->regions[i].region);
	put_file(dir, "vcpu_state", s->state_file, s->state_len);
	/* As the mount serves it: with the checksums of the copies. */
	assert_int_equal(snapshot__info(s, &info, &len), 0);
	put_file(dir, "info", info, len);
	if (s->parent)
		put_file(dir, "parent", s->parent_file, s->parent_len);
	snapshot__put(s);
}

static int load(struct sandbox *sb, const char *name, struct why *why)
{
	struct vcpu_config cfg = { 0 };
	struct vcpu *v = NULL;
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/%s", saved, name);
	return sandbox__load_dir(sb, dir, &cfg, &v, why);
}

/* The chain base <- d1 <- d2 of this sandbox, saved in saved/. */
static struct sandbox *chain_sandbox(void)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 64 * PAGE);
	struct region *b = add_region(sb, "b", 16 * PAGE);
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/*", saved);
	assert_int_equal(system(cmd), 0);
	for (uint64_t p = 0; p < 64; p += 4)
		fill_page(a, p, (uint8_t)(p + 1));
	fill_page(b, 3, 0xb3);
	assert_int_equal(take_spec(sb, "base", NULL), 0);
	fill_page(a, 5, 0x55);
	fill_page(a, 8, 0);
	assert_int_equal(take_spec(sb, "d1:base", NULL), 0);
	assert_int_equal(take_spec(sb, "f1", NULL), 0);
	fill_page(a, 63, 0x63);
	assert_int_equal(region__zero(b, NULL), 0);
	fill_page(b, 7, 0xb7);
	assert_int_equal(take_spec(sb, "d2:d1", NULL), 0);
	assert_int_equal(take_spec(sb, "f2", NULL), 0);
	save(sb, "base");
	save(sb, "d1");
	save(sb, "d2");
	region__put(a);
	region__put(b);
	return sb;
}

/*
 * --from a saved diff: its parent loaded first, then only the pages it
 * holds; the snapshots again, diffs of each other with their ids, each
 * reading as the full snapshot of its moment.
 */
static void test_load_chain(void **state)
{
	struct sandbox *sb = chain_sandbox(), *nb = new_sandbox(0, 0);
	const char *names[] = { "a", "b" };
	struct snapshot *s, *t;
	struct why why = { "" };
	struct region *x, *y;
	char held[256];

	(void)state;
	assert_int_equal(load(nb, "d2", &why), 0);
	assert_int_equal(nb->snaps.nr, 3);
	for (unsigned i = 0; i < 2; i++) {
		/* The live regions hold d2's moment. */
		x = sandbox__find(nb, names[i], NULL);
		y = copy_in(sb, "f2", names[i]);
		same_bytes(x, y);
		region__put(x);
		region__put(y);
		x = copy_in(nb, "d1", names[i]);
		y = copy_in(sb, "f1", names[i]);
		same_view(x, y);
		region__put(y);
		/* And d1 holds what it held where it was taken. */
		y = copy_in(sb, "d1", names[i]);
		snprintf(held, sizeof(held), "%s", held_text(y));
		assert_string_equal(held_text(x), held);
		/* a: pages 5 and 8 written since base; b: none. */
		if (i == 0)
			snprintf(held, sizeof(held), "0x%llx-0x%llx\n"
				 "0x%llx-0x%llx\n",
				 (unsigned long long)(5 * PAGE),
				 (unsigned long long)(6 * PAGE),
				 (unsigned long long)(8 * PAGE),
				 (unsigned long long)(9 * PAGE));
		assert_string_equal(held_text(x), i == 0 ? held : "");
		assert_int_equal(region__resident(x), region__resident(y));
		region__put(x);
		region__put(y);
	}
	s = snapshot__find(&nb->snaps, "d2");
	t = snapshot__find(&sb->snaps, "d2");
	assert_non_null(s->parent);
	assert_string_equal(s->parent->name, "d1");
	assert_int_equal(s->token, t->token);
	assert_int_equal(s->parent->parent->token, t->parent->parent->token);
	snapshot__put(s);
	snapshot__put(t);
	/* Restore works at once, and gives each moment back. */
	assert_int_equal(snapshot__restore(nb, NULL, "d1", &why), 0);
	x = sandbox__find(nb, "a", NULL);
	y = copy_in(sb, "f1", "a");
	same_bytes(x, y);
	region__put(x);
	region__put(y);
	sandbox__free(nb);
	sandbox__free(sb);
}

/*
 * The parent is beside the diff however the diff's directory is spelt:
 * with a trailing slash (as a shell completes it), or as "." from inside.
 */
static void test_load_chain_paths(void **state)
{
	struct sandbox *sb = chain_sandbox(), *nb;
	struct vcpu_config cfg = { 0 };
	struct vcpu *v = NULL;
	struct why why = { "" };
	char dir[128], cwd[512];

	(void)state;
	nb = new_sandbox(0, 0);
	snprintf(dir, sizeof(dir), "%s/d2/", saved);
	if (sandbox__load_dir(nb, dir, &cfg, &v, &why))
		fail_msg("--from %s: %s", dir, why.msg);
	assert_int_equal(nb->snaps.nr, 3);
	sandbox__free(nb);
	nb = new_sandbox(0, 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(dir, sizeof(dir), "%s/d2", saved);
	assert_int_equal(chdir(dir), 0);
	why.msg[0] = '\0';
	if (sandbox__load_dir(nb, ".", &cfg, &v, &why)) {
		assert_int_equal(chdir(cwd), 0);
		fail_msg("--from . in d2: %s", why.msg);
	}
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(nb->snaps.nr, 3);
	sandbox__free(nb);
	sandbox__free(sb);
}

/* broken(CMD, ERR, WANT): after CMD in saved/, --from d2 is refused. */
static void broken(const char *cmd, int err, const char *want)
{
	struct sandbox *sb = chain_sandbox(), *nb = new_sandbox(0, 0);
	struct why why = { "" };
	char line[512];
	int ret;

	snprintf(line, sizeof(line), "cd %s && %s", saved, cmd);
	assert_int_equal(system(line), 0);
	ret = load(nb, "d2", &why);
	if (ret != err || !strstr(why.msg, want))
		fail_msg("%s: %s (%s), want %s with '%s'", cmd, strerror(ret),
			 why.msg, strerror(err), want);
	/* Checked before anything was built. */
	assert_int_equal(nb->nr, 0);
	assert_int_equal(nb->snaps.nr, 0);
	sandbox__free(nb);
	sandbox__free(sb);
}

static void test_load_chain_damaged(void **state)
{
	(void)state;
	broken("rm -r base", ENOENT, "d1/parent names base, and ");
	broken("sed -i 's/^base /d2 /' d1/parent", EINVAL,
	       "d1/parent names d2, which is in the chain already");
	broken("rm -r d1 && cp -r base d1", EINVAL,
	       "d2/parent names d1 0x");
	/* The last digit of d1's id changed, whatever it was. */
	broken("sed -i -E '/^id /{s/0$/1/;t;s/.$/0/}' d1/info", EINVAL,
	       "not the snapshot this diff was taken of");
	broken("echo 'd1 12' > d2/parent", EINVAL, "d2/parent: not \"NAME 0xID\"");
	broken("echo 'd1' > d2/parent", EINVAL, "d2/parent: not \"NAME 0xID\"");
	broken("rm d2/a/dirty", ENOENT, "d2/a/dirty: No such file");
	/* Not a list that reads empty: a FIFO, a directory. */
	broken("rm d2/a/dirty && mkfifo d2/a/dirty", EINVAL,
	       "d2/a/dirty: a FIFO, not a regular file");
	broken("rm d2/a/dirty && mkdir d2/a/dirty", EINVAL,
	       "d2/a/dirty: a directory, not a regular file");
	broken("echo 0x1-0x1000 > d2/a/dirty", EINVAL, "d2/a/dirty: line 1");
	broken("printf '0x2000-0x3000\\n0x0-0x1000\\n' > d2/a/dirty", EINVAL,
	       "d2/a/dirty: line 2");
	broken("echo 0x0-0x1000000 > d2/a/dirty", EINVAL, "within mem_size");
	broken("echo 32768 > base/a/mem_size && echo 40960 > base/a/raw_size"
	       " && truncate -s 32768 base/a/contents", EINVAL,
	       "d1/a/dirty: the diff holds some pages");
	broken("truncate -s 4096 base/b/contents", EINVAL, "base/b/contents");
}

static int setup(void **state)
{
	(void)state;
	snprintf(saved, sizeof(saved), "/tmp/regionfs-diff.XXXXXX");
	assert_non_null(mkdtemp(saved));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", saved);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_holds_written),
		cmocka_unit_test(test_diff_no_single_memfd),
		cmocka_unit_test(test_diff_take_allocates_nothing),
		cmocka_unit_test(test_diff_restore),
		cmocka_unit_test(test_diff_after_restore),
		cmocka_unit_test(test_diff_after_failed_restore),
		cmocka_unit_test(test_diff_chain),
		cmocka_unit_test(test_diff_random),
		cmocka_unit_test(test_diff_whole),
		cmocka_unit_test(test_diff_refusals),
		cmocka_unit_test(test_diff_limit),
		cmocka_unit_test(test_diff_limit_whole),
		cmocka_unit_test(test_diff_restore_cost),
		cmocka_unit_test(test_diff_seek_cost),
		cmocka_unit_test(test_diff_take_cost),
		cmocka_unit_test(test_diff_parse),
		cmocka_unit_test(test_load_chain),
		cmocka_unit_test(test_load_chain_damaged),
		cmocka_unit_test(test_load_chain_paths),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
