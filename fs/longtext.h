/*
 * Generated text of any length (regs, fault, layout, metrics): a read at
 * offset 0 takes a rendering of the text, later offsets of that open are
 * served from it (lxcfs-style), and st_size is the length of the
 * rendering a read at 0 would take now.
 *
 * Renderings are shared, so what another uid does costs it, not the
 * owner: each file keeps its newest rendering, and every stat and read
 * at 0 that comes while it is current takes it rather than render again
 * (current: the file's generation has not moved since, and it is younger
 * than the file's max_ms when the file has one; or, whatever moved, it is
 * younger than min_ms, which bounds how often a crowd of stats can make
 * the file render while the owner keeps changing things).  An open holds a
 * reference, not a copy: it costs the handle and nothing after close.
 * A file keeps at most LONGTEXT_SLOTS renderings and LONGTEXT_KEEP bytes
 * besides the newest; an open whose rendering went fails its reads
 * past 0 with ESTALE (never the rest of another rendering: a torn text)
 * until it reads at 0 again.  An open that never read at 0 reads from
 * the rendering current then.
 *
 * A render that refuses says why: the read logs it (one line) and fails
 * with its errno; a stat gets size 0 and logs nothing.  Helpers return 0
 * or a positive errno.
 *
 * Lock order: a file's lock is taken before whatever its render takes
 * (the table, the VM's slots, the vCPU), never after.
 */
#ifndef REGIONFS_LONGTEXT_H
#define REGIONFS_LONGTEXT_H

#include "fs/node.h"

#include <pthread.h>
#include <stddef.h>

/* The most one rendering may take (metrics of 4096 regions fit). */
#define LONGTEXT_MAX (16u << 20)
/* Renderings a file keeps for its opens, and their bytes beside the newest. */
#define LONGTEXT_SLOTS 8
#define LONGTEXT_KEEP (4u << 20)

struct sbuf {
	char *buf;
	size_t len, cap;
	int err;	/* ENOMEM or EFBIG: the rest is dropped */
};

void sbuf__printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Render into b: 0, or an errno with *why set (b is then dropped). */
typedef int longtext_render(struct sbuf *b, const char **why);
/*
 * The generation of what the text is made from: it moves whenever the
 * text may change, but for what max_ms bounds instead.
 */
typedef uint64_t longtext_gen(void);

struct rendering;

struct longtext {
	longtext_render *render;
	longtext_gen *gen;
	/*
	 * max_ms 0: the generation says every change; else the age bound
	 * (ms).  min_ms: the age below which a rendering is current anyway.
	 */
	unsigned min_ms, max_ms;
	pthread_mutex_t lock;
	/* Under lock: the renderings kept, newest last, and the next seq. */
	struct rendering *kept[LONGTEXT_SLOTS];
	unsigned nr;
	uint64_t seq;
};

#define LONGTEXT_INIT(render_, gen_, min_ms_, max_ms_) {		\
	.render = (render_), .gen = (gen_), .min_ms = (min_ms_),	\
	.max_ms = (max_ms_), .lock = PTHREAD_MUTEX_INITIALIZER,		\
}

/*
 * The kind of file of every long text: its node_ops, with text_ the
 * file's struct longtext (its render function and generation):
 *   static struct longtext text = LONGTEXT_INIT(x_render, x_gen, 0, 0);
 *   const struct node_ops x_ops = LONGTEXT_OPS(&text);
 */
#define LONGTEXT_OPS(text_) {						\
	.stat = longtext__stat, .read = longtext__read,			\
	.size = longtext__size, .release = longtext__release,		\
	.text = (text_),						\
}

void longtext__read(fuse_req_t req, struct handle *h, size_t size, off_t off);
/* The length of h's rendering. */
uint64_t longtext__size(struct handle *h);
/* st_size: the length of a current rendering. */
void longtext__stat(struct node *n, struct stat *st);
void longtext__release(struct handle *h);

#endif
