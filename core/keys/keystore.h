/*
 * The appliance keystore, under STATE_DIR/keystore (docs/format/keystore.md):
 *
 *   root         the root key, sealed by a passphrase (scrypt)
 *   keysets/ID   each dataset's key set, wrapped by the root key
 *   split        the current Shamir split (its ID), when there is one
 *   records      append-only log of splits, rotations and shreds
 *
 * The root key can also be split M-of-N among officers (Shamir over
 * GF(2^8)); any M share files unlock it, fewer reveal nothing about it.
 * A dataset's key set exists only here, never in its repository: a copy of a repository alone is
 * useless. Secrets live in secmem, are wiped after use and never appear in
 * a log line or error message.
 *
 * Errors (negative errno), each also explained on stderr:
 *   -ENOENT   no keystore / no such key set
 *   -EEXIST   keystore or key set already exists
 *   -EACCES   wrong passphrase, or shares that do not make the root key
 *   -EBADMSG  a keystore or share file is damaged (the file is named)
 *   -ENOTSUP  a newer format version or an unknown suite
 *   -EPERM    the keystore is locked (unlock first)
 *   -EKEYREVOKED  the key set was crypto-shredded
 *   -ERANGE   too few shares (given and needed are named)
 */
#ifndef COFFER_KEYS_KEYSTORE_H
#define COFFER_KEYS_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/keyset.h"

/* Dataset IDs are 32 lower-case hex digits (as catalog/catalog.h). */
#ifndef DATASET_ID_LEN
#define DATASET_ID_LEN 32
#endif

struct keystore_init_opts {
	uint32_t suite;            /* seals the root key */
	uint64_t scrypt_n;         /* default 2^15 */
	uint32_t scrypt_r, scrypt_p; /* default 8, 1 */
};
void keystore_init_opts_default(struct keystore_init_opts *o);

/*
 * Creates STATE_DIR/keystore with a fresh random root key sealed by pass.
 * STATE_DIR is created if absent.
 */
int keystore_init(const char *state_dir, const char *pass, size_t pass_len,
		  const struct keystore_init_opts *o);

struct keystore;
/* Opens a keystore, locked: reads and checks the root file's header. */
int keystore_open(const char *state_dir, struct keystore **out);
void keystore_close(struct keystore *ks); /* wipes the root key; accepts NULL */
uint32_t keystore_suite(const struct keystore *ks);
/* 32-byte random ID of the keystore (hex in share files and messages). */
const uint8_t *keystore_id(const struct keystore *ks);

int keystore_unlock_passphrase(struct keystore *ks, const char *pass, size_t pass_len);
/*
 * Unlocks with share files. Each damaged file, or one from another
 * keystore, split or root-key generation, is named; duplicates count once.
 */
int keystore_unlock_shares(struct keystore *ks, const char *const *files, size_t n);
/* The same with the share files' bytes in memory; names[i] names share i in messages. */
int keystore_unlock_share_data(struct keystore *ks, const uint8_t *const *data,
			       const size_t *lens, const char *const *names, size_t n);
/*
 * Unlocks with the root key itself (from the session cache, session.h).
 * -EACCES if it is not this keystore's current root key.
 */
int keystore_unlock_root(struct keystore *ks, const uint8_t root[CRYPTO_KEY_LEN]);
/* The unlocked root key (for the session cache), or NULL when locked. */
const uint8_t *keystore_root(const struct keystore *ks);

/*
 * Splits the unlocked root key into n shares, any m of which unlock it
 * (2 <= m <= n <= 255), written durably as DIR/share-I-of-N (mode 0600).
 * A new split makes earlier share files useless.
 */
int keystore_split(struct keystore *ks, unsigned n, unsigned m, const char *dir);

/*
 * Replaces the root key with a fresh one: re-wraps every key set,
 * re-seals under new_pass, and overwrites the old wrapped files
 * in place before replacing them. Repository data is not touched. Shares
 * of the old root key stop working (split again).
 */
int keystore_rotate(struct keystore *ks, const char *new_pass, size_t new_pass_len);

/* Key sets of datasets, named by the dataset's ID (32 hex digits). */
int keystore_keyset_put(struct keystore *ks, const char *dataset_id,
			const struct keyset *k);          /* -EEXIST */
int keystore_keyset_replace(struct keystore *ks, const char *dataset_id,
			    const struct keyset *k);      /* after keyset_rotate */
int keystore_keyset_get(struct keystore *ks, const char *dataset_id,
			struct keyset *out);

/*
 * Crypto-shredding (the destruction workflow's primitive; not reachable
 * from the console without approvals): every wrapped copy of the
 * dataset's key set this appliance holds (the keystore file, and exports
 * recorded in the records file that are still at their recorded path with
 * their recorded hash) is overwritten in place, fsync'd and removed, and a
 * record says so. Afterwards keystore_keyset_get returns
 * -EKEYREVOKED. Needs no unlock: destruction must not depend on a secret.
 * *n_remote (may be NULL) receives the number of exports that left this
 * appliance, which only their recipients can destroy.
 */
int keystore_shred(struct keystore *ks, const char *dataset_id, const char *reason,
		   unsigned *n_remote);
/* True if a record says this dataset's key set was shredded (time in *when). */
int keystore_is_shredded(struct keystore *ks, const char *dataset_id, int64_t *when);

#endif
