/*
 * Crypto module tests. Known-answer tests pin each primitive to its
 * standard (FIPS 180-2 SHA-256, RFC 4231 HMAC, RFC 5869 HKDF, RFC 7914
 * scrypt, the GCM specification's test case 14), so a wrong parameter
 * wiring (salt, info, tag length, nonce position) fails here rather than
 * silently producing a repository no other implementation can read. The
 * AEAD tests then check that every single-bit change to a sealed message,
 * and every change of key or associated data, is rejected and wipes the
 * output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/hex.h"

/* Decodes a hex literal of exactly n bytes; fails the test otherwise. */
static void unhex(const char *s, uint8_t *out, size_t n)
{
	assert_int_equal(hex_decode(s, out, n), 0);
}

static void assert_hex(const uint8_t *p, size_t n, const char *want)
{
	char got[2 * 128 + 1];

	assert_true(n <= 128);
	hex_encode(p, n, got);
	assert_string_equal(got, want);
}

static void test_sha256(void **state)
{
	uint8_t out[CRYPTO_HASH_LEN];
	static const char two_blocks[] =
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char two_blocks_sum[] =
		"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";

	(void)state;
	assert_int_equal(crypto_sha256("abc", 3, out), 0);
	assert_hex(out, sizeof out,
		   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(crypto_sha256(two_blocks, strlen(two_blocks), out), 0);
	assert_hex(out, sizeof out, two_blocks_sum);

	/* Incremental, split at every position: same digest. */
	for (size_t cut = 0; cut <= strlen(two_blocks); cut++) {
		struct hash_ctx *c = sha256_new();

		assert_non_null(c);
		assert_int_equal(hash_update(c, two_blocks, cut), 0);
		assert_int_equal(hash_update(c, two_blocks + cut,
					       strlen(two_blocks) - cut), 0);
		memset(out, 0, sizeof out);
		assert_int_equal(hash_final(c, out), 0);
		assert_hex(out, sizeof out, two_blocks_sum);
		/* A finished context refuses further use. */
		assert_int_equal(hash_update(c, "x", 1), -EINVAL);
		assert_int_equal(hash_final(c, out), -EINVAL);
		hash_free(c);
	}
	hash_free(NULL);
}

static void test_hmac_rfc4231(void **state)
{
	uint8_t key[20], out[CRYPTO_HASH_LEN];
	static const char what[] = "what do ya want for nothing?";

	(void)state;
	/* Test case 1. */
	memset(key, 0x0b, sizeof key);
	assert_int_equal(crypto_hmac_sha256(key, sizeof key, "Hi There", 8, out), 0);
	assert_hex(out, sizeof out,
		   "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	/* Test case 2. */
	assert_int_equal(crypto_hmac_sha256((const uint8_t *)"Jefe", 4, what,
					    strlen(what), out), 0);
	assert_hex(out, sizeof out,
		   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_suite_mac(void **state)
{
	const struct suite *s = suite_by_id(SUITE_INTERNATIONAL);
	uint8_t key[CRYPTO_KEY_LEN], a[CRYPTO_HASH_LEN], b[CRYPTO_HASH_LEN];

	(void)state;
	assert_non_null(s);
	memset(key, 0x42, sizeof key);
	/* Suite 1's MAC is HMAC-SHA-256 under the 32-byte key. */
	assert_int_equal(suite_mac(s, key, "data", 4, a), 0);
	assert_int_equal(crypto_hmac_sha256(key, sizeof key, "data", 4, b), 0);
	assert_memory_equal(a, b, sizeof a);
	key[31] ^= 1;
	assert_int_equal(suite_mac(s, key, "data", 4, b), 0);
	assert_memory_not_equal(a, b, sizeof a);
	/* Empty input is a valid message. */
	assert_int_equal(suite_mac(s, key, NULL, 0, a), 0);
}

static void test_hkdf_rfc5869(void **state)
{
	uint8_t ikm[22], okm[42], again[42];

	(void)state;
	/* Test case 3: no salt, no info. */
	memset(ikm, 0x0b, sizeof ikm);
	assert_int_equal(crypto_hkdf(ikm, sizeof ikm, "", okm, sizeof okm), 0);
	assert_hex(okm, sizeof okm,
		   "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
		   "9d201395faa4b61a96c8");
	/* NULL info means the same as empty info. */
	assert_int_equal(crypto_hkdf(ikm, sizeof ikm, NULL, again, sizeof again), 0);
	assert_memory_equal(okm, again, sizeof okm);
	/* Different info strings give unrelated keys. */
	assert_int_equal(crypto_hkdf(ikm, sizeof ikm, "coffer/v1 data", again,
				     sizeof again), 0);
	assert_memory_not_equal(okm, again, sizeof okm);
	/* L = 0 and L > 255 * HashLen are outside RFC 5869. */
	assert_int_equal(crypto_hkdf(ikm, sizeof ikm, "", okm, 0), -EINVAL);
}

static void test_hkdf_long_output(void **state)
{
	static uint8_t big[255 * CRYPTO_HASH_LEN + 1];
	uint8_t ikm[32] = { 1 };

	(void)state;
	assert_int_equal(crypto_hkdf(ikm, sizeof ikm, "x", big, sizeof big - 1), 0);
	assert_int_equal(crypto_hkdf(ikm, sizeof ikm, "x", big, sizeof big), -EINVAL);
}

static void test_scrypt_rfc7914(void **state)
{
	uint8_t out[64], salt[4];

	(void)state;
	memcpy(salt, "NaCl", 4);
	assert_int_equal(crypto_scrypt("password", 8, salt, 4, 1024, 8, 16, out,
				       sizeof out), 0);
	assert_hex(out, sizeof out,
		   "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
		   "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
	/* N must be a power of two greater than one; r, p nonzero. */
	assert_int_equal(crypto_scrypt("p", 1, salt, 4, 1000, 8, 1, out, 32), -EINVAL);
	assert_int_equal(crypto_scrypt("p", 1, salt, 4, 1, 8, 1, out, 32), -EINVAL);
	assert_int_equal(crypto_scrypt("p", 1, salt, 4, 16, 0, 1, out, 32), -EINVAL);
	assert_int_equal(crypto_scrypt("p", 1, salt, 4, 16, 8, 0, out, 32), -EINVAL);
}

static void test_gcm_known_answer(void **state)
{
	const struct suite *s = suite_by_id(SUITE_INTERNATIONAL);
	uint8_t key[CRYPTO_KEY_LEN] = { 0 }, in[AEAD_OVERHEAD + 16], pt[16];
	static const uint8_t zero[16];

	(void)state;
	assert_non_null(s);
	/* GCM spec test case 14 (256-bit key) as nonce || C || T. */
	memset(in, 0, AEAD_NONCE_LEN);
	unhex("cea7403d4d606b6e074ec5d3baf39d18", in + AEAD_NONCE_LEN, 16);
	unhex("d0d1c8a799996bf0265b98b5d48ab919", in + AEAD_NONCE_LEN + 16, 16);
	memset(pt, 0xaa, sizeof pt);
	assert_int_equal(suite_open(s, key, NULL, 0, in, sizeof in, pt), 0);
	assert_memory_equal(pt, zero, sizeof pt);
	/* A wrong tag is refused and the output wiped. */
	in[sizeof in - 1] ^= 0x80;
	memset(pt, 0xaa, sizeof pt);
	assert_int_equal(suite_open(s, key, NULL, 0, in, sizeof in, pt), -EBADMSG);
	assert_memory_equal(pt, zero, sizeof pt);
}

/* Seals pt under key/aad, checks the layout and returns the sealed length. */
static size_t seal(const struct suite *s, const uint8_t *key, const char *aad,
		   const uint8_t *pt, size_t pt_len, uint8_t *out)
{
	assert_int_equal(suite_seal(s, key, aad, aad ? strlen(aad) : 0, pt, pt_len,
				    out), 0);
	return pt_len + AEAD_OVERHEAD;
}

static void test_seal_open_round_trip(void **state)
{
	const struct suite *s = suite_by_id(SUITE_INTERNATIONAL);
	uint8_t key[CRYPTO_KEY_LEN], pt[1000], ct[1000 + AEAD_OVERHEAD], back[1000];
	static const size_t lens[] = { 0, 1, 15, 16, 17, 100, 1000 };

	(void)state;
	assert_int_equal(crypto_random(key, sizeof key), 0);
	for (size_t i = 0; i < sizeof pt; i++)
		pt[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		size_t n = seal(s, key, "aad", pt, lens[i], ct);

		memset(back, 0, sizeof back);
		assert_int_equal(suite_open(s, key, "aad", 3, ct, n, back), 0);
		if (lens[i])
			assert_memory_equal(back, pt, lens[i]);
		/* The ciphertext is not the plaintext. */
		if (lens[i] >= 16)
			assert_memory_not_equal(ct + AEAD_NONCE_LEN, pt, lens[i]);
	}
	/* Without associated data too. */
	size_t n = seal(s, key, NULL, pt, 64, ct);
	assert_int_equal(suite_open(s, key, NULL, 0, ct, n, back), 0);
	assert_memory_equal(back, pt, 64);
	/* Shorter than the overhead: cannot be a sealed message. */
	assert_int_equal(suite_open(s, key, NULL, 0, ct, AEAD_OVERHEAD - 1, back),
			 -EBADMSG);
}

static void test_tamper(void **state)
{
	const struct suite *s = suite_by_id(SUITE_INTERNATIONAL);
	uint8_t key[CRYPTO_KEY_LEN], key2[CRYPTO_KEY_LEN], pt[40];
	uint8_t ct[40 + AEAD_OVERHEAD], back[40];
	static const uint8_t zero[40];

	(void)state;
	assert_int_equal(crypto_random(key, sizeof key), 0);
	memcpy(key2, key, sizeof key);
	key2[0] ^= 1;
	memset(pt, 0x5c, sizeof pt);
	size_t n = seal(s, key, "header", pt, sizeof pt, ct);

	/* Every single-bit flip of nonce, ciphertext or tag. */
	for (size_t bit = 0; bit < 8 * n; bit++) {
		ct[bit / 8] ^= (uint8_t)(1u << bit % 8);
		memset(back, 0xee, sizeof back);
		assert_int_equal(suite_open(s, key, "header", 6, ct, n, back), -EBADMSG);
		assert_memory_equal(back, zero, sizeof back);
		ct[bit / 8] ^= (uint8_t)(1u << bit % 8);
	}
	/* Different associated data: changed, truncated, extended, absent. */
	assert_int_equal(suite_open(s, key, "headeR", 6, ct, n, back), -EBADMSG);
	assert_int_equal(suite_open(s, key, "heade", 5, ct, n, back), -EBADMSG);
	assert_int_equal(suite_open(s, key, "header!", 7, ct, n, back), -EBADMSG);
	assert_int_equal(suite_open(s, key, NULL, 0, ct, n, back), -EBADMSG);
	/* A different key. */
	assert_int_equal(suite_open(s, key2, "header", 6, ct, n, back), -EBADMSG);
	/* A truncated sealed message. */
	assert_int_equal(suite_open(s, key, "header", 6, ct, n - 1, back), -EBADMSG);
	/* And the untouched message still opens. */
	assert_int_equal(suite_open(s, key, "header", 6, ct, n, back), 0);
	assert_memory_equal(back, pt, sizeof pt);
}

static void test_fresh_nonces(void **state)
{
	const struct suite *s = suite_by_id(SUITE_INTERNATIONAL);
	uint8_t key[CRYPTO_KEY_LEN] = { 7 }, pt[32] = { 0 };
	uint8_t a[32 + AEAD_OVERHEAD], b[32 + AEAD_OVERHEAD];

	(void)state;
	seal(s, key, "x", pt, sizeof pt, a);
	seal(s, key, "x", pt, sizeof pt, b);
	assert_memory_not_equal(a, b, AEAD_NONCE_LEN);
	assert_memory_not_equal(a + AEAD_NONCE_LEN, b + AEAD_NONCE_LEN, sizeof pt);
}

static void test_suite_lookup(void **state)
{
	const struct suite *s = suite_by_id(1);

	(void)state;
	assert_non_null(s);
	assert_int_equal(suite_id(s), SUITE_INTERNATIONAL);
	assert_non_null(suite_name(s));
	assert_true(strlen(suite_name(s)) > 0);
	assert_null(suite_by_id(0));
	assert_non_null(suite_by_id(SUITE_NATIONAL));
	assert_ptr_equal(suite_by_name("national"), suite_by_id(SUITE_NATIONAL));
	assert_ptr_equal(suite_by_name("international"), s);
	assert_ptr_equal(suite_by_name("sm4ctr-hmacsm3"), suite_by_id(SUITE_NATIONAL));
	assert_null(suite_by_name("rot13"));
	assert_null(suite_by_id(99));
	assert_null(suite_by_id(UINT32_MAX));
}

static void test_memcmp_random(void **state)
{
	uint8_t a[32], b[32];

	(void)state;
	assert_int_equal(crypto_random(a, sizeof a), 0);
	assert_int_equal(crypto_random(b, sizeof b), 0);
	assert_memory_not_equal(a, b, sizeof a);
	assert_int_equal(crypto_random(a, 0), 0);

	memcpy(b, a, sizeof a);
	assert_int_equal(crypto_memcmp(a, b, sizeof a), 0);
	assert_int_equal(crypto_memcmp(a, b, 0), 0);
	b[0] ^= 1;
	assert_int_not_equal(crypto_memcmp(a, b, sizeof a), 0);
	b[0] ^= 1;
	b[31] ^= 0x80;
	assert_int_not_equal(crypto_memcmp(a, b, sizeof a), 0);
	assert_int_equal(crypto_memcmp(a, b, 31), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_suite_mac),
		cmocka_unit_test(test_hkdf_rfc5869),
		cmocka_unit_test(test_hkdf_long_output),
		cmocka_unit_test(test_scrypt_rfc7914),
		cmocka_unit_test(test_gcm_known_answer),
		cmocka_unit_test(test_seal_open_round_trip),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_fresh_nonces),
		cmocka_unit_test(test_suite_lookup),
		cmocka_unit_test(test_memcmp_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
