/* The daemon's state, its log, and the workers' reply buffers (state.h). */
#include "fs/state.h"
#include "fs/logkeep.h"
#include "fs/lograte.h"
#include "region/util/ring.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

struct rfs rfs = { .log_fd = -1 };

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ring log_ring;

/*
 * The uid whose request this worker thread serves (fs_log_from); a line
 * made outside a request is the daemon's, the owner's.
 */
static __thread struct {
	bool set;
	uid_t uid;
} log_from;

void fs_log_from(uid_t uid)
{
	log_from.set = true;
	log_from.uid = uid;
}

void fs_log_from_end(void)
{
	log_from.set = false;
}

/*
 * The lines of other uids in the ring (under log_lock), oldest first: they
 * may fill at most LOG_OTHERS_SHARE of it, so whatever they do the owner's
 * last LOG_RING_SIZE - LOG_OTHERS_SHARE bytes of lines stay readable in
 * `log`.  A line is at least ~40 bytes (stamp, name, pid): the share holds
 * fewer than LOG_OTHERS_LINES of them.
 */
#define LOG_OTHERS_LINES (LOG_OTHERS_SHARE / 32)
static struct {
	uint64_t end;		/* in the ring's stream */
	size_t len;
} others[LOG_OTHERS_LINES];
static unsigned others_first, others_nr;
static size_t others_bytes;

/* Whether another uid's line of n bytes may go into the ring; if so, noted. */
static bool ring_share(size_t n)
{
	uint64_t end = log_ring.end + n;
	uint64_t kept = end > LOG_RING_SIZE ? end - LOG_RING_SIZE : 0;
	unsigned i;

	/* Forget the lines this one pushes out, even in part. */
	while (others_nr && others[others_first].end -
	       others[others_first].len < kept) {
		others_bytes -= others[others_first].len;
		others_first = (others_first + 1) % LOG_OTHERS_LINES;
		others_nr--;
	}
	if (others_nr == LOG_OTHERS_LINES ||
	    others_bytes + n > LOG_OTHERS_SHARE)
		return false;
	i = (others_first + others_nr++) % LOG_OTHERS_LINES;
	others[i].end = end;
	others[i].len = n;
	others_bytes += n;
	return true;
}

/*
 * Whoever may write a control file chooses bytes that end up here: escape
 * control characters, so one refusal is always exactly one log line.
 */
void fs_log_escape(const char *in, char *out, size_t out_len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *in && o + 5 < out_len; in++) {
		unsigned char c = (unsigned char)*in;

		if (c < 0x20 || c == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

int fs_log_init(void)
{
	return ring__init(&log_ring, LOG_RING_SIZE);
}

/* A syslog daemon listens on /dev/log; containers and minimal hosts have none. */
static bool have_syslog(void)
{
	struct stat st;

	return stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode);
}

void fs_log_detach(void)
{
	rfs.syslog = have_syslog();
	rfs.daemonized = true;
}

/* Why no file is kept (fs_log_keep), for the line that says where. */
static int keep_err;

void fs_log_keep(const char *mount)
{
	int fd;

	if (rfs.log_fd >= 0 || have_syslog())
		return;
	fd = logkeep__open(mount);
	if (fd < 0) {
		keep_err = -fd;
		return;
	}
	rfs.log_fd = fd;
	rfs.log_kept = true;
}

void fs_log_say_where(const char *mount, bool detach)
{
	const char *to = rfs.log_kept ? logkeep__path() :
			 rfs.log_fd >= 0 ? "the file of -o log" :
			 !detach ? "stderr" : have_syslog() ? "syslog" : NULL;

	if (rfs.log_kept)
		fs_log("log: to %s (kept after the daemon ends: there is no "
		       "syslog here) and to %s/log", to, mount);
	else if (to)
		fs_log("log: to %s and to %s/log", to, mount);
	else
		fs_log("log: to %s/log only (there is no syslog here, and no "
		       "file kept%s%s: %s)", mount, *logkeep__path() ? " at " : "",
		       logkeep__path(), keep_err == ENOENT ?
		       "no $XDG_RUNTIME_DIR" : strerror(keep_err));
}

uint64_t fs_log_end(void)
{
	uint64_t end;

	pthread_mutex_lock(&log_lock);
	end = log_ring.end;
	pthread_mutex_unlock(&log_lock);
	return end;
}

size_t fs_log_read(void *buf, size_t len, uint64_t off,
		   struct ring_reader *rd)
{
	size_t n = 0;

	pthread_mutex_lock(&log_lock);
	if (log_ring.buf)
		n = ring__read(&log_ring, buf, len, off, rd);
	pthread_mutex_unlock(&log_lock);
	return n;
}

/* Write one line, escaped already, everywhere the log goes. */
static void put_line(const char *line, bool other)
{
	char full[1600], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S",
		 localtime_r(&now, &tm));
	n = snprintf(full, sizeof(full), "%s regionfs[%d]: %s\n", stamp,
		     (int)getpid(), line);
	if (n > (int)sizeof(full) - 1)
		n = (int)sizeof(full) - 1;
	pthread_mutex_lock(&log_lock);
	if (log_ring.buf && (!other || ring_share((size_t)n)))
		ring__put(&log_ring, full, (size_t)n);
	pthread_mutex_unlock(&log_lock);
	if (rfs.log_kept)
		logkeep__write(rfs.log_fd, full, (size_t)n);
	else if (rfs.log_fd >= 0)
		dprintf(rfs.log_fd, "%s", full);
	/* The kept file is not the user's choice: stderr as without it. */
	if (rfs.log_fd >= 0 && !rfs.log_kept)
		return;
	if (!rfs.daemonized)
		fprintf(stderr, "regionfs: %s\n", line);
	else if (rfs.syslog)
		syslog(LOG_NOTICE, "%s", line);
}

/*
 * Another uid's line (not the owner's, not root's, not the daemon's):
 * rate-limited (lograte.h), so that no reader can fill the disk, the
 * journal or the ring for the price of a read.
 */
static bool from_other(uid_t *uid)
{
	*uid = log_from.uid;
	return log_from.set && log_from.uid != rfs.uid && log_from.uid != 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void fs_log(const char *fmt, ...)
{
	char raw[768], line[1536], said[160];
	struct lograte_drops d;
	bool other;
	va_list ap;
	uid_t uid;

	other = from_other(&uid);
	/* Dropped before the formatting: a flood costs a lookup a line. */
	if (other && !lograte__admit(uid, now_ns(), &d))
		return;
	va_start(ap, fmt);
	if (vsnprintf(raw, sizeof(raw), fmt, ap) < 0)
		raw[0] = '\0';
	va_end(ap);
	if (other && lograte__say(uid, &d, said, sizeof(said)))
		put_line(said, true);
	fs_log_escape(raw, line, sizeof(line));
	put_line(line, other);
}

void fs_log_dropped(void)
{
	struct lograte_drops d;
	char said[160];
	uid_t uid;

	while (lograte__pending(&uid, &d))
		if (lograte__say(uid, &d, said, sizeof(said)))
			put_line(said, false);
}

void fs_log_err(const char *fmt, ...)
{
	char line[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fs_log("%s", line);
	/* What fs_log wrote only to the file of -o log: the caller waits. */
	if (rfs.log_fd >= 0 && !rfs.log_kept && !rfs.daemonized)
		fprintf(stderr, "regionfs: %s\n", line);
}

void fs_log_vcpu(void *arg, const char *fmt, ...)
{
	char line[400];
	va_list ap;

	(void)arg;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fs_log("%s", line);
}

/*
 * The daemon's read paths copy into a buffer of the worker thread, then
 * write it to /dev/fuse.  The buffer lives as long as the thread: a fresh
 * 1 MiB buffer per request costs 256 page faults, more than the copy
 * itself.
 */
#define REPLY_BUF_SIZE REPLY_MAX_READ

static pthread_key_t buf_key;

static void free_buf(void *buf)
{
	munmap(buf, REPLY_BUF_SIZE);
}

int fs_reply_buf_init(void)
{
	return pthread_key_create(&buf_key, free_buf);
}

void *fs_reply_buf(size_t *size)
{
	void *buf = pthread_getspecific(buf_key);

	if (*size > REPLY_BUF_SIZE)
		*size = REPLY_BUF_SIZE;
	if (buf)
		return buf;
	buf = mmap(NULL, REPLY_BUF_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED)
		return NULL;
	pthread_setspecific(buf_key, buf);
	return buf;
}

void *fs_read_start(fuse_req_t req, off_t off, size_t *size)
{
	void *buf;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return NULL;
	}
	buf = fs_reply_buf(size);
	if (!buf)
		fuse_reply_err(req, ENOMEM);
	return buf;
}

/* /proc/sys/fs/pipe-max-size, or 0. */
static int pipe_max_size(void)
{
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");
	int max = 0;

	if (f) {
		if (fscanf(f, "%d", &max) != 1)
			max = 0;
		fclose(f);
	}
	return max;
}

/*
 * libfuse (fuse_send_data_iov) grows a worker's pipe to a page per iovec
 * and per buffer, one more, and the reply; when it cannot, it copies
 * every later reply of that worker through a fresh buffer.  So ask for
 * what a whole 1 MiB reply needs, else for the most we may have, and
 * splice only what fits that.
 */
size_t fs_splice_probe(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), max;
	size_t headroom = 3 * page + sizeof(struct fuse_out_header);
	int p[2], got;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return 0;
	got = fcntl(p[0], F_SETPIPE_SZ, (int)(REPLY_MAX_READ + headroom));
	if (got < 0 && pipe_max_size() > 0)
		got = fcntl(p[0], F_SETPIPE_SZ, pipe_max_size());
	if (got < 0)
		got = fcntl(p[0], F_GETPIPE_SZ);
	close(p[0]);
	close(p[1]);
	if (got <= 0 || (size_t)got < headroom + SPLICE_MIN_PIPE)
		return 0;
	max = ((size_t)got - headroom) & ~(page - 1);
	return max < REPLY_MAX_READ ? max : REPLY_MAX_READ;
}

uint64_t fs_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

ssize_t fs_read_text(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}
