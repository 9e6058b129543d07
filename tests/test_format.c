/*
 * The saved format (region/persist/): each value renders to the exact
 * text a snapshot directory has always held and parses back; what is not
 * the form is EINVAL; info's lines and the binary header are byte for
 * byte what --from reads, and a damaged header is refused with its
 * reason.  Text only: no KVM, no sandbox.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "region/persist/header.h"
#include "region/persist/info.h"
#include "region/persist/persist.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096ULL

static void test_renders(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(persist__render_size(buf, sizeof(buf), 65536), 6);
	assert_string_equal(buf, "65536\n");
	assert_int_equal(persist__render_addr(buf, sizeof(buf), 0x7f00), 7);
	assert_string_equal(buf, "0x7f00\n");
	persist__render_guest_addr(buf, sizeof(buf), true, 0x100000);
	assert_string_equal(buf, "0x100000\n");
	persist__render_guest_addr(buf, sizeof(buf), false, 0x100000);
	assert_string_equal(buf, "none\n");
	persist__render_access(buf, sizeof(buf), true);
	assert_string_equal(buf, "ro\n");
	persist__render_access(buf, sizeof(buf), false);
	assert_string_equal(buf, "rw\n");
	persist__render_dirty_line(buf, sizeof(buf), 0, 0x3000);
	assert_string_equal(buf, "0x0-0x3000\n");
	/* The longest line fits the cursor's buffer. */
	assert_true(persist__render_dirty_line(buf, sizeof(buf), ~0ULL,
					       ~0ULL) < PERSIST_DIRTY_LINE_MAX);
}

static void test_parent(void **state)
{
	char *text, name[PARSE_NAME_MAX + 1];
	uint64_t id;
	size_t len;

	(void)state;
	assert_int_equal(persist__render_parent(&text, &len, "base", 0x1f), 0);
	assert_string_equal(text, "base 0x000000000000001f\n");
	assert_int_equal(len, strlen(text));
	assert_int_equal(persist__parse_parent(text, len, name, &id), 0);
	assert_string_equal(name, "base");
	assert_int_equal(id, 0x1f);
	free(text);
}

static void test_parses(void **state)
{
	uint64_t v, gpa;
	bool mapped, ro;

	(void)state;
	assert_int_equal(persist__parse_mem_size("65536", PAGE, 1ULL << 40,
						 &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(persist__parse_mem_size("0", PAGE, 1ULL << 40, &v),
			 EINVAL);
	assert_int_equal(persist__parse_mem_size("4097", PAGE, 1ULL << 40,
						 &v), EINVAL);
	assert_int_equal(persist__parse_mem_size("2T", PAGE, 1ULL << 40, &v),
			 EINVAL);
	assert_int_equal(persist__parse_raw_size("73728", PAGE, 65536), 0);
	assert_int_equal(persist__parse_raw_size("65536", PAGE, 65536),
			 EINVAL);
	assert_int_equal(persist__parse_guest_addr("none", PAGE, &mapped,
						   &gpa), 0);
	assert_false(mapped);
	assert_int_equal(persist__parse_guest_addr("0x100000", PAGE, &mapped,
						   &gpa), 0);
	assert_true(mapped);
	assert_int_equal(gpa, 0x100000);
	assert_int_equal(persist__parse_guest_addr("0x100001", PAGE, &mapped,
						   &gpa), EINVAL);
	assert_int_equal(persist__parse_access("ro", &ro), 0);
	assert_true(ro);
	assert_int_equal(persist__parse_access("rw", &ro), 0);
	assert_false(ro);
	assert_int_equal(persist__parse_access("RW", &ro), EINVAL);
	assert_int_equal(persist__parse_page_size("2M", PAGE, 4ULL << 20, &v),
			 0);
	assert_int_equal(v, 2ULL << 20);
	assert_int_equal(persist__parse_page_size("4096", PAGE, 8192, &v), 0);
	assert_int_equal(persist__parse_page_size("2M", PAGE, 3ULL << 20, &v),
			 EINVAL);
	assert_int_equal(persist__parse_page_size("64K", PAGE, 1ULL << 20,
						  &v), EINVAL);
}

/* info as snapfiles.c writes it, line for line. */
static void test_info(void **state)
{
	struct persist_info_region r = {
		.name = "ram", .mem_size = 65536, .resident = 8192,
		.mapped = true, .gpa = 0x100000, .ro = false,
	};
	char *text = NULL, id_line[] = "snapshot s\nid 0x00000000000000ab\n";
	size_t len = 0;
	uint64_t id;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(f);
	persist__info_head(f, "s1", 0, 2);
	persist__info_id(f, 0xab);
	persist__info_parent(f, "s0", 0x1);
	persist__info_diff(f, "ram", 2, 16, 8192, true);
	persist__info_region(f, &r);
	r.mapped = false;
	r.ro = true;
	persist__info_region(f, &r);
	persist__info_vcpu(f, "paused", 0x1000, 0x2000);
	persist__info_vcpu(f, NULL, 0, 0);
	persist__info_state(f, 1234, 1);
	persist__info_console(f, 5);
	fprintf(f, PERSIST_SUM_FMT, "ram", 0xdeadbeefu);
	fclose(f);
	assert_string_equal(text,
		"snapshot s1\ntaken 1970-01-01T00:00:00Z\nregions 2\n"
		"id 0x00000000000000ab\n"
		"parent s0 0x0000000000000001\n"
		"diff ram holds 2 of 16 pages, takes 8192 bytes, the rest "
		"read through\n"
		"region ram mem_size 65536 resident 8192 guest_addr 0x100000 "
		"access rw\n"
		"region ram mem_size 65536 resident 8192 guest_addr none "
		"access ro\n"
		"vcpu paused\nrip 0x1000\nentry 0x2000\n"
		"vcpu none\n"
		"vcpu_state 1234 bytes, format 1\n"
		"console 5 bytes\n"
		"crc32c ram 0xdeadbeef\n");
	free(text);
	assert_int_equal(persist__info_find_id(id_line, &id), 0);
	assert_int_equal(id, 0xab);
	assert_int_equal(persist__info_find_id((char[]){ "snapshot s\n" },
					       &id), ENOENT);
	assert_int_equal(persist__info_find_id((char[]){ "x\nid 0xzz\n" },
					       &id), EINVAL);
}

static void test_header(void **state)
{
	static const struct persist_kind k = {
		.name = "thing", .magic = "RFSTEST", .version = 3,
	};
	static const struct persist_kind other = {
		.name = "thing", .magic = "RFSTEST", .version = 4,
	};
	uint8_t buf[PERSIST_HEADER_SIZE + 5] = { 0 };
	struct why why = { "" };

	(void)state;
	memcpy(buf + PERSIST_HEADER_SIZE, "hello", 5);
	persist__header_put(&k, buf, sizeof(buf));
	assert_memory_equal(buf, "RFSTEST\0\3\0\0\0\x20\0\0\0\x25\0\0\0\0\0\0\0",
			    24);
	assert_int_equal(persist__header_check(&k, buf, sizeof(buf), &why), 0);
	assert_int_equal(persist__header_check(&other, buf, sizeof(buf), &why),
			 EINVAL);
	assert_string_equal(why.msg, "not format version 4, the one this "
			    "regionfs reads");
	assert_int_equal(persist__header_check(&k, buf, sizeof(buf) - 1, &why),
			 EINVAL);
	assert_string_equal(why.msg, "36 bytes, not the length its header "
			    "says: truncated");
	buf[PERSIST_HEADER_SIZE] ^= 1;
	assert_int_equal(persist__header_check(&k, buf, sizeof(buf), &why),
			 EINVAL);
	assert_string_equal(why.msg, "CRC-32 of the payload is not the "
			    "header's: damaged");
	buf[0] = 'X';
	assert_int_equal(persist__header_check(&k, buf, sizeof(buf), &why),
			 EINVAL);
	assert_string_equal(why.msg, "not a thing file (bad magic)");
	assert_int_equal(persist__header_check(&k, buf, 3, &why), EINVAL);
	assert_string_equal(why.msg, "3 bytes: truncated (the header alone "
			    "takes 32)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_renders),
		cmocka_unit_test(test_parent),
		cmocka_unit_test(test_parses),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
