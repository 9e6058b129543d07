/*
 * The nodes of the mount: inode numbers, what each inode is, and the
 * operations of each kind of file (struct node_ops) and of each kind of
 * directory (struct dir_ops), chosen once when the inode is resolved,
 * never by comparing names, kinds or inode numbers on every request.
 *
 * An inode is resolved through its directory: a directory by its number
 * (node.c), a file by its directory's table (dir_ops.file).  Adding a
 * file to the root is one file with its node_ops and one entry in root.c's
 * table; adding one to every region directory is one entry in attr.c's
 * table; to a snapshot's directory, one in snapfile.c's.
 *
 * Helpers return 0 or a positive errno; every FUSE handler sends exactly
 * one reply.
 */
#ifndef REGIONFS_NODE_H
#define REGIONFS_NODE_H

#include "fs/state.h"
#include "region/mem/dirty_text.h"

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
#define FS_LOG_INO 7
/* Inspecting the guest (7 is kept for the log). */
#define FS_REGS_INO 8
#define FS_FAULT_INO 9
#define FS_LAYOUT_INO 10
#define FS_PMEM_INO 11
#define FS_VMEM_INO 12
#define FS_CORE_INO 13
#define FS_METRICS_INO 14
#define FS_WHY_INO 15

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
	F_PAGE_SIZE,
	F_MMAP_RW,
	F_BASE,
	F_COUNT
};

/*
 * The files of a snapshot's directory besides its regions, after them in
 * readdir order; their inodes are ino_file(snapshot id, SF_...).
 */
enum sfile {
	SF_VCPU_STATE,
	SF_INFO,
	SF_CONSOLE,
	SF_PARENT,	/* a diff snapshot's only: last */
	SF_COUNT
};
extern const char *const snap_files[SF_COUNT];
/* How many of them snapshot s has (a diff has a parent file). */
#define snapfile_count(s) ((s)->parent ? SF_COUNT : SF_PARENT)

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

/* The directories that are not regions: the root and snapshots/. */
static inline bool ino_top_dir(fuse_ino_t ino)
{
	return ino == FS_ROOT_INO || ino == FS_SNAPSHOTS_INO;
}

/* The longest rendered attribute value ("0x" + 16 hex digits + '\n'). */
#define ATTR_TEXT_MAX 64
/* st_blksize of contents: big enough that cat and cp issue 1 MiB reads. */
#define CONTENTS_BLKSIZE (1 << 20)

struct node_ops;
struct dir_ops;
struct longtext;

/* A file or directory of the mount, resolved from its inode number. */
struct node {
	fuse_ino_t ino;
	const char *name;		/* for the log */
	const struct node_ops *ops;	/* a file's; NULL for a directory */
	const struct dir_ops *dir;	/* a directory's; NULL for a file */
	struct region *r;	/* a reference; NULL for the root's files */
	struct snapshot *snap;	/* a reference, for a snapshot's own files */
	unsigned file;		/* enum rfile, for a region's files */
	mode_t mode;		/* permission bits before reader_gid */
	bool readable;		/* the ABI: what an open may ask for */
	bool writable;
};

/* An open file: what a fuse_file_info's fh points to. */
struct handle {
	struct node n;
	/* Generated text (attributes, vcpu): rendered at offset 0. */
	size_t len;
	char text[ATTR_TEXT_MAX];
	/* contents: its passthrough backing (0 when not used). */
	int backing_id;
	bool counted;		/* its path is counted: release undoes it */
	bool writer;		/* a read-write passthrough open (see dirty) */
	/* dirty: where this open is in the text, under lock. */
	struct dirty_cursor cursor;
	/* log, console: where this open reads (see ring__read), under lock. */
	struct ring_reader reader;
	/* Long generated text: its rendering (longtext.h), under the file's lock. */
	uint64_t rendering;
	/*
	 * Must be acquired *before* any region/ lock (a dirty read holds the
	 * region shared under it; long-text renders take the vCPU's or the
	 * VM's): doc/design-core.md.
	 */
	pthread_mutex_t lock;
	/* A kind's own state for this open (regs, core, ...), under lock. */
	void *priv;
};

struct node_ops {
	/* Size, blocks and whatever else differs from a plain file. */
	void (*stat)(struct node *n, struct stat *st);
	/*
	 * Reply to the open with fuse_reply_open and return what it returned
	 * (-ENOENT: interrupted, no release will come), or return a positive
	 * errno without replying.  NULL: direct_io (never the page cache: a
	 * read is the value, or the memory, now), which generated text, dirty,
	 * pmem and vmem want.
	 */
	int (*open)(fuse_req_t req, struct handle *h,
		    struct fuse_file_info *fi);
	void (*read)(fuse_req_t req, struct handle *h, size_t size, off_t off);
	/* A control write: 0 and the reply is the whole size, or an errno. */
	int (*write)(struct handle *h, const char *buf, size_t size, off_t off);
	/* Data writes reply themselves (contents). */
	void (*write_data)(fuse_req_t req, struct handle *h, const char *buf,
			   size_t size, off_t off);
	/* Text files: render the value, newline-terminated (or -errno). */
	int (*render)(struct node *n, char *buf, size_t len);
	/* NULL: data from 0 to size(h), no holes. */
	void (*lseek)(fuse_req_t req, struct handle *h, off_t off, int whence);
	uint64_t (*size)(struct handle *h);
	void (*release)(struct handle *h);
	/* ftruncate(size): 0 or a positive errno; NULL: O_TRUNC only (tree.c). */
	int (*truncate)(struct node *n, off_t size);
	/* Long generated text (longtext.h): its renderings, for its ops. */
	struct longtext *text;
};

/*
 * A kind of directory: the root, snapshots/, a region's, a snapshot's.
 * d is the directory's node; its ops run under its reference (d->r,
 * d->snap).  Helpers return 0 or a positive errno.
 */
struct dir_ops {
	/* Link count and times: what differs from the mount's (node__stat). */
	void (*stat)(struct node *d, struct stat *st);
	/*
	 * Fill n for the file ino of d, from d's table (a reference d holds
	 * may move to n); false when it has none such.  NULL: no files.
	 */
	bool (*file)(struct node *d, fuse_ino_t ino, struct node *n);
	/* The inode of name in d: 0 or ENOENT. */
	int (*lookup)(struct node *d, const char *name, fuse_ino_t *ino);
	/*
	 * The idx-th entry of d after "." and "..": its name, inode and type;
	 * false past the last.
	 */
	bool (*child)(struct node *d, unsigned idx, char *name, size_t len,
		      fuse_ino_t *ino, mode_t *mode);
	/*
	 * mkdir name in d: 0 and the new directory's inode, or an errno with
	 * the refusal said.  NULL: refused, regions live at the root.
	 */
	int (*mkdir)(struct node *d, const char *name, fuse_ino_t *ino);
	/* rmdir name in d: 0 or an errno, the refusal said.  NULL: ENOTDIR. */
	int (*rmdir)(struct node *d, const char *name);
};
extern const struct dir_ops root_dir_ops;	/* root.c */
extern const struct dir_ops region_dir_ops;	/* attr.c */
extern const struct dir_ops snapshots_dir_ops;	/* snapdir.c */
extern const struct dir_ops snapshot_dir_ops;	/* snapdir.c */

/*
 * node.c: resolve an inode, a file or a directory (a region or snapshot
 * reference is taken: node__put, also after a failure): 0 or ENOENT, or
 * ENOTDIR for a directory's number that is a file's.
 */
int node__get(fuse_ino_t ino, struct node *n);
void node__put(struct node *n);
/* The stat of a file or directory: the common fields, then its ops' stat. */
void node__stat(struct node *n, struct stat *st);
/* The common fields of a directory's stat. */
void node__stat_dir(fuse_ino_t ino, struct stat *st);

/* text.c: files whose value is rendered (attributes, vcpu). */
int text__render(struct handle *h);
void text__read(fuse_req_t req, struct handle *h, size_t size, off_t off);
uint64_t text__size(struct handle *h);
/* A control value written whole at offset 0, trimmed into val. */
int text__value(const char *file, const char *buf, size_t len, off_t off,
		char *val, size_t val_len);
/* Apply a trimmed value: 0 or a positive errno with why set. */
typedef int text_store(struct node *n, const char *val, struct why *why);
/* A control write to a region's file, through store (a refusal logged). */
int text__store(struct handle *h, const char *buf, size_t size, off_t off,
		text_store *store);

/* attr.c: the files of a region directory. */
struct attr_desc {
	const char *name;
	mode_t mode;
	const struct node_ops *ops;	/* NULL: a text attribute */
	/* Render the value, newline-terminated; returns its length. */
	int (*show)(struct region *r, char *buf, size_t len);
	text_store *store;
};
extern const struct attr_desc attr_files[F_COUNT];
extern const struct node_ops attr_ops;
int attr__lookup(const char *name);
/* A control write to a region's file, through its store. */
int attr__write(struct handle *h, const char *buf, size_t size, off_t off);

/*
 * A resize makes a new memfd, which passthrough opens would not see:
 * refused (EBUSY) while contents (its inode) is open for passthrough, and
 * no open of it starts until resize_end.
 */
int contents__resize_begin(fuse_ino_t ino);
void contents__resize_end(fuse_ino_t ino);
/* ftruncate(size) of contents: zero from size to the end. */
int contents__truncate(struct node *n, off_t size);

/* The kinds of file, one file each. */
extern const struct node_ops contents_ops;	/* contents.c */
extern const struct node_ops dirty_ops;		/* dirty.c */
extern const struct node_ops base_ops;		/* base.c */
extern const struct node_ops vcpu_ops;		/* vcpu.c */
extern const struct node_ops console_ops;	/* console.c */
extern const struct node_ops log_ops;		/* log.c */
extern const struct node_ops why_ops;		/* why.c */
extern const struct node_ops snapshot_ops;	/* snapshot.c */
extern const struct node_ops restore_ops;	/* snapshot.c */
extern const struct node_ops regs_ops;		/* regs.c */
extern const struct node_ops fault_ops;		/* fault.c */
extern const struct node_ops layout_ops;	/* layout.c */
extern const struct node_ops pmem_ops;		/* pmem.c */
extern const struct node_ops vmem_ops;		/* vmem.c */
extern const struct node_ops core_ops;		/* core.c */
/* core.c: the layouts opens of core made (one per state of the sandbox). */
uint64_t core__layouts(void);
/*
 * core.c: let go of the core kept for the next open, and of the regions
 * it holds (an rmdir, the end); one an open reads goes with its last close.
 */
void core__forget(void);
extern const struct node_ops metrics_ops;	/* metrics.c */
/* metrics.c: a read or write request of n's kind; a control write's result. */
void metrics__count(const struct node *n, bool write, size_t size);
void metrics__control(const struct node *n, int err);
/* metrics.c: a change no write to a file makes (mkdir, rmdir). */
void metrics__changed(void);
extern const struct node_ops snapfile_ops;	/* snapfile.c */

/* snapfile.c: the file ino of snapshot directory d, or false. */
bool snapfile__node(struct node *d, fuse_ino_t ino, struct node *n);
int snapfile__lookup(const struct snapshot *s, const char *name);

/*
 * why.c: a refusal, said in one log line (fs_log) and kept as the reason
 * the caller's session reads in `why`.  The caller is the process whose
 * request this worker thread serves between fs_caller_begin and
 * fs_caller_end (outside them, fs_refuse only logs).
 */
void fs_refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fs_caller_begin(fuse_req_t req);
void fs_caller_end(void);

/* root.c: how many files the root has of its own. */
unsigned root__count(void);
/* What no region may be called: the root's names, NULL-ended. */
extern const char *const root_reserved[];

#endif
