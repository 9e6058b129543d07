/* A saved binary file's header (header.h). */
#include "region/persist/header.h"
#include "region/util/codec.h"

#include <errno.h>
#include <string.h>

/* One function both ways, as the codec's records are. */
static void fields(struct codec *c, char *magic, uint32_t *version,
		   uint32_t *hsize, uint64_t *total, uint32_t *crc,
		   uint32_t *reserved)
{
	codec__bytes(c, magic, PERSIST_MAGIC_LEN);
	codec__u32(c, version);
	codec__u32(c, hsize);
	codec__u64(c, total);
	codec__u32(c, crc);
	codec__u32(c, reserved);
}

void persist__header_put(const struct persist_kind *k, uint8_t *buf,
			 uint64_t total)
{
	struct codec c = { .buf = buf };
	uint32_t version = k->version, hsize = PERSIST_HEADER_SIZE,
		 reserved = 0, crc;
	char magic[PERSIST_MAGIC_LEN];

	crc = codec__crc32(buf + PERSIST_HEADER_SIZE,
			   total - PERSIST_HEADER_SIZE);
	memcpy(magic, k->magic, sizeof(magic));
	fields(&c, magic, &version, &hsize, &total, &crc, &reserved);
}

int persist__header_check(const struct persist_kind *k, const void *buf,
			  size_t len, struct why *why)
{
	struct codec c = { .buf = (uint8_t *)buf, .len = len, .decode = true };
	uint32_t version = 0, hsize = 0, crc = 0, reserved = 0, got;
	char magic[PERSIST_MAGIC_LEN];
	uint64_t total = 0;

	if (len < PERSIST_HEADER_SIZE)
		return why__set(why, EINVAL, "%zu bytes: truncated (the header "
				"alone takes %d)", len, PERSIST_HEADER_SIZE);
	fields(&c, magic, &version, &hsize, &total, &crc, &reserved);
	if (memcmp(magic, k->magic, sizeof(magic)) != 0)
		return why__set(why, EINVAL, "not a %s file (bad magic)",
				k->name);
	if (version != k->version)
		return why__set(why, EINVAL, "not format version %u, the one "
				"this regionfs reads", k->version);
	if (hsize != PERSIST_HEADER_SIZE || reserved != 0)
		return why__set(why, EINVAL, "a damaged header (its size or "
				"reserved field)");
	if (total != len)
		return why__set(why, EINVAL, "%zu bytes, not the length its "
				"header says: %s", len,
				len < total ? "truncated" : "extended");
	got = codec__crc32((const uint8_t *)buf + PERSIST_HEADER_SIZE,
			   len - PERSIST_HEADER_SIZE);
	if (got != crc)
		return why__set(why, EINVAL, "CRC-32 of the payload is not the "
				"header's: damaged");
	return 0;
}
