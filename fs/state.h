/*
 * The daemon's state and its log: the bottom of fs/, included by every
 * other file.  FUSE_USE_VERSION is set here, and only here.
 */
#ifndef REGIONFS_STATE_H
#define REGIONFS_STATE_H

#define FUSE_USE_VERSION 314	/* FUSE_MAKE_VERSION(3, 14): Debian 12's */
#include <fuse_lowlevel.h>

#include "region/sandbox/sandbox.h"
#include "region/util/ring.h"

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
	/* The mount's device: how /proc/PID/maps names a mapping of it. */
	dev_t mount_dev;
	bool no_passthrough;	/* -o no_passthrough */
	/*
	 * The daemon path's splice replies (fs_splice_probe): the largest
	 * contents read reply spliced from the memfd, 0 when none is, and
	 * the max_read that keeps requests within it (0: no limit).
	 */
	size_t splice_max;
	unsigned max_read;
	int log_fd;		/* -o log=FILE, the kept file, or -1 */
	bool log_kept;		/* log_fd is the kept file (fs_log_keep) */
	bool daemonized;
	bool syslog;		/* daemonized, and /dev/log is there */
};

extern struct rfs rfs;

/*
 * One log line, saying why: to -o log=FILE, to stderr in the foreground,
 * to syslog once daemonized (when there is one), and always to the ring
 * the mount's `log` file shows.
 */
void fs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Control characters of in as \xNN, cut to fit out: what fs_log does to
 * every line, so that bytes a writer chose never make two lines of one.
 */
void fs_log_escape(const char *in, char *out, size_t out_len);
/*
 * A start refused: the line fs_log writes, and on stderr in any case
 * (the command waits for it there), for as long as the daemon has one.
 */
void fs_log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The vCPU's logger (vcpu_config.log): its lines say "vcpu: ..." already. */
void fs_log_vcpu(void *arg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * Lines made while a worker serves a request of uid (fs_caller_begin sets
 * it): those of a uid other than the owner (uid=) and root are
 * rate-limited (lograte.h) and fill at most LOG_OTHERS_SHARE of the ring.
 * Outside, lines are the daemon's.
 */
void fs_log_from(uid_t uid);
void fs_log_from_end(void);
/*
 * Say every count of dropped lines not said yet (each would be, before
 * that uid's next line): before the daemon's last line.
 */
void fs_log_dropped(void);
/* The ring of the last LOG_RING_SIZE bytes of log lines. */
#define LOG_RING_SIZE (64 * 1024)
/* Of it, the most other uids' lines may hold: the rest is the owner's. */
#define LOG_OTHERS_SHARE (LOG_RING_SIZE / 4)
int fs_log_init(void);
uint64_t fs_log_end(void);
/* The log from off, for the reader rd (see ring__read). */
size_t fs_log_read(void *buf, size_t len, uint64_t off,
		   struct ring_reader *rd);
/*
 * Say, in one line, where the log goes from now on (detach: once the
 * daemon has left the terminal), mount being the mountpoint.
 */
void fs_log_say_where(const char *mount, bool detach);
/*
 * With no -o log= and no syslog, keep the lines in a file named after
 * mount that outlives the daemon (logkeep.h); fs_log_say_where names it.
 */
void fs_log_keep(const char *mount);
/* Leave the terminal: from now on lines go to syslog, if there is one. */
void fs_log_detach(void);

/* Milliseconds of CLOCK_MONOTONIC: how old a kept figure is. */
uint64_t fs_mono_ms(void);
/*
 * The start of the small text file path (one read of at most size - 1
 * bytes), NUL-terminated in buf: its length, or -1 when it cannot be read.
 */
ssize_t fs_read_text(const char *path, char *buf, size_t size);

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

/*
 * The largest reply (bytes after the header) a worker can splice from a
 * file through its pipe, as libfuse sizes that pipe, at most
 * REPLY_MAX_READ; 0 when it cannot splice at all.  An unprivileged
 * daemon (no CAP_SYS_RESOURCE) gets pipes of at most pipe-max-size
 * (1 MiB by default), one page too small for a 1 MiB reply and its header.
 */
#define REPLY_MAX_READ (1 << 20)	/* the most the kernel asks (max_pages 256) */
#define SPLICE_MIN_READ (8 * 1024)	/* below, libfuse copies anyway */
/*
 * Smaller pipes: copy 1 MiB requests rather than splice many small ones
 * (measured here, 256 KiB requests spliced still cost less CPU than
 * 1 MiB ones copied: 270-340 against 420-470 ms a GiB).
 */
#define SPLICE_MIN_PIPE (256 * 1024)
size_t fs_splice_probe(void);

#endif
