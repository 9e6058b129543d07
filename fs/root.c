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
#include "region/persist/persist.h"

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
	"regs", "fault", "layout", "pmem", "vmem", "core", "why",
	PERSIST_VCPU_STATE, PERSIST_INFO, PERSIST_PARENT, PERSIST_CONSOLE,
	NULL,
};

unsigned root__count(void)
{
	return NR_ROOT_FILES;
}

const char *root__name(unsigned i, fuse_ino_t *ino)
{
	*ino = root_files[i].ino;
	return root_files[i].name;
}

fuse_ino_t root__lookup(const char *name)
{
	for (unsigned i = 0; i < NR_ROOT_FILES; i++)
		if (strcmp(root_files[i].name, name) == 0)
			return root_files[i].ino;
	return 0;
}

bool root__node(fuse_ino_t ino, struct node *n)
{
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
