/*
 * The guest-physical layout: a copy of the VM's slot table, sorted by
 * guest address, each mapping holding a reference to its region.  What
 * the physical view, the core file and the page-table walk read through:
 * taken once per request (O(slots)), then looked up by binary search.
 * The regions stay alive while the copy holds them; a mapping changed
 * meanwhile is seen at the next copy, as an open contents file keeps
 * reading its region.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_LAYOUT_H
#define REGIONFS_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

struct region;
struct vm;

struct vm_map {
	uint64_t gpa;
	uint64_t size;		/* the region's mem_size */
	bool ro;		/* KVM_MEM_READONLY */
	struct region *r;	/* a reference */
};

struct vm_layout {
	unsigned n;
	struct vm_map maps[];	/* sorted by gpa; never overlapping */
};

/* ENOMEM, else 0; vm may be NULL (no KVM): an empty layout. */
int vm__layout(struct vm *vm, struct vm_layout **out);
void vm__layout_free(struct vm_layout *l);
/* The mapping over gpa, or NULL; *next: the first mapping above gpa (or NULL). */
const struct vm_map *vm__layout_find(const struct vm_layout *l, uint64_t gpa,
				     const struct vm_map **next);
/* The end of the highest mapping (0 when none). */
uint64_t vm__layout_end(const struct vm_layout *l);

#endif
