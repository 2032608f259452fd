/*
 * The dataset catalog on SQLite (catalog.h). Every statement is prepared
 * with bound parameters; nothing from an operator is pasted into SQL.
 * Schema history (docs/format/catalog.md): 1 datasets; 2 adds policies
 * and their sources. Opening brings an older file up to CATALOG_SCHEMA one
 * step at a time, all steps in one transaction.
 */
#include "catalog/catalog.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util/hex.h"
#include "util/log.h"

#define CATALOG_SCHEMA 2
#define BUSY_TIMEOUT_MS 10000

struct catalog {
	sqlite3 *db;
	char path[PATH_MAX];
};

static const char schema_v1[] =
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
	"PRAGMA user_version = 1;";

/*
 * Schema 1 to 2: a dataset's policy is one row of policies and its sources
 * rows of policy_sources, idx 0..n-1 in order, the path's bytes as a BLOB
 * (a path need not be UTF-8). Sources exist only beside a policy row.
 */
static const char schema_v1_to_v2[] =
	"CREATE TABLE policies ("
	" dataset TEXT PRIMARY KEY NOT NULL REFERENCES datasets(name),"
	" calendar TEXT NOT NULL,"
	" keep_last INTEGER NOT NULL,"
	" keep_daily INTEGER NOT NULL,"
	" keep_weekly INTEGER NOT NULL,"
	" keep_monthly INTEGER NOT NULL,"
	" keep_yearly INTEGER NOT NULL,"
	" verify_days INTEGER NOT NULL,"
	" updated INTEGER NOT NULL);"
	"CREATE TABLE policy_sources ("
	" dataset TEXT NOT NULL REFERENCES datasets(name),"
	" idx INTEGER NOT NULL,"
	" path BLOB NOT NULL,"
	" PRIMARY KEY (dataset, idx));"
	"PRAGMA user_version = 2;";

static int db_fail(const struct catalog *c, const char *what)
{
	log_errorx("catalog %s: %s: %s", c->path, what, sqlite3_errmsg(c->db));
	return -EIO;
}

static int exec(struct catalog *c, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(c->db, sql, NULL, NULL, &err) == SQLITE_OK)
		return 0;
	log_errorx("catalog %s: %s", c->path, err ? err : "error");
	sqlite3_free(err);
	return -EIO;
}

/* The file's schema version; -ENOTSUP (logged) for one this program does not know. */
static int read_version(struct catalog *c, int *version)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return db_fail(c, "cannot read the schema version");
	}
	*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (*version < 0 || *version > CATALOG_SCHEMA) {
		log_errorx("catalog %s has schema version %d; this program knows %d",
			   c->path, *version, CATALOG_SCHEMA);
		return -ENOTSUP;
	}
	return 0;
}

/*
 * Brings the schema to CATALOG_SCHEMA, refusing a newer one: an empty
 * database gets schema 1 and then every later step, an older one the
 * steps it lacks, all in one transaction (a crash leaves the old version).
 */
static int catalog_schema(struct catalog *c)
{
	int e, version, from = 0;
	if ((e = read_version(c, &version)) != 0)
		return e;
	if (version == CATALOG_SCHEMA)
		return 0;
	e = exec(c, "BEGIN IMMEDIATE");
	if (e != 0)
		return e;
	/* Another process may have created or upgraded it while we waited. */
	if ((e = read_version(c, &version)) != 0)
		goto out;
	from = version;
	if (version == 0 && (e = exec(c, schema_v1)) == 0)
		version = 1;
	if (e == 0 && version == 1 && (e = exec(c, schema_v1_to_v2)) == 0)
		version = 2;
out:
	if (e == 0 && (e = exec(c, "COMMIT")) == 0) {
		if (from != 0 && from != version)
			log_info("catalog %s: schema upgraded from version %d to %d", c->path,
				 from, version);
		return 0;
	}
	if (!sqlite3_get_autocommit(c->db))
		(void)exec(c, "ROLLBACK");
	return e;
}

int catalog_open(const char *state_dir, struct catalog **out)
{
	struct catalog *c = calloc(1, sizeof *c);
	int e = -ENOMEM;
	if (c == NULL)
		return e;
	if ((size_t)snprintf(c->path, sizeof c->path, "%s/catalog.db", state_dir) >=
	    sizeof c->path) {
		e = -ENAMETOOLONG;
		goto out;
	}
	if (sqlite3_open_v2(c->path, &c->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		log_errorx("cannot open catalog %s: %s", c->path,
			   c->db ? sqlite3_errmsg(c->db) : "out of memory");
		e = -EIO;
		goto out;
	}
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	e = exec(c, "PRAGMA journal_mode = WAL");
	if (e == 0)
		e = exec(c, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
	if (e == 0)
		e = catalog_schema(c);
	if (e == 0) {
		*out = c;
		c = NULL;
	}
out:
	catalog_close(c);
	return e;
}

void catalog_close(struct catalog *c)
{
	if (c == NULL)
		return;
	sqlite3_close(c->db);
	free(c);
}

int dataset_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > DATASET_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (; *name; name++) {
		char ch = *name;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

int catalog_new_id(char id[DATASET_ID_LEN + 1])
{
	uint8_t raw[DATASET_ID_LEN / 2];
	/* getrandom, not crypto_random: the catalog does not link the crypto
	 * module, and an ID need only be unique, not secret. */
	size_t got = 0;
	while (got < sizeof raw) {
		ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	hex_encode(raw, sizeof raw, id);
	id[DATASET_ID_LEN] = 0;
	return 0;
}

int catalog_begin(struct catalog *c)
{
	return exec(c, "BEGIN IMMEDIATE");
}

int catalog_commit(struct catalog *c)
{
	return exec(c, "COMMIT");
}

void catalog_rollback(struct catalog *c)
{
	if (!sqlite3_get_autocommit(c->db))
		(void)exec(c, "ROLLBACK");
}

int catalog_add(struct catalog *c, const struct dataset *d)
{
	sqlite3_stmt *st = NULL;
	int e = 0;
	if (sqlite3_prepare_v2(c->db,
			       "INSERT INTO datasets (name, id, level, owner, suite, pool, "
			       "repo, created, state, shredded) VALUES (?,?,?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(c, "cannot prepare insert");
	sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, d->level);
	sqlite3_bind_text(st, 4, d->owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, d->suite);
	sqlite3_bind_text(st, 6, d->pool, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, d->repo, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, d->created);
	sqlite3_bind_int(st, 9, (int)d->state);
	sqlite3_bind_int64(st, 10, d->shredded);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT)
		e = -EEXIST;
	else if (rc != SQLITE_DONE)
		e = db_fail(c, "cannot add dataset");
	sqlite3_finalize(st);
	return e;
}

static void copy_text(sqlite3_stmt *st, int col, char *dst, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

static void row_to_dataset(sqlite3_stmt *st, struct dataset *d)
{
	memset(d, 0, sizeof *d);
	copy_text(st, 0, d->name, sizeof d->name);
	copy_text(st, 1, d->id, sizeof d->id);
	d->level = (unsigned)sqlite3_column_int64(st, 2);
	copy_text(st, 3, d->owner, sizeof d->owner);
	d->suite = (uint32_t)sqlite3_column_int64(st, 4);
	copy_text(st, 5, d->pool, sizeof d->pool);
	copy_text(st, 6, d->repo, sizeof d->repo);
	d->created = sqlite3_column_int64(st, 7);
	d->state = sqlite3_column_int(st, 8) ? DATASET_SHREDDED : DATASET_ACTIVE;
	d->shredded = sqlite3_column_int64(st, 9);
}

#define SELECT_COLS "SELECT name, id, level, owner, suite, pool, repo, created, state, " \
		    "shredded FROM datasets"

int catalog_get(struct catalog *c, const char *name, struct dataset *out)
{
	sqlite3_stmt *st = NULL;
	int e = 0;
	if (sqlite3_prepare_v2(c->db, SELECT_COLS " WHERE name = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return db_fail(c, "cannot prepare lookup");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row_to_dataset(st, out);
	else if (rc == SQLITE_DONE)
		e = -ENOENT;
	else
		e = db_fail(c, "cannot look up dataset");
	sqlite3_finalize(st);
	return e;
}

int catalog_list(struct catalog *c, int (*fn)(const struct dataset *d, void *arg),
		 void *arg)
{
	sqlite3_stmt *st = NULL;
	struct dataset *d = malloc(sizeof *d);
	int e = 0, rc;
	if (d == NULL)
		return -ENOMEM;
	if (sqlite3_prepare_v2(c->db, SELECT_COLS " ORDER BY name", -1, &st, NULL) !=
	    SQLITE_OK) {
		free(d);
		return db_fail(c, "cannot prepare listing");
	}
	while (e == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_to_dataset(st, d);
		e = fn(d, arg);
	}
	if (e == 0 && rc != SQLITE_DONE)
		e = db_fail(c, "cannot list datasets");
	sqlite3_finalize(st);
	free(d);
	return e;
}

int catalog_mark_shredded(struct catalog *c, const char *name, int64_t when)
{
	sqlite3_stmt *st = NULL;
	int e = 0;
	if (sqlite3_prepare_v2(c->db,
			       "UPDATE datasets SET state = 1, shredded = ? WHERE name = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(c, "cannot prepare update");
	sqlite3_bind_int64(st, 1, when);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		e = db_fail(c, "cannot mark dataset shredded");
	else if (sqlite3_changes(c->db) == 0)
		e = -ENOENT;
	sqlite3_finalize(st);
	return e;
}

/* Policies. */

#define STR_(x) #x
#define STR(x) STR_(x)

void policy_init(struct policy *p)
{
	memset(p, 0, sizeof *p);
}

void policy_fini(struct policy *p)
{
	for (size_t i = 0; i < p->n_sources; i++)
		free(p->sources[i]);
	free(p->sources);
	policy_init(p);
}

/* A source as policy_add_source accepts it: n bytes, absolute, no NUL. */
static int source_valid(const char *path, size_t n)
{
	return n >= 1 && n <= POLICY_SOURCE_MAX && path[0] == '/' &&
	       memchr(path, 0, n) == NULL;
}

/* Appends path (taken over: freed on failure too) to p's sources. */
static int policy_push(struct policy *p, char *path)
{
	if (p->n_sources >= POLICY_SOURCES_MAX) {
		free(path);
		return -E2BIG;
	}
	char **v = realloc(p->sources, (p->n_sources + 1) * sizeof *v);
	if (v == NULL) {
		free(path);
		return -ENOMEM;
	}
	v[p->n_sources++] = path;
	p->sources = v;
	return 0;
}

int policy_add_source(struct policy *p, const char *path)
{
	if (path == NULL || !source_valid(path, strnlen(path, POLICY_SOURCE_MAX + 1)))
		return -EINVAL;
	if (p->n_sources >= POLICY_SOURCES_MAX)
		return -E2BIG;
	char *copy = strdup(path);
	if (copy == NULL)
		return -ENOMEM;
	return policy_push(p, copy);
}

/*
 * A transaction for one policy call: its own when the handle is in none
 * (begin is "BEGIN" to read a snapshot, "BEGIN IMMEDIATE" to write), else
 * a savepoint inside the caller's (catalog_begin), so that a failure
 * undoes only this call's changes. *own says which, for tx_end.
 */
static int tx_begin(struct catalog *c, const char *begin, int *own)
{
	*own = sqlite3_get_autocommit(c->db) != 0;
	return exec(c, *own ? begin : "SAVEPOINT catalog_policy");
}

/* Ends tx_begin's transaction: kept when e is 0, else undone. Returns e or
 * the commit's failure. */
static int tx_end(struct catalog *c, int own, int e)
{
	if (own) {
		if (e == 0)
			e = exec(c, "COMMIT");
		if (e != 0 && !sqlite3_get_autocommit(c->db))
			(void)exec(c, "ROLLBACK");
		return e;
	}
	if (e == 0)
		return exec(c, "RELEASE catalog_policy");
	(void)exec(c, "ROLLBACK TO catalog_policy; RELEASE catalog_policy");
	return e;
}

static int bad_policy(const struct catalog *c, const char *dataset, const char *what)
{
	log_errorx("catalog %s: the policy of %s breaks the schema: %s", c->path, dataset,
		   what);
	return -EBADMSG;
}

/* Columns of a policies row, in the order policy_row decodes them. */
#define POLICY_COLS "p.calendar, p.keep_last, p.keep_daily, p.keep_weekly, " \
		    "p.keep_monthly, p.keep_yearly, p.verify_days, p.updated"

/* Decodes the POLICY_COLS starting at column col into p (sources aside). */
static int policy_row(const struct catalog *c, sqlite3_stmt *st, int col,
		      const char *dataset, struct policy *p)
{
	uint32_t *u[] = { &p->keep_last, &p->keep_daily, &p->keep_weekly,
			  &p->keep_monthly, &p->keep_yearly, &p->verify_days };
	const unsigned char *cal = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);
	if (cal == NULL || n < 0 || n > POLICY_CALENDAR_MAX ||
	    memchr(cal, 0, (size_t)n) != NULL)
		return bad_policy(c, dataset, "calendar");
	memcpy(p->calendar, cal, (size_t)n);
	p->calendar[n] = 0;
	for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
		int k = col + 1 + (int)i;
		sqlite3_int64 v = sqlite3_column_int64(st, k);
		if (sqlite3_column_type(st, k) != SQLITE_INTEGER || v < 0 || v > UINT32_MAX)
			return bad_policy(c, dataset, sqlite3_column_name(st, k));
		*u[i] = (uint32_t)v;
	}
	if (sqlite3_column_type(st, col + 7) != SQLITE_INTEGER)
		return bad_policy(c, dataset, "updated");
	p->updated = sqlite3_column_int64(st, col + 7);
	return 0;
}

#define SOURCES_SQL "SELECT idx, path FROM policy_sources WHERE dataset = ? ORDER BY idx"

/* Appends the dataset's stored sources to p through st (SOURCES_SQL, reset here). */
static int policy_sources(struct catalog *c, sqlite3_stmt *st, const char *dataset,
			  struct policy *p)
{
	int e = 0, rc = SQLITE_DONE;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC);
	while (e == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(st, 1);
		int n = sqlite3_column_bytes(st, 1);
		if (sqlite3_column_int64(st, 0) != (sqlite3_int64)p->n_sources ||
		    p->n_sources >= POLICY_SOURCES_MAX) {
			e = bad_policy(c, dataset, "source numbering");
			break;
		}
		if (b == NULL || n < 1 || !source_valid(b, (size_t)n)) {
			e = bad_policy(c, dataset, "source path");
			break;
		}
		char *path = malloc((size_t)n + 1);
		if (path == NULL) {
			e = -ENOMEM;
			break;
		}
		memcpy(path, b, (size_t)n);
		path[n] = 0;
		e = policy_push(p, path);
	}
	if (e == 0 && rc != SQLITE_DONE)
		e = db_fail(c, "cannot read policy sources");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return e;
}

int catalog_policy_get(struct catalog *c, const char *dataset, struct policy *out)
{
	sqlite3_stmt *st = NULL, *src = NULL;
	struct policy p;
	int e, own, rc;
	policy_init(&p);
	if ((e = tx_begin(c, "BEGIN", &own)) != 0)
		return e;
	if (sqlite3_prepare_v2(c->db,
			       "SELECT p.dataset IS NOT NULL, " POLICY_COLS " FROM datasets d "
			       "LEFT JOIN policies p ON p.dataset = d.name WHERE d.name = ?",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, SOURCES_SQL, -1, &src, NULL) != SQLITE_OK) {
		e = db_fail(c, "cannot prepare policy lookup");
		goto out;
	}
	sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		e = -ENOENT;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		e = db_fail(c, "cannot look up policy");
		goto out;
	}
	if (sqlite3_column_int(st, 0) && (e = policy_row(c, st, 1, dataset, &p)) != 0)
		goto out;
	if ((e = policy_sources(c, src, dataset, &p)) != 0)
		goto out;
	if (!sqlite3_column_int(st, 0) && p.n_sources > 0)
		e = bad_policy(c, dataset, "sources without a policy");
out:
	sqlite3_finalize(st);
	sqlite3_finalize(src);
	e = tx_end(c, own, e);
	if (e == 0)
		*out = p;
	else
		policy_fini(&p);
	return e;
}

/* Checks p for catalog_policy_set, logging the first problem. */
static int policy_check(const struct catalog *c, const char *dataset, const struct policy *p)
{
	if (memchr(p->calendar, 0, sizeof p->calendar) == NULL) {
		log_errorx("catalog %s: policy of %s: the calendar is longer than %d bytes",
			   c->path, dataset, POLICY_CALENDAR_MAX);
		return -EINVAL;
	}
	if (p->n_sources > POLICY_SOURCES_MAX) {
		log_errorx("catalog %s: policy of %s: %zu sources, more than %d", c->path,
			   dataset, p->n_sources, POLICY_SOURCES_MAX);
		return -E2BIG;
	}
	if (p->n_sources > 0 && p->sources == NULL) {
		log_errorx("catalog %s: policy of %s: %zu sources but no source array",
			   c->path, dataset, p->n_sources);
		return -EINVAL;
	}
	for (size_t i = 0; i < p->n_sources; i++) {
		const char *s = p->sources[i];
		const char *why = NULL;
		if (s == NULL)
			why = "is missing";
		else if (strnlen(s, POLICY_SOURCE_MAX + 1) > POLICY_SOURCE_MAX)
			why = "is longer than " STR(POLICY_SOURCE_MAX) " bytes";
		else if (s[0] != '/')
			why = "is not an absolute path";
		if (why != NULL) {
			log_errorx("catalog %s: policy of %s: source %zu %s", c->path, dataset,
				   i + 1, why);
			return -EINVAL;
		}
	}
	return 0;
}

/* Binds and runs one write statement that is reset for reuse; 0 or -EIO. */
static int step_done(struct catalog *c, sqlite3_stmt *st, const char *what)
{
	int e = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(c, what);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return e;
}

int catalog_policy_set(struct catalog *c, const char *dataset, const struct policy *p)
{
	sqlite3_stmt *st = NULL, *ins = NULL;
	int e, own, rc;
	if ((e = policy_check(c, dataset, p)) != 0)
		return e;
	if ((e = tx_begin(c, "BEGIN IMMEDIATE", &own)) != 0)
		return e;
	/* The dataset, read inside the transaction: a shred cannot slip in. */
	if (sqlite3_prepare_v2(c->db, "SELECT state FROM datasets WHERE name = ?", -1, &st,
			       NULL) != SQLITE_OK) {
		e = db_fail(c, "cannot prepare policy update");
		goto out;
	}
	sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		e = -ENOENT;
	else if (rc != SQLITE_ROW)
		e = db_fail(c, "cannot look up dataset");
	else if (sqlite3_column_int(st, 0) != DATASET_ACTIVE)
		e = -EPERM;
	sqlite3_finalize(st);
	st = NULL;
	if (e != 0)
		goto out;

	if (sqlite3_prepare_v2(c->db, "DELETE FROM policy_sources WHERE dataset = ?", -1,
			       &st, NULL) != SQLITE_OK) {
		e = db_fail(c, "cannot prepare policy update");
		goto out;
	}
	sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC);
	e = step_done(c, st, "cannot remove policy sources");
	sqlite3_finalize(st);
	st = NULL;
	if (e != 0)
		goto out;

	if (sqlite3_prepare_v2(c->db,
			       "INSERT OR REPLACE INTO policies (dataset, calendar, keep_last, "
			       "keep_daily, keep_weekly, keep_monthly, keep_yearly, "
			       "verify_days, updated) VALUES (?,?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db,
			       "INSERT INTO policy_sources (dataset, idx, path) VALUES (?,?,?)",
			       -1, &ins, NULL) != SQLITE_OK) {
		e = db_fail(c, "cannot prepare policy update");
		goto out;
	}
	sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, p->calendar, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, p->keep_last);
	sqlite3_bind_int64(st, 4, p->keep_daily);
	sqlite3_bind_int64(st, 5, p->keep_weekly);
	sqlite3_bind_int64(st, 6, p->keep_monthly);
	sqlite3_bind_int64(st, 7, p->keep_yearly);
	sqlite3_bind_int64(st, 8, p->verify_days);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)time(NULL));
	e = step_done(c, st, "cannot store policy");
	for (size_t i = 0; e == 0 && i < p->n_sources; i++) {
		sqlite3_bind_text(ins, 1, dataset, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 2, (sqlite3_int64)i);
		sqlite3_bind_blob(ins, 3, p->sources[i], (int)strlen(p->sources[i]),
				  SQLITE_STATIC);
		e = step_done(c, ins, "cannot store policy source");
	}
out:
	sqlite3_finalize(st);
	sqlite3_finalize(ins);
	return tx_end(c, own, e);
}

int catalog_policy_list(struct catalog *c,
			int (*fn)(const struct dataset *d, const struct policy *p, void *arg),
			void *arg)
{
	sqlite3_stmt *st = NULL, *src = NULL;
	struct dataset *d = malloc(sizeof *d);
	struct policy p;
	int e, own, rc = SQLITE_DONE;
	if (d == NULL)
		return -ENOMEM;
	policy_init(&p);
	if ((e = tx_begin(c, "BEGIN", &own)) != 0) {
		free(d);
		return e;
	}
	if (sqlite3_prepare_v2(c->db,
			       "SELECT d.name, d.id, d.level, d.owner, d.suite, d.pool, d.repo, "
			       "d.created, d.state, d.shredded, " POLICY_COLS " FROM datasets d "
			       "JOIN policies p ON p.dataset = d.name WHERE d.state = 0 "
			       "ORDER BY d.name",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, SOURCES_SQL, -1, &src, NULL) != SQLITE_OK) {
		e = db_fail(c, "cannot prepare policy listing");
		goto out;
	}
	while (e == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_to_dataset(st, d);
		if ((e = policy_row(c, st, 10, d->name, &p)) == 0 &&
		    (e = policy_sources(c, src, d->name, &p)) == 0)
			e = fn(d, &p, arg);
		policy_fini(&p);
	}
	if (e == 0 && rc != SQLITE_DONE)
		e = db_fail(c, "cannot list policies");
out:
	sqlite3_finalize(st);
	sqlite3_finalize(src);
	free(d);
	/* fn's nonzero is a stop, not a failure: the read ends either way. */
	rc = tx_end(c, own, 0);
	return e != 0 ? e : rc;
}
