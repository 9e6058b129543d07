/* --from DIR: start from a saved snapshot directory (from.c). */
#ifndef REGIONFS_FROM_H
#define REGIONFS_FROM_H

#include <stdint.h>

/*
 * Build the sandbox and its vCPU (paused) from dir; nothing when dir is
 * NULL.  On a refusal, one line on stderr naming the file and what is
 * wrong, and the errno.
 */
int from__load(const char *dir, uint64_t console_max);

#endif
