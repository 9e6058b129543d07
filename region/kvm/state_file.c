/*
 * The vcpu_state file (vcpu.h): a saved vCPU as a header and records.
 * The header makes damage visible before any field is believed: the
 * magic, the version, the length and a CRC of everything after it.
 */
#include "region/kvm/vcpu_priv.h"
#include "region/util/codec.h"
#include "region/x86/x86.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char magic[8] = "RFSVCPU";

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

static void header(struct codec *c, uint32_t *version, uint32_t *hsize,
		   uint64_t *total, uint32_t *crc, uint32_t *reserved,
		   char *mg)
{
	codec__bytes(c, mg, sizeof(magic));
	codec__u32(c, version);
	codec__u32(c, hsize);
	codec__u64(c, total);
	codec__u32(c, crc);
	codec__u32(c, reserved);
}

int vcpu__saved_encode(const struct vcpu_saved *s, uint8_t **buf, size_t *len)
{
	struct codec c = { 0 };
	uint32_t version = VCPU_STATE_VERSION, hsize = VCPU_STATE_HEADER, crc,
		 reserved = 0;
	char mg[sizeof(magic)];
	uint64_t total;

	/* Once to count, once to write. */
	put_payload(&c, s);
	total = VCPU_STATE_HEADER + c.pos;
	c = (struct codec){ .buf = malloc(total) };
	if (!c.buf)
		return ENOMEM;
	c.pos = VCPU_STATE_HEADER;
	put_payload(&c, s);
	crc = codec__crc32(c.buf + VCPU_STATE_HEADER, total - VCPU_STATE_HEADER);
	memcpy(mg, magic, sizeof(mg));
	c.pos = 0;
	header(&c, &version, &hsize, &total, &crc, &reserved, mg);
	*buf = c.buf;
	*len = total;
	return 0;
}

static int check_header(const void *buf, size_t len, struct why *why)
{
	struct codec c = { .buf = (uint8_t *)buf, .len = len, .decode = true };
	uint32_t version = 0, hsize = 0, crc = 0, reserved = 0, got;
	uint64_t total = 0;
	char mg[sizeof(magic)];

	if (len < VCPU_STATE_HEADER)
		return why__set(why, EINVAL, "%zu bytes: truncated (the header "
				"alone takes %d)", len, VCPU_STATE_HEADER);
	header(&c, &version, &hsize, &total, &crc, &reserved, mg);
	if (memcmp(mg, magic, sizeof(magic)) != 0)
		return why__set(why, EINVAL, "not a vcpu_state file (bad magic)");
	if (version != VCPU_STATE_VERSION)
		return why__set(why, EINVAL, "not format version %d, the one "
				"this regionfs reads", VCPU_STATE_VERSION);
	if (hsize != VCPU_STATE_HEADER || reserved != 0)
		return why__set(why, EINVAL, "a damaged header (its size or "
				"reserved field)");
	if (total != len)
		return why__set(why, EINVAL, "%zu bytes, not the length its "
				"header says: %s", len,
				len < total ? "truncated" : "extended");
	got = codec__crc32((const uint8_t *)buf + VCPU_STATE_HEADER,
			   len - VCPU_STATE_HEADER);
	if (got != crc)
		return why__set(why, EINVAL, "CRC-32 of the payload is not the "
				"header's: damaged");
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
	ret = check_header(buf, len, why);
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
