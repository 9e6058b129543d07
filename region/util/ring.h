/*
 * A byte ring that keeps the last max bytes of a stream, read by logical
 * offset like a growing file: the guest's console, the daemon's log.
 * The caller locks.  Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_RING_H
#define REGIONFS_RING_H

#include <stddef.h>
#include <stdint.h>

struct ring {
	uint8_t *buf;
	size_t max;
	uint64_t end;	/* bytes ever written: the file's size */
};

int ring__init(struct ring *r, size_t max);
void ring__free(struct ring *r);
/* Append; only the newest max bytes are kept. */
void ring__put(struct ring *r, const void *p, size_t n);
/*
 * The bytes at logical offset off + *skip; at or past the end, 0 bytes.
 * *skip is the reader's own (one per open, 0 at first): when its offset is
 * before the oldest kept byte, *skip grows so that it reads from there, and
 * its next offsets follow on.  So cat reads the kept bytes once from offset
 * 0, tail -f that fell behind goes on, and nobody reads a byte twice.
 */
size_t ring__read(const struct ring *r, void *buf, size_t len, uint64_t off,
		  uint64_t *skip);

#endif
