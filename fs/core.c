/*
 * core: an ELF64 core file of the sandbox (region/inspect/core.h), laid
 * out at open from the mappings, registers and page tables of that
 * moment, and served on the fly: every read of a segment reads its
 * region, so a paused guest gives a consistent core and a running one a
 * live view, like /proc/kcore (its NT_PRSTATUS then holds zeros: the
 * registers cannot be read without kicking the vCPU out of KVM_RUN).
 * Holes are the regions' holes; st_blocks is what they hold.
 */
#include "fs/node.h"
#include "region/inspect/core.h"
#include "region/kvm/inspect.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* A core of the sandbox now; with_cpu: the registers and page tables too. */
static int build(bool with_cpu, struct core **out)
{
	struct x86_paging paging, *pp = NULL;
	struct x86_regs regs, *rp = NULL;
	enum vcpu_state state;
	struct vm_layout *l;
	bool live;
	int ret;

	ret = vm__layout(rfs.sb->vm, &l);
	if (ret)
		return ret;
	if (with_cpu && rfs.vcpu) {
		if (!vcpu__regs(rfs.vcpu, &regs, &state)) {
			rp = &regs;
			x86__regs_paging(&regs, &paging);
			pp = &paging;
		} else if (!vcpu__paging(rfs.vcpu, &paging, &live)) {
			pp = &paging;
		}
	}
	return core__new(l, rp, pp, out);
}

static int core_open(fuse_req_t req, struct handle *h,
		     struct fuse_file_info *fi)
{
	struct core *c;
	int ret = build(true, &c);

	if (ret) {
		fs_refuse("core: open refused: %s", strerror(ret));
		return ret;
	}
	h->priv = c;
	fi->direct_io = 1;
	return fuse_reply_open(req, fi);
}

static void core_release(struct handle *h)
{
	core__free(h->priv);
	h->priv = NULL;
}

static void core_read(fuse_req_t req, struct handle *h, size_t size,
		      off_t off)
{
	size_t n;
	void *buf;
	int ret;

	buf = fs_read_start(req, off, &size);
	if (!buf)
		return;
	ret = core__read(h->priv, buf, size, (uint64_t)off, &n);
	if (ret == EBUSY)
		fs_refuse("core: read at %lld refused: a region's exclusivity "
			  "was held too long", (long long)off);
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_buf(req, buf, n);
}

static void core_lseek(fuse_req_t req, struct handle *h, off_t off,
		       int whence)
{
	uint64_t pos;
	int ret;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		ret = EINVAL;
	else if (off < 0)
		ret = ENXIO;
	else if (whence == SEEK_DATA)
		ret = core__seek_data(h->priv, (uint64_t)off, &pos);
	else
		ret = core__seek_hole(h->priv, (uint64_t)off, &pos);
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_lseek(req, (off_t)pos);
}

static uint64_t core_size(struct handle *h)
{
	return core__size(h->priv);
}

/* The size of a core opened now: the layout alone decides it. */
static void core_stat(struct node *n, struct stat *st)
{
	struct core *c;

	(void)n;
	if (build(false, &c))
		return;
	st->st_size = (off_t)core__size(c);
	st->st_blocks = (blkcnt_t)(core__resident(c) / 512);
	st->st_blksize = CONTENTS_BLKSIZE;
	core__free(c);
}

const struct node_ops core_ops = {
	.stat = core_stat,
	.open = core_open,
	.read = core_read,
	.lseek = core_lseek,
	.size = core_size,
	.release = core_release,
};
