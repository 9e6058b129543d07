/* info's lines (info.h): written when a snapshot is taken, read by --from. */
#include "region/persist/info.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

void persist__info_head(FILE *f, const char *name, time_t taken,
			unsigned nr)
{
	char when[64];
	struct tm tm;

	gmtime_r(&taken, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "snapshot %s\ntaken %s\nregions %u\n", name, when, nr);
}

void persist__info_id(FILE *f, uint64_t id)
{
	fprintf(f, "id 0x%016" PRIx64 "\n", id);
}

void persist__info_parent(FILE *f, const char *name, uint64_t id)
{
	fprintf(f, "parent %s 0x%016" PRIx64 "\n", name, id);
}

void persist__info_diff(FILE *f, const char *name, uint64_t held,
			uint64_t pages, uint64_t bytes, bool through)
{
	fprintf(f, "diff %s holds %" PRIu64 " of %" PRIu64 " pages, "
		"takes %" PRIu64 " bytes, %s\n", name, held, pages, bytes,
		through ? "the rest read through" : "whole");
}

void persist__info_region(FILE *f, const struct persist_info_region *r)
{
	fprintf(f, "region %s mem_size %" PRIu64 " resident %" PRIu64,
		r->name, r->mem_size, r->resident);
	if (r->mapped)
		fprintf(f, " guest_addr 0x%" PRIx64, r->gpa);
	else
		fprintf(f, " guest_addr none");
	fprintf(f, " access %s\n", r->ro ? "ro" : "rw");
	if (r->base && r->base[0])
		fprintf(f, "base %s %s", r->name, r->base);
}

void persist__info_vcpu(FILE *f, const char *state, uint64_t rip,
			uint64_t entry)
{
	if (!state)
		fprintf(f, "vcpu none\n");
	else
		fprintf(f, "vcpu %s\nrip 0x%" PRIx64 "\nentry 0x%" PRIx64 "\n",
			state, rip, entry);
}

void persist__info_state(FILE *f, size_t len, int version)
{
	fprintf(f, "vcpu_state %zu bytes, format %d\n", len, version);
}

void persist__info_console(FILE *f, size_t len)
{
	fprintf(f, "console %zu bytes\n", len);
}

int persist__render_sum(char *buf, size_t len, const char *name,
			uint32_t crc)
{
	return snprintf(buf, len, PERSIST_SUM_FMT, name, crc);
}

int persist__parse_sum(const char *line, size_t len,
		       char name[PARSE_NAME_MAX + 1], uint32_t *crc)
{
	size_t key = strlen(PERSIST_SUM_KEY), n;
	const char *p, *sp;
	uint32_t v = 0;

	if (len < key || memcmp(line, PERSIST_SUM_KEY, key) != 0)
		return ENOENT;
	p = line + key;
	len -= key;
	sp = memchr(p, ' ', len);
	if (!sp)
		return EINVAL;
	n = (size_t)(sp - p);
	if (n == 0 || n > PARSE_NAME_MAX)
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

int persist__info_find_id(char *info, uint64_t *id)
{
	char *line = strstr(info, "\nid "), *end;

	if (!line)
		return ENOENT;
	end = line + 4 + strcspn(line + 4, "\n");
	*end = '\0';
	return persist__parse_id(line + 4, id) ? 0 : EINVAL;
}
