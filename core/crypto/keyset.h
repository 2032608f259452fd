/*
 * The secrets of one repository: in appliance mode a dataset's key set,
 * held wrapped in the keystore and never in the repository; in standalone
 * mode derived from the master secret of the repository's key file.
 *
 * master derives the ID, gear, meta and config subkeys (suite_kdf); they
 * never change, or deduplication and existing metadata would break.
 * content[g] is the data key of generation g: packs record the generation
 * their blobs are sealed under, new blobs use the newest one, so rotating
 * the content key leaves old data readable. A keyset lives in secmem.
 */
#ifndef COFFER_CRYPTO_KEYSET_H
#define COFFER_CRYPTO_KEYSET_H

#include <stdint.h>

#include "crypto/crypto.h"

#define KEYSET_MAX_GENS 256

struct keyset {
	uint32_t suite;   /* enum suite_id */
	uint32_t n_gens;  /* 1..KEYSET_MAX_GENS; new blobs use n_gens - 1 */
	uint8_t master[CRYPTO_KEY_LEN];
	uint8_t content[KEYSET_MAX_GENS][CRYPTO_KEY_LEN];
};

/* A keyset in secmem (zeroed), or NULL. Free with keyset_free. */
struct keyset *keyset_new(void);
void keyset_free(struct keyset *k); /* wipes; accepts NULL */

/* Fresh random master and generation-0 content key for suite. */
int keyset_generate(struct keyset *k, uint32_t suite);
/*
 * The keyset of a standalone repository: generation 0's content key is
 * derived from master ("coffer/v1 data"), so a key file need hold master
 * only.
 */
int keyset_from_master(struct keyset *k, uint32_t suite,
		       const uint8_t master[CRYPTO_KEY_LEN]);
/* Adds a random content key as the newest generation; -ENOSPC when full. */
int keyset_rotate(struct keyset *k);

#endif
