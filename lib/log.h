/*
 * log: one line per event on stderr, in the style of OpenBSD's log.c.
 *
 * Every line starts with an sd-daemon priority prefix ("<3>" .. "<7>") so that
 * journald keeps the level when the process runs under systemd or the supervisor;
 * on a terminal the prefix is left out.  Details follow the message as key=value
 * pairs written by the caller.  Library code logs at debug level at most: it
 * returns errors and lets the caller that decides log them once.
 */
#ifndef MF_LOG_H
#define MF_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/*
 * prefix names the process ("kvwatch"); verbosity 0 shows info and above, each -v
 * adds a level, each -q removes one.
 */
void log_init(const char *prefix, int verbosity);
void log_set_verbosity(int verbosity);
bool log_is_enabled(enum log_level level);

/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Error level, for failures the caller handles and carries on from. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Start-up failures and broken invariants only; exit with status 1 (permanent). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

void log_vmsg(enum log_level level, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
