/*
 * Opening beneath a saved directory (open.h).  openat2 resolves the
 * path beneath the directory with no symlink anywhere on it; a file is
 * first opened O_PATH, which runs no driver and cannot block, and only
 * when fstat says it is a regular file is it opened for reading, through
 * /proc/self/fd: the same inode, whatever was renamed over its name
 * meanwhile.  A directory is opened at once with O_DIRECTORY, which the
 * kernel checks before opening anything.
 */
#include "region/persist/open.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Without openat2 (before Linux 5.6, or a seccomp filter that does not
 * know it: ENOSYS from Docker 20.10 on, EPERM before it and from most
 * filters' default): one component at a time, none followed, ".."
 * refused.  The names are the caller's, checked.  An open that really
 * is not permitted is refused here the same.
 */
static int open_walk(int dfd, const char *path, int flags)
{
	char buf[PATH_MAX], *p = buf, *slash;
	int fd = dfd, next;

	if (path[0] == '/' || snprintf(buf, sizeof(buf), "%s", path) >=
			      (int)sizeof(buf)) {
		errno = EXDEV;
		return -1;
	}
	for (;;) {
		slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (strcmp(p, "..") == 0) {
			next = -1;
			errno = EXDEV;
		} else {
			next = openat(fd, p, (slash ? O_PATH | O_DIRECTORY :
					      flags) | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd != dfd) {
			int err = errno;

			close(fd);
			errno = err;
		}
		if (next < 0 || !slash)
			return next;
		fd = next;
		p = slash + 1;
	}
}

static int open_beneath(int dfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dfd, path, &how, sizeof(how));

	return fd < 0 && (errno == ENOSYS || errno == EPERM) ?
	       open_walk(dfd, path, flags) : fd;
}

static const char *kind(mode_t mode)
{
	if (S_ISLNK(mode))
		return "a symlink";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISDIR(mode))
		return "a directory";
	return "not a regular file";
}

static int refuse_kind(const char *dir, const char *path, mode_t mode,
		       bool want_dir, struct why *why)
{
	int err = S_ISLNK(mode) ? ELOOP : want_dir ? ENOTDIR : EINVAL;

	return why__set(why, err, "%s/%s: %s, not a %s (a saved directory "
			"holds only regular files and directories)", dir,
			path, kind(mode), want_dir ? "directory" :
			"regular file");
}

/* Why openat2 said no, in the terms of a saved directory. */
static int refuse_open(const char *dir, const char *path, int err,
		       bool want_dir, struct why *why)
{
	if (err == ELOOP)
		return why__set(why, err, "%s/%s: a symlink on the way, or "
				"it is one (a saved directory holds none)",
				dir, path);
	if (err == EXDEV)
		return why__set(why, err, "%s/%s: leads out of the directory",
				dir, path);
	if (err == ENOTDIR && want_dir)
		return why__set(why, err, "%s/%s: not a directory", dir, path);
	return why__set(why, err, "%s/%s: %s", dir, path, strerror(err));
}

int persist__open(int dfd, const char *dir, const char *path, bool want_dir,
		  int *fd, struct stat *st, struct why *why)
{
	char proc[64];
	struct stat again;
	int pfd, ret = 0;

	*fd = -1;
	if (want_dir) {
		*fd = open_beneath(dfd, path, O_RDONLY | O_DIRECTORY);
		/* A symlink at the end says ENOTDIR: say what it is. */
		if (*fd < 0 && errno == ENOTDIR) {
			pfd = open_beneath(dfd, path, O_PATH);
			ret = pfd >= 0 && fstat(pfd, st) == 0 ?
			      refuse_kind(dir, path, st->st_mode, true, why) :
			      refuse_open(dir, path, ENOTDIR, true, why);
			if (pfd >= 0)
				close(pfd);
			return ret;
		}
		if (*fd < 0)
			return refuse_open(dir, path, errno, true, why);
		if (fstat(*fd, st) < 0) {
			ret = errno;
			close(*fd);
			*fd = -1;
			return why__set(why, ret, "%s/%s: %s", dir, path,
					strerror(ret));
		}
		return 0;
	}
	pfd = open_beneath(dfd, path, O_PATH);
	if (pfd < 0)
		return refuse_open(dir, path, errno, false, why);
	if (fstat(pfd, st) < 0)
		ret = why__set(why, errno, "%s/%s: %s", dir, path,
			       strerror(errno));
	else if (!S_ISREG(st->st_mode))
		ret = refuse_kind(dir, path, st->st_mode, false, why);
	if (!ret) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
		*fd = open(proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		/*
		 * ENOENT is /proc's, not the file's (pfd holds it): without
		 * /proc, a chroot or a container that did not mount it.
		 */
		if (*fd < 0 && errno == ENOENT)
			ret = why__set(why, errno, "%s/%s: cannot reopen it "
				       "through %s: is /proc mounted? (--from "
				       "opens a file checked, and only that "
				       "one, through /proc/self/fd)", dir,
				       path, proc);
		else if (*fd < 0)
			ret = why__set(why, errno, "%s/%s: %s (reopening it "
				       "through /proc/self/fd)", dir, path,
				       strerror(errno));
	}
	/* The file checked is the file opened. */
	if (!ret && (fstat(*fd, &again) < 0 || again.st_ino != st->st_ino ||
		     again.st_dev != st->st_dev || !S_ISREG(again.st_mode)))
		ret = why__set(why, EINVAL, "%s/%s: changed while it was "
			       "opened", dir, path);
	if (ret && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	close(pfd);
	return ret;
}
