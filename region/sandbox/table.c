/* The region table of the sandbox (sandbox.h), and its life. */
#include "region/sandbox/sandbox.h"
#include "region/util/lock.h"
#include "region/util/parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct sandbox_name {
	struct sandbox_name *next;
	uint64_t id;
	const char *name;	/* the region's own */
};

/* FNV-1a: names are short and chosen by the owner. */
static struct sandbox_name **bucket(struct sandbox *sb, const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return &sb->names[h & (SANDBOX_NAME_BUCKETS - 1)];
}

/*
 * The slot of id, or -1: ids are handed out in increasing order and slots
 * only appended or closed up, so the table is sorted by id.
 */
static int index_of_id(struct sandbox *sb, uint64_t id)
{
	unsigned lo = 0, hi = sb->nr;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (sb->slots[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < sb->nr && sb->slots[lo].id == id ? (int)lo : -1;
}

static void unindex_locked(struct sandbox *sb, const char *name)
{
	struct sandbox_name **p = bucket(sb, name), *n;

	for (; (n = *p); p = &n->next)
		if (strcmp(n->name, name) == 0) {
			*p = n->next;
			free(n);
			return;
		}
}

int sandbox__new(struct sandbox **out, unsigned max_regions,
		 uint64_t max_total)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));

	if (!sb)
		return ENOMEM;
	if (max_regions == 0 || max_regions > SANDBOX_REGIONS_MAX)
		max_regions = SANDBOX_REGIONS_MAX;
	sb->max_regions = max_regions;
	sb->max_total = max_total;
	sb->max_total_default = max_total == 0;
	sb->next_id = 1;
	pthread_rwlock_init(&sb->lock, NULL);
	pthread_mutex_init(&sb->acct, NULL);
	pthread_mutex_init(&sb->usage_lock, NULL);
	snaps__init(&sb->snaps);
	sandbox__snapshot_limits(sb, 0, 0);
	*out = sb;
	return 0;
}

void sandbox__snapshot_limits(struct sandbox *sb, unsigned max_snaps,
			      uint64_t max_bytes)
{
	snaps__limits(&sb->snaps, max_snaps, max_bytes);
	if (sb->max_total_default)
		sb->max_total = SANDBOX_ADDRESS_SPACE / (1 + sb->snaps.max);
}

void sandbox__reserve_names(struct sandbox *sb, const char *const *names)
{
	sb->reserved = names;
}

int sandbox__open_vm(struct sandbox *sb, const char *kvm_path)
{
	return vm__open(kvm_path, &sb->vm, &sb->vm_why);
}

void sandbox__free(struct sandbox *sb)
{
	if (!sb)
		return;
	sandbox__check_free(sb);
	snaps__free(&sb->snaps);
	for (unsigned i = 0; i < sb->nr; i++) {
		struct region *r = sb->slots[i].region;

		unindex_locked(sb, region__name(r));
		if (sb->vm)
			vm__unmap_region(sb->vm, r, NULL);
		region__put(r);
	}
	vm__close(sb->vm);
	pthread_mutex_destroy(&sb->usage_lock);
	pthread_mutex_destroy(&sb->acct);
	pthread_rwlock_destroy(&sb->lock);
	free(sb);
}

/*
 * Changes to the table wait for readers, and a snapshot or restore reads
 * it for as long as its copy takes: bounded, like every wait.
 */
static int table_wrlock(struct sandbox *sb, struct why *why)
{
	int ret = lock__wr(&sb->lock, SANDBOX_TABLE_WAIT_MS);

	if (ret == EBUSY)
		return why__set(why, EBUSY, "a snapshot or restore holds the "
				"region table");
	return ret;
}

static bool reserved(struct sandbox *sb, const char *name)
{
	for (const char *const *n = sb->reserved; n && *n; n++)
		if (strcmp(*n, name) == 0)
			return true;
	return false;
}

static int find_locked(struct sandbox *sb, const char *name)
{
	for (struct sandbox_name *n = *bucket(sb, name); n; n = n->next)
		if (strcmp(n->name, name) == 0)
			return index_of_id(sb, n->id);
	return -1;
}

static int check_new(struct sandbox *sb, const char *name, uint64_t size,
		     struct why *why)
{
	int ret = parse__region_name(name);

	if (ret == ENAMETOOLONG)
		return why__set(why, ret, "names are at most %d characters",
				REGION_NAME_MAX);
	if (ret || reserved(sb, name))
		return why__set(why, EINVAL, "names are [A-Za-z0-9_.-], not "
				"starting with '.', not reserved");
	if (size == 0 || size > REGION_SIZE_MAX)
		return why__set(why, EINVAL, "size must be between 1 byte "
				"and 1T");
	return 0;
}

int sandbox__create(struct sandbox *sb, const char *name, uint64_t size,
		    uint64_t *id, struct why *why)
{
	return sandbox__create_paged(sb, name, size, sb->huge, id, why);
}

static int create(struct sandbox *sb, const char *name, uint64_t size,
		  uint64_t huge, const struct sandbox_cow *cow, uint64_t *id,
		  struct why *why);

int sandbox__create_paged(struct sandbox *sb, const char *name, uint64_t size,
			  uint64_t huge, uint64_t *id, struct why *why)
{
	return create(sb, name, size, huge, NULL, id, why);
}

int sandbox__create_cow(struct sandbox *sb, const char *name, uint64_t size,
			const struct sandbox_cow *cow, struct why *why)
{
	return create(sb, name, size, 0, cow, NULL, why);
}

static int create(struct sandbox *sb, const char *name, uint64_t size,
		  uint64_t huge, const struct sandbox_cow *cow, uint64_t *id,
		  struct why *why)
{
	struct sandbox_name *n;
	struct region *r;
	int ret;

	ret = check_new(sb, name, size, why);
	if (!ret && huge && region__round_size(size) % huge)
		ret = region__huge_refused(EINVAL, size, huge, why);
	if (ret)
		return ret;
	/* Before anything changes: the one allocation that cannot fail later. */
	n = calloc(1, sizeof(*n));
	if (!n)
		return why__set(why, ENOMEM, "out of memory");
	ret = table_wrlock(sb, why);
	if (ret) {
		free(n);
		return ret;
	}
	if (find_locked(sb, name) >= 0) {
		ret = why__set(why, EEXIST, "the name is taken");
		goto out;
	}
	/* Count what the region takes, whole pages, not what was asked. */
	size = region__round_size(size);
	pthread_mutex_lock(&sb->acct);
	if (sb->nr >= sb->max_regions || size > sb->max_total - sb->total) {
		ret = why__set(why, ENOSPC, "the region limits are reached "
			       "(-o max_regions, max_total)");
	} else if (cow) {
		ret = region__new_cow(name, cow->fd, cow->path, size,
				      cow->lease, &r, why);
	} else {
		ret = region__new_huge(name, size, huge, false, &r);
		if (ret && huge && ret != ENAMETOOLONG)
			region__huge_refused(ret, size, huge, why);
		else if (ret)
			why__set(why, ret, "cannot make the region: %s",
				 strerror(ret));
	}
	if (!ret) {
		sb->total += region__mem_size(r);
		sb->slots[sb->nr].id = sb->next_id++;
	}
	pthread_mutex_unlock(&sb->acct);
	if (ret)
		goto out;
	sb->slots[sb->nr].region = r;
	if (id)
		*id = sb->slots[sb->nr].id;
	n->id = sb->slots[sb->nr].id;
	n->name = region__name(r);
	n->next = *bucket(sb, region__name(r));
	*bucket(sb, region__name(r)) = n;
	n = NULL;
	/* Read without the table's lock for a directory's link count. */
	__atomic_store_n(&sb->nr, sb->nr + 1, __ATOMIC_RELEASE);
out:
	pthread_rwlock_unlock(&sb->lock);
	free(n);
	return ret;
}

/*
 * rmdir cannot fail half-way: exclusivity and the unmap come first, and
 * only then does the region leave the table.  Open files keep their
 * reference, so a reader mid-copy finishes on memory that is still there.
 */
int sandbox__remove(struct sandbox *sb, const char *name, struct why *why)
{
	struct region *r;
	int idx, ret;

	ret = table_wrlock(sb, why);
	if (ret)
		return ret;
	idx = find_locked(sb, name);
	if (idx < 0) {
		ret = why__set(why, ENOENT, "no region of that name");
		goto out;
	}
	r = sb->slots[idx].region;
	ret = region__exclusive_begin(r, why);
	if (ret)
		goto out;
	if (sb->vm)
		ret = vm__unmap_region(sb->vm, r, why);
	region__exclusive_end(r);
	if (ret)
		goto out;
	pthread_mutex_lock(&sb->acct);
	sb->total -= region__mem_size(r);
	pthread_mutex_unlock(&sb->acct);
	unindex_locked(sb, region__name(r));
	memmove(&sb->slots[idx], &sb->slots[idx + 1],
		(sb->nr - (unsigned)idx - 1) * sizeof(sb->slots[0]));
	__atomic_store_n(&sb->nr, sb->nr - 1, __ATOMIC_RELEASE);
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

	int idx;

	/* Every stat of a region's file: O(log regions). */
	pthread_rwlock_rdlock(&sb->lock);
	idx = index_of_id(sb, id);
	if (idx >= 0)
		r = region__get(sb->slots[idx].region);
	pthread_rwlock_unlock(&sb->lock);
	return r;
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

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The regions' resident bytes: the last sum while it still holds, else a
 * new one.  One caller sums while the others wait for it and take its
 * figure, so a crowd of statfs calls costs one walk, not one each.
 */
static uint64_t resident(struct sandbox *sb)
{
	uint64_t changes, now, sum = 0;

	pthread_mutex_lock(&sb->usage_lock);
	changes = region__changes();
	now = mono_ms();
	if (sb->usage_known && (now - sb->usage_ms < SANDBOX_USAGE_MIN_MS ||
	    (sb->usage_changes == changes &&
	     now - sb->usage_ms < SANDBOX_USAGE_MS))) {
		sum = sb->usage_resident;
		goto out;
	}
	pthread_rwlock_rdlock(&sb->lock);
	for (unsigned i = 0; i < sb->nr; i++)
		sum += region__resident(sb->slots[i].region);
	pthread_rwlock_unlock(&sb->lock);
	sb->usage_known = true;
	sb->usage_resident = sum;
	sb->usage_changes = changes;
	sb->usage_ms = now;
out:
	pthread_mutex_unlock(&sb->usage_lock);
	return sum;
}

void sandbox__usage(struct sandbox *sb, struct sandbox_usage *u)
{
	memset(u, 0, sizeof(*u));
	u->resident = resident(sb);
	u->regions = __atomic_load_n(&sb->nr, __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&sb->acct);
	u->mem_size = sb->total;
	u->limit = sb->max_total_default ? sb->total : sb->max_total;
	pthread_mutex_unlock(&sb->acct);
	/* Without the snapshots' lock (see snaps.h): one may be on its way. */
	u->snapshots = __atomic_load_n(&sb->snaps.nr, __ATOMIC_ACQUIRE);
	u->copies = atomic_load(&sb->snaps.copies);
	u->diffs = atomic_load(&sb->snaps.diffs);
}
