/*
 * contents: the region's usable bytes.
 *
 * Read-only opens go through FUSE passthrough when the kernel allows it
 * (see passthrough.c): the kernel reads the memfd itself.  Writes come
 * through the daemon, which holds the region shared for the duration of
 * one request and stamps the pages in dirty, unless the owner allowed
 * shared writable mappings (mmap_rw): see choose_path.
 */
#include "fs/node.h"
#include "fs/passthrough.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The passthrough state of one contents inode, as libfuse's
 * passthrough_hp keeps it in its Inode: the backing shared by every
 * passthrough open of it (the kernel wants one), and the opens of each
 * path.  Entries live while the inode has opens: at most one per open
 * file, found by hashing the inode number.
 */
struct pt_inode {
	fuse_ino_t ino;
	int backing_id;
	unsigned backing_opens;
	unsigned daemon_opens;
	bool resizing;		/* a resize makes a new memfd: no opens */
	struct pt_inode *next;
};

#define PT_BUCKETS 64

/* Guards the table and every entry. */
static pthread_mutex_t backing_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pt_inode *pt_table[PT_BUCKETS];

static struct pt_inode **pt_slot(fuse_ino_t ino)
{
	struct pt_inode **p = &pt_table[(ino >> INO_SHIFT) % PT_BUCKETS];

	while (*p && (*p)->ino != ino)
		p = &(*p)->next;
	return p;
}

static struct pt_inode *pt_get(fuse_ino_t ino)
{
	struct pt_inode **p = pt_slot(ino);

	if (!*p) {
		*p = calloc(1, sizeof(**p));
		if (*p)
			(*p)->ino = ino;
	}
	return *p;
}

static void pt_drop(fuse_ino_t ino)
{
	struct pt_inode **p = pt_slot(ino), *e = *p;

	if (e && !e->backing_opens && !e->daemon_opens && !e->resizing) {
		*p = e->next;
		free(e);
	}
}

/*
 * Which path for this open: the daemon (direct_io: every read and write
 * comes to us), passthrough (the kernel reads and writes the memfd, and
 * mmap maps it), or passthrough with direct_io (reads and writes still
 * come to us, direct_io overriding passthrough for them; only mmap goes
 * to the memfd).  What the kernel allows (fs/fuse/iomode.c,
 * fuse_file_io_open; fs/fuse/file.c, fuse_file_mmap):
 *   - once the inode has a backing (a passthrough open), every open of it
 *     must be passthrough, else EIO; a direct_io open without passthrough
 *     takes no io mode, so it never stops a later passthrough open;
 *   - a passthrough open's mmap maps the backing (the memfd): a shared
 *     writable mapping nobody sees the writes of;
 *   - a direct_io open without passthrough refuses MAP_SHARED (ENODEV;
 *     we never offer FUSE_DIRECT_IO_ALLOW_MMAP), and MAP_PRIVATE maps a
 *     private copy; so does any open but a passthrough one once the
 *     inode has a backing (ENODEV).
 * Hence, per open mode, where passthrough is available:
 *   O_RDONLY: passthrough (reads at tmpfs speed; a shared mapping cannot
 *   write: the open has no FMODE_WRITE, so the kernel clears VM_MAYWRITE).
 *   O_WRONLY: passthrough and direct_io: its writes are stamped exactly
 *   (and it cannot mmap: no FMODE_READ).
 *   O_RDWR: with mmap_rw 0, the daemon: its writes are stamped exactly
 *   and the kernel refuses its shared mappings.  The kernel would not
 *   have that while the inode has a backing (EIO): then it is refused
 *   (EBUSY), never let map the memory unseen.  With mmap_rw 1, plain
 *   passthrough, a writer nobody sees: every page counts as written from
 *   its open until a clear finds it and its mappings gone.
 * While an open without passthrough is live, every new open is one too:
 * the kernel installs a backing when it gets the reply of a passthrough
 * open, and the reply of the earlier one may not have arrived yet (the
 * order in which concurrent opens complete is the kernel's).  The inode
 * has no backing then, so their mmap fails with ENODEV instead.
 * Without passthrough, every open is the daemon's.  The memfd is sealed
 * at mem_size: the kernel refuses writes past the end by passthrough
 * writers (EPERM).  The backing goes when the last passthrough open of
 * the inode is released, after the kernel let go.
 */
enum path { PATH_DAEMON, PATH_PASSTHROUGH, PATH_PASSTHROUGH_DIRECT };

/*
 * The owner (uid=, the daemon's uid by default) and root: who may map a
 * snapshot's copy itself, e.g. a fork (regionfs --from MOUNT/snapshots/NAME).
 */
static bool may_map_copy(uid_t uid)
{
	return uid == rfs.uid || uid == 0;
}

/*
 * A snapshot's copy (readonly: never written once handed out) goes
 * through passthrough for the owner's read-only opens only, so that a
 * fork's MAP_PRIVATE mapping shares the copy's memfd pages and keeps them
 * valid after rmdir and after this daemon exits (the kernel maps the
 * memfd itself; the daemon's page cache path would SIGBUS on a page not
 * yet read once we are gone).  max_snapshot_total counts the copy while
 * it is in snapshots/; what a fork's mapping keeps after an rmdir is no
 * longer counted: that is the owner's choice, made by the owner's open.
 * Another uid's open stays the daemon's (direct_io): its mapping is of the
 * page cache, its own memory, never the copy's.  The kernel allows no
 * daemon open while the inode has a backing (EIO), and a passthrough one
 * would map the memfd: so while the owner's passthrough open is live
 * (a fork closes it once mapped), another uid's open is refused (EBUSY).
 * While a daemon open of it is live, the owner's open is the daemon's too
 * (see above): a MAP_SHARED mapping of the open fails then (ENODEV), and
 * works through passthrough only, which is how a fork tells the two apart.
 */
static int copy_path(struct pt_inode *e, struct region *r, int acc,
		     uid_t uid, bool *pt)
{
	if (!may_map_copy(uid) || acc != O_RDONLY || !region__has_memfd(r)) {
		*pt = false;
		if (!e->backing_opens)
			return 0;
		fs_refuse("%s/contents: open of a snapshot's copy refused: "
			  "the owner has it open to map it (a fork), and it "
			  "may not be mapped by others; try again once that "
			  "open is closed", region__name(r));
		return EBUSY;
	}
	return 0;
}

static int choose_path(struct handle *h, int acc, uid_t uid, enum path *path)
{
	struct region *r = h->n.r;
	struct pt_inode *e;
	bool pt;
	int ret;

	pthread_mutex_lock(&backing_lock);
	e = pt_get(h->n.ino);
	/* Only a passthrough open could keep the memfd a resize replaces. */
	if (!e || (e->resizing && rfs.passthrough && !rfs.no_passthrough)) {
		pthread_mutex_unlock(&backing_lock);
		if (e)
			fs_refuse("%s/contents: open refused: a resize is "
				  "under way", region__name(r));
		return e ? EBUSY : ENOMEM;
	}
	/*
	 * A huge region is the daemon's: hugetlbfs has no write(2) for a
	 * passthrough writer, and a passthrough mmap would put a hugetlb
	 * mapping at an address chosen for the FUSE file, which no one
	 * aligned to the huge page.  So is a region whose bytes are not all
	 * its memfd's (copy-on-write, a diff's copy): the kernel would serve
	 * the memfd.
	 */
	pt = rfs.passthrough && !rfs.no_passthrough &&
	     region__page_bytes(r) == region__page_size() &&
	     region__has_memfd(r) && !e->daemon_opens;
	if (region__readonly(r)) {
		ret = copy_path(e, r, acc, uid, &pt);
		if (ret) {
			pthread_mutex_unlock(&backing_lock);
			return ret;
		}
	}
	if (pt && acc == O_RDWR && !region__mmap_rw(r)) {
		if (e->backing_opens) {
			pthread_mutex_unlock(&backing_lock);
			fs_log("%s/contents: open for reading and writing "
			       "refused: it is open for passthrough (a reader, "
			       "or a write-only writer), so this open would be "
			       "too and could map the memory writable, which "
			       "dirty cannot see; close those first, or allow "
			       "it: echo 1 > %s/mmap_rw", region__name(r),
			       region__name(r));
			return EBUSY;
		}
		pt = false;
	}
	if (pt && !e->backing_id) {
		int id = passthrough__open_backing(region__memfd(r));

		e->backing_id = id > 0 ? id : 0;
		pt = e->backing_id != 0;
	}
	if (pt) {
		e->backing_opens++;
		h->backing_id = e->backing_id;
		*path = acc == O_WRONLY ? PATH_PASSTHROUGH_DIRECT :
			PATH_PASSTHROUGH;
	} else {
		e->daemon_opens++;
		*path = PATH_DAEMON;
	}
	h->counted = true;
	pthread_mutex_unlock(&backing_lock);
	return 0;
}

/*
 * O_TRUNC zeroes the region, so `cp image contents` leaves exactly the
 * image: a control operation, exclusive (EBUSY while the guest runs).
 */
static int truncate_at_open(struct region *r)
{
	struct why why = { "" };
	int ret = sandbox__zero(rfs.sb, r, &why);

	if (ret)
		fs_refuse("%s/contents: open with O_TRUNC refused: %s (%s)",
			  region__name(r), why__text(&why, ret), strerror(ret));
	return ret;
}

static int contents_open(fuse_req_t req, struct handle *h,
			 struct fuse_file_info *fi)
{
	int acc = fi->flags & O_ACCMODE, ret = 0;
	enum path path;

	/*
	 * The path first, so that a refusal changes nothing; then O_TRUNC,
	 * whatever the access mode (the kernel checked the permission); a
	 * refused truncate is undone by the release the caller makes.
	 */
	/*
	 * Bytes --from still checks (or found damaged) are read by no one:
	 * a passthrough open would let the kernel read them without us.
	 */
	ret = region__check_wait(h->n.r);
	if (ret) {
		fs_refuse("%s/contents: open refused: %s",
			  region__name(h->n.r), ret == EIO ?
			  "its bytes do not match the checksum its saved "
			  "directory records (the log says which file)" :
			  "its bytes are still being checked");
		return ret;
	}
	ret = choose_path(h, acc, fuse_req_ctx(req)->uid, &path);
	if (!ret && (fi->flags & O_TRUNC))
		ret = truncate_at_open(h->n.r);
	if (ret)
		return ret;
	/*
	 * Passthrough readers (and writers) are lock-free observers, like
	 * the guest: they see the memory as it is, without taking the region
	 * shared.
	 */
	if (path == PATH_PASSTHROUGH && acc == O_RDWR) {
		/*
		 * Its writes, and those of a mapping of it that may outlive
		 * it, never reach us: every page counts as written from now
		 * (before the kernel can write) until a clear finds no such
		 * writer left.  Not before: a refused O_TRUNC wrote nothing.
		 * Its mappings show under the mount's name for contents.
		 */
		region__set_alias(h->n.r, rfs.mount_dev, h->n.ino);
		region__writer_open(h->n.r);
		h->writer = true;
	}
	if (path != PATH_DAEMON)
		return passthrough__reply_open(req, fi, h->backing_id,
					       path == PATH_PASSTHROUGH_DIRECT);
	/*
	 * Never the page cache, whatever the open flags (an O_DIRECT open
	 * without direct_io could be put in cached mode by fcntl or mmap): a
	 * read returns what the memory holds now.
	 */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return fuse_reply_open(req, fi);
}

static void contents_release(struct handle *h)
{
	struct pt_inode *e;

	if (!h->counted)
		return;	/* refused before choose_path counted it */
	pthread_mutex_lock(&backing_lock);
	e = *pt_slot(h->n.ino);
	if (e && !h->backing_id) {
		e->daemon_opens--;
	} else if (e && --e->backing_opens == 0) {
		passthrough__close_backing(e->backing_id);
		e->backing_id = 0;
	}
	pt_drop(h->n.ino);
	pthread_mutex_unlock(&backing_lock);
	/* What a read-write opener wrote, it wrote by now at the latest. */
	if (h->writer)
		region__writer_close(h->n.r);
}

int contents__resize_begin(fuse_ino_t ino)
{
	struct pt_inode *e;
	int ret = 0;

	pthread_mutex_lock(&backing_lock);
	e = pt_get(ino);
	if (!e)
		ret = ENOMEM;
	else if (e->backing_opens || e->resizing)
		ret = EBUSY;
	else
		e->resizing = true;
	pthread_mutex_unlock(&backing_lock);
	return ret;
}

void contents__resize_end(fuse_ino_t ino)
{
	struct pt_inode *e;

	pthread_mutex_lock(&backing_lock);
	e = *pt_slot(ino);
	if (e)
		e->resizing = false;
	pt_drop(ino);
	pthread_mutex_unlock(&backing_lock);
}

/*
 * ftruncate(size): the file is truncated and extended back, as a regular
 * file would be: zeros from size to the end, and the size stays.  So a
 * copy that ends on a hole (cp --sparse, tar -S, rsync --inplace) leaves
 * zeros there.  Past mem_size: EFBIG, the size never changes.
 */
int contents__truncate(struct node *n, off_t size)
{
	struct why why = { "" };
	int ret;

	if (size < 0 || (uint64_t)size > region__mem_size(n->r)) {
		fs_refuse("%s/contents: truncate to %lld refused: past "
			  "mem_size %llu (write mem_size to resize)",
			  region__name(n->r), (long long)size,
			  (unsigned long long)region__mem_size(n->r));
		return EFBIG;
	}
	ret = sandbox__zero_from(rfs.sb, n->r, (uint64_t)size, &why);
	if (ret)
		fs_refuse("%s/contents: truncate to %lld refused: %s (%s)",
			  region__name(n->r), (long long)size,
			  why__text(&why, ret), strerror(ret));
	return ret;
}

/*
 * The daemon's read path for large reads: splice the memfd's pages into
 * the worker's pipe and the pipe into /dev/fuse, where the kernel copies
 * them straight into the reader's buffer: one copy, not two (pread into
 * a buffer, then the buffer into /dev/fuse).  Holes splice as the zero
 * page, so reading still never allocates.  The region stays shared until
 * the reply is sent: the bytes copied are the memory as it is during the
 * read, never a zeroed or resized one.  fuse_reply_data answers the
 * request whatever happens (an error, if the splice fails).
 */
struct read_req {
	fuse_req_t req;
	off_t off;
};

static int reply_spliced(void *arg, int memfd, uint64_t off, size_t len)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);
	fuse_req_t req = ((struct read_req *)arg)->req;

	if (!len) {
		fuse_reply_buf(req, NULL, 0);
		return 0;
	}
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = memfd;
	bv.buf[0].pos = (off_t)off;
	fuse_reply_data(req, &bv, 0);
	return 0;
}

/* A huge region's reply (region__read_mapped): the kernel copies it once. */
static int reply_mapped(void *arg, const struct iovec *iov, int cnt)
{
	fuse_reply_iov(((struct read_req *)arg)->req, iov, cnt);
	return 0;
}

/*
 * Small reads, and every read that is neither spliced nor replied from
 * the mapping (a diff's copy, which reads through to its parent; a pipe
 * too small): into the worker's reply buffer, then one write to
 * /dev/fuse.  pread of a hole copies zeros without allocating.
 */
static void *read_buffer(void *arg, size_t *size)
{
	struct read_req *rr = arg;

	return fs_read_start(rr->req, rr->off, size);
}

static int reply_copied(void *arg, const void *buf, size_t len)
{
	fuse_reply_buf(((struct read_req *)arg)->req, buf, len);
	return 0;
}

/* The region says how the read is served, once (region__reply_read). */
static void contents_read(fuse_req_t req, struct handle *h, size_t size,
			  off_t off)
{
	struct region *r = h->n.r;
	struct read_req rr = { req, off };
	struct region_reader rd = { .buffer = read_buffer,
				    .copied = reply_copied };
	int ret;

	if (off >= 0 && size >= SPLICE_MIN_READ) {
		rd.fd = reply_spliced;
		rd.fd_max = rfs.splice_max;
		rd.iov = reply_mapped;
	}
	/*
	 * The reply goes out before the region is let go: once it has, the
	 * reader may close and the release drop the handle's reference, the
	 * last one after an rmdir.  Hold one of our own until the unlock.
	 */
	region__get(r);
	ret = region__reply_read(r, size, off < 0 ? 0 : (uint64_t)off, &rd,
				 &rr);
	region__put(r);
	if (!ret)
		return;
	/* Nothing was sent: the read still holds the file, and so r. */
	if (ret == EBUSY)
		fs_refuse("%s/contents: read refused: exclusivity held too "
			  "long", region__name(r));
	fuse_reply_err(req, ret);
}

static void contents_write(fuse_req_t req, struct handle *h, const char *buf,
			   size_t size, off_t off)
{
	size_t n;
	int ret;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ret = region__write(h->n.r, buf, size, (uint64_t)off, &n);
	if (ret) {
		fs_refuse("%s/contents: write of %zu bytes at %lld refused: %s",
			  region__name(h->n.r), size, (long long)off,
			  ret == ENOSPC ? "starts past mem_size" :
			  ret == EBUSY ? "exclusivity held too long" :
			  ret == ENOMEM ? "no memory for its pages (a huge "
			  "region: no page left in the pool, see "
			  "/proc/sys/vm/nr_hugepages)" :
			  strerror(ret));
		fuse_reply_err(req, ret);
		return;
	}
	fuse_reply_write(req, n);
}

static void contents_lseek(fuse_req_t req, struct handle *h, off_t off,
			   int whence)
{
	uint64_t pos;
	int ret;

	if (off < 0) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	if (whence == SEEK_DATA)
		ret = region__seek_data(h->n.r, (uint64_t)off, &pos);
	else if (whence == SEEK_HOLE)
		ret = region__seek_hole(h->n.r, (uint64_t)off, &pos);
	else
		ret = EINVAL;
	if (ret)
		fuse_reply_err(req, ret);
	else
		fuse_reply_lseek(req, (off_t)pos);
}

/* Without the region's lock: a stat never waits for a control write. */
static void contents_stat(struct node *n, struct stat *st)
{
	struct region_geometry g;

	region__geometry(n->r, &g, true);
	st->st_size = (off_t)g.mem_size;
	/* The memfd's real allocation: cp --sparse skips the rest. */
	st->st_blocks = (blkcnt_t)(g.resident / 512);
	st->st_blksize = CONTENTS_BLKSIZE;
	region__times(n->r, &st->st_mtim, &st->st_ctim);
	/*
	 * Writers we cannot see (the guest while it runs and may write, a
	 * passthrough writer): the bytes may change at any moment, so the
	 * time is now, as procfs says of its live files.
	 */
	if ((region__guest_running(n->r) && !region__guest_ro(n->r)) ||
	    region__writer_is_open(n->r))
		clock_gettime(CLOCK_REALTIME, &st->st_mtim);
	if (st->st_ctim.tv_sec < st->st_mtim.tv_sec ||
	    (st->st_ctim.tv_sec == st->st_mtim.tv_sec &&
	     st->st_ctim.tv_nsec < st->st_mtim.tv_nsec))
		st->st_ctim = st->st_mtim;
}

const struct node_ops contents_ops = {
	.stat = contents_stat,
	.open = contents_open,
	.read = contents_read,
	.write_data = contents_write,
	.lseek = contents_lseek,
	.release = contents_release,
	.truncate = contents__truncate,
};
