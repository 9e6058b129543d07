/*
 * region/inspect/ without KVM: the physical view, page walks and the core
 * file, over layouts made by hand (regions at chosen guest addresses, as
 * kvm/layout.c would copy them) and page tables written into a region.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "region/inspect/core.h"
#include "region/inspect/pagewalk.h"
#include "region/inspect/phys.h"
#include "region/mem/region.h"
#include "tests/helpers.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/reg.h>

#define MIB (1ULL << 20)

/* A layout of n regions: names, sizes and addresses in a table. */
struct spec {
	const char *name;
	uint64_t gpa, size;
};

static struct vm_layout *make_layout(const struct spec *s, unsigned n)
{
	struct vm_layout *l = calloc(1, sizeof(*l) + n * sizeof(l->maps[0]));

	assert_non_null(l);
	for (unsigned i = 0; i < n; i++) {
		struct region *r;

		assert_int_equal(region__new(s[i].name, s[i].size, &r), 0);
		l->maps[i] = (struct vm_map){ s[i].gpa, s[i].size, false, r };
	}
	l->n = n;
	return l;
}

static void put(struct region *r, uint64_t off, const void *p, size_t len)
{
	assert_int_equal(t_write(r, p, len, off), (ssize_t)len);
}

static void put64(struct region *r, uint64_t off, uint64_t v)
{
	put(r, off, &v, sizeof(v));
}

/* ---- phys ---------------------------------------------------------- */

static const struct spec two[] = {
	{ "a", 0x100000, 64 * 1024 },
	{ "b", 0x400000, 1 * MIB },
};

static void test_phys_read_write(void **state)
{
	struct vm_layout *l = make_layout(two, 2);
	struct why why = { "" };
	uint8_t buf[64];
	size_t n;

	(void)state;
	put(l->maps[0].r, 0xfff8, "ABCDEFGH", 8);
	put(l->maps[1].r, 0, "IJKLMNOP", 8);
	/* Across the end of a, the gap and into b: zeros in between. */
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(phys__read(l, buf, 16, 0x10fff8), 0);
	assert_memory_equal(buf, "ABCDEFGH\0\0\0\0\0\0\0\0", 16);
	assert_int_equal(phys__read(l, buf, 8, 0x400000), 0);
	assert_memory_equal(buf, "IJKLMNOP", 8);
	/* Writes: into the region where they start, short at its end. */
	assert_int_equal(phys__write(l, "0123456789abcdef", 16, 0x10fffc, &n,
				     &why), 0);
	assert_int_equal(n, 4);
	assert_int_equal(t_read(l->maps[0].r, buf, 4, 0xfffc), 4);
	assert_memory_equal(buf, "0123", 4);
	assert_int_equal(phys__write(l, "x", 1, 0x200000, &n, &why), ENXIO);
	assert_non_null(strstr(why.msg, "0x200000"));
	vm__layout_free(l);
}

static void test_phys_seek(void **state)
{
	struct vm_layout *l = make_layout(two, 2);
	uint64_t pos;

	(void)state;
	assert_int_equal(vm__layout_end(l), 0x500000);
	assert_int_equal(phys__seek_data(l, 0, &pos), ENXIO);
	assert_int_equal(phys__seek_hole(l, 0, &pos), 0);
	assert_int_equal(pos, 0);
	put(l->maps[0].r, 0x2000, "x", 1);
	put(l->maps[1].r, 0xff000, "y", 1);
	assert_int_equal(phys__seek_data(l, 0, &pos), 0);
	assert_int_equal(pos, 0x102000);
	assert_int_equal(phys__seek_hole(l, 0x102000, &pos), 0);
	assert_int_equal(pos, 0x103000);
	/* Over the gap in one step, to b's last page. */
	assert_int_equal(phys__seek_data(l, 0x103000, &pos), 0);
	assert_int_equal(pos, 0x4ff000);
	/* Data to b's end: the hole is the end of the file. */
	assert_int_equal(phys__seek_hole(l, 0x4ff000, &pos), 0);
	assert_int_equal(pos, 0x500000);
	assert_int_equal(phys__seek_data(l, 0x500000, &pos), ENXIO);
	assert_int_equal(phys__seek_hole(l, 0x500000, &pos), ENXIO);
	assert_int_equal(phys__resident(l), 2 * PAGE);
	vm__layout_free(l);
}

static void test_layout_find(void **state)
{
	static const struct spec three[] = {
		{ "a", 0x1000, 0x1000 },
		{ "b", 0x2000, 0x2000 },
		{ "c", 0x10000, 0x1000 },
	};
	struct vm_layout *l = make_layout(three, 3);
	const struct vm_map *m, *next;

	(void)state;
	m = vm__layout_find(l, 0, &next);
	assert_null(m);
	assert_ptr_equal(next, &l->maps[0]);
	m = vm__layout_find(l, 0x2fff, &next);
	assert_ptr_equal(m, &l->maps[1]);
	assert_ptr_equal(next, &l->maps[2]);
	m = vm__layout_find(l, 0x4000, &next);
	assert_null(m);
	assert_ptr_equal(next, &l->maps[2]);
	m = vm__layout_find(l, 0x11000, &next);
	assert_null(m);
	assert_null(next);
	vm__layout_free(l);
}

/* ---- page walks ---------------------------------------------------- */

#define PT_GPA 0x10000		/* PML4, PDPT, PD, PT: four pages */
#define MEM_GPA 0x200000	/* 2 MiB */
#define P 0x3ULL
#define PS 0x80ULL

static const struct spec tables[] = {
	{ "pt", PT_GPA, 0x4000 },
	{ "mem", MEM_GPA, 2 * MIB },
};

static const struct x86_paging long_mode = {
	.cr0 = (1ULL << 31) | 1,
	.cr3 = PT_GPA,
	.cr4 = 1ULL << 5,
	.efer = (1ULL << 8) | (1ULL << 10),
};

/*
 *   VA 0x40000000 (4 KiB)  -> PA MEM_GPA + 0x1000
 *   VA 0x40001000 (4 KiB)  -> PA MEM_GPA
 *   VA 0x40200000 (2 MiB)  -> PA MEM_GPA (the whole region)
 *   VA 0x80000000 (1 GiB)  -> PA 0
 *   VA MEM_GPA   (2 MiB)   -> PA MEM_GPA (identity)
 */
static struct vm_layout *walk_layout(void)
{
	struct vm_layout *l = make_layout(tables, 2);
	struct region *pt = l->maps[0].r;

	put64(pt, 0x0000, (PT_GPA + 0x1000) | P);		/* PML4[0] */
	put64(pt, 0x1000 + 1 * 8, (PT_GPA + 0x2000) | P);	/* PDPT[1] */
	put64(pt, 0x1000 + 2 * 8, 0 | P | PS);			/* PDPT[2]: 1 GiB */
	put64(pt, 0x1000 + 0 * 8, (PT_GPA + 0x2000) | P);	/* PDPT[0] */
	/* One PD serves VA 0 and VA 1 GiB: PD[0] -> PT, PD[1] -> 2 MiB. */
	put64(pt, 0x2000 + 0 * 8, (PT_GPA + 0x3000) | P);
	put64(pt, 0x2000 + 1 * 8, MEM_GPA | P | PS);
	put64(pt, 0x3000 + 0 * 8, (MEM_GPA + 0x1000) | P);
	put64(pt, 0x3000 + 1 * 8, MEM_GPA | P);
	return l;
}

static void test_walk(void **state)
{
	struct vm_layout *l = walk_layout();
	struct pt_span s;

	(void)state;
	assert_int_equal(pt__walk(l, &long_mode, 0x40000010, &s), 0);
	assert_true(s.mapped);
	assert_int_equal(s.va, 0x40000000);
	assert_int_equal(s.size, 0x1000);
	assert_int_equal(s.pa, MEM_GPA + 0x1000);
	assert_int_equal(pt__walk(l, &long_mode, 0x40201234, &s), 0);
	assert_true(s.mapped);
	assert_int_equal(s.va, 0x40200000);
	assert_int_equal(s.size, 2 * MIB);
	assert_int_equal(s.pa, MEM_GPA);
	assert_int_equal(pt__walk(l, &long_mode, 0x80001000, &s), 0);
	assert_true(s.mapped);
	assert_int_equal(s.size, 1ULL << 30);
	assert_int_equal(s.pa, 0);
	/* Not present: the span of the entry, to skip it whole. */
	assert_int_equal(pt__walk(l, &long_mode, 0x40002000, &s), 0);
	assert_false(s.mapped);
	assert_int_equal(s.va, 0x40002000);
	assert_int_equal(s.size, 0x1000);
	assert_int_equal(pt__walk(l, &long_mode, 0xc0000000, &s), 0);
	assert_false(s.mapped);
	assert_int_equal(s.size, 1ULL << 30);
	assert_int_equal(pt__walk(l, &long_mode, 1ULL << 39, &s), 0);
	assert_false(s.mapped);
	assert_int_equal(s.size, 1ULL << 39);
	assert_int_equal(pt__walk(l, &long_mode, PT_VA_END, &s), EINVAL);
	vm__layout_free(l);
}

static void test_walk_modes(void **state)
{
	struct vm_layout *l = walk_layout();
	struct x86_paging p = long_mode;
	struct pt_span s;

	(void)state;
	p.cr4 |= 1ULL << 12;	/* LA57 */
	assert_int_equal(pt__walk(l, &p, 0, &s), EOPNOTSUPP);
	p = long_mode;
	p.efer = 0;		/* PAE paging, not long mode */
	assert_int_equal(pt__walk(l, &p, 0, &s), EOPNOTSUPP);
	p = long_mode;
	p.cr0 = 1;		/* paging off: the identity */
	assert_int_equal(pt__walk(l, &p, 0x1234, &s), 0);
	assert_true(s.mapped);
	assert_int_equal(s.pa, 0x1234);
	assert_int_equal(s.va + s.size, PT_VA_END);
	vm__layout_free(l);
}

static void test_walk_read_seek(void **state)
{
	struct vm_layout *l = walk_layout();
	struct region *mem = l->maps[1].r;
	uint8_t buf[32];
	uint64_t pos;

	(void)state;
	put(mem, 0x1ff8, "page-one", 8);	/* PA MEM+0x1ff8: VA 0x40000ff8 */
	put(mem, 0, "page-zero", 9);		/* PA MEM: VA 0x40001000 */
	/* Across two 4 KiB pages mapped in the other order. */
	assert_int_equal(pt__read(l, &long_mode, buf, 17, 0x40000ff8), 0);
	assert_memory_equal(buf, "page-onepage-zero", 17);
	/* Unmapped: zeros. */
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(pt__read(l, &long_mode, buf, 8, 0x40002000), 0);
	assert_memory_equal(buf, "\0\0\0\0\0\0\0\0", 8);
	/* The 2 MiB page shows the region from its start. */
	assert_int_equal(pt__read(l, &long_mode, buf, 9, 0x40200000), 0);
	assert_memory_equal(buf, "page-zero", 9);

	/* Data: mapped pages whose memory holds some. */
	assert_int_equal(pt__seek_data(l, &long_mode, 0x40000000, &pos), 0);
	assert_int_equal(pos, 0x40000000);
	assert_int_equal(pt__seek_hole(l, &long_mode, 0x40000000, &pos), 0);
	assert_int_equal(pos, 0x40002000);
	/* Over the unmapped rest of the PT and the PD's entry to its 2 MiB page. */
	assert_int_equal(pt__seek_data(l, &long_mode, 0x40002000, &pos), 0);
	assert_int_equal(pos, 0x40200000);
	assert_int_equal(pt__seek_hole(l, &long_mode, 0x40200000, &pos), 0);
	assert_int_equal(pos, 0x40202000);
	/* Past the last mapping with data: across 127 TiB in a few steps. */
	assert_int_equal(pt__seek_data(l, &long_mode, 0x80000000 + (1ULL << 30),
				       &pos), ENXIO);
	assert_int_equal(pt__seek_data(l, &long_mode, PT_VA_END, &pos), ENXIO);
	vm__layout_free(l);
}

static void test_end(void **state)
{
	struct vm_layout *l = walk_layout();
	struct x86_paging p = long_mode;
	uint64_t end;

	(void)state;
	/* The 1 GiB page of PDPT[2] is the highest. */
	assert_int_equal(pt__end(l, &long_mode, &end), 0);
	assert_int_equal(end, 3ULL << 30);
	put64(l->maps[0].r, 0x1000 + 2 * 8, 0);
	assert_int_equal(pt__end(l, &long_mode, &end), 0);
	assert_int_equal(end, (1ULL << 30) + 4 * MIB);	/* PD[1] under PDPT[1] */
	/* A present PML4 entry whose table maps nothing is passed over. */
	put64(l->maps[0].r, 8 * 255, (PT_GPA + 0x3000) | P);
	put64(l->maps[0].r, 0x3000, 0);
	put64(l->maps[0].r, 0x3008, 0);
	assert_int_equal(pt__end(l, &long_mode, &end), 0);
	assert_int_equal(end, (1ULL << 30) + 4 * MIB);
	/* Nothing at all. */
	put64(l->maps[0].r, 0, 0);
	put64(l->maps[0].r, 8 * 255, 0);
	assert_int_equal(pt__end(l, &long_mode, &end), 0);
	assert_int_equal(end, 0);
	/* Paging off: physical memory's end. */
	p.cr0 = 1;
	assert_int_equal(pt__end(l, &p, &end), 0);
	assert_int_equal(end, MEM_GPA + 2 * MIB);
	vm__layout_free(l);
}

static void test_identity(void **state)
{
	struct vm_layout *l = walk_layout();

	(void)state;
	/* PD[1] under PDPT[0] is the 2 MiB page of MEM_GPA at VA MEM_GPA. */
	assert_true(pt__identity(l, &long_mode, MEM_GPA, 2 * MIB, 16));
	assert_false(pt__identity(l, &long_mode, MEM_GPA, 4 * MIB, 16));
	assert_false(pt__identity(l, &long_mode, MEM_GPA, 2 * MIB, 0));
	/* VA PT_GPA: PT[16], not present; then mapped elsewhere, then home. */
	assert_false(pt__identity(l, &long_mode, PT_GPA, 0x1000, 16));
	put64(l->maps[0].r, 0x3000 + 16 * 8, MEM_GPA | P);
	assert_false(pt__identity(l, &long_mode, PT_GPA, 0x1000, 16));
	put64(l->maps[0].r, 0x3000 + 16 * 8, PT_GPA | P);
	assert_true(pt__identity(l, &long_mode, PT_GPA, 0x1000, 16));
	assert_false(pt__identity(l, &long_mode, PT_GPA, 0x2000, 16));
	vm__layout_free(l);
}

/* ---- core ---------------------------------------------------------- */

static void test_core(void **state)
{
	static const struct spec segs[] = {
		{ "low", 0x1000, 0x3000 },
		{ "high", 0x100000000ULL, 16 * MIB },
	};
	struct vm_layout *l = make_layout(segs, 2);
	struct x86_regs regs = { .rip = 0x100032, .rax = 0xa1, .r15 = 0xf15,
				 .rsp = 0x200000, .rflags = 0x2 };
	struct elf_prstatus st;
	Elf64_Ehdr eh;
	Elf64_Phdr ph[3];
	Elf64_Nhdr nh;
	struct core *c;
	char buf[16];
	uint64_t pos;
	size_t n;

	(void)state;
	regs.cs.selector = 8;
	put(l->maps[1].r, 5 * MIB + 3, "deep", 4);
	put(l->maps[0].r, 0, "low!", 4);
	assert_int_equal(core__new(l, &regs, NULL, &c), 0);

	assert_int_equal(core__read(c, &eh, sizeof(eh), 0, &n), 0);
	assert_memory_equal(eh.e_ident, ELFMAG, SELFMAG);
	assert_int_equal(eh.e_ident[EI_CLASS], ELFCLASS64);
	assert_int_equal(eh.e_type, ET_CORE);
	assert_int_equal(eh.e_machine, EM_X86_64);
	assert_int_equal(eh.e_phnum, 3);
	assert_int_equal(core__read(c, ph, sizeof(ph), eh.e_phoff, &n), 0);
	assert_int_equal(ph[0].p_type, PT_NOTE);
	assert_int_equal(ph[1].p_type, PT_LOAD);
	assert_int_equal(ph[1].p_paddr, 0x1000);
	assert_int_equal(ph[1].p_vaddr, 0);	/* no page tables given */
	assert_int_equal(ph[1].p_offset % 4096, 0);
	assert_int_equal(ph[2].p_paddr, 0x100000000ULL);
	assert_int_equal(ph[2].p_offset, ph[1].p_offset + 0x3000);
	assert_int_equal(ph[2].p_filesz, 16 * MIB);
	assert_int_equal(core__size(c), ph[2].p_offset + 16 * MIB);

	assert_int_equal(core__read(c, &nh, sizeof(nh), ph[0].p_offset, &n), 0);
	assert_int_equal(nh.n_type, NT_PRSTATUS);
	assert_int_equal(nh.n_namesz, 5);
	assert_int_equal(nh.n_descsz, sizeof(st));
	assert_int_equal(ph[0].p_filesz, sizeof(nh) + 8 + sizeof(st));
	assert_int_equal(core__read(c, buf, 5, ph[0].p_offset + sizeof(nh), &n), 0);
	assert_string_equal(buf, "CORE");
	assert_int_equal(core__read(c, &st, sizeof(st),
				    ph[0].p_offset + sizeof(nh) + 8, &n), 0);
	assert_int_equal(st.pr_reg[RIP], 0x100032);
	assert_int_equal(st.pr_reg[RAX], 0xa1);
	assert_int_equal(st.pr_reg[R15], 0xf15);
	assert_int_equal(st.pr_reg[RSP], 0x200000);
	assert_int_equal(st.pr_reg[CS], 8);
	assert_int_equal(st.pr_reg[EFLAGS], 2);

	/* Segments read their regions; holes stay holes. */
	assert_int_equal(core__read(c, buf, 4, ph[2].p_offset + 5 * MIB + 3,
				    &n), 0);
	assert_memory_equal(buf, "deep", 4);
	assert_int_equal(core__seek_data(c, 0, &pos), 0);
	assert_int_equal(pos, 0);
	assert_int_equal(core__seek_hole(c, 0, &pos), 0);
	assert_true(pos < ph[1].p_offset);
	assert_int_equal(core__seek_data(c, pos, &pos), 0);
	assert_int_equal(pos, ph[1].p_offset);
	assert_int_equal(core__seek_hole(c, pos, &pos), 0);
	assert_int_equal(pos, ph[1].p_offset + 0x1000);
	assert_int_equal(core__seek_data(c, pos, &pos), 0);
	assert_int_equal(pos, ph[2].p_offset + 5 * MIB);
	assert_int_equal(core__seek_hole(c, pos, &pos), 0);
	assert_int_equal(pos, ph[2].p_offset + 5 * MIB + 0x1000);
	assert_int_equal(core__seek_data(c, pos, &pos), ENXIO);
	/* In a hole, the hole is where one is; at the end, ENXIO. */
	assert_int_equal(core__seek_hole(c, core__size(c) - 1, &pos), 0);
	assert_int_equal(pos, core__size(c) - 1);
	assert_int_equal(core__seek_hole(c, core__size(c), &pos), ENXIO);
	assert_int_equal(core__read(c, buf, 16, core__size(c), &n), 0);
	assert_int_equal(n, 0);
	/* A header page and the two written pages. */
	assert_int_equal(core__resident(c), 4096 + 2 * PAGE);
	core__free(c);
}

static void test_core_identity(void **state)
{
	struct vm_layout *l = walk_layout();
	struct core *c;
	Elf64_Phdr ph[3];
	size_t n;

	(void)state;
	/* Without regs: NT_PRSTATUS is zeros; p_vaddr from the tables. */
	assert_int_equal(core__new(l, NULL, &long_mode, &c), 0);
	assert_int_equal(core__read(c, ph, sizeof(ph), sizeof(Elf64_Ehdr),
				    &n), 0);
	assert_int_equal(ph[1].p_paddr, PT_GPA);
	assert_int_equal(ph[1].p_vaddr, 0);		/* VA PT_GPA: a PT entry that is 0 */
	assert_int_equal(ph[2].p_paddr, MEM_GPA);
	assert_int_equal(ph[2].p_vaddr, MEM_GPA);	/* PD[1]: identity 2 MiB */
	core__free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_find),
		cmocka_unit_test(test_phys_read_write),
		cmocka_unit_test(test_phys_seek),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_walk_modes),
		cmocka_unit_test(test_walk_read_seek),
		cmocka_unit_test(test_end),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_core),
		cmocka_unit_test(test_core_identity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
