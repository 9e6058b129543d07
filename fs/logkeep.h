/*
 * The kept log (logkeep.c): where a daemon with no syslog and no -o log=
 * leaves its lines, so they outlive the mount and the process.  Below
 * state.c: it knows nothing of the daemon's state.  Functions return 0, a
 * file descriptor or a negative errno.
 */
#ifndef REGIONFS_LOGKEEP_H
#define REGIONFS_LOGKEEP_H

#include <stddef.h>

/*
 * Past this many bytes the file is renamed to FILE.old (the one before is
 * dropped) and a new one begun: the last lines are kept, in memory (/run
 * is a tmpfs) no more than twice this per mountpoint.
 */
#define LOGKEEP_MAX (256 * 1024)

/*
 * Open (append, create 0600) the file kept for the mountpoint mount, an
 * absolute path: /run/regionfs/NAME.log for root, else
 * $XDG_RUNTIME_DIR/regionfs/NAME.log, NAME the mountpoint escaped as
 * `systemd-escape --path` does.  The fd, or -errno (-ENOENT: no
 * XDG_RUNTIME_DIR); logkeep__path names the file either way, when it
 * could be named.
 */
int logkeep__open(const char *mount);
const char *logkeep__path(void);
/* Append one line to fd (from logkeep__open), rotating past LOGKEEP_MAX. */
void logkeep__write(int fd, const char *line, size_t len);

#endif
