/*
 * The copies between regions, and into one from a file (region.h): the
 * source's backing says how its bytes are read (copy_out), the
 * destination's how they are written (copy_in).
 */
#include "region/mem/backing.h"

#include <string.h>

int region__copy_out(struct region *src, struct region *dst, uint8_t **buf,
		     struct copy_cursor *cur, uint64_t off, uint64_t end)
{
	/*
	 * A readonly source (a snapshot's copy: a restore) is held shared:
	 * one that maps a saved file leaves it on a lease break, which
	 * takes it exclusive.  A live one is the caller's, held.  One whose
	 * bytes failed a check, or a lease break it could not leave (the
	 * file's writer went on under it), is not copied from (check.c).
	 */
	int ret = src->readonly ? check__wait(src) : 0;

	if (!ret && src->readonly)
		ret = region__shared_begin(src);
	if (ret)
		return ret;
	ret = src->ops->copy_out(src, dst, buf, cur, off, end,
				 COPY_FILL_HOLES);
	if (src->readonly)
		region__shared_end(src);
	return ret;
}

/*
 * src's bytes into dst by dst's copy_in; memory no fd holds (cow.c)
 * copies itself out, its own extents found, through its mapping (which
 * allocates none of its holes).
 */
static int copy_from(struct region *dst, struct region *src, uint8_t *buf,
		     struct extents *x, uint64_t off, uint64_t end,
		     unsigned how)
{
	struct mem_side s = region__side(src);
	struct copy_cursor cur;

	if (s.fd >= 0)
		return dst->ops->copy_in(dst, &s, buf, x, off, end, how);
	memset(&cur, 0, sizeof(cur));
	return src->ops->copy_out(src, dst, &buf, &cur, off, end, how);
}

int region__copy(struct region *dst, struct region *src, uint8_t *buf,
		 struct extents *x, uint64_t off, uint64_t end,
		 bool fill_holes)
{
	return copy_from(dst, src, buf, x, off, end,
			 fill_holes ? COPY_FILL_HOLES : 0);
}

int region__copy_read(struct region *dst, struct region *src, uint8_t *buf,
		      struct extents *x, uint64_t off, uint64_t end)
{
	return copy_from(dst, src, buf, x, off, end, COPY_SRC_PREAD);
}

int region__copy_fd(struct region *dst, int src, uint8_t *buf,
		    struct extents *x, uint64_t off, uint64_t end,
		    bool fill_holes)
{
	struct mem_side s = { src, NULL, 0 };

	return dst->ops->copy_in(dst, &s, buf, x, off, end,
				 COPY_SRC_PREAD | COPY_DST_PWRITE |
				 (fill_holes ? COPY_FILL_HOLES : 0));
}
