/*
 * regs: the vCPU's registers, "name value" per line, read from KVM while
 * the vCPU is paused, halted, faulted or stopped.  While it runs a read
 * is EBUSY: the vCPU thread is inside KVM_RUN, and taking the registers
 * would mean kicking it out (pause first).  Without a guest it is empty.
 */
#include "fs/longtext.h"
#include "region/kvm/inspect.h"

#include <errno.h>
#include <inttypes.h>

static void reg(struct sbuf *b, const char *name, uint64_t v)
{
	sbuf__printf(b, "%s 0x%016" PRIx64 "\n", name, v);
}

static void seg(struct sbuf *b, const char *name, const struct x86_segment *s)
{
	sbuf__printf(b, "%s 0x%04x\n%s_base 0x%016" PRIx64 "\n", name,
		     s->selector, name, s->base);
}

static int regs_render(struct sbuf *b, const char **why)
{
	enum vcpu_state state;
	struct x86_regs r;
	int ret;

	if (!rfs.vcpu)
		return 0;
	ret = vcpu__regs(rfs.vcpu, &r, &state);
	if (ret) {
		*why = ret == EBUSY ? "the vCPU is running (echo pause > vcpu "
		       "first)" : "KVM would not give the registers";
		return ret;
	}
	reg(b, "rax", r.rax);
	reg(b, "rbx", r.rbx);
	reg(b, "rcx", r.rcx);
	reg(b, "rdx", r.rdx);
	reg(b, "rsi", r.rsi);
	reg(b, "rdi", r.rdi);
	reg(b, "rbp", r.rbp);
	reg(b, "rsp", r.rsp);
	reg(b, "r8", r.r8);
	reg(b, "r9", r.r9);
	reg(b, "r10", r.r10);
	reg(b, "r11", r.r11);
	reg(b, "r12", r.r12);
	reg(b, "r13", r.r13);
	reg(b, "r14", r.r14);
	reg(b, "r15", r.r15);
	reg(b, "rip", r.rip);
	reg(b, "rflags", r.rflags);
	seg(b, "cs", &r.cs);
	seg(b, "ss", &r.ss);
	seg(b, "ds", &r.ds);
	seg(b, "es", &r.es);
	seg(b, "fs", &r.fs);
	seg(b, "gs", &r.gs);
	seg(b, "tr", &r.tr);
	seg(b, "ldt", &r.ldt);
	reg(b, "gdtr_base", r.gdt.base);
	sbuf__printf(b, "gdtr_limit 0x%04x\n", r.gdt.limit);
	reg(b, "idtr_base", r.idt.base);
	sbuf__printf(b, "idtr_limit 0x%04x\n", r.idt.limit);
	reg(b, "cr0", r.cr0);
	reg(b, "cr2", r.cr2);
	reg(b, "cr3", r.cr3);
	reg(b, "cr4", r.cr4);
	reg(b, "cr8", r.cr8);
	reg(b, "efer", r.efer);
	return 0;
}

/* The registers change only with the vCPU's state (inspect.h). */
static uint64_t regs_gen(void)
{
	return rfs.vcpu ? vcpu__gen(rfs.vcpu) : 0;
}

static struct longtext text = LONGTEXT_INIT(regs_render, regs_gen, 0, 0);

const struct node_ops regs_ops = LONGTEXT_OPS(&text);
