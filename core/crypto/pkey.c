/*
 * Public-key operations of the two suites on OpenSSL 3's EVP_PKEY.
 *
 * Signing is Ed25519 (international) or SM2 with SM3 and the standard's
 * default distinguishing ID (national). Wrapping a secret for a recipient
 * is hybrid in both suites: a fresh symmetric key is agreed (X25519) or
 * transported (SM2 public-key encryption) and the secret is sealed under it
 * with the suite's own suite_seal, so the aad binding, tag and tamper
 * behaviour are those of the sealed messages the rest of Coffer uses. The
 * wrapped layouts are specified in docs/format/crypto.md section 7; every
 * byte of a wrapped message is untrusted input to pkey_unwrap and is read
 * through struct rbuf.
 */
#include "crypto/pkey.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>

#include "crypto/crypto.h"
#include "util/log.h"
#include "util/mem.h"

/* GB/T 32918.2 / GM/T 0009 default distinguishing ID for SM2 signatures. */
#define SM2_DEFAULT_ID "1234567812345678"

/* Version bytes of wrapped secrets (docs/format/crypto.md section 7.3). */
#define WRAP_V_X25519 1
#define WRAP_V_SM2 2

#define X25519_LEN 32
/* A wrapped SM2 message key: DER of two coordinates, C3 and C2, < 160 B. */
#define SM2_CT_MAX 256
#define WRAP_MSG_KEY_LEN 32

#define WRAP_INFO_X25519 "coffer/v1 pkey wrap x25519"
#define WRAP_INFO_SM2 "coffer/v1 pkey wrap sm2"

struct pkey {
	EVP_PKEY *pk;
	uint32_t suite;
	enum pkey_use use;
	bool priv;
};

/* Logs and clears OpenSSL's error queue; returns err. */
static int ossl_err(const char *what, int err)
{
	unsigned long e = ERR_get_error();
	if (e != 0 && err == -EIO) {
		char msg[256];
		ERR_error_string_n(e, msg, sizeof msg);
		log_warnx("pkey: %s: %s", what, msg);
	}
	ERR_clear_error();
	return err;
}

/*
 * OpenSSL keeps private keys (Ed25519/X25519 scalars, EC private BNs) in
 * its secure heap when one exists: locked pages excluded from core dumps,
 * wiped when freed. Made once, before the first private key; where mlock
 * is refused OpenSSL falls back to its ordinary heap, still wiped on free.
 */
#define SECURE_HEAP_SIZE (64 * 1024)
#define SECURE_HEAP_MIN 32

static pthread_once_t secure_heap_once = PTHREAD_ONCE_INIT;

static void secure_heap_init(void)
{
	if (CRYPTO_secure_malloc_initialized() == 0 &&
	    CRYPTO_secure_malloc_init(SECURE_HEAP_SIZE, SECURE_HEAP_MIN) == 0)
		log_debug("pkey: OpenSSL secure heap unavailable; private keys use the "
			  "ordinary heap (wiped on free)");
}

static void secure_heap(void)
{
	(void)pthread_once(&secure_heap_once, secure_heap_init);
}

/* The OpenSSL key type for suite and use, or NULL if none. */
static const char *key_type(uint32_t suite, enum pkey_use use)
{
	if (suite == SUITE_INTERNATIONAL)
		return use == PKEY_SIGN ? "ED25519" : use == PKEY_WRAP ? "X25519" : NULL;
	if (suite == SUITE_NATIONAL && (use == PKEY_SIGN || use == PKEY_WRAP))
		return "SM2";
	return NULL;
}

/*
 * Wraps pk (ownership taken, freed on failure) into a struct pkey after
 * checking its algorithm: suite and use come from the algorithm except
 * for SM2, whose keys serve both uses. want_suite 0 accepts either suite.
 */
static int pkey_adopt(EVP_PKEY *pk, uint32_t want_suite, enum pkey_use use,
		      bool priv, struct pkey **out)
{
	int e = 0;
	uint32_t suite = 0;
	struct pkey *k = NULL;

	if (EVP_PKEY_is_a(pk, "ED25519") || EVP_PKEY_is_a(pk, "X25519")) {
		suite = SUITE_INTERNATIONAL;
		if (use != (EVP_PKEY_is_a(pk, "ED25519") ? PKEY_SIGN : PKEY_WRAP))
			e = -EINVAL;
	} else if (EVP_PKEY_is_a(pk, "SM2")) {
		suite = SUITE_NATIONAL;
		if (use != PKEY_SIGN && use != PKEY_WRAP)
			e = -EINVAL;
	} else {
		e = -EINVAL; /* an algorithm neither suite uses */
	}
	if (e == 0 && want_suite != 0 && want_suite != suite)
		e = -EINVAL;
	if (e == 0 && (k = OPENSSL_zalloc(sizeof *k)) == NULL)
		e = -ENOMEM;
	if (e != 0) {
		EVP_PKEY_free(pk);
		return e;
	}
	k->pk = pk;
	k->suite = suite;
	k->use = use;
	k->priv = priv;
	*out = k;
	return 0;
}

int pkey_generate(uint32_t suite, enum pkey_use use, struct pkey **out)
{
	const char *type = key_type(suite, use);
	if (type == NULL)
		return -EINVAL;
	secure_heap();
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, type);
	if (pk == NULL)
		return ossl_err("keygen", -EIO);
	return pkey_adopt(pk, suite, use, true, out);
}

void pkey_free(struct pkey *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pk); /* cleanses private parts */
	OPENSSL_free(k);
}

uint32_t pkey_suite(const struct pkey *k)
{
	return k->suite;
}

enum pkey_use pkey_use(const struct pkey *k)
{
	return k->use;
}

int pkey_has_private(const struct pkey *k)
{
	return k->priv;
}

/* Appends everything in the memory BIO b to out. */
static int bio_to_buf(BIO *b, struct buf *out)
{
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);
	if (n <= 0)
		return -EIO;
	return buf_put(out, p, (size_t)n);
}

int pkey_public_pem(const struct pkey *k, struct buf *out)
{
	int e;
	BIO *b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return -ENOMEM;
	if (PEM_write_bio_PUBKEY(b, k->pk) != 1)
		e = ossl_err("public PEM", -EIO);
	else
		e = bio_to_buf(b, out);
	BIO_free(b);
	return e;
}

int pkey_from_public_pem(const void *pem, size_t len, enum pkey_use use,
			 struct pkey **out)
{
	if (len > INT_MAX)
		return -EBADMSG;
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	if (b == NULL)
		return -ENOMEM;
	EVP_PKEY *pk = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	if (pk == NULL)
		return ossl_err("public PEM", -EBADMSG);
	return pkey_adopt(pk, 0, use, false, out);
}

int pkey_private_der(const struct pkey *k, struct buf *out)
{
	int e = 0;
	unsigned char *der = NULL;
	int n = 0;

	if (!k->priv)
		return -EINVAL;
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k->pk);
	if (p8 == NULL || (n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der)) <= 0)
		e = ossl_err("PKCS#8", -EIO);
	else
		e = buf_put(out, der, (size_t)n);
	if (der != NULL)
		OPENSSL_clear_free(der, (size_t)n);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return e;
}

int pkey_from_private_der(const void *der, size_t len, uint32_t suite,
			  enum pkey_use use, struct pkey **out)
{
	const unsigned char *p = der;
	if (len > LONG_MAX)
		return -EBADMSG;
	secure_heap();
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
	EVP_PKEY *pk = NULL;
	if (p8 != NULL && p == (const unsigned char *)der + len)
		pk = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (pk == NULL)
		return ossl_err("PKCS#8", -EBADMSG);
	return pkey_adopt(pk, suite, use, true, out);
}

/* Refuses to prompt: Coffer never reads encrypted PEM keys. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int pkey_from_private_pem(const void *pem, size_t len, enum pkey_use use,
			  struct pkey **out)
{
	if (len > INT_MAX)
		return -EBADMSG;
	secure_heap();
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	if (b == NULL)
		return -ENOMEM;
	EVP_PKEY *pk = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
	BIO_free(b);
	if (pk == NULL)
		return ossl_err("private PEM", -EBADMSG);
	return pkey_adopt(pk, 0, use, true, out);
}

/* The suite's hash of the DER SubjectPublicKeyInfo. */
int pkey_fingerprint(const struct pkey *k, uint8_t out[32])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k->pk, &der);
	if (n <= 0)
		return ossl_err("public DER", -EIO);
	int e = suite_hash(suite_by_id(k->suite), der, (size_t)n, out);
	OPENSSL_free(der);
	return e;
}

/*
 * A digest-sign/verify context for k: pure Ed25519 (no digest), or SM2
 * with SM3 over Z_A || M, Z_A computed with the default ID. The ID is set
 * on a key context given to the digest context before init: OpenSSL 3.0
 * refuses it as an init parameter for some SM2 keys, and without it uses
 * an empty ID, not the standard's default. *pctx (freed by the caller
 * after the digest context) is NULL for Ed25519.
 */
static EVP_MD_CTX *sig_ctx(const struct pkey *k, bool sign, EVP_PKEY_CTX **pctx)
{
	const char *md = NULL;
	int ok;

	*pctx = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return NULL;
	if (k->suite == SUITE_NATIONAL) {
		md = "SM3";
		*pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pk, NULL);
		if (*pctx == NULL ||
		    EVP_PKEY_CTX_set1_id(*pctx, SM2_DEFAULT_ID, sizeof SM2_DEFAULT_ID - 1) != 1)
			goto fail;
		EVP_MD_CTX_set_pkey_ctx(ctx, *pctx);
	}
	if (sign)
		ok = EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, k->pk, NULL);
	else
		ok = EVP_DigestVerifyInit_ex(ctx, NULL, md, NULL, NULL, k->pk, NULL);
	if (ok == 1)
		return ctx;
fail:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_CTX_free(*pctx);
	*pctx = NULL;
	return NULL;
}

int pkey_sign(const struct pkey *k, const void *msg, size_t len, struct buf *sig)
{
	int e = 0;
	size_t n = 0;
	uint8_t *p = NULL;

	if (k->use != PKEY_SIGN || !k->priv)
		return -EINVAL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *ctx = sig_ctx(k, true, &pctx);
	if (ctx == NULL)
		return ossl_err("sign init", -EIO);
	if (EVP_DigestSign(ctx, NULL, &n, msg, len) != 1 ||
	    (p = OPENSSL_malloc(n)) == NULL ||
	    EVP_DigestSign(ctx, p, &n, msg, len) != 1)
		e = ossl_err("sign", -EIO);
	else
		e = buf_put(sig, p, n);
	OPENSSL_free(p);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_CTX_free(pctx);
	return e;
}

int pkey_verify(const struct pkey *k, const void *msg, size_t len,
		const void *sig, size_t sig_len)
{
	if (k->use != PKEY_SIGN)
		return -EINVAL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *ctx = sig_ctx(k, false, &pctx);
	if (ctx == NULL)
		return ossl_err("verify init", -EIO);
	int ok = EVP_DigestVerify(ctx, sig, sig_len, msg, len);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_CTX_free(pctx);
	/* Any failure, malformed DER included, is a bad signature. */
	return ok == 1 ? 0 : ossl_err("verify", -EBADMSG);
}

/* X25519 shared secret of priv and peer into out[32]; -EBADMSG if refused. */
static int x25519_derive(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t out[X25519_LEN])
{
	size_t n = X25519_LEN;
	int e = 0;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	/*
	 * OpenSSL refuses an all-zero result (a small-order peer point), so
	 * a failure here is a malformed message, not a local fault.
	 */
	if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer(ctx, peer) != 1 ||
	    EVP_PKEY_derive(ctx, out, &n) != 1 || n != X25519_LEN)
		e = ossl_err("X25519", -EBADMSG);
	EVP_PKEY_CTX_free(ctx);
	return e;
}

/*
 * Key of an X25519 wrap: HKDF-SHA-256(shared || ephemeral public ||
 * recipient public), so the key is bound to both public keys.
 */
static int x25519_wrap_key(const uint8_t shared[X25519_LEN],
			   const uint8_t eph[X25519_LEN],
			   const uint8_t rcpt[X25519_LEN], uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t ikm[3 * X25519_LEN];
	memcpy(ikm, shared, X25519_LEN);
	memcpy(ikm + X25519_LEN, eph, X25519_LEN);
	memcpy(ikm + 2 * X25519_LEN, rcpt, X25519_LEN);
	int e = suite_kdf(suite_by_id(SUITE_INTERNATIONAL), ikm, sizeof ikm,
			  WRAP_INFO_X25519, key, CRYPTO_KEY_LEN);
	mem_wipe(ikm, sizeof ikm);
	return e;
}

static int raw_public(EVP_PKEY *pk, uint8_t out[X25519_LEN])
{
	size_t n = X25519_LEN;
	if (EVP_PKEY_get_raw_public_key(pk, out, &n) != 1 || n != X25519_LEN)
		return ossl_err("raw public key", -EIO);
	return 0;
}

/* Appends suite_seal(s, key, aad, secret) to out. */
static int seal_to(const struct suite *s, const uint8_t key[CRYPTO_KEY_LEN],
		   const void *aad, size_t aad_len, const void *secret, size_t len,
		   struct buf *out)
{
	if (len > SIZE_MAX - AEAD_OVERHEAD)
		return -EINVAL;
	int e = buf_reserve(out, len + AEAD_OVERHEAD);
	if (e == 0)
		e = suite_seal(s, key, aad, aad_len, secret, len, out->data + out->len);
	if (e == 0)
		out->len += len + AEAD_OVERHEAD;
	return e;
}

static int wrap_x25519(const struct pkey *rcpt, const void *aad, size_t aad_len,
		       const void *secret, size_t len, struct buf *out)
{
	uint8_t eph_pub[X25519_LEN], rcpt_pub[X25519_LEN];
	uint8_t shared[X25519_LEN], key[CRYPTO_KEY_LEN];
	secure_heap();
	EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	int e = eph != NULL ? 0 : ossl_err("keygen", -EIO);

	if (e == 0)
		e = raw_public(eph, eph_pub);
	if (e == 0)
		e = raw_public(rcpt->pk, rcpt_pub);
	/* Our own ephemeral key against a loaded public key: a refusal means
	 * the recipient key is unusable. */
	if (e == 0 && x25519_derive(eph, rcpt->pk, shared) != 0)
		e = -EINVAL;
	if (e == 0)
		e = x25519_wrap_key(shared, eph_pub, rcpt_pub, key);
	if (e == 0)
		e = buf_put_u8(out, WRAP_V_X25519);
	if (e == 0)
		e = buf_put(out, eph_pub, X25519_LEN);
	if (e == 0)
		e = seal_to(suite_by_id(SUITE_INTERNATIONAL), key, aad, aad_len,
			    secret, len, out);
	mem_wipe(shared, sizeof shared);
	mem_wipe(key, sizeof key);
	EVP_PKEY_free(eph);
	return e;
}

/*
 * SM2 public-key encryption (GB/T 32918.4, C1C3C2 in the ASN.1 form
 * OpenSSL and GM/T 0009 use) of in under pk (enc) or its inverse (dec).
 * Decryption failures, including a wrong C3 hash, are -EBADMSG.
 */
static int sm2_crypt(EVP_PKEY *pk, bool enc, const uint8_t *in, size_t in_len,
		     uint8_t *out, size_t *out_len)
{
	int e = 0;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_DIGEST,
						 (char *)"SM3", 0),
		OSSL_PARAM_construct_end(),
	};
	size_t n = *out_len;

	if (ctx == NULL ||
	    (enc ? EVP_PKEY_encrypt_init_ex(ctx, params) :
		   EVP_PKEY_decrypt_init_ex(ctx, params)) != 1) {
		e = ossl_err("SM2 init", -EIO);
		goto out;
	}
	if (enc ? EVP_PKEY_encrypt(ctx, NULL, &n, in, in_len) != 1 :
		  EVP_PKEY_decrypt(ctx, NULL, &n, in, in_len) != 1) {
		e = ossl_err("SM2", enc ? -EIO : -EBADMSG);
		goto out;
	}
	/* The size query may overestimate; it must still fit. */
	if (n > *out_len) {
		e = enc ? -EIO : -EBADMSG;
		goto out;
	}
	n = *out_len;
	if (enc ? EVP_PKEY_encrypt(ctx, out, &n, in, in_len) != 1 :
		  EVP_PKEY_decrypt(ctx, out, &n, in, in_len) != 1) {
		e = ossl_err("SM2", enc ? -EIO : -EBADMSG);
		goto out;
	}
	*out_len = n;
out:
	EVP_PKEY_CTX_free(ctx);
	return e;
}

static int wrap_sm2(const struct pkey *rcpt, const void *aad, size_t aad_len,
		    const void *secret, size_t len, struct buf *out)
{
	uint8_t mk[WRAP_MSG_KEY_LEN], key[CRYPTO_KEY_LEN], ct[SM2_CT_MAX];
	size_t ct_len = sizeof ct;
	const struct suite *s = suite_by_id(SUITE_NATIONAL);
	int e = crypto_random(mk, sizeof mk);

	if (e == 0)
		e = sm2_crypt(rcpt->pk, true, mk, sizeof mk, ct, &ct_len);
	if (e == 0)
		e = suite_kdf(s, mk, sizeof mk, WRAP_INFO_SM2, key, sizeof key);
	if (e == 0)
		e = buf_put_u8(out, WRAP_V_SM2);
	if (e == 0)
		e = buf_put_u16(out, (uint16_t)ct_len);
	if (e == 0)
		e = buf_put(out, ct, ct_len);
	if (e == 0)
		e = seal_to(s, key, aad, aad_len, secret, len, out);
	mem_wipe(mk, sizeof mk);
	mem_wipe(key, sizeof key);
	return e;
}

/*
 * On failure out is left as it was: a partly written wrap is never
 * returned.
 */
int pkey_wrap(const struct pkey *recipient, const void *aad, size_t aad_len,
	      const void *secret, size_t len, struct buf *out)
{
	if (recipient->use != PKEY_WRAP)
		return -EINVAL;
	size_t old = out->len;
	int e = recipient->suite == SUITE_INTERNATIONAL ?
			wrap_x25519(recipient, aad, aad_len, secret, len, out) :
			wrap_sm2(recipient, aad, aad_len, secret, len, out);
	if (e != 0)
		out->len = old;
	return e;
}

/* Opens the sealed rest of a wrap (all of r's remaining bytes) into out. */
static int open_rest(const struct suite *s, const uint8_t key[CRYPTO_KEY_LEN],
		     const void *aad, size_t aad_len, struct rbuf *r,
		     uint8_t *out, size_t out_cap, size_t *out_len)
{
	const uint8_t *sealed = NULL;
	size_t n = rbuf_left(r);
	if (n < AEAD_OVERHEAD)
		return -EBADMSG;
	if (n - AEAD_OVERHEAD > out_cap)
		return -ENOSPC;
	int e = rbuf_get_ref(r, n, &sealed);
	if (e == 0)
		e = suite_open(s, key, aad, aad_len, sealed, n, out);
	if (e == 0)
		*out_len = n - AEAD_OVERHEAD;
	return e;
}

static int unwrap_x25519(const struct pkey *k, const void *aad, size_t aad_len,
			 struct rbuf *r, uint8_t *out, size_t out_cap, size_t *out_len)
{
	uint8_t rcpt_pub[X25519_LEN], shared[X25519_LEN], key[CRYPTO_KEY_LEN];
	const uint8_t *eph_pub = NULL;
	EVP_PKEY *eph = NULL;
	int e = rbuf_get_ref(r, X25519_LEN, &eph_pub);

	if (e == 0)
		e = raw_public(k->pk, rcpt_pub);
	if (e == 0) {
		eph = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, eph_pub,
						     X25519_LEN);
		if (eph == NULL)
			e = ossl_err("X25519 public key", -EBADMSG);
	}
	if (e == 0)
		e = x25519_derive(k->pk, eph, shared);
	if (e == 0)
		e = x25519_wrap_key(shared, eph_pub, rcpt_pub, key);
	if (e == 0)
		e = open_rest(suite_by_id(SUITE_INTERNATIONAL), key, aad, aad_len, r,
			      out, out_cap, out_len);
	mem_wipe(shared, sizeof shared);
	mem_wipe(key, sizeof key);
	EVP_PKEY_free(eph);
	return e;
}

static int unwrap_sm2(const struct pkey *k, const void *aad, size_t aad_len,
		      struct rbuf *r, uint8_t *out, size_t out_cap, size_t *out_len)
{
	uint8_t mk[SM2_CT_MAX], key[CRYPTO_KEY_LEN];
	size_t mk_len = sizeof mk;
	const uint8_t *ct = NULL;
	uint16_t ct_len = 0;
	const struct suite *s = suite_by_id(SUITE_NATIONAL);
	int e = rbuf_get_u16(r, &ct_len);

	if (e == 0 && (ct_len == 0 || ct_len > SM2_CT_MAX))
		e = -EBADMSG;
	if (e == 0)
		e = rbuf_get_ref(r, ct_len, &ct);
	if (e == 0)
		e = sm2_crypt(k->pk, false, ct, ct_len, mk, &mk_len);
	if (e == 0 && mk_len != WRAP_MSG_KEY_LEN)
		e = -EBADMSG;
	if (e == 0)
		e = suite_kdf(s, mk, WRAP_MSG_KEY_LEN, WRAP_INFO_SM2, key, sizeof key);
	if (e == 0)
		e = open_rest(s, key, aad, aad_len, r, out, out_cap, out_len);
	mem_wipe(mk, sizeof mk);
	mem_wipe(key, sizeof key);
	return e;
}

/*
 * -EBADMSG for anything malformed, altered, for another key, another
 * suite or another aad; -ENOSPC if the secret would not fit in out_cap.
 * Nothing is written to out unless the seal authenticated (suite_open
 * wipes on failure).
 */
int pkey_unwrap(const struct pkey *k, const void *aad, size_t aad_len,
		const void *in, size_t in_len, uint8_t *out, size_t out_cap,
		size_t *out_len)
{
	struct rbuf r;
	uint8_t version = 0;

	if (k->use != PKEY_WRAP || !k->priv)
		return -EINVAL;
	rbuf_init(&r, in, in_len);
	int e = rbuf_get_u8(&r, &version);
	if (e != 0)
		return e;
	if (k->suite == SUITE_INTERNATIONAL && version == WRAP_V_X25519)
		return unwrap_x25519(k, aad, aad_len, &r, out, out_cap, out_len);
	if (k->suite == SUITE_NATIONAL && version == WRAP_V_SM2)
		return unwrap_sm2(k, aad, aad_len, &r, out, out_cap, out_len);
	return -EBADMSG; /* unknown version, or made for the other suite */
}
