/*
 * dirty: the pages of a region written since the last `echo 0 > dirty`,
 * one range per line (region/dirty_text.h renders it).  A read at offset 0
 * takes the record anew for this open; later offsets read that copy.
 */
#include "fs/node.h"
#include "region/dirty_text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int dirty_open(fuse_req_t req, struct handle *h,
		      struct fuse_file_info *fi)
{
	pthread_mutex_init(&h->lock, NULL);
	/* Generated text: never cached. */
	fi->direct_io = 1;
	return fuse_reply_open(req, fi);
}

/* Take the record for this open (h->lock held). */
static int take(struct handle *h)
{
	dirty_text__free(h->dirty);
	h->dirty = NULL;
	return dirty_text__take(h->n.r, &h->dirty);
}

static void dirty_read(fuse_req_t req, struct handle *h, size_t size,
		       off_t off)
{
	size_t n = 0;
	char *buf;
	int ret = 0;

	buf = fs_read_start(req, off, &size);
	if (!buf)
		return;
	/* Two reads of one open file must not free its rendering mutually. */
	pthread_mutex_lock(&h->lock);
	if (off == 0 || !h->dirty)
		ret = take(h);
	if (!ret)
		n = dirty_text__read(h->dirty, buf, size, (uint64_t)off);
	pthread_mutex_unlock(&h->lock);
	/*
	 * Reply after unlocking, from the thread's own buffer: once the
	 * kernel has the bytes the reader may close, and the release may
	 * free h while this reply is still being written.
	 */
	if (ret) {
		fs_log("%s/dirty: read refused: %s", h->n.r->name,
		       ret == EBUSY ? "exclusivity held too long" :
		       strerror(ret));
		fuse_reply_err(req, ret);
		return;
	}
	fuse_reply_buf(req, buf, n);
}

/* Its length, taking the record for this open if it was not yet. */
static uint64_t dirty_size(struct handle *h)
{
	uint64_t size = 0;

	pthread_mutex_lock(&h->lock);
	if (h->dirty || !take(h))
		size = dirty_text__size(h->dirty);
	pthread_mutex_unlock(&h->lock);
	return size;
}

static void dirty_release(struct handle *h)
{
	dirty_text__free(h->dirty);
	pthread_mutex_destroy(&h->lock);
}

static void dirty_stat(struct node *n, struct stat *st)
{
	uint64_t size;

	st->st_size = dirty_text__size_now(n->r, &size) ? 0 : (off_t)size;
}

const struct node_ops dirty_ops = {
	.stat = dirty_stat,
	.open = dirty_open,
	.read = dirty_read,
	.write = attr__write,
	.size = dirty_size,
	.release = dirty_release,
};
