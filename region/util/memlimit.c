/*
 * The cgroup's memory limit (memlimit.h).  The cgroup's path is relative
 * to the root of the hierarchy as mounted (mountinfo's fourth field: not
 * "/" inside a cgroup namespace or a bind mount); each directory from it
 * up to the mount is asked, since a parent's limit binds its children.
 */
#include "region/util/memlimit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Both files are small: a few KiB, and mountinfo's lines are bounded. */
#define PROC_TEXT_MAX (256 << 10)

/* The cgroup path of the v2 line ("0::PATH") or v1's memory line. */
static bool cgroup_path(const char *cgroup, bool v2, char *out, size_t len)
{
	for (const char *l = cgroup; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : l) {
		const char *c1 = strchr(l, ':'), *c2, *end;
		bool match = false;

		if (!c1 || !(c2 = strchr(c1 + 1, ':')))
			continue;
		end = strchr(c2, '\n');
		if (!end)
			end = c2 + strlen(c2);
		if (v2) {
			match = c2 == c1 + 1 && c1 - l == 1 && l[0] == '0';
		} else {
			/* "4:memory:/x", or memory among others "4:cpu,memory:/x". */
			for (const char *p = c1 + 1; p < c2;) {
				const char *q = memchr(p, ',', (size_t)(c2 - p));
				size_t n = (size_t)((q ? q : c2) - p);

				match |= n == 6 && memcmp(p, "memory", 6) == 0;
				p = q ? q + 1 : c2;
			}
		}
		if (match && (size_t)(end - c2 - 1) < len) {
			snprintf(out, len, "%.*s", (int)(end - c2 - 1), c2 + 1);
			return true;
		}
	}
	return false;
}

/* The mount of the v2 hierarchy, or of v1's memory: its root and where. */
static bool mount_of(const char *mountinfo, bool v2, char *root, char *at,
		     size_t len)
{
	const char *l = mountinfo;

	while (l && *l) {
		const char *end = strchr(l, '\n');
		char line[1024], r[PATH_MAX], m[PATH_MAX], type[32], opts[512];
		const char *dash;
		size_t n = end ? (size_t)(end - l) : strlen(l);

		if (n < sizeof(line)) {
			memcpy(line, l, n);
			line[n] = '\0';
			dash = strstr(line, " - ");
			if (dash && sscanf(line, "%*s %*s %*s %4095s %4095s", r, m) == 2 &&
			    sscanf(dash + 3, "%31s %*s %511s", type, opts) == 2 &&
			    (v2 ? strcmp(type, "cgroup2") == 0 :
			     strcmp(type, "cgroup") == 0 &&
			     (strstr(opts, ",memory") || strncmp(opts, "memory", 6) == 0)) &&
			    strlen(r) < len && strlen(m) < len) {
				strcpy(root, r);
				strcpy(at, m);
				return true;
			}
		}
		l = end ? end + 1 : NULL;
	}
	return false;
}

int memlimit__dir(const char *cgroup, const char *mountinfo, char *out,
		  size_t len, size_t *mount_len, int *v2)
{
	char path[PATH_MAX], root[PATH_MAX], at[PATH_MAX];
	const char *rel;
	int n;

	/* v1's memory controller first: where it is mounted, v2 has none. */
	for (int k = 0; k < 2; k++) {
		bool two = k == 1;
		size_t rl;

		if (!cgroup_path(cgroup, two, path, sizeof(path)) ||
		    !mount_of(mountinfo, two, root, at, sizeof(root)))
			continue;
		rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
		if (rl && (strncmp(path, root, rl) != 0 ||
			   (path[rl] != '/' && path[rl] != '\0')))
			continue;	/* outside the mount: not visible */
		rel = path + rl;
		n = snprintf(out, len, "%s%s", at, rel);
		if (n < 0 || (size_t)n >= len)
			return ENAMETOOLONG;
		/* "/" alone: the mount point itself. */
		if (n > 1 && out[n - 1] == '/')
			out[n - 1] = '\0';
		*mount_len = strlen(at);
		*v2 = two;
		return 0;
	}
	return ENOENT;
}

static char *slurp(const char *path)
{
	char *buf = malloc(PROC_TEXT_MAX);
	size_t got = 0;
	ssize_t n;
	int fd;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return NULL;
	}
	while (got < PROC_TEXT_MAX - 1 &&
	       (n = read(fd, buf + got, PROC_TEXT_MAX - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	return buf;
}

/* A limit file's value: "max" (v2) or v1's huge "no limit" are none. */
static uint64_t limit_in(const char *dir, const char *file)
{
	char path[PATH_MAX + 32], buf[64];
	unsigned long long v;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return UINT64_MAX;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return UINT64_MAX;
	buf[n] = '\0';
	if (sscanf(buf, "%llu", &v) != 1)
		return UINT64_MAX;	/* "max" */
	return v;
}

uint64_t memlimit__cgroup(void)
{
	char *cg = slurp("/proc/self/cgroup"), *mi = slurp("/proc/self/mountinfo");
	char dir[PATH_MAX];
	uint64_t limit = UINT64_MAX;
	size_t mount_len;
	int v2 = 0;

	/* From the cgroup up to the hierarchy's root, the mount point. */
	if (cg && mi && memlimit__dir(cg, mi, dir, sizeof(dir), &mount_len,
				      &v2) == 0) {
		for (;;) {
			uint64_t l = limit_in(dir, v2 ? "memory.max" :
					      "memory.limit_in_bytes");
			char *slash = strrchr(dir, '/');

			if (l < limit)
				limit = l;
			if (strlen(dir) <= mount_len || !slash)
				break;
			*slash = '\0';
		}
	}
	free(cg);
	free(mi);
	return limit;
}
