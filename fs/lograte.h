/*
 * The log's rate limit (lograte.c): what the lines caused by uids other
 * than the owner may cost.  Below state.c, like logkeep.h: it knows
 * nothing of the daemon's state, the caller says who and when.
 *
 * Each other uid has a token bucket of LOGRATE_UID_BURST lines refilled at
 * LOGRATE_UID_RATE a second, and all of them together share one of
 * LOGRATE_ALL_BURST refilled at LOGRATE_ALL_RATE: in T seconds, whatever
 * they do and however many uids they hold, at most
 * LOGRATE_ALL_BURST + LOGRATE_ALL_RATE * T of their lines are written,
 * the lines that count what was dropped included.  A line over the rate
 * is dropped before it is even formatted.
 */
#ifndef REGIONFS_LOGRATE_H
#define REGIONFS_LOGRATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define LOGRATE_UID_BURST 20
#define LOGRATE_UID_RATE 2	/* lines a second, each uid */
#define LOGRATE_ALL_BURST 40
#define LOGRATE_ALL_RATE 10	/* lines a second, all other uids */
/*
 * The uids tracked (the table's bound, 64 * 40 bytes): a new one takes
 * the place of the one seen longest ago, whose count of dropped lines is
 * kept in one sum for all the evicted.
 */
#define LOGRATE_UIDS 64

/* What was dropped before an admitted line: say it first, when not 0. */
struct lograte_drops {
	uint64_t uid_dropped;	/* of this uid, since its last line */
	uint64_t lost;		/* of uids evicted from the table since */
};

/*
 * Whether a line caused by uid may be written at now_ns (CLOCK_MONOTONIC).
 * When d says something was dropped, the admission paid for one more line,
 * the one that says so (lograte__say).
 */
bool lograte__admit(uid_t uid, uint64_t now_ns, struct lograte_drops *d);
/* The line that says what d counts, for uid, into buf; false: nothing. */
bool lograte__say(uid_t uid, const struct lograte_drops *d, char *buf,
		  size_t len);
/*
 * The next uid whose dropped lines were never said (and how many; the
 * evicted ones' sum as uid (uid_t)-1), forgetting them; false when none
 * is left.  For the daemon's last lines, so no count is lost.
 */
bool lograte__pending(uid_t *uid, struct lograte_drops *d);

#endif
