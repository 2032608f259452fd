/*
 * Blobs: the unit of deduplication. A blob is a chunk of file data or an
 * encoded tree. Its ID is MAC_idkey(plaintext), so IDs reveal nothing to
 * someone without the key. Stored form: optional zstd compression, then
 * AEAD under the data key with associated data binding ID, type,
 * compression and plaintext length (docs/format/pack.md).
 */
#ifndef COFFER_REPO_BLOB_H
#define COFFER_REPO_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "util/buf.h"

#define BLOB_ID_LEN 32
#define BLOB_MAX_SIZE (128u << 20) /* largest plaintext blob (trees included) */

enum blob_type {
	BLOB_DATA = 0,  /* a chunk of file content */
	BLOB_TREE = 1,  /* an encoded directory (tree.h) */
	BLOB_DELTA = 2, /* librsync delta against a BLOB_DATA blob (delta.h) */
};

enum blob_comp {
	BLOB_COMP_NONE = 0,
	BLOB_COMP_ZSTD = 1,
};

/* Where and how one blob is stored: a pack header / index entry. */
struct blob_entry {
	uint8_t id[BLOB_ID_LEN];
	uint8_t type;        /* enum blob_type */
	uint8_t comp;        /* enum blob_comp */
	uint32_t offset;     /* byte offset of the sealed blob in its pack */
	uint32_t stored_len; /* sealed length (AEAD_OVERHEAD included) */
	uint32_t raw_len;    /* plaintext length */
};

/* id = MAC_idkey(data). */
int blob_id(const struct suite *s, const uint8_t id_key[CRYPTO_KEY_LEN],
	    const void *data, size_t len, uint8_t id[BLOB_ID_LEN]);

/*
 * Compresses (level zstd_level; 0 disables) when that shrinks the data,
 * then seals under data_key. Appends the sealed bytes to out and fills
 * e->comp, stored_len, raw_len (e->id and e->type must be set by the
 * caller, e->offset is left alone).
 */
int blob_seal(const struct suite *s, const uint8_t data_key[CRYPTO_KEY_LEN],
	      struct blob_entry *e, const void *data, size_t len,
	      int zstd_level, struct buf *out);

/*
 * Opens a sealed blob described by e, decompresses it into out (replacing
 * its contents) and checks that MAC_idkey(plaintext) equals e->id.
 * -EBADMSG on any mismatch. For a BLOB_DELTA entry the ID names the
 * reconstructed content, so only the AEAD is checked here: the caller must
 * verify with delta_reconstruct (delta.h).
 */
int blob_open(const struct suite *s, const uint8_t data_key[CRYPTO_KEY_LEN],
	      const uint8_t id_key[CRYPTO_KEY_LEN], const struct blob_entry *e,
	      const uint8_t *sealed, size_t sealed_len, struct buf *out);

#endif
