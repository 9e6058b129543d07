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
 * One reader (an open file): how far its reads were moved past dropped
 * bytes, and the offset its next read follows on from.  Zero at first.
 */
struct ring_reader {
	uint64_t skip;
	uint64_t next;
};

/*
 * The bytes at logical offset off; at or past the end, 0 bytes.  A read
 * that follows on from rd's last one (off == rd->next) is moved by
 * rd->skip; any other is taken as the logical offset.  When that is before
 * the oldest kept byte, the read starts there and skip grows by the gap.
 * So cat reads the kept bytes once from offset 0 and then finds the end,
 * tail -f that fell behind goes on, a seek (tail -c, less, pread) gets the
 * bytes at its logical offset, and nobody reads a byte twice in a row.
 */
size_t ring__read(const struct ring *r, void *buf, size_t len, uint64_t off,
		  struct ring_reader *rd);

#endif
