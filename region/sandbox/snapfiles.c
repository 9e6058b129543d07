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
#include "region/sandbox/saved_sum.h"
#include "region/mem/sum.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void info_text(struct snapshot *s, FILE *f)
{
	char when[64];
	struct tm tm;
	size_t len;

	gmtime_r(&s->created.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "snapshot %s\ntaken %s\nregions %u\n", s->name, when, s->nr);
	diff__info(s, f);
	for (unsigned i = 0; i < s->nr; i++) {
		struct region *c = s->regions[i].region;
		uint64_t gpa;

		fprintf(f, "region %s mem_size %" PRIu64 " resident %" PRIu64,
			region__name(c), region__mem_size(c), region__resident(c));
		if (region__snap_gpa(c, &gpa))
			fprintf(f, " guest_addr 0x%" PRIx64, gpa);
		else
			fprintf(f, " guest_addr none");
		fprintf(f, " access %s\n", region__guest_ro(c) ? "ro" : "rw");
	}
	if (!s->cpu) {
		fprintf(f, "vcpu none\n");
	} else {
		struct vcpu_config cfg = { 0 };

		vcpu__saved_config(s->cpu, &cfg);
		fprintf(f, "vcpu %s\nrip 0x%" PRIx64 "\nentry 0x%" PRIx64 "\n",
			vcpu__state_name(vcpu__saved_state(s->cpu)),
			vcpu__saved_rip(s->cpu), cfg.entry);
	}
	fprintf(f, "vcpu_state %zu bytes, format %d\n", s->state_len,
		VCPU_STATE_VERSION);
	vcpu__saved_console(s->cpu, &len);
	fprintf(f, "console %zu bytes\n", len);
	/* Placeholders of the checksums' length (snaps.h): last. */
	fflush(f);
	s->sums_at = (size_t)ftell(f);
	for (unsigned i = 0; i < s->nr; i++)
		fprintf(f, SAVED_SUM_FMT, region__name(s->regions[i].region),
			0u);
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

		ret = sum__region(c, buf, &crc);
		n = snprintf(line, sizeof(line), SAVED_SUM_FMT, region__name(c),
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
