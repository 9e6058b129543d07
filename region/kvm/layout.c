/* A sorted copy of the VM's slot table (layout.h). */
#include "region/kvm/layout.h"
#include "region/kvm/vm.h"
#include "region/mem/region.h"

#include <errno.h>
#include <stdlib.h>

static int by_gpa(const void *a, const void *b)
{
	const struct vm_map *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

int vm__layout(struct vm *vm, struct vm_layout **out)
{
	struct vm_layout *l;
	unsigned n = 0;

	/* The most it can hold, so the table is walked once, under its lock. */
	l = calloc(1, sizeof(*l) + VM_MAX_SLOTS * sizeof(l->maps[0]));
	if (!l)
		return ENOMEM;
	if (vm) {
		pthread_mutex_lock(&vm->lock);
		for (unsigned i = 0; i < vm->nr_slots; i++) {
			struct vm_slot *s = &vm->slots[i];

			if (!s->region)
				continue;
			l->maps[n++] = (struct vm_map){
				.gpa = s->gpa,
				.size = region__mem_size(s->region),
				.ro = s->ro,
				.r = region__get(s->region),
			};
		}
		pthread_mutex_unlock(&vm->lock);
	}
	l->n = n;
	qsort(l->maps, n, sizeof(l->maps[0]), by_gpa);
	*out = l;
	return 0;
}

void vm__layout_free(struct vm_layout *l)
{
	if (!l)
		return;
	for (unsigned i = 0; i < l->n; i++)
		region__put(l->maps[i].r);
	free(l);
}

const struct vm_map *vm__layout_find(const struct vm_layout *l, uint64_t gpa,
				     const struct vm_map **next)
{
	unsigned lo = 0, hi = l->n;

	/* The first mapping that ends above gpa. */
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct vm_map *m = &l->maps[mid];

		if (m->gpa + m->size <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == l->n) {
		if (next)
			*next = NULL;
		return NULL;
	}
	if (l->maps[lo].gpa <= gpa) {
		if (next)
			*next = lo + 1 < l->n ? &l->maps[lo + 1] : NULL;
		return &l->maps[lo];
	}
	if (next)
		*next = &l->maps[lo];
	return NULL;
}

uint64_t vm__layout_end(const struct vm_layout *l)
{
	return l->n ? l->maps[l->n - 1].gpa + l->maps[l->n - 1].size : 0;
}
