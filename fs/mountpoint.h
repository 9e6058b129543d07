/*
 * What is at the mountpoint before regionfs mounts there (mountpoint.c).
 * Returns 0 or a positive errno, after one line through fs_log_err.
 */
#ifndef REGIONFS_MOUNTPOINT_H
#define REGIONFS_MOUNTPOINT_H

/*
 * EBUSY when a regionfs is mounted at path already (naming its daemon),
 * or another start there has not mounted within a bound; a directory that
 * holds files is accepted, and said in the log.
 */
int mountpoint__check(const char *path);
/*
 * The mount was made (or failed): another start at the mountpoint, which
 * waits from mountpoint__check on, may check now.  (A start that ends
 * before lets it check by ending.)
 */
void mountpoint__mounted(void);

#endif
