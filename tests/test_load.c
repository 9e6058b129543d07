/*
 * --from's library side (sandbox__load_dir): a snapshot directory written
 * by hand, as cp -r leaves one, becomes a sandbox with the same regions,
 * sizes, access and bytes, holes left holes, and the snapshot again; and
 * every kind of damage is refused before anything is built, the file
 * named.  Without KVM: the regions are unmapped and there is no vCPU.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "region/kvm/vcpu.h"
#include "region/sandbox/saved.h"
#include "region/persist/info.h"
#include "region/sandbox/snaps.h"
#include "region/sandbox/chain.h"
#include "region/util/crc32c.h"
#include "tests/helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64], dir[128];

static void put(const char *rel, const void *buf, size_t len)
{
	put_file(dir, rel, buf, len);
}

static void put_text(const char *rel, const char *text)
{
	put(rel, text, strlen(text));
}

static void put_region(const char *name, uint64_t pages, const char *gpa,
		       const char *access)
{
	char path[256], val[64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/mem_size", name);
	snprintf(val, sizeof(val), "%llu\n", (unsigned long long)(pages * PAGE));
	put_text(path, val);
	snprintf(path, sizeof(path), "%s/raw_size", name);
	snprintf(val, sizeof(val), "%llu\n",
		 (unsigned long long)((pages + 2) * PAGE));
	put_text(path, val);
	snprintf(path, sizeof(path), "%s/guest_addr", name);
	put_text(path, gpa);
	snprintf(path, sizeof(path), "%s/access", name);
	put_text(path, access);
	snprintf(path, sizeof(path), "%s/%s/contents", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(pages * PAGE)), 0);
	if (pages > 2)
		assert_int_equal(pwrite(fd, "hello", 5, (off_t)(2 * PAGE)), 5);
	close(fd);
}

/* The directory "snap": regions a (4 pages, ro, data in page 2) and b. */
static void make_dir(void)
{
	uint8_t *state;
	size_t len;
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/snap", root);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(mkdir(dir, 0755), 0);
	put_region("a", 4, "none\n", "ro\n");
	put_region("b", 1, "none\n", "rw\n");
	assert_int_equal(vcpu__saved_encode(NULL, &state, &len), 0);
	put("vcpu_state", state, len);
	free(state);
	put_text("info", "snapshot snap\n");
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/regionfs-load.XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/snap", root);
	return 0;
}

static int teardown(void **state)
{
	char cmd[200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd);
}

static int load(struct sandbox *sb, struct why *why)
{
	struct vcpu_config cfg = { 0 };
	struct vcpu *v = (void *)1;
	int ret = sandbox__load_dir(sb, dir, &cfg, &v, why);

	assert_null(v);
	return ret;
}

static void test_load(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct why why = { "" };
	struct snapshot *s;
	struct region *a;
	char buf[8] = "";

	(void)state;
	make_dir();
	assert_int_equal(load(sb, &why), 0);
	assert_int_equal(sb->nr, 2);
	a = sandbox__find(sb, "a", NULL);
	assert_non_null(a);
	assert_int_equal(a->mem_size, 4 * PAGE);
	assert_true(a->guest_ro);
	assert_int_equal(t_read(a, buf, 5, 2 * PAGE), 5);
	assert_memory_equal(buf, "hello", 5);
	/* Only the data was copied: one page, the rest holes. */
	assert_int_equal(region__resident(a), PAGE);
	assert_int_equal(t_seek_data(a, 0), 2 * PAGE);
	region__put(a);
	s = snapshot__find(&sb->snaps, "snap");
	assert_non_null(s);
	assert_int_equal(s->nr, 2);
	assert_null(s->cpu);
	snapshot__put(s);
	sandbox__free(sb);
}

/* damaged(CMD, ERR, WANT): after CMD (run in the directory), refused. */
static void damaged(const char *cmd, int err, const char *want)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct why why = { "" };
	char line[512];

	make_dir();
	snprintf(line, sizeof(line), "cd %s && %s", dir, cmd);
	assert_int_equal(system(line), 0);
	assert_int_equal(load(sb, &why), err);
	if (!strstr(why.msg, want))
		fail_msg("%s: reason '%s' lacks '%s'", cmd, why.msg, want);
	/* Checked before anything was built. */
	assert_int_equal(sb->nr, 0);
	assert_int_equal(sb->snaps.nr, 0);
	sandbox__free(sb);
}

static void test_damage(void **state)
{
	(void)state;
	damaged("rm vcpu_state", ENOENT, "snap/vcpu_state: No such file");
	damaged("rm info", ENOENT, "snap/info");
	damaged("rm a/access", ENOENT, "snap/a/access");
	damaged("truncate -s 4096 a/contents", EINVAL,
		"a/contents: 4096 bytes, mem_size says 16384: truncated");
	damaged("truncate -s 32768 a/contents", EINVAL, "the sizes disagree");
	damaged("echo 8192 > b/mem_size", EINVAL, "b/raw_size");
	damaged("echo 0x1001 > b/guest_addr", EINVAL, "b/guest_addr");
	damaged("echo 0x100000 > a/guest_addr; echo 0x102000 > b/guest_addr",
		EINVAL, "the guest ranges overlap");
	damaged("printf x | dd of=vcpu_state bs=1 seek=40 conv=notrunc "
		"status=none", EINVAL, "vcpu_state: CRC-32");
	damaged("printf '\\003' | dd of=vcpu_state bs=1 seek=8 conv=notrunc "
		"status=none", EINVAL, "vcpu_state: not format version 1");
	damaged("mkdir 'bad name'", EINVAL, "not a region name");
	damaged("rm -r a b", EINVAL, "no region directories");
	/* A FIFO would block a read: refused without opening it blocking. */
	damaged("rm b/mem_size && mkfifo b/mem_size", EINVAL,
		"b/mem_size: a FIFO, not a regular file");
	damaged("rm a/contents && mkfifo a/contents", EINVAL,
		"a/contents: a FIFO, not a regular file");
	/* The console: a regular file of the directory, at most console_max. */
	damaged("ln -s /etc/passwd console", ELOOP,
		"snap/console: a symlink (a saved directory holds none)");
	damaged("mkfifo console", EINVAL, "snap/console: a FIFO, not a regular file");
	damaged("truncate -s 65537 console", EINVAL,
		"snap/console: 65537 bytes, more than the console keeps "
		"(65536, -o console_max)");
}

/* Never a byte of a refused file in the reason. */
static void test_console_secret(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct why why = { "" };
	char big[70000];

	(void)state;
	make_dir();
	memset(big, 's', sizeof(big));
	put("console", big, sizeof(big));
	assert_int_equal(load(sb, &why), EINVAL);
	/* The refused file holds 70000 bytes of s: no run of them (a mkdtemp
	 * name may hold "ss" by chance) is in the reason. */
	assert_null(strstr(why.msg, "ssssssss"));
	sandbox__free(sb);
	/* Within the bound, without a vCPU: read, checked, and dropped. */
	sb = new_sandbox(0, 0);
	make_dir();
	put("console", big, 100);
	assert_int_equal(load(sb, &why), 0);
	assert_int_equal(sb->nr, 2);
	sandbox__free(sb);
}

/*
 * In a child: openat2 answers err, as under an old seccomp profile:
 * ENOSYS (Docker 20.10 on), or EPERM (Docker before, and a filter's
 * default errno).
 */
static void no_openat2(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		_exit(77);
}

/*
 * Without openat2 (ENOSYS or EPERM), symlinks are refused all the same,
 * and a copy loads.
 */
static void test_no_openat2(void **state)
{
	const char *cmds[] = {
		"true",
		"ln -sf /etc/passwd a/mem_size",
		"rm -r b && ln -s a b",
		"rm a/contents && mkfifo a/contents",
	};
	const int want[] = { 0, ELOOP, ELOOP, EINVAL }, errs[] = { ENOSYS, EPERM };
	int status;

	(void)state;
	for (unsigned k = 0; k < 2; k++)
	for (unsigned i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char line[256];
		pid_t pid;

		make_dir();
		snprintf(line, sizeof(line), "cd %s && %s", dir, cmds[i]);
		assert_int_equal(system(line), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct sandbox *sb;
			struct why why = { "" };
			int ret;

			no_openat2(errs[k]);
			assert_true(syscall(SYS_openat2, -1, "", NULL, 0) < 0 &&
				    errno == errs[k]);
			sb = new_sandbox(0, 0);
			ret = load(sb, &why);
			if (ret != want[i])
				fprintf(stderr, "openat2 %s, %s: %s (%s)\n",
					strerror(errs[k]), cmds[i],
					strerror(ret), why.msg);
			_exit(ret == want[i] ? 0 : 1);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
			skip();
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

/*
 * Without /proc (a chroot, a container that did not mount it) a file
 * cannot be reopened checked: refused, saying /proc, not that the file
 * is missing.
 */
static void test_no_proc(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	make_dir();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sandbox *sb;
		struct why why = { "" };
		int ret;

		if (unshare(CLONE_NEWNS) ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    umount2("/proc", MNT_DETACH) || access("/proc/self", F_OK) == 0)
			_exit(77);
		sb = new_sandbox(0, 0);
		ret = load(sb, &why);
		if (ret != ENOENT || !strstr(why.msg, "is /proc mounted?")) {
			fprintf(stderr, "%s (%s)\n", strerror(ret), why.msg);
			_exit(1);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		skip();
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Both ways of computing CRC-32C agree, and with the standard's value. */
static void test_crc32c(void **state)
{
	static uint8_t buf[3 * 8192 * 2 + 1000], zeros[70000];
	uint32_t a, b;

	(void)state;
	assert_int_equal(crc32c__extend(0, "123456789", 9), 0xe3069283);
	assert_int_equal(crc32c__extend_table(0, "123456789", 9), 0xe3069283);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	/* Every path: the three-stream blocks, the short ones, the tail. */
	for (size_t len = 0; len < sizeof(buf); len += 997)
		for (size_t off = 0; off < 9; off += 4) {
			a = crc32c__extend(7, buf + off, len - (len ? off : 0));
			b = crc32c__extend_table(7, buf + off,
						 len - (len ? off : 0));
			assert_int_equal(a, b);
		}
	/* A split message is the whole one; zeros folded in are zeros read. */
	a = crc32c__extend(crc32c__extend(0, buf, 5000), buf + 5000, 30000);
	assert_int_equal(a, crc32c__extend(0, buf, 35000));
	for (size_t len = 0; len < sizeof(zeros); len += 4099) {
		a = crc32c__extend(0, buf, 100);
		assert_int_equal(crc32c__zeros(a, len),
				 crc32c__extend(a, zeros, len));
	}
	/*
	 * Holes of 512 MiB and more (a count's bit 29 up): folded as zeros
	 * read, and in two parts as in one (CRC-32C's powers of x repeat
	 * every 31 doublings, not zlib's 32).
	 */
	a = crc32c__extend(0, buf, 100);
	b = a;
	for (uint64_t left = (1ULL << 29) + 4099; left;) {
		size_t n = left < sizeof(zeros) ? (size_t)left : sizeof(zeros);

		b = crc32c__extend(b, zeros, n);
		left -= n;
	}
	assert_int_equal(crc32c__zeros(a, (1ULL << 29) + 4099), b);
	for (unsigned bit = 28; bit < 63; bit++)
		assert_int_equal(crc32c__zeros(a, 2ULL << bit),
				 crc32c__zeros(crc32c__zeros(a, 1ULL << bit),
					       1ULL << bit));
}

/* The checksum record: one exact form, else EINVAL; other lines ENOENT. */
static void test_sum_line(void **state)
{
	char name[REGION_NAME_MAX + 1], line[128];
	uint32_t crc;
	int n;

	(void)state;
	n = snprintf(line, sizeof(line), PERSIST_SUM_FMT, "ram", 0xdeadbeefu);
	assert_int_equal(persist__parse_sum(line, (size_t)n - 1, name, &crc), 0);
	assert_string_equal(name, "ram");
	assert_int_equal(crc, 0xdeadbeef);
	assert_int_equal(persist__parse_sum("region ram", 10, name, &crc),
			 ENOENT);
	assert_int_equal(persist__parse_sum("crc32c ram 0xdeadbee", 20, name,
					    &crc), EINVAL);
	assert_int_equal(persist__parse_sum("crc32c ram 0xDEADBEEF", 21, name,
					    &crc), EINVAL);
	assert_int_equal(persist__parse_sum("crc32c .x 0xdeadbeef", 20, name,
					    &crc), EINVAL);
	assert_int_equal(persist__parse_sum("crc32c  0xdeadbeef", 18, name,
					    &crc), EINVAL);
	assert_int_equal(persist__parse_sum("crc32c ram 0xdeadbeef ", 22, name,
					    &crc), EINVAL);
	/* Found by fuzz_sum: a NUL cut the name short of the line. */
	assert_int_equal(persist__parse_sum("crc32c a\0b 0xdeadbeef", 21, name,
					    &crc), EINVAL);
}

/* info with the checksum lines of the files as they are now. */
static void put_sums(void)
{
	char path[256], text[512];
	const char *names[] = { "a", "b" };
	int len;

	len = snprintf(text, sizeof(text), "snapshot snap\n");
	for (unsigned i = 0; i < 2; i++) {
		uint8_t buf[4 * 4096];
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "%s/%s/contents", dir, names[i]);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		n = read(fd, buf, sizeof(buf));
		close(fd);
		assert_true(n > 0);
		len += snprintf(text + len, sizeof(text) - (size_t)len,
				PERSIST_SUM_FMT, names[i],
				crc32c__extend(0, buf, (size_t)n));
	}
	put_text("info", text);
}

static void flip_a(void)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/a/contents", dir);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "J", 1, (off_t)(2 * PAGE)), 1);
	close(fd);
}

static int load_checked(struct sandbox *sb, bool unchecked,
			unsigned *unrecorded, struct why *why)
{
	struct load_check chk = { .unchecked = unchecked };
	struct vcpu_config cfg = { 0 };
	struct vcpu *v = NULL;
	int ret = sandbox__load_dir_checked(sb, dir, &cfg, &v, &chk, why);

	*unrecorded = chk.unrecorded;
	return ret;
}

/*
 * The bytes loaded are checked against info's record: a flipped byte is
 * refused naming the region, nothing left built; -o from_unchecked loads
 * it; a directory without a record loads, said unchecked.
 */
static void test_sums(void **state)
{
	struct sandbox *sb = new_sandbox(0, 0);
	struct why why = { "" };
	unsigned unrecorded;
	struct region *a;
	char buf[8] = "";

	(void)state;
	make_dir();
	put_sums();
	assert_int_equal(load_checked(sb, false, &unrecorded, &why), 0);
	assert_int_equal(unrecorded, 0);
	sandbox__free(sb);

	/* One byte of a's data flipped after the record was made. */
	flip_a();
	sb = new_sandbox(0, 0);
	assert_int_equal(load_checked(sb, false, &unrecorded, &why), EINVAL);
	if (!strstr(why.msg, "region a: the bytes loaded do not match"))
		fail_msg("reason '%s'", why.msg);
	assert_int_equal(sb->snaps.nr, 0);
	sandbox__free(sb);

	sb = new_sandbox(0, 0);
	assert_int_equal(load_checked(sb, true, &unrecorded, &why), 0);
	a = sandbox__find(sb, "a", NULL);
	assert_int_equal(t_read(a, buf, 5, 2 * PAGE), 5);
	assert_memory_equal(buf, "Jello", 5);
	region__put(a);
	sandbox__free(sb);

	/* Saved before the record: loaded, and counted as unchecked. */
	make_dir();
	sb = new_sandbox(0, 0);
	assert_int_equal(load_checked(sb, false, &unrecorded, &why), 0);
	assert_int_equal(unrecorded, 1);
	sandbox__free(sb);
}

/*
 * info as big as regionfs writes it for a diff of SANDBOX_REGIONS_MAX
 * regions with 64-byte names (1.36 MB, over the 1 MiB a vcpu_state may
 * take): what the library makes is what --from takes.
 */
static void test_big_info(void **state)
{
	struct sandbox *sb = new_sandbox(SANDBOX_REGIONS_MAX, 0);
	char name[REGION_NAME_MAX + 1], path[256], *info;
	size_t big, len = 0, rec;
	struct why why = { "" };
	struct snapshot *s;
	unsigned unrecorded;
	struct rlimit rl;
	const char *text;
	FILE *f;

	(void)state;
	/* A memfd a region, and one for each snapshot's copy of it. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	if (rl.rlim_max < 4 * SANDBOX_REGIONS_MAX ||
	    setrlimit(RLIMIT_NOFILE, &rl))
		skip();
	for (unsigned i = 0; i < SANDBOX_REGIONS_MAX; i++) {
		snprintf(name, sizeof(name), "r%04u%059u", i, 0u);
		region__put(add_region(sb, name, PAGE));
	}
	assert_int_equal(snapshot__take(sb, NULL, "base", &why), 0);
	assert_int_equal(snapshot__take(sb, NULL, "d1:base", &why), 0);
	s = snapshot__find(&sb->snaps, "d1");
	assert_non_null(s);
	assert_int_equal(snapshot__info(s, &text, &big), 0);
	assert_true(big > (1 << 20));
	/*
	 * Its bytes, the checksum lines (of regions this directory lacks)
	 * blanked to as many of another word.
	 */
	info = malloc(big + 4096);
	assert_non_null(info);
	memcpy(info, text, big);
	for (char *p = info; (p = strstr(p, "\n" PERSIST_SUM_KEY)); p++)
		memcpy(p + 1, "xxxxxx", 6);
	len = big;
	snapshot__put(s);
	sandbox__free(sb);

	/* Then the directory's own record, a's and b's lines. */
	make_dir();
	put_sums();
	snprintf(path, sizeof(path), "%s/info", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	rec = fread(info + len, 1, 4096, f);
	fclose(f);
	put("info", info, len + rec);
	free(info);
	sb = new_sandbox(0, 0);
	if (load_checked(sb, false, &unrecorded, &why))
		fail_msg("%s", why.msg);
	assert_int_equal(unrecorded, 0);
	sandbox__free(sb);
}

static void test_sums_damaged(void **state)
{
	(void)state;
	damaged("echo 'crc32c a 0x1234' >> info", EINVAL,
		"snap/info: line 2 is not \"crc32c REGION 0x\"");
	damaged("echo 'crc32c a 0x12345678' >> info", EINVAL,
		"snap/info: no checksum of region b (the record is not whole)");
	damaged("echo 'crc32c a 0x12345678' >> info; "
		"echo 'crc32c a 0x12345678' >> info", EINVAL,
		"line 3 is a second checksum of region a");
	damaged("echo 'crc32c c 0x12345678' >> info", EINVAL,
		"line 2 is the checksum of region c, which the directory "
		"does not hold");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_damage),
		cmocka_unit_test(test_console_secret),
		cmocka_unit_test(test_no_openat2),
		cmocka_unit_test(test_no_proc),
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_sum_line),
		cmocka_unit_test(test_sums),
		cmocka_unit_test(test_sums_damaged),
		cmocka_unit_test(test_big_info),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
