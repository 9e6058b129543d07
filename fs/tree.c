/*
 * The tree: the root, region directories, snapshots/ and each snapshot's
 * directory; lookup, getattr, readdir, and the directory operations
 * (mkdir and rmdir make and remove regions; the rest is refused).
 */
#include "fs/node.h"
#include "fs/tree.h"
#include "region/sandbox/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void stat_dir(fuse_ino_t ino, struct stat *st)
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

static void stat_snapshot(struct snapshot *s, struct stat *st)
{
	stat_dir(ino_dir(s->id), st);
	st->st_nlink = 2 + s->nr;
	st->st_atim = st->st_mtim = st->st_ctim = s->created;
}

static void stat_region_dir(struct region *r, uint64_t id, struct stat *st)
{
	stat_dir(ino_dir(id), st);
	st->st_atim = st->st_mtim = st->st_ctim = r->created;
}

/* A directory that is a region's or a snapshot's: 0 or ENOENT. */
static int stat_id_dir(uint64_t id, struct stat *st)
{
	struct region *r = node__region(id);
	struct snapshot *s;

	if (r) {
		stat_region_dir(r, id, st);
		region__put(r);
		return 0;
	}
	s = snapshot__find_id(&rfs.sb->snaps, id);
	if (!s)
		return ENOENT;
	stat_snapshot(s, st);
	snapshot__put(s);
	return 0;
}

int tree__stat(fuse_ino_t ino, struct stat *st)
{
	struct node n;
	int ret;

	if (ino == FS_ROOT_INO) {
		stat_dir(FS_ROOT_INO, st);
		/* snapshots/ too; counts read without the tables' locks. */
		st->st_nlink = 3 + __atomic_load_n(&rfs.sb->nr, __ATOMIC_ACQUIRE);
		return 0;
	}
	if (ino == FS_SNAPSHOTS_INO) {
		stat_dir(ino, st);
		st->st_nlink = 2 + __atomic_load_n(&rfs.sb->snaps.nr,
						   __ATOMIC_ACQUIRE);
		return 0;
	}
	ret = node__get(ino, &n);
	if (ret == EISDIR)
		return stat_id_dir(ino_id(ino), st);
	if (ret)
		return ret;
	node__stat(&n, st);
	node__put(&n);
	return 0;
}

/*
 * How long the kernel may keep a name and its attributes.  None for the
 * rest: sizes, modes and the set of regions change under control writes,
 * and a stat must be honest.  snapshot and restore never change (root's
 * names, attributes the mount's: size 0, its start time), and keeping
 * them saves `echo NAME > restore` a LOOKUP and a GETATTR.  The root's
 * attributes change only with its link count, by mkdir and rmdir of a
 * region, which come through the kernel (regions made at start are there
 * before the mount), and the kernel forgets a directory's attributes
 * when it makes or removes one in it: keeping them saves every path
 * walk through the mount a GETATTR (its permission check).
 */
#define FS_CONSTANT_TIMEOUT_S 86400.0

static double timeout_of(fuse_ino_t ino)
{
	return ino == FS_ROOT_INO || ino == FS_SNAPSHOT_INO ||
	       ino == FS_RESTORE_INO ? FS_CONSTANT_TIMEOUT_S : 0;
}

static void reply_entry(fuse_req_t req, const struct stat *st)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = st->st_ino;
	e.attr = *st;
	e.attr_timeout = timeout_of(st->st_ino);
	e.entry_timeout = timeout_of(st->st_ino);
	fuse_reply_entry(req, &e);
}

/* The inode of name in the root: a file, snapshots/, or a region. */
static int lookup_root(const char *name, fuse_ino_t *ino)
{
	struct region *r;
	uint64_t id;

	*ino = root__lookup(name);
	if (*ino)
		return 0;
	if (strcmp(name, "snapshots") == 0) {
		*ino = FS_SNAPSHOTS_INO;
		return 0;
	}
	r = sandbox__find(rfs.sb, name, &id);
	if (!r)
		return ENOENT;
	region__put(r);
	*ino = ino_dir(id);
	return 0;
}

/* A snapshot in snapshots/, or a region's copy in a snapshot. */
static int lookup_snapshot(fuse_ino_t parent, const char *name,
			   fuse_ino_t *ino)
{
	struct snapshot *s;
	struct region *r;
	uint64_t id;
	int f;

	if (parent == FS_SNAPSHOTS_INO) {
		s = snapshot__find(&rfs.sb->snaps, name);
		if (!s)
			return ENOENT;
		*ino = ino_dir(s->id);
		snapshot__put(s);
		return 0;
	}
	s = snapshot__find_id(&rfs.sb->snaps, ino_id(parent));
	if (!s)
		return ENOTDIR;	/* not a snapshot: a region directory */
	r = snapshot__region(s, name, &id);
	f = r ? -1 : snapfile__lookup(s, name);
	if (f >= 0)
		*ino = ino_file(s->id, (unsigned)f);
	snapshot__put(s);
	if (f >= 0)
		return 0;
	if (!r)
		return ENOENT;
	region__put(r);
	*ino = ino_dir(id);
	return 0;
}

void tree__lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct stat st;
	fuse_ino_t ino;
	int f, ret;

	if (parent == FS_ROOT_INO) {
		ret = lookup_root(name, &ino);
	} else if (!ino_top_dir(parent) && ino_file_index(parent) != -1) {
		ret = ENOTDIR;
	} else {
		ret = lookup_snapshot(parent, name, &ino);
		if (ret == ENOTDIR) {
			/* A region directory: one of its files. */
			f = attr__lookup(name);
			ret = f < 0 ? ENOENT : 0;
			ino = f < 0 ? 0 : ino_file(ino_id(parent), (unsigned)f);
		}
	}
	if (!ret)
		ret = tree__stat(ino, &st);
	if (ret)
		fuse_reply_err(req, ret);
	else
		reply_entry(req, &st);
}

void tree__getattr(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	struct stat st;
	int ret;

	(void)fi;
	ret = tree__stat(ino, &st);
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_attr(req, &st, timeout_of(ino));
}

/*
 * A truncate of a file: contents zeroes from the size on (and keeps its
 * size); O_TRUNC of a control or attribute file (echo 1 > zero) changes
 * nothing; any other size is EPERM.
 */
static int truncate_node(struct node *n, off_t size)
{
	if (n->ops->truncate)
		return n->ops->truncate(n, size);
	if (size == 0)
		return 0;
	if (!n->r)
		fs_refuse("truncate of %s refused: only O_TRUNC", n->name);
	else
		fs_refuse("%s/%s: truncate to %lld refused: attribute files "
			  "take O_TRUNC only", n->r->name, n->name,
			  (long long)size);
	return EPERM;
}

/* "r/contents", "vcpu", or the directory's inode: for the log. */
static void describe(fuse_ino_t ino, char *buf, size_t len)
{
	struct node n;

	if (node__get(ino, &n)) {
		snprintf(buf, len, "directory (inode %lu)", (unsigned long)ino);
		return;
	}
	snprintf(buf, len, "%s%s%s", n.r ? n.r->name : "", n.r ? "/" : "",
		 n.name);
	node__put(&n);
}

/*
 * Owners and modes are the mount's (uid=, gid=, reader_gid=), times the
 * daemon's (they say when the memory changed): no file here can take
 * others.  The owner's chmod, chown or utimens is accepted and ignored
 * with one log line, as vfat's "quiet" does, so that cp -a and rsync -a
 * --inplace, which set them after the bytes, load contents and exit 0.
 * Anyone else's that would change something is EPERM (the kernel's
 * default_permissions refuses most of them first; root passes it).
 */
static int check_owner_mode(fuse_req_t req, fuse_ino_t ino,
			    const struct stat *attr, int to_set,
			    const struct stat *st)
{
	const int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
			  FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW;
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char what[96] = "", file[REGION_NAME_MAX + 64];
	size_t n = 0;

	if ((to_set & FUSE_SET_ATTR_MODE) &&
	    (attr->st_mode & 07777) != (st->st_mode & 07777))
		n += (size_t)snprintf(what + n, sizeof(what) - n, ", mode %04o",
				      (unsigned)(attr->st_mode & 07777));
	if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != st->st_uid)
		n += (size_t)snprintf(what + n, sizeof(what) - n, ", owner %u",
				      (unsigned)attr->st_uid);
	if ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != st->st_gid)
		n += (size_t)snprintf(what + n, sizeof(what) - n, ", group %u",
				      (unsigned)attr->st_gid);
	if (to_set & times)
		n += (size_t)snprintf(what + n, sizeof(what) - n, ", times");
	if (!n)
		return 0;
	describe(ino, file, sizeof(file));
	if (ctx->uid == rfs.uid || ctx->uid == 0) {
		fs_log("%s: %s ignored (owners, modes and times are the "
		       "mount's: uid=, gid=, reader_gid=, and the memory's)",
		       file, what + 2);
		return 0;
	}
	fs_refuse("%s: setting %s refused: only the owner may (uid %u), and "
	       "the owner's is ignored", file, what + 2, (unsigned)rfs.uid);
	return EPERM;
}

/*
 * A truncate (contents: zeroes from the size on) after the owner, mode
 * and times, which are never changed.
 */
void tree__setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		   int to_set, struct fuse_file_info *fi)
{
	struct stat st;
	struct node n;
	int ret;

	(void)fi;
	fs_caller_begin(req);
	ret = tree__stat(ino, &st);
	if (!ret)
		ret = check_owner_mode(req, ino, attr, to_set, &st);
	if (!ret && (to_set & FUSE_SET_ATTR_SIZE)) {
		ret = node__get(ino, &n);
		if (!ret) {
			ret = truncate_node(&n, attr->st_size);
			node__put(&n);
		}
		if (!ret)
			ret = tree__stat(ino, &st);
	}
	fs_caller_end();
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_attr(req, &st, 0);
}

void tree__mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode)
{
	struct why why = { "" };
	struct stat st;
	uint64_t id;
	int ret;

	(void)mode;
	fs_caller_begin(req);
	if (parent != FS_ROOT_INO) {
		fs_refuse("mkdir %s refused: %s", name,
			  parent == FS_SNAPSHOTS_INO ?
			  "write the name to snapshot to take one" :
			  "regions live at the root");
		fs_caller_end();
		fuse_reply_err(req, EPERM);
		return;
	}
	ret = sandbox__create(rfs.sb, name, rfs.default_size, &id, &why);
	if (ret)
		fs_refuse("mkdir %s refused: %s", name, why__text(&why, ret));
	metrics__changed();	/* after the change: a rendering before it is stale */
	fs_caller_end();
	if (ret) {
		fuse_reply_err(req, ret);
		return;
	}
	stat_dir(ino_dir(id), &st);
	reply_entry(req, &st);
}

/* rmdir in a snapshot's directory, or of a name that is not a region. */
static int rmdir_other(fuse_ino_t parent, const char *name)
{
	struct snapshot *s = snapshot__find_id(&rfs.sb->snaps, ino_id(parent));

	if (!s)
		return ENOTDIR;
	fs_refuse("rmdir %s in snapshots/%s refused: a snapshot is removed "
		  "whole (rmdir snapshots/%s)", name, s->name, s->name);
	snapshot__put(s);
	return EPERM;
}

void tree__rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct why why = { "" };
	int ret;

	fs_caller_begin(req);
	if (parent == FS_SNAPSHOTS_INO) {
		ret = snapshot__remove(rfs.sb, name, &why);
		if (ret == EBUSY)
			fs_refuse("rmdir snapshots/%s refused: %s", name,
				  why__text(&why, ret));
	} else if (parent != FS_ROOT_INO) {
		ret = rmdir_other(parent, name);
	} else if (strcmp(name, "snapshots") == 0) {
		fs_refuse("rmdir snapshots refused: the tree is fixed");
		ret = EPERM;
	} else {
		ret = sandbox__remove(rfs.sb, name, &why);
		/* A kept core would hold the region past its rmdir. */
		core__forget();
		if (ret && ret != ENOENT)
			fs_refuse("rmdir %s refused: %s", name,
				  why__text(&why, ret));
	}
	metrics__changed();
	fs_caller_end();
	fuse_reply_err(req, ret);
}

static void refuse(fuse_req_t req, const char *what, const char *name)
{
	fs_caller_begin(req);
	fs_refuse("%s %s refused: the tree is fixed (mkdir/rmdir make "
		  "regions)", what, name);
	fs_caller_end();
	fuse_reply_err(req, EPERM);
}

void tree__mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode, dev_t rdev)
{
	(void)parent, (void)mode, (void)rdev;
	refuse(req, "mknod", name);
}

/*
 * Also a copy's temporary file (rsync without --inplace writes one and
 * renames it over contents): refused before a byte is written.
 */
void tree__create(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, struct fuse_file_info *fi)
{
	(void)parent, (void)mode, (void)fi;
	fs_caller_begin(req);
	fs_log("create %s refused: the tree is fixed (mkdir/rmdir make "
	       "regions); to load contents, write it in place (cp, "
	       "rsync --inplace)", name);
	fs_caller_end();
	fuse_reply_err(req, EPERM);
}

void tree__unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	refuse(req, "unlink", name);
}

void tree__symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name)
{
	(void)link, (void)parent;
	refuse(req, "symlink", name);
}

void tree__link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname)
{
	(void)ino, (void)newparent;
	refuse(req, "link", newname);
}

void tree__rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			fuse_ino_t newparent, const char *newname,
			unsigned int flags)
{
	(void)parent, (void)newparent, (void)newname, (void)flags;
	refuse(req, "rename", name);
}

void tree__opendir(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct stat st;
	int ret = 0;

	if (!ino_top_dir(ino) && ino_file_index(ino) != -1)
		ret = ENOTDIR;
	else if (!ino_top_dir(ino))
		ret = stat_id_dir(ino_id(ino), &st);
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_open(req, fi);
}

/* Add one entry; false when the reply buffer is full. */
static bool add_entry(fuse_req_t req, char *buf, size_t size, size_t *pos,
		      const char *name, fuse_ino_t ino, mode_t mode, off_t next)
{
	struct stat st = { .st_ino = ino, .st_mode = mode };
	size_t need = fuse_add_direntry(req, NULL, 0, name, NULL, 0);

	if (*pos + need > size)
		return false;
	fuse_add_direntry(req, buf + *pos, size - *pos, name, &st, next);
	*pos += need;
	return true;
}

/*
 * The idx-th child of a directory other than a region's: its name, inode
 * and type; false past the last.  The root: its own files, snapshots/,
 * then the regions in table order.  snapshots/: the snapshots.  A
 * snapshot: its regions.  An rmdir during a listing may shift them, as on
 * any filesystem with concurrent changes.
 */
static bool nth_child(fuse_ino_t ino, struct snapshot *snap, unsigned idx,
		      char *name, size_t len, fuse_ino_t *child, mode_t *mode)
{
	struct snapshot *s;
	struct region *r = NULL;
	uint64_t id;

	*mode = S_IFDIR;
	if (ino == FS_ROOT_INO && idx < root__count()) {
		snprintf(name, len, "%s", root__name(idx, child));
		*mode = S_IFREG;
		return true;
	}
	if (ino == FS_ROOT_INO && idx == root__count()) {
		snprintf(name, len, "snapshots");
		*child = FS_SNAPSHOTS_INO;
		return true;
	}
	if (ino == FS_ROOT_INO)
		r = sandbox__nth(rfs.sb, idx - root__count() - 1, &id);
	else if (snap)
		r = snapshot__nth_region(snap, idx, &id);
	if (r) {
		snprintf(name, len, "%s", r->name);
		*child = ino_dir(id);
		region__put(r);
		return true;
	}
	/* After a snapshot's regions, its own files. */
	if (snap && idx >= snap->nr && idx - snap->nr < snapfile_count(snap)) {
		snprintf(name, len, "%s", snap_files[idx - snap->nr]);
		*child = ino_file(snap->id, idx - snap->nr);
		*mode = S_IFREG;
		return true;
	}
	if (ino != FS_SNAPSHOTS_INO)
		return false;
	s = snapshot__nth(&rfs.sb->snaps, idx);
	if (!s)
		return false;
	snprintf(name, len, "%s", s->name);
	*child = ino_dir(s->id);
	snapshot__put(s);
	return true;
}

/* Offsets: 1 and 2 are "." and "..", 3 + i is the i-th child. */
void tree__readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	struct snapshot *snap = NULL;
	size_t pos = 0;
	char *buf;
	bool files = !ino_top_dir(ino);

	(void)fi;
	if (files) {
		/* A snapshot lists regions, a region its files. */
		struct region *r = node__region(ino_id(ino));

		if (!r)
			snap = snapshot__find_id(&rfs.sb->snaps, ino_id(ino));
		region__put(r);
		if (!r && !snap) {
			fuse_reply_err(req, ENOENT);	/* removed meanwhile */
			return;
		}
		files = !snap;
	}
	if (size > 65536)
		size = 65536;
	buf = malloc(size);
	if (!buf) {
		snapshot__put(snap);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (;; off++) {
		char name[REGION_NAME_MAX + 1];
		fuse_ino_t child;
		mode_t mode;
		bool ok;

		if (off == 0) {
			ok = add_entry(req, buf, size, &pos, ".", ino,
				       S_IFDIR, 1);
		} else if (off == 1) {
			ok = add_entry(req, buf, size, &pos, "..",
				       FS_ROOT_INO, S_IFDIR, 2);
		} else if (!files) {
			if (!nth_child(ino, snap, (unsigned)(off - 2), name,
				       sizeof(name), &child, &mode))
				break;
			ok = add_entry(req, buf, size, &pos, name, child, mode,
				       off + 1);
		} else {
			if (off - 2 >= F_COUNT)
				break;
			ok = add_entry(req, buf, size, &pos,
				       attr_files[off - 2].name,
				       ino_file(ino_id(ino), (unsigned)(off - 2)),
				       S_IFREG, off + 1);
		}
		if (!ok)
			break;
	}
	snapshot__put(snap);
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

/*
 * df shows the sandbox's memory: the size is the regions' (or -o
 * max_total), used is what their memory really holds; inodes count the
 * root's entries, each region directory with its files, and each
 * snapshot with its copies; free inodes are the regions still allowed.
 */
void tree__statfs(fuse_req_t req, fuse_ino_t ino)
{
	const uint64_t per_dir = 1 + F_COUNT, bsize = 4096;
	struct sandbox_usage u;
	struct statvfs st;

	(void)ino;
	sandbox__usage(rfs.sb, &u);
	memset(&st, 0, sizeof(st));
	st.f_bsize = bsize;
	st.f_frsize = bsize;
	st.f_namemax = REGION_NAME_MAX;
	st.f_blocks = u.limit / bsize;
	st.f_bfree = u.limit > u.resident ? (u.limit - u.resident) / bsize : 0;
	st.f_bavail = st.f_bfree;
	/*
	 * A snapshot: its directory and its own files (a diff's parent
	 * file too), then its copies.
	 */
	st.f_files = 2 + root__count() + u.regions * per_dir +
		     u.snapshots * (1 + SF_PARENT) + u.diffs +
		     u.copies * per_dir;
	st.f_ffree = rfs.sb->max_regions > u.regions ?
		     (rfs.sb->max_regions - u.regions) * per_dir : 0;
	st.f_favail = st.f_ffree;
	st.f_files += st.f_ffree;
	fuse_reply_statfs(req, &st);
}
