/*
 * regionfs: one process, one KVM sandbox, its memory regions mounted as a
 * filesystem.  The top of fs/: main parses and checks the options, builds
 * the sandbox, mounts, runs the loop, and unwinds in reverse order.
 */
#include "fs/from.h"
#include "fs/mountpoint.h"
#include "fs/options.h"
#include "fs/ops.h"
#include "fs/node.h"
#include "fs/fair.h"
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
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The --region specs, in order; the first failure stops the start. */
static int create_regions(struct options *o)
{
	for (unsigned i = 0; i < o->nr_specs; i++) {
		struct region_spec *s = &o->specs[i];
		struct why why = { "" };
		struct region *r;
		int ret;

		ret = s->huge ? sandbox__create_paged(rfs.sb, s->name, s->size,
						      s->huge, NULL, &why) :
			sandbox__create(rfs.sb, s->name, s->size, NULL, &why);
		if (ret) {
			fs_log_err("--region %s: %s", s->name,
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
			fs_log_err("--region %s: cannot map at 0x%llx: %s",
				   s->name,
				(unsigned long long)s->gpa, why__text(&why, ret));
			return ret;
		}
	}
	return 0;
}

/*
 * The child ended without saying the mount is ready.  A refusal has said
 * why already; a signal (a crash, the OOM killer) has not: say it, on
 * stderr and in the log's file, as the command's own last word.
 */
static void child_died(pid_t pid)
{
	int ws;

	if (waitpid(pid, &ws, 0) == pid && WIFSIGNALED(ws))
		fs_log_err("the daemon (pid %d) was killed by signal %d (%s) "
			   "before the mount was ready", (int)pid, WTERMSIG(ws),
			   strsignal(WTERMSIG(ws)));
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
		if (read(pipefd[0], &status, 1) != 1) {
			status = 1;
			child_died(pid);
		}
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
	cfg->stack = r ? start + region__mem_size(r) : cfg->entry;
	region__put(r);
	return 0;
}

/*
 * --demo and --guest: load the guest into the mapped regions and create
 * the vCPU (stopped; it runs once the mount is ready).
 */
static int load_guest(struct options *o, uint64_t console_max)
{
	struct vcpu_config cfg = { .log = fs_log_vcpu, .console_max = console_max };
	const char *what = o->demo ? "--demo" : "--guest";
	struct why why = { "" };
	int ret;

	if (!o->demo && !o->guest)
		return 0;
	if (!rfs.sb->vm) {
		fs_log_err("%s needs KVM: %s", what,
			why__text(&rfs.sb->vm_why, ENODEV));
		return ENODEV;
	}
	if (o->demo)
		ret = guest__demo(rfs.sb, &cfg.entry, &cfg.stack, &why);
	else
		ret = load_guest_file(o, &cfg, &why);
	if (ret) {
		fs_log_err("%s: %s", what, why__text(&why, ret));
		return ret;
	}
	ret = sandbox__new_vcpu(rfs.sb, &cfg, &rfs.vcpu, &why);
	if (ret)
		fs_log_err("vCPU: %s", why__text(&why, ret));
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

/*
 * The daemon's settings from the options: log, owner, read path.  The
 * log is kept in a file (fs_log_keep) when the daemon will leave the
 * terminal with nowhere else to write.
 */
static int setup_daemon(struct options *o, struct fuse_cmdline_opts *cmd)
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
	if (!cmd->foreground)
		fs_log_keep(cmd->mountpoint);
	raise_nofile();
	dirty__set_tracking(!o->nodirty);
	rfs.no_passthrough = o->no_passthrough;
	region__set_mmap_rw_default(o->mmap_rw);
	/*
	 * Read requests no larger than a reply we can splice: with pipes
	 * of 1 MiB (pipe-max-size, without CAP_SYS_RESOURCE) a 1 MiB read
	 * comes as 1008 KiB and 16 KiB, both spliced, rather than as 1 MiB
	 * copied twice.
	 */
	rfs.splice_max = fs_splice_probe();
	if (rfs.splice_max && rfs.splice_max < REPLY_MAX_READ)
		rfs.max_read = (unsigned)rfs.splice_max;
	clock_gettime(CLOCK_REALTIME, &rfs.started);
	return 0;
}

/* The sandbox, its regions and its guest. */
static int build_sandbox(struct options *o, const struct limits *l)
{
	int err = sandbox__new(&rfs.sb, o->max_regions, l->max_total);

	if (err) {
		fs_log_err("%s", strerror(err));
		return err;
	}
	sandbox__reserve_names(rfs.sb, root_reserved);
	/* -o hugepages: every region made from now on (not the built-ins). */
	rfs.sb->huge = o->hugepages ? 2ULL << 20 : 0;
	sandbox__snapshot_limits(rfs.sb, o->max_snapshots, l->max_snap_total);
	if (sandbox__open_vm(rfs.sb, o->kvm ? o->kvm : "/dev/kvm"))
		fs_log("no KVM (%s): regions can be inspected, not mapped "
		       "into a guest", why__text(&rfs.sb->vm_why, ENODEV));
	err = create_regions(o);
	if (!err)
		err = load_guest(o, l->console_max);
	if (!err)
		err = from__load(o->from, o->from_unchecked, o->from_copy,
				 l->console_max);
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
 * The device of the mount just made, without asking ourselves (we do
 * not serve yet): a statx that asks for nothing and never syncs is
 * answered from the superblock (fs/fuse/dir.c, fuse_getattr).  0 when
 * it cannot be had: mappings through the mount are then not recognised
 * by a clear of dirty, which keeps counting them whole.
 */
static dev_t mount_dev(const char *mountpoint)
{
	struct statx stx;

	if (statx(AT_FDCWD, mountpoint, AT_STATX_DONT_SYNC | AT_NO_AUTOMOUNT,
		  0, &stx) != 0)
		return 0;
	return makedev(stx.stx_dev_major, stx.stx_dev_minor);
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
	if (rfs.max_read) {
		snprintf(opts, sizeof(opts), "-omax_read=%u", rfs.max_read);
		fuse_opt_add_arg(args, opts);
	}
	rfs.se = fuse_session_new(args, &rfs_ops, sizeof(rfs_ops), NULL);
	if (!rfs.se)
		return 1;
	if (fuse_set_signal_handlers(rfs.se) != 0)
		goto out_session;
	err = fuse_session_mount(rfs.se, cmd->mountpoint);
	/* Another start at the mountpoint finds this mount, or nothing. */
	mountpoint__mounted();
	if (err != 0) {
		/* libfuse said why on stderr; the kept log needs a line too. */
		fs_log_err("cannot mount at %s (libfuse's message above says why)",
			   cmd->mountpoint);
		goto out_signals;
	}
	rfs.mount_dev = mount_dev(cmd->mountpoint);
	err = passthrough__setup(rfs.se);
	if (err)
		fs_log("cannot hook /dev/fuse for passthrough: %s",
		       strerror(-err));
	/* Before the workers start: they inherit the priority it checks. */
	fair__init();
	fs_log("mounted at %s with %u region(s)", cmd->mountpoint, rfs.sb->nr);
	fs_log_say_where(cmd->mountpoint, notify_fd >= 0);
	if (notify_fd >= 0)
		detach(notify_fd);
	else
		notify_ready();
	ret = serve(o, cmd);
	fs_log_dropped();
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

	if (options__parse(&args, &o))
		goto out_args;
	if (o.show_help || o.show_version) {
		if (o.show_help)
			options__usage(argv[0]);
		else
			printf("regionfs %s, libfuse %s\n", REGIONFS_VERSION,
			       fuse_pkgversion());
		ret = 0;
		goto out_args;
	}
	if (options__take_nonopts(&o, &args) ||
	    fuse_parse_cmdline(&args, &cmd) != 0 ||
	    options__check_mountpoint(cmd.mountpoint) ||
	    options__check(&o, &limits) ||
	    setup_daemon(&o, &cmd) ||
	    mountpoint__check(cmd.mountpoint))
		goto out_log;
	if (!cmd.foreground && background(&notify_fd) != 0)
		goto out_log;
	if (!build_sandbox(&o, &limits))
		ret = run_mount(&o, &args, &cmd, notify_fd);
	core__forget();
	from__stop();
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
