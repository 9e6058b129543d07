/*
 * The text of `dirty` (dirty_text.h), rendered from the region's stamps.
 */
#include "region/dirty_text.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The text is generated from a bitmap taken at once, so a reader that
 * reads it in pieces sees one consistent list.  Reads in order resume
 * where the last one stopped; a read further back starts over.
 */
struct dirty_text {
	const char *fixed;	/* "untracked\n", or NULL: the ranges */
	uint64_t *bits;
	uint64_t npages;
	uint64_t size;		/* of the whole text */
	/* The cursor: the next line starts at text offset pos, page next. */
	uint64_t pos;
	uint64_t next;
};

#define UNTRACKED "untracked\n"

/* The line of the run of pages [first, end). */
static int format_range(char *line, size_t len, uint64_t first, uint64_t end)
{
	uint64_t page = region__page_size();

	return snprintf(line, len, "0x%" PRIx64 "-0x%" PRIx64 "\n",
			first * page, end * page);
}

static bool bit(const uint64_t *bits, uint64_t p)
{
	return bits[p / 64] >> (p % 64) & 1;
}

/* The line of the run at or after page *p, or 0 past the last run. */
static int next_line(const struct dirty_text *t, uint64_t *p, char *line,
		     size_t len)
{
	uint64_t start;

	while (*p < t->npages && !bit(t->bits, *p))
		(*p)++;
	if (*p >= t->npages)
		return 0;
	start = *p;
	while (*p < t->npages && bit(t->bits, *p))
		(*p)++;
	return format_range(line, len, start, *p);
}

/*
 * Walk the runs of pages written since the last clear, holding the region
 * shared after a harvest: each run goes to bits (when given), and the
 * length of its line to *size.  One walk for the text and for its size.
 */
static int walk(struct region *r, uint64_t *bits, uint64_t *size)
{
	uint64_t p = 0, first, end;
	char line[48];
	int ret;

	*size = 0;
	ret = region__shared_begin(r);
	if (ret)
		return ret;
	ret = region__dirty_harvest(r);
	while (!ret && region__dirty_next(r, r->dirty.cleared, p, &first, &end)) {
		if (bits)
			for (uint64_t i = first; i < end; i++)
				bits[i / 64] |= 1ULL << (i % 64);
		*size += (uint64_t)format_range(line, sizeof(line), first, end);
		p = end;
	}
	region__shared_end(r);
	return ret;
}

int dirty_text__take(struct region *r, struct dirty_text **out)
{
	struct dirty_text *t = calloc(1, sizeof(*t));
	int ret;

	*out = NULL;
	if (!t)
		return ENOMEM;
	if (r->readonly)
		goto done;	/* nothing was written since it was taken */
	if (!r->dirty.track) {
		t->fixed = UNTRACKED;
		t->size = strlen(t->fixed);
		goto done;
	}
	t->npages = r->mem_size / region__page_size();
	t->bits = calloc((t->npages + 63) / 64 + 1, sizeof(*t->bits));
	ret = t->bits ? walk(r, t->bits, &t->size) : ENOMEM;
	if (ret) {
		dirty_text__free(t);
		return ret;
	}
done:
	*out = t;
	return 0;
}

int dirty_text__size_now(struct region *r, uint64_t *size)
{
	*size = 0;
	if (r->readonly)
		return 0;
	if (!r->dirty.track) {
		*size = strlen(UNTRACKED);
		return 0;
	}
	return walk(r, NULL, size);
}

uint64_t dirty_text__size(const struct dirty_text *t)
{
	return t->size;
}

size_t dirty_text__read(struct dirty_text *t, char *buf, size_t len,
			uint64_t off)
{
	char line[48];
	size_t done = 0;
	int n;

	if (t->fixed) {
		if (off >= t->size)
			return 0;
		if (len > t->size - off)
			len = t->size - off;
		memcpy(buf, t->fixed + off, len);
		return len;
	}
	if (off < t->pos) {
		t->pos = 0;
		t->next = 0;
	}
	while (done < len) {
		uint64_t page = t->next;

		n = next_line(t, &page, line, sizeof(line));
		if (n <= 0)
			break;
		if (t->pos + (uint64_t)n <= off) {
			/* Before the offset asked for: skip the line. */
			t->pos += (uint64_t)n;
			t->next = page;
			continue;
		}
		{
			size_t from = off > t->pos ? (size_t)(off - t->pos) : 0;
			size_t take = (size_t)n - from;

			if (take > len - done)
				take = len - done;
			memcpy(buf + done, line + from, take);
			done += take;
			off += take;
			if (from + take < (size_t)n)
				break;	/* the rest of this line next time */
			t->pos += (uint64_t)n;
			t->next = page;
		}
	}
	return done;
}

void dirty_text__free(struct dirty_text *t)
{
	if (!t)
		return;
	free(t->bits);
	free(t);
}
