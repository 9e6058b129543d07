/*
 * vmem: the lower canonical half of the guest-virtual address space,
 * [0, 2^47), through the vCPU's page tables (region/inspect/pagewalk.h):
 * offset = virtual address, mapped pages read through to guest-physical
 * memory, unmapped ones read as zeros and are holes.  The file ends at
 * the end of the highest mapped page (st_size), found from the top of
 * the tables down in a few reads.  While the vCPU is
 * not running, cr3 and the paging mode are read from KVM at each request;
 * while it runs, they are those it last stopped or started with (reading
 * them would kick it out of KVM_RUN), and the tables are read as they are
 * in memory at that moment.  Read-only; empty without a guest.
 * st_blocks is 0: its pages are pmem's, counting them is a walk of every
 * table.
 */
#include "fs/node.h"
#include "region/inspect/pagewalk.h"
#include "region/kvm/inspect.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/*
 * The layout, paging and end of one request; op names it for the log
 * line of a refusal (NULL: quiet, for stat).
 */
static int view(struct vm_layout **l, struct x86_paging *p, uint64_t *end,
		const char *op)
{
	bool live;
	int ret;

	ret = vcpu__paging(rfs.vcpu, p, &live);
	if (ret) {
		if (op)
			fs_refuse("vmem: %s refused: %s", op, ret == EBUSY ?
				  "the vCPU is starting: its page tables are "
				  "not set yet" : "KVM would not give cr3");
		return ret;
	}
	ret = vm__layout(rfs.sb->vm, l);
	if (ret)
		return ret;
	ret = pt__end(*l, p, end);
	if (ret) {
		if (op && ret == EOPNOTSUPP)
			fs_refuse("vmem: %s refused: the guest's paging is not "
				  "4-level long mode (cr0 0x%llx cr4 0x%llx "
				  "efer 0x%llx)", op,
				  (unsigned long long)p->cr0,
				  (unsigned long long)p->cr4,
				  (unsigned long long)p->efer);
		else if (op)
			fs_refuse("vmem: %s refused: reading the page tables: "
				  "%s", op, strerror(ret));
		vm__layout_free(*l);
	}
	return ret;
}

static void vmem_read(fuse_req_t req, struct handle *h, size_t size,
		      off_t off)
{
	struct x86_paging p;
	struct vm_layout *l;
	uint64_t end;
	void *buf;
	int ret;

	(void)h;
	buf = fs_read_start(req, off, &size);
	if (!buf)
		return;
	if (!rfs.vcpu) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	ret = view(&l, &p, &end, "read");
	if (ret) {
		fuse_reply_err(req, ret);
		return;
	}
	if ((uint64_t)off >= end)
		size = 0;
	else if (size > end - (uint64_t)off)
		size = (size_t)(end - (uint64_t)off);
	ret = pt__read(l, &p, buf, size, (uint64_t)off);
	vm__layout_free(l);
	if (ret)
		fs_refuse("vmem: read at 0x%llx refused: %s",
			  (unsigned long long)off, ret == EBUSY ?
			  "a region's exclusivity was held too long" :
			  strerror(ret));
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_buf(req, buf, size);
}

static void vmem_lseek(fuse_req_t req, struct handle *h, off_t off,
		       int whence)
{
	struct x86_paging p;
	struct vm_layout *l;
	uint64_t pos, end;
	int ret;

	(void)h;
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (off < 0 || !rfs.vcpu) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	ret = view(&l, &p, &end, "seek");
	if (ret) {
		fuse_reply_err(req, ret);
		return;
	}
	if ((uint64_t)off >= end)
		ret = ENXIO;
	else if (whence == SEEK_DATA)
		ret = pt__seek_data(l, &p, (uint64_t)off, &pos);
	else
		ret = pt__seek_hole(l, &p, (uint64_t)off, &pos);
	vm__layout_free(l);
	/* The file ends at the highest mapping: nothing lies past it. */
	if (!ret && whence == SEEK_DATA && pos >= end)
		ret = ENXIO;
	if (!ret && pos > end)
		pos = end;
	if (ret && ret != ENXIO)
		fs_refuse("vmem: seek refused: %s", strerror(ret));
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_lseek(req, (off_t)pos);
}

/* The end of the highest mapped page; 0 without a guest or tables. */
static uint64_t vmem_size(struct handle *h)
{
	struct x86_paging p;
	struct vm_layout *l;
	uint64_t end;

	(void)h;
	if (!rfs.vcpu || view(&l, &p, &end, NULL))
		return 0;
	vm__layout_free(l);
	return end;
}

static void vmem_stat(struct node *n, struct stat *st)
{
	(void)n;
	st->st_size = (off_t)vmem_size(NULL);
	st->st_blksize = CONTENTS_BLKSIZE;
}

const struct node_ops vmem_ops = {
	.stat = vmem_stat,
	.read = vmem_read,
	.lseek = vmem_lseek,
	.size = vmem_size,
};
