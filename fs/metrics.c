/*
 * metrics: the sandbox in Prometheus text exposition format 0.0.4, and the
 * daemon's own counters behind it (bumped by ops.c, one call per request).
 * Rendering is O(regions + mappings): per region its sizes (mem_size,
 * resident bytes from one fstat) and guest mapping as labels, never a
 * walk of its pages.  Public (0444), like sizes and state: counts,
 * guest addresses and names, no host address and no byte of memory.
 */
#include "fs/longtext.h"
#include "region/kvm/inspect.h"
#include "region/kvm/layout.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Counters by file kind: the root's files by inode (below 16), a region
 * directory's by 16 + its enum rfile (a snapshot's copies count with the
 * live ones).
 */
#define KEYS 32
#define ERRNOS 134	/* past EHWPOISON: counted as the last */

static const char *_Atomic key_name[KEYS];
static atomic_uint_fast64_t reqs[2][KEYS], bytes[2][KEYS];
static atomic_uint_fast64_t ctl[KEYS][ERRNOS + 1];	/* [0]: accepted */
/* Requests that may change what metrics shows: writes, mkdir, rmdir. */
static atomic_uint_fast64_t changes;
/*
 * How long one rendering serves every stat and read at 0 (shared, see
 * longtext.h): MAX when no change the daemon makes comes between, MIN
 * whatever comes.  A crowd of readers costs one rendering, O(regions),
 * per MAX; with the owner changing things all the while, per MIN.
 */
#define METRICS_MIN_MS 50
#define METRICS_MAX_MS 100

static int key_of(const struct node *n)
{
	unsigned k = n->r ? 16 + n->file : (unsigned)n->ino;

	if (k >= KEYS)
		return -1;
	if (!atomic_load_explicit(&key_name[k], memory_order_relaxed))
		atomic_store(&key_name[k], n->name);
	return (int)k;
}

void metrics__count(const struct node *n, bool write, size_t size)
{
	int k = key_of(n);

	if (k < 0)
		return;
	if (write)
		atomic_fetch_add(&changes, 1);
	atomic_fetch_add_explicit(&reqs[write][k], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&bytes[write][k], size, memory_order_relaxed);
}

void metrics__changed(void)
{
	atomic_fetch_add(&changes, 1);
}

void metrics__control(const struct node *n, int err)
{
	int k = key_of(n);

	atomic_fetch_add(&changes, 1);
	if (k < 0)
		return;
	if (err < 0 || err > ERRNOS)
		err = ERRNOS;
	atomic_fetch_add_explicit(&ctl[k][err], 1, memory_order_relaxed);
}

static void head(struct sbuf *b, const char *name, const char *type,
		 const char *help)
{
	sbuf__printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int by_region(const void *a, const void *b)
{
	const struct vm_map *x = a, *y = b;

	return x->r < y->r ? -1 : x->r > y->r;
}

/* The regions: one line per metric and region, the mapping as labels. */
static void regions(struct sbuf *b, const struct vm_layout *l)
{
	static const char *const metric[] = {
		"regionfs_region_mem_size_bytes",
		"regionfs_region_resident_bytes",
		"regionfs_region_dirty_pages",
		"regionfs_region_own_bytes",
	};
	static const char *const help[] = {
		"Usable bytes of the region, guard pages excluded.",
		"Bytes of memory the region really holds (its memfd's blocks).",
		"Pages written since the last clear of dirty (the guest's as of "
		"the last fetch of its log; kept as pages are stamped, O(1)).",
		"Bytes of memory the region holds of its own: for one mapping "
		"a saved file copy-on-write, the pages written (the file's are "
		"shared); else its resident bytes.",
	};
	unsigned nr = 0;

	for (unsigned m = 0; m < 4; m++) {
		struct region *r;

		head(b, metric[m], "gauge", help[m]);
		for (unsigned i = 0; (r = sandbox__nth(rfs.sb, i, NULL)); i++) {
			struct vm_map key = { .r = r }, *map;
			char gpa[24] = "none";

			map = bsearch(&key, l->maps, l->n, sizeof(key), by_region);
			if (map)
				snprintf(gpa, sizeof(gpa), "0x%" PRIx64, map->gpa);
			sbuf__printf(b, "%s{region=\"%s\",kind=\"%s\","
				     "guest_addr=\"%s\",access=\"%s\"} %" PRIu64
				     "\n", metric[m], region__name(r),
				     region__kind_name(region__kind(r)), gpa,
				     map ? (map->ro ? "ro" : "rw") : "none",
				     m == 0 ? region__mem_size(r) :
				     m == 1 ? region__resident(r) :
				     m == 2 ? region__dirty_pages(r) :
				     region__own_bytes_seen(r));
			region__put(r);
			nr = i + 1;
		}
	}
	head(b, "regionfs_regions", "gauge", "Regions of the sandbox.");
	sbuf__printf(b, "regionfs_regions %u\n", nr);
	head(b, "regionfs_mappings", "gauge",
	     "Regions mapped into the guest.");
	sbuf__printf(b, "regionfs_mappings %u\n", l->n);
}

static void requests(struct sbuf *b)
{
	static const char *const op[] = { "read", "write" };
	static const char *const metric[] = {
		"regionfs_fuse_requests_total",
		"regionfs_fuse_bytes_total",
	};

	static const char *const help[] = {
		"FUSE read and write requests, by operation and file.",
		"Bytes FUSE read and write requests asked for, by operation and file.",
	};

	for (unsigned m = 0; m < 2; m++) {
		head(b, metric[m], "counter", help[m]);
		for (unsigned w = 0; w < 2; w++)
			for (unsigned k = 0; k < KEYS; k++) {
				const char *name = atomic_load(&key_name[k]);
				uint64_t v = atomic_load(m ? &bytes[w][k] :
							 &reqs[w][k]);

				if (name && v)
					sbuf__printf(b, "%s{op=\"%s\",file="
						     "\"%s\"} %" PRIu64 "\n",
						     metric[m], op[w], name, v);
			}
	}
}

static const char *errno_label(int e)
{
	switch (e) {
	case 0: return "ok";
	case EINVAL: return "EINVAL";
	case EBUSY: return "EBUSY";
	case EPERM: return "EPERM";
	case EEXIST: return "EEXIST";
	case ENOENT: return "ENOENT";
	case ENOSPC: return "ENOSPC";
	case ENODEV: return "ENODEV";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENOMEM: return "ENOMEM";
	case EROFS: return "EROFS";
	case EACCES: return "EACCES";
	case ENXIO: return "ENXIO";
	case EIO: return "EIO";
	case EBADF: return "EBADF";
	default: return NULL;
	}
}

static void controls(struct sbuf *b)
{
	uint64_t busy = 0, waits, ebusy;

	head(b, "regionfs_control_writes_total", "counter",
	     "Control writes by file and result: ok, or the errno of the refusal.");
	for (unsigned k = 0; k < KEYS; k++) {
		const char *name = atomic_load(&key_name[k]);

		for (int e = 0; name && e <= ERRNOS; e++) {
			uint64_t v = atomic_load(&ctl[k][e]);
			const char *label = errno_label(e);
			char num[16];

			if (!v)
				continue;
			if (e == EBUSY)
				busy += v;
			if (!label) {
				snprintf(num, sizeof(num), "errno%d", e);
				label = num;
			}
			sbuf__printf(b, "regionfs_control_writes_total{file=\"%s\","
				     "result=\"%s\"} %" PRIu64 "\n", name, label,
				     v);
		}
	}
	head(b, "regionfs_ebusy_total", "counter",
	     "Control writes refused with EBUSY (exclusivity not available).");
	sbuf__printf(b, "regionfs_ebusy_total %" PRIu64 "\n", busy);
	region__exclusive_stats(&waits, &ebusy);
	head(b, "regionfs_exclusive_waits_total", "counter",
	     "Exclusive operations that waited for host accesses to drain.");
	sbuf__printf(b, "regionfs_exclusive_waits_total %" PRIu64 "\n", waits);
	head(b, "regionfs_exclusive_busy_total", "counter",
	     "Exclusive operations refused with EBUSY (the guest ran, or the "
	     "bounded wait ran out).");
	sbuf__printf(b, "regionfs_exclusive_busy_total %" PRIu64 "\n", ebusy);
}

static void vcpu(struct sbuf *b)
{
	static const enum vcpu_state states[] = {
		VCPU_STOPPED, VCPU_RUNNING, VCPU_PAUSED, VCPU_HALTED,
		VCPU_FAULTED,
	};
	struct vcpu_stats st = { .state = VCPU_STOPPED };

	if (rfs.vcpu)
		vcpu__stats(rfs.vcpu, &st);
	head(b, "regionfs_vcpu_present", "gauge", "1 when the sandbox has a guest.");
	sbuf__printf(b, "regionfs_vcpu_present %d\n", rfs.vcpu != NULL);
	head(b, "regionfs_vcpu_state", "gauge", "1 for the vCPU's state, 0 for the others.");
	for (unsigned i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		sbuf__printf(b, "regionfs_vcpu_state{state=\"%s\"} %d\n",
			     vcpu__state_name(states[i]), st.state == states[i]);
	head(b, "regionfs_vcpu_run_seconds_total", "counter",
	     "Time the vCPU spent running.");
	sbuf__printf(b, "regionfs_vcpu_run_seconds_total %.9f\n",
		     (double)st.run_ns / 1e9);
	head(b, "regionfs_vcpu_runs_total", "counter",
	     "Times the vCPU went from stopped or paused to running.");
	sbuf__printf(b, "regionfs_vcpu_runs_total %" PRIu64 "\n", st.runs);
	head(b, "regionfs_vcpu_faults_total", "counter",
	     "Times the vCPU faulted.");
	sbuf__printf(b, "regionfs_vcpu_faults_total %" PRIu64 "\n", st.faults);
	head(b, "regionfs_vcpu_exits_total", "counter",
	     "KVM exits by reason (code: KVM's number; 63 counts every higher one too).");
	for (unsigned i = 0; i < VCPU_EXIT_REASONS; i++)
		if (st.exits[i])
			sbuf__printf(b, "regionfs_vcpu_exits_total{reason=\"%s\","
				     "code=\"%u\"} %" PRIu64 "\n",
				     vcpu__exit_name(i), i, st.exits[i]);
}

static void inspect(struct sbuf *b)
{
	head(b, "regionfs_core_layouts_total", "counter",
	     "Layouts of core made for its opens, page walks included: one "
	     "per state of the sandbox, shared by the opens made in it.");
	sbuf__printf(b, "regionfs_core_layouts_total %" PRIu64 "\n",
		     core__layouts());
}

static void snapshots(struct sbuf *b)
{
	struct snaps *t = &rfs.sb->snaps;
	uint64_t bytes_used;
	unsigned nr;

	pthread_rwlock_rdlock(&t->lock);
	nr = t->nr;
	bytes_used = t->bytes;
	pthread_rwlock_unlock(&t->lock);
	head(b, "regionfs_snapshots", "gauge", "Snapshots held.");
	sbuf__printf(b, "regionfs_snapshots %u\n", nr);
	head(b, "regionfs_snapshot_bytes", "gauge",
	     "Memory the snapshots' copies take.");
	sbuf__printf(b, "regionfs_snapshot_bytes %" PRIu64 "\n", bytes_used);
	head(b, "regionfs_restores_total", "counter", "Restores done.");
	sbuf__printf(b, "regionfs_restores_total %" PRIu64 "\n",
		     (uint64_t)atomic_load(&t->restores));
	head(b, "regionfs_restore_pages_total", "counter",
	     "Pages restores copied back.");
	sbuf__printf(b, "regionfs_restore_pages_total %" PRIu64 "\n",
		     (uint64_t)atomic_load(&t->restored_pages));
	head(b, "regionfs_restore_last_seconds", "gauge",
	     "How long the last restore took.");
	sbuf__printf(b, "regionfs_restore_last_seconds %.9f\n",
		     (double)atomic_load(&t->restore_last_ns) / 1e9);
}

static int metrics_render(struct sbuf *b, const char **why)
{
	struct vm_layout *l;

	if (vm__layout(rfs.sb->vm, &l)) {
		*why = "no memory for the slot table's copy";
		return ENOMEM;
	}
	/* By region pointer, to find each region's mapping. */
	qsort(l->maps, l->n, sizeof(l->maps[0]), by_region);
	regions(b, l);
	vm__layout_free(l);
	requests(b);
	controls(b);
	vcpu(b);
	inspect(b);
	snapshots(b);
	return 0;
}

/*
 * The generation of the sandbox as metrics shows it: a sum of counters
 * that only grow, so it moves whenever one does.  What no counter sees
 * as it happens (the guest's exits, writes and run time, the reads
 * counted by file) shows within METRICS_MAX_MS, the rest within
 * METRICS_MIN_MS.
 */
static uint64_t metrics_gen(void)
{
	return atomic_load(&changes) + vm__layout_gen(rfs.sb->vm) +
	       region__changes() + (rfs.vcpu ? vcpu__gen(rfs.vcpu) : 0) +
	       core__layouts();
}

static struct longtext text = LONGTEXT_INIT(metrics_render, metrics_gen,
					    METRICS_MIN_MS, METRICS_MAX_MS);

const struct node_ops metrics_ops = LONGTEXT_OPS(&text);
