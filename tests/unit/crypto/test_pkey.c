/*
 * Public-key operations (core/crypto/pkey.c) in both suites: signatures
 * made and checked, refused for another key, another message or any
 * altered byte; secrets wrapped for a recipient and opened only by that
 * recipient's private key with the same aad, every byte of a wrapped
 * message tampered; keys carried through PEM and PKCS#8 DER; keys of the
 * wrong kind refused. Known answers for the primitives are in test_kat.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "crypto/crypto.h"
#include "crypto/pkey.h"
#include "util/buf.h"

/* Written by `openssl genpkey -algorithm SM2` (OpenSSL 3.0). */
static const char sm2_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgmtfIZucPKS4bFa4y\n"
	"e4mcVOG0FHdLpmrPEg/e5IFDnVGhRANCAATYIQ9+MRLnSB8xo0Y+kXy72MDff5UA\n"
	"3TQjunVfu4JqciE9W+h98lymIeSVtODpBoZNEyw09PK0vKmbEE7L7CPe\n"
	"-----END PRIVATE KEY-----\n";
/* Written by `openssl genpkey -algorithm ED25519`. */
static const char ed_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIF5DVEx/Ji94j0JQMWdpHYO0NikEnG+1Pp+lcBwaCOuN\n"
	"-----END PRIVATE KEY-----\n";

static const uint32_t suites[] = { SUITE_INTERNATIONAL, SUITE_NATIONAL };

static struct pkey *gen(uint32_t suite, enum pkey_use use)
{
	struct pkey *k = NULL;
	assert_int_equal(pkey_generate(suite, use, &k), 0);
	assert_non_null(k);
	assert_int_equal(pkey_suite(k), suite);
	assert_int_equal(pkey_use(k), use);
	assert_true(pkey_has_private(k));
	return k;
}

/* The public half of k, through PEM. */
static struct pkey *public_of(const struct pkey *k)
{
	struct buf pem = { 0 };
	struct pkey *pub = NULL;
	assert_int_equal(pkey_public_pem(k, &pem), 0);
	assert_true(pem.len > 26);
	assert_memory_equal(pem.data, "-----BEGIN PUBLIC KEY-----", 26);
	assert_int_equal(pkey_from_public_pem(pem.data, pem.len, pkey_use(k), &pub), 0);
	assert_false(pkey_has_private(pub));
	assert_int_equal(pkey_suite(pub), pkey_suite(k));
	buf_fini(&pem);
	return pub;
}

static void test_sign_verify(void **state)
{
	static const char msg[] = "snapshot 0042 approved";
	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct pkey *k = gen(suites[i], PKEY_SIGN);
		struct pkey *other = gen(suites[i], PKEY_SIGN);
		struct pkey *pub = public_of(k);
		struct buf sig = { 0 };

		assert_int_equal(pkey_sign(k, msg, sizeof msg - 1, &sig), 0);
		assert_true(sig.len > 0);
		assert_int_equal(pkey_verify(pub, msg, sizeof msg - 1, sig.data, sig.len), 0);
		assert_int_equal(pkey_verify(k, msg, sizeof msg - 1, sig.data, sig.len), 0);
		/* Another key, another message, a shorter message. */
		assert_int_equal(pkey_verify(other, msg, sizeof msg - 1, sig.data, sig.len),
				 -EBADMSG);
		assert_int_equal(pkey_verify(pub, "snapshot 0043 approved", sizeof msg - 1,
					     sig.data, sig.len), -EBADMSG);
		assert_int_equal(pkey_verify(pub, msg, sizeof msg - 2, sig.data, sig.len),
				 -EBADMSG);
		/* Every byte of the signature matters, and so does its length. */
		for (size_t j = 0; j < sig.len; j++) {
			sig.data[j] ^= 0x01;
			assert_int_equal(pkey_verify(pub, msg, sizeof msg - 1, sig.data,
						     sig.len), -EBADMSG);
			sig.data[j] ^= 0x01;
		}
		assert_int_equal(pkey_verify(pub, msg, sizeof msg - 1, sig.data, sig.len - 1),
				 -EBADMSG);
		assert_int_equal(pkey_verify(pub, msg, sizeof msg - 1, sig.data, 0), -EBADMSG);
		/* A public key cannot sign. */
		assert_int_equal(pkey_sign(pub, msg, 3, &sig), -EINVAL);
		buf_fini(&sig);
		pkey_free(pub);
		pkey_free(other);
		pkey_free(k);
	}
}

static void test_sign_empty_and_large(void **state)
{
	static uint8_t big[200000];
	(void)state;
	memset(big, 0xa5, sizeof big);
	for (size_t i = 0; i < 2; i++) {
		struct pkey *k = gen(suites[i], PKEY_SIGN);
		struct buf sig = { 0 };
		assert_int_equal(pkey_sign(k, "", 0, &sig), 0);
		assert_int_equal(pkey_verify(k, "", 0, sig.data, sig.len), 0);
		buf_reset(&sig);
		assert_int_equal(pkey_sign(k, big, sizeof big, &sig), 0);
		assert_int_equal(pkey_verify(k, big, sizeof big, sig.data, sig.len), 0);
		big[sizeof big - 1] ^= 1;
		assert_int_equal(pkey_verify(k, big, sizeof big, sig.data, sig.len), -EBADMSG);
		big[sizeof big - 1] ^= 1;
		buf_fini(&sig);
		pkey_free(k);
	}
}

static void test_wrap_round_trip(void **state)
{
	uint8_t secret[CRYPTO_KEY_LEN], got[64];
	size_t n = 0;
	(void)state;
	assert_int_equal(crypto_random(secret, sizeof secret), 0);
	for (size_t i = 0; i < 2; i++) {
		struct pkey *k = gen(suites[i], PKEY_WRAP);
		struct pkey *pub = public_of(k);
		struct buf w1 = { 0 }, w2 = { 0 };

		assert_int_equal(pkey_wrap(pub, "dataset 7", 9, secret, sizeof secret, &w1), 0);
		assert_int_equal(pkey_wrap(pub, "dataset 7", 9, secret, sizeof secret, &w2), 0);
		/* Fresh randomness each time. */
		assert_true(w1.len != w2.len || memcmp(w1.data, w2.data, w1.len) != 0);
		assert_int_equal(w1.data[0], suites[i]); /* version byte = suite */

		memset(got, 0, sizeof got);
		assert_int_equal(pkey_unwrap(k, "dataset 7", 9, w1.data, w1.len, got,
					     sizeof got, &n), 0);
		assert_int_equal(n, sizeof secret);
		assert_memory_equal(got, secret, sizeof secret);
		assert_int_equal(pkey_unwrap(k, "dataset 7", 9, w2.data, w2.len, got,
					     sizeof got, &n), 0);
		assert_memory_equal(got, secret, sizeof secret);

		/* Too little room is reported, not truncated. */
		assert_int_equal(pkey_unwrap(k, "dataset 7", 9, w1.data, w1.len, got,
					     sizeof secret - 1, &n), -ENOSPC);
		/* An empty secret and empty aad work too. */
		buf_reset(&w2);
		assert_int_equal(pkey_wrap(pub, NULL, 0, "", 0, &w2), 0);
		assert_int_equal(pkey_unwrap(k, NULL, 0, w2.data, w2.len, got, sizeof got,
					     &n), 0);
		assert_int_equal(n, 0);

		/* Only the private key unwraps. */
		assert_int_equal(pkey_unwrap(pub, "dataset 7", 9, w1.data, w1.len, got,
					     sizeof got, &n), -EINVAL);
		buf_fini(&w1);
		buf_fini(&w2);
		pkey_free(pub);
		pkey_free(k);
	}
}

static void test_wrap_refusals(void **state)
{
	uint8_t secret[48], got[64];
	size_t n = 12345;
	(void)state;
	assert_int_equal(crypto_random(secret, sizeof secret), 0);
	for (size_t i = 0; i < 2; i++) {
		struct pkey *k = gen(suites[i], PKEY_WRAP);
		struct pkey *other = gen(suites[i], PKEY_WRAP);
		struct pkey *foreign = gen(suites[1 - i], PKEY_WRAP);
		struct buf w = { 0 };

		assert_int_equal(pkey_wrap(k, "aad", 3, secret, sizeof secret, &w), 0);
		/* Another recipient, another suite's key, another aad. */
		assert_int_equal(pkey_unwrap(other, "aad", 3, w.data, w.len, got,
					     sizeof got, &n), -EBADMSG);
		assert_int_equal(pkey_unwrap(foreign, "aad", 3, w.data, w.len, got,
					     sizeof got, &n), -EBADMSG);
		assert_int_equal(pkey_unwrap(k, "aae", 3, w.data, w.len, got,
					     sizeof got, &n), -EBADMSG);
		assert_int_equal(pkey_unwrap(k, "aa", 2, w.data, w.len, got,
					     sizeof got, &n), -EBADMSG);
		/* Every byte flipped, and every truncation. */
		for (size_t j = 0; j < w.len; j++) {
			w.data[j] ^= 0x80;
			assert_int_equal(pkey_unwrap(k, "aad", 3, w.data, w.len, got,
						     sizeof got, &n), -EBADMSG);
			w.data[j] ^= 0x80;
		}
		for (size_t j = 0; j < w.len; j++)
			assert_int_equal(pkey_unwrap(k, "aad", 3, w.data, j, got,
						     sizeof got, &n), -EBADMSG);
		/* A byte appended is not ignored. */
		assert_int_equal(buf_put_u8(&w, 0), 0);
		assert_int_equal(pkey_unwrap(k, "aad", 3, w.data, w.len, got,
					     sizeof got, &n), -EBADMSG);
		assert_int_equal(n, 12345); /* out-params untouched on failure */

		/* Signing keys neither wrap nor unwrap. */
		struct pkey *s = gen(suites[i], PKEY_SIGN);
		assert_int_equal(pkey_wrap(s, NULL, 0, secret, 1, &w), -EINVAL);
		assert_int_equal(pkey_unwrap(s, NULL, 0, w.data, w.len, got, sizeof got, &n),
				 -EINVAL);
		/* A wrapping key does not sign. */
		assert_int_equal(pkey_sign(k, "x", 1, &w), -EINVAL);
		pkey_free(s);
		buf_fini(&w);
		pkey_free(foreign);
		pkey_free(other);
		pkey_free(k);
	}
}

static void test_private_der_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < 2; i++) {
		for (enum pkey_use use = PKEY_SIGN; use <= PKEY_WRAP; use++) {
			struct pkey *k = gen(suites[i], use), *k2 = NULL, *bad = NULL;
			struct buf der = { 0 };
			uint8_t f1[32], f2[32];

			assert_int_equal(pkey_private_der(k, &der), 0);
			assert_int_equal(pkey_from_private_der(der.data, der.len, suites[i],
							       use, &k2), 0);
			assert_true(pkey_has_private(k2));
			assert_int_equal(pkey_fingerprint(k, f1), 0);
			assert_int_equal(pkey_fingerprint(k2, f2), 0);
			assert_memory_equal(f1, f2, 32);
			/* Wrong suite, truncated, trailing byte. */
			assert_int_equal(pkey_from_private_der(der.data, der.len,
							       suites[1 - i], use, &bad),
					 -EINVAL);
			assert_int_equal(pkey_from_private_der(der.data, der.len - 1,
							       suites[i], use, &bad),
					 -EBADMSG);
			assert_int_equal(buf_put_u8(&der, 0), 0);
			assert_int_equal(pkey_from_private_der(der.data, der.len, suites[i],
							       use, &bad), -EBADMSG);
			assert_null(bad);

			/* The reloaded key does the key's job. */
			struct buf out = { 0 };
			uint8_t got[8];
			size_t n = 0;
			if (use == PKEY_SIGN) {
				assert_int_equal(pkey_sign(k2, "m", 1, &out), 0);
				assert_int_equal(pkey_verify(k, "m", 1, out.data, out.len), 0);
			} else {
				assert_int_equal(pkey_wrap(k, NULL, 0, "secret", 6, &out), 0);
				assert_int_equal(pkey_unwrap(k2, NULL, 0, out.data, out.len, got,
							     sizeof got, &n), 0);
				assert_memory_equal(got, "secret", 6);
			}
			buf_fini(&out);
			buf_fini(&der);
			pkey_free(k2);
			pkey_free(k);
		}
	}
}

static void test_pem_files(void **state)
{
	struct pkey *k = NULL, *pub = NULL;
	struct buf pem = { 0 }, sig = { 0 };
	uint8_t f1[32], f2[32];
	(void)state;

	/* An openssl-written SM2 key serves both uses. */
	assert_int_equal(pkey_from_private_pem(sm2_pem, sizeof sm2_pem - 1, PKEY_SIGN, &k), 0);
	assert_int_equal(pkey_suite(k), SUITE_NATIONAL);
	assert_int_equal(pkey_sign(k, "abc", 3, &sig), 0);
	assert_int_equal(pkey_public_pem(k, &pem), 0);
	assert_int_equal(pkey_from_public_pem(pem.data, pem.len, PKEY_SIGN, &pub), 0);
	assert_int_equal(pkey_verify(pub, "abc", 3, sig.data, sig.len), 0);
	assert_int_equal(pkey_fingerprint(k, f1), 0);
	assert_int_equal(pkey_fingerprint(pub, f2), 0);
	assert_memory_equal(f1, f2, 32);
	pkey_free(pub);
	pub = NULL;
	assert_int_equal(pkey_from_public_pem(pem.data, pem.len, PKEY_WRAP, &pub), 0);
	assert_int_equal(pkey_use(pub), PKEY_WRAP);
	pkey_free(pub);
	pub = NULL;
	pkey_free(k);
	k = NULL;

	/* Ed25519 only signs. */
	assert_int_equal(pkey_from_private_pem(ed_pem, sizeof ed_pem - 1, PKEY_WRAP, &k),
			 -EINVAL);
	assert_null(k);
	assert_int_equal(pkey_from_private_pem(ed_pem, sizeof ed_pem - 1, PKEY_SIGN, &k), 0);
	assert_int_equal(pkey_suite(k), SUITE_INTERNATIONAL);
	pkey_free(k);
	k = NULL;

	/* Garbage and a damaged PEM body are refused. */
	assert_int_equal(pkey_from_public_pem("hello", 5, PKEY_SIGN, &pub), -EBADMSG);
	pem.data[pem.len / 2] = '!';
	assert_int_equal(pkey_from_public_pem(pem.data, pem.len, PKEY_SIGN, &pub), -EBADMSG);
	assert_int_equal(pkey_from_private_pem(sm2_pem, 40, PKEY_SIGN, &k), -EBADMSG);
	assert_null(pub);
	assert_null(k);
	buf_fini(&pem);
	buf_fini(&sig);
}

static void test_fingerprints_differ(void **state)
{
	uint8_t f1[32], f2[32];
	(void)state;
	struct pkey *a = gen(SUITE_NATIONAL, PKEY_SIGN), *b = gen(SUITE_NATIONAL, PKEY_SIGN);
	assert_int_equal(pkey_fingerprint(a, f1), 0);
	assert_int_equal(pkey_fingerprint(b, f2), 0);
	assert_memory_not_equal(f1, f2, 32);
	pkey_free(a);
	pkey_free(b);
	pkey_free(NULL);
	assert_int_equal(pkey_generate(3, PKEY_SIGN, &a), -EINVAL);
	assert_int_equal(pkey_generate(SUITE_INTERNATIONAL, 0, &a), -EINVAL);
}

/*
 * Private keys live in OpenSSL's secure heap (locked, not dumped, wiped
 * on free) once pkey has made it: generating keys of both suites uses it
 * and freeing them gives it back.
 */
static void test_private_keys_in_secure_heap(void **state)
{
	(void)state;
	struct pkey *k = gen(SUITE_INTERNATIONAL, PKEY_SIGN);
	if (!CRYPTO_secure_malloc_initialized()) {
		pkey_free(k);
		skip(); /* mmap or mlock refused here */
	}
	size_t base = CRYPTO_secure_used();
	assert_true(base > 0);
	struct pkey *w = gen(SUITE_INTERNATIONAL, PKEY_WRAP);
	struct pkey *n = gen(SUITE_NATIONAL, PKEY_SIGN);
	assert_true(CRYPTO_secure_used() > base);
	pkey_free(w);
	pkey_free(n);
	assert_int_equal(CRYPTO_secure_used(), base);
	pkey_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_private_keys_in_secure_heap),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_sign_empty_and_large),
		cmocka_unit_test(test_wrap_round_trip),
		cmocka_unit_test(test_wrap_refusals),
		cmocka_unit_test(test_private_der_round_trip),
		cmocka_unit_test(test_pem_files),
		cmocka_unit_test(test_fingerprints_differ),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
