/*
 * The files of a region directory (attr_files), and its text attributes:
 * one value per file, sysfs-style.  A show renders the value; a store
 * takes the whole value in one write, or fails and changes nothing.
 * Every store is a control write, which region/sandbox/ carries out under
 * exclusivity and which says why it refused: fs/ only translates text.
 */
#include "fs/node.h"
#include "region/persist/persist.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The text is the saved format's: a snapshot's copy is loaded from it. */
static int show_hex(char *buf, size_t len, uint64_t v)
{
	return persist__render_addr(buf, len, v);
}

static int show_dec(char *buf, size_t len, uint64_t v)
{
	return persist__render_size(buf, len, v);
}

/*
 * Shows read the geometry through its seqlock, never the region's lock:
 * a stat or a read of an attribute never waits for a control write.
 */
static struct region_geometry geometry(struct region *r)
{
	struct region_geometry g;

	region__geometry(r, &g, false);
	return g;
}

static int show_base_addr(struct region *r, char *buf, size_t len)
{
	return show_hex(buf, len, (uintptr_t)geometry(r).raw +
			region__page_size());
}

static int show_mem_size(struct region *r, char *buf, size_t len)
{
	return show_dec(buf, len, geometry(r).mem_size);
}

static int show_raw_addr(struct region *r, char *buf, size_t len)
{
	return show_hex(buf, len, (uintptr_t)geometry(r).raw);
}

static int show_raw_size(struct region *r, char *buf, size_t len)
{
	return show_dec(buf, len, geometry(r).mem_size +
			2 * region__page_size());
}

static int show_hrb(struct region *r, char *buf, size_t len)
{
	return show_base_addr(r, buf, len);
}

static int show_hre(struct region *r, char *buf, size_t len)
{
	struct region_geometry g = geometry(r);

	return show_hex(buf, len, (uintptr_t)g.raw + region__page_size() +
			g.mem_size);
}

static int show_kind(struct region *r, char *buf, size_t len)
{
	return snprintf(buf, len, "%s\n", region__kind_name(region__kind(r)));
}

static int show_guest_addr(struct region *r, char *buf, size_t len)
{
	uint64_t gpa = 0;
	bool mapped;

	/* A snapshot's copy: where the region was when it was taken. */
	if (region__readonly(r))
		mapped = region__snap_gpa(r, &gpa);
	else
		mapped = sandbox__guest_addr(rfs.sb, r, &gpa);
	return persist__render_guest_addr(buf, len, mapped, gpa);
}

static int show_access(struct region *r, char *buf, size_t len)
{
	return persist__render_access(buf, len, region__guest_ro(r));
}

static int show_page_size(struct region *r, char *buf, size_t len)
{
	return show_dec(buf, len, region__page_bytes(r));
}

static int store_mem_size(struct node *n, const char *val, struct why *why)
{
	fuse_ino_t contents = ino_file(ino_id(n->ino), F_CONTENTS);
	struct region *r = n->r;
	uint64_t size;
	int ret;

	if (parse__size(val, &size))
		return why__set(why, EINVAL, "not a size (4096, 0x1000, 64K, "
				"2M, 1G)");
	/* A resize makes new memory: passthrough opens would keep the old. */
	ret = contents__resize_begin(contents);
	if (ret)
		return why__set(why, ret, "contents is open (passthrough); "
				"close it first, and unmap any mmap of it");
	ret = sandbox__resize(rfs.sb, r, size, why);
	contents__resize_end(contents);
	return ret;
}

/* Like a resize: new memory, so no passthrough open may keep the old. */
static int store_page_size(struct node *n, const char *val, struct why *why)
{
	fuse_ino_t contents = ino_file(ino_id(n->ino), F_CONTENTS);
	uint64_t page;
	int ret;

	if (parse__size(val, &page))
		return why__set(why, EINVAL, "not a size (4K, 2M, 1G)");
	ret = contents__resize_begin(contents);
	if (ret)
		return why__set(why, ret, "contents is open (passthrough); "
				"close it first, and unmap any mmap of it");
	ret = sandbox__set_page_size(rfs.sb, n->r, page, why);
	contents__resize_end(contents);
	return ret;
}

static int store_guest_addr(struct node *n, const char *val, struct why *why)
{
	struct region *r = n->r;
	uint64_t gpa;
	bool none;

	if (parse__gpa(val, &gpa, &none))
		return why__set(why, EINVAL, "not \"none\" or a guest-physical "
				"address");
	return sandbox__set_guest_addr(rfs.sb, r, none, gpa, why);
}

static int store_access(struct node *n, const char *val, struct why *why)
{
	bool ro;

	if (persist__parse_access(val, &ro))
		return why__set(why, EINVAL, "access is \"rw\" or \"ro\"");
	return sandbox__set_access(rfs.sb, n->r, ro, why);
}

static int store_zero(struct node *n, const char *val, struct why *why)
{
	struct region *r = n->r;

	if (strcmp(val, "1") != 0)
		return why__set(why, EINVAL, "write 1 to zero the region");
	return sandbox__zero(rfs.sb, r, why);
}

/*
 * A clear that leaves the record whole (a writer nobody sees may still
 * write) succeeds: it did start the record over.  The log says why it is
 * not exact yet.
 */
static int show_mmap_rw(struct region *r, char *buf, size_t len)
{
	return snprintf(buf, len, "%d\n", region__mmap_rw(r) ? 1 : 0);
}

/* Whether contents may be mapped shared and writable: see contents.c. */
static int store_mmap_rw(struct node *n, const char *val, struct why *why)
{
	if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
		return why__set(why, EINVAL, "write 1 to allow shared writable "
				"mappings of contents (dirty then counts the "
				"whole region while one may exist), 0 to "
				"refuse them");
	return region__set_mmap_rw(n->r, val[0] == '1', why);
}

/*
 * Modes: a host address defeats ASLR, like a kernel pointer under
 * kptr_restrict, so it is the owner's only; sizes and state are public;
 * control files are the owner's.
 */
const struct attr_desc attr_files[F_COUNT] = {
	[F_CONTENTS]         = { PERSIST_CONTENTS, 0600, &contents_ops, NULL, NULL },
	[F_BASE_ADDR]        = { "base_addr", 0400, NULL, show_base_addr, NULL },
	[F_MEM_SIZE]         = { PERSIST_MEM_SIZE, 0644, NULL, show_mem_size, store_mem_size },
	[F_RAW_ADDR]         = { "raw_addr", 0400, NULL, show_raw_addr, NULL },
	[F_RAW_SIZE]         = { PERSIST_RAW_SIZE, 0444, NULL, show_raw_size, NULL },
	[F_HOST_REGION_BASE] = { "host_region_base", 0400, NULL, show_hrb, NULL },
	[F_HOST_REGION_END]  = { "host_region_end", 0400, NULL, show_hre, NULL },
	[F_KIND]             = { "kind", 0444, NULL, show_kind, NULL },
	[F_GUEST_ADDR]       = { PERSIST_GUEST_ADDR, 0644, NULL, show_guest_addr, store_guest_addr },
	[F_ACCESS]           = { PERSIST_ACCESS, 0644, NULL, show_access, store_access },
	[F_ZERO]             = { "zero", 0600, NULL, NULL, store_zero },
	/*
	 * Which pages the guest writes says what it does, like its memory:
	 * the owner's, readable by the reader group.  Its text has no fixed
	 * bound: dirty.c.
	 */
	[F_DIRTY]            = { PERSIST_DIRTY, 0600, &dirty_ops, NULL, NULL },
	[F_PAGE_SIZE]        = { PERSIST_PAGE_SIZE, 0644, NULL, show_page_size, store_page_size },
	/* The owner's choice to give up exact dirty for mmap: theirs only. */
	[F_MMAP_RW]          = { "mmap_rw", 0644, NULL, show_mmap_rw, store_mmap_rw },
	/*
	 * The file a copy-on-write region maps, and how many pages the guest
	 * wrote: like dirty, what it does; the owner's (and the group's).
	 */
	[F_BASE]             = { "base", 0400, &base_ops, NULL, NULL },
};

int attr__lookup(const char *name)
{
	for (unsigned i = 0; i < F_COUNT; i++)
		if (strcmp(attr_files[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int attr_render(struct node *n, char *buf, size_t len)
{
	if (!attr_files[n->file].show)
		return 0;
	return attr_files[n->file].show(n->r, buf, len);
}

/* Honest: the length of what a read at offset 0 returns. */
static void attr_stat(struct node *n, struct stat *st)
{
	char buf[ATTR_TEXT_MAX];
	int len = attr_render(n, buf, sizeof(buf));

	st->st_size = len > 0 ? len : 0;
}

int attr__write(struct handle *h, const char *buf, size_t size, off_t off)
{
	return text__store(h, buf, size, off, attr_files[h->n.file].store);
}

const struct node_ops attr_ops = {
	.stat = attr_stat,
	.read = text__read,
	.write = attr__write,
	.render = attr_render,
	.size = text__size,
};

/* The region's directory: its files, in attr_files' order. */


/* A region's file f: its ops, and what its ABI lets an open ask for. */
static void region_file(struct node *n, struct region *r, unsigned f)
{
	const struct attr_desc *d = &attr_files[f];

	n->r = r;
	n->file = f;
	n->name = d->name;
	n->ops = d->ops ? d->ops : &attr_ops;
	n->mode = d->mode;
	/*
	 * Every file reads (a control file reads empty), so cp -r, rsync -a,
	 * tar and diff -r copy a region whole; mode bits keep others out.
	 */
	n->readable = true;
	n->writable = d->store ||
		      (d->ops && (d->ops->write_data || d->ops->write));
}

static bool region_dir_file(struct node *d, fuse_ino_t ino, struct node *n)
{
	int f = ino_file_index(ino);

	if (f < 0 || f >= F_COUNT)
		return false;
	n->ino = ino;
	region_file(n, d->r, (unsigned)f);
	d->r = NULL;	/* its reference is n's now */
	return true;
}

static void region_dir_stat(struct node *d, struct stat *st)
{
	st->st_atim = st->st_mtim = st->st_ctim = region__created(d->r);
}

static int region_dir_lookup(struct node *d, const char *name,
			     fuse_ino_t *ino)
{
	int f = attr__lookup(name);

	if (f < 0)
		return ENOENT;
	*ino = ino_file(ino_id(d->ino), (unsigned)f);
	return 0;
}

static bool region_dir_child(struct node *d, unsigned idx, char *name,
			     size_t len, fuse_ino_t *ino, mode_t *mode)
{
	if (idx >= F_COUNT)
		return false;
	snprintf(name, len, "%s", attr_files[idx].name);
	*ino = ino_file(ino_id(d->ino), idx);
	*mode = S_IFREG;
	return true;
}

const struct dir_ops region_dir_ops = {
	.stat = region_dir_stat,
	.file = region_dir_file,
	.lookup = region_dir_lookup,
	.child = region_dir_child,
};
