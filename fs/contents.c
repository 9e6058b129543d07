/*
 * contents: the region's usable bytes.
 *
 * Read-only opens go through FUSE passthrough when the kernel allows it
 * (see passthrough.c): the kernel reads the memfd itself.  Every other
 * open is direct_io through the daemon, which holds the region shared for
 * the duration of one request.
 */
#include "fs/fs.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>


/* Guards every region's fs_backing_id, fs_backing_opens, fs_daemon_opens. */
static pthread_mutex_t backing_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Which path for this open.  The kernel refuses (EIO) an open that is not
 * passthrough while the inode is open for passthrough, and a passthrough
 * open of an inode open in caching mode; every passthrough open of it must
 * share one backing.  So the kind of the opens already there decides, and
 * counting them here, under one lock, at decision time, keeps every
 * decision consistent with the opens the kernel may still be completing:
 *   passthrough opens exist: passthrough (a writer too);
 *   daemon-path opens exist: the daemon (a reader too);
 *   none: readers passthrough, writers the daemon (which holds the region
 *   shared and answers ENOSPC past the end).
 * Counts drop at release, after the kernel closed the file: a stale count
 * only delays a switch of path until the last open of the old kind is gone.
 */
static bool want_passthrough(struct handle *h, int acc)
{
	struct region *r = h->r;
	bool pt;

	pthread_mutex_lock(&backing_lock);
	pt = rfs.passthrough && !rfs.no_passthrough &&
	     (r->fs_backing_opens > 0 ||
	      (r->fs_daemon_opens == 0 && acc == O_RDONLY));
	if (pt && !r->fs_backing_id) {
		int id = passthrough__open_backing(r);

		r->fs_backing_id = id > 0 ? id : 0;
		pt = r->fs_backing_id != 0;
	}
	if (pt) {
		r->fs_backing_opens++;
		h->backing_id = r->fs_backing_id;
		h->pt_writer = acc != O_RDONLY;
		/* Its writes never reach us: every page may be dirty. */
		if (h->pt_writer)
			region__dirty_hold(r);
	} else {
		r->fs_daemon_opens++;
	}
	pthread_mutex_unlock(&backing_lock);
	return pt;
}

int contents__open(fuse_req_t req, struct handle *h, struct fuse_file_info *fi)
{
	/*
	 * Passthrough readers (and writers) are lock-free observers, like
	 * the guest: they see the memory as it is, without taking the region
	 * shared.
	 */
	if (want_passthrough(h, fi->flags & O_ACCMODE))
		return passthrough__reply_open(req, fi, h->backing_id);
	/*
	 * Never the page cache: a read returns what the memory holds now.
	 * A reader that opened with O_DIRECT gets no direct_io flag, so the
	 * kernel may send its requests in parallel (async DIO).
	 */
	fi->direct_io = !(fi->flags & O_DIRECT);
	fi->keep_cache = 0;
	return fuse_reply_open(req, fi);
}

void contents__release(struct handle *h)
{
	struct region *r = h->r;
	int64_t cut;

	pthread_mutex_lock(&backing_lock);
	if (!h->backing_id) {
		r->fs_daemon_opens--;
		pthread_mutex_unlock(&backing_lock);
		return;
	}
	if (--r->fs_backing_opens == 0) {
		passthrough__close_backing(r->fs_backing_id);
		r->fs_backing_id = 0;
	}
	pthread_mutex_unlock(&backing_lock);
	/* A passthrough write past the end grew the memfd: take it back. */
	if (h->pt_writer) {
		region__dirty_release(r);
		cut = region__trim(r);
		if (cut > 0)
			fs_log("%s/contents: write past mem_size by a "
			       "passthrough writer refused: %lld bytes dropped "
			       "at close", r->name, (long long)cut);
	}
}

/*
 * The daemon's read path: pread from the memfd into a buffer of the worker
 * thread, then one write to /dev/fuse.  pread of a hole copies zeros
 * without allocating, so reading never costs memory.  The buffer lives as
 * long as the thread: a fresh 1 MiB buffer per request costs 256 page
 * faults, more than the copy itself.  (Replies pointing into the mapping
 * would fault holes in; splicing needs pipes larger than pipe-max-size for
 * 1 MiB requests.)
 */
#define READ_BUF_SIZE (1 << 20)	/* = max_read: the kernel never asks more */

static pthread_key_t buf_key;

static void free_buf(void *buf)
{
	munmap(buf, READ_BUF_SIZE);
}

int contents__init(void)
{
	return pthread_key_create(&buf_key, free_buf);
}

void *contents__reply_buf(size_t *size)
{
	void *buf = pthread_getspecific(buf_key);

	if (*size > READ_BUF_SIZE)
		*size = READ_BUF_SIZE;
	if (buf)
		return buf;
	buf = mmap(NULL, READ_BUF_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED)
		return NULL;
	pthread_setspecific(buf_key, buf);
	return buf;
}

void contents__read(fuse_req_t req, struct handle *h, size_t size, off_t off)
{
	struct region *r = h->r;
	ssize_t n;
	void *buf;
	int ret;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	buf = contents__reply_buf(&size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ret = region__shared_begin(r);
	if (ret) {
		fs_log("%s/contents: read refused: exclusivity held too long",
		       r->name);
		fuse_reply_err(req, ret);
		return;
	}
	n = 0;
	if ((uint64_t)off < r->mem_size) {
		if (size > r->mem_size - (uint64_t)off)
			size = r->mem_size - (uint64_t)off;
		n = pread(r->memfd, buf, size, off);
	}
	region__shared_end(r);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
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
