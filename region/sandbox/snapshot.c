/*
 * Snapshots: what exclusivity exists for.  Taking one holds every region
 * exclusive at once (so the guest is out, and no host write is half-way),
 * copies each sparsely into a sealed region of its own, and saves the
 * vCPU.  Restoring holds the snapshot's regions exclusive and copies back
 * only the pages written since (the dirty stamps say which).
 */
#include "region/sandbox/snapshot.h"
#include "region/mem/copy.h"
#include "region/kvm/vcpu.h"
#include "region/sandbox/diff.h"
#include "region/util/parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * One operation at a time, waiting at most SNAPSHOT_WAIT_MS: polled with
 * trylock every millisecond (bounded on the monotonic clock, and a lock
 * every thread sanitizer sees, which pthread_mutex_clocklock is not).
 */
static int op_begin(struct sandbox *sb, struct why *why)
{
	struct timespec nap = { 0, 1000000L }, now,
			end = region__deadline_ms(SNAPSHOT_WAIT_MS);
	int ret;

	while ((ret = pthread_mutex_trylock(&sb->snaps.op)) == EBUSY) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec ||
		    (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			break;
		nanosleep(&nap, NULL);
	}
	if (ret)
		why__set(why, ret, "another snapshot or restore is under way");
	return ret;
}

static void release(struct region **held, unsigned n)
{
	while (n)
		region__exclusive_end(held[--n]);
}

/* Exclusivity on every region given, or on none: EBUSY/EPERM. */
static int hold_all(struct region **rs, unsigned n, struct why *why)
{
	for (unsigned i = 0; i < n; i++) {
		int ret = region__exclusive_begin(rs[i], why);

		if (ret) {
			release(rs, i);
			return why__prefix(why, ret, "region %s: ",
					   region__name(rs[i]));
		}
	}
	return 0;
}

static int refuse_running(struct vcpu *v, struct why *why)
{
	if (v && vcpu__state(v) == VCPU_RUNNING)
		return why__set(why, EBUSY, "the vCPU is running (pause first)");
	return 0;
}

/* The copies, made while the caller holds every live region exclusive. */
static int copy_regions(struct sandbox *sb, struct snapshot *s,
			struct region **live, struct why *why)
{
	uint8_t *buf = malloc(COPY_CHUNK);
	int ret = 0;

	if (!buf)
		return why__set(why, ENOMEM, "out of memory");
	/* A diff's cost is known once the guest's writes are harvested. */
	if (s->parent)
		ret = diff__check_bytes(s, &sb->snaps, live, why);
	for (unsigned i = 0; i < s->nr && !ret; i++) {
		struct region *r = live[i], *c;
		uint64_t gpa = 0;
		bool mapped, shared;

		/*
		 * Bytes --from still checks, or found damaged, are copied by
		 * no one: the copy would carry them past the check.
		 */
		ret = region__check_wait(r);
		if (ret) {
			why__set(why, ret, "region %s: %s", region__name(r),
				 ret == EIO ? "its saved bytes did not match "
				 "their checksum" : "its saved bytes are still "
				 "being checked");
			break;
		}

		/*
		 * A region mapping a file with no page written: its copy maps
		 * the same file, and costs nothing (region__share).
		 */
		shared = !s->parent && region__share(r, &c) == 0;
		/* On the same pages: a huge region's copy is as fast to make. */
		ret = shared ? 0 : region__new_huge(region__name(r),
						    region__mem_size(r),
						    region__huge_size(r), true,
						    &c);
		if (ret && region__huge_size(r)) {
			region__huge_refused(ret, region__mem_size(r),
					     region__huge_size(r), why);
			why__prefix(why, ret, "region %s: cannot make the copy: ",
				    region__name(r));
			break;
		} else if (ret) {
			why__set(why, ret, "region %s: cannot make the copy: %s",
				 region__name(r), strerror(ret));
			break;
		}
		s->regions[i].region = c;
		/* The mapping as it is now: the directory says where to map it. */
		region__set_guest_ro(c, region__guest_ro(r));
		mapped = sandbox__guest_addr(sb, r, &gpa);
		region__set_snap_gpa(c, mapped, gpa);
		ret = shared ? 0 : s->parent ? diff__copy_region(s, r, c, buf) :
		      region__copy(c, r, buf, &(struct extents){ .hole = 0 },
				   0, region__mem_size(r), false);
		if (ret)
			why__set(why, ret, "region %s: copy failed: %s",
				 region__name(r), strerror(ret));
		s->bytes += region__resident(c);
	}
	free(buf);
	return ret;
}

/* Checks before anything is copied: the name and the count... */
static int check_name(struct snaps *t, const char *name, struct why *why)
{
	int ret = 0;

	pthread_rwlock_rdlock(&t->lock);
	if (snaps__index_locked(t, name) >= 0)
		ret = why__set(why, EEXIST, "the name is taken");
	else if (t->nr >= t->max)
		ret = why__set(why, ENOSPC, "%u snapshots already "
			       "(-o max_snapshots)", t->nr);
	pthread_rwlock_unlock(&t->lock);
	return ret;
}

/* ...and the memory the copies will take. */
static int check_bytes(struct snaps *t, struct region **live, unsigned n,
		       struct why *why)
{
	uint64_t need = 0;

	/* A copy that shares a file costs only what was written. */
	for (unsigned i = 0; i < n; i++)
		need += region__own_bytes(live[i]);
	/* What the copies will take at most: refuse before copying. */
	return snaps__fits(t, need, "the copies", why);
}

/*
 * The snapshot point, with every region held: every guest write so far
 * harvested, then the boundary, before the copy, so that a writer we
 * cannot see (passthrough) that writes during the copy is stamped above
 * it.  Exclusivity keeps the guest out: the vCPU cannot start now.
 */
static int take_held(struct sandbox *sb, struct snapshot *s, struct vcpu *v,
		     struct region **live, struct why *why)
{
	int ret = 0;

	for (unsigned i = 0; i < s->nr && !ret; i++) {
		ret = region__dirty_harvest(live[i]);
		if (ret)
			why__set(why, ret, "region %s: KVM_GET_DIRTY_LOG: %s",
				 region__name(live[i]), strerror(ret));
	}
	s->boundary = dirty__boundary();
	for (unsigned i = 0; i < s->nr; i++)
		s->synced[i] = s->boundary;
	if (!ret && v) {
		ret = vcpu__save(v, &s->cpu);
		if (ret)
			why__set(why, ret, "cannot save the vCPU: %s",
				 ret == EBUSY ? "it is running (pause first)" :
				 strerror(ret));
	}
	if (!ret)
		ret = copy_regions(sb, s, live, why);
	return ret;
}

/*
 * Its ids come from the sandbox's: the inode numbers of the mount.  Its
 * copies' follow its own, in order, which snapshot__find_region_id
 * counts on.
 */
static void publish(struct sandbox *sb, struct snapshot *s)
{
	pthread_mutex_lock(&sb->acct);
	s->id = sb->next_id++;
	for (unsigned i = 0; i < s->nr; i++)
		s->regions[i].id = sb->next_id++;
	pthread_mutex_unlock(&sb->acct);
	snaps__add(&sb->snaps, s);
}

int snapshot__take(struct sandbox *sb, struct vcpu *v, const char *spec,
		   struct why *why)
{
	char name[REGION_NAME_MAX + 1], parent[REGION_NAME_MAX + 1];
	int ret = diff__split(spec, name, parent, why);

	return ret ? ret : snapshot__take_as(sb, v, name,
					     parent[0] ? parent : NULL, 0, why);
}

int snapshot__take_as(struct sandbox *sb, struct vcpu *v, const char *name,
		      const char *parent, uint64_t token, struct why *why)
{
	struct region **live = NULL;
	struct snapshot *s = NULL;
	unsigned n;
	int ret;

	if (parse__region_name(name))
		return why__set(why, EINVAL, "names are [A-Za-z0-9_.-]{1,64}, "
				"not starting with '.'");
	/*
	 * A copy reads the live bytes: never those --from still checks, or
	 * found damaged (fromcheck.c), or the copy (a region of its own, no
	 * check pending on it) would hand them out with success.  0 while
	 * loading: the checks start after the load's own snapshots.
	 */
	ret = sandbox__from_wait(sb, REGION_CHECK_WAIT_MS, why);
	if (ret)
		return ret;
	ret = op_begin(sb, why);
	if (ret)
		return ret;
	/* The table stays as it is until the copy is complete. */
	pthread_rwlock_rdlock(&sb->lock);
	ret = check_name(&sb->snaps, name, why);
	if (!ret)
		ret = refuse_running(v, why);
	if (ret)
		goto out;
	n = sb->nr;
	live = calloc(n ? n : 1, sizeof(*live));
	s = snapshot__alloc(name, n);
	if (!live || !s) {
		ret = why__set(why, ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < n; i++)
		live[i] = sb->slots[i].region;
	s->token = token ? token : diff__new_token();
	/* A diff's memory is checked once its pages are known. */
	ret = parent ? diff__attach(sb, s, parent, why) :
		       check_bytes(&sb->snaps, live, n, why);
	if (!ret)
		ret = hold_all(live, n, why);
	if (ret)
		goto out;
	ret = take_held(sb, s, v, live, why);
	release(live, n);
	if (!ret) {
		clock_gettime(CLOCK_REALTIME, &s->created);
		ret = snapshot__make_files(s);
		if (!ret)
			ret = diff__make_parent_file(s);
		if (ret)
			why__set(why, ret, "cannot make vcpu_state and info: %s",
				 strerror(ret));
	}
	if (!ret) {
		publish(sb, s);
		s = NULL;
	}
out:
	pthread_rwlock_unlock(&sb->lock);
	pthread_mutex_unlock(&sb->snaps.op);
	free(live);
	snapshot__put(s);
	return ret;
}

/*
 * Every copy's data map, before anything changes (the first restore):
 * region__copy_out copies a short dirty run page by page between the
 * mappings with it (copy.h's COPY_DENSE_PAGES), no syscall for data.  A
 * diff's copy reads through to its parent and a huge copy must not be
 * read through its mapping (its holes would be allocated): they have
 * none (region__data_map says).
 */
static int data_maps(struct snapshot *s, struct why *why)
{
	for (unsigned i = 0; i < s->nr; i++) {
		struct region *c = s->regions[i].region;
		int ret;

		if (s->data[i].bits)
			continue;
		ret = region__data_map(c, &s->data[i].bits, &s->data[i].len);
		if (ret)
			return why__set(why, ret, "region %s: cannot map where "
					"the copy holds data: %s",
					region__name(c), strerror(ret));
	}
	return 0;
}

/*
 * Give r the bytes of copy c: the pages written since the boundary
 * (*pages counts them, for metrics).
 */
static int restore_region(struct region *r, struct region *c,
			  const uint64_t *bits, uint32_t since, uint8_t **buf,
			  uint64_t *pages)
{
	uint64_t page = region__page_size(), first, end, p = 0;
	struct copy_cursor x;
	int ret;

	ret = region__dirty_harvest(r);
	if (ret)
		return ret;
	/* A diff's copy reads through to its parent's: every level a cursor. */
	memset(&x, 0, sizeof(x));
	if (!region__tracked(r) || region__dirty_all_since(r, since)) {
		/*
		 * Nothing says which pages changed (no tracking, or every page
		 * counts since: a zero, a truncate, a read-write open): all of
		 * them may have.  The copy costs the data; the record is marked
		 * whole at once, not stamped page by page.
		 */
		*pages += region__mem_size(r) / page;
		/*
		 * Marked first: a copy that fails half-way has written some
		 * pages, which every later diff and restore must see.
		 */
		if (region__tracked(r)) {
			region__dirty_mark_all(r);
			region__touch(r);
		}
		return region__copy_out(c, r, buf, &x, 0, region__mem_size(r));
	}
	x.map = bits;
	while (region__dirty_next(r, since, p, &first, &end)) {
		*pages += end - first;
		/* Written by the host, as far as `dirty` is concerned (first). */
		region__dirty_mark(r, first * page, (end - first) * page);
		ret = region__copy_out(c, r, buf, &x, first * page,
				       end * page);
		if (ret)
			return ret;
		p = end;
	}
	return 0;
}

/* The live regions of s, by name; ENOENT for one removed since. */
static int find_live(struct sandbox *sb, struct snapshot *s,
		     struct region **live, struct why *why)
{
	for (unsigned i = 0; i < s->nr; i++) {
		struct region *c = s->regions[i].region;

		live[i] = NULL;
		for (unsigned j = 0; j < sb->nr; j++)
			if (strcmp(region__name(sb->slots[j].region), region__name(c)) == 0)
				live[i] = sb->slots[j].region;
		if (!live[i])
			return why__set(why, ENOENT, "region %s was removed "
					"since the snapshot (mkdir it, with "
					"mem_size %llu)", region__name(c),
					(unsigned long long)region__mem_size(c));
	}
	return 0;
}

static int check_sizes(struct snapshot *s, struct region **live,
		       struct why *why)
{
	for (unsigned i = 0; i < s->nr; i++) {
		uint64_t want = region__mem_size(s->regions[i].region);

		if (region__mem_size(live[i]) != want)
			return why__set(why, EINVAL, "region %s is %llu bytes, "
					"the snapshot's is %llu (write that to "
					"its mem_size)", region__name(live[i]),
					(unsigned long long)region__mem_size(live[i]),
					(unsigned long long)want);
	}
	return 0;
}

/*
 * With every region held: the vCPU first, since loading it may complete
 * an I/O exit a fault left pending, which can write guest memory (logged,
 * so the copy below puts those pages back too); then the pages.
 */
static int restore_held(struct snapshot *s, struct vcpu *v,
			struct region **live, uint8_t **buf, uint64_t *pages,
			struct why *why)
{
	unsigned restored = 0;
	uint32_t b;
	int ret = 0;

	if (v && s->cpu) {
		ret = vcpu__load(v, s->cpu);
		if (ret)
			why__set(why, ret, "cannot load the vCPU: %s",
				 strerror(ret));
	}
	for (unsigned i = 0; i < s->nr && !ret; i++) {
		ret = restore_region(live[i], s->regions[i].region,
				     s->data[i].bits, s->synced[i], buf, pages);
		if (!ret) {
			restored = i + 1;
			continue;
		}
		why__set(why, ret, "region %s: copy failed: %s; %u of %u "
			 "regions restored, the vCPU is stopped",
			 region__name(live[i]), strerror(ret), i, s->nr);
		/* Half-restored memory must not run on. */
		if (v)
			vcpu__stop(v);
	}
	/*
	 * Now the regions hold the snapshot's bytes: a later restore of it
	 * needs only the pages written after this point (for every other
	 * snapshot, the pages just written count as changed).  One epoch
	 * for the whole restore; those restored before a failure count too.
	 */
	b = dirty__boundary();
	for (unsigned i = 0; i < restored; i++)
		s->synced[i] = b;
	return ret;
}

int snapshot__restore(struct sandbox *sb, struct vcpu *v, const char *name,
		      struct why *why)
{
	struct region **live = NULL;
	struct timespec t0, t1;
	struct snapshot *s;
	uint8_t *buf = NULL;
	uint64_t pages = 0;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = op_begin(sb, why);
	if (ret)
		return ret;
	pthread_rwlock_rdlock(&sb->lock);
	s = snapshot__find(&sb->snaps, name);
	if (!s) {
		ret = why__set(why, ENOENT, "no snapshot of that name");
		goto out;
	}
	live = calloc(s->nr ? s->nr : 1, sizeof(*live));
	if (!live) {
		ret = why__set(why, ENOMEM, "out of memory");
		goto out;
	}
	/* Everything is checked before anything changes. */
	ret = find_live(sb, s, live, why);
	if (!ret)
		ret = refuse_running(v, why);
	if (!ret)
		ret = hold_all(live, s->nr, why);
	if (ret)
		goto out;
	ret = check_sizes(s, live, why);
	if (!ret)
		ret = data_maps(s, why);
	if (!ret)
		ret = restore_held(s, v, live, &buf, &pages, why);
	release(live, s->nr);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	atomic_fetch_add(&sb->snaps.restored_pages, pages);
	if (!ret) {
		atomic_fetch_add(&sb->snaps.restores, 1);
		atomic_store(&sb->snaps.restore_last_ns,
			     (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ULL +
			     (uint64_t)(t1.tv_nsec - t0.tv_nsec));
	}
out:
	pthread_rwlock_unlock(&sb->lock);
	pthread_mutex_unlock(&sb->snaps.op);
	snapshot__put(s);
	free(live);
	free(buf);
	return ret;
}

int snapshot__remove(struct sandbox *sb, const char *name, struct why *why)
{
	int ret = op_begin(sb, why);

	if (ret)
		return ret;
	ret = diff__check_remove(&sb->snaps, name, why);
	if (!ret && (ret = snaps__remove(&sb->snaps, name)))
		why__set(why, ret, "no snapshot of that name");
	pthread_mutex_unlock(&sb->snaps.op);
	return ret;
}
