/*
 * An ELF64 core file of the sandbox, laid out once and served on the fly:
 * nothing is copied, every read of a segment reads its region.
 *
 *   ELF header (ET_CORE, EM_X86_64)
 *   program headers: one PT_NOTE, then one PT_LOAD per mapping, by gpa
 *   the note: NT_PRSTATUS "CORE" with the vCPU's registers in the order
 *             of struct user_regs_struct (as QEMU's dump-guest-memory and
 *             Linux write it); all zeros when there are none (the vCPU
 *             runs, or there is no vCPU), like /proc/kcore's
 *   zeros up to the next page (a hole), then each region's bytes,
 *   page-aligned, back to back.
 *
 * PT_LOAD: p_paddr is the guest-physical address; p_vaddr the same when
 * the vCPU's page tables map the region at that virtual address
 * (identity), else 0 (as QEMU writes without paging).  Flags RWX, no W
 * for a read-only mapping.  The regions' holes are the file's holes.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_CORE_H
#define REGIONFS_CORE_H

#include "region/kvm/layout.h"
#include "region/x86/regs.h"

#include <stddef.h>
#include <stdint.h>

struct core;

/* Walks the page tables may take to decide one region's p_vaddr. */
#define CORE_IDENTITY_BUDGET 4096

/*
 * Lay out a core of l (the core takes it: vm__layout_free is its job now,
 * also on failure).  regs and paging may be NULL (none known).
 */
int core__new(struct vm_layout *l, const struct x86_regs *regs,
	      const struct x86_paging *paging, struct core **out);
void core__free(struct core *c);
uint64_t core__size(const struct core *c);
/* Header page plus what the regions really hold: st_blocks. */
uint64_t core__resident(const struct core *c);
/* Reads past the end move 0 bytes (*done). */
int core__read(const struct core *c, void *buf, size_t len, uint64_t off,
	       size_t *done);
/* lseek(2): ENXIO at or past the end. */
int core__seek_data(const struct core *c, uint64_t off, uint64_t *pos);
int core__seek_hole(const struct core *c, uint64_t off, uint64_t *pos);

#endif
