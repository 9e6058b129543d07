/*
 * Parsers for what people write into control files and on the command
 * line.  Text only: which names the mount itself uses is not known here.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_PARSE_H
#define REGIONFS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest region or snapshot name. */
#define PARSE_NAME_MAX 64
/* A control value is one short line: anything longer is EINVAL. */
#define PARSE_VALUE_MAX 128

/*
 * Copy buf[0..len) into out without surrounding whitespace (a trailing
 * newline included).  EINVAL when empty, too long or holding a NUL.
 */
int parse__value(const char *buf, size_t len, char *out, size_t out_len);

/* "4096", "0x1000", "64K", "2M", "1G", "1T" (binary units). 0 or ERANGE. */
int parse__size(const char *s, uint64_t *out);
/* A guest-physical address: "none" (sets *none) or a number as parse__size. */
int parse__gpa(const char *s, uint64_t *out, bool *none);
/* Region names: [A-Za-z0-9_.-]{1,64}, not starting with '.'. */
int parse__region_name(const char *s);

struct region_spec {
	char name[PARSE_NAME_MAX + 1];
	uint64_t size;
	bool mapped;
	uint64_t gpa;
	bool ro;
	uint64_t huge;	/* :huge (2M) or :huge=SIZE, 0 without */
};
/* NAME:SIZE[@GPA][:ro][:huge[=SIZE]] as given to --region. */
int parse__region_spec(const char *s, struct region_spec *spec);

#endif
