/*
 * The VM: one KVM VM per sandbox.  Regions are mapped into it with
 * KVM_SET_USER_MEMORY_REGION; the host address is the region's base, so
 * the guest and the host share the memfd's pages.
 */
#include "region/kvm/vm.h"
#include "region/mem/region.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static unsigned host_phys_bits(void)
{
	unsigned eax, ebx, ecx, edx;

	if (__get_cpuid(0x80000008, &eax, &ebx, &ecx, &edx))
		return eax & 0xff;
	return 36;	/* the architectural minimum with PAE */
}

int vm__open(const char *path, struct vm **out, struct why *why)
{
	struct vm *vm;
	int ret, n;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return ENOMEM;
	vm->vm_fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->run_lock, NULL);

	vm->kvm_fd = open(path, O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		ret = errno;
		why__set(why, ret, "cannot open %s: %s", path, strerror(ret));
		goto out_free;
	}
	n = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (n != KVM_API_VERSION) {
		ret = ENOTSUP;
		why__set(why, ret, "%s speaks KVM API %d, not %d", path, n,
			 KVM_API_VERSION);
		goto out_close;
	}
	/* KVM_CREATE_VM can fail with EINTR under load: retry a few times. */
	for (int tries = 0; tries < 10; tries++) {
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
		if (vm->vm_fd >= 0 || errno != EINTR)
			break;
	}
	if (vm->vm_fd < 0) {
		ret = errno;
		why__set(why, ret, "KVM_CREATE_VM: %s", strerror(ret));
		goto out_close;
	}
	n = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	vm->nr_slots = n > 0 ? (unsigned)n : 32;
	if (vm->nr_slots > VM_MAX_SLOTS)
		vm->nr_slots = VM_MAX_SLOTS;
	vm->readonly_mem =
		ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0;
	vm->phys_bits = host_phys_bits();
	*out = vm;
	return 0;

out_close:
	close(vm->kvm_fd);
out_free:
	pthread_mutex_destroy(&vm->run_lock);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
	return ret;
}

void vm__close(struct vm *vm)
{
	if (!vm)
		return;
	close(vm->vm_fd);
	close(vm->kvm_fd);
	pthread_mutex_destroy(&vm->lock);
	pthread_mutex_destroy(&vm->run_lock);
	free(vm);
}

uint64_t vm__layout_gen(struct vm *vm)
{
	return vm ? atomic_load(&vm->gen) : 0;
}

bool vm__guest_running(struct vm *vm)
{
	bool running;

	pthread_mutex_lock(&vm->run_lock);
	running = vm->running;
	pthread_mutex_unlock(&vm->run_lock);
	return running;
}

int vm__guest_enter(struct vm *vm)
{
	int ret = 0;

	pthread_mutex_lock(&vm->run_lock);
	if (vm->excl_ops) {
		ret = EBUSY;
	} else {
		vm->running = true;
		vm->runs++;
	}
	pthread_mutex_unlock(&vm->run_lock);
	return ret;
}

void vm__note_run(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	vm->runs++;
	pthread_mutex_unlock(&vm->run_lock);
}

/* The runs so far when no vCPU is running, else 0 (the log may grow). */
static uint64_t runs_if_idle(struct vm *vm)
{
	uint64_t runs;

	pthread_mutex_lock(&vm->run_lock);
	runs = vm->running ? 0 : vm->runs;
	pthread_mutex_unlock(&vm->run_lock);
	return runs;
}

void vm__guest_exit(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	vm->running = false;
	pthread_mutex_unlock(&vm->run_lock);
}

int vm__excl_enter(struct vm *vm)
{
	int ret = 0;

	pthread_mutex_lock(&vm->run_lock);
	if (vm->running)
		ret = EBUSY;
	else
		vm->excl_ops++;
	pthread_mutex_unlock(&vm->run_lock);
	return ret;
}

void vm__excl_exit(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	vm->excl_ops--;
	pthread_mutex_unlock(&vm->run_lock);
}

/* The slot r is in, or -1; under vm->lock. */
static int slot_of(struct vm *vm, const struct region *r)
{
	for (unsigned i = 0; i < vm->nr_slots; i++)
		if (vm->slots[i].region == r)
			return (int)i;
	return -1;
}

/*
 * Tracked regions log the guest's writes (KVM write-protects their pages
 * and records the first write to each): harvest_locked collects the log.
 */
static int set_slot(struct vm *vm, int slot, uint64_t gpa, uint64_t size,
		    struct region *r, bool ro)
{
	struct kvm_userspace_memory_region mem = {
		.slot = (uint32_t)slot,
		.flags = (ro ? KVM_MEM_READONLY : 0) |
			 (r && region__tracked(r) ? KVM_MEM_LOG_DIRTY_PAGES : 0),
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = r ? (uint64_t)(uintptr_t)region__base_addr(r) : 0,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &mem) < 0)
		return errno;
	return 0;
}

/*
 * The guest's writes since the last harvest, into the region's stamps
 * (KVM_GET_DIRTY_LOG also clears the log and write-protects the pages
 * again).  Before a slot goes away, or its log goes with it.
 */
static int harvest_locked(struct vm *vm, int slot)
{
	struct region *r = vm->slots[slot].region;
	uint64_t npages = region__mem_size(r) / region__page_size();
	struct kvm_dirty_log log = { .slot = (uint32_t)slot };
	uint64_t *bits, idle = runs_if_idle(vm);
	int ret = 0;

	if (!region__tracked(r))
		return 0;
	/*
	 * Read before the log: a run that starts after this point counts
	 * the next time.  Nothing ran since an idle harvest: nothing to ask
	 * KVM (a restore or snapshot of a paused guest asked it once per
	 * region, a bitmap of the region's size each time).
	 */
	if (idle && vm->slots[slot].harvested == idle)
		return 0;
	bits = calloc((npages + 63) / 64, sizeof(*bits));
	if (!bits)
		return ENOMEM;
	log.dirty_bitmap = bits;
	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) == 0) {
		region__dirty_mark_bits(r, bits, npages);
		/* What the guest wrote is a change of the bytes, now known. */
		for (uint64_t w = 0; w < (npages + 63) / 64; w++) {
			if (bits[w]) {
				region__touch(r);
				break;
			}
		}
	} else if (errno == ENOENT) {
		/*
		 * KVM has no log for the slot (a failed move left it
		 * without one): the guest may have written anything.
		 */
		region__dirty_mark_all(r);
		region__touch(r);
	} else {
		ret = errno;
	}
	free(bits);
	if (!ret)
		vm->slots[slot].harvested = idle;
	return ret;
}

int vm__dirty_harvest(struct vm *vm, struct region *r)
{
	int slot, ret = 0;

	pthread_mutex_lock(&vm->lock);
	slot = slot_of(vm, r);
	if (slot >= 0)
		ret = harvest_locked(vm, slot);
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

/* The guard a mapped region carries: the guest side of its exclusivity. */
static bool guard_running(void *vm)
{
	return vm__guest_running(vm);
}

static int guard_enter(void *vm)
{
	return vm__excl_enter(vm);
}

static void guard_exit(void *vm)
{
	vm__excl_exit(vm);
}

static int guard_harvest(void *vm, struct region *r)
{
	return vm__dirty_harvest(vm, r);
}

static const struct region_guard guard = {
	.running = guard_running,
	.enter = guard_enter,
	.exit = guard_exit,
	.harvest = guard_harvest,
};

/* Overlaps are refused here, before KVM is asked, so errors are ours. */
static struct region *overlapping(struct vm *vm, struct region *self,
				  uint64_t gpa, uint64_t size)
{
	for (unsigned i = 0; i < vm->nr_slots; i++) {
		struct vm_slot *o = &vm->slots[i];

		if (!o->region || o->region == self)
			continue;
		if (gpa < o->gpa + region__mem_size(o->region) && o->gpa < gpa + size)
			return o->region;
	}
	return NULL;
}

static int check_range(struct vm *vm, uint64_t gpa, uint64_t size, bool ro,
		       struct why *why)
{
	if (gpa & (region__page_size() - 1))
		return why__set(why, EINVAL, "the address is not page-aligned");
	if (gpa >= (1ULL << vm->phys_bits) ||
	    size > (1ULL << vm->phys_bits) - gpa)
		return why__set(why, EINVAL, "the range passes the guest's "
				"physical address width (%u bits)",
				vm->phys_bits);
	if (ro && !vm->readonly_mem)
		return why__set(why, EOPNOTSUPP, "KVM lacks "
				"KVM_CAP_READONLY_MEM");
	return 0;
}

/*
 * KVM moves a slot in place but cannot change its flags: delete and
 * recreate, and put the old one back on failure.
 */
static int move_locked(struct vm *vm, int slot, uint64_t gpa, bool ro)
{
	struct vm_slot *s = &vm->slots[slot];
	int ret;

	ret = harvest_locked(vm, slot);
	if (!ret)
		ret = set_slot(vm, slot, s->gpa, 0, NULL, false);
	if (ret)
		return ret;
	ret = set_slot(vm, slot, gpa, region__mem_size(s->region), s->region, ro);
	if (ret) {
		set_slot(vm, slot, s->gpa, region__mem_size(s->region), s->region,
			 s->ro);
		return ret;
	}
	s->gpa = gpa;
	s->ro = ro;
	return 0;
}

static int add_locked(struct vm *vm, struct region *r, uint64_t gpa, bool ro,
		      struct why *why)
{
	int slot, ret;

	for (slot = 0; slot < (int)vm->nr_slots; slot++)
		if (!vm->slots[slot].region)
			break;
	if (slot == (int)vm->nr_slots)
		return why__set(why, ENOSPC, "no free KVM memory slot (%u in "
				"use)", vm->nr_slots);
	ret = set_slot(vm, slot, gpa, region__mem_size(r), r, ro);
	if (ret)
		return why__set(why, ret, "KVM_SET_USER_MEMORY_REGION: %s",
				strerror(ret));
	vm->slots[slot] = (struct vm_slot){ .region = r, .gpa = gpa, .ro = ro };
	region__set_guard(r, &guard, vm);
	return 0;
}

int vm__map_region(struct vm *vm, struct region *r, uint64_t gpa, bool ro,
		   struct why *why)
{
	struct region *o;
	int slot, ret;

	ret = check_range(vm, gpa, region__mem_size(r), ro, why);
	if (ret)
		return ret;
	pthread_mutex_lock(&vm->lock);
	o = overlapping(vm, r, gpa, region__mem_size(r));
	if (o) {
		ret = why__set(why, EEXIST, "the range overlaps region %s",
			       region__name(o));
		goto out;
	}
	slot = slot_of(vm, r);
	if (slot < 0) {
		ret = add_locked(vm, r, gpa, ro, why);
	} else if (vm->slots[slot].gpa != gpa || vm->slots[slot].ro != ro) {
		ret = move_locked(vm, slot, gpa, ro);
		if (ret)
			why__set(why, ret, "moving the KVM slot: %s",
				 strerror(ret));
	}
out:
	/* A refusal changes nothing, but saying it moved is never wrong. */
	atomic_fetch_add(&vm->gen, 1);
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

int vm__unmap_region(struct vm *vm, struct region *r, struct why *why)
{
	int slot, ret = 0;

	pthread_mutex_lock(&vm->lock);
	slot = slot_of(vm, r);
	if (slot < 0)
		goto out;
	ret = harvest_locked(vm, slot);
	if (ret) {
		why__set(why, ret, "KVM_GET_DIRTY_LOG: %s", strerror(ret));
		goto out;
	}
	ret = set_slot(vm, slot, vm->slots[slot].gpa, 0, NULL, false);
	if (ret) {
		why__set(why, ret, "KVM_SET_USER_MEMORY_REGION: %s",
			 strerror(ret));
		goto out;
	}
	vm->slots[slot] = (struct vm_slot){ 0 };
	region__set_guard(r, NULL, NULL);
out:
	atomic_fetch_add(&vm->gen, 1);
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

bool vm__mapping(struct vm *vm, const struct region *r, uint64_t *gpa,
		 bool *ro)
{
	int slot;

	pthread_mutex_lock(&vm->lock);
	slot = slot_of(vm, r);
	if (slot >= 0) {
		*gpa = vm->slots[slot].gpa;
		if (ro)
			*ro = vm->slots[slot].ro;
	}
	pthread_mutex_unlock(&vm->lock);
	return slot >= 0;
}

struct region *vm__region_at(struct vm *vm, uint64_t gpa, uint64_t *start)
{
	struct region *found = NULL;

	pthread_mutex_lock(&vm->lock);
	for (unsigned i = 0; i < vm->nr_slots; i++) {
		struct vm_slot *o = &vm->slots[i];

		if (o->region && gpa >= o->gpa &&
		    gpa - o->gpa < region__mem_size(o->region)) {
			found = region__get(o->region);
			if (start)
				*start = o->gpa;
			break;
		}
	}
	pthread_mutex_unlock(&vm->lock);
	return found;
}
