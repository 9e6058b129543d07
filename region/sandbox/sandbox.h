/*
 * The sandbox: its named regions, its VM, its vCPU's boot region and its
 * snapshots.  What the mount shows.  table.c keeps the region table;
 * control.c holds every control operation, one entry each; snapshot.c
 * takes and restores snapshots.
 *
 * Errors: 0 or a positive errno; every operation that can refuse takes a
 * struct why (it may be NULL) and says there why it refused.
 */
#ifndef REGIONFS_SANDBOX_H
#define REGIONFS_SANDBOX_H

#include "region/kvm/vm.h"
#include "region/mem/region.h"
#include "region/sandbox/snaps.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Hard ceiling on the region table; the limit in force is an option. */
#define SANDBOX_REGIONS_MAX 4096
/* How long mkdir and rmdir wait for a snapshot or restore (EBUSY). */
#define SANDBOX_TABLE_WAIT_MS 2000
/*
 * The address space regions and their snapshot copies may reserve: half
 * of x86-64's 128 TiB of user space, the rest left to the process.  The
 * default max_total shares it between the regions and max_snapshots
 * copies of them, so mkdir gives ENOSPC, never ENOMEM, and a snapshot
 * always finds room for its copies.
 */
#define SANDBOX_ADDRESS_SPACE (1ULL << 46)

/* Buckets of the index by name: a power of two, twice the most regions. */
#define SANDBOX_NAME_BUCKETS (2 * SANDBOX_REGIONS_MAX)

struct vcpu;
struct vcpu_config;
struct sandbox_name;

struct sandbox {
	/*
	 * The table; regions have their own locks.  Acquired *after*
	 * snaps.op and *before* any region's lock (which are taken in table
	 * order when more than one is held), the vCPU's and the VM's.
	 */
	pthread_rwlock_t lock;
	struct sandbox_slot slots[SANDBOX_REGIONS_MAX];	/* sorted by id */
	unsigned nr;
	/*
	 * The slots' ids by region name (a chained hash, under lock): every
	 * path walk through the mount looks a name up, O(1) whatever the
	 * number of regions.
	 */
	struct sandbox_name *names[SANDBOX_NAME_BUCKETS];
	unsigned max_regions;
	uint64_t max_total;	/* bytes of mem_size, all regions together */
	bool max_total_default;	/* derived from the snapshot limit */
	uint64_t total;
	/* The huge page size of regions sandbox__create makes (0: none). */
	uint64_t huge;
	/*
	 * total is also changed by resize, which holds a region: own lock, a
	 * leaf (taken under sb->lock or a region's, nothing taken under it).
	 */
	pthread_mutex_t acct;
	uint64_t next_id;
	/* Names no region may take (the mount's own files), NULL-ended. */
	const char *const *reserved;
	/*
	 * The regions' resident bytes as statfs last summed them, and when:
	 * the sum is a walk of every region, so it is reused while no region
	 * changed (region__changes) and for at most SANDBOX_USAGE_MS, and
	 * for SANDBOX_USAGE_MIN_MS whatever changed.
	 * Taken after the table's lock, never before it.
	 */
	pthread_mutex_t usage_lock;
	bool usage_known;
	uint64_t usage_resident, usage_changes, usage_ms;
	/* --from's checks made after the start (fromcheck.c), or NULL. */
	struct from_check *check;
	struct vm *vm;		/* NULL: no KVM, inspection only */
	struct why vm_why;	/* why there is no VM */
	struct snaps snaps;
};

/* max_total 0: SANDBOX_ADDRESS_SPACE / (1 + max_snapshots). */
/*
 * How late statfs's resident bytes may be: MAX for the writes no region
 * records as they happen (region__changes), MIN for the others.  One
 * walk of the regions per MAX whoever asks and however often, per MIN
 * while the regions keep changing.
 */
#define SANDBOX_USAGE_MIN_MS 50
#define SANDBOX_USAGE_MS 100
/*
 * What the sandbox holds, for statfs: O(1), but for a walk of the regions
 * at most once per SANDBOX_USAGE_MS or change (see usage_lock).
 */
struct sandbox_usage {
	uint64_t mem_size;	/* of every region */
	uint64_t limit;		/* -o max_total, or mem_size without one */
	uint64_t resident;	/* bytes the regions' memfds hold */
	unsigned regions, snapshots, copies;
	unsigned diffs;		/* snapshots that are diffs of another */
};
void sandbox__usage(struct sandbox *sb, struct sandbox_usage *u);

int sandbox__new(struct sandbox **out, unsigned max_regions,
		 uint64_t max_total);
/* Limits of the snapshots: 0 keeps the defaults (snaps.h). */
void sandbox__snapshot_limits(struct sandbox *sb, unsigned max_snaps,
			      uint64_t max_bytes);
/* Names that are the mount's own: region names may not be one of them. */
void sandbox__reserve_names(struct sandbox *sb, const char *const *names);
/* Open the VM; on failure the sandbox works without one (ENODEV later). */
int sandbox__open_vm(struct sandbox *sb, const char *kvm_path);
void sandbox__free(struct sandbox *sb);

/*
 * EINVAL/ENAMETOOLONG: bad name or size; EEXIST: taken; ENOSPC: limits;
 * EBUSY: a snapshot or restore held the table past SANDBOX_TABLE_WAIT_MS.
 */
int sandbox__create(struct sandbox *sb, const char *name, uint64_t size,
		    uint64_t *id, struct why *why);
/*
 * The same on pages of huge bytes (0: ordinary pages), whatever sb->huge:
 * EINVAL when size is not a multiple of it, ENOMEM when the huge pages
 * reserved in the system (/proc/sys/vm/nr_hugepages) cannot hold it.
 */
int sandbox__create_paged(struct sandbox *sb, const char *name, uint64_t size,
			  uint64_t huge, uint64_t *id, struct why *why);
/* Unmaps first; EBUSY when exclusivity is not available. */
/*
 * The same, the region mapping a file copy-on-write (region.h's
 * region__new_cow): why says why not, and the caller copies instead.
 */
/*
 * Checks after the start (fromcheck.c): copy's bytes (a snapshot's copy
 * that never changes) against crc, what naming the saved file; reads of
 * copy and of live (the region it was taken of) wait for the verdict
 * (region__check_begin).  Queued
 * while loading, then started; sandbox__from_wait waits up to ms for
 * them: 0 passed (or none), EBUSY still checking, EIO (or the read's
 * errno) failed, why says which file.
 */
#define FROM_CHECK_WHAT_MAX 4352
int sandbox__check_later(struct sandbox *sb, struct region *copy,
			 struct region *live, uint32_t crc, const char *what);
/* log: the verdict, one line (NULL: none). */
int sandbox__check_start(struct sandbox *sb,
			 void (*log)(void *arg, const char *fmt, ...),
			 void *log_arg, struct why *why);
int sandbox__from_wait(struct sandbox *sb, unsigned ms, struct why *why);
void sandbox__check_free(struct sandbox *sb);

struct sandbox_cow {
	int fd;
	const char *path;
	const struct cow_lease *lease;
};
int sandbox__create_cow(struct sandbox *sb, const char *name, uint64_t size,
			const struct sandbox_cow *cow, struct why *why);
int sandbox__remove(struct sandbox *sb, const char *name, struct why *why);

/* Lookups return a reference (region__put it) or NULL. */
struct region *sandbox__find(struct sandbox *sb, const char *name,
			     uint64_t *id);
/* By id: a live region (snapshot__find_region_id finds the copies). */
struct region *sandbox__find_id(struct sandbox *sb, uint64_t id);
/* The idx-th region in table order, for readdir; NULL past the end. */
struct region *sandbox__nth(struct sandbox *sb, unsigned idx, uint64_t *id);

/*
 * Control operations (control.c): each takes exclusivity on the region.
 * set_guest_addr: map, move or (none) unmap; ENODEV without a VM.
 * set_access: rw/ro for the guest, applied at once when mapped.
 * resize: EPERM while mapped; ENOSPC past max_total.
 * zero: punch the whole region (zero_from: from an offset on).
 * dirty_clear: `echo 0 > dirty`.
 */
int sandbox__set_guest_addr(struct sandbox *sb, struct region *r,
			    bool none, uint64_t gpa, struct why *why);
int sandbox__set_access(struct sandbox *sb, struct region *r, bool ro,
			struct why *why);
int sandbox__resize(struct sandbox *sb, struct region *r, uint64_t size,
		    struct why *why);
int sandbox__zero(struct sandbox *sb, struct region *r, struct why *why);
/*
 * Put r's bytes on pages of page bytes: the base page size, 2M or 1G
 * (EINVAL otherwise, or when mem_size is not a multiple); EPERM while
 * mapped; ENOMEM when the huge pages reserved cannot hold it.
 */
int sandbox__set_page_size(struct sandbox *sb, struct region *r,
			   uint64_t page, struct why *why);
/* Zeros from off to the end; EFBIG past mem_size. */
int sandbox__zero_from(struct sandbox *sb, struct region *r, uint64_t off,
		       struct why *why);
int sandbox__dirty_clear(struct sandbox *sb, struct region *r,
			 struct why *why);
/* Where r is mapped in the guest: true with *gpa, false when not. */
bool sandbox__guest_addr(struct sandbox *sb, const struct region *r,
			 uint64_t *gpa);
/* Create region name of size and map it at gpa (the demo, --region). */
int sandbox__add_mapped(struct sandbox *sb, const char *name, uint64_t size,
			uint64_t gpa, struct why *why);
/*
 * The vCPU on a region "boot" made for it (vcpu.h): ENODEV without a VM,
 * EEXIST when a region named "boot" exists.  The region goes again when
 * the vCPU cannot be made.
 */
int sandbox__new_vcpu(struct sandbox *sb, const struct vcpu_config *cfg,
		      struct vcpu **out, struct why *why);

#endif
