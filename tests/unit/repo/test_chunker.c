/*
 * Chunker tests, with small sizes (2 KiB / 8 KiB / 64 KiB) over a few MiB
 * of seeded pseudo-random data: size bounds, coverage of the input,
 * determinism, independence from how the input is buffered (the streaming
 * contract), resynchronisation after an insertion, dependence on the gear
 * key, the average size, parameter validation, and the format that
 * docs/format/crypto.md specifies: the gear table and mask derivation and
 * the cut rule itself, against a naive reference implementation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "repo/chunker.h"
#include "util/buf.h"

#define MIN_SZ (2u << 10)
#define AVG_SZ (8u << 10)
#define MAX_SZ (64u << 10)
#define DATA_LEN (4u << 20)
#define MAX_CUTS (DATA_LEN / MIN_SZ + 16)

static const uint8_t key_a[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static const uint8_t key_b[32] = { 1, 2, 3, 4, 5, 6, 7, 9 };

/* splitmix64: a small, seedable generator so failures reproduce. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint8_t *random_data(size_t len, uint64_t seed)
{
	uint8_t *d = malloc(len);

	assert_non_null(d);
	for (size_t i = 0; i < len; i++)
		d[i] = (uint8_t)(rng_next(&seed) >> 56);
	return d;
}

static void params(struct chunker_params *p, const uint8_t *key)
{
	assert_int_equal(chunker_params_init(p, suite_by_id(SUITE_INTERNATIONAL), key, MIN_SZ, AVG_SZ, MAX_SZ), 0);
}

/* Chunks data from one buffer; ends[i] is the end offset of chunk i. */
static size_t cut_all(const struct chunker_params *p, const uint8_t *data,
		      size_t len, size_t *ends, size_t max_ends)
{
	size_t off = 0, n = 0;

	while (off < len) {
		size_t c = chunker_find_cut(p, data + off, len - off, true);

		assert_true(c > 0 && c <= len - off);
		assert_true(n < max_ends);
		off += c;
		ends[n++] = off;
	}
	return n;
}

/*
 * Chunks data as a streaming caller does: it arrives in pieces of random
 * size, the caller asks for a cut after every piece, keeps what is not yet
 * cut and only passes eof once the input is exhausted.
 */
static size_t cut_streaming(const struct chunker_params *p, const uint8_t *data,
			    size_t len, size_t *ends, size_t max_ends, uint64_t seed)
{
	uint8_t *win = malloc(MAX_SZ + 3 * MAX_SZ);
	size_t have = 0, fed = 0, done = 0, n = 0;

	assert_non_null(win);
	while (fed < len || have > 0) {
		bool eof = fed == len;

		if (!eof) {
			/* Mostly small pieces, now and then a large one. */
			uint64_t r = rng_next(&seed);
			size_t piece = r % 16 == 0 ? (size_t)(r >> 8) % (3 * MAX_SZ) + 1
						   : (size_t)(r >> 8) % 5000 + 1;

			if (piece > len - fed)
				piece = len - fed;
			if (have + piece > MAX_SZ + 3 * MAX_SZ)
				piece = MAX_SZ + 3 * MAX_SZ - have;
			memcpy(win + have, data + fed, piece);
			have += piece;
			fed += piece;
			eof = fed == len;
		}
		for (;;) {
			size_t c = chunker_find_cut(p, win, have, eof);

			if (c == 0)
				break;
			assert_true(c <= have && c <= MAX_SZ);
			assert_true(n < max_ends);
			done += c;
			ends[n++] = done;
			have -= c;
			memmove(win, win + c, have);
			if (have == 0)
				break;
		}
		/* Without eof, a full max_size window always yields a cut. */
		assert_true(eof || have < MAX_SZ);
	}
	free(win);
	return n;
}

static size_t *alloc_ends(void)
{
	size_t *e = calloc(MAX_CUTS, sizeof *e);

	assert_non_null(e);
	return e;
}

static void test_bounds_and_coverage(void **state)
{
	struct chunker_params p;
	uint8_t *d = random_data(DATA_LEN, 1);
	size_t *ends = alloc_ends();
	size_t n, prev = 0;

	(void)state;
	params(&p, key_a);
	n = cut_all(&p, d, DATA_LEN, ends, MAX_CUTS);
	assert_true(n > 1);
	for (size_t i = 0; i < n; i++) {
		size_t sz = ends[i] - prev;

		assert_true(sz <= MAX_SZ);
		if (i + 1 < n)
			assert_true(sz >= MIN_SZ);
		else
			assert_true(sz >= 1);
		prev = ends[i];
	}
	/* The chunks are consecutive and end exactly at the end of input. */
	assert_int_equal(ends[n - 1], DATA_LEN);
	free(ends);
	free(d);
}

static void test_deterministic(void **state)
{
	struct chunker_params p, q;
	uint8_t *d = random_data(DATA_LEN, 2);
	size_t *a = alloc_ends(), *b = alloc_ends();

	(void)state;
	params(&p, key_a);
	params(&q, key_a);
	assert_true(p.mask_s == q.mask_s && p.mask_l == q.mask_l);
	assert_memory_equal(p.gear, q.gear, sizeof p.gear);
	size_t na = cut_all(&p, d, DATA_LEN, a, MAX_CUTS);
	size_t nb = cut_all(&q, d, DATA_LEN, b, MAX_CUTS);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na * sizeof *a);
	free(a);
	free(b);
	free(d);
}

static void test_streaming_same_cuts(void **state)
{
	struct chunker_params p;
	uint8_t *d = random_data(DATA_LEN, 3);
	size_t *a = alloc_ends(), *b = alloc_ends();

	(void)state;
	params(&p, key_a);
	size_t na = cut_all(&p, d, DATA_LEN, a, MAX_CUTS);
	for (uint64_t seed = 1; seed <= 3; seed++) {
		size_t nb = cut_streaming(&p, d, DATA_LEN, b, MAX_CUTS, seed);

		assert_int_equal(na, nb);
		assert_memory_equal(a, b, na * sizeof *a);
	}
	free(a);
	free(b);
	free(d);
}

static void test_contract_edges(void **state)
{
	struct chunker_params p;
	uint8_t *d = random_data(2 * MAX_SZ, 4);
	static uint8_t zero[2 * MAX_SZ];

	(void)state;
	params(&p, key_a);
	/* Shorter than min_size: need more, or everything at eof. */
	assert_int_equal(chunker_find_cut(&p, d, MIN_SZ - 1, false), 0);
	assert_int_equal(chunker_find_cut(&p, d, MIN_SZ - 1, true), MIN_SZ - 1);
	assert_int_equal(chunker_find_cut(&p, d, 1, true), 1);
	assert_int_equal(chunker_find_cut(&p, d, 0, true), 0);
	/* No cut in zeros before max_size: need more, or all of it at eof. */
	assert_int_equal(chunker_find_cut(&p, zero, MAX_SZ - 1, false), 0);
	assert_int_equal(chunker_find_cut(&p, zero, MAX_SZ - 1, true), MAX_SZ - 1);
	/* At max_size the answer no longer depends on eof or on more data. */
	assert_int_equal(chunker_find_cut(&p, zero, MAX_SZ, false), MAX_SZ);
	assert_int_equal(chunker_find_cut(&p, zero, 2 * MAX_SZ, false), MAX_SZ);
	assert_int_equal(chunker_find_cut(&p, zero, 2 * MAX_SZ, true), MAX_SZ);
	/* A cut found in a prefix is the cut found with more data. */
	size_t c = chunker_find_cut(&p, d, 2 * MAX_SZ, false);
	assert_true(c >= MIN_SZ && c <= MAX_SZ);
	assert_int_equal(chunker_find_cut(&p, d, c, false), c);
	assert_int_equal(chunker_find_cut(&p, d, c - 1, false), 0);
	free(d);
}

/*
 * Checks that b (chunk ends of the input with k bytes inserted at pos)
 * differs from a (ends of the original) only around the insertion: every
 * end at or before pos is kept, and after it at most two new chunks appear
 * before b continues with a's own boundaries, shifted by k, to the end.
 */
static void check_resync(const size_t *a, size_t na, const size_t *b, size_t nb,
			 size_t pos, size_t k)
{
	size_t i = 0, j = 0;

	while (i < na && a[i] <= pos) {
		assert_true(j < nb);
		assert_int_equal(b[j], a[i]);
		i++;
		j++;
	}
	/* First end of b (after the insertion) that a also has. */
	size_t j0 = j, i0 = i;
	while (j0 < nb && b[j0] < pos + k)
		j0++;
	for (; j0 < nb; j0++) {
		for (i0 = i; i0 < na && a[i0] < b[j0] - k; i0++)
			;
		if (i0 < na && a[i0] == b[j0] - k)
			break;
	}
	assert_true(j0 < nb);
	assert_true(j0 - j <= 2); /* new chunks in b */
	assert_true(i0 - i <= 2); /* chunks of a lost */
	assert_int_equal(na - i0, nb - j0);
	for (; j0 < nb; i0++, j0++)
		assert_int_equal(b[j0] - k, a[i0]);
}

static void test_insertion_resyncs(void **state)
{
	struct chunker_params p;
	uint8_t *d = random_data(DATA_LEN, 5);
	uint8_t *ins = random_data(100, 6);
	uint8_t *m = malloc(DATA_LEN + 100);
	size_t *a = alloc_ends(), *b = alloc_ends();
	static const size_t positions[] = { 0, 1, DATA_LEN / 2 + 12345, DATA_LEN - 500 };

	(void)state;
	assert_non_null(m);
	params(&p, key_a);
	size_t na = cut_all(&p, d, DATA_LEN, a, MAX_CUTS);
	for (size_t t = 0; t < sizeof positions / sizeof positions[0]; t++) {
		size_t pos = positions[t];

		memcpy(m, d, pos);
		memcpy(m + pos, ins, 100);
		memcpy(m + pos + 100, d + pos, DATA_LEN - pos);
		size_t nb = cut_all(&p, m, DATA_LEN + 100, b, MAX_CUTS);
		check_resync(a, na, b, nb, pos, 100);
	}
	free(a);
	free(b);
	free(m);
	free(ins);
	free(d);
}

static void test_key_changes_cuts(void **state)
{
	struct chunker_params p, q;
	uint8_t *d = random_data(DATA_LEN, 7);
	size_t *a = alloc_ends(), *b = alloc_ends();
	size_t common = 0;

	(void)state;
	params(&p, key_a);
	params(&q, key_b);
	assert_memory_not_equal(p.gear, q.gear, sizeof p.gear);
	size_t na = cut_all(&p, d, DATA_LEN, a, MAX_CUTS);
	size_t nb = cut_all(&q, d, DATA_LEN, b, MAX_CUTS);
	/* Ends both keys share (the end of input always is one). */
	for (size_t i = 0, j = 0; i < na && j < nb;) {
		if (a[i] == b[j]) {
			common++;
			i++;
			j++;
		} else if (a[i] < b[j]) {
			i++;
		} else {
			j++;
		}
	}
	assert_true(common >= 1);
	assert_true(common < na / 10);
	free(a);
	free(b);
	free(d);
}

static void test_average_size(void **state)
{
	struct chunker_params p;
	uint8_t *d = random_data(DATA_LEN, 8);
	size_t *ends = alloc_ends();

	(void)state;
	params(&p, key_a);
	size_t n = cut_all(&p, d, DATA_LEN, ends, MAX_CUTS);
	size_t mean = DATA_LEN / n;
	assert_true(mean >= AVG_SZ / 2);
	assert_true(mean <= AVG_SZ * 2);
	free(ends);
	free(d);
}

static void test_zeros_cut_at_max(void **state)
{
	struct chunker_params p;
	size_t len = 5 * MAX_SZ + 123;
	uint8_t *d = calloc(1, len);
	size_t *ends = alloc_ends();

	(void)state;
	assert_non_null(d);
	params(&p, key_a);
	size_t n = cut_all(&p, d, len, ends, MAX_CUTS);
	assert_int_equal(n, 6);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(ends[i], (i + 1) * MAX_SZ);
	assert_int_equal(ends[5], len);
	free(ends);
	free(d);
}

static void test_params_validation(void **state)
{
	struct chunker_params p, before;

	(void)state;
	memset(&p, 0xa5, sizeof p);
	memcpy(&before, &p, sizeof p);
	/* avg not a power of two */
	assert_int_equal(chunker_params_init(&p, suite_by_id(SUITE_INTERNATIONAL), key_a, 2048, 6000, 65536), -EINVAL);
	assert_int_equal(chunker_params_init(&p, suite_by_id(SUITE_INTERNATIONAL), key_a, 2048, 8191, 65536), -EINVAL);
	/* min >= avg, avg >= max */
	assert_int_equal(chunker_params_init(&p, suite_by_id(SUITE_INTERNATIONAL), key_a, 8192, 8192, 65536), -EINVAL);
	assert_int_equal(chunker_params_init(&p, suite_by_id(SUITE_INTERNATIONAL), key_a, 9000, 8192, 65536), -EINVAL);
	assert_int_equal(chunker_params_init(&p, suite_by_id(SUITE_INTERNATIONAL), key_a, 2048, 65536, 65536), -EINVAL);
	/* max beyond the limit, min below it */
	assert_int_equal(chunker_params_init(&p, suite_by_id(SUITE_INTERNATIONAL), key_a, 1u << 20, 1u << 24,
					     CHUNKER_MAX_LIMIT + 1), -EINVAL);
	assert_int_equal(chunker_params_init(&p, suite_by_id(SUITE_INTERNATIONAL), key_a, CHUNKER_MIN_LIMIT - 1, 8192,
					     65536), -EINVAL);
	assert_int_equal(chunker_params_init(&p, suite_by_id(SUITE_INTERNATIONAL), key_a, 0, 8192, 65536), -EINVAL);
	/* Failures leave the output alone. */
	assert_memory_equal(&p, &before, sizeof p);

	/* The extremes are accepted. */
	assert_int_equal(chunker_params_init(&p, suite_by_id(SUITE_INTERNATIONAL), key_a, CHUNKER_MIN_LIMIT, 128, 256), 0);
	assert_int_equal(chunker_params_init(&p, suite_by_id(SUITE_INTERNATIONAL), key_a, 1u << 20, 1u << 25,
					     CHUNKER_MAX_LIMIT), 0);
	/* The production default: 512 KiB / 1 MiB / 8 MiB. */
	assert_int_equal(chunker_params_init(&p, suite_by_id(SUITE_INTERNATIONAL), key_a, 512u << 10, 1u << 20,
					     8u << 20), 0);
}

static int popcount64(uint64_t v)
{
	int n = 0;

	for (; v; v &= v - 1)
		n++;
	return n;
}

/* Pins the derivation in docs/format/crypto.md: gear table and masks. */
static void test_gear_and_masks(void **state)
{
	struct chunker_params p;
	uint8_t table[2048];

	(void)state;
	params(&p, key_a);
	assert_int_equal(crypto_hkdf(key_a, 32, "coffer/v1 chunker gear", table,
				     sizeof table), 0);
	for (size_t i = 0; i < 256; i++)
		assert_true(p.gear[i] == le64_get(table + 8 * i));
	assert_int_equal(p.min_size, MIN_SZ);
	assert_int_equal(p.avg_size, AVG_SZ);
	assert_int_equal(p.max_size, MAX_SZ);
	/* avg 2^13: 15 and 11 one-bits, the most significant ones. */
	assert_int_equal(popcount64(p.mask_s), 15);
	assert_int_equal(popcount64(p.mask_l), 11);
	assert_true(p.mask_s == ~(uint64_t)0 << 49);
	assert_true(p.mask_l == ~(uint64_t)0 << 53);
}

/*
 * The cut rule of docs/format/crypto.md written the slow, obvious way: for
 * each candidate length L, the gear hash of the 64 bytes before L computed
 * from scratch, tested against the mask for L's region.
 */
static size_t ref_cut(const struct chunker_params *p, const uint8_t *buf,
		      size_t len)
{
	size_t n = len < p->max_size ? len : p->max_size;

	for (size_t L = p->min_size; L <= n; L++) {
		uint64_t h = 0;

		for (size_t s = 0; s < 64; s++)
			h += p->gear[buf[L - 1 - s]] << s;
		if ((h & (L < p->avg_size ? p->mask_s : p->mask_l)) == 0)
			return L;
	}
	return n;
}

static void test_matches_reference(void **state)
{
	struct chunker_params p;
	size_t len = 1u << 20, off = 0, n = 0;
	uint8_t *d = random_data(len, 9);

	(void)state;
	params(&p, key_b);
	while (off < len) {
		size_t c = chunker_find_cut(&p, d + off, len - off, true);

		assert_int_equal(c, ref_cut(&p, d + off, len - off));
		off += c;
		n++;
	}
	assert_true(n > 50);
	free(d);
}

/*
 * The test vector of docs/format/crypto.md, computed there by an independent
 * implementation: gear key of 32 zero bytes, sizes 64/256/1024, input
 * SHA-256(le32(0)) || SHA-256(le32(1)) || ... || SHA-256(le32(255)).
 */
static void test_vector(void **state)
{
	static const uint8_t zero_key[32];
	static const size_t want[] = {
		419, 335, 260, 76, 309, 347, 284, 354, 267, 297, 258, 260, 296, 141, 294,
		364, 444, 269, 311, 281, 300, 294, 357, 123, 365, 373, 168, 277, 69,
	};
	struct chunker_params p;
	uint8_t d[256 * 32], ctr[4];
	size_t off = 0, n = 0;

	(void)state;
	for (uint32_t i = 0; i < 256; i++) {
		le32_put(ctr, i);
		assert_int_equal(crypto_sha256(ctr, sizeof ctr, d + 32 * i), 0);
	}
	assert_int_equal(chunker_params_init(&p, suite_by_id(SUITE_INTERNATIONAL), zero_key, 64, 256, 1024), 0);
	assert_true(p.gear[0] == 0xceb822629f5f7995ull);
	assert_true(p.gear[255] == 0x5d6f3f2712300bacull);
	while (off < sizeof d) {
		size_t c = chunker_find_cut(&p, d + off, sizeof d - off, true);

		assert_true(n < sizeof want / sizeof want[0]);
		assert_int_equal(c, want[n]);
		off += c;
		n++;
	}
	assert_int_equal(n, sizeof want / sizeof want[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds_and_coverage),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_streaming_same_cuts),
		cmocka_unit_test(test_contract_edges),
		cmocka_unit_test(test_insertion_resyncs),
		cmocka_unit_test(test_key_changes_cuts),
		cmocka_unit_test(test_average_size),
		cmocka_unit_test(test_zeros_cut_at_max),
		cmocka_unit_test(test_params_validation),
		cmocka_unit_test(test_gear_and_masks),
		cmocka_unit_test(test_matches_reference),
		cmocka_unit_test(test_vector),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
