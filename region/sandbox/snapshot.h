/*
 * Snapshots: a consistent copy of every region of the sandbox, and of the
 * vCPU's state, taken and put back under exclusivity.  The table that
 * keeps them is snaps.h.
 *
 * Errors: 0 or a positive errno, with the reason in why.
 */
#ifndef REGIONFS_SNAPSHOT_H
#define REGIONFS_SNAPSHOT_H

#include "region/sandbox/sandbox.h"

struct vcpu;

/* How long a snapshot, restore or removal waits for another to finish. */
#define SNAPSHOT_WAIT_MS 10000

/*
 * Take snapshot name: exclusivity on every region at once, a sparse copy
 * of each (pages of zeros are left out, holes stay holes), the vCPU's
 * registers.  EINVAL (bad name), EEXIST (taken), EBUSY (the vCPU runs, or
 * a region's exclusivity was not available), ENOSPC (-o max_snapshots,
 * max_snapshot_total), ENOMEM/EIO.
 */
int snapshot__take(struct sandbox *sb, struct vcpu *v, const char *name,
		   struct why *why);
/*
 * The same, with name and parent apart: name a diff snapshot of parent
 * (diff.h) unless parent is NULL; token its identity (0: a new one; --from
 * gives the saved one).  snapshot__take takes "NAME" or "NAME:PARENT".
 * Also ENOENT (no parent), EOPNOTSUPP (-o nodirty), EMLINK (too deep).
 */
int snapshot__take_as(struct sandbox *sb, struct vcpu *v, const char *name,
		      const char *parent, uint64_t token, struct why *why);
/*
 * Put snapshot name back: every region it holds gets its bytes back (only
 * the pages written since the snapshot, when tracked), the vCPU its state.
 * Regions created since are left alone.  Checked before anything changes:
 * ENOENT (no such snapshot, or one of its regions was removed), EINVAL
 * (a region was resized since), EBUSY (the vCPU runs, or exclusivity).
 */
int snapshot__restore(struct sandbox *sb, struct vcpu *v, const char *name,
		      struct why *why);
/*
 * rmdir: the copies go once nobody has them open.  ENOENT, EBUSY (also:
 * a diff snapshot of it exists).
 */
int snapshot__remove(struct sandbox *sb, const char *name, struct why *why);

#endif
