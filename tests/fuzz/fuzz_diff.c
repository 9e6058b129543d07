/*
 * libFuzzer target: what --from reads of a saved diff snapshot
 * (region/persist/persist.h): its parent file and the lines of its regions'
 * dirty files, as a damaged or hostile directory could hold them.
 * Beyond not crashing: an accepted parent file renders again (the
 * daemon's own format) to a text that parses to the same name and id,
 * and an accepted range is whole pages, ascending, within the size.
 */
#include "region/mem/region.h"
#include "region/persist/persist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define check(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_diff: %s failed at line %d\n", #cond, __LINE__); \
	abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[REGION_NAME_MAX + 1], again[REGION_NAME_MAX + 1], *text;
	uint64_t id, id2, first, end, page = region__page_size();
	size_t n;
	/* The first byte picks a region size and where the last run ended. */
	uint64_t pages = size ? (uint64_t)data[0] * 97 + 1 : 1;
	uint64_t prev = size > 1 ? (uint64_t)(data[1] % 8) * page : 0;
	char *line = malloc(size + 1);

	if (!line)
		abort();
	if (persist__parse_parent((const char *)data, size, name, &id) == 0) {
		check(persist__render_parent(&text, &n, name, id) == 0);
		check(n > 0 && n <= PERSIST_PARENT_MAX);
		check(persist__parse_parent(text, n, again, &id2) == 0);
		check(strcmp(name, again) == 0 && id == id2);
		free(text);
	}
	memcpy(line, data, size);
	line[size] = '\0';
	if (size > 2 && persist__parse_dirty_line(line + 2, page, pages * page,
						  prev, &first, &end) == 0) {
		check(first < end && end <= pages);
		check(first * page >= prev);
	}
	free(line);
	return 0;
}
