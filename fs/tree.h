/* The tree of the mount (tree.c): directories, lookup, stat. */
#ifndef REGIONFS_TREE_H
#define REGIONFS_TREE_H

#include "fs/state.h"

#include <sys/stat.h>

/* The stat of any inode: 0 or ENOENT. */
int tree__stat(fuse_ino_t ino, struct stat *st);
/* The handlers of fuse_lowlevel_ops for the tree (ops.c's table). */
void tree__lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void tree__getattr(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi);
void tree__setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			 int to_set, struct fuse_file_info *fi);
void tree__mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode);
void tree__rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void tree__mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode, dev_t rdev);
void tree__create(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, struct fuse_file_info *fi);
void tree__unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void tree__symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name);
void tree__link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname);
void tree__rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			fuse_ino_t newparent, const char *newname,
			unsigned int flags);
void tree__opendir(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi);
void tree__readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			off_t off, struct fuse_file_info *fi);
void tree__statfs(fuse_req_t req, fuse_ino_t ino);

#endif
