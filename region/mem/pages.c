/*
 * New regions and their rebuilds, on the pages asked for: the one place
 * that chooses a memfd backing (base pages: shmem.c; 2 MiB or 1 GiB:
 * hugetlb.c).  region.c never names one.
 */
#include "region/mem/backing.h"
#include "region/mem/hugetlb.h"

#include <errno.h>

/* An invalid huge is hugetlb's to refuse (EINVAL), after the size checks. */
static const struct backing_ops *ops_for(uint64_t huge)
{
	return huge ? &hugetlb_ops : &shmem_ops;
}

int region__new(const char *name, uint64_t size, struct region **out)
{
	return region__make(name, size, false, 0, &shmem_ops, out);
}

int region__new_readonly(const char *name, uint64_t size, struct region **out)
{
	return region__make(name, size, true, 0, &shmem_ops, out);
}

int region__new_huge(const char *name, uint64_t size, uint64_t huge,
		     bool readonly, struct region **out)
{
	return region__make(name, size, readonly, huge, ops_for(huge), out);
}

int region__resize_locked(struct region *r, uint64_t size)
{
	uint64_t huge = __atomic_load_n(&r->huge, __ATOMIC_ACQUIRE);

	return region__rebuild_locked(r, size, huge, ops_for(huge));
}

int region__repage_locked(struct region *r, uint64_t huge)
{
	if (huge && huge__memfd_flags(huge, &(unsigned){ 0 }))
		return EINVAL;
	return region__rebuild_locked(r, region__mem_size(r), huge,
				      ops_for(huge));
}

int region__resize(struct region *r, uint64_t size, struct why *why)
{
	int ret = region__exclusive_begin(r, why);

	if (ret)
		return ret;
	ret = region__resize_locked(r, size);
	region__exclusive_end(r);
	return ret;
}
