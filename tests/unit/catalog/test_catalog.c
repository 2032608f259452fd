/* The dataset catalog (catalog/catalog.h) on a real SQLite file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "catalog/catalog.h"
#include "util/log.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/coffer-catalog.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

static void fill(struct dataset *d, const char *name, unsigned level)
{
	memset(d, 0, sizeof *d);
	snprintf(d->name, sizeof d->name, "%s", name);
	assert_int_equal(catalog_new_id(d->id), 0);
	d->level = level;
	snprintf(d->owner, sizeof d->owner, "finance");
	d->suite = 1;
	snprintf(d->pool, sizeof d->pool, "/pools/%u", level);
	snprintf(d->repo, sizeof d->repo, "/pools/%u/%s", level, d->id);
	d->created = 1700000000;
}

static int count(const struct dataset *d, void *arg)
{
	(void)d;
	(*(int *)arg)++;
	return 0;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct catalog *c = NULL;
	struct dataset a, b, got;
	assert_int_equal(catalog_open(dir, &c), 0);
	fill(&a, "payroll", 3);
	fill(&b, "web", 1);
	assert_int_equal(strlen(a.id), 32);
	assert_string_not_equal(a.id, b.id);
	assert_int_equal(catalog_add(c, &a), 0);
	assert_int_equal(catalog_add(c, &b), 0);
	assert_int_equal(catalog_add(c, &a), -EEXIST);
	assert_int_equal(catalog_get(c, "nothere", &got), -ENOENT);
	catalog_close(c);

	/* Reopened: the rows persisted. */
	assert_int_equal(catalog_open(dir, &c), 0);
	assert_int_equal(catalog_get(c, "payroll", &got), 0);
	assert_string_equal(got.id, a.id);
	assert_int_equal(got.level, 3);
	assert_string_equal(got.repo, a.repo);
	assert_int_equal(got.created, a.created);
	assert_int_equal(got.state, DATASET_ACTIVE);
	int n = 0;
	assert_int_equal(catalog_list(c, count, &n), 0);
	assert_int_equal(n, 2);

	assert_int_equal(catalog_mark_shredded(c, "payroll", 1800000000), 0);
	assert_int_equal(catalog_mark_shredded(c, "nothere", 1), -ENOENT);
	assert_int_equal(catalog_get(c, "payroll", &got), 0);
	assert_int_equal(got.state, DATASET_SHREDDED);
	assert_int_equal(got.shredded, 1800000000);
	catalog_close(c);
	catalog_close(NULL);
}

static void test_rollback(void **state)
{
	(void)state;
	struct catalog *c = NULL;
	struct dataset a, got;
	assert_int_equal(catalog_open(dir, &c), 0);
	fill(&a, "temp", 2);
	assert_int_equal(catalog_begin(c), 0);
	assert_int_equal(catalog_add(c, &a), 0);
	assert_int_equal(catalog_get(c, "temp", &got), 0);
	catalog_rollback(c);
	assert_int_equal(catalog_get(c, "temp", &got), -ENOENT);
	assert_int_equal(catalog_begin(c), 0);
	assert_int_equal(catalog_add(c, &a), 0);
	assert_int_equal(catalog_commit(c), 0);
	assert_int_equal(catalog_get(c, "temp", &got), 0);
	catalog_close(c);
}

/* A catalog written by a newer program is refused, not guessed at. */
static void test_newer_schema(void **state)
{
	(void)state;
	struct catalog *c = NULL;
	char path[128];
	assert_int_equal(catalog_open(dir, &c), 0);
	catalog_close(c);
	snprintf(path, sizeof path, "%s/catalog.db", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	c = (struct catalog *)0x1;
	assert_int_equal(catalog_open(dir, &c), -ENOTSUP);
	assert_ptr_equal(c, (struct catalog *)0x1);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(dataset_name_valid("payroll-2026.db_x"));
	assert_false(dataset_name_valid(""));
	assert_false(dataset_name_valid(".hidden"));
	assert_false(dataset_name_valid("-opt"));
	assert_false(dataset_name_valid("a/b"));
	assert_false(dataset_name_valid("a b"));
	char longname[80];
	memset(longname, 'a', 65);
	longname[65] = 0;
	assert_false(dataset_name_valid(longname));
	longname[64] = 0;
	assert_true(dataset_name_valid(longname));
}

/* Policies (schema 2). */

/* Runs sql on the catalog file through a connection of its own. */
static void raw_exec(const char *sql)
{
	char path[128];
	sqlite3 *db;
	snprintf(path, sizeof path, "%s/catalog.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fprintf(stderr, "raw_exec: %s: %s\n", sql, err ? err : "?");
	sqlite3_free(err);
	sqlite3_close(db);
	assert_int_equal(rc, SQLITE_OK);
}

/* The single integer sql yields, read as raw_exec does. */
static sqlite3_int64 raw_int(const char *sql)
{
	char path[128];
	sqlite3 *db;
	sqlite3_stmt *st;
	snprintf(path, sizeof path, "%s/catalog.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	sqlite3_int64 v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void add_ds(struct catalog *c, const char *name)
{
	struct dataset d;
	fill(&d, name, 2);
	assert_int_equal(catalog_add(c, &d), 0);
}

static void assert_policy_equal(const struct policy *a, const struct policy *b)
{
	assert_string_equal(a->calendar, b->calendar);
	assert_int_equal(a->n_sources, b->n_sources);
	for (size_t i = 0; i < a->n_sources; i++) {
		assert_int_equal(strlen(a->sources[i]), strlen(b->sources[i]));
		assert_memory_equal(a->sources[i], b->sources[i], strlen(a->sources[i]) + 1);
	}
	assert_int_equal(a->keep_last, b->keep_last);
	assert_int_equal(a->keep_daily, b->keep_daily);
	assert_int_equal(a->keep_weekly, b->keep_weekly);
	assert_int_equal(a->keep_monthly, b->keep_monthly);
	assert_int_equal(a->keep_yearly, b->keep_yearly);
	assert_int_equal(a->verify_days, b->verify_days);
}

static void assert_policy_empty(const struct policy *p)
{
	assert_string_equal(p->calendar, "");
	assert_null(p->sources);
	assert_int_equal(p->n_sources, 0);
	assert_int_equal(p->keep_last | p->keep_daily | p->keep_weekly | p->keep_monthly |
				 p->keep_yearly | p->verify_days,
			 0);
	assert_int_equal(p->updated, 0);
}

/* A small policy: calendar cal, n sources "/srv/<tag>/<i>". */
static void small_policy(struct policy *p, const char *cal, const char *tag, size_t n)
{
	char path[64];
	policy_init(p);
	snprintf(p->calendar, sizeof p->calendar, "%s", cal);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "/srv/%s/%zu", tag, i);
		assert_int_equal(policy_add_source(p, path), 0);
	}
	p->keep_last = (uint32_t)n;
	p->keep_daily = 7;
	p->verify_days = 30;
}

static void test_policy_struct(void **state)
{
	(void)state;
	struct policy p, z;
	char *big = malloc(POLICY_SOURCE_MAX + 2);
	assert_non_null(big);
	memset(&z, 0, sizeof z);
	policy_fini(&z); /* a zeroed policy is accepted */
	policy_init(&p);
	assert_policy_empty(&p);
	assert_int_equal(policy_add_source(&p, "relative/path"), -EINVAL);
	assert_int_equal(policy_add_source(&p, ""), -EINVAL);
	assert_int_equal(policy_add_source(&p, NULL), -EINVAL);
	big[0] = '/';
	memset(big + 1, 'a', POLICY_SOURCE_MAX);
	big[POLICY_SOURCE_MAX + 1] = 0; /* one byte too long */
	assert_int_equal(policy_add_source(&p, big), -EINVAL);
	assert_int_equal(p.n_sources, 0);
	big[POLICY_SOURCE_MAX] = 0; /* exactly the maximum */
	assert_int_equal(policy_add_source(&p, big), 0);
	assert_int_equal(policy_add_source(&p, "/a\nb"), 0);
	assert_int_equal(p.n_sources, 2);
	assert_string_equal(p.sources[1], "/a\nb");
	policy_fini(&p);
	assert_policy_empty(&p);
	policy_fini(&p); /* twice is harmless */
	free(big);
}

static void test_policy_round_trip(void **state)
{
	(void)state;
	struct catalog *c = NULL;
	struct policy p, got;
	char path[64];
	char *big = malloc(POLICY_SOURCE_MAX + 1);
	assert_non_null(big);
	assert_int_equal(catalog_open(dir, &c), 0);
	assert_int_equal(raw_int("PRAGMA user_version"), 2);
	add_ds(c, "payroll");

	policy_init(&p);
	memset(p.calendar, '*', POLICY_CALENDAR_MAX); /* the longest calendar */
	p.calendar[POLICY_CALENDAR_MAX] = 0;
	assert_int_equal(policy_add_source(&p, "/srv/line\nbreak"), 0);
	assert_int_equal(policy_add_source(&p, "/srv/\xff\xfe\x80not-utf8\xc3"), 0);
	big[0] = '/';
	memset(big + 1, 'p', POLICY_SOURCE_MAX - 1);
	big[POLICY_SOURCE_MAX] = 0;
	assert_int_equal(policy_add_source(&p, big), 0);
	for (size_t i = p.n_sources; i < POLICY_SOURCES_MAX; i++) {
		snprintf(path, sizeof path, "/srv/data/%03zu", i);
		assert_int_equal(policy_add_source(&p, path), 0);
	}
	assert_int_equal(p.n_sources, POLICY_SOURCES_MAX);
	assert_int_equal(policy_add_source(&p, "/one/too/many"), -E2BIG);
	assert_int_equal(p.n_sources, POLICY_SOURCES_MAX);
	p.keep_last = 1;
	p.keep_daily = 2;
	p.keep_weekly = 3;
	p.keep_monthly = 4;
	p.keep_yearly = UINT32_MAX;
	p.verify_days = 90;
	p.updated = 42; /* ignored */

	int64_t before = (int64_t)time(NULL);
	assert_int_equal(catalog_policy_set(c, "payroll", &p), 0);
	int64_t after = (int64_t)time(NULL);
	assert_int_equal(catalog_policy_get(c, "payroll", &got), 0);
	assert_policy_equal(&got, &p);
	assert_true(got.updated >= before && got.updated <= after);
	policy_fini(&got);
	/* Stored as bytes (BLOB), not text. */
	assert_int_equal(raw_int("SELECT count(*) FROM policy_sources WHERE typeof(path) <> 'blob'"),
			 0);
	assert_int_equal(raw_int("SELECT length(path) FROM policy_sources WHERE idx = 2"),
			 POLICY_SOURCE_MAX);
	catalog_close(c);

	/* Reopened: the policy persisted. */
	assert_int_equal(catalog_open(dir, &c), 0);
	assert_int_equal(catalog_policy_get(c, "payroll", &got), 0);
	assert_policy_equal(&got, &p);
	assert_true(got.updated >= before && got.updated <= after);
	policy_fini(&got);
	catalog_close(c);
	policy_fini(&p);
	free(big);
}

static void test_policy_replace(void **state)
{
	(void)state;
	struct catalog *c = NULL;
	struct policy p, q, got;
	assert_int_equal(catalog_open(dir, &c), 0);
	add_ds(c, "web");
	add_ds(c, "other");
	small_policy(&p, "@daily", "old", 5);
	assert_int_equal(catalog_policy_set(c, "web", &p), 0);
	assert_int_equal(catalog_policy_set(c, "other", &p), 0);
	small_policy(&q, "0 3 * * 1", "new", 2);
	q.keep_daily = 0;
	q.verify_days = 0;
	assert_int_equal(catalog_policy_set(c, "web", &q), 0);
	assert_int_equal(catalog_policy_get(c, "web", &got), 0);
	assert_policy_equal(&got, &q);
	policy_fini(&got);
	/* No leftovers of the old sources; the other dataset's are intact. */
	assert_int_equal(raw_int("SELECT count(*) FROM policy_sources WHERE dataset = 'web'"), 2);
	assert_int_equal(raw_int("SELECT max(idx) FROM policy_sources WHERE dataset = 'web'"), 1);
	assert_int_equal(raw_int("SELECT count(*) FROM policies"), 2);
	assert_int_equal(catalog_policy_get(c, "other", &got), 0);
	assert_policy_equal(&got, &p);
	policy_fini(&got);

	/* Replaced by the empty policy: still stored (updated set), no sources. */
	policy_fini(&q);
	assert_int_equal(catalog_policy_set(c, "web", &q), 0);
	assert_int_equal(catalog_policy_get(c, "web", &got), 0);
	assert_policy_equal(&got, &q);
	assert_null(got.sources);
	assert_true(got.updated > 0);
	policy_fini(&got);
	assert_int_equal(raw_int("SELECT count(*) FROM policy_sources WHERE dataset = 'web'"), 0);
	assert_int_equal(raw_int("SELECT count(*) FROM policies WHERE dataset = 'web'"), 1);
	policy_fini(&p);
	catalog_close(c);
}

static void test_policy_empty_and_unknown(void **state)
{
	(void)state;
	struct catalog *c = NULL;
	struct policy p, got;
	assert_int_equal(catalog_open(dir, &c), 0);
	add_ds(c, "bare");
	/* out is overwritten, not freed or read: garbage in is fine. */
	memset(&got, 0xa5, sizeof got);
	assert_int_equal(catalog_policy_get(c, "bare", &got), 0);
	assert_policy_empty(&got);
	policy_fini(&got);

	memset(&got, 0xa5, sizeof got);
	struct policy sentinel = got;
	assert_int_equal(catalog_policy_get(c, "nothere", &got), -ENOENT);
	assert_memory_equal(&got, &sentinel, sizeof got); /* untouched on failure */
	small_policy(&p, "@hourly", "x", 1);
	assert_int_equal(catalog_policy_set(c, "nothere", &p), -ENOENT);
	assert_int_equal(raw_int("SELECT count(*) FROM policies"), 0);
	assert_int_equal(raw_int("SELECT count(*) FROM policy_sources"), 0);
	policy_fini(&p);
	catalog_close(c);
}

/* Every refused policy leaves the stored one as it was. */
static void test_policy_invalid(void **state)
{
	(void)state;
	struct catalog *c = NULL;
	struct policy good, bad, got;
	char *srcs[POLICY_SOURCES_MAX + 1];
	char *big = malloc(POLICY_SOURCE_MAX + 2);
	assert_non_null(big);
	assert_int_equal(catalog_open(dir, &c), 0);
	add_ds(c, "db");
	small_policy(&good, "@weekly", "good", 3);
	assert_int_equal(catalog_policy_set(c, "db", &good), 0);
	assert_int_equal(catalog_policy_get(c, "db", &got), 0);
	int64_t updated = got.updated;
	policy_fini(&got);

	for (size_t i = 0; i < POLICY_SOURCES_MAX + 1; i++)
		srcs[i] = (char *)"/srv/bad";
	big[0] = '/';
	memset(big + 1, 'b', POLICY_SOURCE_MAX);
	big[POLICY_SOURCE_MAX + 1] = 0;
	struct {
		const char *what;
		int want;
	} cases[] = {
		{ "calendar too long", -EINVAL },  { "relative source", -EINVAL },
		{ "source too long", -EINVAL },    { "NULL source", -EINVAL },
		{ "no source array", -EINVAL },    { "too many sources", -E2BIG },
		{ "empty source", -EINVAL },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		policy_init(&bad);
		snprintf(bad.calendar, sizeof bad.calendar, "@daily");
		bad.keep_last = 99;
		bad.sources = srcs;
		bad.n_sources = 2;
		srcs[0] = (char *)"/srv/bad";
		srcs[1] = (char *)"/srv/bad";
		switch (k) {
		case 0: memset(bad.calendar, 'c', sizeof bad.calendar); break;
		case 1: srcs[1] = (char *)"srv/relative"; break;
		case 2: srcs[1] = big; break;
		case 3: srcs[1] = NULL; break;
		case 4: bad.sources = NULL; break;
		case 5: bad.n_sources = POLICY_SOURCES_MAX + 1; break;
		case 6: srcs[1] = (char *)""; break;
		}
		assert_int_equal(catalog_policy_set(c, "db", &bad), cases[k].want);
		assert_int_equal(catalog_policy_get(c, "db", &got), 0);
		assert_policy_equal(&got, &good);
		assert_int_equal(got.updated, updated);
		policy_fini(&got);
	}
	assert_int_equal(raw_int("SELECT count(*) FROM policy_sources"), 3);
	/* An invalid policy for an unknown dataset is -EINVAL: checked first. */
	memset(bad.calendar, 'c', sizeof bad.calendar);
	assert_int_equal(catalog_policy_set(c, "nothere", &bad), -EINVAL);
	policy_fini(&good);
	catalog_close(c);
	free(big);
}

struct seen {
	int n;
	int stop_at;          /* return 7 from the call numbered this; 0 never */
	char names[8][DATASET_NAME_MAX + 1];
	char calendars[8][POLICY_CALENDAR_MAX + 1];
	size_t n_sources[8];
};

static int seen_one(const struct dataset *d, const struct policy *p, void *arg)
{
	struct seen *s = arg;
	assert_true(s->n < 8);
	assert_int_equal(d->state, DATASET_ACTIVE);
	snprintf(s->names[s->n], sizeof s->names[0], "%s", d->name);
	snprintf(s->calendars[s->n], sizeof s->calendars[0], "%s", p->calendar);
	s->n_sources[s->n] = p->n_sources;
	if (p->n_sources > 0)
		assert_string_equal(p->sources[0], "/srv/p/0");
	return ++s->n == s->stop_at ? 7 : 0;
}

static void test_policy_shredded(void **state)
{
	(void)state;
	struct catalog *c = NULL;
	struct policy p, q, got;
	struct seen s = { 0 };
	assert_int_equal(catalog_open(dir, &c), 0);
	add_ds(c, "gone");
	add_ds(c, "never");
	small_policy(&p, "@daily", "p", 2);
	assert_int_equal(catalog_policy_set(c, "gone", &p), 0);
	assert_int_equal(catalog_mark_shredded(c, "gone", 1800000000), 0);
	assert_int_equal(catalog_mark_shredded(c, "never", 1800000000), 0);
	small_policy(&q, "@hourly", "q", 1);
	assert_int_equal(catalog_policy_set(c, "gone", &q), -EPERM);
	assert_int_equal(catalog_policy_set(c, "never", &q), -EPERM);
	/* The stored policy stays readable (history), but is not listed. */
	assert_int_equal(catalog_policy_get(c, "gone", &got), 0);
	assert_policy_equal(&got, &p);
	policy_fini(&got);
	assert_int_equal(catalog_policy_get(c, "never", &got), 0);
	assert_policy_empty(&got);
	assert_int_equal(raw_int("SELECT count(*) FROM policies WHERE dataset = 'never'"), 0);
	assert_int_equal(catalog_policy_list(c, seen_one, &s), 0);
	assert_int_equal(s.n, 0);
	policy_fini(&p);
	policy_fini(&q);
	catalog_close(c);
}

static void test_policy_list(void **state)
{
	(void)state;
	struct catalog *c = NULL;
	struct policy p;
	struct seen s = { 0 };
	assert_int_equal(catalog_open(dir, &c), 0);
	assert_int_equal(catalog_policy_list(c, seen_one, &s), 0); /* none at all */
	assert_int_equal(s.n, 0);
	add_ds(c, "zeta");
	add_ds(c, "alpha");
	add_ds(c, "nopolicy");
	add_ds(c, "mid");
	add_ds(c, "shred");
	small_policy(&p, "@daily", "p", 3);
	assert_int_equal(catalog_policy_set(c, "zeta", &p), 0);
	assert_int_equal(catalog_policy_set(c, "shred", &p), 0);
	policy_fini(&p);
	small_policy(&p, "@weekly", "p", 1);
	assert_int_equal(catalog_policy_set(c, "alpha", &p), 0);
	policy_fini(&p);
	policy_init(&p); /* the empty policy, stored, counts as a policy */
	assert_int_equal(catalog_policy_set(c, "mid", &p), 0);
	assert_int_equal(catalog_mark_shredded(c, "shred", 1800000000), 0);

	assert_int_equal(catalog_policy_list(c, seen_one, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.names[0], "alpha");
	assert_string_equal(s.calendars[0], "@weekly");
	assert_int_equal(s.n_sources[0], 1);
	assert_string_equal(s.names[1], "mid");
	assert_string_equal(s.calendars[1], "");
	assert_int_equal(s.n_sources[1], 0);
	assert_string_equal(s.names[2], "zeta");
	assert_string_equal(s.calendars[2], "@daily");
	assert_int_equal(s.n_sources[2], 3);

	/* fn's nonzero stops the listing and is returned. */
	memset(&s, 0, sizeof s);
	s.stop_at = 2;
	assert_int_equal(catalog_policy_list(c, seen_one, &s), 7);
	assert_int_equal(s.n, 2);
	/* The handle is usable afterwards: the listing's read has ended. */
	small_policy(&p, "@monthly", "p", 1);
	assert_int_equal(catalog_policy_set(c, "nopolicy", &p), 0);
	policy_fini(&p);
	memset(&s, 0, sizeof s);
	assert_int_equal(catalog_policy_list(c, seen_one, &s), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.names[2], "nopolicy");
	catalog_close(c);
}

/* Inside catalog_begin..commit a policy joins the caller's transaction. */
static void test_policy_transaction(void **state)
{
	(void)state;
	struct catalog *c = NULL;
	struct policy p, got;
	struct dataset d;
	assert_int_equal(catalog_open(dir, &c), 0);
	small_policy(&p, "@daily", "t", 2);
	assert_int_equal(catalog_begin(c), 0);
	add_ds(c, "new");
	assert_int_equal(catalog_policy_set(c, "new", &p), 0);
	assert_int_equal(catalog_policy_get(c, "new", &got), 0);
	assert_policy_equal(&got, &p);
	policy_fini(&got);
	catalog_rollback(c);
	assert_int_equal(catalog_get(c, "new", &d), -ENOENT);
	assert_int_equal(raw_int("SELECT count(*) FROM policies"), 0);
	assert_int_equal(raw_int("SELECT count(*) FROM policy_sources"), 0);

	/* A refused set inside leaves the caller's transaction going. */
	assert_int_equal(catalog_begin(c), 0);
	add_ds(c, "new");
	assert_int_equal(catalog_policy_set(c, "absent", &p), -ENOENT);
	assert_int_equal(catalog_policy_set(c, "new", &p), 0);
	assert_int_equal(catalog_commit(c), 0);
	assert_int_equal(catalog_policy_get(c, "new", &got), 0);
	assert_policy_equal(&got, &p);
	policy_fini(&got);
	assert_int_equal(raw_int("SELECT count(*) FROM policy_sources"), 2);
	policy_fini(&p);
	catalog_close(c);
}

static void test_policy_two_handles(void **state)
{
	(void)state;
	struct catalog *c1 = NULL, *c2 = NULL;
	struct policy p, q, got;
	assert_int_equal(catalog_open(dir, &c1), 0);
	assert_int_equal(catalog_open(dir, &c2), 0);
	add_ds(c1, "shared");
	assert_int_equal(catalog_policy_get(c2, "shared", &got), 0);
	assert_policy_empty(&got);
	small_policy(&p, "30 1 * * *", "one", 4);
	assert_int_equal(catalog_policy_set(c1, "shared", &p), 0);
	assert_int_equal(catalog_policy_get(c2, "shared", &got), 0);
	assert_policy_equal(&got, &p);
	policy_fini(&got);
	small_policy(&q, "@yearly", "two", 1);
	assert_int_equal(catalog_policy_set(c2, "shared", &q), 0);
	assert_int_equal(catalog_policy_get(c1, "shared", &got), 0);
	assert_policy_equal(&got, &q);
	policy_fini(&got);
	policy_fini(&p);
	policy_fini(&q);
	catalog_close(c1);
	catalog_close(c2);
}

/* The statements of schema 1 exactly as the version-1 program ran them. */
static const char v1_sql[] =
	"PRAGMA journal_mode = WAL;"
	"CREATE TABLE datasets ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" id TEXT UNIQUE NOT NULL,"
	" level INTEGER NOT NULL,"
	" owner TEXT NOT NULL,"
	" suite INTEGER NOT NULL,"
	" pool TEXT NOT NULL,"
	" repo TEXT NOT NULL,"
	" created INTEGER NOT NULL,"
	" state INTEGER NOT NULL DEFAULT 0,"
	" shredded INTEGER NOT NULL DEFAULT 0);"
	"PRAGMA user_version = 1;"
	"INSERT INTO datasets VALUES ('hr', '0123456789abcdef0123456789abcdef', 3, "
	" 'personnel', 2, '/pools/3', '/pools/3/0123456789abcdef0123456789abcdef', "
	" 1700000000, 0, 0);"
	"INSERT INTO datasets VALUES ('old', 'fedcba9876543210fedcba9876543210', 1, "
	" 'archive', 1, '/pools/1', '/pools/1/fedcba9876543210fedcba9876543210', "
	" 1600000000, 1, 1650000000);";

static void test_upgrade_v1(void **state)
{
	(void)state;
	struct catalog *c = NULL;
	struct dataset d;
	struct policy p, got;
	int n = 0;
	raw_exec(v1_sql);
	assert_int_equal(raw_int("PRAGMA user_version"), 1);
	assert_int_equal(catalog_open(dir, &c), 0);
	assert_int_equal(raw_int("PRAGMA user_version"), 2);
	assert_int_equal(raw_int("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
				 "AND name IN ('policies', 'policy_sources')"),
			 2);
	/* The datasets survived, field for field. */
	assert_int_equal(catalog_list(c, count, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(catalog_get(c, "hr", &d), 0);
	assert_string_equal(d.id, "0123456789abcdef0123456789abcdef");
	assert_int_equal(d.level, 3);
	assert_string_equal(d.owner, "personnel");
	assert_int_equal(d.suite, 2);
	assert_string_equal(d.pool, "/pools/3");
	assert_string_equal(d.repo, "/pools/3/0123456789abcdef0123456789abcdef");
	assert_int_equal(d.created, 1700000000);
	assert_int_equal(d.state, DATASET_ACTIVE);
	assert_int_equal(catalog_get(c, "old", &d), 0);
	assert_int_equal(d.state, DATASET_SHREDDED);
	assert_int_equal(d.shredded, 1650000000);
	/* No policies yet; they can be set. */
	assert_int_equal(catalog_policy_get(c, "hr", &got), 0);
	assert_policy_empty(&got);
	small_policy(&p, "@daily", "hr", 2);
	assert_int_equal(catalog_policy_set(c, "hr", &p), 0);
	assert_int_equal(catalog_policy_set(c, "old", &p), -EPERM);
	catalog_close(c);

	/* Opened again: already at 2, nothing redone. */
	assert_int_equal(catalog_open(dir, &c), 0);
	assert_int_equal(raw_int("PRAGMA user_version"), 2);
	assert_int_equal(catalog_policy_get(c, "hr", &got), 0);
	assert_policy_equal(&got, &p);
	policy_fini(&got);
	policy_fini(&p);
	catalog_close(c);
}

/* Version 3 (the first one after this program's) is refused, file untouched. */
static void test_newer_schema_v3(void **state)
{
	(void)state;
	struct catalog *c = NULL;
	assert_int_equal(catalog_open(dir, &c), 0);
	catalog_close(c);
	raw_exec("PRAGMA user_version = 3");
	c = (struct catalog *)0x1;
	assert_int_equal(catalog_open(dir, &c), -ENOTSUP);
	assert_ptr_equal(c, (struct catalog *)0x1);
	assert_int_equal(raw_int("PRAGMA user_version"), 3);
	/* And so is a negative one (no program ever wrote it). */
	raw_exec("PRAGMA user_version = -1");
	assert_int_equal(catalog_open(dir, &c), -ENOTSUP);
}

/* Stored rows that break the schema are refused (-EBADMSG), not trusted. */
static void test_policy_corrupt(void **state)
{
	(void)state;
	struct catalog *c = NULL;
	struct policy p, got;
	struct seen s = { 0 };
	static const struct {
		const char *breaks, *repairs;
	} cases[] = {
		{ "UPDATE policies SET keep_last = -1", "UPDATE policies SET keep_last = 2" },
		{ "UPDATE policies SET verify_days = 4294967296",
		  "UPDATE policies SET verify_days = 30" },
		{ "UPDATE policies SET keep_weekly = 'many'", "UPDATE policies SET keep_weekly = 0" },
		{ "UPDATE policies SET calendar = printf('%200s', 'x')",
		  "UPDATE policies SET calendar = '@daily'" },
		{ "UPDATE policy_sources SET idx = 5 WHERE idx = 0",
		  "UPDATE policy_sources SET idx = 0 WHERE idx = 5" },
		{ "UPDATE policy_sources SET path = CAST('rel' AS BLOB) WHERE idx = 1",
		  "UPDATE policy_sources SET path = CAST('/srv/p/1' AS BLOB) WHERE idx = 1" },
		{ "UPDATE policy_sources SET path = X'2F00' WHERE idx = 1",
		  "UPDATE policy_sources SET path = CAST('/srv/p/1' AS BLOB) WHERE idx = 1" },
		{ "DELETE FROM policies", NULL },
	};
	assert_int_equal(catalog_open(dir, &c), 0);
	add_ds(c, "db");
	small_policy(&p, "@daily", "p", 2);
	assert_int_equal(catalog_policy_set(c, "db", &p), 0);
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		raw_exec(cases[k].breaks);
		assert_int_equal(catalog_policy_get(c, "db", &got), -EBADMSG);
		if (cases[k].repairs == NULL)
			continue; /* sources without a policy: get refuses, list skips */
		assert_int_equal(catalog_policy_list(c, seen_one, &s), -EBADMSG);
		raw_exec(cases[k].repairs);
		assert_int_equal(catalog_policy_get(c, "db", &got), 0);
		assert_policy_equal(&got, &p);
		policy_fini(&got);
	}
	policy_fini(&p);
	catalog_close(c);
}

int main(void)
{
	log_init("test_catalog", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema, setup, teardown),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_policy_struct),
		cmocka_unit_test_setup_teardown(test_policy_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_empty_and_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_shredded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_two_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_v3, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_corrupt, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
