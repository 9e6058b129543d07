/*
 * The registers of an x86-64 vCPU as a debugger shows them: general,
 * segment, control and descriptor-table registers, read with
 * KVM_GET_REGS and KVM_GET_SREGS.  Only ioctls on the fd given: whether
 * the vCPU may be read now is kvm/'s business.
 *
 * Errors: 0 or a positive errno; *step names the ioctl that refused.
 */
#ifndef REGIONFS_X86_REGS_H
#define REGIONFS_X86_REGS_H

#include <stdbool.h>
#include <stdint.h>

struct x86_segment {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint8_t type, dpl;
	bool present, s, l, db, g;
};

struct x86_dtable {
	uint64_t base;
	uint16_t limit;
};

struct x86_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
	struct x86_segment cs, ss, ds, es, fs, gs, tr, ldt;
	struct x86_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
};

/* What decides how virtual addresses translate (pagewalk.h). */
struct x86_paging {
	uint64_t cr0, cr3, cr4, efer;
};

int x86__get_regs(int vcpu_fd, struct x86_regs *out, const char **step);
/* Only the paging registers (one KVM_GET_SREGS). */
int x86__get_paging(int vcpu_fd, struct x86_paging *out);
void x86__regs_paging(const struct x86_regs *r, struct x86_paging *out);

#endif
