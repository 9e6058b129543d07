/*
 * Explicit little-endian encoding of saved state, field by field (never a
 * struct dumped as the host lays it out), in records of (tag, length,
 * fields), and the CRC32 that guards a file of them.  One function per
 * record serves both ways: it passes each field's address to the codec,
 * which writes it (encode; with no buffer it only counts the bytes) or
 * reads it (decode).
 *
 * Errors: decoding past the end sets bad; the caller checks it once.
 */
#ifndef REGIONFS_CODEC_H
#define REGIONFS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct codec {
	uint8_t *buf;	/* NULL while measuring an encoding */
	size_t len;	/* bytes of buf (decoding) */
	size_t pos;
	bool decode;
	bool bad;	/* a field ran past the end (decoding) */
};

/*
 * A field of 1, 2, 4 or 8 bytes at v (any unsigned type of that width).
 * Encoding takes const data: the codec only reads it then.
 */
void codec__u8(struct codec *c, void *v);
void codec__u16(struct codec *c, void *v);
void codec__u32(struct codec *c, void *v);
void codec__u64(struct codec *c, void *v);
void codec__bytes(struct codec *c, void *p, size_t n);
/* Encoding: a record's tag and length; end fills the length in. */
size_t codec__rec_begin(struct codec *c, uint32_t tag);
void codec__rec_end(struct codec *c, size_t mark);
/* Decoding: the next record, its fields as a codec of their own. */
bool codec__rec_next(struct codec *c, uint32_t *tag, struct codec *rec);

/* CRC-32 (IEEE 802.3, as zlib and cksum -a crc32b compute it). */
uint32_t codec__crc32(const void *p, size_t n);

#endif
