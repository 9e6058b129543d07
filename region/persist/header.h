/*
 * The header of a saved binary file (vcpu_state, persist.h), as
 * Firecracker's snapshot file carries one: damage is seen before any
 * field is believed.  32 bytes, little-endian:
 *
 *   magic, 8 bytes ("RFSVCPU\0")   u32 version   u32 header size (32)
 *   u64 total length (header + payload)   u32 CRC-32 of the payload
 *   u32 reserved (0)
 *
 * The payload is its owner's (region/kvm/state_file.c: the vCPU's
 * records), with its own version number.
 *
 * Errors: 0 or EINVAL, with why saying what is wrong.
 */
#ifndef REGIONFS_PERSIST_HEADER_H
#define REGIONFS_PERSIST_HEADER_H

#include "region/util/why.h"

#include <stddef.h>
#include <stdint.h>

#define PERSIST_HEADER_SIZE 32
#define PERSIST_MAGIC_LEN 8

/* What a file's header says it is. */
struct persist_kind {
	const char *name;		/* the file's, for messages */
	char magic[PERSIST_MAGIC_LEN];
	uint32_t version;
};

/*
 * The header over buf's first PERSIST_HEADER_SIZE bytes, for a file of
 * total bytes whose payload follows it (its CRC taken now).
 */
void persist__header_put(const struct persist_kind *k, uint8_t *buf,
			 uint64_t total);
/*
 * buf (len bytes) starts with k's header and is as long as it says,
 * with the payload's CRC: EINVAL saying which of these it is not
 * (truncated, bad magic, another version, a damaged header, another
 * length, another CRC).
 */
int persist__header_check(const struct persist_kind *k, const void *buf,
			  size_t len, struct why *why);

#endif
