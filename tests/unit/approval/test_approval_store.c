/*
 * erase.db (approval/store.h) in a temporary directory: approvers are
 * unique by name and key for ever, revocation is final, requests move
 * only forward from the state the caller expects, a second signature by
 * one approver is refused, and everything survives a reopen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approval/store.h"
#include "testutil.h"

struct fix {
	char dir[64];
	struct erase_store *s;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof *f);
	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/coffer-erase-store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(erase_store_open(f->dir, &f->s), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	erase_store_close(f->s);
	testutil_rm_tree(AT_FDCWD, f->dir);
	free(f);
	return 0;
}

static struct approver person(const char *name, uint8_t fp, enum approver_role role)
{
	struct approver a = { .role = role, .suite = 1, .added = 100, .pem = "PEM" };
	snprintf(a.name, sizeof a.name, "%s", name);
	snprintf(a.user, sizeof a.user, "%s", name);
	snprintf(a.added_by, sizeof a.added_by, "sec");
	memset(a.fingerprint, fp, 32);
	return a;
}

static void reopen(struct fix *f)
{
	erase_store_close(f->s);
	assert_int_equal(erase_store_open(f->dir, &f->s), 0);
}

static void test_approvers(void **state)
{
	struct fix *f = *state;
	struct approver a = person("bob", 1, APPROVER_ROLE_APPROVER);
	struct approver b = person("erin", 2, APPROVER_ROLE_SUPERVISOR);
	struct approver *v;
	size_t n;
	assert_int_equal(erase_store_approver_add(f->s, &a), 0);
	assert_int_equal(erase_store_approver_add(f->s, &b), 0);
	testutil_stderr_begin();
	struct approver same_name = person("bob", 3, APPROVER_ROLE_APPROVER);
	struct approver same_key = person("bobby", 1, APPROVER_ROLE_APPROVER);
	assert_int_equal(erase_store_approver_add(f->s, &same_name), -EEXIST);
	assert_int_equal(erase_store_approver_add(f->s, &same_key), -EEXIST);
	assert_non_null(strstr(testutil_stderr_end(), "never reused"));

	assert_int_equal(erase_store_approver_revoke(f->s, "bob", "sec2", 200), 0);
	testutil_stderr_begin();
	assert_int_equal(erase_store_approver_revoke(f->s, "bob", "sec2", 300), -EALREADY);
	assert_int_equal(erase_store_approver_revoke(f->s, "nobody", "sec2", 300), -ENOENT);
	testutil_stderr_end();
	/* A revoked name stays taken. */
	testutil_stderr_begin();
	struct approver again = person("bob", 9, APPROVER_ROLE_APPROVER);
	assert_int_equal(erase_store_approver_add(f->s, &again), -EEXIST);
	testutil_stderr_end();

	reopen(f);
	assert_int_equal(erase_store_approvers(f->s, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "bob");
	assert_int_equal(v[0].revoked, 200);
	assert_string_equal(v[0].revoked_by, "sec2");
	assert_string_equal(v[1].name, "erin");
	assert_int_equal(v[1].role, APPROVER_ROLE_SUPERVISOR);
	assert_int_equal(v[1].revoked, 0);
	assert_string_equal(v[1].pem, "PEM");
	assert_int_equal(v[1].fingerprint[31], 2);
	erase_store_approvers_free(v, n);
}

static void test_requests(void **state)
{
	struct fix *f = *state;
	uint8_t id[ERASE_ID_LEN], id2[ERASE_ID_LEN];
	struct buf enc = { 0 };
	enum erase_state st;
	int64_t since;
	memset(id, 1, sizeof id);
	memset(id2, 2, sizeof id2);
	assert_int_equal(erase_store_request_add(f->s, id, (const uint8_t *)"ENC1", 4), 0);
	assert_int_equal(erase_store_request_add(f->s, id2, (const uint8_t *)"ENC2", 4), 0);
	assert_int_equal(erase_store_request_add(f->s, id, (const uint8_t *)"X", 1), -EEXIST);
	assert_int_equal(erase_store_request_get(f->s, id, &enc, &st, &since), 0);
	assert_int_equal(enc.len, 4);
	assert_memory_equal(enc.data, "ENC1", 4);
	assert_int_equal(st, ERASE_PENDING);

	/* Only forward, and only from the state the caller saw. */
	assert_int_equal(erase_store_request_set_state(f->s, id, ERASE_PENDING, ERASE_EXECUTING,
						       500), 0);
	testutil_stderr_begin();
	assert_int_equal(erase_store_request_set_state(f->s, id, ERASE_PENDING, ERASE_CANCELLED,
						       501), -EPERM);
	assert_non_null(strstr(testutil_stderr_end(), "is not pending"));
	reopen(f);
	buf_reset(&enc);
	assert_int_equal(erase_store_request_get(f->s, id, &enc, &st, &since), 0);
	assert_int_equal(st, ERASE_EXECUTING);
	assert_int_equal(since, 500);

	uint8_t (*ids)[ERASE_ID_LEN];
	size_t n;
	assert_int_equal(erase_store_request_ids(f->s, &ids, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(ids[0], id2, ERASE_ID_LEN); /* newest first */
	free(ids);

	uint8_t nope[ERASE_ID_LEN] = { 0 };
	testutil_stderr_begin();
	assert_int_equal(erase_store_request_get(f->s, nope, &enc, &st, &since), -ENOENT);
	assert_non_null(strstr(testutil_stderr_end(), "no destruction request 0000"));
	buf_fini(&enc);
}

static void test_approvals(void **state)
{
	struct fix *f = *state;
	uint8_t id[ERASE_ID_LEN];
	memset(id, 7, sizeof id);
	assert_int_equal(erase_store_request_add(f->s, id, (const uint8_t *)"E", 1), 0);
	struct approval a = { .approver = "bob", .sig = (const uint8_t *)"SIG-B", .sig_len = 5,
			      .time = 10, .by_uid = 1001 };
	struct approval b = { .approver = "erin", .sig = (const uint8_t *)"SIG-E", .sig_len = 5,
			      .time = 11, .by_uid = 1002 };
	assert_int_equal(erase_store_approval_add(f->s, id, &a), 0);
	assert_int_equal(erase_store_approval_add(f->s, id, &b), 0);
	testutil_stderr_begin();
	assert_int_equal(erase_store_approval_add(f->s, id, &a), -EEXIST);
	assert_non_null(strstr(testutil_stderr_end(), "'bob' has approved this request already"));
	/* Not for a request that does not exist. */
	uint8_t other[ERASE_ID_LEN] = { 0 };
	testutil_stderr_begin();
	assert_int_not_equal(erase_store_approval_add(f->s, other, &a), 0);
	testutil_stderr_end();

	reopen(f);
	struct approval *v;
	size_t n;
	assert_int_equal(erase_store_approvals(f->s, id, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].approver, "bob");
	assert_memory_equal(v[0].sig, "SIG-B", 5);
	assert_int_equal(v[1].by_uid, 1002);
	erase_store_approvals_free(v, n);
}

static void test_executions(void **state)
{
	struct fix *f = *state;
	uint8_t id[ERASE_ID_LEN];
	struct erase_execution x = { .started = 50, .executor_uid = 7 }, got;
	memset(id, 9, sizeof id);
	snprintf(x.executor, sizeof x.executor, "sec");
	snprintf(x.method, sizeof x.method, "random");
	assert_int_equal(erase_store_request_add(f->s, id, (const uint8_t *)"E", 1), 0);
	assert_int_equal(erase_store_execution_get(f->s, id, &got), -ENOENT);
	assert_int_equal(erase_store_execution_begin(f->s, id, &x), 0);
	/* A resumed execution keeps the record it began with. */
	x.started = 99;
	assert_int_equal(erase_store_execution_begin(f->s, id, &x), -EEXIST);
	assert_int_equal(erase_store_execution_shredded(f->s, id, 60), 0);
	assert_int_equal(erase_store_execution_file(f->s, id, 1000, true), 0);
	assert_int_equal(erase_store_execution_file(f->s, id, 24, false), 0);
	reopen(f);
	assert_int_equal(erase_store_execution_get(f->s, id, &got), 0);
	assert_int_equal(got.started, 50);
	assert_int_equal(got.shredded, 60);
	assert_int_equal(got.files, 2);
	assert_int_equal(got.bytes, 1024);
	assert_int_equal(got.direct_files, 1);
	assert_int_equal(got.finished, 0);
	assert_string_equal(got.method, "random");
	assert_int_equal(erase_store_execution_finish(f->s, id, 70, "ok: done"), 0);
	assert_int_equal(erase_store_execution_get(f->s, id, &got), 0);
	assert_int_equal(got.finished, 70);
	assert_string_equal(got.result, "ok: done");
	uint8_t other[ERASE_ID_LEN] = { 0 };
	assert_int_equal(erase_store_execution_file(f->s, other, 1, false), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_approvers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_approvals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_executions, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
