/*
 * What another uid asks costs it, not the owner: a worker thread serving
 * a request of a uid other than the owner (uid=) and root runs at the
 * lowest priority (nice 19) for that request, so a crowd of other uids'
 * cheap requests (stat, statfs, reads) cannot take the CPU from the
 * owner's control writes (a snapshot of 4096 regions).  Each request is
 * still served: CFS gives a nice-19 thread a small share, never none.
 */
#ifndef REGIONFS_FAIR_H
#define REGIONFS_FAIR_H

#include <stdbool.h>
#include <sys/types.h>

/* Whether the workers can be put back (CAP_SYS_NICE): else fair is off. */
bool fair__init(void);
/* The calling worker is about to serve a request of uid. */
void fair__request(uid_t uid);

#endif
