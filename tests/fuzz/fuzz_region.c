/*
 * libFuzzer target: a random sequence of region operations on region/ and
 * the sandbox directly, checked against a shadow copy of every region's
 * bytes.  The input is a stream of opcodes with their arguments.  No VM:
 * guest_addr must answer ENODEV, everything else must keep the shadow and
 * the memfd in agreement.  Snapshots keep a shadow of their own: a
 * restore must give back exactly their bytes, whatever happened since
 * (writes, zero, resize, rmdir and mkdir again, other restores), or
 * refuse and change nothing.
 */
#include "region/util/parse.h"
#include "region/sandbox/sandbox.h"
#include "region/sandbox/snapshot.h"
#include "tests/helpers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAMES 4
#define MAX_SIZE (64 * 1024)	/* small regions: many ops per second */

#define check(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_region: %s failed at line %d\n", #cond, __LINE__); \
	abort(); } } while (0)

struct input {
	const uint8_t *p;
	size_t left;
};

static uint32_t take(struct input *in, unsigned bytes)
{
	uint32_t v = 0;

	while (bytes-- && in->left) {
		v = (v << 8) | *in->p++;
		in->left--;
	}
	return v;
}

#define FPAGE 4096
struct shadow {
	bool live;
	uint64_t size;
	uint8_t bytes[MAX_SIZE];
	/*
	 * The pages that may hold data (allocated): written since the last
	 * zero or the creation, or put back by a restore.  A page not in it
	 * is a hole for certain, which SEEK_HOLE must find.
	 */
	bool data[MAX_SIZE / FPAGE];
};

static struct shadow shadow[NAMES];

#define SNAPS 2
static struct snap_shadow {
	bool exists;
	struct shadow regions[NAMES];
} snaps[SNAPS];

static void name_of(unsigned i, char *buf)
{
	snprintf(buf, 8, "r%u", i);
}

static void verify(struct sandbox *sb, unsigned i)
{
	static uint8_t buf[MAX_SIZE];
	struct region *r;
	char name[8];
	ssize_t n;

	name_of(i, name);
	r = sandbox__find(sb, name, NULL);
	check(!!r == shadow[i].live);
	if (!r)
		return;
	check(region__mem_size(r) == shadow[i].size);
	n = t_read(r, buf, sizeof(buf), 0);
	check(n == (ssize_t)shadow[i].size);
	check(memcmp(buf, shadow[i].bytes, (size_t)n) == 0);
	check(t_read(r, buf, 1, shadow[i].size) == 0);
	region__put(r);
}

static uint64_t page_round(uint64_t v)
{
	return (v + 4095) & ~4095ULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct sandbox *sb;
	uint8_t chunk[512];

	check(sandbox__new(&sb, NAMES, 3 * MAX_SIZE) == 0);
	memset(shadow, 0, sizeof(shadow));
	memset(snaps, 0, sizeof(snaps));

	for (unsigned steps = 0; in.left && steps < 256; steps++) {
		unsigned op = take(&in, 1) % 12, i = take(&in, 1) % NAMES;
		struct snap_shadow *sn = &snaps[i % SNAPS];
		struct why why = { "" };
		struct region *r;
		char name[8];
		uint64_t off, len, sz;
		int ret;

		name_of(i, name);
		switch (op) {
		case 0:	/* mkdir */
			sz = take(&in, 2) % MAX_SIZE;
			ret = sandbox__create(sb, name, sz, NULL, NULL);
			/* The size is checked before the name is looked up. */
			if (sz == 0) {
				check(ret == EINVAL);
			} else if (shadow[i].live) {
				check(ret == EEXIST);
			} else if (ret == 0) {
				shadow[i].live = true;
				shadow[i].size = page_round(sz);
				memset(shadow[i].bytes, 0, MAX_SIZE);
				memset(shadow[i].data, 0, sizeof(shadow[i].data));
			} else {
				check(ret == ENOSPC);
			}
			break;
		case 1:	/* rmdir */
			ret = sandbox__remove(sb, name, NULL);
			check(ret == (shadow[i].live ? 0 : ENOENT));
			shadow[i].live = false;
			break;
		case 2:	/* dd of=contents conv=notrunc */
			off = take(&in, 2);
			len = take(&in, 2) % sizeof(chunk);
			memset(chunk, (int)take(&in, 1), sizeof(chunk));
			r = sandbox__find(sb, name, NULL);
			if (!r)
				break;
			ret = (int)t_write(r, chunk, len, off);
			if (off >= shadow[i].size) {
				check(ret == (len ? -ENOSPC : 0));
			} else {
				uint64_t n = len < shadow[i].size - off ?
					     len : shadow[i].size - off;
				check(ret == (int)n);
				memcpy(shadow[i].bytes + off, chunk, n);
				for (uint64_t p = off / FPAGE;
				     n && p <= (off + n - 1) / FPAGE; p++)
					shadow[i].data[p] = true;
			}
			region__put(r);
			break;
		case 3:	/* echo 1 > zero */
			r = sandbox__find(sb, name, NULL);
			if (!r)
				break;
			check(region__zero(r, NULL) == 0);
			memset(shadow[i].bytes, 0, MAX_SIZE);
			memset(shadow[i].data, 0, sizeof(shadow[i].data));
			region__put(r);
			break;
		case 4:	/* echo SIZE > mem_size */
			sz = take(&in, 2) % MAX_SIZE;
			r = sandbox__find(sb, name, NULL);
			if (!r)
				break;
			ret = sandbox__resize(sb, r, sz, NULL);
			if (sz == 0) {
				check(ret == EINVAL);
			} else if (ret == 0) {
				uint64_t ns = page_round(sz);

				if (ns < shadow[i].size) {
					memset(shadow[i].bytes + ns, 0,
					       MAX_SIZE - ns);
					memset(shadow[i].data + ns / FPAGE, 0,
					       (MAX_SIZE - ns) / FPAGE);
				}
				shadow[i].size = ns;
			} else {
				check(ret == ENOSPC);
			}
			region__put(r);
			break;
		case 5:	/* lseek SEEK_DATA / SEEK_HOLE agree with the bytes */
			off = take(&in, 2);
			r = sandbox__find(sb, name, NULL);
			if (!r)
				break;
			if (off >= shadow[i].size) {
				check(t_seek_data(r, off) == -ENXIO);
				check(t_seek_hole(r, off) == -ENXIO);
			} else {
				int64_t d = t_seek_data(r, off);
				int64_t h = t_seek_hole(r, off);
				uint64_t hole = off;

				/* Holes read as zeros; the end is a hole. */
				check(h >= (int64_t)off &&
				      h <= (int64_t)shadow[i].size);
				for (int64_t k = (int64_t)off;
				     k < (d < 0 ? (int64_t)shadow[i].size : d);
				     k++)
					check(shadow[i].bytes[k] == 0);
				/* Data is where a page may hold data. */
				check(d < 0 || shadow[i].data[d / FPAGE]);
				/*
				 * The hole found is no further than the first
				 * page that is a hole for certain (a SEEK_HOLE
				 * that answered the size would pass the bound
				 * above), and reads as zeros to its page's end.
				 */
				while (hole < shadow[i].size &&
				       shadow[i].data[hole / FPAGE])
					hole = (hole / FPAGE + 1) * FPAGE;
				check((uint64_t)h <= (hole < shadow[i].size ?
						      hole : shadow[i].size));
				for (int64_t k = h; k < (int64_t)shadow[i].size &&
				     (k == h || k % FPAGE); k++)
					check(shadow[i].bytes[k] == 0);
			}
			region__put(r);
			break;
		case 6:	/* echo ADDR > guest_addr without KVM */
			r = sandbox__find(sb, name, NULL);
			if (!r)
				break;
			check(sandbox__set_guest_addr(sb, r, false,
						      take(&in, 2) * 4096ULL, NULL) == ENODEV);
			check(!region__mapped(r));
			region__put(r);
			break;
		case 7:	/* echo ro|rw > access */
			r = sandbox__find(sb, name, NULL);
			if (!r)
				break;
			ret = sandbox__set_access(sb, r, take(&in, 1) & 1, NULL);
			check(ret == 0);
			region__put(r);
			break;
		case 8:	/* echo sN > snapshot */
			snprintf(name, sizeof(name), "s%u", i % SNAPS);
			ret = snapshot__take(sb, NULL, name, &why);
			if (sn->exists) {
				check(ret == EEXIST);
				break;
			}
			check(ret == 0);
			sn->exists = true;
			memcpy(sn->regions, shadow, sizeof(shadow));
			break;
		case 9:	/* echo sN > restore */
			snprintf(name, sizeof(name), "s%u", i % SNAPS);
			ret = snapshot__restore(sb, NULL, name, &why);
			if (!sn->exists) {
				check(ret == ENOENT);
				break;
			}
			/* What it must answer, checked before anything changes. */
			{
				int want = 0;

				for (unsigned k = 0; k < NAMES && !want; k++)
					if (sn->regions[k].live && !shadow[k].live)
						want = ENOENT;
				for (unsigned k = 0; k < NAMES && !want; k++)
					if (sn->regions[k].live &&
					    sn->regions[k].size != shadow[k].size)
						want = EINVAL;
				check(ret == want);
			}
			if (ret)
				break;
			for (unsigned k = 0; k < NAMES; k++) {
				if (!sn->regions[k].live)
					continue;
				memcpy(shadow[k].bytes, sn->regions[k].bytes,
				       MAX_SIZE);
				/*
				 * The pages put back may hold data; those
				 * left alone keep what they had.
				 */
				for (unsigned p = 0; p < MAX_SIZE / FPAGE; p++)
					shadow[k].data[p] |= sn->regions[k].data[p];
			}
			break;
		case 10: /* rmdir snapshots/sN */
			snprintf(name, sizeof(name), "s%u", i % SNAPS);
			check(snapshot__remove(sb, name, NULL) ==
			      (sn->exists ? 0 : ENOENT));
			sn->exists = false;
			break;
		default:
			verify(sb, i);
		}
	}
	for (unsigned i = 0; i < NAMES; i++)
		verify(sb, i);
	sandbox__free(sb);
	return 0;
}
