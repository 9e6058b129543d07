/* The CPU state's insides, shared by cpu_state.c and cpu_codec.c. */
#ifndef REGIONFS_X86_CPU_PRIV_H
#define REGIONFS_X86_CPU_PRIV_H

#include "region/x86/x86.h"

#include <linux/kvm.h>
#include <stdbool.h>

/* The MSRs saved: at most this many (cpu_state.c's list). */
#define X86_MSRS_MAX 12

struct x86_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave *xsave;	/* xsave_size bytes; NULL: fpu */
	size_t xsave_size;
	struct kvm_fpu fpu;
	bool has_xcrs, has_events, has_debugregs;
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	struct kvm_msrs *msrs;		/* those KVM returned, of msr_list */
	uint32_t seen;			/* records decoded (cpu_codec.c) */
};

#endif
