/*
 * The console: the bytes the guest wrote to VCPU_PORT_CONSOLE, kept in a
 * ring of the last console_max bytes (vcpu.h says how reads see it).
 */
#include "region/kvm/vcpu_priv.h"

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
