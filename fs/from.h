/* --from DIR: start from a saved snapshot directory (from.c). */
#ifndef REGIONFS_FROM_H
#define REGIONFS_FROM_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Build the sandbox and its vCPU (paused) from dir; nothing when dir is
 * NULL.  Each region's bytes are checked against the checksum the
 * directory records, unless unchecked (-o from_unchecked).  On a
 * refusal, one line on stderr naming the file and what is wrong, and the
 * errno.
 */
int from__load(const char *dir, bool unchecked, bool copy,
	       uint64_t console_max);
/*
 * Before `run`: the checks a copy-on-write start made after the start
 * (sandbox__from_wait), waited for at most FROM_WAIT_MS; 0 or the errno,
 * with why.
 */
#define FROM_WAIT_MS 30000
struct why;
int from__ready(struct why *why);
/* The lease watcher stopped, before the vCPU and the sandbox go. */
void from__stop(void);

#endif
