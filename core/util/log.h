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
 * Daemons: messages go to syslog (the journal under systemd) with the
 * level's priority, and to stderr too when also_stderr (foreground).
 */
void log_use_syslog(const char *ident, int also_stderr);

/*
 * A sink that also receives every message the calling thread logs (after
 * the level filter), formatted as it is printed without the program
 * prefix; NULL removes it. A job's thread installs one so that what the
 * libraries report (an unreadable file, a damaged pack) is kept with the
 * job and streamed to whoever watches it.
 */
typedef void (*log_sink_fn)(enum log_level lvl, const char *msg, void *arg);
void log_set_thread_sink(log_sink_fn fn, void *arg);
/* msg past its level's tag ("error: ", "warning: ", "debug: "), for sinks. */
const char *log_untag(const char *msg);

/*
 * Text for a negative errno returned by library code. Coffer gives a few
 * codes a precise meaning: -EBADMSG corrupt data or failed authentication,
 * -ENOTSUP unsupported format version, -EPROTO protocol violation.
 */
const char *coffer_strerror(int neg_errno);

#endif
