/*
 * Huge-page regions (hugetlbfs memfds), the parts that differ from shmem,
 * and the hint ordinary regions give shmem's transparent huge pages.
 * Private to region/: region.c calls it, nothing else.
 *
 * What hugetlbfs lacks, and what stands in for it here:
 *   - no write(2): the daemon writes through its mapping of the memfd;
 *   - SEEK_DATA finds data everywhere: holes are read from the daemon's
 *     own page tables (mincore), which hold every page written, since every
 *     writer that can allocate one (the daemon, the guest through KVM, the
 *     copies) writes through that mapping; a reader's read-only fault
 *     allocates zeros only, which are a hole as far as the bytes go;
 *   - a hole punch gives back the pages' reservations too: they are taken
 *     again at once (huge__punch), so the guest never meets SIGBUS.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_HUGE_H
#define REGIONFS_HUGE_H

#include <stdbool.h>
#include <stdint.h>

struct region;

/* The memfd_create flags for pages of huge bytes; EINVAL for other sizes. */
int huge__memfd_flags(uint64_t huge, unsigned *flags);
/*
 * Map fd (size bytes of pages of huge bytes) into a reservation whose base
 * is aligned to huge, with a 4 KiB PROT_NONE guard page on either side:
 * *raw is the first guard page.  Reserves every page now (ENOMEM when the
 * pool cannot hold them all).
 */
int huge__map(int fd, uint64_t size, uint64_t huge, uint8_t **raw);
/* Reserve [off, off + len) of fd again after a punch (ENOMEM). */
int huge__reserve(int fd, uint64_t off, uint64_t len, uint64_t huge);
/* Punch [off, off + len) of r (zeros; whole pages freed), then reserve. */
int huge__punch(struct region *r, uint64_t off, uint64_t len);
/* lseek's SEEK_DATA/SEEK_HOLE on r (held shared), off < mem_size. */
int huge__seek(struct region *r, uint64_t off, int whence, uint64_t *pos);
/*
 * The same within [off, end) only, off < end: *pos is end when nothing
 * there is data (SEEK_DATA) or a hole (SEEK_HOLE).  Costs the range, not
 * the rest of the region.
 */
int huge__seek_to(struct region *r, uint64_t off, uint64_t end, int whence,
		  uint64_t *pos);
/* Whether the page of r at off holds data (r's mapping has it). */
bool huge__present(const uint8_t *base, uint64_t off, uint64_t huge);

/*
 * One side of a copy: its fd, its mapping, its page size (0: shmem or a
 * file that is no region, base NULL: its holes found with lseek and its
 * data read with pread, which never allocates a hole of it).
 */
struct huge_side {
	int fd;
	uint8_t *base;
	uint64_t huge;
};
/*
 * Make dst's [off, end) what src's is, dst being huge: data copied through
 * the mappings a huge page at a time, pages of zeros left (or punched, when
 * fill_holes) as holes.
 */
int huge__copy(const struct huge_side *dst, const struct huge_side *src,
	       uint64_t off, uint64_t end, bool fill_holes);

/*
 * An ordinary region: MADV_HUGEPAGE where the administrator lets shmem use
 * transparent huge pages on advice (shmem_enabled advise, within_size or
 * always); nothing elsewhere.  Never changes a system setting.
 */
void huge__advise(uint8_t *base, uint64_t size);

#endif
