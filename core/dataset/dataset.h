/*
 * Datasets as the appliance knows them: a catalog row, a key set in the
 * keystore and a repository in the level's pool, made and opened
 * together (docs/keys.md). One implementation for the console in direct
 * mode and for coffer-backupd, so both enforce the same level policy and
 * undo the same way.
 *
 * Every function explains a failure on the log before returning its
 * negative errno.
 */
#ifndef COFFER_DATASET_DATASET_H
#define COFFER_DATASET_DATASET_H

#include <stdint.h>

#include "catalog/catalog.h"

struct keystore;
struct repo;

struct dataset_create_req {
	const char *name;
	unsigned level;
	const char *owner;
	uint32_t suite;      /* 0: the level's required suite, else international */
};

/*
 * Creates a dataset: checks the name, the owner and the level's policy
 * (-EINVAL bad name or owner, -ENOENT no such level, -EPERM the level
 * forbids the suite, naming the rule, -ENOTSUP a suite this build lacks),
 * then in one catalog transaction adds the row, generates the key set,
 * creates the repository at POOL/ID and stores the keys (ks unlocked).
 * Any failure undoes what was made: no row without keys, no keys without a
 * repository (-EEXIST: the name is taken). *out receives the row.
 */
int dataset_create(const char *state_dir, const char *config_dir, struct keystore *ks,
		   const struct dataset_create_req *req, struct dataset *out);

/*
 * Opens dataset name's repository with its key set from ks (unlocked).
 * -ENOENT no such dataset, -EKEYREVOKED shredded (its keys are gone),
 * -EACCES the keys do not open the repository. d (may be NULL) receives
 * the catalog row.
 */
int dataset_open(const char *state_dir, struct keystore *ks, const char *name,
		 struct dataset *d, struct repo **out);

/* A valid owner: 1-64 printable characters. */
int dataset_owner_valid(const char *owner);

#endif
