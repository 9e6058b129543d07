/*
 * The files of a snapshot's directory besides its copies: vcpu_state (the
 * saved vCPU, vcpu.h's format), console (the console's kept bytes, saved
 * with the vCPU) and info (a summary for people, and the checksums of the
 * copies' bytes).  Made once when the snapshot is taken (the checksums at
 * the first read of info): the snapshot never changes, so neither do
 * they, and a read costs the bytes it returns.
 */
#include "region/sandbox/snaps.h"
#include "region/kvm/vcpu.h"
#include "region/sandbox/diff.h"
#include "region/persist/info.h"
#include "region/mem/overlay.h"
#include "region/mem/sum.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void info_text(struct snapshot *s, FILE *f)
{
	size_t len;

	persist__info_head(f, s->name, s->created.tv_sec, s->nr);
	diff__info(s, f);
	for (unsigned i = 0; i < s->nr; i++) {
		struct region *c = s->regions[i].region;
		char base[PATH_MAX + 32];
		struct persist_info_region line = {
			.name = region__name(c),
			.mem_size = region__mem_size(c),
			.resident = region__resident(c),
			.ro = region__guest_ro(c),
			.base = base,
		};

		region__base_text(c, base, sizeof(base), true);
		line.mapped = region__snap_gpa(c, &line.gpa);
		persist__info_region(f, &line);
	}
	if (!s->cpu) {
		persist__info_vcpu(f, NULL, 0, 0);
	} else {
		struct vcpu_config cfg = { 0 };

		vcpu__saved_config(s->cpu, &cfg);
		persist__info_vcpu(f, vcpu__state_name(vcpu__saved_state(s->cpu)),
				   vcpu__saved_rip(s->cpu), cfg.entry);
	}
	persist__info_state(f, s->state_len, VCPU_STATE_VERSION);
	vcpu__saved_console(s->cpu, &len);
	persist__info_console(f, len);
	/* Placeholders of the checksums' length (snaps.h): last. */
	fflush(f);
	s->sums_at = (size_t)ftell(f);
	for (unsigned i = 0; i < s->nr; i++)
		fprintf(f, PERSIST_SUM_FMT,
			region__name(s->regions[i].region), 0u);
}

/*
 * Copy c of s summed: a diff's copy that reads through its parent's
 * copy from the parent's sum (made first, if it was not), and the pages
 * it holds (sum__diff); any other whole.
 */
static int sum_copy(struct snapshot *s, struct region *c, uint8_t *buf,
		    uint32_t *crc)
{
	const struct overlay *o = overlay__of(c);
	struct snapshot *p = s->parent;
	const char *text;
	size_t len;

	for (unsigned j = 0; o && o->base && p && j < p->nr; j++)
		if (p->regions[j].region == o->base &&
		    snapshot__info(p, &text, &len) == 0)
			return sum__diff(c, p->crcs[j], buf, crc);
	return sum__region(c, buf, crc);
}

/* The checksum lines over the placeholders. */
static int make_sums(struct snapshot *s)
{
	uint8_t *buf = malloc(SUM_CHUNK);
	size_t at = s->sums_at;
	int ret = 0;

	if (!buf)
		return ENOMEM;
	for (unsigned i = 0; !ret && i < s->nr; i++) {
		struct region *c = s->regions[i].region;
		char line[REGION_NAME_MAX + 32];
		uint32_t crc;
		int n;

		ret = sum_copy(s, c, buf, &crc);
		s->crcs[i] = crc;
		n = persist__render_sum(line, sizeof(line), region__name(c),
					crc);
		if (!ret && (n < 0 || at + (size_t)n > s->info_len))
			ret = EOVERFLOW;
		if (!ret) {
			memcpy(s->info + at, line, (size_t)n);
			at += (size_t)n;
		}
	}
	free(buf);
	return ret;
}

int snapshot__info(struct snapshot *s, const char **text, size_t *len)
{
	int ret = 0;

	if (!atomic_load(&s->summed)) {
		pthread_mutex_lock(&s->sums_lock);
		if (!atomic_load(&s->summed)) {
			ret = make_sums(s);
			if (!ret)
				atomic_store(&s->summed, true);
		}
		pthread_mutex_unlock(&s->sums_lock);
	}
	*text = s->info;
	*len = s->info_len;
	return ret;
}

int snapshot__make_files(struct snapshot *s)
{
	FILE *f;
	int ret;

	ret = vcpu__saved_encode(s->cpu, &s->state_file, &s->state_len);
	if (ret)
		return ret;
	f = open_memstream(&s->info, &s->info_len);
	if (!f)
		return ENOMEM;
	info_text(s, f);
	if (fclose(f) != 0)
		return ENOMEM;
	return 0;
}
