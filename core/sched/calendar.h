/*
 * Calendars: the cron expressions that say when a dataset's scheduled jobs
 * run (`coffer policy set NAME --calendar SPEC`, docs/daemons.md "Policies"),
 * parsed into bitmaps, and the next firing time computed from them. Pure
 * functions of their arguments and the local time zone: no I/O, no
 * allocation, no state, so the scheduler can call them for every dataset on
 * every tick and the parser can be fuzzed.
 *
 * Syntax: five fields "minute hour day-of-month month weekday", separated by
 * spaces or tabs. Each field is a comma list of items; an item is
 *
 *   *        every value of the field
 *   N        one value
 *   A-B      A to B inclusive (A <= B; no wrap-around)
 *   *\/S     every S-th value from the first (minute 0, day 1, Sunday...)
 *   A-B/S    every S-th value from A to B
 *   N/S      every S-th value from N to the end of the field
 *
 * ("*\/" stands for star-slash in these comments, which it would end.)
 * minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or jan..dec, weekday
 * 0-7 or sun..sat (0 and 7 are both Sunday; "*" and N/S end at Saturday).
 * Names are three letters, case-insensitive. Numbers have one or two digits;
 * a step is 1 up to the number of values in its field (*\/60 for minutes).
 * Shorthands (case-insensitive, standing alone): @hourly "0 * * * *",
 * @daily and @midnight "0 0 * * *", @weekly "0 0 * * 0" (Sunday 00:00),
 * @monthly "0 0 1 * *", @yearly and @annually "0 0 1 1 *".
 *
 * Days (the Vixie cron rule): when both day-of-month and weekday are
 * restricted, a day matches if EITHER field matches ("0 0 13 * 5": every
 * 13th and every Friday); otherwise it must match both. As in crontab(5), a
 * field is unrestricted when it contains '*', so "*\/2" is unrestricted
 * ("0 0 *\/2 * 1" is odd-numbered Mondays) while "1-31" is restricted
 * ("0 0 1-31 * 1" is every day).
 *
 * Time: firing times are wall-clock times in the local time zone, as given
 * by the TZ environment variable (re-read through tzset() on each
 * calendar_next call; unset means /etc/localtime), always at second 0.
 * Around daylight-saving changes:
 *  - a wall-clock time that does not exist on a day (the spring-forward
 *    gap, 02:00-02:59 in Europe/Berlin on the last Sunday of March) does
 *    not fire that day: "30 2 * * *" skips that day, "0 * * * *" has no
 *    02:00 run and goes from 01:00 to 03:00 (one hour apart);
 *  - a wall-clock time that occurs twice (the fall-back overlap) fires
 *    once, at its first occurrence (summer time): "30 2 * * *" fires at
 *    02:30 CEST, not again at 02:30 CET; "0 * * * *" fires at 02:00 CEST
 *    and next at 03:00 CET, two hours later.
 * So each wall-clock time fires at most once, and firing instants increase
 * with wall-clock time.
 */
#ifndef COFFER_SCHED_CALENDAR_H
#define COFFER_SCHED_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CALENDAR_SPEC_MAX 128 /* longest spec accepted, and longest canonical text */

/* calendar_next searches this many days past `after` (five years, with leap days). */
#define CALENDAR_HORIZON_DAYS 1827
/* Latest `after` calendar_next accepts: 9999-12-31 23:59:59 UTC. */
#define CALENDAR_TIME_MAX INT64_C(253402300799)

struct calendar {
	uint64_t minutes;     /* bit m set: fires at minute m, 0-59 */
	uint32_t hours;       /* bit h: hour 0-23 */
	uint32_t days;        /* bit d: day of month 1-31 (bit 0 unused) */
	uint16_t months;      /* bit m: month 1-12 (bit 0 unused) */
	uint8_t weekdays;     /* bit w: weekday 0-6, Sunday 0 (a 7 in the spec sets bit 0) */
	bool dom_restricted;  /* day-of-month field has no '*' */
	bool dow_restricted;  /* weekday field has no '*' */
};

/*
 * Parses spec, a NUL-terminated string of which at most CALENDAR_SPEC_MAX + 1
 * bytes are read, into *out. Leading and
 * trailing blanks are ignored. Returns 0, or -EINVAL after writing into why
 * (size bytes, always NUL-terminated; why may be NULL when size is 0) one
 * sentence naming the problem and, when it lies in one field, that field:
 * "field 2 (hour): 24 is out of range 0-23". Refused: an empty spec, more
 * than CALENDAR_SPEC_MAX characters, a field count other than 5 (or a
 * shorthand with other fields), unknown shorthands, characters outside the
 * syntax, empty list items, numbers of more than 2 digits, values out of
 * range, unknown names or names outside month and weekday, reversed ranges,
 * step 0 or larger than the field, and calendars whose canonical text (see
 * calendar_format) would be longer than CALENDAR_SPEC_MAX, so that every
 * parsed calendar can be stored as its canonical text. *out is written only
 * on success.
 */
int calendar_parse(const char *spec, struct calendar *out, char *why, size_t size);

/*
 * Sets *next to the first instant strictly after `after` (Unix seconds) at
 * which c fires, by the rules of the file comment: a wall-clock minute in
 * the local time zone (TZ), second 0, its first occurrence, skipped on days
 * it does not exist. The search runs by month, day, hour and minute over the
 * bitmaps, resolving only matching wall-clock times to instants, so an
 * impossible calendar costs about 60 months of arithmetic, not 2.6 million
 * minutes. Returns 0; -ENOENT (*next untouched) if c does not fire within
 * CALENDAR_HORIZON_DAYS days of `after` (e.g. "0 0 30 2 *", or "0 0 29 2 *"
 * from 2096-03-01, since 2100 is not a leap year); -ERANGE if `after` is
 * negative or later than CALENDAR_TIME_MAX.
 */
int calendar_next(const struct calendar *c, int64_t after, int64_t *next);

/*
 * Writes the canonical text of c (from calendar_parse) into buf (size
 * bytes, always NUL-terminated, truncated if short; CALENDAR_SPEC_MAX + 1
 * always suffices). It is always five numeric fields, shorthands and names
 * expanded: "@daily" becomes "0 0 * * *", "mon-fri" "1-5", weekday 7 "0".
 * A full field is "*" (or "1-31", "0-6" when a restricted day field is
 * full); otherwise a comma list, in increasing order, of values, ranges and
 * stepped ranges ("*\/S", "A-B/S"), chosen greedily by how many values each
 * covers, and replaced by plain values and ranges when those are no longer
 * ("*\/15", "0,30", "5,25,45", "0,5-59/2"). The restriction of the day
 * fields is kept: "1-31" stays "1-31", "*\/2" stays "*\/2", and an
 * unrestricted field that is no "*\/S" plus extras gains a leading "*\/31"
 * or "*\/7" (the first value alone). The text depends only on c: two
 * calendars are equal exactly when their texts are, and calendar_parse of
 * the text gives back c.
 */
void calendar_format(const struct calendar *c, char *buf, size_t size);

#endif
