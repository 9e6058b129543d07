/* Parsers of control values, sizes, addresses, names and --region specs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "region/util/memlimit.h"
#include "region/util/parse.h"
#include "tests/helpers.h"

#include <errno.h>
#include <string.h>

static void test_sizes(void **state)
{
	static const struct { const char *s; int err; uint64_t v; } cases[] = {
		{ "4096", 0, 4096 },
		{ "0x1000", 0, 4096 },
		{ "64K", 0, 64 << 10 },
		{ "64k", 0, 64 << 10 },
		{ "64KiB", 0, 64 << 10 },
		{ "2M", 0, 2 << 20 },
		{ "1G", 0, 1ULL << 30 },
		{ "1T", 0, 1ULL << 40 },
		{ "0", 0, 0 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551616", ERANGE, 0 },
		{ "16777216T", ERANGE, 0 },
		{ "-1", EINVAL, 0 },
		{ "", EINVAL, 0 },
		{ " 1", EINVAL, 0 },
		{ "1 ", EINVAL, 0 },
		{ "abc", EINVAL, 0 },
		{ "12Q", EINVAL, 0 },
		{ "1KX", EINVAL, 0 },
		{ "0x", EINVAL, 0 },
		{ "+5", EINVAL, 0 },
		/* A leading 0 is decimal, never octal; hex only with 0x. */
		{ "010", 0, 10 },
		{ "08", 0, 8 },
		{ "0X1f", 0, 31 },
		{ "0x-1", EINVAL, 0 },
		{ "0x 1", EINVAL, 0 },
		{ "0xg", EINVAL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int err = parse__size(cases[i].s, &v);

		if (err != cases[i].err)
			fail_msg("parse__size(\"%s\") = %d, want %d",
				 cases[i].s, err, cases[i].err);
		if (!err)
			assert_int_equal(v, cases[i].v);
	}
}

static void test_values(void **state)
{
	char out[PARSE_VALUE_MAX];
	char big[PARSE_VALUE_MAX + 10];

	(void)state;
	assert_int_equal(parse__value("1\n", 2, out, sizeof(out)), 0);
	assert_string_equal(out, "1");
	assert_int_equal(parse__value("  0x1000 \t\n", 11, out, sizeof(out)), 0);
	assert_string_equal(out, "0x1000");
	assert_int_equal(parse__value("\n", 1, out, sizeof(out)), EINVAL);
	assert_int_equal(parse__value("", 0, out, sizeof(out)), EINVAL);
	assert_int_equal(parse__value("   ", 3, out, sizeof(out)), EINVAL);
	assert_int_equal(parse__value("1\0002", 3, out, sizeof(out)), EINVAL);
	memset(big, 'a', sizeof(big));
	assert_int_equal(parse__value(big, sizeof(big), out, sizeof(out)), EINVAL);
	/* The length is the write's, blanks included: not checked after trimming. */
	memset(big, ' ', sizeof(big));
	big[sizeof(big) - 1] = '1';
	assert_int_equal(parse__value(big, sizeof(big), out, sizeof(out)), EINVAL);
	assert_int_equal(parse__value(big + sizeof(big) - PARSE_VALUE_MAX + 1,
				      PARSE_VALUE_MAX - 1, out, sizeof(out)), 0);
	assert_string_equal(out, "1");
}

static void test_gpa(void **state)
{
	uint64_t v;
	bool none;

	(void)state;
	assert_int_equal(parse__gpa("none", &v, &none), 0);
	assert_true(none);
	assert_int_equal(parse__gpa("0x100000", &v, &none), 0);
	assert_false(none);
	assert_int_equal(v, 0x100000);
	assert_int_equal(parse__gpa("1M", &v, &none), 0);
	assert_int_equal(v, 0x100000);
	assert_int_equal(parse__gpa("None", &v, &none), EINVAL);
	assert_int_equal(parse__gpa("-4096", &v, &none), EINVAL);
}

static void test_names(void **state)
{
	char long_name[70];

	(void)state;
	assert_int_equal(parse__region_name("ram"), 0);
	assert_int_equal(parse__region_name("a.b-c_D9"), 0);
	assert_int_equal(parse__region_name(""), EINVAL);
	assert_int_equal(parse__region_name(".hidden"), EINVAL);
	assert_int_equal(parse__region_name("a/b"), EINVAL);
	assert_int_equal(parse__region_name("a b"), EINVAL);
	/* Names the mount reserves are the sandbox's to refuse (test_sandbox). */
	assert_int_equal(parse__region_name("vcpu"), 0);
	memset(long_name, 'x', 64);
	long_name[64] = '\0';
	assert_int_equal(parse__region_name(long_name), 0);
	long_name[64] = 'x';
	long_name[65] = '\0';
	assert_int_equal(parse__region_name(long_name), ENAMETOOLONG);
}

static void test_specs(void **state)
{
	struct region_spec s;

	(void)state;
	assert_int_equal(parse__region_spec("ram:16M", &s), 0);
	assert_string_equal(s.name, "ram");
	assert_int_equal(s.size, 16 << 20);
	assert_false(s.mapped);
	assert_false(s.ro);
	assert_int_equal(parse__region_spec("rom:64K@0xf0000:ro", &s), 0);
	assert_int_equal(s.size, 64 << 10);
	assert_true(s.mapped);
	assert_int_equal(s.gpa, 0xf0000);
	assert_true(s.ro);
	assert_int_equal(s.huge, 0);
	/* :huge and :ro in either order, each once; :huge=SIZE of 2M or 1G. */
	assert_int_equal(parse__region_spec("ram:64M@0x100000:huge", &s), 0);
	assert_int_equal(s.huge, 2 << 20);
	assert_false(s.ro);
	assert_int_equal(s.gpa, 0x100000);
	assert_int_equal(parse__region_spec("ram:64M:huge:ro", &s), 0);
	assert_true(s.ro);
	assert_int_equal(s.huge, 2 << 20);
	assert_int_equal(parse__region_spec("ram:2G:ro:huge=1G", &s), 0);
	assert_true(s.ro);
	assert_int_equal(s.huge, 1 << 30);
	assert_int_equal(parse__region_spec("ram:64M:huge=2M", &s), 0);
	assert_int_equal(s.huge, 2 << 20);
	assert_int_equal(parse__region_spec("ram:64M:huge=4M", &s), EINVAL);
	assert_int_equal(parse__region_spec("ram:64M:huge=", &s), EINVAL);
	assert_int_equal(parse__region_spec("ram:64M:huge:huge", &s), EINVAL);
	assert_int_equal(parse__region_spec("ram:64M:ro:ro", &s), EINVAL);
	assert_int_equal(parse__region_spec("ram:64M:", &s), EINVAL);
	assert_int_equal(parse__region_spec("ram:64M:huge:", &s), EINVAL);
	assert_int_equal(parse__region_spec("ram", &s), EINVAL);
	assert_int_equal(parse__region_spec("ram:0", &s), EINVAL);
	assert_int_equal(parse__region_spec("ram:16M:rw", &s), EINVAL);
	assert_int_equal(parse__region_spec("ram:16M@", &s), EINVAL);
	assert_int_equal(parse__region_spec(":16M", &s), EINVAL);
	assert_int_equal(parse__region_spec("a/b:16M", &s), EINVAL);
}

/* The memory cgroup's directory, v1's memory controller or v2's. */
static void test_memlimit_dir(void **state)
{
	const char *hybrid_cg = "9:name=systemd:/\n4:memory:/jobs/42\n0::/\n",
		   *hybrid_mi =
		"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
		"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
		   *v2_cg = "0::/system.slice/regionfs.service\n",
		   *v2_mi = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
		   *ns_mi = "30 23 0:26 /system.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
	char dir[256];
	size_t at;
	int v2;

	(void)state;
	assert_int_equal(memlimit__dir(hybrid_cg, hybrid_mi, dir, sizeof(dir),
				       &at, &v2), 0);
	assert_string_equal(dir, "/sys/fs/cgroup/memory/jobs/42");
	assert_int_equal(at, strlen("/sys/fs/cgroup/memory"));
	assert_int_equal(v2, 0);
	assert_int_equal(memlimit__dir(v2_cg, v2_mi, dir, sizeof(dir), &at,
				       &v2), 0);
	assert_string_equal(dir, "/sys/fs/cgroup/system.slice/regionfs.service");
	assert_int_equal(v2, 1);
	/* Mounted from within the hierarchy: the path is relative to that. */
	assert_int_equal(memlimit__dir(v2_cg, ns_mi, dir, sizeof(dir), &at,
				       &v2), 0);
	assert_string_equal(dir, "/sys/fs/cgroup/regionfs.service");
	assert_int_equal(memlimit__dir("0::/\n", v2_mi, dir, sizeof(dir), &at,
				       &v2), 0);
	assert_string_equal(dir, "/sys/fs/cgroup");
	assert_int_equal(memlimit__dir("1:cpu:/\n", v2_mi, dir, sizeof(dir),
				       &at, &v2), ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memlimit_dir),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_gpa),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_specs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
