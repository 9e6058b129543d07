/*
 * The VM: one KVM VM per sandbox.  Regions are mapped into it with
 * KVM_SET_USER_MEMORY_REGION; the host address is the region's base, so
 * the guest and the host share the memfd's pages.
 */
#include "region/vm.h"
#include "region/region.h"

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

int vm__open(const char *path, struct vm **out, char *why, size_t why_len)
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
		snprintf(why, why_len, "cannot open %s: %s", path, strerror(ret));
		goto out_free;
	}
	n = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (n != KVM_API_VERSION) {
		ret = ENOTSUP;
		snprintf(why, why_len, "%s speaks KVM API %d, not %d", path, n,
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
		snprintf(why, why_len, "KVM_CREATE_VM: %s", strerror(ret));
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
	if (vm->excl_ops)
		ret = EBUSY;
	else
		vm->running = true;
	pthread_mutex_unlock(&vm->run_lock);
	return ret;
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

/*
 * Tracked regions log the guest's writes (KVM write-protects their pages
 * and records the first write to each): dirty.c harvests the log.
 */
static int set_slot(struct vm *vm, int slot, uint64_t gpa, uint64_t size,
		    struct region *r, bool ro)
{
	struct kvm_userspace_memory_region mem = {
		.slot = (uint32_t)slot,
		.flags = (ro ? KVM_MEM_READONLY : 0) |
			 (r && r->track ? KVM_MEM_LOG_DIRTY_PAGES : 0),
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
static int harvest_locked(struct vm *vm, struct region *r)
{
	uint64_t npages = r->mem_size / region__page_size();
	struct kvm_dirty_log log = { .slot = (uint32_t)r->slot };
	uint64_t *bits;
	int ret = 0;

	if (r->slot < 0 || !r->track)
		return 0;
	bits = calloc((npages + 63) / 64, sizeof(*bits));
	if (!bits)
		return ENOMEM;
	log.dirty_bitmap = bits;
	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) == 0) {
		region__dirty_stamp_bits(r, bits, npages);
	} else if (errno == ENOENT) {
		/*
		 * KVM has no log for the slot (a failed move left it
		 * without one): the guest may have written anything.
		 */
		region__dirty_mark_all(r);
	} else {
		ret = errno;
	}
	free(bits);
	return ret;
}

int vm__dirty_harvest(struct vm *vm, struct region *r)
{
	int ret;

	pthread_mutex_lock(&vm->lock);
	ret = harvest_locked(vm, r);
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

/* Overlaps are refused here, before KVM is asked, so errors are ours. */
static struct region *overlapping(struct vm *vm, struct region *self,
				  uint64_t gpa, uint64_t size)
{
	for (unsigned i = 0; i < vm->nr_slots; i++) {
		struct region *o = vm->slots[i];

		if (!o || o == self)
			continue;
		if (gpa < o->gpa + o->mem_size && o->gpa < gpa + size)
			return o;
	}
	return NULL;
}

int vm__map_region(struct vm *vm, struct region *r, uint64_t gpa, bool ro)
{
	uint64_t page = region__page_size();
	uint64_t size = r->mem_size;
	int slot, ret = 0;

	if (gpa & (page - 1))
		return EINVAL;
	if (gpa >= (1ULL << vm->phys_bits) ||
	    size > (1ULL << vm->phys_bits) - gpa)
		return EINVAL;
	if (ro && !vm->readonly_mem)
		return EOPNOTSUPP;

	pthread_mutex_lock(&vm->lock);
	if (overlapping(vm, r, gpa, size)) {
		ret = EEXIST;
		goto out;
	}
	if (r->slot >= 0) {
		if (r->gpa == gpa && r->guest_ro == ro)
			goto out;
		/*
		 * KVM moves a slot in place but cannot change its flags:
		 * delete and recreate, and put the old one back on failure.
		 */
		slot = r->slot;
		ret = harvest_locked(vm, r);
		if (!ret)
			ret = set_slot(vm, slot, r->gpa, 0, NULL, false);
		if (ret)
			goto out;
		ret = set_slot(vm, slot, gpa, size, r, ro);
		if (ret) {
			set_slot(vm, slot, r->gpa, size, r, r->guest_ro);
			goto out;
		}
	} else {
		for (slot = 0; slot < (int)vm->nr_slots; slot++)
			if (!vm->slots[slot])
				break;
		if (slot == (int)vm->nr_slots) {
			ret = ENOSPC;
			goto out;
		}
		ret = set_slot(vm, slot, gpa, size, r, ro);
		if (ret)
			goto out;
		vm->slots[slot] = r;
		r->slot = slot;
		r->vm = vm;
	}
	r->gpa = gpa;
	r->guest_ro = ro;
out:
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

int vm__unmap_region(struct vm *vm, struct region *r)
{
	int ret = 0;

	pthread_mutex_lock(&vm->lock);
	if (r->slot < 0)
		goto out;
	ret = harvest_locked(vm, r);
	if (!ret)
		ret = set_slot(vm, r->slot, r->gpa, 0, NULL, false);
	if (ret)
		goto out;
	vm->slots[r->slot] = NULL;
	r->slot = -1;
	r->vm = NULL;
out:
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

struct region *vm__region_at(struct vm *vm, uint64_t gpa)
{
	struct region *found = NULL;

	pthread_mutex_lock(&vm->lock);
	for (unsigned i = 0; i < vm->nr_slots; i++) {
		struct region *o = vm->slots[i];

		if (o && gpa >= o->gpa && gpa - o->gpa < o->mem_size) {
			found = o;
			break;
		}
	}
	pthread_mutex_unlock(&vm->lock);
	return found;
}
