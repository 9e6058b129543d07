/*
 * The vcpu_state file (region/kvm/state_file.c): a saved vCPU encodes and
 * decodes back to the same bytes, field by field, and every kind of damage
 * is refused with its reason: truncated at any length, extended, a flipped
 * bit anywhere, another version, bad magic, and, with a CRC that matches,
 * records that are unknown, twice, missing, too short or too long.  No
 * KVM needed: the state is built by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "region/kvm/vcpu_priv.h"
#include "region/util/codec.h"
#include "region/x86/cpu_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A saved vCPU with every byte of every field set from a pattern. */
static struct vcpu_saved *sample(bool with_xsave)
{
	struct vcpu_saved *s = calloc(1, sizeof(*s));
	struct x86_state *x = x86__state_empty();
	uint8_t *p;

	assert_non_null(s);
	assert_non_null(x);
	s->state = VCPU_PAUSED;
	s->entry = 0x100000;
	s->stack = 0x200000;
	snprintf(s->fault, sizeof(s->fault), "exit reason 6 (MMIO) at rip 0x1");
	s->cpu = x;
	p = (uint8_t *)&x->regs;
	for (size_t i = 0; i < sizeof(x->regs); i++)
		p[i] = (uint8_t)(i * 7 + 1);
	x->regs.rip = 0x10006e;
	x->sregs.cs.base = 0x1234;
	x->sregs.cs.l = 1;
	x->sregs.cr3 = 0x1000;
	x->sregs.efer = 0x500;
	x->sregs.gdt.limit = 0x17;
	x->sregs.interrupt_bitmap[3] = 0x8000000000000001ULL;
	if (with_xsave) {
		x->xsave_size = sizeof(struct kvm_xsave);
		x->xsave = calloc(1, x->xsave_size);
		assert_non_null(x->xsave);
		for (size_t i = 0; i < 1024; i++)
			x->xsave->region[i] = (uint32_t)(i * 2654435761u);
	} else {
		x->fpu.fcw = 0x37f;
		x->fpu.mxcsr = 0x1f80;
		x->fpu.xmm[15][15] = 0xab;
		x->fpu.last_ip = 0xdeadbeef;
	}
	x->has_xcrs = x->has_events = x->has_debugregs = true;
	x->xcrs.nr_xcrs = 1;
	x->xcrs.xcrs[0].value = 7;
	x->events.exception.nr = 14;
	x->events.exception.error_code = 2;
	x->events.nmi.masked = 1;
	x->events.exception_payload = 0x42;
	x->debugregs.dr7 = 0x400;
	x->debugregs.db[3] = 9;
	x->msrs->nmsrs = 2;
	x->msrs->entries[0].index = 0xc0000081;
	x->msrs->entries[0].data = 0x23001000000000ULL;
	x->msrs->entries[1].index = 0x10;
	x->msrs->entries[1].data = 123456789;
	return s;
}

static void encode(const struct vcpu_saved *s, uint8_t **buf, size_t *len)
{
	assert_int_equal(vcpu__saved_encode(s, buf, len), 0);
	assert_true(*len > VCPU_STATE_HEADER);
}

/* Decode must refuse buf with EINVAL and a reason holding want. */
static void refused(const uint8_t *buf, size_t len, const char *want)
{
	struct vcpu_saved *out = (void *)1;
	struct why why = { "" };

	assert_int_equal(vcpu__saved_decode(buf, len, &out, &why), EINVAL);
	assert_null(out);
	if (!strstr(why.msg, want))
		fail_msg("reason '%s' lacks '%s'", why.msg, want);
}

static void round_trip(bool with_xsave)
{
	struct vcpu_saved *s = sample(with_xsave), *d;
	struct why why = { "" };
	uint8_t *a, *b;
	size_t la, lb;

	encode(s, &a, &la);
	assert_int_equal(vcpu__saved_decode(a, la, &d, &why), 0);
	assert_non_null(d);
	assert_int_equal(d->state, VCPU_PAUSED);
	assert_int_equal(d->entry, 0x100000);
	assert_int_equal(d->stack, 0x200000);
	assert_string_equal(d->fault, s->fault);
	assert_memory_equal(&d->cpu->regs, &s->cpu->regs, sizeof(s->cpu->regs));
	assert_memory_equal(&d->cpu->sregs, &s->cpu->sregs,
			    sizeof(s->cpu->sregs));
	if (with_xsave) {
		assert_int_equal(d->cpu->xsave_size, s->cpu->xsave_size);
		assert_memory_equal(d->cpu->xsave, s->cpu->xsave,
				    s->cpu->xsave_size);
	} else {
		assert_null(d->cpu->xsave);
		assert_memory_equal(&d->cpu->fpu, &s->cpu->fpu,
				    sizeof(s->cpu->fpu));
	}
	assert_memory_equal(&d->cpu->events, &s->cpu->events,
			    sizeof(s->cpu->events));
	assert_memory_equal(&d->cpu->debugregs, &s->cpu->debugregs,
			    sizeof(s->cpu->debugregs));
	assert_int_equal(d->cpu->xcrs.nr_xcrs, 1);
	assert_int_equal(d->cpu->xcrs.xcrs[0].value, 7);
	assert_int_equal(d->cpu->msrs->nmsrs, 2);
	assert_memory_equal(d->cpu->msrs->entries, s->cpu->msrs->entries,
			    2 * sizeof(struct kvm_msr_entry));
	/* And back: the same bytes. */
	encode(d, &b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	vcpu__saved_free(s);
	vcpu__saved_free(d);
	free(a);
	free(b);
}

/* CRC-32 the slow way, from its definition (reflected, poly 0xedb88320). */
static uint32_t crc_bitwise(const uint8_t *b, size_t n)
{
	uint32_t crc = 0xffffffffu;

	while (n--) {
		crc ^= *b++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
	}
	return ~crc;
}

/*
 * The file's CRC is zlib's: the standard check value, and the fast one
 * equal to the definition for every length around its 8-byte steps and
 * every alignment.
 */
static void test_crc32(void **state)
{
	uint8_t buf[300];

	(void)state;
	assert_int_equal(codec__crc32("123456789", 9), 0xcbf43926u);
	assert_int_equal(codec__crc32("", 0), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 3));
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n + off <= sizeof(buf); n += n < 40 ? 1 : 37)
			assert_int_equal(codec__crc32(buf + off, n),
					 crc_bitwise(buf + off, n));
}

static void test_round_trip_fpu(void **state)
{
	(void)state;
	round_trip(false);
}

static void test_round_trip_xsave(void **state)
{
	(void)state;
	round_trip(true);
}

/* A sandbox without a vCPU says so, and decodes to none. */
static void test_no_vcpu(void **state)
{
	struct vcpu_saved *d = (void *)1;
	struct why why = { "" };
	uint8_t *a;
	size_t la;

	(void)state;
	encode(NULL, &a, &la);
	assert_int_equal(vcpu__saved_decode(a, la, &d, &why), 0);
	assert_null(d);
	free(a);
}

static void test_header_damage(void **state)
{
	struct vcpu_saved *s = sample(false);
	uint8_t *a, *b;
	size_t la;

	(void)state;
	encode(s, &a, &la);
	b = malloc(la + 1);
	assert_non_null(b);
	/* Truncated anywhere, the header's own included. */
	for (size_t n = 0; n < la; n++)
		refused(a, n, "truncated");
	memcpy(b, a, la);
	b[la] = 0;
	refused(b, la + 1, "extended");
	/* One flipped bit anywhere in the payload: the CRC. */
	for (size_t i = VCPU_STATE_HEADER; i < la; i += 7) {
		memcpy(b, a, la);
		b[i] ^= 0x10;
		refused(b, la, "CRC-32");
	}
	memcpy(b, a, la);
	b[0] = 'X';
	refused(b, la, "bad magic");
	memcpy(b, a, la);
	b[8] = 2;
	refused(b, la, "not format version 1");
	memcpy(b, a, la);
	b[28] = 1;
	refused(b, la, "damaged header");
	vcpu__saved_free(s);
	free(a);
	free(b);
}

/* Patch the payload, then make the header agree: record-level checks. */
static void reseal(uint8_t *b, size_t len)
{
	uint32_t crc = codec__crc32(b + VCPU_STATE_HEADER,
				    len - VCPU_STATE_HEADER);
	uint64_t total = len;
	struct codec c = { .buf = b, .pos = 16 };

	codec__u64(&c, &total);
	codec__u32(&c, &crc);
}

/* The offset of the record with tag, in a payload of len bytes. */
static size_t find_rec(const uint8_t *b, size_t len, uint32_t want)
{
	struct codec c = { .buf = (uint8_t *)b, .len = len,
			   .pos = VCPU_STATE_HEADER, .decode = true }, rec;
	size_t at = c.pos;
	uint32_t tag;

	while (codec__rec_next(&c, &tag, &rec)) {
		if (tag == want)
			return at;
		at = c.pos;
	}
	fail_msg("no record %u", want);
	return 0;
}

static void test_record_damage(void **state)
{
	struct vcpu_saved *s = sample(false);
	uint8_t *a, *b;
	size_t la, at, at2;

	(void)state;
	encode(s, &a, &la);
	b = malloc(la);
	assert_non_null(b);

	/* An unknown tag. */
	memcpy(b, a, la);
	b[find_rec(a, la, 16)] = 99;
	reseal(b, la);
	refused(b, la, "unknown record tag 99");
	/* A record twice: sregs renamed regs. */
	memcpy(b, a, la);
	at = find_rec(a, la, 17);
	b[at] = 16;
	reseal(b, la);
	refused(b, la, "regs");
	/* regs missing: the record cut out. */
	at = find_rec(a, la, 16);
	at2 = find_rec(a, la, 17);
	memcpy(b, a, at);
	memcpy(b + at, a + at2, la - at2);
	reseal(b, la - (at2 - at));
	refused(b, la - (at2 - at), "no regs record");
	/* A record one byte short of its fields (the next one shifts). */
	memcpy(b, a, la);
	at = find_rec(a, la, 22);	/* debugregs */
	b[at + 4] -= 1;
	reseal(b, la);
	refused(b, la, "record debugregs: 55 bytes");
	/* A record longer than what is left. */
	memcpy(b, a, la);
	at = find_rec(a, la, 23);	/* msrs, the last */
	b[at + 4] += 1;
	reseal(b, la);
	refused(b, la, "past the end");
	/* Too many MSRs. */
	memcpy(b, a, la);
	b[find_rec(a, la, 23) + 8] = 200;
	reseal(b, la);
	refused(b, la, "msrs: 200");
	/* A state that cannot be saved: running. */
	memcpy(b, a, la);
	b[find_rec(a, la, 1) + 8] = VCPU_RUNNING;
	reseal(b, la);
	refused(b, la, "record run: state 1");
	/* The run record must come first. */
	memcpy(b, a, la);
	b[find_rec(a, la, 1)] = 2;
	reseal(b, la);
	refused(b, la, "first record");
	vcpu__saved_free(s);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_round_trip_fpu),
		cmocka_unit_test(test_round_trip_xsave),
		cmocka_unit_test(test_no_vcpu),
		cmocka_unit_test(test_header_damage),
		cmocka_unit_test(test_record_damage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
