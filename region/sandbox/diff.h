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

/* The text of a diff's parent file: "NAME 0xID\n" (ID: 16 hex digits). */
#define DIFF_PARENT_FMT "%s 0x%016llx\n"

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
 * The saved forms, for --from.  A parent file's text (len bytes, one
 * line): name and id, or EINVAL.  A snapshot id: "0x" and 1 to 16 hex
 * digits, whole (false otherwise).  One line of a diff's dirty file (NUL-
 * terminated, its newline optional): pages [*first, *end), whole pages,
 * ascending (not before page prev_end) and within size bytes, or EINVAL.
 */
int diff__parse_parent(const char *buf, size_t len, char *name,
		       uint64_t *id);
bool diff__parse_id(const char *s, uint64_t *id);
int diff__parse_run(const char *line, uint64_t size, uint64_t prev_end,
		    uint64_t *first, uint64_t *end);
/* info's lines about identity and parentage; and the parent file. */
void diff__info(struct snapshot *s, FILE *f);
int diff__make_parent_file(struct snapshot *s);

#endif
