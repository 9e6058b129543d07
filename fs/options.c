/* The daemon's options (options.h). */
#include "fs/options.h"
#include "region/guest/guest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	OPT("mmap_rw", mmap_rw),
	OPT("hugepages", hugepages),
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
	OPT("from_unchecked", from_unchecked),
	OPT("from_copy", from_copy),
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

void options__usage(const char *prog)
{
	printf("usage: %s [OPTIONS] MOUNTPOINT\n"
	       "       %s SOURCE MOUNTPOINT [-o OPT[,OPT]]\n"
	       "                                 as mount -t fuse.regionfs and fstab call it;\n"
	       "                                 SOURCE names the mount (e.g. regionfs)\n"
	       "  --region NAME:SIZE[@GPA][:ro][:huge]  create a region at start (repeatable; -o region=...);\n"
	       "                                 @GPA maps it into the VM, :ro read-only for the guest,\n"
	       "                                 :huge on 2 MiB huge pages (:huge=1G on 1 GiB ones)\n"
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
	       "     max_total=SIZE              at most SIZE of regions in all (64 TiB of address space\n"
	       "                                 shared by the regions and max_snapshots copies of them)\n"
	       "     max_threads=N               FUSE worker threads (16, or 2 x cores; at most %d)\n"
	       "     kvm=PATH                    the KVM device (/dev/kvm)\n"
	       "     log=FILE                    append log lines to FILE\n"
	       "     console_max=SIZE            console bytes kept, oldest dropped (64K)\n"
	       "     no_passthrough              read contents through the daemon only\n"
	       "     hugepages                   every region made after start on 2 MiB huge pages\n"
	       "                                 (sizes in whole huge pages; not the boot region)\n"
	       "     nodirty                     no dirty tracking (dirty reads \"untracked\";\n"
	       "                                 restore copies every page back)\n"
	       "     mmap_rw                     new regions allow shared writable mmap of contents\n"
	       "                                 (their mmap_rw file reads 1; dirty then counts them whole)\n"
	       "     max_snapshots=N             at most N snapshots (%u, at most %u)\n"
	       "     max_snapshot_total=SIZE     at most SIZE of memory for snapshots (half the RAM,\n"
	       "                                 or of the daemon's cgroup memory.max if lower)\n"
	       "     from_unchecked              --from a trusted store: its bytes not checked against\n"
	       "                                 the checksums its info records\n"
	       "     from_copy                   --from copies every region instead of mapping its saved\n"
	       "                                 contents copy-on-write (the default where a lease can\n"
	       "                                 be taken on it)\n"
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
		opt_error(o, "%s%s: expected NAME:SIZE[@GPA][:ro][:huge] with NAME of "
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
int options__take_nonopts(struct options *o, struct fuse_args *args)
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

int options__check(struct options *o, struct limits *l)
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
	/* Else every mkdir would be refused: say so once, at start. */
	if (o->hugepages && rfs.default_size % (2ULL << 20)) {
		fprintf(stderr, "regionfs: -o default_size: with -o hugepages, "
			"whole huge pages of 2M\n");
		return EINVAL;
	}
	if (o->max_threads > THREADS_MAX) {
		fprintf(stderr, "regionfs: -o max_threads: at most %d\n",
			THREADS_MAX);
		return EINVAL;
	}
	return check_demo_regions(o);
}

int options__check_mountpoint(const char *path)
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

int options__parse(struct fuse_args *args, struct options *o)
{
	if (fuse_opt_parse(args, o, opt_spec, opt_proc) == -1 || o->bad)
		return EINVAL;
	return 0;
}
