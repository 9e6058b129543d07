/*
 * The tree's handlers: lookup, getattr, setattr, readdir, and the
 * directory operations (mkdir and rmdir make and remove regions; the rest
 * is refused).  Each resolves its inode once (node.c) and calls what its
 * directory's ops say (struct dir_ops: the root in root.c, a region's
 * directory in attr.c, snapshots/ and a snapshot's in snapdir.c).
 */
#include "fs/node.h"
#include "fs/tree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tree__stat(fuse_ino_t ino, struct stat *st)
{
	struct node n;
	int ret;

	ret = node__get(ino, &n);
	if (!ret)
		node__stat(&n, st);
	node__put(&n);
	return ret;
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

void tree__lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct stat st;
	struct node d;
	fuse_ino_t ino;
	int ret;

	ret = node__get(parent, &d);
	if (!ret && !d.dir)
		ret = ENOTDIR;
	if (!ret)
		ret = d.dir->lookup(&d, name, &ino);
	node__put(&d);
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
	if (n->dir)
		return EISDIR;
	if (n->ops->truncate)
		return n->ops->truncate(n, size);
	if (size == 0)
		return 0;
	if (!n->r)
		fs_refuse("truncate of %s refused: only O_TRUNC", n->name);
	else
		fs_refuse("%s/%s: truncate to %lld refused: attribute files "
			  "take O_TRUNC only", region__name(n->r), n->name,
			  (long long)size);
	return EPERM;
}

/* "r/contents", "vcpu", or the directory's inode: for the log. */
static void describe(fuse_ino_t ino, char *buf, size_t len)
{
	struct node n;

	if (node__get(ino, &n) || n.dir) {
		node__put(&n);
		snprintf(buf, len, "directory (inode %lu)", (unsigned long)ino);
		return;
	}
	snprintf(buf, len, "%s%s%s", n.r ? region__name(n.r) : "",
		 n.r ? "/" : "", n.name);
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
	struct stat st;
	struct node d;
	fuse_ino_t ino;
	int ret;

	(void)mode;
	fs_caller_begin(req);
	if (!node__get(parent, &d) && d.dir && d.dir->mkdir) {
		ret = d.dir->mkdir(&d, name, &ino);
	} else {
		fs_refuse("mkdir %s refused: regions live at the root", name);
		ret = EPERM;
	}
	node__put(&d);
	fs_caller_end();
	if (ret) {
		fuse_reply_err(req, ret);
		return;
	}
	node__stat_dir(ino, &st);
	reply_entry(req, &st);
}

void tree__rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node d;
	int ret = ENOTDIR;

	fs_caller_begin(req);
	if (!node__get(parent, &d) && d.dir && d.dir->rmdir)
		ret = d.dir->rmdir(&d, name);
	node__put(&d);
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
	struct node d;
	int ret;

	ret = node__get(ino, &d);
	if (!ret && !d.dir)
		ret = ENOTDIR;
	node__put(&d);
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
 * Offsets: 1 and 2 are "." and "..", 3 + i is the directory's i-th child
 * (its ops' child).  An rmdir during a listing may shift them, as on any
 * filesystem with concurrent changes.
 */
void tree__readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	size_t pos = 0;
	struct node d;
	char *buf;
	int ret;

	(void)fi;
	ret = node__get(ino, &d);	/* ENOENT: removed meanwhile */
	if (!ret && !d.dir)
		ret = ENOTDIR;
	if (size > 65536)
		size = 65536;
	buf = ret ? NULL : malloc(size);
	if (!ret && !buf)
		ret = ENOMEM;
	if (ret) {
		node__put(&d);
		fuse_reply_err(req, ret);
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
		} else {
			if (!d.dir->child(&d, (unsigned)(off - 2), name,
					  sizeof(name), &child, &mode))
				break;
			ok = add_entry(req, buf, size, &pos, name, child, mode,
				       off + 1);
		}
		if (!ok)
			break;
	}
	node__put(&d);
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
