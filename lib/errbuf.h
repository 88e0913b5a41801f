/*
 * errbuf: the one way lib/ and the workers hand a reason back with an error.
 * Functions that can fail on bad input take (char *err, size_t errlen) and write
 * a one-line, human-readable reason there; the caller that decides logs it.
 */
#ifndef MF_ERRBUF_H
#define MF_ERRBUF_H

#include <stddef.h>

/* Format the reason into err (nothing when errlen is 0) and return r. */
int errbuf_set(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
