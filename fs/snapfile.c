/*
 * A snapshot's own files, vcpu_state, info and console: made once when it
 * was taken (region/sandbox/snapfiles.c) and never changed, so a read at
 * any offset serves the bytes there.  Like contents, they are the owner's
 * and the reader group's: the registers and the console hold what the
 * memory does.
 */
#include "fs/node.h"
#include "region/kvm/vcpu.h"
#include "region/sandbox/snaps.h"

#include <errno.h>
#include <string.h>

const char *const snap_files[SF_COUNT] = {
	[SF_VCPU_STATE] = "vcpu_state",
	[SF_INFO] = "info",
	[SF_CONSOLE] = "console",
	[SF_PARENT] = "parent",
};

int snapfile__lookup(const struct snapshot *s, const char *name)
{
	for (unsigned i = 0; i < snapfile_count(s); i++)
		if (strcmp(snap_files[i], name) == 0)
			return (int)i;
	return -1;
}

/*
 * The bytes of the file; info's checksums are made at its first read
 * (snaps.h), which may fail (*err).  Its length is known without them.
 */
static const void *bytes(struct node *n, size_t *len, bool read, int *err)
{
	const char *text;

	*err = 0;
	if (n->file == SF_VCPU_STATE) {
		*len = n->snap->state_len;
		return n->snap->state_file;
	}
	if (n->file == SF_CONSOLE)
		return vcpu__saved_console(n->snap->cpu, len);
	if (n->file == SF_PARENT) {
		*len = n->snap->parent_len;
		return n->snap->parent_file;
	}
	*len = n->snap->info_len;
	if (!read)
		return NULL;
	*err = snapshot__info(n->snap, &text, len);
	return text;
}

bool snapfile__node(struct node *d, fuse_ino_t ino, struct node *n)
{
	int f = ino_file_index(ino);
	struct snapshot *s = d->snap;

	if (f < 0 || (unsigned)f >= snapfile_count(s))
		return false;	/* parent: a diff's only */
	*n = (struct node){
		.ino = ino,
		.name = snap_files[f],
		.ops = &snapfile_ops,
		.snap = s,
		.file = (unsigned)f,
		.mode = 0400,
		.readable = true,
	};
	d->snap = NULL;	/* its reference is n's now */
	return true;
}

static void snapfile_stat(struct node *n, struct stat *st)
{
	size_t len;
	int err;

	bytes(n, &len, false, &err);
	st->st_size = (off_t)len;
	st->st_atim = st->st_mtim = st->st_ctim = n->snap->created;
}

/* From the worker's buffer: the snapshot may go once the reader has them. */
static void snapfile_read(fuse_req_t req, struct handle *h, size_t size,
			  off_t off)
{
	size_t len;
	int err;
	const char *p = bytes(&h->n, &len, true, &err);
	char *buf = fs_read_start(req, off, &size);

	if (!buf)
		return;
	if (err) {
		fs_log("%s of snapshot %s: cannot make its checksums: %s",
		       h->n.name, h->n.snap->name, strerror(err));
		fuse_reply_err(req, EIO);
		return;
	}
	if ((uint64_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	memcpy(buf, p + off, size);
	fuse_reply_buf(req, buf, size);
}

static uint64_t snapfile_size(struct handle *h)
{
	size_t len;
	int err;

	bytes(&h->n, &len, false, &err);
	return len;
}

const struct node_ops snapfile_ops = {
	.stat = snapfile_stat,
	.read = snapfile_read,
	.size = snapfile_size,
};
