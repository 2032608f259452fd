/*
 * Blob sealing tests: round trips in both compression modes and the choice
 * between them, the empty blob, the associated-data layout of
 * docs/format/crypto.md (rebuilt here independently and checked against
 * what blob_seal produces), and rejection of every kind of tampering: bytes
 * of the sealed blob, each field of the entry, wrong keys, and sealed blobs
 * whose lengths contradict their entry even though they authenticate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "crypto/crypto.h"
#include "repo/blob.h"
#include "util/buf.h"

static const uint8_t data_key[CRYPTO_KEY_LEN] = { 0xda, 0x7a };
static const uint8_t id_key[CRYPTO_KEY_LEN] = { 0x1d };

static const struct suite *S(void)
{
	const struct suite *s = suite_by_id(SUITE_INTERNATIONAL);

	assert_non_null(s);
	return s;
}

static uint8_t *random_data(size_t len)
{
	uint8_t *d = malloc(len ? len : 1);

	assert_non_null(d);
	assert_int_equal(crypto_random(d, len), 0);
	return d;
}

static uint8_t *text_data(size_t len)
{
	static const char line[] = "Coffer keeps every version of every file. ";
	uint8_t *d = malloc(len ? len : 1);

	assert_non_null(d);
	for (size_t i = 0; i < len; i++)
		d[i] = (uint8_t)line[i % (sizeof line - 1)];
	return d;
}

/* Seals data as type t at level, appending to out; returns the entry. */
static struct blob_entry seal(const void *data, size_t len, enum blob_type t,
			      int level, struct buf *out)
{
	struct blob_entry e;

	memset(&e, 0, sizeof e);
	e.type = (uint8_t)t;
	e.offset = 0xdeadbeef;
	assert_int_equal(blob_id(S(), id_key, data, len, e.id), 0);
	assert_int_equal(blob_seal(S(), data_key, &e, data, len, level, out), 0);
	assert_int_equal(e.type, t);
	assert_int_equal(e.offset, 0xdeadbeef); /* not blob_seal's business */
	assert_int_equal(e.raw_len, len);
	return e;
}

static void expect_open(const struct blob_entry *e, const uint8_t *sealed,
			const void *data, size_t len)
{
	struct buf out = { 0 };

	assert_int_equal(buf_put(&out, "stale", 5), 0);
	assert_int_equal(blob_open(S(), data_key, id_key, e, sealed, e->stored_len,
				   &out), 0);
	assert_int_equal(out.len, len);
	if (len)
		assert_memory_equal(out.data, data, len);
	buf_fini(&out);
}

static void expect_bad(const struct blob_entry *e, const uint8_t *sealed,
		       size_t sealed_len)
{
	struct buf out = { 0 };

	assert_int_equal(blob_open(S(), data_key, id_key, e, sealed, sealed_len,
				   &out), -EBADMSG);
	assert_int_equal(out.len, 0);
	buf_fini(&out);
}

static void test_id(void **state)
{
	uint8_t a[BLOB_ID_LEN], b[BLOB_ID_LEN];

	(void)state;
	/* The ID is the suite MAC under the ID key. */
	assert_int_equal(blob_id(S(), id_key, "abc", 3, a), 0);
	assert_int_equal(crypto_hmac_sha256(id_key, sizeof id_key, "abc", 3, b), 0);
	assert_memory_equal(a, b, sizeof a);
}

static void test_round_trip_compressible(void **state)
{
	size_t len = 100000;
	uint8_t *d = text_data(len);
	struct buf out = { 0 };

	(void)state;
	struct blob_entry e = seal(d, len, BLOB_DATA, 3, &out);
	assert_int_equal(e.comp, BLOB_COMP_ZSTD);
	assert_true(e.stored_len < len / 10);
	assert_int_equal(out.len, e.stored_len);
	expect_open(&e, out.data, d, len);
	buf_fini(&out);
	free(d);
}

static void test_round_trip_random(void **state)
{
	size_t len = 65536;
	uint8_t *d = random_data(len);
	struct buf out = { 0 };

	(void)state;
	struct blob_entry e = seal(d, len, BLOB_TREE, 3, &out);
	/* zstd cannot shrink random bytes: stored raw. */
	assert_int_equal(e.comp, BLOB_COMP_NONE);
	assert_int_equal(e.stored_len, len + AEAD_OVERHEAD);
	expect_open(&e, out.data, d, len);
	buf_fini(&out);
	free(d);
}

/*
 * Large blobs are probed (start, middle, end) before compressing: random
 * ones are stored raw, and one compressible sample is enough to compress.
 */
static void test_incompressible_probe(void **state)
{
	size_t len = 256 << 10;
	struct buf out = { 0 };
	(void)state;
	uint8_t *d = random_data(len);
	struct blob_entry e = seal(d, len, BLOB_DATA, 3, &out);
	assert_int_equal(e.comp, BLOB_COMP_NONE);
	expect_open(&e, out.data, d, len);
	/* Random except a compressible middle: the probe must say compress. */
	uint8_t *t = text_data(64 << 10);
	memcpy(d + len / 2 - (32 << 10), t, 64 << 10);
	buf_reset(&out);
	e = seal(d, len, BLOB_DATA, 3, &out);
	assert_int_equal(e.comp, BLOB_COMP_ZSTD);
	assert_true(e.stored_len < len);
	expect_open(&e, out.data, d, len);
	buf_fini(&out);
	free(t);
	free(d);
}

static void test_comp_choice(void **state)
{
	uint8_t *z = calloc(1, 4096);
	struct buf out = { 0 };

	(void)state;
	assert_non_null(z);
	struct blob_entry e = seal(z, 4096, BLOB_DATA, 1, &out);
	assert_int_equal(e.comp, BLOB_COMP_ZSTD);
	expect_open(&e, out.data, z, 4096);
	/* Level 0 disables compression. */
	buf_reset(&out);
	e = seal(z, 4096, BLOB_DATA, 0, &out);
	assert_int_equal(e.comp, BLOB_COMP_NONE);
	assert_int_equal(e.stored_len, 4096 + AEAD_OVERHEAD);
	expect_open(&e, out.data, z, 4096);
	/* One byte cannot shrink. */
	buf_reset(&out);
	e = seal(z, 1, BLOB_DATA, 19, &out);
	assert_int_equal(e.comp, BLOB_COMP_NONE);
	expect_open(&e, out.data, z, 1);
	buf_fini(&out);
	free(z);
}

static void test_empty(void **state)
{
	struct buf out = { 0 };

	(void)state;
	struct blob_entry e = seal("", 0, BLOB_DATA, 3, &out);
	assert_int_equal(e.comp, BLOB_COMP_NONE);
	assert_int_equal(e.stored_len, AEAD_OVERHEAD);
	expect_open(&e, out.data, "", 0);
	buf_fini(&out);
}

static void test_appends(void **state)
{
	uint8_t *d = text_data(5000);
	struct buf out = { 0 };

	(void)state;
	assert_int_equal(buf_put(&out, "prefix", 6), 0);
	struct blob_entry a = seal(d, 5000, BLOB_DATA, 3, &out);
	struct blob_entry b = seal(d, 77, BLOB_DATA, 0, &out);
	assert_memory_equal(out.data, "prefix", 6);
	assert_int_equal(out.len, 6 + a.stored_len + b.stored_len);
	expect_open(&a, out.data + 6, d, 5000);
	expect_open(&b, out.data + 6 + a.stored_len, d, 77);
	buf_fini(&out);
	free(d);
}

/* The documented AAD, built without blob.c. */
static void doc_aad(const struct blob_entry *e, uint8_t aad[52])
{
	memcpy(aad, "coffer blob v1", 14);
	memcpy(aad + 14, e->id, 32);
	aad[46] = e->type;
	aad[47] = e->comp;
	le32_put(aad + 48, e->raw_len);
}

static void test_aad_layout(void **state)
{
	uint8_t *d = text_data(3000), aad[52];
	struct buf out = { 0 };
	uint8_t pt[3000];

	(void)state;
	struct blob_entry e = seal(d, 3000, BLOB_TREE, 0, &out);
	doc_aad(&e, aad);
	assert_int_equal(suite_open(S(), data_key, aad, sizeof aad, out.data,
				    out.len, pt), 0);
	assert_memory_equal(pt, d, 3000);
	/* Compressed: the sealed bytes are one zstd frame of the plaintext. */
	buf_reset(&out);
	e = seal(d, 3000, BLOB_DATA, 3, &out);
	assert_int_equal(e.comp, BLOB_COMP_ZSTD);
	doc_aad(&e, aad);
	size_t zl = out.len - AEAD_OVERHEAD;
	assert_int_equal(suite_open(S(), data_key, aad, sizeof aad, out.data,
				    out.len, pt), 0);
	uint8_t back[3000];
	assert_int_equal(ZSTD_decompress(back, sizeof back, pt, zl), 3000);
	assert_memory_equal(back, d, 3000);
	buf_fini(&out);
	free(d);
}

static void tamper_bytes(enum blob_comp want, const uint8_t *d, size_t len,
			 int level)
{
	struct buf out = { 0 };

	struct blob_entry e = seal(d, len, BLOB_DATA, level, &out);
	assert_int_equal(e.comp, want);
	/* Every byte: nonce, ciphertext and tag. */
	for (size_t i = 0; i < out.len; i++) {
		out.data[i] ^= 0x01;
		expect_bad(&e, out.data, out.len);
		out.data[i] ^= 0x01;
	}
	/* Truncated or extended sealed bytes. */
	expect_bad(&e, out.data, out.len - 1);
	struct blob_entry f = e;
	f.stored_len--;
	expect_bad(&f, out.data, out.len - 1);
	assert_int_equal(buf_put_u8(&out, 0), 0);
	expect_bad(&e, out.data, out.len);
	f = e;
	f.stored_len++;
	expect_bad(&f, out.data, out.len);
	expect_bad(&e, out.data, AEAD_OVERHEAD - 1);
	f = e;
	f.stored_len = AEAD_OVERHEAD - 1;
	expect_bad(&f, out.data, AEAD_OVERHEAD - 1);
	buf_fini(&out);
}

static void test_tamper_sealed(void **state)
{
	uint8_t *t = text_data(300), *r = random_data(100);

	(void)state;
	tamper_bytes(BLOB_COMP_ZSTD, t, 300, 3);
	tamper_bytes(BLOB_COMP_NONE, r, 100, 3);
	free(t);
	free(r);
}

static void test_tamper_entry(void **state)
{
	uint8_t *d = text_data(2000), *r = random_data(100);
	struct buf out = { 0 }, raw = { 0 };

	(void)state;
	struct blob_entry e = seal(d, 2000, BLOB_DATA, 3, &out);
	struct blob_entry n = seal(r, 100, BLOB_DATA, 3, &raw);

	assert_int_equal(e.comp, BLOB_COMP_ZSTD);
	assert_int_equal(n.comp, BLOB_COMP_NONE);
	expect_open(&e, out.data, d, 2000);

	/* Each field the AAD binds, on the compressed and on the raw blob. */
	struct blob_entry bz[9], br[4];
	for (size_t i = 0; i < 9; i++)
		bz[i] = e;
	for (size_t i = 0; i < 4; i++)
		br[i] = n;
	bz[0].type = BLOB_TREE;
	bz[1].type = 0xff;
	bz[2].comp = BLOB_COMP_NONE;
	bz[3].comp = 7;
	bz[4].raw_len++;
	bz[5].raw_len--;
	bz[6].raw_len = BLOB_MAX_SIZE + 1;
	bz[7].id[0] ^= 1;
	bz[8].id[31] ^= 0x80;
	br[0].type = BLOB_TREE;
	br[1].comp = BLOB_COMP_ZSTD;
	br[2].raw_len--;
	br[3].id[5] ^= 4;
	for (size_t i = 0; i < 9; i++)
		expect_bad(&bz[i], out.data, out.len);
	for (size_t i = 0; i < 4; i++)
		expect_bad(&br[i], raw.data, raw.len);
	/* The offset is where the blob lies, not part of what it is. */
	n.offset = 12345;
	expect_open(&n, raw.data, r, 100);
	buf_fini(&out);
	buf_fini(&raw);
	free(d);
	free(r);
}

static void test_wrong_keys(void **state)
{
	uint8_t *d = text_data(1000);
	uint8_t other[CRYPTO_KEY_LEN];
	struct buf out = { 0 }, plain = { 0 };

	(void)state;
	memset(other, 0x77, sizeof other);
	struct blob_entry e = seal(d, 1000, BLOB_DATA, 3, &out);
	assert_int_equal(blob_open(S(), other, id_key, &e, out.data, out.len, &plain),
			 -EBADMSG);
	assert_int_equal(plain.len, 0);
	/* Decrypts fine, but the plaintext does not have this ID under this key. */
	assert_int_equal(blob_open(S(), data_key, other, &e, out.data, out.len, &plain),
			 -EBADMSG);
	assert_int_equal(plain.len, 0);
	/* The same with an ID made under another key and sealed with it. */
	struct blob_entry f = { .type = BLOB_DATA };
	assert_int_equal(blob_id(S(), other, d, 1000, f.id), 0);
	buf_reset(&out);
	assert_int_equal(blob_seal(S(), data_key, &f, d, 1000, 3, &out), 0);
	expect_bad(&f, out.data, out.len);
	buf_fini(&out);
	buf_fini(&plain);
	free(d);
}

/*
 * Seals pt with the documented AAD for e, bypassing blob_seal, so that
 * blob_open's own length checks are reached with authentic bytes.
 */
static void seal_by_hand(const struct blob_entry *e, const void *pt,
			 size_t pt_len, struct buf *out)
{
	uint8_t aad[52];

	doc_aad(e, aad);
	buf_reset(out);
	assert_int_equal(buf_reserve(out, pt_len + AEAD_OVERHEAD), 0);
	assert_int_equal(suite_seal(S(), data_key, aad, sizeof aad, pt, pt_len,
				    out->data), 0);
	out->len = pt_len + AEAD_OVERHEAD;
}

static void test_authentic_but_inconsistent(void **state)
{
	uint8_t *zeros = calloc(1, 1000), *r = random_data(200), z[2000];
	struct buf out = { 0 };
	struct blob_entry e = { .type = BLOB_DATA, .comp = BLOB_COMP_ZSTD };

	(void)state;
	assert_non_null(zeros);
	size_t zl = ZSTD_compress(z, sizeof z, zeros, 1000, 3);
	assert_false(ZSTD_isError(zl));

	/* Correct entry: opens (proves the hand-built form is right). */
	assert_int_equal(blob_id(S(), id_key, zeros, 1000, e.id), 0);
	e.raw_len = 1000;
	seal_by_hand(&e, z, zl, &out);
	e.stored_len = (uint32_t)out.len;
	expect_open(&e, out.data, zeros, 1000);

	/* The frame holds 1000 bytes but the entry says 999 or 1001. */
	e.raw_len = 999;
	seal_by_hand(&e, z, zl, &out);
	expect_bad(&e, out.data, out.len);
	e.raw_len = 1001;
	seal_by_hand(&e, z, zl, &out);
	expect_bad(&e, out.data, out.len);

	/* Compressed but not smaller than the plaintext: non-canonical. */
	uint8_t rz[400];
	size_t rzl = ZSTD_compress(rz, sizeof rz, r, 200, 3);
	assert_false(ZSTD_isError(rzl));
	assert_true(rzl >= 200);
	assert_int_equal(blob_id(S(), id_key, r, 200, e.id), 0);
	e.raw_len = 200;
	seal_by_hand(&e, rz, rzl, &out);
	e.stored_len = (uint32_t)out.len;
	expect_bad(&e, out.data, out.len);

	/* Stored raw, but the ciphertext is shorter than raw_len. */
	e.comp = BLOB_COMP_NONE;
	e.raw_len = 200;
	seal_by_hand(&e, r, 199, &out);
	e.stored_len = (uint32_t)out.len;
	expect_bad(&e, out.data, out.len);

	/* Zstd garbage that authenticates. */
	e.comp = BLOB_COMP_ZSTD;
	e.raw_len = 1000;
	seal_by_hand(&e, r, 100, &out);
	e.stored_len = (uint32_t)out.len;
	expect_bad(&e, out.data, out.len);
	buf_fini(&out);
	free(zeros);
	free(r);
}

static void test_too_large(void **state)
{
	/* calloc of this size maps zero pages lazily: nothing is touched. */
	uint8_t *big = calloc(1, (size_t)BLOB_MAX_SIZE + 1);
	struct buf out = { 0 };
	struct blob_entry e = { .type = BLOB_DATA, .comp = 0x55 };

	(void)state;
	assert_non_null(big);
	assert_int_equal(buf_put(&out, "x", 1), 0);
	assert_int_equal(blob_seal(S(), data_key, &e, big, (size_t)BLOB_MAX_SIZE + 1,
				   3, &out), -EINVAL);
	/* Nothing appended, entry untouched. */
	assert_int_equal(out.len, 1);
	assert_int_equal(e.comp, 0x55);
	assert_int_equal(e.stored_len, 0);
	buf_fini(&out);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_round_trip_compressible),
		cmocka_unit_test(test_round_trip_random),
		cmocka_unit_test(test_incompressible_probe),
		cmocka_unit_test(test_comp_choice),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_appends),
		cmocka_unit_test(test_aad_layout),
		cmocka_unit_test(test_tamper_sealed),
		cmocka_unit_test(test_tamper_entry),
		cmocka_unit_test(test_wrong_keys),
		cmocka_unit_test(test_authentic_but_inconsistent),
		cmocka_unit_test(test_too_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
