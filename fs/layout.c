/*
 * layout: one line per mapping of the guest-physical address space, by
 * address, like /proc/PID/maps (end exclusive):
 *   0x0000000000100000-0x0000000000200000 rw ram
 * and, for a region mapping a saved file copy-on-write, the file:
 *   0x0000000000100000-0x0000000000200000 rw ram /saved/ram/contents
 * Public: guest addresses and names, no host address.
 */
#include "fs/longtext.h"
#include "region/kvm/layout.h"

#include <inttypes.h>
#include <limits.h>
#include <string.h>

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

		char base[PATH_MAX + 32];
		const char *path = base;

		/* "PAGES PATH" or "": its file, as /proc/PID/maps ends. */
		if (region__base_text(m->r, base, sizeof(base), false) > 0) {
			base[strcspn(base, "\n")] = '\0';
			path = strchr(base, ' ') + 1;
		}
		sbuf__printf(b, "0x%016" PRIx64 "-0x%016" PRIx64 " %s %s%s%s\n",
			     m->gpa, m->gpa + m->size, m->ro ? "ro" : "rw",
			     region__name(m->r), *path ? " " : "", path);
	}
	vm__layout_free(l);
	return 0;
}

/* The text is the slot table's: it changes with its generation. */
static uint64_t layout_gen(void)
{
	/* And with the regions that leave their files (cow.c). */
	return vm__layout_gen(rfs.sb->vm) + region__cow_gen();
}

static struct longtext text = LONGTEXT_INIT(layout_render, layout_gen, 0, 0);

const struct node_ops layout_ops = LONGTEXT_OPS(&text);
