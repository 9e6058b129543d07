/* The guest-physical view (phys.h). */
#include "region/inspect/phys.h"
#include "region/mem/region.h"

#include <errno.h>
#include <string.h>

int phys__read(const struct vm_layout *l, void *buf, size_t len,
	       uint64_t gpa)
{
	uint8_t *p = buf;

	while (len) {
		const struct vm_map *next, *m = vm__layout_find(l, gpa, &next);
		size_t chunk = len, n;
		int ret;

		if (!m) {
			/* Zeros up to the next mapping. */
			if (next && next->gpa - gpa < chunk)
				chunk = (size_t)(next->gpa - gpa);
			memset(p, 0, chunk);
		} else {
			if (m->gpa + m->size - gpa < chunk)
				chunk = (size_t)(m->gpa + m->size - gpa);
			ret = region__read(m->r, p, chunk, gpa - m->gpa, &n);
			if (ret)
				return ret;
			/* Short only past a size that changed: zeros. */
			memset(p + n, 0, chunk - n);
		}
		p += chunk;
		gpa += chunk;
		len -= chunk;
	}
	return 0;
}

int phys__write(const struct vm_layout *l, const void *buf, size_t len,
		uint64_t gpa, size_t *done, struct why *why)
{
	const struct vm_map *m = vm__layout_find(l, gpa, NULL);

	*done = 0;
	if (!m)
		return why__set(why, ENXIO, "no region is mapped at 0x%llx",
				(unsigned long long)gpa);
	if (m->gpa + m->size - gpa < len)
		len = (size_t)(m->gpa + m->size - gpa);
	return region__write(m->r, buf, len, gpa - m->gpa, done);
}

int phys__seek_data(const struct vm_layout *l, uint64_t gpa, uint64_t *pos)
{
	/* One step per mapping at most: gaps are crossed whole. */
	while (gpa < vm__layout_end(l)) {
		const struct vm_map *next, *m = vm__layout_find(l, gpa, &next);
		uint64_t p;
		int ret;

		if (!m) {
			gpa = next->gpa;	/* below the end: there is one */
			continue;
		}
		ret = region__seek_data(m->r, gpa - m->gpa, &p);
		if (!ret && p < m->size) {
			*pos = m->gpa + p;
			return 0;
		}
		if (ret && ret != ENXIO)
			return ret;
		gpa = m->gpa + m->size;
	}
	return ENXIO;
}

int phys__seek_hole(const struct vm_layout *l, uint64_t gpa, uint64_t *pos)
{
	uint64_t end = vm__layout_end(l);

	if (gpa >= end)
		return ENXIO;
	while (gpa < end) {
		const struct vm_map *m = vm__layout_find(l, gpa, NULL);
		uint64_t p;
		int ret;

		if (!m)
			break;
		ret = region__seek_hole(m->r, gpa - m->gpa, &p);
		if (ret && ret != ENXIO)
			return ret;
		if (!ret && p < m->size) {
			*pos = m->gpa + p;
			return 0;
		}
		/* Data to its end: a hole follows unless a mapping does. */
		gpa = m->gpa + m->size;
	}
	*pos = gpa;
	return 0;
}

uint64_t phys__resident(const struct vm_layout *l)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < l->n; i++)
		sum += region__resident(l->maps[i].r);
	return sum;
}
