/* 4-level x86-64 page-table walks over guest memory (pagewalk.h). */
#include "region/inspect/pagewalk.h"
#include "region/inspect/phys.h"

#include <errno.h>
#include <string.h>

#define CR0_PG		(1ULL << 31)
#define CR4_PAE		(1ULL << 5)
#define CR4_LA57	(1ULL << 12)
#define EFER_LMA	(1ULL << 10)
#define EFER_NXE	(1ULL << 11)

#define PTE_P		(1ULL << 0)
#define PTE_RW		(1ULL << 1)
#define PTE_US		(1ULL << 2)
#define PTE_PS		(1ULL << 7)
#define PTE_NX		(1ULL << 63)
/* Bits 12-51: the next table or the page (MAXPHYADDR at most 52). */
#define PTE_ADDR	0x000ffffffffff000ULL

static int mode(const struct x86_paging *p, bool *paging)
{
	*paging = p->cr0 & CR0_PG;
	if (!*paging)
		return 0;
	if (!(p->efer & EFER_LMA) || !(p->cr4 & CR4_PAE) ||
	    (p->cr4 & CR4_LA57))
		return EOPNOTSUPP;
	return 0;
}

int pt__walk(const struct vm_layout *l, const struct x86_paging *p,
	     uint64_t va, struct pt_span *out)
{
	uint64_t table = p->cr3 & PTE_ADDR, e = 0;
	bool paging, write = true, user = true, nx = false;
	int ret = mode(p, &paging);

	if (ret)
		return ret;
	if (va >= PT_VA_END)
		return EINVAL;
	if (!paging) {
		*out = (struct pt_span){ .va = va, .size = PT_VA_END - va,
					 .mapped = true, .pa = va,
					 .write = true, .user = true };
		return 0;
	}
	for (unsigned shift = 39; shift >= 12; shift -= 9) {
		uint64_t span = 1ULL << shift, start = va & ~(span - 1);

		ret = phys__read(l, &e, sizeof(e),
				 table + ((va >> shift) & 511) * 8);
		if (ret)
			return ret;
		if (!(e & PTE_P)) {
			*out = (struct pt_span){ .va = start, .size = span };
			return 0;
		}
		write = write && (e & PTE_RW);
		user = user && (e & PTE_US);
		nx = nx || ((p->efer & EFER_NXE) && (e & PTE_NX));
		/* PS is a page at the PDPT (1 GiB) and PD (2 MiB) levels only. */
		if (shift == 12 || ((shift == 30 || shift == 21) &&
				    (e & PTE_PS))) {
			*out = (struct pt_span){
				.va = start, .size = span, .mapped = true,
				.pa = e & PTE_ADDR & ~(span - 1),
				.write = write, .user = user, .nx = nx,
			};
			return 0;
		}
		table = e & PTE_ADDR;
	}
	return EINVAL;	/* not reached: the 4 KiB level is a leaf */
}

int pt__read(const struct vm_layout *l, const struct x86_paging *p,
	     void *buf, size_t len, uint64_t va)
{
	uint8_t *b = buf;
	struct pt_span s;
	int ret;

	while (len) {
		size_t chunk = len;

		if (va >= PT_VA_END) {
			memset(b, 0, len);
			return 0;
		}
		ret = pt__walk(l, p, va, &s);
		if (ret)
			return ret;
		if (s.va + s.size - va < chunk)
			chunk = (size_t)(s.va + s.size - va);
		if (s.mapped)
			ret = phys__read(l, b, chunk, s.pa + (va - s.va));
		else
			memset(b, 0, chunk);
		if (ret)
			return ret;
		b += chunk;
		va += chunk;
		len -= chunk;
	}
	return 0;
}

/*
 * The first data (or hole) of physical memory in [pa, pa + len): its
 * offset from pa, or len when there is none.
 */
static int phys_find(const struct vm_layout *l, uint64_t pa, uint64_t len,
		     bool data, uint64_t *at)
{
	uint64_t pos;
	int ret = data ? phys__seek_data(l, pa, &pos) :
			 phys__seek_hole(l, pa, &pos);

	if (ret == ENXIO) {
		/* Past the last mapping: no data, all hole. */
		*at = data ? len : 0;
		return 0;
	}
	if (ret)
		return ret;
	*at = pos - pa < len ? pos - pa : len;
	return 0;
}

static int seek(const struct vm_layout *l, const struct x86_paging *p,
		uint64_t va, bool data, uint64_t *pos)
{
	struct pt_span s;
	uint64_t at;
	int ret;

	if (va >= PT_VA_END)
		return ENXIO;
	for (unsigned i = 0; i < PT_SEEK_BUDGET && va < PT_VA_END; i++) {
		ret = pt__walk(l, p, va, &s);
		if (ret)
			return ret;
		if (!s.mapped) {
			if (!data) {
				*pos = va;
				return 0;
			}
		} else {
			uint64_t left = s.va + s.size - va;

			ret = phys_find(l, s.pa + (va - s.va), left, data, &at);
			if (ret)
				return ret;
			if (at < left) {
				*pos = va + at;
				return 0;
			}
		}
		va = s.va + s.size;
	}
	if (va >= PT_VA_END) {
		if (data)
			return ENXIO;
		*pos = PT_VA_END;	/* the hole at the end of the file */
		return 0;
	}
	*pos = va;	/* out of budget: see pagewalk.h */
	return 0;
}

int pt__seek_data(const struct vm_layout *l, const struct x86_paging *p,
		  uint64_t va, uint64_t *pos)
{
	return seek(l, p, va, true, pos);
}

int pt__seek_hole(const struct vm_layout *l, const struct x86_paging *p,
		  uint64_t va, uint64_t *pos)
{
	return seek(l, p, va, false, pos);
}

/* The highest leaf under table (entries [0, n) at level shift): its end. */
static int top(const struct vm_layout *l, uint64_t table, unsigned shift,
	       uint64_t base, unsigned n, unsigned *budget, uint64_t *end)
{
	uint64_t e[512];
	int ret;

	*end = 0;
	if (!*budget) {
		*end = base + ((uint64_t)n << shift);	/* an upper bound */
		return 0;
	}
	(*budget)--;
	ret = phys__read(l, e, n * sizeof(e[0]), table);
	if (ret)
		return ret;
	for (unsigned i = n; i-- > 0;) {
		uint64_t start = base + ((uint64_t)i << shift);

		if (!(e[i] & PTE_P))
			continue;
		if (shift == 12 || ((shift == 30 || shift == 21) &&
				    (e[i] & PTE_PS))) {
			*end = start + (1ULL << shift);
			return 0;
		}
		ret = top(l, e[i] & PTE_ADDR, shift - 9, start, 512, budget,
			  end);
		if (ret || *end)
			return ret;
	}
	return 0;
}

int pt__end(const struct vm_layout *l, const struct x86_paging *p,
	    uint64_t *end)
{
	unsigned budget = PT_END_BUDGET;
	bool paging;
	int ret = mode(p, &paging);

	if (ret)
		return ret;
	if (!paging) {
		*end = vm__layout_end(l) < PT_VA_END ? vm__layout_end(l) :
		       PT_VA_END;
		return 0;
	}
	/* The lower canonical half: PML4 entries 0-255. */
	return top(l, p->cr3 & PTE_ADDR, 39, 0, 256, &budget, end);
}

bool pt__identity(const struct vm_layout *l, const struct x86_paging *p,
		  uint64_t gpa, uint64_t size, unsigned budget)
{
	uint64_t va = gpa, end = gpa + size;
	struct pt_span s;

	while (va < end) {
		if (!budget-- || va >= PT_VA_END || pt__walk(l, p, va, &s) ||
		    !s.mapped || s.pa + (va - s.va) != va)
			return false;
		va = s.va + s.size;
	}
	return true;
}
