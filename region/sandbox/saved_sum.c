/*
 * A saved directory's checksums (saved_sum.h): read from its info, and
 * checked against the regions --from built (saved.h).  Checked on what
 * was loaded, not on the files: a contents rewritten between the checks
 * and the copy, or during it, is caught whatever it now holds.
 */
#include "region/sandbox/saved.h"
#include "region/sandbox/saved_sum.h"
#include "region/mem/sum.h"

#include <errno.h>
#include <string.h>

int saved__parse_sum(const char *line, size_t len,
		     char name[REGION_NAME_MAX + 1], uint32_t *crc)
{
	size_t key = strlen(SAVED_SUM_KEY), n;
	const char *p, *sp;
	uint32_t v = 0;

	if (len < key || memcmp(line, SAVED_SUM_KEY, key) != 0)
		return ENOENT;
	p = line + key;
	len -= key;
	sp = memchr(p, ' ', len);
	if (!sp)
		return EINVAL;
	n = (size_t)(sp - p);
	if (n == 0 || n > REGION_NAME_MAX)
		return EINVAL;
	memcpy(name, p, n);
	name[n] = '\0';
	/* A NUL in it would cut the name short of what the line says. */
	if (strlen(name) != n || parse__region_name(name))
		return EINVAL;
	p = sp + 1;
	len -= n + 1;
	if (len != 10 || p[0] != '0' || p[1] != 'x')
		return EINVAL;
	for (size_t i = 2; i < 10; i++) {
		char c = p[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return EINVAL;
		v = v << 4 | d;
	}
	*crc = v;
	return 0;
}

int saved__sums(struct saved_dir *d, const char *info, size_t len,
		struct why *why)
{
	char name[REGION_NAME_MAX + 1];
	unsigned long lineno = 0;
	size_t at = 0;

	while (at < len) {
		const char *nl = memchr(info + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (info + at)) : len - at;
		struct saved_region *s;
		uint32_t crc;
		int ret;

		lineno++;
		ret = saved__parse_sum(info + at, n, name, &crc);
		at += n + 1;
		if (ret == ENOENT)
			continue;
		/* The content is never shown: the line's number and the rule. */
		if (ret)
			return why__set(why, EINVAL, "%s/info: line %lu is not "
					"\"crc32c REGION 0x\" and 8 lowercase "
					"hex digits", d->dir, lineno);
		s = saved__find(d, name);
		/* A region name, checked: no other content is shown. */
		if (!s)
			return why__set(why, EINVAL, "%s/info: line %lu is "
					"the checksum of region %s, which the "
					"directory does not hold: the copy is "
					"not whole", d->dir, lineno, name);
		if (s->summed)
			return why__set(why, EINVAL, "%s/info: line %lu is a "
					"second checksum of region %s", d->dir,
					lineno, s->name);
		s->summed = true;
		s->crc = crc;
		d->summed = true;
	}
	/* A record is whole or absent (saved before there were any). */
	for (unsigned i = 0; d->summed && i < d->nr; i++)
		if (!d->rs[i].summed)
			return why__set(why, EINVAL, "%s/info: no checksum of "
					"region %s (the record is not whole)",
					d->dir, d->rs[i].name);
	return 0;
}

int saved__verify(struct sandbox *sb, struct saved_dir *d, bool diff,
		  uint8_t *buf, struct why *why)
{
	int ret = 0;

	for (unsigned i = 0; d->summed && !ret && i < d->nr; i++) {
		struct saved_region *s = &d->rs[i];
		struct region *r = sandbox__find(sb, s->name, NULL);
		uint32_t crc;

		if (!r)
			return why__set(why, ENOENT, "region %s: not built",
					s->name);
		ret = sum__region(r, buf, &crc);
		region__put(r);
		if (ret)
			why__set(why, ret, "region %s: cannot read it back: %s",
				 s->name, strerror(ret));
		else if (crc != s->crc)
			ret = why__set(why, EINVAL, "region %s: the bytes "
				       "loaded do not match its checksum in "
				       "%s/info: %s/%s/contents%s is damaged, "
				       "or changed while it was loaded",
				       s->name, d->dir, d->dir, s->name,
				       diff ? " (or a parent's, which this "
				       "diff reads through)" : "");
	}
	return ret;
}
