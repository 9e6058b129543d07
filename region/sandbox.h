/* The sandbox: its named regions and its VM.  What the mount shows. */
#ifndef REGIONFS_SANDBOX_H
#define REGIONFS_SANDBOX_H

#include "region/region.h"
#include "region/vm.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Hard ceiling on the region table; the limit in force is an option. */
#define SANDBOX_REGIONS_MAX 4096
/* How long mkdir and rmdir wait for a snapshot or restore (EBUSY). */
#define SANDBOX_TABLE_WAIT_MS 2000
/* And on the snapshot table. */
#define SANDBOX_SNAPSHOTS_MAX 256

struct snapshot;

struct sandbox_slot {
	struct region *region;
	uint64_t id;		/* never reused, so inode numbers stay unique */
};

struct sandbox {
	pthread_rwlock_t lock;	/* the table; regions have their own locks */
	struct sandbox_slot slots[SANDBOX_REGIONS_MAX];
	unsigned nr;
	unsigned max_regions;
	uint64_t max_total;	/* bytes of mem_size, all regions together */
	uint64_t total;
	/* total is also changed by resize, which holds a region: own lock. */
	pthread_mutex_t acct;
	uint64_t next_id;
	struct vm *vm;		/* NULL: no KVM, inspection only */
	char vm_why[160];	/* why there is no VM */

	/* Snapshots (snapshot.c): the table under snap_lock. */
	pthread_rwlock_t snap_lock;
	struct snapshot *snaps[SANDBOX_SNAPSHOTS_MAX];
	unsigned nr_snaps;
	unsigned max_snaps;
	uint64_t max_snap_bytes;
	uint64_t snap_bytes;
	/* One snapshot, restore or snapshot removal at a time. */
	pthread_mutex_t snap_op;
};

int sandbox__new(struct sandbox **out, unsigned max_regions,
		 uint64_t max_total);
/* Limits of the snapshots: 0 keeps the defaults (snapshot.h). */
void sandbox__snapshot_limits(struct sandbox *sb, unsigned max_snaps,
			      uint64_t max_bytes);
/* Open the VM; on failure the sandbox works without one (ENODEV later). */
int sandbox__open_vm(struct sandbox *sb, const char *kvm_path);
void sandbox__free(struct sandbox *sb);

/*
 * EINVAL/ENAMETOOLONG: bad name or size; EEXIST: taken; ENOSPC: limits;
 * EBUSY: a snapshot or restore held the table past SANDBOX_TABLE_WAIT_MS.
 */
int sandbox__create(struct sandbox *sb, const char *name, uint64_t size,
		    uint64_t *id);
/* Unmaps first; EBUSY when exclusivity is not available. */
int sandbox__remove(struct sandbox *sb, const char *name);

/* Lookups return a reference (region__put it) or NULL. */
struct region *sandbox__find(struct sandbox *sb, const char *name,
			     uint64_t *id);
/* By id: a live region, or a snapshot's copy. */
struct region *sandbox__find_id(struct sandbox *sb, uint64_t id);
/* The idx-th region in table order, for readdir; NULL past the end. */
struct region *sandbox__nth(struct sandbox *sb, unsigned idx, uint64_t *id);

/*
 * Control operations: each takes exclusivity on the region.
 * set_guest_addr: map, move or (none) unmap; ENODEV without a VM.
 * set_access: rw/ro for the guest, applied at once when mapped.
 * resize: EPERM while mapped; ENOSPC past max_total.
 */
int sandbox__set_guest_addr(struct sandbox *sb, struct region *r,
			    bool none, uint64_t gpa);
int sandbox__set_access(struct sandbox *sb, struct region *r, bool ro);
int sandbox__resize(struct sandbox *sb, struct region *r, uint64_t size);

#endif
