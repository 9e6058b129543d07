/*
 * libFuzzer target: the vcpu_state parser (region/kvm/state_file.c), fed
 * what a damaged or hostile snapshot directory could hold.  Half the
 * inputs are taken as a payload behind a header that matches it, so the
 * records are reached past the CRC.  Beyond not crashing: what the parser
 * accepts encodes again, and that encoding decodes to the same bytes.
 */
#include "region/kvm/vcpu.h"
#include "region/util/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define check(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_state: %s failed at line %d\n", #cond, __LINE__); \
	abort(); } } while (0)

/* A header that matches payload p of n bytes. */
static uint8_t *sealed(const uint8_t *p, size_t n, size_t *len)
{
	uint8_t *b = malloc(VCPU_STATE_HEADER + n);
	uint32_t version = VCPU_STATE_VERSION, hsize = VCPU_STATE_HEADER,
		 crc = codec__crc32(p, n), zero = 0;
	uint64_t total = VCPU_STATE_HEADER + n;
	struct codec c = { .buf = b };

	if (!b)
		abort();
	codec__bytes(&c, "RFSVCPU", 8);
	codec__u32(&c, &version);
	codec__u32(&c, &hsize);
	codec__u64(&c, &total);
	codec__u32(&c, &crc);
	codec__u32(&c, &zero);
	memcpy(b + VCPU_STATE_HEADER, p, n);
	*len = total;
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vcpu_saved *s = NULL, *t = NULL;
	struct why why = { "" };
	uint8_t *buf = NULL, *a = NULL, *b = NULL;
	size_t len = size, la, lb;
	const void *in = data;
	int ret;

	if (size && (data[0] & 1)) {
		buf = sealed(data + 1, size - 1, &len);
		in = buf;
	}
	ret = vcpu__saved_decode(in, len, &s, &why);
	check(ret == 0 || why.msg[0]);
	check(ret == 0 || s == NULL);
	if (ret == 0) {
		/* Accepted: it encodes, and that decodes back the same. */
		check(vcpu__saved_encode(s, &a, &la) == 0);
		check(vcpu__saved_decode(a, la, &t, &why) == 0);
		check((s == NULL) == (t == NULL));
		check(vcpu__saved_encode(t, &b, &lb) == 0);
		check(la == lb && memcmp(a, b, la) == 0);
	}
	vcpu__saved_free(s);
	vcpu__saved_free(t);
	free(a);
	free(b);
	free(buf);
	return 0;
}
