/*
 * Generated text of any length (regs, fault, layout, metrics): rendered
 * at offset 0 of each open into a buffer of its own (lxcfs-style), later
 * offsets served from that copy, st_size the length a read at 0 would
 * get now.  A render that refuses says why: the read logs it (one line)
 * and fails with its errno; a stat gets size 0 and logs nothing.
 *
 * Helpers return 0 or a positive errno.
 */
#ifndef REGIONFS_LONGTEXT_H
#define REGIONFS_LONGTEXT_H

#include "fs/node.h"

#include <stddef.h>

/* The most one rendering may take (metrics of 4096 regions fit). */
#define LONGTEXT_MAX (16u << 20)

struct sbuf {
	char *buf;
	size_t len, cap;
	int err;	/* ENOMEM or EFBIG: the rest is dropped */
};

void sbuf__printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Render into b: 0, or an errno with *why set (b is then dropped). */
typedef int longtext_render(struct sbuf *b, const char **why);

void longtext__read(fuse_req_t req, struct handle *h, size_t size, off_t off,
		    longtext_render *render);
uint64_t longtext__size(longtext_render *render);
void longtext__release(struct handle *h);

#endif
