#include "region/sandbox.h"
#include "region/parse.h"
#include "region/snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sandbox__new(struct sandbox **out, unsigned max_regions,
		 uint64_t max_total)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));

	if (!sb)
		return ENOMEM;
	if (max_regions == 0 || max_regions > SANDBOX_REGIONS_MAX)
		max_regions = SANDBOX_REGIONS_MAX;
	sb->max_regions = max_regions;
	sb->max_total = max_total ? max_total : UINT64_MAX;
	sb->next_id = 1;
	pthread_rwlock_init(&sb->lock, NULL);
	pthread_mutex_init(&sb->acct, NULL);
	pthread_rwlock_init(&sb->snap_lock, NULL);
	pthread_mutex_init(&sb->snap_op, NULL);
	sandbox__snapshot_limits(sb, 0, 0);
	*out = sb;
	return 0;
}

void sandbox__snapshot_limits(struct sandbox *sb, unsigned max_snaps,
			      uint64_t max_bytes)
{
	if (max_snaps == 0)
		max_snaps = SNAPSHOTS_DEFAULT;
	if (max_snaps > SANDBOX_SNAPSHOTS_MAX)
		max_snaps = SANDBOX_SNAPSHOTS_MAX;
	if (max_bytes == 0) {
		long pages = sysconf(_SC_PHYS_PAGES);

		max_bytes = pages > 0 ? (uint64_t)pages / 2 *
					(uint64_t)region__page_size() :
					UINT64_MAX;
	}
	sb->max_snaps = max_snaps;
	sb->max_snap_bytes = max_bytes;
}

int sandbox__open_vm(struct sandbox *sb, const char *kvm_path)
{
	return vm__open(kvm_path, &sb->vm, sb->vm_why, sizeof(sb->vm_why));
}

void sandbox__free(struct sandbox *sb)
{
	if (!sb)
		return;
	for (unsigned i = 0; i < sb->nr_snaps; i++)
		snapshot__put(sb->snaps[i]);
	for (unsigned i = 0; i < sb->nr; i++) {
		struct region *r = sb->slots[i].region;

		if (sb->vm)
			vm__unmap_region(sb->vm, r);
		region__put(r);
	}
	vm__close(sb->vm);
	pthread_mutex_destroy(&sb->acct);
	pthread_rwlock_destroy(&sb->lock);
	pthread_mutex_destroy(&sb->snap_op);
	pthread_rwlock_destroy(&sb->snap_lock);
	free(sb);
}

/*
 * Changes to the table wait for readers, and a snapshot or restore reads
 * it for as long as its copy takes: bounded, like every wait.
 */
static int table_wrlock(struct sandbox *sb)
{
	struct timespec ts = region__deadline_ms(SANDBOX_TABLE_WAIT_MS);
	int ret = pthread_rwlock_clockwrlock(&sb->lock, CLOCK_MONOTONIC, &ts);

	return ret == ETIMEDOUT ? EBUSY : ret;
}

static int find_locked(struct sandbox *sb, const char *name)
{
	for (unsigned i = 0; i < sb->nr; i++)
		if (strcmp(sb->slots[i].region->name, name) == 0)
			return (int)i;
	return -1;
}

int sandbox__create(struct sandbox *sb, const char *name, uint64_t size,
		    uint64_t *id)
{
	struct region *r;
	int ret;

	ret = parse__region_name(name);
	if (ret)
		return ret;
	if (size == 0 || size > REGION_SIZE_MAX)
		return EINVAL;

	ret = table_wrlock(sb);
	if (ret)
		return ret;
	if (find_locked(sb, name) >= 0) {
		ret = EEXIST;
		goto out;
	}
	/* Count what the region takes, whole pages, not what was asked. */
	size = region__round_size(size);
	pthread_mutex_lock(&sb->acct);
	if (sb->nr >= sb->max_regions || size > sb->max_total - sb->total)
		ret = ENOSPC;
	else
		ret = region__new(name, size, &r);
	if (!ret) {
		sb->total += r->mem_size;
		sb->slots[sb->nr].id = sb->next_id++;
	}
	pthread_mutex_unlock(&sb->acct);
	if (ret)
		goto out;
	sb->slots[sb->nr].region = r;
	if (id)
		*id = sb->slots[sb->nr].id;
	sb->nr++;
out:
	pthread_rwlock_unlock(&sb->lock);
	return ret;
}

/*
 * rmdir cannot fail half-way: exclusivity and the unmap come first, and
 * only then does the region leave the table.  Open files keep their
 * reference, so a reader mid-copy finishes on memory that is still there.
 */
int sandbox__remove(struct sandbox *sb, const char *name)
{
	struct region *r;
	int idx, ret;

	ret = table_wrlock(sb);
	if (ret)
		return ret;
	idx = find_locked(sb, name);
	if (idx < 0) {
		ret = ENOENT;
		goto out;
	}
	r = sb->slots[idx].region;
	ret = region__exclusive_begin(r);
	if (ret)
		goto out;
	if (sb->vm)
		ret = vm__unmap_region(sb->vm, r);
	region__exclusive_end(r);
	if (ret)
		goto out;
	pthread_mutex_lock(&sb->acct);
	sb->total -= r->mem_size;
	pthread_mutex_unlock(&sb->acct);
	memmove(&sb->slots[idx], &sb->slots[idx + 1],
		(sb->nr - (unsigned)idx - 1) * sizeof(sb->slots[0]));
	sb->nr--;
	region__put(r);
out:
	pthread_rwlock_unlock(&sb->lock);
	return ret;
}

struct region *sandbox__find(struct sandbox *sb, const char *name,
			     uint64_t *id)
{
	struct region *r = NULL;
	int idx;

	pthread_rwlock_rdlock(&sb->lock);
	idx = find_locked(sb, name);
	if (idx >= 0) {
		r = region__get(sb->slots[idx].region);
		if (id)
			*id = sb->slots[idx].id;
	}
	pthread_rwlock_unlock(&sb->lock);
	return r;
}

struct region *sandbox__find_id(struct sandbox *sb, uint64_t id)
{
	struct region *r = NULL;

	pthread_rwlock_rdlock(&sb->lock);
	for (unsigned i = 0; i < sb->nr; i++) {
		if (sb->slots[i].id == id) {
			r = region__get(sb->slots[i].region);
			break;
		}
	}
	pthread_rwlock_unlock(&sb->lock);
	return r ? r : snapshot__find_region_id(sb, id);
}

struct region *sandbox__nth(struct sandbox *sb, unsigned idx, uint64_t *id)
{
	struct region *r = NULL;

	pthread_rwlock_rdlock(&sb->lock);
	if (idx < sb->nr) {
		r = region__get(sb->slots[idx].region);
		if (id)
			*id = sb->slots[idx].id;
	}
	pthread_rwlock_unlock(&sb->lock);
	return r;
}

int sandbox__set_guest_addr(struct sandbox *sb, struct region *r,
			    bool none, uint64_t gpa)
{
	int ret;

	if (r->readonly)
		return EPERM;
	if (!sb->vm)
		return ENODEV;
	ret = region__exclusive_begin(r);
	if (ret)
		return ret;
	if (none)
		ret = vm__unmap_region(sb->vm, r);
	else
		ret = vm__map_region(sb->vm, r, gpa, r->guest_ro);
	region__exclusive_end(r);
	return ret;
}

int sandbox__set_access(struct sandbox *sb, struct region *r, bool ro)
{
	int ret = region__exclusive_begin(r);

	if (ret)
		return ret;
	if (region__mapped(r))
		ret = vm__map_region(sb->vm, r, r->gpa, ro);
	else if (ro && sb->vm && !sb->vm->readonly_mem)
		ret = EOPNOTSUPP;
	else
		r->guest_ro = ro;
	region__exclusive_end(r);
	return ret;
}

int sandbox__resize(struct sandbox *sb, struct region *r, uint64_t size)
{
	uint64_t old;
	int ret;

	if (size == 0 || size > REGION_SIZE_MAX)
		return EINVAL;
	size = region__round_size(size);
	ret = region__exclusive_begin(r);
	if (ret)
		return ret;
	pthread_mutex_lock(&sb->acct);
	old = r->mem_size;
	if (size > old && size - old > sb->max_total - sb->total) {
		ret = ENOSPC;
	} else {
		ret = region__resize_locked(r, size);
		if (!ret)
			sb->total = sb->total - old + r->mem_size;
	}
	pthread_mutex_unlock(&sb->acct);
	region__exclusive_end(r);
	return ret;
}
