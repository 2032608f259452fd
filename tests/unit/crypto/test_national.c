/*
 * The national suite (suite 2): known answers from the standards for SM3
 * (GB/T 32905-2016, appendix A) through the suite's own hash, and for SM4
 * (GB/T 32907-2016, appendix A) of the OpenSSL cipher the suite's CTR mode
 * runs on; the sealed-message construction of docs/format/crypto.md
 * section 6 rebuilt step by step from those primitives and compared byte
 * for byte; tamper detection of every byte; and separation from suite 1.
 * The test calls EVP directly only to recompute what crypto.c must
 * produce, independently of it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto/crypto.h"
#include "util/buf.h"
#include "util/hex.h"

static const struct suite *nat(void)
{
	const struct suite *s = suite_by_id(SUITE_NATIONAL);
	assert_non_null(s);
	return s;
}

static void assert_hex(const uint8_t *got, size_t n, const char *want)
{
	char hex[129];
	hex_encode(got, n, hex);
	assert_string_equal(hex, want);
}

static void test_sm3_kat(void **state)
{
	uint8_t out[32];
	char msg[65];
	(void)state;
	/* GB/T 32905-2016 A.1: "abc". */
	assert_int_equal(suite_hash(nat(), "abc", 3, out), 0);
	assert_hex(out, 32, "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
	/* A.2: "abcd" repeated 16 times (512 bits). */
	for (int i = 0; i < 16; i++)
		memcpy(msg + 4 * i, "abcd", 4);
	assert_int_equal(suite_hash(nat(), msg, 64, out), 0);
	assert_hex(out, 32, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
	/* Incremental, split mid-block, gives the same. */
	struct hash_ctx *c = suite_hash_new(nat());
	assert_non_null(c);
	assert_int_equal(hash_update(c, msg, 13), 0);
	assert_int_equal(hash_update(c, msg + 13, 51), 0);
	assert_int_equal(hash_final(c, out), 0);
	hash_free(c);
	assert_hex(out, 32, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
}

/* SM4 of one block under key, through EVP (ECB, no padding). */
static void sm4_block(const uint8_t key[16], const uint8_t in[16], uint8_t out[16])
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "SM4-ECB", NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0;
	assert_non_null(c);
	assert_int_equal(EVP_EncryptInit_ex2(ctx, c, key, NULL, NULL), 1);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	assert_int_equal(EVP_EncryptUpdate(ctx, out, &n, in, 16), 1);
	assert_int_equal(n, 16);
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
}

static void test_sm4_kat(void **state)
{
	uint8_t key[16], out[16];
	(void)state;
	/* GB/T 32907-2016 A.1: key = plaintext = 0123456789abcdeffedcba9876543210. */
	assert_int_equal(hex_decode("0123456789abcdeffedcba9876543210", key, 16), 0);
	sm4_block(key, key, out);
	assert_hex(out, 16, "681edf34d206965e86b3e94f536e4246");
}

/* The construction of section 6, recomputed from the primitives. */
static void test_construction(void **state)
{
	uint8_t key[32], pt[100], sealed[100 + AEAD_OVERHEAD];
	uint8_t enc[16], mk[32], iv[16] = { 0 }, ct[100], tag[32];
	const char aad[] = "coffer blob v1 example";
	(void)state;
	for (size_t i = 0; i < sizeof key; i++)
		key[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof pt; i++)
		pt[i] = (uint8_t)i;
	assert_int_equal(suite_seal(nat(), key, aad, strlen(aad), pt, sizeof pt, sealed), 0);

	assert_int_equal(suite_kdf(nat(), key, 32, "coffer/v1 sm4-ctr enc", enc, 16), 0);
	assert_int_equal(suite_kdf(nat(), key, 32, "coffer/v1 hmac-sm3 tag", mk, 32), 0);
	memcpy(iv, sealed, AEAD_NONCE_LEN);
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "SM4-CTR", NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0;
	assert_int_equal(EVP_EncryptInit_ex2(ctx, c, enc, iv, NULL), 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, ct, &n, pt, sizeof pt), 1);
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	assert_memory_equal(sealed + AEAD_NONCE_LEN, ct, sizeof ct);
	/* The first keystream block is SM4(enc, nonce || 00000000). */
	uint8_t ks0[16];
	sm4_block(enc, iv, ks0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(ct[i], pt[i] ^ ks0[i]);

	struct buf m = { 0 };
	uint8_t len8[8];
	assert_int_equal(buf_put(&m, "coffer sm4ctr-hmacsm3 v1", 24), 0);
	le64_put(len8, strlen(aad));
	assert_int_equal(buf_put(&m, len8, 8), 0);
	assert_int_equal(buf_put(&m, aad, strlen(aad)), 0);
	assert_int_equal(buf_put(&m, sealed, AEAD_NONCE_LEN), 0);
	le64_put(len8, sizeof ct);
	assert_int_equal(buf_put(&m, len8, 8), 0);
	assert_int_equal(buf_put(&m, ct, sizeof ct), 0);
	unsigned int tl = 0;
	assert_non_null(HMAC(EVP_sm3(), mk, 32, m.data, m.len, tag, &tl));
	assert_int_equal(tl, 32);
	buf_fini(&m);
	assert_memory_equal(sealed + AEAD_NONCE_LEN + sizeof pt, tag, AEAD_TAG_LEN);

	/* MAC (blob IDs) is plain HMAC-SM3. */
	uint8_t id[32], want[32];
	assert_int_equal(suite_mac(nat(), key, pt, sizeof pt, id), 0);
	assert_non_null(HMAC(EVP_sm3(), key, 32, pt, sizeof pt, want, &tl));
	assert_memory_equal(id, want, 32);
}

static void test_tamper(void **state)
{
	uint8_t key[32] = { 9 }, other[32] = { 8 }, pt[40], sealed[40 + AEAD_OVERHEAD], out[40];
	(void)state;
	memset(pt, 'p', sizeof pt);
	assert_int_equal(suite_seal(nat(), key, "aad", 3, pt, sizeof pt, sealed), 0);
	assert_int_equal(suite_open(nat(), key, "aad", 3, sealed, sizeof sealed, out), 0);
	assert_memory_equal(out, pt, sizeof pt);
	for (size_t i = 0; i < sizeof sealed; i++) {
		sealed[i] ^= 0x01;
		assert_int_equal(suite_open(nat(), key, "aad", 3, sealed, sizeof sealed, out),
				 -EBADMSG);
		sealed[i] ^= 0x01;
	}
	assert_int_equal(suite_open(nat(), key, "aaD", 3, sealed, sizeof sealed, out), -EBADMSG);
	assert_int_equal(suite_open(nat(), other, "aad", 3, sealed, sizeof sealed, out), -EBADMSG);
	assert_int_equal(suite_open(nat(), key, "aad", 3, sealed, AEAD_OVERHEAD - 1, out),
			 -EBADMSG);
	/* The international suite cannot open it, nor the reverse. */
	const struct suite *intl = suite_by_id(SUITE_INTERNATIONAL);
	assert_int_equal(suite_open(intl, key, "aad", 3, sealed, sizeof sealed, out), -EBADMSG);
	assert_int_equal(suite_seal(intl, key, "aad", 3, pt, sizeof pt, sealed), 0);
	assert_int_equal(suite_open(nat(), key, "aad", 3, sealed, sizeof sealed, out), -EBADMSG);
	/* Empty plaintext works and is authenticated. */
	assert_int_equal(suite_seal(nat(), key, "", 0, pt, 0, sealed), 0);
	assert_int_equal(suite_open(nat(), key, "", 0, sealed, AEAD_OVERHEAD, out), 0);
	sealed[AEAD_OVERHEAD - 1] ^= 1;
	assert_int_equal(suite_open(nat(), key, "", 0, sealed, AEAD_OVERHEAD, out), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sm3_kat),
		cmocka_unit_test(test_sm4_kat),
		cmocka_unit_test(test_construction),
		cmocka_unit_test(test_tamper),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
