/*
 * The snapshot table: the snapshots a sandbox holds, their copies, and the
 * limits on them.  Taking and restoring them is snapshot.h's business;
 * this file only keeps them and finds them.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_SNAPS_H
#define REGIONFS_SNAPS_H

#include "region/mem/region.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

struct vcpu_saved;

/* Hard ceiling on the snapshot table; the limit in force is an option. */
#define SANDBOX_SNAPSHOTS_MAX 256
/*
 * Default limits (options): a count, and the memory the copies take (when
 * 0: half of the machine's RAM or of the daemon's cgroup's memory limit,
 * whichever is lower).
 */
#define SNAPSHOTS_DEFAULT 16

/* A region of the sandbox, or a copy in a snapshot, with its id. */
struct sandbox_slot {
	struct region *region;
	uint64_t id;		/* never reused, so inode numbers stay unique */
};

/*
 * Where a copy holds data, a bit a page, from its extents, walked at the
 * first restore (the copy never changes): a restore then copies a short
 * dirty run with memcpy between the mappings, no syscall.  Mapped lazily
 * (MAP_NORESERVE): only the words of pages with data take memory.
 */
struct snap_data {
	uint64_t *bits;		/* NULL: not walked yet */
	size_t len;		/* bytes mapped */
};

struct snapshot {
	char name[REGION_NAME_MAX + 1];
	uint64_t id;		/* from the sandbox's ids: inode numbers */
	atomic_int refs;
	struct timespec created;
	uint32_t boundary;	/* dirty epoch at the snapshot point */
	/*
	 * Per region, the epoch since which the live region may differ from
	 * the copy: the boundary, or the end of the last restore of it
	 * (changed only under the table's op lock).
	 */
	uint32_t *synced;
	unsigned nr;
	struct sandbox_slot *regions;	/* sealed (readonly) copies */
	/*
	 * Their indices sorted by name, made as it is added (snaps__add), so
	 * a path walk in its directory is O(log regions); NULL: a scan.
	 */
	unsigned *by_name;
	struct snap_data *data;		/* per copy; under the op lock */
	struct vcpu_saved *cpu;		/* NULL without a vCPU */
	uint64_t bytes;			/* memory the copies take */
	/*
	 * The files that make its directory resumable (snapfiles.c), made
	 * once when it is taken: vcpu_state (vcpu.h's format) and info.
	 */
	uint8_t *state_file;
	size_t state_len;
	char *info;
	size_t info_len;
	/*
	 * info's checksum lines (region/persist/info.h), its last: the sums
	 * are made at the first read of info (a snapshot that is never saved
	 * costs nothing), written over the placeholders at sums_at, which
	 * have their length, so info's size is known from the start.
	 */
	size_t sums_at;
	atomic_bool summed;
	pthread_mutex_t sums_lock;
	/*
	 * The sums, per copy, once summed: a diff's are made from its
	 * parent's and the pages it holds (sum__diff).  Taken after a
	 * diff's own sums_lock, its parent's: child before parent.
	 */
	uint32_t *crcs;
	/*
	 * Who it is, wherever it is saved and loaded again (info's id line,
	 * a diff's parent file), and for a diff snapshot the parent it reads
	 * through to (a reference; diff.h).
	 */
	uint64_t token;
	struct snapshot *parent;
	char *parent_file;
	size_t parent_len;
};

struct snaps {
	/* The table below: a leaf, taken under sb->lock, never before it. */
	pthread_rwlock_t lock;
	struct snapshot *snaps[SANDBOX_SNAPSHOTS_MAX];
	unsigned nr;
	/*
	 * Their copies, and the diffs among them: changed under the lock,
	 * read without it (statfs), since a crowd of readers would keep a
	 * snapshot's add, which writes the table, waiting.
	 */
	_Atomic unsigned copies, diffs;
	unsigned max;
	uint64_t max_bytes;
	/*
	 * What the copies take, until they are really freed: each copy holds
	 * its part (region.h's charge), so a removed snapshot a reader still
	 * holds open counts against the limit until it is closed.
	 */
	_Atomic uint64_t bytes;
	/*
	 * One snapshot, restore or snapshot removal at a time.  The first
	 * lock of the order (doc/design-core.md): must be acquired *before*
	 * the sandbox's lock and any region's; it is the only holder of more
	 * than one region lock at once.
	 */
	pthread_mutex_t op;
	/* For metrics: restores done, pages they copied, the last one's time. */
	atomic_uint_fast64_t restores, restored_pages, restore_last_ns;
};

void snaps__init(struct snaps *t);
/* Limits: 0 keeps the defaults. */
void snaps__limits(struct snaps *t, unsigned max, uint64_t max_bytes);
void snaps__free(struct snaps *t);
/*
 * Whether need more bytes of copies fit under max_bytes: ENOSPC, with
 * why saying what (e.g. "the copies") would take how much.
 */
int snaps__fits(struct snaps *t, uint64_t need, const char *what,
		struct why *why);

/* A new, empty snapshot of nr regions, or NULL (ENOMEM). */
struct snapshot *snapshot__alloc(const char *name, unsigned nr);
void snapshot__put(struct snapshot *s);
/* Add s (the table takes the reference); remove by name (ENOENT). */
void snaps__add(struct snaps *t, struct snapshot *s);
int snaps__remove(struct snaps *t, const char *name);
/* Under t->lock: the index of name, or -1. */
int snaps__index_locked(struct snaps *t, const char *name);

/* Lookups return a reference (snapshot__put it) or NULL. */
struct snapshot *snapshot__find(struct snaps *t, const char *name);
struct snapshot *snapshot__find_id(struct snaps *t, uint64_t id);
struct snapshot *snapshot__nth(struct snaps *t, unsigned idx);

/* A snapshot's regions (references, or NULL). */
struct region *snapshot__region(struct snapshot *s, const char *name,
				uint64_t *id);
struct region *snapshot__nth_region(struct snapshot *s, unsigned idx,
				    uint64_t *id);
/*
 * Make s's vcpu_state and info (s complete: its copies, the vCPU, the time
 * and name): ENOMEM.
 */
int snapshot__make_files(struct snapshot *s);
/*
 * s's info, its checksums made at the first call (they cost reading the
 * copies' data once): ENOMEM, or an error reading a copy.
 */
int snapshot__info(struct snapshot *s, const char **text, size_t *len);

/* The copy with this id in any snapshot. */
struct region *snapshot__find_region_id(struct snaps *t, uint64_t id);

#endif
