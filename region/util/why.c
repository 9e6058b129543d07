#include "region/util/why.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int why__set(struct why *why, int err, const char *fmt, ...)
{
	va_list ap;

	if (!why)
		return err;
	va_start(ap, fmt);
	vsnprintf(why->msg, sizeof(why->msg), fmt, ap);
	va_end(ap);
	return err;
}

int why__prefix(struct why *why, int err, const char *fmt, ...)
{
	char prefix[WHY_MAX];
	size_t n, old;
	va_list ap;

	if (!why)
		return err;
	if (!why->msg[0])
		snprintf(why->msg, sizeof(why->msg), "%s", strerror(err));
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	/* The reason moves right, cut at the end if it must. */
	n = strlen(prefix);
	old = strlen(why->msg);
	if (n >= sizeof(why->msg))
		n = sizeof(why->msg) - 1;
	if (old > sizeof(why->msg) - 1 - n)
		old = sizeof(why->msg) - 1 - n;
	memmove(why->msg + n, why->msg, old);
	memcpy(why->msg, prefix, n);
	why->msg[n + old] = '\0';
	return err;
}

const char *why__text(const struct why *why, int err)
{
	return why && why->msg[0] ? why->msg : strerror(err);
}
