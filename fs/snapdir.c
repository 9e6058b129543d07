/*
 * snapshots/ and a snapshot's directory: snapshots/ lists the snapshots
 * (mkdir is refused: a snapshot is taken by writing its name to
 * snapshot; rmdir removes one whole); a snapshot's directory lists its
 * regions' copies, then its own files (snapfile.c).
 */
#include "fs/node.h"
#include "region/sandbox/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The link count, read without the table's lock. */
static void snapshots_stat(struct node *d, struct stat *st)
{
	(void)d;
	st->st_nlink = 2 + __atomic_load_n(&rfs.sb->snaps.nr,
					   __ATOMIC_ACQUIRE);
}

static int snapshots_lookup(struct node *d, const char *name,
			    fuse_ino_t *ino)
{
	struct snapshot *s;

	(void)d;
	s = snapshot__find(&rfs.sb->snaps, name);
	if (!s)
		return ENOENT;
	*ino = ino_dir(s->id);
	snapshot__put(s);
	return 0;
}

static bool snapshots_child(struct node *d, unsigned idx, char *name,
			    size_t len, fuse_ino_t *child, mode_t *mode)
{
	struct snapshot *s;

	(void)d;
	s = snapshot__nth(&rfs.sb->snaps, idx);
	if (!s)
		return false;
	snprintf(name, len, "%s", s->name);
	*child = ino_dir(s->id);
	*mode = S_IFDIR;
	snapshot__put(s);
	return true;
}

static int snapshots_mkdir(struct node *d, const char *name, fuse_ino_t *ino)
{
	(void)d, (void)ino;
	fs_refuse("mkdir %s refused: %s", name,
		  "write the name to snapshot to take one");
	return EPERM;
}

static int snapshots_rmdir(struct node *d, const char *name)
{
	struct why why = { "" };
	int ret;

	(void)d;
	ret = snapshot__remove(rfs.sb, name, &why);
	if (ret == EBUSY)
		fs_refuse("rmdir snapshots/%s refused: %s", name,
			  why__text(&why, ret));
	return ret;
}

const struct dir_ops snapshots_dir_ops = {
	.stat = snapshots_stat,
	.lookup = snapshots_lookup,
	.child = snapshots_child,
	.mkdir = snapshots_mkdir,
	.rmdir = snapshots_rmdir,
};

static void snapshot_stat(struct node *d, struct stat *st)
{
	struct snapshot *s = d->snap;

	st->st_nlink = 2 + s->nr;
	st->st_atim = st->st_mtim = st->st_ctim = s->created;
}

/* A region's copy, or one of the snapshot's own files. */
static int snapshot_lookup(struct node *d, const char *name, fuse_ino_t *ino)
{
	struct snapshot *s = d->snap;
	struct region *r;
	uint64_t id;
	int f;

	r = snapshot__region(s, name, &id);
	if (r) {
		region__put(r);
		*ino = ino_dir(id);
		return 0;
	}
	f = snapfile__lookup(s, name);
	if (f < 0)
		return ENOENT;
	*ino = ino_file(s->id, (unsigned)f);
	return 0;
}

/* Its regions, then its own files. */
static bool snapshot_child(struct node *d, unsigned idx, char *name,
			   size_t len, fuse_ino_t *child, mode_t *mode)
{
	struct snapshot *snap = d->snap;
	struct region *r;
	uint64_t id;

	*mode = S_IFDIR;
	r = snapshot__nth_region(snap, idx, &id);
	if (r) {
		snprintf(name, len, "%s", region__name(r));
		*child = ino_dir(id);
		region__put(r);
		return true;
	}
	if (idx < snap->nr || idx - snap->nr >= snapfile_count(snap))
		return false;
	snprintf(name, len, "%s", snap_files[idx - snap->nr]);
	*child = ino_file(snap->id, idx - snap->nr);
	*mode = S_IFREG;
	return true;
}

static int snapshot_rmdir(struct node *d, const char *name)
{
	struct snapshot *s = d->snap;

	fs_refuse("rmdir %s in snapshots/%s refused: a snapshot is removed "
		  "whole (rmdir snapshots/%s)", name, s->name, s->name);
	return EPERM;
}

const struct dir_ops snapshot_dir_ops = {
	.stat = snapshot_stat,
	.file = snapfile__node,
	.lookup = snapshot_lookup,
	.child = snapshot_child,
	.rmdir = snapshot_rmdir,
};
