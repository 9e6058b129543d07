/* Generated text of any length (longtext.h). */
#include "fs/longtext.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sbuf__printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->buf ? b->buf + b->len : NULL,
			      b->buf ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = EINVAL;
			return;
		}
		if (b->buf && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		/* Grow by doubling, within the bound. */
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap <= b->len + (size_t)n)
			cap *= 2;
		if (cap > LONGTEXT_MAX) {
			b->err = EFBIG;
			return;
		}
		p = realloc(b->buf, cap);
		if (!p) {
			b->err = ENOMEM;
			return;
		}
		b->buf = p;
		b->cap = cap;
	}
}

static int render_into(struct sbuf *b, longtext_render *render,
		       const char **why)
{
	int ret;

	memset(b, 0, sizeof(*b));
	ret = render(b, why);
	if (!ret && b->err) {
		ret = b->err;
		*why = ret == EFBIG ? "the text passes its bound" :
		       "out of memory";
	}
	if (ret) {
		free(b->buf);
		memset(b, 0, sizeof(*b));
	}
	return ret;
}

struct rendering {
	uint64_t seq;		/* unique in its file, from 1 */
	uint64_t gen;		/* the file's generation before it was made */
	uint64_t born_ms;
	unsigned refs;		/* opens reading it */
	size_t len;
	char text[];
};

static int find(const struct longtext *t, uint64_t seq)
{
	for (unsigned i = 0; seq && i < t->nr; i++)
		if (t->kept[i]->seq == seq)
			return (int)i;
	return -1;
}

static void drop(struct longtext *t, unsigned i)
{
	free(t->kept[i]);
	memmove(&t->kept[i], &t->kept[i + 1],
		(t->nr - i - 1) * sizeof(t->kept[0]));
	t->nr--;
}

/* The newest rendering while it is still the text, else NULL. */
static struct rendering *current(const struct longtext *t)
{
	struct rendering *r = t->nr ? t->kept[t->nr - 1] : NULL;
	uint64_t age;

	if (!r)
		return NULL;
	age = fs_mono_ms() - r->born_ms;
	if (age < t->min_ms)
		return r;
	if (!t->gen || r->gen != t->gen())
		return NULL;
	return t->max_ms && age >= t->max_ms ? NULL : r;
}

/*
 * Make room for one more: those nobody reads go, then the oldest while
 * the count or the bytes pass their bounds (their opens read on from the
 * newest).
 */
static void make_room(struct longtext *t, size_t len)
{
	size_t bytes = len;

	for (unsigned i = t->nr; i-- > 0;)
		if (!t->kept[i]->refs)
			drop(t, i);
	for (unsigned i = 0; i < t->nr; i++)
		bytes += t->kept[i]->len;
	while (t->nr && (t->nr == LONGTEXT_SLOTS || bytes - len > LONGTEXT_KEEP)) {
		bytes -= t->kept[0]->len;
		drop(t, 0);
	}
}

/* A new rendering, kept as the newest: 0, or an errno with *why set. */
static int render_new(struct longtext *t, struct rendering **out,
		      const char **why)
{
	uint64_t gen = t->gen ? t->gen() : 0, born = fs_mono_ms();
	struct rendering *r;
	struct sbuf b;
	int ret;

	ret = render_into(&b, t->render, why);
	if (ret)
		return ret;
	/* Its own size: a 4 KiB sbuf for 1 KiB of registers is not kept. */
	r = malloc(sizeof(*r) + b.len);
	if (!r) {
		free(b.buf);
		*why = "out of memory";
		return ENOMEM;
	}
	*r = (struct rendering){ .seq = ++t->seq, .gen = gen, .born_ms = born,
				 .len = b.len };
	if (b.len)
		memcpy(r->text, b.buf, b.len);
	free(b.buf);
	make_room(t, r->len);
	t->kept[t->nr++] = r;
	*out = r;
	return 0;
}

/* The rendering a read at 0 or a stat takes now. */
static int take(struct longtext *t, struct rendering **out, const char **why)
{
	*out = current(t);
	return *out ? 0 : render_new(t, out, why);
}

/* h lets go of its rendering; one nobody reads and no longer the newest goes. */
static void unref(struct longtext *t, struct handle *h)
{
	int i = find(t, h->rendering);

	h->rendering = 0;
	if (i < 0)
		return;
	if (!--t->kept[i]->refs && (unsigned)i != t->nr - 1)
		drop(t, (unsigned)i);
}

void longtext__read(fuse_req_t req, struct handle *h, size_t size, off_t off)
{
	struct longtext *t = h->n.ops->text;
	struct rendering *r = NULL;
	const char *why = "";
	size_t n = 0;
	char *buf;
	int i, ret = 0;

	buf = fs_read_start(req, off, &size);
	if (!buf)
		return;
	/* h's rendering too is the file's: under its lock. */
	pthread_mutex_lock(&t->lock);
	i = find(t, h->rendering);
	if (i >= 0)
		r = t->kept[i];
	if (off != 0 && !r && h->rendering) {
		/*
		 * Its rendering went (make_room): the rest of another one
		 * after the start of this one would be a torn text that
		 * reads like a whole one.  Fail, until a read at 0.
		 */
		ret = ESTALE;
		why = "its rendering was let go for newer ones (the file keeps "
		      "a bounded few): read it again from the start";
	} else if (off == 0 || !r) {
		unref(t, h);
		ret = take(t, &r, &why);
		if (!ret) {
			r->refs++;
			h->rendering = r->seq;
		}
	}
	if (!ret && (uint64_t)off < r->len) {
		n = r->len - (size_t)off < size ? r->len - (size_t)off : size;
		memcpy(buf, r->text + off, n);
	}
	pthread_mutex_unlock(&t->lock);
	if (ret) {
		fs_refuse("%s: read refused: %s (%s)", h->n.name, why,
			  strerror(ret));
		fuse_reply_err(req, ret);
		return;
	}
	fuse_reply_buf(req, buf, n);
}

/* The length of h's rendering, or (h NULL: for a stat) of a current one. */
static uint64_t size_of(struct longtext *t, struct handle *h)
{
	struct rendering *r;
	const char *why;
	uint64_t len = 0;
	int i;

	pthread_mutex_lock(&t->lock);
	i = h ? find(t, h->rendering) : -1;
	if (i >= 0)
		len = t->kept[i]->len;
	else if (!take(t, &r, &why))
		len = r->len;
	pthread_mutex_unlock(&t->lock);
	return len;
}

uint64_t longtext__size(struct handle *h)
{
	return size_of(h->n.ops->text, h);
}

void longtext__stat(struct node *n, struct stat *st)
{
	st->st_size = (off_t)size_of(n->ops->text, NULL);
}

void longtext__release(struct handle *h)
{
	struct longtext *t = h->n.ops->text;

	pthread_mutex_lock(&t->lock);
	unref(t, h);
	pthread_mutex_unlock(&t->lock);
}
