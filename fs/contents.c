/*
 * contents: the region's usable bytes.
 *
 * Read-only opens go through FUSE passthrough when the kernel allows it
 * (see passthrough.c): the kernel reads the memfd itself.  Every other
 * open is direct_io through the daemon, which holds the region shared for
 * the duration of one request.
 */
#include "fs/node.h"
#include "fs/passthrough.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The passthrough state of one contents inode, as libfuse's
 * passthrough_hp keeps it in its Inode: the backing shared by every
 * passthrough open of it (the kernel wants one), and the opens of each
 * path.  Entries live while the inode has opens: at most one per open
 * file, found by hashing the inode number.
 */
struct pt_inode {
	fuse_ino_t ino;
	int backing_id;
	unsigned backing_opens;
	unsigned daemon_opens;
	struct pt_inode *next;
};

#define PT_BUCKETS 64

/* Guards the table and every entry. */
static pthread_mutex_t backing_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pt_inode *pt_table[PT_BUCKETS];

static struct pt_inode **pt_slot(fuse_ino_t ino)
{
	struct pt_inode **p = &pt_table[(ino >> INO_SHIFT) % PT_BUCKETS];

	while (*p && (*p)->ino != ino)
		p = &(*p)->next;
	return p;
}

static struct pt_inode *pt_get(fuse_ino_t ino)
{
	struct pt_inode **p = pt_slot(ino);

	if (!*p) {
		*p = calloc(1, sizeof(**p));
		if (*p)
			(*p)->ino = ino;
	}
	return *p;
}

static void pt_drop(fuse_ino_t ino)
{
	struct pt_inode **p = pt_slot(ino), *e = *p;

	if (e && !e->backing_opens && !e->daemon_opens) {
		*p = e->next;
		free(e);
	}
}

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
static int choose_path(struct handle *h, int acc, bool *pt)
{
	struct region *r = h->n.r;
	struct pt_inode *e;

	pthread_mutex_lock(&backing_lock);
	e = pt_get(h->n.ino);
	if (!e) {
		pthread_mutex_unlock(&backing_lock);
		return ENOMEM;
	}
	*pt = rfs.passthrough && !rfs.no_passthrough &&
	      (e->backing_opens > 0 ||
	       (e->daemon_opens == 0 && acc == O_RDONLY));
	if (*pt && !e->backing_id) {
		int id = passthrough__open_backing(r->memfd);

		e->backing_id = id > 0 ? id : 0;
		*pt = e->backing_id != 0;
	}
	if (*pt) {
		e->backing_opens++;
		h->backing_id = e->backing_id;
		h->pt_writer = acc != O_RDONLY;
		/* Its writes never reach us: every page may be dirty. */
		if (h->pt_writer)
			region__dirty_hold(r);
	} else {
		e->daemon_opens++;
	}
	pthread_mutex_unlock(&backing_lock);
	return 0;
}

static int contents_open(fuse_req_t req, struct handle *h,
			 struct fuse_file_info *fi)
{
	bool pt;
	int ret = choose_path(h, fi->flags & O_ACCMODE, &pt);

	if (ret)
		return ret;
	/*
	 * Passthrough readers (and writers) are lock-free observers, like
	 * the guest: they see the memory as it is, without taking the region
	 * shared.
	 */
	if (pt)
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

static void contents_release(struct handle *h)
{
	struct region *r = h->n.r;
	struct why why = { "" };
	struct pt_inode *e;
	uint64_t cut;
	int ret;

	pthread_mutex_lock(&backing_lock);
	e = *pt_slot(h->n.ino);
	if (e && !h->backing_id) {
		e->daemon_opens--;
	} else if (e && --e->backing_opens == 0) {
		passthrough__close_backing(e->backing_id);
		e->backing_id = 0;
	}
	pt_drop(h->n.ino);
	pthread_mutex_unlock(&backing_lock);
	if (!h->pt_writer)
		return;
	/* A passthrough write past the end grew the memfd: take it back. */
	region__dirty_release(r);
	ret = region__trim(r, &cut, &why);
	if (!ret && cut > 0)
		fs_log("%s/contents: write past mem_size by a passthrough "
		       "writer refused: %llu bytes dropped at close", r->name,
		       (unsigned long long)cut);
}

/*
 * The daemon's read path: pread from the memfd into the worker's reply
 * buffer, then one write to /dev/fuse.  pread of a hole copies zeros
 * without allocating, so reading never costs memory.  (Replies pointing
 * into the mapping would fault holes in; splicing needs pipes larger
 * than pipe-max-size for 1 MiB requests.)
 */
static void contents_read(fuse_req_t req, struct handle *h, size_t size,
			  off_t off)
{
	struct region *r = h->n.r;
	size_t n;
	void *buf;
	int ret;

	buf = fs_read_start(req, off, &size);
	if (!buf)
		return;
	ret = region__read(r, buf, size, (uint64_t)off, &n);
	if (ret == EBUSY)
		fs_log("%s/contents: read refused: exclusivity held too long",
		       r->name);
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_buf(req, buf, n);
}

static void contents_write(fuse_req_t req, struct handle *h, const char *buf,
			   size_t size, off_t off)
{
	size_t n;
	int ret;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ret = region__write(h->n.r, buf, size, (uint64_t)off, &n);
	if (ret) {
		fs_log("%s/contents: write of %zu bytes at %lld refused: %s",
		       h->n.r->name, size, (long long)off,
		       ret == ENOSPC ? "starts past mem_size" :
		       ret == EBUSY ? "exclusivity held too long" :
		       strerror(ret));
		fuse_reply_err(req, ret);
		return;
	}
	fuse_reply_write(req, n);
}

static void contents_lseek(fuse_req_t req, struct handle *h, off_t off,
			   int whence)
{
	uint64_t pos;
	int ret;

	if (off < 0) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	if (whence == SEEK_DATA)
		ret = region__seek_data(h->n.r, (uint64_t)off, &pos);
	else if (whence == SEEK_HOLE)
		ret = region__seek_hole(h->n.r, (uint64_t)off, &pos);
	else
		ret = EINVAL;
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_lseek(req, (off_t)pos);
}

static void contents_stat(struct node *n, struct stat *st)
{
	st->st_size = (off_t)region__mem_size(n->r);
	/* The memfd's real allocation: cp --sparse skips the rest. */
	st->st_blocks = (blkcnt_t)(region__resident(n->r) / 512);
	st->st_blksize = CONTENTS_BLKSIZE;
}

const struct node_ops contents_ops = {
	.stat = contents_stat,
	.open = contents_open,
	.read = contents_read,
	.write_data = contents_write,
	.lseek = contents_lseek,
	.release = contents_release,
};
