/*
 * The guest loader: static ELF64 executables and flat binaries, written
 * into the mapped regions that cover them.  Every check comes before the
 * first write, so a refused image leaves memory as it was.
 */
#include "region/guest/guest.h"
#include "region/sandbox/sandbox.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bound on program headers: real static executables have a handful. */
#define MAX_PHDRS 64

/* The region whose guest range holds [gpa, gpa + len), with a reference. */
static struct region *covering(struct sandbox *sb, uint64_t gpa, uint64_t len,
			       uint64_t *off)
{
	struct region *r;

	uint64_t start;

	for (unsigned i = 0; (r = sandbox__nth(sb, i, NULL)); i++) {
		if (sandbox__guest_addr(sb, r, &start) && gpa >= start &&
		    gpa - start <= region__mem_size(r) &&
		    len <= region__mem_size(r) - (gpa - start)) {
			if (off)
				*off = gpa - start;
			return r;
		}
		region__put(r);
	}
	return NULL;
}

/* "regions: ram [0x100000-0x200000), boot [...)" or "no region is mapped". */
static void list_regions(struct sandbox *sb, char *buf, size_t len)
{
	struct region *r;
	size_t used = 0;
	uint64_t gpa;
	int n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; (r = sandbox__nth(sb, i, NULL)); i++) {
		if (sandbox__guest_addr(sb, r, &gpa) && used < len) {
			used += (size_t)snprintf(buf + used, len - used,
				"%s%s [0x%llx-0x%llx)", n++ ? ", " : "regions: ",
				region__name(r), (unsigned long long)gpa,
				(unsigned long long)(gpa + region__mem_size(r)));
		}
		region__put(r);
	}
	if (!n)
		snprintf(buf, len, "no region is mapped");
}

static int not_covered(struct sandbox *sb, const char *what, uint64_t start,
		       uint64_t end, struct why *why)
{
	char regions[320];

	list_regions(sb, regions, sizeof(regions));
	return why__set(why, ERANGE, "%s [0x%llx-0x%llx) is not covered by "
			"any region; %s", what, (unsigned long long)start,
			(unsigned long long)end, regions);
}

static int write_at(struct sandbox *sb, uint64_t gpa, const void *src,
		    uint64_t filesz, uint64_t memsz, struct why *why)
{
	static const uint8_t zeros[4096];
	uint64_t off, done, left;
	struct region *r = covering(sb, gpa, memsz, &off);
	size_t n = 0;
	int ret = 0;

	if (!r)
		return ERANGE;	/* checked before: only a racing unmap */
	for (done = 0; done < memsz && !ret; done += n) {
		left = memsz - done;
		if (done < filesz)
			ret = region__write(r, (const uint8_t *)src + done,
					    filesz - done, off + done, &n);
		else
			ret = region__write(r, zeros, left < sizeof(zeros) ?
					    left : sizeof(zeros), off + done, &n);
		if (!ret && n == 0)
			ret = EIO;
	}
	region__put(r);
	if (ret)
		why__set(why, ret, "writing region at 0x%llx: %s",
			 (unsigned long long)gpa, strerror(ret));
	return ret;
}

static int check_ehdr(const Elf64_Ehdr *eh, size_t size, struct why *why)
{
	if (size < EI_NIDENT || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
		return why__set(why, ENOEXEC, "not an ELF file%s",
			 size < EI_NIDENT ? " (truncated: too short)" : "");
	}
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB) {
		return why__set(why, ENOEXEC, "not ELF64 little-endian (class %u, "
			 "data %u)", eh->e_ident[EI_CLASS],
			 eh->e_ident[EI_DATA]);
	}
	if (size < sizeof(*eh)) {
		return why__set(why, ENOEXEC, "truncated: %zu bytes, the ELF header "
			 "alone is %zu", size, sizeof(*eh));
	}
	if (eh->e_machine != EM_X86_64) {
		return why__set(why, ENOEXEC, "wrong machine %u, want %u (x86-64)",
			 eh->e_machine, EM_X86_64);
	}
	if (eh->e_type != ET_EXEC) {
		return why__set(why, ENOEXEC, "not ET_EXEC (e_type %u%s): link it "
			 "-static -no-pie", eh->e_type,
			 eh->e_type == ET_DYN ? ", a PIE or shared object" : "");
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    eh->e_phnum > MAX_PHDRS) {
		return why__set(why, ENOEXEC, "bad program headers (%u of %u bytes)",
			 eh->e_phnum, eh->e_phentsize);
	}
	if (eh->e_phoff > size ||
	    (size - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum) {
		return why__set(why, ENOEXEC, "truncated: %zu bytes, program headers "
			 "end at %llu", size, (unsigned long long)
			 (eh->e_phoff + eh->e_phnum * sizeof(Elf64_Phdr)));
	}
	return 0;
}

static int check_segments(struct sandbox *sb, const Elf64_Ehdr *eh,
			  const Elf64_Phdr *ph, size_t size, struct why *why)
{
	bool entry_ok = false;
	struct region *r;
	char what[32];

	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type != PT_LOAD)
			continue;
		if (p->p_filesz > p->p_memsz ||
		    p->p_paddr + p->p_memsz < p->p_paddr) {
			return why__set(why, ENOEXEC, "segment %u: bad sizes (file "
				 "%llu, memory %llu)", i,
				 (unsigned long long)p->p_filesz,
				 (unsigned long long)p->p_memsz);
		}
		if (p->p_offset > size || p->p_filesz > size - p->p_offset) {
			return why__set(why, ENOEXEC, "truncated: %zu bytes, segment "
				 "%u needs [%llu-%llu)", size, i,
				 (unsigned long long)p->p_offset,
				 (unsigned long long)(p->p_offset +
						      p->p_filesz));
		}
		for (unsigned j = 0; j < i; j++) {
			const Elf64_Phdr *q = &ph[j];

			if (q->p_type == PT_LOAD &&
			    p->p_paddr < q->p_paddr + q->p_memsz &&
			    q->p_paddr < p->p_paddr + p->p_memsz) {
				return why__set(why, ENOEXEC, "segments %u and %u "
					 "overlap at 0x%llx", j, i,
					 (unsigned long long)(p->p_paddr >
					 q->p_paddr ? p->p_paddr : q->p_paddr));
			}
		}
		if (eh->e_entry >= p->p_vaddr &&
		    eh->e_entry - p->p_vaddr < p->p_memsz)
			entry_ok = true;
	}
	if (!entry_ok) {
		return why__set(why, ENOEXEC, "entry point 0x%llx is outside every "
			 "loaded segment", (unsigned long long)eh->e_entry);
	}
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		r = covering(sb, p->p_paddr, p->p_memsz, NULL);
		if (r) {
			region__put(r);
			continue;
		}
		snprintf(what, sizeof(what), "segment %u", i);
		return not_covered(sb, what, p->p_paddr,
				   p->p_paddr + p->p_memsz, why);
	}
	return 0;
}

int guest__load_elf_mem(struct sandbox *sb, const void *image, size_t size,
			uint64_t *entry, struct why *why)
{
	const Elf64_Ehdr *eh = image;
	const Elf64_Phdr *ph;
	int ret;

	ret = check_ehdr(eh, size, why);
	if (ret)
		return ret;
	ph = (const Elf64_Phdr *)((const uint8_t *)image + eh->e_phoff);
	ret = check_segments(sb, eh, ph, size, why);
	if (ret)
		return ret;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		ret = write_at(sb, ph[i].p_paddr,
			       (const uint8_t *)image + ph[i].p_offset,
			       ph[i].p_filesz, ph[i].p_memsz, why);
		if (ret)
			return ret;
	}
	*entry = eh->e_entry;
	return 0;
}

/* Map the whole file read-only: the checks then see exactly its bytes. */
static int map_file(const char *path, void **image, size_t *size,
		    struct why *why)
{
	struct stat st;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = errno;
		why__set(why, ret, "cannot open %s: %s", path,
			 strerror(ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = errno;
		why__set(why, ret, "%s: %s", path, strerror(ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		ret = why__set(why, ENOEXEC, "%s: %s", path,
			       S_ISREG(st.st_mode) ? "empty file" :
			       "not a regular file");
		goto out;
	}
	*size = (size_t)st.st_size;
	*image = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (*image == MAP_FAILED) {
		ret = errno;
		why__set(why, ret, "mmap %s: %s", path, strerror(ret));
	}
out:
	close(fd);
	return ret;
}

int guest__load_elf(struct sandbox *sb, const char *path, uint64_t *entry,
		    struct why *why)
{
	void *image;
	size_t size;
	int ret;

	ret = map_file(path, &image, &size, why);
	if (ret)
		return ret;
	ret = guest__load_elf_mem(sb, image, size, entry, why);
	if (ret)
		why__prefix(why, ret, "%s: ", path);
	munmap(image, size);
	return ret;
}

int guest__load_flat(struct sandbox *sb, const char *path, uint64_t gpa,
		     struct why *why)
{
	struct region *r;
	void *image;
	size_t size;
	int ret;

	ret = map_file(path, &image, &size, why);
	if (ret)
		return ret;
	r = covering(sb, gpa, size, NULL);
	if (!r) {
		ret = not_covered(sb, path, gpa, gpa + size, why);
		goto out;
	}
	region__put(r);
	ret = write_at(sb, gpa, image, size, size, why);
out:
	munmap(image, size);
	return ret;
}
