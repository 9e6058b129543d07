/*
 * One vCPU in 64-bit long mode, run by a thread of its own.
 *
 * The vCPU writes identity-mapped page tables and a GDT (x86/x86.h) into
 * its boot region, which its creator maps at VCPU_BOOT_GPA (the sandbox
 * names it "boot"), so they can be inspected through the mount like any
 * other memory (xxd MOUNT/boot/contents).  They are rewritten at every run
 * from stopped, so a guest that scribbled on them starts clean.  Guest memory outside regions is unmapped: touching
 * it faults the vCPU.  Only one vCPU per sandbox, ever (KVM vCPU id 0).
 * The rest of the daemon never blocks on KVM_RUN: every control call below
 * waits at most VCPU_WAIT_MS.
 *
 * Guest I/O ports (the guest's whole ABI with the host):
 *   out 0xE9 (VCPU_PORT_CONSOLE), byte:  append to the console
 *   out 0xE8 (VCPU_PORT_SLEEP), dword:   sleep that many milliseconds
 *                                        (capped at VCPU_SLEEP_MAX_MS);
 *                                        pause and stop cut it short
 *   any other out:                       ignored
 *   any in:                              reads all ones (0xff...), like an
 *                                        unpopulated ISA bus
 */
#ifndef REGIONFS_VCPU_H
#define REGIONFS_VCPU_H

#include "region/persist/header.h"
#include "region/util/ring.h"
#include "region/util/why.h"
#include "region/x86/x86.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct region;
struct vcpu;
struct vm;

#define VCPU_PORT_SLEEP		0xE8
#define VCPU_PORT_CONSOLE	0xE9

/* The boot region, [0x1000, 0x8000): page 0 stays unmapped (NULL faults). */
#define VCPU_BOOT_REGION	"boot"
#define VCPU_BOOT_GPA		0x1000ULL
#define VCPU_BOOT_SIZE		X86_BOOT_SIZE
/* GDT selectors the vCPU starts with. */
#define VCPU_SEL_CODE		X86_SEL_CODE
#define VCPU_SEL_DATA		X86_SEL_DATA

/*
 * How long pause/stop wait for the thread to leave KVM_RUN.  The thread is
 * kicked with a signal, SIGRTMIN (a no-op handler is installed for it,
 * process-wide, at the first vcpu__new; the thread blocks every other
 * signal), plus kvm_run->immediate_exit.
 */
#define VCPU_WAIT_MS		1000
/* One sleep hypercall never waits longer than this. */
#define VCPU_SLEEP_MAX_MS	60000
/* console_max of 0 means this. */
#define VCPU_CONSOLE_DEFAULT	(64 * 1024)

enum vcpu_state {
	VCPU_STOPPED,
	VCPU_RUNNING,
	VCPU_PAUSED,
	VCPU_HALTED,
	VCPU_FAULTED,
};

struct vcpu_config {
	uint64_t entry;		/* rip at run-from-stopped */
	uint64_t stack;		/* rsp at run-from-stopped */
	size_t console_max;	/* bytes of console kept (oldest dropped) */
	/*
	 * One line per event (fault, halt), no trailing newline; may be NULL.
	 * Called from the vCPU thread, possibly with its lock held: it must
	 * not call back into vcpu__*.
	 */
	void (*log)(void *arg, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));
	void *log_arg;
};

/* "stopped", "running", "paused", "halted", "faulted". */
const char *vcpu__state_name(enum vcpu_state s);

/*
 * Create the vCPU (state stopped) on boot, a region of VCPU_BOOT_SIZE
 * mapped at VCPU_BOOT_GPA (the vCPU keeps a reference), and start its
 * thread.  Returns 0 or a positive errno, with the reason in why: EEXIST
 * when the VM has its vCPU already.
 */
int vcpu__new(struct vm *vm, struct region *boot,
	      const struct vcpu_config *cfg, struct vcpu **out,
	      struct why *why);
/*
 * Stops and joins the thread: kicked, then waited for up to 5 x
 * VCPU_WAIT_MS; a thread still stuck in the kernel past that is logged and
 * leaked rather than freed under it.  Call it before the VM goes.  The
 * boot region stays (it is its creator's); KVM keeps vCPU id 0, so a VM
 * gets one vCPU in its life.
 */
void vcpu__free(struct vcpu *v);

enum vcpu_state vcpu__state(struct vcpu *v);

/*
 * The transitions.  Each returns 0 or a positive errno.
 * run:   stopped -> running (registers reset to entry/stack first),
 *        paused -> running (resumes where it was), running: 0 (no-op).
 *        halted/faulted: EINVAL (resuming is meaningless; stop, then run).
 *        EBUSY when vm__guest_enter refuses (an exclusive op is under way).
 * pause: running -> paused, promptly even in a tight guest loop or a long
 *        sleep hypercall (the sleep is cut short: after run the guest goes
 *        on as if it had slept); paused: 0; others: EINVAL.  EBUSY when the
 *        thread did not leave KVM_RUN within VCPU_WAIT_MS (the pause stays
 *        pending: the state reads running until the thread gets to it, and
 *        run cancels it).
 * stop:  any -> stopped; the next run starts over at entry.  EBUSY as pause.
 */
int vcpu__run(struct vcpu *v);
int vcpu__pause(struct vcpu *v);
int vcpu__stop(struct vcpu *v);
/*
 * A pause made by the daemon itself (a lease break's copy), undone only
 * if nobody changed the vCPU since: a pause's *gen (vcpu__gen), then
 * run if the state is still that one (paused, same generation), else
 * ESTALE and it stays as whoever came meanwhile (a stop, a restore, a
 * run then a pause) left it.
 */
int vcpu__pause_gen(struct vcpu *v, uint64_t *gen);
int vcpu__resume(struct vcpu *v, uint64_t gen);

/*
 * The last fault's reason, or "" when it never faulted, e.g.
 *   exit reason 6 (MMIO) at rip 0x100008: write of 8 bytes at 0x200000 (data: read-only)
 *   exit reason 6 (MMIO) at rip 0x10000a: read of 8 bytes at 0x200000 (no region there)
 *   exit reason 8 (SHUTDOWN) at rip 0xfff0: a triple fault; KVM has reset ...
 * Points into v and is rewritten by the next fault, which can only come
 * after a stop and a run, or by vcpu__load: read it while faulted, or use
 * vcpu__fault_copy.
 */
const char *vcpu__fault(struct vcpu *v);
/* Same, copied safely into buf. */
void vcpu__fault_copy(struct vcpu *v, char *buf, size_t len);

/*
 * The console: bytes the guest wrote to VCPU_PORT_CONSOLE.  Only the last
 * console_max bytes are kept.  console_end is the total ever written (the
 * file's size).  console_read returns the bytes at logical offset off for
 * the reader rd: see ring__read (a reader that fell behind goes on with
 * the oldest kept byte, and never reads a byte twice).
 */
uint64_t vcpu__console_end(struct vcpu *v);
size_t vcpu__console_read(struct vcpu *v, void *buf, size_t len,
			  uint64_t off, struct ring_reader *rd);

/*
 * Saving and restoring the vCPU, for snapshots (save.c).  Memory is the caller's
 * business (regions); these hold what KVM and the vCPU thread hold.
 */
struct vcpu_saved;	/* opaque: registers and the vCPU's state */
/*
 * Save everything KVM holds of the vCPU (struct x86_state) plus its state
 * (paused, stopped, halted, faulted, and the fault text), and the
 * console's kept bytes.
 * A vCPU paused in the middle of an I/O exit has already completed it
 * (rip is past the instruction): see vcpu.c.  EBUSY while the vCPU is
 * running (a pause still pending included); ENOMEM; another errno when
 * KVM refuses a read.
 */
int vcpu__save(struct vcpu *v, struct vcpu_saved **out);
/*
 * Put a saved state back: the registers, and the state it was saved in
 * (a vCPU saved paused is paused after this, and `run` continues exactly
 * where it was saved; saved stopped: stopped, next run starts at entry).
 * EBUSY while running.  The caller keeps the guest out meanwhile (it
 * holds exclusivity on the mapped regions, so vcpu__run fails EBUSY).
 * s must come from this vCPU (or another of this host's KVM).  The
 * console reads s's kept bytes again, from offset 0 (a reader past them
 * sees the file shrink, as after a log rotation).  When KVM refuses part
 * of it (that errno is returned), the registers are half loaded, so the
 * vCPU is left stopped: the next run starts over at entry.
 */
int vcpu__load(struct vcpu *v, const struct vcpu_saved *s);
void vcpu__saved_free(struct vcpu_saved *s);
/* The state the vCPU was in when saved. */
enum vcpu_state vcpu__saved_state(const struct vcpu_saved *s);
/* Its entry and stack (a run from stopped), and rip. */
void vcpu__saved_config(const struct vcpu_saved *s, struct vcpu_config *cfg);
uint64_t vcpu__saved_rip(const struct vcpu_saved *s);
/*
 * The console kept when s was saved, oldest byte first (NULL s: none): a
 * snapshot's console file.  set_console gives s the bytes of one read
 * back (a malloc'd buf, which s then owns; at most the console_max of the
 * vCPU it is loaded into, or only the newest are kept).
 */
const uint8_t *vcpu__saved_console(const struct vcpu_saved *s, size_t *len);
void vcpu__saved_set_console(struct vcpu_saved *s, uint8_t *buf, size_t len);

/*
 * The vcpu_state file of a snapshot directory (state_file.c): s (NULL:
 * the sandbox has no vCPU) in a versioned, self-describing little-endian
 * format, which a later regionfs on this kind of host loads back:
 *
 *   header (region/persist/header.h), 32 bytes: magic "RFSVCPU\0",
 *     u32 version (VCPU_STATE_VERSION),
 *     u32 header size (32), u64 total length (header + payload),
 *     u32 CRC-32 of the payload, u32 reserved (0)
 *   payload: records, each u32 tag, u32 length, then its fields:
 *     1 run: u32 state (0 stopped, 2 paused, 3 halted, 4 faulted),
 *        u8 has_cpu, u64 entry, u64 stack
 *     2 fault: the fault text (bytes, no NUL)
 *     16-23: the x86 state (x86.h): regs, sregs, fpu or xsave, xcrs,
 *        events, debugregs, msrs
 *
 * encode: a malloc'd buffer (ENOMEM).  decode: EINVAL with why saying
 * what is wrong (truncated, bad magic, another version, a CRC that does
 * not match, a bad record); *out is NULL for a sandbox without a vCPU.
 */
#define VCPU_STATE_VERSION	1
#define VCPU_STATE_HEADER	PERSIST_HEADER_SIZE
int vcpu__saved_encode(const struct vcpu_saved *s, uint8_t **buf,
		       size_t *len);
int vcpu__saved_decode(const void *buf, size_t len, struct vcpu_saved **out,
		       struct why *why);

#endif
