/*
 * log: the daemon's last log lines (a ring of LOG_RING_SIZE bytes, oldest
 * dropped), read live at any offset like console, so `tail MOUNT/log`
 * shows why the last write failed, from the host or from a container.
 */
#include "fs/node.h"

static void log_read(fuse_req_t req, struct handle *h, size_t size, off_t off)
{
	char *buf;

	size_t n;

	buf = fs_read_start(req, off, &size);
	if (!buf)
		return;
	pthread_mutex_lock(&h->lock);
	n = fs_log_read(buf, size, (uint64_t)off, &h->reader);
	pthread_mutex_unlock(&h->lock);
	fuse_reply_buf(req, buf, n);
}

static uint64_t log_size(struct handle *h)
{
	(void)h;
	return fs_log_end();
}

static void log_stat(struct node *n, struct stat *st)
{
	(void)n;
	st->st_size = (off_t)fs_log_end();
}

const struct node_ops log_ops = {
	.stat = log_stat,
	.read = log_read,
	.size = log_size,
};
