/*
 * layout: one line per mapping of the guest-physical address space, by
 * address, like /proc/PID/maps (end exclusive):
 *   0x0000000000100000-0x0000000000200000 rw ram
 * Public: guest addresses and names, no host address.
 */
#include "fs/longtext.h"
#include "region/kvm/layout.h"

#include <inttypes.h>

static int layout_render(struct sbuf *b, const char **why)
{
	struct vm_layout *l;
	int ret = vm__layout(rfs.sb->vm, &l);

	if (ret) {
		*why = "no memory for the slot table's copy";
		return ret;
	}
	for (unsigned i = 0; i < l->n; i++) {
		const struct vm_map *m = &l->maps[i];

		sbuf__printf(b, "0x%016" PRIx64 "-0x%016" PRIx64 " %s %s\n",
			     m->gpa, m->gpa + m->size, m->ro ? "ro" : "rw",
			     region__name(m->r));
	}
	vm__layout_free(l);
	return 0;
}

/* The text is the slot table's: it changes with its generation. */
static uint64_t layout_gen(void)
{
	return vm__layout_gen(rfs.sb->vm);
}

static struct longtext text = LONGTEXT_INIT(layout_render, layout_gen, 0, 0);

const struct node_ops layout_ops = LONGTEXT_OPS(&text);
