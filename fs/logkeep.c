/*
 * The kept log (logkeep.h).  MOUNT/log goes with the mount, and a daemon
 * started where there is no syslog (a container, a minimal host) had no
 * other place for its lines: the reason of a refused start or of a crash
 * was lost.  This file stays where an operator looks, under /run (or the
 * user's runtime directory), named after the mountpoint.
 */
#include "fs/logkeep.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t keep_lock = PTHREAD_MUTEX_INITIALIZER;
static char keep_path[PATH_MAX];
static size_t keep_bytes;	/* in the current file, under keep_lock */

/*
 * The mountpoint as `systemd-escape --path` writes it (/tmp/sb: tmp-sb),
 * so an operator can name the file from the mountpoint alone.  -1 when
 * it does not fit.
 */
static int escape_path(const char *path, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	while (*path == '/')
		path++;
	/* The root is "-", as systemd writes it. */
	if (!*path)
		return snprintf(out, len, "-") < (int)len ? 0 : -1;
	for (; *path; path++) {
		unsigned char c = (unsigned char)*path;

		if (c == '/') {
			while (path[1] == '/')
				path++;
			if (!path[1])
				break;	/* a trailing slash */
			if (o + 1 >= len)
				return -1;
			out[o++] = '-';
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == ':' || c == '_' ||
			   (c == '.' && o > 0)) {
			if (o + 1 >= len)
				return -1;
			out[o++] = (char)c;
		} else {
			if (o + 4 >= len)
				return -1;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

/* The directory: root's /run/regionfs, else the user's runtime one. */
static int keep_dir(char *dir, size_t len)
{
	const char *run = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0)
		run = "/run";
	if (!run || run[0] != '/')
		return -ENOENT;
	if ((size_t)snprintf(dir, len, "%s/regionfs", run) >= len)
		return -ENAMETOOLONG;
	/* 0755 as systemd's RuntimeDirectory=regionfs/%i makes it. */
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int logkeep__open(const char *mount)
{
	char dir[PATH_MAX], name[NAME_MAX - 8];
	struct stat st;
	int fd, ret;

	ret = keep_dir(dir, sizeof(dir));
	if (ret)
		return ret;
	if (escape_path(mount, name, sizeof(name)) ||
	    (size_t)snprintf(keep_path, sizeof(keep_path), "%s/%s.log", dir,
			     name) >= sizeof(keep_path)) {
		keep_path[0] = '\0';
		return -ENAMETOOLONG;
	}
	/* Never through a symlink someone put there. */
	fd = open(keep_path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
		  O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0)
		keep_bytes = (size_t)st.st_size;
	return fd;
}

const char *logkeep__path(void)
{
	return keep_path;
}

/*
 * FILE becomes FILE.old and a new FILE takes fd's number, so whoever
 * holds fd goes on writing without knowing.  On failure the old file
 * goes on growing: losing lines would be worse.
 */
static void rotate(int fd)
{
	char old[PATH_MAX + 8];
	int nfd;

	snprintf(old, sizeof(old), "%s.old", keep_path);
	if (rename(keep_path, old) < 0)
		return;
	nfd = open(keep_path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
		   O_CLOEXEC, 0600);
	if (nfd < 0)
		return;
	if (dup3(nfd, fd, O_CLOEXEC) >= 0)
		keep_bytes = 0;
	close(nfd);
}

void logkeep__write(int fd, const char *line, size_t len)
{
	ssize_t n;

	pthread_mutex_lock(&keep_lock);
	if (keep_bytes + len > LOGKEEP_MAX)
		rotate(fd);
	n = write(fd, line, len);
	if (n > 0)
		keep_bytes += (size_t)n;
	pthread_mutex_unlock(&keep_lock);
}
