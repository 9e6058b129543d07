/* The text of `dirty` (dirty_text.h), streamed from the region's stamps. */
#include "region/mem/dirty_text.h"
#include "region/mem/backing.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define UNTRACKED "untracked\n"

uint64_t dirty_text__size(struct region *r)
{
	const struct backing_ops *ops = region__ops(r);
	uint64_t runs, digits;

	if (ops->held_text_size)
		return ops->held_text_size(r);
	if (r->readonly)
		return 0;	/* nothing was written since it was taken */
	if (!r->dirty.track)
		return strlen(UNTRACKED);
	dirty__record(&r->dirty, &runs, &digits);
	/* "0x" A "-0x" B "\n" per run. */
	return runs * 6 + digits;
}

int dirty_text__start(struct region *r, struct dirty_cursor *c, bool harvest)
{
	int ret = 0;

	memset(c, 0, sizeof(*c));
	if (r->readonly || !r->dirty.track || !harvest)
		goto out;
	ret = region__shared_begin(r);
	if (ret)
		return ret;
	ret = region__dirty_harvest(r);
	region__shared_end(r);
out:
	c->since = __atomic_load_n(&r->dirty.cleared, __ATOMIC_ACQUIRE);
	return ret;
}

/* The next line into c->line, or false past the last run. */
static bool next_line(struct region *r, struct dirty_cursor *c)
{
	uint64_t page = region__page_size(), first, end;

	if (!region__dirty_next(r, c->since, c->page, &first, &end))
		return false;
	c->line_len = (size_t)snprintf(c->line, sizeof(c->line),
				       "0x%" PRIx64 "-0x%" PRIx64 "\n",
				       first * page, end * page);
	c->line_off = 0;
	c->page = end;
	return true;
}

/* Lines generated while holding the region shared, at most. */
#define LINES_PER_HOLD 1024

/*
 * Hand out bytes from the text at c->pos on, skipping ones before off,
 * for at most LINES_PER_HOLD new lines; *end says the text ended.
 */
static size_t produce(struct region *r, struct dirty_cursor *c, char *buf,
		      size_t len, uint64_t off, bool *end)
{
	unsigned lines = 0;
	size_t done = 0;

	*end = false;
	while (done < len) {
		size_t take;

		if (c->line_off == c->line_len) {
			if (lines++ == LINES_PER_HOLD)
				break;
			if (!next_line(r, c)) {
				*end = true;
				break;
			}
		}
		take = c->line_len - c->line_off;
		if (c->pos < off) {
			/* Before the offset asked for: skip. */
			if (take > off - c->pos)
				take = (size_t)(off - c->pos);
		} else {
			if (take > len - done)
				take = len - done;
			memcpy(buf + done, c->line + c->line_off, take);
			done += take;
		}
		c->line_off += take;
		c->pos += take;
	}
	return done;
}

int dirty_text__read(struct region *r, struct dirty_cursor *c, char *buf,
		     size_t len, uint64_t off, size_t *done)
{
	int ret;

	*done = 0;
	if (r->readonly && !region__ops(r)->held_next)
		return 0;
	if (!r->dirty.track && !region__ops(r)->held_next) {
		size_t n = strlen(UNTRACKED);

		if (off < n) {
			*done = len < n - off ? len : n - (size_t)off;
			memcpy(buf, UNTRACKED + off, *done);
		}
		return 0;
	}
	if (off < c->pos) {
		ret = dirty_text__start(r, c, false);
		if (ret)
			return ret;
	}
	/*
	 * The stamp arrays only change under exclusive: hold them still,
	 * a batch of lines at a time, so that a read far from the cursor
	 * (which walks from the top) never keeps a control write waiting.
	 */
	for (bool end = false; !end && *done < len;) {
		ret = region__shared_begin(r);
		if (ret)
			return *done ? 0 : ret;
		*done += produce(r, c, buf + *done, len - *done, off + *done,
				 &end);
		region__shared_end(r);
	}
	return 0;
}
