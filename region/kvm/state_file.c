/*
 * The vcpu_state file (vcpu.h): a saved vCPU as a header and records.
 * The header (region/persist/header.h) makes damage visible before any
 * field is believed: the magic, the version, the length and a CRC of
 * everything after it.  The records are the vCPU's own.
 */
#include "region/kvm/vcpu_priv.h"
#include "region/persist/header.h"
#include "region/persist/persist.h"
#include "region/util/codec.h"
#include "region/x86/x86.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The header (region/persist/header.h) that says a file is one. */
static const struct persist_kind kind = {
	.name = PERSIST_VCPU_STATE,
	.magic = "RFSVCPU",
	.version = VCPU_STATE_VERSION,
};

enum { REC_RUN = 1, REC_FAULT = 2 };

static void put_run(struct codec *c, const struct vcpu_saved *s)
{
	uint32_t state = s ? (uint32_t)s->state : VCPU_STOPPED;
	uint64_t entry = s ? s->entry : 0, stack = s ? s->stack : 0;
	uint8_t has_cpu = s != NULL;
	size_t m = codec__rec_begin(c, REC_RUN);

	codec__u32(c, &state);
	codec__u8(c, &has_cpu);
	codec__u64(c, &entry);
	codec__u64(c, &stack);
	codec__rec_end(c, m);
}

static void put_payload(struct codec *c, const struct vcpu_saved *s)
{
	size_t m;

	put_run(c, s);
	if (!s)
		return;
	if (s->fault[0]) {
		m = codec__rec_begin(c, REC_FAULT);
		codec__bytes(c, (void *)s->fault, strnlen(s->fault,
							  VCPU_FAULT_MAX - 1));
		codec__rec_end(c, m);
	}
	x86__state_put(s->cpu, c);
}

int vcpu__saved_encode(const struct vcpu_saved *s, uint8_t **buf, size_t *len)
{
	struct codec c = { 0 };
	uint64_t total;

	/* Once to count, once to write. */
	put_payload(&c, s);
	total = VCPU_STATE_HEADER + c.pos;
	c = (struct codec){ .buf = malloc(total) };
	if (!c.buf)
		return ENOMEM;
	c.pos = VCPU_STATE_HEADER;
	put_payload(&c, s);
	persist__header_put(&kind, c.buf, total);
	*buf = c.buf;
	*len = total;
	return 0;
}

static int decode_run(struct codec *rec, struct vcpu_saved *s, bool *has_cpu,
		      struct why *why)
{
	uint32_t state = 0;
	uint8_t cpu = 0;

	codec__u32(rec, &state);
	codec__u8(rec, &cpu);
	codec__u64(rec, &s->entry);
	codec__u64(rec, &s->stack);
	if (rec->bad || rec->pos != rec->len)
		return why__set(why, EINVAL, "record run: %zu bytes, expected "
				"21", rec->len);
	/* Running cannot be saved: the registers were moving. */
	if (state > VCPU_FAULTED || state == VCPU_RUNNING || cpu > 1)
		return why__set(why, EINVAL, "record run: state %u, has_cpu "
				"%u", state, cpu);
	s->state = (enum vcpu_state)state;
	*has_cpu = cpu;
	return 0;
}

static int decode_payload(struct codec *c, struct vcpu_saved *s,
			  struct why *why)
{
	bool has_cpu = false, run = false, fault = false;
	struct codec rec;
	uint32_t tag;
	int ret = 0;

	while (!ret && codec__rec_next(c, &tag, &rec)) {
		if (!run && tag != REC_RUN)
			return why__set(why, EINVAL, "the first record is not "
					"run");
		if (tag == REC_RUN && run)
			return why__set(why, EINVAL, "record run twice");
		if (tag == REC_RUN) {
			run = true;
			ret = decode_run(&rec, s, &has_cpu, why);
			if (!ret && has_cpu && !(s->cpu = x86__state_empty()))
				ret = why__set(why, ENOMEM, "out of memory");
		} else if (!has_cpu) {
			ret = why__set(why, EINVAL, "record %u without a vCPU",
				       tag);
		} else if (tag == REC_FAULT) {
			if (fault || rec.len >= VCPU_FAULT_MAX ||
			    memchr(rec.buf, 0, rec.len))
				return why__set(why, EINVAL, "record fault: "
						"twice, too long or holding a "
						"NUL");
			fault = true;
			memcpy(s->fault, rec.buf, rec.len);
		} else {
			ret = x86__state_record(s->cpu, tag, &rec, why);
		}
	}
	if (ret)
		return ret;
	if (c->bad)
		return why__set(why, EINVAL, "a record runs past the end");
	if (!run)
		return why__set(why, EINVAL, "no run record");
	return has_cpu ? x86__state_complete(s->cpu, why) : 0;
}

int vcpu__saved_decode(const void *buf, size_t len, struct vcpu_saved **out,
		       struct why *why)
{
	struct codec c = { .buf = (uint8_t *)buf, .len = len,
			   .pos = VCPU_STATE_HEADER, .decode = true };
	struct vcpu_saved *s;
	int ret;

	*out = NULL;
	ret = persist__header_check(&kind, buf, len, why);
	if (ret)
		return ret;
	s = calloc(1, sizeof(*s));
	if (!s)
		return why__set(why, ENOMEM, "out of memory");
	ret = decode_payload(&c, s, why);
	if (ret || !s->cpu) {
		vcpu__saved_free(s);
		return ret;
	}
	*out = s;
	return 0;
}
