/*
 * Guest-virtual to guest-physical, the way the vCPU's MMU does it: x86-64
 * 4-level paging from cr3, with 1 GiB and 2 MiB pages, reading the tables
 * from guest memory (phys.h; tables outside mapped memory read as zeros,
 * i.e. not present).  Only the lower canonical half, [0, PT_VA_END).
 * A walk answers for the whole span its last entry covers (a page, or a
 * non-present entry's 4 KiB to 512 GiB), so callers step over big
 * unmapped ranges at once.
 *
 * Errors: 0 or a positive errno; EOPNOTSUPP for paging modes other than
 * 4-level long mode (5-level, 32-bit, PAE), with paging off the view is
 * the identity.
 */
#ifndef REGIONFS_PAGEWALK_H
#define REGIONFS_PAGEWALK_H

#include "region/kvm/layout.h"
#include "region/x86/regs.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PT_VA_END (1ULL << 47)
/* Walks one seek may make before it answers conservatively (see pt__seek_*). */
#define PT_SEEK_BUDGET 4096

struct pt_span {
	uint64_t va;		/* start of the span holding the address asked */
	uint64_t size;
	bool mapped;
	uint64_t pa;		/* where va translates to, when mapped */
	bool write, user, nx;
};

/* va < PT_VA_END. */
int pt__walk(const struct vm_layout *l, const struct x86_paging *p,
	     uint64_t va, struct pt_span *out);
/* len bytes at va: mapped pages read through to physical memory, zeros elsewhere. */
int pt__read(const struct vm_layout *l, const struct x86_paging *p,
	     void *buf, size_t len, uint64_t va);
/*
 * lseek(2) over [0, PT_VA_END): data is a mapped page whose physical
 * memory holds data.  After PT_SEEK_BUDGET walks without an answer, the
 * position reached is returned (for SEEK_DATA any offset is allowed to be
 * data; for SEEK_HOLE it cuts a long run of data in pieces, which cp and
 * tar handle as they do any hole).  ENXIO at or past the end.
 */
int pt__seek_data(const struct vm_layout *l, const struct x86_paging *p,
		  uint64_t va, uint64_t *pos);
int pt__seek_hole(const struct vm_layout *l, const struct x86_paging *p,
		  uint64_t va, uint64_t *pos);
/*
 * The end of the highest mapped page below PT_VA_END (0: none mapped):
 * where the guest's address space ends (not vmem's size, which is the
 * same for every guest, PT_VA_END).  It reads the
 * tables from the top down, at most PT_END_BUDGET of them; past that it
 * answers the end of the range it was in (an upper bound).  With paging
 * off: the end of physical memory.
 */
#define PT_END_BUDGET 64
int pt__end(const struct vm_layout *l, const struct x86_paging *p,
	    uint64_t *end);
/*
 * Whether [gpa, gpa + size) is mapped at the same virtual addresses,
 * within budget walks (false when the budget runs out).
 */
bool pt__identity(const struct vm_layout *l, const struct x86_paging *p,
		  uint64_t gpa, uint64_t size, unsigned budget);

#endif
