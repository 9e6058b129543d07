/*
 * Huge-page regions (hugetlbfs memfds): the hugetlb backing (hugetlb.c's
 * table, backing.h).  Private to region/mem/.
 *
 * What hugetlbfs lacks, and what stands in for it here:
 *   - no write(2): the daemon writes through its mapping of the memfd;
 *   - SEEK_DATA finds data everywhere: holes are read from the daemon's
 *     own page tables (mincore), which hold every page written, since every
 *     writer that can allocate one (the daemon, the guest through KVM, the
 *     copies) writes through that mapping; a reader's read-only fault
 *     allocates zeros only, which are a hole as far as the bytes go (so
 *     a page the daemon has not mapped holds zeros);
 *   - a hole punch gives back an allocated page's reservation with it,
 *     and the pool may not give it again (emptied, or the page taken by
 *     another process): zeroing keeps the pages instead (written with
 *     zeros, then unmapped from the daemon, so a hole to mincore), and a
 *     write through the mapping makes its pages exist first, ENOMEM where
 *     none can be had: never SIGBUS for the daemon, nor for the guest
 *     (its pages are the region's, reserved since it was made).
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_HUGE_H
#define REGIONFS_HUGE_H

#include <stdbool.h>
#include <stdint.h>

/* The memfd_create flags for pages of huge bytes; EINVAL for other sizes. */
int huge__memfd_flags(uint64_t huge, unsigned *flags);

#endif
