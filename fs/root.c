/*
 * The root's own files: vcpu (the guest's state; write run, pause, stop),
 * console (what the guest wrote to port 0xE9), snapshot and restore
 * (write a name).  Without a guest they are still there, like sysfs
 * attributes of an idle device: vcpu reads "stopped" and refuses run with
 * ENODEV, console is empty, snapshots hold the regions alone.
 */
#include "fs/fs.h"
#include "region/parse.h"
#include "region/snapshot.h"
#include "region/vcpu.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	fuse_ino_t ino;
	mode_t mode;
} root_files[] = {
	/* State is public; steering it is the owner's. */
	{ "vcpu", FS_VCPU_INO, 0644 },
	/* What the guest prints may be as secret as its memory. */
	{ "console", FS_CONSOLE_INO, 0400 },
	/* Control files: the owner's, write-only like zero. */
	{ "snapshot", FS_SNAPSHOT_INO, 0200 },
	{ "restore", FS_RESTORE_INO, 0200 },
};

#define NR_ROOT_FILES (sizeof(root_files) / sizeof(root_files[0]))

unsigned root__count(void)
{
	return NR_ROOT_FILES;
}

const char *root__name(unsigned i, fuse_ino_t *ino)
{
	*ino = root_files[i].ino;
	return root_files[i].name;
}

bool root__is_file(fuse_ino_t ino)
{
	return ino >= FS_VCPU_INO && ino <= FS_RESTORE_INO;
}

const char *root__ino_name(fuse_ino_t ino)
{
	for (unsigned i = 0; i < NR_ROOT_FILES; i++)
		if (root_files[i].ino == ino)
			return root_files[i].name;
	return "?";
}

bool root__readable(fuse_ino_t ino)
{
	return ino == FS_VCPU_INO || ino == FS_CONSOLE_INO;
}

bool root__writable(fuse_ino_t ino)
{
	return ino != FS_CONSOLE_INO;
}

fuse_ino_t root__lookup(const char *name)
{
	for (unsigned i = 0; i < NR_ROOT_FILES; i++)
		if (strcmp(root_files[i].name, name) == 0)
			return root_files[i].ino;
	return 0;
}

int root__render_vcpu(char *buf, size_t len)
{
	enum vcpu_state s = rfs.vcpu ? vcpu__state(rfs.vcpu) : VCPU_STOPPED;

	return snprintf(buf, len, "%s\n", vcpu__state_name(s));
}

void root__stat(fuse_ino_t ino, struct stat *st)
{
	char buf[ATTR_TEXT_MAX];

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_nlink = 1;
	st->st_uid = rfs.uid;
	st->st_gid = rfs.gid;
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = rfs.started;
	if (ino == FS_VCPU_INO) {
		st->st_mode = S_IFREG | 0644;
		st->st_size = root__render_vcpu(buf, sizeof(buf));
	} else if (ino != FS_CONSOLE_INO) {
		st->st_mode = S_IFREG | 0200;
	} else {
		st->st_mode = S_IFREG | 0400;
		if (rfs.has_reader_gid) {
			st->st_gid = rfs.reader_gid;
			st->st_mode |= 0040;
		}
		/* Grows as the guest prints: tail -f polls it. */
		st->st_size = rfs.vcpu ? (off_t)vcpu__console_end(rfs.vcpu) : 0;
	}
	/* Generated, not sparse: cp reads it rather than seek for holes. */
	st->st_blocks = (st->st_size + 511) / 512;
}

ssize_t root__read_console(void *buf, size_t len, uint64_t off)
{
	if (!rfs.vcpu)
		return 0;
	return vcpu__console_read(rfs.vcpu, buf, len, off);
}

/* snapshot and restore: the name of a snapshot. */
static int write_snapshot(fuse_ino_t ino, const char *val)
{
	const char *file = ino == FS_SNAPSHOT_INO ? "snapshot" : "restore";
	char why[256] = "";
	int ret;

	if (ino == FS_SNAPSHOT_INO)
		ret = snapshot__take(rfs.sb, rfs.vcpu, val, why, sizeof(why));
	else
		ret = snapshot__restore(rfs.sb, rfs.vcpu, val, why, sizeof(why));
	if (ret)
		fs_log("%s: write '%s' refused: %s (%s)", file, val,
		       why[0] ? why : strerror(ret), strerror(ret));
	return ret;
}

static int write_vcpu(const char *val)
{
	char fault[160];
	const char *why = NULL;
	enum vcpu_state s;
	int ret;

	if (strcmp(val, "run") && strcmp(val, "pause") && strcmp(val, "stop")) {
		fs_log("vcpu: write '%s' refused: write run, pause or stop", val);
		return EINVAL;
	}
	if (!rfs.vcpu) {
		fs_log("vcpu: write '%s' refused: %s", val, rfs.sb->vm ?
		       "no guest (start regionfs with --guest FILE or --demo)" :
		       "no KVM: this sandbox can only be inspected");
		return ENODEV;
	}
	s = vcpu__state(rfs.vcpu);
	if (strcmp(val, "run") == 0)
		ret = vcpu__run(rfs.vcpu);
	else if (strcmp(val, "pause") == 0)
		ret = vcpu__pause(rfs.vcpu);
	else
		ret = vcpu__stop(rfs.vcpu);
	switch (ret) {
	case 0:
		return 0;
	case EINVAL:
		why = s == VCPU_FAULTED || s == VCPU_HALTED ?
		      "the guest halted or faulted: write stop, then run" :
		      "only a running vCPU can be paused";
		if (s == VCPU_FAULTED) {
			vcpu__fault_copy(rfs.vcpu, fault, sizeof(fault));
			fs_log("vcpu: write '%s' refused: %s (fault: %s)", val,
			       why, fault);
			return ret;
		}
		break;
	case EBUSY:
		why = strcmp(val, "run") == 0 ?
		      "an exclusive operation on a mapped region is under way" :
		      "the vCPU did not leave KVM_RUN in time";
		break;
	default:
		why = strerror(ret);
	}
	fs_log("vcpu: write '%s' refused: %s (%s)", val, why, strerror(ret));
	return ret;
}

int root__write(fuse_ino_t ino, const char *buf, size_t len, off_t off)
{
	char val[PARSE_VALUE_MAX];
	const char *file = ino == FS_VCPU_INO ? "vcpu" :
			   ino == FS_SNAPSHOT_INO ? "snapshot" : "restore";

	if (off != 0) {
		fs_log("%s: write at offset %lld refused: a value is written "
		       "whole, in one write at offset 0", file, (long long)off);
		return EINVAL;
	}
	if (parse__value(buf, len, val, sizeof(val))) {
		fs_log("%s: write of %zu bytes refused: empty, too long or "
		       "holding a NUL", file, len);
		return EINVAL;
	}
	if (ino == FS_VCPU_INO)
		return write_vcpu(val);
	return write_snapshot(ino, val);
}
