#include "region/util/parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int parse__value(const char *buf, size_t len, char *out, size_t out_len)
{
	size_t start = 0, end = len;

	/* The whole write is one short line: blanks count too. */
	if (len >= out_len || memchr(buf, '\0', len))
		return EINVAL;
	while (start < end && isspace((unsigned char)buf[start]))
		start++;
	while (end > start && isspace((unsigned char)buf[end - 1]))
		end--;
	if (start == end || end - start >= out_len)
		return EINVAL;
	memcpy(out, buf + start, end - start);
	out[end - start] = '\0';
	return 0;
}

int parse__size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	/* strtoull takes "-1" and leading blanks: we take neither. */
	if (!isdigit((unsigned char)s[0]))
		return EINVAL;
	/*
	 * Hex only with 0x; a leading 0 is not octal (010 is ten, as anyone
	 * but a C compiler reads it).
	 */
	errno = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		/* strtoull would take "0x-1" and "0x 1" too. */
		if (!isxdigit((unsigned char)s[2]))
			return EINVAL;
		v = strtoull(s + 2, &end, 16);
	} else {
		v = strtoull(s, &end, 10);
	}
	if (errno)
		return errno == ERANGE ? ERANGE : EINVAL;
	if (end == s)
		return EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	default:
		return EINVAL;
	}
	if (shift) {
		end++;
		/* Accept "64K", "64KiB" and "64KB" alike. */
		if (*end == 'i')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return EINVAL;
		if (v > (UINT64_MAX >> shift))
			return ERANGE;
		v <<= shift;
	}
	*out = v;
	return 0;
}

int parse__gpa(const char *s, uint64_t *out, bool *none)
{
	*none = strcmp(s, "none") == 0;
	if (*none) {
		*out = 0;
		return 0;
	}
	return parse__size(s, out);
}

int parse__region_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || s[0] == '.')
		return EINVAL;
	if (len > PARSE_NAME_MAX)
		return ENAMETOOLONG;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!isalnum((unsigned char)c) && c != '_' && c != '.' &&
		    c != '-')
			return EINVAL;
	}
	return 0;
}

int parse__region_spec(const char *s, struct region_spec *spec)
{
	char buf[PARSE_VALUE_MAX], *size, *at, *flag;
	int ret;

	memset(spec, 0, sizeof(*spec));
	if (strlen(s) >= sizeof(buf))
		return EINVAL;
	strcpy(buf, s);
	size = strchr(buf, ':');
	if (!size)
		return EINVAL;
	*size++ = '\0';
	flag = strchr(size, ':');
	if (flag)
		*flag++ = '\0';
	/* The flags, each at most once, in any order. */
	while (flag) {
		char *next = strchr(flag, ':');

		if (next)
			*next++ = '\0';
		if (strcmp(flag, "ro") == 0 && !spec->ro) {
			spec->ro = true;
		} else if (strcmp(flag, "huge") == 0 && !spec->huge) {
			spec->huge = 2ULL << 20;
		} else if (strncmp(flag, "huge=", 5) == 0 && !spec->huge) {
			ret = parse__size(flag + 5, &spec->huge);
			if (ret || (spec->huge != (2ULL << 20) &&
				    spec->huge != (1ULL << 30)))
				return EINVAL;
		} else {
			return EINVAL;
		}
		flag = next;
	}
	at = strchr(size, '@');
	if (at) {
		*at++ = '\0';
		ret = parse__size(at, &spec->gpa);
		if (ret)
			return ret;
		spec->mapped = true;
	}
	ret = parse__region_name(buf);
	if (ret)
		return ret;
	ret = parse__size(size, &spec->size);
	if (ret)
		return ret;
	if (spec->size == 0)
		return EINVAL;
	strcpy(spec->name, buf);
	return 0;
}
