/*
 * log: one line per event on stderr, in the style of OpenBSD's log.c.
 *
 * Every line starts with an sd-daemon priority prefix ("<3>" .. "<7>") so that
 * journald keeps the level when the process runs under systemd or the supervisor;
 * on a terminal the prefix is left out.  Details follow the message as key=value
 * pairs written by the caller; control bytes in them are escaped (log_escape()).
 * Library code logs at debug level at most: it returns errors and lets the caller
 * that decides log them once.
 */
#ifndef MF_LOG_H
#define MF_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

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

/*
 * Start-up failures and broken invariants only.  fatal/fatalx exit with status 1
 * (permanent: a configuration or usage error, do not restart); fatal_temp and
 * fatalx_temp with LOG_EXIT_TEMPFAIL (75, EXIT_TEMPFAIL of config.h: out of
 * memory, a failed pipe() or mount, anything a restart may cure).
 */
#define LOG_EXIT_TEMPFAIL 75
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatal_temp(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx_temp(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * The escape every log line goes through: bytes below 0x20, DEL, the UTF-8 C1
 * controls (U+0080..U+009F) and bytes that are not valid UTF-8 become "\xNN";
 * everything else is kept.  Writes a NUL-terminated result of at most cap - 1
 * bytes into out, never splitting an escape, and returns its length.
 */
size_t log_escape(char *out, size_t cap, const char *in, size_t len);

void log_vmsg(enum log_level level, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
