/*
 * What is at the mountpoint (mountpoint.h).  libfuse mounts over anything,
 * so a second regionfs on a live mount point stacked a new sandbox over
 * the first, which ran on unreachable; and files under the mountpoint
 * vanished from view without a word.  Both are said before mounting.
 */
#include "fs/mountpoint.h"
#include "fs/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/*
 * How long a start waits for another one at the same mountpoint to have
 * mounted (it builds its sandbox first: a --from load may take a while).
 */
#define LOCK_WAIT_MS 60000

/* The mountpoint's directory, locked from the check to the mount. */
static int lock_fd = -1;

/* mountinfo writes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
				      (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/*
 * The type and source of the topmost mount at path (the last line of
 * mountinfo that names it), or 0 when nothing is mounted there.
 */
static int mounted_at(const char *path, char *type, char *source, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return 0;
	while (getline(&line, &cap, f) > 0) {
		/* id parent dev root MOUNTPOINT opts [tags...] - TYPE SOURCE */
		char *field[5], *w, *save = NULL;
		int i = 0;

		for (w = strtok_r(line, " \n", &save); w && i < 5;
		     w = strtok_r(NULL, " \n", &save))
			field[i++] = w;
		if (i < 5)
			continue;
		unescape(field[4]);
		if (strcmp(field[4], path))
			continue;
		while (w && strcmp(w, "-"))
			w = strtok_r(NULL, " \n", &save);
		w = w ? strtok_r(NULL, " \n", &save) : NULL;
		if (!w)
			continue;
		snprintf(type, len, "%s", w);
		w = strtok_r(NULL, " \n", &save);
		snprintf(source, len, "%s", w ? w : "?");
		unescape(source);
		found = 1;
	}
	free(line);
	fclose(f);
	return found;
}

/*
 * The running daemon's pid, from the first line of its log file (each
 * line says "regionfs[PID]:"): 0 when it cannot be read.
 */
static long daemon_pid(const char *path)
{
	char file[4096 + 8], buf[512], *p;
	long pid = 0;

	snprintf(file, sizeof(file), "%s/log", path);
	if (fs_read_text(file, buf, sizeof(buf)) <= 0)
		return 0;
	p = strstr(buf, " regionfs[");
	if (p)
		pid = strtol(p + strlen(" regionfs["), NULL, 10);
	return pid;
}

/* The first name in the directory besides . and .., or NULL. */
static int not_empty(const char *path, char *name, size_t len)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(name, len, "%s", e->d_name);
			found = 1;
		}
	closedir(d);
	return found;
}

/*
 * Two starts at once on one mountpoint would both find nothing there and
 * both mount, the second hiding the first: the check and the mount are
 * made under an flock of the directory, which the other start waits for.
 * It locks the same inode as long as nothing is mounted there, and once
 * the first has mounted, finds its mount.  0, or EBUSY when the other
 * start holds it past LOCK_WAIT_MS; a directory that cannot be opened
 * (no read permission) is checked without the lock.
 */
static int lock_mountpoint(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	for (int ms = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; ms += 50) {
		if (errno != EWOULDBLOCK || ms >= LOCK_WAIT_MS) {
			int err = errno;

			close(fd);
			if (err != EWOULDBLOCK)
				return 0;
			fs_log_err("mountpoint %s refused: another regionfs has "
				   "been starting there for %d s", path,
				   LOCK_WAIT_MS / 1000);
			return EBUSY;
		}
		usleep(50 * 1000);
	}
	lock_fd = fd;
	return 0;
}

void mountpoint__mounted(void)
{
	if (lock_fd >= 0)
		close(lock_fd);
	lock_fd = -1;
}

int mountpoint__check(const char *path)
{
	char type[256], source[256], first[256], pid[32] = "";
	long running;
	int ret = lock_mountpoint(path);

	if (ret)
		return ret;
	if (mounted_at(path, type, source, sizeof(type)) &&
	    strcmp(type, "fuse.regionfs") == 0) {
		running = daemon_pid(path);
		if (running > 0)
			snprintf(pid, sizeof(pid), "pid %ld, ", running);
		fs_log_err("mountpoint %s refused: a regionfs is mounted "
			   "there already (%ssource %s): unmount it first "
			   "(fusermount3 -u %s) or choose another mountpoint",
			   path, pid, source, path);
		mountpoint__mounted();
		return EBUSY;
	}
	if (not_empty(path, first, sizeof(first)))
		fs_log("mountpoint %s is not empty (it holds %s, ...): its "
		       "files are hidden while regionfs is mounted there",
		       path, first);
	return 0;
}
