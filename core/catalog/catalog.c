/*
 * The dataset catalog on SQLite (catalog.h). Every statement is prepared
 * with bound parameters; nothing from an operator is pasted into SQL.
 */
#include "catalog/catalog.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/hex.h"
#include "util/log.h"

#define CATALOG_SCHEMA 1
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

/* Brings the schema to CATALOG_SCHEMA, refusing a newer one. */
static int catalog_schema(struct catalog *c)
{
	sqlite3_stmt *st = NULL;
	int e, version;
	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return db_fail(c, "cannot read the schema version");
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > CATALOG_SCHEMA) {
		log_errorx("catalog %s has schema version %d; this program knows %d",
			   c->path, version, CATALOG_SCHEMA);
		return -ENOTSUP;
	}
	if (version == CATALOG_SCHEMA)
		return 0;
	e = exec(c, "BEGIN IMMEDIATE");
	if (e != 0)
		return e;
	/* Another process may have created it while we waited for the lock. */
	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		e = db_fail(c, "cannot read the schema version");
		goto out;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version == 0)
		e = exec(c, schema_v1);
out:
	if (e == 0)
		return exec(c, "COMMIT");
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
