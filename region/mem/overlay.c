/*
 * Overlays (overlay.h): held runs looked up by binary search, so a read
 * costs the pages it returns and a log of the runs, never the region's
 * size; a chain of them is walked level by level, each level with its
 * own extent cursor.
 */
#include "region/mem/overlay.h"
#include "region/mem/backing.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t npages(const struct region *r)
{
	return r->mem_size / region__page_size();
}

const struct overlay *overlay__of(const struct region *r)
{
	return r->ops == &overlay_ops ? r->priv : NULL;
}

static struct overlay *of(struct region *r)
{
	return r->ops == &overlay_ops ? r->priv : NULL;
}

/* The backing of r's own memory: an overlay's held pages are in one too. */
static const struct backing_ops *own(const struct region *r)
{
	return r->ops == &overlay_ops ?
	       ((const struct overlay *)r->priv)->own : r->ops;
}

int overlay__new(struct region *r, struct region *base)
{
	struct overlay *o;
	unsigned depth = 1;

	if (base && (!base->readonly || base->mem_size != r->mem_size))
		return EINVAL;
	if (base && overlay__of(base))
		depth = overlay__of(base)->depth + 1;
	if (depth > OVERLAY_DEPTH_MAX)
		return ELOOP;
	o = calloc(1, sizeof(*o));
	if (!o)
		return ENOMEM;
	o->base = base ? region__get(base) : NULL;
	o->depth = depth;
	pthread_mutex_init(&o->seek_lock, NULL);
	o->own = r->ops;
	r->priv = o;
	r->ops = &overlay_ops;
	return 0;
}

static void overlay_free(struct region *r)
{
	struct overlay *o = r->priv;

	if (o->base)
		region__put(o->base);
	free(o->runs);
	pthread_mutex_destroy(&o->seek_lock);
	free(o);
}

/* Hex digits of byte offset v, as the `dirty` text prints it. */
static uint64_t hex_digits(uint64_t v)
{
	uint64_t n = 1;

	while (v >>= 4)
		n++;
	return n;
}

int overlay__hold(struct region *r, uint64_t first, uint64_t end)
{
	struct overlay *o = of(r);
	uint64_t page = region__page_size();
	struct overlay_run *last;

	if (first >= end)
		return 0;
	if (end > npages(r) || (o->nr && first < o->runs[o->nr - 1].end))
		return EINVAL;
	last = o->nr ? &o->runs[o->nr - 1] : NULL;
	o->pages += end - first;
	if (last && last->end == first) {
		/* Adjacent runs are one, as in `dirty`. */
		o->digits -= hex_digits(last->end * page);
		last->end = end;
		o->digits += hex_digits(end * page);
		return 0;
	}
	if (o->nr == o->cap) {
		uint64_t cap = o->cap ? o->cap * 2 : 16;
		struct overlay_run *n = realloc(o->runs, cap * sizeof(*n));

		if (!n)
			return ENOMEM;
		o->runs = n;
		o->cap = cap;
	}
	o->runs[o->nr++] = (struct overlay_run){ first, end };
	o->digits += hex_digits(first * page) + hex_digits(end * page);
	return 0;
}

/* The index of the first run ending after page p (nr: none). */
static uint64_t run_after(const struct overlay *o, uint64_t p)
{
	uint64_t lo = 0, hi = o->nr;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (o->runs[mid].end > p)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static bool held_next(struct region *r, uint64_t from, uint64_t *first,
		      uint64_t *end)
{
	const struct overlay *o = of(r);
	uint64_t i = run_after(o, from);

	if (i >= o->nr)
		return false;
	*first = o->runs[i].first > from ? o->runs[i].first : from;
	*end = o->runs[i].end;
	return true;
}

static uint64_t held_text_size(struct region *r)
{
	const struct overlay *o = of(r);

	/* "0x" A "-0x" B "\n" per run. */
	return o->nr * 6 + o->digits;
}

/*
 * Which region of the chain holds page p, and the page where that stops
 * being so (*end): the first level that holds p, or the plain region at
 * the bottom.  *lvl is its level, for its cursor.
 */
static struct region *resolve(struct region *r, uint64_t p, uint64_t *end,
			      unsigned *lvl)
{
	uint64_t lim = npages(r);
	unsigned l = 0;

	while (of(r) && of(r)->base) {
		const struct overlay *o = of(r);
		uint64_t i = run_after(o, p);

		if (i < o->nr && o->runs[i].first <= p) {
			if (o->runs[i].end < lim)
				lim = o->runs[i].end;
			break;
		}
		if (i < o->nr && o->runs[i].first < lim)
			lim = o->runs[i].first;
		r = o->base;
		l++;
	}
	*end = lim;
	*lvl = l;
	return r;
}

/*
 * A level below r held while it is read: a copy-on-write one may leave
 * its file meanwhile (a lease break), which takes it exclusive.  r
 * itself is the caller's (and its check: region__read waited for it).
 */
static int hold(struct region *r, struct region *lvl)
{
	/* Nor read from one whose bytes failed (check.c: a lease break). */
	int ret = lvl == r ? 0 : check__wait(lvl);

	return ret || lvl == r ? ret : region__shared_begin(lvl);
}

static void let_go(struct region *r, struct region *lvl)
{
	if (lvl != r)
		region__shared_end(lvl);
}

static int read_view(struct region *r, void *buf, size_t len, uint64_t off,
		  size_t *done)
{
	uint64_t page = region__page_size(), size = r->mem_size;

	/* Readonly all the way down: nothing changes, nothing to hold. */
	*done = 0;
	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	while (*done < len) {
		uint64_t pos = off + *done, seg;
		unsigned lvl;
		struct region *src = resolve(r, pos / page, &seg, &lvl);
		size_t chunk = len - *done, n = 0;
		int ret;

		if (seg * page - pos < chunk)
			chunk = (size_t)(seg * page - pos);
		/* Its own memory's read (pread: a hole reads as zeros). */
		ret = hold(r, src);
		if (!ret) {
			ret = own(src)->read(src, (uint8_t *)buf + *done,
					     chunk, pos, &n);
			let_go(r, src);
		}
		if (ret)
			return ret;
		if (n != chunk)
			return EIO;
		*done += chunk;
	}
	return 0;
}

/*
 * copy__extent of one level, for bytes up to end (where the level stops
 * being the one that answers): x made to hold the extent around p.
 * hugetlbfs says "data" everywhere: a huge level answers from its
 * mapping (hugetlb.h), as a huge region's own seek does, asked about
 * [p, end) only (a mincore costs the range it looks at); a level never
 * changes, so nothing need be held.
 */
static int level_extent(struct region *r, struct extents *x, uint64_t p,
			uint64_t end)
{
	return own(r)->extent(r, x, p, end);
}

/*
 * Whether byte p of level r is data, and where that stops (*stop), with
 * the extent remembered in x (copy.h's cursor).
 */
static int extent_at(struct region *r, struct extents *x, uint64_t p,
		     uint64_t end, bool *data, uint64_t *stop)
{
	int ret = level_extent(r, x, p, end);

	if (ret)
		return ret;
	*data = p >= x->data;
	*stop = *data ? x->hole : x->data;
	return 0;
}

/*
 * The piece of r's view at byte p that is all data or all hole: *data,
 * and where it stops (at most r's size).
 */
static int piece(struct region *r, struct copy_cursor *cur, uint64_t p,
		 bool *data, uint64_t *stop)
{
	uint64_t page = region__page_size(), seg, e = 0;
	unsigned lvl;
	struct region *src = resolve(r, p / page, &seg, &lvl);
	int ret = hold(r, src);

	if (ret)
		return ret;
	ret = extent_at(src, &cur->x[lvl], p, seg * page, data, &e);
	let_go(r, src);
	if (ret)
		return ret;
	*stop = e < seg * page ? e : seg * page;
	return 0;
}

/*
 * With the extents earlier seeks found: a scan from start to end walks
 * each level's data once in all, as it would walk a plain region's.
 */
static int seek_view(struct region *r, struct copy_cursor *cur,
		     uint64_t off, int whence, uint64_t *pos)
{
	uint64_t p = off;

	while (p < r->mem_size) {
		uint64_t stop;
		bool data;
		int ret = piece(r, cur, p, &data, &stop);

		if (ret)
			return ret;
		if (data == (whence == SEEK_DATA)) {
			*pos = p;
			return 0;
		}
		p = stop;
	}
	if (whence == SEEK_DATA)
		return ENXIO;
	*pos = r->mem_size;
	return 0;
}

static int seek(struct region *r, uint64_t off, int whence, uint64_t *pos)
{
	struct overlay *o = of(r);
	int ret;

	if (off >= r->mem_size)
		return ENXIO;
	pthread_mutex_lock(&o->seek_lock);
	ret = seek_view(r, &o->seen, off, whence, pos);
	pthread_mutex_unlock(&o->seek_lock);
	return ret;
}

/*
 * Bytes of data in pages [first, end) of r's view, each piece asked of
 * the level that answers for it (its data_bytes: what the pages cost to
 * copy, at most).
 */
static int held_data(struct region *r, uint64_t first, uint64_t end,
		     uint64_t *bytes)
{
	uint64_t page = region__page_size(), p = first;

	*bytes = 0;
	while (p < end) {
		uint64_t seg;
		unsigned lvl;
		struct region *src = resolve(r, p, &seg, &lvl);
		uint64_t b;
		int ret;

		if (seg > end)
			seg = end;
		/* r is a base, which nobody else holds here: each level is. */
		ret = region__shared_begin(src);
		if (ret)
			return ret;
		ret = own(src)->data_bytes(src, p * page, seg * page, &b);
		region__shared_end(src);
		if (ret)
			return ret;
		*bytes += b;
		p = seg;
	}
	return 0;
}

static uint64_t own_resident(struct region *r)
{
	struct stat st;

	return fstat(r->memfd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

/*
 * The view's resident bytes: the base's, less what the base has where
 * this one holds the pages, plus this one's own.  Counted once (the runs
 * and their data, never the size), since nothing changes after.
 */
int overlay__seal(struct region *r)
{
	struct overlay *o = of(r);
	uint64_t under = 0, base_shown;

	if (!o->base) {
		o->shown = own_resident(r);
		return 0;
	}
	/* A copy-on-write base has no memfd: its backing counts it. */
	base_shown = of(o->base) ? of(o->base)->shown :
		     region__memfd(o->base) < 0 ? region__resident(o->base) :
						  own_resident(o->base);
	for (uint64_t i = 0; i < o->nr; i++) {
		uint64_t b;
		int ret = held_data(o->base, o->runs[i].first,
				    o->runs[i].end, &b);

		if (ret)
			return ret;
		under += b;
	}
	/* Never below 0 (a wrap would show 16 EiB in st_blocks). */
	o->shown = (base_shown > under ? base_shown - under : 0) +
		   own_resident(r);
	return 0;
}

/* Each piece from the level that answers for it, with its own cursor. */
static int copy_out(struct region *src, struct region *dst, uint8_t **buf,
		    struct copy_cursor *cur, uint64_t off, uint64_t end,
		    unsigned how)
{
	uint64_t page = region__page_size();

	if (off < end && copy__buffer(buf))
		return ENOMEM;
	while (off < end) {
		uint64_t seg, stop;
		unsigned lvl;
		struct region *from = resolve(src, off / page, &seg, &lvl);
		int ret;

		struct mem_side s;

		stop = seg * page < end ? seg * page : end;
		ret = hold(src, from);
		if (ret)
			return ret;
		s = region__side(from);
		/* No fd holds a copy-on-write base's bytes: it copies itself. */
		if (s.fd < 0)
			ret = from->ops->copy_out(from, dst, buf, cur, off,
						  stop, how);
		else
			ret = dst->ops->copy_in(dst, &s, *buf, &cur->x[lvl],
						off, stop, how);
		let_go(src, from);
		if (ret)
			return ret;
		off = stop;
	}
	return 0;
}

/* Its memfd is its every byte only when it reads through nothing. */
static bool fd_whole(struct region *r)
{
	return of(r)->base == NULL;
}

/* What is held is written in before the overlay is handed out. */
static int copy_in(struct region *dst, const struct mem_side *src,
		   uint8_t *buf, struct extents *x, uint64_t off, uint64_t end,
		   unsigned how)
{
	return own(dst)->copy_in(dst, src, buf, x, off, end, how);
}

static int extent(struct region *r, struct extents *x, uint64_t p,
		  uint64_t end)
{
	return own(r)->extent(r, x, p, end);
}

/* Of its own memory: what it holds is copied in before it is sealed. */
static int next_data(struct region *r, uint64_t off, uint64_t end,
		     uint64_t *pos)
{
	return own(r)->next_data(r, off, end, pos);
}

static int data_bytes(struct region *r, uint64_t off, uint64_t end,
		      uint64_t *bytes)
{
	return own(r)->data_bytes(r, off, end, bytes);
}

/* No one memfd holds the view: copied, level by level. */
static void serve(struct region *r, uint64_t off, size_t len, size_t want,
		  struct serve *how)
{
	(void)r, (void)off, (void)len, (void)want;
	how->kind = SERVE_COPY;
}

/* Readonly: never reached (region.c refuses writes, exclusivity). */
static int refuse_write(struct region *r, const void *buf, size_t len,
			uint64_t off, size_t *done)
{
	(void)r, (void)buf, (void)len, (void)off, (void)done;
	return EPERM;
}

static int refuse_punch(struct region *r, uint64_t off, uint64_t len)
{
	(void)r, (void)off, (void)len;
	return EPERM;
}

/* The view's resident bytes, counted once at seal. */
static uint64_t resident(struct region *r, uint64_t own_bytes)
{
	(void)own_bytes;
	return of(r)->shown;
}

/* An overlay is never made new nor rebuilt: overlay__new converts one. */
const struct backing_ops overlay_ops = {
	.name = "overlay",
	.read = read_view,
	.serve = serve,
	.write = refuse_write,
	.seek = seek,
	.next_data = next_data,
	.data_bytes = data_bytes,
	.punch = refuse_punch,
	.resident = resident,
	.copy_out = copy_out,
	.copy_in = copy_in,
	.extent = extent,
	.held_next = held_next,
	.held_text_size = held_text_size,
	.free = overlay_free,
	.fd_whole = fd_whole,
};
