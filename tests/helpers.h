/*
 * Helpers shared by the cmocka tests of region/: clocks, a sandbox and its
 * regions, host I/O in the "count or -errno" form the assertions read
 * best, and a guest side that is only a flag (region.h's guard).
 * Include after <cmocka.h>.
 */
#ifndef REGIONFS_TESTS_HELPERS_H
#define REGIONFS_TESTS_HELPERS_H

#include "region/sandbox/sandbox.h"
/* The unit tests look inside the memory core: struct region in view. */
#include "region/mem/backing.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define PAGE ((uint64_t)region__page_size())

uint64_t now_ms(void);
void sleep_ms(unsigned ms);
/* This process's resident bytes now (/proc/self/statm). */
uint64_t rss_bytes(void);

/* A sandbox, asserted; 0 keeps the defaults. */
struct sandbox *new_sandbox(unsigned max_regions, uint64_t max_total);
/* Region name of size in sb, asserted; a reference. */
struct region *add_region(struct sandbox *sb, const char *name,
			  uint64_t size);
/* The same, mapped at gpa. */
struct region *add_mapped(struct sandbox *sb, const char *name,
			  uint64_t size, uint64_t gpa);

/* Write dir/rel, created or truncated, whole: asserted. */
void put_file(const char *dir, const char *rel, const void *buf, size_t len);

/*
 * Read one byte at p in a forked child: the signal that killed it, or 0.
 * assert_guards: r's guard pages fault, its first and last bytes do not.
 */
int touch_in_child(const volatile uint8_t *p);
void assert_guards(struct region *r);

/* region__read/write/seek as "bytes (or offset) or -errno". */
ssize_t t_read(struct region *r, void *buf, size_t len, uint64_t off);
ssize_t t_write(struct region *r, const void *buf, size_t len, uint64_t off);
int64_t t_seek_data(struct region *r, uint64_t off);
int64_t t_seek_hole(struct region *r, uint64_t off);

/*
 * A guest that is only a flag: installed as r's guard it makes r mapped,
 * and running says whether the guest holds it.
 */
struct fake_guest {
	atomic_bool running;
	atomic_uint excl;	/* exclusive operations under way */
};
void fake_guest_attach(struct region *r, struct fake_guest *g);
void fake_guest_detach(struct region *r);

/*
 * Skips that scripts/test counts with their reason (never a silent pass):
 * skip_because prints "skip: TEST: WHY" and skips the running test
 * (cmocka's skip(), counted from its "[  SKIPPED ] TEST" line);
 * skip_part prints the line only, for a part of a test that goes on.
 */
#define skip_part(part, ...)                                               \
	do {                                                               \
		printf("skip: %s: ", (part));                              \
		printf(__VA_ARGS__);                                       \
		printf("\n");                                              \
		fflush(stdout);                                            \
	} while (0)
#define skip_because(...)                                                  \
	do {                                                               \
		skip_part(__func__, __VA_ARGS__);                          \
		skip();                                                    \
	} while (0)

/*
 * 2 MiB huge pages, as tests/it/lib.sh reserves them: hugepages_add(n)
 * puts n more pages in the pool (/proc/sys/vm/nr_hugepages) on top of
 * what is there, and checks that n more are spare (free, not reserved by
 * anyone): 0, or -1 with the reason in why.  hugepages_release gives back
 * only what this process added (also at exit), not a value read before:
 * other tests may grow the pool meanwhile.  hugepages_spare: the pages
 * free and not reserved now; hugepages_limit(n) grows or shrinks the pool
 * (counted as added or given back) so that exactly n are spare: 0 or -1.
 */
int hugepages_add(long n, char *why, size_t len);
int hugepages_limit(long n);
void hugepages_release(void);
long hugepages_spare(void);

/*
 * The work lseek did, counted for every call of the process (the unit
 * tests link with -Wl,--wrap=lseek64, tests/meson.build): shmem answers
 * SEEK_HOLE by walking the data page by page up to the hole, so the bytes
 * between the offset asked and the hole found are what a seek costs.  A
 * check of that is a check of work done, where a time would flake or
 * could not fail.
 */
struct seek_work {
	uint64_t calls;		/* every lseek */
	uint64_t holes;		/* SEEK_HOLE calls that found one */
	uint64_t hole_walk;	/* bytes of data they walked */
	uint64_t mincore_bytes;	/* bytes mincore was asked about (huge
				 * regions' holes: --wrap=mincore) */
};
void seek_work(struct seek_work *now);
/* What was done between two seek_work readings. */
struct seek_work seek_work_since(const struct seek_work *then);

#endif
