/*
 * --from: a sandbox from a saved snapshot directory, or a chain of them
 * (a diff over its parent, saved beside it).  Defined in chain.c; each
 * directory is read and checked by load.c (saved.h), in the saved
 * format region/persist/ owns.
 *
 * Errors: 0 or a positive errno, with the reason in why.
 */
#ifndef REGIONFS_CHAIN_H
#define REGIONFS_CHAIN_H

#include "region/sandbox/snapshot.h"

/*
 * --from DIR: build the sandbox (empty until now) from a snapshot
 * directory saved with cp -r, tar or rsync (load.c): its regions, their
 * bytes (the data extents only, with SEEK_DATA/SEEK_HOLE), guest mappings
 * and access, and the vCPU (on cfg, with the entry and stack it was saved
 * with) loaded as it was saved: paused.  The snapshot itself is taken
 * again, named as the directory, so it can be restored at once.  Every
 * file is checked before anything is built: a missing or malformed file,
 * contents whose size is not mem_size, sizes that disagree, overlapping
 * guest ranges, a damaged vcpu_state give EINVAL (ENOENT...) and why names
 * the file.  *v is NULL when the snapshot has no vCPU.  A diff snapshot
 * (a parent file) is loaded as a chain: its parent, saved
 * beside it under its name, first, each checked against the next.
 */
int sandbox__load_dir(struct sandbox *sb, const char *dir,
		      const struct vcpu_config *cfg, struct vcpu **v,
		      struct why *why);
/*
 * The same, each region's bytes checked as loaded against the checksum
 * its directory's info records (region/persist/info.h), unless
 * chk->unchecked (-o from_unchecked: a trusted store); a mismatch is
 * EINVAL naming the region.  chk->unrecorded: how many snapshots of the chain recorded
 * none (saved before there were checksums), loaded unchecked.
 * sandbox__load_dir checks.
 */
struct cow_lease;
struct load_check {
	bool unchecked;
	unsigned unrecorded;
	/*
	 * Each region of base pages is mapped copy-on-write from its saved
	 * contents (region.h) when lease is given and from_copy is not;
	 * else, or where that is refused, copied (log says why, once a
	 * region).  The checksums of what was mapped are then checked after
	 * the start, on a thread (sandbox__from_wait): reading the bytes
	 * is what mapping them saves.
	 */
	bool from_copy;
	const struct cow_lease *lease;
	unsigned cow, copied;	/* out: regions mapped, regions copied */
};
int sandbox__load_dir_checked(struct sandbox *sb, const char *dir,
			      const struct vcpu_config *cfg, struct vcpu **v,
			      struct load_check *chk, struct why *why);
#endif
