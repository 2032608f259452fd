/*
 * Tests of the RFC 9162 Merkle tree (audit/merkle.h).
 *
 * The expected values come from a reference model written here, apart
 * from the module: MTH, PATH and SUBPROOF as the RFC's recursive
 * definitions, literally, hashing with suite_hash directly. The model is
 * itself pinned to absolute values: the Certificate Transparency test
 * leaves and their SHA-256 tree heads, inclusion and consistency proofs,
 * computed with python3 hashlib by the RFC's recursion and identical to
 * those of the CT reference tests (certificate-transparency's
 * python/ct/crypto/merkle_test.py for the heads, google/trillian's
 * merkle/log_verifier_test.go for the proofs).
 *
 * Then, exhaustively up to 70 leaves: frontier heads after each append,
 * every inclusion proof, every consistency proof between every pair of
 * sizes, each checked against the model and verified, and every mutation
 * (a bit of a path element, of the leaf, of a root; another index or
 * size; an element dropped or added) refused. A proof does not bind its
 * sizes: another (index, size) whose proof has the same shape (the model
 * says which) computes the same root and must verify; the checkpoint's
 * signature binds the size to the root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "audit/merkle.h"
#include "crypto/crypto.h"
#include "util/hex.h"

#define HL MERKLE_HASH_LEN
#define MAXN 80      /* leaves in the test trees */
#define EXHAUSTIVE 70
#define MAXP 80      /* path elements in a mutated proof */

/* Leaf hashes, served to the module through leaf_cb. */
struct tree {
	const struct suite *s;
	uint8_t leaf[MAXN][HL];
	uint64_t limit;   /* leaf_cb refuses index >= limit */
	int64_t last;     /* last index read: reads must increase */
	unsigned reads;
	int fail_at;      /* leaf_cb returns -EIO at this index (-1: never) */
};

static int leaf_cb(uint64_t index, uint8_t out[HL], void *arg)
{
	struct tree *t = arg;
	assert_true(index < t->limit);
	assert_true((int64_t)index > t->last);
	t->last = (int64_t)index;
	t->reads++;
	if (t->fail_at >= 0 && index == (uint64_t)t->fail_at)
		return -EIO;
	memcpy(out, t->leaf[index], HL);
	return 0;
}

/* Readies t for one call of the module over the first limit leaves. */
static struct tree *arm(struct tree *t, uint64_t limit)
{
	t->limit = limit;
	t->last = -1;
	t->reads = 0;
	t->fail_at = -1;
	return t;
}

static const struct suite *sha(void)
{
	const struct suite *s = suite_by_id(SUITE_INTERNATIONAL);
	assert_non_null(s);
	return s;
}

static const struct suite *sm3(void)
{
	const struct suite *s = suite_by_id(SUITE_NATIONAL);
	assert_non_null(s);
	return s;
}

static void assert_hex(const uint8_t *p, const char *want)
{
	char got[2 * HL + 1];
	hex_encode(p, HL, got);
	assert_string_equal(got, want);
}

/* ---- The reference model: RFC 9162 2.1 read literally. ---- */

static void ref_leaf(const struct suite *s, const void *data, size_t len, uint8_t out[HL])
{
	uint8_t buf[1 + 64];
	assert_true(len <= 64);
	buf[0] = 0x00;
	memcpy(buf + 1, data, len);
	assert_int_equal(suite_hash(s, buf, 1 + len, out), 0);
}

static void ref_node(const struct suite *s, const uint8_t l[HL], const uint8_t r[HL],
		     uint8_t out[HL])
{
	uint8_t buf[1 + 2 * HL];
	buf[0] = 0x01;
	memcpy(buf + 1, l, HL);
	memcpy(buf + 1 + HL, r, HL);
	assert_int_equal(suite_hash(s, buf, sizeof buf, out), 0);
}

/* "the largest power of two smaller than n" (n >= 2): 2k < n, without overflow */
static uint64_t ref_k(uint64_t n)
{
	uint64_t k = 1;
	while (k <= (n - 1) / 2)
		k *= 2;
	return k;
}

/* MTH(D[lo:lo+n]) */
static void ref_mth(const struct tree *t, uint64_t lo, uint64_t n, uint8_t out[HL])
{
	if (n == 0) {
		assert_int_equal(suite_hash(t->s, "", 0, out), 0);
	} else if (n == 1) {
		memcpy(out, t->leaf[lo], HL);
	} else {
		uint8_t l[HL], r[HL];
		uint64_t k = ref_k(n);
		ref_mth(t, lo, k, l);
		ref_mth(t, lo + k, n - k, r);
		ref_node(t->s, l, r, out);
	}
}

/*
 * PATH(m, D[lo:lo+n]) appended to path (NULL: the shape only). shape gets
 * a letter per element: 'L' the element is a left sibling, 'R' a right one.
 */
static void ref_path(const struct tree *t, uint64_t m, uint64_t lo, uint64_t n,
		     uint8_t path[][HL], char *shape, size_t *np)
{
	if (n <= 1)
		return;
	uint64_t k = ref_k(n);
	if (m < k) {
		ref_path(t, m, lo, k, path, shape, np);
		if (path != NULL)
			ref_mth(t, lo + k, n - k, path[*np]);
		shape[(*np)++] = 'R';
	} else {
		ref_path(t, m - k, lo + k, n - k, path, shape, np);
		if (path != NULL)
			ref_mth(t, lo, k, path[*np]);
		shape[(*np)++] = 'L';
	}
	shape[*np] = 0;
}

/* SUBPROOF(m, D[lo:lo+n], b); 'S' marks the old tree's last subtree itself. */
static void ref_subproof(const struct tree *t, uint64_t m, uint64_t lo, uint64_t n, bool b,
			 uint8_t path[][HL], char *shape, size_t *np)
{
	if (m == n) {
		if (!b) {
			if (path != NULL)
				ref_mth(t, lo, n, path[*np]);
			shape[(*np)++] = 'S';
		}
		shape[*np] = 0;
		return;
	}
	uint64_t k = ref_k(n);
	if (m <= k) {
		ref_subproof(t, m, lo, k, b, path, shape, np);
		if (path != NULL)
			ref_mth(t, lo + k, n - k, path[*np]);
		shape[(*np)++] = 'R';
	} else {
		ref_subproof(t, m - k, lo + k, n - k, false, path, shape, np);
		if (path != NULL)
			ref_mth(t, lo, k, path[*np]);
		shape[(*np)++] = 'L';
	}
	shape[*np] = 0;
}

/* What a verifier computes for (index, size): "X" when it must refuse. */
static void incl_shape(uint64_t index, uint64_t size, char shape[MAXP])
{
	size_t np = 0;
	shape[0] = 0;
	if (index >= size) {
		strcpy(shape, "X");
		return;
	}
	ref_path(NULL, index, 0, size, NULL, shape, &np);
}

/*
 * Likewise for consistency: "X" refused, "EQ" equal sizes, "Z" from the
 * empty tree; else "F" (the proof starts from root1) or nothing (it
 * starts from its first element, 'S'), then the elements' sides.
 */
static void cons_shape(uint64_t m, uint64_t n, char shape[MAXP + 1])
{
	size_t np = 0;
	if (m > n)
		strcpy(shape, "X");
	else if (m == n)
		strcpy(shape, "EQ");
	else if (m == 0)
		strcpy(shape, "Z");
	else {
		shape[0] = 'F';
		ref_subproof(NULL, m, 0, n, true, NULL, shape + 1, &np);
		if (shape[1] == 'S')
			memmove(shape, shape + 1, strlen(shape));
	}
}

/* ---- Trees. ---- */

static void tree_ct(struct tree *t, const struct suite *s)
{
	static const char *const hex[8] = { "", "00", "10", "2021", "3031", "40414243",
					    "5051525354555657",
					    "606162636465666768696a6b6c6d6e6f" };
	memset(t, 0, sizeof *t);
	t->s = s;
	for (size_t i = 0; i < 8; i++) {
		uint8_t d[16];
		size_t len = strlen(hex[i]) / 2;
		assert_int_equal(hex_decode(hex[i], d, len), 0);
		ref_leaf(s, d, len, t->leaf[i]);
	}
}

static void tree_gen(struct tree *t, const struct suite *s)
{
	memset(t, 0, sizeof *t);
	t->s = s;
	for (size_t i = 0; i < MAXN; i++) {
		char d[32];
		int len = snprintf(d, sizeof d, "audit entry %zu", i);
		ref_leaf(s, d, (size_t)len, t->leaf[i]);
	}
}

/* ---- Mutations. ---- */

static unsigned same_shape_accepted; /* mutated sizes that had to verify */

static int incl(const struct suite *s, uint64_t i, uint64_t n, const uint8_t *leaf,
		uint8_t path[][HL], size_t np, const uint8_t *root)
{
	return merkle_inclusion_verify(s, i, n, leaf, (const uint8_t(*)[HL])path, np, root);
}

static int cons(const struct suite *s, uint64_t m, uint64_t n, const uint8_t *r1,
		const uint8_t *r2, uint8_t path[][HL], size_t np)
{
	return merkle_consistency_verify(s, m, n, r1, r2, (const uint8_t(*)[HL])path, np);
}

/* Flips each bit of h (all_bits) or one chosen by seed, calling check after each. */
#define FLIPS(h, all_bits, seed, check)                                       \
	do {                                                                  \
		for (unsigned bit_ = 0; bit_ < 8 * HL; bit_++) {              \
			if (!(all_bits) && bit_ != (seed) % (8 * HL))          \
				continue;                                     \
			(h)[bit_ / 8] ^= (uint8_t)(1u << (bit_ % 8));          \
			check;                                                \
			(h)[bit_ / 8] ^= (uint8_t)(1u << (bit_ % 8));          \
		}                                                             \
	} while (0)

/* Every way to spoil a valid inclusion proof (index i, size n) fails. */
static void mutate_inclusion(const struct suite *s, uint64_t i, uint64_t n, uint8_t leaf[HL],
			     uint8_t path[][HL], size_t np, uint8_t root[HL], bool all_bits)
{
	uint8_t alt[MAXP][HL];
	char want[MAXP], got[MAXP];
	unsigned seed = (unsigned)(i * 131 + n * 7);

	assert_int_equal(incl(s, i, n, leaf, path, np, root), 0);
	for (size_t j = 0; j < np; j++)
		FLIPS(path[j], all_bits, seed + j * 37,
		      assert_int_equal(incl(s, i, n, leaf, path, np, root), -EBADMSG));
	FLIPS(leaf, all_bits, seed + 11,
	      assert_int_equal(incl(s, i, n, leaf, path, np, root), -EBADMSG));
	FLIPS(root, all_bits, seed + 13,
	      assert_int_equal(incl(s, i, n, leaf, path, np, root), -EBADMSG));

	/* Other indices and sizes: refused unless the proof has the same shape. */
	incl_shape(i, n, want);
	for (uint64_t i2 = 0; i2 <= n + 2; i2++)
		for (uint64_t n2 = 0; n2 <= n + 3; n2++) {
			if ((i2 == i && n2 == n) || (i2 != i && n2 != n))
				continue;
			incl_shape(i2, n2, got);
			bool same = strcmp(got, want) == 0;
			assert_int_equal(incl(s, i2, n2, leaf, path, np, root), same ? 0 : -EBADMSG);
			same_shape_accepted += same;
		}
	assert_int_equal(incl(s, i, UINT64_MAX, leaf, path, np, root), -EBADMSG);
	assert_int_equal(incl(s, UINT64_MAX, n, leaf, path, np, root), -EBADMSG);
	assert_int_equal(incl(s, i, 2 * n, leaf, path, np, root), -EBADMSG);

	/* An element dropped, or one added (a copy of the root, or of a neighbour). */
	for (size_t j = 0; j < np; j++) {
		memcpy(alt, path, j * HL);
		memcpy(alt[j], path[j + 1], (np - j - 1) * HL);
		assert_int_equal(incl(s, i, n, leaf, alt, np - 1, root), -EBADMSG);
	}
	for (size_t j = 0; j <= np; j++) {
		memcpy(alt, path, j * HL);
		memcpy(alt[j], j > 0 ? path[j - 1] : root, HL);
		memcpy(alt[j + 1], path[j], (np - j) * HL);
		assert_int_equal(incl(s, i, n, leaf, alt, np + 1, root), -EBADMSG);
		memcpy(alt[j], root, HL);
		assert_int_equal(incl(s, i, n, leaf, alt, np + 1, root), -EBADMSG);
	}
}

/* Every way to spoil a valid consistency proof (m, n) fails. */
static void mutate_consistency(const struct suite *s, uint64_t m, uint64_t n, uint8_t r1[HL],
			       uint8_t r2[HL], uint8_t path[][HL], size_t np, bool all_bits)
{
	uint8_t alt[MAXP][HL];
	char want[MAXP + 1], got[MAXP + 1];
	unsigned seed = (unsigned)(m * 131 + n * 7);

	assert_int_equal(cons(s, m, n, r1, r2, path, np), 0);
	for (size_t j = 0; j < np; j++)
		FLIPS(path[j], all_bits, seed + j * 37,
		      assert_int_equal(cons(s, m, n, r1, r2, path, np), -EBADMSG));
	/* From the empty tree the roots are not looked at (merkle.h). */
	FLIPS(r1, all_bits, seed + 11,
	      assert_int_equal(cons(s, m, n, r1, r2, path, np), m == 0 && n > 0 ? 0 : -EBADMSG));
	FLIPS(r2, all_bits, seed + 13,
	      assert_int_equal(cons(s, m, n, r1, r2, path, np), m == 0 && n > 0 ? 0 : -EBADMSG));
	if (m > 0 && m < n) {
		assert_int_equal(cons(s, m, n, r2, r1, path, np), -EBADMSG);
		assert_int_equal(cons(s, m, n, r1, r2, path, 0), -EBADMSG);
	}

	/* Other sizes: refused unless the proof has the same shape. */
	cons_shape(m, n, want);
	for (uint64_t m2 = 0; m2 <= n + 2; m2++)
		for (uint64_t n2 = 0; n2 <= n + 3; n2++) {
			if ((m2 == m && n2 == n) || (m2 != m && n2 != n))
				continue;
			cons_shape(m2, n2, got);
			bool ok;
			if (strcmp(got, "EQ") == 0)
				ok = np == 0 && memcmp(r1, r2, HL) == 0;
			else if (strcmp(got, "Z") == 0)
				ok = np == 0;
			else
				ok = strcmp(got, want) == 0 && strcmp(got, "X") != 0;
			assert_int_equal(cons(s, m2, n2, r1, r2, path, np), ok ? 0 : -EBADMSG);
			same_shape_accepted += ok && np > 0;
		}
	assert_int_equal(cons(s, m, UINT64_MAX, r1, r2, path, np), m == 0 ? 0 : -EBADMSG);
	assert_int_equal(cons(s, n + 1, n, r1, r2, path, np), -EBADMSG);

	for (size_t j = 0; j < np; j++) {
		memcpy(alt, path, j * HL);
		memcpy(alt[j], path[j + 1], (np - j - 1) * HL);
		assert_int_equal(cons(s, m, n, r1, r2, alt, np - 1), -EBADMSG);
	}
	for (size_t j = 0; j <= np; j++) {
		memcpy(alt, path, j * HL);
		memcpy(alt[j], j > 0 ? path[j - 1] : r1, HL);
		memcpy(alt[j + 1], path[j], (np - j) * HL);
		assert_int_equal(cons(s, m, n, r1, r2, alt, np + 1), -EBADMSG);
		memcpy(alt[j], r2, HL);
		assert_int_equal(cons(s, m, n, r1, r2, alt, np + 1), -EBADMSG);
	}
}

/*
 * For every size up to max_n of tree t: the frontier after each append,
 * merkle_root, every inclusion and consistency proof against the model;
 * all verify and resist mutation (every bit when all_bits).
 */
static void check_all(struct tree *t, uint64_t max_n, bool all_bits)
{
	const struct suite *s = t->s;
	struct merkle_frontier f;
	uint8_t roots[MAXN + 1][HL], got[HL];
	uint8_t path[MERKLE_MAX_DEPTH][HL], want[MAXP][HL];
	char shape[MAXP + 1];
	size_t np, wn;

	merkle_frontier_init(&f);
	for (uint64_t n = 0; n <= max_n; n++) {
		if (n > 0)
			assert_int_equal(merkle_frontier_add(s, &f, t->leaf[n - 1]), 0);
		assert_int_equal(f.size, n);
		assert_int_equal(merkle_frontier_check(&f), 0);
		ref_mth(t, 0, n, roots[n]);
		assert_int_equal(merkle_frontier_root(s, &f, got), 0);
		assert_memory_equal(got, roots[n], HL);
		assert_int_equal(merkle_root(s, n, leaf_cb, arm(t, n), got), 0);
		assert_memory_equal(got, roots[n], HL);
		assert_int_equal(t->reads, n);
	}

	for (uint64_t n = 1; n <= max_n; n++)
		for (uint64_t i = 0; i < n; i++) {
			uint8_t leaf[HL];
			wn = 0;
			ref_path(t, i, 0, n, want, shape, &wn);
			np = 99;
			assert_int_equal(merkle_inclusion_proof(s, i, n, leaf_cb, arm(t, n), path, &np),
					 0);
			assert_int_equal(np, wn);
			assert_memory_equal(path, want, np * HL);
			assert_int_equal(t->reads, n - 1); /* every leaf but the proven one */
			memcpy(leaf, t->leaf[i], HL);
			mutate_inclusion(s, i, n, leaf, path, np, roots[n], all_bits);
		}

	for (uint64_t n = 0; n <= max_n; n++)
		for (uint64_t m = 0; m <= n; m++) {
			uint8_t r1[HL], r2[HL];
			wn = 0;
			if (m > 0 && m < n)
				ref_subproof(t, m, 0, n, true, want, shape, &wn);
			np = 99;
			assert_int_equal(merkle_consistency_proof(s, m, n, leaf_cb, arm(t, n), path,
								  &np), 0);
			assert_int_equal(np, wn);
			assert_memory_equal(path, want, np * HL);
			memcpy(r1, roots[m], HL);
			memcpy(r2, roots[n], HL);
			mutate_consistency(s, m, n, r1, r2, path, np, all_bits);
		}
}

/* ---- Tests. ---- */

static void test_hash_definitions(void **state)
{
	uint8_t a[HL], b[HL], l[HL], r[HL];
	(void)state;
	/* merkle_leaf and merkle_node against the bytes RFC 9162 2.1.1 hashes. */
	assert_int_equal(merkle_leaf(sha(), "abc", 3, a), 0);
	assert_int_equal(crypto_sha256("\0abc", 4, b), 0);
	assert_memory_equal(a, b, HL);
	assert_int_equal(merkle_leaf(sha(), NULL, 0, a), 0);
	assert_hex(a, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
	memset(l, 0xaa, HL);
	memset(r, 0x55, HL);
	uint8_t in[1 + 2 * HL] = { 1 };
	memcpy(in + 1, l, HL);
	memcpy(in + 1 + HL, r, HL);
	assert_int_equal(merkle_node(sha(), l, r, a), 0);
	assert_int_equal(crypto_sha256(in, sizeof in, b), 0);
	assert_memory_equal(a, b, HL);
	/* out may alias an input. */
	assert_int_equal(merkle_node(sha(), l, r, l), 0);
	assert_memory_equal(l, b, HL);
	/* The same under SM3, and different from SHA-256. */
	assert_int_equal(merkle_leaf(sm3(), "abc", 3, a), 0);
	ref_leaf(sm3(), "abc", 3, b);
	assert_memory_equal(a, b, HL);
	assert_int_equal(merkle_leaf(sha(), "abc", 3, b), 0);
	assert_memory_not_equal(a, b, HL);
	/* A leaf is not the plain hash of its data (second preimages, RFC 9162 2.1.1). */
	assert_int_equal(crypto_sha256("abc", 3, b), 0);
	assert_int_equal(merkle_leaf(sha(), "abc", 3, a), 0);
	assert_memory_not_equal(a, b, HL);
}

/*
 * Absolute SHA-256 values for the CT test leaves. Computed with python3
 * (hashlib.sha256, leaf = H(b"\0" + d), node = H(b"\1" + l + r), MTH and
 * PATH/SUBPROOF by the RFC's recursion, k the largest power of two < n);
 * the heads equal certificate-transparency's published test vectors
 * (python/ct/crypto/merkle_test.py test_vector_hashes), the proofs those
 * of google/trillian merkle/log_verifier_test.go, whose leaf numbers are
 * 1-based. Checks the model first, then the module.
 */
static void test_ct_vectors(void **state)
{
	static const char *const heads[9] = {
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	};
	static const struct {
		bool inclusion;   /* else consistency from a */
		uint64_t a, n;    /* index (or size1), size */
		size_t np;
		const char *p[3];
	} proofs[] = {
		{ true, 0, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
				  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
				  "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
		{ true, 5, 8, 3, { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
				  "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
				  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
		{ true, 2, 3, 1, { "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
		{ true, 1, 5, 3, { "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
				  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
				  "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
		{ true, 0, 1, 0, { NULL } },
		{ false, 1, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
				   "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
				   "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
		{ false, 6, 8, 3, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
				   "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
				   "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
		{ false, 2, 5, 2, { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
				   "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
		{ false, 1, 1, 0, { NULL } },
	};
	struct tree t;
	struct merkle_frontier f;
	uint8_t h[HL], path[MERKLE_MAX_DEPTH][HL], want[MAXP][HL];
	char shape[MAXP + 1];
	(void)state;

	tree_ct(&t, sha());
	merkle_frontier_init(&f);
	for (uint64_t n = 0; n <= 8; n++) {
		if (n > 0)
			assert_int_equal(merkle_frontier_add(sha(), &f, t.leaf[n - 1]), 0);
		ref_mth(&t, 0, n, h);
		assert_hex(h, heads[n]);
		assert_int_equal(merkle_root(sha(), n, leaf_cb, arm(&t, n), h), 0);
		assert_hex(h, heads[n]);
		assert_int_equal(merkle_frontier_root(sha(), &f, h), 0);
		assert_hex(h, heads[n]);
	}
	for (size_t v = 0; v < sizeof proofs / sizeof proofs[0]; v++) {
		size_t np = 99, wn = 0;
		uint64_t a = proofs[v].a, n = proofs[v].n;
		if (proofs[v].inclusion) {
			ref_path(&t, a, 0, n, want, shape, &wn);
			assert_int_equal(merkle_inclusion_proof(sha(), a, n, leaf_cb, arm(&t, n), path,
								&np), 0);
		} else {
			if (a < n)
				ref_subproof(&t, a, 0, n, true, want, shape, &wn);
			assert_int_equal(merkle_consistency_proof(sha(), a, n, leaf_cb, arm(&t, n),
								  path, &np), 0);
		}
		assert_int_equal(wn, proofs[v].np);
		assert_int_equal(np, proofs[v].np);
		for (size_t j = 0; j < np; j++) {
			assert_hex(want[j], proofs[v].p[j]);
			assert_hex(path[j], proofs[v].p[j]);
		}
		uint8_t r1[HL], r2[HL];
		assert_int_equal(hex_decode(heads[n], r2, HL), 0);
		if (proofs[v].inclusion) {
			assert_int_equal(incl(sha(), a, n, t.leaf[a], path, np, r2), 0);
		} else {
			assert_int_equal(hex_decode(heads[a], r1, HL), 0);
			assert_int_equal(cons(sha(), a, n, r1, r2, path, np), 0);
		}
	}
	/* Every proof of the CT trees, every bit of everything flipped. */
	check_all(&t, 8, true);
}

/* Hand-sized trees of other leaves, every bit flipped, then the exhaustive run. */
static void test_small_trees(void **state)
{
	struct tree t;
	(void)state;
	tree_gen(&t, sha());
	check_all(&t, 8, true);
}

static void test_exhaustive(void **state)
{
	struct tree t;
	(void)state;
	tree_gen(&t, sha());
	same_shape_accepted = 0;
	check_all(&t, EXHAUSTIVE, false);
	/* The size is not bound by a proof: many mutated sizes had to verify. */
	assert_true(same_shape_accepted > 0);
	print_message("  %u mutated (index, size) pairs verified: same proof shape\n",
		      same_shape_accepted);
}

/*
 * A proof says nothing of the size beyond its shape: leaf 0's proof in a
 * tree of 3 is (leaf 1, leaf 2) on the right, as in a tree of 4 whose
 * head is computed from the same hashes, and the last leaf of 3 has the
 * proof of leaf 1 of 2. That is why the size must come signed with the root.
 */
static void test_size_not_bound(void **state)
{
	struct tree t;
	uint8_t root[HL], path[MERKLE_MAX_DEPTH][HL];
	size_t np;
	(void)state;
	tree_gen(&t, sha());
	assert_int_equal(merkle_root(sha(), 3, leaf_cb, arm(&t, 3), root), 0);
	assert_int_equal(merkle_inclusion_proof(sha(), 0, 3, leaf_cb, arm(&t, 3), path, &np), 0);
	assert_int_equal(np, 2);
	assert_int_equal(incl(sha(), 0, 3, t.leaf[0], path, np, root), 0);
	assert_int_equal(incl(sha(), 0, 4, t.leaf[0], path, np, root), 0);
	assert_int_equal(incl(sha(), 1, 3, t.leaf[0], path, np, root), -EBADMSG);
	assert_int_equal(merkle_inclusion_proof(sha(), 2, 3, leaf_cb, arm(&t, 3), path, &np), 0);
	assert_int_equal(np, 1);
	assert_int_equal(incl(sha(), 2, 3, t.leaf[2], path, np, root), 0);
	assert_int_equal(incl(sha(), 1, 2, t.leaf[2], path, np, root), 0);
}

/*
 * SM3 (the national suite) gives other heads and proofs; each verifies
 * under its own suite only. The SM3 heads of the CT leaves were computed
 * as above with python3 hashlib.new("sm3") (OpenSSL 3.0.19).
 */
static void test_sm3(void **state)
{
	struct tree ts, tn;
	uint8_t rs[HL], rn[HL], ps[MERKLE_MAX_DEPTH][HL], pn[MERKLE_MAX_DEPTH][HL];
	uint8_t rs1[HL], rn1[HL];
	size_t nps, npn;
	(void)state;

	tree_ct(&tn, sm3());
	assert_int_equal(merkle_root(sm3(), 0, leaf_cb, arm(&tn, 0), rn), 0);
	assert_hex(rn, "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b");
	assert_int_equal(merkle_root(sm3(), 8, leaf_cb, arm(&tn, 8), rn), 0);
	assert_hex(rn, "bc48ba7a709184b5f2a631e1adeb8dc2a0d4c018c1d6cc89b5664fe154c93b38");
	check_all(&tn, 8, false);

	tree_gen(&ts, sha());
	tree_gen(&tn, sm3());
	for (uint64_t n = 1; n <= 20; n++) {
		assert_int_equal(merkle_root(sha(), n, leaf_cb, arm(&ts, n), rs), 0);
		assert_int_equal(merkle_root(sm3(), n, leaf_cb, arm(&tn, n), rn), 0);
		assert_memory_not_equal(rs, rn, HL);
		for (uint64_t i = 0; i < n; i++) {
			assert_int_equal(merkle_inclusion_proof(sha(), i, n, leaf_cb, arm(&ts, n), ps,
								&nps), 0);
			assert_int_equal(merkle_inclusion_proof(sm3(), i, n, leaf_cb, arm(&tn, n), pn,
								&npn), 0);
			assert_int_equal(nps, npn);
			assert_int_equal(incl(sm3(), i, n, tn.leaf[i], pn, npn, rn), 0);
			assert_int_equal(incl(sha(), i, n, ts.leaf[i], ps, nps, rs), 0);
			if (npn == 0)
				continue; /* a tree of one: nothing is hashed, either suite */
			assert_memory_not_equal(ps, pn, HL);
			assert_int_equal(incl(sha(), i, n, tn.leaf[i], pn, npn, rn), -EBADMSG);
			assert_int_equal(incl(sm3(), i, n, ts.leaf[i], ps, nps, rs), -EBADMSG);
		}
		for (uint64_t m = 1; m < n; m++) {
			assert_int_equal(merkle_root(sha(), m, leaf_cb, arm(&ts, m), rs1), 0);
			assert_int_equal(merkle_root(sm3(), m, leaf_cb, arm(&tn, m), rn1), 0);
			assert_int_equal(merkle_consistency_proof(sha(), m, n, leaf_cb, arm(&ts, n),
								  ps, &nps), 0);
			assert_int_equal(merkle_consistency_proof(sm3(), m, n, leaf_cb, arm(&tn, n),
								  pn, &npn), 0);
			assert_int_equal(cons(sm3(), m, n, rn1, rn, pn, npn), 0);
			assert_int_equal(cons(sha(), m, n, rs1, rs, ps, nps), 0);
			assert_int_equal(cons(sha(), m, n, rn1, rn, pn, npn), -EBADMSG);
			assert_int_equal(cons(sm3(), m, n, rs1, rs, ps, nps), -EBADMSG);
		}
	}
}

/* Frontiers: saved and restored, refused when inconsistent, the u64 limit. */
static void test_frontier(void **state)
{
	struct tree t;
	struct merkle_frontier f, g, saved;
	uint8_t a[HL], b[HL];
	(void)state;
	tree_gen(&t, sha());

	merkle_frontier_init(&f);
	assert_int_equal(f.size, 0);
	assert_int_equal(f.n, 0);
	for (int i = 0; i < 13; i++)
		assert_int_equal(merkle_frontier_add(sha(), &f, t.leaf[i]), 0);
	assert_int_equal(f.n, 3); /* 13 = 8 + 4 + 1, largest first */
	ref_mth(&t, 0, 8, a);
	assert_memory_equal(f.h[0], a, HL);
	ref_mth(&t, 8, 4, a);
	assert_memory_equal(f.h[1], a, HL);
	assert_memory_equal(f.h[2], t.leaf[12], HL);

	/* A copy (as written to and read from disk) carries on identically. */
	memcpy(&g, &f, sizeof g);
	for (int i = 13; i < 40; i++) {
		assert_int_equal(merkle_frontier_add(sha(), &f, t.leaf[i]), 0);
		assert_int_equal(merkle_frontier_add(sha(), &g, t.leaf[i]), 0);
	}
	assert_memory_equal(&f, &g, sizeof f);

	/* n must be popcount(size); add and root refuse otherwise, f unchanged. */
	uint64_t sizes[] = { 0, 1, 2, 3, 40, 63, 64, (UINT64_C(1) << 63) + 5, UINT64_MAX };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		memset(&g, 0, sizeof g);
		g.size = sizes[i];
		int pc = __builtin_popcountll(sizes[i]);
		g.n = (uint8_t)pc;
		assert_int_equal(merkle_frontier_check(&g), 0);
		for (int d = -2; d <= 2; d++) {
			if (d == 0 || pc + d < 0)
				continue;
			g.n = (uint8_t)(pc + d);
			memcpy(&saved, &g, sizeof g);
			assert_int_equal(merkle_frontier_check(&g), -EBADMSG);
			assert_int_equal(merkle_frontier_add(sha(), &g, t.leaf[0]), -EINVAL);
			assert_int_equal(merkle_frontier_root(sha(), &g, a), -EINVAL);
			assert_memory_equal(&g, &saved, sizeof g);
		}
	}
	memset(&g, 0, sizeof g);
	g.n = 255;
	assert_int_equal(merkle_frontier_check(&g), -EBADMSG);

	/* The last size a u64 holds: 64 subtrees, and no further append. */
	memset(&g, 0, sizeof g);
	g.size = UINT64_MAX - 1;
	g.n = 63;
	for (int i = 0; i < 63; i++)
		memset(g.h[i], i + 1, HL);
	assert_int_equal(merkle_frontier_add(sha(), &g, t.leaf[0]), 0);
	assert_int_equal(g.size, UINT64_MAX);
	assert_int_equal(g.n, 64);
	assert_memory_equal(g.h[63], t.leaf[0], HL);
	memcpy(&saved, &g, sizeof g);
	assert_int_equal(merkle_frontier_add(sha(), &g, t.leaf[1]), -EOVERFLOW);
	assert_memory_equal(&g, &saved, sizeof g);
	assert_int_equal(merkle_frontier_root(sha(), &g, a), 0);
	/* Folded from the smallest subtree up. */
	memcpy(b, g.h[63], HL);
	for (int i = 62; i >= 0; i--)
		ref_node(sha(), g.h[i], b, b);
	assert_memory_equal(a, b, HL);
}

/*
 * A tree of 2^64 - 1 identical leaves: every subtree of 2^j leaves has the
 * same head, so the model gives heads and proofs in O(log n) and the
 * verifiers can be run at the u64 limit, where a consistency proof needs
 * 65 hashes (more than merkle_consistency_proof will write).
 */
static void uni_mth(const uint8_t pow[65][HL], uint64_t n, uint8_t out[HL])
{
	if (__builtin_popcountll(n) == 1) {
		memcpy(out, pow[__builtin_ctzll(n)], HL);
		return;
	}
	uint8_t r[HL];
	uint64_t k = ref_k(n);
	uni_mth(pow, n - k, r);
	ref_node(sha(), pow[__builtin_ctzll(k)], r, out);
}

static int no_leaf_cb(uint64_t index, uint8_t out[HL], void *arg)
{
	(void)index, (void)out, (void)arg;
	fail_msg("no leaf should be read");
	return -EIO;
}

static void test_huge(void **state)
{
	uint8_t pow[65][HL], root[HL], r1[HL], path[MAXP][HL], tmp[MERKLE_MAX_DEPTH][HL];
	size_t np;
	(void)state;
	ref_leaf(sha(), "x", 1, pow[0]);
	for (int j = 1; j < 64; j++)
		ref_node(sha(), pow[j - 1], pow[j - 1], pow[j]);

	uint64_t sizes[] = { UINT64_MAX, UINT64_MAX - 1, (UINT64_C(1) << 63) + 1,
			     UINT64_C(1) << 63, (UINT64_C(1) << 40) + 12345 };
	for (size_t v = 0; v < sizeof sizes / sizeof sizes[0]; v++) {
		uint64_t n = sizes[v];
		uni_mth(pow, n, root);
		/* Inclusion of the first, last and a middle leaf. */
		uint64_t idx[] = { 0, n - 1, n / 3, n - 2 };
		for (size_t w = 0; w < 4; w++) {
			uint64_t m = idx[w], len = n;
			np = 0;
			/* PATH top-down, reversed: the siblings' sizes give their heads. */
			uint8_t down[MAXP][HL];
			while (len > 1) {
				uint64_t k = ref_k(len);
				if (m < k) {
					uni_mth(pow, len - k, down[np++]);
					len = k;
				} else {
					uni_mth(pow, k, down[np++]);
					m -= k, len -= k;
				}
			}
			for (size_t j = 0; j < np; j++)
				memcpy(path[j], down[np - 1 - j], HL);
			assert_true(np <= MERKLE_MAX_DEPTH);
			assert_int_equal(incl(sha(), idx[w], n, pow[0], path, np, root), 0);
			path[np / 2][0] ^= 1;
			assert_int_equal(incl(sha(), idx[w], n, pow[0], path, np, root), -EBADMSG);
		}
		/* Consistency from 3 leaves: 65 hashes above 2^63 leaves. */
		uint64_t m = 3, len = n;
		bool b = true;
		uint8_t down[MAXP][HL];
		size_t nd = 0;
		while (m != len) {
			uint64_t k = ref_k(len);
			if (m <= k) {
				uni_mth(pow, len - k, down[nd++]);
				len = k;
			} else {
				uni_mth(pow, k, down[nd++]);
				m -= k, len -= k, b = false;
			}
		}
		np = 0;
		if (!b)
			uni_mth(pow, len, path[np++]);
		for (size_t j = 0; j < nd; j++)
			memcpy(path[np++], down[nd - 1 - j], HL);
		bool big = n > (UINT64_C(1) << 63);
		if (n >= (UINT64_C(1) << 63))
			assert_int_equal(np, big ? 65 : 64);
		uni_mth(pow, 3, r1);
		assert_int_equal(cons(sha(), 3, n, r1, root, path, np), 0);
		path[np - 1][5] ^= 0x10;
		assert_int_equal(cons(sha(), 3, n, r1, root, path, np), -EBADMSG);
		/* The prover refuses before reading a leaf when the proof would not fit. */
		if (big)
			assert_int_equal(merkle_consistency_proof(sha(), 3, n, no_leaf_cb, NULL, tmp,
								  &np), -EOVERFLOW);
	}
	/* Garbage with absurd sizes ends, refused. */
	memset(path, 0x5a, sizeof path);
	for (size_t len = 0; len <= MAXP; len += 16) {
		assert_int_equal(incl(sha(), UINT64_MAX - 1, UINT64_MAX, root, path, len, root),
				 -EBADMSG);
		assert_int_equal(cons(sha(), UINT64_MAX - 1, UINT64_MAX, r1, root, path, len),
				 -EBADMSG);
		assert_int_equal(cons(sha(), 1, UINT64_MAX, r1, root, path, len), -EBADMSG);
	}
}

/* Arguments out of range, and the leaf callback's errors. */
static void test_errors(void **state)
{
	struct tree t;
	uint8_t h[HL], path[MERKLE_MAX_DEPTH][HL];
	size_t np = 77;
	(void)state;
	tree_gen(&t, sha());

	assert_int_equal(merkle_inclusion_proof(sha(), 5, 5, leaf_cb, arm(&t, 5), path, &np),
			 -EINVAL);
	assert_int_equal(merkle_inclusion_proof(sha(), 0, 0, leaf_cb, arm(&t, 0), path, &np),
			 -EINVAL);
	assert_int_equal(merkle_consistency_proof(sha(), 6, 5, leaf_cb, arm(&t, 6), path, &np),
			 -EINVAL);
	assert_int_equal(np, 77);
	assert_int_equal(merkle_root(NULL, 3, leaf_cb, arm(&t, 3), h), -EINVAL);
	assert_int_equal(merkle_inclusion_verify(sha(), 0, 1, h, NULL, 1, h), -EINVAL);
	assert_int_equal(merkle_consistency_verify(sha(), 1, 2, h, h, NULL, 1), -EINVAL);
	/* Empty proofs, no leaf read. */
	assert_int_equal(merkle_consistency_proof(sha(), 0, 9, no_leaf_cb, NULL, path, &np), 0);
	assert_int_equal(np, 0);
	np = 77;
	assert_int_equal(merkle_consistency_proof(sha(), 9, 9, no_leaf_cb, NULL, path, &np), 0);
	assert_int_equal(np, 0);
	np = 77;
	assert_int_equal(merkle_inclusion_proof(sha(), 0, 1, no_leaf_cb, NULL, path, &np), 0);
	assert_int_equal(np, 0);
	/* The empty tree verifies nothing; equal sizes need equal roots. */
	assert_int_equal(merkle_inclusion_verify(sha(), 0, 0, h, NULL, 0, h), -EBADMSG);
	assert_int_equal(merkle_consistency_verify(sha(), 0, 0, h, h, NULL, 0), 0);
	assert_int_equal(merkle_consistency_verify(sha(), 0, 0, h, t.leaf[0], NULL, 0), -EBADMSG);
	assert_int_equal(merkle_consistency_verify(sha(), 1, 0, h, h, NULL, 0), -EBADMSG);
	assert_int_equal(merkle_consistency_verify(sha(), 1, 2, h, h, NULL, 0), -EBADMSG);
	assert_int_equal(merkle_consistency_verify(sha(), 3, 5, h, h, NULL, 0), -EBADMSG);

	/* A failing read is passed back; the outputs are untouched. */
	for (int at = 0; at < 9; at++) {
		uint8_t before[sizeof path];
		memset(path, 0xee, sizeof path);
		memcpy(before, path, sizeof path);
		memset(h, 0xee, HL);
		np = 77;
		arm(&t, 9)->fail_at = at;
		assert_int_equal(merkle_root(sha(), 9, leaf_cb, &t, h), -EIO);
		assert_memory_equal(h, before, HL);
		if (at != 4) { /* leaf 4 itself is not read for its own proof */
			arm(&t, 9)->fail_at = at;
			assert_int_equal(merkle_inclusion_proof(sha(), 4, 9, leaf_cb, &t, path, &np),
					 -EIO);
		}
		arm(&t, 9)->fail_at = at;
		assert_int_equal(merkle_consistency_proof(sha(), 3, 9, leaf_cb, &t, path, &np), -EIO);
		assert_int_equal(np, 77);
		assert_memory_equal(path, before, sizeof path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_definitions),
		cmocka_unit_test(test_ct_vectors),
		cmocka_unit_test(test_small_trees),
		cmocka_unit_test(test_exhaustive),
		cmocka_unit_test(test_size_not_bound),
		cmocka_unit_test(test_sm3),
		cmocka_unit_test(test_frontier),
		cmocka_unit_test(test_huge),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
