/* The FUSE daemon: shared definitions.  FUSE_USE_VERSION is set here only. */
#ifndef REGIONFS_FS_H
#define REGIONFS_FS_H

#define FUSE_USE_VERSION 314	/* FUSE_MAKE_VERSION(3, 14): Debian 12's */
#include <fuse_lowlevel.h>

#include "region/sandbox.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

/*
 * Inode numbers: the root is 1; a region with id N is N << INO_SHIFT and
 * its files follow it.  Ids are never reused, so an inode number never
 * names two things in one mount.
 */
#define INO_SHIFT 6
#define FS_ROOT_INO FUSE_ROOT_ID
/* The root's own files sit below the first region (1 << INO_SHIFT). */
#define FS_VCPU_INO 2
#define FS_CONSOLE_INO 3
#define FS_SNAPSHOT_INO 4
#define FS_RESTORE_INO 5
#define FS_SNAPSHOTS_INO 6	/* the directory */

/* The files of a region directory, in readdir order. */
enum rfile {
	F_CONTENTS,
	F_BASE_ADDR,
	F_MEM_SIZE,
	F_RAW_ADDR,
	F_RAW_SIZE,
	F_HOST_REGION_BASE,
	F_HOST_REGION_END,
	F_KIND,
	F_GUEST_ADDR,
	F_ACCESS,
	F_ZERO,
	F_DIRTY,
	F_COUNT
};

static inline fuse_ino_t ino_dir(uint64_t id)
{
	return (fuse_ino_t)(id << INO_SHIFT);
}

static inline fuse_ino_t ino_file(uint64_t id, unsigned f)
{
	return (fuse_ino_t)((id << INO_SHIFT) | (f + 1));
}

static inline uint64_t ino_id(fuse_ino_t ino)
{
	return ino >> INO_SHIFT;
}

/* -1 for the directory itself, else the enum rfile. */
static inline int ino_file_index(fuse_ino_t ino)
{
	return (int)(ino & ((1u << INO_SHIFT) - 1)) - 1;
}

/* The longest rendered attribute value ("0x" + 16 hex digits + '\n'). */
#define ATTR_TEXT_MAX 64
/* st_blksize of contents: big enough that cat and cp issue 1 MiB reads. */
#define CONTENTS_BLKSIZE (1 << 20)

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
	bool debug;
};

extern struct rfs rfs;

/* One log line, saying why. */
void fs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The open file of a region: what a fuse_file_info's fh points to. */
struct handle {
	struct region *r;	/* a reference */
	uint64_t id;
	unsigned file;		/* enum rfile, when r is set */
	fuse_ino_t root_ino;	/* a root file (vcpu, console), r is NULL */
	int backing_id;		/* passthrough backing, 0 when not used */
	bool pt_writer;		/* a writer that passthrough took over */
	struct dirty_text *dirty;	/* dirty: taken at offset 0 */
	pthread_mutex_t lock;		/* dirty: guards the above */
	size_t len;		/* rendered text of an attribute file */
	char text[ATTR_TEXT_MAX];
};

/* attr.c: the table of a region's files. */
struct attr_desc {
	const char *name;
	mode_t mode;
	/* Render the value, newline-terminated; returns its length. */
	int (*show)(struct region *r, char *buf, size_t len);
	/* Apply a trimmed value: 0 or a positive errno with why set. */
	int (*store)(struct region *r, const char *val, const char **why);
};

extern const struct attr_desc attr_files[F_COUNT];
int attr__lookup(const char *name);
int attr__render(struct region *r, unsigned f, char *buf, size_t len);
int attr__store(struct region *r, unsigned f, const char *buf, size_t len,
		off_t off);
void attr__stat(struct region *r, uint64_t id, unsigned f, struct stat *st);

/* contents.c */
/* Replies to the open; returns what fuse_reply_open did (-ENOENT: the
 * open was interrupted, no release will come). */
int contents__open(fuse_req_t req, struct handle *h, struct fuse_file_info *fi);
void contents__read(fuse_req_t req, struct handle *h, size_t size, off_t off);
void contents__write(fuse_req_t req, struct handle *h, const char *buf,
		     size_t size, off_t off);
void contents__lseek(fuse_req_t req, struct handle *h, off_t off, int whence);
void contents__release(struct handle *h);
int contents__init(void);
/*
 * The worker thread's reply buffer (1 MiB, kept for the thread's life):
 * size is cut to fit it.  NULL when it cannot be had.
 */
void *contents__reply_buf(size_t *size);

/* passthrough.c: FUSE passthrough through fuse_session_custom_io. */
int passthrough__setup(struct fuse_session *se);
void passthrough__init(struct fuse_conn_info *conn);
int passthrough__open_backing(struct region *r);
void passthrough__close_backing(int backing_id);
int passthrough__reply_open(fuse_req_t req, struct fuse_file_info *fi,
			    int backing_id);

/* root.c: vcpu, console, snapshot, restore (and the snapshots dir). */
unsigned root__count(void);
const char *root__name(unsigned i, fuse_ino_t *ino);
bool root__is_file(fuse_ino_t ino);
fuse_ino_t root__lookup(const char *name);
void root__stat(fuse_ino_t ino, struct stat *st);
int root__render_vcpu(char *buf, size_t len);
ssize_t root__read_console(void *buf, size_t len, uint64_t off);
int root__write(fuse_ino_t ino, const char *buf, size_t len, off_t off);
/* Whether the root file may be opened for reading / for writing. */
bool root__readable(fuse_ino_t ino);
const char *root__ino_name(fuse_ino_t ino);
bool root__writable(fuse_ino_t ino);

/* dirty of a region (attr.c): read in pieces from one rendering. */
void attr__read_dirty(fuse_req_t req, struct handle *h, size_t size, off_t off);
/* Its length, rendering it for this open if it was not yet. */
uint64_t attr__dirty_size(struct handle *h);

/* ops.c */
extern const struct fuse_lowlevel_ops rfs_ops;

#endif
