/*
 * The control operations of a sandbox (sandbox.h): each is one entry,
 * takes exclusivity on its region, and returns the errno and the reason.
 */
#include "region/kvm/vcpu.h"
#include "region/sandbox/sandbox.h"

#include <errno.h>
#include <string.h>

static int no_vm(struct sandbox *sb, struct why *why)
{
	return why__set(why, ENODEV, "no VM: no KVM (%s): this sandbox can "
			"only be inspected", why__text(&sb->vm_why, ENODEV));
}

int sandbox__set_guest_addr(struct sandbox *sb, struct region *r,
			    bool none, uint64_t gpa, struct why *why)
{
	int ret;

	if (region__readonly(r))
		return why__set(why, EPERM, "the region is readonly (a "
				"snapshot's copy)");
	if (!sb->vm)
		return no_vm(sb, why);
	ret = region__exclusive_begin(r, why);
	if (ret)
		return ret;
	if (none)
		ret = vm__unmap_region(sb->vm, r, why);
	else
		ret = vm__map_region(sb->vm, r, gpa, region__guest_ro(r), why);
	if (!ret)
		region__touch_attr(r);
	region__exclusive_end(r);
	return ret;
}

int sandbox__set_access(struct sandbox *sb, struct region *r, bool ro,
			struct why *why)
{
	uint64_t gpa;
	int ret = region__exclusive_begin(r, why);

	if (ret)
		return ret;
	if (sb->vm && vm__mapping(sb->vm, r, &gpa, NULL))
		ret = vm__map_region(sb->vm, r, gpa, ro, why);
	else if (ro && sb->vm && !sb->vm->readonly_mem)
		ret = why__set(why, EOPNOTSUPP, "KVM lacks "
			       "KVM_CAP_READONLY_MEM");
	if (!ret && region__guest_ro(r) != ro) {
		/* Read without the lock by the access file: one atomic store. */
		region__set_guest_ro(r, ro);
		region__touch_attr(r);
	}
	region__exclusive_end(r);
	return ret;
}

/* Exclusivity for an operation that makes new memory: never while mapped. */
static int hold_unmapped(struct region *r, struct why *why)
{
	int ret = region__exclusive_begin(r, why);

	if (ret || !region__mapped(r))
		return ret;
	region__exclusive_end(r);
	return why__set(why, EPERM, "the region is mapped into the VM: "
			"unmap it first (echo none > guest_addr)");
}

int sandbox__resize(struct sandbox *sb, struct region *r, uint64_t size,
		    struct why *why)
{
	uint64_t old;
	int ret;

	if (size == 0 || size > REGION_SIZE_MAX)
		return why__set(why, EINVAL, "size must be between 1 byte "
				"and 1T");
	size = region__round_size(size);
	ret = hold_unmapped(r, why);
	if (ret)
		return ret;
	pthread_mutex_lock(&sb->acct);
	old = region__mem_size(r);
	if (size > old && size - old > sb->max_total - sb->total) {
		ret = why__set(why, ENOSPC, "over the total size limit of the "
			       "sandbox (-o max_total)");
	} else {
		ret = region__resize_locked(r, size);
		if (ret && region__huge_size(r) &&
		    (ret == EINVAL || ret == ENOMEM))
			region__huge_refused(ret, size, region__huge_size(r),
					     why);
		else if (ret)
			why__set(why, ret, "cannot resize: %s", strerror(ret));
		else
			sb->total = sb->total - old + region__mem_size(r);
	}
	pthread_mutex_unlock(&sb->acct);
	region__exclusive_end(r);
	return ret;
}

int sandbox__zero(struct sandbox *sb, struct region *r, struct why *why)
{
	(void)sb;
	return region__zero(r, why);
}

int sandbox__zero_from(struct sandbox *sb, struct region *r, uint64_t off,
		       struct why *why)
{
	int ret;

	(void)sb;
	if (off > region__mem_size(r))
		return why__set(why, EFBIG, "past mem_size");
	ret = region__exclusive_begin(r, why);
	if (ret)
		return ret;
	ret = region__zero_from_locked(r, off);
	if (ret)
		why__set(why, ret, "cannot zero: %s", strerror(ret));
	region__exclusive_end(r);
	return ret;
}

int sandbox__dirty_clear(struct sandbox *sb, struct region *r,
			 struct why *why)
{
	int ret;

	(void)sb;
	ret = region__dirty_clear(r, why);
	if (!ret)
		region__touch_attr(r);
	return ret;
}

bool sandbox__guest_addr(struct sandbox *sb, const struct region *r,
			 uint64_t *gpa)
{
	return sb->vm && region__mapped(r) && vm__mapping(sb->vm, r, gpa, NULL);
}

int sandbox__add_mapped(struct sandbox *sb, const char *name, uint64_t size,
			uint64_t gpa, struct why *why)
{
	struct region *r;
	int ret;

	/* The built-in regions (boot, the demo's) keep ordinary pages. */
	ret = sandbox__create_paged(sb, name, size, 0, NULL, why);
	if (ret)
		return why__prefix(why, ret, "cannot create region %s: ", name);
	r = sandbox__find(sb, name, NULL);
	if (!r)
		return why__set(why, ENOENT, "region %s went away", name);
	ret = sandbox__set_guest_addr(sb, r, false, gpa, why);
	if (ret)
		why__prefix(why, ret, "cannot map region %s at 0x%llx: ", name,
			    (unsigned long long)gpa);
	region__put(r);
	return ret;
}

int sandbox__new_vcpu(struct sandbox *sb, const struct vcpu_config *cfg,
		      struct vcpu **out, struct why *why)
{
	struct region *boot;
	int ret;

	if (!sb->vm)
		return no_vm(sb, why);
	ret = sandbox__add_mapped(sb, VCPU_BOOT_REGION, VCPU_BOOT_SIZE,
				  VCPU_BOOT_GPA, why);
	if (ret == EEXIST)
		return ret;
	boot = ret ? NULL : sandbox__find(sb, VCPU_BOOT_REGION, NULL);
	if (boot) {
		ret = vcpu__new(sb->vm, boot, cfg, out, why);
		region__put(boot);
	}
	/* The boot region goes with the vCPU that failed to come up. */
	if (ret)
		sandbox__remove(sb, VCPU_BOOT_REGION, NULL);
	return ret;
}

int sandbox__set_page_size(struct sandbox *sb, struct region *r,
			   uint64_t page, struct why *why)
{
	uint64_t huge = page == region__page_size() ? 0 : page;
	unsigned long long mib = (unsigned long long)(huge >> 20);
	int ret;

	(void)sb;
	if (huge != 0 && huge != (2ULL << 20) && huge != (1ULL << 30))
		return why__set(why, EINVAL, "page sizes are %zu, 2M and 1G",
				region__page_size());
	if (huge && region__mem_size(r) % huge)
		return why__set(why, EINVAL, "mem_size %llu is not a multiple "
				"of %lluM (write mem_size first)",
				(unsigned long long)region__mem_size(r), mib);
	ret = hold_unmapped(r, why);
	if (ret)
		return ret;
	ret = region__repage_locked(r, huge);
	if (ret && huge)
		region__huge_refused(ret, region__mem_size(r), huge, why);
	else if (ret)
		why__set(why, ret, "cannot move the region: %s", strerror(ret));
	region__exclusive_end(r);
	return ret;
}
