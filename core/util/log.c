/* Logging; see log.h. */
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *log_prog = "coffer";
static enum log_level log_max = LOG_LVL_INFO;

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
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (errnum)
		fprintf(stderr, "%s: %s%s: %s\n", log_prog, tag, msg, strerror(errnum));
	else
		fprintf(stderr, "%s: %s%s\n", log_prog, tag, msg);
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
