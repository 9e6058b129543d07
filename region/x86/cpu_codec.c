/*
 * The CPU state as records of the vcpu_state file (x86.h): every field of
 * the KVM structures named and encoded little-endian, so the file means
 * the same whatever the compiler's layout.  The asserts catch a header
 * that grew a field this file does not know of yet.
 */
#include "region/x86/cpu_priv.h"
#include "region/util/codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
	REC_REGS = X86_REC_FIRST,
	REC_SREGS,
	REC_FPU,
	REC_XSAVE,
	REC_XCRS,
	REC_EVENTS,
	REC_DEBUGREGS,
	REC_MSRS,
};
_Static_assert(REC_MSRS == X86_REC_LAST, "x86.h names the last tag");

/* The layout check: what each record encodes is the whole structure. */
_Static_assert(sizeof(struct kvm_regs) == 18 * 8, "kvm_regs changed");
_Static_assert(sizeof(struct kvm_segment) == 24, "kvm_segment changed");
_Static_assert(sizeof(struct kvm_dtable) == 16, "kvm_dtable changed");
_Static_assert(sizeof(struct kvm_sregs) == 8 * 24 + 2 * 16 + 7 * 8 + 4 * 8,
	       "kvm_sregs changed");
_Static_assert(sizeof(struct kvm_fpu) == 416, "kvm_fpu changed");
_Static_assert(sizeof(struct kvm_vcpu_events) == 64, "kvm_vcpu_events changed");
_Static_assert(sizeof(struct kvm_debugregs) == 16 * 8, "kvm_debugregs changed");

/* The largest XSAVE area accepted: AMX needs 11 KiB. */
#define XSAVE_MAX (64 * 1024)

static void regs(struct codec *c, struct kvm_regs *r)
{
	void *f[] = { &r->rax, &r->rbx, &r->rcx, &r->rdx, &r->rsi,
			  &r->rdi, &r->rsp, &r->rbp, &r->r8, &r->r9, &r->r10,
			  &r->r11, &r->r12, &r->r13, &r->r14, &r->r15,
			  &r->rip, &r->rflags };

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		codec__u64(c, f[i]);
}

static void segment(struct codec *c, struct kvm_segment *s)
{
	codec__u64(c, &s->base);
	codec__u32(c, &s->limit);
	codec__u16(c, &s->selector);
	codec__u8(c, &s->type);
	codec__u8(c, &s->present);
	codec__u8(c, &s->dpl);
	codec__u8(c, &s->db);
	codec__u8(c, &s->s);
	codec__u8(c, &s->l);
	codec__u8(c, &s->g);
	codec__u8(c, &s->avl);
	codec__u8(c, &s->unusable);
}

static void sregs(struct codec *c, struct kvm_sregs *s)
{
	struct kvm_segment *seg[] = { &s->cs, &s->ds, &s->es, &s->fs, &s->gs,
				      &s->ss, &s->tr, &s->ldt };
	void *cr[] = { &s->cr0, &s->cr2, &s->cr3, &s->cr4, &s->cr8,
			   &s->efer, &s->apic_base };

	for (size_t i = 0; i < 8; i++)
		segment(c, seg[i]);
	codec__u64(c, &s->gdt.base);
	codec__u16(c, &s->gdt.limit);
	codec__u64(c, &s->idt.base);
	codec__u16(c, &s->idt.limit);
	for (size_t i = 0; i < 7; i++)
		codec__u64(c, cr[i]);
	for (size_t i = 0; i < 4; i++)
		codec__u64(c, &s->interrupt_bitmap[i]);
}

static void fpu(struct codec *c, struct kvm_fpu *f)
{
	codec__bytes(c, f->fpr, sizeof(f->fpr));
	codec__u16(c, &f->fcw);
	codec__u16(c, &f->fsw);
	codec__u8(c, &f->ftwx);
	codec__u16(c, &f->last_opcode);
	codec__u64(c, &f->last_ip);
	codec__u64(c, &f->last_dp);
	codec__bytes(c, f->xmm, sizeof(f->xmm));
	codec__u32(c, &f->mxcsr);
}

/* The XSAVE area's own layout is the architecture's (Intel SDM vol. 1, 13.4). */
static void xsave(struct codec *c, struct kvm_xsave *x, size_t size)
{
	codec__bytes(c, x, size);
}

static void xcrs(struct codec *c, struct kvm_xcrs *x)
{
	codec__u32(c, &x->nr_xcrs);
	codec__u32(c, &x->flags);
	for (uint32_t i = 0; i < x->nr_xcrs && i < KVM_MAX_XCRS; i++) {
		codec__u32(c, &x->xcrs[i].xcr);
		codec__u64(c, &x->xcrs[i].value);
	}
}

static void events(struct codec *c, struct kvm_vcpu_events *e)
{
	void *b[] = { &e->exception.injected, &e->exception.nr,
			 &e->exception.has_error_code, &e->exception.pending,
			 &e->interrupt.injected, &e->interrupt.nr,
			 &e->interrupt.soft, &e->interrupt.shadow,
			 &e->nmi.injected, &e->nmi.pending, &e->nmi.masked,
			 &e->smi.smm, &e->smi.pending, &e->smi.smm_inside_nmi,
			 &e->smi.latched_init, &e->triple_fault.pending,
			 &e->exception_has_payload };

	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++)
		codec__u8(c, b[i]);
	codec__u32(c, &e->exception.error_code);
	codec__u32(c, &e->sipi_vector);
	codec__u32(c, &e->flags);
	codec__u64(c, &e->exception_payload);
}

static void debugregs(struct codec *c, struct kvm_debugregs *d)
{
	for (size_t i = 0; i < 4; i++)
		codec__u64(c, &d->db[i]);
	codec__u64(c, &d->dr6);
	codec__u64(c, &d->dr7);
	codec__u64(c, &d->flags);
}

static void msrs(struct codec *c, struct kvm_msrs *m)
{
	codec__u32(c, &m->nmsrs);
	for (uint32_t i = 0; i < m->nmsrs && i < X86_MSRS_MAX; i++) {
		codec__u32(c, &m->entries[i].index);
		codec__u64(c, &m->entries[i].data);
	}
}

void x86__state_put(const struct x86_state *cs, struct codec *c)
{
	/* Encoding only reads the fields. */
	struct x86_state *s = (struct x86_state *)cs;
	size_t m;

#define REC(tag, call) do {			\
		m = codec__rec_begin(c, tag);	\
		call;				\
		codec__rec_end(c, m);		\
	} while (0)
	REC(REC_REGS, regs(c, &s->regs));
	REC(REC_SREGS, sregs(c, &s->sregs));
	if (s->xsave)
		REC(REC_XSAVE, xsave(c, s->xsave, s->xsave_size));
	else
		REC(REC_FPU, fpu(c, &s->fpu));
	if (s->has_xcrs)
		REC(REC_XCRS, xcrs(c, &s->xcrs));
	if (s->has_events)
		REC(REC_EVENTS, events(c, &s->events));
	if (s->has_debugregs)
		REC(REC_DEBUGREGS, debugregs(c, &s->debugregs));
	REC(REC_MSRS, msrs(c, s->msrs));
#undef REC
}

struct x86_state *x86__state_empty(void)
{
	struct x86_state *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->msrs = calloc(1, sizeof(*s->msrs) +
			    X86_MSRS_MAX * sizeof(struct kvm_msr_entry));
	if (!s->msrs) {
		free(s);
		return NULL;
	}
	return s;
}

static const char *const rec_names[] = {
	"regs", "sregs", "fpu", "xsave", "xcrs", "events", "debugregs", "msrs",
};

static int decode(struct x86_state *s, uint32_t tag, struct codec *c,
		  struct why *why)
{
	switch (tag) {
	case REC_REGS:
		regs(c, &s->regs);
		break;
	case REC_SREGS:
		sregs(c, &s->sregs);
		break;
	case REC_FPU:
		fpu(c, &s->fpu);
		break;
	case REC_XSAVE:
		if (c->len < sizeof(struct kvm_xsave) || c->len > XSAVE_MAX ||
		    c->len % 64)
			return why__set(why, EINVAL, "xsave: %zu bytes (%zu to "
					"%d, a multiple of 64)", c->len,
					sizeof(struct kvm_xsave), XSAVE_MAX);
		/*
		 * KVM_SET_XSAVE reads as many bytes as this host's XSAVE area
		 * has, which may be more than the file holds: room for the
		 * largest, zeroed (the unused components' init state).
		 */
		s->xsave = calloc(1, XSAVE_MAX);
		if (!s->xsave)
			return why__set(why, ENOMEM, "out of memory");
		s->xsave_size = c->len;
		xsave(c, s->xsave, c->len);
		break;
	case REC_XCRS:
		codec__u32(c, &s->xcrs.nr_xcrs);
		if (s->xcrs.nr_xcrs > KVM_MAX_XCRS)
			return why__set(why, EINVAL, "xcrs: %u of them (at most "
					"%d)", s->xcrs.nr_xcrs, KVM_MAX_XCRS);
		c->pos = 0;
		xcrs(c, &s->xcrs);
		s->has_xcrs = true;
		break;
	case REC_EVENTS:
		events(c, &s->events);
		s->has_events = true;
		break;
	case REC_DEBUGREGS:
		debugregs(c, &s->debugregs);
		s->has_debugregs = true;
		break;
	case REC_MSRS:
		codec__u32(c, &s->msrs->nmsrs);
		if (s->msrs->nmsrs > X86_MSRS_MAX)
			return why__set(why, EINVAL, "msrs: %u of them (at most "
					"%d)", s->msrs->nmsrs, X86_MSRS_MAX);
		c->pos = 0;
		msrs(c, s->msrs);
		break;
	}
	return 0;
}

int x86__state_record(struct x86_state *s, uint32_t tag, struct codec *rec,
		      struct why *why)
{
	const char *name;
	int ret;

	if (tag < X86_REC_FIRST || tag > X86_REC_LAST)
		return why__set(why, EINVAL, "unknown record tag %u", tag);
	name = rec_names[tag - X86_REC_FIRST];
	if (s->seen & (1u << (tag - X86_REC_FIRST)))
		return why__set(why, EINVAL, "record %s twice", name);
	s->seen |= 1u << (tag - X86_REC_FIRST);
	ret = decode(s, tag, rec, why);
	if (ret)
		return ret;
	/* Every record is exactly its fields: no more, no less. */
	if (rec->bad || rec->pos != rec->len)
		return why__set(why, EINVAL, "record %s: %zu bytes, its fields "
				"take %s%zu", name, rec->len,
				rec->bad ? "more than " : "", rec->pos);
	return 0;
}

int x86__state_complete(const struct x86_state *s, struct why *why)
{
	uint32_t fp = 1u << (REC_FPU - X86_REC_FIRST),
		 xs = 1u << (REC_XSAVE - X86_REC_FIRST);

	for (uint32_t t = REC_REGS; t <= REC_MSRS; t++) {
		uint32_t bit = 1u << (t - X86_REC_FIRST);

		if (t == REC_XCRS || t == REC_EVENTS || t == REC_DEBUGREGS ||
		    t == REC_FPU || t == REC_XSAVE)
			continue;	/* optional, as KVM offers them */
		if (!(s->seen & bit))
			return why__set(why, EINVAL, "no %s record",
					rec_names[t - X86_REC_FIRST]);
	}
	if (!(s->seen & (fp | xs)))
		return why__set(why, EINVAL, "no fpu or xsave record");
	if ((s->seen & fp) && (s->seen & xs))
		return why__set(why, EINVAL, "both an fpu and an xsave record");
	return 0;
}

uint64_t x86__state_rip(const struct x86_state *s)
{
	return s->regs.rip;
}
