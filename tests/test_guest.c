/*
 * The guest loader's refusals: bad images are made at test time from a good
 * one (tests/guests/pattern.elf) and must be refused with a message saying
 * what is wrong, before anything is written.  No KVM needed for those;
 * the loads that need mapped regions run only where /dev/kvm is.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "region/guest/guest.h"
#include "region/sandbox/sandbox.h"
#include "tests/helpers.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KVM_PATH "/dev/kvm"
#define RAM_GPA 0x100000

static char good_path[4096];
static uint8_t *good;
static size_t good_size;
static char tmpdir[] = "/tmp/test_guest.XXXXXX";

static int setup_group(void **state)
{
	const char *dir = getenv("GUESTS_DIR");
	FILE *f;

	snprintf(good_path, sizeof(good_path), "%s/pattern.elf",
		 dir ? dir : "tests/guests");
	f = fopen(good_path, "rb");
	if (!f) {
		fprintf(stderr, "%s: %s (set GUESTS_DIR)\n", good_path,
			strerror(errno));
		return -1;
	}
	good = malloc(1 << 20);
	good_size = fread(good, 1, 1 << 20, f);
	fclose(f);
	if (!mkdtemp(tmpdir))
		return -1;
	return 0;
}

static int teardown_group(void **state)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return -1;
	free(good);
	return 0;
}

static int setup(void **state)
{
	struct sandbox *sb;

	if (sandbox__new(&sb, 0, 0))
		return -1;
	*state = sb;
	return 0;
}

static int teardown(void **state)
{
	sandbox__free(*state);
	return 0;
}

/* Write a variant of the good image; edit may change it in place. */
static const char *variant(const char *name, size_t size,
			   void (*edit)(uint8_t *img))
{
	static char path[4200];
	uint8_t *img = malloc(good_size);
	int fd;

	memcpy(img, good, good_size);
	if (edit)
		edit(img);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, img, size), (ssize_t)size);
	close(fd);
	free(img);
	return path;
}

static void expect_refusal(struct sandbox *sb, const char *path, int err,
			   const char *words)
{
	uint64_t entry = 0xdead;
	struct why why = { "" };
	int ret;

	ret = guest__load_elf(sb, path, &entry, &why);
	printf("  %s: %s\n", strrchr(path, '/') + 1, why.msg);
	assert_int_equal(ret, err);
	assert_int_equal(entry, 0xdead);
	if (!strstr(why.msg, words))
		fail_msg("\"%s\" does not say \"%s\"", why.msg, words);
}

static Elf64_Ehdr *ehdr(uint8_t *img)
{
	return (Elf64_Ehdr *)img;
}

static Elf64_Phdr *phdr(uint8_t *img, unsigned i)
{
	return (Elf64_Phdr *)(img + ehdr(img)->e_phoff) + i;
}

static void edit_machine(uint8_t *img) { ehdr(img)->e_machine = EM_AARCH64; }
static void edit_class(uint8_t *img) { img[EI_CLASS] = ELFCLASS32; }
static void edit_magic(uint8_t *img) { img[1] = 'X'; }
static void edit_dyn(uint8_t *img) { ehdr(img)->e_type = ET_DYN; }
static void edit_entry(uint8_t *img) { ehdr(img)->e_entry = 0x50000000; }
static void edit_sizes(uint8_t *img) { phdr(img, 0)->p_filesz = 1 << 30; }
static void edit_bss(uint8_t *img) { phdr(img, 0)->p_memsz = 4096; }
static void edit_bss_big(uint8_t *img) { phdr(img, 0)->p_memsz = 0x20000; }

/* The second program header (GNU_STACK) becomes a copy of the first. */
static void edit_overlap(uint8_t *img)
{
	*phdr(img, 1) = *phdr(img, 0);
	phdr(img, 1)->p_paddr += 4;
	phdr(img, 1)->p_vaddr += 4;
}

static void test_refusals(void **state)
{
	struct sandbox *sb = *state;
	const Elf64_Phdr *p0 = phdr(good, 0);

	assert_int_equal(ehdr(good)->e_phnum, 2);
	assert_int_equal(p0->p_type, PT_LOAD);

	expect_refusal(sb, "/nonexistent/guest.elf", ENOENT, "cannot open");
	expect_refusal(sb, variant("empty", 0, NULL), ENOEXEC, "empty file");
	expect_refusal(sb, variant("short", 10, NULL), ENOEXEC, "truncated");
	expect_refusal(sb, variant("header", 40, NULL), ENOEXEC, "truncated");
	expect_refusal(sb, variant("phdrs", 100, NULL), ENOEXEC,
		       "truncated: 100 bytes, program headers end at 176");
	expect_refusal(sb, variant("segment", p0->p_offset + 8, NULL), ENOEXEC,
		       "truncated");
	expect_refusal(sb, variant("magic", good_size, edit_magic), ENOEXEC,
		       "not an ELF file");
	expect_refusal(sb, variant("elf32", good_size, edit_class), ENOEXEC,
		       "not ELF64");
	expect_refusal(sb, variant("arm64", good_size, edit_machine), ENOEXEC,
		       "wrong machine 183, want 62 (x86-64)");
	expect_refusal(sb, variant("pie", good_size, edit_dyn), ENOEXEC,
		       "not ET_EXEC");
	expect_refusal(sb, variant("entry", good_size, edit_entry), ENOEXEC,
		       "entry point 0x50000000 is outside");
	expect_refusal(sb, variant("sizes", good_size, edit_sizes), ENOEXEC,
		       "bad sizes");
	expect_refusal(sb, variant("overlap", good_size, edit_overlap), ENOEXEC,
		       "segments 0 and 1 overlap at 0x100004");
	/* A good image, but nothing to put it in. */
	expect_refusal(sb, good_path, ERANGE,
		       "segment 0 [0x100000-0x10");
	expect_refusal(sb, good_path, ERANGE,
		       "is not covered by any region; no region is mapped");
}

/* With a VM: the region list in the message, and the real load. */
static void test_load(void **state)
{
	struct sandbox *sb = *state;
	const Elf64_Phdr *p0 = phdr(good, 0);
	uint8_t back[4096];
	uint64_t entry = 0;
	struct region *ram;
	struct why why = { "" };

	if (sandbox__open_vm(sb, KVM_PATH)) {
		skip_because("%s: loads into mapped regions untested",
			     sb->vm_why.msg);
	}
	assert_int_equal(sandbox__create(sb, "ram", 64 << 10, NULL, NULL), 0);
	ram = sandbox__find(sb, "ram", NULL);
	assert_int_equal(sandbox__set_guest_addr(sb, ram, false, 0x300000, NULL), 0);
	expect_refusal(sb, good_path, ERANGE,
		       "not covered by any region; regions: ram "
		       "[0x300000-0x310000)");
	/* A segment (its bss) running past the end of the region. */
	assert_int_equal(sandbox__set_guest_addr(sb, ram, false, RAM_GPA, NULL), 0);
	expect_refusal(sb, variant("bss", good_size, edit_bss_big), ERANGE,
		       "segment 0 [0x100000-0x120000) is not covered by any "
		       "region; regions: ram [0x100000-0x110000)");

	/* Loaded: the file's bytes, then zeros up to p_memsz. */
	memset(back, 0xff, sizeof(back));
	assert_int_equal(t_write(ram, back, sizeof(back), 0),
			 sizeof(back));
	assert_int_equal(guest__load_elf(sb, variant("bss", good_size,
						     edit_bss), &entry, &why), 0);
	assert_int_equal(entry, RAM_GPA);
	assert_int_equal(t_read(ram, back, sizeof(back), 0),
			 sizeof(back));
	assert_memory_equal(back, good + p0->p_offset, p0->p_filesz);
	for (size_t i = p0->p_filesz; i < sizeof(back); i++)
		if (back[i])
			fail_msg("bss byte %zu is 0x%02x", i, back[i]);

	/* Flat: the same bytes at another address. */
	variant("flat", good_size, NULL);
	assert_int_equal(guest__load_flat(sb, good_path, RAM_GPA + 0x8000, &why), 0);
	assert_int_equal(t_read(ram, back, 64, 0x8000), 64);
	assert_memory_equal(back, good, 64);
	assert_int_equal(guest__load_flat(sb, good_path, RAM_GPA + 0xf000, &why), ERANGE);
	printf("  flat: %s\n", why.msg);
	region__put(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
