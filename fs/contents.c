/*
 * contents: the region's usable bytes.
 *
 * Read-only opens go through FUSE passthrough when the kernel allows it
 * (see passthrough.c): the kernel reads the memfd itself.  Every other
 * open is direct_io through the daemon, which holds the region shared for
 * the duration of one request.  The daemon's read replies point into the
 * mapping (one copy, by the kernel), and holes are answered from a zero
 * buffer without ever touching them, so reading never allocates memory.
 */
#include "fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

/*
 * One reply never exceeds max_read (1 MiB); a read is cut into at most
 * this many data and hole segments, past which it is copied instead.
 */
#define READ_MAX_SEGS 64
#define ZEROS_LEN (1 << 20)

static const uint8_t *zeros;

int contents__init(void)
{
	/* Never written: every page of it is the kernel's zero page. */
	void *p = mmap(NULL, ZEROS_LEN, PROT_READ,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return errno;
	zeros = p;
	return 0;
}

void contents__open(fuse_req_t req, struct handle *h, struct fuse_file_info *fi)
{
	int acc = fi->flags & O_ACCMODE;

	/*
	 * Passthrough readers are lock-free observers, like the guest:
	 * they see the memory as it is, without taking the region shared.
	 */
	if (acc == O_RDONLY && rfs.passthrough && !rfs.no_passthrough) {
		h->backing_id = passthrough__open_backing(h->r);
		if (h->backing_id > 0) {
			passthrough__reply_open(req, fi, h->backing_id);
			return;
		}
		h->backing_id = 0;
	}
	/*
	 * Never the page cache: a read returns what the memory holds now.
	 * A reader that opened with O_DIRECT gets no direct_io flag, so the
	 * kernel may send its requests in parallel (async DIO).
	 */
	fi->direct_io = !(fi->flags & O_DIRECT);
	fi->keep_cache = 0;
	fuse_reply_open(req, fi);
}

void contents__release(struct handle *h)
{
	if (h->backing_id > 0)
		passthrough__close_backing(h->backing_id);
}

/* Copy path for fragmented ranges: pread of the memfd leaves holes holes. */
static void read_copy(fuse_req_t req, struct region *r, size_t size,
		      uint64_t off)
{
	char *buf = malloc(size);
	ssize_t n;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = pread(r->memfd, buf, size, (off_t)off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

void contents__read(fuse_req_t req, struct handle *h, size_t size, off_t off)
{
	struct region *r = h->r;
	struct iovec iov[READ_MAX_SEGS];
	uint64_t pos, end;
	int n = 0, ret;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ret = region__shared_begin(r);
	if (ret) {
		fs_log("%s/contents: read refused: exclusivity held too long",
		       r->name);
		fuse_reply_err(req, ret);
		return;
	}
	if ((uint64_t)off >= r->mem_size || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		goto out;
	}
	if (size > ZEROS_LEN)
		size = ZEROS_LEN;
	if (size > r->mem_size - (uint64_t)off)
		size = r->mem_size - (uint64_t)off;
	pos = (uint64_t)off;
	end = pos + size;
	while (pos < end) {
		int64_t data = region__seek_data(r, pos);
		uint64_t stop;

		if (n == READ_MAX_SEGS) {
			read_copy(req, r, size, (uint64_t)off);
			goto out;
		}
		if (data < 0 || (uint64_t)data >= end)
			data = (int64_t)end;	/* a hole to the end */
		if ((uint64_t)data > pos) {
			iov[n].iov_base = (void *)zeros;
			iov[n].iov_len = (uint64_t)data - pos;
			n++;
			pos = (uint64_t)data;
			continue;
		}
		stop = (uint64_t)region__seek_hole(r, pos);
		if ((int64_t)stop < 0 || stop > end)
			stop = end;
		iov[n].iov_base = region__base_addr(r) + pos;
		iov[n].iov_len = stop - pos;
		n++;
		pos = stop;
	}
	fuse_reply_iov(req, iov, n);
out:
	region__shared_end(r);
}

void contents__write(fuse_req_t req, struct handle *h, const char *buf,
		     size_t size, off_t off)
{
	ssize_t n;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	n = region__write(h->r, buf, size, (uint64_t)off);
	if (n < 0) {
		fs_log("%s/contents: write of %zu bytes at %lld refused: %s",
		       h->r->name, size, (long long)off,
		       n == -ENOSPC ? "starts past mem_size" :
		       n == -EBUSY ? "exclusivity held too long" :
		       strerror((int)-n));
		fuse_reply_err(req, (int)-n);
		return;
	}
	fuse_reply_write(req, (size_t)n);
}

void contents__lseek(fuse_req_t req, struct handle *h, off_t off, int whence)
{
	int64_t pos;

	if (off < 0) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	switch (whence) {
	case SEEK_DATA:
		pos = region__seek_data(h->r, (uint64_t)off);
		break;
	case SEEK_HOLE:
		pos = region__seek_hole(h->r, (uint64_t)off);
		break;
	default:
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (pos < 0)
		fuse_reply_err(req, (int)-pos);
	else
		fuse_reply_lseek(req, pos);
}
