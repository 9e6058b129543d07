/*
 * Snapshots: a consistent copy of every region of the sandbox, and of the
 * vCPU's state, taken and put back under exclusivity.
 */
#ifndef REGIONFS_SNAPSHOT_H
#define REGIONFS_SNAPSHOT_H

#include "region/sandbox.h"

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

struct vcpu;
struct vcpu_saved;

/*
 * Default limits (options): a count, and the memory the copies take (half
 * of the machine's RAM when 0).  The ceiling is SANDBOX_SNAPSHOTS_MAX.
 */
#define SNAPSHOTS_DEFAULT 16
/* How long a snapshot, restore or removal waits for another to finish. */
#define SNAPSHOT_WAIT_MS 10000

struct snapshot {
	char name[REGION_NAME_MAX + 1];
	uint64_t id;		/* from the sandbox's ids: inode numbers */
	atomic_int refs;
	struct timespec created;
	uint32_t boundary;	/* dirty epoch at the snapshot point */
	/*
	 * Per region, the epoch since which the live region may differ from
	 * the copy: the boundary, or the end of the last restore of it
	 * (changed only under snap_op).
	 */
	uint32_t *synced;
	unsigned nr;
	struct sandbox_slot *regions;	/* sealed (readonly) copies */
	struct vcpu_saved *cpu;		/* NULL without a vCPU */
	uint64_t bytes;			/* memory the copies take */
};

/*
 * Take snapshot name: exclusivity on every region at once, a sparse copy
 * of each (pages of zeros are left out, holes stay holes), the vCPU's
 * registers.  0 or a positive errno with a sentence in why:
 * EINVAL (bad name), EEXIST (taken), EBUSY (the vCPU runs, or a region's
 * exclusivity was not available), ENOSPC (-o max_snapshots,
 * max_snapshot_total), ENOMEM/EIO.
 */
int snapshot__take(struct sandbox *sb, struct vcpu *v, const char *name,
		   char *why, size_t why_len);
/*
 * Put snapshot name back: every region it holds gets its bytes back (only
 * the pages written since the snapshot, when tracked), the vCPU its state.
 * Regions created since are left alone.  Checked before anything changes:
 * ENOENT (no such snapshot, or one of its regions was removed), EINVAL
 * (a region was resized since), EBUSY (the vCPU runs, or exclusivity).
 */
int snapshot__restore(struct sandbox *sb, struct vcpu *v, const char *name,
		      char *why, size_t why_len);
/* rmdir: the copies go once nobody has them open.  ENOENT, EBUSY. */
int snapshot__remove(struct sandbox *sb, const char *name);

/* Lookups return a reference (snapshot__put it) or NULL. */
struct snapshot *snapshot__find(struct sandbox *sb, const char *name);
struct snapshot *snapshot__find_id(struct sandbox *sb, uint64_t id);
struct snapshot *snapshot__nth(struct sandbox *sb, unsigned idx);
void snapshot__put(struct snapshot *s);

/* A snapshot's regions (references, or NULL). */
struct region *snapshot__region(struct snapshot *s, const char *name,
				uint64_t *id);
struct region *snapshot__nth_region(struct snapshot *s, unsigned idx,
				    uint64_t *id);
/* The copy with this id in any snapshot. */
struct region *snapshot__find_region_id(struct sandbox *sb, uint64_t id);

#endif
