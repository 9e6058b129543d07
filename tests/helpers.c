/* Helpers shared by the cmocka tests (helpers.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

uint64_t rss_bytes(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
	fclose(f);
	return (uint64_t)resident * PAGE;
}

struct sandbox *new_sandbox(unsigned max_regions, uint64_t max_total)
{
	struct sandbox *sb = NULL;

	assert_int_equal(sandbox__new(&sb, max_regions, max_total), 0);
	assert_non_null(sb);
	return sb;
}

struct region *add_region(struct sandbox *sb, const char *name, uint64_t size)
{
	struct region *r;

	assert_int_equal(sandbox__create(sb, name, size, NULL, NULL), 0);
	r = sandbox__find(sb, name, NULL);
	assert_non_null(r);
	return r;
}

struct region *add_mapped(struct sandbox *sb, const char *name,
			  uint64_t size, uint64_t gpa)
{
	struct region *r = add_region(sb, name, size);

	assert_int_equal(sandbox__set_guest_addr(sb, r, false, gpa, NULL), 0);
	return r;
}

void put_file(const char *dir, const char *rel, const void *buf, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/*
 * Read one byte at p in a forked child: the signal that killed it, or 0 when
 * it exited normally.  The child restores the default handlers because
 * cmocka catches SIGSEGV to report a failed test, and must not dump core.
 */
int touch_in_child(const volatile uint8_t *p)
{
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		(void)*p;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return WTERMSIG(status);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return 0;
}

/* The guard pages fault, the first and last usable bytes do not. */
void assert_guards(struct region *r)
{
	uint8_t *base = region__base_addr(r);
	uint8_t *end = region__host_region_end(r);

	assert_int_equal(touch_in_child(base - 1), SIGSEGV);
	assert_int_equal(touch_in_child(end), SIGSEGV);
	assert_int_equal(touch_in_child(end + PAGE - 1), SIGSEGV);
	assert_int_equal(touch_in_child(base), 0);
	assert_int_equal(touch_in_child(end - 1), 0);
}

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"
#define HUGE_POOL "/sys/kernel/mm/hugepages/hugepages-2048kB/"

/* The pages this process added to the pool, to give back. */
static long huge_added;

static long read_count(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_count(const char *path, long v)
{
	FILE *f = fopen(path, "we");
	int ok;

	if (!f)
		return -1;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

long hugepages_spare(void)
{
	long free_pages = read_count(HUGE_POOL "free_hugepages"),
	     resv = read_count(HUGE_POOL "resv_hugepages");

	return free_pages < 0 || resv < 0 ? -1 : free_pages - resv;
}

void hugepages_release(void)
{
	long nr;

	if (!huge_added)
		return;
	nr = read_count(NR_HUGEPAGES);
	if (nr >= 0)
		write_count(NR_HUGEPAGES, nr > huge_added ? nr - huge_added : 0);
	huge_added = 0;
}

int hugepages_add(long n, char *why, size_t len)
{
	static bool registered;
	long nr = read_count(NR_HUGEPAGES), had = hugepages_spare(), now;

	if (nr < 0 || had < 0 || access(NR_HUGEPAGES, W_OK) != 0) {
		snprintf(why, len, "cannot write %s (not root, or no hugetlb)",
			 NR_HUGEPAGES);
		return -1;
	}
	if (!registered) {
		atexit(hugepages_release);
		registered = true;
	}
	/* Counted as added before the check: a partial grow is given back. */
	if (write_count(NR_HUGEPAGES, nr + n) == 0)
		huge_added += read_count(NR_HUGEPAGES) - nr;
	now = hugepages_spare();
	if (now < had + n) {
		snprintf(why, len,
			 "the kernel could reserve only %ld of %ld huge pages of 2 MiB",
			 now - had, n);
		return -1;
	}
	return 0;
}

int hugepages_limit(long n)
{
	long nr = read_count(NR_HUGEPAGES), spare = hugepages_spare(), now;

	if (nr < 0 || spare < 0 || write_count(NR_HUGEPAGES, nr - spare + n))
		return -1;
	now = read_count(NR_HUGEPAGES);
	huge_added += now - nr;
	return hugepages_spare() == n ? 0 : -1;
}

/* Counted by __wrap_lseek64 and __wrap_mincore, for every thread. */
static _Atomic uint64_t seeks, seek_holes, seek_hole_walk, mincore_bytes;

int __real_mincore(void *addr, size_t len, unsigned char *vec);
int __wrap_mincore(void *addr, size_t len, unsigned char *vec);

int __wrap_mincore(void *addr, size_t len, unsigned char *vec)
{
	atomic_fetch_add(&mincore_bytes, len);
	return __real_mincore(addr, len, vec);
}

off_t __real_lseek64(int fd, off_t off, int whence);
off_t __wrap_lseek64(int fd, off_t off, int whence);

off_t __wrap_lseek64(int fd, off_t off, int whence)
{
	off_t ret = __real_lseek64(fd, off, whence);

	atomic_fetch_add(&seeks, 1);
	if (whence == SEEK_HOLE && ret >= off) {
		atomic_fetch_add(&seek_holes, 1);
		atomic_fetch_add(&seek_hole_walk, (uint64_t)(ret - off));
	}
	return ret;
}

void seek_work(struct seek_work *now)
{
	now->calls = atomic_load(&seeks);
	now->holes = atomic_load(&seek_holes);
	now->hole_walk = atomic_load(&seek_hole_walk);
	now->mincore_bytes = atomic_load(&mincore_bytes);
}

struct seek_work seek_work_since(const struct seek_work *then)
{
	struct seek_work now;

	seek_work(&now);
	now.calls -= then->calls;
	now.holes -= then->holes;
	now.hole_walk -= then->hole_walk;
	now.mincore_bytes -= then->mincore_bytes;
	return now;
}
