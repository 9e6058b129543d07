/*
 * The checksums of a sandbox started copy-on-write (chain.h), checked
 * after the start on a thread of their own: mapping the saved bytes is
 * what makes a start cost milliseconds, and reading them all would cost
 * what the copy did.  What is checked is each snapshot's copy as --from
 * made it (readonly: it never changes, whatever the sandbox writes
 * meanwhile), and the vCPU may not run before it passed
 * (sandbox__from_wait): a guest never runs on bytes that were damaged.
 */
#include "region/sandbox/sandbox.h"
#include "region/mem/overlay.h"
#include "region/mem/sum.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct check_item {
	struct region *copy, *live;	/* live: the region, or NULL */
	bool copy_done, live_done;	/* their verdicts given */
	uint32_t got;			/* its sum, once checked */
	uint32_t crc;
	char what[FROM_CHECK_WHAT_MAX];	/* the file, for the message */
};

struct from_check {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started, done, stop;
	struct check_item *items;
	unsigned nr, cap, checked;
	int ret;
	struct why why;
	void (*log)(void *arg, const char *fmt, ...);
	void *log_arg;
};

static struct from_check *get_check(struct sandbox *sb)
{
	struct from_check *c = sb->check;
	pthread_condattr_t attr;

	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &attr);
	pthread_condattr_destroy(&attr);
	sb->check = c;
	return c;
}

int sandbox__check_later(struct sandbox *sb, struct region *copy,
			 struct region *live, uint32_t crc, const char *what)
{
	struct from_check *c = get_check(sb);

	if (!c || c->started)
		return c ? EBUSY : ENOMEM;
	if (c->nr == c->cap) {
		unsigned cap = c->cap ? c->cap * 2 : 8;
		struct check_item *n = realloc(c->items, cap * sizeof(*n));

		if (!n)
			return ENOMEM;
		c->items = n;
		c->cap = cap;
	}
	memset(&c->items[c->nr], 0, sizeof(c->items[c->nr]));
	c->items[c->nr].copy = region__get(copy);
	c->items[c->nr].live = live ? region__get(live) : NULL;
	c->items[c->nr].crc = crc;
	snprintf(c->items[c->nr].what, sizeof(c->items[c->nr].what), "%s",
		 what);
	c->nr++;
	return 0;
}

/* Whether a later item checks the same region (a diff over it). */
static bool checked_later(const struct from_check *c, unsigned i)
{
	for (unsigned j = i + 1; j < c->nr; j++)
		if (c->items[j].live == c->items[i].live)
			return true;
	return false;
}

/*
 * Item i passed: its copy is read again at once, and the region too
 * once no later item checks it, so that reads of a region wait for its
 * own check, not for every region's.
 */
static void passed(struct from_check *c, unsigned i)
{
	struct check_item *it = &c->items[i];

	region__check_end(it->copy, true);
	it->copy_done = true;
	if (it->live && !checked_later(c, i)) {
		region__check_end(it->live, true);
		it->live_done = true;
	}
}

/*
 * At the end, what is not read again yet: after a failure, the one that
 * failed, every item of its region (a diff's view reads its parents'
 * bytes) and every one not checked (the check stopped there) fail.
 */
static void verdicts(struct from_check *c, int ret)
{
	for (unsigned i = 0; i < c->nr; i++) {
		struct check_item *it = &c->items[i];

		if (!it->copy_done)
			region__check_end(it->copy, !ret);
		if (it->live && !it->live_done)
			region__check_end(it->live, !ret);
		it->copy_done = it->live_done = true;
	}
}

/*
 * Item i summed: a diff's copy over a copy an earlier item checked (its
 * parent's, which passed: the check stops at a failure) from that sum
 * and the pages the diff holds (sum__diff); any other whole.
 */
static int sum_item(struct from_check *c, unsigned i, uint8_t *buf,
		    uint32_t *crc)
{
	const struct overlay *o = overlay__of(c->items[i].copy);

	for (unsigned k = 0; o && o->base && k < i; k++)
		if (c->items[k].copy == o->base)
			return sum__diff(c->items[i].copy, c->items[k].got, buf,
					 crc);
	return sum__region(c->items[i].copy, buf, crc);
}

static void *check_thread(void *arg)
{
	struct from_check *c = arg;
	uint8_t *buf = malloc(SUM_CHUNK);
	int ret = buf ? 0 : ENOMEM;
	struct why why = { "" };

	region__checker_thread();
	if (ret)
		why__set(&why, ret, "out of memory for the checks");
	for (unsigned i = 0; !ret && i < c->nr; i++) {
		struct check_item *it = &c->items[i];
		uint32_t crc;

		pthread_mutex_lock(&c->lock);
		ret = c->stop ? ECANCELED : 0;
		pthread_mutex_unlock(&c->lock);
		if (ret)
			break;
		ret = sum_item(c, i, buf, &crc);
		if (ret)
			why__set(&why, ret, "%s: cannot read it to check it: %s",
				 it->what, strerror(ret));
		else if (crc != it->crc)
			ret = why__set(&why, EIO, "%s does not match its "
				       "checksum in info: it is damaged, so "
				       "the guest may not run on it (start "
				       "again with -o from_copy to be refused "
				       "at once)", it->what);
		if (!ret) {
			it->got = crc;
			passed(c, i);
		}
		pthread_mutex_lock(&c->lock);
		c->checked = i + 1;
		pthread_mutex_unlock(&c->lock);
	}
	free(buf);
	if (c->log && ret)
		c->log(c->log_arg, "--from: %s", why__text(&why, ret));
	else if (c->log)
		c->log(c->log_arg, "--from: checked: the saved bytes match "
		       "their checksums");
	verdicts(c, ret);
	pthread_mutex_lock(&c->lock);
	c->ret = ret;
	c->why = why;
	c->done = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int sandbox__check_start(struct sandbox *sb,
			 void (*log)(void *arg, const char *fmt, ...),
			 void *log_arg, struct why *why)
{
	struct from_check *c = sb->check;
	int ret;

	if (!c || c->started || !c->nr)
		return 0;
	c->log = log;
	c->log_arg = log_arg;
	/*
	 * Read by no one but the checker until the verdict; not before the
	 * load is done: it takes its snapshots of these regions.
	 */
	for (unsigned i = 0; i < c->nr; i++) {
		region__check_begin(c->items[i].copy);
		if (c->items[i].live)
			region__check_begin(c->items[i].live);
	}
	ret = pthread_create(&c->thread, NULL, check_thread, c);
	if (ret) {
		verdicts(c, ret);
		return why__set(why, ret, "cannot start the checks: %s",
				strerror(ret));
	}
	c->started = true;
	return 0;
}

int sandbox__from_wait(struct sandbox *sb, unsigned ms, struct why *why)
{
	struct from_check *c = sb->check;
	struct timespec until;
	int ret;

	if (!c || !c->started)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&c->lock);
	while (!c->done &&
	       pthread_cond_timedwait(&c->cond, &c->lock, &until) == 0)
		;
	if (!c->done)
		ret = why__set(why, EBUSY, "the saved bytes are still being "
			       "checked against their checksums (%u of %u "
			       "regions done): try again", c->checked, c->nr);
	else if (c->ret)
		ret = why__set(why, c->ret, "%s", why__text(&c->why, c->ret));
	else
		ret = 0;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void sandbox__check_free(struct sandbox *sb)
{
	struct from_check *c = sb->check;

	if (!c)
		return;
	if (c->started) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	for (unsigned i = 0; i < c->nr; i++) {
		region__put(c->items[i].copy);
		region__put(c->items[i].live);
	}
	free(c->items);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
	sb->check = NULL;
}
