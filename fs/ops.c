/*
 * The low-level operations: the tree (root, region directories, their
 * files) and the dispatch to attribute files and contents.  Every handler
 * sends exactly one reply; helpers return a positive errno.
 */
#include "fs/fs.h"
#include "region/parse.h"
#include "region/snapshot.h"
#include "region/vcpu.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static void stat_root(struct stat *st)
{
	stat_dir(FS_ROOT_INO, st);
	st->st_nlink = 3 + rfs.sb->nr;	/* snapshots/ too */
}

/* The directories that are not regions: the root and snapshots/. */
static bool top_dir(fuse_ino_t ino)
{
	return ino == FS_ROOT_INO || ino == FS_SNAPSHOTS_INO;
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

/* Fill st for ino; 0 or ENOENT.  The region reference is dropped. */
static int stat_ino(fuse_ino_t ino, struct stat *st)
{
	struct region *r;
	int f;

	if (ino == FS_ROOT_INO) {
		stat_root(st);
		return 0;
	}
	if (root__is_file(ino)) {
		root__stat(ino, st);
		return 0;
	}
	if (ino == FS_SNAPSHOTS_INO) {
		stat_dir(ino, st);
		st->st_nlink = 2 + rfs.sb->nr_snaps;
		return 0;
	}
	f = ino_file_index(ino);
	if (f >= F_COUNT)
		return ENOENT;
	r = sandbox__find_id(rfs.sb, ino_id(ino));
	if (!r && f < 0) {
		struct snapshot *s = snapshot__find_id(rfs.sb, ino_id(ino));

		if (!s)
			return ENOENT;
		stat_snapshot(s, st);
		snapshot__put(s);
		return 0;
	}
	if (!r)
		return ENOENT;
	if (f < 0)
		stat_region_dir(r, ino_id(ino), st);
	else
		attr__stat(r, ino_id(ino), (unsigned)f, st);
	region__put(r);
	return 0;
}

static void reply_entry(fuse_req_t req, const struct stat *st)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = st->st_ino;
	e.attr = *st;
	/*
	 * No caching of names or attributes: sizes, modes and the set of
	 * regions change under control writes, and a stat must be honest.
	 */
	e.attr_timeout = 0;
	e.entry_timeout = 0;
	fuse_reply_entry(req, &e);
}

/* snapshots/NAME, or a region of snapshots/NAME/. */
static int lookup_snapshot(fuse_ino_t parent, const char *name,
			   struct stat *st)
{
	struct snapshot *s;
	struct region *r;
	uint64_t id;

	if (parent == FS_SNAPSHOTS_INO) {
		s = snapshot__find(rfs.sb, name);
		if (!s)
			return ENOENT;
		stat_snapshot(s, st);
		snapshot__put(s);
		return 0;
	}
	s = snapshot__find_id(rfs.sb, ino_id(parent));
	if (!s)
		return -1;	/* not a snapshot: a region directory */
	r = snapshot__region(s, name, &id);
	snapshot__put(s);
	if (!r)
		return ENOENT;
	stat_region_dir(r, id, st);
	region__put(r);
	return 0;
}

static void rfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct region *r;
	fuse_ino_t fino;
	struct stat st;
	uint64_t id;
	int f, ret;

	if (parent == FS_ROOT_INO && (fino = root__lookup(name))) {
		root__stat(fino, &st);
		reply_entry(req, &st);
		return;
	}
	if (parent == FS_ROOT_INO && strcmp(name, "snapshots") == 0) {
		stat_ino(FS_SNAPSHOTS_INO, &st);
		reply_entry(req, &st);
		return;
	}
	if (parent == FS_ROOT_INO) {
		r = sandbox__find(rfs.sb, name, &id);
		if (!r) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		stat_region_dir(r, id, &st);
		region__put(r);
		reply_entry(req, &st);
		return;
	}
	if (parent != FS_SNAPSHOTS_INO && ino_file_index(parent) != -1) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	ret = lookup_snapshot(parent, name, &st);
	if (ret > 0) {
		fuse_reply_err(req, ret);
		return;
	}
	if (ret == 0) {
		reply_entry(req, &st);
		return;
	}
	f = attr__lookup(name);
	r = f < 0 ? NULL : sandbox__find_id(rfs.sb, ino_id(parent));
	if (!r) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	attr__stat(r, ino_id(parent), (unsigned)f, &st);
	region__put(r);
	reply_entry(req, &st);
}

static void rfs_getattr(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct stat st;
	int ret;

	(void)fi;
	ret = stat_ino(ino, &st);
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_attr(req, &st, 0);
}

/*
 * Only what a user of standard tools needs: O_TRUNC and ftruncate to the
 * current size succeed and change nothing (so `echo 1 > zero` and
 * `cp image contents` work); touch is accepted; the rest is EPERM.
 */
static void rfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			int to_set, struct fuse_file_info *fi)
{
	struct region *r = NULL;
	struct stat st;
	int f, ret;

	(void)fi;
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
		      FUSE_SET_ATTR_GID)) {
		fs_log("setattr on inode %lu refused: modes and owners are "
		       "set by mount options", (unsigned long)ino);
		fuse_reply_err(req, EPERM);
		return;
	}
	ret = stat_ino(ino, &st);
	if (ret) {
		fuse_reply_err(req, ret);
		return;
	}
	if (root__is_file(ino)) {
		/* O_TRUNC of vcpu (echo run > vcpu) changes nothing. */
		if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != 0) {
			fs_log("truncate of inode %lu refused: only O_TRUNC",
			       (unsigned long)ino);
			fuse_reply_err(req, EPERM);
			return;
		}
		fuse_reply_attr(req, &st, 0);
		return;
	}
	f = top_dir(ino) ? -1 : ino_file_index(ino);
	if ((to_set & FUSE_SET_ATTR_SIZE) && f >= 0) {
		r = sandbox__find_id(rfs.sb, ino_id(ino));
		if (!r) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		if (f == F_CONTENTS
		    ? (uint64_t)attr->st_size != region__mem_size(r)
		    : attr->st_size != 0) {
			fs_log("%s/%s: truncate to %lld refused: %s", r->name,
			       attr_files[f].name, (long long)attr->st_size,
			       f == F_CONTENTS
			       ? "contents is always mem_size long (write mem_size to resize)"
			       : "attribute files take O_TRUNC only");
			region__put(r);
			fuse_reply_err(req, EPERM);
			return;
		}
		region__put(r);
	} else if (to_set & FUSE_SET_ATTR_SIZE) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fuse_reply_attr(req, &st, 0);
}

static void rfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode)
{
	struct stat st;
	uint64_t id;
	int ret;

	(void)mode;
	if (parent != FS_ROOT_INO) {
		fs_log("mkdir %s refused: %s", name, parent == FS_SNAPSHOTS_INO ?
		       "write the name to snapshot to take one" :
		       "regions live at the root");
		fuse_reply_err(req, EPERM);
		return;
	}
	ret = sandbox__create(rfs.sb, name, rfs.default_size, &id);
	if (ret) {
		fs_log("mkdir %s refused: %s", name,
		       ret == EEXIST ? "the name is taken" :
		       ret == ENOSPC ? "the region limits are reached (-o max_regions, max_total)" :
		       ret == ENAMETOOLONG ? "names are at most 64 characters" :
		       ret == EINVAL ? "names are [A-Za-z0-9_.-], not starting with '.', not reserved" :
		       ret == EBUSY ? "a snapshot or restore holds the region table" :
		       strerror(ret));
		fuse_reply_err(req, ret);
		return;
	}
	stat_dir(ino_dir(id), &st);
	reply_entry(req, &st);
}

static void rfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int ret;

	if (parent == FS_SNAPSHOTS_INO) {
		ret = snapshot__remove(rfs.sb, name);
		if (ret == EBUSY)
			fs_log("rmdir snapshots/%s refused: another snapshot or "
			       "restore is under way", name);
		fuse_reply_err(req, ret);
		return;
	}
	if (parent != FS_ROOT_INO) {
		struct snapshot *s = snapshot__find_id(rfs.sb, ino_id(parent));

		if (s) {
			fs_log("rmdir %s in snapshots/%s refused: a snapshot is "
			       "removed whole (rmdir snapshots/%s)", name,
			       s->name, s->name);
			snapshot__put(s);
			fuse_reply_err(req, EPERM);
			return;
		}
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (strcmp(name, "snapshots") == 0) {
		fs_log("rmdir snapshots refused: the tree is fixed");
		fuse_reply_err(req, EPERM);
		return;
	}
	ret = sandbox__remove(rfs.sb, name);
	if (ret && ret != ENOENT)
		fs_log("rmdir %s refused: %s", name,
		       ret == EBUSY ? "exclusivity not available (vCPU running, "
		       "host accesses did not drain, or a snapshot or restore "
		       "holds the region table)" : strerror(ret));
	fuse_reply_err(req, ret);
}

static void refuse(fuse_req_t req, const char *what, const char *name)
{
	fs_log("%s %s refused: the tree is fixed (mkdir/rmdir make regions)",
	       what, name);
	fuse_reply_err(req, EPERM);
}

static void rfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev)
{
	(void)parent, (void)mode, (void)rdev;
	refuse(req, "mknod", name);
}

static void rfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode, struct fuse_file_info *fi)
{
	(void)parent, (void)mode, (void)fi;
	refuse(req, "create", name);
}

static void rfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	refuse(req, "unlink", name);
}

static void rfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		       fuse_ino_t newparent, const char *newname,
		       unsigned int flags)
{
	(void)parent, (void)newparent, (void)newname, (void)flags;
	refuse(req, "rename", name);
}

/* What release undoes; also for an open whose reply found it gone. */
static void drop_handle(struct handle *h)
{
	if (!h->root_ino && h->file == F_CONTENTS)
		contents__release(h);
	dirty_text__free(h->dirty);
	if (h->r)
		pthread_mutex_destroy(&h->lock);
	region__put(h->r);
	free(h);
}

/*
 * -ENOENT from the reply: the open was interrupted and the kernel dropped
 * it, so no release will come (libfuse's high-level API does the same).
 */
static void reply_open(fuse_req_t req, struct handle *h,
		       struct fuse_file_info *fi)
{
	int ret = !h->root_ino && h->file == F_CONTENTS ?
		  contents__open(req, h, fi) : fuse_reply_open(req, fi);

	if (ret == -ENOENT)
		drop_handle(h);
}

static void rfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h;
	struct region *r;
	int f = top_dir(ino) ? -1 : ino_file_index(ino);
	int acc = fi->flags & O_ACCMODE;

	if (root__is_file(ino)) {
		/* Root passes the mode bits; the ABI still says no. */
		if ((acc != O_WRONLY && !root__readable(ino)) ||
		    (acc != O_RDONLY && !root__writable(ino))) {
			fs_log("%s: open for %s refused: the file is %s",
			       root__ino_name(ino), acc == O_RDONLY ? "reading" :
			       acc == O_WRONLY ? "writing" : "reading and writing",
			       root__readable(ino) ? "read-only" : "write-only");
			fuse_reply_err(req, EACCES);
			return;
		}
		h = calloc(1, sizeof(*h));
		if (!h) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		h->root_ino = ino;
		fi->fh = (uint64_t)(uintptr_t)h;
		/* Generated and growing: never cached, console read live. */
		fi->direct_io = 1;
		reply_open(req, h, fi);
		return;
	}
	if (f < 0 || f >= F_COUNT) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	r = sandbox__find_id(rfs.sb, ino_id(ino));
	if (!r) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	/* Mode bits are the kernel's (default_permissions); this is the ABI. */
	if (f != F_CONTENTS &&
	    ((acc != O_WRONLY && !attr_files[f].show && f != F_DIRTY &&
	      !r->readonly) ||
	     (acc != O_RDONLY && !attr_files[f].store))) {
		/* Root passes the mode bits; the ABI still says no. */
		fs_log("%s/%s: open for %s refused: the file is %s", r->name,
		       attr_files[f].name, acc == O_RDONLY ? "reading" :
		       acc == O_WRONLY ? "writing" : "reading and writing",
		       attr_files[f].store ? "write-only" : "read-only");
		region__put(r);
		fuse_reply_err(req, EACCES);
		return;
	}
	if (acc != O_RDONLY && r->readonly) {
		fs_log("%s/%s: open for writing refused: the region is "
		       "readonly (a snapshot's copy)", r->name, attr_files[f].name);
		region__put(r);
		fuse_reply_err(req, EPERM);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		region__put(r);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->r = r;
	h->id = ino_id(ino);
	h->file = (unsigned)f;
	pthread_mutex_init(&h->lock, NULL);
	fi->fh = (uint64_t)(uintptr_t)h;
	if (f != F_CONTENTS) {
		/* Generated text: never cached, rendered at offset 0 (lxcfs-style). */
		fi->direct_io = 1;
		fi->nonseekable = 0;
	}
	reply_open(req, h, fi);
}

static struct handle *handle_of(struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

/* The console is read live at any offset: tail -f follows its size. */
static void read_console(fuse_req_t req, size_t size, off_t off)
{
	char *buf;
	ssize_t n;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	buf = contents__reply_buf(&size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = root__read_console(buf, size, (uint64_t)off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

/* Render an attribute file (or vcpu) into h->text: its length or -errno. */
static int render_text(struct handle *h)
{
	int n = h->root_ino ? root__render_vcpu(h->text, sizeof(h->text)) :
		attr__render(h->r, h->file, h->text, sizeof(h->text));

	h->len = n > 0 ? (size_t)n : 0;
	return n;
}

static void rfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	char text[ATTR_TEXT_MAX];
	int n;

	(void)ino;
	if (h->root_ino == FS_CONSOLE_INO) {
		read_console(req, size, off);
		return;
	}
	if (!h->root_ino && h->file == F_CONTENTS) {
		contents__read(req, h, size, off);
		return;
	}
	if (!h->root_ino && h->file == F_DIRTY) {
		attr__read_dirty(req, h, size, off);
		return;
	}
	if (off == 0) {
		n = render_text(h);
		if (n < 0) {
			fuse_reply_err(req, -n);
			return;
		}
	}
	if ((size_t)off >= h->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > h->len - (size_t)off)
		size = h->len - (size_t)off;
	/*
	 * Reply from a copy: once the kernel has the bytes the reader may
	 * close, and the release may free h while writev is still returning.
	 */
	memcpy(text, h->text + off, size);
	fuse_reply_buf(req, text, size);
}

static void rfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		      size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	int ret;

	(void)ino;
	if (h->root_ino) {
		ret = root__write(h->root_ino, buf, size, off);
		if (ret)
			fuse_reply_err(req, ret);
		else
			fuse_reply_write(req, size);
		return;
	}
	if (h->file == F_CONTENTS) {
		contents__write(req, h, buf, size, off);
		return;
	}
	ret = attr__store(h->r, h->file, buf, size, off);
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_write(req, size);
}

static void rfs_release(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);

	(void)ino;
	drop_handle(h);
	fuse_reply_err(req, 0);
}

/* The length of a generated file as this open sees it. */
static uint64_t generated_size(struct handle *h)
{
	if (h->root_ino == FS_CONSOLE_INO)
		return rfs.vcpu ? vcpu__console_end(rfs.vcpu) : 0;
	if (!h->root_ino && h->file == F_DIRTY)
		return attr__dirty_size(h);
	/* What a read at offset 0 would render now. */
	return render_text(h) < 0 ? 0 : h->len;
}

static void rfs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		      struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	uint64_t size;

	(void)ino;
	if (!h->root_ino && h->file == F_CONTENTS) {
		contents__lseek(req, h, off, whence);
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
	size = generated_size(h);
	if (off < 0 || (uint64_t)off >= size)
		fuse_reply_err(req, ENXIO);
	else
		fuse_reply_lseek(req, whence == SEEK_DATA ? off : (off_t)size);
}

static void rfs_opendir(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct region *r;

	if (top_dir(ino)) {
		fuse_reply_open(req, fi);
		return;
	}
	if (ino_file_index(ino) != -1) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	r = sandbox__find_id(rfs.sb, ino_id(ino));
	if (!r) {
		struct snapshot *s = snapshot__find_id(rfs.sb, ino_id(ino));

		if (!s) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		snapshot__put(s);
	}
	region__put(r);
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
	if (ino != FS_SNAPSHOTS_INO)
		return false;
	s = snapshot__nth(rfs.sb, idx);
	if (!s)
		return false;
	snprintf(name, len, "%s", s->name);
	*child = ino_dir(s->id);
	snapshot__put(s);
	return true;
}

/* Offsets: 1 and 2 are "." and "..", 3 + i is the i-th child. */
static void rfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	struct snapshot *snap = NULL;
	size_t pos = 0;
	char *buf;
	bool files = !top_dir(ino);

	(void)fi;
	if (files) {
		/* A snapshot lists regions, a region its files. */
		struct region *r = sandbox__find_id(rfs.sb, ino_id(ino));

		if (!r)
			snap = snapshot__find_id(rfs.sb, ino_id(ino));
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

static void rfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;

	(void)ino;
	memset(&st, 0, sizeof(st));
	st.f_bsize = 4096;
	st.f_frsize = 4096;
	st.f_namemax = REGION_NAME_MAX;
	st.f_files = rfs.sb->nr;
	fuse_reply_statfs(req, &st);
}

static void rfs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* echo 1 > zero: O_TRUNC arrives with the open, no separate setattr. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Whole-MiB requests: fewer round trips for dd bs=1M and cp. */
	conn->max_write = 1 << 20;
	conn->max_read = 0;
	conn->max_readahead = 1 << 20;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	passthrough__init(conn);
}

const struct fuse_lowlevel_ops rfs_ops = {
	.init = rfs_init,
	.lookup = rfs_lookup,
	.getattr = rfs_getattr,
	.setattr = rfs_setattr,
	.mknod = rfs_mknod,
	.mkdir = rfs_mkdir,
	.unlink = rfs_unlink,
	.rmdir = rfs_rmdir,
	.rename = rfs_rename,
	.open = rfs_open,
	.read = rfs_read,
	.write = rfs_write,
	.release = rfs_release,
	.opendir = rfs_opendir,
	.readdir = rfs_readdir,
	.statfs = rfs_statfs,
	.create = rfs_create,
	.lseek = rfs_lseek,
};
