/* levels.conf (conf/levels.h): valid files parse; each broken rule is refused. */
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

#include "conf/levels.h"
#include "crypto/crypto.h"
#include "util/log.h"

static int parse(const char *text, struct levels **out)
{
	return levels_parse(text, strlen(text), "test.conf", "/var/lib/coffer", out);
}

static void test_default(void **state)
{
	(void)state;
	struct levels *l = NULL;
	assert_int_equal(parse(levels_default_conf, &l), 0);
	assert_int_equal(l->n, 3);
	const struct level *lv = levels_find(l, 3);
	assert_non_null(lv);
	assert_string_equal(lv->name, "important");
	assert_int_equal(lv->suite, SUITE_NATIONAL);
	assert_true(lv->replication_required);
	assert_string_equal(lv->pool, "/var/lib/coffer/pools/important");
	assert_null(levels_find(l, 4));
	char why[256];
	assert_int_equal(level_allows_suite(lv, SUITE_NATIONAL, why, sizeof why), 0);
	assert_int_equal(level_allows_suite(lv, SUITE_INTERNATIONAL, why, sizeof why), -EPERM);
	assert_non_null(strstr(why, "level 3"));
	assert_non_null(strstr(why, "suite = national"));
	/* "any" takes both suites. */
	assert_int_equal(level_allows_suite(levels_find(l, 2), SUITE_INTERNATIONAL, why,
					    sizeof why), 0);
	levels_free(l);
}

static void test_fields(void **state)
{
	(void)state;
	struct levels *l = NULL;
	const char *text = "# top\n\n[level 7]\r\n  name=top-secret \n"
			   "retention = 2w\ndrill = 36h\npool = /srv//pool7/\nconcurrency = 3\n"
			   "erase_approvals = 5\nerase_expiry = 36h\ndataset_retention = 10w\n"
			   "[ level 2 ]\nname = low\npool = p2\n";
	assert_int_equal(parse(text, &l), 0);
	assert_int_equal(l->n, 2);
	/* Sorted by number. */
	assert_int_equal(l->v[0].number, 2);
	assert_int_equal(l->v[1].number, 7);
	assert_string_equal(l->v[1].name, "top-secret");
	assert_int_equal(l->v[1].retention_s, 14 * 86400);
	assert_int_equal(l->v[1].drill_s, 36 * 3600);
	assert_string_equal(l->v[1].pool, "/srv/pool7");
	assert_int_equal(l->v[1].suite, LEVEL_SUITE_ANY);
	assert_false(l->v[1].replication_required);
	assert_string_equal(l->v[0].pool, "/var/lib/coffer/p2");
	assert_int_equal(l->v[1].concurrency, 3);
	assert_int_equal(l->v[0].concurrency, 1); /* the default */
	assert_int_equal(l->v[1].erase_approvals, 5);
	assert_int_equal(l->v[1].erase_expiry_s, 36 * 3600);
	assert_int_equal(l->v[1].dataset_retention_s, 70 * 86400);
	assert_int_equal(l->v[0].dataset_retention_s, 0);
	assert_int_equal(l->v[0].erase_approvals, 2); /* the defaults */
	assert_int_equal(l->v[0].erase_expiry_s, 7 * 86400);
	levels_free(l);
}

static void test_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",                                                   /* no level */
		"name = x\n",                                         /* outside a section */
		"[level 1]\nname = a\npool = a\n[level 1]\nname = b\npool = b\n", /* dup */
		"[level 1]\nname = a\npool = a\ncolour = red\n",       /* unknown key */
		"[level 1]\nname = a\npool = a\nsuite = strong\n",     /* bad value */
		"[level 1]\nname = a\npool = a\nreplication = maybe\n",
		"[level 1]\nname = a\npool = a\nretention = 10\n",
		"[level 1]\nname = a\npool = a\nretention = 0d\n",
		"[level 1]\nname = a\npool = a\ndrill = 99999999999999d\n",
		"[level 1]\nname = A B\npool = a\n",
		"[level 0]\nname = a\npool = a\n",
		"[level 256]\nname = a\npool = a\n",
		"[level x]\nname = a\npool = a\n",
		"[tier 1]\nname = a\npool = a\n",
		"[level 1\nname = a\npool = a\n",
		"[level 1]\nname = a\n",                              /* no pool */
		"[level 1]\npool = a\n",                              /* no name */
		"[level 1]\nname = a\npool = a\npool = b\n",          /* twice */
		"[level 1]\nname = a\npool = ../a\n",
		"[level 1]\nname = a\npool = /\n",
		"[level 1]\nname = a\npool = a\n[level 2]\nname = b\npool = a/\n", /* shared */
		"[level 1]\nname = a\npool = a\n[level 2]\nname = b\npool = a/b\n", /* nested */
		"[level 1]\nname = a\npool = /var/lib/coffer/a/b\n[level 2]\nname = b\npool = a\n",
		"[level 1]\nname = a\npool = a\n[level 2]\nname = a\npool = b\n", /* same name */
		"[level 1]\nname = a\npool a\n",
		"[level 1]\nname = a\npool = a\nconcurrency = 0\n",
		"[level 1]\nname = a\npool = a\nconcurrency = 65\n",
		"[level 1]\nname = a\npool = a\nconcurrency = 2x\n",
		"[level 1]\nname = a\npool = a\nconcurrency = -1\n",
		"[level 1]\nname = a\npool = a\nconcurrency = 1\nconcurrency = 2\n",
		"[level 1]\nname = a\npool = a\nerase_approvals = 0\n",
		"[level 1]\nname = a\npool = a\nerase_approvals = 17\n",
		"[level 1]\nname = a\npool = a\nerase_approvals = 2\nerase_approvals = 2\n",
		"[level 1]\nname = a\npool = a\nerase_expiry = 91d\n",
		"[level 1]\nname = a\npool = a\nerase_expiry = 0d\n",
		"[level 1]\nname = a\npool = a\nerase_expiry = 7\n",
		"[level 1]\nname = a\npool = a\ndataset_retention = 0d\n",
		"[level 1]\nname = a\npool = a\ndataset_retention = 1d\ndataset_retention = 2d\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct levels *l = (struct levels *)0x1;
		if (parse(bad[i], &l) != -EINVAL)
			fail_msg("accepted case %zu: %s", i, bad[i]);
		assert_ptr_equal(l, (struct levels *)0x1); /* out untouched */
	}
	/* Pools that only share a prefix of their names are separate. */
	struct levels *l = NULL;
	assert_int_equal(parse("[level 1]\nname = a\npool = a\n[level 2]\nname = b\npool = ab\n",
			       &l), 0);
	levels_free(l);
}

/* The message names the file, the line and the rule. */
static void test_message(void **state)
{
	(void)state;
	fflush(stderr);
	int saved = dup(2);
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	dup2(fileno(tmp), 2);
	struct levels *l = NULL;
	int e = parse("[level 1]\nname = a\npool = a\n\nsuite = strong\n", &l);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(e, -EINVAL);
	char msg[512] = { 0 };
	rewind(tmp);
	size_t n = fread(msg, 1, sizeof msg - 1, tmp);
	fclose(tmp);
	assert_true(n > 0);
	assert_non_null(strstr(msg, "test.conf:5:"));
	assert_non_null(strstr(msg, "national, international or any"));
}

static void test_load(void **state)
{
	(void)state;
	char dir[] = "/tmp/coffer-levels.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct levels *l = NULL;
	/* No file: the built-in default. */
	assert_int_equal(levels_load(dir, "/state", &l), 0);
	assert_int_equal(l->n, 3);
	levels_free(l);
	char path[256];
	snprintf(path, sizeof path, "%s/levels.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("[level 4]\nname = x\npool = /p\n", f);
	fclose(f);
	assert_int_equal(levels_load(dir, "/state", &l), 0);
	assert_int_equal(l->n, 1);
	assert_int_equal(l->v[0].number, 4);
	levels_free(l);
	unlink(path);
	rmdir(dir);
	levels_free(NULL);
}

int main(void)
{
	log_init("test_levels", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default), cmocka_unit_test(test_fields),
		cmocka_unit_test(test_refused), cmocka_unit_test(test_message),
		cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
