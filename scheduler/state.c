/*
 * The scheduler's state, STATE_DIR/sched.db (SQLite, WAL, synchronous
 * FULL): one row per dataset and kind of scheduled job. Only the
 * scheduler writes it. Schema version 1 in PRAGMA user_version; a newer
 * one is refused.
 */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/scheduler.h"
#include "util/log.h"

#define SCHED_SCHEMA 1

struct sched_db {
	sqlite3 *db;
	char path[PATH_MAX];
};

static const char schema_v1[] =
	"CREATE TABLE schedule ("
	" dataset TEXT NOT NULL, kind TEXT NOT NULL, calendar TEXT NOT NULL,"
	" next_run INTEGER NOT NULL, last_slot INTEGER NOT NULL, last_job INTEGER NOT NULL,"
	" pending_slot INTEGER NOT NULL, failures INTEGER NOT NULL, retry_at INTEGER NOT NULL,"
	" state TEXT NOT NULL, runs INTEGER NOT NULL, share INTEGER NOT NULL,"
	" PRIMARY KEY (dataset, kind));"
	"PRAGMA user_version = 1;";

static int db_fail(struct sched_db *d, const char *what)
{
	log_errorx("%s: %s: %s", d->path, what, sqlite3_errmsg(d->db));
	return -EIO;
}

static int exec(struct sched_db *d, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(d->db, sql, NULL, NULL, &err) == SQLITE_OK)
		return 0;
	log_errorx("%s: %s", d->path, err ? err : "error");
	sqlite3_free(err);
	return -EIO;
}

static int user_version(struct sched_db *d, int *v)
{
	sqlite3_stmt *st = NULL;
	int e = 0;
	if (sqlite3_prepare_v2(d->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		e = db_fail(d, "cannot read the schema version");
	else
		*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return e;
}

int sched_db_open(const char *state_dir, struct sched_db **out)
{
	struct sched_db *d = calloc(1, sizeof *d);
	int e = d != NULL ? 0 : -ENOMEM, v = 0;
	if (e == 0 && (size_t)snprintf(d->path, sizeof d->path, "%s/sched.db", state_dir) >=
			      sizeof d->path)
		e = -ENAMETOOLONG;
	if (e == 0 && sqlite3_open_v2(d->path, &d->db,
				      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					      SQLITE_OPEN_NOMUTEX,
				      NULL) != SQLITE_OK) {
		log_errorx("cannot open %s: %s", d->path, d->db ? sqlite3_errmsg(d->db) : "no memory");
		e = -EIO;
	}
	if (e == 0) {
		sqlite3_busy_timeout(d->db, 10000);
		e = exec(d, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL");
	}
	if (e == 0)
		e = user_version(d, &v);
	if (e == 0 && v > SCHED_SCHEMA) {
		log_errorx("%s has schema version %d; this program knows %d", d->path, v,
			   SCHED_SCHEMA);
		e = -ENOTSUP;
	}
	if (e == 0 && v == 0) {
		e = exec(d, "BEGIN IMMEDIATE");
		if (e == 0 && (e = user_version(d, &v)) == 0 && v == 0)
			e = exec(d, schema_v1);
		(void)exec(d, e == 0 ? "COMMIT" : "ROLLBACK");
	}
	if (e != 0) {
		sched_db_close(d);
		return e;
	}
	*out = d;
	return 0;
}

void sched_db_close(struct sched_db *d)
{
	if (d == NULL)
		return;
	sqlite3_close(d->db);
	free(d);
}

#define COLS "dataset, kind, calendar, next_run, last_slot, last_job, pending_slot, failures, " \
	     "retry_at, state, runs, share"

static void copy_text(sqlite3_stmt *st, int col, char *dst, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

static void row_read(sqlite3_stmt *st, struct sched_row *r)
{
	memset(r, 0, sizeof *r);
	copy_text(st, 0, r->dataset, sizeof r->dataset);
	copy_text(st, 1, r->kind, sizeof r->kind);
	copy_text(st, 2, r->calendar, sizeof r->calendar);
	r->next_run = sqlite3_column_int64(st, 3);
	r->last_slot = sqlite3_column_int64(st, 4);
	r->last_job = (uint64_t)sqlite3_column_int64(st, 5);
	r->pending_slot = sqlite3_column_int64(st, 6);
	r->failures = (uint32_t)sqlite3_column_int64(st, 7);
	r->retry_at = sqlite3_column_int64(st, 8);
	copy_text(st, 9, r->state, sizeof r->state);
	r->runs = (uint64_t)sqlite3_column_int64(st, 10);
	r->share = (uint32_t)sqlite3_column_int64(st, 11);
}

int sched_db_get(struct sched_db *d, const char *dataset, const char *kind,
		 struct sched_row *out)
{
	sqlite3_stmt *st = NULL;
	int e = 0;
	if (sqlite3_prepare_v2(d->db, "SELECT " COLS " FROM schedule WHERE dataset = ? AND kind = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(d, "cannot prepare a lookup");
	sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row_read(st, out);
	else if (rc == SQLITE_DONE)
		e = -ENOENT;
	else
		e = db_fail(d, "cannot look up a schedule");
	sqlite3_finalize(st);
	return e;
}

int sched_db_put(struct sched_db *d, const struct sched_row *r)
{
	sqlite3_stmt *st = NULL;
	int e = 0;
	if (sqlite3_prepare_v2(d->db, "INSERT OR REPLACE INTO schedule (" COLS ") VALUES "
				      "(?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
		return db_fail(d, "cannot prepare an update");
	sqlite3_bind_text(st, 1, r->dataset, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->calendar, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, r->next_run);
	sqlite3_bind_int64(st, 5, r->last_slot);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)r->last_job);
	sqlite3_bind_int64(st, 7, r->pending_slot);
	sqlite3_bind_int64(st, 8, r->failures);
	sqlite3_bind_int64(st, 9, r->retry_at);
	sqlite3_bind_text(st, 10, r->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)r->runs);
	sqlite3_bind_int64(st, 12, r->share);
	if (sqlite3_step(st) != SQLITE_DONE)
		e = db_fail(d, "cannot store a schedule");
	sqlite3_finalize(st);
	return e;
}

int sched_db_delete(struct sched_db *d, const char *dataset, const char *kind)
{
	sqlite3_stmt *st = NULL;
	int e = 0;
	if (sqlite3_prepare_v2(d->db, "DELETE FROM schedule WHERE dataset = ? AND kind = ?", -1,
			       &st, NULL) != SQLITE_OK)
		return db_fail(d, "cannot prepare a delete");
	sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		e = db_fail(d, "cannot delete a schedule");
	sqlite3_finalize(st);
	return e;
}

int sched_db_list(struct sched_db *d, int (*fn)(const struct sched_row *r, void *arg), void *arg)
{
	sqlite3_stmt *st = NULL;
	struct sched_row r;
	int e = 0, rc;
	if (sqlite3_prepare_v2(d->db, "SELECT " COLS " FROM schedule ORDER BY dataset, kind", -1,
			       &st, NULL) != SQLITE_OK)
		return db_fail(d, "cannot prepare a listing");
	while (e == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_read(st, &r);
		e = fn(&r, arg);
	}
	if (e == 0 && rc != SQLITE_DONE)
		e = db_fail(d, "cannot list the schedules");
	sqlite3_finalize(st);
	return e;
}
