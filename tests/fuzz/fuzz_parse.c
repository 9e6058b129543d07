/*
 * libFuzzer target: the value parsers, fed what a user could write into a
 * control file or on the command line.  Beyond not crashing, it checks
 * that what a parser accepts is what it says it accepted.
 */
#include "region/util/parse.h"
#include "region/mem/region.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define check(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_parse: %s failed at line %d\n", #cond, __LINE__); \
	abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char val[PARSE_VALUE_MAX], again[PARSE_VALUE_MAX], str[256];
	struct region_spec spec;
	uint64_t v, w;
	bool none;

	if (parse__value((const char *)data, size, val, sizeof(val)) == 0) {
		/*
		 * The write as a whole was one short line (blanks count), with
		 * no NUL; trimmed, bounded.
		 */
		check(size < sizeof(val) && !memchr(data, '\0', size));
		check(strlen(val) > 0 && strlen(val) < sizeof(val));
		check(val[0] != ' ' && val[strlen(val) - 1] != '\n');
		/*
		 * Decimal unless 0x: a leading 0 is never octal.  Checked
		 * whatever the parser answers: digits alone are a size (its
		 * decimal value), or ERANGE past 2^64 - 1; a parser that
		 * refused 010, or read it as 8, fails here.
		 */
		if (strspn(val, "0123456789") == strlen(val)) {
			int ret = parse__size(val, &v);

			errno = 0;
			w = strtoull(val, NULL, 10);
			if (errno == ERANGE)
				check(ret == ERANGE);
			else
				check(ret == 0 && v == w);
		}
		if (parse__size(val, &v) == 0) {
			/* Printing and parsing again gives the same number. */
			snprintf(again, sizeof(again), "%" PRIu64, v);
			check(parse__size(again, &w) == 0 && w == v);
			snprintf(again, sizeof(again), "0x%" PRIx64, v);
			check(parse__size(again, &w) == 0 && w == v);
		}
		if (parse__gpa(val, &v, &none) == 0)
			check(none == (strcmp(val, "none") == 0));
	}

	if (size >= sizeof(str))
		return 0;
	memcpy(str, data, size);
	str[size] = '\0';
	if (parse__region_name(str) == 0) {
		check(strlen(str) >= 1 && strlen(str) <= REGION_NAME_MAX);
		check(str[0] != '.' && !strchr(str, '/'));
	}
	if (parse__region_spec(str, &spec) == 0) {
		check(spec.size > 0);
		check(parse__region_name(spec.name) == 0);
	}
	return 0;
}
