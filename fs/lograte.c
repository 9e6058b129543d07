/*
 * The log's rate limit (lograte.h): a token bucket per other uid, in a
 * table of LOGRATE_UIDS, and one for all of them.  Each bucket is kept as
 * the time it will be full again minus one line's worth (GCRA): one number,
 * no timer, and nothing to do while nobody logs.
 */
#include "fs/lograte.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>

#define NS 1000000000ull

struct bucket {
	uint64_t tat;		/* when the bucket is full again (ns) */
};

struct uid_rate {
	uid_t uid;
	bool used;
	uint64_t seen;		/* last line, admitted or not (ns): evict the oldest */
	uint64_t dropped;	/* since its last admitted line */
	struct bucket b;
};

static pthread_mutex_t rate_lock = PTHREAD_MUTEX_INITIALIZER;
static struct uid_rate uids[LOGRATE_UIDS];
static struct bucket all;
static uint64_t lost;

/* Whether cost lines fit a bucket of burst lines refilled at rate a second. */
static bool fits(const struct bucket *b, uint64_t now, unsigned cost,
		 unsigned burst, unsigned rate)
{
	uint64_t step = NS / rate, from = b->tat > now ? b->tat : now;

	return from + cost * step - now <= burst * step;
}

static void take(struct bucket *b, uint64_t now, unsigned cost,
		 unsigned rate)
{
	b->tat = (b->tat > now ? b->tat : now) + cost * (NS / rate);
}

/* uid's entry; a new uid takes the free or the oldest one. */
static struct uid_rate *entry(uid_t uid, uint64_t now)
{
	struct uid_rate *e = &uids[0];

	for (unsigned i = 0; i < LOGRATE_UIDS; i++) {
		if (uids[i].used && uids[i].uid == uid)
			return &uids[i];
		if (!uids[i].used) {
			e = &uids[i];
			break;
		}
		if (uids[i].seen < e->seen)
			e = &uids[i];
	}
	if (e->used)
		lost += e->dropped;
	*e = (struct uid_rate){ .uid = uid, .used = true, .seen = now };
	return e;
}

bool lograte__admit(uid_t uid, uint64_t now, struct lograte_drops *d)
{
	struct uid_rate *e;
	unsigned cost;
	bool ok;

	pthread_mutex_lock(&rate_lock);
	e = entry(uid, now);
	e->seen = now;
	/* The line that says what was dropped is paid for like the rest. */
	cost = e->dropped || lost ? 2 : 1;
	ok = fits(&e->b, now, cost, LOGRATE_UID_BURST, LOGRATE_UID_RATE) &&
	     fits(&all, now, cost, LOGRATE_ALL_BURST, LOGRATE_ALL_RATE);
	if (ok) {
		take(&e->b, now, cost, LOGRATE_UID_RATE);
		take(&all, now, cost, LOGRATE_ALL_RATE);
		d->uid_dropped = e->dropped;
		d->lost = lost;
		e->dropped = 0;
		lost = 0;
	} else {
		e->dropped++;
	}
	pthread_mutex_unlock(&rate_lock);
	return ok;
}

bool lograte__say(uid_t uid, const struct lograte_drops *d, char *buf,
		  size_t len)
{
	if (!d->uid_dropped && !d->lost)
		return false;
	if (!d->uid_dropped)
		snprintf(buf, len, "uids no longer tracked: %" PRIu64 " lines "
			 "dropped (rate limit)", d->lost);
	else if (!d->lost)
		snprintf(buf, len, "uid %u: %" PRIu64 " lines dropped (rate "
			 "limit: %d a second)", (unsigned)uid, d->uid_dropped,
			 LOGRATE_UID_RATE);
	else
		snprintf(buf, len, "uid %u: %" PRIu64 " lines dropped (rate "
			 "limit: %d a second); uids no longer tracked: %" PRIu64
			 " more", (unsigned)uid, d->uid_dropped,
			 LOGRATE_UID_RATE, d->lost);
	return true;
}

bool lograte__pending(uid_t *uid, struct lograte_drops *d)
{
	bool found = false;

	pthread_mutex_lock(&rate_lock);
	for (unsigned i = 0; i < LOGRATE_UIDS && !found; i++) {
		if (!uids[i].used || !uids[i].dropped)
			continue;
		*uid = uids[i].uid;
		*d = (struct lograte_drops){ .uid_dropped = uids[i].dropped };
		uids[i].dropped = 0;
		found = true;
	}
	if (!found && lost) {
		*uid = (uid_t)-1;
		*d = (struct lograte_drops){ .lost = lost };
		lost = 0;
		found = true;
	}
	pthread_mutex_unlock(&rate_lock);
	return found;
}
