/*
 * base: for a copy-on-write region (region/mem/cow.c), "PAGES PATH": its
 * private pages (written since it left the file's pages, or since the
 * last restore to them) and the file it maps; empty for any other.  A
 * path is longer than an attribute's text, so it is rendered for each
 * read into the reader's buffer (no copy kept per open: an open costs
 * nothing), and the count is the page tables' now.
 */
#include "fs/node.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#define BASE_TEXT_MAX (PATH_MAX + 32)

static void base_read(fuse_req_t req, struct handle *h, size_t size,
		      off_t off)
{
	char text[BASE_TEXT_MAX];
	int n = region__base_text(h->n.r, text, sizeof(text), true);

	if (off < 0 || off >= n)
		size = 0;
	else if (size > (size_t)(n - off))
		size = (size_t)(n - off);
	fuse_reply_buf(req, text + (off > 0 ? off : 0), size);
}

static uint64_t base_size(struct handle *h)
{
	char text[BASE_TEXT_MAX];

	return (uint64_t)region__base_text(h->n.r, text, sizeof(text),
					  false);
}

static void base_stat(struct node *n, struct stat *st)
{
	char text[BASE_TEXT_MAX];

	st->st_size = region__base_text(n->r, text, sizeof(text), false);
}

const struct node_ops base_ops = {
	.stat = base_stat,
	.read = base_read,
	.size = base_size,
};
