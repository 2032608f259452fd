/*
 * Fuzz harness for calendars (sched/calendar.h): any bytes must give either
 * -EINVAL with a message, or a calendar whose canonical text re-parses to
 * the same calendar and whose next firing times, from fixed instants around
 * the Europe/Berlin daylight-saving changes, are later than the start, fall
 * on a minute the bitmaps accept, are first occurrences of their wall-clock
 * time, and have no earlier firing time within a few hours of the start.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched/calendar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The wall-clock time of t read as UTC seconds (timegm does not use TZ). */
static int64_t wall(int64_t t, struct tm *tm)
{
	time_t tt = (time_t)t;
	if (localtime_r(&tt, tm) == NULL)
		abort();
	return (int64_t)timegm(tm);
}

static int fires(const struct calendar *c, const struct tm *tm)
{
	int dom = (c->days >> tm->tm_mday) & 1, dow = (c->weekdays >> tm->tm_wday) & 1;
	int day = c->dom_restricted && c->dow_restricted ? dom || dow : dom && dow;
	return tm->tm_sec == 0 && ((c->minutes >> tm->tm_min) & 1) &&
	       ((c->hours >> tm->tm_hour) & 1) && ((c->months >> (tm->tm_mon + 1)) & 1) &&
	       day;
}

static int same(const struct calendar *a, const struct calendar *b)
{
	return a->minutes == b->minutes && a->hours == b->hours && a->days == b->days &&
	       a->months == b->months && a->weekdays == b->weekdays &&
	       a->dom_restricted == b->dom_restricted &&
	       a->dow_restricted == b->dow_restricted;
}

/*
 * Checks calendar_next from after: the result fires and is new, and no
 * whole minute in (after, min(result, after + 4 h)) is a new firing
 * wall-clock time ("new": later than every wall-clock time since 2 hours
 * before after, i.e. its first occurrence).
 */
static void check_next(const struct calendar *c, int64_t after)
{
	int64_t next = -1;
	int e = calendar_next(c, after, &next);
	if (e != 0 && e != -ENOENT)
		abort();
	if (e == 0 && (next <= after || next % 60 != 0))
		abort();
	int64_t end = after + 4 * 3600;
	if (e == 0 && next < end)
		end = next;
	int64_t maxwall = INT64_MIN;
	struct tm tm;
	for (int64_t t = (after - 2 * 3600) / 60 * 60; t <= end; t += 60) {
		int64_t w = wall(t, &tm);
		int fresh = w > maxwall;
		if (fresh)
			maxwall = w;
		if (t <= after)
			continue;
		int hit = fresh && fires(c, &tm);
		if (e == 0 && t == next) {
			if (!hit)
				abort(); /* the result does not fire, or is a repeat */
		} else if (hit) {
			abort(); /* an earlier firing time was missed */
		}
	}
	/* Beyond the scanned hours, the result still has to fire. */
	if (e == 0 && (wall(next, &tm), !fires(c, &tm)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int tz_set;
	if (!tz_set) {
		setenv("TZ", "Europe/Berlin", 1);
		tzset();
		tz_set = 1;
	}
	char spec[CALENDAR_SPEC_MAX + 2];
	size_t n = size < sizeof spec - 1 ? size : sizeof spec - 1;
	memcpy(spec, data, n);
	spec[n] = 0;

	struct calendar c;
	char why[200];
	why[0] = 0;
	if (calendar_parse(spec, &c, why, sizeof why) != 0) {
		if (why[0] == 0 || memchr(why, 0, sizeof why) == NULL)
			abort();
		return 0;
	}
	/* Canonical text: fits, re-parses to the same calendar, is a fixed point. */
	char text[CALENDAR_SPEC_MAX + 1], text2[CALENDAR_SPEC_MAX + 1];
	struct calendar back;
	calendar_format(&c, text, sizeof text);
	if (strlen(text) > CALENDAR_SPEC_MAX ||
	    calendar_parse(text, &back, why, sizeof why) != 0 || !same(&c, &back))
		abort();
	calendar_format(&back, text2, sizeof text2);
	if (strcmp(text, text2) != 0)
		abort();

	static const int64_t starts[] = {
		INT64_C(1767225600),      /* 2026-01-01 00:00:00 UTC */
		INT64_C(1774745940) + 17, /* 2026-03-29 01:59:17 CET, before the gap */
		INT64_C(1792886400) + 60, /* 2026-10-25 02:01 CEST, first pass */
		INT64_C(1792890000) + 90, /* 2026-10-25 02:01:30 CET, second pass */
		INT64_C(1835395199),      /* 2028-02-28 23:59:59 UTC */
	};
	for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
		check_next(&c, starts[i]);
	return 0;
}
