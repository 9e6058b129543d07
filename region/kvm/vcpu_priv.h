/* The vCPU's insides, shared by vcpu.c, exit.c, console.c and save.c. */
#ifndef REGIONFS_VCPU_PRIV_H
#define REGIONFS_VCPU_PRIV_H

#include "region/kvm/inspect.h"
#include "region/kvm/vcpu.h"
#include "region/kvm/vm.h"
#include "region/mem/region.h"
#include "region/util/ring.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#define VCPU_FAULT_MAX 256
/*
 * KVM_RUNs with immediate_exit that one completion of an I/O exit may take:
 * an emulated string IN can ask for its next chunk, an emulated MMIO
 * access for its next fragment.  One or two in practice.
 */
#define VCPU_COMPLETE_MAX 16

/* What vcpu__save keeps (save.c), and the vcpu_state file holds. */
struct vcpu_saved {
	enum vcpu_state state;
	char fault[VCPU_FAULT_MAX];
	struct vcpu_fault fault_rec;	/* not in a vcpu_state file (yet) */
	uint64_t entry, stack;	/* where a run from stopped starts */
	struct x86_state *cpu;	/* NULL: no vCPU (a decoded file only) */
	/* The console's kept bytes, oldest first (console.c): its own file. */
	uint8_t *console;
	size_t console_len;
	uint64_t seq;		/* this saved state, unique in the process */
};

enum vcpu_req { VCPU_REQ_NONE, VCPU_REQ_PAUSE, VCPU_REQ_STOP };

struct vcpu {
	struct vm *vm;
	struct region *boot;	/* a reference: the page tables and GDT */
	struct vcpu_config cfg;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;

	/*
	 * Everything below, under lock.  cond is broadcast on every state
	 * change and every request: the thread waits on it while idle or
	 * sleeping, control calls while waiting for the thread.  Acquired
	 * *after* the regions (a snapshot saves the vCPU with every region
	 * held) and *before* the VM's locks; the thread lets it go around
	 * KVM_RUN and a reset, which write guest memory.
	 */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum vcpu_state state;
	enum vcpu_req request;	/* for the thread, while running */
	bool reset;		/* registers to entry before the next KVM_RUN */
	/*
	 * The last KVM_RUN ended in an I/O or MMIO exit, which the next
	 * KVM_RUN completes (rip past the instruction, an IN's value in rax):
	 * leaving running for paused or stopped completes it then and there,
	 * so only a fault leaves one pending.
	 */
	bool io_pending;
	/*
	 * The saved state (its seq) KVM holds exactly, as of the last save
	 * or load of it; 0: none known.  Only a KVM_RUN changes what KVM
	 * holds, and every KVM_RUN but load's own happens while running, so
	 * entering running forgets it (vcpu__run): a restore of the same
	 * snapshot while the vCPU has not run since loads nothing but the
	 * clock (save.c).
	 */
	uint64_t held;
	/*
	 * Such a restore's clock: the saved time-stamp counter, set when the
	 * guest runs again or the state is saved (vcpu_clock_locked), so
	 * the guest finds it as a full load leaves it.
	 */
	bool tsc_pending;
	uint64_t tsc;
	/*
	 * What the last full save read from KVM (its seq in last_seq; 0:
	 * none): while KVM holds it still (held == last_seq), a save copies
	 * it and reads only the clock.
	 */
	struct x86_state *last;
	uint64_t last_seq;
	bool quit;
	bool exited;		/* the thread left its loop */
	char fault[VCPU_FAULT_MAX];
	/*
	 * The same fault as a record (inspect.h).  exit.c prepares it for
	 * a KVM exit (fault_ready) before vcpu_fault_locked finishes it;
	 * a fault that is no exit gets a record without one.
	 */
	struct vcpu_fault fault_rec;
	bool fault_ready;
	/*
	 * The paging registers as of the last time the thread left running
	 * or reset the vCPU: what vmem walks while the guest runs.
	 */
	struct x86_paging paging;
	bool paging_known;
	/*
	 * Moves (under lock, read without it) with every change of state
	 * and every load or reset of the registers: what is worked out from
	 * them (the core's notes and p_vaddr) holds while it does not.
	 */
	_Atomic uint64_t gen;
	/* Counters for metrics. */
	uint64_t exits[VCPU_EXIT_REASONS];
	uint64_t runs, faults, run_ns;
	struct timespec run_since;	/* CLOCK_MONOTONIC, while running */

	/* The console: the last console_max bytes the guest wrote. */
	struct ring con;
};

/*
 * kvm_run->immediate_exit is set by whoever kicks (under v->lock) and by
 * the thread around its own KVM_RUNs (unlocked): one atomic byte store.
 */
static inline void vcpu_immediate_exit(struct vcpu *v, uint8_t on)
{
	__atomic_store_n(&v->run->immediate_exit, on, __ATOMIC_RELAXED);
}

void vcpu_log(struct vcpu *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vcpu_timeout(struct timespec *ts, unsigned ms);
void vcpu_leave_locked(struct vcpu *v, enum vcpu_state to);
/* Set the clock a restore left pending (v->tsc), not running; logs a failure. */
int vcpu_clock_locked(struct vcpu *v);
bool vcpu_io_exit(const struct kvm_run *run);

/* exit.c */
void vcpu_exit_locked(struct vcpu *v);
/* Prepare the record of a fault at a KVM exit (then vcpu_fault_locked). */
struct vcpu_fault *vcpu_fault_prepare_locked(struct vcpu *v, uint32_t reason,
					     uint64_t rip);
void vcpu_fault_locked(struct vcpu *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* inspect.c: the running period starts or ends (v->lock held). */
void vcpu_run_begin_locked(struct vcpu *v);
void vcpu_run_end_locked(struct vcpu *v);

/* console.c: append to the ring, v->lock held. */
void vcpu_console_put(struct vcpu *v, const uint8_t *p, size_t n);
/* The kept bytes into s (ENOMEM), and back from s; v->lock held. */
int vcpu_console_save_locked(struct vcpu *v, struct vcpu_saved *s);
void vcpu_console_load_locked(struct vcpu *v, const struct vcpu_saved *s);

#endif
