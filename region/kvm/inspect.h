/*
 * The vCPU as a debugger sees it: its registers, the paging registers a
 * page-table walk starts from, a record of its last fault, and counters
 * for metrics.  The vCPU thread owns KVM_RUN, so registers are read
 * under the vCPU's lock while it is not running; nothing here kicks a
 * running guest out of KVM_RUN.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_VCPU_INSPECT_H
#define REGIONFS_VCPU_INSPECT_H

#include "region/kvm/vcpu.h"
#include "region/mem/region.h"
#include "region/x86/regs.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* exit_reason of a fault that was no KVM exit (KVM_RUN failed, no page tables). */
#define VCPU_FAULT_NO_EXIT UINT32_MAX
/* Exit reasons counted one by one; higher ones share the last counter. */
#define VCPU_EXIT_REASONS 64

struct vcpu_fault {
	bool valid;		/* false: it never faulted */
	uint32_t exit_reason;	/* KVM_EXIT_*, or VCPU_FAULT_NO_EXIT */
	char exit_name[24];	/* "MMIO", "SHUTDOWN", ... or "none" */
	bool has_rip;
	uint64_t rip;
	/* A memory access no region could serve (KVM_EXIT_MMIO): */
	bool memory;
	uint64_t gpa;
	uint32_t len;
	bool write;
	char region[REGION_NAME_MAX + 1];	/* "" when none is mapped there */
	bool region_ro;
	char text[256];		/* the sentence the log got */
	struct timespec when;	/* CLOCK_REALTIME */
};

/*
 * The registers now: EBUSY while the vCPU runs (a pause still pending
 * included).  *state is the state they were read in.
 */
int vcpu__regs(struct vcpu *v, struct x86_regs *out, enum vcpu_state *state);
/*
 * The paging registers (cr0, cr3, cr4, efer).  Not running: read from
 * KVM now (*live false).  Running: those of the last time the vCPU left
 * running or was reset to its entry point (*live true), since reading
 * them would mean kicking the guest out of KVM_RUN.
 */
int vcpu__paging(struct vcpu *v, struct x86_paging *out, bool *live);
/*
 * The generation of the vCPU's state: it moves whenever the state, the
 * registers or the paging registers may have changed (a run, a pause, a
 * stop, a restore), so whatever was worked out from them with the same
 * generation still holds.  O(1), no ioctl.
 */
uint64_t vcpu__gen(struct vcpu *v);
/* The last fault's record (valid false when it never faulted). */
void vcpu__fault_info(struct vcpu *v, struct vcpu_fault *out);

struct vcpu_stats {
	enum vcpu_state state;
	uint64_t run_ns;		/* time spent running, in all */
	uint64_t runs;			/* transitions into running */
	uint64_t faults;
	uint64_t exits[VCPU_EXIT_REASONS];	/* by KVM exit reason */
};
void vcpu__stats(struct vcpu *v, struct vcpu_stats *out);
/* "IO", "MMIO", "HLT", ... for a KVM exit reason; "other" when unknown. */
const char *vcpu__exit_name(uint32_t reason);

#endif
