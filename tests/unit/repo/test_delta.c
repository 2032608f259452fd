/*
 * Delta blob tests. First the pure functions of delta.h: encode/apply round
 * trips, the header parser's refusals, the output cap, copy bounds and the
 * final MAC check. Then the repository: a chunk saved with a base hint is
 * stored as a delta (with and without sealing workers), loads back as the
 * original content, chains stay one level deep, and a delta whose base is
 * missing, wrong or itself a delta is refused with -EBADMSG.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repo/delta.h"
#include "repo/repo.h"
#include "util/buf.h"

#include "testutil.h"

#define PASS "test passphrase"
#define CHUNK (64u << 10)

static const uint8_t id_key[CRYPTO_KEY_LEN] = { 0x1d, 0xe1 };

static const struct suite *S(void)
{
	const struct suite *s = suite_by_id(SUITE_INTERNATIONAL);
	assert_non_null(s);
	return s;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/* base: random; next: base with 4 KiB overwritten at 10000 and 1 KiB at 40000. */
static void make_pair(uint8_t *base, uint8_t *next, size_t n)
{
	fill(base, n, 7);
	memcpy(next, base, n);
	fill(next + 10000, 4096, 8);
	fill(next + 40000, 1024, 9);
}

/* ---- pure functions ---- */

static void test_round_trip(void **state)
{
	uint8_t *base = malloc(CHUNK), *next = malloc(CHUNK), bid[32], nid[32];
	struct buf d = { 0 }, out = { 0 };
	struct delta_header h;
	assert_non_null(base);
	assert_non_null(next);
	make_pair(base, next, CHUNK);
	assert_int_equal(blob_id(S(), id_key, base, CHUNK, bid), 0);
	assert_int_equal(blob_id(S(), id_key, next, CHUNK, nid), 0);
	assert_int_equal(delta_encode(bid, base, CHUNK, next, CHUNK, CHUNK / 8, &d), 0);
	/* 5 KiB changed: the delta is a little more than that, far below 1/8 */
	assert_true(d.len > 5120 && d.len < 5120 + 3 * DELTA_BLOCK_LEN + 256);
	assert_int_equal(delta_header_decode(d.data, d.len, &h), 0);
	assert_int_equal(h.version, DELTA_VERSION);
	assert_memory_equal(h.base_id, bid, 32);
	assert_int_equal(h.length, CHUNK);
	assert_int_equal(h.body_len, d.len - DELTA_HEADER_LEN);
	assert_int_equal(delta_apply(&h, base, CHUNK, &out), 0);
	assert_int_equal(out.len, CHUNK);
	assert_memory_equal(out.data, next, CHUNK);
	assert_int_equal(delta_reconstruct(S(), id_key, nid, &h, base, CHUNK, &out), 0);
	assert_memory_equal(out.data, next, CHUNK);
	/* A delta of identical content is tiny; of a different size works too. */
	assert_int_equal(delta_encode(bid, base, CHUNK, base, CHUNK, CHUNK / 8, &d), 0);
	assert_true(d.len < 64);
	assert_int_equal(delta_encode(bid, base, CHUNK, next, CHUNK - 100, CHUNK / 8, &d), 0);
	assert_int_equal(delta_header_decode(d.data, d.len, &h), 0);
	assert_int_equal(delta_apply(&h, base, CHUNK, &out), 0);
	assert_int_equal(out.len, CHUNK - 100);
	assert_memory_equal(out.data, next, CHUNK - 100);
	/* Moved content (300 bytes inserted): the aligned comparison gives
	 * up, librsync's search finds the shifted blocks. */
	memcpy(next, base, 1000);
	fill(next + 1000, 300, 13);
	memcpy(next + 1300, base + 1000, CHUNK - 1300);
	assert_int_equal(delta_encode(bid, base, CHUNK, next, CHUNK, CHUNK / 8, &d), 0);
	assert_true(d.len < 300 + 2 * DELTA_BLOCK_LEN + 256);
	assert_int_equal(delta_header_decode(d.data, d.len, &h), 0);
	assert_int_equal(delta_apply(&h, base, CHUNK, &out), 0);
	assert_memory_equal(out.data, next, CHUNK);
	buf_fini(&d);
	buf_fini(&out);
	free(base);
	free(next);
}

static void test_encode_limits(void **state)
{
	uint8_t *base = malloc(CHUNK), *other = malloc(CHUNK), bid[32] = { 1 };
	struct buf d = { 0 };
	assert_non_null(base);
	assert_non_null(other);
	fill(base, CHUNK, 1);
	fill(other, CHUNK, 2);
	/* unrelated content: the delta would be the whole chunk */
	assert_int_equal(delta_encode(bid, base, CHUNK, other, CHUNK, CHUNK / 8, &d), -EFBIG);
	assert_int_equal(d.len, 0);
	assert_int_equal(delta_encode(bid, base, CHUNK, other, 0, CHUNK / 8, &d), -EINVAL);
	assert_int_equal(delta_encode(bid, base, 0, other, CHUNK, CHUNK / 8, &d), -EINVAL);
	assert_int_equal(delta_encode(bid, base, CHUNK, other, CHUNK, 10, &d), -EINVAL);
	buf_fini(&d);
	free(base);
	free(other);
}

static void test_header_rejects(void **state)
{
	uint8_t *base = malloc(CHUNK), *next = malloc(CHUNK), bid[32] = { 2 };
	struct buf d = { 0 };
	struct delta_header h;
	assert_non_null(base);
	assert_non_null(next);
	make_pair(base, next, CHUNK);
	assert_int_equal(delta_encode(bid, base, CHUNK, next, CHUNK, CHUNK / 8, &d), 0);
	/* every truncation of header and magic */
	for (size_t n = 0; n < DELTA_HEADER_LEN + 4; n++)
		assert_int_equal(delta_header_decode(d.data, n, &h), -EBADMSG);
	d.data[0] = 2;
	assert_int_equal(delta_header_decode(d.data, d.len, &h), -ENOTSUP);
	d.data[0] = 0;
	assert_int_equal(delta_header_decode(d.data, d.len, &h), -ENOTSUP);
	d.data[0] = DELTA_VERSION;
	le32_put(d.data + 33, 0);
	assert_int_equal(delta_header_decode(d.data, d.len, &h), -EBADMSG);
	le32_put(d.data + 33, BLOB_MAX_SIZE + 1);
	assert_int_equal(delta_header_decode(d.data, d.len, &h), -EBADMSG);
	le32_put(d.data + 33, CHUNK);
	d.data[DELTA_HEADER_LEN + 3] ^= 1; /* rdiff delta magic */
	assert_int_equal(delta_header_decode(d.data, d.len, &h), -EBADMSG);
	d.data[DELTA_HEADER_LEN + 3] ^= 1;
	assert_int_equal(delta_header_decode(d.data, d.len, &h), 0);
	buf_fini(&d);
	free(base);
	free(next);
}

/* The header's length caps the output, both ways. */
static void test_output_cap(void **state)
{
	uint8_t *base = malloc(CHUNK), *next = malloc(CHUNK), bid[32] = { 3 };
	struct buf d = { 0 }, out = { 0 };
	struct delta_header h;
	assert_non_null(base);
	assert_non_null(next);
	make_pair(base, next, CHUNK);
	assert_int_equal(delta_encode(bid, base, CHUNK, next, CHUNK, CHUNK / 8, &d), 0);
	assert_int_equal(delta_header_decode(d.data, d.len, &h), 0);
	h.length = CHUNK - 1; /* produces more than promised */
	assert_int_equal(delta_apply(&h, base, CHUNK, &out), -EBADMSG);
	assert_int_equal(out.len, 0);
	h.length = 1;
	assert_int_equal(delta_apply(&h, base, CHUNK, &out), -EBADMSG);
	h.length = CHUNK + 1; /* produces less */
	assert_int_equal(delta_apply(&h, base, CHUNK, &out), -EBADMSG);
	h.length = CHUNK;
	/* copies beyond a (too short) base are refused, not read */
	assert_int_equal(delta_apply(&h, base, CHUNK / 2, &out), -EBADMSG);
	/* truncated delta stream */
	h.body_len -= 1;
	assert_int_equal(delta_apply(&h, base, CHUNK, &out), -EBADMSG);
	h.body_len += 1;
	assert_int_equal(delta_apply(&h, base, CHUNK, &out), 0);
	buf_fini(&d);
	buf_fini(&out);
	free(base);
	free(next);
}

/* A corrupted literal byte or the wrong base applies "fine": the MAC catches it. */
static void test_mac_check(void **state)
{
	uint8_t *base = malloc(CHUNK), *next = malloc(CHUNK), *wrong = malloc(CHUNK);
	uint8_t bid[32], nid[32];
	struct buf d = { 0 }, out = { 0 };
	struct delta_header h;
	assert_non_null(base);
	assert_non_null(next);
	assert_non_null(wrong);
	make_pair(base, next, CHUNK);
	memcpy(wrong, base, CHUNK);
	wrong[30000] ^= 0x80; /* a byte the delta copies from the base */
	assert_int_equal(blob_id(S(), id_key, base, CHUNK, bid), 0);
	assert_int_equal(blob_id(S(), id_key, next, CHUNK, nid), 0);
	assert_int_equal(delta_encode(bid, base, CHUNK, next, CHUNK, CHUNK / 8, &d), 0);
	assert_int_equal(delta_header_decode(d.data, d.len, &h), 0);
	assert_int_equal(delta_reconstruct(S(), id_key, nid, &h, wrong, CHUNK, &out), -EBADMSG);
	assert_int_equal(out.len, 0);
	/* A byte of literal data: after the 4-byte magic come a copy command
	 * for [0, ~9.7 KiB) and a literal command (at most 17 + 5 bytes),
	 * then the 4 KiB written. It applies, and only the MAC tells. */
	size_t off = DELTA_HEADER_LEN + 4 + 64;
	d.data[off] ^= 0x10;
	assert_int_equal(delta_header_decode(d.data, d.len, &h), 0);
	assert_int_equal(delta_apply(&h, base, CHUNK, &out), 0);
	assert_int_equal(out.len, CHUNK);
	assert_memory_not_equal(out.data, next, CHUNK);
	assert_int_equal(delta_reconstruct(S(), id_key, nid, &h, base, CHUNK, &out), -EBADMSG);
	assert_int_equal(out.len, 0);
	d.data[off] ^= 0x10;
	assert_int_equal(delta_header_decode(d.data, d.len, &h), 0);
	assert_int_equal(delta_reconstruct(S(), id_key, nid, &h, base, CHUNK, &out), 0);
	/* a valid delta checked against another ID */
	nid[0] ^= 1;
	assert_int_equal(delta_reconstruct(S(), id_key, nid, &h, base, CHUNK, &out), -EBADMSG);
	buf_fini(&d);
	buf_fini(&out);
	free(base);
	free(next);
	free(wrong);
}

/* ---- in a repository ---- */

struct fx {
	char base[256];
	char dir[300];
	struct repo *r;
};

static int setup_repo(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	const char *tmp = getenv("TMPDIR");
	struct repo_init_opts o;
	assert_non_null(f);
	if (tmp == NULL)
		tmp = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(f->base, sizeof f->base, "%s/test_delta.XXXXXX", tmp);
	assert_non_null(mkdtemp(f->base));
	snprintf(f->dir, sizeof f->dir, "%s/repo", f->base);
	repo_init_opts_default(&o);
	o.scrypt_n = 1024;
	assert_int_equal(repo_init(f->dir, PASS, strlen(PASS), &o), 0);
	assert_int_equal(repo_open(f->dir, PASS, strlen(PASS), &f->r), 0);
	assert_int_equal(repo_load_index(f->r), 0);
	*state = f;
	return 0;
}

static int teardown_repo(void **state)
{
	struct fx *f = *state;
	repo_close(f->r);
	testutil_rm_tree(AT_FDCWD, f->base);
	free(f);
	return 0;
}

static uint8_t entry_type(struct fx *f, const uint8_t id[32])
{
	struct blob_loc loc;
	assert_true(index_lookup(repo_index(f->r), id, &loc));
	return loc.e.type;
}

static void assert_loads(struct fx *f, const uint8_t id[32], const uint8_t *want, size_t n)
{
	struct buf b = { 0 };
	assert_int_equal(repo_blob_load(f->r, id, BLOB_DATA, &b), 0);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, want, n);
	buf_fini(&b);
}

/* Saves base, flushes, saves next with base as hint; returns both IDs. */
static void save_pair(struct fx *f, size_t threads, uint8_t bid[32], uint8_t nid[32],
		      uint8_t *base, uint8_t *next)
{
	bool added;
	if (threads)
		assert_int_equal(repo_set_threads(f->r, threads), 0);
	make_pair(base, next, CHUNK);
	assert_int_equal(repo_blob_save(f->r, BLOB_DATA, base, CHUNK, bid, &added), 0);
	assert_true(added);
	assert_int_equal(repo_flush(f->r), 0);
	assert_int_equal(repo_blob_save_hint(f->r, next, CHUNK, bid, nid, &added), 0);
	assert_true(added);
	assert_int_equal(repo_flush(f->r), 0);
}

static void repo_delta_case(struct fx *f, size_t threads)
{
	uint8_t *base = malloc(CHUNK), *next = malloc(CHUNK), *third = malloc(CHUNK);
	uint8_t bid[32], nid[32], tid[32], want[32], got[32];
	uint32_t length;
	bool added;
	assert_non_null(base);
	assert_non_null(next);
	assert_non_null(third);
	save_pair(f, threads, bid, nid, base, next);
	assert_int_equal(repo_blob_id(f->r, next, CHUNK, want), 0);
	assert_memory_equal(nid, want, 32);
	assert_int_equal(repo_deltas_added(f->r), 1);
	assert_int_equal(entry_type(f, bid), BLOB_DATA);
	assert_int_equal(entry_type(f, nid), BLOB_DELTA);
	assert_loads(f, nid, next, CHUNK);
	assert_int_equal(repo_delta_header(f->r, nid, got, &length), 0);
	assert_memory_equal(got, bid, 32);
	assert_int_equal(length, CHUNK);
	assert_int_equal(repo_delta_header(f->r, bid, got, &length), -ENOENT);
	/* A delta is still a data blob to everyone else: saving the same
	 * content again deduplicates. */
	assert_int_equal(repo_blob_save(f->r, BLOB_DATA, next, CHUNK, got, &added), 0);
	assert_false(added);
	/* Hinting a delta as base: the new delta names the delta's base. */
	memcpy(third, next, CHUNK);
	fill(third + 50000, 256, 10);
	assert_int_equal(repo_blob_save_hint(f->r, third, CHUNK, nid, tid, &added), 0);
	assert_int_equal(repo_flush(f->r), 0);
	assert_int_equal(entry_type(f, tid), BLOB_DELTA);
	assert_int_equal(repo_delta_header(f->r, tid, got, &length), 0);
	assert_memory_equal(got, bid, 32);
	assert_loads(f, tid, third, CHUNK);
	/* A base not yet flushed cannot be read back: stored whole. */
	fill(base, CHUNK, 11);
	assert_int_equal(repo_blob_save(f->r, BLOB_DATA, base, CHUNK, bid, &added), 0);
	memcpy(next, base, CHUNK);
	next[5] ^= 1;
	assert_int_equal(repo_blob_save_hint(f->r, next, CHUNK, bid, nid, &added), 0);
	assert_int_equal(repo_flush(f->r), 0);
	assert_int_equal(entry_type(f, nid), BLOB_DATA);
	/* Unrelated content against a base: stored whole. */
	fill(third, CHUNK, 12);
	assert_int_equal(repo_blob_save_hint(f->r, third, CHUNK, bid, tid, &added), 0);
	assert_int_equal(repo_flush(f->r), 0);
	assert_int_equal(entry_type(f, tid), BLOB_DATA);
	assert_loads(f, tid, third, CHUNK);
	assert_int_equal(repo_deltas_added(f->r), 2);
	/* It all survives reopening. */
	repo_close(f->r);
	f->r = NULL;
	assert_int_equal(repo_open(f->dir, PASS, strlen(PASS), &f->r), 0);
	assert_int_equal(repo_load_index(f->r), 0);
	assert_loads(f, tid, third, CHUNK);
	free(base);
	free(next);
	free(third);
}

static void test_repo_inline(void **state)
{
	repo_delta_case(*state, 0);
}

static void test_repo_workers(void **state)
{
	repo_delta_case(*state, 2);
}


/*
 * repo_blob_save_async: IDs computed by the workers equal repo_blob_id,
 * repeated content is stored once, a hinted chunk still becomes a delta,
 * and everything loads after the flush; without workers it is synchronous.
 */
static void async_case(struct fx *f, size_t threads)
{
	enum { N = 24 };
	uint8_t *chunks = malloc((size_t)N * CHUNK);
	uint8_t ids[N][32], want[32], bid[32];
	struct repo_ticket tk = { 0 };
	struct repo_write_stats st;
	bool added;
	assert_non_null(chunks);
	if (threads)
		assert_int_equal(repo_set_threads(f->r, threads), 0);
	/* a base for the last chunk's delta, durable first */
	make_pair(chunks, chunks + (size_t)(N - 1) * CHUNK, CHUNK);
	assert_int_equal(repo_blob_save(f->r, BLOB_DATA, chunks, CHUNK, bid, &added), 0);
	assert_int_equal(repo_flush(f->r), 0);
	for (int i = 1; i < N - 1; i++) /* chunk i + 8 repeats chunk i */
		fill(chunks + (size_t)i * CHUNK, CHUNK, 100 + (uint32_t)(i > 8 ? i - 8 : i));
	for (int i = 1; i < N; i++)
		assert_int_equal(repo_blob_save_async(f->r, chunks + (size_t)i * CHUNK, CHUNK,
						      i == N - 1 ? bid : NULL, ids[i], &tk), 0);
	assert_int_equal(repo_ticket_wait(f->r, &tk), 0);
	assert_int_equal(tk.outstanding, 0);
	for (int i = 1; i < N; i++) {
		assert_int_equal(repo_blob_id(f->r, chunks + (size_t)i * CHUNK, CHUNK, want), 0);
		assert_memory_equal(ids[i], want, 32);
	}
	assert_int_equal(repo_flush(f->r), 0);
	repo_write_stats(f->r, &st);
	/* the base, then chunks 1..8 and 17..22 unique (9..16 repeat 1..8), the delta */
	assert_int_equal(st.blobs_added, 1 + 8 + 6 + 1);
	assert_int_equal(entry_type(f, ids[N - 1]), BLOB_DELTA);
	for (int i = 1; i < N; i++)
		assert_loads(f, ids[i], chunks + (size_t)i * CHUNK, CHUNK);
	free(chunks);
}

static void test_async_workers(void **state)
{
	async_case(*state, 2);
}

static void test_async_inline(void **state)
{
	async_case(*state, 0);
}

/* Delta plaintexts whose base is missing, wrong or itself a delta. */
static void test_repo_bad_base(void **state)
{
	struct fx *f = *state;
	uint8_t *base = malloc(CHUNK), *next = malloc(CHUNK), *other = malloc(CHUNK);
	uint8_t bid[32], nid[32], oid[32], fake[32];
	struct buf d = { 0 }, out = { 0 };
	bool added;
	assert_non_null(base);
	assert_non_null(next);
	assert_non_null(other);
	save_pair(f, 0, bid, nid, base, next);
	fill(other, CHUNK, 20);
	assert_int_equal(repo_blob_save(f->r, BLOB_DATA, other, CHUNK, oid, &added), 0);
	assert_int_equal(repo_flush(f->r), 0);
	/* the right base: fine */
	assert_int_equal(delta_encode(bid, base, CHUNK, next, CHUNK, CHUNK / 8, &d), 0);
	assert_int_equal(repo_delta_resolve(f->r, nid, d.data, d.len, &out), 0);
	assert_memory_equal(out.data, next, CHUNK);
	/* missing base */
	memset(fake, 0x5a, sizeof fake);
	memcpy(d.data + 1, fake, 32);
	assert_int_equal(repo_delta_resolve(f->r, nid, d.data, d.len, &out), -EBADMSG);
	/* wrong base (a data blob of the same length) */
	memcpy(d.data + 1, oid, 32);
	assert_int_equal(repo_delta_resolve(f->r, nid, d.data, d.len, &out), -EBADMSG);
	/* a base that is itself a delta: one level deep only */
	memcpy(d.data + 1, nid, 32);
	assert_int_equal(repo_delta_resolve(f->r, nid, d.data, d.len, &out), -EBADMSG);
	/* a tree is no base either */
	struct tree t;
	uint8_t tid[32];
	tree_init(&t);
	assert_int_equal(repo_tree_save(f->r, &t, tid), 0);
	assert_int_equal(repo_flush(f->r), 0);
	memcpy(d.data + 1, tid, 32);
	assert_int_equal(repo_delta_resolve(f->r, nid, d.data, d.len, &out), -EBADMSG);
	/* unknown version */
	d.data[0] = 9;
	assert_int_equal(repo_delta_resolve(f->r, nid, d.data, d.len, &out), -ENOTSUP);
	/* a delta cannot be loaded as a tree */
	assert_int_equal(repo_blob_load(f->r, nid, BLOB_TREE, &out), -EBADMSG);
	/* damage to the stored delta is caught */
	testutil_damage_blob(f->r, f->dir, nid);
	assert_int_equal(repo_blob_load(f->r, nid, BLOB_DATA, &out), -EBADMSG);
	buf_fini(&d);
	buf_fini(&out);
	free(base);
	free(next);
	free(other);
}

/* Damage to the base makes the delta unreadable too. */
static void test_repo_damaged_base(void **state)
{
	struct fx *f = *state;
	uint8_t *base = malloc(CHUNK), *next = malloc(CHUNK), bid[32], nid[32];
	struct buf out = { 0 };
	assert_non_null(base);
	assert_non_null(next);
	save_pair(f, 0, bid, nid, base, next);
	assert_loads(f, nid, next, CHUNK);
	testutil_damage_blob(f->r, f->dir, bid);
	assert_int_equal(repo_blob_load(f->r, nid, BLOB_DATA, &out), -EBADMSG);
	assert_int_equal(out.len, 0);
	buf_fini(&out);
	free(base);
	free(next);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_header_rejects),
		cmocka_unit_test(test_output_cap),
		cmocka_unit_test(test_mac_check),
		cmocka_unit_test_setup_teardown(test_repo_inline, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_repo_workers, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_repo_bad_base, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_async_workers, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_async_inline, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_repo_damaged_base, setup_repo, teardown_repo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
