/*
 * regionfs: one process, one KVM sandbox, its memory regions mounted as a
 * filesystem.  The top of fs/: main parses and checks the options, builds
 * the sandbox, mounts, runs the loop, and unwinds in reverse order.
 */
#include "fs/from.h"
#include "fs/ops.h"
#include "fs/node.h"
#include "fs/passthrough.h"
#include "region/guest/guest.h"
#include "region/kvm/vcpu.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_REGION_SIZE (64ULL << 20)
#define MAX_SPECS 256
/* conf=FILE is read whole at start: bound it, and each of its lines. */
#define CONF_MAX_BYTES (64 << 10)
#define CONF_LINE_MAX 4096
/* SOURCE becomes the mount's fsname: what findmnt shows, mount -a compares. */
#define SOURCE_MAX 64
#define SOURCE_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
		     "0123456789_.:@+/-"
/* Bounds of the FUSE thread pool: never more than this many workers. */
#define THREADS_MAX 64

struct options {
	struct region_spec specs[MAX_SPECS];
	unsigned nr_specs;
	char *default_size;
	char *max_total;
	unsigned max_regions;
	unsigned max_threads;
	char *kvm;
	char *log;
	char *guest;
	char *entry;
	char *console_max;
	char *from;
	int demo;
	char *uid, *gid, *reader_gid;
	int no_passthrough;
	int nodirty;
	unsigned max_snapshots;
	char *max_snapshot_total;
	int show_help;
	int show_version;
	/* [SOURCE] MOUNTPOINT, as given (mount.fuse3 passes both). */
	const char *nonopts[2];
	unsigned nr_nonopts;
	const char *source;
	/* "FILE:LINE" while a conf= file is read, for the messages. */
	const char *where;
	bool bad;
};

enum { KEY_REGION, KEY_CONF, KEY_HELP, KEY_VERSION };

#define OPT(t, p) { t, offsetof(struct options, p), 1 }
static const struct fuse_opt opt_spec[] = {
	OPT("default_size=%s", default_size),
	OPT("max_total=%s", max_total),
	OPT("max_regions=%u", max_regions),
	OPT("max_threads=%u", max_threads),
	OPT("kvm=%s", kvm),
	OPT("log=%s", log),
	OPT("no_passthrough", no_passthrough),
	OPT("nodirty", nodirty),
	OPT("max_snapshots=%u", max_snapshots),
	OPT("max_snapshot_total=%s", max_snapshot_total),
	OPT("console_max=%s", console_max),
	/* Every flag has an -o form, so fstab and mount -t can say it. */
	OPT("--guest=%s", guest),
	OPT("--guest %s", guest),
	OPT("guest=%s", guest),
	OPT("--entry=%s", entry),
	OPT("--entry %s", entry),
	OPT("entry=%s", entry),
	OPT("--demo", demo),
	OPT("demo", demo),
	OPT("--from %s", from), OPT("--from=%s", from), OPT("from=%s", from),
	OPT("uid=%s", uid),
	OPT("gid=%s", gid),
	OPT("reader_gid=%s", reader_gid),
	FUSE_OPT_KEY("--region=", KEY_REGION),
	FUSE_OPT_KEY("--region ", KEY_REGION),
	FUSE_OPT_KEY("region=", KEY_REGION),
	FUSE_OPT_KEY("conf=", KEY_CONF),
	/*
	 * fstab's words for mount(8) and mount.fuse3, which drop them before
	 * they reach us; accepted here too, so a line copied from fstab into
	 * a conf file or a command line means the same.  x-* in opt_proc.
	 */
	FUSE_OPT_KEY("defaults", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nofail", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("_netdev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("auto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noauto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nouser", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("users", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END
};

static void usage(const char *prog)
{
	printf("usage: %s [OPTIONS] MOUNTPOINT\n"
	       "       %s SOURCE MOUNTPOINT [-o OPT[,OPT]]\n"
	       "                                 as mount -t fuse.regionfs and fstab call it;\n"
	       "                                 SOURCE names the mount (e.g. regionfs)\n"
	       "  --region NAME:SIZE[@GPA][:ro]  create a region at start (repeatable; -o region=...);\n"
	       "                                 @GPA maps it into the VM, :ro read-only for the guest\n"
	       "  --guest FILE                   load a static x86-64 ELF (or, with --entry, a flat binary)\n"
	       "                                 into the mapped regions and run it (-o guest=FILE)\n"
	       "  --entry GPA                    FILE is a flat binary: load it at GPA and start there\n"
	       "                                 (-o entry=GPA)\n"
	       "  --demo                         the built-in demo sandbox (regions ram, heartbeat; -o demo)\n"
	       "  --from DIR                     start from a saved snapshot directory, paused (-o from=DIR)\n"
	       "  -f / -d / -s                   foreground / debug / single-threaded\n"
	       "  -h, --help / -V, --version     this help / the version\n"
	       "  -o OPT[,OPT]                   mount options:\n"
	       "     conf=FILE                   more options from FILE, one per line (# comments)\n"
	       "     default_size=SIZE           size of a region made by mkdir (64M)\n"
	       "     max_regions=N               at most N regions (%u)\n"
	       "     max_total=SIZE              at most SIZE of regions in all (no limit)\n"
	       "     max_threads=N               FUSE worker threads (16, or 2 x cores; at most %d)\n"
	       "     kvm=PATH                    the KVM device (/dev/kvm)\n"
	       "     log=FILE                    append log lines to FILE\n"
	       "     console_max=SIZE            console bytes kept, oldest dropped (64K)\n"
	       "     no_passthrough              read contents through the daemon only\n"
	       "     nodirty                     no dirty tracking (dirty reads \"untracked\";\n"
	       "                                 restore copies every page back)\n"
	       "     max_snapshots=N             at most N snapshots (%u, at most %u)\n"
	       "     max_snapshot_total=SIZE     at most SIZE of memory for snapshots (half the RAM)\n"
	       "     uid=N,gid=N                 owner of every file (the mounting user)\n"
	       "     reader_gid=N                a group that may read contents and host addresses\n"
	       "     ro                          the whole mount is read-only (EROFS)\n"
	       "     FUSE's own too: allow_other, noatime, nosuid, ...\n"
	       "     Ignored, as fstab's words for mount: defaults, nofail, _netdev, noauto, x-*\n",
	       prog, prog, SANDBOX_REGIONS_MAX, THREADS_MAX, SNAPSHOTS_DEFAULT,
	       SANDBOX_SNAPSHOTS_MAX);
}

/* A refused option: one line, saying where when a conf file gave it. */
static void opt_error(struct options *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void opt_error(struct options *o, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "regionfs: ");
	if (o->where)
		fprintf(stderr, "%s: ", o->where);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	o->bad = true;
}

/*
 * --region=SPEC, region=SPEC (an -o word), or --region SPEC, which
 * fuse_opt hands over glued: "--regionSPEC".
 */
static void add_region(struct options *o, const char *arg)
{
	const char *form = arg[0] == '-' ? "--region " : "region=";
	int ret;

	arg += arg[0] == '-' ? strlen("--region") : strlen("region");
	arg += strspn(arg, "= ");
	if (o->nr_specs == MAX_SPECS) {
		opt_error(o, "at most %d regions at start", MAX_SPECS);
		return;
	}
	ret = parse__region_spec(arg, &o->specs[o->nr_specs]);
	if (ret) {
		opt_error(o, "%s%s: expected NAME:SIZE[@GPA][:ro] with NAME of "
			  "[A-Za-z0-9_.-]{1,64} (%s)", form, arg, strerror(ret));
		return;
	}
	o->nr_specs++;
}

/* [SOURCE] MOUNTPOINT: kept aside, fuse_parse_cmdline takes only one. */
static void add_nonopt(struct options *o, const char *arg)
{
	if (o->nr_nonopts == 2) {
		opt_error(o, "%s: one argument too many (usage: regionfs "
			  "[SOURCE] MOUNTPOINT [OPTIONS])", arg);
		return;
	}
	o->nonopts[o->nr_nonopts++] = arg;
}

/* A conf line without its comment and surrounding blanks; "" to skip. */
static char *conf_words(char *line)
{
	size_t n;

	line += strspn(line, " \t\r\n");
	if (*line == '#')
		return "";
	n = strlen(line);
	while (n && strchr(" \t\r\n", line[n - 1]))
		line[--n] = '\0';
	return line;
}

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs);

/* One conf line, parsed as "-o LINE"; what is not ours goes to libfuse. */
static void conf_line(struct options *o, char *words, struct fuse_args *outargs)
{
	char *argv[] = { "regionfs", "-o", words, NULL };
	struct fuse_args a = FUSE_ARGS_INIT(3, argv);

	if (fuse_opt_parse(&a, o, opt_spec, opt_proc) == -1)
		o->bad = true;
	for (int i = 1; i < a.argc; i++)
		fuse_opt_add_arg(outargs, a.argv[i]);
	fuse_opt_free_args(&a);
}

/*
 * conf=FILE: more -o words, one option (or a comma-separated list) per
 * line; blank lines and lines starting with # are skipped.  It is how
 * regionfs@.service reads /etc/regionfs/NAME.conf, and works in fstab.
 */
static void read_conf(struct options *o, const char *path,
		      struct fuse_args *outargs)
{
	char where[PATH_MAX + 32], *line = NULL, *words;
	unsigned lineno = 0;
	size_t cap = 0;
	struct stat st;
	ssize_t n;
	FILE *f;

	if (o->where) {
		opt_error(o, "conf=%s: a conf file cannot name another", path);
		return;
	}
	f = fopen(path, "re");
	if (!f) {
		opt_error(o, "conf=%s: %s", path, strerror(errno));
		return;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONF_MAX_BYTES) {
		opt_error(o, "conf=%s: not a regular file of at most %d KiB",
			  path, CONF_MAX_BYTES >> 10);
		fclose(f);
		return;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		snprintf(where, sizeof(where), "%s:%u", path, ++lineno);
		o->where = where;
		if (n > CONF_LINE_MAX)
			opt_error(o, "line longer than %d bytes", CONF_LINE_MAX);
		else if (*(words = conf_words(line)))
			conf_line(o, words, outargs);
		o->where = NULL;
	}
	free(line);
	fclose(f);
}

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct options *o = data;

	switch (key) {
	case KEY_REGION:
		add_region(o, arg);
		return 0;
	case KEY_CONF:
		read_conf(o, arg + strlen("conf="), outargs);
		return 0;
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		add_nonopt(o, arg);
		return 0;
	case FUSE_OPT_KEY_OPT:
		/* fstab's x-systemd.*, x-gvfs-*: for other readers of fstab. */
		return strncmp(arg, "x-", 2) == 0 ? 0 : 1;
	}
	return 1;
}

/*
 * After parsing: SOURCE (when given) names the mount, MOUNTPOINT goes
 * back to fuse_parse_cmdline, which refuses a second argument.
 */
static int take_nonopts(struct options *o, struct fuse_args *args)
{
	const char *s;

	o->source = "regionfs";
	if (o->nr_nonopts == 0)
		return 0;
	if (o->nr_nonopts == 2) {
		s = o->nonopts[0];
		if (!*s || strlen(s) > SOURCE_MAX ||
		    strspn(s, SOURCE_CHARS) != strlen(s)) {
			fprintf(stderr, "regionfs: source '%s': expected 1 to %d "
				"of [A-Za-z0-9_.:@+/-] (it names the mount, "
				"e.g. regionfs)\n", s, SOURCE_MAX);
			return EINVAL;
		}
		o->source = s;
	}
	return fuse_opt_add_arg(args, o->nonopts[o->nr_nonopts - 1]) ? ENOMEM : 0;
}

/* Size options: absent is fine, present must be a size above 0. */
static int size_opt(const char *name, const char *val, uint64_t *out)
{
	if (!val)
		return 0;
	if (parse__size(val, out) || *out == 0) {
		fprintf(stderr, "regionfs: -o %s=%s: not a size\n", name, val);
		return EINVAL;
	}
	return 0;
}

/* The limits, checked before anything is built. */
struct limits {
	uint64_t max_total, max_snap_total, console_max;
};

/*
 * --demo brings its own regions, at addresses its code knows: say so
 * before building, rather than "the name is taken" from half-way.
 */
static int check_demo_regions(const struct options *o)
{
	for (unsigned i = 0; o->demo && i < o->nr_specs; i++) {
		const char *n = o->specs[i].name;

		if (strcmp(n, "ram") && strcmp(n, "heartbeat"))
			continue;
		fprintf(stderr, "regionfs: region %s: --demo (-o demo) brings its "
			"own ram (1M at 0x%llx) and heartbeat (4K at 0x%llx): "
			"give your regions other names and addresses\n", n,
			GUEST_DEMO_RAM_GPA, GUEST_DEMO_HEARTBEAT_GPA);
		return EEXIST;
	}
	return 0;
}

/*
 * uid=, gid=, reader_gid=: a user or group id, decimal, below (uid_t)-1.
 * "-2" or "x" is refused, not taken as "not given".
 */
static int id_opt(const char *name, const char *val, unsigned *out)
{
	uint64_t v;

	if (parse__size(val, &v) || v >= UINT32_MAX ||
	    strspn(val, "0123456789") != strlen(val)) {
		fprintf(stderr, "regionfs: -o %s=%s: not a user or group id "
			"(a decimal number)\n", name, val);
		return EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int check_ids(struct options *o)
{
	unsigned id;

	rfs.uid = getuid();
	rfs.gid = getgid();
	if (o->uid && id_opt("uid", o->uid, &id))
		return EINVAL;
	if (o->uid)
		rfs.uid = id;
	if (o->gid && id_opt("gid", o->gid, &id))
		return EINVAL;
	if (o->gid)
		rfs.gid = id;
	if (o->reader_gid && id_opt("reader_gid", o->reader_gid, &id))
		return EINVAL;
	rfs.has_reader_gid = o->reader_gid != NULL;
	rfs.reader_gid = rfs.has_reader_gid ? id : 0;
	return 0;
}

static int check_options(struct options *o, struct limits *l)
{
	if (check_ids(o))
		return EINVAL;
	rfs.default_size = DEFAULT_REGION_SIZE;
	if (size_opt("default_size", o->default_size, &rfs.default_size) ||
	    size_opt("max_total", o->max_total, &l->max_total) ||
	    size_opt("max_snapshot_total", o->max_snapshot_total,
		     &l->max_snap_total) ||
	    size_opt("console_max", o->console_max, &l->console_max))
		return EINVAL;
	if (o->max_snapshots > SANDBOX_SNAPSHOTS_MAX) {
		fprintf(stderr, "regionfs: -o max_snapshots: at most %d\n",
			SANDBOX_SNAPSHOTS_MAX);
		return EINVAL;
	}
	if (rfs.default_size > REGION_SIZE_MAX) {
		fprintf(stderr, "regionfs: -o default_size: at most 1T\n");
		return EINVAL;
	}
	if (o->max_threads > THREADS_MAX) {
		fprintf(stderr, "regionfs: -o max_threads: at most %d\n",
			THREADS_MAX);
		return EINVAL;
	}
	return check_demo_regions(o);
}

static int check_mountpoint(const char *path)
{
	struct stat st;

	if (!path) {
		fprintf(stderr, "regionfs: no mountpoint (see --help)\n");
		return EINVAL;
	}
	/*
	 * mount.fuse3 -o drop_privileges mounts itself and passes the fd:
	 * without our options, default_permissions above all, the modes we
	 * show would protect nothing.
	 */
	if (strncmp(path, "/dev/fd/", strlen("/dev/fd/")) == 0) {
		fprintf(stderr, "regionfs: mountpoint %s: a mount made by "
			"another program (mount.fuse3 -o drop_privileges) is "
			"not supported: regionfs mounts with its own options\n",
			path);
		return EINVAL;
	}
	/*
	 * A FUSE daemon killed there leaves a dead mount (ENOTCONN) until
	 * auto_unmount's helper takes it away: give it a moment, bounded.
	 */
	for (int i = 0; stat(path, &st) != 0; i++) {
		if (errno != ENOTCONN || i == 50) {
			fprintf(stderr, "regionfs: mountpoint %s: %s%s\n", path,
				strerror(errno), errno == ENOTCONN ?
				" (a dead FUSE mount: fusermount3 -u it)" : "");
			return errno;
		}
		usleep(100 * 1000);
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "regionfs: mountpoint %s: not a directory\n",
			path);
		return ENOTDIR;
	}
	if (access("/dev/fuse", R_OK | W_OK) != 0) {
		fprintf(stderr, "regionfs: /dev/fuse: %s\n", strerror(errno));
		return errno;
	}
	return 0;
}

/* The --region specs, in order; the first failure stops the start. */
static int create_regions(struct options *o)
{
	for (unsigned i = 0; i < o->nr_specs; i++) {
		struct region_spec *s = &o->specs[i];
		struct why why = { "" };
		struct region *r;
		int ret;

		ret = sandbox__create(rfs.sb, s->name, s->size, NULL, &why);
		if (ret) {
			fprintf(stderr, "regionfs: --region %s: %s\n", s->name,
				ret == EEXIST ? "name given twice" :
				why__text(&why, ret));
			return ret;
		}
		if (!s->mapped && !s->ro)
			continue;
		r = sandbox__find(rfs.sb, s->name, NULL);
		if (s->ro)
			ret = sandbox__set_access(rfs.sb, r, true, &why);
		if (!ret && s->mapped)
			ret = sandbox__set_guest_addr(rfs.sb, r, false, s->gpa,
						      &why);
		region__put(r);
		if (ret) {
			fprintf(stderr, "regionfs: --region %s: cannot map at "
				"0x%llx: %s\n", s->name,
				(unsigned long long)s->gpa, why__text(&why, ret));
			return ret;
		}
	}
	return 0;
}

/*
 * Fork before the VM exists: KVM binds a VM to the mm that created it.
 * The parent waits for the child to say the mount is ready (0) or that
 * it failed (1, with the message already on the shared stderr), so the
 * command returns like other FUSE daemons: once the mount is usable.
 */
static int background(int *notify_fd)
{
	int pipefd[2];
	char status = 1;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		perror("regionfs: pipe");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		perror("regionfs: fork");
		return -1;
	}
	if (pid > 0) {
		close(pipefd[1]);
		if (read(pipefd[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(pipefd[0]);
	*notify_fd = pipefd[1];
	return 0;
}

static void detach(int notify_fd)
{
	char ok = 0;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	setsid();
	if (chdir("/") < 0)
		fs_log("chdir /: %s", strerror(errno));
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	fs_log_detach();
	if (write(notify_fd, &ok, 1) != 1)
		fs_log("cannot tell the parent the mount is ready");
	close(notify_fd);
}

/*
 * In the foreground under systemd (Type=notify sets $NOTIFY_SOCKET), say
 * READY=1 once the mount is usable: what detach() tells the waiting
 * parent otherwise.  The protocol is one datagram on a unix socket
 * (sd_notify(3), a stable interface): not worth linking libsystemd.
 */
static void notify_ready(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len = path ? strlen(path) : 0;
	int fd;

	if (!path)
		return;
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) {
		fs_log("NOTIFY_SOCKET=%s: not a socket path, readiness not told",
		       path);
		return;
	}
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')	/* an abstract socket */
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, "READY=1", strlen("READY=1"), MSG_NOSIGNAL,
			     (struct sockaddr *)&sa,
			     offsetof(struct sockaddr_un, sun_path) + len) < 0)
		fs_log("cannot tell systemd the mount is ready "
		       "(NOTIFY_SOCKET=%s): %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void log_vcpu(void *arg, const char *fmt, ...)
{
	char line[400];
	va_list ap;

	(void)arg;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Its lines say "vcpu: ..." already. */
	fs_log("%s", line);
}

/* --guest FILE [--entry GPA]; the stack starts at the end of its region. */
static int load_guest_file(struct options *o, struct vcpu_config *cfg,
			   struct why *why)
{
	struct region *r;
	uint64_t start;
	int ret;

	if (o->entry && parse__size(o->entry, &cfg->entry))
		return why__set(why, EINVAL, "--entry %s: not an address",
				o->entry);
	if (o->entry)
		ret = guest__load_flat(rfs.sb, o->guest, cfg->entry, why);
	else
		ret = guest__load_elf(rfs.sb, o->guest, &cfg->entry, why);
	if (ret)
		return ret;
	r = vm__region_at(rfs.sb->vm, cfg->entry, &start);
	cfg->stack = r ? start + r->mem_size : cfg->entry;
	region__put(r);
	return 0;
}

/*
 * --demo and --guest: load the guest into the mapped regions and create
 * the vCPU (stopped; it runs once the mount is ready).
 */
static int load_guest(struct options *o, uint64_t console_max)
{
	struct vcpu_config cfg = { .log = log_vcpu, .console_max = console_max };
	const char *what = o->demo ? "--demo" : "--guest";
	struct why why = { "" };
	int ret;

	if (!o->demo && !o->guest)
		return 0;
	if (!rfs.sb->vm) {
		fprintf(stderr, "regionfs: %s needs KVM: %s\n", what,
			why__text(&rfs.sb->vm_why, ENODEV));
		return ENODEV;
	}
	if (o->demo)
		ret = guest__demo(rfs.sb, &cfg.entry, &cfg.stack, &why);
	else
		ret = load_guest_file(o, &cfg, &why);
	if (ret) {
		fprintf(stderr, "regionfs: %s: %s\n", what, why__text(&why, ret));
		return ret;
	}
	ret = sandbox__new_vcpu(rfs.sb, &cfg, &rfs.vcpu, &why);
	if (ret)
		fprintf(stderr, "regionfs: vCPU: %s\n", why__text(&why, ret));
	return ret;
}

/*
 * Every region and every snapshot copy holds a memfd: 16 snapshots of 60
 * regions pass the usual soft limit of 1024 fds.  Take what the hard
 * limit allows (the kernel bounds it); EMFILE past that.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * Enough workers that other uids' requests (each bounded, none waiting on
 * a region's lock for metadata) cannot take every one from the owner:
 * 16, or 2 per core where there are more cores.
 */
static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	n = n > 8 ? 2 * n : 16;
	return n > THREADS_MAX ? THREADS_MAX : (unsigned)n;
}

/* The daemon's settings from the options: log, owner, read path. */
static int setup_daemon(struct options *o)
{
	if (fs_log_init()) {
		fprintf(stderr, "regionfs: no memory for the log\n");
		return ENOMEM;
	}
	if (o->log) {
		rfs.log_fd = open(o->log, O_WRONLY | O_APPEND | O_CREAT |
				  O_CLOEXEC, 0600);
		if (rfs.log_fd < 0) {
			fprintf(stderr, "regionfs: -o log=%s: %s\n", o->log,
				strerror(errno));
			return errno;
		}
	}
	raise_nofile();
	dirty__set_tracking(!o->nodirty);
	rfs.no_passthrough = o->no_passthrough;
	clock_gettime(CLOCK_REALTIME, &rfs.started);
	return 0;
}

/* The sandbox, its regions and its guest. */
static int build_sandbox(struct options *o, const struct limits *l)
{
	int err = sandbox__new(&rfs.sb, o->max_regions, l->max_total);

	if (err) {
		fprintf(stderr, "regionfs: %s\n", strerror(err));
		return err;
	}
	sandbox__reserve_names(rfs.sb, root_reserved);
	sandbox__snapshot_limits(rfs.sb, o->max_snapshots, l->max_snap_total);
	if (sandbox__open_vm(rfs.sb, o->kvm ? o->kvm : "/dev/kvm"))
		fs_log("no KVM (%s): regions can be inspected, not mapped "
		       "into a guest", why__text(&rfs.sb->vm_why, ENODEV));
	err = create_regions(o);
	if (!err)
		err = load_guest(o, l->console_max);
	if (!err)
		err = from__load(o->from, l->console_max);
	if (!err)
		err = fs_reply_buf_init();
	return err;
}

/* Serve until unmounted: 0, or 1 when the loop failed. */
static int serve(struct options *o, struct fuse_cmdline_opts *cmd)
{
	struct fuse_loop_config *loop;
	unsigned threads;
	int ret;

	if (rfs.vcpu && !o->from) {
		ret = vcpu__run(rfs.vcpu);
		fs_log("guest: %s", ret ? strerror(ret) : "running");
	}
	if (cmd->singlethread)
		return fuse_session_loop(rfs.se) ? 1 : 0;
	loop = fuse_loop_cfg_create();
	if (!loop)
		return 1;
	threads = o->max_threads ? o->max_threads : default_threads();
	fuse_loop_cfg_set_clone_fd(loop, 0);
	fuse_loop_cfg_set_max_threads(loop, threads);
	/*
	 * Idle workers stay: a new one costs a fresh 1 MiB request buffer.
	 * As many idle as workers, not UINT_MAX: libfuse 3.14 refuses that
	 * with a line on stderr, which -f puts in the journal.
	 */
	fuse_loop_cfg_set_idle_threads(loop, threads);
	ret = fuse_session_loop_mt(rfs.se, loop) ? 1 : 0;
	fuse_loop_cfg_destroy(loop);
	return ret;
}

/*
 * Mount, serve, unmount.  auto_unmount: a killed daemon leaves no dead
 * mount.  default_permissions: the kernel checks the mode bits we show.
 * allow_other when root, so containers with the mount bound in see it.
 */
static int run_mount(struct options *o, struct fuse_args *args,
		     struct fuse_cmdline_opts *cmd, int notify_fd)
{
	char opts[128 + SOURCE_MAX];
	int ret = 1, err;

	/* fsname: SOURCE, so mount -a sees an fstab line as mounted. */
	snprintf(opts, sizeof(opts), "-oauto_unmount,default_permissions,"
		 "fsname=%s,subtype=regionfs", o->source);
	fuse_opt_add_arg(args, opts);
	if (geteuid() == 0)
		fuse_opt_add_arg(args, "-oallow_other");
	rfs.se = fuse_session_new(args, &rfs_ops, sizeof(rfs_ops), NULL);
	if (!rfs.se)
		return 1;
	if (fuse_set_signal_handlers(rfs.se) != 0)
		goto out_session;
	if (fuse_session_mount(rfs.se, cmd->mountpoint) != 0)
		goto out_signals;
	err = passthrough__setup(rfs.se);
	if (err)
		fs_log("cannot hook /dev/fuse for passthrough: %s",
		       strerror(-err));
	fs_log("mounted at %s with %u region(s)", cmd->mountpoint, rfs.sb->nr);
	fs_log_say_where(cmd->mountpoint, notify_fd >= 0);
	if (notify_fd >= 0)
		detach(notify_fd);
	else
		notify_ready();
	ret = serve(o, cmd);
	fs_log("unmounted");
	fuse_session_unmount(rfs.se);
out_signals:
	fuse_remove_signal_handlers(rfs.se);
out_session:
	fuse_session_destroy(rfs.se);
	return ret;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = { 0 };
	struct limits limits = { 0 };
	static struct options o;
	int ret = 1, notify_fd = -1;

	if (fuse_opt_parse(&args, &o, opt_spec, opt_proc) == -1 || o.bad)
		goto out_args;
	if (o.show_help || o.show_version) {
		if (o.show_help)
			usage(argv[0]);
		else
			printf("regionfs %s, libfuse %s\n", REGIONFS_VERSION,
			       fuse_pkgversion());
		ret = 0;
		goto out_args;
	}
	if (take_nonopts(&o, &args) || fuse_parse_cmdline(&args, &cmd) != 0 ||
	    check_mountpoint(cmd.mountpoint) || check_options(&o, &limits) ||
	    setup_daemon(&o))
		goto out_args;
	if (!cmd.foreground && background(&notify_fd) != 0)
		goto out_log;
	if (!build_sandbox(&o, &limits))
		ret = run_mount(&o, &args, &cmd, notify_fd);
	vcpu__free(rfs.vcpu);
	sandbox__free(rfs.sb);
out_log:
	if (rfs.log_fd >= 0)
		close(rfs.log_fd);
out_args:
	free(cmd.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
