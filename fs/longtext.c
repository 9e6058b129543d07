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

void longtext__read(fuse_req_t req, struct handle *h, size_t size, off_t off,
		    longtext_render *render)
{
	struct sbuf *t;
	const char *why = "";
	size_t n = 0;
	char *buf;
	int ret = 0;

	buf = fs_read_start(req, off, &size);
	if (!buf)
		return;
	pthread_mutex_lock(&h->lock);
	t = h->priv;
	if (!t) {
		t = calloc(1, sizeof(*t));
		h->priv = t;
		if (!t)
			ret = ENOMEM;
	} else if (off == 0) {
		free(t->buf);
		memset(t, 0, sizeof(*t));
	}
	if (!ret && (off == 0 || !t->buf))
		ret = render_into(t, render, &why);
	if (!ret && (uint64_t)off < t->len) {
		n = t->len - (size_t)off < size ? t->len - (size_t)off : size;
		memcpy(buf, t->buf + off, n);
	}
	pthread_mutex_unlock(&h->lock);
	/* From the thread's buffer: the release may free h meanwhile. */
	if (ret) {
		fs_refuse("%s: read refused: %s (%s)", h->n.name, why,
			  strerror(ret));
		fuse_reply_err(req, ret);
		return;
	}
	fuse_reply_buf(req, buf, n);
}

uint64_t longtext__size(longtext_render *render)
{
	const char *why;
	struct sbuf b;
	uint64_t len;

	if (render_into(&b, render, &why))
		return 0;
	len = b.len;
	free(b.buf);
	return len;
}

void longtext__release(struct handle *h)
{
	struct sbuf *t = h->priv;

	if (t)
		free(t->buf);
	free(t);
	h->priv = NULL;
}
