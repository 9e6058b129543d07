/*
 * pmem: the guest-physical address space as one file, offset = guest
 * address (region/inspect/phys.h).  Mapped ranges read and write their
 * region's bytes live, as contents through the daemon does (shared for
 * the request); the gaps read as zeros and are holes.  st_size is the end
 * of the highest mapping, st_blocks what the mapped regions hold.
 * A write lands in the region mapped where it starts and stops at that
 * region's end (short); one that starts in a gap is ENXIO, one at or past
 * the end ENOSPC, as contents.  Each request copies the slot table once.
 */
#include "fs/node.h"
#include "region/inspect/phys.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static int layout(struct vm_layout **l)
{
	return vm__layout(rfs.sb->vm, l);
}

static void pmem_read(fuse_req_t req, struct handle *h, size_t size,
		      off_t off)
{
	struct vm_layout *l;
	uint64_t end;
	void *buf;
	int ret;

	(void)h;
	buf = fs_read_start(req, off, &size);
	if (!buf)
		return;
	ret = layout(&l);
	if (ret) {
		fuse_reply_err(req, ret);
		return;
	}
	end = vm__layout_end(l);
	if ((uint64_t)off >= end)
		size = 0;
	else if (size > end - (uint64_t)off)
		size = (size_t)(end - (uint64_t)off);
	ret = phys__read(l, buf, size, (uint64_t)off);
	vm__layout_free(l);
	if (ret == EBUSY)
		fs_refuse("pmem: read at 0x%llx refused: a region's "
			  "exclusivity was held too long",
			  (unsigned long long)off);
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_buf(req, buf, size);
}

static void pmem_write(fuse_req_t req, struct handle *h, const char *buf,
		       size_t size, off_t off)
{
	struct why why = { "" };
	struct vm_layout *l;
	size_t n = 0;
	int ret;

	(void)h;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ret = layout(&l);
	if (ret) {
		fuse_reply_err(req, ret);
		return;
	}
	if ((uint64_t)off >= vm__layout_end(l))
		ret = why__set(&why, size ? ENOSPC : 0, "it starts past the "
			       "highest mapping");
	else
		ret = phys__write(l, buf, size, (uint64_t)off, &n, &why);
	vm__layout_free(l);
	if (ret) {
		fs_refuse("pmem: write of %zu bytes at 0x%llx refused: %s",
			  size, (unsigned long long)off, why.msg[0] ? why.msg :
			  ret == EBUSY ? "exclusivity held too long" :
			  strerror(ret));
		fuse_reply_err(req, ret);
		return;
	}
	fuse_reply_write(req, n);
}

static void pmem_lseek(fuse_req_t req, struct handle *h, off_t off,
		       int whence)
{
	struct vm_layout *l;
	uint64_t pos;
	int ret;

	(void)h;
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	ret = layout(&l);
	if (ret) {
		fuse_reply_err(req, ret);
		return;
	}
	if (whence == SEEK_DATA)
		ret = phys__seek_data(l, (uint64_t)off, &pos);
	else
		ret = phys__seek_hole(l, (uint64_t)off, &pos);
	vm__layout_free(l);
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_lseek(req, (off_t)pos);
}

static uint64_t pmem_size(struct handle *h)
{
	struct vm_layout *l;
	uint64_t end;

	(void)h;
	if (layout(&l))
		return 0;
	end = vm__layout_end(l);
	vm__layout_free(l);
	return end;
}

static void pmem_stat(struct node *n, struct stat *st)
{
	struct vm_layout *l;

	(void)n;
	if (layout(&l))
		return;
	st->st_size = (off_t)vm__layout_end(l);
	st->st_blocks = (blkcnt_t)(phys__resident(l) / 512);
	st->st_blksize = CONTENTS_BLKSIZE;
	vm__layout_free(l);
}

const struct node_ops pmem_ops = {
	.stat = pmem_stat,
	.read = pmem_read,
	.write_data = pmem_write,
	.lseek = pmem_lseek,
	.size = pmem_size,
};
