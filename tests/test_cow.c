/*
 * Copy-on-write regions (region/mem/cow.c): a file mapped MAP_PRIVATE.
 * Every expectation comes from the pattern written into the file (kept
 * here), never from reading the region back; the file's bytes are
 * compared with the pattern after every test: it is never written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "region/mem/copy.h"
#include "region/mem/region.h"
#include "region/sandbox/lease.h"
#include "region/sandbox/sandbox.h"
#include "tests/helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPAGES 64

/* The file: data in pages 8-23 and 40, holes elsewhere. */
static bool file_data(uint64_t p)
{
	return (p >= 8 && p < 24) || p == 40;
}

static uint8_t pattern_byte(uint64_t off)
{
	return (uint8_t)(off * 7 + 1) | 1;	/* never 0 */
}

struct file {
	char dir[64], path[128];
	int fd;
	uint8_t *want;		/* its bytes */
};

static void make_file(struct file *f)
{
	uint64_t size = NPAGES * PAGE;
	int wfd;

	/* /dev/shm: tmpfs, which gives leases and exact holes. */
	snprintf(f->dir, sizeof(f->dir), "/dev/shm/test_cow.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/contents", f->dir);
	f->want = calloc(1, size);
	assert_non_null(f->want);
	for (uint64_t p = 0; p < NPAGES; p++)
		for (uint64_t i = 0; file_data(p) && i < PAGE; i++)
			f->want[p * PAGE + i] = pattern_byte(p * PAGE + i);
	wfd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(wfd >= 0);
	assert_int_equal(ftruncate(wfd, (off_t)size), 0);
	for (uint64_t p = 0; p < NPAGES; p++)
		if (file_data(p))
			assert_int_equal(pwrite(wfd, f->want + p * PAGE, PAGE,
						(off_t)(p * PAGE)),
					 (ssize_t)PAGE);
	close(wfd);
	f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(f->fd >= 0);
}

/* The file still holds exactly what was written into it. */
static void check_file(struct file *f)
{
	uint64_t size = NPAGES * PAGE;
	uint8_t *got = malloc(size);
	int fd = open(f->path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, got, size, 0), (ssize_t)size);
	assert_memory_equal(got, f->want, size);
	close(fd);
	free(got);
}

static void drop_file(struct file *f)
{
	close(f->fd);
	unlink(f->path);
	rmdir(f->dir);
	free(f->want);
}

static struct region *cow(struct file *f)
{
	struct region *r = NULL;
	struct why why = { "" };

	if (region__cow_supported(&why))
		skip();
	assert_int_equal(region__new_cow("c", f->fd, f->path, NPAGES * PAGE,
					 NULL, &r, &why), 0);
	return r;
}

static uint64_t private_pages(struct region *r)
{
	char text[256];
	unsigned long long n;

	assert_true(region__base_text(r, text, sizeof(text), true) > 0);
	assert_int_equal(sscanf(text, "%llu ", &n), 1);
	return n;
}

/* r's bytes equal want, read in odd-sized pieces. */
static void check_bytes(struct region *r, const uint8_t *want)
{
	uint64_t size = NPAGES * PAGE;
	uint8_t *got = malloc(size);
	uint64_t off = 0;

	while (off < size) {
		size_t n = size - off < 3 * PAGE + 5 ? size - off :
			   3 * PAGE + 5;

		assert_int_equal(t_read(r, got + off, n, off), (ssize_t)n);
		off += n;
	}
	assert_memory_equal(got, want, size);
	free(got);
}

static void maps_the_file(void **state)
{
	struct file f;
	struct region *r;
	char text[256];

	(void)state;
	make_file(&f);
	r = cow(&f);
	check_bytes(r, f.want);
	/* The file's data and holes, exactly. */
	assert_int_equal(t_seek_data(r, 0), 8 * PAGE);
	assert_int_equal(t_seek_hole(r, 8 * PAGE), 24 * PAGE);
	assert_int_equal(t_seek_data(r, 24 * PAGE), 40 * PAGE);
	assert_int_equal(t_seek_hole(r, 40 * PAGE), 41 * PAGE);
	assert_int_equal(t_seek_data(r, 41 * PAGE), -ENXIO);
	assert_false(region__has_memfd(r));
	assert_int_equal(region__own_bytes(r), 0);
	assert_true(region__base_text(r, text, sizeof(text), true) > 0);
	assert_int_equal(private_pages(r), 0);
	assert_non_null(strstr(text, f.path));
	region__put(r);
	check_file(&f);
	drop_file(&f);
}

static void writes_are_private(void **state)
{
	uint8_t *want, buf[2 * 4096];
	struct file f;
	struct region *r;

	(void)state;
	make_file(&f);
	r = cow(&f);
	want = malloc(NPAGES * PAGE);
	memcpy(want, f.want, NPAGES * PAGE);
	/* One write over data and a hole page; one into a hole. */
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(t_write(r, buf, PAGE + 100, 23 * PAGE), PAGE + 100);
	memset(want + 23 * PAGE, 0xab, PAGE + 100);
	assert_int_equal(t_write(r, buf, 10, 30 * PAGE + 7), 10);
	memset(want + 30 * PAGE + 7, 0xab, 10);
	check_bytes(r, want);
	assert_int_equal(private_pages(r), 3);
	/* What a snapshot limit counts: the written pages, not the file's. */
	assert_int_equal(region__own_bytes(r), 3 * PAGE);
	/* The written hole pages are data now. */
	assert_int_equal(t_seek_hole(r, 8 * PAGE), 25 * PAGE);
	assert_int_equal(t_seek_data(r, 25 * PAGE), 30 * PAGE);
	assert_int_equal(t_seek_hole(r, 30 * PAGE), 31 * PAGE);
	region__put(r);
	check_file(&f);
	drop_file(&f);
	free(want);
}

/* A restore to the copy that shares the file drops the private pages. */
static void restore_discards(void **state)
{
	uint8_t buf[64];
	struct copy_cursor cur;
	struct file f;
	struct region *r, *copy = NULL;
	uint8_t *bounce = NULL;

	(void)state;
	make_file(&f);
	r = cow(&f);
	/*
	 * The file's holes as it is now: a write fault into a hole of a
	 * tmpfs file puts a page of zeros in the file (its bytes stay).
	 */
	assert_int_equal(t_seek_data(r, 41 * PAGE), -ENXIO);
	assert_int_equal(region__share(r, &copy), 0);
	assert_true(region__readonly(copy));
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(t_write(r, buf, sizeof(buf), 9 * PAGE), sizeof(buf));
	assert_int_equal(t_write(r, buf, sizeof(buf), 50 * PAGE), sizeof(buf));
	assert_int_equal(private_pages(r), 2);
	/* With private pages, nothing is shared: a copy must be made. */
	assert_int_equal(region__share(r, &(struct region *){ NULL }),
			 ENOTSUP);
	memset(&cur, 0, sizeof(cur));
	assert_int_equal(region__copy_out(copy, r, &bounce, &cur, 9 * PAGE,
					  10 * PAGE), 0);
	assert_int_equal(region__copy_out(copy, r, &bounce, &cur, 50 * PAGE,
					  51 * PAGE), 0);
	assert_int_equal(private_pages(r), 0);
	check_bytes(r, f.want);
	check_bytes(copy, f.want);
	assert_int_equal(t_seek_data(r, 41 * PAGE), -ENXIO);
	free(bounce);
	region__put(copy);
	region__put(r);
	check_file(&f);
	drop_file(&f);
}

/*
 * A file of size bytes of the pattern, in a new directory of /dev/shm
 * (dir, path: its names), open for reading in *fd, its bytes in want.
 */
static void big_file(uint64_t size, char dir[], char path[], size_t len,
		     uint8_t *want, int *fd)
{
	int wfd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, len, "%s/contents", dir);
	for (uint64_t i = 0; i < size; i++)
		want[i] = pattern_byte(i);
	wfd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(pwrite(wfd, want, size, 0), (ssize_t)size);
	close(wfd);
	*fd = open(path, O_RDONLY);
	assert_true(*fd >= 0);
}

/*
 * A long run written then restored: its pages moved away and freed on a
 * thread, the file mapped again in their place (cow.c's move_away).
 */
static void restore_moves_long_runs(void **state)
{
	uint64_t size = 8ULL << 20;
	char dir[] = "/dev/shm/test_cow.XXXXXX", path[64];
	uint8_t *want = malloc(size), *got = malloc(size), *bounce = NULL;
	struct region *r = NULL, *copy = NULL;
	struct copy_cursor cur;
	struct why why = { "" };
	int fd;

	(void)state;
	if (region__cow_supported(&why))
		skip();
	big_file(size, dir, path, sizeof(path), want, &fd);
	assert_int_equal(region__new_cow("c", fd, path, size, NULL, &r, &why),
			 0);
	assert_int_equal(region__share(r, &copy), 0);
	for (int round = 0; round < 3; round++) {
		memset(got, 0x40 + round, size);
		/* 1 MiB in, 6 MiB long: past DISCARD_MOVE_MIN. */
		assert_int_equal(t_write(r, got, 6 << 20, 1 << 20), 6 << 20);
		assert_int_equal(private_pages(r), (6 << 20) / PAGE);
		memset(&cur, 0, sizeof(cur));
		assert_int_equal(region__copy_out(copy, r, &bounce, &cur,
						  1 << 20, 7 << 20), 0);
		assert_int_equal(private_pages(r), 0);
		assert_int_equal(t_read(r, got, size, 0), (ssize_t)size);
		assert_memory_equal(got, want, size);
	}
	/* The mapping is whole again: one run of data, no hole. */
	assert_int_equal(t_seek_hole(r, 0), (int64_t)size);
	free(bounce);
	region__put(copy);
	region__put(r);
	close(fd);
	unlink(path);
	rmdir(dir);
	free(want);
	free(got);
}

/* Many restores of alternating long runs: the mapping's VMAs stay few. */
static size_t maps_lines(void)
{
	FILE *m = fopen("/proc/self/maps", "r");
	size_t n = 0;
	int c;

	assert_non_null(m);
	while ((c = fgetc(m)) != EOF)
		n += c == '\n';
	fclose(m);
	return n;
}

static void restores_keep_maps(void **state)
{
	uint64_t size = 16ULL << 20;
	char dir[] = "/dev/shm/test_cow.XXXXXX", path[64];
	uint8_t *want = malloc(size), *bounce = NULL, b = 1;
	struct region *r = NULL, *copy = NULL;
	struct copy_cursor cur;
	struct why why = { "" };
	size_t before;
	int fd;

	(void)state;
#ifdef __SANITIZE_THREAD__
	skip_because("ThreadSanitizer builds drop written pages in place "
		     "(no mremap, which it does not follow)");
#endif
	if (region__cow_supported(&why))
		skip();
	big_file(size, dir, path, sizeof(path), want, &fd);
	assert_int_equal(region__new_cow("c", fd, path, size, NULL, &r, &why),
			 0);
	assert_int_equal(region__share(r, &copy), 0);
	before = maps_lines();
	for (int round = 0; round < 10000; round++) {
		/* Runs of 3 MiB at 1, 5, 9 MiB: a page written at each end. */
		uint64_t off = (1 + 4 * (uint64_t)(round % 3)) << 20;
		uint64_t len = 3 << 20;

		assert_int_equal(t_write(r, &b, 1, off), 1);
		assert_int_equal(t_write(r, &b, 1, off + len - 1), 1);
		memset(&cur, 0, sizeof(cur));
		assert_int_equal(region__copy_out(copy, r, &bounce, &cur, off,
						  off + len), 0);
	}
	assert_int_equal(private_pages(r), 0);
	assert_true(maps_lines() < before + 16);
	assert_int_equal(t_seek_hole(r, 0), (int64_t)size);
	{
		uint8_t *got = malloc(size);

		assert_int_equal(t_read(r, got, size, 0), (ssize_t)size);
		assert_memory_equal(got, want, size);
		free(got);
	}
	free(bounce);
	region__put(copy);
	region__put(r);
	close(fd);
	unlink(path);
	rmdir(dir);
	free(want);
}

/*
 * A copy of a long run of data: the range is split between two threads
 * (copy.h's COPY_SPLIT_MIN), and the helper thread reads through the
 * mapping too, from the extents it was given (no fd holds the bytes).
 */
static void copies_out_big(void **state)
{
	uint64_t size = 80ULL << 20;
	char dir[] = "/dev/shm/test_cow.XXXXXX", path[64];
	uint8_t *want = malloc(size), *got = malloc(size);
	uint8_t *bounce = malloc(COPY_CHUNK);
	struct region *r = NULL, *c;
	struct why why = { "" };
	int fd;

	(void)state;
	if (region__cow_supported(&why))
		skip();
	big_file(size, dir, path, sizeof(path), want, &fd);
	assert_int_equal(region__new_cow("c", fd, path, size, NULL, &r, &why),
			 0);
	memset(want + 70 * PAGE, 0x99, PAGE);
	assert_int_equal(t_write(r, want + 70 * PAGE, PAGE, 70 * PAGE),
			 (ssize_t)PAGE);
	assert_int_equal(region__new_readonly("c", size, &c), 0);
	assert_int_equal(region__copy(c, r, bounce,
				      &(struct extents){ .hole = 0 }, 0, size,
				      false), 0);
	assert_int_equal(t_read(c, got, size, 0), (ssize_t)size);
	assert_memory_equal(got, want, size);
	region__put(c);
	region__put(r);
	close(fd);
	unlink(path);
	rmdir(dir);
	free(want);
	free(got);
	free(bounce);
}

/* A snapshot's copy of a region with private pages: an ordinary copy. */
static void copies_out(void **state)
{
	uint8_t buf[4096], *want, *bounce = malloc(COPY_CHUNK);
	struct file f;
	struct region *r, *c;

	(void)state;
	make_file(&f);
	r = cow(&f);
	want = malloc(NPAGES * PAGE);
	memcpy(want, f.want, NPAGES * PAGE);
	memset(buf, 0x33, sizeof(buf));
	assert_int_equal(t_write(r, buf, PAGE, 60 * PAGE), PAGE);
	memcpy(want + 60 * PAGE, buf, PAGE);
	assert_int_equal(region__new_readonly("c", NPAGES * PAGE, &c), 0);
	assert_int_equal(region__copy(c, r, bounce,
				      &(struct extents){ .hole = 0 }, 0,
				      NPAGES * PAGE, false), 0);
	assert_true(region__has_memfd(c));
	check_bytes(c, want);
	assert_int_equal(t_seek_data(c, 0), 8 * PAGE);
	assert_int_equal(t_seek_data(c, 41 * PAGE), 60 * PAGE);
	assert_int_equal(t_seek_hole(c, 60 * PAGE), 61 * PAGE);
	region__put(c);
	region__put(r);
	free(bounce);
	free(want);
	check_file(&f);
	drop_file(&f);
}

/* Zeros: part of it keeps the file; the whole leaves it, for holes. */
static void zero_leaves(void **state)
{
	struct file f;
	struct region *r;
	uint8_t *want;
	char text[256];

	(void)state;
	make_file(&f);
	r = cow(&f);
	want = malloc(NPAGES * PAGE);
	memcpy(want, f.want, NPAGES * PAGE);
	assert_int_equal(region__exclusive_begin(r, NULL), 0);
	assert_int_equal(region__zero_from_locked(r, 20 * PAGE + 9), 0);
	region__exclusive_end(r);
	memset(want + 20 * PAGE + 9, 0, (NPAGES - 20) * PAGE - 9);
	check_bytes(r, want);
	/* Zeros over the file's data are written (data); its holes stay. */
	assert_int_equal(t_seek_hole(r, 24 * PAGE), 24 * PAGE);
	assert_int_equal(t_seek_data(r, 24 * PAGE), 40 * PAGE);
	assert_int_equal(t_seek_data(r, 41 * PAGE), -ENXIO);
	assert_false(region__has_memfd(r));
	assert_int_equal(region__zero(r, NULL), 0);
	assert_true(region__has_memfd(r));
	assert_int_equal(region__base_text(r, text, sizeof(text), true), 0);
	assert_int_equal(t_seek_data(r, 0), -ENXIO);
	memset(want, 0, NPAGES * PAGE);
	check_bytes(r, want);
	region__put(r);
	free(want);
	check_file(&f);
	drop_file(&f);
}

/* Leaving keeps the bytes; then the file may change, the region not. */
static void leave_keeps(void **state)
{
	struct file f;
	struct region *r;
	uint8_t *want, buf[16];
	int wfd;

	(void)state;
	make_file(&f);
	r = cow(&f);
	want = malloc(NPAGES * PAGE);
	memcpy(want, f.want, NPAGES * PAGE);
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(t_write(r, buf, sizeof(buf), 3), sizeof(buf));
	memcpy(want + 3, buf, sizeof(buf));
	assert_int_equal(region__leave_base(r, NULL), 0);
	assert_true(region__has_memfd(r));
	check_bytes(r, want);
	assert_int_equal(t_seek_data(r, 0), 0);
	assert_int_equal(t_seek_hole(r, 0), PAGE);
	check_file(&f);
	wfd = open(f.path, O_WRONLY | O_TRUNC);
	assert_true(wfd >= 0);
	close(wfd);
	check_bytes(r, want);
	/* A resize of a region that left: as any region's. */
	assert_int_equal(region__resize(r, 2 * NPAGES * PAGE, NULL), 0);
	region__put(r);
	free(want);
	drop_file(&f);
}

/* A resize leaves the file first: the bytes are kept. */
static void resize_keeps(void **state)
{
	struct file f;
	struct region *r;
	uint8_t buf[8];

	(void)state;
	make_file(&f);
	r = cow(&f);
	assert_int_equal(region__resize(r, NPAGES * PAGE / 2, NULL), 0);
	assert_true(region__has_memfd(r));
	assert_int_equal(t_read(r, buf, sizeof(buf), 8 * PAGE + 1),
			 sizeof(buf));
	assert_memory_equal(buf, f.want + 8 * PAGE + 1, sizeof(buf));
	region__put(r);
	check_file(&f);
	drop_file(&f);
}

/* What cannot be mapped is refused with the reason, nothing made. */
static void refusals(void **state)
{
	struct file f;
	struct region *r = NULL;
	struct why why = { "" };
	struct lease_watch w = { .vcpu = NULL };
	int wfd;

	(void)state;
	make_file(&f);
	if (region__cow_supported(&why))
		skip();
	/* Another size than the file's: it changed. */
	assert_int_equal(region__new_cow("c", f.fd, f.path, 2 * NPAGES * PAGE,
					 NULL, &r, &why), EINVAL);
	assert_non_null(strstr(why.msg, "changed"));
	assert_null(r);
	/* Open for writing elsewhere: no lease, so no mapping. */
	assert_int_equal(lease__start(&w, &why), 0);
	wfd = open(f.path, O_WRONLY);
	assert_true(wfd >= 0);
	assert_int_equal(region__new_cow("c", f.fd, f.path, NPAGES * PAGE,
					 &w.lease, &r, &why), EAGAIN);
	assert_non_null(strstr(why.msg, "open for writing"));
	assert_null(r);
	close(wfd);
	lease__stop(&w);
	check_file(&f);
	drop_file(&f);
}

/*
 * A region that could not leave its file on a lease break (lease.c marks
 * it failed: the writer goes on) stays failed whatever --from's checks
 * of its copies say later, or when they begin after it.
 */
static void failed_leave_sticks(void **state)
{
	struct file f;
	struct region *r;
	uint8_t b;

	(void)state;
	make_file(&f);
	r = cow(&f);
	/* Being checked (fromcheck.c), then the break that failed. */
	region__check_begin(r);
	region__check_end(r, false);
	/* The check of its bytes as loaded passes. */
	region__check_end(r, true);
	assert_int_equal(t_read(r, &b, 1, 8 * PAGE), -EIO);
	/* A check that starts after the failed break. */
	region__check_begin(r);
	region__check_end(r, true);
	assert_int_equal(t_read(r, &b, 1, 8 * PAGE), -EIO);
	region__put(r);
	check_file(&f);
	drop_file(&f);
}

/*
 * A snapshot's copy that could not leave its file on a lease break
 * (lease.c fails it: the writer goes on under its mapping) is not
 * restored from, nor read through a diff's view over it.
 */
static void failed_copy_not_restored(void **state)
{
	struct copy_cursor cur;
	struct file f;
	struct region *r, *copy = NULL;
	uint8_t *bounce = NULL, b = 0x5a;

	(void)state;
	make_file(&f);
	r = cow(&f);
	assert_int_equal(region__share(r, &copy), 0);
	assert_int_equal(t_write(r, &b, 1, 9 * PAGE), 1);
	region__check_end(copy, false);
	memset(&cur, 0, sizeof(cur));
	assert_int_equal(region__copy_out(copy, r, &bounce, &cur, 9 * PAGE,
					  10 * PAGE), EIO);
	free(bounce);
	region__put(copy);
	region__put(r);
	check_file(&f);
	drop_file(&f);
}

/*
 * A writer of the file waits until the region has left it, and the
 * region keeps the bytes it had: the writer's never show.
 */
static void lease_break(void **state)
{
	struct file f;
	struct region *r = NULL;
	struct why why = { "" };
	struct lease_watch w = { .vcpu = NULL };
	uint8_t *want;
	uint64_t t0;
	pid_t pid;
	int status;

	(void)state;
	make_file(&f);
	if (region__cow_supported(&why))
		skip();
	assert_int_equal(lease__start(&w, &why), 0);
	assert_int_equal(region__new_cow("c", f.fd, f.path, NPAGES * PAGE,
					 &w.lease, &r, &why), 0);
	want = malloc(NPAGES * PAGE);
	memcpy(want, f.want, NPAGES * PAGE);
	t0 = now_ms();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char of[160];

		/*
		 * dd, not this process's image: the lease is the open file's,
		 * which a forked mapping of it keeps until exec.  Its open
		 * waits until the lease is given back.
		 */
		snprintf(of, sizeof(of), "of=%s", f.path);
		execlp("dd", "dd", "if=/dev/zero", of, "bs=4096", "count=1",
		       "seek=8", "conv=notrunc", "status=none", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Let go at once, not when the kernel's lease-break-time ran out. */
	assert_true(now_ms() - t0 < 10000);
	/* The writer goes on as the file is closed, before the count. */
	for (int i = 0; i < 500 && atomic_load(&w.breaks) < 1; i++)
		sleep_ms(10);
	assert_int_equal(atomic_load(&w.breaks), 1);
	assert_true(region__has_memfd(r));
	check_bytes(r, want);
	region__put(r);
	lease__stop(&w);
	free(want);
	close(f.fd);
	unlink(f.path);
	rmdir(f.dir);
	free(f.want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(maps_the_file),
		cmocka_unit_test(writes_are_private),
		cmocka_unit_test(restore_discards),
		cmocka_unit_test(restore_moves_long_runs),
		cmocka_unit_test(restores_keep_maps),
		cmocka_unit_test(copies_out),
		cmocka_unit_test(copies_out_big),
		cmocka_unit_test(zero_leaves),
		cmocka_unit_test(leave_keeps),
		cmocka_unit_test(resize_keeps),
		cmocka_unit_test(refusals),
		cmocka_unit_test(lease_break),
		cmocka_unit_test(failed_leave_sticks),
		cmocka_unit_test(failed_copy_not_restored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
