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

#endif
