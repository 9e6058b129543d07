/*
 * CRC-32C (crc32c.h).  The arithmetic is zlib's (crc32_combine): the
 * register is a polynomial over GF(2), reflected, so that x^0 is bit 31.
 * Data d run from register r gives r * x^(8|d|) + R(0, d); so three
 * streams A, B, C of L bytes each, run from r, 0 and 0 at the same time,
 * join as R(r, A) * x^(16L) + R(0, B) * x^(8L) + R(0, C).  The two
 * multiplications by constants are four table lookups each.
 */
#include "region/util/crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82f63b78u	/* reflected 0x1edc6f41 */
/* One stream's share of a three-stream block. */
#define LONG_BLOCK 8192
#define SHORT_BLOCK 256

static uint32_t table[8][256];
/* Multiplication by x^(8 LONG_BLOCK) and x^(16 LONG_BLOCK), and SHORT's. */
static uint32_t long1[4][256], long2[4][256], short1[4][256], short2[4][256];
/*
 * x^(2^k) mod P, for the zeros of any length: k = 3 + bit of a 64-bit
 * byte count, up to 66.  Not zlib's 32 entries taken k & 31: CRC-32's
 * x^(2^k) repeats every 32 k, CRC-32C's every 31, so a wrap made holes
 * of 512 MiB and more fold in as the wrong power of x.
 */
#define X2N 67
static uint32_t x2n[X2N];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int have_sse42;

/* a * b mod P, reflected. */
static uint32_t multmodp(uint32_t a, uint32_t b)
{
	uint32_t m = 1u << 31, p = 0;

	for (;;) {
		if (a & m) {
			p ^= b;
			if ((a & (m - 1)) == 0)
				break;
		}
		m >>= 1;
		b = b & 1 ? (b >> 1) ^ POLY : b >> 1;
	}
	return p;
}

/* x^(n 2^k) mod P. */
static uint32_t x2nmodp(uint64_t n, unsigned k)
{
	uint32_t p = 1u << 31;	/* x^0 */

	while (n) {
		if (n & 1)
			p = multmodp(x2n[k], p);
		n >>= 1;
		k++;
	}
	return p;
}

static void shift_table(uint32_t t[4][256], uint32_t k)
{
	for (unsigned i = 0; i < 4; i++)
		for (uint32_t b = 0; b < 256; b++)
			t[i][b] = multmodp(k, b << (8 * i));
}

static uint32_t shift(uint32_t t[4][256], uint32_t crc)
{
	return t[0][crc & 0xff] ^ t[1][(crc >> 8) & 0xff] ^
	       t[2][(crc >> 16) & 0xff] ^ t[3][crc >> 24];
}

static void init(void)
{
	uint32_t p = 1u << 30;	/* x^1 */

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^
				      table[0][table[t - 1][i] & 0xff];
	x2n[0] = p;
	for (int k = 1; k < X2N; k++)
		x2n[k] = p = multmodp(p, p);
	shift_table(long1, x2nmodp(LONG_BLOCK, 3));
	shift_table(long2, x2nmodp(2 * LONG_BLOCK, 3));
	shift_table(short1, x2nmodp(SHORT_BLOCK, 3));
	shift_table(short2, x2nmodp(2 * SHORT_BLOCK, 3));
#if defined(__x86_64__)
	have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}

/* The register (not inverted) over buf, by tables. */
static uint32_t run_table(uint32_t c, const uint8_t *b, size_t n)
{
	for (; n >= 8; n -= 8, b += 8) {
		uint32_t lo = c ^ ((uint32_t)b[0] | (uint32_t)b[1] << 8 |
				   (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);

		c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		    table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
		    table[3][b[4]] ^ table[2][b[5]] ^ table[1][b[6]] ^
		    table[0][b[7]];
	}
	while (n--)
		c = (c >> 8) ^ table[0][(c ^ *b++) & 0xff];
	return c;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

/*
 * Three streams of block bytes, joined: the instruction's latency is
 * three cycles and its throughput one, so one stream runs at a third.
 */
__attribute__((target("sse4.2")))
static uint32_t run_blocks(uint64_t c0, const uint8_t **pb, size_t *pn,
			   size_t block, uint32_t t1[4][256],
			   uint32_t t2[4][256])
{
	const uint8_t *b = *pb;
	size_t n = *pn;

	while (n >= 3 * block) {
		uint64_t c1 = 0, c2 = 0, w0, w1, w2;

		for (size_t i = 0; i < block; i += 8) {
			memcpy(&w0, b + i, 8);
			memcpy(&w1, b + block + i, 8);
			memcpy(&w2, b + 2 * block + i, 8);
			c0 = _mm_crc32_u64(c0, w0);
			c1 = _mm_crc32_u64(c1, w1);
			c2 = _mm_crc32_u64(c2, w2);
		}
		c0 = shift(t2, (uint32_t)c0) ^ shift(t1, (uint32_t)c1) ^
		     (uint32_t)c2;
		b += 3 * block;
		n -= 3 * block;
	}
	*pb = b;
	*pn = n;
	return (uint32_t)c0;
}

__attribute__((target("sse4.2")))
static uint32_t run_sse42(uint32_t c, const uint8_t *b, size_t n)
{
	uint64_t w;

	c = run_blocks(c, &b, &n, LONG_BLOCK, long1, long2);
	c = run_blocks(c, &b, &n, SHORT_BLOCK, short1, short2);
	for (; n >= 8; n -= 8, b += 8) {
		memcpy(&w, b, 8);
		c = (uint32_t)_mm_crc32_u64(c, w);
	}
	while (n--)
		c = _mm_crc32_u8(c, *b++);
	return c;
}
#endif

uint32_t crc32c__extend(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&once, init);
#if defined(__x86_64__)
	if (have_sse42)
		return ~run_sse42(~crc, buf, len);
#endif
	return ~run_table(~crc, buf, len);
}

uint32_t crc32c__extend_table(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&once, init);
	return ~run_table(~crc, buf, len);
}

uint32_t crc32c__zeros(uint32_t crc, uint64_t len)
{
	pthread_once(&once, init);
	if (!len)
		return crc;
	return ~multmodp(x2nmodp(len, 3), ~crc);
}
