/*
 * The memory the daemon's cgroup lets it have: the lowest limit of its
 * memory cgroup and the cgroup's ancestors, cgroup v2 (memory.max) or v1
 * (memory.limit_in_bytes), found through /proc/self/cgroup and
 * /proc/self/mountinfo.  A default limit that only looked at the host's
 * RAM let a snapshot in a 512 MiB cgroup get the daemon OOM-killed.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_MEMLIMIT_H
#define REGIONFS_MEMLIMIT_H

#include <stddef.h>
#include <stdint.h>

/* The limit in bytes, or UINT64_MAX when there is none (or no cgroup). */
uint64_t memlimit__cgroup(void);

/*
 * The directory of the memory cgroup, from the texts of /proc/self/cgroup
 * and /proc/self/mountinfo: out (len bytes), which begins with the
 * hierarchy's mount point (*mount_len bytes), and *v2 which kind.  ENOENT
 * when no memory cgroup is mounted where this process can see it.
 */
int memlimit__dir(const char *cgroup, const char *mountinfo, char *out,
		  size_t len, size_t *mount_len, int *v2);

#endif
