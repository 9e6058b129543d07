/*
 * FUSE passthrough through fuse_session_custom_io (passthrough.c): the
 * kernel serves a file's reads and writes from a backing file itself.
 */
#ifndef REGIONFS_PASSTHROUGH_H
#define REGIONFS_PASSTHROUGH_H

#include "fs/state.h"

/* Hook /dev/fuse: -errno from fuse_session_custom_io. */
int passthrough__setup(struct fuse_session *se);
/*
 * At INIT: ask for passthrough when the kernel offers it.  The read path
 * in use, for the log's one line about it.
 */
const char *passthrough__init(struct fuse_conn_info *conn);
/* A backing id for fd (> 0), or -errno (then passthrough is off for good). */
int passthrough__open_backing(int fd);
void passthrough__close_backing(int backing_id);
/*
 * Reply to an open, passed through to backing_id; direct: reads and
 * writes still come to the daemon, only mmap goes to the backing.
 */
int passthrough__reply_open(fuse_req_t req, struct fuse_file_info *fi,
			    int backing_id, bool direct);

#endif
