/*
 * The files of a snapshot's directory besides its copies: vcpu_state (the
 * saved vCPU, vcpu.h's format), console (the console's kept bytes, saved
 * with the vCPU) and info (a summary for people).  Made once
 * when the snapshot is taken: the snapshot never changes, so neither do
 * they, and a read costs the bytes it returns.
 */
#include "region/sandbox/snaps.h"
#include "region/kvm/vcpu.h"
#include "region/sandbox/diff.h"

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

		fprintf(f, "region %s mem_size %" PRIu64 " resident %" PRIu64,
			c->name, c->mem_size, region__resident(c));
		if (c->snap_mapped)
			fprintf(f, " guest_addr 0x%" PRIx64, c->snap_gpa);
		else
			fprintf(f, " guest_addr none");
		fprintf(f, " access %s\n", c->guest_ro ? "ro" : "rw");
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
