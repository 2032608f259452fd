/*
 * Pack tests: real sealed blobs through pack_writer, read back with
 * pack_read_header; the pack ID checked against an independent SHA-256;
 * every single-byte change to the header and trailer and every truncation
 * rejected; and the header decoder fed hand-made headers (written by
 * raw_header() below, which checks nothing) that break each rule of
 * docs/format/pack.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "repo/blob.h"
#include "repo/pack.h"
#include "store/store.h"
#include "util/buf.h"

struct keys {
	uint8_t data[CRYPTO_KEY_LEN], id[CRYPTO_KEY_LEN], meta[CRYPTO_KEY_LEN];
};

/* A finished pack and what went into it. */
struct pack {
	const struct suite *s;
	struct keys k;
	uint8_t *file;
	size_t len;
	uint8_t id[32];
	struct blob_entry *entries;
	size_t n;
	uint8_t *plain[8];  /* plaintext of each blob */
	size_t plain_len[8];
};

static void fill(uint8_t *p, size_t n, unsigned seed, int compressible)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = compressible ? (uint8_t)('a' + (i / 7 + seed) % 5) : (uint8_t)(x >> 23);
	}
}

/* Builds a pack of nblobs (<= 8) sealed blobs, some compressible. */
static void make_pack(struct pack *pk, size_t nblobs, uint32_t key_gen)
{
	struct pack_writer *w = pack_writer_new();
	struct buf sealed = { 0 };

	memset(pk, 0, sizeof *pk);
	pk->s = suite_by_id(SUITE_INTERNATIONAL);
	assert_non_null(pk->s);
	assert_int_equal(crypto_random(&pk->k, sizeof pk->k), 0);
	assert_non_null(w);
	for (size_t i = 0; i < nblobs; i++) {
		struct blob_entry e;
		size_t len = 100 + i * 997;
		memset(&e, 0, sizeof e);
		pk->plain[i] = malloc(len);
		assert_non_null(pk->plain[i]);
		pk->plain_len[i] = len;
		fill(pk->plain[i], len, (unsigned)i, i % 2);
		assert_int_equal(blob_id(pk->s, pk->k.id, pk->plain[i], len, e.id), 0);
		e.type = i == 2 ? BLOB_TREE : BLOB_DATA;
		buf_reset(&sealed);
		assert_int_equal(blob_seal(pk->s, pk->k.data, &e, pk->plain[i], len, 3, &sealed), 0);
		assert_int_equal(e.comp, i % 2 ? BLOB_COMP_ZSTD : BLOB_COMP_NONE);
		size_t before = pack_writer_size(w);
		assert_int_equal(pack_writer_add(w, &e, sealed.data, sealed.len), 0);
		assert_int_equal(e.offset, before);
		assert_int_equal(pack_writer_size(w), before + sealed.len);
	}
	assert_int_equal(pack_writer_count(w), nblobs);
	uint8_t *lent;
	assert_int_equal(pack_writer_finish(w, pk->s, pk->k.meta, key_gen, &lent,
					    &pk->len, pk->id, &pk->entries, &pk->n), 0);
	assert_int_equal(pk->n, nblobs);
	/* the file is the writer's until it is used again: keep a copy */
	assert_non_null(pk->file = malloc(pk->len));
	memcpy(pk->file, lent, pk->len);
	/* the writer is reset */
	assert_int_equal(pack_writer_count(w), 0);
	assert_int_equal(pack_writer_size(w), 0);
	pack_writer_free(w);
	buf_fini(&sealed);
}

static void free_pack(struct pack *pk)
{
	free(pk->file);
	free(pk->entries);
	for (int i = 0; i < 8; i++)
		free(pk->plain[i]);
}

static void assert_entries_equal(const struct blob_entry *a, const struct blob_entry *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_memory_equal(a[i].id, b[i].id, BLOB_ID_LEN);
		assert_int_equal(a[i].type, b[i].type);
		assert_int_equal(a[i].comp, b[i].comp);
		assert_int_equal(a[i].offset, b[i].offset);
		assert_int_equal(a[i].stored_len, b[i].stored_len);
		assert_int_equal(a[i].raw_len, b[i].raw_len);
	}
}

static void test_round_trip(void **state)
{
	struct pack pk;
	struct blob_entry *es = NULL;
	size_t n = 0;
	uint32_t kg = 0;
	struct buf out = { 0 };

	(void)state;
	make_pack(&pk, 5, 7);
	assert_int_equal(pack_read_header(pk.s, pk.k.meta, pk.file, pk.len, &kg, &es, &n), 0);
	assert_int_equal(kg, 7);
	assert_int_equal(n, 5);
	assert_entries_equal(es, pk.entries, n);
	/* the entries locate real blobs that open to the original plaintext */
	uint64_t off = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(es[i].offset, off);
		off += es[i].stored_len;
		assert_int_equal(blob_open(pk.s, pk.k.data, pk.k.id, &es[i],
					   pk.file + es[i].offset, es[i].stored_len, &out), 0);
		assert_int_equal(out.len, pk.plain_len[i]);
		assert_memory_equal(out.data, pk.plain[i], out.len);
	}
	assert_int_equal(es[2].type, BLOB_TREE);
	/* layout: data, sealed header, trailer */
	size_t hlen = 12 + 5 * PACK_ENTRY_LEN + AEAD_OVERHEAD;
	assert_int_equal(pk.len, off + hlen + PACK_TRAILER_LEN);
	const uint8_t *t = pk.file + pk.len - PACK_TRAILER_LEN;
	assert_memory_equal(t, "COFFPACK", 8);
	assert_memory_equal(t + 8, "\x01\x00\x00\x00", 4);
	assert_int_equal(le32_get(t + 12), hlen);
	free(es);
	buf_fini(&out);
	free_pack(&pk);
}

static void test_pack_id(void **state)
{
	struct pack pk;
	uint8_t md[32];
	unsigned mdlen = 0;

	(void)state;
	make_pack(&pk, 3, 0);
	assert_int_equal(EVP_Digest(pk.file, pk.len, md, &mdlen, EVP_sha256(), NULL), 1);
	assert_int_equal(mdlen, 32);
	assert_memory_equal(pk.id, md, 32);
	free_pack(&pk);
}

/* Every byte of the header and trailer matters. */
static void test_header_flips(void **state)
{
	struct pack pk;
	struct blob_entry *es = NULL;
	size_t n = 77;
	uint32_t kg = 77;
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };

	(void)state;
	make_pack(&pk, 3, 1);
	size_t data_len = pk.entries[2].offset + pk.entries[2].stored_len;
	for (size_t i = data_len; i < pk.len; i++) {
		for (size_t m = 0; m < sizeof masks; m++) {
			pk.file[i] ^= masks[m];
			int e = pack_read_header(pk.s, pk.k.meta, pk.file, pk.len, &kg, &es, &n);
			pk.file[i] ^= masks[m];
			if (i >= pk.len - 8 && i < pk.len - 4) /* the version field */
				assert_int_equal(e, -ENOTSUP);
			else
				assert_int_equal(e, -EBADMSG);
			assert_null(es);
			assert_int_equal(n, 77);
			assert_int_equal(kg, 77);
		}
	}
	/* and it still reads when nothing is changed */
	assert_int_equal(pack_read_header(pk.s, pk.k.meta, pk.file, pk.len, &kg, &es, &n), 0);
	free(es);
	free_pack(&pk);
}

static void test_truncated(void **state)
{
	struct pack pk;
	struct blob_entry *es = NULL;
	size_t n;
	uint32_t kg;

	(void)state;
	make_pack(&pk, 2, 0);
	for (size_t len = 0; len < pk.len; len++) {
		/* dropping the head or the tail */
		assert_int_equal(pack_read_header(pk.s, pk.k.meta, pk.file, len, &kg, &es, &n),
				 -EBADMSG);
		assert_int_equal(pack_read_header(pk.s, pk.k.meta, pk.file + pk.len - len,
						  len, &kg, &es, &n), -EBADMSG);
	}
	/* a byte more in front: the header still opens but no longer tiles */
	uint8_t *longer = malloc(pk.len + 1);
	assert_non_null(longer);
	longer[0] = 0;
	memcpy(longer + 1, pk.file, pk.len);
	assert_int_equal(pack_read_header(pk.s, pk.k.meta, longer, pk.len + 1, &kg, &es, &n),
			 -EBADMSG);
	assert_null(es);
	free(longer);
	free_pack(&pk);
}

static void test_wrong_key(void **state)
{
	struct pack pk;
	struct blob_entry *es = NULL;
	size_t n;
	uint32_t kg;

	(void)state;
	make_pack(&pk, 2, 0);
	pk.k.meta[5] ^= 1;
	assert_int_equal(pack_read_header(pk.s, pk.k.meta, pk.file, pk.len, &kg, &es, &n),
			 -EBADMSG);
	/* the data key is not the metadata key */
	assert_int_equal(pack_read_header(pk.s, pk.k.data, pk.file, pk.len, &kg, &es, &n),
			 -EBADMSG);
	assert_null(es);
	free_pack(&pk);
}

static void test_trailer(void **state)
{
	uint8_t t[PACK_TRAILER_LEN];
	uint32_t hl = 0;
	const uint32_t min = AEAD_OVERHEAD + 12 + PACK_ENTRY_LEN;

	(void)state;
	memcpy(t, "COFFPACK", 8);
	le32_put(t + 8, 1);
	le32_put(t + 12, min);
	assert_int_equal(pack_trailer_parse(t, min + 16, &hl), 0);
	assert_int_equal(hl, min);
	assert_int_equal(pack_trailer_parse(t, min + 16 + 1000, &hl), 0);
	/* header longer than the file allows */
	assert_int_equal(pack_trailer_parse(t, min + 15, &hl), -EBADMSG);
	assert_int_equal(pack_trailer_parse(t, 16, &hl), -EBADMSG);
	assert_int_equal(pack_trailer_parse(t, 0, &hl), -EBADMSG);
	/* header too short for one entry, or not a whole number of entries */
	le32_put(t + 12, min - 1);
	assert_int_equal(pack_trailer_parse(t, 1 << 20, &hl), -EBADMSG);
	le32_put(t + 12, 0);
	assert_int_equal(pack_trailer_parse(t, 1 << 20, &hl), -EBADMSG);
	le32_put(t + 12, min + 1);
	assert_int_equal(pack_trailer_parse(t, 1 << 20, &hl), -EBADMSG);
	le32_put(t + 12, min + 3 * PACK_ENTRY_LEN);
	assert_int_equal(pack_trailer_parse(t, 1 << 20, &hl), 0);
	le32_put(t + 12, UINT32_MAX);
	assert_int_equal(pack_trailer_parse(t, UINT64_MAX, &hl), -EBADMSG);
	/* versions */
	le32_put(t + 12, min);
	le32_put(t + 8, 2);
	assert_int_equal(pack_trailer_parse(t, 1 << 20, &hl), -ENOTSUP);
	le32_put(t + 8, 0);
	assert_int_equal(pack_trailer_parse(t, 1 << 20, &hl), -ENOTSUP);
	/* magic */
	le32_put(t + 8, 1);
	t[0] = 'c';
	assert_int_equal(pack_trailer_parse(t, 1 << 20, &hl), -EBADMSG);
	assert_int_equal(hl, min + 3 * PACK_ENTRY_LEN);
}

/* A correctly sealed pack whose trailer says version 2 is refused as such. */
static void test_version2_pack(void **state)
{
	struct pack pk;
	struct blob_entry *es = NULL;
	size_t n;
	uint32_t kg;

	(void)state;
	make_pack(&pk, 1, 0);
	le32_put(pk.file + pk.len - 8, 2);
	assert_int_equal(pack_read_header(pk.s, pk.k.meta, pk.file, pk.len, &kg, &es, &n),
			 -ENOTSUP);
	free_pack(&pk);
}

/* ---- header decoder on hand-made input ---- */

struct raw_entry {
	uint8_t type, comp;
	uint16_t reserved;
	uint32_t stored_len, raw_len;
};

/* Writes a header with no checks at all. */
static void raw_header(struct buf *b, uint32_t version, uint32_t count,
		       const struct raw_entry *re, size_t n)
{
	buf_reset(b);
	assert_int_equal(buf_put_u32(b, version), 0);
	assert_int_equal(buf_put_u32(b, 9), 0);
	assert_int_equal(buf_put_u32(b, count), 0);
	for (size_t i = 0; i < n; i++) {
		uint8_t id[32];
		memset(id, (int)(0x40 + i), sizeof id);
		assert_int_equal(buf_put_u8(b, re[i].type), 0);
		assert_int_equal(buf_put_u8(b, re[i].comp), 0);
		assert_int_equal(buf_put_u16(b, re[i].reserved), 0);
		assert_int_equal(buf_put_u32(b, re[i].stored_len), 0);
		assert_int_equal(buf_put_u32(b, re[i].raw_len), 0);
		assert_int_equal(buf_put(b, id, 32), 0);
	}
}

static int decode(const struct buf *b, uint64_t data_len)
{
	struct blob_entry *es = NULL;
	size_t n = 0;
	uint32_t kg = 0;
	int e = pack_header_decode(b->data, b->len, data_len, &kg, &es, &n);
	if (e == 0) {
		assert_non_null(es);
		assert_int_equal(kg, 9);
	} else {
		assert_null(es);
	}
	free(es);
	return e;
}

static void test_decode_rules(void **state)
{
	struct buf b = { 0 };
	const struct raw_entry good[3] = {
		{ BLOB_DATA, BLOB_COMP_NONE, 0, 128, 100 },
		{ BLOB_TREE, BLOB_COMP_ZSTD, 0, 50, 1000 },
		{ BLOB_DATA, BLOB_COMP_NONE, 0, 28, 0 },
	};
	struct raw_entry re[3];
	const uint64_t dl = 128 + 50 + 28;

	(void)state;
	raw_header(&b, 1, 3, good, 3);
	assert_int_equal(decode(&b, dl), 0);
	/* offsets are implicit and tile from 0 */
	{
		struct blob_entry *es = NULL;
		size_t n;
		uint32_t kg;
		assert_int_equal(pack_header_decode(b.data, b.len, dl, &kg, &es, &n), 0);
		assert_int_equal(n, 3);
		assert_int_equal(es[0].offset, 0);
		assert_int_equal(es[1].offset, 128);
		assert_int_equal(es[2].offset, 178);
		assert_int_equal(es[1].type, BLOB_TREE);
		assert_int_equal(es[1].comp, BLOB_COMP_ZSTD);
		assert_int_equal(es[1].raw_len, 1000);
		assert_int_equal(es[1].id[0], 0x41);
		/* encode gives back the same bytes */
		struct buf again = { 0 };
		assert_int_equal(pack_header_encode(9, es, n, &again), 0);
		assert_int_equal(again.len, b.len);
		assert_memory_equal(again.data, b.data, b.len);
		buf_fini(&again);
		free(es);
	}
	/* entries must end exactly at data_len */
	assert_int_equal(decode(&b, dl - 1), -EBADMSG);
	assert_int_equal(decode(&b, dl + 1), -EBADMSG);
	assert_int_equal(decode(&b, 0), -EBADMSG);
	/* version */
	raw_header(&b, 2, 3, good, 3);
	assert_int_equal(decode(&b, dl), -ENOTSUP);
	raw_header(&b, 0, 3, good, 3);
	assert_int_equal(decode(&b, dl), -ENOTSUP);
	/* counts: zero, more than present, fewer than present, huge */
	raw_header(&b, 1, 0, good, 0);
	assert_int_equal(decode(&b, 0), -EBADMSG);
	raw_header(&b, 1, 4, good, 3);
	assert_int_equal(decode(&b, dl), -EBADMSG);
	raw_header(&b, 1, 2, good, 3);
	assert_int_equal(decode(&b, dl), -EBADMSG);
	raw_header(&b, 1, UINT32_MAX, good, 3);
	assert_int_equal(decode(&b, dl), -EBADMSG);
	raw_header(&b, 1, (1u << 24) + 1, good, 3);
	assert_int_equal(decode(&b, dl), -EBADMSG);
	/* a trailing byte */
	raw_header(&b, 1, 3, good, 3);
	assert_int_equal(buf_put_u8(&b, 0), 0);
	assert_int_equal(decode(&b, dl), -EBADMSG);
	/* truncations */
	raw_header(&b, 1, 3, good, 3);
	for (size_t len = b.len; len-- > 0;) {
		b.len = len;
		assert_int_equal(decode(&b, dl), -EBADMSG);
	}

	struct { int field; uint32_t value; } bad[] = {
		{ 0, 3 }, { 0, 4 }, { 0, 255 },           /* type */
		{ 1, 2 }, { 1, 255 },                     /* comp */
		{ 2, 1 }, { 2, 0x8000 },                  /* reserved */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memcpy(re, good, sizeof re);
		if (bad[i].field == 0)
			re[1].type = (uint8_t)bad[i].value;
		else if (bad[i].field == 1)
			re[1].comp = (uint8_t)bad[i].value;
		else
			re[1].reserved = (uint16_t)bad[i].value;
		raw_header(&b, 1, 3, re, 3);
		assert_int_equal(decode(&b, dl), -EBADMSG);
	}
	/* lengths: uncompressed must be raw + overhead */
	memcpy(re, good, sizeof re);
	re[0].raw_len = 99;
	raw_header(&b, 1, 3, re, 3);
	assert_int_equal(decode(&b, dl), -EBADMSG);
	/* shorter than the AEAD overhead */
	memcpy(re, good, sizeof re);
	re[1].stored_len = 27;
	raw_header(&b, 1, 3, re, 3);
	assert_int_equal(decode(&b, dl - 23), -EBADMSG);
	/* compressed but not smaller */
	memcpy(re, good, sizeof re);
	re[1].raw_len = 22;
	raw_header(&b, 1, 3, re, 3);
	assert_int_equal(decode(&b, dl), -EBADMSG);
	/* raw_len above BLOB_MAX_SIZE */
	memcpy(re, good, sizeof re);
	re[1].raw_len = BLOB_MAX_SIZE + 1;
	raw_header(&b, 1, 3, re, 3);
	assert_int_equal(decode(&b, dl), -EBADMSG);
	re[1].raw_len = BLOB_MAX_SIZE;
	raw_header(&b, 1, 3, re, 3);
	assert_int_equal(decode(&b, dl), 0);
	/* offsets overflowing u32, even when data_len wraps to match */
	memcpy(re, good, sizeof re);
	re[0] = (struct raw_entry){ BLOB_DATA, BLOB_COMP_ZSTD, 0, 0xC0000000u, BLOB_MAX_SIZE };
	re[1] = re[0];
	raw_header(&b, 1, 2, re, 2);
	assert_int_equal(decode(&b, 0x180000000ull), -EBADMSG);
	assert_int_equal(decode(&b, 0x80000000ull), -EBADMSG);
	buf_fini(&b);
}

static void test_writer_rules(void **state)
{
	struct pack_writer *w = pack_writer_new();
	const struct suite *s = suite_by_id(SUITE_INTERNATIONAL);
	uint8_t key[CRYPTO_KEY_LEN] = { 1 }, sealed[128] = { 0 }, id[32];
	uint8_t *file = NULL;
	size_t len, n;
	struct blob_entry *es = NULL;
	struct blob_entry e = { .type = BLOB_DATA, .comp = BLOB_COMP_NONE,
				.stored_len = 128, .raw_len = 100 };

	(void)state;
	assert_non_null(w);
	/* an empty pack cannot be finished */
	assert_int_equal(pack_writer_finish(w, s, key, 0, &file, &len, id, &es, &n), -EINVAL);
	assert_null(file);
	/* stored_len must match the bytes given */
	assert_int_equal(pack_writer_add(w, &e, sealed, 127), -EINVAL);
	/* entries a reader would refuse are refused here */
	e.type = 3;
	assert_int_equal(pack_writer_add(w, &e, sealed, 128), -EINVAL);
	e.type = BLOB_DATA;
	e.raw_len = 99;
	assert_int_equal(pack_writer_add(w, &e, sealed, 128), -EINVAL);
	assert_int_equal(pack_writer_count(w), 0);
	e.raw_len = 100;
	e.offset = 12345;
	assert_int_equal(pack_writer_add(w, &e, sealed, 128), 0);
	assert_int_equal(e.offset, 0);
	assert_int_equal(pack_writer_add(w, &e, sealed, 128), 0);
	assert_int_equal(e.offset, 128);
	assert_int_equal(pack_writer_finish(w, s, key, 3, &file, &len, id, &es, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(len, 256 + 12 + 2 * PACK_ENTRY_LEN + AEAD_OVERHEAD + PACK_TRAILER_LEN);
	free(es);
	/* reusable after finish */
	assert_int_equal(pack_writer_add(w, &e, sealed, 128), 0);
	assert_int_equal(e.offset, 0);
	assert_int_equal(pack_writer_finish(w, s, key, 3, &file, &len, id, &es, &n), 0);
	assert_int_equal(n, 1);
	uint32_t kg;
	struct blob_entry *es2 = NULL;
	size_t n2;
	assert_int_equal(pack_read_header(s, key, file, len, &kg, &es2, &n2), 0);
	assert_int_equal(n2, 1);
	assert_int_equal(kg, 3);
	free(es2);
	free(es);
	pack_writer_free(w);
	/* a fresh writer's reservation is aligned, and the file has room for
	 * the padding store_put_padded writes */
	assert_non_null(w = pack_writer_new());
	assert_int_equal(pack_writer_reserve(w, 1000), 0);
	assert_int_equal(pack_writer_add(w, &e, sealed, 128), 0);
	assert_int_equal(pack_writer_finish(w, s, key, 3, &file, &len, id, &es, &n), 0);
	assert_int_equal((uintptr_t)file % STORE_PAD_ALIGN, 0);
	memset(file + len, 0, STORE_PAD_ALIGN - len % STORE_PAD_ALIGN); /* ASan: in bounds */
	free(es);
	pack_writer_free(w);
	pack_writer_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_pack_id),
		cmocka_unit_test(test_header_flips),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_trailer),
		cmocka_unit_test(test_version2_pack),
		cmocka_unit_test(test_decode_rules),
		cmocka_unit_test(test_writer_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
