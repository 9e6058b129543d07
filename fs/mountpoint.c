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
#include <unistd.h>

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
	ssize_t n;
	int fd;

	snprintf(file, sizeof(file), "%s/log", path);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
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

int mountpoint__check(const char *path)
{
	char type[256], source[256], first[256], pid[32] = "";
	long running;

	if (mounted_at(path, type, source, sizeof(type)) &&
	    strcmp(type, "fuse.regionfs") == 0) {
		running = daemon_pid(path);
		if (running > 0)
			snprintf(pid, sizeof(pid), "pid %ld, ", running);
		fs_log_err("mountpoint %s refused: a regionfs is mounted "
			   "there already (%ssource %s): unmount it first "
			   "(fusermount3 -u %s) or choose another mountpoint",
			   path, pid, source, path);
		return EBUSY;
	}
	if (not_empty(path, first, sizeof(first)))
		fs_log("mountpoint %s is not empty (it holds %s, ...): its "
		       "files are hidden while regionfs is mounted there",
		       path, first);
	return 0;
}
