/*
 * Logging for library and console. Messages go to stderr; library code
 * reports problems through these and returns negative errno, never exits.
 * log_warn appends strerror(errno), log_warnx does not (OpenSMTPD style).
 */
#ifndef COFFER_UTIL_LOG_H
#define COFFER_UTIL_LOG_H

#include <stdarg.h>

/* LOG_LVL_SILENT prints nothing (fuzz harnesses). */
enum log_level { LOG_LVL_SILENT = -1, LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Program name prefix and the most verbose level printed (default INFO). */
void log_init(const char *progname, enum log_level max);
void log_set_level(enum log_level max);
enum log_level log_get_level(void);

void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Text for a negative errno returned by library code. Coffer gives a few
 * codes a precise meaning: -EBADMSG corrupt data or failed authentication,
 * -ENOTSUP unsupported format version, -EPROTO protocol violation.
 */
const char *coffer_strerror(int neg_errno);

#endif
