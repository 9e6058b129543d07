/* The ELF core file (core.h). */
#include "region/inspect/core.h"
#include "region/inspect/pagewalk.h"
#include "region/mem/region.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/reg.h>

#define CORE_PAGE 4096ULL
/* "CORE" and its NUL, padded to 4 bytes. */
#define NOTE_NAME "CORE"
#define NOTE_NAME_SIZE 8

struct core {
	struct vm_layout *l;
	uint8_t *hdr;		/* ELF header, program headers, the note */
	size_t hdr_len;
	uint64_t data;		/* file offset of the first region */
	uint64_t size;
	uint64_t off[];		/* per mapping: its file offset */
};

static uint64_t round_page(uint64_t x)
{
	return (x + CORE_PAGE - 1) & ~(CORE_PAGE - 1);
}

/* user_regs_struct's order, through <sys/reg.h>'s indices. */
static void prstatus(struct elf_prstatus *st, const struct x86_regs *r)
{
	memset(st, 0, sizeof(*st));
	st->pr_pid = 1;		/* one thread: the vCPU */
	if (!r)
		return;
	st->pr_reg[R15] = r->r15;
	st->pr_reg[R14] = r->r14;
	st->pr_reg[R13] = r->r13;
	st->pr_reg[R12] = r->r12;
	st->pr_reg[RBP] = r->rbp;
	st->pr_reg[RBX] = r->rbx;
	st->pr_reg[R11] = r->r11;
	st->pr_reg[R10] = r->r10;
	st->pr_reg[R9] = r->r9;
	st->pr_reg[R8] = r->r8;
	st->pr_reg[RAX] = r->rax;
	st->pr_reg[RCX] = r->rcx;
	st->pr_reg[RDX] = r->rdx;
	st->pr_reg[RSI] = r->rsi;
	st->pr_reg[RDI] = r->rdi;
	st->pr_reg[ORIG_RAX] = ~0ULL;	/* not in a system call */
	st->pr_reg[RIP] = r->rip;
	st->pr_reg[CS] = r->cs.selector;
	st->pr_reg[EFLAGS] = r->rflags;
	st->pr_reg[RSP] = r->rsp;
	st->pr_reg[SS] = r->ss.selector;
	st->pr_reg[FS_BASE] = r->fs.base;
	st->pr_reg[GS_BASE] = r->gs.base;
	st->pr_reg[DS] = r->ds.selector;
	st->pr_reg[ES] = r->es.selector;
	st->pr_reg[FS] = r->fs.selector;
	st->pr_reg[GS] = r->gs.selector;
}

static void write_headers(struct core *c, const struct x86_regs *regs,
			  const struct x86_paging *paging)
{
	const struct vm_layout *l = c->l;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)c->hdr;
	Elf64_Phdr *ph = (Elf64_Phdr *)(c->hdr + sizeof(*eh));
	size_t note_off = sizeof(*eh) + (l->n + 1) * sizeof(*ph);
	Elf64_Nhdr *nh = (Elf64_Nhdr *)(c->hdr + note_off);
	struct elf_prstatus st;

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh->e_type = ET_CORE;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = (Elf64_Half)(l->n + 1);

	ph[0] = (Elf64_Phdr){
		.p_type = PT_NOTE,
		.p_offset = note_off,
		.p_filesz = c->hdr_len - note_off,
		.p_align = 4,
	};
	for (unsigned i = 0; i < l->n; i++) {
		const struct vm_map *m = &l->maps[i];
		bool identity = paging &&
			pt__identity(l, paging, m->gpa, m->size,
				     CORE_IDENTITY_BUDGET);

		ph[i + 1] = (Elf64_Phdr){
			.p_type = PT_LOAD,
			.p_flags = PF_R | PF_X | (m->ro ? 0 : PF_W),
			.p_offset = c->off[i],
			.p_vaddr = identity ? m->gpa : 0,
			.p_paddr = m->gpa,
			.p_filesz = m->size,
			.p_memsz = m->size,
			.p_align = CORE_PAGE,
		};
	}

	prstatus(&st, regs);
	nh->n_namesz = sizeof(NOTE_NAME);
	nh->n_descsz = sizeof(st);
	nh->n_type = NT_PRSTATUS;
	memcpy((uint8_t *)(nh + 1), NOTE_NAME, sizeof(NOTE_NAME));
	memcpy((uint8_t *)(nh + 1) + NOTE_NAME_SIZE, &st, sizeof(st));
}

int core__new(struct vm_layout *l, const struct x86_regs *regs,
	      const struct x86_paging *paging, struct core **out)
{
	struct core *c = calloc(1, sizeof(*c) + l->n * sizeof(c->off[0]));
	uint64_t off;

	if (!c) {
		vm__layout_free(l);
		return ENOMEM;
	}
	c->l = l;
	c->hdr_len = sizeof(Elf64_Ehdr) + (l->n + 1) * sizeof(Elf64_Phdr) +
		     sizeof(Elf64_Nhdr) + NOTE_NAME_SIZE +
		     sizeof(struct elf_prstatus);
	c->hdr = calloc(1, c->hdr_len);
	if (!c->hdr) {
		core__free(c);
		return ENOMEM;
	}
	/* Page-aligned segments: the regions' page holes stay file holes. */
	c->data = l->n ? round_page(c->hdr_len) : c->hdr_len;
	off = c->data;
	for (unsigned i = 0; i < l->n; i++) {
		c->off[i] = off;
		off += l->maps[i].size;
	}
	c->size = off;
	write_headers(c, regs, paging);
	*out = c;
	return 0;
}

void core__free(struct core *c)
{
	if (!c)
		return;
	vm__layout_free(c->l);
	free(c->hdr);
	free(c);
}

uint64_t core__size(const struct core *c)
{
	return c->size;
}

uint64_t core__resident(const struct core *c)
{
	uint64_t sum = round_page(c->hdr_len);

	for (unsigned i = 0; i < c->l->n; i++)
		sum += region__resident(c->l->maps[i].r);
	return sum;
}

/* The mapping whose bytes hold file offset off (off >= c->data). */
static unsigned segment_at(const struct core *c, uint64_t off)
{
	unsigned lo = 0, hi = c->l->n;

	while (hi - lo > 1) {
		unsigned mid = lo + (hi - lo) / 2;

		if (c->off[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int core__read(const struct core *c, void *buf, size_t len, uint64_t off,
	       size_t *done)
{
	uint8_t *b = buf;
	size_t n;
	int ret;

	*done = 0;
	if (off >= c->size)
		return 0;
	if (len > c->size - off)
		len = (size_t)(c->size - off);
	while (len) {
		size_t chunk = len;

		if (off < c->data) {
			if (c->data - off < chunk)
				chunk = (size_t)(c->data - off);
			if (off < c->hdr_len) {
				size_t h = c->hdr_len - off < chunk ?
					   c->hdr_len - off : chunk;

				memcpy(b, c->hdr + off, h);
				memset(b + h, 0, chunk - h);
			} else {
				memset(b, 0, chunk);
			}
		} else {
			unsigned i = segment_at(c, off);
			const struct vm_map *m = &c->l->maps[i];
			uint64_t in = off - c->off[i];

			if (m->size - in < chunk)
				chunk = (size_t)(m->size - in);
			ret = region__read(m->r, b, chunk, in, &n);
			if (ret)
				return ret;
			memset(b + n, 0, chunk - n);
		}
		b += chunk;
		off += chunk;
		len -= chunk;
		*done += chunk;
	}
	return 0;
}

static int seek(const struct core *c, uint64_t off, bool data, uint64_t *pos)
{
	if (off >= c->size)
		return ENXIO;
	if (off < c->hdr_len) {
		if (data) {
			*pos = off;
			return 0;
		}
		off = c->hdr_len;
	}
	if (off < c->data) {
		if (!data) {
			*pos = off;
			return 0;
		}
		off = c->data;
	}
	/* One step per region at most. */
	for (unsigned i = off < c->size ? segment_at(c, off) : c->l->n;
	     i < c->l->n; i++) {
		const struct vm_map *m = &c->l->maps[i];
		uint64_t in = off > c->off[i] ? off - c->off[i] : 0, p;
		int ret = data ? region__seek_data(m->r, in, &p) :
				 region__seek_hole(m->r, in, &p);

		if (ret && ret != ENXIO)
			return ret;
		if (!ret && p < m->size) {
			*pos = c->off[i] + p;
			return 0;
		}
	}
	if (data)
		return ENXIO;
	*pos = c->size;		/* the hole at the end */
	return 0;
}

int core__seek_data(const struct core *c, uint64_t off, uint64_t *pos)
{
	return seek(c, off, true, pos);
}

int core__seek_hole(const struct core *c, uint64_t off, uint64_t *pos)
{
	return seek(c, off, false, pos);
}
