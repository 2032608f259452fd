/*
 * The dataset catalog: STATE_DIR/catalog.db (SQLite, WAL). One row per
 * dataset: its unique name, random ID (32 hex digits, the name of its key
 * set in the keystore and of its repository directory), classification
 * level, owning department, suite, pool and repository path, creation
 * time, and whether it was crypto-shredded (and when). The catalog holds
 * no secret: a dataset's keys are in the keystore only.
 *
 * The schema's version is SQLite's user_version; a newer one is refused
 * (-ENOTSUP) rather than guessed at. Writers wait up to a few seconds for
 * one another (busy timeout). Errors: -ENOENT no such dataset, -EEXIST the
 * name is taken, -EIO SQLite failed (the message is logged).
 */
#ifndef COFFER_CATALOG_CATALOG_H
#define COFFER_CATALOG_CATALOG_H

#include <stdint.h>

#define DATASET_NAME_MAX 64
#define DATASET_OWNER_MAX 64
#ifndef DATASET_ID_LEN /* as keys/keystore.h */
#define DATASET_ID_LEN 32 /* hex digits */
#endif
#define DATASET_PATH_MAX 4096

enum dataset_state { DATASET_ACTIVE = 0, DATASET_SHREDDED = 1 };

struct dataset {
	char name[DATASET_NAME_MAX + 1];
	char id[DATASET_ID_LEN + 1];
	unsigned level;
	char owner[DATASET_OWNER_MAX + 1];
	uint32_t suite;
	char pool[DATASET_PATH_MAX];
	char repo[DATASET_PATH_MAX];    /* pool/id */
	int64_t created;                /* Unix seconds */
	enum dataset_state state;
	int64_t shredded;               /* Unix seconds; 0 while active */
};

struct catalog;

/* Opens (creating if needed) state_dir/catalog.db; state_dir must exist. */
int catalog_open(const char *state_dir, struct catalog **out);
void catalog_close(struct catalog *c); /* accepts NULL */

/* A dataset name: 1..64 of a-z A-Z 0-9 . _ -, not starting with '.' or '-'. */
int dataset_name_valid(const char *name);
/* Fresh random dataset ID (32 lower-case hex digits and a NUL). */
int catalog_new_id(char id[DATASET_ID_LEN + 1]);

/*
 * A transaction around several calls (dataset creation adds the row
 * first and commits only once the keys and repository exist).
 */
int catalog_begin(struct catalog *c);
int catalog_commit(struct catalog *c);
void catalog_rollback(struct catalog *c);

int catalog_add(struct catalog *c, const struct dataset *d); /* -EEXIST */
int catalog_get(struct catalog *c, const char *name, struct dataset *out);
/* Calls fn for each dataset by name; stops at and returns fn's nonzero. */
int catalog_list(struct catalog *c, int (*fn)(const struct dataset *d, void *arg),
		 void *arg);
/* Marks the dataset shredded at time when (-ENOENT if absent). */
int catalog_mark_shredded(struct catalog *c, const char *name, int64_t when);

#endif
