/*
 * The file a copy-on-write region maps (cow.h): opened again and leased,
 * checked, its extents, and the regions made on it (region.h's
 * region__new_cow, region__share).
 */
#include "region/mem/cow.h"
#include "region/mem/pagescan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cow *list;

static uint64_t page_size(void)
{
	return region__page_size();
}

static int read_extents(struct cow *c, uint64_t size)
{
	uint64_t page = page_size(), p = 0, cap = 0;
	int ret = 0;

	pthread_mutex_lock(&c->ext_lock);
	while (!c->ext_read && p < size) {
		off_t d = lseek(c->fd, (off_t)p, SEEK_DATA), h;

		if (d < 0 && errno == ENXIO)
			break;
		h = d < 0 ? -1 : lseek(c->fd, d, SEEK_HOLE);
		if (h < 0) {
			ret = errno;
			break;
		}
		if (c->next == cap) {
			struct cow_ext *n;

			cap = cap ? cap * 2 : 16;
			n = realloc(c->ext, cap * sizeof(*n));
			if (!n) {
				ret = ENOMEM;
				break;
			}
			c->ext = n;
		}
		c->ext[c->next].a = (uint64_t)d & ~(page - 1);
		c->ext[c->next].b = ((uint64_t)h + page - 1) & ~(page - 1);
		if (c->ext[c->next].b > size)
			c->ext[c->next].b = size;
		p = c->ext[c->next++].b;
	}
	if (ret) {
		free(c->ext);
		c->ext = NULL;
		c->next = 0;
	} else {
		c->ext_read = true;
	}
	pthread_mutex_unlock(&c->ext_lock);
	return ret;
}

int cow__file_run(struct region *r, uint64_t off, uint64_t end,
		  uint64_t *a, uint64_t *b)
{
	struct cow *c = cow__of(r);
	uint64_t lo = 0, hi;
	int ret = 0;

	if (!__atomic_load_n(&c->ext_read, __ATOMIC_ACQUIRE))
		ret = read_extents(c, r->mem_size);
	if (ret)
		return ret;
	hi = c->next;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (c->ext[mid].b > off)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo == c->next || c->ext[lo].a >= end) {
		*a = *b = end;
		return 0;
	}
	*a = c->ext[lo].a > off ? c->ext[lo].a : off;
	*b = c->ext[lo].b < end ? c->ext[lo].b : end;
	return 0;
}

static void unlist(struct cow *c)
{
	pthread_mutex_lock(&list_lock);
	if (c->prev)
		c->prev->nextc = c->nextc;
	else if (list == c)
		list = c->nextc;
	if (c->nextc)
		c->nextc->prev = c->prev;
	c->prev = c->nextc = NULL;
	pthread_mutex_unlock(&list_lock);
}

void cow__free(struct cow *c)
{
	unlist(c);
	/* Closing the last fd of the file gives the lease back. */
	close(c->fd);
	free(c->ext);
	pthread_mutex_destroy(&c->ext_lock);
	free(c);
}

/*
 * Open the file again (its own open file description: a lease is one's),
 * lease it, and check it is still what the caller saw.
 */
#define FUSE_MAGIC 0x65735546

/* Whether fd's mount is a regionfs: its id in fdinfo, its type in mountinfo. */
static bool on_regionfs(int fd)
{
	char path[64], line[4096];
	long id = -1, mid;
	bool yes = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "mnt_id: %ld", &id) == 1)
			break;
	if (f)
		fclose(f);
	f = id < 0 ? NULL : fopen("/proc/self/mountinfo", "re");
	while (f && !yes && fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		yes = sscanf(line, "%ld", &mid) == 1 && mid == id && sep &&
		      strncmp(sep + 3, "fuse.regionfs ", 14) == 0;
	}
	if (f)
		fclose(f);
	return yes;
}

/*
 * A FUSE file is mapped only where the mapping is its daemon's memory:
 * another regionfs's snapshot opened through passthrough (a fork), whose
 * MAP_PRIVATE maps that daemon's memfd and outlives it.  Through the
 * FUSE page cache, pages would be read from the daemon as touched, and
 * be SIGBUS once it is gone.  Only passthrough takes a shared mapping of
 * a regionfs file (it never allows mmap of a direct_io open).
 */
static int fuse_mappable(int fd, struct why *why)
{
	size_t page = (size_t)region__page_size();
	struct statfs sf;
	void *p;

	if (fstatfs(fd, &sf) < 0)
		return why__set(why, errno, "fstatfs: %s", strerror(errno));
	if (sf.f_type != FUSE_MAGIC)
		return 0;
	if (!on_regionfs(fd))
		return why__set(why, ENOTSUP, "a file of a FUSE filesystem "
				"other than regionfs, which its daemon could "
				"change or take away under the mapping");
	p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return why__set(why, ENOTSUP, "a regionfs snapshot its daemon "
				"does not pass through (another uid's, -o "
				"no_passthrough, a diff's, or one that maps a "
				"saved file itself: start from that directory "
				"instead): a mapping of it would die with that "
				"daemon");
	munmap(p, page);
	return 0;
}

static int take(struct cow *c, int fd, uint64_t size,
		const struct cow_lease *lease, struct why *why)
{
	int ret;
	char proc[64];
	struct stat st;
	struct f_owner_ex owner;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	c->fd = open(proc, O_RDONLY | O_CLOEXEC);
	if (c->fd < 0)
		return why__set(why, errno, "cannot open it again: %s",
				strerror(errno));
	if (lease && lease->sig) {
		owner.type = F_OWNER_TID;
		owner.pid = lease->tid;
		if (fcntl(c->fd, F_SETSIG, lease->sig) < 0 ||
		    fcntl(c->fd, F_SETOWN_EX, &owner) < 0 ||
		    fcntl(c->fd, F_SETLEASE, F_RDLCK) < 0)
			return why__set(why, errno, "no read lease on it (%s%s)",
					strerror(errno), errno == EAGAIN ?
					": it is open for writing" :
					errno == EACCES ? ": not its owner, "
					"and no CAP_LEASE" : errno == EINVAL ?
					": its filesystem gives none" : "");
		c->lease = *lease;
	}
	/* Leased now: what it is cannot change any more. */
	if (fstat(c->fd, &st) < 0)
		return why__set(why, errno, "fstat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
		return why__set(why, EINVAL, "it is %llu bytes, not %llu: it "
				"changed", (unsigned long long)st.st_size,
				(unsigned long long)size);
	ret = fuse_mappable(c->fd, why);
	if (ret)
		return ret;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	c->file_bytes = (uint64_t)st.st_blocks * 512;
	return 0;
}

static int new_cow(const char *name, int fd, const char *path, uint64_t size,
		   bool readonly, const struct cow_lease *lease,
		   struct region **out, struct why *why)
{
	struct cow *c;
	struct region *r;
	int ret = pagescan__supported(why);

	if (ret)
		return ret;
	if (size % page_size())
		return why__set(why, EINVAL, "%llu bytes: not whole pages",
				(unsigned long long)size);
	c = calloc(1, sizeof(*c));
	if (!c)
		return why__set(why, ENOMEM, "out of memory");
	pthread_mutex_init(&c->ext_lock, NULL);
	snprintf(c->path, sizeof(c->path), "%s", path);
	ret = take(c, fd, size, lease, why);
	if (!ret) {
		ret = region__make_arg(name, size, readonly, &cow_ops,
				       &(struct cow_base){ c->fd, readonly },
				       &r);
		if (ret)
			why__set(why, ret, "cannot map it: %s", strerror(ret));
	}
	if (ret) {
		if (c->fd >= 0)
			close(c->fd);
		pthread_mutex_destroy(&c->ext_lock);
		free(c);
		return ret;
	}
	c->r = r;
	r->priv = c;
	atomic_store(&c->priv_at_ns, INT64_MIN / 2);
	/*
	 * Held shared from the list on: a break found there makes the
	 * watcher leave the file (exclusive, then c freed), which must wait
	 * until this is done with c.  Nobody else has r yet: no wait.
	 */
	ret = region__shared_begin(r);
	if (ret) {
		region__put(r);
		return why__set(why, ret, "cannot hold it");
	}
	pthread_mutex_lock(&list_lock);
	c->nextc = list;
	if (list)
		list->prev = c;
	list = c;
	pthread_mutex_unlock(&list_lock);
	/*
	 * A writer that came between the lease and the list was signalled
	 * when region__by_base_fd could not find us: no one would leave the
	 * file for it, and after lease-break-time it would write under the
	 * mapping.  Its break shows as F_UNLCK: give the file up (a copy).
	 */
	ret = c->lease.sig && fcntl(c->fd, F_GETLEASE) != F_RDLCK ? EAGAIN : 0;
	region__shared_end(r);
	if (ret) {
		region__put(r);
		return why__set(why, EAGAIN, "it was opened for writing while "
				"it was being mapped");
	}
	*out = r;
	return 0;
}

int region__new_cow(const char *name, int fd, const char *path,
		    uint64_t size, const struct cow_lease *lease,
		    struct region **out, struct why *why)
{
	return new_cow(name, fd, path, size, false, lease, out, why);
}

int region__share(struct region *r, struct region **copy)
{
	struct cow *c = cow__of(r);
	uint64_t pages;
	int ret;

	if (!c)
		return ENOTSUP;
	ret = pagescan__count(r->raw + page_size(), r->mem_size, &pages);
	if (ret || pages)
		return ret ? ret : ENOTSUP;
	return new_cow(r->name, c->fd, c->path, r->mem_size, true,
		       c->lease.sig ? &c->lease : NULL, copy, NULL);
}

int region__base_text(struct region *r, char *buf, size_t len, bool fresh)
{
	struct cow *c;
	uint64_t pages = 0;
	int n = 0;

	buf[0] = '\0';
	if (region__ops(r) != &cow_ops)
		return 0;
	/*
	 * A stat (anyone's) neither waits for the region nor walks its
	 * page tables: the count of the last walk, at most a second old.
	 */
	if (fresh ? region__shared_begin(r) != 0 :
	    pthread_rwlock_tryrdlock(&r->lock) != 0)
		return 0;
	c = cow__of(r);
	if (c && (fresh || cow__stale(c)) &&
	    pagescan__count(r->raw + page_size(), r->mem_size, &pages) == 0)
		cow__counted(c, pages);
	if (c)
		n = snprintf(buf, len, "%llu %s\n",
			     (unsigned long long)atomic_load(&c->priv_pages),
			     c->path);
	pthread_rwlock_unlock(&r->lock);
	return n < 0 ? 0 : (size_t)n >= len ? (int)len - 1 : n;
}

struct region *region__by_base_fd(int fd)
{
	struct region *r = NULL;

	pthread_mutex_lock(&list_lock);
	for (struct cow *c = list; c; c = c->nextc) {
		int refs;

		if (c->fd != fd || !c->lease.sig)
			continue;
		/*
		 * Its last reference may be gone, its free waiting for this
		 * lock to unlist it: never taken back from 0 (a second free).
		 */
		refs = atomic_load(&c->r->refs);
		while (refs > 0 &&
		       !atomic_compare_exchange_weak(&c->r->refs, &refs,
						     refs + 1))
			;
		r = refs > 0 ? c->r : NULL;
		break;
	}
	pthread_mutex_unlock(&list_lock);
	return r;
}

int region__cow_supported(struct why *why)
{
	return pagescan__supported(why);
}

bool cow__stale(struct cow *c)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec -
	       atomic_load(&c->priv_at_ns) > COW_COUNT_MAX_AGE_NS;
}

void cow__counted(struct cow *c, uint64_t pages)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	atomic_store(&c->priv_pages, pages);
	atomic_store(&c->priv_at_ns, ts.tv_sec * 1000000000LL + ts.tv_nsec);
}
