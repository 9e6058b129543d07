/*
 * --from a chain of saved snapshots (chain.h): a saved diff snapshot
 * (a parent file) is loaded over its parent, saved beside it under its
 * name, which may be a diff too.  Each link is checked whole like any
 * snapshot directory (saved.h), and against its parent: the parent's
 * info must give the id the diff's parent file names, and a region the
 * diff does not hold whole must be in the parent with its size.  The root
 * is built; each diff then writes only the pages it holds (its regions'
 * dirty files list them: the load costs the pages written, not the size)
 * and is taken again as a diff of the one before, with its id.  A lone
 * full snapshot is a chain of one.
 */
#include "region/sandbox/chain.h"
#include "region/sandbox/saved.h"
#include "region/persist/info.h"
#include "region/persist/open.h"
#include "region/mem/copy.h"
#include "region/kvm/vcpu.h"
#include "region/mem/overlay.h"
#include "region/sandbox/diff.h"
#include "region/mem/sum.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHAIN_MAX (OVERLAY_DEPTH_MAX + 1)

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
	/* Where the parents are, beside the directory given: opened once. */
	int store;
	char store_path[PATH_MAX];
};

/* The parent file, if there is one: its name and id. */
static int read_parent(struct chain_link *l, struct why *why)
{
	char buf[PERSIST_PARENT_MAX + 1];
	size_t len;
	int ret;

	l->parent[0] = '\0';
	ret = saved__read_file(&l->d, PERSIST_PARENT, buf, sizeof(buf) - 1,
			       &len, why);
	if (ret == ENOENT)
		return 0;
	if (ret)
		return ret;
	if (persist__parse_parent(buf, len, l->parent, &l->parent_token))
		return why__set(why, EINVAL, "%s/%s: not \"NAME 0xID\" (the "
				"parent snapshot and its id)", l->path,
				PERSIST_PARENT);
	return 0;
}

/* info's "id 0x..." line (0 without one: saved before ids). */
static int read_id(struct chain_link *l, struct why *why)
{
	char *buf = malloc(PERSIST_INFO_MAX);
	size_t len;
	int ret;

	l->token = 0;
	if (!buf)
		return why__set(why, ENOMEM, "out of memory");
	ret = saved__read_file(&l->d, PERSIST_INFO, buf, PERSIST_INFO_MAX - 1,
			       &len, why);
	if (!ret) {
		buf[len] = '\0';
		if (persist__info_find_id(buf, &l->token) == EINVAL)
			ret = why__set(why, EINVAL, "%s/%s: the id line is "
				       "not \"id 0x\" and hex digits", l->path,
				       PERSIST_INFO);
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
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/" PERSIST_DIRTY, s->name);
	/* A FIFO or a device would read as a diff that holds nothing. */
	ret = persist__open(l->d.dfd, l->path, path, false, &fd, &st, why);
	if (ret)
		return ret;
	f = fdopen(fd, "r");
	if (!f) {
		ret = errno;
		close(fd);
		return why__set(why, ret, "%s/%s: %s", l->path, path,
				strerror(ret));
	}
	while (!ret && fgets(line, sizeof(line), f)) {
		lineno++;
		if (persist__parse_dirty_line(line, region__page_size(),
					      s->size, prev, &a, &b)) {
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
		return why__set(why, EINVAL, "%s/%s names %s 0x%016llx, "
				"but %s/%s says id 0x%016llx: not the "
				"snapshot this diff was taken of", l->path,
				PERSIST_PARENT,
				l->parent,
				(unsigned long long)l->parent_token, p->path,
				PERSIST_INFO,
				(unsigned long long)p->token);
	if (l->d.has_cpu != p->d.has_cpu)
		return why__set(why, EINVAL, "%s/%s %s a vCPU and "
				"%s/%s %s", l->path, PERSIST_VCPU_STATE,
				l->d.has_cpu ? "holds" : "holds no", p->path,
				PERSIST_VCPU_STATE,
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
		ps = saved__find(&p->d, s->name);
		if (!ps || ps->size != s->size)
			ret = why__set(why, EINVAL, "%s/%s/%s: the diff holds "
				       "some pages and reads the rest from "
				       "its parent, but %s has no region %s "
				       "of %llu bytes", l->path, s->name,
				       PERSIST_DIRTY,
				       p->path, s->name,
				       (unsigned long long)s->size);
	}
	return ret;
}

/*
 * out: the path of name beside directory dir.  Lexical, so the messages
 * name the paths as given, but "d1/" (a shell's completion) is d1, and
 * "." or ".." has its real name first.  ENAMETOOLONG.
 */
static int beside(const char *dir, const char *name, char out[PATH_MAX])
{
	size_t len = strlen(dir);
	const char *last;
	char *full = NULL;
	int n;

	while (len > 1 && dir[len - 1] == '/')
		len--;
	last = memrchr(dir, '/', len);
	last = last ? last + 1 : dir;
	if ((len - (size_t)(last - dir) == 1 && last[0] == '.') ||
	    (len - (size_t)(last - dir) == 2 && last[0] == '.' &&
	     last[1] == '.')) {
		full = realpath(dir, NULL);
		if (full) {
			dir = full;
			len = strlen(full);
			last = strrchr(full, '/') + 1;
		}
	}
	n = snprintf(out, PATH_MAX, "%.*s%s", (int)(last - dir), dir, name);
	free(full);
	return n < 0 || n >= PATH_MAX ? ENAMETOOLONG : 0;
}

/*
 * Link n's directory, named n->name beside the directory given: opened
 * beneath it like any file of a saved directory (a parent that is a
 * symlink is refused).
 */
static int open_parent(struct chain *c, struct chain_link *n,
		       struct why *why)
{
	struct stat st;
	size_t len;
	int ret;

	if (c->store < 0) {
		if (beside(c->links[0].path, "", c->store_path))
			return why__set(why, ENAMETOOLONG, "its path is too long");
		len = strlen(c->store_path);
		if (len == 0)
			snprintf(c->store_path, PATH_MAX, ".");
		else if (len > 1)
			c->store_path[len - 1] = '\0';
		c->store = open(c->store_path, O_RDONLY | O_DIRECTORY |
				O_CLOEXEC);
		if (c->store < 0)
			return why__set(why, errno, "%s: %s", c->store_path,
					strerror(errno));
	}
	ret = persist__open(c->store, c->store_path, n->name, true, &n->d.dfd,
			  &st, why);
	if (ret == ENOENT)
		why__set(why, ret, "%s: %s (save the parent beside the diff, "
			 "under its name)", n->path, strerror(ret));
	return ret;
}

static int chain_read(struct sandbox *sb, struct chain *c, const char *dir,
		      const struct vcpu_config *cfg, struct load_check *chk,
		      struct why *why)
{
	size_t len = strlen(dir);
	int ret = 0;

	memset(c, 0, sizeof(*c));
	c->store = -1;
	c->links = calloc(CHAIN_MAX, sizeof(*c->links));
	if (!c->links)
		return why__set(why, ENOMEM, "out of memory");
	for (unsigned i = 0; i < CHAIN_MAX; i++)
		c->links[i].d.dfd = -1;
	/* "d1/" names d1: the messages say d1/parent, not d1//parent. */
	while (len > 1 && dir[len - 1] == '/')
		len--;
	snprintf(c->links[0].path, PATH_MAX, "%.*s", (int)len, dir);
	saved__name(dir, c->links[0].name, sizeof(c->links[0].name));
	/* The directory given is the user's: it may be reached by a symlink. */
	c->links[0].d.dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->links[0].d.dfd < 0) {
		c->nr = 1;
		return why__set(why, errno, "%s: %s", dir, strerror(errno));
	}
	for (;;) {
		struct chain_link *l = &c->links[c->nr++], *n;

		l->d.dir = l->path;
		l->d.cfg = cfg;
		l->d.chk = chk;
		ret = saved__check(sb, &l->d, why);
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
				ret = why__set(why, EINVAL, "%s/%s names "
					       "%s, which is in the chain "
					       "already", l->path,
					       PERSIST_PARENT, l->parent);
		if (ret)
			break;
		/* The parent is saved beside the diff, under its name. */
		n = &c->links[c->nr];
		snprintf(n->name, sizeof(n->name), "%s", l->parent);
		if (beside(l->path, l->parent, n->path)) {
			ret = why__set(why, ENAMETOOLONG, "%s: path too long",
				       l->path);
			break;
		}
		ret = open_parent(c, n, why);
		if (ret) {
			why__prefix(why, ret, "%s/%s names %s, and ",
				    l->path, PERSIST_PARENT, l->parent);
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
		saved__free(&l->d);
	}
	free(c->links);
	if (c->store >= 0)
		close(c->store);
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

		/* r may be on huge pages (no write(2)): region__copy_fd. */
		ret = region__copy_fd(r, s->fd, buf, &x, a, b, true);
		/* Written since the parent, as they were where it was taken. */
		if (!ret && holds_whole(l, k))
			region__dirty_mark_all(r);
		else if (!ret)
			region__dirty_mark(r, a, b - a);
	}
	region__touch(r);
	if (ret)
		why__set(why, ret, "%s/%s/%s: %s", l->path, s->name,
			 PERSIST_CONTENTS,
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
	bool repage;
	int ret = 0;

	if (!r)		/* made since the parent: held whole */
		return saved__build_region(sb, &l->d, s, buf, why);
	repage = s->paged && s->huge != region__huge_size(r);
	/*
	 * Saved on other pages than its parent's: moved (held whole, then),
	 * through ordinary pages, which hold any size the two may have.
	 */
	if (repage && region__huge_size(r))
		ret = sandbox__set_page_size(sb, r, region__page_size(), why);
	if (!ret && region__mem_size(r) != s->size)
		ret = sandbox__resize(sb, r, s->size, why);
	if (!ret && repage && s->huge)
		ret = sandbox__set_page_size(sb, r, s->huge, why);
	if (!ret)
		ret = fill_held(l, k, r, buf, why);
	if (!ret && region__guest_ro(r) != s->ro)
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
		struct saved_region *s = saved__find(d, region__name(r));
		uint64_t gpa;

		if (!s)
			ret = sandbox__remove(sb, region__name(r), why);
		else if (sandbox__guest_addr(sb, r, &gpa) &&
			 (!s->mapped || s->gpa != gpa || s->size != region__mem_size(r) ||
			  (s->paged && s->huge != region__huge_size(r))))
			ret = sandbox__set_guest_addr(sb, r, true, 0, why);
	}
	if (ret)
		return why__prefix(why, ret, "%s: ", l->path);
	for (unsigned k = 0; !ret && k < d->nr; k++)
		ret = apply_region(sb, l, k, buf, why);
	if (!ret && v && d->cpu) {
		ret = vcpu__load(v, d->cpu);
		if (ret)
			why__set(why, ret, "%s/%s: KVM refused it: %s",
				 l->path, PERSIST_VCPU_STATE, strerror(ret));
	}
	return ret;
}

static int check_later(struct sandbox *sb, struct chain_link *l,
		       struct why *why);

/*
 * Link i taken as a snapshot: the root whole, a diff over the next.  Its
 * bytes are checked first, as loaded, against its own record: a diff's
 * against the view it saved whole, whatever its parent held.
 */
static int chain_take(struct sandbox *sb, struct chain *c, unsigned i,
		      struct vcpu *v, uint8_t *buf, struct load_check *chk,
		      struct why *why)
{
	struct chain_link *l = &c->links[i];
	bool root = i + 1 == c->nr, later = chk->cow > 0;
	int ret = root ? 0 : apply_diff(sb, l, v, buf, why);

	if (!ret && !chk->unchecked && !later)
		ret = saved__verify(sb, &l->d, !root, buf, why);
	if (ret)
		return ret;
	if (!l->d.summed)
		chk->unrecorded++;
	ret = snapshot__take_as(sb, v, l->name, root ? NULL : l->parent,
				l->token, why);
	if (ret)
		return why__prefix(why, ret, "the snapshot %s: ", l->name);
	return later && !chk->unchecked ? check_later(sb, l, why) : 0;
}

/*
 * A copy-on-write start checks after the start (fromcheck.c): each
 * region of link l as its snapshot holds it, which nothing changes.
 */
static int check_later(struct sandbox *sb, struct chain_link *l,
		       struct why *why)
{
	struct snapshot *s = snapshot__find(&sb->snaps, l->name);
	char what[FROM_CHECK_WHAT_MAX];
	int ret = 0;

	if (!s)
		return why__set(why, ENOENT, "the snapshot %s: gone", l->name);
	for (unsigned k = 0; l->d.summed && !ret && k < l->d.nr; k++) {
		struct saved_region *sr = &l->d.rs[k];
		struct region *copy = snapshot__region(s, sr->name, NULL);

		snprintf(what, sizeof(what), "%s/%s/%s%s", l->path, sr->name,
			 PERSIST_CONTENTS, !l->parent[0] ? "" : " (or a parent's, "
			 "which this diff reads through)");
		struct region *live = sandbox__find(sb, sr->name, NULL);

		ret = copy ? sandbox__check_later(sb, copy, live, sr->crc,
						  what) : ENOENT;
		region__put(live);
		region__put(copy);
		if (ret)
			why__set(why, ret, "cannot check %s: %s", what,
				 strerror(ret));
	}
	snapshot__put(s);
	return ret;
}

int sandbox__load_dir_checked(struct sandbox *sb, const char *dir,
			      const struct vcpu_config *cfg, struct vcpu **v,
			      struct load_check *chk, struct why *why)
{
	struct load_check strict = { .unchecked = false };
	struct chain c;
	uint8_t *buf = NULL;
	int ret;

	*v = NULL;
	if (!chk)
		chk = &strict;
	chk->unrecorded = 0;
	/* Every directory of the chain checked: now build. */
	ret = chain_read(sb, &c, dir, cfg, chk, why);
	/* A COPY_CHUNK buffer: the copies' and the checksums' (SUM_CHUNK). */
	if (!ret && !(buf = malloc(COPY_CHUNK > SUM_CHUNK ? COPY_CHUNK :
				   SUM_CHUNK)))
		ret = why__set(why, ENOMEM, "out of memory");
	if (!ret)
		ret = saved__build(sb, &c.links[c.nr - 1].d, cfg, v, buf, why);
	/*
	 * Each snapshot itself, so that a restore works at once: the root,
	 * then each diff over the one before.
	 */
	for (unsigned i = c.nr; !ret && i-- > 0;)
		ret = chain_take(sb, &c, i, *v, buf, chk, why);
	if (!ret)
		ret = sandbox__check_start(sb, cfg ? cfg->log : NULL,
					   cfg ? cfg->log_arg : NULL, why);
	chain_free(&c);
	free(buf);
	return ret;
}

int sandbox__load_dir(struct sandbox *sb, const char *dir,
		      const struct vcpu_config *cfg, struct vcpu **v,
		      struct why *why)
{
	return sandbox__load_dir_checked(sb, dir, cfg, v, NULL, why);
}
