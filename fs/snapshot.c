/*
 * snapshot and restore: write the name of a snapshot to take it, or to
 * put it back (region/sandbox/snapshot.h).  Write-only control files.
 */
#include "fs/node.h"
#include "region/sandbox/snapshot.h"

#include <string.h>

static void control_stat(struct node *n, struct stat *st)
{
	(void)n;
	(void)st;
}

typedef int name_op(struct sandbox *sb, struct vcpu *v, const char *name,
		    struct why *why);

static int write_name(struct handle *h, const char *buf, size_t size,
		      off_t off, name_op *op)
{
	char val[PARSE_VALUE_MAX];
	struct why why = { "" };
	int ret;

	ret = text__value(h->n.name, buf, size, off, val, sizeof(val));
	if (ret)
		return ret;
	ret = op(rfs.sb, rfs.vcpu, val, &why);
	if (ret)
		fs_refuse("%s: write '%s' refused: %s (%s)", h->n.name, val,
			  why__text(&why, ret), strerror(ret));
	return ret;
}

static int write_snapshot(struct handle *h, const char *buf, size_t size,
			  off_t off)
{
	return write_name(h, buf, size, off, snapshot__take);
}

static int write_restore(struct handle *h, const char *buf, size_t size,
			 off_t off)
{
	return write_name(h, buf, size, off, snapshot__restore);
}

const struct node_ops snapshot_ops = {
	.stat = control_stat,
	.write = write_snapshot,
};

const struct node_ops restore_ops = {
	.stat = control_stat,
	.write = write_restore,
};
