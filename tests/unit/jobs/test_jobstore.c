/*
 * The job store (jobs/jobstore.h) on a real SQLite file: every field
 * round-trips, request keys deduplicate, state transitions and their
 * refusals, interruption, listing, the message cap, several handles,
 * threads and processes writing at once, schema versioning, and the
 * metrics file checked line by line.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "jobs/jobstore.h"
#include "testutil.h"
#include "util/log.h"

static char dir[64];
static int64_t fake_now; /* the clock of handles given test_clock */

static int64_t test_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/coffer-jobs.XXXXXX");
	fake_now = 1700000000;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	testutil_rm_tree(AT_FDCWD, dir);
	return 0;
}

static struct jobstore *open_store(void)
{
	struct jobstore *js = NULL;
	assert_int_equal(jobstore_open(dir, &js), 0);
	assert_non_null(js);
	jobstore_set_clock(js, test_clock, NULL);
	return js;
}

/* A minimal valid job; the struct is large, so it lives on the heap. */
static struct job *new_job(enum job_kind kind, const char *dataset, const char *daemon,
			   const char *key)
{
	struct job *j = calloc(1, sizeof *j);
	assert_non_null(j);
	j->kind = kind;
	snprintf(j->dataset, sizeof j->dataset, "%s", dataset);
	snprintf(j->daemon, sizeof j->daemon, "%s", daemon);
	snprintf(j->request_key, sizeof j->request_key, "%s", key ? key : "");
	snprintf(j->pool, sizeof j->pool, "/pools/%s", dataset);
	j->requested_by = 1000;
	j->attempt = 1;
	return j;
}

/* Adds a job and returns its id. */
static uint64_t add(struct jobstore *js, enum job_kind kind, const char *dataset,
		    const char *daemon, const char *key)
{
	struct job *j = new_job(kind, dataset, daemon, key);
	uint64_t id = 0;
	assert_int_equal(jobstore_add(js, j, &id), 0);
	assert_true(id > 0);
	assert_int_equal(j->id, id);
	free(j);
	return id;
}

static struct job *get(struct jobstore *js, uint64_t id)
{
	struct job *j = calloc(1, sizeof *j);
	assert_non_null(j);
	assert_int_equal(jobstore_get(js, id, j), 0);
	return j;
}

static enum job_state state_of(struct jobstore *js, uint64_t id)
{
	struct job *j = get(js, id);
	enum job_state s = j->state;
	free(j);
	return s;
}

static void fill_str(char *dst, size_t size, char c)
{
	memset(dst, c, size - 1);
	dst[size - 1] = 0;
}

static void assert_jobs_equal(const struct job *a, const struct job *b)
{
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->kind, b->kind);
	assert_string_equal(a->dataset, b->dataset);
	assert_string_equal(a->daemon, b->daemon);
	assert_int_equal(a->state, b->state);
	assert_string_equal(a->request_key, b->request_key);
	assert_int_equal(a->requested_by, b->requested_by);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->started, b->started);
	assert_int_equal(a->finished, b->finished);
	assert_int_equal(a->files, b->files);
	assert_int_equal(a->bytes, b->bytes);
	assert_int_equal(a->errors, b->errors);
	assert_string_equal(a->snapshot, b->snapshot);
	assert_string_equal(a->message, b->message);
	assert_int_equal(a->attempt, b->attempt);
	assert_string_equal(a->params, b->params);
	assert_string_equal(a->pool, b->pool);
	assert_int_equal(a->messages_dropped, b->messages_dropped);
}

static void test_names(void **state)
{
	(void)state;
	enum job_kind k;
	enum job_state s;
	for (int i = JOB_BACKUP; i <= JOB_VERIFY; i++) {
		assert_int_equal(job_kind_parse(job_kind_name((enum job_kind)i), &k), 0);
		assert_int_equal(k, i);
	}
	for (int i = JOB_QUEUED; i <= JOB_INTERRUPTED; i++) {
		assert_int_equal(job_state_parse(job_state_name((enum job_state)i), &s), 0);
		assert_int_equal(s, i);
	}
	assert_string_equal(job_kind_name(JOB_RETENTION), "retention");
	assert_string_equal(job_state_name(JOB_INTERRUPTED), "interrupted");
	assert_string_equal(job_kind_name((enum job_kind)0), "unknown");
	assert_string_equal(job_state_name((enum job_state)7), "unknown");
	assert_int_equal(job_kind_parse("Backup", &k), -EINVAL);
	assert_int_equal(job_kind_parse(NULL, &k), -EINVAL);
	assert_int_equal(job_state_parse("done", &s), -EINVAL);
	assert_false(job_state_final(JOB_QUEUED));
	assert_false(job_state_final(JOB_RUNNING));
	assert_true(job_state_final(JOB_SUCCEEDED));
	assert_true(job_state_final(JOB_FAILED));
	assert_true(job_state_final(JOB_CANCELLED));
	assert_true(job_state_final(JOB_INTERRUPTED));
}

/* Every field at its maximal length and value survives add, get and a reopen. */
static void test_round_trip(void **state)
{
	(void)state;
	struct jobstore *js = open_store();
	struct job *in = calloc(1, sizeof *in), *out;
	uint64_t id = 0;
	assert_non_null(in);
	in->kind = JOB_RESTORE;
	fill_str(in->dataset, sizeof in->dataset, 'd');
	fill_str(in->daemon, sizeof in->daemon, 'r');
	fill_str(in->request_key, sizeof in->request_key, 'k');
	in->requested_by = UINT32_MAX;
	for (int i = 0; i < JOB_SNAPSHOT_LEN; i++)
		in->snapshot[i] = "0123456789abcdef"[i % 16];
	fill_str(in->message, sizeof in->message, 'm');
	in->attempt = UINT32_MAX;
	fill_str(in->params, sizeof in->params, 'p');
	static const char head[] = "target=/tmp/r include=/srv/a\n\"quoted\" ";
	memcpy(in->params, head, strlen(head));
	fill_str(in->pool, sizeof in->pool, 'o');
	in->pool[0] = '/';
	/* Output fields given by the caller are replaced. */
	in->id = 77;
	in->state = JOB_SUCCEEDED;
	in->files = in->bytes = in->errors = 5;
	in->started = in->finished = 9;
	assert_int_equal(strlen(in->dataset), 64);
	assert_int_equal(strlen(in->daemon), 15);
	assert_int_equal(strlen(in->request_key), JOB_KEY_MAX);
	assert_int_equal(strlen(in->message), JOB_MESSAGE_MAX);
	assert_int_equal(strlen(in->params), JOB_PARAMS_MAX);
	assert_int_equal(strlen(in->pool), 4095);

	assert_int_equal(jobstore_add(js, in, &id), 0);
	assert_int_equal(id, 1);
	assert_int_equal(in->id, 1);
	assert_int_equal(in->state, JOB_QUEUED);
	assert_int_equal(in->created, fake_now);
	assert_int_equal(in->started, 0);
	assert_int_equal(in->finished, 0);
	assert_int_equal(in->files + in->bytes + in->errors, 0);
	out = get(js, id);
	assert_jobs_equal(in, out);
	free(out);

	/* The progress and end fields too, at their limits. */
	fake_now += 10;
	assert_int_equal(jobstore_start(js, id), 0);
	assert_int_equal(jobstore_progress(js, id, INT64_MAX, INT64_MAX - 1, INT64_MAX - 2), 0);
	fake_now += 5;
	char snap[JOB_SNAPSHOT_LEN + 1];
	fill_str(snap, sizeof snap, 'f');
	assert_int_equal(jobstore_finish(js, id, JOB_SUCCEEDED, in->message, snap), 0);
	in->state = JOB_SUCCEEDED;
	in->started = 1700000010;
	in->finished = 1700000015;
	in->files = INT64_MAX;
	in->bytes = INT64_MAX - 1;
	in->errors = INT64_MAX - 2;
	memcpy(in->snapshot, snap, sizeof snap);
	out = get(js, id);
	assert_jobs_equal(in, out);
	free(out);
	jobstore_close(js);

	js = open_store();
	out = get(js, id);
	assert_jobs_equal(in, out);
	free(out);
	out = calloc(1, sizeof *out);
	assert_int_equal(jobstore_get(js, 2, out), -ENOENT);
	assert_int_equal(jobstore_get(js, 0, out), -ENOENT);
	assert_int_equal(jobstore_get(js, UINT64_MAX, out), -ENOENT);
	free(out);
	free(in);
	jobstore_close(js);
	jobstore_close(NULL);
}

static void test_invalid(void **state)
{
	(void)state;
	struct jobstore *js = open_store();
	struct job *j = new_job(JOB_BACKUP, "web", "backupd", NULL);
	uint64_t id = 99;

	j->kind = (enum job_kind)5;
	assert_int_equal(jobstore_add(js, j, &id), -EINVAL);
	j->kind = JOB_BACKUP;
	memset(j->dataset, 'x', sizeof j->dataset); /* not terminated */
	assert_int_equal(jobstore_add(js, j, &id), -EINVAL);
	j->dataset[0] = 0;
	assert_int_equal(jobstore_add(js, j, &id), -EINVAL);
	snprintf(j->dataset, sizeof j->dataset, "web");
	j->daemon[0] = 0;
	assert_int_equal(jobstore_add(js, j, &id), -EINVAL);
	snprintf(j->daemon, sizeof j->daemon, "backupd");
	memset(j->params, 'p', sizeof j->params);
	assert_int_equal(jobstore_add(js, j, &id), -EINVAL);
	j->params[0] = 0;
	fill_str(j->snapshot, sizeof j->snapshot, 'A'); /* upper case */
	assert_int_equal(jobstore_add(js, j, &id), -EINVAL);
	snprintf(j->snapshot, sizeof j->snapshot, "abc"); /* a prefix */
	assert_int_equal(jobstore_add(js, j, &id), -EINVAL);
	j->snapshot[0] = 0;
	j->attempt = 0;
	assert_int_equal(jobstore_add(js, j, &id), -EINVAL);
	assert_int_equal(id, 99);
	j->attempt = 1;
	assert_int_equal(jobstore_add(js, j, &id), 0);
	assert_int_equal(id, 1);

	assert_int_equal(jobstore_start(js, id), 0);
	assert_int_equal(jobstore_progress(js, id, (uint64_t)INT64_MAX + 1, 0, 0), -EINVAL);
	assert_int_equal(jobstore_finish(js, id, JOB_RUNNING, NULL, NULL), -EINVAL);
	assert_int_equal(jobstore_finish(js, id, JOB_QUEUED, NULL, NULL), -EINVAL);
	assert_int_equal(jobstore_finish(js, id, (enum job_state)9, NULL, NULL), -EINVAL);
	assert_int_equal(jobstore_finish(js, id, JOB_SUCCEEDED, NULL, "xyz"), -EINVAL);
	assert_int_equal(state_of(js, id), JOB_RUNNING);
	assert_int_equal(jobstore_mark_interrupted(js, ""), -EINVAL);
	assert_int_equal(jobstore_mark_interrupted(js, NULL), -EINVAL);
	assert_int_equal(jobstore_mark_interrupted(js, "a-daemon-name-too-long"), -EINVAL);
	struct job_filter f = { .state = 7 };
	assert_int_equal(jobstore_list(js, &f, NULL, NULL), -EINVAL);
	free(j);
	jobstore_close(js);
}

/* A request key makes exactly one job; a repeat gets -EEXIST and that job's id. */
static void test_request_key(void **state)
{
	(void)state;
	struct jobstore *js = open_store();
	struct job *j = new_job(JOB_BACKUP, "web", "backupd", "sched:web:backup:1700000000");
	struct job *again = new_job(JOB_RETENTION, "other", "restored",
				    "sched:web:backup:1700000000");
	uint64_t id = 0, id2 = 0;
	assert_int_equal(jobstore_add(js, j, &id), 0);
	fake_now += 60;
	assert_int_equal(jobstore_add(js, again, &id2), -EEXIST);
	assert_int_equal(id2, id);
	assert_int_equal(again->id, 0); /* *j untouched */
	assert_int_equal(again->state, 0);
	struct job *got = get(js, id);
	assert_string_equal(got->dataset, "web"); /* the first submission stands */
	assert_int_equal(got->kind, JOB_BACKUP);
	assert_int_equal(got->created, 1700000000);
	free(got);

	/* From a second handle (another process) too. */
	struct jobstore *js2 = open_store();
	id2 = 0;
	assert_int_equal(jobstore_add(js2, again, &id2), -EEXIST);
	assert_int_equal(id2, id);
	jobstore_close(js2);

	/* Another key, and any number of jobs without one. */
	uint64_t k2 = add(js, JOB_BACKUP, "web", "backupd", "sched:web:backup:1700003600");
	uint64_t n1 = add(js, JOB_BACKUP, "web", "backupd", NULL);
	uint64_t n2 = add(js, JOB_BACKUP, "web", "backupd", "");
	assert_int_equal(k2, id + 1);
	assert_int_equal(n1, id + 2);
	assert_int_equal(n2, id + 3);
	got = get(js, n2);
	assert_string_equal(got->request_key, "");
	free(got);
	free(j);
	free(again);
	jobstore_close(js);
}

static void test_transitions(void **state)
{
	(void)state;
	struct jobstore *js = open_store();
	struct job *j;
	uint64_t a = add(js, JOB_BACKUP, "web", "backupd", NULL);

	/* Progress only while running. */
	assert_int_equal(jobstore_progress(js, a, 1, 2, 3), -EALREADY);
	fake_now = 1700000100;
	assert_int_equal(jobstore_start(js, a), 0);
	assert_int_equal(jobstore_start(js, a), -EALREADY);
	assert_int_equal(jobstore_progress(js, a, 10, 20, 1), 0);
	j = get(js, a);
	assert_int_equal(j->state, JOB_RUNNING);
	assert_int_equal(j->started, 1700000100);
	assert_int_equal(j->finished, 0);
	assert_int_equal(j->files, 10);
	assert_int_equal(j->bytes, 20);
	assert_int_equal(j->errors, 1);
	free(j);

	fake_now = 1700000200;
	char snap[JOB_SNAPSHOT_LEN + 1];
	fill_str(snap, sizeof snap, 'e');
	assert_int_equal(jobstore_finish(js, a, JOB_SUCCEEDED, "10 files, 20 bytes", snap), 0);
	assert_int_equal(jobstore_finish(js, a, JOB_FAILED, "late", NULL), -EALREADY);
	assert_int_equal(jobstore_start(js, a), -EALREADY);
	assert_int_equal(jobstore_progress(js, a, 99, 99, 99), -EALREADY);
	j = get(js, a);
	assert_int_equal(j->state, JOB_SUCCEEDED);
	assert_int_equal(j->finished, 1700000200);
	assert_string_equal(j->message, "10 files, 20 bytes");
	assert_string_equal(j->snapshot, snap);
	assert_int_equal(j->files, 10);
	free(j);

	/* A queued job may be cancelled; it never started. NULLs keep the
	 * message and the snapshot a restore was given. */
	struct job *r = new_job(JOB_RESTORE, "web", "restored", NULL);
	uint64_t b = 0;
	memcpy(r->snapshot, snap, sizeof snap);
	snprintf(r->message, sizeof r->message, "waiting");
	assert_int_equal(jobstore_add(js, r, &b), 0);
	assert_int_equal(jobstore_finish(js, b, JOB_CANCELLED, NULL, NULL), 0);
	j = get(js, b);
	assert_int_equal(j->state, JOB_CANCELLED);
	assert_int_equal(j->started, 0);
	assert_int_equal(j->finished, 1700000200);
	assert_string_equal(j->message, "waiting");
	assert_string_equal(j->snapshot, snap);
	free(j);
	assert_int_equal(jobstore_start(js, b), -EALREADY);
	assert_int_equal(jobstore_finish(js, b, JOB_CANCELLED, NULL, NULL), -EALREADY);

	/* An empty snapshot clears; a long message is cut at a character boundary. */
	uint64_t c = add(js, JOB_BACKUP, "web", "backupd", NULL);
	assert_int_equal(jobstore_start(js, c), 0);
	char *longmsg = malloc(JOB_MESSAGE_MAX + 100);
	assert_non_null(longmsg);
	memset(longmsg, 'a', JOB_MESSAGE_MAX - 1);
	memcpy(longmsg + JOB_MESSAGE_MAX - 1, "\xc3\xa9tail", 7); /* é straddles the cut */
	longmsg[JOB_MESSAGE_MAX + 6] = 0;
	assert_int_equal(jobstore_finish(js, c, JOB_FAILED, longmsg, ""), 0);
	j = get(js, c);
	assert_int_equal(strlen(j->message), JOB_MESSAGE_MAX - 1);
	assert_memory_equal(j->message, longmsg, JOB_MESSAGE_MAX - 1);
	assert_string_equal(j->snapshot, "");
	free(j);
	free(longmsg);

	/* Unknown jobs. */
	assert_int_equal(jobstore_start(js, 999), -ENOENT);
	assert_int_equal(jobstore_progress(js, 999, 1, 1, 1), -ENOENT);
	assert_int_equal(jobstore_finish(js, 999, JOB_FAILED, "x", NULL), -ENOENT);
	assert_int_equal(jobstore_start(js, 0), -ENOENT);
	free(r);
	jobstore_close(js);
}

/* At most pool_limit running jobs per pool string, across all daemons. */
static void test_pool_limit(void **state)
{
	(void)state;
	struct jobstore *js = open_store();
	struct jobstore *js2 = open_store();
	uint64_t a = add(js, JOB_BACKUP, "web", "backupd", NULL);
	uint64_t b = add(js, JOB_VERIFY, "web", "restored", NULL); /* same pool */
	uint64_t c = add(js, JOB_BACKUP, "db", "backupd", NULL);   /* another */
	uint64_t d = add(js, JOB_RESTORE, "web", "restored", NULL);
	assert_int_equal(jobstore_start_limited(js, a, 1), 0);
	assert_int_equal(jobstore_start_limited(js2, b, 1), -EBUSY);
	assert_int_equal(state_of(js, b), JOB_QUEUED);
	assert_int_equal(jobstore_start_limited(js, c, 1), 0);
	assert_int_equal(jobstore_start_limited(js2, b, 2), 0);
	assert_int_equal(jobstore_start_limited(js2, d, 2), -EBUSY);
	assert_int_equal(jobstore_finish(js, a, JOB_SUCCEEDED, "", NULL), 0);
	assert_int_equal(jobstore_start_limited(js2, d, 2), 0);
	assert_int_equal(jobstore_start_limited(js2, d, 2), -EALREADY);
	jobstore_close(js2);
	jobstore_close(js);
}

static void test_mark_interrupted(void **state)
{
	(void)state;
	struct jobstore *js = open_store();
	uint64_t r1 = add(js, JOB_BACKUP, "web", "backupd", NULL);
	uint64_t r2 = add(js, JOB_RETENTION, "db", "backupd", NULL);
	uint64_t q1 = add(js, JOB_BACKUP, "web", "backupd", NULL);
	uint64_t f1 = add(js, JOB_BACKUP, "db", "backupd", NULL);
	uint64_t o1 = add(js, JOB_RESTORE, "web", "restored", NULL);
	uint64_t o2 = add(js, JOB_VERIFY, "web", "restored", NULL);
	assert_int_equal(jobstore_start(js, r1), 0);
	assert_int_equal(jobstore_start(js, r2), 0);
	assert_int_equal(jobstore_start(js, f1), 0);
	assert_int_equal(jobstore_start(js, o1), 0);
	fake_now = 1700000050;
	assert_int_equal(jobstore_finish(js, f1, JOB_FAILED, "disk full", NULL), 0);
	fake_now = 1700000500;
	assert_int_equal(jobstore_mark_interrupted(js, "backupd"), 2);
	for (int i = 0; i < 2; i++) {
		struct job *j = get(js, i == 0 ? r1 : r2);
		assert_int_equal(j->state, JOB_INTERRUPTED);
		assert_int_equal(j->finished, 1700000500);
		assert_int_equal(j->started, 1700000000);
		assert_string_equal(j->message, "the daemon stopped while the job ran");
		free(j);
	}
	assert_int_equal(state_of(js, q1), JOB_QUEUED);
	struct job *j = get(js, f1);
	assert_int_equal(j->state, JOB_FAILED);
	assert_int_equal(j->finished, 1700000050);
	assert_string_equal(j->message, "disk full");
	free(j);
	assert_int_equal(state_of(js, o1), JOB_RUNNING);
	assert_int_equal(state_of(js, o2), JOB_QUEUED);
	assert_int_equal(jobstore_mark_interrupted(js, "backupd"), 0);
	assert_int_equal(jobstore_mark_interrupted(js, "nobody"), 0);
	assert_int_equal(jobstore_mark_interrupted(js, "restored"), 1);
	assert_int_equal(state_of(js, o1), JOB_INTERRUPTED);
	assert_int_equal(state_of(js, o2), JOB_QUEUED);
	/* Interrupted is final. */
	assert_int_equal(jobstore_finish(js, r1, JOB_SUCCEEDED, NULL, NULL), -EALREADY);
	jobstore_close(js);
}

struct collect {
	uint64_t ids[256];
	unsigned n;
	unsigned stop_after; /* 0: never */
	struct jobstore *js; /* if set, the callback calls the store itself */
};

static int collect_fn(const struct job *j, void *arg)
{
	struct collect *c = arg;
	if (c->n < 256)
		c->ids[c->n] = j->id;
	c->n++;
	if (c->js != NULL) {
		/* Re-entering the same handle from the callback must not deadlock. */
		struct job *again = malloc(sizeof *again);
		if (again == NULL || jobstore_get(c->js, j->id, again) != 0 ||
		    again->state != j->state) {
			free(again);
			return -100;
		}
		free(again);
	}
	return c->stop_after != 0 && c->n == c->stop_after ? 42 : 0;
}

static void list(struct jobstore *js, const struct job_filter *f, struct collect *c)
{
	struct jobstore *keep = c->js;
	unsigned stop = c->stop_after;
	memset(c, 0, sizeof *c);
	c->js = keep;
	c->stop_after = stop;
	assert_int_equal(jobstore_list(js, f, collect_fn, c), 0);
}

static void test_list(void **state)
{
	(void)state;
	struct jobstore *js = open_store();
	struct collect *c = calloc(1, sizeof *c);
	uint64_t ids[12];
	assert_non_null(c);
	/* id: dataset daemon state
	 *  1..6  web  backupd   1,3 succeeded; 2 running; others queued
	 *  7..9  db   backupd   7 failed
	 * 10..12 web  restored  10 running */
	for (int i = 0; i < 12; i++)
		ids[i] = add(js, i < 9 ? JOB_BACKUP : JOB_RESTORE, i < 6 || i >= 9 ? "web" : "db",
			     i < 9 ? "backupd" : "restored", NULL);
	for (int i = 0; i < 12; i++)
		assert_int_equal(ids[i], (uint64_t)i + 1);
	assert_int_equal(jobstore_start(js, 1), 0);
	assert_int_equal(jobstore_finish(js, 1, JOB_SUCCEEDED, NULL, NULL), 0);
	assert_int_equal(jobstore_start(js, 2), 0);
	assert_int_equal(jobstore_start(js, 3), 0);
	assert_int_equal(jobstore_finish(js, 3, JOB_SUCCEEDED, NULL, NULL), 0);
	assert_int_equal(jobstore_start(js, 7), 0);
	assert_int_equal(jobstore_finish(js, 7, JOB_FAILED, NULL, NULL), 0);
	assert_int_equal(jobstore_start(js, 10), 0);

	list(js, NULL, c);
	assert_int_equal(c->n, 12);
	for (unsigned i = 0; i < 12; i++)
		assert_int_equal(c->ids[i], 12 - i);

	struct job_filter f = { .dataset = "web" };
	list(js, &f, c);
	assert_int_equal(c->n, 9);
	assert_int_equal(c->ids[0], 12);
	assert_int_equal(c->ids[3], 6);
	assert_int_equal(c->ids[8], 1);

	f = (struct job_filter){ .daemon = "backupd", .state = JOB_QUEUED };
	list(js, &f, c);
	assert_int_equal(c->n, 5);
	uint64_t want_q[] = { 9, 8, 6, 5, 4 };
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(c->ids[i], want_q[i]);

	f.oldest_first = true; /* the order a daemon takes work in */
	list(js, &f, c);
	assert_int_equal(c->n, 5);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(c->ids[i], want_q[4 - i]);

	f = (struct job_filter){ .dataset = "web", .daemon = "backupd", .state = JOB_SUCCEEDED };
	list(js, &f, c);
	assert_int_equal(c->n, 2);
	assert_int_equal(c->ids[0], 3);
	assert_int_equal(c->ids[1], 1);

	f = (struct job_filter){ .state = JOB_RUNNING };
	list(js, &f, c);
	assert_int_equal(c->n, 2);
	assert_int_equal(c->ids[0], 10);
	assert_int_equal(c->ids[1], 2);

	f = (struct job_filter){ .dataset = "nothere" };
	list(js, &f, c);
	assert_int_equal(c->n, 0);

	f = (struct job_filter){ .limit = 3 };
	list(js, &f, c);
	assert_int_equal(c->n, 3);
	assert_int_equal(c->ids[2], 10);
	f.oldest_first = true;
	list(js, &f, c);
	assert_int_equal(c->n, 3);
	assert_int_equal(c->ids[0], 1);
	assert_int_equal(c->ids[2], 3);

	/* The callback's nonzero stops the listing and is returned. */
	memset(c, 0, sizeof *c);
	c->stop_after = 4;
	assert_int_equal(jobstore_list(js, NULL, collect_fn, c), 42);
	assert_int_equal(c->n, 4);
	c->stop_after = 0;

	/* More than a page, the default limit of 100, a callback that calls the store. */
	for (int i = 0; i < 120; i++)
		add(js, JOB_VERIFY, "bulk", "restored", NULL);
	c->js = js;
	list(js, NULL, c);
	assert_int_equal(c->n, 100);
	for (unsigned i = 0; i < 100; i++)
		assert_int_equal(c->ids[i], 132 - i);
	f = (struct job_filter){ .dataset = "bulk", .limit = 1000, .oldest_first = true };
	list(js, &f, c);
	assert_int_equal(c->n, 120);
	for (unsigned i = 0; i < 120; i++)
		assert_int_equal(c->ids[i], 13 + i);
	f = (struct job_filter){ .limit = 37 };
	list(js, &f, c);
	assert_int_equal(c->n, 37);
	assert_int_equal(c->ids[36], 132 - 36);
	free(c);
	jobstore_close(js);
}

struct msgs {
	unsigned n;
	bool bad;
	int64_t first_time;
};

static int msg_fn(int64_t time, int level, const char *text, void *arg)
{
	struct msgs *m = arg;
	char want[64];
	snprintf(want, sizeof want, "cannot read /srv/file-%u", m->n);
	if (strcmp(text, want) != 0 || level != (int)(m->n % 4) ||
	    time != m->first_time + (int64_t)m->n)
		m->bad = true;
	m->n++;
	return 0;
}

static int count_fn(int64_t time, int level, const char *text, void *arg)
{
	(void)time;
	(void)level;
	(void)text;
	return ++*(int *)arg == 3 ? 7 : 0;
}

static void test_messages(void **state)
{
	(void)state;
	struct jobstore *js = open_store();
	uint64_t id = add(js, JOB_BACKUP, "web", "backupd", NULL);
	uint64_t other = add(js, JOB_BACKUP, "web", "backupd", NULL);
	char text[64];
	int64_t t0 = fake_now;
	for (unsigned i = 0; i < JOB_MESSAGES_KEPT + 5; i++) {
		snprintf(text, sizeof text, "cannot read /srv/file-%u", i);
		assert_int_equal(jobstore_add_message(js, id, (int)(i % 4), text), 0);
		fake_now++;
	}
	struct msgs m = { .first_time = t0 };
	assert_int_equal(jobstore_messages(js, id, msg_fn, &m), 0);
	assert_int_equal(m.n, JOB_MESSAGES_KEPT);
	assert_false(m.bad);
	struct job *j = get(js, id);
	assert_int_equal(j->messages_dropped, 5);
	free(j);

	/* The cap is per job; a long text is cut; bad arguments. */
	char *longtext = malloc(3000);
	assert_non_null(longtext);
	memset(longtext, 'x', 2999);
	longtext[2999] = 0;
	assert_int_equal(jobstore_add_message(js, other, JOB_MSG_WARN, longtext), 0);
	assert_int_equal(jobstore_add_message(js, other, 4, "x"), -EINVAL);
	assert_int_equal(jobstore_add_message(js, other, -1, "x"), -EINVAL);
	assert_int_equal(jobstore_add_message(js, other, 0, NULL), -EINVAL);
	assert_int_equal(jobstore_add_message(js, 999, 0, "x"), -ENOENT);
	free(longtext);
	int n = 0;
	assert_int_equal(jobstore_messages(js, other, count_fn, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(jobstore_messages(js, 999, count_fn, &n), -ENOENT);
	n = 0;
	assert_int_equal(jobstore_messages(js, id, count_fn, &n), 7); /* stopped */
	assert_int_equal(n, 3);
	j = get(js, other);
	assert_int_equal(j->messages_dropped, 0);
	free(j);
	jobstore_close(js);
}

/* A clock that calls back into the store, as a careless log sink would. */
static struct jobstore *reenter_js;
static int reenter_result;

static int64_t reentering_clock(void *arg)
{
	struct job *j = malloc(sizeof *j);
	(void)arg;
	reenter_result = j ? jobstore_get(reenter_js, 1, j) : -ENOMEM;
	free(j);
	return fake_now;
}

/* Re-entering a handle from inside a call on it fails, never hangs. */
static void test_reentry(void **state)
{
	(void)state;
	struct jobstore *js = open_store();
	uint64_t id = add(js, JOB_BACKUP, "web", "backupd", NULL);
	reenter_js = js;
	reenter_result = 1;
	jobstore_set_clock(js, reentering_clock, NULL);
	assert_int_equal(jobstore_start(js, id), 0);
	assert_int_equal(reenter_result, -EDEADLK);
	jobstore_set_clock(js, test_clock, NULL);
	assert_int_equal(state_of(js, id), JOB_RUNNING);
	jobstore_close(js);
}

/* Two handles ("processes"), two threads on each, adding at once. */
#define THREAD_JOBS 150
#define SHARED_KEYS 20

struct worker {
	struct jobstore *js;
	int no;
	uint64_t ids[THREAD_JOBS];
	uint64_t shared[SHARED_KEYS]; /* the id each shared key resolved to */
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct job *j = calloc(1, sizeof *j);
	if (j == NULL) {
		w->failures++;
		return NULL;
	}
	for (int i = 0; i < THREAD_JOBS; i++) {
		memset(j, 0, sizeof *j);
		j->kind = JOB_BACKUP;
		snprintf(j->dataset, sizeof j->dataset, "ds%d", w->no);
		snprintf(j->daemon, sizeof j->daemon, "%s", w->no % 2 ? "restored" : "backupd");
		if (i % 3 == 0)
			snprintf(j->request_key, sizeof j->request_key, "t%d:%d", w->no, i);
		j->attempt = 1;
		if (jobstore_add(w->js, j, &w->ids[i]) != 0)
			w->failures++;
		/* Every thread races for the same shared keys. */
		if (i < SHARED_KEYS) {
			snprintf(j->request_key, sizeof j->request_key, "sched:shared:%d", i);
			int e = jobstore_add(w->js, j, &w->shared[i]);
			if (e != 0 && e != -EEXIST)
				w->failures++;
		}
	}
	free(j);
	return NULL;
}

static int count_all(const struct job *j, void *arg)
{
	(void)j;
	(*(unsigned *)arg)++;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_concurrent_handles(void **state)
{
	(void)state;
	struct jobstore *h[2] = { NULL, NULL };
	assert_int_equal(jobstore_open(dir, &h[0]), 0);
	assert_int_equal(jobstore_open(dir, &h[1]), 0);
	struct worker *w = calloc(4, sizeof *w);
	pthread_t t[4];
	assert_non_null(w);
	for (int i = 0; i < 4; i++) {
		w[i].js = h[i / 2];
		w[i].no = i;
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);

	uint64_t *all = calloc(4 * THREAD_JOBS, sizeof *all);
	assert_non_null(all);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(w[i].failures, 0);
		memcpy(all + i * THREAD_JOBS, w[i].ids, sizeof w[i].ids);
		/* Within a thread, ids increase. */
		for (int k = 1; k < THREAD_JOBS; k++)
			assert_true(w[i].ids[k] > w[i].ids[k - 1]);
	}
	qsort(all, 4 * THREAD_JOBS, sizeof *all, cmp_u64);
	for (int i = 1; i < 4 * THREAD_JOBS; i++)
		assert_true(all[i] != all[i - 1]);
	/* Each shared key made one job, and every thread was told the same id. */
	for (int k = 0; k < SHARED_KEYS; k++) {
		assert_true(w[0].shared[k] != 0);
		for (int i = 1; i < 4; i++)
			assert_int_equal(w[i].shared[k], w[0].shared[k]);
	}
	/* No lost rows: every job is there, seen from either handle. */
	unsigned n = 0;
	struct job_filter f = { .limit = 100000 };
	assert_int_equal(jobstore_list(h[1], &f, count_all, &n), 0);
	assert_int_equal(n, 4 * THREAD_JOBS + SHARED_KEYS);
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < THREAD_JOBS; k++) {
			struct job *j = get(h[(i + 1) % 2], w[i].ids[k]);
			char ds[8];
			snprintf(ds, sizeof ds, "ds%d", i);
			assert_string_equal(j->dataset, ds);
			free(j);
		}
	free(all);
	free(w);
	jobstore_close(h[0]);
	jobstore_close(h[1]);
}

/*
 * Real processes: both create the fresh database at once and add jobs;
 * then the parent queues RACE_JOBS jobs and both take them the way a
 * daemon does (list queued, oldest first, start each): each job is taken
 * exactly once.
 */
#define PROC_JOBS 100
#define RACE_JOBS 60

struct idlist {
	uint64_t ids[RACE_JOBS];
	unsigned n;
};

static int idlist_fn(const struct job *j, void *arg)
{
	struct idlist *l = arg;
	if (l->n == RACE_JOBS)
		return -1;
	l->ids[l->n++] = j->id;
	return 0;
}

/* Adds PROC_JOBS jobs for a dataset named after the process. 0 or -1. */
static int proc_add(struct jobstore *js, const char *daemon)
{
	struct job *j = calloc(1, sizeof *j);
	if (j == NULL)
		return -1;
	for (int i = 0; i < PROC_JOBS; i++) {
		uint64_t id;
		memset(j, 0, sizeof *j);
		j->kind = JOB_VERIFY;
		snprintf(j->dataset, sizeof j->dataset, "p%d", (int)getpid());
		snprintf(j->daemon, sizeof j->daemon, "%s", daemon);
		j->attempt = 1;
		if (jobstore_add(js, j, &id) != 0) {
			free(j);
			return -1;
		}
	}
	free(j);
	return 0;
}

/* Takes what it can of the race jobs; the count taken, or -1. */
static int proc_race(struct jobstore *js)
{
	struct idlist l = { .n = 0 };
	struct job_filter f = { .dataset = "race", .state = JOB_QUEUED, .oldest_first = true };
	int taken = 0;
	if (jobstore_list(js, &f, idlist_fn, &l) != 0)
		return -1;
	for (unsigned i = 0; i < l.n; i++) {
		int e = jobstore_start(js, l.ids[i]);
		if (e == 0)
			taken++;
		else if (e != -EALREADY)
			return -1;
	}
	return taken;
}

static void test_processes(void **state)
{
	(void)state;
	int ready[2], go[2], status;
	char c = 'x';
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct jobstore *cjs = NULL;
		int taken = -1;
		if (jobstore_open(dir, &cjs) == 0 && proc_add(cjs, "restored") == 0 &&
		    write(ready[1], "r", 1) == 1 && read(go[0], &c, 1) == 1)
			taken = proc_race(cjs);
		jobstore_close(cjs);
		_exit(taken >= 0 ? taken : 255);
	}
	struct jobstore *js = NULL;
	assert_int_equal(jobstore_open(dir, &js), 0);
	assert_int_equal(proc_add(js, "backupd"), 0);
	assert_int_equal(read(ready[0], &c, 1), 1);
	for (int i = 0; i < RACE_JOBS; i++)
		add(js, JOB_BACKUP, "race", i % 2 ? "backupd" : "restored", NULL);
	assert_int_equal(write(go[1], "g", 1), 1);
	int mine = proc_race(js);
	assert_true(mine >= 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_true(WEXITSTATUS(status) != 255);
	assert_int_equal(mine + WEXITSTATUS(status), RACE_JOBS);

	unsigned n = 0;
	struct job_filter f = { .limit = 100000 };
	assert_int_equal(jobstore_list(js, &f, count_all, &n), 0);
	assert_int_equal(n, 2 * PROC_JOBS + RACE_JOBS);
	f = (struct job_filter){ .dataset = "race", .state = JOB_RUNNING, .limit = 1000 };
	n = 0;
	assert_int_equal(jobstore_list(js, &f, count_all, &n), 0);
	assert_int_equal(n, RACE_JOBS);
	f = (struct job_filter){ .daemon = "restored", .dataset = NULL, .limit = 1000 };
	n = 0;
	assert_int_equal(jobstore_list(js, &f, count_all, &n), 0);
	assert_int_equal(n, PROC_JOBS + RACE_JOBS / 2);
	jobstore_close(js);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

static void db_exec(const char *sql)
{
	char path[128];
	sqlite3 *db;
	snprintf(path, sizeof path, "%s/jobs.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* A store written by a newer program is refused, not guessed at. */
static void test_newer_schema(void **state)
{
	(void)state;
	struct jobstore *js = open_store();
	jobstore_close(js);
	db_exec("PRAGMA user_version = 2");
	js = (struct jobstore *)0x1;
	testutil_stderr_begin();
	assert_int_equal(jobstore_open(dir, &js), -ENOTSUP);
	assert_non_null(strstr(testutil_stderr_end(), "schema version 2; this program knows 1"));
	assert_ptr_equal(js, (struct jobstore *)0x1);
	db_exec("PRAGMA user_version = 1");
	js = open_store();
	jobstore_close(js);
}

/* The schema refuses rows breaking its rules; a reader refuses them too. */
static void test_bad_rows(void **state)
{
	(void)state;
	struct jobstore *js = open_store();
	uint64_t id = add(js, JOB_BACKUP, "web", "backupd", NULL);
	char path[128];
	sqlite3 *db;
	snprintf(path, sizeof path, "%s/jobs.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE jobs SET state = 9", NULL, NULL, NULL),
			 SQLITE_CONSTRAINT);
	assert_int_equal(sqlite3_exec(db, "UPDATE jobs SET state = 2", NULL, NULL, NULL),
			 SQLITE_CONSTRAINT); /* running without a start time */
	assert_int_equal(sqlite3_exec(db, "UPDATE jobs SET snapshot = 'ABC'", NULL, NULL, NULL),
			 SQLITE_CONSTRAINT);
	assert_int_equal(sqlite3_exec(db, "UPDATE jobs SET dataset = ''", NULL, NULL, NULL),
			 SQLITE_CONSTRAINT);
	assert_int_equal(sqlite3_exec(db,
				      "INSERT INTO job_messages VALUES (1, 1000, 0, 0, 'x')",
				      NULL, NULL, NULL),
			 SQLITE_CONSTRAINT);
	/* Forced past the checks, as a damaged or foreign file might be. */
	assert_int_equal(sqlite3_exec(db,
				      "PRAGMA ignore_check_constraints = ON;"
				      "UPDATE jobs SET kind = 9",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	struct job *j = calloc(1, sizeof *j);
	assert_non_null(j);
	testutil_stderr_begin();
	assert_int_equal(jobstore_get(js, id, j), -EBADMSG);
	assert_int_equal(jobstore_list(js, NULL, count_all, &(unsigned){ 0 }), -EBADMSG);
	const char *err = testutil_stderr_end();
	assert_non_null(strstr(err, "breaks the schema"));
	free(j);
	jobstore_close(js);
}

/* Metrics: the file parsed back into samples. */

struct sample {
	char key[256]; /* name{labels} as written */
	char value[32];
};

struct prom {
	struct sample s[64];
	unsigned n;
	char help[16][64], type[16][80];
	unsigned nhelp, ntype;
	bool sample_before_type; /* a sample whose TYPE line came later */
};

static void read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, size - 1);
	assert_true(n >= 0 && (size_t)n < size - 1);
	buf[n] = 0;
	close(fd);
}

static void parse_prom(const char *text, struct prom *p)
{
	char *copy = strdup(text), *save = NULL;
	assert_non_null(copy);
	memset(p, 0, sizeof *p);
	assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[64];
		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%63s", name), 1);
			assert_true(strlen(line) > 7 + strlen(name) + 1); /* has text */
			snprintf(p->help[p->nhelp++], sizeof p->help[0], "%s", name);
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			snprintf(p->type[p->ntype++], sizeof p->type[0], "%s", line + 7);
		} else {
			assert_true(line[0] != '#');
			/* The value follows the last space (label values may hold spaces). */
			char *sp = strrchr(line, ' ');
			assert_non_null(sp);
			struct sample *s = &p->s[p->n++];
			snprintf(s->key, sizeof s->key, "%.*s", (int)(sp - line), line);
			snprintf(s->value, sizeof s->value, "%s", sp + 1);
			size_t nl = strcspn(s->key, "{");
			bool typed = false;
			for (unsigned i = 0; i < p->ntype; i++)
				typed |= strncmp(p->type[i], s->key, nl) == 0 &&
					 p->type[i][nl] == ' ';
			if (!typed)
				p->sample_before_type = true;
		}
	}
	free(copy);
}

static const char *value_of(const struct prom *p, const char *key)
{
	for (unsigned i = 0; i < p->n; i++)
		if (strcmp(p->s[i].key, key) == 0)
			return p->s[i].value;
	return NULL;
}

static bool has_type(const struct prom *p, const char *line)
{
	for (unsigned i = 0; i < p->ntype; i++)
		if (strcmp(p->type[i], line) == 0)
			return true;
	return false;
}

static bool has_help(const struct prom *p, const char *name)
{
	for (unsigned i = 0; i < p->nhelp; i++)
		if (strcmp(p->help[i], name) == 0)
			return true;
	return false;
}

/* Runs job id from start to finish at the given times. */
static void run(struct jobstore *js, uint64_t id, int64_t start, int64_t end,
		enum job_state st, uint64_t bytes)
{
	fake_now = start;
	assert_int_equal(jobstore_start(js, id), 0);
	assert_int_equal(jobstore_progress(js, id, 1, bytes, 0), 0);
	fake_now = end;
	assert_int_equal(jobstore_finish(js, id, st, NULL, NULL), 0);
}

#define WEIRD "we\"ird\\b\nc"             /* a quote, a backslash, a newline */
#define WEIRD_LABEL "we\\\"ird\\\\b\\nc" /* as the exposition format escapes it */

static void test_metrics(void **state)
{
	(void)state;
	struct jobstore *js = open_store();
	char path[256], mdir[128], text[8192], again[8192];
	struct prom *p = calloc(1, sizeof *p);
	assert_non_null(p);
	snprintf(mdir, sizeof mdir, "%s/metrics", dir);
	snprintf(path, sizeof path, "%s/coffer.prom", mdir);

	/* An empty history: only the job counts. The directory is made 0755
	 * whatever the umask. */
	mode_t old_umask = umask(077);
	assert_int_equal(jobstore_write_metrics(js, path, 1000), 0);
	umask(old_umask);
	struct stat st;
	assert_int_equal(stat(mdir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	read_file(path, text, sizeof text);
	parse_prom(text, p);
	assert_int_equal(p->n, 2);
	assert_string_equal(value_of(p, "coffer_jobs_running"), "0");
	assert_string_equal(value_of(p, "coffer_jobs_queued"), "0");

	/* web backup: two successes, then a failure, then an interruption. */
	uint64_t b1 = add(js, JOB_BACKUP, "web", "backupd", NULL);
	uint64_t b2 = add(js, JOB_BACKUP, "web", "backupd", NULL);
	uint64_t b3 = add(js, JOB_BACKUP, "web", "backupd", NULL);
	uint64_t b4 = add(js, JOB_BACKUP, "web", "backupd", NULL);
	run(js, b1, 1000, 1100, JOB_SUCCEEDED, 500);
	run(js, b2, 1500, 1560, JOB_SUCCEEDED, 700);
	run(js, b3, 2000, 2300, JOB_FAILED, 999);
	fake_now = 3000;
	assert_int_equal(jobstore_start(js, b4), 0);
	fake_now = 3050;
	assert_int_equal(jobstore_mark_interrupted(js, "backupd"), 1);
	/* web retention: one success. web verify: queued. */
	uint64_t r1 = add(js, JOB_RETENTION, "web", "backupd", NULL);
	run(js, r1, 1600, 1610, JOB_SUCCEEDED, 0);
	add(js, JOB_VERIFY, "web", "restored", NULL);
	/* WEIRD: a restore cancelled before it ran, one running, a backup. */
	uint64_t x1 = add(js, JOB_RESTORE, WEIRD, "restored", NULL);
	uint64_t x2 = add(js, JOB_RESTORE, WEIRD, "restored", NULL);
	uint64_t x3 = add(js, JOB_BACKUP, WEIRD, "backupd", NULL);
	fake_now = 4000;
	assert_int_equal(jobstore_finish(js, x1, JOB_CANCELLED, "by operator", NULL), 0);
	fake_now = 5000;
	assert_int_equal(jobstore_start(js, x2), 0);
	run(js, x3, 6000, 6100, JOB_SUCCEEDED, 42);
	/* db backup: a failure only. */
	uint64_t d1 = add(js, JOB_BACKUP, "db", "backupd", NULL);
	run(js, d1, 7000, 7001, JOB_FAILED, 1);

	assert_int_equal(jobstore_write_metrics(js, path, 10000), 0);
	read_file(path, text, sizeof text);
	parse_prom(text, p);

	static const struct {
		const char *key, *value;
	} want[] = {
		{ "coffer_job_last_success_timestamp_seconds{dataset=\"web\",kind=\"backup\"}", "1560" },
		{ "coffer_job_last_success_timestamp_seconds{dataset=\"web\",kind=\"retention\"}", "1610" },
		{ "coffer_job_last_success_timestamp_seconds{dataset=\"" WEIRD_LABEL "\",kind=\"backup\"}", "6100" },
		{ "coffer_job_last_duration_seconds{dataset=\"web\",kind=\"backup\"}", "300" },
		{ "coffer_job_last_duration_seconds{dataset=\"web\",kind=\"retention\"}", "10" },
		{ "coffer_job_last_duration_seconds{dataset=\"" WEIRD_LABEL "\",kind=\"backup\"}", "100" },
		{ "coffer_job_last_duration_seconds{dataset=\"db\",kind=\"backup\"}", "1" },
		{ "coffer_job_failures_total{dataset=\"web\",kind=\"backup\"}", "2" },
		{ "coffer_job_failures_total{dataset=\"web\",kind=\"retention\"}", "0" },
		{ "coffer_job_failures_total{dataset=\"web\",kind=\"verify\"}", "0" },
		{ "coffer_job_failures_total{dataset=\"" WEIRD_LABEL "\",kind=\"backup\"}", "0" },
		{ "coffer_job_failures_total{dataset=\"" WEIRD_LABEL "\",kind=\"restore\"}", "0" },
		{ "coffer_job_failures_total{dataset=\"db\",kind=\"backup\"}", "1" },
		{ "coffer_backup_last_bytes{dataset=\"web\"}", "700" },
		{ "coffer_backup_last_bytes{dataset=\"" WEIRD_LABEL "\"}", "42" },
		{ "coffer_snapshot_age_seconds{dataset=\"web\"}", "8440" },
		{ "coffer_snapshot_age_seconds{dataset=\"" WEIRD_LABEL "\"}", "3900" },
		{ "coffer_jobs_running", "1" },
		{ "coffer_jobs_queued", "1" },
	};
	size_t nwant = sizeof want / sizeof want[0];
	for (size_t i = 0; i < nwant; i++) {
		const char *v = value_of(p, want[i].key);
		if (v == NULL)
			fail_msg("missing sample %s in:\n%s", want[i].key, text);
		assert_string_equal(v, want[i].value);
	}
	assert_int_equal(p->n, nwant); /* and nothing else */
	assert_false(p->sample_before_type);
	static const char *const gauges[] = {
		"coffer_job_last_success_timestamp_seconds", "coffer_job_last_duration_seconds",
		"coffer_backup_last_bytes", "coffer_snapshot_age_seconds",
		"coffer_jobs_running", "coffer_jobs_queued",
	};
	char line[96];
	for (size_t i = 0; i < sizeof gauges / sizeof gauges[0]; i++) {
		snprintf(line, sizeof line, "%s gauge", gauges[i]);
		assert_true(has_type(p, line));
		assert_true(has_help(p, gauges[i]));
	}
	assert_true(has_type(p, "coffer_job_failures_total counter"));
	assert_true(has_help(p, "coffer_job_failures_total"));
	assert_int_equal(p->nhelp, 7);
	assert_int_equal(p->ntype, 7);
	/* The raw newline of the name never reaches the file. */
	assert_null(strstr(text, "b\nc"));

	/* The rewrite replaces the file whole: a reader holding the old one
	 * still reads all of it, the path names a new inode, and no temporary
	 * file is left. */
	struct stat before, after;
	int old = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(old >= 0);
	assert_int_equal(fstat(old, &before), 0);
	fake_now = 8000;
	assert_int_equal(jobstore_finish(js, x2, JOB_FAILED, "target full", NULL), 0);
	assert_int_equal(jobstore_write_metrics(js, path, 20000), 0);
	ssize_t n = pread(old, again, sizeof again - 1, 0);
	assert_true(n >= 0);
	again[n] = 0;
	assert_string_equal(again, text);
	close(old);
	assert_int_equal(stat(path, &after), 0);
	assert_true(after.st_ino != before.st_ino);
	read_file(path, again, sizeof again);
	parse_prom(again, p);
	assert_string_equal(value_of(p, "coffer_snapshot_age_seconds{dataset=\"web\"}"), "18440");
	assert_string_equal(value_of(p, "coffer_job_failures_total{dataset=\"" WEIRD_LABEL
					"\",kind=\"restore\"}"), "1");
	assert_string_equal(value_of(p, "coffer_job_last_duration_seconds{dataset=\"" WEIRD_LABEL
					"\",kind=\"restore\"}"), "3000");
	assert_string_equal(value_of(p, "coffer_jobs_running"), "0");
	DIR *d = opendir(mdir);
	struct dirent *e;
	unsigned entries = 0;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		assert_string_equal(e->d_name, "coffer.prom");
		entries++;
	}
	closedir(d);
	assert_int_equal(entries, 1);

	/* A path whose directory cannot be made fails cleanly. */
	snprintf(path, sizeof path, "%s/no/such/coffer.prom", dir);
	testutil_stderr_begin();
	assert_int_equal(jobstore_write_metrics(js, path, 1), -ENOENT);
	(void)testutil_stderr_end();
	free(p);
	jobstore_close(js);
}

/* Metrics written from two handles at once stay whole and parseable. */
struct mworker {
	struct jobstore *js;
	const char *path;
	int failures;
};

static void *metrics_main(void *arg)
{
	struct mworker *w = arg;
	for (int i = 0; i < 30; i++) {
		struct job *j = calloc(1, sizeof *j);
		uint64_t id;
		if (j == NULL)
			return NULL;
		j->kind = JOB_BACKUP;
		snprintf(j->dataset, sizeof j->dataset, "m");
		snprintf(j->daemon, sizeof j->daemon, "backupd");
		j->attempt = 1;
		if (jobstore_add(w->js, j, &id) != 0 ||
		    jobstore_write_metrics(w->js, w->path, 100) != 0)
			w->failures++;
		free(j);
	}
	return NULL;
}

static void test_metrics_concurrent(void **state)
{
	(void)state;
	char path[128], text[8192];
	struct jobstore *h[2];
	struct mworker w[2];
	pthread_t t[2];
	struct prom *p = calloc(1, sizeof *p);
	assert_non_null(p);
	snprintf(path, sizeof path, "%s/metrics/coffer.prom", dir);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(jobstore_open(dir, &h[i]), 0);
		w[i] = (struct mworker){ .js = h[i], .path = path };
		assert_int_equal(pthread_create(&t[i], NULL, metrics_main, &w[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	/* The last rename saw the whole history. */
	read_file(path, text, sizeof text);
	parse_prom(text, p);
	assert_string_equal(value_of(p, "coffer_jobs_queued"), "60");
	jobstore_close(h[0]);
	jobstore_close(h[1]);
	free(p);
}

int main(void)
{
	log_init("test_jobstore", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transitions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mark_interrupted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reentry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_concurrent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
