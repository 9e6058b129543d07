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
int from__load(const char *dir, bool unchecked, uint64_t console_max);

#endif
