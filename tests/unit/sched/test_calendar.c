/*
 * Calendars (sched/calendar.h): the syntax, each refusal, the canonical
 * text, and next firing times: exact instants worked out by hand in UTC,
 * the daylight-saving rules in Europe/Berlin, and a minute-by-minute oracle
 * around the transitions of zones with 1-hour and 30-minute shifts.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sched/calendar.h"

#define DAY 86400
#define JAN1_2026 INT64_C(1767225600) /* 2026-01-01 00:00:00 UTC, a Thursday */

static void set_tz(const char *tz)
{
	assert_int_equal(setenv("TZ", tz, 1), 0);
	tzset();
}

static int setup_utc(void **state)
{
	(void)state;
	set_tz("UTC");
	return 0;
}

static struct calendar parse_ok(const char *spec)
{
	struct calendar c;
	char why[256] = "";
	int e = calendar_parse(spec, &c, why, sizeof why);
	if (e != 0)
		fail_msg("'%s' refused: %s", spec, why);
	return c;
}

static int64_t next_ok(const struct calendar *c, int64_t after)
{
	int64_t n = -1;
	assert_int_equal(calendar_next(c, after, &n), 0);
	assert_true(n > after);
	assert_int_equal(n % 60, 0);
	return n;
}

/* spec fires at want[0], want[1], ... in turn from after. */
static void expect_seq(const char *spec, int64_t after, const int64_t *want, size_t n)
{
	struct calendar c = parse_ok(spec);
	for (size_t i = 0; i < n; i++) {
		int64_t got = next_ok(&c, after);
		if (got != want[i])
			fail_msg("'%s' after %lld: got %lld, want %lld (step %zu)", spec,
				 (long long)after, (long long)got, (long long)want[i], i);
		after = got;
	}
}

static void expect_next(const char *spec, int64_t after, int64_t want)
{
	expect_seq(spec, after, &want, 1);
}

static int cal_equal(const struct calendar *a, const struct calendar *b)
{
	return a->minutes == b->minutes && a->hours == b->hours && a->days == b->days &&
	       a->months == b->months && a->weekdays == b->weekdays &&
	       a->dom_restricted == b->dom_restricted &&
	       a->dow_restricted == b->dow_restricted;
}

static uint64_t bits(int a, int b)
{
	uint64_t m = 0;
	for (int i = a; i <= b; i++)
		m |= UINT64_C(1) << i;
	return m;
}

static void test_shorthands(void **state)
{
	(void)state;
	struct calendar c = parse_ok("@hourly");
	assert_int_equal(c.minutes, 1);
	assert_int_equal(c.hours, bits(0, 23));
	assert_int_equal(c.days, bits(1, 31));
	assert_int_equal(c.months, bits(1, 12));
	assert_int_equal(c.weekdays, bits(0, 6));
	assert_false(c.dom_restricted);
	assert_false(c.dow_restricted);
	expect_next("@hourly", JAN1_2026, JAN1_2026 + 3600);
	expect_next("@daily", JAN1_2026, JAN1_2026 + DAY);
	expect_next("@midnight", JAN1_2026 - 1, JAN1_2026);
	/* Thursday 1 January: the next Sunday is the 4th. */
	expect_next("@weekly", JAN1_2026, JAN1_2026 + 3 * DAY);
	c = parse_ok("@weekly");
	assert_int_equal(c.weekdays, 1);
	assert_true(c.dow_restricted);
	expect_next("@monthly", JAN1_2026, JAN1_2026 + 31 * DAY);
	expect_next("@yearly", JAN1_2026, JAN1_2026 + 365 * DAY);
	expect_next("@annually", JAN1_2026 + 100, JAN1_2026 + 365 * DAY);
	/* Case-insensitive, blanks around allowed; equal to their expansions. */
	struct calendar a = parse_ok("  @DAILY\t"), b = parse_ok("0 0 * * *");
	assert_true(cal_equal(&a, &b));
	a = parse_ok("@Midnight");
	assert_true(cal_equal(&a, &b));
	a = parse_ok("@annually");
	b = parse_ok("0 0 1 1 *");
	assert_true(cal_equal(&a, &b));
	a = parse_ok("@monthly");
	b = parse_ok("0 0 1 * *");
	assert_true(cal_equal(&a, &b));
}

static void test_lists_ranges_steps(void **state)
{
	(void)state;
	struct calendar c = parse_ok("0,15,30,45 1-5 */10 1-12/3 *");
	assert_int_equal(c.minutes, (1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45));
	assert_int_equal(c.hours, bits(1, 5));
	assert_int_equal(c.days, (1u << 1) | (1u << 11) | (1u << 21) | (1u << 31));
	assert_int_equal(c.months, (1u << 1) | (1u << 4) | (1u << 7) | (1u << 10));
	assert_false(c.dom_restricted); /* "*\/10" contains '*' */
	assert_false(c.dow_restricted);
	c = parse_ok("5/20 10-20/5 3,1-2 2 *");
	assert_int_equal(c.minutes, (1ull << 5) | (1ull << 25) | (1ull << 45));
	assert_int_equal(c.hours, (1u << 10) | (1u << 15) | (1u << 20));
	assert_int_equal(c.days, bits(1, 3));
	assert_int_equal(c.months, 1u << 2);
	assert_true(c.dom_restricted);
	/* Overlapping items and leading zeros. */
	c = parse_ok("07,7,0-10/7 00 01 * *");
	assert_int_equal(c.minutes, (1ull << 0) | (1ull << 7));
	assert_int_equal(c.hours, 1);
	assert_int_equal(c.days, 2);
	/* The largest steps: the first value alone. */
	c = parse_ok("*/60 */24 */31 */12 */7");
	assert_int_equal(c.minutes, 1);
	assert_int_equal(c.hours, 1);
	assert_int_equal(c.days, 2);
	assert_int_equal(c.months, 2);
	assert_int_equal(c.weekdays, 1);
	/* Next times: every 20 minutes from :05, during 10:00-20:59. */
	int64_t want[] = {
		JAN1_2026 + 10 * 3600 + 5 * 60,  JAN1_2026 + 10 * 3600 + 25 * 60,
		JAN1_2026 + 10 * 3600 + 45 * 60, JAN1_2026 + 11 * 3600 + 5 * 60,
	};
	expect_seq("5/20 10-20 * * *", JAN1_2026, want, 4);
	expect_next("5/20 10-20 * * *", JAN1_2026 + 20 * 3600 + 45 * 60,
		    JAN1_2026 + DAY + 10 * 3600 + 5 * 60);
}

static void test_names(void **state)
{
	(void)state;
	struct calendar a = parse_ok("0 0 * JAN-Mar,jul mon-FRI");
	struct calendar b = parse_ok("0 0 * 1-3,7 1-5");
	assert_true(cal_equal(&a, &b));
	a = parse_ok("0 0 * jan/3 sun,sat");
	assert_int_equal(a.months, (1u << 1) | (1u << 4) | (1u << 7) | (1u << 10));
	assert_int_equal(a.weekdays, (1u << 0) | (1u << 6));
	a = parse_ok("0 0 * dec tue-thu/2");
	assert_int_equal(a.months, 1u << 12);
	assert_int_equal(a.weekdays, (1u << 2) | (1u << 4));
	/* Saturday 3 January 10:00: the next weekday 09:00 is Monday the 5th. */
	expect_next("0 9 * * mon-fri", JAN1_2026 + 2 * DAY + 10 * 3600,
		    JAN1_2026 + 4 * DAY + 9 * 3600);
}

static void test_weekday7(void **state)
{
	(void)state;
	struct calendar a = parse_ok("0 0 * * 7"), b = parse_ok("0 0 * * 0");
	assert_true(cal_equal(&a, &b));
	a = parse_ok("0 0 * * 5-7");
	assert_int_equal(a.weekdays, (1u << 5) | (1u << 6) | (1u << 0));
	a = parse_ok("0 0 * * 0-7");
	assert_int_equal(a.weekdays, bits(0, 6));
	a = parse_ok("0 0 * * 7/3"); /* N/S from 7: Sunday alone */
	assert_int_equal(a.weekdays, 1);
	/* Thursday 1 January: Sunday the 4th. */
	expect_next("0 0 * * 7", JAN1_2026, JAN1_2026 + 3 * DAY);
	/* Friday, Saturday, Sunday, then Friday again. */
	int64_t want[] = { JAN1_2026 + DAY, JAN1_2026 + 2 * DAY, JAN1_2026 + 3 * DAY,
			   JAN1_2026 + 8 * DAY };
	expect_seq("0 0 * * 5-7", JAN1_2026, want, 4);
}

static void test_dom_dow_rule(void **state)
{
	(void)state;
	const int64_t noon = JAN1_2026 + 12 * 3600;
	/* Both restricted: the 1st OR a Friday (2, 9, 16, 23, 30 January). */
	int64_t either[] = { noon,           noon + DAY,      noon + 8 * DAY,
			     noon + 15 * DAY, noon + 22 * DAY, noon + 29 * DAY,
			     noon + 31 * DAY /* Sunday 1 February */,
			     noon + 36 * DAY /* Friday 6 February */ };
	expect_seq("0 12 1 * 5", JAN1_2026, either, 8);
	/* Weekday alone, day of month alone. */
	int64_t fridays[] = { noon + DAY, noon + 8 * DAY, noon + 15 * DAY };
	expect_seq("0 12 * * fri", JAN1_2026, fridays, 3);
	int64_t firsts[] = { noon, noon + 31 * DAY, noon + 59 * DAY };
	expect_seq("0 12 1 * *", JAN1_2026, firsts, 3);
	/* "*\/2" counts as unrestricted: odd days that are Fridays (9, 23 Jan, 13 Feb). */
	int64_t both[] = { noon + 8 * DAY, noon + 22 * DAY, noon + 43 * DAY };
	expect_seq("0 12 */2 * 5", JAN1_2026, both, 3);
	/* "1-31" is restricted: every day OR Monday, so every day. */
	int64_t daily[] = { noon, noon + DAY, noon + 2 * DAY };
	expect_seq("0 12 1-31 * 1", JAN1_2026, daily, 3);
	/*
	 * Weekday "*\/2" (Sun, Tue, Thu, Sat) is unrestricted: a 1st that is one of
	 * those. Thu 1 Jan, Sun 1 Feb, Sun 1 Mar; April to July start on Wed, Fri,
	 * Mon, Wed; Sat 1 Aug.
	 */
	int64_t both2[] = { noon, noon + 31 * DAY, noon + 59 * DAY, noon + 212 * DAY };
	expect_seq("0 12 1 * */2", JAN1_2026 - 1, both2, 4);
}

static void test_month_ends(void **state)
{
	(void)state;
	/* From exactly a firing time (31 January): 31 March, May, July, August. */
	int64_t want[] = { INT64_C(1774915200), INT64_C(1780185600), INT64_C(1785456000),
			   INT64_C(1788134400) };
	expect_seq("0 0 31 * *", INT64_C(1769817600), want, 4);
	/* 30th: every month but February. */
	expect_next("0 0 30 * *", JAN1_2026 + 29 * DAY, JAN1_2026 + (31 + 28 + 29) * DAY);
}

static void test_leap_day(void **state)
{
	(void)state;
	/* From 2025-03-01: 2028-02-29, then 2032-02-29. */
	int64_t want[] = { INT64_C(1835395200), INT64_C(1961625600) };
	expect_seq("0 0 29 2 *", INT64_C(1740787200), want, 2);
	/* From 2096-03-01 the next is 2104 (2100 is not a leap year): beyond 5 years. */
	struct calendar c = parse_ok("0 0 29 2 *");
	int64_t n = 42;
	assert_int_equal(calendar_next(&c, INT64_C(3981398400), &n), -ENOENT);
	assert_int_equal(n, 42);
	/* 2000 was one: from 1999-03-01 (920246400) to 2000-02-29 (951782400). */
	expect_next("0 0 29 2 *", INT64_C(920246400), INT64_C(951782400));
}

static void test_impossible(void **state)
{
	(void)state;
	static const char *const specs[] = {
		"0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 31 2 */2", "0 0 30,31 feb *",
	};
	for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
		struct calendar c = parse_ok(specs[i]);
		int64_t n = 42;
		assert_int_equal(calendar_next(&c, JAN1_2026, &n), -ENOENT);
		assert_int_equal(n, 42);
	}
	/* Fast: no minute-by-minute walk. */
	struct calendar c = parse_ok("0 0 30 2 *");
	enum { RUNS = 20000 };
	struct timespec t0, t1;
	int64_t n;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < RUNS; i++)
		assert_int_equal(calendar_next(&c, JAN1_2026 + i * 997, &n), -ENOENT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
		     (double)(t1.tv_nsec - t0.tv_nsec)) / RUNS;
	print_message("calendar_next(\"0 0 30 2 *\") -> -ENOENT: %.0f ns per call\n", ns);
	assert_true(ns < 100000.0); /* 0.1 ms even under the sanitizers */
}

static void test_refused(void **state)
{
	(void)state;
	static const struct {
		const char *spec;
		const char *why; /* a part of the message */
	} bad[] = {
		{ "", "empty" },
		{ " \t ", "empty" },
		{ "* * * *", "expected 5 fields" },
		{ "* * * * * *", "found 6" },
		{ "0 0 * * * @daily", "found 6" },
		{ "@reboot", "unknown shorthand '@reboot'" },
		{ "@", "unknown shorthand" },
		{ "@daily *", "must be the whole calendar" },
		{ "@dai\x01ly", "unknown shorthand '@dai\\x01ly'" },
		{ "60 * * * *", "field 1 (minute): 60 is out of range 0-59" },
		{ "* 24 * * *", "field 2 (hour): 24 is out of range 0-23" },
		{ "* * 0 * *", "field 3 (day-of-month): 0 is out of range 1-31" },
		{ "* * 32 * *", "field 3 (day-of-month): 32 is out of range" },
		{ "* * * 0 *", "field 4 (month): 0 is out of range 1-12" },
		{ "* * * 13 *", "field 4 (month): 13 is out of range" },
		{ "* * * * 8", "field 5 (weekday): 8 is out of range 0-7" },
		{ "1-60 * * * *", "field 1 (minute): range end 60 is out of range" },
		{ "30-10 * * * *", "field 1 (minute): range 30-10 is reversed" },
		{ "* * * * fri-mon", "field 5 (weekday): range 5-1 is reversed" },
		{ "*/0 * * * *", "field 1 (minute): step 0" },
		{ "* 1-5/0 * * *", "field 2 (hour): step 0" },
		{ "*/61 * * * *", "field 1 (minute): step 61 is larger" },
		{ "* * * */13 *", "field 4 (month): step 13 is larger" },
		{ "* * * * */8", "field 5 (weekday): step 8 is larger" },
		{ "* * * * 1#2", "field 5 (weekday): unexpected character '#'" },
		{ "* * * * L", "field 5 (weekday): unknown weekday name 'L'" },
		{ "* * 15W * *", "field 3 (day-of-month): unexpected 'W' in item '15W'" },
		{ "* * ? * *", "field 3 (day-of-month): unexpected character '?'" },
		{ "a * * * *", "field 1 (minute): names such as 'a'" },
		{ "* 1\n * * *", "field 2 (hour): unexpected character '\\x0a'" },
		{ "* * * * mon\xc3\xa9", "field 5 (weekday): unexpected character '\\xc3'" },
		{ "100 * * * *", "field 1 (minute): number '100' has more than 2 digits" },
		{ "001 * * * *", "field 1 (minute): number '001' has more than 2 digits" },
		{ "*/005 * * * *", "field 1 (minute): step '005' has more than 2 digits" },
		{ "* * * foo *", "field 4 (month): unknown month name 'foo'" },
		{ "* * * january *", "field 4 (month): unknown month name 'january'" },
		{ "* * * * monday", "field 5 (weekday): unknown weekday name 'monday'" },
		{ "* * * * mon-", "field 5 (weekday): missing range end value" },
		{ "-5 * * * *", "field 1 (minute): expected a number, found '-'" },
		{ "1-2-3 * * * *", "field 1 (minute): unexpected '-' in item '1-2-3'" },
		{ "*5 * * * *", "field 1 (minute): unexpected '5' in item '*5'" },
		{ "5* * * * *", "field 1 (minute): unexpected '*' in item '5*'" },
		{ "1/2/3 * * * *", "field 1 (minute): unexpected '/' in item '1/2/3'" },
		{ "*-5 * * * *", "field 1 (minute): unexpected '-' in item '*-5'" },
		{ "/5 * * * *", "field 1 (minute): expected a number, found '/'" },
		{ "*/ * * * *", "field 1 (minute): missing step" },
		{ ",1 * * * *", "field 1 (minute): empty item" },
		{ "1, * * * *", "field 1 (minute): empty item" },
		{ "* 1,,2 * * *", "field 2 (hour): empty item" },
		{ "0 0 * * 0@", "field 5 (weekday): unexpected character '@'" },
		/* 126 characters whose canonical text needs 129 (found by a search). */
		{ "19/15,23,4/26,40,50-51/20,17/5,24/7,9,8,38/15,43 23/11,4/11,8,1,17,10/3,2,"
		  "1/12 18/4,11/13,4,1/7,16,5,9 1-1/4,8,2/5,5/2,4 2,0/3",
		  "too complex: its canonical form would have 129 characters" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct calendar c, before;
		memset(&c, 0xa5, sizeof c);
		before = c;
		char why[256] = "";
		int e = calendar_parse(bad[i].spec, &c, why, sizeof why);
		if (e != -EINVAL || strstr(why, bad[i].why) == NULL)
			fail_msg("'%s': got %d \"%s\", want -EINVAL \"%s\"", bad[i].spec, e,
				 why, bad[i].why);
		assert_memory_equal(&c, &before, sizeof c);
	}
	/* The exact sentence. */
	char why[256];
	struct calendar c;
	assert_int_equal(calendar_parse("* 24 * * *", &c, why, sizeof why), -EINVAL);
	assert_string_equal(why, "field 2 (hour): 24 is out of range 0-23");
	/* Length: 128 characters pass, 129 do not (even when only blanks are added). */
	char spec[CALENDAR_SPEC_MAX + 2];
	memset(spec, ' ', sizeof spec);
	memcpy(spec + CALENDAR_SPEC_MAX - 9, "0 0 * * *", 9);
	spec[CALENDAR_SPEC_MAX] = 0;
	assert_int_equal(calendar_parse(spec, &c, why, sizeof why), 0);
	spec[CALENDAR_SPEC_MAX] = ' ';
	spec[CALENDAR_SPEC_MAX + 1] = 0;
	assert_int_equal(calendar_parse(spec, &c, why, sizeof why), -EINVAL);
	assert_non_null(strstr(why, "longer than 128 characters"));
	/* why may be absent or tiny; it is always terminated. */
	assert_int_equal(calendar_parse("x", &c, NULL, 0), -EINVAL);
	char tiny[6];
	assert_int_equal(calendar_parse("* 24 * * *", &c, tiny, sizeof tiny), -EINVAL);
	assert_string_equal(tiny, "field");
	assert_int_equal(calendar_parse(NULL, &c, why, sizeof why), -EINVAL);
}

static void test_format(void **state)
{
	(void)state;
	static const struct {
		const char *spec, *canon;
	} v[] = {
		{ "@hourly", "0 * * * *" },
		{ "@daily", "0 0 * * *" },
		{ "@weekly", "0 0 * * 0" },
		{ "@monthly", "0 0 1 * *" },
		{ "@yearly", "0 0 1 1 *" },
		{ "*/15 * * * *", "*/15 * * * *" },
		{ "0,15,30,45 * * * *", "*/15 * * * *" },
		{ "0,30 * * * *", "0,30 * * * *" },
		{ "5/20 * * * *", "5,25,45 * * * *" },
		{ "5/10 * * * *", "5-55/10 * * * *" },
		{ "*/5,1-3 * * * *", "*/5,1-3 * * * *" },
		{ "1,2 3 4 5 6", "1-2 3 4 5 6" },
		{ "0-59 0-23 * 1-12 *", "* * * * *" },
		{ "0 9 * * mon-fri", "0 9 * * 1-5" },
		{ "0 0 * * 7", "0 0 * * 0" },
		{ "0 0 * * 5-7", "0 0 * * 0,5-6" },
		{ "0 0 * * 0-7", "0 0 * * 0-6" },
		{ "0 0 1-31 * *", "0 0 1-31 * *" },
		{ "0 0 */2 * 1", "0 0 */2 * 1" },
		{ "0 0 1-31/2 * *", "0 0 1-31/2 * *" },
		{ "0 12 * * */2", "0 12 * * */2" },
		{ "0 0 */10,5 * 1", "0 0 */10,5 * 1" },
		{ "0 0 */22 * 1", "0 0 */22 * 1" },
		{ "0 0 1,5,9 * 1", "0 0 1,5,9 * 1" },
		{ "0 0 1,5,9,13 * 1", "0 0 1-13/4 * 1" },
		{ "0 0 *,5 * 1", "0 0 * * 1" },
		{ "0 0 */31,5-6 * 1", "0 0 */31,5-6 * 1" },
		{ "5/2,0 * * * *", "0,5-59/2 * * * *" },
		{ "0-58/2,1-59/3 * * * *", "*/2,1-58/3 * * * *" },
		{ "0-20,50 * * * *", "0-20,50 * * * *" },
		{ "0,1,2,4 * * * *", "0-2,4 * * * *" },
		{ "0 0 *,5 * *", "0 0 * * *" },
		{ "0 0 * jan,JUL *", "0 0 * 1,7 *" },
		{ "10-20,15-30,50 */6 1,3,5,7 * *", "10-30,50 */6 1-7/2 * *" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct calendar c = parse_ok(v[i].spec);
		char text[CALENDAR_SPEC_MAX + 1];
		calendar_format(&c, text, sizeof text);
		if (strcmp(text, v[i].canon) != 0)
			fail_msg("'%s' formats as '%s', want '%s'", v[i].spec, text,
				 v[i].canon);
		struct calendar again = parse_ok(text);
		assert_true(cal_equal(&c, &again));
	}
	/* Truncation keeps a terminated prefix. */
	struct calendar c = parse_ok("@daily");
	char small[4];
	calendar_format(&c, small, sizeof small);
	assert_string_equal(small, "0 0");
	/* An unrestricted day field in any spelling keeps the both-must-match rule. */
	struct calendar a = parse_ok("0 0 */10,5 * 1");
	struct calendar b = parse_ok("0 0 */31,5,11,21,31 * 1");
	int64_t na, nb;
	assert_int_equal(calendar_next(&a, JAN1_2026, &na), 0);
	assert_int_equal(calendar_next(&b, JAN1_2026, &nb), 0);
	assert_int_equal(na, nb);
	/* Monday 5 January 2026. */
	assert_int_equal(na, JAN1_2026 + 4 * DAY);
}

static void test_utc_exact(void **state)
{
	(void)state;
	/* Exactly on a firing time: the next one, never the same. */
	int64_t q[] = { JAN1_2026 + 900, JAN1_2026 + 1800, JAN1_2026 + 2700,
			JAN1_2026 + 3600 };
	expect_seq("*/15 * * * *", JAN1_2026, q, 4);
	expect_next("*/15 * * * *", JAN1_2026 - 1, JAN1_2026);
	expect_next("* * * * *", JAN1_2026 + 30, JAN1_2026 + 60);
	expect_next("* * * * *", JAN1_2026 + 59, JAN1_2026 + 60);
	expect_next("* * * * *", JAN1_2026, JAN1_2026 + 60);
	/* 04:30 on the 1st: today, then 1 February (1769920200). */
	int64_t first[] = { JAN1_2026 + 4 * 3600 + 1800, INT64_C(1769920200) };
	expect_seq("30 4 1 * *", JAN1_2026, first, 2);
	/* The last minute of the year, from its first second. */
	expect_next("59 23 31 12 *", JAN1_2026, INT64_C(1798761540));
	expect_next("59 23 31 12 *", INT64_C(1798761540), INT64_C(1798761540) + 365 * DAY);
	/* Hour and minute carry: 23:59 -> 00:00 of the next month and year. */
	expect_next("0 0 * * *", INT64_C(1798761540), INT64_C(1798761600));
	/* A leap-year 31 December to 1 January: 2028-12-31 23:30 -> 2029-01-01 00:15. */
	expect_next("15 0 * * *", INT64_C(1861918200), INT64_C(1861920900));
	/* The last second accepted; year 10000 is computed. */
	expect_next("* * * * *", CALENDAR_TIME_MAX, CALENDAR_TIME_MAX + 1);
	/* Early times too: 1970-01-01 00:00:00 -> 00:01. */
	expect_next("* * * * *", 0, 60);
}

static void test_range(void **state)
{
	(void)state;
	struct calendar c = parse_ok("* * * * *");
	int64_t n = 42;
	assert_int_equal(calendar_next(&c, -1, &n), -ERANGE);
	assert_int_equal(calendar_next(&c, CALENDAR_TIME_MAX + 1, &n), -ERANGE);
	assert_int_equal(calendar_next(&c, INT64_MAX, &n), -ERANGE);
	assert_int_equal(n, 42);
}

static void test_dst_gap(void **state)
{
	(void)state;
	set_tz("Europe/Berlin");
	/* 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist. */
	expect_next("30 2 * * *", INT64_C(1774663200) /* Sat 28 03:00 CET */,
		    INT64_C(1774830600) /* Mon 30 02:30 CEST */);
	expect_next("30 2 * * *", INT64_C(1774738800) /* Sun 29 00:00 CET */,
		    INT64_C(1774830600));
	expect_next("30 2 29 3 *", INT64_C(1774663200), INT64_C(1774830600) + 364 * DAY);
	/* 01:59 CET -> 03:00 CEST, one minute later. */
	expect_next("* * * * *", INT64_C(1774745940), INT64_C(1774746000));
	expect_next("* 2 * * *", INT64_C(1774745940), INT64_C(1774830600) - 1800);
	/* Hourly: 00:00, 01:00 CET, 03:00, 04:00 CEST. */
	int64_t hourly[] = { INT64_C(1774738800), INT64_C(1774742400), INT64_C(1774746000),
			     INT64_C(1774749600) };
	expect_seq("0 * * * *", INT64_C(1774737000), hourly, 4);
	set_tz("UTC");
}

static void test_dst_overlap(void **state)
{
	(void)state;
	set_tz("Europe/Berlin");
	/* 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 occurs twice. */
	int64_t once[] = { INT64_C(1792888200) /* 25th 02:30 CEST */,
			   INT64_C(1792978200) /* 26th 02:30 CET */ };
	expect_seq("30 2 * * *", INT64_C(1792836000) /* 24th 12:00 */, once, 2);
	expect_next("30 2 * * *", INT64_C(1792888199), INT64_C(1792888200));
	/* From inside the second pass (02:00 CET, 02:29:59 CET): not again that night. */
	expect_next("30 2 * * *", INT64_C(1792890000), INT64_C(1792978200));
	expect_next("30 2 * * *", INT64_C(1792891799), INT64_C(1792978200));
	/* Between the two 02:30s (02:45 CEST). */
	expect_next("30 2 * * *", INT64_C(1792889100), INT64_C(1792978200));
	/* Hourly: 00:00, 01:00, 02:00 CEST, then 03:00, 04:00 CET (02:00 CET skipped). */
	int64_t hourly[] = { INT64_C(1792879200), INT64_C(1792882800), INT64_C(1792886400),
			     INT64_C(1792893600), INT64_C(1792897200) };
	expect_seq("0 * * * *", INT64_C(1792879200) - 1800, hourly, 5);
	/* Every minute: from 02:59 CEST straight to 03:00 CET. */
	expect_next("* * * * *", INT64_C(1792889940), INT64_C(1792893600));
	/* From inside the second pass, the next new wall-clock minute. */
	expect_next("* * * * *", INT64_C(1792890000) + 600, INT64_C(1792893600));
	set_tz("UTC");
}

/*
 * The oracle: instants at whole minutes from after on, each read with
 * localtime_r and matched field by field; a wall-clock time counts only if
 * it is later than every wall-clock time since 3 hours before after (a
 * first occurrence). First firing in (after, after + window], or -1.
 */
static int64_t oracle_next(const struct calendar *c, int64_t after, int64_t window)
{
	int64_t maxwall = INT64_MIN;
	for (int64_t t = (after - 3 * 3600) / 60 * 60; t <= after + window; t += 60) {
		time_t tt = (time_t)t;
		struct tm tm;
		assert_non_null(localtime_r(&tt, &tm));
		int64_t wall = (int64_t)timegm(&tm);
		int fresh = wall > maxwall;
		if (wall > maxwall)
			maxwall = wall;
		if (t <= after || !fresh || tm.tm_sec != 0)
			continue;
		int dom = (c->days >> tm.tm_mday) & 1, dow = (c->weekdays >> tm.tm_wday) & 1;
		int day = c->dom_restricted && c->dow_restricted ? dom || dow : dom && dow;
		if (((c->minutes >> tm.tm_min) & 1) && ((c->hours >> tm.tm_hour) & 1) &&
		    ((c->months >> (tm.tm_mon + 1)) & 1) && day)
			return t;
	}
	return -1;
}

static void test_oracle(void **state)
{
	(void)state;
	static const char *const zones[] = {
		"UTC",		   "Europe/Berlin", "America/New_York",
		"Australia/Lord_Howe", "Asia/Kathmandu",
	};
	static const char *const specs[] = {
		"* * * * *",   "0 * * * *",     "30 2 * * *",      "*/7 * * * *",
		"15,45 1-3 * * *", "0 2 * * 0", "59 1 * * *",      "30 1 * * *",
		"0 0 13 * 5",  "45 1,2 */2 * 0", "0,30 0-3 * * 6,0", "0 3 * * *",
	};
	const int64_t window = 36 * 3600;
	int runs = 0;
	for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
		set_tz(zones[z]);
		/* The zone's offset changes in 2026, found by hourly probes. */
		int64_t changes[4];
		int nch = 0;
		long prev = 0;
		for (int64_t t = JAN1_2026; t < JAN1_2026 + 365 * DAY && nch < 4; t += 900) {
			time_t tt = (time_t)t;
			struct tm tm;
			localtime_r(&tt, &tm);
			if (t != JAN1_2026 && tm.tm_gmtoff != prev)
				changes[nch++] = t;
			prev = tm.tm_gmtoff;
		}
		int64_t starts[64];
		int ns = 0;
		starts[ns++] = JAN1_2026 + 12345;
		starts[ns++] = JAN1_2026 + 100 * DAY + 7;
		for (int i = 0; i < nch; i++)
			for (int k = -6; k <= 6; k++)
				if (ns < 64)
					starts[ns++] =
						changes[i] + k * 900 + (k & 1 ? 59 : 0);
		for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
			struct calendar c = parse_ok(specs[s]);
			for (int i = 0; i < ns; i++) {
				int64_t got = -1;
				int e = calendar_next(&c, starts[i], &got);
				int64_t want = oracle_next(&c, starts[i], window);
				int64_t in = e == 0 && got <= starts[i] + window ? got : -1;
				if (in != want || (e != 0 && e != -ENOENT))
					fail_msg("%s '%s' after %lld: got %lld (%d), "
						 "oracle %lld", zones[z], specs[s],
						 (long long)starts[i], (long long)got, e,
						 (long long)want);
				runs++;
			}
		}
	}
	print_message("oracle agreed on %d runs\n", runs);
	set_tz("UTC");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_shorthands, setup_utc),
		cmocka_unit_test_setup(test_lists_ranges_steps, setup_utc),
		cmocka_unit_test_setup(test_names, setup_utc),
		cmocka_unit_test_setup(test_weekday7, setup_utc),
		cmocka_unit_test_setup(test_dom_dow_rule, setup_utc),
		cmocka_unit_test_setup(test_month_ends, setup_utc),
		cmocka_unit_test_setup(test_leap_day, setup_utc),
		cmocka_unit_test_setup(test_impossible, setup_utc),
		cmocka_unit_test_setup(test_refused, setup_utc),
		cmocka_unit_test_setup(test_format, setup_utc),
		cmocka_unit_test_setup(test_utc_exact, setup_utc),
		cmocka_unit_test_setup(test_range, setup_utc),
		cmocka_unit_test_setup(test_dst_gap, setup_utc),
		cmocka_unit_test_setup(test_dst_overlap, setup_utc),
		cmocka_unit_test_setup(test_oracle, setup_utc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
