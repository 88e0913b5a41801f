/* errbuf: see errbuf.h. */
#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>

int errbuf_set(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return r;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return r;
}
