/*
 * Files whose value is rendered text (attributes, vcpu): rendered once per
 * open at offset 0 (lxcfs-style), later offsets served from that copy, and
 * control values taken whole in one write at offset 0.
 */
#include "fs/node.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Render into h->text: its length, or -errno. */
int text__render(struct handle *h)
{
	int n = h->n.ops->render(&h->n, h->text, sizeof(h->text));

	h->len = n > 0 ? (size_t)n : 0;
	return n;
}

void text__read(fuse_req_t req, struct handle *h, size_t size, off_t off)
{
	char text[ATTR_TEXT_MAX];
	int n = 0;

	/* A read at 0 renders anew while another may copy: one at a time. */
	pthread_mutex_lock(&h->lock);
	if (off == 0)
		n = text__render(h);
	if (n < 0 || off < 0 || (size_t)off >= h->len) {
		size = 0;
	} else if (size > h->len - (size_t)off) {
		size = h->len - (size_t)off;
	}
	/*
	 * Reply from a copy, unlocked: once the kernel has the bytes the
	 * reader may close, and the release may free h while writev is
	 * still returning.
	 */
	if (size)
		memcpy(text, h->text + off, size);
	pthread_mutex_unlock(&h->lock);
	if (n < 0)
		fuse_reply_err(req, -n);
	else
		fuse_reply_buf(req, text, size);
}

/* What a read at offset 0 would render now. */
uint64_t text__size(struct handle *h)
{
	uint64_t len;

	pthread_mutex_lock(&h->lock);
	len = text__render(h) < 0 ? 0 : h->len;
	pthread_mutex_unlock(&h->lock);
	return len;
}

int text__value(const char *file, const char *buf, size_t len, off_t off,
		char *val, size_t val_len)
{
	if (off != 0) {
		fs_refuse("%s: write at offset %lld refused: a value is "
			  "written whole, in one write at offset 0", file,
			  (long long)off);
		return EINVAL;
	}
	if (parse__value(buf, len, val, val_len)) {
		fs_refuse("%s: write of %zu bytes refused: empty, too long "
			  "(max %zu) or holding a NUL", file, len, val_len - 1);
		return EINVAL;
	}
	return 0;
}

int text__store(struct handle *h, const char *buf, size_t size, off_t off,
		text_store *store)
{
	char val[PARSE_VALUE_MAX], file[REGION_NAME_MAX + 32];
	struct why why = { "" };
	int ret;

	snprintf(file, sizeof(file), "%s/%s", region__name(h->n.r), h->n.name);
	ret = text__value(file, buf, size, off, val, sizeof(val));
	if (ret)
		return ret;
	ret = store(&h->n, val, &why);
	if (ret)
		fs_refuse("%s: write '%s' refused: %s (%s)", file, val,
			  why__text(&why, ret), strerror(ret));
	return ret;
}
