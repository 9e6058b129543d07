/*
 * Who else maps a region's memory (region__shared_writers): the processes
 * whose /proc/PID/maps show a shared mapping of the memfd, under its own
 * name or under the alias a FUSE passthrough mapping shows (the file it
 * was made through).  Only a mapping that can write matters: a writable
 * one, or one whose VmFlags in smaps say "mw" (mprotect could make it
 * writable); a read-only open's mapping never can.
 *
 * The cost is bounded by what the processes map, never by the region's
 * size: one maps per process, and one smaps for a process that maps it
 * shared without writing, capped at SCAN_MAX_BYTES of maps text and
 * SMAPS_MAX_BYTES of smaps text: past either, nothing can be said
 * (E2BIG), and the caller keeps assuming a writer.
 */
#include "region/mem/backing.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Of maps text read in one scan: some 100 000 mappings. */
#define SCAN_MAX_BYTES (16u << 20)
/*
 * Of smaps text, read only for a process that maps the memory shared
 * but not writable (some 25 lines a mapping): as many mappings.
 */
#define SMAPS_MAX_BYTES (128u << 20)

/* "/proc/PID/task/TID/smaps", each name a directory entry at most. */
#define PROC_PATH_MAX (2 * 256 + 32)

/*
 * What a scan may still read (SCAN_MAX_BYTES, SMAPS_MAX_BYTES), and the
 * errno of a process's maps it could not read (then nothing can be said).
 */
struct budget {
	size_t maps, smaps;
	int err;
};

struct ident {
	unsigned major, minor;
	uint64_t ino;
};

static bool same(const struct ident *a, unsigned major, unsigned minor,
		 uint64_t ino)
{
	return a->ino && a->ino == ino && a->major == major &&
	       a->minor == minor;
}

/* A /proc file's open failed because its process is gone, or not ours. */
static bool gone_or_not_ours(int err)
{
	return err == ENOENT || err == ESRCH || err == EACCES || err == EPERM;
}

/* A maps (or smaps) line that starts a mapping of the memory, shared. */
static bool shared_of(const char *line, const struct ident *id, size_t n,
		      unsigned long *start, bool *writable)
{
	unsigned long s, e, off;
	unsigned major, minor;
	uint64_t ino;
	char perms[8];

	if (sscanf(line, "%lx-%lx %7s %lx %x:%x %" SCNu64, &s, &e, perms,
		   &off, &major, &minor, &ino) != 7 || perms[3] != 's')
		return false;
	for (size_t i = 0; i < n; i++)
		if (same(&id[i], major, minor, ino)) {
			*start = s;
			*writable = perms[1] == 'w';
			return true;
		}
	return false;
}

/*
 * The first shared mapping of the memory in dir's smaps whose VmFlags say
 * "mw" (mprotect could make it writable): true, with *start.  One read
 * for every such mapping of the process, charged to budget->smaps: a process
 * with thousands of them costs one smaps, not one each.  Unreadable:
 * true, it may.
 */
static bool smaps_writer(const char *dir, const struct ident *id, size_t n,
			 struct budget *budget, unsigned long *start,
			 bool *over)
{
	char path[PROC_PATH_MAX + 8], *line = NULL, *sp, *save;
	bool in = false, mw = false, w;
	unsigned long s = 0;
	size_t cap = 0;
	ssize_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/smaps", dir);
	f = fopen(path, "re");
	if (!f)
		return true;	/* gone, or not ours to read: assume it may */
	while (!mw && (len = getline(&line, &cap, f)) > 0) {
		char *end;

		if ((size_t)len > budget->smaps) {
			*over = true;
			break;
		}
		budget->smaps -= (size_t)len;
		/* A mapping's first line: "start-end perms ...". */
		strtoul(line, &end, 16);
		if (end != line && *end == '-') {
			in = shared_of(line, id, n, &s, &w);
			continue;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0) {
			for (sp = strtok_r(line + 8, " \n", &save); sp;
			     sp = strtok_r(NULL, " \n", &save))
				mw |= strcmp(sp, "mw") == 0;
			if (mw)
				*start = s;
			in = false;
		}
	}
	free(line);
	fclose(f);
	return mw;
}

/*
 * The first shared mapping that can write the memory in dir's maps
 * (dir: /proc/PID or /proc/PID/task/TID): true, with *start.  *lines:
 * whether the file had any.  budget: the bytes of text still allowed.
 */
static bool dir_writer(const char *dir, const struct ident *id, size_t n,
		       struct budget *budget, unsigned long *start, bool *over,
		       bool *lines)
{
	char path[PROC_PATH_MAX + 8], *line = NULL;
	bool found = false, shared_ro = false, w;
	unsigned long s;
	size_t cap = 0;
	ssize_t len;
	FILE *f;

	*lines = false;
	snprintf(path, sizeof(path), "%s/maps", dir);
	f = fopen(path, "re");
	if (!f) {
		/*
		 * Exited meanwhile: nothing mapped; not ours to read (a
		 * process of an ancestor user namespace): skipped, as the
		 * processes /proc does not show.  Any other failure (out of
		 * files or memory) says nothing of its mappings.
		 */
		if (!gone_or_not_ours(errno))
			budget->err = errno;
		return false;
	}
	while (!found && (len = getline(&line, &cap, f)) > 0) {
		*lines = true;
		if ((size_t)len > budget->maps) {
			*over = true;
			break;
		}
		budget->maps -= (size_t)len;
		if (!shared_of(line, id, n, &s, &w))
			continue;
		if (w) {
			found = true;
			*start = s;
		} else if (!shared_ro) {
			/* Where an unreadable smaps leaves it (it may write). */
			shared_ro = true;
			*start = s;
		}
	}
	free(line);
	fclose(f);
	/* Read-only now, but maybe not for good: smaps says, once. */
	if (!found && shared_ro && !*over)
		found = smaps_writer(dir, id, n, budget, start, over);
	return found;
}

/*
 * Process pid's first shared mapping of the memory that can write: true,
 * with *start.  /proc/PID/maps is the main thread's view of the memory,
 * empty once it has exited alone (exit, not exit_group) while other
 * threads go on with every mapping: then one of theirs is read.
 */
static bool maps_writer(const char *pid, const struct ident *id, size_t n,
			struct budget *budget, unsigned long *start, bool *over)
{
	char dir[PROC_PATH_MAX];
	struct dirent *de;
	bool found, lines;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%s", pid);
	found = dir_writer(dir, id, n, budget, start, over, &lines);
	if (found || lines || *over)
		return found;
	snprintf(dir, sizeof(dir), "/proc/%s/task", pid);
	d = opendir(dir);
	if (!d) {
		if (!gone_or_not_ours(errno))
			budget->err = errno;
		return false;
	}
	while (!found && !lines && !*over && !budget->err &&
	       (de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]) ||
		    strcmp(de->d_name, pid) == 0)
			continue;
		snprintf(dir, sizeof(dir), "/proc/%s/task/%s", pid,
			 de->d_name);
		found = dir_writer(dir, id, n, budget, start, over, &lines);
	}
	closedir(d);
	return found;
}

static void comm_of(const char *pid, char *buf, size_t len)
{
	char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/comm", pid);
	buf[0] = '\0';
	f = fopen(path, "re");
	if (f) {
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
}

int region__shared_writers(struct region *r, struct why *why)
{
	char self[16], comm[32];
	struct ident id[2] = { { 0 } };
	struct budget budget = { SCAN_MAX_BYTES, SMAPS_MAX_BYTES, 0 };
	unsigned long start = 0;
	bool found = false, over = false;
	struct dirent *de;
	struct stat st;
	DIR *d;

	/* A copy-on-write region's memory is a private mapping: ours only. */
	if (region__memfd(r) < 0)
		return 0;
	if (fstat(r->memfd, &st))
		return why__set(why, errno, "fstat of the memfd: %s",
				strerror(errno));
	id[0] = (struct ident){ major(st.st_dev), minor(st.st_dev),
				(uint64_t)st.st_ino };
	id[1] = (struct ident){ major((dev_t)atomic_load(&r->alias_dev)),
				minor((dev_t)atomic_load(&r->alias_dev)),
				atomic_load(&r->alias_ino) };
	/* A passthrough writer was open, but the mount's name is unknown. */
	if (id[1].ino && !id[1].major && !id[1].minor)
		return why__set(why, EBUSY, "the mount's device is unknown, so "
				"its mappings cannot be found");
	d = opendir("/proc");
	if (!d)
		return why__set(why, errno, "cannot list /proc: %s",
				strerror(errno));
	/* Ours: the region's own mapping, which the guest and we write seen. */
	snprintf(self, sizeof(self), "%d", (int)getpid());
	while (!found && !over && (de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]) ||
		    strcmp(de->d_name, self) == 0)
			continue;
		found = maps_writer(de->d_name, id, 2, &budget, &start, &over);
		if (!found && budget.err) {
			why__set(why, EBUSY, "the mappings of pid %s cannot be "
				 "read: %s", de->d_name, strerror(budget.err));
			found = true;
		} else if (found) {
			comm_of(de->d_name, comm, sizeof(comm));
			why__set(why, EBUSY, "pid %s (%s) maps it shared and "
				 "may write it (at 0x%lx): unmap it, then "
				 "clear again", de->d_name, comm, start);
		}
	}
	closedir(d);
	if (over)
		return why__set(why, E2BIG, "more than %u MiB of process "
				"mappings (or %u MiB of their smaps) to check",
				SCAN_MAX_BYTES >> 20, SMAPS_MAX_BYTES >> 20);
	return found ? EBUSY : 0;
}
