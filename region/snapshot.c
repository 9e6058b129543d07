/*
 * Snapshots: what exclusivity exists for.  Taking one holds every region
 * exclusive at once (so the guest is out, and no host write is half-way),
 * copies each sparsely into a sealed region of its own, and saves the
 * vCPU.  Restoring holds the snapshot's regions exclusive and copies back
 * only the pages written since (the dirty stamps say which).
 */
#include "region/snapshot.h"
#include "region/parse.h"
#include "region/vcpu.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The copy buffer of one snapshot or restore. */
#define COPY_CHUNK (1 << 20)

static int op_begin(struct sandbox *sb, char *why, size_t why_len)
{
	struct timespec ts = region__deadline_ms(SNAPSHOT_WAIT_MS);
	int ret = pthread_mutex_clocklock(&sb->snap_op, CLOCK_MONOTONIC, &ts);

	if (ret == ETIMEDOUT)
		ret = EBUSY;
	if (ret && why)
		snprintf(why, why_len, "another snapshot or restore is under way");
	return ret;
}

static bool zero_page(const uint8_t *p, size_t len)
{
	const uint64_t *w = (const uint64_t *)p;

	for (size_t i = 0; i < len / 8; i++)
		if (w[i])
			return false;
	return true;
}

static int punch(int fd, uint64_t off, uint64_t len)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) < 0)
		return errno;
	return 0;
}

/*
 * Copy [off, end) of src's memfd into dst's, page by page: pages of zeros
 * become holes in dst (punched when fill_holes, else dst is known to hold
 * a hole there already), so a copy costs only the pages with data.
 */
static int copy_data(int dst, int src, uint8_t *buf, uint64_t off,
		     uint64_t end, bool fill_holes)
{
	size_t page = region__page_size();

	while (off < end) {
		size_t len = end - off > COPY_CHUNK ? COPY_CHUNK : end - off;
		ssize_t n = pread(src, buf, len, (off_t)off);

		if (n < 0)
			return errno;
		if ((size_t)n != len)
			return EIO;
		for (size_t p = 0; p < len;) {
			bool zero = zero_page(buf + p, page);
			size_t q = p + page;
			int ret = 0;

			while (q < len && zero_page(buf + q, page) == zero)
				q += page;
			if (!zero) {
				if (pwrite(dst, buf + p, q - p, (off_t)(off + p)) !=
				    (ssize_t)(q - p))
					ret = errno ? errno : EIO;
			} else if (fill_holes) {
				ret = punch(dst, off + p, q - p);
			}
			if (ret)
				return ret;
			p = q;
		}
		off += len;
	}
	return 0;
}

/*
 * Where src's data and holes are, remembered across calls: src is never
 * written (a snapshot's copy, or a region held exclusive), and the ranges
 * asked for only move forward, so the extent around off is often known.
 * shmem answers SEEK_HOLE by walking its pages up to the next hole, which
 * in a copy without holes is the end of the file: asking once per dirty
 * range made a restore of scattered pages cost the region's size each
 * time.  With the cursor, all the walks of one region add up to its size.
 */
struct extents {
	uint64_t from;	/* [from, data) is a hole, [data, hole) data */
	uint64_t data;
	uint64_t hole;
};

static int find_extent(int src, struct extents *x, uint64_t off)
{
	off_t data, hole;

	if (off >= x->from && off < x->hole)
		return 0;
	x->from = off;
	data = lseek(src, (off_t)off, SEEK_DATA);
	if (data < 0 && errno != ENXIO)
		return errno;
	if (data < 0) {
		x->data = x->hole = UINT64_MAX;	/* holes to the end */
		return 0;
	}
	hole = lseek(src, data, SEEK_HOLE);
	if (hole < 0)
		return errno;
	x->data = (uint64_t)data;
	x->hole = (uint64_t)hole;
	return 0;
}

/* Make dst's [off, end) what src's is: data copied, holes punched. */
static int copy_range(int dst, int src, uint8_t *buf, struct extents *x,
		      uint64_t off, uint64_t end, bool fill_holes)
{
	while (off < end) {
		uint64_t data, hole;
		int ret = find_extent(src, x, off);

		if (ret)
			return ret;
		data = x->data > off ? x->data : off;
		if (data > end)
			data = end;
		if (fill_holes && data > off) {
			ret = punch(dst, off, data - off);
			if (ret)
				return ret;
		}
		if (data >= end)
			break;
		hole = x->hole < end ? x->hole : end;
		ret = copy_data(dst, src, buf, data, hole, fill_holes);
		if (ret)
			return ret;
		off = hole;
	}
	return 0;
}

static void release(struct region **held, unsigned n)
{
	while (n)
		region__exclusive_end(held[--n]);
}

/* Exclusivity on every region given, or on none: EBUSY/EPERM. */
static int hold_all(struct region **rs, unsigned n, char *why, size_t len)
{
	for (unsigned i = 0; i < n; i++) {
		int ret = region__exclusive_begin(rs[i]);

		if (ret) {
			release(rs, i);
			snprintf(why, len, "region %s: %s", rs[i]->name,
				 ret == EBUSY && region__mapped(rs[i]) &&
				 rs[i]->vm && vm__guest_running(rs[i]->vm) ?
				 "the vCPU is running (pause first)" :
				 ret == EBUSY ? "host accesses did not drain in time" :
				 strerror(ret));
			return ret;
		}
	}
	return 0;
}

static bool vcpu_running(struct vcpu *v)
{
	return v && vcpu__state(v) == VCPU_RUNNING;
}

static void free_snapshot(struct snapshot *s)
{
	for (unsigned i = 0; i < s->nr; i++)
		region__put(s->regions[i].region);
	free(s->regions);
	free(s->synced);
	if (s->cpu)
		vcpu__saved_free(s->cpu);
	free(s);
}

void snapshot__put(struct snapshot *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		free_snapshot(s);
}

static int find_locked(struct sandbox *sb, const char *name)
{
	for (unsigned i = 0; i < sb->nr_snaps; i++)
		if (strcmp(sb->snaps[i]->name, name) == 0)
			return (int)i;
	return -1;
}

/* The copies, made while the caller holds every live region exclusive. */
static int copy_regions(struct snapshot *s, struct region **live,
			char *why, size_t why_len)
{
	uint8_t *buf = malloc(COPY_CHUNK);
	int ret = 0;

	if (!buf)
		return ENOMEM;
	for (unsigned i = 0; i < s->nr && !ret; i++) {
		struct region *r = live[i], *c;

		ret = region__new_readonly(r->name, r->mem_size, &c);
		if (ret) {
			snprintf(why, why_len, "region %s: cannot make the copy: %s",
				 r->name, strerror(ret));
			break;
		}
		s->regions[i].region = c;
		ret = copy_range(c->memfd, r->memfd, buf,
				 &(struct extents){ .hole = 0 }, 0, r->mem_size,
				 false);
		if (ret)
			snprintf(why, why_len, "region %s: copy failed: %s",
				 r->name, strerror(ret));
		s->bytes += region__resident(c);
	}
	free(buf);
	return ret;
}

int snapshot__take(struct sandbox *sb, struct vcpu *v, const char *name,
		   char *why, size_t why_len)
{
	struct region **live = NULL;
	struct snapshot *s = NULL;
	uint64_t need = 0;
	unsigned n;
	int ret;

	if (parse__region_name(name)) {
		snprintf(why, why_len, "names are [A-Za-z0-9_.-]{1,64}, not "
			 "starting with '.'");
		return EINVAL;
	}
	ret = op_begin(sb, why, why_len);
	if (ret)
		return ret;
	/* The table stays as it is until the copy is complete. */
	pthread_rwlock_rdlock(&sb->lock);
	pthread_rwlock_rdlock(&sb->snap_lock);
	ret = find_locked(sb, name) >= 0 ? EEXIST : 0;
	if (ret)
		snprintf(why, why_len, "the name is taken");
	else if (sb->nr_snaps >= sb->max_snaps) {
		ret = ENOSPC;
		snprintf(why, why_len, "%u snapshots already (-o max_snapshots)",
			 sb->nr_snaps);
	}
	pthread_rwlock_unlock(&sb->snap_lock);
	if (ret)
		goto out;
	if (vcpu_running(v)) {
		ret = EBUSY;
		snprintf(why, why_len, "the vCPU is running (pause first)");
		goto out;
	}
	n = sb->nr;
	live = calloc(n ? n : 1, sizeof(*live));
	s = calloc(1, sizeof(*s));
	if (s) {
		s->regions = calloc(n ? n : 1, sizeof(*s->regions));
		s->synced = calloc(n ? n : 1, sizeof(*s->synced));
	}
	if (!live || !s || !s->regions || !s->synced) {
		ret = ENOMEM;
		snprintf(why, why_len, "out of memory");
		goto out;
	}
	atomic_init(&s->refs, 1);
	strcpy(s->name, name);
	s->nr = n;
	for (unsigned i = 0; i < n; i++) {
		live[i] = sb->slots[i].region;
		need += region__resident(live[i]);
	}
	/* What the copies will take at most: refuse before copying. */
	if (sb->snap_bytes > sb->max_snap_bytes ||
	    need > sb->max_snap_bytes - sb->snap_bytes) {
		ret = ENOSPC;
		snprintf(why, why_len, "the copies would take %llu bytes, "
			 "%llu of %llu are left (-o max_snapshot_total)",
			 (unsigned long long)need,
			 (unsigned long long)(sb->snap_bytes > sb->max_snap_bytes ? 0 :
					      sb->max_snap_bytes - sb->snap_bytes),
			 (unsigned long long)sb->max_snap_bytes);
		goto out;
	}
	ret = hold_all(live, n, why, why_len);
	if (ret)
		goto out;
	/*
	 * The snapshot point: every guest write so far harvested, then the
	 * boundary, before the copy, so that a writer we cannot see
	 * (passthrough) that writes during the copy is stamped above it.
	 */
	for (unsigned i = 0; i < n && !ret; i++) {
		ret = region__dirty_harvest(live[i]);
		if (ret)
			snprintf(why, why_len, "region %s: KVM_GET_DIRTY_LOG: %s",
				 live[i]->name, strerror(ret));
	}
	s->boundary = dirty__boundary();
	for (unsigned i = 0; i < n; i++)
		s->synced[i] = s->boundary;
	/* Exclusivity keeps the guest out: the vCPU cannot start now. */
	if (!ret && v) {
		ret = vcpu__save(v, &s->cpu);
		if (ret)
			snprintf(why, why_len, "cannot save the vCPU: %s",
				 ret == EBUSY ? "it is running (pause first)" :
				 strerror(ret));
	}
	if (!ret)
		ret = copy_regions(s, live, why, why_len);
	release(live, n);
	if (ret)
		goto out;
	clock_gettime(CLOCK_REALTIME, &s->created);
	/* The ids of the sandbox: the inode numbers of the mount. */
	pthread_mutex_lock(&sb->acct);
	s->id = sb->next_id++;
	for (unsigned i = 0; i < n; i++)
		s->regions[i].id = sb->next_id++;
	pthread_mutex_unlock(&sb->acct);
	pthread_rwlock_wrlock(&sb->snap_lock);
	sb->snaps[sb->nr_snaps++] = s;
	sb->snap_bytes += s->bytes;
	pthread_rwlock_unlock(&sb->snap_lock);
	s = NULL;
out:
	pthread_rwlock_unlock(&sb->lock);
	pthread_mutex_unlock(&sb->snap_op);
	free(live);
	if (s)
		free_snapshot(s);
	return ret;
}

/* Give r the bytes of copy c: the pages written since the boundary. */
static int restore_region(struct region *r, struct region *c,
			  uint32_t since, uint8_t *buf)
{
	uint64_t page = region__page_size(), end, p = 0;
	struct extents x = { .hole = 0 };
	int64_t start;
	int ret;

	ret = region__dirty_harvest(r);
	if (ret)
		return ret;
	if (!r->track) {
		/* Nothing says which pages changed: all of them may have. */
		ret = copy_range(r->memfd, c->memfd, buf, &x, 0, r->mem_size,
				 true);
		return ret;
	}
	while ((start = region__dirty_next(r, since, p, &end)) >= 0) {
		ret = copy_range(r->memfd, c->memfd, buf, &x,
				 (uint64_t)start * page, end * page, true);
		if (ret)
			return ret;
		/* Written by the host, as far as `dirty` is concerned. */
		region__dirty_mark(r, (uint64_t)start * page,
				   (end - (uint64_t)start) * page);
		p = end;
	}
	return 0;
}

int snapshot__restore(struct sandbox *sb, struct vcpu *v, const char *name,
		      char *why, size_t why_len)
{
	struct region **live = NULL;
	struct snapshot *s;
	uint8_t *buf = NULL;
	unsigned held = 0, restored = 0;
	int ret;

	ret = op_begin(sb, why, why_len);
	if (ret)
		return ret;
	pthread_rwlock_rdlock(&sb->lock);
	s = snapshot__find(sb, name);
	if (!s) {
		ret = ENOENT;
		snprintf(why, why_len, "no snapshot of that name");
		goto out;
	}
	live = calloc(s->nr ? s->nr : 1, sizeof(*live));
	buf = malloc(COPY_CHUNK);
	if (!live || !buf) {
		ret = ENOMEM;
		snprintf(why, why_len, "out of memory");
		goto out;
	}
	/* Everything is checked before anything changes. */
	for (unsigned i = 0; i < s->nr; i++) {
		struct region *c = s->regions[i].region;
		int idx = -1;

		for (unsigned j = 0; j < sb->nr; j++)
			if (strcmp(sb->slots[j].region->name, c->name) == 0)
				idx = (int)j;
		if (idx < 0) {
			ret = ENOENT;
			snprintf(why, why_len, "region %s was removed since the "
				 "snapshot (mkdir it, with mem_size %llu)", c->name,
				 (unsigned long long)c->mem_size);
			goto out;
		}
		live[i] = sb->slots[idx].region;
	}
	if (vcpu_running(v)) {
		ret = EBUSY;
		snprintf(why, why_len, "the vCPU is running (pause first)");
		goto out;
	}
	ret = hold_all(live, s->nr, why, why_len);
	if (ret)
		goto out;
	held = s->nr;
	for (unsigned i = 0; i < s->nr; i++) {
		if (live[i]->mem_size != s->regions[i].region->mem_size) {
			ret = EINVAL;
			snprintf(why, why_len, "region %s is %llu bytes, the "
				 "snapshot's is %llu (write that to its mem_size)",
				 live[i]->name,
				 (unsigned long long)live[i]->mem_size,
				 (unsigned long long)s->regions[i].region->mem_size);
			goto out;
		}
	}
	/*
	 * The vCPU first: loading it may complete an I/O exit a fault left
	 * pending, which can write guest memory (logged, so the copy below
	 * puts those pages back too).
	 */
	if (v && s->cpu) {
		ret = vcpu__load(v, s->cpu);
		if (ret)
			snprintf(why, why_len, "cannot load the vCPU: %s",
				 strerror(ret));
	}
	for (unsigned i = 0; i < s->nr && !ret; i++) {
		ret = restore_region(live[i], s->regions[i].region,
				     s->synced[i], buf);
		if (!ret)
			restored = i + 1;
		if (ret) {
			snprintf(why, why_len, "region %s: copy failed: %s; "
				 "%u of %u regions restored, the vCPU is stopped",
				 live[i]->name, strerror(ret), i, s->nr);
			/* Half-restored memory must not run on. */
			if (v)
				vcpu__stop(v);
		}
	}
	/*
	 * Now the regions hold the snapshot's bytes: a later restore of it
	 * needs only the pages written after this point (for every other
	 * snapshot, the pages just written count as changed).  One epoch
	 * for the whole restore; those restored before a failure count too.
	 */
	if (held) {
		uint32_t b = dirty__boundary();

		for (unsigned i = 0; i < s->nr && i < restored; i++)
			s->synced[i] = b;
	}
out:
	release(live, held);
	pthread_rwlock_unlock(&sb->lock);
	pthread_mutex_unlock(&sb->snap_op);
	snapshot__put(s);
	free(live);
	free(buf);
	return ret;
}

int snapshot__remove(struct sandbox *sb, const char *name)
{
	struct snapshot *s = NULL;
	int idx, ret;

	ret = op_begin(sb, NULL, 0);
	if (ret)
		return ret;
	pthread_rwlock_wrlock(&sb->snap_lock);
	idx = find_locked(sb, name);
	if (idx < 0) {
		ret = ENOENT;
	} else {
		s = sb->snaps[idx];
		memmove(&sb->snaps[idx], &sb->snaps[idx + 1],
			(sb->nr_snaps - (unsigned)idx - 1) * sizeof(sb->snaps[0]));
		sb->nr_snaps--;
		sb->snap_bytes -= s->bytes;
	}
	pthread_rwlock_unlock(&sb->snap_lock);
	pthread_mutex_unlock(&sb->snap_op);
	/* Open files keep their copy; the rest is freed now. */
	snapshot__put(s);
	return ret;
}

static struct snapshot *get(struct snapshot *s)
{
	if (s)
		atomic_fetch_add(&s->refs, 1);
	return s;
}

struct snapshot *snapshot__find(struct sandbox *sb, const char *name)
{
	struct snapshot *s;
	int idx;

	pthread_rwlock_rdlock(&sb->snap_lock);
	idx = find_locked(sb, name);
	s = idx < 0 ? NULL : get(sb->snaps[idx]);
	pthread_rwlock_unlock(&sb->snap_lock);
	return s;
}

struct snapshot *snapshot__find_id(struct sandbox *sb, uint64_t id)
{
	struct snapshot *s = NULL;

	pthread_rwlock_rdlock(&sb->snap_lock);
	for (unsigned i = 0; i < sb->nr_snaps && !s; i++)
		if (sb->snaps[i]->id == id)
			s = get(sb->snaps[i]);
	pthread_rwlock_unlock(&sb->snap_lock);
	return s;
}

struct snapshot *snapshot__nth(struct sandbox *sb, unsigned idx)
{
	struct snapshot *s = NULL;

	pthread_rwlock_rdlock(&sb->snap_lock);
	if (idx < sb->nr_snaps)
		s = get(sb->snaps[idx]);
	pthread_rwlock_unlock(&sb->snap_lock);
	return s;
}

struct region *snapshot__region(struct snapshot *s, const char *name,
				uint64_t *id)
{
	for (unsigned i = 0; i < s->nr; i++) {
		if (strcmp(s->regions[i].region->name, name) == 0) {
			if (id)
				*id = s->regions[i].id;
			return region__get(s->regions[i].region);
		}
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

struct region *snapshot__find_region_id(struct sandbox *sb, uint64_t id)
{
	struct region *r = NULL;

	pthread_rwlock_rdlock(&sb->snap_lock);
	for (unsigned i = 0; i < sb->nr_snaps && !r; i++) {
		struct snapshot *s = sb->snaps[i];

		for (unsigned j = 0; j < s->nr && !r; j++)
			if (s->regions[j].id == id)
				r = region__get(s->regions[j].region);
	}
	pthread_rwlock_unlock(&sb->snap_lock);
	return r;
}
