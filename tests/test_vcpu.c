/*
 * The vCPU on real KVM: long-mode guests from tests/guests/ (GUESTS_DIR)
 * sharing regions with the host, the state machine, the console, the sleep
 * hypercall, exclusivity between the running guest and region__zero, and
 * saving and loading the vCPU (vcpu__save, vcpu__load).
 * Needs /dev/kvm: without it, the whole program is skipped (exit 77).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "region/guest/guest.h"
#include "region/sandbox/sandbox.h"
#include "region/sandbox/lease.h"
#include "region/kvm/inspect.h"
#include "region/kvm/vcpu.h"
#include "tests/helpers.h"
#include "region/kvm/vcpu_priv.h"	/* white box: the vCPU's fd and kvm_run */
#include "region/x86/cpu_priv.h"	/* and what a save holds */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* A new reader for vcpu__console_read (see ring__read). */
#define NOSKIP (&(struct ring_reader){ 0 })

#define KVM_PATH "/dev/kvm"
#define RAM_GPA 0x100000
#define RAM_SIZE (1 << 20)
#define DATA_GPA 0x200000	/* tests/guests/lib.inc: DATA */
#define DATA_SIZE 0x10000
/* Bound on waiting for a guest to get somewhere (TCG under KVM is slow). */
#define GUEST_WAIT_MS 20000

struct fix {
	struct sandbox *sb;
	struct region *ram, *data;
	struct vcpu *v;
};

static void log_line(void *arg, const char *fmt, ...)
{
	va_list ap;

	(void)arg;
	va_start(ap, fmt);
	fprintf(stderr, "  log: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}


static void nap_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (sandbox__new(&f->sb, 0, 0) || sandbox__open_vm(f->sb, KVM_PATH))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	vcpu__free(f->v);
	if (f->ram)
		region__put(f->ram);
	if (f->data)
		region__put(f->data);
	sandbox__free(f->sb);
	free(f);
	return 0;
}

/* ram + data mapped, the guest loaded, a vCPU at its entry. */
static struct vcpu *start(struct fix *f, const char *guest, size_t con_max)
{
	struct vcpu_config cfg = {
		.stack = RAM_GPA + RAM_SIZE,
		.console_max = con_max,
		.log = log_line,
	};
	const char *dir = getenv("GUESTS_DIR");
	char path[4096];
	struct why why = { "" };

	f->ram = add_mapped(f->sb, "ram", RAM_SIZE, RAM_GPA);
	f->data = add_mapped(f->sb, "data", DATA_SIZE, DATA_GPA);
	snprintf(path, sizeof(path), "%s/%s.elf", dir ? dir : "tests/guests",
		 guest);
	if (guest__load_elf(f->sb, path, &cfg.entry, &why))
		fail_msg("%s", why.msg);
	if (sandbox__new_vcpu(f->sb, &cfg, &f->v, &why))
		fail_msg("vcpu__new: %s", why.msg);
	assert_int_equal(vcpu__state(f->v), VCPU_STOPPED);
	return f->v;
}

static void wait_state(struct vcpu *v, enum vcpu_state s)
{
	uint64_t t0 = now_ms();

	while (vcpu__state(v) != s) {
		if (now_ms() - t0 > GUEST_WAIT_MS)
			fail_msg("still %s after %d ms, want %s (fault: %s)",
				 vcpu__state_name(vcpu__state(v)),
				 GUEST_WAIT_MS, vcpu__state_name(s),
				 vcpu__fault(v));
		nap_ms(1);
	}
}

/* Wait until the console, from logical offset from on, holds text. */
static uint64_t wait_console(struct vcpu *v, uint64_t from, const char *text)
{
	static char buf[65536];
	uint64_t t0 = now_ms();
	ssize_t n;
	char *hit;

	for (;;) {
		n = vcpu__console_read(v, buf, sizeof(buf) - 1, from, NOSKIP);
		assert_true(n >= 0);
		buf[n] = '\0';
		hit = strstr(buf, text);
		if (hit)
			return from + (uint64_t)(hit - buf) + strlen(text);
		if (now_ms() - t0 > GUEST_WAIT_MS)
			fail_msg("console has no \"%s\" after %d ms: \"%s\" "
				 "(state %s)", text, GUEST_WAIT_MS, buf,
				 vcpu__state_name(vcpu__state(v)));
		nap_ms(1);
	}
}

static uint64_t qword(struct region *r, uint64_t off)
{
	uint64_t q = 0;

	assert_int_equal(t_read(r, &q, 8, off), 8);
	return q;
}

static void test_pattern(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "pattern", 0);
	uint8_t buf[4096];
	struct region *boot;
	uint64_t gpa;

	assert_string_equal(vcpu__state_name(VCPU_FAULTED), "faulted");
	/* The page tables are plain memory: PML4[0] -> PDPT at 0x2000. */
	boot = sandbox__find(f->sb, VCPU_BOOT_REGION, NULL);
	assert_non_null(boot);
	assert_true(sandbox__guest_addr(f->sb, boot, &gpa));
	assert_int_equal(gpa, VCPU_BOOT_GPA);
	assert_int_equal(qword(boot, 0), 0x2003);
	assert_int_equal(qword(boot, 0x2000 + 8 * 511), (511ULL << 21) | 0x83);
	region__put(boot);

	assert_int_equal(vcpu__run(v), 0);
	wait_state(v, VCPU_HALTED);
	wait_console(v, 0, "pattern done\n");
	assert_int_equal(t_read(f->data, buf, sizeof(buf), 0),
			 sizeof(buf));
	for (unsigned i = 0; i < sizeof(buf); i++)
		if (buf[i] != (uint8_t)(i * 7 + 3))
			fail_msg("byte %u is 0x%02x", i, buf[i]);

	/* Halted: run is meaningless; stop, then run starts over. */
	assert_int_equal(vcpu__run(v), EINVAL);
	assert_int_equal(vcpu__pause(v), EINVAL);
	assert_int_equal(vcpu__stop(v), 0);
	assert_int_equal(vcpu__state(v), VCPU_STOPPED);
	assert_int_equal(region__zero(f->data, NULL), 0);
	assert_int_equal(vcpu__run(v), 0);
	wait_state(v, VCPU_HALTED);
	assert_int_equal(vcpu__console_end(v), 2 * strlen("pattern done\n"));
	assert_int_equal(qword(f->data, 0), 0x342d261f18110a03ULL);
}

static void test_reporter_zero(void **state)
{
	static const uint8_t bytes[16] = { 0x11, 0x22, 0x33, 0x44, 0xde, 0xad,
		0xbe, 0xef, 0, 1, 2, 3, 0xfe, 0xdc, 0xba, 0x98 };
	struct fix *f = *state;
	struct vcpu *v = start(f, "reporter", 0);
	uint8_t back[16];
	uint64_t pos, t0;

	/* Host writes, guest reports them on the console. */
	assert_int_equal(t_write(f->data, bytes, 16, 0), 16);
	assert_int_equal(vcpu__run(v), 0);
	assert_int_equal(vcpu__run(v), 0);	/* running: no-op */
	pos = wait_console(v, 0, "11223344deadbeef00010203fedcba98\n");

	/* Zero while running: EBUSY, and nothing changes. */
	assert_int_equal(region__zero(f->data, NULL), EBUSY);
	assert_int_equal(t_read(f->data, back, 16, 0), 16);
	assert_memory_equal(back, bytes, 16);
	pos = wait_console(v, pos, "11223344deadbeef00010203fedcba98\n");

	/* Pause, zero, run: the guest reports zeros. */
	t0 = now_ms();
	assert_int_equal(vcpu__pause(v), 0);
	printf("  pause took %llu ms\n", (unsigned long long)(now_ms() - t0));
	assert_int_equal(vcpu__state(v), VCPU_PAUSED);
	assert_int_equal(vcpu__pause(v), 0);	/* paused: no-op */
	assert_int_equal(region__zero(f->data, NULL), 0);
	pos = vcpu__console_end(v);
	assert_int_equal(vcpu__run(v), 0);
	wait_console(v, pos, "00000000000000000000000000000000\n");
	assert_int_equal(vcpu__stop(v), 0);
	assert_int_equal(vcpu__state(v), VCPU_STOPPED);
}

/* An exclusive operation under way: vm__guest_enter refuses, so does run. */
static void test_run_busy(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "halter", 0);

	assert_int_equal(vm__excl_enter(f->sb->vm), 0);
	assert_int_equal(vcpu__run(v), EBUSY);
	assert_int_equal(vcpu__state(v), VCPU_STOPPED);
	vm__excl_exit(f->sb->vm);
	assert_int_equal(vcpu__run(v), 0);
	wait_state(v, VCPU_HALTED);
	wait_console(v, 0, "halting\n");
	/* Halted: the guest no longer holds the regions. */
	assert_false(vm__guest_running(f->sb->vm));
	assert_int_equal(region__zero(f->data, NULL), 0);
}

static void test_zerocheck(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "zerocheck", 0);
	uint8_t one = 1;

	assert_int_equal(t_write(f->data, &one, 1, DATA_SIZE - 1), 1);
	assert_int_equal(vcpu__run(v), 0);
	wait_state(v, VCPU_HALTED);
	wait_console(v, 0, "nonzero\n");
	assert_int_equal(vcpu__stop(v), 0);
	assert_int_equal(region__zero(f->data, NULL), 0);
	assert_int_equal(vcpu__run(v), 0);
	wait_state(v, VCPU_HALTED);
	wait_console(v, 0, "zero ok\n");

	/* Unmapped: the guest's read is an access to nothing, a fault. */
	assert_int_equal(vcpu__stop(v), 0);
	assert_int_equal(sandbox__set_guest_addr(f->sb, f->data, true, 0, NULL), 0);
	assert_int_equal(vcpu__run(v), 0);
	wait_state(v, VCPU_FAULTED);
	printf("  fault: %s\n", vcpu__fault(v));
	assert_non_null(strstr(vcpu__fault(v), "(MMIO)"));
	assert_non_null(strstr(vcpu__fault(v), "read of 8 bytes at 0x200000 "
				"(no region there)"));
	assert_int_equal(vcpu__run(v), EINVAL);
}

static void test_ro_write(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "rowriter", 0);
	uint64_t count, t0 = now_ms();

	if (!f->sb->vm->readonly_mem) {
		skip_because("no KVM_CAP_READONLY_MEM, ro untested");
	}
	assert_int_equal(vcpu__run(v), 0);
	while (qword(f->data, 0) < 3 && now_ms() - t0 < GUEST_WAIT_MS)
		nap_ms(1);
	assert_true(qword(f->data, 0) >= 3);
	/* Running: no access change. */
	assert_int_equal(sandbox__set_access(f->sb, f->data, true, NULL), EBUSY);
	assert_int_equal(vcpu__pause(v), 0);
	assert_int_equal(sandbox__set_access(f->sb, f->data, true, NULL), 0);
	count = qword(f->data, 0);
	assert_int_equal(vcpu__run(v), 0);
	wait_state(v, VCPU_FAULTED);
	printf("  fault: %s\n", vcpu__fault(v));
	assert_non_null(strstr(vcpu__fault(v), "write of 8 bytes at 0x200000 "
				"(data: read-only)"));
	assert_int_equal(qword(f->data, 0), count);
	/* The same fault as a record, rip as the registers have it. */
	{
		struct vcpu_fault rec;
		enum vcpu_state st;
		struct x86_regs r;

		vcpu__fault_info(v, &rec);
		assert_true(rec.valid);
		assert_int_equal(rec.exit_reason, KVM_EXIT_MMIO);
		assert_string_equal(rec.exit_name, "MMIO");
		assert_true(rec.memory && rec.write && rec.region_ro);
		assert_int_equal(rec.gpa, 0x200000);
		assert_int_equal(rec.len, 8);
		assert_string_equal(rec.region, "data");
		assert_string_equal(rec.text, vcpu__fault(v));
		assert_int_equal(vcpu__regs(v, &r, &st), 0);
		assert_int_equal(st, VCPU_FAULTED);
		assert_int_equal(rec.rip, r.rip);
	}
}

/* Known values in the registers after hlt; EBUSY while it runs. */
static void test_regs(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "regset", 0);
	struct vcpu_stats stats;
	struct vcpu_fault rec;
	struct x86_paging p;
	enum vcpu_state st;
	struct x86_regs r;
	bool live;

	assert_int_equal(vcpu__regs(v, &r, &st), 0);
	assert_int_equal(st, VCPU_STOPPED);
	assert_int_equal(vcpu__run(v), 0);
	wait_state(v, VCPU_HALTED);
	assert_int_equal(vcpu__regs(v, &r, &st), 0);
	assert_int_equal(st, VCPU_HALTED);
	assert_int_equal(r.rax, 0x1111111111111151ULL);
	assert_int_equal(r.rdi, 0x6666666666666656ULL);
	assert_int_equal(r.r8, 0x8888888888888858ULL);
	assert_int_equal(r.r15, 0xffffffffffffff5fULL);
	assert_int_equal(r.rsp, RAM_GPA + RAM_SIZE);
	assert_int_equal(r.cr3, VCPU_BOOT_GPA);
	assert_int_equal(r.cs.selector, VCPU_SEL_CODE);
	assert_int_equal(vcpu__paging(v, &p, &live), 0);
	assert_false(live);
	assert_int_equal(p.cr3, VCPU_BOOT_GPA);
	vcpu__fault_info(v, &rec);
	assert_false(rec.valid);
	vcpu__stats(v, &stats);
	assert_int_equal(stats.state, VCPU_HALTED);
	assert_int_equal(stats.runs, 1);
	assert_int_equal(stats.exits[KVM_EXIT_HLT], 1);
	assert_true(stats.run_ns > 0);
}

static void test_regs_running(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "spinner", 0);
	struct x86_paging p;
	enum vcpu_state st;
	struct x86_regs r;
	uint64_t t0 = now_ms();
	bool live;

	assert_int_equal(vcpu__run(v), 0);
	while (qword(f->data, 0) == 0 && now_ms() - t0 < GUEST_WAIT_MS)
		nap_ms(1);
	assert_int_equal(vcpu__regs(v, &r, &st), EBUSY);
	assert_int_equal(st, VCPU_RUNNING);
	/* The paging registers it was reset with, without stopping it. */
	assert_int_equal(vcpu__paging(v, &p, &live), 0);
	assert_true(live);
	assert_int_equal(p.cr3, VCPU_BOOT_GPA);
	assert_int_equal(vcpu__state(v), VCPU_RUNNING);
	assert_int_equal(vcpu__pause(v), 0);
	assert_int_equal(vcpu__regs(v, &r, &st), 0);
}

/*
 * The generation of the vCPU's state moves with every change of state,
 * and not while it stays paused: what regs and core's notes are made
 * from holds while it does not move.
 */
static void test_gen(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "spinner", 0);
	struct x86_paging p;
	enum vcpu_state st;
	struct x86_regs r;
	uint64_t g;
	bool live;

	g = vcpu__gen(v);
	assert_int_equal(vcpu__run(v), 0);
	assert_true(vcpu__gen(v) > g);
	g = vcpu__gen(v);
	assert_int_equal(vcpu__pause(v), 0);
	assert_true(vcpu__gen(v) > g);
	g = vcpu__gen(v);
	/* Reading the registers changes nothing. */
	assert_int_equal(vcpu__regs(v, &r, &st), 0);
	assert_int_equal(vcpu__paging(v, &p, &live), 0);
	assert_int_equal(vcpu__gen(v), g);
	assert_int_equal(vcpu__stop(v), 0);
	assert_true(vcpu__gen(v) > g);
}

static void test_triple_fault(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "triple", 0);
	char copy[256];

	assert_string_equal(vcpu__fault(v), "");
	assert_int_equal(vcpu__run(v), 0);
	wait_state(v, VCPU_FAULTED);
	vcpu__fault_copy(v, copy, sizeof(copy));
	printf("  fault: %s\n", copy);
	assert_non_null(strstr(copy, "exit reason 8 (SHUTDOWN) at rip 0x"));
	/* Stop and run: it starts over, and faults again. */
	assert_int_equal(vcpu__stop(v), 0);
	assert_int_equal(vcpu__run(v), 0);
	wait_state(v, VCPU_FAULTED);
}

static void test_spinner(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "spinner", 0);
	uint64_t a, b, t0, took;

	assert_int_equal(vcpu__run(v), 0);
	t0 = now_ms();
	while (qword(f->data, 0) == 0 && now_ms() - t0 < GUEST_WAIT_MS)
		nap_ms(1);
	a = qword(f->data, 0);
	nap_ms(100);
	assert_true(qword(f->data, 0) > a);
	for (int i = 0; i < 5; i++) {
		t0 = now_ms();
		assert_int_equal(vcpu__pause(v), 0);
		took = now_ms() - t0;
		printf("  pause of a tight loop took %llu ms\n",
		       (unsigned long long)took);
		assert_true(took < VCPU_WAIT_MS);
		a = qword(f->data, 0);
		nap_ms(50);
		b = qword(f->data, 0);
		assert_int_equal(a, b);
		assert_int_equal(vcpu__run(v), 0);
		nap_ms(20);
	}
	t0 = now_ms();
	while (qword(f->data, 0) == b && now_ms() - t0 < GUEST_WAIT_MS)
		nap_ms(1);
	assert_true(qword(f->data, 0) > b);
	t0 = now_ms();
	assert_int_equal(vcpu__stop(v), 0);
	assert_true(now_ms() - t0 < VCPU_WAIT_MS);
}

/*
 * A lease break pauses a running guest to let a busy region leave its
 * file, and runs it again after: not if it was stopped meanwhile (a
 * stop, then a restore, wants it to stay stopped).
 */
static void test_lease_resume(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "spinner", 0);
	struct lease_watch w = { .vcpu = &f->v };
	char dir[] = "/dev/shm/test_vcpu.XXXXXX", path[64];
	struct region *r = NULL;
	struct why why = { "" };
	uint64_t size = 1 << 20, t0;
	int fd, wfd;

	if (region__cow_supported(&why))
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/contents", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	fd = open(path, O_RDONLY);
	assert_int_equal(lease__start(&w, &why), 0);
	assert_int_equal(region__new_cow("c", fd, path, size, &w.lease, &r,
					 &why), 0);
	assert_int_equal(vcpu__run(v), 0);
	/* Busy: the break pauses the guest and tries again. */
	assert_int_equal(region__shared_begin(r), 0);
	wfd = open(path, O_WRONLY | O_NONBLOCK);
	assert_true(wfd < 0 && errno == EWOULDBLOCK);
	wait_state(v, VCPU_PAUSED);
	assert_int_equal(vcpu__stop(v), 0);
	region__shared_end(r);
	t0 = now_ms();
	while (atomic_load(&w.breaks) == 0 && now_ms() - t0 < 10000)
		nap_ms(5);
	assert_int_equal(atomic_load(&w.breaks), 1);
	assert_int_equal(vcpu__state(v), VCPU_STOPPED);
	lease__stop(&w);
	region__put(r);
	close(fd);
	unlink(path);
	rmdir(dir);
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void test_sleep(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "sleeper", 0);
	uint64_t t0, took, pos;
	double c0, used;

	assert_int_equal(vcpu__run(v), 0);
	pos = wait_console(v, 0, "sleeping\n");
	nap_ms(50);
	/* The whole process: the vCPU thread waits, this one naps. */
	c0 = cpu_s();
	nap_ms(1000);
	used = cpu_s() - c0;
	printf("  CPU time over 1 s of guest sleep: %.3f s\n", used);
	assert_true(used < 0.1);
	assert_int_equal(vcpu__state(v), VCPU_RUNNING);
	assert_int_equal(vcpu__console_end(v), pos);

	/* Pause cuts the 10 s sleep short, promptly. */
	t0 = now_ms();
	assert_int_equal(vcpu__pause(v), 0);
	took = now_ms() - t0;
	printf("  pause of a sleeping guest took %llu ms\n",
	       (unsigned long long)took);
	assert_true(took < 200);
	assert_int_equal(vcpu__state(v), VCPU_PAUSED);
	/* And the guest goes on after run, as if it had slept. */
	assert_int_equal(vcpu__run(v), 0);
	wait_console(v, pos, "woke\n");
	wait_state(v, VCPU_HALTED);

	/* Stop interrupts a sleep too, and run starts over. */
	assert_int_equal(vcpu__stop(v), 0);
	pos = vcpu__console_end(v);
	assert_int_equal(vcpu__run(v), 0);
	pos = wait_console(v, pos, "sleeping\n");
	t0 = now_ms();
	assert_int_equal(vcpu__stop(v), 0);
	assert_true(now_ms() - t0 < 200);
	assert_int_equal(vcpu__state(v), VCPU_STOPPED);
	assert_int_equal(vcpu__run(v), 0);
	wait_console(v, pos, "sleeping\n");
}

/* A small console keeps the newest bytes; reads before it start at it. */
static void test_console_window(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "reporter", 64);
	char buf[256];
	uint64_t end;
	struct ring_reader rd = { 0 };
	ssize_t n;

	assert_int_equal(vcpu__run(v), 0);
	while (vcpu__console_end(v) < 5 * 33)
		nap_ms(5);
	assert_int_equal(vcpu__pause(v), 0);
	end = vcpu__console_end(v);
	assert_int_equal(end % 33, 0);
	n = vcpu__console_read(v, buf, sizeof(buf), 0, &rd);
	assert_int_equal(n, 64);
	/* cat's next read, at 64: the end, not the same bytes again. */
	assert_int_equal(rd.skip, end - 64);
	assert_int_equal(vcpu__console_read(v, buf + 200, 10, 64, &rd), 0);
	/* A seek back into what it read (the shell's read): the same bytes. */
	assert_int_equal(vcpu__console_read(v, buf + 200, 10, 10, &rd), 10);
	assert_memory_equal(buf + 200, buf + 10, 10);
	/* A seek from the end: the logical offset. */
	assert_int_equal(vcpu__console_read(v, buf + 200, 10, end - 5, &rd), 5);
	assert_memory_equal(buf + 200, buf + 59, 5);

	/* The window's start: byte end - 64, within a line of 33. */
	assert_int_equal(vcpu__console_read(v, buf + 100, 64, end - 64, NOSKIP), 64);
	assert_memory_equal(buf, buf + 100, 64);
	assert_int_equal(buf[63], '\n');
	assert_int_equal(vcpu__console_read(v, buf, 10, end - 5, NOSKIP), 5);
	assert_int_equal(vcpu__console_read(v, buf, 10, end, NOSKIP), 0);
	assert_int_equal(vcpu__console_read(v, buf, 10, end + 100, NOSKIP), 0);
}

static void test_demo(void **state)
{
	struct fix *f = *state;
	struct vcpu_config cfg = { .log = log_line };
	struct region *hb;
	struct why why = { "" };
	uint64_t ticks, t0, gpa;

	if (guest__demo(f->sb, &cfg.entry, &cfg.stack, &why))
		fail_msg("guest__demo: %s", why.msg);
	assert_int_equal(sandbox__new_vcpu(f->sb, &cfg, &f->v, &why), 0);
	hb = sandbox__find(f->sb, "heartbeat", NULL);
	assert_non_null(hb);
	assert_true(sandbox__guest_addr(f->sb, hb, &gpa));
	assert_int_equal(gpa, GUEST_DEMO_HEARTBEAT_GPA);
	assert_int_equal(vcpu__run(f->v), 0);
	wait_console(f->v, 0, "regionfs demo guest: hello");
	t0 = now_ms();
	while (qword(hb, 0) < 3 && now_ms() - t0 < GUEST_WAIT_MS)
		nap_ms(10);
	ticks = qword(hb, 0);
	printf("  demo: %llu ticks in %llu ms, last TSC 0x%llx\n",
	       (unsigned long long)ticks,
	       (unsigned long long)(now_ms() - t0),
	       (unsigned long long)qword(hb, 8));
	assert_true(ticks >= 3);
	assert_true(qword(hb, 8) != 0);
	assert_int_equal(vcpu__pause(f->v), 0);
	ticks = qword(hb, 0);
	nap_ms(300);
	assert_int_equal(qword(hb, 0), ticks);
	region__put(hb);
}

/* counter's line for n. */
static void tick_line(char *buf, size_t len, uint64_t n)
{
	snprintf(buf, len, "tick %016llx\n", (unsigned long long)n);
}

/* Does the console, from its oldest kept byte, hold text? */
static bool console_has(struct vcpu *v, const char *text)
{
	static char buf[VCPU_CONSOLE_DEFAULT + 1];
	ssize_t n = vcpu__console_read(v, buf, sizeof(buf) - 1, 0, NOSKIP);

	assert_true(n >= 0);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

/* Wait until the console, from logical offset at, starts with text. */
static void wait_console_at(struct vcpu *v, uint64_t at, const char *text)
{
	size_t len = strlen(text);
	uint64_t t0 = now_ms();
	char buf[256];
	ssize_t n;

	assert_true(len < sizeof(buf));
	while (vcpu__console_end(v) < at + len) {
		if (now_ms() - t0 > GUEST_WAIT_MS)
			fail_msg("console stuck at %llu, want %zu bytes after "
				 "%llu (state %s)",
				 (unsigned long long)vcpu__console_end(v), len,
				 (unsigned long long)at,
				 vcpu__state_name(vcpu__state(v)));
		nap_ms(1);
	}
	n = vcpu__console_read(v, buf, len, at, NOSKIP);
	assert_int_equal(n, len);
	buf[n] = '\0';
	if (memcmp(buf, text, len))
		fail_msg("console at %llu: \"%s\", want \"%s\"",
			 (unsigned long long)at, buf, text);
}

/*
 * Pause counter just after it ended a line: it is most likely asleep then
 * (20 ms against a few exits), so the save lands between two rounds.
 */
static void pause_after_line(struct vcpu *v)
{
	uint64_t end = vcpu__console_end(v), e, t0 = now_ms();
	char c = 0;

	for (;;) {
		e = vcpu__console_end(v);
		if (e != end && vcpu__console_read(v, &c, 1, e - 1, NOSKIP) == 1 &&
		    c == '\n')
			break;
		if (now_ms() - t0 > GUEST_WAIT_MS)
			fail_msg("no new line in %d ms", GUEST_WAIT_MS);
		nap_ms(1);
	}
	assert_int_equal(vcpu__pause(v), 0);
}

/*
 * White box: KVM holds no I/O completion for a paused vCPU, so what is
 * saved is where the guest is.  A KVM_RUN with immediate_exit would do a
 * pending one (api.rst) and move rip; it must change nothing.
 */
static void assert_nothing_pending(struct vcpu *v)
{
	struct kvm_regs a, b;

	assert_int_equal(vcpu__state(v), VCPU_PAUSED);
	assert_int_equal(ioctl(v->fd, KVM_GET_REGS, &a), 0);
	v->run->immediate_exit = 1;
	assert_int_equal(ioctl(v->fd, KVM_RUN, 0), -1);
	assert_int_equal(errno, EINTR);
	v->run->immediate_exit = 0;
	assert_int_equal(ioctl(v->fd, KVM_GET_REGS, &b), 0);
	if (a.rip != b.rip)
		fail_msg("rip 0x%llx was 0x%llx before: an I/O was pending",
			 (unsigned long long)b.rip, (unsigned long long)a.rip);
	assert_memory_equal(&a, &b, sizeof(a));
}

/*
 * Where counter's console stands: the count of its last whole line, and
 * in partial what is out of the next one (paused in the middle of it).
 */
static uint64_t console_tail(struct vcpu *v, char *partial, size_t len)
{
	uint64_t end = vcpu__console_end(v);
	unsigned long long count;
	char buf[128], *nl, *line;
	ssize_t n;

	n = vcpu__console_read(v, buf, sizeof(buf) - 1,
			       end > 100 ? end - 100 : 0, NOSKIP);
	assert_true(n > 0);
	buf[n] = '\0';
	nl = strrchr(buf, '\n');
	assert_non_null(nl);
	snprintf(partial, len, "%s", nl + 1);
	*nl = '\0';
	line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	if (sscanf(line, "tick %llx", &count) != 1)
		fail_msg("counter's last line is \"%s\"", line);
	return count;
}

/*
 * After a load, counter must go on exactly from where its console was at
 * the save: the rest of the line it was in (rest), then the next line.
 */
static void check_continues(struct vcpu *v, uint64_t at, uint64_t last,
			    const char *partial)
{
	char l1[32], l2[32], want[64];

	tick_line(l1, sizeof(l1), last + 1);
	tick_line(l2, sizeof(l2), last + 2);
	assert_true(strncmp(l1, partial, strlen(partial)) == 0);
	snprintf(want, sizeof(want), "%s%s", l1 + strlen(partial), l2);
	wait_console_at(v, at, want);
}

/* The console holds s's kept bytes, from offset 0, and nothing else. */
static void assert_console_is(struct vcpu *v, const struct vcpu_saved *s)
{
	static char buf[VCPU_CONSOLE_DEFAULT];
	const uint8_t *kept;
	size_t len;

	kept = vcpu__saved_console(s, &len);
	assert_true(len > 0);
	assert_int_equal(vcpu__console_end(v), len);
	assert_int_equal(vcpu__console_read(v, buf, sizeof(buf), 0, NOSKIP),
			 len);
	assert_memory_equal(buf, kept, len);
}

/*
 * A save keeps the console's kept bytes; a load puts them back, from
 * offset 0, also after the guest printed on, and a console read back
 * from a file (set_console) replaces them.
 */
static void test_console_saved(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "reporter", 64);
	struct vcpu_saved *s = NULL;
	struct ring_reader rd = { 0 };
	const uint8_t *kept;
	uint8_t *hello;
	char buf[64];
	uint64_t end;
	size_t len;

	assert_int_equal(vcpu__run(v), 0);
	while (vcpu__console_end(v) < 5 * 33)
		nap_ms(5);
	assert_int_equal(vcpu__pause(v), 0);
	/* cat from 0: moved past the dropped bytes. */
	assert_int_equal(vcpu__console_read(v, buf, 64, 0, &rd), 64);
	assert_true(rd.skip > 0);
	assert_int_equal(vcpu__save(v, &s), 0);
	end = vcpu__console_end(v);
	kept = vcpu__saved_console(s, &len);
	assert_int_equal(len, 64);
	assert_int_equal(vcpu__console_read(v, buf, 64, end - 64, NOSKIP), 64);
	assert_memory_equal(buf, kept, 64);
	assert_int_equal(vcpu__run(v), 0);
	while (vcpu__console_end(v) < end + 2 * 33)
		nap_ms(5);
	assert_int_equal(vcpu__pause(v), 0);
	assert_int_equal(vcpu__load(v, s), 0);
	assert_console_is(v, s);
	/* The same open, reading again from 0 (tail -f after a shrink). */
	assert_int_equal(vcpu__console_read(v, buf, 64, 0, &rd), 64);
	assert_memory_equal(buf, kept, 64);
	/* Nothing ran since: KVM and the console hold it already. */
	assert_int_equal(vcpu__load(v, s), 0);
	assert_console_is(v, s);
	hello = malloc(6);
	assert_non_null(hello);
	memcpy(hello, "hello\n", 6);
	vcpu__saved_set_console(s, hello, 6);
	assert_int_equal(vcpu__load(v, s), 0);
	assert_console_is(v, s);
	vcpu__saved_free(s);
}

/*
 * Run counter to its line tick, pause it after a line and save it: *saved
 * is data's count then, *last the console's last count, partial the rest.
 */
static struct vcpu_saved *save_counter(struct fix *f, const char *tick,
				       uint64_t *saved, uint64_t *last,
				       char *partial, size_t len)
{
	struct vcpu_saved *s = NULL;

	assert_int_equal(vcpu__run(f->v), 0);
	wait_console(f->v, 0, tick);
	pause_after_line(f->v);
	*saved = qword(f->data, 0);
	*last = console_tail(f->v, partial, len);
	assert_int_equal(vcpu__save(f->v, &s), 0);
	assert_non_null(s);
	return s;
}

/*
 * Save paused, run on, restore (data's qword by hand, the registers by
 * vcpu__load): counter goes on from the save, without a MISMATCH.
 */
static void test_save_restore(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "counter", 0);
	struct vcpu_saved *s = NULL, *st = NULL;
	uint64_t saved, last, pos, t0;
	char partial[32];

	assert_int_equal(vcpu__run(v), 0);
	wait_console(v, 0, "tick 0000000000000003\n");
	pause_after_line(v);
	assert_nothing_pending(v);
	saved = qword(f->data, 0);
	last = console_tail(v, partial, sizeof(partial));
	assert_int_equal(vcpu__save(v, &s), 0);
	assert_non_null(s);
	assert_int_equal(vcpu__saved_state(s), VCPU_PAUSED);
	printf("  saved at count %llu; console: tick %llu, then \"%s\"\n",
	       (unsigned long long)saved, (unsigned long long)last, partial);
	/* The copy is the last line's count, or the next (stored, unsaid). */
	assert_true(saved == last || saved == last + 1);
	/* Saving changes nothing: the guest goes on as if never saved. */
	pos = vcpu__console_end(v);
	assert_int_equal(vcpu__run(v), 0);
	check_continues(v, pos, last, partial);

	t0 = now_ms();
	while (qword(f->data, 0) < saved + 5 && now_ms() - t0 < GUEST_WAIT_MS)
		nap_ms(5);
	assert_true(qword(f->data, 0) >= saved + 5);
	assert_int_equal(vcpu__pause(v), 0);
	assert_int_equal(t_write(f->data, &saved, 8, 0), 8);
	assert_int_equal(vcpu__load(v, s), 0);
	assert_int_equal(vcpu__state(v), VCPU_PAUSED);
	/* The console as it was saved, ending in the line it was in. */
	assert_console_is(v, s);
	pos = vcpu__console_end(v);
	assert_int_equal(vcpu__run(v), 0);
	/* Saved between rounds, that is "tick <saved + 1>" next. */
	check_continues(v, pos, last, partial);
	assert_false(console_has(v, "MISMATCH"));

	/* Saved stopped: loads stopped, from paused or not; run is a start. */
	assert_int_equal(vcpu__stop(v), 0);
	assert_int_equal(vcpu__save(v, &st), 0);
	assert_int_equal(vcpu__saved_state(st), VCPU_STOPPED);
	assert_int_equal(vcpu__load(v, s), 0);
	assert_int_equal(vcpu__state(v), VCPU_PAUSED);
	assert_int_equal(vcpu__load(v, st), 0);
	assert_int_equal(vcpu__state(v), VCPU_STOPPED);
	assert_int_equal(region__zero(f->data, NULL), 0);
	pos = vcpu__console_end(v);
	assert_int_equal(vcpu__run(v), 0);
	wait_console_at(v, pos, "tick 0000000000000001\ntick 0000000000000002\n");
	assert_false(console_has(v, "MISMATCH"));
	vcpu__saved_free(s);
	vcpu__saved_free(st);
}

/* Run counter until data's count passes at least, then pause. */
static void run_past(struct fix *f, uint64_t at_least)
{
	uint64_t t0 = now_ms();

	assert_int_equal(vcpu__run(f->v), 0);
	while (qword(f->data, 0) < at_least && now_ms() - t0 < GUEST_WAIT_MS)
		nap_ms(5);
	assert_true(qword(f->data, 0) >= at_least);
	assert_int_equal(vcpu__pause(f->v), 0);
}

/*
 * A load of the state KVM still holds (nothing ran since its save or its
 * last load) sets nothing: the registers must be the saved ones exactly
 * after the guest ran, after loads in a row and in a save made then, and
 * the guest must go on from the save.  (The clock it sets when the guest
 * runs, the same KVM_SET_MSRS a load makes, which KVM itself takes for a
 * resynchronization within a second of the last write: not tested.)
 */
static void test_load_held(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "counter", 0);
	struct vcpu_saved *s, *again = NULL;
	struct kvm_regs want, got;
	struct kvm_sregs swant, sgot;
	uint64_t saved, last, pos;
	char partial[32];

	s = save_counter(f, "tick 0000000000000003\n", &saved, &last, partial,
			 sizeof(partial));
	assert_int_equal(ioctl(v->fd, KVM_GET_REGS, &want), 0);
	assert_int_equal(ioctl(v->fd, KVM_GET_SREGS, &swant), 0);
	for (int round = 0; round < 2; round++) {
		/* The guest runs on: the count it keeps in a register moves. */
		run_past(f, saved + 3);
		assert_int_equal(ioctl(v->fd, KVM_GET_REGS, &got), 0);
		assert_memory_not_equal(&got, &want, sizeof(got));
		for (int i = 0; i < 3; i++) {
			assert_int_equal(vcpu__load(v, s), 0);
			assert_int_equal(vcpu__state(v), VCPU_PAUSED);
			assert_int_equal(ioctl(v->fd, KVM_GET_REGS, &got), 0);
			assert_int_equal(ioctl(v->fd, KVM_GET_SREGS, &sgot), 0);
			assert_memory_equal(&got, &want, sizeof(got));
			assert_memory_equal(&sgot, &swant, sizeof(sgot));
		}
		assert_int_equal(t_write(f->data, &saved, 8, 0), 8);
	}
	/* Saved again now, then loaded in place of the first: the same. */
	assert_int_equal(vcpu__save(v, &again), 0);
	run_past(f, saved + 2);
	assert_int_equal(t_write(f->data, &saved, 8, 0), 8);
	assert_int_equal(vcpu__load(v, again), 0);
	assert_int_equal(ioctl(v->fd, KVM_GET_REGS, &got), 0);
	assert_memory_equal(&got, &want, sizeof(got));
	/* And the guest goes on from the save, register and memory agreeing. */
	pos = vcpu__console_end(v);
	assert_int_equal(vcpu__run(v), 0);
	check_continues(v, pos, last, partial);
	assert_false(console_has(v, "MISMATCH"));
	vcpu__saved_free(s);
	vcpu__saved_free(again);
}

/*
 * Paused before its first reset (a pause right after run, before the
 * thread set the registers to the entry; made here by hand): a save must
 * not keep KVM's power-on registers as a paused guest's.  Restored, the
 * guest starts from its entry, without a fault.
 */
static void test_save_before_reset(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "counter", 0);
	struct vcpu_saved *s = NULL;

	pthread_mutex_lock(&v->lock);
	assert_true(v->reset);
	v->state = VCPU_PAUSED;
	pthread_mutex_unlock(&v->lock);
	assert_int_equal(vcpu__save(v, &s), 0);
	assert_int_equal(vcpu__saved_state(s), VCPU_STOPPED);
	assert_int_equal(vcpu__load(v, s), 0);
	assert_int_equal(vcpu__state(v), VCPU_STOPPED);
	assert_int_equal(vcpu__run(v), 0);
	wait_console(v, 0, "tick 0000000000000001\ntick 0000000000000002\n");
	assert_int_equal(vcpu__pause(v), 0);
	assert_false(console_has(v, "MISMATCH"));
	vcpu__saved_free(s);
}

/*
 * Two saves alike but for the clock (IA32_TSC, which only moves on):
 * every other part equal.
 */
static void assert_same_state(const struct x86_state *a,
			      const struct x86_state *b)
{
	assert_memory_equal(&a->regs, &b->regs, sizeof(a->regs));
	assert_memory_equal(&a->sregs, &b->sregs, sizeof(a->sregs));
	assert_int_equal(a->xsave_size, b->xsave_size);
	if (a->xsave)
		assert_memory_equal(a->xsave, b->xsave, a->xsave_size);
	assert_memory_equal(&a->xcrs, &b->xcrs, sizeof(a->xcrs));
	assert_memory_equal(&a->events, &b->events, sizeof(a->events));
	assert_memory_equal(&a->debugregs, &b->debugregs,
			    sizeof(a->debugregs));
	assert_int_equal(a->msrs->nmsrs, b->msrs->nmsrs);
	for (uint32_t i = 0; i < a->msrs->nmsrs; i++) {
		assert_int_equal(a->msrs->entries[i].index,
				 b->msrs->entries[i].index);
		if (a->msrs->entries[i].index == 0x10)	/* IA32_TSC */
			assert_true(b->msrs->entries[i].data >=
				    a->msrs->entries[i].data);
		else
			assert_int_equal(a->msrs->entries[i].data,
					 b->msrs->entries[i].data);
	}
}

/*
 * A save while KVM still holds what the last save read (nothing ran, no
 * other state was loaded) copies that and reads the clock: it must be
 * what a full read gives, and after a run or a load of another state the
 * next save must read KVM again, never serve the copy.
 */
static void test_save_held(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "counter", 0);
	struct vcpu_saved *s1, *s2 = NULL, *s3 = NULL, *s4 = NULL;
	struct kvm_regs now;
	uint64_t saved, last;
	char partial[32];

	s1 = save_counter(f, "tick 0000000000000002\n", &saved, &last,
			  partial, sizeof(partial));
	assert_int_equal(vcpu__save(v, &s2), 0);
	assert_same_state(s1->cpu, s2->cpu);
	assert_int_equal(ioctl(v->fd, KVM_GET_REGS, &now), 0);
	assert_memory_equal(&now, &s2->cpu->regs, sizeof(now));
	/* It ran: the count in its register moved, and the save says so. */
	run_past(f, saved + 2);
	assert_int_equal(vcpu__save(v, &s3), 0);
	assert_int_equal(ioctl(v->fd, KVM_GET_REGS, &now), 0);
	assert_memory_equal(&now, &s3->cpu->regs, sizeof(now));
	assert_memory_not_equal(&s3->cpu->regs, &s1->cpu->regs, sizeof(now));
	/* s1 loaded over it: a save gives s1's registers, not s3's copy. */
	assert_int_equal(vcpu__load(v, s1), 0);
	assert_int_equal(vcpu__save(v, &s4), 0);
	assert_memory_equal(&s4->cpu->regs, &s1->cpu->regs, sizeof(now));
	assert_memory_equal(&s4->cpu->sregs, &s1->cpu->sregs,
			    sizeof(s1->cpu->sregs));
	vcpu__saved_free(s1);
	vcpu__saved_free(s2);
	vcpu__saved_free(s3);
	vcpu__saved_free(s4);
}

/* Whether the guest wrote data's first page after epoch since. */
static bool data_written_since(struct fix *f, uint32_t since)
{
	uint64_t first, end;

	assert_int_equal(region__dirty_harvest(f->data), 0);
	return region__dirty_next(f->data, since, 0, &first, &end) &&
	       first == 0;
}

/*
 * A harvest with the vCPU paused and none since may skip KVM (nothing can
 * have been written), but one made while it runs must not let the next
 * skip: the guest writes on.  counter writes data's first page each tick.
 */
static void test_harvest_skip(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "counter", 0);
	uint64_t count, t0;
	uint32_t b;

	assert_int_equal(vcpu__run(v), 0);
	wait_console(v, 0, "tick 0000000000000002\n");
	/* Running: this harvest sees writes up to now, and more come. */
	assert_int_equal(region__dirty_harvest(f->data), 0);
	b = dirty__boundary();
	count = qword(f->data, 0);
	t0 = now_ms();
	while (qword(f->data, 0) < count + 2 && now_ms() - t0 < GUEST_WAIT_MS)
		nap_ms(5);
	assert_true(qword(f->data, 0) >= count + 2);
	assert_int_equal(vcpu__pause(v), 0);
	assert_true(data_written_since(f, b));
	/* Paused: harvested once more, nothing new; the stamps stay. */
	b = dirty__boundary();
	assert_false(data_written_since(f, b));
	assert_false(data_written_since(f, b));
	/* A run since: the writes it made are found. */
	count = qword(f->data, 0);
	run_past(f, count + 1);
	assert_true(data_written_since(f, b));
}

/* Running: neither save nor load; holding the guest out: load, not run. */
static void test_save_busy(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "counter", 0);
	struct vcpu_saved *s = NULL, *s2 = NULL;
	uint64_t pos;

	assert_int_equal(vcpu__save(v, &s), 0);
	assert_int_equal(vcpu__saved_state(s), VCPU_STOPPED);
	assert_int_equal(vcpu__run(v), 0);
	pos = wait_console(v, 0, "tick 0000000000000001\n");
	assert_int_equal(vcpu__save(v, &s2), EBUSY);
	assert_null(s2);
	assert_int_equal(vcpu__load(v, s), EBUSY);
	assert_int_equal(vcpu__state(v), VCPU_RUNNING);
	wait_console_at(v, pos, "tick 0000000000000002\n");

	/* What a snapshot restore does: the guest held out, then load. */
	assert_int_equal(vcpu__pause(v), 0);
	assert_int_equal(vm__excl_enter(f->sb->vm), 0);
	assert_int_equal(vcpu__load(v, s), 0);
	assert_int_equal(vcpu__state(v), VCPU_STOPPED);
	assert_int_equal(vcpu__run(v), EBUSY);
	vm__excl_exit(f->sb->vm);
	vcpu__saved_free(s);
	vcpu__saved_free(NULL);
}

/* Halted saves and loads as halted: run refuses, stop and run restart. */
static void test_save_halted(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "dirtier", 0);
	struct vcpu_saved *s = NULL;
	uint8_t b;

	assert_int_equal(vcpu__run(v), 0);
	wait_state(v, VCPU_HALTED);
	wait_console(v, 0, "dirtied\n");
	assert_int_equal(t_read(f->data, &b, 1, 0x1000), 1);
	assert_int_equal(b, 0xa1);
	assert_int_equal(t_read(f->data, &b, 1, 0x5000), 1);
	assert_int_equal(b, 0xb2);
	assert_int_equal(vcpu__save(v, &s), 0);
	assert_int_equal(vcpu__saved_state(s), VCPU_HALTED);
	assert_int_equal(vcpu__stop(v), 0);
	assert_int_equal(vcpu__load(v, s), 0);
	assert_int_equal(vcpu__state(v), VCPU_HALTED);
	assert_int_equal(vcpu__run(v), EINVAL);
	assert_int_equal(vcpu__pause(v), EINVAL);
	assert_int_equal(vcpu__stop(v), 0);
	assert_int_equal(vcpu__run(v), 0);
	wait_state(v, VCPU_HALTED);
	assert_int_equal(vcpu__console_end(v), 2 * strlen("dirtied\n"));
	vcpu__saved_free(s);
}

/* Rounds of test_save_anywhere. */
#define SAVE_ROUNDS 12

/*
 * Saves at varied points of counter's round: going on, and going on again
 * from the save once loaded after the guest ran on (paused in its sleep
 * then, so KVM's last exit is another OUT than the saved one), no byte is
 * lost or said twice.  With a CPU to spare some pauses land in the middle
 * of a line; on the lab's one CPU the vCPU thread says a whole line before
 * this one runs again, so they land in the sleep, an OUT all the same.
 */
static void test_save_anywhere(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "counter", 0);
	uint64_t saved, last, pos, e0, t0;
	struct vcpu_saved *s;
	char partial[32];
	unsigned mid = 0;

	assert_int_equal(vcpu__run(v), 0);
	wait_console(v, 0, "tick 0000000000000001\n");
	for (unsigned i = 0; i < SAVE_ROUNDS; i++) {
		/*
		 * The count changes just before its line is said: pause
		 * then, a little later each round.
		 */
		e0 = qword(f->data, 0);
		t0 = now_ms();
		while (qword(f->data, 0) == e0) {
			if (now_ms() - t0 > GUEST_WAIT_MS)
				fail_msg("counter stuck at %llu for %d ms",
					 (unsigned long long)e0, GUEST_WAIT_MS);
			sched_yield();
		}
		for (volatile unsigned spin = 0; spin < (i % 4) * 1000; spin++)
			;
		assert_int_equal(vcpu__pause(v), 0);
		assert_nothing_pending(v);
		saved = qword(f->data, 0);
		last = console_tail(v, partial, sizeof(partial));
		mid += partial[0] != '\0';
		assert_int_equal(vcpu__save(v, &s), 0);

		pos = vcpu__console_end(v);
		assert_int_equal(vcpu__run(v), 0);
		check_continues(v, pos, last, partial);
		pause_after_line(v);

		assert_int_equal(t_write(f->data, &saved, 8, 0), 8);
		assert_int_equal(vcpu__load(v, s), 0);
		vcpu__saved_free(s);
		/* The console is the saved one again: it goes on from there. */
		pos = vcpu__console_end(v);
		assert_int_equal(vcpu__run(v), 0);
		check_continues(v, pos, last, partial);
	}
	printf("  %u of %d saves in the middle of a line\n", mid, SAVE_ROUNDS);
	assert_false(console_has(v, "MISMATCH"));
}

/*
 * Faulted saves and loads as faulted, fault text included.  And a fault
 * leaves its MMIO exit pending in KVM: loading a paused state over it must
 * not let that stale completion land on the loaded registers.
 */
static void test_save_faulted(void **state)
{
	struct fix *f = *state;
	struct vcpu *v = start(f, "counter", 0);
	struct vcpu_saved *s = NULL, *sf = NULL;
	uint64_t saved, last, pos;
	char partial[32], fault[256];

	s = save_counter(f, "tick 0000000000000002\n", &saved, &last, partial,
			 sizeof(partial));

	/* data unmapped: the guest's next look at it is a fault. */
	assert_int_equal(sandbox__set_guest_addr(f->sb, f->data, true, 0, NULL), 0);
	assert_int_equal(vcpu__run(v), 0);
	wait_state(v, VCPU_FAULTED);
	vcpu__fault_copy(v, fault, sizeof(fault));
	printf("  fault: %s\n", fault);
	assert_non_null(strstr(fault, "read of 8 bytes at 0x200000 "
			       "(no region there)"));
	assert_int_equal(vcpu__save(v, &sf), 0);
	assert_int_equal(vcpu__saved_state(sf), VCPU_FAULTED);

	/* Straight from faulted to the paused state: it goes on from there. */
	assert_int_equal(sandbox__set_guest_addr(f->sb, f->data, false,
						 DATA_GPA, NULL), 0);
	assert_int_equal(t_write(f->data, &saved, 8, 0), 8);
	assert_int_equal(vcpu__load(v, s), 0);
	assert_int_equal(vcpu__state(v), VCPU_PAUSED);
	assert_string_equal(vcpu__fault(v), "");	/* saved before it */
	pos = vcpu__console_end(v);
	assert_int_equal(vcpu__run(v), 0);
	check_continues(v, pos, last, partial);
	assert_false(console_has(v, "MISMATCH"));

	/* And back to the fault. */
	assert_int_equal(vcpu__pause(v), 0);
	assert_int_equal(vcpu__load(v, sf), 0);
	assert_int_equal(vcpu__state(v), VCPU_FAULTED);
	assert_string_equal(vcpu__fault(v), fault);
	assert_int_equal(vcpu__run(v), EINVAL);
	vcpu__saved_free(s);
	vcpu__saved_free(sf);
}

/* No VM: a clear refusal, not a crash. */
static void test_no_vm(void **state)
{
	struct vcpu_config cfg = { 0 };
	struct sandbox *sb;
	struct vcpu *v = NULL;
	struct why why = { "" };

	(void)state;
	assert_int_equal(sandbox__new(&sb, 0, 0), 0);
	assert_int_equal(sandbox__new_vcpu(sb, &cfg, &v, &why), ENODEV);
	assert_null(v);
	assert_non_null(strstr(why.msg, "no VM"));
	sandbox__free(sb);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_vm),
		T(test_pattern),
		T(test_reporter_zero),
		T(test_run_busy),
		T(test_zerocheck),
		T(test_ro_write),
		T(test_spinner),
		T(test_lease_resume),
		T(test_sleep),
		T(test_console_window),
		T(test_console_saved),
		T(test_demo),
		T(test_triple_fault),
		T(test_regs),
		T(test_gen),
		T(test_regs_running),
		T(test_save_restore),
		T(test_load_held),
		T(test_harvest_skip),
		T(test_save_held),
		T(test_save_before_reset),
		T(test_save_busy),
		T(test_save_anywhere),
		T(test_save_halted),
		T(test_save_faulted),
	};
	int fd;

	/* No KVM here (or no access to it): skip, never pass silently. */
	fd = open(KVM_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("skip: %s: %s\n", KVM_PATH, strerror(errno));
		return 77;
	}
	close(fd);
	/* TEST_FILTER=test_sleep: one test (a lab run is minutes). */
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
