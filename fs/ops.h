/* The low-level operations of the filesystem (ops.c). */
#ifndef REGIONFS_OPS_H
#define REGIONFS_OPS_H

#include "fs/state.h"

extern const struct fuse_lowlevel_ops rfs_ops;

#endif
