/*
 * CRC-32C (Castagnoli, iSCSI's and ext4's): the checksum of a saved
 * region's bytes.  SSE4.2's crc32 instruction where the CPU has it (three
 * streams at once, about 20 GB/s), else slicing by 8 tables; the two give
 * the same values.  Runs of zeros (a region's holes) are folded in without
 * being read: appending n zero bytes is a multiplication by x^(8n) modulo
 * the polynomial, O(log n).
 *
 * crc is the running value: 0 for an empty message, then each call
 * extends it, as zlib's crc32().
 */
#ifndef REGIONFS_CRC32C_H
#define REGIONFS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c__extend(uint32_t crc, const void *buf, size_t len);
/* crc extended by len zero bytes. */
uint32_t crc32c__zeros(uint32_t crc, uint64_t len);
/* The table version alone, for the tests that compare the two. */
uint32_t crc32c__extend_table(uint32_t crc, const void *buf, size_t len);

#endif
