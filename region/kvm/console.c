/*
 * The console: the bytes the guest wrote to VCPU_PORT_CONSOLE, kept in a
 * ring of the last con_max bytes (vcpu.h says how reads see it).
 */
#include "region/kvm/vcpu_priv.h"

void vcpu_console_put(struct vcpu *v, const uint8_t *p, size_t n)
{
	/* The ring keeps the newest con_max bytes: skip what would not fit. */
	if (n > v->con_max) {
		v->con_end += n - v->con_max;
		p += n - v->con_max;
		n = v->con_max;
	}
	for (size_t i = 0; i < n; i++)
		v->con[(v->con_end + i) % v->con_max] = p[i];
	v->con_end += n;
}

uint64_t vcpu__console_end(struct vcpu *v)
{
	uint64_t end;

	pthread_mutex_lock(&v->lock);
	end = v->con_end;
	pthread_mutex_unlock(&v->lock);
	return end;
}

size_t vcpu__console_read(struct vcpu *v, void *buf, size_t len,
			   uint64_t off)
{
	uint64_t start;
	size_t n = 0;

	pthread_mutex_lock(&v->lock);
	start = v->con_end > v->con_max ? v->con_end - v->con_max : 0;
	if (off < start)
		off = start;
	if (off < v->con_end) {
		n = len < v->con_end - off ? len : (size_t)(v->con_end - off);
		for (size_t i = 0; i < n; i++)
			((uint8_t *)buf)[i] = v->con[(off + i) % v->con_max];
	}
	pthread_mutex_unlock(&v->lock);
	return n;
}
