/*
 * Attribute files: one value per file, sysfs-style.  A show renders the
 * value; a store takes the whole value in one write, or fails and changes
 * nothing.  Every store is a control write and takes exclusivity (in
 * region/), so fs/ only translates text.
 */
#include "fs/fs.h"
#include "region/parse.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int show_hex(char *buf, size_t len, uint64_t v)
{
	return snprintf(buf, len, "0x%" PRIx64 "\n", v);
}

static int show_dec(char *buf, size_t len, uint64_t v)
{
	return snprintf(buf, len, "%" PRIu64 "\n", v);
}

static int show_base_addr(struct region *r, char *buf, size_t len)
{
	return show_hex(buf, len, (uintptr_t)region__base_addr(r));
}

static int show_mem_size(struct region *r, char *buf, size_t len)
{
	return show_dec(buf, len, region__mem_size(r));
}

static int show_raw_addr(struct region *r, char *buf, size_t len)
{
	return show_hex(buf, len, (uintptr_t)region__raw_addr(r));
}

static int show_raw_size(struct region *r, char *buf, size_t len)
{
	return show_dec(buf, len, region__raw_size(r));
}

static int show_hrb(struct region *r, char *buf, size_t len)
{
	return show_hex(buf, len, (uintptr_t)region__host_region_base(r));
}

static int show_hre(struct region *r, char *buf, size_t len)
{
	return show_hex(buf, len, (uintptr_t)region__host_region_end(r));
}

static int show_kind(struct region *r, char *buf, size_t len)
{
	return snprintf(buf, len, "%s\n", region__kind_name(region__kind(r)));
}

static int show_guest_addr(struct region *r, char *buf, size_t len)
{
	if (!region__mapped(r))
		return snprintf(buf, len, "none\n");
	return show_hex(buf, len, r->gpa);
}

static int show_access(struct region *r, char *buf, size_t len)
{
	return snprintf(buf, len, "%s\n", r->guest_ro ? "ro" : "rw");
}

static const char *busy_why(struct region *r)
{
	if (r->readonly)
		return "the region is readonly";
	if (region__mapped(r) && r->vm && vm__guest_running(r->vm))
		return "the vCPU is running and the region is mapped (pause first)";
	return "host accesses did not drain in time";
}

static const char *common_why(struct region *r, int err)
{
	switch (err) {
	case EBUSY:
	case EPERM:
		return busy_why(r);
	default:
		return strerror(err);
	}
}

static int store_mem_size(struct region *r, const char *val, const char **why)
{
	uint64_t size;
	int ret = parse__size(val, &size);

	if (ret) {
		*why = "not a size (4096, 0x1000, 64K, 2M, 1G)";
		return EINVAL;
	}
	if (size == 0 || size > REGION_SIZE_MAX) {
		*why = "size must be between 1 byte and 1T";
		return EINVAL;
	}
	/*
	 * Exclusivity first: while the guest runs, that is EBUSY; a readonly
	 * region is EPERM from the same place.
	 */
	ret = sandbox__resize(rfs.sb, r, size);
	if (ret == ENOSPC)
		*why = "over the total size limit of the sandbox (-o max_total)";
	else if (ret == EPERM && region__mapped(r))
		*why = "the region is mapped into the VM: unmap it first "
		       "(echo none > guest_addr)";
	else if (ret)
		*why = common_why(r, ret);
	return ret;
}

static int store_guest_addr(struct region *r, const char *val,
			    const char **why)
{
	uint64_t gpa;
	bool none;
	int ret = parse__gpa(val, &gpa, &none);

	if (ret) {
		*why = "not \"none\" or a guest-physical address";
		return EINVAL;
	}
	/* The sandbox answers readonly (EPERM) before no VM (ENODEV). */
	ret = sandbox__set_guest_addr(rfs.sb, r, none, gpa);
	switch (ret) {
	case 0:
		break;
	case ENODEV:
		*why = "no KVM: this sandbox can only be inspected";
		break;
	case EINVAL:
		*why = "the address is not page-aligned or the range passes "
		       "the guest's physical address width";
		break;
	case EEXIST:
		*why = "the range overlaps another mapped region";
		break;
	case ENOSPC:
		*why = "no free KVM memory slot";
		break;
	default:
		*why = common_why(r, ret);
	}
	return ret;
}

static int store_access(struct region *r, const char *val, const char **why)
{
	bool ro;
	int ret;

	if (strcmp(val, "ro") == 0) {
		ro = true;
	} else if (strcmp(val, "rw") == 0) {
		ro = false;
	} else {
		*why = "access is \"rw\" or \"ro\"";
		return EINVAL;
	}
	ret = sandbox__set_access(rfs.sb, r, ro);
	if (ret == EOPNOTSUPP)
		*why = "KVM lacks KVM_CAP_READONLY_MEM";
	else if (ret)
		*why = common_why(r, ret);
	return ret;
}

static int store_zero(struct region *r, const char *val, const char **why)
{
	int ret;

	if (strcmp(val, "1") != 0) {
		*why = "write 1 to zero the region";
		return EINVAL;
	}
	ret = region__zero(r);
	if (ret)
		*why = common_why(r, ret);
	return ret;
}

static int store_dirty(struct region *r, const char *val, const char **why)
{
	int ret;

	if (strcmp(val, "0") != 0) {
		*why = "write 0 to clear the record";
		return EINVAL;
	}
	ret = region__dirty_clear(r);
	if (ret == EOPNOTSUPP)
		*why = "dirty tracking is off (-o nodirty)";
	else if (ret)
		*why = common_why(r, ret);
	return ret;
}

/*
 * Modes: a host address defeats ASLR, like a kernel pointer under
 * kptr_restrict, so it is the owner's only; sizes and state are public;
 * control files are the owner's.
 */
const struct attr_desc attr_files[F_COUNT] = {
	[F_CONTENTS]         = { "contents", 0600, NULL, NULL },
	[F_BASE_ADDR]        = { "base_addr", 0400, show_base_addr, NULL },
	[F_MEM_SIZE]         = { "mem_size", 0644, show_mem_size, store_mem_size },
	[F_RAW_ADDR]         = { "raw_addr", 0400, show_raw_addr, NULL },
	[F_RAW_SIZE]         = { "raw_size", 0444, show_raw_size, NULL },
	[F_HOST_REGION_BASE] = { "host_region_base", 0400, show_hrb, NULL },
	[F_HOST_REGION_END]  = { "host_region_end", 0400, show_hre, NULL },
	[F_KIND]             = { "kind", 0444, show_kind, NULL },
	[F_GUEST_ADDR]       = { "guest_addr", 0644, show_guest_addr, store_guest_addr },
	[F_ACCESS]           = { "access", 0644, show_access, store_access },
	[F_ZERO]             = { "zero", 0200, NULL, store_zero },
	/*
	 * Which pages the guest writes says what it does, like its memory:
	 * the owner's, readable by the reader group.  Rendered apart (its
	 * text has no fixed bound): attr__read_dirty.
	 */
	[F_DIRTY]            = { "dirty", 0600, NULL, store_dirty },
};

int attr__lookup(const char *name)
{
	for (unsigned i = 0; i < F_COUNT; i++)
		if (strcmp(attr_files[i].name, name) == 0)
			return (int)i;
	return -1;
}

int attr__render(struct region *r, unsigned f, char *buf, size_t len)
{
	int n, ret;

	if (!attr_files[f].show)
		return 0;
	/* Shared, so a resize cannot change the values half-way. */
	ret = region__shared_begin(r);
	if (ret)
		return -ret;
	n = attr_files[f].show(r, buf, len);
	region__shared_end(r);
	return n;
}

int attr__store(struct region *r, unsigned f, const char *buf, size_t len,
		off_t off)
{
	char val[PARSE_VALUE_MAX];
	const char *why = NULL;
	int ret;

	if (off != 0) {
		fs_log("%s/%s: write at offset %lld refused: a value is "
		       "written whole, in one write at offset 0", r->name,
		       attr_files[f].name, (long long)off);
		return EINVAL;
	}
	if (parse__value(buf, len, val, sizeof(val))) {
		fs_log("%s/%s: write of %zu bytes refused: empty, too long "
		       "(max %d) or holding a NUL", r->name, attr_files[f].name,
		       len, PARSE_VALUE_MAX - 1);
		return EINVAL;
	}
	ret = attr_files[f].store(r, val, &why);
	if (ret)
		fs_log("%s/%s: write '%s' refused: %s (%s)", r->name,
		       attr_files[f].name, val, why ? why : strerror(ret),
		       strerror(ret));
	return ret;
}

void attr__stat(struct region *r, uint64_t id, unsigned f, struct stat *st)
{
	char buf[ATTR_TEXT_MAX];
	int n;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino_file(id, f);
	st->st_mode = S_IFREG | attr_files[f].mode;
	/*
	 * A readonly region takes no writes; its write-only files (zero)
	 * read empty instead, so cp -r of a snapshot copies every file.
	 */
	if (r->readonly) {
		st->st_mode &= ~(mode_t)0222;
		if (!(st->st_mode & 0444))
			st->st_mode |= 0400;
	}
	st->st_nlink = 1;
	st->st_uid = rfs.uid;
	st->st_gid = rfs.gid;
	st->st_atim = st->st_mtim = st->st_ctim = r->created;
	/*
	 * The owner's secrets (memory, host addresses) are shared with the
	 * reader group only: it is the file's group, with read permission.
	 */
	if (rfs.has_reader_gid && !(attr_files[f].mode & 0004) &&
	    (attr_files[f].mode & 0400)) {
		st->st_gid = rfs.reader_gid;
		st->st_mode |= 0040;
	}
	if (f == F_DIRTY) {
		int64_t size = region__dirty_text_size(r);

		st->st_size = size > 0 ? (off_t)size : 0;
		st->st_blksize = 4096;
		/* Not sparse: cp must read it, not look for holes in it. */
		st->st_blocks = (st->st_size + 511) / 512;
	} else if (f == F_CONTENTS) {
		st->st_size = (off_t)region__mem_size(r);
		/* The memfd's real allocation: cp --sparse skips the rest. */
		st->st_blocks = (blkcnt_t)(region__resident(r) / 512);
		st->st_blksize = CONTENTS_BLKSIZE;
	} else {
		/* Honest: the length of what a read at offset 0 returns. */
		n = attr__render(r, f, buf, sizeof(buf));
		st->st_size = n > 0 ? n : 0;
		st->st_blksize = 4096;
		st->st_blocks = (st->st_size + 511) / 512;
	}
}

static void read_dirty(fuse_req_t req, struct handle *h, size_t size, off_t off)
{
	char *buf;
	size_t n;
	int ret;
	/* Offset 0 takes the record anew; later offsets read that copy. */
	if (off == 0 || !h->dirty) {
		dirty_text__free(h->dirty);
		h->dirty = NULL;
		ret = region__dirty_text(h->r, &h->dirty);
		if (ret) {
			fs_log("%s/dirty: read refused: %s", h->r->name,
			       ret == EBUSY ? "exclusivity held too long" :
			       strerror(ret));
			fuse_reply_err(req, ret);
			return;
		}
	}
	buf = contents__reply_buf(&size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = dirty_text__read(h->dirty, buf, size, (uint64_t)off);
	fuse_reply_buf(req, buf, n);
}

uint64_t attr__dirty_size(struct handle *h)
{
	uint64_t size = 0;

	pthread_mutex_lock(&h->lock);
	if (!h->dirty && region__dirty_text(h->r, &h->dirty))
		h->dirty = NULL;
	if (h->dirty)
		size = dirty_text__size(h->dirty);
	pthread_mutex_unlock(&h->lock);
	return size;
}

void attr__read_dirty(fuse_req_t req, struct handle *h, size_t size, off_t off)
{
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* Two reads of one open file must not free its rendering mutually. */
	pthread_mutex_lock(&h->lock);
	read_dirty(req, h, size, off);
	pthread_mutex_unlock(&h->lock);
}
