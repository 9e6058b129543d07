/*
 * What the two memfd backings (shmem.c, hugetlb.c) share: a memfd sealed
 * at its size, its guarded mapping, pread, and a copy out of memory that
 * is all the region's own.
 */
#include "region/mem/backing.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * A memfd of size bytes that nobody can grow or shrink: a writer of the
 * memfd itself (a FUSE passthrough writer, whoever has the fd) gets EPERM
 * past the end from the kernel, so the region never holds more than
 * mem_size.  A resize makes a new one.
 */
int memfd__new(const char *name, uint64_t size, unsigned flags, int *out)
{
	int fd, ret;

	/* The memfd name shows in /proc/PID/maps: say whose memory it is. */
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | flags);
	if (fd < 0)
		return errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
		ret = errno;
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

/*
 * Reserve size + 2 pages of PROT_NONE address space and map the memfd over
 * the middle.  The reservation is never touched, so a 64 GiB region costs
 * nothing until it is written.
 */
int memfd__map(int memfd, uint64_t size, uint8_t **raw_out)
{
	size_t page = region__page_size();
	uint8_t *raw, *base;

	raw = mmap(NULL, size + 2 * page, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return errno;
	base = mmap(raw + page, size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_FIXED | MAP_NORESERVE, memfd, 0);
	if (base == MAP_FAILED) {
		int err = errno;

		munmap(raw, size + 2 * page);
		return err;
	}
	*raw_out = raw;
	return 0;
}

void memfd__unmake(struct mem *m, uint64_t size)
{
	if (m->raw)
		munmap(m->raw, size + 2 * region__page_size());
	close(m->fd);
}

/*
 * pread, not memcpy from the mapping: a read of a hole through the memfd
 * returns zeros without allocating, a fault on the mapping would allocate
 * the page.
 */
int memfd__read(struct region *r, void *buf, size_t len, uint64_t off,
		size_t *done)
{
	ssize_t n = pread(r->memfd, buf, len, (off_t)off);

	if (n < 0)
		return errno;
	*done = (size_t)n;
	return 0;
}

int memfd__copy_out(struct region *src, struct region *dst, uint8_t **buf,
		    struct copy_cursor *cur, uint64_t off, uint64_t end,
		    unsigned how)
{
	struct mem_side s = region__side(src);
	int ret = copy__buffer(buf);

	return ret ? ret : dst->ops->copy_in(dst, &s, *buf, &cur->x[0], off,
					     end, how);
}

uint64_t memfd__resident(struct region *r, uint64_t own)
{
	(void)r;
	return own;
}

int memfd__pread_whole(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}
