/*
 * The guest-physical address space as one range of bytes, through a
 * layout (kvm/layout.h): mapped ranges are their regions' bytes, live
 * (region__read and region__write, as contents), the rest reads as zeros
 * and is a hole.  Every call costs what it moves plus O(log mappings)
 * per mapping it crosses; seeking crosses gaps in one step, never page by
 * page.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_PHYS_H
#define REGIONFS_PHYS_H

#include "region/kvm/layout.h"
#include "region/util/why.h"

#include <stddef.h>
#include <stdint.h>

/* len bytes at gpa: the regions' bytes where mapped, zeros elsewhere. */
int phys__read(const struct vm_layout *l, void *buf, size_t len,
	       uint64_t gpa);
/*
 * Into the region mapped at gpa, up to its end (*done may be short):
 * ENXIO when no region is mapped at gpa; else what region__write says.
 */
int phys__write(const struct vm_layout *l, const void *buf, size_t len,
		uint64_t gpa, size_t *done, struct why *why);
/*
 * lseek(2) over [0, vm__layout_end): data is what the regions' memfds
 * hold, everything else a hole.  ENXIO at or past the end.
 */
int phys__seek_data(const struct vm_layout *l, uint64_t gpa, uint64_t *pos);
int phys__seek_hole(const struct vm_layout *l, uint64_t gpa, uint64_t *pos);
/* The bytes the mapped regions really hold (their memfds' blocks). */
uint64_t phys__resident(const struct vm_layout *l);

#endif
