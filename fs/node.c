/* Resolving inode numbers to nodes (node.h), and their common stat. */
#include "fs/node.h"

#include <errno.h>
#include <string.h>

struct region *node__region(uint64_t id)
{
	struct region *r = sandbox__find_id(rfs.sb, id);

	return r ? r : snapshot__find_region_id(&rfs.sb->snaps, id);
}

/* A region's file f: its ops, and what its ABI lets an open ask for. */
static void region_file(struct node *n, struct region *r, unsigned f)
{
	const struct attr_desc *d = &attr_files[f];

	n->r = r;
	n->file = f;
	n->name = d->name;
	n->ops = d->ops ? d->ops : &attr_ops;
	n->mode = d->mode;
	/*
	 * Every file reads (a control file reads empty), so cp -r, rsync -a,
	 * tar and diff -r copy a region whole; mode bits keep others out.
	 */
	n->readable = true;
	n->writable = d->store ||
		      (d->ops && (d->ops->write_data || d->ops->write));
}

int node__get(fuse_ino_t ino, struct node *n)
{
	struct region *r;
	int f;

	memset(n, 0, sizeof(*n));
	if (root__node(ino, n))
		return 0;
	f = ino_top_dir(ino) ? -1 : ino_file_index(ino);
	if (f < 0)
		return EISDIR;
	if (f >= F_COUNT)
		return ENOENT;
	r = node__region(ino_id(ino));
	if (!r)
		return snapfile__node(ino, n) ? 0 : ENOENT;
	n->ino = ino;
	region_file(n, r, (unsigned)f);
	return 0;
}

void node__put(struct node *n)
{
	region__put(n->r);
	n->r = NULL;
	snapshot__put(n->snap);
	n->snap = NULL;
}

void node__stat(struct node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = S_IFREG | n->mode;
	st->st_nlink = 1;
	st->st_uid = rfs.uid;
	st->st_gid = rfs.gid;
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = rfs.started;
	/*
	 * A region's files change when an attribute does (mapping, access,
	 * size, a clear of dirty) or its bytes do: ctime is the later.
	 */
	if (n->r) {
		region__times(n->r, &st->st_mtim, &st->st_ctim);
		st->st_mtim = st->st_ctim;
		st->st_atim = n->r->created;
	}
	/* A readonly region (a snapshot's copy) takes no writes. */
	if (n->r && n->r->readonly)
		st->st_mode &= ~(mode_t)0222;
	/*
	 * The owner's secrets (memory, host addresses, the console) are
	 * shared with the reader group only: it is the file's group, with
	 * read permission.
	 */
	if (rfs.has_reader_gid && !(n->mode & 0004) && (n->mode & 0400)) {
		st->st_gid = rfs.reader_gid;
		st->st_mode |= 0040;
	}
	n->ops->stat(n, st);
	/*
	 * Generated, not sparse: cp reads it rather than seek for holes.
	 * Files that seek for their holes (contents, pmem, core) count
	 * their blocks themselves.
	 */
	if (!st->st_blocks && !n->ops->lseek)
		st->st_blocks = (st->st_size + 511) / 512;
}
