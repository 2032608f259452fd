/*
 * Cryptographic primitives and suites. This module is the only caller of
 * OpenSSL's EVP_* functions in Coffer. Every function returns 0 or a
 * negative errno: -EBADMSG when authentication fails, -EIO when OpenSSL
 * fails, -EINVAL on bad parameters.
 *
 * A suite bundles the algorithms one repository uses. Suite 1 is the
 * international suite: AES-256-GCM for AEAD, HMAC-SHA-256 for MACs and blob
 * IDs, SHA-256 for hashes. Suite 2 is the national suite: SM4-CTR then
 * HMAC-SM3 (encrypt-then-MAC) in the same sealed layout, so AEAD_OVERHEAD
 * holds for both, HMAC-SM3 for MACs and SM3 for hashes
 * (docs/format/crypto.md section 6). Public-key operations are in pkey.h.
 */
#ifndef COFFER_CRYPTO_CRYPTO_H
#define COFFER_CRYPTO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_LEN 32   /* every symmetric key */
#define CRYPTO_HASH_LEN 32  /* SHA-256, HMAC-SHA-256 output, IDs */
#define AEAD_NONCE_LEN 12
#define AEAD_TAG_LEN 16
#define AEAD_OVERHEAD (AEAD_NONCE_LEN + AEAD_TAG_LEN)

enum suite_id {
	SUITE_INTERNATIONAL = 1,
	SUITE_NATIONAL = 2, /* SM4-CTR + HMAC-SM3, SM3, SM2 */
};

struct suite;

/* The suite with this ID, or NULL if unknown or not built in. */
const struct suite *suite_by_id(uint32_t id);
/* The suite called name ("international", "national" or its full name). */
const struct suite *suite_by_name(const char *name);
uint32_t suite_id(const struct suite *s);
const char *suite_name(const struct suite *s);  /* e.g. "aes256gcm-hmacsha256" */
const char *suite_alias(const struct suite *s); /* e.g. "international" */

/*
 * The suite's hash (SHA-256 or SM3, CRYPTO_HASH_LEN bytes): names of
 * stored objects and every other hash a repository of this suite holds.
 */
int suite_hash(const struct suite *s, const void *data, size_t len,
	       uint8_t out[CRYPTO_HASH_LEN]);
struct hash_ctx *suite_hash_new(const struct suite *s);
/*
 * HKDF (RFC 5869) over the suite's hash with empty salt: subkeys of a
 * suite's keys are derived with its own hash, never another suite's.
 */
int suite_kdf(const struct suite *s, const void *ikm, size_t ikm_len,
	      const char *info, void *out, size_t out_len);

/* out = MAC_key(data), CRYPTO_HASH_LEN bytes. Used for blob IDs. */
int suite_mac(const struct suite *s, const uint8_t key[CRYPTO_KEY_LEN],
	      const void *data, size_t len, uint8_t out[CRYPTO_HASH_LEN]);

/*
 * Authenticated encryption with a fresh random nonce.
 * out receives nonce || ciphertext || tag: pt_len + AEAD_OVERHEAD bytes.
 * aad is authenticated, not stored.
 */
int suite_seal(const struct suite *s, const uint8_t key[CRYPTO_KEY_LEN],
	       const void *aad, size_t aad_len, const void *pt, size_t pt_len,
	       uint8_t *out);
/*
 * Inverse of suite_seal. in_len must be at least AEAD_OVERHEAD; pt receives
 * in_len - AEAD_OVERHEAD bytes. -EBADMSG if anything was altered or the
 * key or aad differ; pt is then wiped.
 */
int suite_open(const struct suite *s, const uint8_t key[CRYPTO_KEY_LEN],
	       const void *aad, size_t aad_len, const uint8_t *in, size_t in_len,
	       uint8_t *pt);

/* Cryptographically secure random bytes. */
int crypto_random(void *out, size_t len);

/* One-shot SHA-256. */
int crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_HASH_LEN]);

/*
 * Incremental hashing (used to name packs as they are written or read):
 * create with suite_hash_new or sha256_new, feed with hash_update, finish
 * with hash_final (the context may not be updated afterwards).
 */
struct hash_ctx;
struct hash_ctx *sha256_new(void);
int hash_update(struct hash_ctx *c, const void *data, size_t len);
int hash_final(struct hash_ctx *c, uint8_t out[CRYPTO_HASH_LEN]);
void hash_free(struct hash_ctx *c); /* accepts NULL */

/* HMAC-SHA-256 independent of suite (key derivation, gear tables). */
int crypto_hmac_sha256(const uint8_t *key, size_t key_len, const void *data,
		       size_t len, uint8_t out[CRYPTO_HASH_LEN]);

/*
 * HKDF-SHA-256 (RFC 5869) with empty salt: derives out_len bytes from ikm
 * for the purpose named by info. Different info strings give independent
 * keys.
 */
int crypto_hkdf(const void *ikm, size_t ikm_len, const char *info,
		void *out, size_t out_len);

/*
 * scrypt (RFC 7914). N must be a power of two > 1. Used to turn a
 * passphrase into a key-encryption key.
 */
int crypto_scrypt(const void *pass, size_t pass_len, const uint8_t *salt,
		  size_t salt_len, uint64_t N, uint32_t r, uint32_t p,
		  uint8_t *out, size_t out_len);

/* Constant-time comparison: 0 if equal. */
int crypto_memcmp(const void *a, const void *b, size_t n);

#endif
