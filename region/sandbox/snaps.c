/* The snapshot table (snaps.h). */
#include "region/sandbox/snaps.h"
#include "region/kvm/vcpu.h"
#include "region/util/memlimit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void snaps__init(struct snaps *t)
{
	memset(t, 0, sizeof(*t));
	pthread_rwlock_init(&t->lock, NULL);
	pthread_mutex_init(&t->op, NULL);
	snaps__limits(t, 0, 0);
}

void snaps__limits(struct snaps *t, unsigned max, uint64_t max_bytes)
{
	if (max == 0)
		max = SNAPSHOTS_DEFAULT;
	if (max > SANDBOX_SNAPSHOTS_MAX)
		max = SANDBOX_SNAPSHOTS_MAX;
	if (max_bytes == 0) {
		long pages = sysconf(_SC_PHYS_PAGES);
		uint64_t ram = pages > 0 ? (uint64_t)pages *
				(uint64_t)region__page_size() : UINT64_MAX,
			 cg = memlimit__cgroup();

		/* The copies are charged to the daemon's cgroup: past it, OOM. */
		max_bytes = (cg < ram ? cg : ram) / 2;
	}
	t->max = max;
	t->max_bytes = max_bytes;
}

void snaps__free(struct snaps *t)
{
	for (unsigned i = 0; i < t->nr; i++)
		snapshot__put(t->snaps[i]);
	t->nr = 0;
	pthread_rwlock_destroy(&t->lock);
	pthread_mutex_destroy(&t->op);
}

int snaps__fits(struct snaps *t, uint64_t need, const char *what,
		struct why *why)
{
	uint64_t used = atomic_load(&t->bytes), left;

	left = used > t->max_bytes ? 0 : t->max_bytes - used;
	if (need > left)
		return why__set(why, ENOSPC, "%s would take %llu bytes, %llu "
				"of %llu are left (-o max_snapshot_total)",
				what, (unsigned long long)need,
				(unsigned long long)left,
				(unsigned long long)t->max_bytes);
	return 0;
}

static void free_snapshot(struct snapshot *s)
{
	for (unsigned i = 0; i < s->nr; i++) {
		region__put(s->regions[i].region);
		if (s->data && s->data[i].bits)
			munmap(s->data[i].bits, s->data[i].len);
	}
	free(s->data);
	free(s->by_name);
	free(s->regions);
	free(s->synced);
	free(s->crcs);
	vcpu__saved_free(s->cpu);
	free(s->state_file);
	free(s->info);
	pthread_mutex_destroy(&s->sums_lock);
	free(s->parent_file);
	snapshot__put(s->parent);
	free(s);
}

struct snapshot *snapshot__alloc(const char *name, unsigned nr)
{
	struct snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->sums_lock, NULL);
	s->regions = calloc(nr ? nr : 1, sizeof(*s->regions));
	s->synced = calloc(nr ? nr : 1, sizeof(*s->synced));
	s->data = calloc(nr ? nr : 1, sizeof(*s->data));
	s->crcs = calloc(nr ? nr : 1, sizeof(*s->crcs));
	if (!s->regions || !s->synced || !s->data || !s->crcs) {
		free_snapshot(s);
		return NULL;
	}
	atomic_init(&s->refs, 1);
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->nr = nr;
	return s;
}

void snapshot__put(struct snapshot *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		free_snapshot(s);
}

static struct snapshot *get(struct snapshot *s)
{
	if (s)
		atomic_fetch_add(&s->refs, 1);
	return s;
}

int snaps__index_locked(struct snaps *t, const char *name)
{
	for (unsigned i = 0; i < t->nr; i++)
		if (strcmp(t->snaps[i]->name, name) == 0)
			return (int)i;
	return -1;
}

static int by_name(const void *a, const void *b, void *arg)
{
	const struct snapshot *s = arg;
	const unsigned *i = a, *j = b;

	return strcmp(region__name(s->regions[*i].region),
		      region__name(s->regions[*j].region));
}

/* Its copies' index by name; without memory, lookups scan. */
static void index_names(struct snapshot *s)
{
	s->by_name = malloc((s->nr ? s->nr : 1) * sizeof(*s->by_name));
	if (!s->by_name)
		return;
	for (unsigned i = 0; i < s->nr; i++)
		s->by_name[i] = i;
	qsort_r(s->by_name, s->nr, sizeof(*s->by_name), by_name, s);
}

void snaps__add(struct snaps *t, struct snapshot *s)
{
	index_names(s);
	pthread_rwlock_wrlock(&t->lock);
	t->snaps[t->nr] = s;
	__atomic_store_n(&t->nr, t->nr + 1, __ATOMIC_RELEASE);
	atomic_fetch_add(&t->copies, s->nr);
	atomic_fetch_add(&t->diffs, s->parent != NULL);
	for (unsigned i = 0; i < s->nr; i++) {
		struct region *c = s->regions[i].region;

		region__charge(c, &t->bytes);
	}
	pthread_rwlock_unlock(&t->lock);
}

int snaps__remove(struct snaps *t, const char *name)
{
	struct snapshot *s = NULL;
	int idx;

	pthread_rwlock_wrlock(&t->lock);
	idx = snaps__index_locked(t, name);
	if (idx >= 0) {
		s = t->snaps[idx];
		memmove(&t->snaps[idx], &t->snaps[idx + 1],
			(t->nr - (unsigned)idx - 1) * sizeof(t->snaps[0]));
		__atomic_store_n(&t->nr, t->nr - 1, __ATOMIC_RELEASE);
		atomic_fetch_sub(&t->copies, s->nr);
		atomic_fetch_sub(&t->diffs, s->parent != NULL);
	}
	pthread_rwlock_unlock(&t->lock);
	/*
	 * Open files keep their copy, and its bytes count until they close;
	 * the rest is freed now.
	 */
	snapshot__put(s);
	return idx < 0 ? ENOENT : 0;
}

struct snapshot *snapshot__find(struct snaps *t, const char *name)
{
	struct snapshot *s;
	int idx;

	pthread_rwlock_rdlock(&t->lock);
	idx = snaps__index_locked(t, name);
	s = idx < 0 ? NULL : get(t->snaps[idx]);
	pthread_rwlock_unlock(&t->lock);
	return s;
}

struct snapshot *snapshot__find_id(struct snaps *t, uint64_t id)
{
	struct snapshot *s = NULL;

	pthread_rwlock_rdlock(&t->lock);
	for (unsigned i = 0; i < t->nr && !s; i++)
		if (t->snaps[i]->id == id)
			s = get(t->snaps[i]);
	pthread_rwlock_unlock(&t->lock);
	return s;
}

struct snapshot *snapshot__nth(struct snaps *t, unsigned idx)
{
	struct snapshot *s = NULL;

	pthread_rwlock_rdlock(&t->lock);
	if (idx < t->nr)
		s = get(t->snaps[idx]);
	pthread_rwlock_unlock(&t->lock);
	return s;
}

struct region *snapshot__region(struct snapshot *s, const char *name,
				uint64_t *id)
{
	unsigned lo = 0, hi = s->nr;
	int cmp;

	if (!s->by_name) {
		for (unsigned i = 0; i < s->nr; i++)
			if (strcmp(region__name(s->regions[i].region),
				   name) == 0)
				return snapshot__nth_region(s, i, id);
		return NULL;
	}
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		cmp = strcmp(region__name(s->regions[s->by_name[mid]].region),
			     name);
		if (cmp == 0)
			return snapshot__nth_region(s, s->by_name[mid], id);
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct region *snapshot__nth_region(struct snapshot *s, unsigned idx,
				    uint64_t *id)
{
	if (idx >= s->nr)
		return NULL;
	if (id)
		*id = s->regions[idx].id;
	return region__get(s->regions[idx].region);
}

struct region *snapshot__find_region_id(struct snaps *t, uint64_t id)
{
	struct region *r = NULL;

	/*
	 * A snapshot's copies take the ids right after its own, in order
	 * (publish in snapshot.c): one look per snapshot, so a stat of a
	 * copy's file is O(snapshots), whatever the number of regions.
	 */
	pthread_rwlock_rdlock(&t->lock);
	for (unsigned i = 0; i < t->nr && !r; i++) {
		struct snapshot *s = t->snaps[i];
		uint64_t j = id - s->id - 1;

		if (id > s->id && j < s->nr && s->regions[j].id == id)
			r = region__get(s->regions[j].region);
	}
	pthread_rwlock_unlock(&t->lock);
	return r;
}
