/*
 * erase.db (store.h). One process (coffer-erased) writes it; every write
 * is one statement or one transaction, synchronous = FULL, so a crash
 * leaves the last committed state.
 */
#include "approval/store.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define SCHEMA_VERSION 1

static const char schema_v1[] =
	"CREATE TABLE approvers ("
	" name TEXT PRIMARY KEY, role INTEGER NOT NULL, user TEXT NOT NULL,"
	" suite INTEGER NOT NULL, pem TEXT NOT NULL, fingerprint BLOB NOT NULL UNIQUE,"
	" added INTEGER NOT NULL, added_by TEXT NOT NULL,"
	" revoked INTEGER NOT NULL DEFAULT 0, revoked_by TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE requests ("
	" id BLOB PRIMARY KEY, enc BLOB NOT NULL, state INTEGER NOT NULL,"
	" since INTEGER NOT NULL);"
	"CREATE TABLE approvals ("
	" request BLOB NOT NULL REFERENCES requests(id), approver TEXT NOT NULL,"
	" sig BLOB NOT NULL, time INTEGER NOT NULL, by_uid INTEGER NOT NULL,"
	" UNIQUE (request, approver));"
	"CREATE TABLE executions ("
	" request BLOB PRIMARY KEY REFERENCES requests(id), started INTEGER NOT NULL,"
	" finished INTEGER NOT NULL DEFAULT 0, executor_uid INTEGER NOT NULL,"
	" executor TEXT NOT NULL, method TEXT NOT NULL, shredded INTEGER NOT NULL DEFAULT 0,"
	" files INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,"
	" direct_files INTEGER NOT NULL DEFAULT 0, result TEXT NOT NULL DEFAULT '');"
	"PRAGMA user_version = 1;";

struct erase_store {
	sqlite3 *db;
	char path[PATH_MAX];
};

const char *erase_state_name(enum erase_state s)
{
	switch (s) {
	case ERASE_PENDING: return "pending";
	case ERASE_EXECUTING: return "executing";
	case ERASE_DONE: return "done";
	case ERASE_CANCELLED: return "cancelled";
	}
	return "?";
}

static int fail(const struct erase_store *s, const char *what)
{
	log_errorx("%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
	return -EIO;
}

static int exec(struct erase_store *s, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &err) == SQLITE_OK)
		return 0;
	log_errorx("%s: %s", s->path, err ? err : "error");
	sqlite3_free(err);
	return -EIO;
}

static int prepare(struct erase_store *s, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK ? 0 : fail(s, "prepare");
}

/* Steps a statement that returns no row; SQLITE_CONSTRAINT becomes -EEXIST. */
static int step_done(struct erase_store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return -EEXIST;
	return fail(s, "write");
}

static int schema(struct erase_store *s)
{
	sqlite3_stmt *st = NULL;
	int version = -1;
	if (prepare(s, "PRAGMA user_version", &st) != 0)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version < 0 || version > SCHEMA_VERSION) {
		log_errorx("%s has schema version %d; this program knows %d", s->path, version,
			   SCHEMA_VERSION);
		return -ENOTSUP;
	}
	if (version == SCHEMA_VERSION)
		return 0;
	int e = exec(s, "BEGIN IMMEDIATE");
	if (e == 0)
		e = exec(s, schema_v1);
	if (e == 0)
		return exec(s, "COMMIT");
	(void)exec(s, "ROLLBACK");
	return e;
}

int erase_store_open(const char *state_dir, struct erase_store **out)
{
	struct erase_store *s = calloc(1, sizeof *s);
	if (s == NULL)
		return -ENOMEM;
	int e = 0;
	if ((size_t)snprintf(s->path, sizeof s->path, "%s/erase.db", state_dir) >= sizeof s->path)
		e = -ENAMETOOLONG;
	if (e == 0 && sqlite3_open_v2(s->path, &s->db,
				      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					      SQLITE_OPEN_FULLMUTEX,
				      NULL) != SQLITE_OK) {
		log_errorx("cannot open %s: %s", s->path,
			   s->db ? sqlite3_errmsg(s->db) : "out of memory");
		e = -EIO;
	}
	if (e == 0) {
		sqlite3_extended_result_codes(s->db, 1);
		sqlite3_busy_timeout(s->db, 5000);
		e = exec(s, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
			    "PRAGMA foreign_keys = ON");
	}
	if (e == 0)
		e = schema(s);
	/* Added within version 1, before any release: made where it is missing. */
	if (e == 0)
		e = exec(s, "CREATE TABLE IF NOT EXISTS certificates ("
			    " request BLOB PRIMARY KEY REFERENCES requests(id),"
			    " text BLOB NOT NULL)");
	if (e != 0) {
		erase_store_close(s);
		return e;
	}
	*out = s;
	return 0;
}

void erase_store_close(struct erase_store *s)
{
	if (s == NULL)
		return;
	sqlite3_close(s->db);
	free(s);
}

/* ---- approvers ------------------------------------------------------------ */

int erase_store_approver_add(struct erase_store *s, const struct approver *a)
{
	sqlite3_stmt *st = NULL;
	int e = prepare(s, "INSERT INTO approvers (name, role, user, suite, pem, fingerprint, "
			   "added, added_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", &st);
	if (e != 0)
		return e;
	sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)a->role);
	sqlite3_bind_text(st, 3, a->user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, a->suite);
	sqlite3_bind_text(st, 5, a->pem, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, a->fingerprint, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, a->added);
	sqlite3_bind_text(st, 8, a->added_by, -1, SQLITE_STATIC);
	e = step_done(s, st);
	if (e == -EEXIST)
		log_errorx("an approver named '%s', or one with this public key, is registered "
			   "already (names and keys are never reused, even after revocation)",
			   a->name);
	return e;
}

/* Copies a text column into a fixed field; -EBADMSG if it does not fit. */
static int col_text(sqlite3_stmt *st, int col, char *dst, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	if (t == NULL || strlen((const char *)t) >= size)
		return -EBADMSG;
	memcpy(dst, t, strlen((const char *)t) + 1);
	return 0;
}

static int row_to_approver(sqlite3_stmt *st, struct approver *a)
{
	memset(a, 0, sizeof *a);
	const unsigned char *pem = sqlite3_column_text(st, 4);
	int role = sqlite3_column_int(st, 1);
	if (col_text(st, 0, a->name, sizeof a->name) != 0 ||
	    col_text(st, 2, a->user, sizeof a->user) != 0 ||
	    col_text(st, 7, a->added_by, sizeof a->added_by) != 0 ||
	    col_text(st, 9, a->revoked_by, sizeof a->revoked_by) != 0 || pem == NULL ||
	    sqlite3_column_bytes(st, 5) != 32 ||
	    (role != APPROVER_ROLE_APPROVER && role != APPROVER_ROLE_SUPERVISOR))
		return -EBADMSG;
	a->role = (enum approver_role)role;
	a->suite = (uint32_t)sqlite3_column_int64(st, 3);
	memcpy(a->fingerprint, sqlite3_column_blob(st, 5), 32);
	a->added = sqlite3_column_int64(st, 6);
	a->revoked = sqlite3_column_int64(st, 8);
	a->pem = strdup((const char *)pem);
	return a->pem != NULL ? 0 : -ENOMEM;
}

int erase_store_approvers(struct erase_store *s, struct approver **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct approver *v = NULL;
	size_t len = 0;
	int e = prepare(s, "SELECT name, role, user, suite, pem, fingerprint, added, added_by, "
			   "revoked, revoked_by FROM approvers ORDER BY name", &st);
	int rc;
	while (e == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct approver *nv = realloc(v, (len + 1) * sizeof *v);
		if (nv == NULL) {
			e = -ENOMEM;
			break;
		}
		v = nv;
		e = row_to_approver(st, &v[len]);
		if (e != 0)
			approver_fini(&v[len]);
		else
			len++;
		if (e == -EBADMSG)
			log_errorx("%s: an approver's row is damaged", s->path);
	}
	if (e == 0 && rc != SQLITE_DONE)
		e = fail(s, "read approvers");
	sqlite3_finalize(st);
	if (e != 0) {
		erase_store_approvers_free(v, len);
		return e;
	}
	*out = v;
	*n = len;
	return 0;
}

void erase_store_approvers_free(struct approver *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		approver_fini(&v[i]);
	free(v);
}

int erase_store_approver_revoke(struct erase_store *s, const char *name, const char *by,
				int64_t when)
{
	sqlite3_stmt *st = NULL;
	int e = prepare(s, "UPDATE approvers SET revoked = ?, revoked_by = ? "
			   "WHERE name = ? AND revoked = 0", &st);
	if (e != 0)
		return e;
	sqlite3_bind_int64(st, 1, when);
	sqlite3_bind_text(st, 2, by, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	e = step_done(s, st);
	if (e != 0 || sqlite3_changes(s->db) == 1)
		return e;
	/* Nothing changed: no such approver, or revoked before. */
	if (prepare(s, "SELECT revoked FROM approvers WHERE name = ?", &st) != 0)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	e = sqlite3_step(st) == SQLITE_ROW ? -EALREADY : -ENOENT;
	sqlite3_finalize(st);
	if (e == -ENOENT)
		log_errorx("no approver named '%s'", name);
	else
		log_errorx("approver '%s' is revoked already", name);
	return e;
}

/* ---- requests ------------------------------------------------------------- */

int erase_store_request_add(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
			    const uint8_t *enc, size_t len)
{
	sqlite3_stmt *st = NULL;
	int e = prepare(s, "INSERT INTO requests (id, enc, state, since) "
			   "VALUES (?, ?, ?, strftime('%s', 'now'))", &st);
	if (e != 0)
		return e;
	sqlite3_bind_blob(st, 1, id, ERASE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, enc, (int)len, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, ERASE_PENDING);
	return step_done(s, st);
}

static void no_request(const struct erase_store *s, const uint8_t id[ERASE_ID_LEN])
{
	char hex[2 * ERASE_ID_LEN + 1];
	erase_id_hex(id, hex);
	log_errorx("no destruction request %s in %s", hex, s->path);
}

int erase_store_request_get(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
			    struct buf *enc, enum erase_state *state, int64_t *since)
{
	sqlite3_stmt *st = NULL;
	int e = prepare(s, "SELECT enc, state, since FROM requests WHERE id = ?", &st);
	if (e != 0)
		return e;
	sqlite3_bind_blob(st, 1, id, ERASE_ID_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int st_v = sqlite3_column_int(st, 1);
		e = st_v >= ERASE_PENDING && st_v <= ERASE_CANCELLED ? 0 : -EBADMSG;
		if (e == 0)
			e = buf_put(enc, sqlite3_column_blob(st, 0),
				    (size_t)sqlite3_column_bytes(st, 0));
		*state = (enum erase_state)st_v;
		*since = sqlite3_column_int64(st, 2);
	} else if (rc == SQLITE_DONE) {
		e = -ENOENT;
		no_request(s, id);
	} else {
		e = fail(s, "read a request");
	}
	sqlite3_finalize(st);
	return e;
}

int erase_store_request_set_state(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
				  enum erase_state from, enum erase_state to, int64_t when)
{
	sqlite3_stmt *st = NULL;
	int e = prepare(s, "UPDATE requests SET state = ?, since = ? WHERE id = ? AND state = ?",
			&st);
	if (e != 0)
		return e;
	sqlite3_bind_int(st, 1, (int)to);
	sqlite3_bind_int64(st, 2, when);
	sqlite3_bind_blob(st, 3, id, ERASE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, (int)from);
	e = step_done(s, st);
	if (e == 0 && sqlite3_changes(s->db) != 1) {
		char hex[2 * ERASE_ID_LEN + 1];
		erase_id_hex(id, hex);
		log_errorx("request %s is not %s", hex, erase_state_name(from));
		e = -EPERM;
	}
	return e;
}

int erase_store_request_ids(struct erase_store *s, uint8_t (**ids)[ERASE_ID_LEN], size_t *n)
{
	sqlite3_stmt *st = NULL;
	uint8_t (*v)[ERASE_ID_LEN] = NULL;
	size_t len = 0;
	int e = prepare(s, "SELECT id FROM requests ORDER BY rowid DESC", &st), rc;
	while (e == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != ERASE_ID_LEN)
			continue;
		uint8_t (*nv)[ERASE_ID_LEN] = realloc(v, (len + 1) * sizeof *v);
		if (nv == NULL) {
			e = -ENOMEM;
			break;
		}
		v = nv;
		memcpy(v[len++], sqlite3_column_blob(st, 0), ERASE_ID_LEN);
	}
	if (e == 0 && rc != SQLITE_DONE)
		e = fail(s, "list requests");
	sqlite3_finalize(st);
	if (e != 0) {
		free(v);
		return e;
	}
	*ids = v;
	*n = len;
	return 0;
}

/* ---- approvals ------------------------------------------------------------ */

int erase_store_approval_add(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
			     const struct approval *a)
{
	sqlite3_stmt *st = NULL;
	int e = prepare(s, "INSERT INTO approvals (request, approver, sig, time, by_uid) "
			   "VALUES (?, ?, ?, ?, ?)", &st);
	if (e != 0)
		return e;
	sqlite3_bind_blob(st, 1, id, ERASE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->approver, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, a->sig, (int)a->sig_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, a->time);
	sqlite3_bind_int64(st, 5, a->by_uid);
	e = step_done(s, st);
	if (e == -EEXIST)
		log_errorx("'%s' has approved this request already", a->approver);
	return e;
}

int erase_store_approvals(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
			  struct approval **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct approval *v = NULL;
	size_t len = 0;
	int e = prepare(s, "SELECT approver, sig, time, by_uid FROM approvals WHERE request = ? "
			   "ORDER BY rowid", &st), rc = SQLITE_DONE;
	if (e == 0)
		sqlite3_bind_blob(st, 1, id, ERASE_ID_LEN, SQLITE_STATIC);
	while (e == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct approval *nv = realloc(v, (len + 1) * sizeof *v);
		if (nv == NULL) {
			e = -ENOMEM;
			break;
		}
		v = nv;
		struct approval *a = &v[len];
		memset(a, 0, sizeof *a);
		size_t sl = (size_t)sqlite3_column_bytes(st, 1);
		uint8_t *sig = malloc(sl ? sl : 1);
		if (sig == NULL) {
			e = -ENOMEM;
			break;
		}
		if (sl)
			memcpy(sig, sqlite3_column_blob(st, 1), sl);
		a->sig = sig;
		a->sig_len = sl;
		len++;
		if (col_text(st, 0, a->approver, sizeof a->approver) != 0) {
			log_errorx("%s: an approval's row is damaged", s->path);
			e = -EBADMSG;
		}
		a->time = sqlite3_column_int64(st, 2);
		a->by_uid = (uint32_t)sqlite3_column_int64(st, 3);
	}
	if (e == 0 && rc != SQLITE_DONE)
		e = fail(s, "read approvals");
	sqlite3_finalize(st);
	if (e != 0) {
		erase_store_approvals_free(v, len);
		return e;
	}
	*out = v;
	*n = len;
	return 0;
}

void erase_store_approvals_free(struct approval *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((void *)v[i].sig);
	free(v);
}

/* ---- executions ----------------------------------------------------------- */

int erase_store_execution_begin(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
				const struct erase_execution *x)
{
	sqlite3_stmt *st = NULL;
	int e = prepare(s, "INSERT INTO executions (request, started, executor_uid, executor, "
			   "method) VALUES (?, ?, ?, ?, ?)", &st);
	if (e != 0)
		return e;
	sqlite3_bind_blob(st, 1, id, ERASE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, x->started);
	sqlite3_bind_int64(st, 3, x->executor_uid);
	sqlite3_bind_text(st, 4, x->executor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, x->method, -1, SQLITE_STATIC);
	return step_done(s, st);
}

int erase_store_execution_get(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
			      struct erase_execution *out)
{
	sqlite3_stmt *st = NULL;
	int e = prepare(s, "SELECT started, finished, executor_uid, executor, method, shredded, "
			   "files, bytes, direct_files, result FROM executions WHERE request = ?", &st);
	if (e != 0)
		return e;
	sqlite3_bind_blob(st, 1, id, ERASE_ID_LEN, SQLITE_STATIC);
	memset(out, 0, sizeof *out);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->started = sqlite3_column_int64(st, 0);
		out->finished = sqlite3_column_int64(st, 1);
		out->executor_uid = (uint32_t)sqlite3_column_int64(st, 2);
		out->shredded = sqlite3_column_int64(st, 5);
		out->files = (uint64_t)sqlite3_column_int64(st, 6);
		out->bytes = (uint64_t)sqlite3_column_int64(st, 7);
		out->direct_files = (uint64_t)sqlite3_column_int64(st, 8);
		if (col_text(st, 3, out->executor, sizeof out->executor) != 0 ||
		    col_text(st, 4, out->method, sizeof out->method) != 0 ||
		    col_text(st, 9, out->result, sizeof out->result) != 0)
			e = -EBADMSG;
	} else {
		e = rc == SQLITE_DONE ? -ENOENT : fail(s, "read an execution");
	}
	sqlite3_finalize(st);
	return e;
}

/* One UPDATE of the execution's row: ?1 = a, ?2 = text or b, ?3 = the request. */
static int execution_update(struct erase_store *s, const char *sql, const uint8_t *id,
			    int64_t a, int64_t b, const char *text)
{
	sqlite3_stmt *st = NULL;
	int e = prepare(s, sql, &st);
	if (e != 0)
		return e;
	sqlite3_bind_int64(st, 1, a);
	if (text != NULL)
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 2, b);
	sqlite3_bind_blob(st, 3, id, ERASE_ID_LEN, SQLITE_STATIC);
	e = step_done(s, st);
	if (e == 0 && sqlite3_changes(s->db) != 1)
		e = -ENOENT;
	return e;
}

int erase_store_execution_shredded(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
				   int64_t when)
{
	return execution_update(s, "UPDATE executions SET shredded = ?1 WHERE request = ?3 "
				   "AND ?2 = 0", id, when, 0, NULL);
}

int erase_store_execution_file(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
			       uint64_t bytes, bool direct)
{
	return execution_update(s, "UPDATE executions SET files = files + 1, bytes = bytes + ?1, "
				   "direct_files = direct_files + ?2 WHERE request = ?3",
				id, (int64_t)bytes, direct ? 1 : 0, NULL);
}

int erase_store_execution_finish(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
				 int64_t when, const char *result)
{
	return execution_update(s, "UPDATE executions SET finished = ?1, result = ?2 "
				   "WHERE request = ?3", id, when, 0, result);
}

/* ---- certificates ---------------------------------------------------------- */

int erase_store_certificate_put(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
				const uint8_t *cert, size_t len)
{
	sqlite3_stmt *st = NULL;
	int e = prepare(s, "INSERT INTO certificates (request, text) VALUES (?, ?)", &st);
	if (e != 0)
		return e;
	sqlite3_bind_blob(st, 1, id, ERASE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, cert, (int)len, SQLITE_STATIC);
	return step_done(s, st);
}

int erase_store_certificate_get(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
				struct buf *out)
{
	sqlite3_stmt *st = NULL;
	int e = prepare(s, "SELECT text FROM certificates WHERE request = ?", &st);
	if (e != 0)
		return e;
	sqlite3_bind_blob(st, 1, id, ERASE_ID_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		e = buf_put(out, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
	else
		e = rc == SQLITE_DONE ? -ENOENT : fail(s, "read a certificate");
	sqlite3_finalize(st);
	return e;
}

int erase_store_execution_method(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
				 const char *method)
{
	return execution_update(s, "UPDATE executions SET method = ?2, result = '' "
				   "WHERE request = ?3 AND ?1 = 0", id, 0, 0, method);
}
