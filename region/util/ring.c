/* A byte ring of the last max bytes (ring.h). */
#include "region/util/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ring__init(struct ring *r, size_t max)
{
	r->buf = malloc(max);
	r->max = max;
	r->end = 0;
	return r->buf ? 0 : ENOMEM;
}

void ring__free(struct ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

void ring__put(struct ring *r, const void *p, size_t n)
{
	const uint8_t *b = p;

	/* Skip what would not fit: only the newest max bytes stay. */
	if (n > r->max) {
		r->end += n - r->max;
		b += n - r->max;
		n = r->max;
	}
	for (size_t i = 0; i < n; i++)
		r->buf[(r->end + i) % r->max] = b[i];
	r->end += n;
}

void ring__restart(struct ring *r, const void *p, size_t n)
{
	r->end = 0;
	r->restarts++;
	ring__put(r, p, n);
}

size_t ring__read(const struct ring *r, void *buf, size_t len, uint64_t off,
		  struct ring_reader *rd)
{
	uint64_t start = r->end > r->max ? r->end - r->max : 0;
	uint64_t at;
	size_t n = 0;

	/* Moved past bytes of a stream that started over since: forgotten. */
	if (rd->restarts != r->restarts) {
		rd->skip = 0;
		rd->restarts = r->restarts;
	}
	/*
	 * Outside what this reader read since it was moved (a seek from the
	 * end, tail's, a pread): the offset is the logical one.
	 */
	if (rd->skip && (off < rd->lo || off > rd->next))
		rd->skip = 0;
	at = off + rd->skip;
	if (at < start) {
		/*
		 * Behind the oldest kept byte: it goes on from there, and so do
		 * its next reads and seeks back into what it read.
		 */
		rd->skip += start - at;
		rd->lo = off;
		at = start;
	}
	if (at < r->end) {
		n = len < r->end - at ? len : (size_t)(r->end - at);
		for (size_t i = 0; i < n; i++)
			((uint8_t *)buf)[i] = r->buf[(at + i) % r->max];
	}
	rd->next = off + n;
	return n;
}
