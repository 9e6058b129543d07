/*
 * A sandbox from a saved snapshot directory (snapshot.h): everything is
 * read and checked first, every file named in the reason of a refusal,
 * and only then is anything built.  A sandbox that was being loaded when
 * the copy failed is left half-built: the caller gives up and exits.
 */
#include "region/sandbox/snapshot.h"
#include "region/copy.h"
#include "region/kvm/vcpu.h"
#include "region/overlay.h"
#include "region/sandbox/diff.h"
#include "region/util/parse.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A vcpu_state larger than this is not one (XSAVE areas are ~11 KiB). */
#define STATE_FILE_MAX (1 << 20)

struct saved_region {
	char name[REGION_NAME_MAX + 1];
	uint64_t size;
	bool mapped;
	uint64_t gpa;
	bool ro;
	int fd;			/* contents, open */
};

struct saved_dir {
	const char *dir;
	int dfd;
	struct saved_region *rs;
	unsigned nr;
	struct vcpu_saved *cpu;
	bool has_cpu;
};

/* A small file of dir, whole: 0 or an errno with why naming it. */
static int read_file(struct saved_dir *d, const char *path, char *buf,
		     size_t max, size_t *len, struct why *why)
{
	/* O_NONBLOCK: a FIFO put there must not hang the start. */
	int fd = openat(d->dfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	ssize_t n = -1;
	int ret = 0;

	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		return why__set(why, EINVAL, "%s/%s: not a regular file",
				d->dir, path);
	}
	if (fd >= 0) {
		n = read(fd, buf, max);
		ret = n < 0 ? errno : 0;
		/* One more byte than the maximum: too big. */
		if (!ret && (size_t)n == max)
			ret = EFBIG;
		close(fd);
	} else {
		ret = errno;
	}
	if (ret)
		return why__set(why, ret == EFBIG ? EINVAL : ret,
				"%s/%s: %s", d->dir, path, ret == EFBIG ?
				"too big" : strerror(ret));
	*len = (size_t)n;
	return 0;
}

/* An attribute file of region dir r, trimmed: its one value. */
static int read_attr(struct saved_dir *d, const char *r, const char *file,
		     char *val, struct why *why)
{
	char path[PATH_MAX], buf[PARSE_VALUE_MAX];
	size_t len;
	int ret;

	snprintf(path, sizeof(path), "%s/%s", r, file);
	ret = read_file(d, path, buf, sizeof(buf), &len, why);
	if (ret)
		return ret;
	if (parse__value(buf, len, val, PARSE_VALUE_MAX))
		return why__set(why, EINVAL, "%s/%s: not one value", d->dir,
				path);
	return 0;
}

static int load_region(struct saved_dir *d, const char *name,
		       struct saved_region *s, struct why *why)
{
	char val[PARSE_VALUE_MAX], path[PATH_MAX];
	uint64_t raw, page = region__page_size();
	struct stat st;
	int ret;

	snprintf(s->name, sizeof(s->name), "%s", name);
	ret = read_attr(d, name, "mem_size", val, why);
	if (ret)
		return ret;
	if (parse__size(val, &s->size) || s->size == 0 || s->size % page ||
	    s->size > REGION_SIZE_MAX)
		return why__set(why, EINVAL, "%s/%s/mem_size: '%s' is not a "
				"size in whole pages up to 1T", d->dir, name,
				val);
	ret = read_attr(d, name, "raw_size", val, why);
	if (ret)
		return ret;
	if (parse__size(val, &raw) || raw != s->size + 2 * page)
		return why__set(why, EINVAL, "%s/%s/raw_size: '%s', but "
				"mem_size is %llu: the sizes disagree", d->dir,
				name, val, (unsigned long long)s->size);
	ret = read_attr(d, name, "guest_addr", val, why);
	if (ret)
		return ret;
	if (parse__gpa(val, &s->gpa, &s->mapped) || s->gpa % page)
		return why__set(why, EINVAL, "%s/%s/guest_addr: '%s' is not "
				"\"none\" or a page-aligned address", d->dir,
				name, val);
	s->mapped = !s->mapped;
	ret = read_attr(d, name, "access", val, why);
	if (ret)
		return ret;
	if (strcmp(val, "rw") != 0 && strcmp(val, "ro") != 0)
		return why__set(why, EINVAL, "%s/%s/access: '%s' is not rw or "
				"ro", d->dir, name, val);
	s->ro = strcmp(val, "ro") == 0;
	snprintf(path, sizeof(path), "%s/contents", name);
	s->fd = openat(d->dfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (s->fd < 0 || fstat(s->fd, &st) < 0)
		return why__set(why, errno, "%s/%s: %s", d->dir, path,
				strerror(errno));
	if (!S_ISREG(st.st_mode))
		return why__set(why, EINVAL, "%s/%s: not a regular file",
				d->dir, path);
	if ((uint64_t)st.st_size != s->size)
		return why__set(why, EINVAL, "%s/%s: %llu bytes, mem_size says "
				"%llu: %s", d->dir, path,
				(unsigned long long)st.st_size,
				(unsigned long long)s->size,
				(uint64_t)st.st_size < s->size ? "truncated" :
				"the sizes disagree");
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct saved_region *)a)->name,
		      ((const struct saved_region *)b)->name);
}

/* Every subdirectory is a region. */
static int load_regions(struct saved_dir *d, struct why *why)
{
	int fd = openat(d->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *e;
	int ret = 0;

	if (!dir)
		return why__set(why, errno, "%s: %s", d->dir, strerror(errno));
	d->rs = calloc(SANDBOX_REGIONS_MAX, sizeof(*d->rs));
	if (!d->rs) {
		closedir(dir);
		return why__set(why, ENOMEM, "out of memory");
	}
	while (!ret && (e = readdir(dir))) {
		struct stat st;

		if (e->d_name[0] == '.' ||
		    fstatat(d->dfd, e->d_name, &st, 0) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		if (parse__region_name(e->d_name))
			ret = why__set(why, EINVAL, "%s/%s: not a region name",
				       d->dir, e->d_name);
		else if (d->nr == SANDBOX_REGIONS_MAX)
			ret = why__set(why, EINVAL, "%s: more than %d regions",
				       d->dir, SANDBOX_REGIONS_MAX);
		else
			ret = load_region(d, e->d_name, &d->rs[d->nr++], why);
	}
	closedir(dir);
	if (!ret && d->nr == 0)
		ret = why__set(why, EINVAL, "%s: no region directories: not a "
			       "snapshot", d->dir);
	if (!ret)
		qsort(d->rs, d->nr, sizeof(*d->rs), by_name);
	return ret;
}

/* Overlapping guest ranges would be refused half-way: refuse them now. */
static int check_overlaps(struct saved_dir *d, struct why *why)
{
	for (unsigned i = 0; i < d->nr; i++)
		for (unsigned j = i + 1; j < d->nr; j++) {
			struct saved_region *a = &d->rs[i], *b = &d->rs[j];

			if (!a->mapped || !b->mapped ||
			    a->gpa >= b->gpa + b->size ||
			    b->gpa >= a->gpa + a->size)
				continue;
			return why__set(why, EINVAL, "%s/%s/guest_addr 0x%llx "
					"and %s/guest_addr 0x%llx: the guest "
					"ranges overlap", d->dir, a->name,
					(unsigned long long)a->gpa, b->name,
					(unsigned long long)b->gpa);
		}
	return 0;
}

static struct saved_region *find(struct saved_dir *d, const char *name)
{
	for (unsigned i = 0; i < d->nr; i++)
		if (strcmp(d->rs[i].name, name) == 0)
			return &d->rs[i];
	return NULL;
}

static int load_state(struct saved_dir *d, struct why *why)
{
	struct saved_region *boot;
	struct why inner = { "" };
	size_t len;
	char *buf;
	int ret;

	buf = malloc(STATE_FILE_MAX);
	if (!buf)
		return why__set(why, ENOMEM, "out of memory");
	ret = read_file(d, "vcpu_state", buf, STATE_FILE_MAX, &len, why);
	if (!ret) {
		ret = vcpu__saved_decode(buf, len, &d->cpu, &inner);
		if (ret)
			why__set(why, ret, "%s/vcpu_state: %s", d->dir,
				 why__text(&inner, ret));
	}
	/* info is for people; its absence says the copy is not whole. */
	if (!ret && faccessat(d->dfd, "info", R_OK, 0) < 0)
		ret = why__set(why, errno, "%s/info: %s", d->dir,
			       strerror(errno));
	free(buf);
	if (ret || !d->cpu)
		return ret;
	/* The vCPU's tables are in its boot region, where it maps it. */
	boot = find(d, VCPU_BOOT_REGION);
	if (!boot || boot->size != VCPU_BOOT_SIZE || !boot->mapped ||
	    boot->gpa != VCPU_BOOT_GPA)
		return why__set(why, EINVAL, "%s/%s: the vCPU's boot region "
				"must be there, %llu bytes at 0x%llx",
				d->dir, VCPU_BOOT_REGION,
				(unsigned long long)VCPU_BOOT_SIZE,
				(unsigned long long)VCPU_BOOT_GPA);
	d->has_cpu = true;
	return 0;
}

/* The region's bytes: the data extents of contents, holes left holes. */
static int fill(struct saved_dir *d, struct region *r, struct saved_region *s,
		uint8_t *buf, struct why *why)
{
	int ret = copy__range(r->memfd, s->fd, buf,
			      &(struct extents){ .hole = 0 }, 0, s->size,
			      false);

	if (ret)
		return why__set(why, ret, "%s/%s/contents: %s", d->dir,
				s->name, strerror(ret));
	region__touch(r);
	return 0;
}

static int build_region(struct sandbox *sb, struct saved_dir *d,
			struct saved_region *s, uint8_t *buf, struct why *why)
{
	struct region *r;
	int ret;

	ret = sandbox__create(sb, s->name, s->size, NULL, why);
	if (ret)
		return why__prefix(why, ret, "region %s: ", s->name);
	r = sandbox__find(sb, s->name, NULL);
	if (s->ro)
		ret = sandbox__set_access(sb, r, true, why);
	if (!ret && s->mapped)
		ret = sandbox__set_guest_addr(sb, r, false, s->gpa, why);
	if (ret)
		why__prefix(why, ret, "%s/%s: cannot map it: ", d->dir,
			    s->name);
	else
		ret = fill(d, r, s, buf, why);
	region__put(r);
	return ret;
}

/* The vCPU on its boot region, then its bytes and the registers. */
static int build_vcpu(struct sandbox *sb, struct saved_dir *d,
		      const struct vcpu_config *base, struct vcpu **v,
		      uint8_t *buf, struct why *why)
{
	struct vcpu_config cfg = *base;
	struct region *boot;
	int ret;

	vcpu__saved_config(d->cpu, &cfg);
	ret = sandbox__new_vcpu(sb, &cfg, v, why);
	if (ret)
		return why__prefix(why, ret, "the vCPU: ");
	boot = sandbox__find(sb, VCPU_BOOT_REGION, NULL);
	ret = fill(d, boot, find(d, VCPU_BOOT_REGION), buf, why);
	region__put(boot);
	if (ret)
		return ret;
	ret = vcpu__load(*v, d->cpu);
	if (ret)
		return why__set(why, ret, "%s/vcpu_state: KVM refused it: %s",
				d->dir, strerror(ret));
	return 0;
}

/* The snapshot's name in the new mount: the directory's, if it is one. */
static void snap_name(const char *dir, char *name, size_t len)
{
	char *full = realpath(dir, NULL);
	const char *base = full ? strrchr(full, '/') : NULL;

	snprintf(name, len, "%s", base && base[1] ? base + 1 : "from");
	if (parse__region_name(name))
		snprintf(name, len, "from");
	free(full);
}

/* Every file of d read and checked; nothing built yet. */
static int check_dir(struct sandbox *sb, struct saved_dir *d,
		     struct why *why)
{
	int ret;

	d->dfd = open(d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dfd < 0)
		return why__set(why, errno, "%s: %s", d->dir, strerror(errno));
	ret = load_regions(d, why);
	if (!ret)
		ret = check_overlaps(d, why);
	if (!ret)
		ret = load_state(d, why);
	if (!ret && d->has_cpu && !sb->vm)
		ret = why__set(why, ENODEV, "%s/vcpu_state holds a vCPU, and "
			       "there is no KVM: %s", d->dir,
			       why__text(&sb->vm_why, ENODEV));
	return ret;
}

/* The sandbox (empty until now) as d says. */
static int build_dir(struct sandbox *sb, struct saved_dir *d,
		     const struct vcpu_config *cfg, struct vcpu **v,
		     uint8_t *buf, struct why *why)
{
	int ret = 0;

	for (unsigned i = 0; !ret && i < d->nr; i++)
		if (!d->has_cpu || strcmp(d->rs[i].name, VCPU_BOOT_REGION) != 0)
			ret = build_region(sb, d, &d->rs[i], buf, why);
	if (!ret && d->has_cpu)
		ret = build_vcpu(sb, d, cfg, v, buf, why);
	return ret;
}

static void free_dir(struct saved_dir *d)
{
	for (unsigned i = 0; i < d->nr; i++)
		if (d->rs[i].fd > 0)
			close(d->rs[i].fd);
	free(d->rs);
	vcpu__saved_free(d->cpu);
	if (d->dfd > 0)
		close(d->dfd);
}

/*
 * Chains: a saved diff snapshot (a parent file) is loaded over its
 * parent, saved beside it under its name, which may be a diff too.  Each
 * link is checked whole like any snapshot directory, and against its
 * parent: the parent's info must give the id the diff's parent file
 * names, and a region the diff does not hold whole must be in the parent
 * with its size.  The root is built; each diff then writes only the pages
 * it holds (its regions' dirty files list them: the load costs the pages
 * written, not the size) and is taken again as a diff of the one before,
 * with its id.
 */
#define CHAIN_MAX (OVERLAY_DEPTH_MAX + 1)
/* The parent file: "NAME 0xID\n". */
#define PARENT_FILE_MAX (REGION_NAME_MAX + 24)

struct chain_link {
	char path[PATH_MAX];
	char name[REGION_NAME_MAX + 1];	/* its snapshot in the new mount */
	struct saved_dir d;
	uint64_t token;			/* info's id; 0: none */
	char parent[REGION_NAME_MAX + 1];	/* "" for the root */
	uint64_t parent_token;
	struct overlay_run **held;	/* per region of d, for a diff */
	uint64_t *nheld;
};

struct chain {
	struct chain_link *links;	/* [0] the directory given, up to the root */
	unsigned nr;
};

/* The parent file, if there is one: its name and id. */
static int read_parent(struct chain_link *l, struct why *why)
{
	char buf[PARENT_FILE_MAX + 1];
	size_t len;
	int ret;

	l->parent[0] = '\0';
	if (faccessat(l->d.dfd, "parent", F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno == ENOENT)
		return 0;
	ret = read_file(&l->d, "parent", buf, sizeof(buf) - 1, &len, why);
	if (ret)
		return ret;
	if (diff__parse_parent(buf, len, l->parent, &l->parent_token))
		return why__set(why, EINVAL, "%s/parent: not \"NAME 0xID\" (the "
				"parent snapshot and its id)", l->path);
	return 0;
}

/* info's "id 0x..." line (0 without one: saved before ids). */
static int read_id(struct chain_link *l, struct why *why)
{
	char *buf = malloc(STATE_FILE_MAX), *line;
	size_t len;
	int ret;

	l->token = 0;
	if (!buf)
		return why__set(why, ENOMEM, "out of memory");
	ret = read_file(&l->d, "info", buf, STATE_FILE_MAX - 1, &len, why);
	if (!ret) {
		buf[len] = '\0';
		line = strstr(buf, "\nid ");
		if (line) {
			char *end = line + 4 + strcspn(line + 4, "\n");

			*end = '\0';
			if (!diff__parse_id(line + 4, &l->token))
				ret = why__set(why, EINVAL, "%s/info: id '%s' "
					       "is not 0x and hex digits",
					       l->path, line + 4);
		}
	}
	free(buf);
	return ret;
}

/* One region's dirty file of a diff: the pages it holds, checked. */
static int read_held(struct chain_link *l, unsigned k, struct why *why)
{
	struct saved_region *s = &l->d.rs[k];
	uint64_t prev = 0, a, b, cap = 0;
	char path[PATH_MAX], line[80];
	struct overlay_run *runs = NULL;
	unsigned long lineno = 0;
	int fd, ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/dirty", s->name);
	fd = openat(l->d.dfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	f = fd < 0 ? NULL : fdopen(fd, "r");
	if (!f) {
		ret = errno;
		if (fd >= 0)
			close(fd);
		return why__set(why, ret, "%s/%s: %s (a diff lists the pages "
				"it holds there)", l->path, path,
				strerror(ret));
	}
	while (!ret && fgets(line, sizeof(line), f)) {
		lineno++;
		if (diff__parse_run(line, s->size, prev, &a, &b)) {
			ret = why__set(why, EINVAL, "%s/%s: line %lu is not a "
				       "range of whole pages 0xA-0xB, "
				       "ascending, within mem_size", l->path,
				       path, lineno);
			break;
		}
		if (l->nheld[k] == cap) {
			struct overlay_run *nr;

			cap = cap ? cap * 2 : 16;
			nr = realloc(runs, cap * sizeof(*runs));
			if (!nr) {
				ret = why__set(why, ENOMEM, "out of memory");
				break;
			}
			runs = nr;
		}
		runs[l->nheld[k]++] = (struct overlay_run){ a, b };
		prev = b * region__page_size();
	}
	if (!ret && ferror(f))
		ret = why__set(why, EIO, "%s/%s: %s", l->path, path,
			       strerror(EIO));
	fclose(f);
	l->held[k] = runs;
	return ret;
}

static bool holds_whole(struct chain_link *l, unsigned k)
{
	uint64_t pages = l->d.rs[k].size / region__page_size();

	return l->nheld[k] == 1 && l->held[k][0].first == 0 &&
	       l->held[k][0].end == pages;
}

/* Diff l against its parent p: ids, the vCPU, what it reads through. */
static int check_link(struct chain_link *l, struct chain_link *p,
		      struct why *why)
{
	int ret = 0;

	if (p->token != l->parent_token)
		return why__set(why, EINVAL, "%s/parent names %s 0x%016llx, "
				"but %s/info says id 0x%016llx: not the "
				"snapshot this diff was taken of", l->path,
				l->parent,
				(unsigned long long)l->parent_token, p->path,
				(unsigned long long)p->token);
	if (l->d.has_cpu != p->d.has_cpu)
		return why__set(why, EINVAL, "%s/vcpu_state %s a vCPU and "
				"%s/vcpu_state %s", l->path,
				l->d.has_cpu ? "holds" : "holds no", p->path,
				p->d.has_cpu ? "does" : "does not");
	l->held = calloc(l->d.nr, sizeof(*l->held));
	l->nheld = calloc(l->d.nr, sizeof(*l->nheld));
	if (!l->held || !l->nheld)
		return why__set(why, ENOMEM, "out of memory");
	for (unsigned k = 0; !ret && k < l->d.nr; k++) {
		struct saved_region *s = &l->d.rs[k], *ps;

		ret = read_held(l, k, why);
		if (ret || holds_whole(l, k))
			continue;
		ps = find(&p->d, s->name);
		if (!ps || ps->size != s->size)
			ret = why__set(why, EINVAL, "%s/%s/dirty: the diff holds "
				       "some pages and reads the rest from "
				       "its parent, but %s has no region %s "
				       "of %llu bytes", l->path, s->name,
				       p->path, s->name,
				       (unsigned long long)s->size);
	}
	return ret;
}

static int chain_read(struct sandbox *sb, struct chain *c, const char *dir,
		      struct why *why)
{
	int ret = 0;

	memset(c, 0, sizeof(*c));
	c->links = calloc(CHAIN_MAX, sizeof(*c->links));
	if (!c->links)
		return why__set(why, ENOMEM, "out of memory");
	snprintf(c->links[0].path, PATH_MAX, "%s", dir);
	snap_name(dir, c->links[0].name, sizeof(c->links[0].name));
	for (;;) {
		struct chain_link *l = &c->links[c->nr++], *n;
		char *slash;

		l->d.dir = l->path;
		ret = check_dir(sb, &l->d, why);
		if (!ret)
			ret = read_id(l, why);
		if (!ret)
			ret = read_parent(l, why);
		if (ret || !l->parent[0])
			break;
		if (c->nr == CHAIN_MAX) {
			ret = why__set(why, EINVAL, "%s: a chain of more than "
				       "%d diffs", dir, OVERLAY_DEPTH_MAX);
			break;
		}
		for (unsigned i = 0; i < c->nr && !ret; i++)
			if (strcmp(c->links[i].name, l->parent) == 0)
				ret = why__set(why, EINVAL, "%s/parent names "
					       "%s, which is in the chain "
					       "already", l->path, l->parent);
		if (ret)
			break;
		/* The parent is saved beside the diff, under its name. */
		n = &c->links[c->nr];
		snprintf(n->name, sizeof(n->name), "%s", l->parent);
		slash = strrchr(l->path, '/');
		if (snprintf(n->path, PATH_MAX, "%.*s%s",
			     slash ? (int)(slash - l->path + 1) : 0, l->path,
			     l->parent) >= PATH_MAX) {
			ret = why__set(why, ENAMETOOLONG, "%s: path too long",
				       l->path);
			break;
		}
		if (access(n->path, F_OK) < 0) {
			ret = why__set(why, errno, "%s/parent names %s, and %s: "
				       "%s (save the parent beside the diff, "
				       "under its name)", l->path, l->parent,
				       n->path, strerror(errno));
			break;
		}
	}
	for (unsigned i = 0; !ret && i + 1 < c->nr; i++)
		ret = check_link(&c->links[i], &c->links[i + 1], why);
	return ret;
}

static void chain_free(struct chain *c)
{
	for (unsigned i = 0; c->links && i < c->nr; i++) {
		struct chain_link *l = &c->links[i];

		for (unsigned k = 0; l->held && k < l->d.nr; k++)
			free(l->held[k]);
		free(l->held);
		free(l->nheld);
		free_dir(&l->d);
	}
	free(c->links);
}

/* The pages diff region s holds, into r (which holds the parent's). */
static int fill_held(struct chain_link *l, unsigned k, struct region *r,
		     uint8_t *buf, struct why *why)
{
	struct saved_region *s = &l->d.rs[k];
	uint64_t page = region__page_size();
	struct extents x = { .hole = 0 };
	int ret = 0;

	for (uint64_t i = 0; !ret && i < l->nheld[k]; i++) {
		uint64_t a = l->held[k][i].first * page,
			 b = l->held[k][i].end * page;

		ret = copy__range(r->memfd, s->fd, buf, &x, a, b, true);
		/* Written since the parent, as they were where it was taken. */
		if (!ret && holds_whole(l, k))
			dirty__mark_all(&r->dirty);
		else if (!ret)
			region__dirty_mark(r, a, b - a);
	}
	region__touch(r);
	if (ret)
		why__set(why, ret, "%s/%s/contents: %s", l->path, s->name,
			 strerror(ret));
	return ret;
}

/* One region of diff l, over the parent's (mappings already undone). */
static int apply_region(struct sandbox *sb, struct chain_link *l, unsigned k,
			uint8_t *buf, struct why *why)
{
	struct saved_region *s = &l->d.rs[k];
	struct region *r = sandbox__find(sb, s->name, NULL);
	uint64_t gpa;
	int ret = 0;

	if (!r)		/* made since the parent: held whole */
		return build_region(sb, &l->d, s, buf, why);
	if (r->mem_size != s->size)
		ret = sandbox__resize(sb, r, s->size, why);
	if (!ret)
		ret = fill_held(l, k, r, buf, why);
	if (!ret && r->guest_ro != s->ro)
		ret = sandbox__set_access(sb, r, s->ro, why);
	if (!ret && s->mapped && !sandbox__guest_addr(sb, r, &gpa))
		ret = sandbox__set_guest_addr(sb, r, false, s->gpa, why);
	if (ret)
		why__prefix(why, ret, "%s/%s: ", l->path, s->name);
	region__put(r);
	return ret;
}

/* The sandbox, holding diff l's parent, made to hold l. */
static int apply_diff(struct sandbox *sb, struct chain_link *l,
		      struct vcpu *v, uint8_t *buf, struct why *why)
{
	struct saved_dir *d = &l->d;
	int ret = 0;

	/* Regions removed since the parent go; mappings that change, undone. */
	for (unsigned j = sb->nr; !ret && j-- > 0;) {
		struct region *r = sb->slots[j].region;
		struct saved_region *s = find(d, r->name);
		uint64_t gpa;

		if (!s)
			ret = sandbox__remove(sb, r->name, why);
		else if (sandbox__guest_addr(sb, r, &gpa) &&
			 (!s->mapped || s->gpa != gpa || s->size != r->mem_size))
			ret = sandbox__set_guest_addr(sb, r, true, 0, why);
	}
	if (ret)
		return why__prefix(why, ret, "%s: ", l->path);
	for (unsigned k = 0; !ret && k < d->nr; k++)
		ret = apply_region(sb, l, k, buf, why);
	if (!ret && v && d->cpu) {
		ret = vcpu__load(v, d->cpu);
		if (ret)
			why__set(why, ret, "%s/vcpu_state: KVM refused it: %s",
				 l->path, strerror(ret));
	}
	return ret;
}

/* Link i taken as a snapshot: the root whole, a diff over the next. */
static int chain_take(struct sandbox *sb, struct chain *c, unsigned i,
		      struct vcpu *v, uint8_t *buf, struct why *why)
{
	struct chain_link *l = &c->links[i];
	bool root = i + 1 == c->nr;
	int ret = root ? 0 : apply_diff(sb, l, v, buf, why);

	if (ret)
		return ret;
	ret = snapshot__take_as(sb, v, l->name, root ? NULL : l->parent,
				l->token, why);
	if (ret)
		why__prefix(why, ret, "the snapshot %s: ", l->name);
	return ret;
}

int sandbox__load_dir(struct sandbox *sb, const char *dir,
		      const struct vcpu_config *cfg, struct vcpu **v,
		      struct why *why)
{
	struct chain c;
	uint8_t *buf = NULL;
	int ret;

	*v = NULL;
	/* Every directory of the chain checked: now build. */
	ret = chain_read(sb, &c, dir, why);
	if (!ret && !(buf = malloc(COPY_CHUNK)))
		ret = why__set(why, ENOMEM, "out of memory");
	if (!ret)
		ret = build_dir(sb, &c.links[c.nr - 1].d, cfg, v, buf, why);
	/*
	 * Each snapshot itself, so that a restore works at once: the root,
	 * then each diff over the one before.
	 */
	for (unsigned i = c.nr; !ret && i-- > 0;)
		ret = chain_take(sb, &c, i, *v, buf, why);
	chain_free(&c);
	free(buf);
	return ret;
}
