/* The text of each saved value (persist.h), rendered and parsed back. */
#include "region/persist/persist.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int persist__render_size(char *buf, size_t len, uint64_t bytes)
{
	return snprintf(buf, len, "%" PRIu64 "\n", bytes);
}

int persist__render_addr(char *buf, size_t len, uint64_t addr)
{
	return snprintf(buf, len, "0x%" PRIx64 "\n", addr);
}

int persist__render_guest_addr(char *buf, size_t len, bool mapped,
			       uint64_t gpa)
{
	return mapped ? persist__render_addr(buf, len, gpa) :
	       snprintf(buf, len, "none\n");
}

int persist__render_access(char *buf, size_t len, bool ro)
{
	return snprintf(buf, len, "%s\n", ro ? "ro" : "rw");
}

int persist__render_dirty_line(char *buf, size_t len, uint64_t from,
			       uint64_t to)
{
	return snprintf(buf, len, "0x%" PRIx64 "-0x%" PRIx64 "\n", from, to);
}

/* "NAME 0xID\n" (ID: 16 hex digits). */
int persist__render_parent(char **text, size_t *len, const char *name,
			   uint64_t id)
{
	int n = asprintf(text, "%s 0x%016llx\n", name, (unsigned long long)id);

	if (n < 0) {
		*text = NULL;
		return ENOMEM;
	}
	*len = (size_t)n;
	return 0;
}

int persist__parse_mem_size(const char *val, uint64_t page, uint64_t max,
			    uint64_t *size)
{
	if (parse__size(val, size) || *size == 0 || *size % page ||
	    *size > max)
		return EINVAL;
	return 0;
}

int persist__parse_raw_size(const char *val, uint64_t page,
			    uint64_t mem_size)
{
	uint64_t raw;

	if (parse__size(val, &raw) || raw != mem_size + 2 * page)
		return EINVAL;
	return 0;
}

int persist__parse_guest_addr(const char *val, uint64_t page, bool *mapped,
			      uint64_t *gpa)
{
	bool none;

	if (parse__gpa(val, gpa, &none) || *gpa % page)
		return EINVAL;
	*mapped = !none;
	return 0;
}

int persist__parse_access(const char *val, bool *ro)
{
	if (strcmp(val, "rw") != 0 && strcmp(val, "ro") != 0)
		return EINVAL;
	*ro = strcmp(val, "ro") == 0;
	return 0;
}

int persist__parse_page_size(const char *val, uint64_t page,
			     uint64_t mem_size, uint64_t *bytes)
{
	if (parse__size(val, bytes) ||
	    (*bytes != page && *bytes != (2ULL << 20) &&
	     *bytes != (1ULL << 30)) || mem_size % *bytes)
		return EINVAL;
	return 0;
}

bool persist__parse_id(const char *s, uint64_t *id)
{
	size_t n = strlen(s);

	if (n < 3 || n > 18 || strncmp(s, "0x", 2) != 0 ||
	    strspn(s + 2, "0123456789abcdefABCDEF") != n - 2)
		return false;
	*id = strtoull(s + 2, NULL, 16);
	return true;
}

int persist__parse_parent(const char *buf, size_t len, char *name,
			  uint64_t *id)
{
	char line[PERSIST_PARENT_MAX], *sp;

	/* One line: a newline only at the end, no NUL. */
	if (len && buf[len - 1] == '\n')
		len--;
	if (len == 0 || len >= sizeof(line) || memchr(buf, '\n', len) ||
	    memchr(buf, '\0', len))
		return EINVAL;
	memcpy(line, buf, len);
	line[len] = '\0';
	sp = strchr(line, ' ');
	if (!sp)
		return EINVAL;
	*sp = '\0';
	if (strlen(line) > PARSE_NAME_MAX || parse__region_name(line) ||
	    !persist__parse_id(sp + 1, id))
		return EINVAL;
	strcpy(name, line);
	return 0;
}

int persist__parse_dirty_line(const char *line, uint64_t page, uint64_t size,
			      uint64_t prev_end, uint64_t *first,
			      uint64_t *end)
{
	char *dash, *rest;
	uint64_t a, b;

	/* strtoull would take blanks and signs: the digits are checked first. */
	if (strncmp(line, "0x", 2) != 0 || !isxdigit((unsigned char)line[2]))
		return EINVAL;
	a = strtoull(line + 2, &dash, 16);
	if (strncmp(dash, "-0x", 3) != 0 || !isxdigit((unsigned char)dash[3]))
		return EINVAL;
	b = strtoull(dash + 3, &rest, 16);
	if ((*rest != '\0' && strcmp(rest, "\n") != 0) ||
	    dash - line > 18 || rest - dash > 19 ||
	    a % page || b % page || a >= b || b > size || a < prev_end)
		return EINVAL;
	*first = a / page;
	*end = b / page;
	return 0;
}
