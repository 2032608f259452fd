/*
 * Cryptographic primitives and suites on OpenSSL 3's EVP interfaces.
 *
 * Everything Coffer encrypts, authenticates or derives goes through here, so
 * the algorithms a repository depends on are visible in one file. A suite is
 * a small ops table (struct suite) looked up by the numeric ID stored in the
 * repository config, so the national suite (SM4-CTR + HMAC-SM3,
 * encrypt-then-MAC) is one more table and no caller knows which it uses.
 *
 * Algorithm objects are fetched per call rather than cached: the calls that
 * matter for throughput work on whole blobs (about 1 MiB), next to which a
 * fetch is noise, and there is then no global state to initialise, share
 * between threads or tear down.
 */
#include "crypto/crypto.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

/*
 * OpenSSL's update functions take int lengths; longer inputs are fed in
 * pieces of this size.
 */
#define EVP_PIECE (1u << 30)

/* GCM encrypts at most 2^32 - 2 blocks under one nonce (SP 800-38D). */
#define GCM_MAX_PT ((((uint64_t)1 << 32) - 2) * 16)

struct suite {
	uint32_t id;
	const char *name;     /* as stored in docs and printed */
	const char *alias;    /* as typed on the command line */
	const char *md;       /* OpenSSL name of Hash, also HKDF's digest */
	int (*mac)(const uint8_t key[CRYPTO_KEY_LEN], const void *data,
		   size_t len, uint8_t out[CRYPTO_HASH_LEN]);
	/* nonce is chosen by suite_seal; the ops only see it. */
	int (*seal)(const uint8_t key[CRYPTO_KEY_LEN],
		    const uint8_t nonce[AEAD_NONCE_LEN], const uint8_t *aad,
		    size_t aad_len, const uint8_t *pt, size_t pt_len,
		    uint8_t *ct, uint8_t tag[AEAD_TAG_LEN]);
	/* Returns -EBADMSG on authentication failure; pt may be partly written. */
	int (*open)(const uint8_t key[CRYPTO_KEY_LEN],
		    const uint8_t nonce[AEAD_NONCE_LEN], const uint8_t *aad,
		    size_t aad_len, const uint8_t *ct, size_t ct_len,
		    const uint8_t tag[AEAD_TAG_LEN], uint8_t *pt);
};

/*
 * Logs the oldest queued OpenSSL error for the operation what, clears the
 * thread's error queue (so later failures are not blamed on this one) and
 * returns -EIO.
 */
static int ossl_fail(const char *what)
{
	char msg[256];
	unsigned long err = ERR_get_error();
	if (err != 0) {
		ERR_error_string_n(err, msg, sizeof msg);
		log_warnx("crypto: %s: %s", what, msg);
	} else {
		log_warnx("crypto: %s failed", what);
	}
	ERR_clear_error();
	return -EIO;
}

struct hash_ctx {
	EVP_MD_CTX *md;
	bool done; /* hash_final was called */
};

/* An incremental hash with the OpenSSL digest called md_name. */
static struct hash_ctx *md_ctx_new(const char *md_name)
{
	struct hash_ctx *c = OPENSSL_zalloc(sizeof *c);
	EVP_MD *md = EVP_MD_fetch(NULL, md_name, NULL);
	if (c == NULL || md == NULL || (c->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(c->md, md, NULL) != 1) {
		(void)ossl_fail("hash init");
		hash_free(c);
		c = NULL;
	}
	EVP_MD_free(md);
	return c;
}

int hash_update(struct hash_ctx *c, const void *data, size_t len)
{
	if (c->done)
		return -EINVAL;
	if (len && EVP_DigestUpdate(c->md, data, len) != 1)
		return ossl_fail("hash update");
	return 0;
}

int hash_final(struct hash_ctx *c, uint8_t out[CRYPTO_HASH_LEN])
{
	unsigned int n = 0;
	if (c->done)
		return -EINVAL;
	c->done = true;
	if (EVP_DigestFinal_ex(c->md, out, &n) != 1 || n != CRYPTO_HASH_LEN)
		return ossl_fail("hash final");
	return 0;
}

void hash_free(struct hash_ctx *c)
{
	if (c == NULL)
		return;
	EVP_MD_CTX_free(c->md);
	OPENSSL_free(c);
}

/* One-shot hash with the OpenSSL digest called md_name. */
static int md_oneshot(const char *md_name, const void *data, size_t len,
		      uint8_t out[CRYPTO_HASH_LEN])
{
	int e = 0;
	unsigned int n = 0;
	EVP_MD *md = EVP_MD_fetch(NULL, md_name, NULL);
	if (md == NULL || EVP_Digest(data, len, out, &n, md, NULL) != 1 ||
	    n != CRYPTO_HASH_LEN)
		e = ossl_fail(md_name);
	EVP_MD_free(md);
	return e;
}

struct hash_ctx *sha256_new(void)
{
	return md_ctx_new("SHA256");
}

int crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_HASH_LEN])
{
	return md_oneshot("SHA256", data, len, out);
}

/*
 * HMAC with the OpenSSL digest md_name over the n pieces (ptr, len) in
 * parts, CRYPTO_HASH_LEN bytes out: callers MAC framed messages without
 * first copying them into one buffer.
 */
struct mac_part {
	const void *p;
	size_t len;
};

static int md_hmac(const char *md_name, const uint8_t *key, size_t key_len,
		   const struct mac_part *parts, size_t n_parts, uint8_t out[CRYPTO_HASH_LEN])
{
	int e = 0;
	size_t n = 0;
	char digest[16];
	snprintf(digest, sizeof digest, "%s", md_name);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	if (ctx == NULL || EVP_MAC_init(ctx, key, key_len, params) != 1)
		e = -1;
	for (size_t i = 0; e == 0 && i < n_parts; i++)
		if (EVP_MAC_update(ctx, parts[i].p, parts[i].len) != 1)
			e = -1;
	if (e == 0 && (EVP_MAC_final(ctx, out, &n, CRYPTO_HASH_LEN) != 1 || n != CRYPTO_HASH_LEN))
		e = -1;
	if (e != 0)
		e = ossl_fail("HMAC");
	EVP_MAC_CTX_free(ctx); /* cleanses the keyed state */
	EVP_MAC_free(mac);
	return e;
}

int crypto_hmac_sha256(const uint8_t *key, size_t key_len, const void *data,
		       size_t len, uint8_t out[CRYPTO_HASH_LEN])
{
	struct mac_part part = { data, len };
	return md_hmac("SHA256", key, key_len, &part, 1, out);
}

/* HKDF (RFC 5869) over the OpenSSL digest md_name, salt absent. */
static int md_hkdf(const char *md_name, const void *ikm, size_t ikm_len,
		   const char *info, void *out, size_t out_len)
{
	int e = 0;
	OSSL_PARAM params[4], *p = params;
	char digest[16];
	snprintf(digest, sizeof digest, "%s", md_name);
	size_t info_len = info != NULL ? strlen(info) : 0;

	if (out_len == 0 || out_len > 255 * CRYPTO_HASH_LEN)
		return -EINVAL; /* RFC 5869: L <= 255 * HashLen */
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm,
						 ikm_len);
	/*
	 * No salt parameter: RFC 5869 then uses HashLen zero bytes as the
	 * salt. Empty info is left out too, which HKDF defines as the same.
	 */
	if (info_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
							 (void *)info, info_len);
	*p = OSSL_PARAM_construct_end();

	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	if (ctx == NULL || EVP_KDF_derive(ctx, out, out_len, params) != 1)
		e = ossl_fail("HKDF");
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return e;
}

int crypto_hkdf(const void *ikm, size_t ikm_len, const char *info,
		void *out, size_t out_len)
{
	return md_hkdf("SHA256", ikm, ikm_len, info, out, out_len);
}

int crypto_scrypt(const void *pass, size_t pass_len, const uint8_t *salt,
		  size_t salt_len, uint64_t N, uint32_t r, uint32_t p,
		  uint8_t *out, size_t out_len)
{
	int e = 0;
	OSSL_PARAM params[7], *q = params;

	if (N < 2 || (N & (N - 1)) != 0 || r == 0 || p == 0 || out_len == 0)
		return -EINVAL;
	/*
	 * OpenSSL refuses to use more than maxmem_bytes (default about 1 GiB);
	 * the caller has already bounded N, r and p, so allow exactly what
	 * they need: 128 r (N + 2) for V and 128 r p for B.
	 */
	uint64_t blocks = N + 2 + p;
	if (blocks < N || (uint64_t)r > UINT64_MAX / 128 / blocks)
		return -EINVAL;
	uint64_t maxmem = 128 * (uint64_t)r * blocks;

	/* OpenSSL rejects a NULL password even when it is empty. */
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
						 pass_len ? (void *)pass : "", pass_len);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						 salt_len ? (void *)salt : "", salt_len);
	*q++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &N);
	*q++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	*q++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
	*q++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	*q = OSSL_PARAM_construct_end();

	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	if (ctx == NULL || EVP_KDF_derive(ctx, out, out_len, params) != 1)
		e = ossl_fail("scrypt");
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return e;
}

int crypto_random(void *out, size_t len)
{
	uint8_t *p = out;
	while (len > 0) {
		size_t n = len < EVP_PIECE ? len : EVP_PIECE;
		if (RAND_bytes(p, (int)n) != 1)
			return ossl_fail("RAND_bytes");
		p += n;
		len -= n;
	}
	return 0;
}

int crypto_memcmp(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) != 0;
}

/*
 * Runs EVP_CipherUpdate over len bytes in int-sized pieces. out == NULL
 * feeds associated data. GCM is a stream mode: each piece yields exactly
 * as many bytes as it consumed.
 */
static int cipher_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in,
			 size_t len)
{
	while (len > 0) {
		int n = (int)(len < EVP_PIECE ? len : EVP_PIECE), got = 0;
		if (EVP_CipherUpdate(ctx, out, &got, in, n) != 1 ||
		    (out != NULL && got != n))
			return -1;
		in += n;
		if (out != NULL)
			out += n;
		len -= (size_t)n;
	}
	return 0;
}

/* AES-256-GCM with a 96-bit nonce and a 128-bit tag, in either direction. */
static int gcm_crypt(bool enc, const uint8_t key[CRYPTO_KEY_LEN],
		     const uint8_t nonce[AEAD_NONCE_LEN], const uint8_t *aad,
		     size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
		     uint8_t tag[AEAD_TAG_LEN])
{
	const char *what = enc ? "AES-256-GCM seal" : "AES-256-GCM open";
	int e = 0, n = 0;
	uint8_t fin[16];
	EVP_CIPHER *ciph = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	/* 12 bytes is GCM's default IV length, so no SET_IVLEN is needed. */
	if (ciph == NULL || ctx == NULL ||
	    EVP_CipherInit_ex2(ctx, ciph, key, nonce, enc ? 1 : 0, NULL) != 1 ||
	    cipher_update(ctx, NULL, aad, aad_len) != 0 ||
	    cipher_update(ctx, out, in, len) != 0 ||
	    (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG_LEN,
					 tag) != 1)) {
		e = ossl_fail(what);
		goto out;
	}
	if (EVP_CipherFinal_ex(ctx, fin, &n) != 1) {
		if (enc) {
			e = ossl_fail(what);
		} else {
			/* Decrypting, Final fails only on a tag mismatch. */
			ERR_clear_error();
			e = -EBADMSG;
		}
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_LEN,
				       tag) != 1)
		e = ossl_fail(what);
out:
	EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
	EVP_CIPHER_free(ciph);
	return e;
}

static int intl_mac(const uint8_t key[CRYPTO_KEY_LEN], const void *data,
		    size_t len, uint8_t out[CRYPTO_HASH_LEN])
{
	return crypto_hmac_sha256(key, CRYPTO_KEY_LEN, data, len, out);
}

static int intl_seal(const uint8_t key[CRYPTO_KEY_LEN],
		     const uint8_t nonce[AEAD_NONCE_LEN], const uint8_t *aad,
		     size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *ct,
		     uint8_t tag[AEAD_TAG_LEN])
{
	return gcm_crypt(true, key, nonce, aad, aad_len, pt, pt_len, ct, tag);
}

static int intl_open(const uint8_t key[CRYPTO_KEY_LEN],
		     const uint8_t nonce[AEAD_NONCE_LEN], const uint8_t *aad,
		     size_t aad_len, const uint8_t *ct, size_t ct_len,
		     const uint8_t tag[AEAD_TAG_LEN], uint8_t *pt)
{
	/* OpenSSL takes the expected tag through a non-const pointer. */
	uint8_t t[AEAD_TAG_LEN];
	memcpy(t, tag, sizeof t);
	return gcm_crypt(false, key, nonce, aad, aad_len, ct, ct_len, pt, t);
}

/*
 * Suite 2: SM4-CTR, then HMAC-SM3 over the framed associated data, nonce
 * and ciphertext (encrypt-then-MAC), the tag cut to 16 bytes so the sealed
 * layout is every suite's: nonce[12] || ciphertext || tag[16]. The
 * encryption and MAC keys are derived from the message key with HKDF-SM3,
 * so the one key callers hold never meets both uses. docs/format/crypto.md
 * section 6.
 */
#define NAT_TAG_LABEL "coffer sm4ctr-hmacsm3 v1"

static int nat_keys(const uint8_t key[CRYPTO_KEY_LEN], uint8_t enc[16],
		    uint8_t mac[CRYPTO_KEY_LEN])
{
	int e = md_hkdf("SM3", key, CRYPTO_KEY_LEN, "coffer/v1 sm4-ctr enc", enc, 16);
	if (e == 0)
		e = md_hkdf("SM3", key, CRYPTO_KEY_LEN, "coffer/v1 hmac-sm3 tag", mac,
			    CRYPTO_KEY_LEN);
	return e;
}

static int nat_tag(const uint8_t mac_key[CRYPTO_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN],
		   const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
		   uint8_t tag[AEAD_TAG_LEN])
{
	uint8_t aad_le[8], ct_le[8], full[CRYPTO_HASH_LEN];
	le64_put(aad_le, aad_len);
	le64_put(ct_le, ct_len);
	const struct mac_part parts[] = {
		{ NAT_TAG_LABEL, sizeof NAT_TAG_LABEL - 1 }, { aad_le, 8 }, { aad, aad_len },
		{ nonce, AEAD_NONCE_LEN }, { ct_le, 8 }, { ct, ct_len },
	};
	int e = md_hmac("SM3", mac_key, CRYPTO_KEY_LEN, parts, 6, full);
	if (e == 0)
		memcpy(tag, full, AEAD_TAG_LEN);
	return e;
}

/* SM4-CTR with IV = nonce || 32-bit big-endian block counter from 0. */
static int nat_ctr(const uint8_t enc_key[16], const uint8_t nonce[AEAD_NONCE_LEN],
		   const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t iv[16] = { 0 };
	memcpy(iv, nonce, AEAD_NONCE_LEN);
	int e = 0;
	EVP_CIPHER *ciph = EVP_CIPHER_fetch(NULL, "SM4-CTR", NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (ciph == NULL || ctx == NULL ||
	    EVP_CipherInit_ex2(ctx, ciph, enc_key, iv, 1, NULL) != 1 ||
	    cipher_update(ctx, out, in, len) != 0)
		e = ossl_fail("SM4-CTR");
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(ciph);
	return e;
}

static int nat_mac(const uint8_t key[CRYPTO_KEY_LEN], const void *data,
		   size_t len, uint8_t out[CRYPTO_HASH_LEN])
{
	struct mac_part part = { data, len };
	return md_hmac("SM3", key, CRYPTO_KEY_LEN, &part, 1, out);
}

static int nat_seal(const uint8_t key[CRYPTO_KEY_LEN],
		    const uint8_t nonce[AEAD_NONCE_LEN], const uint8_t *aad,
		    size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *ct,
		    uint8_t tag[AEAD_TAG_LEN])
{
	uint8_t keys[16 + CRYPTO_KEY_LEN];
	int e = nat_keys(key, keys, keys + 16);
	if (e == 0)
		e = nat_ctr(keys, nonce, pt, pt_len, ct);
	if (e == 0)
		e = nat_tag(keys + 16, nonce, aad, aad_len, ct, pt_len, tag);
	mem_wipe(keys, sizeof keys);
	return e;
}

static int nat_open(const uint8_t key[CRYPTO_KEY_LEN],
		    const uint8_t nonce[AEAD_NONCE_LEN], const uint8_t *aad,
		    size_t aad_len, const uint8_t *ct, size_t ct_len,
		    const uint8_t tag[AEAD_TAG_LEN], uint8_t *pt)
{
	uint8_t keys[16 + CRYPTO_KEY_LEN], want[AEAD_TAG_LEN];
	int e = nat_keys(key, keys, keys + 16);
	if (e == 0)
		e = nat_tag(keys + 16, nonce, aad, aad_len, ct, ct_len, want);
	/* The tag is verified before anything is decrypted. */
	if (e == 0 && CRYPTO_memcmp(want, tag, AEAD_TAG_LEN) != 0)
		e = -EBADMSG;
	if (e == 0)
		e = nat_ctr(keys, nonce, ct, ct_len, pt);
	mem_wipe(keys, sizeof keys);
	return e;
}

static const struct suite suite_national = {
	.id = SUITE_NATIONAL,
	.name = "sm4ctr-hmacsm3",
	.alias = "national",
	.md = "SM3",
	.mac = nat_mac,
	.seal = nat_seal,
	.open = nat_open,
};

static const struct suite suite_intl = {
	.id = SUITE_INTERNATIONAL,
	.name = "aes256gcm-hmacsha256",
	.alias = "international",
	.md = "SHA256",
	.mac = intl_mac,
	.seal = intl_seal,
	.open = intl_open,
};

/* The suites built into this binary; suite_by_id searches them. */
static const struct suite *const suites[] = {
	&suite_intl,
	&suite_national,
};

const struct suite *suite_by_id(uint32_t id)
{
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
		if (suites[i]->id == id)
			return suites[i];
	return NULL;
}

const struct suite *suite_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
		if (strcmp(suites[i]->alias, name) == 0 ||
		    strcmp(suites[i]->name, name) == 0)
			return suites[i];
	return NULL;
}

const char *suite_alias(const struct suite *s)
{
	return s->alias;
}

int suite_hash(const struct suite *s, const void *data, size_t len,
	       uint8_t out[CRYPTO_HASH_LEN])
{
	return md_oneshot(s->md, data, len, out);
}

struct hash_ctx *suite_hash_new(const struct suite *s)
{
	return md_ctx_new(s->md);
}

int suite_kdf(const struct suite *s, const void *ikm, size_t ikm_len,
	      const char *info, void *out, size_t out_len)
{
	return md_hkdf(s->md, ikm, ikm_len, info, out, out_len);
}

uint32_t suite_id(const struct suite *s)
{
	return s->id;
}

const char *suite_name(const struct suite *s)
{
	return s->name;
}

int suite_mac(const struct suite *s, const uint8_t key[CRYPTO_KEY_LEN],
	      const void *data, size_t len, uint8_t out[CRYPTO_HASH_LEN])
{
	return s->mac(key, data, len, out);
}

/*
 * The nonce is random, never a counter: sealers in different processes and
 * on different sites share one data key and keep no common state. The
 * resulting limit on messages per key is in docs/format/crypto.md.
 */
int suite_seal(const struct suite *s, const uint8_t key[CRYPTO_KEY_LEN],
	       const void *aad, size_t aad_len, const void *pt, size_t pt_len,
	       uint8_t *out)
{
	if (pt_len > GCM_MAX_PT)
		return -EINVAL;
	int e = crypto_random(out, AEAD_NONCE_LEN);
	if (e == 0)
		e = s->seal(key, out, aad, aad_len, pt, pt_len,
			    out + AEAD_NONCE_LEN, out + AEAD_NONCE_LEN + pt_len);
	return e;
}

/*
 * A sealed message shorter than its overhead cannot have come from
 * suite_seal, so it is reported as corrupt (-EBADMSG), like any other
 * altered message.
 */
int suite_open(const struct suite *s, const uint8_t key[CRYPTO_KEY_LEN],
	       const void *aad, size_t aad_len, const uint8_t *in, size_t in_len,
	       uint8_t *pt)
{
	if (in_len < AEAD_OVERHEAD)
		return -EBADMSG;
	size_t ct_len = in_len - AEAD_OVERHEAD;
	if (ct_len > GCM_MAX_PT)
		return -EBADMSG;
	int e = s->open(key, in, aad, aad_len, in + AEAD_NONCE_LEN, ct_len,
			in + AEAD_NONCE_LEN + ct_len, pt);
	if (e != 0)
		mem_wipe(pt, ct_len); /* unauthenticated plaintext */
	return e;
}
