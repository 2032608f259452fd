/*
 * The appliance's identity, and key sets exported to other sites
 * (docs/format/keystore.md, "Site identity and key-set exports").
 *
 * Every keystore holds two key pairs of its own suite, sealed by the root
 * key in keystore/site: a signing key (Ed25519 or SM2) that vouches for
 * what this site sends, and a wrapping key (X25519 or SM2) that other
 * sites wrap key sets for. They are made on first use (which needs an
 * unlocked keystore) and re-sealed by keystore_rotate.
 *
 * An export carries one dataset's key set wrapped for another site's
 * wrapping key and signed by this site's signing key. The receiver
 * imports it only against the sender's pinned signing key and stores the
 * key set under its own root key, so a surviving site can restore alone.
 * Exports are recorded, so crypto-shredding finds the copies still here
 * and counts the ones that left.
 *
 * Errors as keystore.h, each explained on stderr, and:
 *   -EINVAL  a key of the wrong use, or of another suite than the key set
 *   -EACCES  an export not signed by the given sender, or made for
 *            another site
 */
#ifndef COFFER_KEYS_SITE_H
#define COFFER_KEYS_SITE_H

#include "crypto/pkey.h"
#include "keys/keystore.h"

/*
 * This site's key pairs (each out may be NULL; free with pkey_free),
 * created and recorded on first use. -EPERM while locked.
 */
int keystore_site_keys(struct keystore *ks, struct pkey **sign, struct pkey **wrap);

/*
 * Writes dataset_id's key set to path (which must not exist) wrapped for
 * recipient (another site's wrapping public key, of the key set's suite)
 * and signed by this site, and records the export.
 */
int keystore_keyset_export(struct keystore *ks, const char *dataset_id,
			   const struct pkey *recipient, const char *path);

/*
 * Imports the export file at path, made for this site and signed by
 * sender (its signing public key, pinned by the caller), as the key set
 * of its dataset; the ID is written to dataset_id. -EEXIST if this
 * keystore has a key set for it; -EKEYREVOKED if it was shredded here.
 */
int keystore_keyset_import(struct keystore *ks, const char *path, const struct pkey *sender,
			   char dataset_id[DATASET_ID_LEN + 1]);

#endif
