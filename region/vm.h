/* The KVM virtual machine and its memory slots. */
#ifndef REGIONFS_VM_H
#define REGIONFS_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct region;

/* KVM guarantees at least 32 user slots; we never track more than this. */
#define VM_MAX_SLOTS 512

struct vm {
	int kvm_fd;
	int vm_fd;
	unsigned nr_slots;
	unsigned phys_bits;	/* guest-physical address width */
	bool readonly_mem;	/* KVM_CAP_READONLY_MEM */
	/* Slot bookkeeping: every map, move and unmap happens under it. */
	pthread_mutex_t lock;
	struct region *slots[VM_MAX_SLOTS];

	/*
	 * The guest side of exclusivity.  A running vCPU holds every mapped
	 * region shared; an exclusive operation on a mapped region holds the
	 * guest out.  Both sides decide under run_lock, so neither can start
	 * while the other is under way.
	 */
	pthread_mutex_t run_lock;
	bool running;		/* a vCPU may be inside KVM_RUN */
	unsigned excl_ops;	/* exclusive operations on mapped regions */
};

/*
 * Open /dev/kvm (or path), check the API version and create the VM.
 * Returns 0 or a positive errno, with a sentence in why.
 */
int vm__open(const char *path, struct vm **out, char *why, size_t why_len);
void vm__close(struct vm *vm);

/*
 * Map r at gpa (or move it there, or change its access): the caller holds
 * r exclusive.  EINVAL: gpa not page-aligned or beyond phys_bits;
 * EEXIST: overlaps another mapping; ENOSPC: no free slot; EOPNOTSUPP: ro
 * without KVM_CAP_READONLY_MEM.
 */
int vm__map_region(struct vm *vm, struct region *r, uint64_t gpa, bool ro);
int vm__unmap_region(struct vm *vm, struct region *r);
bool vm__guest_running(struct vm *vm);
/* The guest's writes to r's slot since the last call, into r's stamps. */
int vm__dirty_harvest(struct vm *vm, struct region *r);

/* The vCPU: EBUSY while an exclusive operation on a mapped region runs. */
int vm__guest_enter(struct vm *vm);
void vm__guest_exit(struct vm *vm);
/* An exclusive operation on a mapped region: EBUSY while the guest runs. */
int vm__excl_enter(struct vm *vm);
void vm__excl_exit(struct vm *vm);

/* The region mapped at gpa, if any (no reference taken). */
struct region *vm__region_at(struct vm *vm, uint64_t gpa);

#endif
