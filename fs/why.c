/*
 * why: the last refusal made to any process of the reader's session
 * (ps -o sid), one line, or empty.  A refused control write says only an
 * errno in the shell; `echo nope > restore || cat MOUNT/why` says why,
 * without reading everyone's log.
 *
 * A refusal is recorded where its log line is made (fs_refuse), against
 * the session of the process whose request the worker thread serves
 * (fs_caller_begin).  The sessions are kept in a small table: memory
 * stays bounded whoever calls, and the one refused longest ago gives way.
 */
#include "fs/node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Sessions remembered (the table's bound); the oldest refusal goes first. */
#define WHY_SESSIONS 64
/* One refusal: a log line's text, escaped (fs_log's bound). */
#define WHY_LINE_MAX 1024

struct session_why {
	pid_t sid;		/* 0: free */
	uint64_t stamp;		/* when it was refused, in refusals */
	uint64_t leader;	/* its leader's start time then; 0: gone */
	char line[WHY_LINE_MAX];
};

static pthread_mutex_t why_lock = PTHREAD_MUTEX_INITIALIZER;
static struct session_why sessions[WHY_SESSIONS];
static uint64_t refusals;

/* The process whose request this worker thread serves; 0: none. */
static __thread pid_t caller;

void fs_caller_begin(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	/* 0 when the caller is in a pid namespace the daemon cannot see. */
	caller = ctx ? ctx->pid : 0;
	/* Whose log lines these are: another uid's are rate-limited. */
	if (ctx)
		fs_log_from(ctx->uid);
}

void fs_caller_end(void)
{
	caller = 0;
	fs_log_from_end();
}

/*
 * Fields 6 and 22 of /proc/PID/stat: the session id (0 when unknown) and
 * when the process started, in clock ticks since boot (0 when unknown).
 */
static pid_t proc_stat(pid_t pid, uint64_t *start)
{
	char path[32], buf[512], *p;
	unsigned long long st = 0;
	int sid = 0;

	*start = 0;
	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (fs_read_text(path, buf, sizeof(buf)) <= 0)
		return 0;
	/* The command name may hold anything, ")" too: after the last. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %d", &sid) != 1 || sid < 0)
		return 0;
	/* State, then fields 4 to 21. */
	if (sscanf(p + 1, " %*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s"
		   " %*s %*s %*s %*s %*s %*s %*s %llu", &st) == 1)
		*start = st;
	return (pid_t)sid;
}

static pid_t session_of(pid_t pid)
{
	uint64_t start;

	return proc_stat(pid, &start);
}

static void record(pid_t sid, const char *line)
{
	struct session_why *e = &sessions[0];
	uint64_t leader;

	proc_stat(sid, &leader);

	pthread_mutex_lock(&why_lock);
	for (unsigned i = 0; i < WHY_SESSIONS; i++) {
		if (sessions[i].sid == sid) {
			e = &sessions[i];
			break;
		}
		if (sessions[i].stamp < e->stamp)
			e = &sessions[i];
	}
	e->sid = sid;
	e->stamp = ++refusals;
	e->leader = leader;
	snprintf(e->line, sizeof(e->line), "%s", line);
	pthread_mutex_unlock(&why_lock);
}

void fs_refuse(const char *fmt, ...)
{
	char raw[WHY_LINE_MAX], line[WHY_LINE_MAX];
	va_list ap;
	pid_t sid;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	fs_log("%s", raw);
	sid = session_of(caller);
	if (!sid)
		return;
	/* The value written may hold a newline: one line, as in the log. */
	fs_log_escape(raw, line, sizeof(line));
	record(sid, line);
}

/* What this open read at offset 0 (h->priv). */
struct why_text {
	size_t len;
	char text[WHY_LINE_MAX + 1];
};

/* The reader's session's last refusal, newline-terminated, or "". */
static void render(pid_t pid, struct why_text *t)
{
	pid_t sid = session_of(pid);
	uint64_t leader = 0;

	t->len = 0;
	if (!sid)
		return;
	/*
	 * A session id is its leader's pid, free again once the session is
	 * gone: one led by another process than the refused one was is
	 * another session.  A leader gone since cannot tell (its number
	 * stays taken while any process of its session lives).
	 */
	proc_stat(sid, &leader);
	pthread_mutex_lock(&why_lock);
	for (unsigned i = 0; i < WHY_SESSIONS; i++)
		if (sessions[i].sid == sid &&
		    (!leader || leader == sessions[i].leader)) {
			t->len = (size_t)snprintf(t->text, sizeof(t->text),
						  "%s\n", sessions[i].line);
			break;
		}
	pthread_mutex_unlock(&why_lock);
	if (t->len >= sizeof(t->text))
		t->len = sizeof(t->text) - 1;
}

/*
 * Rendered for the reader at offset 0 (its session is the reader's, not
 * the opener's), later offsets served from that copy.
 */
static void why_read(fuse_req_t req, struct handle *h, size_t size, off_t off)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct why_text *t;
	size_t n = 0;
	char *buf;

	buf = fs_read_start(req, off, &size);
	if (!buf)
		return;
	pthread_mutex_lock(&h->lock);
	t = h->priv;
	if (!t)
		t = h->priv = calloc(1, sizeof(*t));
	if (t && off == 0)
		render(ctx ? ctx->pid : 0, t);
	if (t && (uint64_t)off < t->len) {
		n = t->len - (size_t)off < size ? t->len - (size_t)off : size;
		memcpy(buf, t->text + off, n);
	}
	pthread_mutex_unlock(&h->lock);
	if (!t)
		fuse_reply_err(req, ENOMEM);
	else
		fuse_reply_buf(req, buf, n);
}

static uint64_t why_size(struct handle *h)
{
	struct why_text *t;
	uint64_t len;

	pthread_mutex_lock(&h->lock);
	t = h->priv;
	len = t ? t->len : 0;
	pthread_mutex_unlock(&h->lock);
	return len;
}

/*
 * Size 0, as procfs gives its per-reader files: what it holds depends on
 * who reads it, and the kernel keeps one size per inode for everyone.
 */
static void why_stat(struct node *n, struct stat *st)
{
	(void)n;
	st->st_size = 0;
}

static void why_release(struct handle *h)
{
	free(h->priv);
	h->priv = NULL;
}

const struct node_ops why_ops = {
	.stat = why_stat,
	.read = why_read,
	.size = why_size,
	.release = why_release,
};
