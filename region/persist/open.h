/*
 * Opening what a saved snapshot directory holds, when the directory may
 * come from an untrusted store: only what is beneath it, never through a
 * symlink, and only the kind of file expected.  A symlink, a FIFO, a
 * device, a socket, or a directory where a file is expected (and the
 * reverse) is refused naming the file, before a byte of it is read; a
 * device is never opened at all (its driver's open would run).
 *
 * Errors: 0 or a positive errno, with why naming the file ("DIR/PATH:
 * a symlink, not a regular file"): ELOOP (a symlink on the way or at the
 * end), EXDEV (a path leading out), EINVAL (a FIFO, device, socket or
 * directory where a file is expected), ENOTDIR, ENOENT and the like from
 * the filesystem.
 */
#ifndef REGIONFS_PERSIST_OPEN_H
#define REGIONFS_PERSIST_OPEN_H

#include "region/util/why.h"

#include <stdbool.h>
#include <sys/stat.h>

/*
 * path (relative, names checked by the caller) beneath the directory
 * dfd, named dir in messages: a regular file open for reading
 * (O_NONBLOCK, close-on-exec) with its stat in *st, or with want_dir a
 * directory open for reading.
 */
int persist__open(int dfd, const char *dir, const char *path, bool want_dir,
		  int *fd, struct stat *st, struct why *why);

#endif
