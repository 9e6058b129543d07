/*
 * What is at the mountpoint before regionfs mounts there (mountpoint.c).
 * Returns 0 or a positive errno, after one line through fs_log_err.
 */
#ifndef REGIONFS_MOUNTPOINT_H
#define REGIONFS_MOUNTPOINT_H

/*
 * EBUSY when a regionfs is mounted at path already (naming its daemon);
 * a directory that holds files is accepted, and said in the log.
 */
int mountpoint__check(const char *path);

#endif
