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
	uint64_t restarts;	/* ring__restart calls */
};

int ring__init(struct ring *r, size_t max);
void ring__free(struct ring *r);
/* Append; only the newest max bytes are kept. */
void ring__put(struct ring *r, const void *p, size_t n);
/*
 * Start the stream over with the n bytes at p (a restore): the file
 * shrinks, and every reader reads by logical offset again.
 */
void ring__restart(struct ring *r, const void *p, size_t n);
/*
 * One reader (an open file): how far its reads were moved past dropped
 * bytes (skip), the offset of the read that moved it (lo) and the end of
 * its last read (next).  Zero at first.
 */
struct ring_reader {
	uint64_t skip;
	uint64_t lo;
	uint64_t next;
	uint64_t restarts;	/* the ring's, when it was moved */
};

/*
 * The bytes at offset off for the reader rd; at or past the end, 0 bytes.
 * An offset before the oldest kept byte reads from it, and rd is moved by
 * the gap: its next reads, and seeks back into what it read since (the
 * shell's read, head), go on in its moved offsets; any other offset (a
 * seek from the end, tail's, a pread) is the logical one.  So cat reads
 * the kept bytes once from offset 0, a tail -f that fell behind goes on,
 * tail -c N reads the last N, and nobody reads a byte twice in a row.
 */
size_t ring__read(const struct ring *r, void *buf, size_t len, uint64_t off,
		  struct ring_reader *rd);

#endif
