/*
 * The KVM VM: memory slots as KVM sees them, and a real vCPU running
 * hand-assembled real-mode code against regions shared with the host.
 * Needs /dev/kvm: without it, the whole program is skipped (exit 77).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "region/sandbox/sandbox.h"
#include "tests/helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define KVM_PATH "/dev/kvm"

/* Bound on KVM_RUN calls for one run of the guest code. */
#define MAX_EXITS 100

/* Where the vCPU test maps its regions: all below 64K, for real mode. */
#define CODE_GPA 0x1000
#define SRC_GPA 0x2000
#define DST_GPA 0x3000
/* Intel needs a TSS for real mode without unrestricted guest (kvmtool's). */
#define TSS_GPA 0xfffbd000

static int setup(void **state)
{
	struct sandbox *sb = NULL;
	int ret;

	if (sandbox__new(&sb, 0, 0))
		return -1;
	ret = sandbox__open_vm(sb, KVM_PATH);
	if (ret) {
		fprintf(stderr, "sandbox__open_vm: %s\n", sb->vm_why.msg);
		sandbox__free(sb);
		return -1;
	}
	*state = sb;
	return 0;
}

static int teardown(void **state)
{
	sandbox__free(*state);
	return 0;
}

static struct region *new_region(struct sandbox *sb, const char *name,
				 uint64_t size)
{
	struct region *r;

	assert_int_equal(sandbox__create(sb, name, size, NULL, NULL), 0);
	r = sandbox__find(sb, name, NULL);
	assert_non_null(r);
	return r;
}

/* White box: the slot that holds r, or -1. */
static int slot_of(struct vm *vm, struct region *r)
{
	for (unsigned i = 0; i < vm->nr_slots; i++)
		if (vm->slots[i].region == r)
			return (int)i;
	return -1;
}

static uint64_t gpa_of(struct vm *vm, struct region *r)
{
	uint64_t gpa = ~0ULL;

	assert_true(vm__mapping(vm, r, &gpa, NULL));
	return gpa;
}

/* The region mapped at gpa, for comparing (no reference kept). */
static struct region *region_at(struct vm *vm, uint64_t gpa)
{
	struct region *r = vm__region_at(vm, gpa, NULL);

	region__put(r);
	return r;
}

/* vm__map_region and vm__unmap_region want the caller to hold r exclusive. */
static int map(struct vm *vm, struct region *r, uint64_t gpa, bool ro)
{
	int ret = region__exclusive_begin(r, NULL);

	if (ret)
		return ret;
	ret = vm__map_region(vm, r, gpa, ro, NULL);
	region__exclusive_end(r);
	return ret;
}

static int unmap(struct vm *vm, struct region *r)
{
	int ret = region__exclusive_begin(r, NULL);

	if (ret)
		return ret;
	ret = vm__unmap_region(vm, r, NULL);
	region__exclusive_end(r);
	return ret;
}

/*
 * Ask KVM itself whether one page at gpa is free: add a slot of our own
 * there (KVM refuses overlaps with EEXIST) and delete it again.  vm.c hands
 * out the lowest free slots, so the highest one is ours.
 */
static int kvm_probe(struct vm *vm, uint64_t gpa)
{
	struct kvm_userspace_memory_region mem = {
		.slot = vm->nr_slots - 1,
		.guest_phys_addr = gpa,
		.memory_size = PAGE,
	};
	void *host;
	int ret = 0;

	host = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(host != MAP_FAILED);
	mem.userspace_addr = (uint64_t)(uintptr_t)host;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &mem) < 0) {
		ret = errno;
	} else {
		mem.memory_size = 0;
		assert_int_equal(ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION,
				       &mem), 0);
	}
	munmap(host, PAGE);
	return ret;
}

static void test_open(void **state)
{
	struct sandbox *sb = *state;
	struct vm *vm = sb->vm, *other = NULL;
	struct why why = { "" };

	assert_non_null(vm);
	assert_true(vm->kvm_fd >= 0);
	assert_true(vm->vm_fd >= 0);
	assert_int_equal(ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0),
			 KVM_API_VERSION);
	assert_true(vm->nr_slots >= 32 && vm->nr_slots <= VM_MAX_SLOTS);
	assert_true(vm->phys_bits >= 32 && vm->phys_bits <= 52);
	assert_false(vm__guest_running(vm));
	assert_null(region_at(vm, 0));

	assert_int_equal(vm__open("/nonexistent/kvm", &other, &why), ENOENT);
	assert_null(other);
	assert_non_null(strstr(why.msg, "/nonexistent/kvm"));
}

static void test_map(void **state)
{
	struct sandbox *sb = *state;
	struct vm *vm = sb->vm;
	uint64_t top = 1ULL << vm->phys_bits;
	struct region *r, *r2;
	int slot;

	r = new_region(sb, "ram", 64 << 10);
	r2 = new_region(sb, "rom", 64 << 10);

	assert_int_equal(map(vm, r, 0x100000, false), 0);
	assert_true(region__mapped(r));
	assert_int_equal(region__kind(r), REGION_HOST);
	assert_true(slot_of(vm, r) >= 0);
	assert_int_equal(gpa_of(vm, r), 0x100000);
	assert_false(r->guest_ro);
	assert_ptr_equal(vm->slots[slot_of(vm, r)].region, r);
	assert_ptr_equal(region_at(vm, 0x100000), r);
	assert_ptr_equal(region_at(vm, 0x10ffff), r);
	assert_null(region_at(vm, 0x110000));
	assert_null(region_at(vm, 0xfffff));
	/* KVM holds the range: its first and last pages, not the next. */
	assert_int_equal(kvm_probe(vm, 0x100000), EEXIST);
	assert_int_equal(kvm_probe(vm, 0x10f000), EEXIST);
	assert_int_equal(kvm_probe(vm, 0x110000), 0);
	/* Mapping again where it is changes nothing. */
	slot = slot_of(vm, r);
	assert_int_equal(map(vm, r, 0x100000, false), 0);
	assert_int_equal(slot_of(vm, r), slot);

	/* Refused before KVM is asked, and nothing changes. */
	assert_int_equal(map(vm, r2, 0x200001, false), EINVAL);
	assert_int_equal(map(vm, r2, 0x200000 + PAGE / 2, false), EINVAL);
	assert_int_equal(map(vm, r2, top, false), EINVAL);
	assert_int_equal(map(vm, r2, top - PAGE, false), EINVAL);
	assert_int_equal(map(vm, r2, 0x108000, false), EEXIST);
	assert_int_equal(map(vm, r2, 0xf8000, false), EEXIST);
	assert_int_equal(map(vm, r2, 0x100000, false), EEXIST);
	assert_false(region__mapped(r2));
	assert_int_equal(kvm_probe(vm, 0x200000), 0);
	/* Adjacent is not overlapping. */
	assert_int_equal(map(vm, r2, 0x110000, false), 0);
	assert_true(slot_of(vm, r2) != slot_of(vm, r));
	assert_int_equal(kvm_probe(vm, 0x110000), EEXIST);

	/* Move: same slot, the old range is free in KVM, the new is taken. */
	assert_int_equal(map(vm, r, 0x400000, false), 0);
	assert_int_equal(slot_of(vm, r), slot);
	assert_int_equal(gpa_of(vm, r), 0x400000);
	assert_null(region_at(vm, 0x100000));
	assert_ptr_equal(region_at(vm, 0x40f000), r);
	assert_int_equal(kvm_probe(vm, 0x100000), 0);
	assert_int_equal(kvm_probe(vm, 0x400000), EEXIST);
	/* A move onto another mapping leaves it where it was. */
	assert_int_equal(map(vm, r, 0x118000, false), EEXIST);
	assert_int_equal(gpa_of(vm, r), 0x400000);
	assert_int_equal(kvm_probe(vm, 0x400000), EEXIST);

	/* Mapped: no resize. */
	assert_int_equal(sandbox__resize(sb, r, 128 << 10, NULL), EPERM);
	assert_int_equal(region__mem_size(r), 64 << 10);

	/* Unmap: gone from our table and from KVM; twice is harmless. */
	assert_int_equal(unmap(vm, r), 0);
	assert_false(region__mapped(r));
	assert_int_equal(slot_of(vm, r), -1);
	assert_int_equal(region__kind(r), REGION_EXCLUSIVE);
	assert_null(vm->slots[slot].region);
	assert_null(region_at(vm, 0x400000));
	assert_int_equal(kvm_probe(vm, 0x400000), 0);
	assert_int_equal(unmap(vm, r), 0);

	/* The same through the sandbox's control operation. */
	assert_int_equal(sandbox__set_guest_addr(sb, r, false, 0x500000, NULL), 0);
	assert_ptr_equal(region_at(vm, 0x500000), r);
	assert_int_equal(kvm_probe(vm, 0x500000), EEXIST);
	assert_int_equal(sandbox__set_guest_addr(sb, r, false, 0x500001, NULL),
			 EINVAL);
	assert_int_equal(gpa_of(vm, r), 0x500000);
	assert_int_equal(sandbox__set_guest_addr(sb, r, true, 0, NULL), 0);
	assert_false(region__mapped(r));
	assert_int_equal(kvm_probe(vm, 0x500000), 0);

	/* Removing a mapped region unmaps it from KVM first. */
	assert_int_equal(kvm_probe(vm, 0x110000), EEXIST);
	region__put(r2);
	assert_int_equal(sandbox__remove(sb, "rom", NULL), 0);
	assert_null(region_at(vm, 0x110000));
	assert_int_equal(kvm_probe(vm, 0x110000), 0);
	region__put(r);
}

/*
 * The slot table's generation moves with every map, move and unmap, and
 * with nothing else: what the layout file and core's size are made from.
 * A write to a region moves region__changes instead.
 */
static void test_layout_gen(void **state)
{
	struct sandbox *sb = *state;
	struct vm *vm = sb->vm;
	uint64_t g, changes;
	struct region *r;
	size_t done;

	r = new_region(sb, "ram", 64 << 10);
	g = vm__layout_gen(vm);
	assert_int_equal(map(vm, r, 0x100000, false), 0);
	assert_true(vm__layout_gen(vm) > g);
	g = vm__layout_gen(vm);
	changes = region__changes();
	assert_int_equal(region__write(r, "x", 1, 0, &done), 0);
	assert_int_equal(vm__layout_gen(vm), g);
	assert_true(region__changes() > changes);
	assert_int_equal(map(vm, r, 0x200000, false), 0);
	assert_true(vm__layout_gen(vm) > g);
	g = vm__layout_gen(vm);
	assert_int_equal(unmap(vm, r), 0);
	assert_true(vm__layout_gen(vm) > g);
	assert_int_equal(vm__layout_gen(NULL), 0);
	region__put(r);
}

static void test_access_ro(void **state)
{
	struct sandbox *sb = *state;
	struct vm *vm = sb->vm;
	struct region *r;
	int slot;

	r = new_region(sb, "rom", 4 * PAGE);
	if (!vm->readonly_mem) {
		assert_int_equal(map(vm, r, 0x100000, true), EOPNOTSUPP);
		assert_int_equal(sandbox__set_access(sb, r, true, NULL), EOPNOTSUPP);
		assert_false(region__mapped(r));
		skip_part(__func__, "no KVM_CAP_READONLY_MEM, ro mappings untested");
		region__put(r);
		return;
	}
	assert_int_equal(map(vm, r, 0x100000, false), 0);
	slot = slot_of(vm, r);
	/* Remapped ro in place: same range, same slot, still in KVM. */
	assert_int_equal(sandbox__set_access(sb, r, true, NULL), 0);
	assert_true(r->guest_ro);
	assert_int_equal(gpa_of(vm, r), 0x100000);
	assert_int_equal(slot_of(vm, r), slot);
	assert_int_equal(kvm_probe(vm, 0x100000), EEXIST);
	assert_int_equal(sandbox__set_access(sb, r, false, NULL), 0);
	assert_false(r->guest_ro);
	assert_int_equal(kvm_probe(vm, 0x103000), EEXIST);

	/* Set while unmapped: remembered, and applied by the next map. */
	assert_int_equal(sandbox__set_guest_addr(sb, r, true, 0, NULL), 0);
	assert_int_equal(sandbox__set_access(sb, r, true, NULL), 0);
	assert_true(r->guest_ro);
	assert_false(region__mapped(r));
	assert_int_equal(sandbox__set_guest_addr(sb, r, false, 0x200000, NULL), 0);
	assert_true(r->guest_ro);
	assert_int_equal(kvm_probe(vm, 0x200000), EEXIST);
	region__put(r);
}

static void test_slots_full(void **state)
{
	struct sandbox *sb = *state;
	struct vm *vm = sb->vm;
	struct region *extra;
	char name[16];

	for (unsigned i = 0; i < vm->nr_slots; i++) {
		snprintf(name, sizeof(name), "r%u", i);
		assert_int_equal(sandbox__create(sb, name, PAGE, NULL, NULL), 0);
		extra = sandbox__find(sb, name, NULL);
		assert_non_null(extra);
		if (sandbox__set_guest_addr(sb, extra, false,
					    0x100000 + i * PAGE, NULL))
			fail_msg("mapping slot %u of %u failed", i,
				 vm->nr_slots);
		region__put(extra);
	}
	extra = new_region(sb, "extra", PAGE);
	assert_int_equal(map(vm, extra, 0x10000000, false), ENOSPC);
	assert_false(region__mapped(extra));
	/* A freed slot is used again. */
	assert_int_equal(sandbox__remove(sb, "r7", NULL), 0);
	assert_int_equal(map(vm, extra, 0x10000000, false), 0);
	assert_ptr_equal(region_at(vm, 0x10000000), extra);
	region__put(extra);
}

struct vcpu {
	int fd;
	struct kvm_run *run;
	size_t run_size;
};

static void vcpu_create(struct vm *vm, struct vcpu *v)
{
	int size;

	assert_int_equal(ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, TSS_GPA), 0);
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	assert_true(v->fd >= 0);
	size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	assert_true(size >= (int)sizeof(struct kvm_run));
	v->run_size = (size_t)size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	assert_true(v->run != MAP_FAILED);
}

static void vcpu_destroy(struct vcpu *v)
{
	munmap(v->run, v->run_size);
	close(v->fd);
}

/* Real mode, every segment at 0, ip at the first instruction. */
static void vcpu_reset(struct vcpu *v)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	assert_int_equal(ioctl(v->fd, KVM_GET_SREGS, &sregs), 0);
	assert_int_equal(sregs.cr0 & 1, 0);	/* PE clear: real mode */
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = sregs.es.base = sregs.ss.base = 0;
	sregs.ds.selector = sregs.es.selector = sregs.ss.selector = 0;
	assert_int_equal(ioctl(v->fd, KVM_SET_SREGS, &sregs), 0);
	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE_GPA;
	regs.rflags = 0x2;	/* bit 1 is reserved, always set */
	assert_int_equal(ioctl(v->fd, KVM_SET_REGS, &regs), 0);
}

/* KVM_RUN until the guest halts or stores to MMIO, at most MAX_EXITS. */
static uint32_t vcpu_run(struct vm *vm, struct vcpu *v)
{
	for (int i = 0; i < MAX_EXITS; i++) {
		int ret;

		/* As the real vCPU does: the guest holds its regions. */
		assert_int_equal(vm__guest_enter(vm), 0);
		ret = ioctl(v->fd, KVM_RUN, 0);
		vm__guest_exit(vm);
		if (ret < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		assert_int_equal(ret, 0);
		switch (v->run->exit_reason) {
		case KVM_EXIT_HLT:
		case KVM_EXIT_MMIO:
			return v->run->exit_reason;
		case KVM_EXIT_INTR:
			continue;
		default:
			fail_msg("unexpected KVM exit %u",
				 v->run->exit_reason);
		}
	}
	fail_msg("no hlt after %d exits", MAX_EXITS);
	return 0;
}

static uint8_t byte_at(struct region *r)
{
	uint8_t b = 0xee;

	assert_int_equal(t_read(r, &b, 1, 0), 1);
	return b;
}

static void put_byte(struct region *r, uint8_t b)
{
	assert_int_equal(t_write(r, &b, 1, 0), 1);
}

/* Run the guest once from the top and check that it reached its hlt. */
static void run_to_hlt(struct vm *vm, struct vcpu *v, uint64_t hlt_end)
{
	struct kvm_regs regs;

	vcpu_reset(v);
	assert_int_equal(vcpu_run(vm, v), KVM_EXIT_HLT);
	assert_int_equal(ioctl(v->fd, KVM_GET_REGS, &regs), 0);
	assert_int_equal(regs.rip, hlt_end);
}

static void test_vcpu(void **state)
{
	/*
	 * 16-bit real mode, DS = 0, so a 16-bit address is the GPA:
	 *   a0 00 20     mov al, [0x2000]    load the byte of "src"
	 *   04 01        add al, 1
	 *   a2 00 30     mov [0x3000], al    store it into "dst"
	 *   f4           hlt                 KVM_EXIT_HLT, rip after it
	 */
	static const uint8_t code[] = {
		0xa0, SRC_GPA & 0xff, SRC_GPA >> 8,
		0x04, 0x01,
		0xa2, DST_GPA & 0xff, DST_GPA >> 8,
		0xf4,
	};
	const uint64_t hlt_end = CODE_GPA + sizeof(code);
	struct sandbox *sb = *state;
	struct vm *vm = sb->vm;
	struct region *text, *src, *dst;
	struct vcpu v;

	text = new_region(sb, "code", PAGE);
	src = new_region(sb, "src", PAGE);
	dst = new_region(sb, "dst", PAGE);
	assert_int_equal(t_write(text, code, sizeof(code), 0),
			 sizeof(code));
	assert_int_equal(sandbox__set_guest_addr(sb, text, false, CODE_GPA, NULL), 0);
	assert_int_equal(sandbox__set_guest_addr(sb, src, false, SRC_GPA, NULL), 0);
	assert_int_equal(sandbox__set_guest_addr(sb, dst, false, DST_GPA, NULL), 0);
	vcpu_create(vm, &v);

	/* The host's byte reaches the guest, the guest's store the host. */
	put_byte(src, 41);
	run_to_hlt(vm, &v, hlt_end);
	assert_int_equal(byte_at(dst), 42);
	assert_int_equal(region__base_addr(dst)[0], 42);

	/* A new byte from the host is seen by the next run. */
	put_byte(src, 99);
	run_to_hlt(vm, &v, hlt_end);
	assert_int_equal(byte_at(dst), 100);

	/* Zeroed by hole punch: the guest reads 0, not its old page. */
	assert_int_equal(region__zero(src, NULL), 0);
	assert_int_equal(region__resident(src), 0);
	run_to_hlt(vm, &v, hlt_end);
	assert_int_equal(byte_at(dst), 1);
	/* And a store after the punch lands in the memfd the host reads. */
	assert_int_equal(region__zero(dst, NULL), 0);
	put_byte(src, 9);
	run_to_hlt(vm, &v, hlt_end);
	assert_int_equal(byte_at(dst), 10);
	assert_int_equal(region__resident(dst), PAGE);

	if (!vm->readonly_mem) {
		skip_part(__func__, "no KVM_CAP_READONLY_MEM, ro store untested");
		goto out;
	}
	/* Read-only for the guest: its store exits as MMIO, memory stays. */
	assert_int_equal(sandbox__set_access(sb, dst, true, NULL), 0);
	put_byte(dst, 0x55);
	put_byte(src, 7);
	vcpu_reset(&v);
	assert_int_equal(vcpu_run(vm, &v), KVM_EXIT_MMIO);
	assert_true(v.run->mmio.is_write);
	assert_int_equal(v.run->mmio.phys_addr, DST_GPA);
	assert_int_equal(v.run->mmio.len, 1);
	assert_int_equal(v.run->mmio.data[0], 8);
	assert_int_equal(byte_at(dst), 0x55);
	/* Completing the MMIO store lets the guest go on to its hlt. */
	assert_int_equal(vcpu_run(vm, &v), KVM_EXIT_HLT);
	assert_int_equal(byte_at(dst), 0x55);

	/* Writable again: the store lands. */
	assert_int_equal(sandbox__set_access(sb, dst, false, NULL), 0);
	run_to_hlt(vm, &v, hlt_end);
	assert_int_equal(byte_at(dst), 8);
out:
	vcpu_destroy(&v);
	region__put(text);
	region__put(src);
	region__put(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layout_gen, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_access_ro, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_slots_full, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vcpu, setup, teardown),
	};
	int fd;

	/* No KVM here (or no access to it): skip, never pass silently. */
	fd = open(KVM_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("skip: %s: %s\n", KVM_PATH, strerror(errno));
		return 77;
	}
	close(fd);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
