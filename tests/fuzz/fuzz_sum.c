/*
 * libFuzzer target: the checksum record of a saved directory's info
 * (region/persist/info.h), as a damaged or hostile info could hold
 * it, and the CRC-32C it records.  Beyond not crashing: an accepted line
 * renders again (the daemon's own format) to the same name and sum; a
 * whole info is accepted only with every region's sum or none, each
 * once; the hardware and table CRCs agree, also split at any point.
 */
#include "region/sandbox/saved.h"
#include "region/persist/info.h"
#include "region/util/crc32c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define check(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_sum: %s failed at line %d\n", #cond, __LINE__); \
	abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[REGION_NAME_MAX + 1], again[REGION_NAME_MAX + 1], text[128];
	struct saved_region rs[3] = {
		{ .name = "a" }, { .name = "ram" }, { .name = "b.0" },
	};
	struct saved_dir d = { .dir = "fuzz", .dfd = -1, .rs = rs, .nr = 3 };
	struct why why = { "" };
	const char *text_in = (const char *)data;
	uint32_t crc, crc2;
	size_t cut = size ? data[0] % (size + 1) : 0;
	int n, ret;

	if (persist__parse_sum(text_in, size, name, &crc) == 0) {
		n = snprintf(text, sizeof(text), PERSIST_SUM_FMT, name, crc);
		check(n > 0 && (size_t)n < sizeof(text));
		check((size_t)n - 1 == size);
		check(persist__parse_sum(text, (size_t)n - 1, again, &crc2) == 0);
		check(strcmp(name, again) == 0 && crc == crc2);
	}
	ret = saved__sums(&d, text_in, size, &why);
	check(ret == 0 || ret == EINVAL);
	if (ret == 0)
		for (unsigned i = 0; i < 3; i++)
			check(rs[i].summed == d.summed);
	else
		check(why.msg[0] != '\0');

	crc = crc32c__extend(0, data, size);
	check(crc == crc32c__extend_table(0, data, size));
	check(crc == crc32c__extend(crc32c__extend(0, data, cut), data + cut,
				    size - cut));
	return 0;
}
