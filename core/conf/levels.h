/*
 * Classification levels, read from CONFIG_DIR/levels.conf (docs/keys.md).
 * A level names the rules every dataset at that level obeys: which
 * cryptographic suite it may use, whether it must be replicated, how long
 * snapshots are kept, how often restores are drilled, and the storage pool
 * its repositories live in. Pools of different levels never share or nest
 * directories, so data of two levels cannot meet on one path.
 *
 * The file is line based:
 *
 *   # comment
 *   [level 3]
 *   name = important
 *   suite = national          (national | international | any)
 *   replication = required    (required | optional)
 *   retention = 365d          (N followed by s, m, h, d or w)
 *   drill = 90d
 *   pool = pools/important    (relative: under the state directory)
 *   concurrency = 1           (jobs of this pool running at once, 1-64)
 *   erase_approvals = 2       (approvers a destruction needs besides the supervisor, 1-16)
 *   erase_expiry = 7d         (a destruction request not executed by then expires, <= 90d)
 *   dataset_retention = 3650d (a dataset is kept this long after its creation; then the
 *                              scheduler files its destruction request; unset: for ever)
 *
 * A malformed file is refused whole, with a message naming the file, the
 * line and the rule broken; nothing is ever half applied.
 */
#ifndef COFFER_CONF_LEVELS_H
#define COFFER_CONF_LEVELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEVEL_MAX 255        /* level numbers are 1..LEVEL_MAX */
#define LEVEL_NAME_MAX 32

#define LEVEL_ERASE_APPROVALS_DEFAULT 2
#define LEVEL_ERASE_APPROVALS_MAX 16
#define LEVEL_ERASE_EXPIRY_DEFAULT_S (7u * 86400)
#define LEVEL_ERASE_EXPIRY_MAX_S (90u * 86400)

/* Suite rules: 0 allows any suite, else the one suite_id allowed. */
#define LEVEL_SUITE_ANY 0

struct level {
	unsigned number;
	char name[LEVEL_NAME_MAX + 1];
	uint32_t suite;            /* LEVEL_SUITE_ANY or an enum suite_id */
	bool replication_required;
	uint64_t retention_s;      /* 0: not set (keep everything) */
	uint64_t drill_s;          /* 0: no drill schedule */
	char *pool;                /* absolute, normalised */
	unsigned concurrency;      /* jobs of this pool that may run at once (default 1) */
	unsigned erase_approvals;  /* destruction quorum: approvers besides the supervisor */
	uint64_t erase_expiry_s;   /* a destruction request's lifetime */
	uint64_t dataset_retention_s; /* 0: kept for ever; else destroyed (approved) after */
	unsigned line;             /* of the [level N] header */
};

struct levels {
	struct level *v;           /* sorted by number */
	size_t n;
};

/*
 * Parses text (len bytes, need not be NUL-terminated). file names it in
 * messages; relative pools are made absolute under state_dir (which must
 * be absolute). -EINVAL after logging "FILE:LINE: why" for the first
 * rule broken; -ENOMEM.
 */
int levels_parse(const char *text, size_t len, const char *file, const char *state_dir,
		 struct levels **out);
/*
 * Reads config_dir/levels.conf; if the file does not exist the built-in
 * default (the same levels as etc/levels.conf) is used. -errno when the
 * file exists but cannot be read.
 */
int levels_load(const char *config_dir, const char *state_dir, struct levels **out);
void levels_free(struct levels *l); /* accepts NULL */

/* The level numbered n, or NULL. */
const struct level *levels_find(const struct levels *l, unsigned n);

/*
 * Whether a dataset of suite may be created at level lv. On refusal
 * returns -EPERM and writes a sentence naming the level and the rule into
 * why (size bytes).
 */
int level_allows_suite(const struct level *lv, uint32_t suite, char *why, size_t size);

/* "national", "international" or "any" for a level's suite rule. */
const char *level_suite_rule_name(uint32_t suite);

/* The built-in default levels.conf text. */
extern const char levels_default_conf[];

#endif
