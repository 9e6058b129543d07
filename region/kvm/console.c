/*
 * The console: the bytes the guest wrote to VCPU_PORT_CONSOLE, kept in a
 * ring of the last console_max bytes (vcpu.h says how reads see it), and
 * saved with the vCPU: a snapshot keeps the kept bytes, a restore puts
 * them back.
 */
#include "region/kvm/vcpu_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void vcpu_console_put(struct vcpu *v, const uint8_t *p, size_t n)
{
	ring__put(&v->con, p, n);
}

uint64_t vcpu__console_end(struct vcpu *v)
{
	uint64_t end;

	pthread_mutex_lock(&v->lock);
	end = v->con.end;
	pthread_mutex_unlock(&v->lock);
	return end;
}

size_t vcpu__console_read(struct vcpu *v, void *buf, size_t len,
			  uint64_t off, struct ring_reader *rd)
{
	size_t n;

	pthread_mutex_lock(&v->lock);
	n = ring__read(&v->con, buf, len, off, rd);
	pthread_mutex_unlock(&v->lock);
	return n;
}

int vcpu_console_save_locked(struct vcpu *v, struct vcpu_saved *s)
{
	uint64_t start = v->con.end > v->con.max ? v->con.end - v->con.max : 0;
	struct ring_reader rd = { 0 };
	size_t kept = (size_t)(v->con.end - start);

	/* At most console_max bytes (64 KiB by default): a copy is cheap. */
	s->console = malloc(kept ? kept : 1);
	if (!s->console)
		return ENOMEM;
	s->console_len = ring__read(&v->con, s->console, kept, start, &rd);
	return 0;
}

/*
 * The console as it was saved: the file starts over with the kept bytes,
 * like a log rotated under its readers (tail -f sees it shrink and reads
 * again from the start).
 */
void vcpu_console_load_locked(struct vcpu *v, const struct vcpu_saved *s)
{
	ring__restart(&v->con, s->console, s->console_len);
}

const uint8_t *vcpu__saved_console(const struct vcpu_saved *s, size_t *len)
{
	*len = s ? s->console_len : 0;
	return s ? s->console : NULL;
}

void vcpu__saved_set_console(struct vcpu_saved *s, uint8_t *buf, size_t len)
{
	/* Not what was saved any more: no load may take it for held. */
	s->seq = 0;
	free(s->console);
	s->console = buf;
	s->console_len = len;
}
