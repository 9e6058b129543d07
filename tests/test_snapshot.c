/*
 * Dirty tracking of host writes, and snapshots of regions without a VM:
 * sparse copies, restore of the written pages only, every refusal
 * changing nothing, the limits.  (The guest's side, with KVM, is in
 * tests/it/snapshot.sh run in the KVM lab.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "region/mem/dirty_text.h"
#include "region/sandbox/snapshot.h"
#include "tests/helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


/*
 * The whole text of dirty, read in pieces of step bytes; its size, known
 * without a walk, is the length read.
 */
static char *dirty_text(struct region *r, size_t step)
{
	static char out[1 << 16];
	struct dirty_cursor c;
	size_t n, pos = 0;

	assert_int_equal(dirty_text__start(r, &c, true), 0);
	for (;;) {
		assert_int_equal(dirty_text__read(r, &c, out + pos, step, pos,
						  &n), 0);
		if (!n)
			break;
		pos += n;
		assert_true(pos < sizeof(out));
	}
	out[pos] = '\0';
	assert_int_equal(dirty_text__size(r), pos);
	return out;
}

static void put_byte(struct region *r, uint64_t off, uint8_t v)
{
	assert_int_equal(t_write(r, &v, 1, off), 1);
}

static uint8_t get_byte(struct region *r, uint64_t off)
{
	uint8_t v = 0;

	assert_int_equal(t_read(r, &v, 1, off), 1);
	return v;
}

static void test_dirty_host(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *r = add_region(sb, "a", 64 * PAGE);
	char expect[256];

	(void)state;
	assert_string_equal(dirty_text(r, 4096), "");
	/* Pages 0, 1 and 2 (one write across two), 5, and the last one. */
	put_byte(r, 0, 1);
	assert_int_equal(t_write(r, "xy", 2, 2 * PAGE - 1), 2);
	put_byte(r, 5 * PAGE + 7, 1);
	put_byte(r, 64 * PAGE - 1, 1);
	snprintf(expect, sizeof(expect), "0x0-0x%llx\n0x%llx-0x%llx\n0x%llx-0x%llx\n",
		 (unsigned long long)(3 * PAGE), (unsigned long long)(5 * PAGE),
		 (unsigned long long)(6 * PAGE), (unsigned long long)(63 * PAGE),
		 (unsigned long long)(64 * PAGE));
	assert_string_equal(dirty_text(r, 4096), expect);
	/* Read a byte at a time: the same text. */
	assert_string_equal(dirty_text(r, 1), expect);
	assert_string_equal(dirty_text(r, 7), expect);
	/* Reading does not clear; clearing does. */
	assert_string_equal(dirty_text(r, 4096), expect);
	assert_int_equal(region__dirty_clear(r, NULL), 0);
	assert_string_equal(dirty_text(r, 4096), "");
	put_byte(r, 9 * PAGE, 1);
	snprintf(expect, sizeof(expect), "0x%llx-0x%llx\n",
		 (unsigned long long)(9 * PAGE), (unsigned long long)(10 * PAGE));
	assert_string_equal(dirty_text(r, 4096), expect);
	/* Zero writes every page. */
	assert_int_equal(region__zero(r, NULL), 0);
	snprintf(expect, sizeof(expect), "0x0-0x%llx\n",
		 (unsigned long long)(64 * PAGE));
	assert_string_equal(dirty_text(r, 4096), expect);
	/*
	 * A writer we cannot see (a read-write mapping) makes every page
	 * dirty until a resize gives the region new memory, or a clear
	 * finds it gone (test_dirty_rearm).
	 */
	assert_int_equal(region__dirty_clear(r, NULL), 0);
	region__writer_open(r);
	region__writer_close(r);
	assert_string_equal(dirty_text(r, 4096), expect);
	assert_int_equal(region__resize(r, 64 * PAGE + 1, NULL), 0);
	assert_int_equal(region__resize(r, 64 * PAGE, NULL), 0);
	assert_int_equal(region__dirty_clear(r, NULL), 0);
	assert_string_equal(dirty_text(r, 4096), "");
	region__put(r);
	sandbox__free(sb);
}

static void test_dirty_untracked(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *r;

	(void)state;
	dirty__set_tracking(false);
	r = add_region(sb, "a", 16 * PAGE);
	dirty__set_tracking(true);
	put_byte(r, 0, 1);
	assert_string_equal(dirty_text(r, 4096), "untracked\n");
	assert_int_equal(region__dirty_clear(r, NULL), EOPNOTSUPP);
	region__put(r);
	sandbox__free(sb);
}


static struct region *copy_of(struct sandbox *sb, const char *snap,
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

static void take(struct sandbox *sb, const char *name)
{
	struct why why = { "" };

	assert_int_equal(snapshot__take(sb, NULL, name, &why), 0);
}

static void restore(struct sandbox *sb, const char *name)
{
	struct why why = { "" };

	assert_int_equal(snapshot__restore(sb, NULL, name, &why), 0);
}

/* A 16 GiB region with 64 MiB written: the copy costs about 64 MiB. */
static void test_sparse(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *r = add_region(sb, "big", 16ULL << 30), *c;
	uint8_t *chunk = malloc(1 << 20);
	uint64_t t0, ms;

	(void)state;
	memset(chunk, 0x5a, 1 << 20);
	/* 64 pieces of 1 MiB, 256 MiB apart. */
	for (uint64_t i = 0; i < 64; i++)
		assert_int_equal(t_write(r, chunk, 1 << 20, i << 28),
				 1 << 20);
	/* And pages of zeros: data for the memfd, not worth copying. */
	memset(chunk, 0, 1 << 20);
	assert_int_equal(t_write(r, chunk, 1 << 20, (5ULL << 30) + (64 << 20)),
			 1 << 20);
	t0 = now_ms();
	take(sb, "s");
	ms = now_ms() - t0;
	c = copy_of(sb, "s", "big");
	print_message("snapshot of 16 GiB with 64 MiB written: %llu ms, "
		      "copy takes %llu KiB\n", (unsigned long long)ms,
		      (unsigned long long)(region__resident(c) >> 10));
	assert_int_equal(region__resident(c), 64ULL << 20);
	assert_int_equal(region__mem_size(c), 16ULL << 30);
	assert_int_equal(region__kind(c), REGION_READONLY);
	assert_int_equal(get_byte(c, 3ULL << 28), 0x5a);
	assert_int_equal(get_byte(c, (3ULL << 28) + (1 << 20)), 0);
	assert_int_equal(sb->snaps.bytes, 64ULL << 20);
	/* Removed while a reader holds the copy: it counts until closed. */
	assert_int_equal(snapshot__remove(sb, "s", NULL), 0);
	assert_int_equal(sb->snaps.bytes, 64ULL << 20);
	region__put(c);
	assert_int_equal(sb->snaps.bytes, 0);
	free(chunk);
	region__put(r);
	sandbox__free(sb);
}

static void test_restore_dirty_only(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 256 * PAGE), *b = add_region(sb, "b", 4 * PAGE);
	struct region *c;
	char expect[256];

	(void)state;
	put_byte(a, 10 * PAGE, 0x11);
	put_byte(a, 20 * PAGE, 0x22);
	put_byte(b, 0, 0x33);
	take(sb, "s");
	/* A copy is readonly: every control operation is EPERM. */
	c = copy_of(sb, "s", "a");
	assert_int_equal(region__zero(c, NULL), EPERM);
	assert_int_equal(region__dirty_clear(c, NULL), EPERM);
	assert_int_equal(t_write(c, "x", 1, 0), -EPERM);
	assert_int_equal(sandbox__resize(sb, c, PAGE, NULL), EPERM);
	assert_string_equal(dirty_text(c, 4096), "");
	region__put(c);

	/* Clear, then change a: page 10 rewritten, 30 new, 20 as it was. */
	assert_int_equal(region__dirty_clear(a, NULL), 0);
	assert_int_equal(region__dirty_clear(b, NULL), 0);
	put_byte(a, 10 * PAGE, 0x99);
	put_byte(a, 30 * PAGE + 5, 0x77);
	restore(sb, "s");
	assert_int_equal(get_byte(a, 10 * PAGE), 0x11);
	assert_int_equal(get_byte(a, 20 * PAGE), 0x22);
	assert_int_equal(get_byte(a, 30 * PAGE + 5), 0);
	assert_int_equal(get_byte(b, 0), 0x33);
	/* The page that was a hole in the snapshot is a hole again. */
	assert_int_equal(region__resident(a), 2 * PAGE);
	/* Restore wrote exactly the pages written since: 10 and 30. */
	snprintf(expect, sizeof(expect), "0x%llx-0x%llx\n0x%llx-0x%llx\n",
		 (unsigned long long)(10 * PAGE), (unsigned long long)(11 * PAGE),
		 (unsigned long long)(30 * PAGE), (unsigned long long)(31 * PAGE));
	assert_string_equal(dirty_text(a, 4096), expect);
	assert_string_equal(dirty_text(b, 4096), "");
	/* Restored, nothing written since: a second restore writes nothing. */
	assert_int_equal(region__dirty_clear(a, NULL), 0);
	restore(sb, "s");
	assert_string_equal(dirty_text(a, 4096), "");
	put_byte(a, 40 * PAGE, 0x44);
	restore(sb, "s");
	snprintf(expect, sizeof(expect), "0x%llx-0x%llx\n",
		 (unsigned long long)(40 * PAGE), (unsigned long long)(41 * PAGE));
	assert_string_equal(dirty_text(a, 4096), expect);
	assert_int_equal(get_byte(a, 40 * PAGE), 0);

	/* Zero, then restore: every page is back. */
	assert_int_equal(region__zero(a, NULL), 0);
	assert_int_equal(region__zero(b, NULL), 0);
	restore(sb, "s");
	assert_int_equal(get_byte(a, 10 * PAGE), 0x11);
	assert_int_equal(get_byte(a, 20 * PAGE), 0x22);
	assert_int_equal(get_byte(b, 0), 0x33);
	region__put(a);
	region__put(b);
	sandbox__free(sb);
}

/* Page p's byte of the pattern below (0: a hole in the snapshot). */
static uint8_t dense_byte(uint64_t p)
{
	return p % 3 ? (uint8_t)(0x10 + p % 200) : 0;
}

/*
 * Runs of dirty pages of every length around the bound where a restore
 * stops reading them whole (16 pages, copy__dense) and asks the copy for
 * its extents: each run mixes pages with data in the snapshot (every
 * page whose number is not a multiple of 3) and holes.  After the
 * restore every byte is the snapshot's and its holes are holes again.
 */
static void test_restore_dense(void **state)
{
	const uint64_t pages = 512, runs[] = { 1, 2, 15, 16, 17, 40 };
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", pages * PAGE);
	uint64_t p = 1, resident;
	uint8_t *want = calloc(pages, PAGE), *got = calloc(pages, PAGE);

	(void)state;
	assert_non_null(want);
	assert_non_null(got);
	for (uint64_t q = 0; q < pages; q++) {
		memset(want + q * PAGE, dense_byte(q), PAGE);
		/* A byte at both ends: a torn page would show. */
		want[q * PAGE] = want[q * PAGE + PAGE - 1] = dense_byte(q);
	}
	for (uint64_t q = 0; q < pages; q++)
		if (dense_byte(q))
			assert_int_equal(t_write(a, want + q * PAGE, PAGE,
						 q * PAGE), PAGE);
	take(sb, "s");
	resident = region__resident(a);
	assert_int_equal(resident, (pages - (pages + 2) / 3) * PAGE);
	/* Runs of these many pages, a clean page between each. */
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		for (uint64_t q = p; q < p + runs[i]; q++)
			put_byte(a, q * PAGE + 7, 0xee);
		p += runs[i] + 1;
	}
	assert_true(p < pages);
	restore(sb, "s");
	assert_int_equal(t_read(a, got, pages * PAGE, 0), (ssize_t)(pages * PAGE));
	for (uint64_t q = 0; q < pages; q++)
		if (memcmp(got + q * PAGE, want + q * PAGE, PAGE))
			fail_msg("page %llu is not the snapshot's",
				 (unsigned long long)q);
	assert_int_equal(region__resident(a), resident);
	free(want);
	free(got);
	region__put(a);
	sandbox__free(sb);
}

/*
 * A restore of a long run (more pages than a truncate would stamp) marks
 * exactly what it wrote: a run of it must not make the rest of the region
 * dirty, or every later restore would copy it whole.
 */
static void test_restore_long_run(void **state)
{
	const uint64_t run = DIRTY_MARK_MAX_PAGES + 1, pages = 3 * run;
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", pages * PAGE);
	char expect[256];

	(void)state;
	take(sb, "s");
	for (uint64_t p = 0; p < run; p++)
		put_byte(a, p * PAGE, 0x5a);
	put_byte(a, (pages - 1) * PAGE, 0x5b);
	assert_int_equal(region__dirty_clear(a, NULL), 0);
	for (uint64_t p = 0; p < run; p++)
		put_byte(a, p * PAGE, 0x6a);
	restore(sb, "s");
	assert_int_equal(get_byte(a, 0), 0);
	assert_int_equal(get_byte(a, (pages - 1) * PAGE), 0);
	/* Written since the clear: the run (twice) and the restore's pages. */
	snprintf(expect, sizeof(expect), "0x0-0x%llx\n0x%llx-0x%llx\n",
		 (unsigned long long)(run * PAGE),
		 (unsigned long long)((pages - 1) * PAGE),
		 (unsigned long long)(pages * PAGE));
	assert_string_equal(dirty_text(a, 4096), expect);
	region__put(a);
	sandbox__free(sb);
}

/*
 * A restore after something that makes every page count (here a
 * read-write open) copies the data, to the region's last page, and marks
 * the record whole at once: on a 64 GiB region, stamping each page would
 * commit 64 MiB of stamps.
 */
static void test_restore_all_since(void **state)
{
	const uint64_t size = 64ULL << 30;
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", size);
	uint64_t before;
	char expect[64];

	(void)state;
	put_byte(a, 5 * PAGE, 0x11);
	/* The last byte too: the copy and the restore must reach the end. */
	put_byte(a, size - 1, 0x33);
	take(sb, "s");
	region__writer_open(a);
	region__writer_close(a);
	put_byte(a, 5 * PAGE, 0x22);
	put_byte(a, size - 1, 0x44);
	before = rss_bytes();
	restore(sb, "s");
	assert_true(rss_bytes() < before + (4ULL << 20));
	assert_int_equal(get_byte(a, 5 * PAGE), 0x11);
	assert_int_equal(get_byte(a, size - 1), 0x33);
	snprintf(expect, sizeof(expect), "0x0-0x%llx\n",
		 (unsigned long long)size);
	assert_string_equal(dirty_text(a, 4096), expect);
	region__put(a);
	sandbox__free(sb);
}

/* Two snapshots: restoring either gives its own bytes. */
static void test_two_snapshots(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 64 * PAGE);

	(void)state;
	put_byte(a, 0, 1);
	take(sb, "one");
	put_byte(a, 0, 2);
	put_byte(a, 8 * PAGE, 2);
	take(sb, "two");
	put_byte(a, 0, 3);
	put_byte(a, 8 * PAGE, 3);
	put_byte(a, 16 * PAGE, 3);
	restore(sb, "one");
	assert_int_equal(get_byte(a, 0), 1);
	assert_int_equal(get_byte(a, 8 * PAGE), 0);
	assert_int_equal(get_byte(a, 16 * PAGE), 0);
	restore(sb, "two");
	assert_int_equal(get_byte(a, 0), 2);
	assert_int_equal(get_byte(a, 8 * PAGE), 2);
	assert_int_equal(get_byte(a, 16 * PAGE), 0);
	restore(sb, "one");
	assert_int_equal(get_byte(a, 0), 1);
	assert_int_equal(get_byte(a, 8 * PAGE), 0);
	region__put(a);
	sandbox__free(sb);
}

/* Every refusal says why and changes nothing. */
static void test_refusals(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 16 * PAGE);
	struct why why = { "" };

	(void)state;
	put_byte(a, 0, 1);
	why.msg[0] = '\0';
	assert_int_equal(snapshot__take(sb, NULL, "", &why), EINVAL);
	assert_true(why.msg[0]);
	assert_int_equal(snapshot__take(sb, NULL, "a/b", &why), EINVAL);
	assert_int_equal(snapshot__take(sb, NULL, ".x", &why), EINVAL);
	assert_int_equal(sb->snaps.nr, 0);
	take(sb, "s");
	why.msg[0] = '\0';
	assert_int_equal(snapshot__take(sb, NULL, "s", &why), EEXIST);
	assert_true(why.msg[0]);
	assert_int_equal(snapshot__restore(sb, NULL, "nope", &why),
			 ENOENT);

	/* Resized since: EINVAL, bytes untouched. */
	put_byte(a, 0, 2);
	assert_int_equal(sandbox__resize(sb, a, 32 * PAGE, NULL), 0);
	why.msg[0] = '\0';
	assert_int_equal(snapshot__restore(sb, NULL, "s", &why), EINVAL);
	assert_non_null(strstr(why.msg, "region a"));
	assert_int_equal(get_byte(a, 0), 2);
	assert_int_equal(sandbox__resize(sb, a, 16 * PAGE, NULL), 0);

	/* A region removed since: ENOENT, and the others are left as they are. */
	region__put(a);
	assert_int_equal(sandbox__create(sb, "b", PAGE, NULL, NULL), 0);
	take(sb, "t");
	a = sandbox__find(sb, "b", NULL);
	put_byte(a, 0, 7);
	region__put(a);
	assert_int_equal(sandbox__remove(sb, "a", NULL), 0);
	why.msg[0] = '\0';
	assert_int_equal(snapshot__restore(sb, NULL, "t", &why), ENOENT);
	assert_non_null(strstr(why.msg, "region a was removed"));
	a = sandbox__find(sb, "b", NULL);
	assert_int_equal(get_byte(a, 0), 7);
	region__put(a);
	/* A region created since is left alone. */
	assert_int_equal(sandbox__create(sb, "a", 16 * PAGE, NULL, NULL), 0);
	assert_int_equal(sandbox__create(sb, "new", PAGE, NULL, NULL), 0);
	a = sandbox__find(sb, "new", NULL);
	put_byte(a, 0, 9);
	restore(sb, "t");
	assert_int_equal(get_byte(a, 0), 9);
	region__put(a);
	a = sandbox__find(sb, "b", NULL);
	assert_int_equal(get_byte(a, 0), 0);
	region__put(a);

	assert_int_equal(snapshot__remove(sb, "nope", NULL), ENOENT);
	assert_int_equal(snapshot__remove(sb, "t", NULL), 0);
	assert_int_equal(snapshot__restore(sb, NULL, "t", &why), ENOENT);
	sandbox__free(sb);
}

static void test_limits(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", 64 * PAGE);
	uint8_t page[4096];
	struct why why = { "" };
	char name[8];

	(void)state;
	sandbox__snapshot_limits(sb, 3, 10 * PAGE);
	memset(page, 1, sizeof(page));
	for (uint64_t i = 0; i < 4; i++)
		assert_int_equal(t_write(a, page, sizeof(page), i * PAGE),
				 sizeof(page));
	take(sb, "s0");
	take(sb, "s1");
	/* 8 of 10 pages used: 4 more do not fit. */
	why.msg[0] = '\0';
	assert_int_equal(snapshot__take(sb, NULL, "s2", &why), ENOSPC);
	assert_non_null(strstr(why.msg, "max_snapshot_total"));
	assert_int_equal(sb->snaps.nr, 2);
	/* A limit lowered below what is in use refuses too (no wrap). */
	sandbox__snapshot_limits(sb, 3, 4 * PAGE);
	assert_int_equal(snapshot__take(sb, NULL, "s2", &why), ENOSPC);
	sandbox__snapshot_limits(sb, 3, 10 * PAGE);
	assert_int_equal(snapshot__remove(sb, "s1", NULL), 0);
	sandbox__snapshot_limits(sb, 2, 0);
	take(sb, "s1");
	assert_int_equal(snapshot__take(sb, NULL, "s2", &why), ENOSPC);
	assert_non_null(strstr(why.msg, "max_snapshots"));
	for (unsigned i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "s%u", i);
		assert_int_equal(snapshot__remove(sb, name, NULL), 0);
	}
	assert_int_equal(sb->snaps.nr, 0);
	assert_int_equal(sb->snaps.bytes, 0);
	region__put(a);
	sandbox__free(sb);
}

/* Ids of snapshots and their regions never collide with the regions'. */
static void test_ids(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *a = add_region(sb, "a", PAGE), *c;
	struct snapshot *s;
	uint64_t id_a = 0, id_c = 0, id_new = 0;

	(void)state;
	region__put(a);
	a = sandbox__find(sb, "a", &id_a);
	take(sb, "s");
	s = snapshot__find(&sb->snaps, "s");
	c = snapshot__region(s, "a", &id_c);
	assert_true(id_c != id_a && s->id != id_a && s->id != id_c);
	assert_int_equal(sandbox__create(sb, "z", PAGE, &id_new, NULL), 0);
	assert_true(id_new != id_c && id_new != s->id);
	region__put(c);
	/* By id: a live region in the table, a copy in the snapshots. */
	assert_null(sandbox__find_id(sb, id_c));
	c = snapshot__find_region_id(&sb->snaps, id_c);
	assert_non_null(c);
	assert_int_equal(region__kind(c), REGION_READONLY);
	region__put(c);
	snapshot__put(s);
	s = snapshot__find_id(&sb->snaps, s->id);
	assert_non_null(s);
	assert_string_equal(s->name, "s");
	snapshot__put(s);
	/* Removed: the copy stays for whoever holds it. */
	c = snapshot__find_region_id(&sb->snaps, id_c);
	assert_int_equal(snapshot__remove(sb, "s", NULL), 0);
	assert_null(snapshot__find_region_id(&sb->snaps, id_c));
	assert_int_equal(region__mem_size(c), PAGE);
	region__put(c);
	region__put(a);
	sandbox__free(sb);
}

/*
 * The record's length is kept as pages become dirty (neighbours joined,
 * runs grown): after random writes, clears and zeros it must equal the
 * text a walk renders, and the walk must skip clean groups correctly.
 */
static void test_dirty_record(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *r = add_region(sb, "r", 2048 * PAGE);
	unsigned seed = 12345;
	uint8_t v = 1;

	(void)state;
	for (int round = 0; round < 400; round++) {
		unsigned op = (unsigned)rand_r(&seed) % 100;
		uint64_t p = (uint64_t)rand_r(&seed) % 2048;
		uint64_t n = 1 + (uint64_t)rand_r(&seed) % 8;

		if (op < 90) {
			for (uint64_t i = p; i < p + n && i < 2048; i++)
				put_byte(r, i * PAGE, v);
		} else if (op < 97) {
			assert_int_equal(region__dirty_clear(r, NULL), 0);
		} else {
			assert_int_equal(region__zero(r, NULL), 0);
			assert_int_equal(region__dirty_clear(r, NULL), 0);
		}
		/* dirty_text() checks the size against the text read. */
		dirty_text(r, 4096);
	}
	region__put(r);
	sandbox__free(sb);
}

/*
 * In a forked child: the region's memory mapped anew, one page through
 * /proc/self/fd, and nothing else of it (the region's own mapping, an
 * inherited one, is dropped).  MAP_FAILED when it could not be.
 */
static void *map_in_child(struct region *r, int oflags, int prot)
{
	char path[64];
	void *p;
	int fd;

	munmap(r->raw, r->mem_size + 2 * PAGE);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", r->memfd);
	fd = open(path, oflags);
	p = fd < 0 ? MAP_FAILED : mmap(NULL, PAGE, prot, MAP_SHARED, fd, 0);
	if (fd >= 0)
		close(fd);
	return p;
}

/* In the parent: the child said it mapped ('y'); *go lets it end. */
static void child_ready(int ready[2], int wait_fd[2], int *go)
{
	char c;

	close(ready[1]);
	close(wait_fd[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	close(ready[0]);
	*go = wait_fd[1];
}

/*
 * A child that maps the memfd shared, with the access given, and waits
 * for a byte on the pipe before it exits.  Returns its pid; *go is the
 * pipe's write end.
 */
static pid_t child_mapping(struct region *r, int oflags, int prot, int *go)
{
	int ready[2], wait_fd[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(wait_fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Else this end would keep our own read from ever ending. */
		close(wait_fd[1]);
		close(ready[0]);
		c = map_in_child(r, oflags, prot) == MAP_FAILED ? 'n' : 'y';
		if (write(ready[1], &c, 1) != 1 ||
		    read(wait_fd[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	child_ready(ready, wait_fd, go);
	return pid;
}

static void end_child(pid_t pid, int go)
{
	int status;

	close(go);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

/*
 * A clear re-arms exact tracking once no read-write opener and no shared
 * mapping that may write remain, and says why while one does; every
 * snapshot taken before counts every page as written still.
 */
static void test_dirty_rearm(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *r = add_region(sb, "a", 64 * PAGE);
	struct why why = { "" };
	char whole[64], one[64];
	int go;
	pid_t pid;

	(void)state;
	snprintf(whole, sizeof(whole), "0x0-0x%llx\n",
		 (unsigned long long)(64 * PAGE));
	snprintf(one, sizeof(one), "0x%llx-0x%llx\n",
		 (unsigned long long)(3 * PAGE), (unsigned long long)(4 * PAGE));
	take(sb, "before");
	region__writer_open(r);
	assert_int_equal(region__dirty_clear(r, &why), 0);
	assert_non_null(strstr(why.msg, "still open"));
	assert_string_equal(dirty_text(r, 4096), whole);
	region__writer_close(r);
	/* A writable mapping left behind by a closed opener. */
	pid = child_mapping(r, O_RDWR, PROT_READ | PROT_WRITE, &go);
	why.msg[0] = '\0';
	assert_int_equal(region__dirty_clear(r, &why), 0);
	assert_non_null(strstr(why.msg, "maps it shared and may write it"));
	assert_string_equal(dirty_text(r, 4096), whole);
	end_child(pid, go);
	/* Read-only, from a read-write open: mprotect could make it write. */
	pid = child_mapping(r, O_RDWR, PROT_READ, &go);
	why.msg[0] = '\0';
	assert_int_equal(region__dirty_clear(r, &why), 0);
	assert_non_null(strstr(why.msg, "maps it shared and may write it"));
	end_child(pid, go);
	/* From a read-only open it never can: exact again. */
	pid = child_mapping(r, O_RDONLY, PROT_READ, &go);
	why.msg[0] = '\0';
	assert_int_equal(region__dirty_clear(r, &why), 0);
	assert_string_equal(why.msg, "");
	put_byte(r, 3 * PAGE + 9, 1);
	assert_string_equal(dirty_text(r, 4096), one);
	end_child(pid, go);
	/* The snapshot of before saw none of the unseen writes. */
	assert_true(dirty__all_since(&r->dirty, 0));
	/* An alias whose device is unknown cannot be searched: whole. */
	region__writer_open(r);
	region__writer_close(r);
	region__set_alias(r, 0, 65);
	why.msg[0] = '\0';
	assert_int_equal(region__dirty_clear(r, &why), 0);
	assert_non_null(strstr(why.msg, "device is unknown"));
	assert_string_equal(dirty_text(r, 4096), whole);
	region__put(r);
	sandbox__free(sb);
}

/* The thread left of child_leaderless: waits for the byte, ends all. */
static void *leaderless_wait(void *arg)
{
	int *fds = arg;
	char c = 'y';

	if (write(fds[1], &c, 1) != 1 || read(fds[0], &c, 1) < 0)
		_exit(1);
	_exit(0);
}

/*
 * A child that maps the memfd shared and writable, then ends its main
 * thread alone (exit, not exit_group): the process lives on in another
 * thread with the mapping, and /proc/PID/maps, the leader's, is empty.
 */
static pid_t child_leaderless(struct region *r, int *go)
{
	int ready[2], wait_fd[2];
	static int fds[2];
	pthread_t t;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(wait_fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(wait_fd[1]);
		close(ready[0]);
		if (map_in_child(r, O_RDWR, PROT_READ | PROT_WRITE) ==
		    MAP_FAILED)
			_exit(1);
		fds[0] = wait_fd[0];
		fds[1] = ready[1];
		if (pthread_create(&t, NULL, leaderless_wait, fds))
			_exit(1);
		syscall(SYS_exit, 0);
	}
	child_ready(ready, wait_fd, go);
	/* Until the leader is gone, its maps would show the mapping. */
	for (int i = 0; i < 1000; i++) {
		char st[64], line[256];
		FILE *f;
		bool zombie = false;

		snprintf(st, sizeof(st), "/proc/%d/status", (int)pid);
		f = fopen(st, "re");
		assert_non_null(f);
		while (fgets(line, sizeof(line), f))
			zombie |= strncmp(line, "State:\tZ", 9) == 0;
		fclose(f);
		if (zombie)
			break;
		usleep(1000);
	}
	return pid;
}

/*
 * A mapping held by a process whose main thread has exited: its
 * /proc/PID/maps is empty, the mapping shows in its other threads'.  A
 * clear that re-armed here would miss every write the mapping makes.
 */
static void test_dirty_rearm_leaderless(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *r = add_region(sb, "a", 64 * PAGE);
	struct why why = { "" };
	char whole[64];
	int go;
	pid_t pid;

	(void)state;
	snprintf(whole, sizeof(whole), "0x0-0x%llx\n",
		 (unsigned long long)(64 * PAGE));
	region__writer_open(r);
	region__writer_close(r);
	pid = child_leaderless(r, &go);
	assert_int_equal(region__dirty_clear(r, &why), 0);
	assert_non_null(strstr(why.msg, "maps it shared and may write it"));
	assert_string_equal(dirty_text(r, 4096), whole);
	end_child(pid, go);
	why.msg[0] = '\0';
	assert_int_equal(region__dirty_clear(r, &why), 0);
	assert_string_equal(why.msg, "");
	region__put(r);
	sandbox__free(sb);
}

/*
 * A child holding n read-only shared mappings of the memfd (from a
 * read-only open: none can ever write), apart so that none merge.
 */
static pid_t child_many(struct region *r, int n, int *go)
{
	int ready[2], wait_fd[2];
	char path[64], c;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(wait_fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;

		close(wait_fd[1]);
		close(ready[0]);
		munmap(r->raw, r->mem_size + 2 * PAGE);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", r->memfd);
		fd = open(path, O_RDONLY);
		c = fd < 0 ? 'n' : 'y';
		/* Each maps offset 0: neighbours never merge. */
		for (int i = 0; i < n && c == 'y'; i++)
			if (mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0) ==
			    MAP_FAILED)
				c = 'n';
		if (write(ready[1], &c, 1) != 1 ||
		    read(wait_fd[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	child_ready(ready, wait_fd, go);
	return pid;
}

/*
 * The search's cost is what the processes map, once: 4000 read-only
 * mappings of the memory in one process are one read of its maps and at
 * most one of its smaps, not one smaps per mapping (which took minutes).
 */
static void test_dirty_rearm_many(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *r = add_region(sb, "a", 64 * PAGE);
	struct why why = { "" };
	struct timespec t0, t1;
	int go;
	pid_t pid;

	(void)state;
	region__writer_open(r);
	region__writer_close(r);
	pid = child_many(r, 4000, &go);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(region__dirty_clear(r, &why), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_string_equal(why.msg, "");
	assert_string_equal(dirty_text(r, 4096), "");
	/* Linear: well under a second; quadratic: a minute. */
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	end_child(pid, go);
	region__put(r);
	sandbox__free(sb);
}

/*
 * A process whose maps cannot be read for want of a file descriptor (or
 * of memory) may map it: the clear stays whole and says so, never takes
 * it for a process that exited.
 */
static void test_dirty_rearm_unreadable(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *r = add_region(sb, "a", 64 * PAGE);
	struct why why = { "" };
	struct rlimit old, low;
	char whole[64];
	int go, lowest;
	pid_t pid;

	(void)state;
	snprintf(whole, sizeof(whole), "0x0-0x%llx\n",
		 (unsigned long long)(64 * PAGE));
	region__writer_open(r);
	region__writer_close(r);
	pid = child_mapping(r, O_RDWR, PROT_READ | PROT_WRITE, &go);
	/* Room for the listing of /proc, none for a process's maps. */
	lowest = dup(0);
	assert_true(lowest >= 0);
	close(lowest);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest + 1;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(region__dirty_clear(r, &why), 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_non_null(strstr(why.msg, "cannot be read"));
	assert_string_equal(dirty_text(r, 4096), whole);
	end_child(pid, go);
	region__put(r);
	sandbox__free(sb);
}

/* mmap_rw: the mount's default until set; a readonly region refuses. */
static void test_mmap_rw(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct region *r = add_region(sb, "a", 4 * PAGE), *ro = NULL;

	(void)state;
	assert_false(region__mmap_rw(r));
	region__set_mmap_rw_default(true);
	assert_true(region__mmap_rw(r));
	assert_int_equal(region__set_mmap_rw(r, false, NULL), 0);
	assert_false(region__mmap_rw(r));
	region__set_mmap_rw_default(false);
	assert_int_equal(region__set_mmap_rw(r, true, NULL), 0);
	assert_true(region__mmap_rw(r));
	assert_int_equal(region__new_readonly("ro", PAGE, &ro), 0);
	assert_int_equal(region__set_mmap_rw(ro, true, NULL), EPERM);
	assert_false(region__mmap_rw(ro));
	region__put(ro);
	region__put(r);
	sandbox__free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dirty_host),
		cmocka_unit_test(test_dirty_record),
		cmocka_unit_test(test_dirty_untracked),
		cmocka_unit_test(test_dirty_rearm),
		cmocka_unit_test(test_dirty_rearm_leaderless),
		cmocka_unit_test(test_dirty_rearm_many),
		cmocka_unit_test(test_dirty_rearm_unreadable),
		cmocka_unit_test(test_mmap_rw),
		cmocka_unit_test(test_sparse),
		cmocka_unit_test(test_restore_dirty_only),
		cmocka_unit_test(test_restore_long_run),
		cmocka_unit_test(test_restore_dense),
		cmocka_unit_test(test_restore_all_since),
		cmocka_unit_test(test_two_snapshots),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
