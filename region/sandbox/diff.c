/* Diff snapshots (diff.h): the copies, the parent, what they cost. */
#include "region/sandbox/diff.h"
#include "region/mem/overlay.h"
#include "region/util/parse.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int diff__split(const char *spec, char *name, char *parent, struct why *why)
{
	const char *colon = strchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);

	if (n > REGION_NAME_MAX)
		n = REGION_NAME_MAX + 1;	/* too long: refused below */
	snprintf(name, REGION_NAME_MAX + 1, "%.*s", (int)n, spec);
	parent[0] = '\0';
	if (n > REGION_NAME_MAX || parse__region_name(name))
		return why__set(why, EINVAL, "names are [A-Za-z0-9_.-]{1,64}, "
				"not starting with '.' (NAME or NAME:PARENT)");
	if (!colon)
		return 0;
	if (strlen(colon + 1) > REGION_NAME_MAX ||
	    parse__region_name(colon + 1))
		return why__set(why, EINVAL, "the parent '%s' is not a "
				"snapshot name (NAME:PARENT)", colon + 1);
	strcpy(parent, colon + 1);
	return 0;
}

uint64_t diff__new_token(void)
{
	uint64_t t = 0;

	/* An identity, not a secret: the clock will do if there is no entropy. */
	if (getrandom(&t, sizeof(t), GRND_NONBLOCK) != sizeof(t)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		t = (uint64_t)ts.tv_sec * 1000000000ULL ^ (uint64_t)ts.tv_nsec;
	}
	return t ? t : 1;
}

static unsigned chain_depth(const struct snapshot *s)
{
	unsigned d = 0;

	for (; s && s->parent; s = s->parent)
		d++;
	return d;
}

int diff__attach(struct sandbox *sb, struct snapshot *s, const char *parent,
		 struct why *why)
{
	struct snapshot *p;

	if (!dirty__tracking())
		return why__set(why, EOPNOTSUPP, "dirty tracking is off "
				"(-o nodirty): nothing says which pages "
				"changed since %s (take a full snapshot)",
				parent);
	p = snapshot__find(&sb->snaps, parent);
	if (!p)
		return why__set(why, ENOENT, "no snapshot %s to take a diff "
				"of", parent);
	if (chain_depth(p) + 1 > OVERLAY_DEPTH_MAX) {
		snapshot__put(p);
		return why__set(why, EMLINK, "%s is a diff %u deep already; "
				"diffs go %d deep at most (take a full "
				"snapshot)", parent, chain_depth(p),
				OVERLAY_DEPTH_MAX);
	}
	s->parent = p;
	return 0;
}

/*
 * The parent's copy under r's name, when it can be a base: same size
 * (the page numbers must mean the same bytes).  *since: the epoch since
 * which r may differ from it.
 */
static struct region *parent_copy(struct snapshot *s, struct region *r,
				  uint32_t *since)
{
	struct snapshot *p = s->parent;

	for (unsigned j = 0; j < p->nr; j++) {
		struct region *c = p->regions[j].region;

		if (strcmp(region__name(c), region__name(r)) != 0)
			continue;
		if (region__mem_size(c) != region__mem_size(r))
			return NULL;
		*since = p->synced[j];
		return c;
	}
	return NULL;
}

/* Whether r must be held whole: no base, or nothing says what changed. */
static bool whole(struct snapshot *s, struct region *r, struct region **base,
		  uint32_t *since)
{
	*base = parent_copy(s, r, since);
	return !*base || !region__tracked(r) ||
	       region__dirty_all_since(r, *since);
}

/*
 * What r's memfd holds now.  Not region__resident: that asks under the
 * region's lock, which the caller holds exclusive, and so would give
 * whatever a stat saw last (nothing, for a region only written since).
 */
static uint64_t resident_now(struct region *r)
{
	return region__resident_locked(r);
}

/*
 * Bytes of the huge pages [off, end) touches from *next on (a byte
 * offset, page-aligned); *next moves past them.
 */
static uint64_t huge_pages(uint64_t huge, uint64_t off, uint64_t end,
			   uint64_t *next)
{
	uint64_t a = off & ~(huge - 1), b = (end + huge - 1) & ~(huge - 1);

	if (a < *next)
		a = *next;
	if (b <= a)
		return 0;
	*next = b;
	return b - a;
}

int diff__check_bytes(struct snapshot *s, struct snaps *t,
		      struct region **live, struct why *why)
{
	uint64_t page = region__page_size(), need = 0;

	for (unsigned i = 0; i < s->nr; i++) {
		struct region *base, *r = live[i];
		uint64_t p = 0, first, end, next = 0;
		uint32_t since;

		if (whole(s, r, &base, &since)) {
			need += resident_now(r);
			continue;
		}
		/*
		 * At most the pages written; those of zeros take nothing.
		 * A huge region's copy holds each huge page they touch whole
		 * (counted once, the runs ascending).
		 */
		while (region__dirty_next(r, since, p, &first, &end)) {
			need += region__huge_size(r) ?
				huge_pages(region__huge_size(r), first * page,
						     end * page, &next) :
					  (end - first) * page;
			p = end;
		}
	}
	return snaps__fits(t, need, "the diff", why);
}

/*
 * Pages [off, end) of r's memfd into the fresh dst, pages of zeros left
 * out.  Where the data is, SEEK_DATA says (it skips holes at once); how
 * far it goes is not asked: shmem answers SEEK_HOLE by walking the data
 * to the next hole, in a region written end to end its whole size, for
 * a run of a few pages.  Each piece read, at most a chunk, is copied as
 * data (copy_data leaves its pages of zeros out).
 */
static int copy_run(struct region *dst, struct region *src, uint8_t *buf,
		    uint64_t off, uint64_t end)
{
	while (off < end) {
		struct extents x;
		uint64_t data, stop;
		int ret = region__next_data_locked(src, off, end, &data);

		if (ret)
			return ret;
		if (data >= end)
			return 0;
		stop = end - (uint64_t)data > COPY_CHUNK ?
		       (uint64_t)data + COPY_CHUNK : end;
		/*
		 * Taken as data: the copy asks src nothing more, and reads
		 * it with pread, which gives the holes in it as zeros
		 * (left out) without allocating them in the guest's memory.
		 */
		x = (struct extents){ .from = (uint64_t)data,
				     .data = (uint64_t)data, .hole = stop };
		ret = region__copy_read(dst, src, buf, &x, (uint64_t)data,
					stop);
		if (ret)
			return ret;
		off = stop;
	}
	return 0;
}

int diff__copy_region(struct snapshot *s, struct region *r,
		      struct region *c, uint8_t *buf)
{
	uint64_t page = region__page_size(), p = 0, first, end;
	struct region *base;
	uint32_t since;
	int ret;

	if (whole(s, r, &base, &since)) {
		struct extents x = { .hole = 0 };

		ret = overlay__new(c, NULL);
		if (!ret)
			ret = overlay__hold(c, 0, region__mem_size(r) / page);
		if (!ret)
			ret = region__copy(c, r, buf, &x, 0, region__mem_size(r),
					   false);
		return ret ? ret : overlay__seal(c);
	}
	ret = overlay__new(c, base);
	/*
	 * Every page written since, zeros included: a page zeroed since the
	 * parent is held (a hole here), so it reads as zeros, not as the
	 * parent's bytes.
	 */
	while (!ret && region__dirty_next(r, since, p, &first, &end)) {
		ret = overlay__hold(c, first, end);
		if (!ret)
			ret = copy_run(c, r, buf, first * page, end * page);
		p = end;
	}
	return ret ? ret : overlay__seal(c);
}

int diff__check_remove(struct snaps *t, const char *name, struct why *why)
{
	int ret = 0;

	pthread_rwlock_rdlock(&t->lock);
	for (unsigned i = 0; i < t->nr && !ret; i++) {
		struct snapshot *s = t->snaps[i];

		if (s->parent && strcmp(s->parent->name, name) == 0)
			ret = why__set(why, EBUSY, "snapshot %s is a diff of "
				       "it and reads through to it (remove "
				       "%s first)", s->name, s->name);
	}
	pthread_rwlock_unlock(&t->lock);
	return ret;
}

void diff__info(struct snapshot *s, FILE *f)
{
	uint64_t page = region__page_size();

	fprintf(f, "id 0x%016" PRIx64 "\n", s->token);
	if (!s->parent)
		return;
	fprintf(f, "parent %s 0x%016" PRIx64 "\n", s->parent->name,
		s->parent->token);
	for (unsigned i = 0; i < s->nr; i++) {
		struct region *c = s->regions[i].region;
		const struct overlay *o = overlay__of(c);

		fprintf(f, "diff %s holds %" PRIu64 " of %" PRIu64 " pages, "
			"takes %" PRIu64 " bytes, %s\n", region__name(c),
			o ? o->pages : 0, region__mem_size(c) / page,
			region__resident(c),
			o && o->base ? "the rest read through" : "whole");
	}
}

bool diff__parse_id(const char *s, uint64_t *id)
{
	size_t n = strlen(s);

	if (n < 3 || n > 18 || strncmp(s, "0x", 2) != 0 ||
	    strspn(s + 2, "0123456789abcdefABCDEF") != n - 2)
		return false;
	*id = strtoull(s + 2, NULL, 16);
	return true;
}

int diff__parse_parent(const char *buf, size_t len, char *name, uint64_t *id)
{
	char line[REGION_NAME_MAX + 24], *sp;

	/* One line: a newline only at the end, no NUL. */
	if (len && buf[len - 1] == '\n')
		len--;
	if (len == 0 || len >= sizeof(line) || memchr(buf, '\n', len) ||
	    memchr(buf, '\0', len))
		return EINVAL;
	memcpy(line, buf, len);
	line[len] = '\0';
	sp = strchr(line, ' ');
	if (!sp)
		return EINVAL;
	*sp = '\0';
	if (strlen(line) > REGION_NAME_MAX || parse__region_name(line) ||
	    !diff__parse_id(sp + 1, id))
		return EINVAL;
	strcpy(name, line);
	return 0;
}

int diff__parse_run(const char *line, uint64_t size, uint64_t prev_end,
		    uint64_t *first, uint64_t *end)
{
	uint64_t page = region__page_size(), a, b;
	char *dash, *rest;

	/* strtoull would take blanks and signs: the digits are checked first. */
	if (strncmp(line, "0x", 2) != 0 || !isxdigit((unsigned char)line[2]))
		return EINVAL;
	a = strtoull(line + 2, &dash, 16);
	if (strncmp(dash, "-0x", 3) != 0 || !isxdigit((unsigned char)dash[3]))
		return EINVAL;
	b = strtoull(dash + 3, &rest, 16);
	if ((*rest != '\0' && strcmp(rest, "\n") != 0) ||
	    dash - line > 18 || rest - dash > 19 ||
	    a % page || b % page || a >= b || b > size || a < prev_end)
		return EINVAL;
	*first = a / page;
	*end = b / page;
	return 0;
}

int diff__make_parent_file(struct snapshot *s)
{
	int n;

	if (!s->parent)
		return 0;
	n = asprintf(&s->parent_file, DIFF_PARENT_FMT, s->parent->name,
		     (unsigned long long)s->parent->token);
	if (n < 0) {
		s->parent_file = NULL;
		return ENOMEM;
	}
	s->parent_len = (size_t)n;
	return 0;
}
