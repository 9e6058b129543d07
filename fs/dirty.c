/*
 * dirty: the pages of a region written since the last `echo 0 > dirty`,
 * one range per line (region/mem/dirty_text.h), streamed from the stamps: an
 * open file keeps a cursor, never a copy.
 *
 * Who pays for what: the owner's read at offset 0 fetches the guest's
 * writes from KVM first (a cost in the region's size); anyone else's
 * does so at most once a second per region, so no other uid can make the
 * daemon walk KVM's log in a loop.  st_size is the text's length as of
 * the last fetch, known in O(1), so a stat by anyone costs nothing.
 */
#include "fs/node.h"

#include <errno.h>
#include <string.h>

/* How stale the guest's writes may be for a reader who is not the owner. */
#define HARVEST_SHARED_MS 1000

static bool may_harvest(fuse_req_t req, struct region *r)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	return ctx->uid == rfs.uid || ctx->uid == 0 ||
	       region__harvest_age_ms(r) >= HARVEST_SHARED_MS;
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
	/* Two reads of one open file must not move its cursor mutually. */
	pthread_mutex_lock(&h->lock);
	if (off == 0)
		ret = dirty_text__start(h->n.r, &h->cursor,
					may_harvest(req, h->n.r));
	if (!ret)
		ret = dirty_text__read(h->n.r, &h->cursor, buf, size,
				       (uint64_t)off, &n);
	pthread_mutex_unlock(&h->lock);
	/*
	 * Reply after unlocking, from the thread's own buffer: once the
	 * kernel has the bytes the reader may close, and the release may
	 * free h while this reply is still being written.
	 */
	if (ret) {
		fs_refuse("%s/dirty: read refused: %s", region__name(h->n.r),
			  ret == EBUSY ? "exclusivity held too long" :
			  strerror(ret));
		fuse_reply_err(req, ret);
		return;
	}
	fuse_reply_buf(req, buf, n);
}

static uint64_t dirty_size(struct handle *h)
{
	return dirty_text__size(h->n.r);
}

static void dirty_stat(struct node *n, struct stat *st)
{
	st->st_size = (off_t)dirty_text__size(n->r);
}

static int store_dirty(struct node *n, const char *val, struct why *why)
{
	struct region *r = n->r;
	int ret;

	if (strcmp(val, "0") != 0)
		return why__set(why, EINVAL, "write 0 to clear the record");
	ret = sandbox__dirty_clear(rfs.sb, r, why);
	if (!ret && why->msg[0])
		fs_log("%s/dirty: cleared, but it still counts every page as "
		       "written: %s", region__name(r), why->msg);
	return ret;
}

/* A control write: echo 0 > dirty clears the record (attributes' rules). */
static int dirty_write(struct handle *h, const char *buf, size_t size,
		       off_t off)
{
	return text__store(h, buf, size, off, store_dirty);
}

const struct node_ops dirty_ops = {
	.stat = dirty_stat,
	.read = dirty_read,
	.write = dirty_write,
	.size = dirty_size,
};
