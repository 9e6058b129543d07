/*
 * The daemon's state and its log: the bottom of fs/, included by every
 * other file.  FUSE_USE_VERSION is set here, and only here.
 */
#ifndef REGIONFS_STATE_H
#define REGIONFS_STATE_H

#define FUSE_USE_VERSION 314	/* FUSE_MAKE_VERSION(3, 14): Debian 12's */
#include <fuse_lowlevel.h>

#include "region/sandbox/sandbox.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct vcpu;

struct rfs {
	struct sandbox *sb;
	struct vcpu *vcpu;	/* NULL: no guest */
	struct fuse_session *se;
	uint64_t default_size;	/* of a region made by mkdir */
	uid_t uid;
	gid_t gid;
	gid_t reader_gid;	/* may read secrets (contents, addresses) */
	bool has_reader_gid;
	struct timespec started;
	bool passthrough;	/* negotiated at INIT */
	bool no_passthrough;	/* -o no_passthrough */
	int log_fd;		/* -1: syslog once daemonized, else stderr */
	bool daemonized;
};

extern struct rfs rfs;

/* One log line, saying why. */
void fs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The worker thread's reply buffer (1 MiB, kept for the thread's life):
 * *size is cut to fit it.  NULL when it cannot be had.
 */
void *fs_reply_buf(size_t *size);
int fs_reply_buf_init(void);
/*
 * The start of a read served from the reply buffer: the buffer, or NULL
 * after replying the error (EINVAL for a negative offset, ENOMEM).
 */
void *fs_read_start(fuse_req_t req, off_t off, size_t *size);

#endif
