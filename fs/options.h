/*
 * The daemon's options (options.c): the command line and -o words, the
 * mount.fuse3 calling convention (SOURCE MOUNTPOINT), conf=FILE, and the
 * checks made before anything is built.  Messages go to stderr; every
 * function returns 0 or a positive errno.
 */
#ifndef REGIONFS_OPTIONS_H
#define REGIONFS_OPTIONS_H

#include "fs/state.h"
#include "region/util/parse.h"

#include <stdbool.h>
#include <stdint.h>

#define DEFAULT_REGION_SIZE (64ULL << 20)
#define MAX_SPECS 256
/* conf=FILE is read whole at start: bound it, and each of its lines. */
#define CONF_MAX_BYTES (64 << 10)
#define CONF_LINE_MAX 4096
/* SOURCE becomes the mount's fsname: what findmnt shows, mount -a compares. */
#define SOURCE_MAX 64
#define SOURCE_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
		     "0123456789_.:@+/-"
/* Bounds of the FUSE thread pool: never more than this many workers. */
#define THREADS_MAX 64

struct options {
	struct region_spec specs[MAX_SPECS];
	unsigned nr_specs;
	char *default_size;
	char *max_total;
	unsigned max_regions;
	unsigned max_threads;
	char *kvm;
	char *log;
	char *guest;
	char *entry;
	char *console_max;
	char *from;
	int from_unchecked;
	int from_copy;
	int demo;
	char *uid, *gid, *reader_gid;
	int no_passthrough;
	int nodirty;
	int mmap_rw;
	int hugepages;
	unsigned max_snapshots;
	char *max_snapshot_total;
	int show_help;
	int show_version;
	/* [SOURCE] MOUNTPOINT, as given (mount.fuse3 passes both). */
	const char *nonopts[2];
	unsigned nr_nonopts;
	const char *source;
	/* "FILE:LINE" while a conf= file is read, for the messages. */
	const char *where;
	bool bad;
};

/* The limits, checked before anything is built. */
struct limits {
	uint64_t max_total, max_snap_total, console_max;
};

/* fuse_opt_parse with our table: EINVAL after a message on a bad option. */
int options__parse(struct fuse_args *args, struct options *o);
void options__usage(const char *prog);
/* SOURCE MOUNTPOINT: keep the mountpoint for fuse_parse_cmdline. */
int options__take_nonopts(struct options *o, struct fuse_args *args);
int options__check_mountpoint(const char *path);
/* Sizes, limits, ids: into l and rfs. */
int options__check(struct options *o, struct limits *l);

#endif
