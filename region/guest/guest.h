/*
 * Loading guest programs into the sandbox's regions.
 *
 * Guests run with the vCPU's identity paging (virtual = physical), so a
 * static ELF's p_paddr is where each segment goes: into the region mapped
 * over that guest-physical range, through region__write, like any other
 * host write.  Nothing is written unless the whole image checks out.
 *
 * Errors: 0 or a positive errno, with the reason in why.
 */
#ifndef REGIONFS_GUEST_H
#define REGIONFS_GUEST_H

#include "region/util/why.h"

#include <stddef.h>
#include <stdint.h>

struct sandbox;

/*
 * A static x86-64 ELF executable (ET_EXEC, EM_X86_64, ELFCLASS64, little
 * endian).  Every PT_LOAD segment must lie inside one mapped region, and
 * e_entry inside a loaded segment.  Returns 0 with *entry, or: ENOEXEC for a malformed or unsuitable image
 * (truncated, not ELF64, wrong machine, not ET_EXEC, overlapping segments,
 * entry outside them), ERANGE for a segment no region covers, or what
 * opening, reading or writing said.
 */
int guest__load_elf(struct sandbox *sb, const char *path, uint64_t *entry,
		    struct why *why);
/* The same for an image already in memory. */
int guest__load_elf_mem(struct sandbox *sb, const void *image, size_t size,
			uint64_t *entry, struct why *why);

/* A flat binary, copied to gpa (which one region must cover); entry = gpa. */
int guest__load_flat(struct sandbox *sb, const char *path, uint64_t gpa,
		     struct why *why);

/*
 * The demo sandbox, with its guest built into the daemon: creates and maps
 * its regions (see guests/demo.S) and loads it.  The demo writes a greeting
 * to the console, then every 100 ms increments a 64-bit counter and stores
 * the TSC of that tick in region "heartbeat" (GUEST_DEMO_HEARTBEAT_GPA):
 *   +0  uint64 ticks   +8  uint64 TSC of the last tick
 */
#define GUEST_DEMO_RAM_GPA		0x100000ULL
#define GUEST_DEMO_RAM_SIZE		(1ULL << 20)
#define GUEST_DEMO_HEARTBEAT_GPA	0x200000ULL
#define GUEST_DEMO_HEARTBEAT_SIZE	0x1000ULL
int guest__demo(struct sandbox *sb, uint64_t *entry, uint64_t *stack,
		struct why *why);

#endif
