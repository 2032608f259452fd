/*
 * The dataset catalog: STATE_DIR/catalog.db (SQLite, WAL). One row per
 * dataset: its unique name, random ID (32 hex digits, the name of its key
 * set in the keystore and of its repository directory), classification
 * level, owning department, suite, pool and repository path, creation
 * time, and whether it was crypto-shredded (and when). Beside it, each
 * dataset's policy (docs/daemons.md "Policies"): backup calendar, default
 * sources, GFS retention and verification interval. The catalog holds no
 * secret: a dataset's keys are in the keystore only.
 *
 * The schema's version is SQLite's user_version (docs/format/catalog.md);
 * an older one is upgraded when the catalog is opened, a newer one is
 * refused (-ENOTSUP) rather than guessed at. Writers wait up to a few
 * seconds for one another (busy timeout). Errors: -ENOENT no such dataset,
 * -EEXIST the name is taken, -EPERM the dataset is shredded, -EBADMSG a
 * stored row breaks the schema, -EIO SQLite failed (the message is logged).
 */
#ifndef COFFER_CATALOG_CATALOG_H
#define COFFER_CATALOG_CATALOG_H

#include <stddef.h>
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

/*
 * Policies. A policy is the whole of a dataset's settings; it is read and
 * replaced as one (a partial change is get, modify, set). Sources are
 * bytes, not text: a Linux path may hold any byte but NUL, newlines and
 * invalid UTF-8 included, and is stored as such.
 */
#define POLICY_CALENDAR_MAX 128  /* bytes, without the NUL */
#define POLICY_SOURCES_MAX 256
#define POLICY_SOURCE_MAX 4096   /* bytes of one source path, without the NUL */

struct policy {
	/* Backup calendar text, "" = no scheduled backup; the catalog stores
	 * it, the scheduler parses it (sched/calendar.h). */
	char calendar[POLICY_CALENDAR_MAX + 1];
	char **sources;         /* absolute paths, in order; owned (policy_fini frees) */
	size_t n_sources;
	/* GFS retention; all 0 = keep everything. */
	uint32_t keep_last, keep_daily, keep_weekly, keep_monthly, keep_yearly;
	uint32_t verify_days;   /* re-read every pack once every N days; 0 = none */
	int64_t updated;        /* Unix seconds of the last change; 0 = never set */
};

/* The empty policy: no calendar, no sources, keep everything, no verification. */
void policy_init(struct policy *p);
/* Frees the sources and leaves p empty (policy_init); accepts a zeroed policy. */
void policy_fini(struct policy *p);
/*
 * Appends a copy of path to p's sources. -EINVAL: path is not absolute
 * (does not start with '/') or is longer than POLICY_SOURCE_MAX bytes;
 * -E2BIG: p already has POLICY_SOURCES_MAX sources; -ENOMEM. Any other
 * byte (newline, invalid UTF-8) is accepted. p is unchanged on failure.
 */
int policy_add_source(struct policy *p, const char *path);

/*
 * The dataset's policy into *out, which is overwritten, not freed: pass an
 * uninitialised or policy_fini'd policy and policy_fini it afterwards. A
 * dataset with none stored (a shredded one included) gets the empty
 * policy (policy_init) and 0. -ENOENT: no such dataset; -EBADMSG: the
 * stored policy breaks the schema. *out is set only on success.
 */
int catalog_policy_get(struct catalog *c, const char *dataset, struct policy *out);
/*
 * Replaces the dataset's whole policy (calendar, sources, retention,
 * verification) in one transaction and sets its updated time to now;
 * p->updated is ignored. Inside catalog_begin..commit it joins that
 * transaction, and a failure undoes only its own changes. Errors (nothing
 * is changed): -ENOENT no such dataset; -EPERM the dataset is shredded;
 * -EINVAL a calendar over POLICY_CALENDAR_MAX (not NUL-terminated within
 * its array), a source that is NULL, not absolute or too long, or
 * n_sources > 0 with no sources array; -E2BIG more than POLICY_SOURCES_MAX
 * sources. The -EINVAL and -E2BIG cases log a message naming the problem.
 */
int catalog_policy_set(struct catalog *c, const char *dataset, const struct policy *p);
/*
 * Calls fn for every ACTIVE dataset that has a stored policy, by name,
 * from one consistent snapshot; stops at and returns fn's nonzero. d and
 * p are valid only during the call. fn may read through c but must not
 * write through it (the listing holds a read transaction).
 */
int catalog_policy_list(struct catalog *c,
			int (*fn)(const struct dataset *d, const struct policy *p, void *arg),
			void *arg);

#endif
