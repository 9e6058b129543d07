/*
 * The root's own files: vcpu (the guest's state; write run, pause, stop),
 * console (what the guest wrote to port 0xE9), snapshot and restore
 * (write a name).  Without a guest they are still there, like sysfs
 * attributes of an idle device: vcpu reads "stopped" and refuses run with
 * ENODEV, console is empty, snapshots hold the regions alone.
 * Inspecting the guest: regs, fault (empty without a guest), layout, pmem,
 * vmem and core (region/inspect/), and metrics.  log and why say why
 * something was refused.
 */
#include "fs/node.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	fuse_ino_t ino;
	mode_t mode;
	const struct node_ops *ops;
	bool readable, writable;
} root_files[] = {
	/* State is public; steering it is the owner's. */
	{ "vcpu", FS_VCPU_INO, 0644, &vcpu_ops, true, true },
	/* What the guest prints may be as secret as its memory. */
	{ "console", FS_CONSOLE_INO, 0400, &console_ops, true, false },
	/* Refusals quote the values written: the owner's and readers'. */
	{ "log", FS_LOG_INO, 0400, &log_ops, true, false },
	/* Only the reader's session's refusals, quoting values: as log. */
	{ "why", FS_WHY_INO, 0400, &why_ops, true, false },
	/* Control files: the owner's; they read empty, like zero. */
	{ "snapshot", FS_SNAPSHOT_INO, 0600, &snapshot_ops, true, true },
	{ "restore", FS_RESTORE_INO, 0600, &restore_ops, true, true },
	/* The guest as a debugger sees it: its state is as secret as its memory. */
	{ "regs", FS_REGS_INO, 0400, &regs_ops, true, false },
	{ "fault", FS_FAULT_INO, 0400, &fault_ops, true, false },
	/* Guest addresses and names only: public, like sizes and guest_addr. */
	{ "layout", FS_LAYOUT_INO, 0444, &layout_ops, true, false },
	{ "pmem", FS_PMEM_INO, 0600, &pmem_ops, true, true },
	{ "vmem", FS_VMEM_INO, 0400, &vmem_ops, true, false },
	{ "core", FS_CORE_INO, 0400, &core_ops, true, false },
	/* Counts, guest addresses and names: no host address, no memory. */
	{ "metrics", FS_METRICS_INO, 0444, &metrics_ops, true, false },
};

#define NR_ROOT_FILES (sizeof(root_files) / sizeof(root_files[0]))

/*
 * The root's names, one kept for a file to come, and the files of a
 * snapshot's directory, which sit beside its regions.
 */
const char *const root_reserved[] = {
	"vcpu", "console", "log", "snapshot", "restore", "snapshots", "metrics",
	"regs", "fault", "layout", "pmem", "vmem", "core", "why", "vcpu_state",
	"info", "parent",
	NULL,
};

unsigned root__count(void)
{
	return NR_ROOT_FILES;
}

static const char *root__name(unsigned i, fuse_ino_t *ino)
{
	*ino = root_files[i].ino;
	return root_files[i].name;
}

static fuse_ino_t root__lookup(const char *name)
{
	for (unsigned i = 0; i < NR_ROOT_FILES; i++)
		if (strcmp(root_files[i].name, name) == 0)
			return root_files[i].ino;
	return 0;
}

/* Fill n for a root file; false when ino is none. */
static bool root__node(struct node *d, fuse_ino_t ino, struct node *n)
{
	(void)d;
	for (unsigned i = 0; i < NR_ROOT_FILES; i++) {
		if (root_files[i].ino != ino)
			continue;
		*n = (struct node){
			.ino = ino,
			.name = root_files[i].name,
			.ops = root_files[i].ops,
			.mode = root_files[i].mode,
			.readable = root_files[i].readable,
			.writable = root_files[i].writable,
		};
		return true;
	}
	return false;
}

/*
 * The root directory: its own files, snapshots/, then the regions in
 * table order.  Its link count counts snapshots/ and the regions, read
 * without the table's lock.
 */
static void root_stat(struct node *d, struct stat *st)
{
	(void)d;
	st->st_nlink = 3 + __atomic_load_n(&rfs.sb->nr, __ATOMIC_ACQUIRE);
}

/* The inode of name in the root: a file, snapshots/, or a region. */
static int root_lookup(struct node *d, const char *name, fuse_ino_t *ino)
{
	struct region *r;
	uint64_t id;

	(void)d;
	*ino = root__lookup(name);
	if (*ino)
		return 0;
	if (strcmp(name, "snapshots") == 0) {
		*ino = FS_SNAPSHOTS_INO;
		return 0;
	}
	r = sandbox__find(rfs.sb, name, &id);
	if (!r)
		return ENOENT;
	region__put(r);
	*ino = ino_dir(id);
	return 0;
}

/* An rmdir during a listing may shift the regions, as on any filesystem. */
static bool root_child(struct node *d, unsigned idx, char *name, size_t len,
		       fuse_ino_t *child, mode_t *mode)
{
	struct region *r;
	uint64_t id;

	(void)d;
	*mode = S_IFDIR;
	if (idx < root__count()) {
		snprintf(name, len, "%s", root__name(idx, child));
		*mode = S_IFREG;
		return true;
	}
	if (idx == root__count()) {
		snprintf(name, len, "snapshots");
		*child = FS_SNAPSHOTS_INO;
		return true;
	}
	r = sandbox__nth(rfs.sb, idx - root__count() - 1, &id);
	if (!r)
		return false;
	snprintf(name, len, "%s", region__name(r));
	*child = ino_dir(id);
	region__put(r);
	return true;
}

/* mkdir makes a region of the default size. */
static int root_mkdir(struct node *d, const char *name, fuse_ino_t *ino)
{
	struct why why = { "" };
	uint64_t id;
	int ret;

	(void)d;
	ret = sandbox__create(rfs.sb, name, rfs.default_size, &id, &why);
	if (ret)
		fs_refuse("mkdir %s refused: %s", name, why__text(&why, ret));
	metrics__changed();	/* after the change: a rendering before it is stale */
	*ino = ret ? 0 : ino_dir(id);
	return ret;
}

static int root_rmdir(struct node *d, const char *name)
{
	struct why why = { "" };
	int ret;

	(void)d;
	if (strcmp(name, "snapshots") == 0) {
		fs_refuse("rmdir snapshots refused: the tree is fixed");
		return EPERM;
	}
	ret = sandbox__remove(rfs.sb, name, &why);
	/* A kept core would hold the region past its rmdir. */
	core__forget();
	if (ret && ret != ENOENT)
		fs_refuse("rmdir %s refused: %s", name, why__text(&why, ret));
	return ret;
}

const struct dir_ops root_dir_ops = {
	.stat = root_stat,
	.file = root__node,
	.lookup = root_lookup,
	.child = root_child,
	.mkdir = root_mkdir,
	.rmdir = root_rmdir,
};
