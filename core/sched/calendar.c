/*
 * Calendars (calendar.h): a parser from cron text to bitmaps, the canonical
 * text back, and the next firing time. The parser works on a bounded copy
 * of the spec and checks every character before it reads numbers, so any
 * input gives either a calendar or one sentence naming the field and the
 * rule broken. The next-time search walks wall-clock dates with civil-date
 * arithmetic (no mktime per step) and asks the C library only to turn a
 * matching wall-clock minute into an instant, which is where the time zone
 * and its daylight-saving gaps and overlaps come in.
 */
#include "sched/calendar.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, NFIELDS };

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
};
static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

static const struct field {
	const char *name;
	int lo, hi;       /* values accepted in the spec */
	int last;         /* where "*" and N/S end (weekday: 6, as 7 is Sunday again) */
	const char *const *names; /* names[i] is value lo + i, or NULL */
	size_t nnames;
} fields[NFIELDS] = {
	{ "minute", 0, 59, 59, NULL, 0 },
	{ "hour", 0, 23, 23, NULL, 0 },
	{ "day-of-month", 1, 31, 31, NULL, 0 },
	{ "month", 1, 12, 12, month_names, 12 },
	{ "weekday", 0, 7, 6, day_names, 7 },
};

static const struct {
	const char *name;
	const char *spec;
} shorthands[] = {
	{ "@hourly", "0 * * * *" },   { "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" }, { "@weekly", "0 0 * * 0" },
	{ "@monthly", "0 0 1 * *" },  { "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
};

struct parser {
	char *why;
	size_t size;
	int field;        /* index into fields, or -1 for the whole spec */
};

static int fail(const struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(const struct parser *p, const char *fmt, ...)
{
	char msg[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (p->why != NULL && p->size > 0) {
		if (p->field >= 0)
			snprintf(p->why, p->size, "field %d (%s): %s", p->field + 1,
				 fields[p->field].name, msg);
		else
			snprintf(p->why, p->size, "%s", msg);
	}
	return -EINVAL;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* c as it may appear in a message: itself if printable ASCII, else \xNN. */
static void show_char(char c, char out[5])
{
	unsigned char u = (unsigned char)c;
	if (u >= 0x20 && u < 0x7f && u != '\'')
		snprintf(out, 5, "%c", c);
	else
		snprintf(out, 5, "\\x%02x", u);
}

/*
 * One value at *s (before end): 1-2 digits or, where the field has names, a
 * three-letter name. ctx says what the value is for in messages ("", "range
 * end "). Advances *s past it.
 */
static int parse_value(const struct parser *p, const struct field *f, const char **s,
		       const char *end, const char *ctx, int *out)
{
	const char *b = *s, *e = b;
	if (e < end && is_digit(*e)) {
		while (e < end && is_digit(*e))
			e++;
		int n = (int)(e - b);
		if (n > 2)
			return fail(p, "number '%.*s' has more than 2 digits", n > 16 ? 16 : n,
				    b);
		int v = b[0] - '0';
		if (n == 2)
			v = v * 10 + (b[1] - '0');
		if (v < f->lo || v > f->hi)
			return fail(p, "%s%d is out of range %d-%d", ctx, v, f->lo, f->hi);
		*out = v;
		*s = e;
		return 0;
	}
	if (e < end && is_alpha(*e)) {
		while (e < end && is_alpha(*e))
			e++;
		int n = (int)(e - b);
		if (f->names == NULL)
			return fail(p, "names such as '%.*s' are allowed only in the month "
				    "and weekday fields", n > 16 ? 16 : n, b);
		for (size_t i = 0; n == 3 && i < f->nnames; i++) {
			if (lower(b[0]) == f->names[i][0] && lower(b[1]) == f->names[i][1] &&
			    lower(b[2]) == f->names[i][2]) {
				*out = f->lo + (int)i;
				*s = e;
				return 0;
			}
		}
		return fail(p, "unknown %s name '%.*s' (expected %s..%s)", f->name,
			    n > 16 ? 16 : n, b, f->names[0], f->names[f->nnames - 1]);
	}
	if (e == end)
		return fail(p, "missing %svalue", ctx);
	char c[5];
	show_char(*e, c);
	return fail(p, "expected %sa number%s, found '%s'", ctx,
		    f->names ? " or a name" : "", c);
}

/* Sets in *mask the bits a, a+step, ... up to b; a weekday 7 sets bit 0. */
static void set_bits(uint64_t *mask, int a, int b, int step, int dow)
{
	for (int v = a; v <= b; v += step)
		*mask |= UINT64_C(1) << (dow && v == 7 ? 0 : v);
}

/* One list item [s, end) of field f into *mask; *star set if it starts with '*'. */
static int parse_item(const struct parser *p, const struct field *f, const char *s,
		      const char *end, uint64_t *mask, int *star)
{
	const char *item = s;
	int a, b, single = 0;
	if (s == end)
		return fail(p, "empty item in the list");
	if (*s == '*') {
		*star = 1;
		a = f->lo;
		b = f->last;
		s++;
	} else {
		int e = parse_value(p, f, &s, end, "", &a);
		if (e != 0)
			return e;
		if (s < end && *s == '-') {
			s++;
			if ((e = parse_value(p, f, &s, end, "range end ", &b)) != 0)
				return e;
			if (a > b)
				return fail(p, "range %d-%d is reversed (%d > %d)", a, b, a,
					    b);
		} else {
			b = a;
			single = 1;
		}
	}
	int step = 1;
	if (s < end && *s == '/') {
		const char *d = ++s;
		while (s < end && is_digit(*s))
			s++;
		int n = (int)(s - d);
		int span = f->last - f->lo + 1;
		if (n == 0)
			return fail(p, "missing step after '/'");
		if (n > 2)
			return fail(p, "step '%.*s' has more than 2 digits", n > 16 ? 16 : n,
				    d);
		step = n == 2 ? (d[0] - '0') * 10 + (d[1] - '0') : d[0] - '0';
		if (step == 0)
			return fail(p, "step 0 (a step must be 1 or more)");
		if (step > span)
			return fail(p, "step %d is larger than the %d values of the field",
				    step, span);
		if (single && b < f->last)
			b = f->last; /* N/S: from N to the end of the field */
	}
	if (s < end) {
		char c[5];
		show_char(*s, c);
		return fail(p, "unexpected '%s' in item '%.*s'", c,
			    (int)(end - item) > 32 ? 32 : (int)(end - item), item);
	}
	set_bits(mask, a, b, step, f == &fields[F_DOW]);
	return 0;
}

/* Field f from text [s, end): characters first, then the comma list. */
static int parse_field(const struct parser *p, const struct field *f, const char *s,
		       const char *end, uint64_t *mask, int *star)
{
	for (const char *c = s; c < end; c++) {
		if (!is_digit(*c) && !is_alpha(*c) && *c != '*' && *c != ',' && *c != '-' &&
		    *c != '/') {
			char shown[5];
			show_char(*c, shown);
			return fail(p, "unexpected character '%s'", shown);
		}
	}
	*mask = 0;
	*star = 0;
	for (;;) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *e = comma ? comma : end;
		int r = parse_item(p, f, s, e, mask, star);
		if (r != 0)
			return r;
		if (comma == NULL)
			return 0;
		s = comma + 1;
	}
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Appends to a bounded buffer, counting what would have been written. */
struct out {
	char *buf;
	size_t size;
	size_t len;
};

static void put_char(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_num(struct out *o, int v)
{
	if (v >= 10)
		put_char(o, (char)('0' + v / 10));
	put_char(o, (char)('0' + v % 10));
}

static int next_bit(uint64_t mask, int from, int max)
{
	if (from > max)
		return -1;
	uint64_t m = mask >> from;
	if (m == 0)
		return -1;
	int v = from + __builtin_ctzll(m);
	return v <= max ? v : -1;
}

/* An item of canonical text: a-b/step, or "*\/step" when star. */
struct item {
	int a, b, step;
	int star;
};

/* The terms a, a + step, ... (up to hi) that are all in mask: their bits, count, last. */
static uint64_t terms(uint64_t mask, int a, int step, int hi, int *count, int *last)
{
	uint64_t t = 0;
	int n = 0, v;
	for (v = a; v <= hi && (mask & (UINT64_C(1) << v)); v += step, n++)
		t |= UINT64_C(1) << v;
	*count = n;
	*last = v - step;
	return t;
}

/*
 * Covers mask (values lo..hi) with items, greedily: each round takes the
 * run of step 1, or of a larger step with three terms or more, that holds
 * the most values not yet covered (ties: smaller step, then fewer values
 * covered twice, then smaller start); values left over become single items.
 * star > 0 makes the first item "*\/star", whose terms must all be in mask.
 * Returns the number of items, sorted by start.
 */
static int cover(uint64_t mask, int lo, int hi, int star_ok, int star, struct item *it)
{
	uint64_t left = mask;
	int n = 0, count, last;
	if (star > 0) {
		left &= ~terms(mask, lo, star, hi, &count, &last);
		it[n++] = (struct item){ lo, last, star, 1 };
	}
	while (__builtin_popcountll(left) >= 2) {
		struct item best = { 0, 0, 0, 0 };
		int best_new = 0, best_count = 0;
		uint64_t best_bits = 0;
		for (int a = next_bit(mask, lo, hi); a >= 0; a = next_bit(mask, a + 1, hi)) {
			for (int step = 1; a + step <= hi; step++) {
				uint64_t t = terms(mask, a, step, hi, &count, &last);
				int fresh = __builtin_popcountll(t & left);
				int least = step == 1 ? 2 : 3;
				if (count < least || fresh < least)
					continue;
				int better = fresh > best_new ||
					     (fresh == best_new &&
					      (step < best.step ||
					       (step == best.step && count < best_count)));
				if (better) {
					best = (struct item){ a, last, step, 0 };
					best_new = fresh;
					best_count = count;
					best_bits = t;
				}
			}
		}
		if (best_new == 0)
			break;
		/* A run from lo to the end of the field is written "*\/step". */
		best.star = star_ok && best.step > 1 && best.a == lo && best.b + best.step > hi;
		it[n++] = best;
		left &= ~best_bits;
	}
	for (int v = next_bit(left, lo, hi); v >= 0; v = next_bit(left, v + 1, hi))
		it[n++] = (struct item){ v, v, 1, 0 };
	for (int i = 1; i < n; i++) /* insertion sort by start; the star item stays first */
		for (int j = i; j > 0 && !it[j - 1].star && it[j - 1].a > it[j].a; j--) {
			struct item t = it[j];
			it[j] = it[j - 1];
			it[j - 1] = t;
		}
	return n;
}

static void put_items(struct out *o, const struct item *it, int n)
{
	for (int i = 0; i < n; i++) {
		if (i > 0)
			put_char(o, ',');
		if (it[i].star) {
			put_char(o, '*');
			put_char(o, '/');
			put_num(o, it[i].step);
			continue;
		}
		put_num(o, it[i].a);
		if (it[i].b == it[i].a)
			continue;
		put_char(o, '-');
		put_num(o, it[i].b);
		if (it[i].step > 1) {
			put_char(o, '/');
			put_num(o, it[i].step);
		}
	}
}

/*
 * Field with values lo..hi in mask, canonically: the shortest of the greedy
 * covers and the plain ranges (the ranges on a tie). flagged: the field's
 * restriction is significant (days of month, weekdays); restricted: it is.
 */
static void format_field(struct out *o, uint64_t mask, int lo, int hi, int flagged,
			 int restricted)
{
	uint64_t full = ((UINT64_C(1) << (hi - lo + 1)) - 1) << lo;
	int star_ok = !flagged || !restricted, need_star = flagged && !restricted;
	if (mask == full) {
		if (star_ok) {
			put_char(o, '*');
		} else {
			put_num(o, lo);
			put_char(o, '-');
			put_num(o, hi);
		}
		return;
	}
	/*
	 * A field that must show a '*' starts with the "*\/S" (S from 2 up, whose
	 * terms are all in mask) or "*\/span" (lo alone) that gives the shortest
	 * text; a shorter one with a larger S wins only when strictly shorter.
	 */
	struct item best[64], it[64];
	size_t best_len = SIZE_MAX;
	int nb = 0;
	for (int star = need_star ? 2 : 0; star <= (need_star ? hi - lo + 1 : 0); star++) {
		if (star > 0 && star <= hi - lo) {
			int count, last;
			terms(mask, lo, star, hi, &count, &last);
			if (last + star <= hi)
				continue; /* "*\/star" would add values not in mask */
		}
		int n = cover(mask, lo, hi, star_ok, star, it);
		struct out len = { NULL, 0, 0 };
		put_items(&len, it, n);
		if (len.len < best_len) {
			best_len = len.len;
			nb = n;
			memcpy(best, it, (size_t)n * sizeof it[0]);
		}
	}
	/* Plain ranges and values, after "*\/span" when needed, unless longer. */
	int n = 0;
	uint64_t rest = mask;
	if (need_star) {
		it[n++] = (struct item){ lo, lo, hi - lo + 1, 1 };
		rest &= ~(UINT64_C(1) << lo);
	}
	for (int v = next_bit(rest, lo, hi); v >= 0;) {
		int e = v;
		while (e < hi && (rest & (UINT64_C(1) << (e + 1))))
			e++;
		it[n++] = (struct item){ v, e, 1, 0 };
		v = next_bit(rest, e + 1, hi);
	}
	struct out len = { NULL, 0, 0 };
	put_items(&len, it, n);
	if (len.len <= best_len)
		put_items(o, it, n);
	else
		put_items(o, best, nb);
}

/* Canonical text into o; returns its full length (o may have truncated it). */
static size_t format_into(const struct calendar *c, struct out *o)
{
	format_field(o, c->minutes, 0, 59, 0, 0);
	put_char(o, ' ');
	format_field(o, c->hours, 0, 23, 0, 0);
	put_char(o, ' ');
	format_field(o, c->days, 1, 31, 1, c->dom_restricted);
	put_char(o, ' ');
	format_field(o, c->months, 1, 12, 0, 0);
	put_char(o, ' ');
	format_field(o, c->weekdays, 0, 6, 1, c->dow_restricted);
	if (o->size > 0)
		o->buf[o->len < o->size ? o->len : o->size - 1] = 0;
	return o->len;
}

void calendar_format(const struct calendar *c, char *buf, size_t size)
{
	struct out o = { buf, size, 0 };
	format_into(c, &o);
}

/* Five fields in s (blank-separated, already trimmed and counted). */
static int parse_fields(struct parser *p, const char *s, struct calendar *cal)
{
	uint64_t mask[NFIELDS];
	int star[NFIELDS];
	for (int i = 0; i < NFIELDS; i++) {
		while (is_blank(*s))
			s++;
		const char *e = s;
		while (*e && !is_blank(*e))
			e++;
		p->field = i;
		int r = parse_field(p, &fields[i], s, e, &mask[i], &star[i]);
		if (r != 0)
			return r;
		s = e;
	}
	p->field = -1;
	*cal = (struct calendar){
		.minutes = mask[F_MINUTE],
		.hours = (uint32_t)mask[F_HOUR],
		.days = (uint32_t)mask[F_DOM],
		.months = (uint16_t)mask[F_MONTH],
		.weekdays = (uint8_t)mask[F_DOW],
		.dom_restricted = !star[F_DOM],
		.dow_restricted = !star[F_DOW],
	};
	return 0;
}

int calendar_parse(const char *spec, struct calendar *out, char *why, size_t size)
{
	struct parser p = { why, size, -1 };
	char text[CALENDAR_SPEC_MAX + 1];
	size_t n = spec ? strnlen(spec, CALENDAR_SPEC_MAX + 1) : 0;
	if (n > CALENDAR_SPEC_MAX)
		return fail(&p, "the calendar is longer than %d characters",
			    CALENDAR_SPEC_MAX);
	memcpy(text, spec ? spec : "", n);
	text[n] = 0;
	char *s = text;
	while (is_blank(*s))
		s++;
	while (n > 0 && is_blank(text[n - 1]))
		text[--n] = 0;
	if (*s == 0)
		return fail(&p, "the calendar is empty");

	int count = 0;
	for (const char *c = s; *c;) {
		count++;
		while (*c && !is_blank(*c))
			c++;
		while (is_blank(*c))
			c++;
	}
	struct calendar cal;
	int r;
	if (s[0] == '@') {
		if (count != 1)
			return fail(&p, "a shorthand such as @daily must be the whole "
				    "calendar");
		size_t i;
		for (i = 0; i < sizeof shorthands / sizeof shorthands[0]; i++) {
			const char *a = s, *b = shorthands[i].name;
			while (*a && lower(*a) == *b)
				a++, b++;
			if (*a == 0 && *b == 0)
				break;
		}
		if (i == sizeof shorthands / sizeof shorthands[0]) {
			char shown[32 * 4 + 1];
			size_t o = 0;
			for (const char *c = s; *c && o + 5 <= sizeof shown && c - s < 32;
			     c++) {
				show_char(*c, &shown[o]);
				o += strlen(&shown[o]);
			}
			return fail(&p, "unknown shorthand '%s' (expected @hourly, @daily, "
				    "@midnight, @weekly, @monthly, @yearly or @annually)",
				    shown);
		}
		r = parse_fields(&p, shorthands[i].spec, &cal);
	} else if (count != NFIELDS) {
		return fail(&p, "expected 5 fields (minute hour day-of-month month weekday), "
			    "found %d", count);
	} else {
		r = parse_fields(&p, s, &cal);
	}
	if (r != 0)
		return r;
	char canon[4 * CALENDAR_SPEC_MAX];
	struct out o = { canon, sizeof canon, 0 };
	size_t len = format_into(&cal, &o);
	if (len > CALENDAR_SPEC_MAX)
		return fail(&p, "the calendar is too complex: its canonical form would "
			    "have %zu characters, more than %d", len, CALENDAR_SPEC_MAX);
	*out = cal;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int64_t y, int m)
{
	static const int n[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : n[m - 1];
}

/* Bit d set for each day d of month m of year y that c's day rule accepts. */
static uint32_t day_mask(const struct calendar *c, int64_t y, int m)
{
	uint64_t valid = ((UINT64_C(1) << days_in_month(y, m)) - 1) << 1;
	int64_t z = days_from_civil(y, m, 1);
	int w1 = (int)(((z % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
	uint64_t dow = 0;
	for (int k = 0; k < 7; k++) /* day 1 + k + 7j has weekday (w1 + k) % 7 */
		if (c->weekdays & (1u << ((w1 + k) % 7)))
			dow |= UINT64_C(0x20408102) << k; /* days 1, 8, 15, 22, 29 */
	uint64_t dom = c->days & valid;
	dow &= valid;
	return (uint32_t)(c->dom_restricted && c->dow_restricted ? dom | dow : dom & dow);
}

/*
 * The first instant whose local time is y-m-d h:mi:00: 0 and *at, or
 * -ENOENT if that wall-clock time does not exist (a daylight-saving gap).
 * The instant is u - offset for one of the UTC offsets in force within a day
 * of u (the wall-clock time read as UTC); each is checked by converting back.
 */
static int resolve(int64_t y, int m, int d, int h, int mi, int64_t *at)
{
	int64_t u = days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60;
	long offs[3];
	int n = 0, found = 0;
	int64_t best = 0;
	for (int i = -1; i <= 1; i++) {
		time_t t = (time_t)(u + i * 86400);
		struct tm tm;
		if (localtime_r(&t, &tm) == NULL)
			continue;
		int dup = 0;
		for (int j = 0; j < n; j++)
			dup |= offs[j] == tm.tm_gmtoff;
		if (!dup)
			offs[n++] = tm.tm_gmtoff;
	}
	for (int i = 0; i < n; i++) {
		time_t t = (time_t)(u - offs[i]);
		struct tm tm;
		if (localtime_r(&t, &tm) == NULL || tm.tm_year + INT64_C(1900) != y ||
		    tm.tm_mon + 1 != m || tm.tm_mday != d || tm.tm_hour != h ||
		    tm.tm_min != mi || tm.tm_sec != 0)
			continue;
		if (!found || (int64_t)t < best)
			best = (int64_t)t;
		found = 1;
	}
	if (found)
		*at = best;
	return found ? 0 : -ENOENT;
}

/*
 * The first firing instant later than `after` on day y-m-d, from hour fh
 * minute fm on: 0 and *at, or -ENOENT.
 */
static int first_in_day(const struct calendar *c, int64_t y, int m, int d, int fh, int fm,
			int64_t after, int64_t *at)
{
	for (int h = next_bit(c->hours, fh, 23); h >= 0; h = next_bit(c->hours, h + 1, 23)) {
		for (int mi = next_bit(c->minutes, h == fh ? fm : 0, 59); mi >= 0;
		     mi = next_bit(c->minutes, mi + 1, 59)) {
			int64_t t;
			if (resolve(y, m, d, h, mi, &t) == 0 && t > after) {
				*at = t;
				return 0;
			}
		}
	}
	return -ENOENT;
}

int calendar_next(const struct calendar *c, int64_t after, int64_t *next)
{
	if (after < 0 || after > CALENDAR_TIME_MAX)
		return -ERANGE;
	tzset();
	time_t t = (time_t)after;
	struct tm tm;
	if (localtime_r(&t, &tm) == NULL)
		return -ERANGE;
	int64_t y = tm.tm_year + INT64_C(1900);
	int m = tm.tm_mon + 1;
	/*
	 * Wall-clock candidates start at the minute after after's: earlier ones
	 * first occurred at or before it. Later ones can also lie before it (when
	 * after is in the second pass of a fall-back overlap), hence t > after in
	 * first_in_day.
	 */
	int fd = tm.tm_mday, fh = tm.tm_hour, fm = tm.tm_min + 1;
	int64_t last = days_from_civil(y, m, fd) + CALENDAR_HORIZON_DAYS;
	for (;;) {
		int64_t first = days_from_civil(y, m, 1);
		if (first > last)
			return -ENOENT;
		uint32_t dm = c->months & (1u << m) ? day_mask(c, y, m) : 0;
		for (int d = next_bit(dm, fd, 31); d >= 0; d = next_bit(dm, d + 1, 31)) {
			if (first + d - 1 > last)
				return -ENOENT;
			if (first_in_day(c, y, m, d, d == fd ? fh : 0, d == fd ? fm : 0, after,
					 next) == 0)
				return 0;
		}
		/* Later months start from their first minute. */
		fd = 1;
		fh = 0;
		fm = 0;
		if (++m > 12) {
			m = 1;
			y++;
		}
	}
}
