/* Reading a vCPU's registers for inspection (regs.h). */
#include "region/x86/regs.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

static void segment(struct x86_segment *out, const struct kvm_segment *s)
{
	*out = (struct x86_segment){
		.base = s->base,
		.limit = s->limit,
		.selector = s->selector,
		.type = s->type,
		.dpl = s->dpl,
		.present = s->present,
		.s = s->s,
		.l = s->l,
		.db = s->db,
		.g = s->g,
	};
}

int x86__get_regs(int fd, struct x86_regs *out, const char **step)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	*step = "KVM_GET_REGS";
	if (ioctl(fd, KVM_GET_REGS, &regs) < 0)
		return errno;
	*step = "KVM_GET_SREGS";
	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return errno;
	memset(out, 0, sizeof(*out));
	out->rax = regs.rax;
	out->rbx = regs.rbx;
	out->rcx = regs.rcx;
	out->rdx = regs.rdx;
	out->rsi = regs.rsi;
	out->rdi = regs.rdi;
	out->rbp = regs.rbp;
	out->rsp = regs.rsp;
	out->r8 = regs.r8;
	out->r9 = regs.r9;
	out->r10 = regs.r10;
	out->r11 = regs.r11;
	out->r12 = regs.r12;
	out->r13 = regs.r13;
	out->r14 = regs.r14;
	out->r15 = regs.r15;
	out->rip = regs.rip;
	out->rflags = regs.rflags;
	segment(&out->cs, &sregs.cs);
	segment(&out->ss, &sregs.ss);
	segment(&out->ds, &sregs.ds);
	segment(&out->es, &sregs.es);
	segment(&out->fs, &sregs.fs);
	segment(&out->gs, &sregs.gs);
	segment(&out->tr, &sregs.tr);
	segment(&out->ldt, &sregs.ldt);
	out->gdt = (struct x86_dtable){ sregs.gdt.base, sregs.gdt.limit };
	out->idt = (struct x86_dtable){ sregs.idt.base, sregs.idt.limit };
	out->cr0 = sregs.cr0;
	out->cr2 = sregs.cr2;
	out->cr3 = sregs.cr3;
	out->cr4 = sregs.cr4;
	out->cr8 = sregs.cr8;
	out->efer = sregs.efer;
	out->apic_base = sregs.apic_base;
	return 0;
}

void x86__regs_paging(const struct x86_regs *r, struct x86_paging *out)
{
	*out = (struct x86_paging){ r->cr0, r->cr3, r->cr4, r->efer };
}

int x86__get_paging(int fd, struct x86_paging *out)
{
	struct kvm_sregs sregs;

	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return errno;
	*out = (struct x86_paging){ sregs.cr0, sregs.cr3, sregs.cr4,
				    sregs.efer };
	return 0;
}
