/*
 * console: what the guest wrote to port 0xE9, read live at any offset (its
 * size grows as the guest prints, so tail -f follows it).
 */
#include "fs/node.h"
#include "region/kvm/vcpu.h"

#include <errno.h>

static uint64_t console_end(void)
{
	return rfs.vcpu ? vcpu__console_end(rfs.vcpu) : 0;
}

static void console_read(fuse_req_t req, struct handle *h, size_t size,
			 off_t off)
{
	char *buf;

	size_t n = 0;

	buf = fs_read_start(req, off, &size);
	if (!buf)
		return;
	pthread_mutex_lock(&h->lock);
	if (rfs.vcpu)
		n = vcpu__console_read(rfs.vcpu, buf, size, (uint64_t)off,
				       &h->reader);
	pthread_mutex_unlock(&h->lock);
	fuse_reply_buf(req, buf, n);
}

static uint64_t console_size(struct handle *h)
{
	(void)h;
	return console_end();
}

static void console_stat(struct node *n, struct stat *st)
{
	(void)n;
	st->st_size = (off_t)console_end();
}

const struct node_ops console_ops = {
	.stat = console_stat,
	.read = console_read,
	.size = console_size,
};
