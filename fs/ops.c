/*
 * The low-level operations table, and the handlers of open files: each
 * resolves its node once at open and then calls the node's ops (node.h).
 * Every handler sends exactly one reply.
 */
#include "fs/node.h"
#include "fs/ops.h"
#include "fs/passthrough.h"
#include "fs/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static struct handle *handle_of(struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

/*
 * Open handles.  When the last one closes, what the opens took (handles,
 * renderings) is handed back to the system: malloc keeps freed memory in
 * its arenas otherwise, so 20,000 opens by another uid would leave the
 * daemon's RSS up after they closed.  At most once a second, whoever
 * opens and closes: a trim walks the arenas.
 */
#define TRIM_EVERY_MS 1000
static atomic_uint open_handles;
static _Atomic uint64_t trimmed_ms;

static void trim_if_due(void)
{
	uint64_t now = fs_mono_ms(), last = atomic_load(&trimmed_ms);

	if (now - last >= TRIM_EVERY_MS &&
	    atomic_compare_exchange_strong(&trimmed_ms, &last, now))
		malloc_trim(0);
}

/* What release undoes; also for an open whose reply found it gone. */
static void drop_handle(struct handle *h)
{
	if (h->n.ops->release)
		h->n.ops->release(h);
	node__put(&h->n);
	pthread_mutex_destroy(&h->lock);
	free(h);
	if (atomic_fetch_sub(&open_handles, 1) == 1)
		trim_if_due();
}

static const char *acc_name(int acc)
{
	return acc == O_RDONLY ? "reading" : acc == O_WRONLY ? "writing" :
	       "reading and writing";
}

/* The ABI of the file, whatever the mode bits let through (root passes them). */
static int check_open(struct node *n, int acc)
{
	const char *file = n->name, *dir = n->r ? region__name(n->r) : NULL;

	if ((acc != O_WRONLY && !n->readable) ||
	    (acc != O_RDONLY && !n->writable)) {
		fs_refuse("%s%s%s: open for %s refused: the file is %s",
			  dir ? dir : "", dir ? "/" : "", file, acc_name(acc),
			  n->readable ? "read-only" : "write-only");
		return EACCES;
	}
	if (acc != O_RDONLY && n->r && region__readonly(n->r)) {
		fs_refuse("%s/%s: open for writing refused: the region is "
			  "readonly (a snapshot's copy)", dir, file);
		return EPERM;
	}
	return 0;
}

static void ops_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h;
	struct node n;
	int ret;

	/* Its refusals are said to the caller's session too (why.c). */
	fs_caller_begin(req);
	ret = node__get(ino, &n);
	if (!ret && n.dir)
		ret = EISDIR;
	if (!ret)
		ret = check_open(&n, fi->flags & O_ACCMODE);
	h = ret ? NULL : calloc(1, sizeof(*h));
	if (!ret && !h)
		ret = ENOMEM;
	if (h)
		atomic_fetch_add(&open_handles, 1);
	if (ret) {
		fs_caller_end();
		node__put(&n);
		fuse_reply_err(req, ret);
		return;
	}
	h->n = n;
	/* Two requests on one open file: a kind that keeps state locks it. */
	pthread_mutex_init(&h->lock, NULL);
	fi->fh = (uint64_t)(uintptr_t)h;
	if (h->n.ops->open) {
		ret = h->n.ops->open(req, h, fi);
	} else {
		/* Generated text: never cached, rendered at offset 0. */
		fi->direct_io = 1;
		ret = fuse_reply_open(req, fi);
	}
	fs_caller_end();
	if (ret > 0)
		fuse_reply_err(req, ret);
	/*
	 * A failed reply: -ENOENT, the open was interrupted and the kernel
	 * dropped it (libfuse's high-level API releases then too); any other,
	 * the kernel refused the reply or the connection is gone.  Either
	 * way no file was made, so no release will come.
	 */
	if (ret != 0)
		drop_handle(h);
}

static void ops_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);

	(void)ino;
	metrics__count(&h->n, false, size);
	/* Whose a refusal's log line is (regs while the vCPU runs, ...). */
	fs_caller_begin(req);
	if (h->n.ops->read)
		h->n.ops->read(req, h, size, off);
	else
		fuse_reply_buf(req, NULL, 0);	/* write-only: reads empty */
	fs_caller_end();
}

static void ops_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		      size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	int ret;

	(void)ino;
	metrics__count(&h->n, true, size);
	fs_caller_begin(req);
	if (h->n.ops->write_data) {
		h->n.ops->write_data(req, h, buf, size, off);
		fs_caller_end();
		return;
	}
	ret = h->n.ops->write ? h->n.ops->write(h, buf, size, off) : EBADF;
	fs_caller_end();
	metrics__control(&h->n, ret);
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_write(req, size);
}

static void ops_release(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	(void)ino;
	drop_handle(handle_of(fi));
	fuse_reply_err(req, 0);
}

static void ops_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		      struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	uint64_t size;

	(void)ino;
	if (h->n.ops->lseek) {
		fs_caller_begin(req);
		h->n.ops->lseek(req, h, off, whence);
		fs_caller_end();
		return;
	}
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/*
	 * Generated files hold no holes: data from 0 to their end, which is
	 * their current length (cp's sparse copy asks; lseek(2) semantics:
	 * ENXIO at or past the end).
	 */
	size = h->n.ops->size ? h->n.ops->size(h) : 0;
	if (off < 0 || (uint64_t)off >= size)
		fuse_reply_err(req, ENXIO);
	else
		fuse_reply_lseek(req, whence == SEEK_DATA ? off : (off_t)size);
}

static void ops_init(void *userdata, struct fuse_conn_info *conn)
{
	char spliced[160];
	const char *daemon;

	(void)userdata;
	/* echo 1 > zero: O_TRUNC arrives with the open, no separate setattr. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Whole-MiB requests: fewer round trips for dd bs=1M and cp. */
	conn->max_write = 1 << 20;
	conn->max_read = rfs.max_read;	/* what main passed as -o max_read */
	conn->max_readahead = 1 << 20;
	/*
	 * The daemon path's contents reads splice from the memfd: the
	 * kernel copies the pages once, straight into the reader's buffer.
	 * Not SPLICE_MOVE: nothing of the memfd may be given away.  Said
	 * below, on the line that says which path is in use.
	 */
	if (rfs.splice_max && (conn->capable & FUSE_CAP_SPLICE_WRITE))
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	else
		rfs.splice_max = 0;
	if (!rfs.splice_max)
		daemon = "are copied through a buffer: no splice here, or "
			 "pipes too small (pipe-max-size)";
	else if (rfs.max_read) {
		snprintf(spliced, sizeof(spliced), "are spliced from the memfd, "
			 "in requests of at most %u KiB (what a pipe of "
			 "pipe-max-size holds)", rfs.max_read / 1024);
		daemon = spliced;
	} else
		daemon = "are spliced from the memfd";
	/* One line says which path serves contents, and how. */
	fs_log("contents read path: %s; daemon reads %s",
	       passthrough__init(conn), daemon);
}

const struct fuse_lowlevel_ops rfs_ops = {
	.init = ops_init,
	.lookup = tree__lookup,
	.getattr = tree__getattr,
	.setattr = tree__setattr,
	.mknod = tree__mknod,
	.mkdir = tree__mkdir,
	.unlink = tree__unlink,
	.rmdir = tree__rmdir,
	.rename = tree__rename,
	.symlink = tree__symlink,
	.link = tree__link,
	.open = ops_open,
	.read = ops_read,
	.write = ops_write,
	.release = ops_release,
	.opendir = tree__opendir,
	.readdir = tree__readdir,
	.statfs = tree__statfs,
	.create = tree__create,
	.lseek = ops_lseek,
};
