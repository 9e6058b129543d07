/*
 * The reason for a refusal, returned by the operation that refused, so the
 * caller never has to guess it after the fact.  A function that can refuse
 * takes a struct why * (NULL when nobody wants it) and returns the errno;
 * when it returns one, why->msg says why in one short sentence.
 */
#ifndef REGIONFS_WHY_H
#define REGIONFS_WHY_H

#define WHY_MAX 512

struct why {
	char msg[WHY_MAX];
};

/* Say why (printf-style); a no-op for NULL.  Returns err, for tail calls. */
int why__set(struct why *why, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefix the reason already there ("region ram: " + it). */
int why__prefix(struct why *why, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The reason, or strerror(err) when none was given. */
const char *why__text(const struct why *why, int err);

#endif
