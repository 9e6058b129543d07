/*
 * A saved snapshot directory, read and checked (load.c): the private
 * interface --from's chains (chain.c) build on.  Every refusal names the
 * file in why.
 *
 * Errors: 0 or a positive errno, with the reason in why.
 */
#ifndef REGIONFS_SAVED_H
#define REGIONFS_SAVED_H

#include "region/sandbox/snapshot.h"
#include "region/persist/persist.h"

#include <string.h>

struct saved_region {
	char name[REGION_NAME_MAX + 1];
	uint64_t size;
	bool mapped;
	uint64_t gpa;
	bool ro;
	bool paged;		/* a page_size file was saved: huge */
	uint64_t huge;
	int fd;			/* contents, open */
	bool summed;		/* info records its checksum: crc */
	uint32_t crc;
	bool cow;		/* built mapping contents copy-on-write */
};

struct load_check;
struct saved_dir {
	const char *dir;
	const struct vcpu_config *cfg;	/* console_max, and the log */
	struct load_check *chk;		/* how to build it (chain.h) */
	int dfd;		/* dir, opened by the caller of saved__check */
	struct saved_region *rs;
	unsigned nr;
	struct vcpu_saved *cpu;
	bool has_cpu;
	bool summed;		/* info records every region's checksum */
};

/* A small file of d, whole (at most max bytes, else EINVAL). */
int saved__read_file(struct saved_dir *d, const char *path, char *buf,
		     size_t max, size_t *len, struct why *why);
/*
 * Check every file of d (d->dfd open on it: only what is beneath it is
 * read, persist/open.h), info's checksums kept; nothing is built.
 */
int saved__check(struct sandbox *sb, struct saved_dir *d, struct why *why);
/* The sandbox (empty until now) as d says: regions, bytes, the vCPU. */
int saved__build(struct sandbox *sb, struct saved_dir *d,
		 const struct vcpu_config *cfg, struct vcpu **v,
		 uint8_t *buf, struct why *why);
/* Region s of d made, mapped and filled in sb. */
int saved__build_region(struct sandbox *sb, struct saved_dir *d,
			struct saved_region *s, uint8_t *buf,
			struct why *why);
/*
 * info's checksum lines (region/persist/info.h) into d's regions:
 * EINVAL, naming info and the line, for a malformed, stray, repeated
 * or partial record.
 */
int saved__sums(struct saved_dir *d, const char *info, size_t len,
		struct why *why);
/*
 * d's regions, as built in sb, against their checksums (when d->summed):
 * EINVAL naming the region whose bytes do not match (and, for a diff,
 * that its parents' may be the damaged ones).  buf: SUM_CHUNK.
 */
int saved__verify(struct sandbox *sb, struct saved_dir *d, bool diff,
		  uint8_t *buf, struct why *why);
/*
 * The region of d named name, or NULL.  Inline: load.c, chain.c and
 * saved_sum.c all look regions up, and saved_sum.c is called by load.c.
 */
static inline struct saved_region *saved__find(struct saved_dir *d,
					       const char *name)
{
	for (unsigned i = 0; i < d->nr; i++)
		if (strcmp(d->rs[i].name, name) == 0)
			return &d->rs[i];
	return NULL;
}
/* The snapshot's name in the new mount: the directory's, if it is one. */
void saved__name(const char *dir, char *name, size_t len);
void saved__free(struct saved_dir *d);

#endif
