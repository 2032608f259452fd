/*
 * Forget: the retention policy. forget_select is the pure part (which of a
 * group's snapshots a grandfather-father-son policy keeps); repo_forget
 * groups the repository's snapshots, applies it and removes the snapshot
 * files of the others. Their data stays until a prune.
 *
 * Days, months and years are those of local time, as an operator reading
 * the snapshot list sees them; weeks are ISO 8601 weeks (Monday first,
 * week 1 holds the year's first Thursday).
 */
#include "repo/maint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/hex.h"
#include "util/log.h"

/* Why a snapshot is kept (bits), in the order printed. */
enum keep_reason {
	KEEP_LAST = 1u << 0,
	KEEP_DAILY = 1u << 1,
	KEEP_WEEKLY = 1u << 2,
	KEEP_MONTHLY = 1u << 3,
	KEEP_YEARLY = 1u << 4,
};

static const char *const reason_names[] = { "last", "daily", "weekly", "monthly", "yearly" };

bool forget_policy_empty(const struct forget_policy *p)
{
	return p->keep_last == 0 && p->keep_daily == 0 && p->keep_weekly == 0 &&
	       p->keep_monthly == 0 && p->keep_yearly == 0;
}

static bool is_leap(long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* ISO 8601 year * 100 + week of a broken-down local date. */
static int64_t iso_week_key(const struct tm *tm)
{
	long year = (long)tm->tm_year + 1900;
	int wday = (tm->tm_wday + 6) % 7;      /* Monday = 0 */
	int thu = tm->tm_yday - wday + 3;      /* day of year of this week's Thursday */
	if (thu < 0) {
		year--;
		thu += is_leap(year) ? 366 : 365;
	} else if (thu >= (is_leap(year) ? 366 : 365)) {
		thu -= is_leap(year) ? 366 : 365;
		year++;
	}
	return (int64_t)year * 100 + thu / 7 + 1;
}

enum bucket { B_DAY, B_WEEK, B_MONTH, B_YEAR, B_COUNT };

/*
 * The bucket of each rule a time falls in. Keys are monotonic in time (a
 * local date never goes backwards, even across a DST change), so the
 * snapshots of one bucket are adjacent in a sorted list.
 */
static void bucket_keys(const struct ns_time *t, int64_t key[B_COUNT])
{
	struct tm tm;
	time_t s = (time_t)t->sec;
	if (localtime_r(&s, &tm) == NULL) {
		/* Out of range for the C library: fall back to UTC days. */
		int64_t day = t->sec / 86400 - (t->sec % 86400 < 0);
		key[B_DAY] = day;
		key[B_WEEK] = (day + 3) / 7; /* 1970-01-01 was a Thursday */
		key[B_MONTH] = day / 30;
		key[B_YEAR] = day / 365;
		return;
	}
	int64_t y = (int64_t)tm.tm_year + 1900;
	key[B_DAY] = (y * 100 + tm.tm_mon + 1) * 100 + tm.tm_mday;
	key[B_WEEK] = iso_week_key(&tm);
	key[B_MONTH] = y * 100 + tm.tm_mon + 1;
	key[B_YEAR] = y;
}

/*
 * The selection: sets keep[i] and, if why is not NULL, why[i] to the
 * reasons (enum keep_reason bits) snapshot i is kept for, 0 if removed.
 */
static void forget_reasons(const struct ns_time *times, size_t n, const struct forget_policy *p,
			   bool *keep, unsigned *why)
{
	unsigned left[B_COUNT] = { p->keep_daily, p->keep_weekly, p->keep_monthly,
				   p->keep_yearly };
	static const unsigned bit[B_COUNT] = { KEEP_DAILY, KEEP_WEEKLY, KEEP_MONTHLY,
					       KEEP_YEARLY };
	int64_t last[B_COUNT] = { 0 };
	bool seen[B_COUNT] = { false };

	/* Newest first: the first snapshot met in a bucket is its newest. */
	for (size_t k = 0; k < n; k++) {
		size_t i = n - 1 - k;
		int64_t key[B_COUNT];
		unsigned w = k < p->keep_last ? KEEP_LAST : 0;
		bucket_keys(&times[i], key);
		for (int b = 0; b < B_COUNT; b++) {
			if (seen[b] && key[b] == last[b])
				continue;
			seen[b] = true;
			last[b] = key[b];
			if (left[b] > 0) {
				left[b]--;
				w |= bit[b];
			}
		}
		keep[i] = w != 0;
		if (why != NULL)
			why[i] = w;
	}
}

void forget_select(const struct ns_time *times, size_t n, const struct forget_policy *p,
		   bool *keep)
{
	forget_reasons(times, n, p, keep, NULL);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The group of a snapshot as one byte string: hostname, source, dataset
 * and the set of paths (sorted), each length-prefixed. */
static int group_key(const struct snapshot *s, struct buf *out)
{
	char **paths = malloc((s->n_paths ? s->n_paths : 1) * sizeof *paths);
	if (paths == NULL)
		return -ENOMEM;
	if (s->n_paths)
		memcpy(paths, s->paths, s->n_paths * sizeof *paths);
	qsort(paths, s->n_paths, sizeof *paths, cmp_str);
	int e = buf_put_str(out, s->hostname);
	if (e == 0)
		e = buf_put_str(out, s->source);
	if (e == 0)
		e = buf_put_str(out, s->dataset);
	if (e == 0)
		e = buf_put_u32(out, (uint32_t)s->n_paths);
	for (size_t i = 0; i < s->n_paths && e == 0; i++)
		e = buf_put_str(out, paths[i]);
	free(paths);
	return e;
}

struct member {
	size_t snap;      /* position in the list (oldest first) */
	struct buf key;
};

static int member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
	int c = n ? memcmp(x->key.data, y->key.data, n) : 0;
	if (c != 0)
		return c;
	if (x->key.len != y->key.len)
		return x->key.len < y->key.len ? -1 : 1;
	return (x->snap > y->snap) - (x->snap < y->snap);
}

/* Prints a string, control characters escaped. */
static void print_clean(const char *s)
{
	for (; s != NULL && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f)
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
}

static void print_group_head(const struct snapshot *s)
{
	printf("host ");
	print_clean(s->hostname);
	printf(", source ");
	print_clean(s->source);
	if (s->dataset != NULL && s->dataset[0]) {
		printf(", dataset ");
		print_clean(s->dataset);
	}
	printf(":\n");
}

static void print_row(const struct snapshot_entry *se, unsigned why)
{
	char id[9], when[40] = "?";
	struct tm tm;
	time_t t = (time_t)se->snap.time.sec;
	hex_encode(se->id, 4, id);
	if (localtime_r(&t, &tm) != NULL)
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	printf("  %-6s  %s  %s  ", why ? "keep" : "remove", id, when);
	for (size_t i = 0; i < se->snap.n_paths; i++) {
		if (i)
			putchar(' ');
		print_clean(se->snap.paths[i]);
	}
	if (why) {
		printf("  (");
		bool first = true;
		for (unsigned b = 0; b < sizeof reason_names / sizeof reason_names[0]; b++) {
			if (!(why & (1u << b)))
				continue;
			printf("%s%s", first ? "" : ", ", reason_names[b]);
			first = false;
		}
		putchar(')');
	}
	putchar('\n');
}

/*
 * Decides and prints one group (members m[0..n), oldest first), then
 * removes the snapshots not kept.
 */
static int forget_group(struct repo *r, const struct snapshot_entry *snaps,
			const struct member *m, size_t n, const struct forget_policy *p,
			bool quiet, struct forget_result *res)
{
	struct ns_time *times = malloc(n * sizeof *times);
	unsigned *why = malloc(n * sizeof *why);
	bool *keep = malloc(n * sizeof *keep);
	int e = 0;
	if (times == NULL || why == NULL || keep == NULL) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		times[i] = snaps[m[i].snap].snap.time;
	forget_reasons(times, n, p, keep, why);
	if (!quiet) {
		print_group_head(&snaps[m[0].snap].snap);
		for (size_t i = n; i-- > 0;)
			print_row(&snaps[m[i].snap], why[i]);
		fflush(stdout);
	}
	for (size_t i = 0; i < n; i++) {
		if (keep[i]) {
			res->kept++;
			continue;
		}
		int re = repo_snapshot_remove(r, snaps[m[i].snap].id);
		if (re == 0 || re == -ENOENT) {
			res->removed++;
			continue;
		}
		char hex[65];
		hex_encode(snaps[m[i].snap].id, 32, hex);
		log_errorx("cannot remove snapshot %s: %s", hex, coffer_strerror(re));
		e = e ? e : re;
	}
out:
	free(times);
	free(why);
	free(keep);
	return e;
}

int repo_forget(struct repo *r, const struct forget_policy *p, bool quiet,
		struct forget_result *res)
{
	struct snapshot_entry *snaps = NULL;
	struct member *m = NULL;
	struct forget_result fr = { 0 };
	size_t n = 0, n_bad = 0;
	if (forget_policy_empty(p)) {
		log_errorx("no keep rule given: forget would remove every snapshot");
		return -EINVAL;
	}
	int e = repo_lock(r, true);
	if (e != 0)
		return e;
	if ((e = repo_snapshot_list(r, &snaps, &n, &n_bad)) != 0) {
		log_errorx("cannot list snapshots: %s", coffer_strerror(e));
		goto out;
	}
	if (n_bad > 0)
		log_warnx("%zu damaged snapshot(s) are left alone; run 'coffer check'", n_bad);
	if ((m = calloc(n ? n : 1, sizeof *m)) == NULL) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && e == 0; i++) {
		m[i].snap = i;
		e = group_key(&snaps[i].snap, &m[i].key);
	}
	if (e != 0)
		goto out;
	/* Groups become runs, each oldest first (the list is sorted by time). */
	if (n > 1)
		qsort(m, n, sizeof *m, member_cmp);
	for (size_t start = 0, i = 1; start < n; i++) {
		if (i < n && m[i].key.len == m[start].key.len &&
		    memcmp(m[i].key.data, m[start].key.data, m[i].key.len) == 0)
			continue;
		if (!quiet && start > 0)
			putchar('\n');
		int ge = forget_group(r, snaps, m + start, i - start, p, quiet, &fr);
		if (ge == -ENOMEM) {
			e = ge;
			goto out;
		}
		e = e ? e : ge;
		start = i;
	}
	if (e == 0)
		*res = fr;
out:
	for (size_t i = 0; m != NULL && i < n; i++)
		buf_fini(&m[i].key);
	free(m);
	snapshot_entries_free(snaps, n);
	repo_unlock(r);
	return e;
}
