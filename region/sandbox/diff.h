/*
 * Diff snapshots: `echo NAME:PARENT > snapshot` copies only the pages
 * written since PARENT was taken (or last restored): the live regions'
 * dirty stamps since PARENT's synced epoch say which, host and guest
 * writes, zero, restore and resize alike.  Each copy is an overlay
 * (region/mem/overlay.h) over PARENT's copy of the same name: it holds those
 * pages, zeroed ones included, and reads the rest through.  A region
 * created or resized since PARENT, a writer nobody sees, or no copy of
 * that name in PARENT: the diff holds the whole region.
 *
 * A parent is pinned while a diff of it exists: its removal is refused
 * (EBUSY), so every diff in the table has its parent in the table.
 *
 * Errors: 0 or a positive errno, with the reason in why.
 */
#ifndef REGIONFS_DIFF_H
#define REGIONFS_DIFF_H

#include "region/sandbox/sandbox.h"

#include <stdio.h>

/*
 * "NAME" or "NAME:PARENT": NAME and PARENT (empty without one), each a
 * region-style name.  EINVAL otherwise.
 */
int diff__split(const char *spec, char *name, char *parent,
		struct why *why);
/* A new snapshot identity (random, never 0). */
uint64_t diff__new_token(void);
/*
 * Make s a diff of parent (in sb's table): ENOENT no such snapshot,
 * EOPNOTSUPP without dirty tracking, EMLINK past OVERLAY_DEPTH_MAX.
 * The caller holds the snapshot operation lock.
 */
int diff__attach(struct sandbox *sb, struct snapshot *s, const char *parent,
		 struct why *why);
/*
 * With every live region held and their guest writes harvested: the
 * memory the diff's copies will take (the written pages) against
 * -o max_snapshot_total, before any is made (ENOSPC).
 */
int diff__check_bytes(struct snapshot *s, struct snaps *t,
		      struct region **live, struct why *why);
/* Fill copy c of live region r as s's diff (c fresh, r's size). */
int diff__copy_region(struct snapshot *s, struct region *r,
		      struct region *c, uint8_t *buf);
/* A snapshot that is some diff's parent cannot go: EBUSY. */
int diff__check_remove(struct snaps *t, const char *name, struct why *why);
/*
 * info's lines about identity and parentage; and the parent file
 * (region/persist/: their text).
 */
void diff__info(struct snapshot *s, FILE *f);
int diff__make_parent_file(struct snapshot *s);

#endif
