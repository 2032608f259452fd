/*
 * The job store on SQLite (jobstore.h, docs/format/jobs.md). Every
 * statement is prepared with bound parameters; nothing a client sent is
 * pasted into SQL. Every public call takes the handle's mutex first, so
 * the statements of one call (a transaction, the error message after a
 * failure) are never interleaved with another thread's.
 */
#include "jobs/jobstore.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/jobstore_int.h"
#include "util/log.h"

#define JOBS_SCHEMA 1
#define BUSY_TIMEOUT_MS 10000
#define LIST_PAGE 16     /* jobs read per lock hold (a struct job is ~14 KiB) */
#define MESSAGE_PAGE 64  /* messages read per lock hold */
#define LIST_DEFAULT 100

static const char interrupted_message[] = "the daemon stopped while the job ran";

/*
 * Schema 1 (docs/format/jobs.md). The CHECK constraints restate the
 * invariants so that no writer, this one included, can commit a row that
 * breaks them; lengths are in bytes (CAST AS BLOB).
 */
static const char schema_v1[] =
	"CREATE TABLE jobs ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" kind INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 4),"
	" dataset TEXT NOT NULL CHECK (length(CAST(dataset AS BLOB)) BETWEEN 1 AND 64),"
	" daemon TEXT NOT NULL CHECK (length(CAST(daemon AS BLOB)) BETWEEN 1 AND 15),"
	" state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 6),"
	" request_key TEXT UNIQUE"
	"  CHECK (request_key IS NULL OR length(CAST(request_key AS BLOB)) BETWEEN 1 AND 128),"
	" requested_by INTEGER NOT NULL CHECK (requested_by BETWEEN 0 AND 4294967295),"
	" created INTEGER NOT NULL,"
	" started INTEGER NOT NULL DEFAULT 0,"
	" finished INTEGER NOT NULL DEFAULT 0,"
	" files INTEGER NOT NULL DEFAULT 0 CHECK (files >= 0),"
	" bytes INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0),"
	" errors INTEGER NOT NULL DEFAULT 0 CHECK (errors >= 0),"
	" snapshot TEXT NOT NULL DEFAULT ''"
	"  CHECK (snapshot = '' OR (length(snapshot) = 64 AND snapshot NOT GLOB '*[^0-9a-f]*')),"
	" message TEXT NOT NULL DEFAULT '' CHECK (length(CAST(message AS BLOB)) <= 1024),"
	" attempt INTEGER NOT NULL CHECK (attempt BETWEEN 1 AND 4294967295),"
	" params TEXT NOT NULL DEFAULT '' CHECK (length(CAST(params AS BLOB)) <= 8192),"
	" pool TEXT NOT NULL DEFAULT '' CHECK (length(CAST(pool AS BLOB)) <= 4095),"
	" messages_dropped INTEGER NOT NULL DEFAULT 0 CHECK (messages_dropped >= 0),"
	" CHECK (state <> 1 OR (started = 0 AND finished = 0)),"
	" CHECK (state <> 2 OR (started <> 0 AND finished = 0)),"
	" CHECK (state <= 2 OR finished <> 0));"
	"CREATE INDEX jobs_state_daemon ON jobs (state, daemon);"
	"CREATE INDEX jobs_dataset_kind ON jobs (dataset, kind, finished);"
	"CREATE TABLE job_messages ("
	" job INTEGER NOT NULL REFERENCES jobs (id),"
	" seq INTEGER NOT NULL CHECK (seq BETWEEN 0 AND 999),"
	" time INTEGER NOT NULL,"
	" level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 3),"
	" text TEXT NOT NULL CHECK (length(CAST(text AS BLOB)) <= 1024),"
	" PRIMARY KEY (job, seq)) WITHOUT ROWID;"
	"PRAGMA user_version = 1;";

static const char *const kind_names[] = {
	[JOB_BACKUP] = "backup",
	[JOB_RETENTION] = "retention",
	[JOB_RESTORE] = "restore",
	[JOB_VERIFY] = "verify",
};
static const char *const state_names[] = {
	[JOB_QUEUED] = "queued",
	[JOB_RUNNING] = "running",
	[JOB_SUCCEEDED] = "succeeded",
	[JOB_FAILED] = "failed",
	[JOB_CANCELLED] = "cancelled",
	[JOB_INTERRUPTED] = "interrupted",
};
#define NKINDS ((int)(sizeof kind_names / sizeof kind_names[0]))
#define NSTATES ((int)(sizeof state_names / sizeof state_names[0]))

const char *job_kind_name(enum job_kind k)
{
	return (int)k >= 1 && (int)k < NKINDS ? kind_names[k] : "unknown";
}

const char *job_state_name(enum job_state s)
{
	return (int)s >= 1 && (int)s < NSTATES ? state_names[s] : "unknown";
}

int job_kind_parse(const char *s, enum job_kind *out)
{
	for (int i = 1; s != NULL && i < NKINDS; i++)
		if (strcmp(s, kind_names[i]) == 0) {
			*out = (enum job_kind)i;
			return 0;
		}
	return -EINVAL;
}

int job_state_parse(const char *s, enum job_state *out)
{
	for (int i = 1; s != NULL && i < NSTATES; i++)
		if (strcmp(s, state_names[i]) == 0) {
			*out = (enum job_state)i;
			return 0;
		}
	return -EINVAL;
}

bool job_state_final(enum job_state s)
{
	return s == JOB_SUCCEEDED || s == JOB_FAILED || s == JOB_CANCELLED ||
	       s == JOB_INTERRUPTED;
}

static bool kind_valid(int k)
{
	return k >= 1 && k < NKINDS;
}

static bool state_valid(int s)
{
	return s >= 1 && s < NSTATES;
}

/* Shared helpers (jobstore_int.h). */

int jobstore_fail(const struct jobstore *js, const char *what)
{
	log_errorx("jobs %s: %s: %s", js->path, what, sqlite3_errmsg(js->db));
	return -EIO;
}

int jobstore_exec(struct jobstore *js, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(js->db, sql, NULL, NULL, &err) == SQLITE_OK)
		return 0;
	log_errorx("jobs %s: %s", js->path, err ? err : "error");
	sqlite3_free(err);
	return -EIO;
}

int jobstore_tx_begin(struct jobstore *js)
{
	return jobstore_exec(js, "BEGIN IMMEDIATE");
}

int jobstore_tx_end(struct jobstore *js, int e)
{
	if (e == 0) {
		if (jobstore_exec(js, "COMMIT") == 0)
			return 0;
		e = -EIO;
	}
	if (!sqlite3_get_autocommit(js->db))
		(void)jobstore_exec(js, "ROLLBACK");
	return e;
}

int64_t jobstore_now(const struct jobstore *js)
{
	return js->clock != NULL ? js->clock(js->clock_arg) : (int64_t)time(NULL);
}

/* Not logged: the log may be what re-entered (a sink into the store). */
int jobstore_lock(struct jobstore *js)
{
	return -pthread_mutex_lock(&js->lock);
}

void jobstore_unlock(struct jobstore *js)
{
	pthread_mutex_unlock(&js->lock);
}

/* Opening and the schema. */

static int read_user_version(struct jobstore *js, int *version)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(js->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return jobstore_fail(js, "cannot read the schema version");
	}
	*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int check_version(const struct jobstore *js, int version)
{
	if (version <= JOBS_SCHEMA && version >= 0)
		return 0;
	log_errorx("jobs %s has schema version %d; this program knows %d", js->path, version,
		   JOBS_SCHEMA);
	return -ENOTSUP;
}

/* Brings the schema to JOBS_SCHEMA, refusing a newer one. */
static int jobstore_schema(struct jobstore *js)
{
	int e, version;
	if ((e = read_user_version(js, &version)) != 0 || (e = check_version(js, version)) != 0)
		return e;
	if (version == JOBS_SCHEMA)
		return 0;
	if ((e = jobstore_tx_begin(js)) != 0)
		return e;
	/* Another process may have created it while we waited for the lock. */
	e = read_user_version(js, &version);
	if (e == 0)
		e = check_version(js, version);
	if (e == 0 && version == 0)
		e = jobstore_exec(js, schema_v1);
	return jobstore_tx_end(js, e);
}

/*
 * WAL is what lets the daemons read while one writes; refuse to run
 * without it. Switching a new file to WAL takes a lock that SQLite does
 * not wait for (no busy handler), so when both daemons open a new file at
 * once one of them sees SQLITE_BUSY here: retry for the busy timeout.
 */
static int set_wal(struct jobstore *js)
{
	sqlite3_stmt *st = NULL;
	int e = 0, rc, waited = 0;
	for (;;) {
		if (sqlite3_prepare_v2(js->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) !=
		    SQLITE_OK)
			return jobstore_fail(js, "cannot set WAL mode");
		rc = sqlite3_step(st);
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		sqlite3_finalize(st);
		st = NULL;
		if (waited >= BUSY_TIMEOUT_MS)
			return jobstore_fail(js, "cannot set WAL mode");
		sqlite3_sleep(10);
		waited += 10;
	}
	if (rc != SQLITE_ROW) {
		e = jobstore_fail(js, "cannot set WAL mode");
	} else {
		const unsigned char *mode = sqlite3_column_text(st, 0);
		if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
			log_errorx("jobs %s: journal mode is %s, not wal", js->path,
				   mode ? (const char *)mode : "unknown");
			e = -EIO;
		}
	}
	sqlite3_finalize(st);
	return e;
}

/*
 * Error-checking: a call re-entered from inside a call on the same handle
 * (a log sink recording into the store while the store logs an error)
 * fails with -EDEADLK instead of hanging.
 */
static int init_lock(pthread_mutex_t *m)
{
	pthread_mutexattr_t attr;
	int r = pthread_mutexattr_init(&attr);
	if (r != 0)
		return r;
	r = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
	if (r == 0)
		r = pthread_mutex_init(m, &attr);
	pthread_mutexattr_destroy(&attr);
	return r;
}

int jobstore_open(const char *state_dir, struct jobstore **out)
{
	struct jobstore *js = calloc(1, sizeof *js);
	int e = -ENOMEM;
	if (js == NULL)
		return e;
	if (init_lock(&js->lock) != 0) {
		free(js);
		return e;
	}
	if ((size_t)snprintf(js->path, sizeof js->path, "%s/jobs.db", state_dir) >=
	    sizeof js->path) {
		e = -ENAMETOOLONG;
		goto out;
	}
	if (sqlite3_open_v2(js->path, &js->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		log_errorx("cannot open jobs %s: %s", js->path,
			   js->db ? sqlite3_errmsg(js->db) : "out of memory");
		e = -EIO;
		goto out;
	}
	sqlite3_extended_result_codes(js->db, 1);
	sqlite3_busy_timeout(js->db, BUSY_TIMEOUT_MS);
	e = set_wal(js);
	if (e == 0)
		e = jobstore_exec(js, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
	if (e == 0)
		e = jobstore_schema(js);
	if (e == 0) {
		*out = js;
		js = NULL;
	}
out:
	jobstore_close(js);
	return e;
}

void jobstore_close(struct jobstore *js)
{
	if (js == NULL)
		return;
	sqlite3_close(js->db);
	pthread_mutex_destroy(&js->lock);
	free(js);
}

void jobstore_set_clock(struct jobstore *js, int64_t (*fn)(void *arg), void *arg)
{
	if (jobstore_lock(js) != 0)
		return;
	js->clock = fn;
	js->clock_arg = fn != NULL ? arg : NULL;
	jobstore_unlock(js);
}

/* Field checks and conversions. */

#define TERMINATED(field) (memchr((field), 0, sizeof(field)) != NULL)

static bool snapshot_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0)
		return true;
	if (n != JOB_SNAPSHOT_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool job_input_valid(const struct job *j)
{
	return kind_valid((int)j->kind) && TERMINATED(j->dataset) && j->dataset[0] != 0 &&
	       TERMINATED(j->daemon) && j->daemon[0] != 0 && TERMINATED(j->request_key) &&
	       TERMINATED(j->snapshot) && snapshot_valid(j->snapshot) &&
	       TERMINATED(j->message) && TERMINATED(j->params) && TERMINATED(j->pool) &&
	       j->attempt >= 1;
}

/*
 * Length of s cut to at most max bytes without splitting a UTF-8
 * sequence: a cut never leaves a lead byte without its continuation bytes.
 */
static size_t cut_len(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Copies a TEXT column into dst (size bytes); NULL only if nullable. */
static int col_text(sqlite3_stmt *st, int col, char *dst, size_t size, bool nullable,
		    bool nonempty)
{
	int type = sqlite3_column_type(st, col);
	if (type == SQLITE_NULL && nullable) {
		dst[0] = 0;
		return 0;
	}
	if (type != SQLITE_TEXT)
		return -EBADMSG;
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);
	if (t == NULL)
		return -ENOMEM;
	if (n >= size || (nonempty && n == 0) || memchr(t, 0, n) != NULL)
		return -EBADMSG;
	memcpy(dst, t, n);
	dst[n] = 0;
	return 0;
}

/* An INTEGER column within [min, max]. */
static int col_int(sqlite3_stmt *st, int col, int64_t min, int64_t max, int64_t *out)
{
	if (sqlite3_column_type(st, col) != SQLITE_INTEGER)
		return -EBADMSG;
	int64_t v = sqlite3_column_int64(st, col);
	if (v < min || v > max)
		return -EBADMSG;
	*out = v;
	return 0;
}

#define SELECT_COLS                                                                      \
	"SELECT id, kind, dataset, daemon, state, request_key, requested_by, created, "  \
	"started, finished, files, bytes, errors, snapshot, message, attempt, params, " \
	"pool, messages_dropped FROM jobs"

/* Decodes a SELECT_COLS row, refusing one that breaks the schema (-EBADMSG). */
static int row_to_job(const struct jobstore *js, sqlite3_stmt *st, struct job *j)
{
	int64_t v[19];
	int e = 0;
	memset(j, 0, sizeof *j);
	static const struct {
		int col;
		int64_t min, max;
	} ints[] = {
		{ 0, 1, INT64_MAX }, { 1, 1, 4 }, { 4, 1, 6 }, { 6, 0, UINT32_MAX },
		{ 7, INT64_MIN, INT64_MAX }, { 8, INT64_MIN, INT64_MAX },
		{ 9, INT64_MIN, INT64_MAX }, { 10, 0, INT64_MAX }, { 11, 0, INT64_MAX },
		{ 12, 0, INT64_MAX }, { 15, 1, UINT32_MAX }, { 18, 0, INT64_MAX },
	};
	for (size_t i = 0; e == 0 && i < sizeof ints / sizeof ints[0]; i++)
		e = col_int(st, ints[i].col, ints[i].min, ints[i].max, &v[ints[i].col]);
	if (e == 0)
		e = col_text(st, 2, j->dataset, sizeof j->dataset, false, true);
	if (e == 0)
		e = col_text(st, 3, j->daemon, sizeof j->daemon, false, true);
	if (e == 0)
		e = col_text(st, 5, j->request_key, sizeof j->request_key, true, true);
	if (e == 0)
		e = col_text(st, 13, j->snapshot, sizeof j->snapshot, false, false);
	if (e == 0 && !snapshot_valid(j->snapshot))
		e = -EBADMSG;
	if (e == 0)
		e = col_text(st, 14, j->message, sizeof j->message, false, false);
	if (e == 0)
		e = col_text(st, 16, j->params, sizeof j->params, false, false);
	if (e == 0)
		e = col_text(st, 17, j->pool, sizeof j->pool, false, false);
	if (e == -EBADMSG)
		log_errorx("jobs %s: job %lld breaks the schema", js->path,
			   (long long)sqlite3_column_int64(st, 0));
	if (e != 0)
		return e;
	j->id = (uint64_t)v[0];
	j->kind = (enum job_kind)v[1];
	j->state = (enum job_state)v[4];
	j->requested_by = (uint32_t)v[6];
	j->created = v[7];
	j->started = v[8];
	j->finished = v[9];
	j->files = (uint64_t)v[10];
	j->bytes = (uint64_t)v[11];
	j->errors = (uint64_t)v[12];
	j->attempt = (uint32_t)v[15];
	j->messages_dropped = (uint64_t)v[18];
	return 0;
}

/* Reads the state of job id: 0, -ENOENT, -EBADMSG or -EIO. */
static int state_of(struct jobstore *js, int64_t id, enum job_state *state)
{
	sqlite3_stmt *st = NULL;
	int e = 0;
	if (sqlite3_prepare_v2(js->db, "SELECT state FROM jobs WHERE id = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return jobstore_fail(js, "cannot prepare state lookup");
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int s = sqlite3_column_int(st, 0);
		if (state_valid(s))
			*state = (enum job_state)s;
		else
			e = -EBADMSG;
	} else if (rc == SQLITE_DONE) {
		e = -ENOENT;
	} else {
		e = jobstore_fail(js, "cannot look up job");
	}
	sqlite3_finalize(st);
	return e;
}

/* The id of the job with request key key. */
static int find_key(struct jobstore *js, const char *key, int64_t *id)
{
	sqlite3_stmt *st = NULL;
	int e = 0;
	if (sqlite3_prepare_v2(js->db, "SELECT id FROM jobs WHERE request_key = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return jobstore_fail(js, "cannot prepare key lookup");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		e = jobstore_fail(js, "request key vanished inside a transaction");
	else
		e = jobstore_fail(js, "cannot look up request key");
	sqlite3_finalize(st);
	return e;
}

/* Jobs. */

int jobstore_add(struct jobstore *js, struct job *j, uint64_t *id)
{
	sqlite3_stmt *st = NULL;
	int64_t now, new_id = 0, old_id = 0;
	bool keyed;
	int e;
	if (!job_input_valid(j))
		return -EINVAL;
	keyed = j->request_key[0] != 0;
	if ((e = jobstore_lock(js)) != 0)
		return e;
	now = jobstore_now(js);
	if ((e = jobstore_tx_begin(js)) != 0)
		goto out;
	if (sqlite3_prepare_v2(js->db,
			       "INSERT INTO jobs (kind, dataset, daemon, state, request_key, "
			       "requested_by, created, snapshot, message, attempt, params, pool) "
			       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK) {
		e = jobstore_fail(js, "cannot prepare insert");
		goto end;
	}
	sqlite3_bind_int(st, 1, (int)j->kind);
	sqlite3_bind_text(st, 2, j->dataset, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, j->daemon, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, JOB_QUEUED);
	if (keyed)
		sqlite3_bind_text(st, 5, j->request_key, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_int64(st, 6, j->requested_by);
	sqlite3_bind_int64(st, 7, now);
	sqlite3_bind_text(st, 8, j->snapshot, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, j->message, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, j->attempt);
	sqlite3_bind_text(st, 11, j->params, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, j->pool, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		new_id = sqlite3_last_insert_rowid(js->db);
	} else if (keyed && sqlite3_extended_errcode(js->db) == SQLITE_CONSTRAINT_UNIQUE) {
		/* Same transaction: the existing row cannot go away meanwhile. */
		e = find_key(js, j->request_key, &old_id);
		if (e == 0)
			e = -EEXIST;
	} else {
		e = jobstore_fail(js, "cannot add job");
	}
	sqlite3_finalize(st);
end:
	e = jobstore_tx_end(js, e);
out:
	jobstore_unlock(js);
	if (e == 0) {
		j->id = (uint64_t)new_id;
		j->state = JOB_QUEUED;
		j->created = now;
		j->started = j->finished = 0;
		j->files = j->bytes = j->errors = 0;
		j->messages_dropped = 0;
		*id = (uint64_t)new_id;
	} else if (e == -EEXIST) {
		*id = (uint64_t)old_id;
	}
	return e;
}

int jobstore_get(struct jobstore *js, uint64_t id, struct job *out)
{
	sqlite3_stmt *st = NULL;
	struct job *j;
	int e = 0;
	if (id == 0 || id > INT64_MAX)
		return -ENOENT;
	if ((j = malloc(sizeof *j)) == NULL)
		return -ENOMEM;
	if ((e = jobstore_lock(js)) != 0) {
		free(j);
		return e;
	}
	if (sqlite3_prepare_v2(js->db, SELECT_COLS " WHERE id = ?", -1, &st, NULL) !=
	    SQLITE_OK) {
		e = jobstore_fail(js, "cannot prepare lookup");
		goto out;
	}
	sqlite3_bind_int64(st, 1, (int64_t)id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		e = row_to_job(js, st, j);
	else if (rc == SQLITE_DONE)
		e = -ENOENT;
	else
		e = jobstore_fail(js, "cannot look up job");
	sqlite3_finalize(st);
out:
	jobstore_unlock(js);
	if (e == 0)
		memcpy(out, j, sizeof *j);
	free(j);
	return e;
}

int jobstore_start_limited(struct jobstore *js, uint64_t id, unsigned pool_limit)
{
	sqlite3_stmt *st = NULL;
	int e;
	if (id == 0 || id > INT64_MAX)
		return -ENOENT;
	if ((e = jobstore_lock(js)) != 0)
		return e;
	int64_t now = jobstore_now(js);
	if ((e = jobstore_tx_begin(js)) != 0)
		goto out;
	/* The job's state and how many jobs of its pool run now, in one view. */
	if (sqlite3_prepare_v2(js->db,
			       "SELECT j.state, (SELECT count(*) FROM jobs r WHERE r.state = 2 "
			       "AND r.pool = j.pool) FROM jobs j WHERE j.id = ?",
			       -1, &st, NULL) != SQLITE_OK) {
		e = jobstore_fail(js, "cannot prepare start");
		goto end;
	}
	sqlite3_bind_int64(st, 1, (int64_t)id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int state = sqlite3_column_int(st, 0);
		int64_t running = sqlite3_column_int64(st, 1);
		if (!state_valid(state))
			e = -EBADMSG;
		else if (state != JOB_QUEUED)
			e = -EALREADY;
		else if (pool_limit != 0 && running >= (int64_t)pool_limit)
			e = -EBUSY;
	} else if (rc == SQLITE_DONE) {
		e = -ENOENT;
	} else {
		e = jobstore_fail(js, "cannot look up job");
	}
	sqlite3_finalize(st);
	st = NULL;
	if (e != 0)
		goto end;
	if (sqlite3_prepare_v2(js->db, "UPDATE jobs SET state = 2, started = ? WHERE id = ?", -1,
			       &st, NULL) != SQLITE_OK) {
		e = jobstore_fail(js, "cannot prepare start");
		goto end;
	}
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, (int64_t)id);
	if (sqlite3_step(st) != SQLITE_DONE)
		e = jobstore_fail(js, "cannot start job");
	sqlite3_finalize(st);
end:
	e = jobstore_tx_end(js, e);
out:
	jobstore_unlock(js);
	return e;
}

int jobstore_start(struct jobstore *js, uint64_t id)
{
	return jobstore_start_limited(js, id, 0);
}

int jobstore_progress(struct jobstore *js, uint64_t id, uint64_t files, uint64_t bytes,
		      uint64_t errors)
{
	sqlite3_stmt *st = NULL;
	enum job_state state;
	int e = 0;
	if (id == 0 || id > INT64_MAX)
		return -ENOENT;
	if (files > INT64_MAX || bytes > INT64_MAX || errors > INT64_MAX)
		return -EINVAL;
	if ((e = jobstore_lock(js)) != 0)
		return e;
	if (sqlite3_prepare_v2(js->db,
			       "UPDATE jobs SET files = ?, bytes = ?, errors = ? "
			       "WHERE id = ? AND state = 2",
			       -1, &st, NULL) != SQLITE_OK) {
		e = jobstore_fail(js, "cannot prepare progress");
		goto out;
	}
	sqlite3_bind_int64(st, 1, (int64_t)files);
	sqlite3_bind_int64(st, 2, (int64_t)bytes);
	sqlite3_bind_int64(st, 3, (int64_t)errors);
	sqlite3_bind_int64(st, 4, (int64_t)id);
	if (sqlite3_step(st) != SQLITE_DONE)
		e = jobstore_fail(js, "cannot record progress");
	else if (sqlite3_changes(js->db) == 0) /* only to name the refusal */
		e = (e = state_of(js, (int64_t)id, &state)) == 0 ? -EALREADY : e;
	sqlite3_finalize(st);
out:
	jobstore_unlock(js);
	return e;
}

int jobstore_finish(struct jobstore *js, uint64_t id, enum job_state state,
		    const char *message, const char *snapshot)
{
	sqlite3_stmt *st = NULL;
	enum job_state now_state;
	int e;
	if (!job_state_final(state) || (snapshot != NULL && !snapshot_valid(snapshot)))
		return -EINVAL;
	if (id == 0 || id > INT64_MAX)
		return -ENOENT;
	if ((e = jobstore_lock(js)) != 0)
		return e;
	int64_t now = jobstore_now(js);
	if ((e = jobstore_tx_begin(js)) != 0)
		goto out;
	e = state_of(js, (int64_t)id, &now_state);
	if (e == 0 && job_state_final(now_state))
		e = -EALREADY;
	if (e != 0)
		goto end;
	if (sqlite3_prepare_v2(js->db,
			       "UPDATE jobs SET state = ?, finished = ?, "
			       "message = coalesce(?, message), snapshot = coalesce(?, snapshot) "
			       "WHERE id = ?",
			       -1, &st, NULL) != SQLITE_OK) {
		e = jobstore_fail(js, "cannot prepare finish");
		goto end;
	}
	sqlite3_bind_int(st, 1, (int)state);
	sqlite3_bind_int64(st, 2, now);
	if (message != NULL)
		sqlite3_bind_text(st, 3, message, (int)cut_len(message, JOB_MESSAGE_MAX),
				  SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	if (snapshot != NULL)
		sqlite3_bind_text(st, 4, snapshot, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_int64(st, 5, (int64_t)id);
	if (sqlite3_step(st) != SQLITE_DONE)
		e = jobstore_fail(js, "cannot finish job");
	sqlite3_finalize(st);
end:
	e = jobstore_tx_end(js, e);
out:
	jobstore_unlock(js);
	return e;
}

int jobstore_mark_interrupted(struct jobstore *js, const char *daemon)
{
	sqlite3_stmt *st = NULL;
	int e;
	if (daemon == NULL || daemon[0] == 0 || strlen(daemon) > JOB_DAEMON_MAX)
		return -EINVAL;
	if ((e = jobstore_lock(js)) != 0)
		return e;
	/* One statement: atomic on its own. */
	if (sqlite3_prepare_v2(js->db,
			       "UPDATE jobs SET state = 6, finished = ?, message = ? "
			       "WHERE state = 2 AND daemon = ?",
			       -1, &st, NULL) != SQLITE_OK) {
		e = jobstore_fail(js, "cannot prepare interruption");
		goto out;
	}
	sqlite3_bind_int64(st, 1, jobstore_now(js));
	sqlite3_bind_text(st, 2, interrupted_message, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, daemon, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		e = jobstore_fail(js, "cannot mark jobs interrupted");
	else
		e = sqlite3_changes(js->db);
	sqlite3_finalize(st);
out:
	jobstore_unlock(js);
	return e;
}

/* The listing's filter, then the cursor (an id, exclusive) and the page size. */
#define LIST_WHERE                                                                      \
	" WHERE (?1 IS NULL OR dataset = ?1) AND (?2 IS NULL OR daemon = ?2)"           \
	" AND (?3 = 0 OR state = ?3)"
static const char list_newest[] = SELECT_COLS LIST_WHERE " AND id < ?4 ORDER BY id DESC LIMIT ?5";
static const char list_oldest[] = SELECT_COLS LIST_WHERE " AND id > ?4 ORDER BY id ASC LIMIT ?5";

/* Reads up to want jobs matching f past cursor into jobs; *n is how many. */
static int list_page(struct jobstore *js, const struct job_filter *f, int64_t cursor,
		     unsigned want, struct job *jobs, unsigned *n)
{
	sqlite3_stmt *st = NULL;
	int e = 0, rc = SQLITE_DONE;
	*n = 0;
	if (sqlite3_prepare_v2(js->db, f->oldest_first ? list_oldest : list_newest, -1, &st,
			       NULL) != SQLITE_OK)
		return jobstore_fail(js, "cannot prepare listing");
	if (f->dataset != NULL)
		sqlite3_bind_text(st, 1, f->dataset, -1, SQLITE_STATIC);
	if (f->daemon != NULL)
		sqlite3_bind_text(st, 2, f->daemon, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, f->state);
	sqlite3_bind_int64(st, 4, cursor);
	sqlite3_bind_int64(st, 5, want);
	while (e == 0 && *n < want && (rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((e = row_to_job(js, st, &jobs[*n])) == 0)
			(*n)++;
	if (e == 0 && *n < want && rc != SQLITE_DONE)
		e = jobstore_fail(js, "cannot list jobs");
	sqlite3_finalize(st);
	return e;
}

int jobstore_list(struct jobstore *js, const struct job_filter *f,
		  int (*fn)(const struct job *j, void *arg), void *arg)
{
	static const struct job_filter none = { 0 };
	struct job *jobs;
	unsigned limit, done = 0, n, want;
	int e = 0;
	if (f == NULL)
		f = &none;
	if (f->state != 0 && !state_valid(f->state))
		return -EINVAL;
	limit = f->limit != 0 ? f->limit : LIST_DEFAULT;
	int64_t cursor = f->oldest_first ? 0 : INT64_MAX;
	if ((jobs = malloc(LIST_PAGE * sizeof *jobs)) == NULL)
		return -ENOMEM;
	while (e == 0 && done < limit) {
		want = limit - done < LIST_PAGE ? limit - done : LIST_PAGE;
		if ((e = jobstore_lock(js)) != 0)
			break;
		e = list_page(js, f, cursor, want, jobs, &n);
		jobstore_unlock(js);
		/* fn runs unlocked: it may call the store, this handle included. */
		for (unsigned i = 0; e == 0 && i < n; i++)
			e = fn(&jobs[i], arg);
		if (e != 0 || n < want)
			break;
		done += n;
		cursor = (int64_t)jobs[n - 1].id;
	}
	free(jobs);
	return e;
}

/* Messages. */

int jobstore_add_message(struct jobstore *js, uint64_t id, int level, const char *text)
{
	sqlite3_stmt *st = NULL;
	int64_t kept = 0;
	int e;
	if (level < JOB_MSG_ERROR || level > JOB_MSG_DEBUG || text == NULL)
		return -EINVAL;
	if (id == 0 || id > INT64_MAX)
		return -ENOENT;
	if ((e = jobstore_lock(js)) != 0)
		return e;
	int64_t now = jobstore_now(js);
	if ((e = jobstore_tx_begin(js)) != 0)
		goto out;
	/* Counted and written in one transaction: seq stays 0, 1, 2 ... per job. */
	if (sqlite3_prepare_v2(js->db,
			       "SELECT (SELECT count(*) FROM job_messages WHERE job = ?1) "
			       "FROM jobs WHERE id = ?1",
			       -1, &st, NULL) != SQLITE_OK) {
		e = jobstore_fail(js, "cannot prepare message count");
		goto end;
	}
	sqlite3_bind_int64(st, 1, (int64_t)id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		kept = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		e = -ENOENT;
	else
		e = jobstore_fail(js, "cannot count messages");
	sqlite3_finalize(st);
	st = NULL;
	if (e != 0)
		goto end;
	if (kept < JOB_MESSAGES_KEPT) {
		if (sqlite3_prepare_v2(js->db,
				       "INSERT INTO job_messages (job, seq, time, level, text) "
				       "VALUES (?,?,?,?,?)",
				       -1, &st, NULL) != SQLITE_OK) {
			e = jobstore_fail(js, "cannot prepare message");
			goto end;
		}
		sqlite3_bind_int64(st, 1, (int64_t)id);
		sqlite3_bind_int64(st, 2, kept);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_int(st, 4, level);
		sqlite3_bind_text(st, 5, text, (int)cut_len(text, JOB_MESSAGE_MAX), SQLITE_STATIC);
	} else if (sqlite3_prepare_v2(js->db,
				      "UPDATE jobs SET messages_dropped = messages_dropped + 1 "
				      "WHERE id = ?",
				      -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (int64_t)id);
	} else {
		e = jobstore_fail(js, "cannot prepare message count");
		goto end;
	}
	if (sqlite3_step(st) != SQLITE_DONE)
		e = jobstore_fail(js, "cannot add message");
	sqlite3_finalize(st);
end:
	e = jobstore_tx_end(js, e);
out:
	jobstore_unlock(js);
	return e;
}

struct message {
	int64_t seq, time;
	int level;
	char text[JOB_MESSAGE_MAX + 1];
};

/* Reads up to MESSAGE_PAGE messages of job id with seq > after. */
static int messages_page(struct jobstore *js, int64_t id, int64_t after, struct message *m,
			 unsigned *n)
{
	sqlite3_stmt *st = NULL;
	int e = 0, rc = SQLITE_DONE;
	*n = 0;
	if (sqlite3_prepare_v2(js->db,
			       "SELECT seq, time, level, text FROM job_messages "
			       "WHERE job = ? AND seq > ? ORDER BY seq LIMIT ?",
			       -1, &st, NULL) != SQLITE_OK)
		return jobstore_fail(js, "cannot prepare messages");
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int(st, 3, MESSAGE_PAGE);
	while (e == 0 && *n < MESSAGE_PAGE && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct message *p = &m[*n];
		int64_t level;
		e = col_int(st, 0, 0, JOB_MESSAGES_KEPT - 1, &p->seq);
		if (e == 0)
			e = col_int(st, 1, INT64_MIN, INT64_MAX, &p->time);
		if (e == 0)
			e = col_int(st, 2, JOB_MSG_ERROR, JOB_MSG_DEBUG, &level);
		if (e == 0)
			e = col_text(st, 3, p->text, sizeof p->text, false, false);
		if (e == -EBADMSG)
			log_errorx("jobs %s: a message of job %lld breaks the schema", js->path,
				   (long long)id);
		if (e == 0) {
			p->level = (int)level;
			(*n)++;
		}
	}
	if (e == 0 && *n < MESSAGE_PAGE && rc != SQLITE_DONE)
		e = jobstore_fail(js, "cannot read messages");
	sqlite3_finalize(st);
	return e;
}

int jobstore_messages(struct jobstore *js, uint64_t id,
		      int (*fn)(int64_t time, int level, const char *text, void *arg), void *arg)
{
	struct message *m;
	enum job_state state;
	int64_t after = -1;
	unsigned n;
	int e;
	if (id == 0 || id > INT64_MAX)
		return -ENOENT;
	if ((m = malloc(MESSAGE_PAGE * sizeof *m)) == NULL)
		return -ENOMEM;
	if ((e = jobstore_lock(js)) == 0) {
		e = state_of(js, (int64_t)id, &state);
		jobstore_unlock(js);
	}
	while (e == 0) {
		if ((e = jobstore_lock(js)) != 0)
			break;
		e = messages_page(js, (int64_t)id, after, m, &n);
		jobstore_unlock(js);
		for (unsigned i = 0; e == 0 && i < n; i++)
			e = fn(m[i].time, m[i].level, m[i].text, arg);
		if (e != 0 || n < MESSAGE_PAGE)
			break;
		after = m[n - 1].seq;
	}
	free(m);
	return e;
}
