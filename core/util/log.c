/* Logging; see log.h. */
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

static const char *log_prog = "coffer";
static enum log_level log_max = LOG_LVL_INFO;
static int log_syslog;         /* messages also go to syslog */
static int log_stderr = 1;     /* messages go to stderr */
static _Thread_local log_sink_fn log_sink;
static _Thread_local void *log_sink_arg;

void log_use_syslog(const char *ident, int also_stderr)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = 1;
	log_stderr = also_stderr;
}

void log_set_thread_sink(log_sink_fn fn, void *arg)
{
	log_sink = fn;
	log_sink_arg = arg;
}

void log_init(const char *progname, enum log_level max)
{
	log_prog = progname;
	log_max = max;
}

void log_set_level(enum log_level max)
{
	log_max = max;
}

enum log_level log_get_level(void)
{
	return log_max;
}

static void log_vemit(enum log_level lvl, const char *tag, int errnum,
		      const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

static void log_vemit(enum log_level lvl, const char *tag, int errnum,
		      const char *fmt, va_list ap)
{
	if (lvl > log_max)
		return;
	char msg[2048], line[2300];
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (errnum)
		snprintf(line, sizeof line, "%s%s: %s", tag, msg, strerror(errnum));
	else
		snprintf(line, sizeof line, "%s%s", tag, msg);
	if (log_stderr)
		fprintf(stderr, "%s: %s\n", log_prog, line);
	if (log_syslog) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
		syslog(prio[lvl], "%s", line);
	}
	if (log_sink != NULL)
		log_sink(lvl, line, log_sink_arg);
}

#define LOG_BODY(lvl, tag, errnum)              \
	do {                                    \
		va_list ap;                     \
		va_start(ap, fmt);              \
		log_vemit(lvl, tag, errnum, fmt, ap); \
		va_end(ap);                     \
	} while (0)

void log_errorx(const char *fmt, ...) { LOG_BODY(LOG_LVL_ERROR, "error: ", 0); }
void log_warnx(const char *fmt, ...) { LOG_BODY(LOG_LVL_WARN, "warning: ", 0); }
void log_info(const char *fmt, ...) { LOG_BODY(LOG_LVL_INFO, "", 0); }
void log_debug(const char *fmt, ...) { LOG_BODY(LOG_LVL_DEBUG, "debug: ", 0); }

void log_warn(const char *fmt, ...)
{
	int e = errno;
	LOG_BODY(LOG_LVL_WARN, "warning: ", e);
}

const char *log_untag(const char *msg)
{
	static const char *const tags[] = { "error: ", "warning: ", "debug: " };
	for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
		if (strncmp(msg, tags[i], strlen(tags[i])) == 0)
			return msg + strlen(tags[i]);
	return msg;
}

const char *coffer_strerror(int neg_errno)
{
	switch (-neg_errno) {
	case EBADMSG:
		return "data is corrupt or failed authentication";
	case ENOTSUP:
		return "unsupported format or version";
	case EPROTO:
		return "protocol violation";
	default:
		return strerror(-neg_errno);
	}
}
