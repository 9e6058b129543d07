/*
 * vmem: the lower canonical half of the guest-virtual address space,
 * [0, 2^47), through the vCPU's page tables (region/inspect/pagewalk.h):
 * offset = virtual address, mapped pages read through to guest-physical
 * memory, unmapped ones read as zeros and are holes.  st_size is that
 * half's size, the same for every guest: what a guest maps where is no
 * business of a stat (another uid's), and it costs no walk.  Past the
 * highest mapping the file is one hole (SEEK_DATA: ENXIO).  While the
 * vCPU is not running, cr3 and the paging mode are read from KVM at each
 * request; while it runs, they are those it last stopped or started with
 * (reading them would kick it out of KVM_RUN), and the tables are read as
 * they are in memory at that moment.  Read-only; empty without a guest.
 * st_blocks is 0: its pages are pmem's, counting them is a walk of every
 * table.
 */
#include "fs/node.h"
#include "region/inspect/pagewalk.h"
#include "region/kvm/inspect.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* The size of the file whenever there is a guest. */
#define VMEM_SIZE PT_VA_END

/* A refusal of op, in one log line. */
static void refused(const char *op, int ret, const struct x86_paging *p)
{
	if (ret == EOPNOTSUPP)
		fs_refuse("vmem: %s refused: the guest's paging is not 4-level "
		       "long mode (cr0 0x%llx cr4 0x%llx efer 0x%llx)", op,
		       (unsigned long long)p->cr0, (unsigned long long)p->cr4,
		       (unsigned long long)p->efer);
	else if (ret == EBUSY)
		fs_refuse("vmem: %s refused: a region's exclusivity was held too "
		       "long", op);
	else
		fs_refuse("vmem: %s refused: reading the page tables: %s", op,
		       strerror(ret));
}

/* The layout and paging of one request; op names it for the log line. */
static int view(struct vm_layout **l, struct x86_paging *p, const char *op)
{
	bool live;
	int ret;

	ret = vcpu__paging(rfs.vcpu, p, &live);
	if (ret) {
		fs_refuse("vmem: %s refused: %s", op, ret == EBUSY ?
			  "the vCPU is starting: its page tables are not set "
			  "yet" : "KVM would not give cr3");
		return ret;
	}
	return vm__layout(rfs.sb->vm, l);
}

static void vmem_read(fuse_req_t req, struct handle *h, size_t size,
		      off_t off)
{
	struct x86_paging p;
	struct vm_layout *l;
	void *buf;
	int ret;

	(void)h;
	buf = fs_read_start(req, off, &size);
	if (!buf)
		return;
	if (!rfs.vcpu || (uint64_t)off >= VMEM_SIZE) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	ret = view(&l, &p, "read");
	if (ret) {
		fuse_reply_err(req, ret);
		return;
	}
	if (size > VMEM_SIZE - (uint64_t)off)
		size = (size_t)(VMEM_SIZE - (uint64_t)off);
	ret = pt__read(l, &p, buf, size, (uint64_t)off);
	vm__layout_free(l);
	if (ret)
		refused("read", ret, &p);
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
	uint64_t pos;
	int ret;

	(void)h;
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (off < 0 || !rfs.vcpu || (uint64_t)off >= VMEM_SIZE) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	ret = view(&l, &p, "seek");
	if (ret) {
		fuse_reply_err(req, ret);
		return;
	}
	if (whence == SEEK_DATA)
		ret = pt__seek_data(l, &p, (uint64_t)off, &pos);
	else
		ret = pt__seek_hole(l, &p, (uint64_t)off, &pos);
	vm__layout_free(l);
	if (ret && ret != ENXIO)
		refused("seek", ret, &p);
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_lseek(req, (off_t)pos);
}

static uint64_t vmem_size(struct handle *h)
{
	(void)h;
	return rfs.vcpu ? VMEM_SIZE : 0;
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
