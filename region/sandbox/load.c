/*
 * A sandbox from a saved snapshot directory (chain.h): everything is
 * read and checked first, every file named in the reason of a refusal,
 * and only then is anything built.  A sandbox that was being loaded when
 * the copy failed is left half-built: the caller gives up and exits.
 */
#include "region/sandbox/saved.h"
#include "region/sandbox/chain.h"
#include "region/persist/open.h"
#include "region/mem/copy.h"
#include "region/kvm/vcpu.h"
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

/* A small file of dir, whole: 0 or an errno with why naming it. */
int saved__read_file(struct saved_dir *d, const char *path, char *buf,
		     size_t max, size_t *len, struct why *why)
{
	struct stat st;
	size_t got = 0;
	ssize_t n = 0;
	int fd, ret;

	ret = persist__open(d->dfd, d->dir, path, false, &fd, &st, why);
	if (ret)
		return ret;
	/* Whole: another daemon's snapshot (a fork) may answer in parts. */
	while (got < max && (n = read(fd, buf + got, max - got)) > 0)
		got += (size_t)n;
	ret = n < 0 ? errno : 0;
	/* One more byte than the maximum: too big. */
	if (!ret && got == max)
		ret = EFBIG;
	close(fd);
	if (ret)
		return why__set(why, ret == EFBIG ? EINVAL : ret,
				"%s/%s: %s", d->dir, path, ret == EFBIG ?
				"too big" : strerror(ret));
	*len = got;
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
	ret = saved__read_file(d, path, buf, sizeof(buf), &len, why);
	if (ret)
		return ret;
	if (parse__value(buf, len, val, PARSE_VALUE_MAX))
		return why__set(why, EINVAL, "%s/%s: not one value", d->dir,
				path);
	return 0;
}

/*
 * The pages it was saved on, when page_size was saved (directories saved
 * before it existed have none: the sandbox's default then).
 */
static int load_page_size(struct saved_dir *d, const char *name,
			  struct saved_region *s, struct why *why)
{
	char val[PARSE_VALUE_MAX], path[PATH_MAX];
	uint64_t page;
	int ret;

	snprintf(path, sizeof(path), "%s/" PERSIST_PAGE_SIZE, name);
	ret = read_attr(d, name, PERSIST_PAGE_SIZE, val, why);
	if (ret == ENOENT)
		return 0;
	if (ret)
		return ret;
	if (persist__parse_page_size(val, region__page_size(), s->size,
				     &page))
		return why__set(why, EINVAL, "%s/%s: not %zu, 2M or 1G "
				"dividing mem_size", d->dir, path,
				region__page_size());
	s->paged = true;
	s->huge = page == region__page_size() ? 0 : page;
	return 0;
}

static int load_region(struct saved_dir *d, const char *name,
		       struct saved_region *s, struct why *why)
{
	char val[PARSE_VALUE_MAX], path[PATH_MAX];
	uint64_t page = region__page_size();
	struct stat st;
	int ret;

	snprintf(s->name, sizeof(s->name), "%s", name);
	ret = read_attr(d, name, PERSIST_MEM_SIZE, val, why);
	/*
	 * A snapshot copied into an existing directory (cp -r SNAP saved
	 * when saved/ is there) lands one level down: name it.
	 */
	snprintf(path, sizeof(path), "%s/" PERSIST_INFO, name);
	if (ret == ENOENT &&
	    fstatat(d->dfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode))
		return why__set(why, EINVAL, "%s/%s is a snapshot directory, "
				"not a region: did you mean %s/%s?", d->dir,
				name, d->dir, name);
	if (ret)
		return ret;
	if (persist__parse_mem_size(val, page, REGION_SIZE_MAX, &s->size))
		return why__set(why, EINVAL, "%s/%s/%s: not a size in "
				"whole pages up to 1T", d->dir, name,
				PERSIST_MEM_SIZE);
	ret = read_attr(d, name, PERSIST_RAW_SIZE, val, why);
	if (ret)
		return ret;
	if (persist__parse_raw_size(val, page, s->size))
		return why__set(why, EINVAL, "%s/%s/%s: not mem_size "
				"(%llu) and two pages: the sizes disagree",
				d->dir, name, PERSIST_RAW_SIZE,
				(unsigned long long)s->size);
	ret = read_attr(d, name, PERSIST_GUEST_ADDR, val, why);
	if (ret)
		return ret;
	if (persist__parse_guest_addr(val, page, &s->mapped, &s->gpa))
		return why__set(why, EINVAL, "%s/%s/%s: not \"none\" "
				"or a page-aligned address", d->dir, name,
				PERSIST_GUEST_ADDR);
	ret = read_attr(d, name, PERSIST_ACCESS, val, why);
	if (ret)
		return ret;
	if (persist__parse_access(val, &s->ro))
		return why__set(why, EINVAL, "%s/%s/%s: not rw or ro",
				d->dir, name, PERSIST_ACCESS);
	ret = load_page_size(d, name, s, why);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s/" PERSIST_CONTENTS, name);
	ret = persist__open(d->dfd, d->dir, path, false, &s->fd, &st, why);
	if (ret)
		return ret;
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
		    fstatat(d->dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		/* Not followed: it could lead anywhere, a region elsewhere. */
		if (S_ISLNK(st.st_mode))
			ret = why__set(why, ELOOP, "%s/%s: a symlink (a saved "
				       "directory holds none)", d->dir,
				       e->d_name);
		else if (!S_ISDIR(st.st_mode))
			continue;
		else if (parse__region_name(e->d_name))
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
			return why__set(why, EINVAL, "%s/%s/%s 0x%llx "
					"and %s/%s 0x%llx: the guest "
					"ranges overlap", d->dir, a->name,
					PERSIST_GUEST_ADDR,
					(unsigned long long)a->gpa, b->name,
					PERSIST_GUEST_ADDR,
					(unsigned long long)b->gpa);
		}
	return 0;
}

/*
 * The console file: the bytes the console kept (vcpu.h).  Untrusted like
 * the rest: only a regular file of d itself, no longer than the console
 * keeps.  A directory saved before the console was has none: it starts
 * empty, and the log says so.
 */
static int load_console(struct saved_dir *d, struct why *why)
{
	size_t max = d->cfg && d->cfg->console_max ? d->cfg->console_max :
		     VCPU_CONSOLE_DEFAULT, len = 0;
	int fd, ret = 0;
	uint8_t *buf;
	struct stat st;
	ssize_t n;

	/* Beneath the directory, a regular file only (persist/open.h). */
	ret = persist__open(d->dfd, d->dir, PERSIST_CONSOLE, false, &fd, &st,
			    why);
	if (ret == ENOENT) {
		if (d->cpu && d->cfg && d->cfg->log)
			d->cfg->log(d->cfg->log_arg, "%s/%s: none (saved "
				    "before snapshots kept the console): the "
				    "console starts empty", d->dir,
				    PERSIST_CONSOLE);
		return 0;
	}
	if (ret)
		return ret;
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return why__set(why, EINVAL, "%s/%s: %llu bytes, more "
				"than the console keeps (%zu, -o console_max)",
				d->dir, PERSIST_CONSOLE,
				(unsigned long long)st.st_size, max);
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	while (buf && len < (size_t)st.st_size &&
	       (n = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)n;
	if (!buf)
		ret = why__set(why, ENOMEM, "out of memory");
	else if (len < (size_t)st.st_size)
		ret = why__set(why, EIO, "%s/%s: %zu of %llu bytes read: "
			       "it changed or cannot be read", d->dir,
			       PERSIST_CONSOLE, len,
			       (unsigned long long)st.st_size);
	close(fd);
	if (!ret && d->cpu)
		vcpu__saved_set_console(d->cpu, buf, len);
	else
		free(buf);
	return ret;
}

static int load_state(struct saved_dir *d, struct why *why)
{
	struct saved_region *boot;
	struct why inner = { "" };
	size_t len;
	char *buf;
	int ret;

	/* Big enough for either file. */
	buf = malloc(PERSIST_INFO_MAX > PERSIST_STATE_MAX ? PERSIST_INFO_MAX :
		     PERSIST_STATE_MAX);
	if (!buf)
		return why__set(why, ENOMEM, "out of memory");
	ret = saved__read_file(d, PERSIST_VCPU_STATE, buf, PERSIST_STATE_MAX,
			       &len, why);
	if (!ret) {
		ret = vcpu__saved_decode(buf, len, &d->cpu, &inner);
		if (ret)
			why__set(why, ret, "%s/%s: %s", d->dir,
				 PERSIST_VCPU_STATE,
				 why__text(&inner, ret));
	}
	/* info is for people, and holds the checksums of the bytes. */
	if (!ret)
		ret = saved__read_file(d, PERSIST_INFO, buf, PERSIST_INFO_MAX,
				       &len, why);
	if (!ret)
		ret = saved__sums(d, buf, len, why);
	if (!ret)
		ret = load_console(d, why);
	free(buf);
	if (ret || !d->cpu)
		return ret;
	/* The vCPU's tables are in its boot region, where it maps it. */
	boot = saved__find(d, VCPU_BOOT_REGION);
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
	int ret = region__copy_fd(r, s->fd, buf,
				  &(struct extents){ .hole = 0 }, 0, s->size,
				  false);

	if (ret)
		return why__set(why, ret, "%s/%s/%s: %s", d->dir,
				s->name, PERSIST_CONTENTS, strerror(ret));
	region__touch(r);
	return 0;
}

/*
 * Region s made mapping its contents copy-on-write (s->cow), when d's
 * loader asks for it; ENOTSUP: copy it instead (the log says why, unless
 * -o from_copy asked for the copy).
 */
static int try_cow(struct sandbox *sb, struct saved_dir *d,
		   struct saved_region *s, struct why *why)
{
	struct load_check *chk = d->chk;
	char path[PATH_MAX], *full;
	struct why no = { "" };
	const char *reason = NULL;
	int ret;

	if (!chk || chk->from_copy)
		return ENOTSUP;
	if (!chk->lease)
		reason = "no lease can be taken here (the lease watcher did "
			 "not start)";
	else if (s->paged ? s->huge : sb->huge)
		reason = "it is on huge pages";
	if (!reason) {
		full = realpath(d->dir, NULL);
		snprintf(path, sizeof(path), "%s/%s/" PERSIST_CONTENTS,
			 full ? full : d->dir, s->name);
		free(full);
		ret = sandbox__create_cow(sb, s->name, s->size,
					  &(struct sandbox_cow){ s->fd, path,
								 chk->lease },
					  &no);
		if (!ret) {
			s->cow = true;
			chk->cow++;
			return 0;
		}
		/* The sandbox's own limits refuse a copy as well. */
		if (ret == EEXIST || ret == ENOSPC)
			return why__set(why, ret, "%s", why__text(&no, ret));
		reason = why__text(&no, ret);
	}
	if (d->cfg && d->cfg->log)
		d->cfg->log(d->cfg->log_arg, "%s/%s/%s: copied, not mapped "
			    "copy-on-write: %s", d->dir, s->name,
			    PERSIST_CONTENTS, reason);
	return ENOTSUP;
}

int saved__build_region(struct sandbox *sb, struct saved_dir *d,
			struct saved_region *s, uint8_t *buf, struct why *why)
{
	struct region *r;
	int ret;

	ret = try_cow(sb, d, s, why);
	if (ret == ENOTSUP) {
		ret = sandbox__create_paged(sb, s->name, s->size,
					   s->paged ? s->huge : sb->huge, NULL,
					   why);
		if (!ret && d->chk)
			d->chk->copied++;
	}
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
	else if (!s->cow)
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
	ret = fill(d, boot, saved__find(d, VCPU_BOOT_REGION), buf, why);
	region__put(boot);
	/* The vCPU's own region: made with it, so always a copy. */
	if (!ret && d->chk)
		d->chk->copied++;
	if (ret)
		return ret;
	ret = vcpu__load(*v, d->cpu);
	if (ret)
		return why__set(why, ret, "%s/%s: KVM refused it: %s",
				d->dir, PERSIST_VCPU_STATE, strerror(ret));
	return 0;
}

/* The snapshot's name in the new mount: the directory's, if it is one. */
void saved__name(const char *dir, char *name, size_t len)
{
	char *full = realpath(dir, NULL);
	const char *base = full ? strrchr(full, '/') : NULL;

	snprintf(name, len, "%s", base && base[1] ? base + 1 : "from");
	if (parse__region_name(name))
		snprintf(name, len, "from");
	free(full);
}

/* Every file of d read and checked; nothing built yet. */
int saved__check(struct sandbox *sb, struct saved_dir *d, struct why *why)
{
	int ret;

	ret = load_regions(d, why);
	if (!ret)
		ret = check_overlaps(d, why);
	if (!ret)
		ret = load_state(d, why);
	if (!ret && d->has_cpu && !sb->vm)
		ret = why__set(why, ENODEV, "%s/%s holds a vCPU, and "
			       "there is no KVM: %s", d->dir,
			       PERSIST_VCPU_STATE,
			       why__text(&sb->vm_why, ENODEV));
	return ret;
}

/* The sandbox (empty until now) as d says. */
int saved__build(struct sandbox *sb, struct saved_dir *d,
		 const struct vcpu_config *cfg, struct vcpu **v, uint8_t *buf,
		 struct why *why)
{
	int ret = 0;

	for (unsigned i = 0; !ret && i < d->nr; i++)
		if (!d->has_cpu || strcmp(d->rs[i].name, VCPU_BOOT_REGION) != 0)
			ret = saved__build_region(sb, d, &d->rs[i], buf, why);
	if (!ret && d->has_cpu)
		ret = build_vcpu(sb, d, cfg, v, buf, why);
	return ret;
}

void saved__free(struct saved_dir *d)
{
	for (unsigned i = 0; i < d->nr; i++)
		if (d->rs[i].fd > 0)
			close(d->rs[i].fd);
	free(d->rs);
	vcpu__saved_free(d->cpu);
	if (d->dfd >= 0)
		close(d->dfd);
}

