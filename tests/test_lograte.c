/*
 * The log's rate limit (fs/lograte.c), on a clock given by hand: one uid
 * gets its burst then its rate, the line after a drop pays for the line
 * that counts it and carries the count, all other uids together get the
 * shared rate however many they are, and a uid evicted from the table
 * leaves its count to the next line.  No FUSE: lograte.c is below it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "fs/lograte.h"

#include <stdio.h>
#include <string.h>

#define SEC 1000000000ull

/* Each test starts its clock far after the last: every bucket is full. */
static uint64_t epoch(void)
{
	static uint64_t t;
	struct lograte_drops d;
	uid_t uid;

	while (lograte__pending(&uid, &d))
		;
	t += 1000 * SEC;
	return t;
}

/* Lines of uid tried every step ns for secs: how many passed, how many counted. */
static unsigned flood(uid_t uid, uint64_t t0, uint64_t step, uint64_t secs,
		      uint64_t *counted)
{
	struct lograte_drops d;
	unsigned passed = 0;

	for (uint64_t t = t0; t < t0 + secs * SEC; t += step)
		if (lograte__admit(uid, t, &d)) {
			passed++;
			if (counted)
				*counted += d.uid_dropped;
		}
	return passed;
}

/* uid's burst at t, all passed, then dropped more lines, all dropped. */
static void exhaust(uid_t uid, uint64_t t, int dropped)
{
	struct lograte_drops d;

	for (int i = 0; i < LOGRATE_UID_BURST; i++)
		assert_true(lograte__admit(uid, t, &d));
	for (int i = 0; i < dropped; i++)
		assert_false(lograte__admit(uid, t, &d));
}

static void test_burst_then_rate(void **state)
{
	uint64_t t = epoch(), counted = 0;
	struct lograte_drops d;
	unsigned passed;
	uid_t uid;

	(void)state;
	exhaust(1001, t, 1);
	/* One line every ms for 10 s: the rate, the counting lines included. */
	passed = flood(1001, t + 1, 1000000, 10, &counted);
	assert_true(passed * 2 <= LOGRATE_UID_RATE * 10 + 1);
	assert_true(passed >= 8);
	/* Every line tried passed or was counted, said or still pending. */
	assert_true(lograte__pending(&uid, &d));
	assert_int_equal(uid, 1001);
	assert_int_equal(passed + counted + d.uid_dropped, 10000 + 1);
}

static void test_the_count_comes_with_the_next_line(void **state)
{
	uint64_t t = epoch();
	struct lograte_drops d;
	char line[160];

	(void)state;
	exhaust(1002, t, 5);
	/* Two lines' worth later: the count, then the line. */
	assert_true(lograte__admit(1002, t + SEC, &d));
	assert_int_equal(d.uid_dropped, 5);
	assert_true(lograte__say(1002, &d, line, sizeof(line)));
	assert_string_equal(line, "uid 1002: 5 lines dropped (rate limit: 2 a "
			    "second)");
	assert_true(lograte__admit(1002, t + 10 * SEC, &d));
	assert_int_equal(d.uid_dropped, 0);
	assert_false(lograte__say(1002, &d, line, sizeof(line)));
}

static void test_all_uids_share_one_rate(void **state)
{
	uint64_t t = epoch();
	struct lograte_drops d;
	unsigned passed = 0;

	(void)state;
	/* 50 uids, each a line every 10 ms for 10 s. */
	for (uint64_t s = t; s < t + 10 * SEC; s += 10000000)
		for (uid_t u = 2000; u < 2050; u++)
			passed += lograte__admit(u, s, &d);
	assert_true(passed <= LOGRATE_ALL_BURST + LOGRATE_ALL_RATE * 10);
	assert_true(passed >= LOGRATE_ALL_BURST);
}

static void test_an_evicted_count_is_kept(void **state)
{
	uint64_t t = epoch();
	struct lograte_drops d;
	bool lost = false;
	char line[160];

	(void)state;
	exhaust(3000, t, 7);
	/*
	 * LOGRATE_UIDS newer uids, one line each a second: 3000, seen
	 * longest ago, gives way, and its 7 go with the next line that
	 * passes, whoever's.
	 */
	for (uid_t u = 0; u < LOGRATE_UIDS; u++) {
		assert_true(lograte__admit(4000 + u, t + (u + 1) * SEC, &d));
		if (d.lost) {
			assert_int_equal(d.lost, 7);
			assert_int_equal(d.uid_dropped, 0);
			assert_true(lograte__say(4000 + u, &d, line,
						 sizeof(line)));
			assert_string_equal(line, "uids no longer tracked: 7 "
					    "lines dropped (rate limit)");
			lost = true;
		}
	}
	assert_true(lost);
	/* Back, it is a new uid: nothing to say. */
	assert_true(lograte__admit(3000, t + 200 * SEC, &d));
	assert_int_equal(d.uid_dropped + d.lost, 0);
}

static void test_pending_says_what_is_left(void **state)
{
	uint64_t t = epoch();
	struct lograte_drops d;
	uid_t uid;

	(void)state;
	exhaust(5000, t, 3);
	assert_true(lograte__pending(&uid, &d));
	assert_int_equal(uid, 5000);
	assert_int_equal(d.uid_dropped, 3);
	assert_false(lograte__pending(&uid, &d));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_the_count_comes_with_the_next_line),
		cmocka_unit_test(test_all_uids_share_one_rate),
		cmocka_unit_test(test_an_evicted_count_is_kept),
		cmocka_unit_test(test_pending_says_what_is_left),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
