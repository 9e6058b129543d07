/*
 * Host I/O in "count or -errno" form, and the fake guest (helpers.h):
 * no cmocka here, so the fuzzers link it too.
 */
#include "tests/helpers.h"

#include <errno.h>

ssize_t t_read(struct region *r, void *buf, size_t len, uint64_t off)
{
	size_t n;
	int ret = region__read(r, buf, len, off, &n);

	return ret ? -ret : (ssize_t)n;
}

ssize_t t_write(struct region *r, const void *buf, size_t len, uint64_t off)
{
	size_t n;
	int ret = region__write(r, buf, len, off, &n);

	return ret ? -ret : (ssize_t)n;
}

int64_t t_seek_data(struct region *r, uint64_t off)
{
	uint64_t pos;
	int ret = region__seek_data(r, off, &pos);

	return ret ? -ret : (int64_t)pos;
}

int64_t t_seek_hole(struct region *r, uint64_t off)
{
	uint64_t pos;
	int ret = region__seek_hole(r, off, &pos);

	return ret ? -ret : (int64_t)pos;
}

static bool fake_running(void *owner)
{
	return ((struct fake_guest *)owner)->running;
}

static int fake_enter(void *owner)
{
	struct fake_guest *g = owner;

	if (g->running)
		return EBUSY;
	g->excl++;
	return 0;
}

static void fake_exit(void *owner)
{
	((struct fake_guest *)owner)->excl--;
}

static int fake_harvest(void *owner, struct region *r)
{
	(void)owner, (void)r;
	return 0;
}

static const struct region_guard fake_guard = {
	.running = fake_running,
	.enter = fake_enter,
	.exit = fake_exit,
	.harvest = fake_harvest,
};

void fake_guest_attach(struct region *r, struct fake_guest *g)
{
	region__set_guard(r, &fake_guard, g);
}

void fake_guest_detach(struct region *r)
{
	region__set_guard(r, NULL, NULL);
}
