/*
 * core: an ELF64 core file of the sandbox (region/inspect/core.h), laid
 * out from the mappings, registers and page tables of one state of the
 * sandbox, and served on the fly: every read of a segment reads its
 * region, so a paused guest gives a consistent core and a running one a
 * live view, like /proc/kcore (its NT_PRSTATUS then holds zeros: the
 * registers cannot be read without kicking the vCPU out of KVM_RUN).
 * Holes are the regions' holes; st_blocks is what they hold.
 *
 * The layout (its page walks decide each p_vaddr) is made once per state
 * of the sandbox, not per open: every open made while neither the slot
 * table's generation, the vCPU's nor the regions' bytes (their page
 * tables) moved shares it (a reference; a running guest's for at most
 * CORE_LIVE_MS), so
 * opens in a loop cost no walk and a few bytes each.  The newest is kept
 * for the next open after its last one closes; since it holds the
 * regions, an rmdir lets go of it (core__forget).  A stat needs no walk: the
 * size is the layout's (kept per slot table generation), st_blocks the
 * mapped regions' bytes (kept for CORE_BLOCKS_MS while no region changed,
 * CORE_BLOCKS_MIN_MS whatever changed).
 */
#include "fs/node.h"
#include "region/inspect/core.h"
#include "region/kvm/inspect.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
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

/*
 * How late st_blocks may be: MAX for writes no region records at once,
 * MIN for the others (as statfs's, SANDBOX_USAGE_*).
 */
#define CORE_BLOCKS_MIN_MS 50
#define CORE_BLOCKS_MS 100

/* Layouts made for opens (their page walks): metrics shows it. */
static atomic_uint_fast64_t layouts;

uint64_t core__layouts(void)
{
	return atomic_load(&layouts);
}

/*
 * How long a running guest's core is shared: its page tables change
 * under it with no generation moving (a live view, like its segments).
 */
#define CORE_LIVE_MS 100

/*
 * A core, and the generations of the state it was laid out in: the slot
 * table's, the vCPU's, and the regions' bytes' (region__changes), since
 * p_vaddr comes from page tables in the regions, which a host write
 * (pmem, contents, zero) may change while the vCPU stays paused.
 */
struct shared_core {
	uint64_t layout_gen, vcpu_gen, changes, ms;
	bool live;
	unsigned refs;		/* opens reading it */
	struct core *c;
};

/*
 * The newest core (kept after its last close), and stat's figures.  Lock
 * order: each lock before whatever build takes (the VM's slots, the vCPU).
 */
static struct {
	pthread_mutex_t lock;
	struct shared_core *cur;
	pthread_mutex_t stat_lock;	/* the figures below */
	bool known;
	uint64_t layout_gen, changes, ms;
	uint64_t size, resident;
} cores = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.stat_lock = PTHREAD_MUTEX_INITIALIZER,
};

static uint64_t vcpu_gen(void)
{
	return rfs.vcpu ? vcpu__gen(rfs.vcpu) : 0;
}

static void free_core(struct shared_core *s)
{
	core__free(s->c);
	free(s);
}

/* The core of the state now: the newest when it still is, else a new one. */
static int take(struct shared_core **out)
{
	uint64_t lg = vm__layout_gen(rfs.sb->vm), vg = vcpu_gen();
	uint64_t ch = region__changes(), now = fs_mono_ms();
	struct shared_core *s = cores.cur;
	int ret;

	/* The generations before the build: a change during it is seen next time. */
	if (!s || s->layout_gen != lg || s->vcpu_gen != vg || s->changes != ch ||
	    (s->live && now - s->ms >= CORE_LIVE_MS)) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return ENOMEM;
		ret = build(true, &s->c);
		if (ret) {
			free(s);
			return ret;
		}
		s->layout_gen = lg;
		s->vcpu_gen = vg;
		s->changes = ch;
		s->ms = now;
		s->live = rfs.vcpu && rfs.sb->vm && vm__guest_running(rfs.sb->vm);
		/* metrics' generation counts it (core__layouts). */
		atomic_fetch_add(&layouts, 1);
		/* An older one lives on with its opens, and goes with the last. */
		if (cores.cur && !cores.cur->refs)
			free_core(cores.cur);
		cores.cur = s;
	}
	s->refs++;
	*out = s;
	return 0;
}

static int core_open(fuse_req_t req, struct handle *h,
		     struct fuse_file_info *fi)
{
	struct shared_core *s;
	int ret;

	pthread_mutex_lock(&cores.lock);
	ret = take(&s);
	pthread_mutex_unlock(&cores.lock);
	if (ret) {
		fs_refuse("core: open refused: %s", strerror(ret));
		return ret;
	}
	h->priv = s;
	fi->direct_io = 1;
	return fuse_reply_open(req, fi);
}

static void core_release(struct handle *h)
{
	struct shared_core *s = h->priv;

	h->priv = NULL;
	if (!s)
		return;
	pthread_mutex_lock(&cores.lock);
	/* The newest stays for the next open (see core__forget). */
	if (--s->refs == 0 && cores.cur != s)
		free_core(s);
	pthread_mutex_unlock(&cores.lock);
}

void core__forget(void)
{
	pthread_mutex_lock(&cores.lock);
	/*
	 * One that opens still read is no longer kept either: it goes with
	 * their last close (core_release), not with the next open, which
	 * may never come, while it holds the removed region's memory.
	 */
	if (cores.cur && !cores.cur->refs)
		free_core(cores.cur);
	cores.cur = NULL;
	pthread_mutex_unlock(&cores.lock);
}

static const struct core *core_of(struct handle *h)
{
	return ((struct shared_core *)h->priv)->c;
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
	ret = core__read(core_of(h), buf, size, (uint64_t)off, &n);
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
		ret = core__seek_data(core_of(h), (uint64_t)off, &pos);
	else
		ret = core__seek_hole(core_of(h), (uint64_t)off, &pos);
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_lseek(req, (off_t)pos);
}

static uint64_t core_size(struct handle *h)
{
	return core__size(core_of(h));
}

/*
 * The size of a core opened now (the layout alone decides it) and what
 * its regions hold: kept while they still hold (see cores), else from a
 * layout without the vCPU (no page walk).
 */
static void core_stat(struct node *n, struct stat *st)
{
	uint64_t lg = vm__layout_gen(rfs.sb->vm), changes = region__changes();
	uint64_t now = fs_mono_ms();
	struct core *c;

	(void)n;
	pthread_mutex_lock(&cores.stat_lock);
	if (!cores.known || cores.layout_gen != lg ||
	    (now - cores.ms >= CORE_BLOCKS_MIN_MS &&
	     (cores.changes != changes || now - cores.ms >= CORE_BLOCKS_MS))) {
		cores.known = !build(false, &c);
		if (cores.known) {
			cores.size = core__size(c);
			cores.resident = core__resident(c);
			cores.layout_gen = lg;
			cores.changes = changes;
			cores.ms = now;
			core__free(c);
		}
	}
	if (cores.known) {
		st->st_size = (off_t)cores.size;
		st->st_blocks = (blkcnt_t)(cores.resident / 512);
	}
	pthread_mutex_unlock(&cores.stat_lock);
	st->st_blksize = CONTENTS_BLKSIZE;
}

const struct node_ops core_ops = {
	.stat = core_stat,
	.open = core_open,
	.read = core_read,
	.lseek = core_lseek,
	.size = core_size,
	.release = core_release,
};
