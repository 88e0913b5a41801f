/*
 * log: see log.h.  Each line is assembled in one buffer and written with a single
 * write(2), so lines of concurrent threads and processes sharing stderr do not mix.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "utf8.h"

static const char *log_prefix = "meta-fuse";
static int log_threshold = LOG_LEVEL_INFO;
static bool log_with_priority = true;

void log_init(const char *prefix, int verbosity)
{
	log_prefix = prefix;
	log_set_verbosity(verbosity);
	/* journald and the supervisor read priorities; a person at a terminal does not. */
	log_with_priority = !isatty(STDERR_FILENO) || getenv("JOURNAL_STREAM") != NULL;
}

void log_set_verbosity(int verbosity)
{
	int t = LOG_LEVEL_INFO + verbosity;

	if (t < LOG_LEVEL_ERR)
		t = LOG_LEVEL_ERR;
	if (t > LOG_LEVEL_DEBUG)
		t = LOG_LEVEL_DEBUG;
	log_threshold = t;
}

bool log_is_enabled(enum log_level level)
{
	return (int)level <= log_threshold;
}

/* Append to line[*len..cap), truncating; *len never passes cap. */
static void __attribute__((format(printf, 4, 0)))
line_vappend(char *line, size_t *len, size_t cap, const char *fmt, va_list ap)
{
	int n;

	if (*len >= cap)
		return;
	n = vsnprintf(line + *len, cap - *len, fmt, ap);
	if (n > 0)
		*len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

static void __attribute__((format(printf, 4, 5)))
line_append(char *line, size_t *len, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	line_vappend(line, len, cap, fmt, ap);
	va_end(ap);
}

/*
 * Whether the n bytes at p are shown as they are: printable ASCII, or one valid
 * UTF-8 sequence that is not a C1 control (U+0080..U+009F, which some terminals
 * obey as ESC sequences).
 */
static bool is_shown(const unsigned char *p, size_t n)
{
	if (n == 1)
		return p[0] >= 0x20 && p[0] < 0x7f;
	return !(n == 2 && p[0] == 0xc2 && p[1] < 0xa0);
}

size_t log_escape(char *out, size_t cap, const char *in, size_t len)
{
	const unsigned char *p = (const unsigned char *)in, *end = p + len;
	size_t o = 0;

	while (p < end) {
		size_t n = p[0] < 0x80 ? 1 : utf8_sequence_length(p, (size_t)(end - p));

		if (n > 0 && is_shown(p, n)) {
			if (o + n >= cap)
				break;
			memcpy(out + o, p, n);
			o += n;
			p += n;
			continue;
		}
		/* A control byte, or every byte of a C1 control or an invalid sequence. */
		n = n ? n : 1;
		if (o + 4 * n >= cap)
			break;
		for (size_t i = 0; i < n; i++, o += 4)
			snprintf(out + o, 5, "\\x%02x", p[i]);
		p += n;
	}
	if (cap)
		out[o] = '\0';
	return o;
}

void log_vmsg(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char raw[4096], line[4096];
	size_t rlen = 0, len = 0, cap = sizeof(line) - 1; /* room for the '\n' */

	if (!log_is_enabled(level))
		return;
	if (log_with_priority)
		line_append(line, &len, cap, "<%d>", (int)level);
	line_append(line, &len, cap, "%s: ", log_prefix);
	line_vappend(raw, &rlen, sizeof(raw), fmt, ap);
	if (errnum != 0)
		line_append(raw, &rlen, sizeof(raw), ": %s", strerror(errnum));
	/*
	 * One event, one line, shown as it is: a value from Redis or a client may hold
	 * newlines (forged lines) or terminal escape sequences; every caller's text
	 * goes through this one escape.
	 */
	len += log_escape(line + len, cap + 1 - len, raw, rlen);
	line[len++] = '\n';
	(void)!write(STDERR_FILENO, line, len);
}

/* A log function; end is what it does last (give errno back, or exit). */
#define LOG_FN(name, level, with_errno, end)                        \
	void name(const char *fmt, ...)                             \
	{                                                           \
		int saved = errno;                                  \
		va_list ap;                                         \
		va_start(ap, fmt);                                  \
		log_vmsg(level, (with_errno) ? saved : 0, fmt, ap); \
		va_end(ap);                                         \
		end;                                                \
	}

LOG_FN(log_warn, LOG_LEVEL_WARNING, 1, errno = saved)
LOG_FN(log_warnx, LOG_LEVEL_WARNING, 0, errno = saved)
LOG_FN(log_notice, LOG_LEVEL_NOTICE, 0, errno = saved)
LOG_FN(log_info, LOG_LEVEL_INFO, 0, errno = saved)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0, errno = saved)
LOG_FN(log_error, LOG_LEVEL_ERR, 1, errno = saved)
LOG_FN(log_errorx, LOG_LEVEL_ERR, 0, errno = saved)
LOG_FN(fatal, LOG_LEVEL_ERR, 1, exit(1))
LOG_FN(fatalx, LOG_LEVEL_ERR, 0, exit(1))
LOG_FN(fatal_temp, LOG_LEVEL_ERR, 1, exit(LOG_EXIT_TEMPFAIL))
LOG_FN(fatalx_temp, LOG_LEVEL_ERR, 0, exit(LOG_EXIT_TEMPFAIL))
