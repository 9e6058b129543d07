/*
 * FUSE passthrough for read-only opens of contents.
 *
 * The kernel (6.9 and later) can serve a FUSE file's reads straight from a
 * backing file; the region's memfd is that file, so reads run at tmpfs
 * speed and are always current.  Debian's libfuse 3.14 predates the API,
 * so we take it through fuse_session_custom_io(): the read hook sees the
 * kernel's INIT flags, the writev hook patches two replies, both sent from
 * the thread that set a thread-local marker just before:
 *   - INIT: FUSE_PASSTHROUGH in flags2 and max_stack_depth;
 *   - OPEN: FOPEN_PASSTHROUGH and the backing id in fuse_open_out.
 * It needs CAP_SYS_ADMIN (FUSE_DEV_IOC_BACKING_OPEN): without it, or
 * without kernel support, every open uses the daemon's read path.
 */
#include "fs/passthrough.h"
#include "fs/fair.h"
#include "fs/state.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

/*
 * What Debian 12's <linux/fuse.h> (protocol 7.38) lacks: from the kernel's
 * include/uapi/linux/fuse.h, protocol 7.40 (Linux 6.9).
 */
#ifndef FUSE_PASSTHROUGH
#define FUSE_PASSTHROUGH (1ULL << 37)
#endif
#ifndef FOPEN_PASSTHROUGH
#define FOPEN_PASSTHROUGH (1 << 7)
#endif
#ifndef FUSE_DEV_IOC_BACKING_OPEN
struct fuse_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define FUSE_DEV_IOC_BACKING_OPEN \
	_IOW(FUSE_DEV_IOC_MAGIC, 1, struct fuse_backing_map)
#define FUSE_DEV_IOC_BACKING_CLOSE _IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t)
#endif

/* fuse_init_out as of 7.40: max_stack_depth took the first unused word. */
struct init_out_740 {
	uint32_t major;
	uint32_t minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint16_t max_background;
	uint16_t congestion_threshold;
	uint32_t max_write;
	uint32_t time_gran;
	uint16_t max_pages;
	uint16_t map_alignment;
	uint32_t flags2;
	uint32_t max_stack_depth;
};

/* fuse_open_out as of 7.40: backing_id took the padding. */
struct open_out_740 {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};

/* memfds live on shmem, a filesystem of stack depth 0. */
#define PASSTHROUGH_STACK_DEPTH 1

static int dev_fd = -1;
static atomic_bool kernel_offers;	/* FUSE_PASSTHROUGH in INIT's flags2 */
static atomic_bool warned;
static _Thread_local bool patch_init;
static _Thread_local int patch_open_backing;

/*
 * ThreadSanitizer sees a write to /dev/fuse happen before the reads of
 * /dev/fuse that follow it (it orders a file's writes and reads), but
 * not a splice: a spliced reply to a read would not happen before the
 * release the kernel sends after it, and the release frees what the
 * read used.  Tell it what the kernel does.
 */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
static int dev_order;
#define DEV_SENT() __tsan_release(&dev_order)
#define DEV_RECEIVED() __tsan_acquire(&dev_order)
#else
#define DEV_SENT() do { } while (0)
#define DEV_RECEIVED() do { } while (0)
#endif

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *in = buf;

	(void)userdata;
	DEV_RECEIVED();
	/* This worker serves what it just read: at that uid's priority. */
	if (n >= (ssize_t)sizeof(*in))
		fair__request(in->uid);
	if (n >= (ssize_t)(sizeof(*in) + sizeof(struct fuse_init_in)) &&
	    in->opcode == FUSE_INIT) {
		const struct fuse_init_in *arg = (const void *)(in + 1);
		uint64_t flags = arg->flags;

		if (flags & FUSE_INIT_EXT)
			flags |= (uint64_t)arg->flags2 << 32;
		atomic_store(&kernel_offers, (flags & FUSE_PASSTHROUGH) != 0);
	}
	return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	const struct fuse_out_header *out = iov[0].iov_base;

	(void)userdata;
	if (patch_init && count >= 2 && out->error == 0 &&
	    iov[1].iov_len >= sizeof(struct init_out_740)) {
		struct init_out_740 *arg = iov[1].iov_base;

		arg->flags |= FUSE_INIT_EXT;
		arg->flags2 |= (uint32_t)(FUSE_PASSTHROUGH >> 32);
		arg->max_stack_depth = PASSTHROUGH_STACK_DEPTH;
		patch_init = false;
	}
	if (patch_open_backing > 0 && count >= 2 && out->error == 0 &&
	    iov[1].iov_len == sizeof(struct open_out_740)) {
		struct open_out_740 *arg = iov[1].iov_base;

		/*
		 * With FOPEN_DIRECT_IO too, reads and writes still come to us
		 * (direct_io overrides passthrough for them) and only mmap
		 * goes to the backing: what a writer of an inode open for
		 * passthrough needs to stay visible.
		 */
		arg->open_flags |= FOPEN_PASSTHROUGH;
		arg->backing_id = patch_open_backing;
	}
	patch_open_backing = 0;
	return writev(fd, iov, count);
}

/*
 * libfuse offers splice replies (FUSE_CAP_SPLICE_WRITE) only where the
 * custom io can splice: the daemon's contents reads splice from the memfd.
 */
static ssize_t io_splice_send(int fdin, off_t *offin, int fdout,
			      off_t *offout, size_t len, unsigned int flags,
			      void *userdata)
{
	(void)userdata;
	DEV_SENT();
	return splice(fdin, offin, fdout, offout, len, flags);
}

int passthrough__setup(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = io_read,
		.writev = io_writev,
		.splice_send = io_splice_send,
	};

	dev_fd = fuse_session_fd(se);
	return fuse_session_custom_io(se, &io, dev_fd);
}

const char *passthrough__init(struct fuse_conn_info *conn)
{
	(void)conn;
	if (rfs.no_passthrough)
		return "daemon (direct_io): passthrough turned off by "
		       "-o no_passthrough, so mmap of contents fails with ENODEV";
	if (dev_fd < 0 || !atomic_load(&kernel_offers))
		return "daemon (direct_io): the kernel does not offer FUSE "
		       "passthrough, so mmap of contents fails with ENODEV";
	rfs.passthrough = true;
	patch_init = true;
	return "FUSE passthrough for read-only opens (mmap works); writes go "
	       "through the daemon, stamped in dirty, and a shared mmap of a "
	       "read-write open fails with ENODEV unless the region's mmap_rw "
	       "is 1";
}

int passthrough__open_backing(int fd)
{
	struct fuse_backing_map map = { .fd = fd };
	int id = ioctl(dev_fd, FUSE_DEV_IOC_BACKING_OPEN, &map);

	if (id <= 0) {
		int err = id < 0 ? errno : EINVAL;

		/* Most likely EPERM: no CAP_SYS_ADMIN.  Fall back for good. */
		rfs.passthrough = false;
		if (!atomic_exchange(&warned, true))
			fs_log("contents read path: daemon (direct_io): FUSE "
			       "passthrough refused the backing file: %s; mmap "
			       "of contents fails with ENODEV", strerror(err));
		return -err;
	}
	return id;
}

void passthrough__close_backing(int backing_id)
{
	uint32_t id = (uint32_t)backing_id;

	ioctl(dev_fd, FUSE_DEV_IOC_BACKING_CLOSE, &id);
}

int passthrough__reply_open(fuse_req_t req, struct fuse_file_info *fi,
			    int backing_id, bool direct)
{
	fi->direct_io = direct;
	fi->keep_cache = 0;
	patch_open_backing = backing_id;
	return fuse_reply_open(req, fi);
}
