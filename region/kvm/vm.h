/*
 * The KVM virtual machine and its memory slots.  The VM owns the mapping
 * of regions to slots: which region is where, and with what access; a
 * mapped region carries the VM's guard (region.h), which is how the
 * region's exclusivity keeps the guest out.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_VM_H
#define REGIONFS_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "region/util/why.h"

struct region;

/* KVM guarantees at least 32 user slots; we never track more than this. */
#define VM_MAX_SLOTS 512

struct vm_slot {
	struct region *region;	/* NULL: free */
	uint64_t gpa;
	bool ro;
	/* runs as of its last harvest with no vCPU running; 0: none */
	uint64_t harvested;
};

struct vm {
	int kvm_fd;
	int vm_fd;
	unsigned nr_slots;
	unsigned phys_bits;	/* guest-physical address width */
	bool readonly_mem;	/* KVM_CAP_READONLY_MEM */
	/*
	 * Slot bookkeeping: every map, move and unmap happens under it.
	 * Acquired *after* the region being mapped (held exclusive) and the
	 * vCPU's lock (an exit looks up the region at an address); never
	 * held while taking either.
	 */
	pthread_mutex_t lock;
	struct vm_slot slots[VM_MAX_SLOTS];
	/*
	 * Moves with every map, move and unmap (under lock; read without
	 * it): what is worked out from the layout alone (the layout file,
	 * the core's size) stays true while it does not move.
	 */
	_Atomic uint64_t gen;

	/*
	 * The guest side of exclusivity.  A running vCPU holds every mapped
	 * region shared; an exclusive operation on a mapped region holds the
	 * guest out.  Both sides decide under run_lock, so neither can start
	 * while the other is under way.  The last lock of the order: taken
	 * under the vCPU's lock (vcpu__run) or a region's (the guard), held
	 * for a few stores, nothing taken under it.
	 */
	pthread_mutex_t run_lock;
	bool running;		/* a vCPU may be inside KVM_RUN */
	unsigned excl_ops;	/* exclusive operations on mapped regions */
	/*
	 * Counts the times a vCPU may have entered the guest: every running
	 * period, and every KVM_RUN outside one (vm__note_run).  Only the
	 * guest writes the dirty logs, so a slot harvested with no vCPU
	 * running, and no run since, has nothing new in its log.
	 */
	uint64_t runs;
};

/* Open /dev/kvm (or path), check the API version and create the VM. */
int vm__open(const char *path, struct vm **out, struct why *why);
void vm__close(struct vm *vm);

/*
 * Map r at gpa (or move it there, or change its access): the caller holds
 * r exclusive.  EINVAL: gpa not page-aligned or beyond phys_bits;
 * EEXIST: overlaps another mapping; ENOSPC: no free slot; EOPNOTSUPP: ro
 * without KVM_CAP_READONLY_MEM; why says which.
 */
int vm__map_region(struct vm *vm, struct region *r, uint64_t gpa, bool ro,
		   struct why *why);
int vm__unmap_region(struct vm *vm, struct region *r, struct why *why);
bool vm__guest_running(struct vm *vm);
/* The slot table's generation (gen above); 0 without a VM. */
uint64_t vm__layout_gen(struct vm *vm);
/*
 * The guest's writes to r's slot since the last call, into r's stamps: no
 * ioctl when no vCPU ran since a harvest made while none was running.
 */
int vm__dirty_harvest(struct vm *vm, struct region *r);
/* Where r is mapped: true with *gpa (and *ro), false when it is not. */
bool vm__mapping(struct vm *vm, const struct region *r, uint64_t *gpa,
		 bool *ro);

/* The vCPU: EBUSY while an exclusive operation on a mapped region runs. */
int vm__guest_enter(struct vm *vm);
/* A KVM_RUN outside running (completing an exit): the guest may write. */
void vm__note_run(struct vm *vm);
void vm__guest_exit(struct vm *vm);
/* An exclusive operation on a mapped region: EBUSY while the guest runs. */
int vm__excl_enter(struct vm *vm);
void vm__excl_exit(struct vm *vm);

/*
 * The region mapped over gpa, with a reference (region__put it), and the
 * guest address where it starts; NULL when nothing is mapped there.
 */
struct region *vm__region_at(struct vm *vm, uint64_t gpa, uint64_t *start);

#endif
