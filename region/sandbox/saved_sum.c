/*
 * A saved directory's checksums (region/persist/info.h): read from its
 * info, and checked against the regions --from built (saved.h).  Checked on what
 * was loaded, not on the files: a contents rewritten between the checks
 * and the copy, or during it, is caught whatever it now holds.
 */
#include "region/sandbox/saved.h"
#include "region/persist/info.h"
#include "region/mem/sum.h"

#include <errno.h>
#include <string.h>

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
		ret = persist__parse_sum(info + at, n, name, &crc);
		at += n + 1;
		if (ret == ENOENT)
			continue;
		/* The content is never shown: the line's number and the rule. */
		if (ret)
			return why__set(why, EINVAL, "%s/%s: line %lu is not "
					"\"crc32c REGION 0x\" and 8 lowercase "
					"hex digits", d->dir, PERSIST_INFO,
					lineno);
		s = saved__find(d, name);
		/* A region name, checked: no other content is shown. */
		if (!s)
			return why__set(why, EINVAL, "%s/%s: line %lu is "
					"the checksum of region %s, which the "
					"directory does not hold: the copy is "
					"not whole", d->dir, PERSIST_INFO,
					lineno, name);
		if (s->summed)
			return why__set(why, EINVAL, "%s/%s: line %lu is a "
					"second checksum of region %s", d->dir,
					PERSIST_INFO,
					lineno, s->name);
		s->summed = true;
		s->crc = crc;
		d->summed = true;
	}
	/* A record is whole or absent (saved before there were any). */
	for (unsigned i = 0; d->summed && i < d->nr; i++)
		if (!d->rs[i].summed)
			return why__set(why, EINVAL, "%s/%s: no checksum of "
					"region %s (the record is not whole)",
					d->dir, PERSIST_INFO, d->rs[i].name);
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
				       "%s/%s: %s/%s/%s%s is damaged, "
				       "or changed while it was loaded",
				       s->name, d->dir, PERSIST_INFO, d->dir,
				       s->name, PERSIST_CONTENTS,
				       diff ? " (or a parent's, which this "
				       "diff reads through)" : "");
	}
	return ret;
}
