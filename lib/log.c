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

void log_vmsg(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[4096];
	size_t len = 0, cap = sizeof(line) - 1; /* room for the '\n' */

	if (!log_is_enabled(level))
		return;
	if (log_with_priority)
		line_append(line, &len, cap, "<%d>", (int)level);
	line_append(line, &len, cap, "%s: ", log_prefix);
	line_vappend(line, &len, cap, fmt, ap);
	if (errnum != 0)
		line_append(line, &len, cap, ": %s", strerror(errnum));
	/* One event, one line: embedded newlines would forge log lines. */
	for (size_t i = 0; i < len; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[len++] = '\n';
	(void)!write(STDERR_FILENO, line, len);
}

#define LOG_FN(name, level, with_errno)                             \
	void name(const char *fmt, ...)                             \
	{                                                           \
		int saved = errno;                                  \
		va_list ap;                                         \
		va_start(ap, fmt);                                  \
		log_vmsg(level, (with_errno) ? saved : 0, fmt, ap); \
		va_end(ap);                                         \
		errno = saved;                                      \
	}

LOG_FN(log_warn, LOG_LEVEL_WARNING, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARNING, 0)
LOG_FN(log_notice, LOG_LEVEL_NOTICE, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
LOG_FN(log_error, LOG_LEVEL_ERR, 1)
LOG_FN(log_errorx, LOG_LEVEL_ERR, 0)

void fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
