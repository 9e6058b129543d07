/* Resolving inode numbers to nodes (node.h), and their common stat. */
#include "fs/node.h"

#include <errno.h>
#include <string.h>

/* A live region or a snapshot's copy, by id. */
static struct region *node__region(uint64_t id)
{
	struct region *r = sandbox__find_id(rfs.sb, id);

	return r ? r : snapshot__find_region_id(&rfs.sb->snaps, id);
}

/*
 * The directory ino by its number: the root, snapshots/, or the id's
 * region or snapshot.  0, ENOENT (gone), or ENOTDIR (a file's number).
 */
static int dir_get(fuse_ino_t ino, struct node *d)
{
	struct region *r;
	struct snapshot *s;

	memset(d, 0, sizeof(*d));
	d->ino = ino;
	d->mode = 0755;
	if (ino == FS_ROOT_INO) {
		d->name = "/";
		d->dir = &root_dir_ops;
		return 0;
	}
	if (ino == FS_SNAPSHOTS_INO) {
		d->name = "snapshots";
		d->dir = &snapshots_dir_ops;
		return 0;
	}
	if (ino_file_index(ino) != -1)
		return ENOTDIR;
	r = node__region(ino_id(ino));
	if (r) {
		d->name = region__name(r);
		d->r = r;
		d->dir = &region_dir_ops;
		return 0;
	}
	s = snapshot__find_id(&rfs.sb->snaps, ino_id(ino));
	if (!s)
		return ENOENT;
	d->name = s->name;
	d->snap = s;
	d->dir = &snapshot_dir_ops;
	return 0;
}

int node__get(fuse_ino_t ino, struct node *n)
{
	struct node d;
	int ret;

	if (ino_top_dir(ino) || ino_file_index(ino) == -1)
		return dir_get(ino, n);
	/* A file: its directory's table says what it is. */
	memset(n, 0, sizeof(*n));
	ret = dir_get(ino_id(ino) ? ino_dir(ino_id(ino)) : FS_ROOT_INO, &d);
	if (!ret && !(d.dir->file && d.dir->file(&d, ino, n)))
		ret = ENOENT;
	node__put(&d);
	return ret;
}

void node__put(struct node *n)
{
	region__put(n->r);
	n->r = NULL;
	snapshot__put(n->snap);
	n->snap = NULL;
}

void node__stat_dir(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = 2;
	st->st_uid = rfs.uid;
	st->st_gid = rfs.gid;
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = rfs.started;
}

void node__stat(struct node *n, struct stat *st)
{
	if (n->dir) {
		node__stat_dir(n->ino, st);
		n->dir->stat(n, st);
		return;
	}
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
		st->st_atim = region__created(n->r);
	}
	/* A readonly region (a snapshot's copy) takes no writes. */
	if (n->r && region__readonly(n->r))
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
