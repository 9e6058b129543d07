/*
 * x86-64 for a KVM vCPU: the boot state of 64-bit long mode (page tables,
 * GDT, CPUID, the registers a run from entry starts with) and the CPU
 * state a snapshot saves and loads.  Only ioctls on the fds given: the
 * vCPU's thread and locking are kvm/vcpu.c's.
 *
 * Errors: 0 or a positive errno; *step (or why) names the ioctl that
 * refused.
 */
#ifndef REGIONFS_X86_H
#define REGIONFS_X86_H

#include "region/util/why.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The boot tables: identity-mapped page tables (2 MiB pages over the
 * first 4 GiB: no 1 GiB-page CPUID dependency) and a GDT, laid out as
 *   +0x0000 PML4   +0x1000 PDPT   +0x2000..+0x5fff four PDs   +0x6000 GDT
 */
#define X86_BOOT_SIZE		0x7000ULL
/* GDT selectors the vCPU starts with. */
#define X86_SEL_CODE		0x08
#define X86_SEL_DATA		0x10

/* Fill buf (X86_BOOT_SIZE bytes) with the tables as they sit at gpa. */
void x86__boot_tables(void *buf, uint64_t gpa);
/* Without CPUID entries KVM's guest has no long mode (EFER.LME refused). */
int x86__setup_cpuid(int kvm_fd, int vcpu_fd, struct why *why);
/* Long mode on the tables at boot_gpa, rip = entry, rsp = stack. */
int x86__reset(int vcpu_fd, uint64_t boot_gpa, uint64_t entry,
	       uint64_t stack, struct why *why);

/*
 * Everything KVM holds of a vCPU: general, segment/control, FPU/SSE
 * (XSAVE when KVM has it), XCRs, the MSRs a long-mode guest uses
 * (sysenter, STAR/LSTAR/CSTAR/SFMASK, KERNEL_GS_BASE, TSC, TSC_AUX, PAT,
 * MISC_ENABLE; those KVM refuses are left out), pending events, debug
 * registers.  What is optional in KVM is probed at save and recorded, so
 * a load puts back exactly what was got.
 */
struct x86_state;
/* Allocated before any lock is taken: what the capabilities call for. */
struct x86_state *x86__state_alloc(int kvm_fd, int vm_fd);
int x86__state_save(int vcpu_fd, struct x86_state *s, const char **step);
int x86__state_load(int vcpu_fd, const struct x86_state *s,
		    const char **step);
/*
 * The time-stamp counter as saved (false: KVM gave none), and setting it
 * alone: for a vCPU whose KVM state is s already but for the clock, which
 * runs while paused.
 */
bool x86__state_tsc(const struct x86_state *s, uint64_t *tsc);
int x86__set_tsc(int vcpu_fd, uint64_t tsc);
/*
 * Copy a state (both from x86__state_alloc), and read the clock alone into
 * one: for a vCPU that holds the copied state but for the clock.
 */
void x86__state_copy(struct x86_state *dst, const struct x86_state *src);
int x86__state_save_tsc(int vcpu_fd, struct x86_state *s);
/* CR8 as saved: without an in-kernel APIC kvm_run carries it. */
uint64_t x86__state_cr8(const struct x86_state *s);
void x86__state_free(struct x86_state *s);

/*
 * The state as records of the vcpu_state file (util/codec.h), one per
 * part, each field explicit and little-endian: tags X86_REC_FIRST to
 * X86_REC_LAST.  put writes them all; decoding starts from an empty
 * state, feeds it each record (EINVAL with why: a bad length, a value out
 * of range, a record twice) and checks that the parts a load needs are
 * all there.
 */
struct codec;
#define X86_REC_FIRST	16
#define X86_REC_LAST	23
void x86__state_put(const struct x86_state *s, struct codec *c);
struct x86_state *x86__state_empty(void);
int x86__state_record(struct x86_state *s, uint32_t tag, struct codec *rec,
		      struct why *why);
int x86__state_complete(const struct x86_state *s, struct why *why);
/* rip, for the info file. */
uint64_t x86__state_rip(const struct x86_state *s);

#endif
