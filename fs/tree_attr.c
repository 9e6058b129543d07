/*
 * The tree's setattr (tree.h): owners, modes and times are never changed
 * (the owner's attempt is ignored, anyone else's refused), and a truncate
 * reaches contents only.
 */
#include "fs/node.h"
#include "fs/tree.h"

#include <errno.h>
#include <stdio.h>

/*
 * A truncate of a file: contents zeroes from the size on (and keeps its
 * size); O_TRUNC of a control or attribute file (echo 1 > zero) changes
 * nothing; any other size is EPERM.
 */
static int truncate_node(struct node *n, off_t size)
{
	if (n->ops == &contents_ops)
		return contents__truncate(n, size);
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

	if (node__get(ino, &n)) {
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
