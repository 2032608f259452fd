/*
 * Public-key operations of the two suites, on OpenSSL 3's EVP_PKEY:
 *
 *               signing         wrapping a secret for a recipient
 *  international Ed25519 (pure)  X25519 ECDH + HKDF-SHA-256 + AES-256-GCM
 *  national      SM2 with SM3,   SM2 public-key encryption (GB/T 32918.4)
 *                default ID      of an SM4-CTR/HMAC-SM3 sealed message key
 *
 * A key has one use: signing keys sign, wrapping keys unwrap. Appliance
 * identities (site keys), approvers and replication targets use these.
 * Every function returns 0 or a negative errno (-EBADMSG: a signature,
 * wrapped message or encoded key is invalid; -EINVAL: wrong kind of key).
 */
#ifndef COFFER_CRYPTO_PKEY_H
#define COFFER_CRYPTO_PKEY_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum pkey_use {
	PKEY_SIGN = 1,
	PKEY_WRAP = 2,
};

struct pkey;

/* A fresh key pair of the suite for use. */
int pkey_generate(uint32_t suite, enum pkey_use use, struct pkey **out);
void pkey_free(struct pkey *k); /* accepts NULL; private parts are cleansed */
uint32_t pkey_suite(const struct pkey *k);
enum pkey_use pkey_use(const struct pkey *k);
int pkey_has_private(const struct pkey *k);

/*
 * Public key as PEM (SubjectPublicKeyInfo), the form exchanged with other
 * sites and with `openssl pkey -pubin`. Parsing infers suite and use from
 * the algorithm (Ed25519/X25519/SM2); an SM2 key parsed from PEM is given
 * use `use`, since SM2 keys serve both.
 */
int pkey_public_pem(const struct pkey *k, struct buf *out);
int pkey_from_public_pem(const void *pem, size_t len, enum pkey_use use,
			 struct pkey **out);
/*
 * Private key as PKCS#8 DER, for sealing under another key (never written
 * in the clear by Coffer). out should be wiped by the caller after use.
 * Parsing checks the algorithm matches suite and use.
 */
int pkey_private_der(const struct pkey *k, struct buf *out);
int pkey_from_private_der(const void *der, size_t len, uint32_t suite,
			  enum pkey_use use, struct pkey **out);
/* Reads a PEM private key file as written by `openssl genpkey`. */
int pkey_from_private_pem(const void *pem, size_t len, enum pkey_use use,
			  struct pkey **out);

/* SHA-256 (international) or SM3 (national) of the DER public key. */
int pkey_fingerprint(const struct pkey *k, uint8_t out[32]);

/* Signs msg (the whole message, not a digest) into sig. */
int pkey_sign(const struct pkey *k, const void *msg, size_t len, struct buf *sig);
/* 0 if sig is a valid signature of msg by k, -EBADMSG otherwise. */
int pkey_verify(const struct pkey *k, const void *msg, size_t len,
		const void *sig, size_t sig_len);

/*
 * Encrypts secret for the holder of the private part of recipient (a
 * PKEY_WRAP key); aad is bound to the result and not stored. The output
 * is self-contained: only the recipient's private key opens it.
 */
int pkey_wrap(const struct pkey *recipient, const void *aad, size_t aad_len,
	      const void *secret, size_t len, struct buf *out);
/*
 * Inverse of pkey_wrap with the recipient's private key. The secret is
 * written to out (out_cap bytes available), *out_len set. -EBADMSG if the
 * message was altered, made for another key or with another aad.
 */
int pkey_unwrap(const struct pkey *k, const void *aad, size_t aad_len,
		const void *in, size_t in_len, uint8_t *out, size_t out_cap,
		size_t *out_len);

#endif
