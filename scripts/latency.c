/*
 * scripts/latency.c: the latency figure of scripts/bench (issue 16,
 * item 4).  latency MOUNT REGION N DIRTY, with the vCPU paused; REGION
 * must be one the guest neither runs from nor needs (its DIRTY pages are
 * written before the first snapshot):
 *
 *   pwrite    a pwrite of the name at offset 0 on an open restore fd,
 *             after DIRTY pages of REGION were written;
 *   echo      the same restore as `echo NAME > restore` does it (open
 *             O_WRONLY|O_CREAT|O_TRUNC, write NAME\n, close);
 *   snapshot  `echo NAME > snapshot` of the sandbox after DIRTY pages were
 *             written (its rmdir timed apart).
 *
 * N samples of each; prints "NAME median p90 min max" in microseconds.
 * Exactness: after the first and the last restore of each series (and
 * every 16th), REGION's bytes are compared with the snapshot's copy, and
 * once per restore series the guest is run for a moment first, so a
 * restore must also bring back the registers (regs read as at the
 * snapshot).  Each snapshot of the last series is compared with the
 * region as it was.  Any difference: a line saying where, exit 1.
 * Built by scripts/bench with cc -O2; nothing but libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define SAMPLES_MAX 100000
#define CHECK_EVERY 16
#define REGS_MAX 8192

static const char *mnt, *region;
static size_t size;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "latency: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static char *path(const char *fmt, ...)
{
	static char p[4][4096];
	static int k;
	char *s = p[k++ & 3];
	va_list ap;
	int n;

	n = snprintf(s, sizeof(p[0]), "%s/", mnt);
	va_start(ap, fmt);
	vsnprintf(s + n, sizeof(p[0]) - (size_t)n, fmt, ap);
	va_end(ap);
	return s;
}

/* echo VAL > FILE, as a shell does it. */
static int echo(const char *file, const char *val)
{
	char line[256];
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0666), n, ret = 0;

	if (fd < 0)
		return errno;
	n = snprintf(line, sizeof(line), "%s\n", val);
	if (write(fd, line, (size_t)n) != n)
		ret = errno ? errno : EIO;
	if (close(fd) < 0 && !ret)
		ret = errno;
	return ret;
}

static void must_echo(const char *file, const char *val)
{
	int ret = echo(file, val);

	if (ret)
		die("echo %s > %s: %s", val, file, strerror(ret));
}

/* The whole of FILE (at most max bytes) into buf; its length. */
static size_t slurp(const char *file, char *buf, size_t max)
{
	int fd = open(file, O_RDONLY);
	size_t got = 0;
	ssize_t n = 0;

	if (fd < 0)
		die("open %s: %s", file, strerror(errno));
	while (got < max && (n = pread(fd, buf + got, max - got, (off_t)got)) > 0)
		got += (size_t)n;
	if (n < 0)
		die("read %s: %s", file, strerror(errno));
	close(fd);
	return got;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *name, double *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	printf("%s %.1f %.1f %.1f %.1f\n", name, t[n / 2],
	       t[(n * 9 + 9) / 10 - 1], t[0], t[n - 1]);
}

/* DIRTY pages of the region, spread evenly, written with a new byte. */
static void dirty_pages(int fd, int dirty, int round)
{
	size_t pages = size / PAGE, stride = pages / (size_t)dirty;
	char buf[PAGE];

	memset(buf, 0x40 + (round & 0x3f), sizeof(buf));
	for (int i = 0; i < dirty; i++)
		if (pwrite(fd, buf, PAGE, (off_t)((size_t)i * stride * PAGE)) !=
		    PAGE)
			die("writing %s/contents: %s", region, strerror(errno));
}

/* The region's bytes against want; where they differ. */
static void check_bytes(const char *what, const char *want, char *got)
{
	size_t n = slurp(path("%s/contents", region), got, size);

	if (n != size)
		die("%s: %s/contents read %zu of %zu bytes", what, region, n,
		    size);
	for (size_t off = 0; off < size; off += PAGE)
		if (memcmp(want + off, got + off, PAGE))
			die("%s: %s/contents differs from the snapshot's at "
			    "0x%zx", what, region, off);
}

/* Run the guest for a moment: registers and memory move on. */
static void run_a_moment(void)
{
	struct timespec nap = { 0, 5000000L };

	must_echo(path("vcpu"), "run");
	nanosleep(&nap, NULL);
	must_echo(path("vcpu"), "pause");
}

static void check_regs(const char *what, const char *want)
{
	static char got[REGS_MAX];
	size_t n = slurp(path("regs"), got, sizeof(got) - 1);

	got[n] = 0;
	if (strcmp(want, got))
		die("%s: regs after the restore are not the snapshot's", what);
}

/*
 * One restore series: by pwrite on an open fd, or by echo.  The guest is
 * run before the first sample (not timed), so the first restore brings
 * back registers too.
 */
static void restore_series(const char *name, bool by_pwrite, int n,
			   int dirty, int wfd, const char *ref,
			   const char *regs, char *got, double *t)
{
	const char *snap = "lat";
	char file[4096];
	int rfd;

	/* Its own copy: path() reuses its buffers. */
	snprintf(file, sizeof(file), "%s", path("restore"));
	rfd = by_pwrite ? open(file, O_WRONLY) : -1;
	if (by_pwrite && rfd < 0)
		die("open %s: %s", file, strerror(errno));
	for (int i = 0; i < n; i++) {
		double t0, t1;
		int ret = 0;

		if (i == 0 && *regs)
			run_a_moment();
		dirty_pages(wfd, dirty, i);
		t0 = now_us();
		if (by_pwrite) {
			if (pwrite(rfd, snap, strlen(snap), 0) < 0)
				ret = errno;
		} else {
			ret = echo(file, snap);
		}
		t1 = now_us();
		if (ret)
			die("%s: restore %s: %s", name, snap, strerror(ret));
		t[i] = t1 - t0;
		if (i == 0 || i == n - 1 || i % CHECK_EVERY == 0) {
			check_bytes(name, ref, got);
			if (*regs)
				check_regs(name, regs);
		}
	}
	if (rfd >= 0)
		close(rfd);
	report(name, t, n);
}

static void snapshot_series(int n, int dirty, int wfd, char *ref, char *got,
			    double *t, double *rm)
{
	char name[64];

	for (int i = 0; i < n; i++) {
		double t0, t1;
		int ret;

		dirty_pages(wfd, dirty, i + 7);
		snprintf(name, sizeof(name), "lat%d", i);
		t0 = now_us();
		ret = echo(path("snapshot"), name);
		t1 = now_us();
		if (ret)
			die("snapshot %s: %s", name, strerror(ret));
		t[i] = t1 - t0;
		if (i == 0 || i == n - 1 || i % CHECK_EVERY == 0) {
			/* The copy against the region it was taken of. */
			if (slurp(path("%s/contents", region), ref, size) != size)
				die("short read of %s/contents", region);
			if (slurp(path("snapshots/%s/%s/contents", name, region),
				  got, size) != size ||
			    memcmp(ref, got, size))
				die("snapshot %s: its %s differs from the "
				    "region", name, region);
		}
		t0 = now_us();
		if (rmdir(path("snapshots/%s", name)) < 0)
			die("rmdir snapshots/%s: %s", name, strerror(errno));
		rm[i] = now_us() - t0;
	}
	report("snapshot", t, n);
	report("rmdir", rm, n);
}

int main(int argc, char **argv)
{
	static char regs[REGS_MAX];
	double *t, *rm;
	char *ref, *got;
	struct stat st;
	int n, dirty, wfd;

	if (argc != 5)
		die("usage: latency MOUNT REGION N DIRTY");
	mnt = argv[1];
	region = argv[2];
	n = atoi(argv[3]);
	dirty = atoi(argv[4]);
	if (n < 1 || n > SAMPLES_MAX || dirty < 1)
		die("N must be 1..%d and DIRTY at least 1", SAMPLES_MAX);
	if (stat(path("%s/contents", region), &st) < 0)
		die("%s/contents: %s", region, strerror(errno));
	size = (size_t)st.st_size;
	if ((size_t)dirty > size / PAGE)
		die("%s has %zu pages, fewer than %d", region, size / PAGE,
		    dirty);
	t = calloc((size_t)n, sizeof(*t));
	rm = calloc((size_t)n, sizeof(*rm));
	ref = malloc(size);
	got = malloc(size);
	if (!t || !rm || !ref || !got)
		die("out of memory");
	wfd = open(path("%s/contents", region), O_WRONLY);
	if (wfd < 0)
		die("open %s/contents: %s", region, strerror(errno));

	/*
	 * The pages the series write hold data in the snapshot, as a
	 * guest's stack and heap do: a restore copies them back.
	 */
	dirty_pages(wfd, dirty, 0x3f);
	/* The snapshot every restore puts back, and what it holds. */
	rmdir(path("snapshots/lat"));
	must_echo(path("snapshot"), "lat");
	if (slurp(path("snapshots/lat/%s/contents", region), ref, size) != size)
		die("short read of snapshots/lat/%s/contents", region);
	regs[slurp(path("regs"), regs, sizeof(regs) - 1)] = 0;

	restore_series("pwrite", true, n, dirty, wfd, ref, regs, got, t);
	restore_series("echo", false, n, dirty, wfd, ref, regs, got, t);
	snapshot_series(n, dirty, wfd, ref, got, t, rm);
	/* The guest's memory as it was: the pages written hold its code. */
	must_echo(path("restore"), "lat");
	if (rmdir(path("snapshots/lat")) < 0)
		die("rmdir snapshots/lat: %s", strerror(errno));
	close(wfd);
	return 0;
}
