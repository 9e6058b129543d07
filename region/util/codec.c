/* Little-endian field codec and CRC-32 (codec.h). */
#include "region/util/codec.h"

#include <pthread.h>
#include <string.h>

/* n bytes at the cursor: where to put or take them, or NULL. */
static uint8_t *field(struct codec *c, size_t n)
{
	uint8_t *p;

	if (c->decode && (c->bad || c->len - c->pos < n)) {
		c->bad = true;
		return NULL;
	}
	p = c->buf ? c->buf + c->pos : NULL;
	c->pos += n;
	return p;
}

static void uint_le(struct codec *c, uint64_t *v, size_t n)
{
	uint8_t *p = field(c, n);
	uint64_t x = 0;

	if (!p)
		return;
	if (!c->decode) {
		for (size_t i = 0; i < n; i++)
			p[i] = (uint8_t)(*v >> (8 * i));
		return;
	}
	for (size_t i = 0; i < n; i++)
		x |= (uint64_t)p[i] << (8 * i);
	*v = x;
}

/* Through memcpy: the fields are __u64 and friends, not our types. */
void codec__u8(struct codec *c, void *v)
{
	uint8_t x;
	uint64_t w;

	memcpy(&x, v, 1);
	w = x;
	uint_le(c, &w, 1);
	x = (uint8_t)w;
	memcpy(v, &x, 1);
}

void codec__u16(struct codec *c, void *v)
{
	uint16_t x;
	uint64_t w;

	memcpy(&x, v, 2);
	w = x;
	uint_le(c, &w, 2);
	x = (uint16_t)w;
	memcpy(v, &x, 2);
}

void codec__u32(struct codec *c, void *v)
{
	uint32_t x;
	uint64_t w;

	memcpy(&x, v, 4);
	w = x;
	uint_le(c, &w, 4);
	x = (uint32_t)w;
	memcpy(v, &x, 4);
}

void codec__u64(struct codec *c, void *v)
{
	uint64_t w;

	memcpy(&w, v, 8);
	uint_le(c, &w, 8);
	memcpy(v, &w, 8);
}

void codec__bytes(struct codec *c, void *p, size_t n)
{
	uint8_t *q = field(c, n);

	if (!q)
		return;
	if (c->decode)
		memcpy(p, q, n);
	else
		memcpy(q, p, n);
}

size_t codec__rec_begin(struct codec *c, uint32_t tag)
{
	uint32_t zero = 0;
	size_t mark;

	codec__u32(c, &tag);
	mark = c->pos;
	codec__u32(c, &zero);
	return mark;
}

void codec__rec_end(struct codec *c, size_t mark)
{
	uint32_t len = (uint32_t)(c->pos - mark - 4);
	struct codec at = { .buf = c->buf, .pos = mark };

	codec__u32(&at, &len);
}

bool codec__rec_next(struct codec *c, uint32_t *tag, struct codec *rec)
{
	uint32_t len = 0;

	if (c->bad || c->pos == c->len)
		return false;
	codec__u32(c, tag);
	codec__u32(c, &len);
	if (c->bad || c->len - c->pos < len) {
		c->bad = true;
		return false;
	}
	*rec = (struct codec){ .buf = c->buf + c->pos, .len = len,
			       .decode = true };
	c->pos += len;
	return true;
}

/*
 * Slicing by 8 (Intel's): eight bytes a step through eight tables.  The
 * bitwise loop took 100 us of a 330 us snapshot (its vcpu_state is a few
 * KiB); this one a few.  The tables are made once.
 */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t crc = i;

		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
		crc_table[0][i] = crc;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t codec__crc32(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t crc = 0xffffffffu;

	pthread_once(&crc_once, crc_init);
	for (; n >= 8; n -= 8, b += 8) {
		uint32_t lo = crc ^ ((uint32_t)b[0] | (uint32_t)b[1] << 8 |
				     (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);

		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][b[4]] ^ crc_table[2][b[5]] ^
		      crc_table[1][b[6]] ^ crc_table[0][b[7]];
	}
	while (n--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *b++) & 0xff];
	return ~crc;
}
