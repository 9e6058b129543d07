/*
 * libFuzzer target: what --from reads of a saved diff snapshot
 * (region/sandbox/diff.h): its parent file and the lines of its regions'
 * dirty files, as a damaged or hostile directory could hold them.
 * Beyond not crashing: an accepted parent file renders again (the
 * daemon's own format) to a text that parses to the same name and id,
 * and an accepted range is whole pages, ascending, within the size.
 */
#include "region/mem/region.h"
#include "region/sandbox/diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define check(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_diff: %s failed at line %d\n", #cond, __LINE__); \
	abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[REGION_NAME_MAX + 1], again[REGION_NAME_MAX + 1], text[128];
	uint64_t id, id2, first, end, page = region__page_size();
	/* The first byte picks a region size and where the last run ended. */
	uint64_t pages = size ? (uint64_t)data[0] * 97 + 1 : 1;
	uint64_t prev = size > 1 ? (uint64_t)(data[1] % 8) * page : 0;
	char *line = malloc(size + 1);
	int n;

	if (!line)
		abort();
	if (diff__parse_parent((const char *)data, size, name, &id) == 0) {
		n = snprintf(text, sizeof(text), DIFF_PARENT_FMT, name,
			     (unsigned long long)id);
		check(n > 0 && (size_t)n < sizeof(text));
		check(diff__parse_parent(text, (size_t)n, again, &id2) == 0);
		check(strcmp(name, again) == 0 && id == id2);
	}
	memcpy(line, data, size);
	line[size] = '\0';
	if (size > 2 && diff__parse_run(line + 2, pages * page, prev, &first,
					&end) == 0) {
		check(first < end && end <= pages);
		check(first * page >= prev);
	}
	free(line);
	return 0;
}
