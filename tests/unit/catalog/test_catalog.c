/* The dataset catalog (catalog/catalog.h) on a real SQLite file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(void)
{
	log_init("test_catalog", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema, setup, teardown),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
