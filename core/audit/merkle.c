/*
 * RFC 9162 section 2.1 Merkle trees (merkle.h): hashing, frontiers,
 * tree heads, inclusion and consistency proofs and their verification.
 *
 * Provers follow the recursive definitions of 2.1.3.1 and 2.1.4.1, but
 * unrolled: a walk from the root down to the leaf (or the old tree's last
 * subtree) lists the sibling subtrees as leaf ranges, then each range's
 * MTH is computed with a frontier over its leaves, so a proof costs one
 * read of each leaf it covers, in increasing order, and a few KiB of
 * stack. Verifiers are the iterative algorithms of 2.1.3.2 and 2.1.4.2,
 * written step for step (fn, sn, fr, sr as in the RFC).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "audit/merkle.h"
#include "crypto/crypto.h"

_Static_assert(MERKLE_HASH_LEN == CRYPTO_HASH_LEN, "suite hashes are Merkle hashes");

/* A subtree as a leaf range, and where its hash goes in the proof. */
struct span {
	uint64_t lo, n;  /* leaves [lo, lo + n), n >= 1 */
	size_t slot;     /* index in the proof */
};

int merkle_leaf(const struct suite *s, const void *data, size_t len,
		uint8_t out[MERKLE_HASH_LEN])
{
	static const uint8_t prefix = 0x00;
	if (s == NULL || (data == NULL && len > 0))
		return -EINVAL;
	struct hash_ctx *c = suite_hash_new(s);
	if (c == NULL)
		return -ENOMEM;
	int e = hash_update(c, &prefix, 1);
	if (e == 0 && len > 0)
		e = hash_update(c, data, len);
	if (e == 0)
		e = hash_final(c, out);
	hash_free(c);
	return e;
}

int merkle_node(const struct suite *s, const uint8_t l[MERKLE_HASH_LEN],
		const uint8_t r[MERKLE_HASH_LEN], uint8_t out[MERKLE_HASH_LEN])
{
	uint8_t in[1 + 2 * MERKLE_HASH_LEN];
	if (s == NULL)
		return -EINVAL;
	in[0] = 0x01;
	memcpy(in + 1, l, MERKLE_HASH_LEN);
	memcpy(in + 1 + MERKLE_HASH_LEN, r, MERKLE_HASH_LEN);
	return suite_hash(s, in, sizeof in, out);
}

/* The largest power of two below n (n >= 2): RFC 9162's k. */
static uint64_t split(uint64_t n)
{
	return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

void merkle_frontier_init(struct merkle_frontier *f)
{
	memset(f, 0, sizeof *f);
}

int merkle_frontier_check(const struct merkle_frontier *f)
{
	return f->n == (unsigned)__builtin_popcountll(f->size) ? 0 : -EBADMSG;
}

/*
 * Adding a leaf is a binary increment: each trailing one bit of size is
 * a perfect subtree of the size the new one has reached, so they merge
 * (the last of h with the running node) until a zero bit, where the new
 * subtree is appended. f is written only at the end.
 */
int merkle_frontier_add(const struct suite *s, struct merkle_frontier *f,
			const uint8_t leaf[MERKLE_HASH_LEN])
{
	uint8_t cur[MERKLE_HASH_LEN];
	if (merkle_frontier_check(f) != 0)
		return -EINVAL;
	if (f->size == UINT64_MAX)
		return -EOVERFLOW;
	memcpy(cur, leaf, sizeof cur);
	uint64_t size = f->size;
	unsigned n = f->n;
	for (; size & 1; size >>= 1, n--) {
		int e = merkle_node(s, f->h[n - 1], cur, cur);
		if (e != 0)
			return e;
	}
	/* n = popcount(f->size + 1) - 1 < MERKLE_MAX_DEPTH. */
	memcpy(f->h[n], cur, sizeof cur);
	f->n = (uint8_t)(n + 1);
	f->size++;
	return 0;
}

/*
 * MTH splits at the largest power of two below the size, which is h[0]'s
 * subtree when there is more than one, so the head folds h from the
 * smallest subtree up: h[0] || (h[1] || (... || h[n-1])).
 */
int merkle_frontier_root(const struct suite *s, const struct merkle_frontier *f,
			 uint8_t root[MERKLE_HASH_LEN])
{
	uint8_t r[MERKLE_HASH_LEN];
	if (s == NULL || merkle_frontier_check(f) != 0)
		return -EINVAL;
	if (f->n == 0)
		return suite_hash(s, "", 0, root);
	memcpy(r, f->h[f->n - 1], sizeof r);
	for (unsigned i = f->n - 1; i-- > 0;) {
		int e = merkle_node(s, f->h[i], r, r);
		if (e != 0)
			return e;
	}
	memcpy(root, r, sizeof r);
	return 0;
}

/* The callback's error, kept within our contract (0 or negative). */
static int leaf_error(int e)
{
	return e < 0 ? e : -EIO;
}

/* out = MTH(D[lo:lo+n]), n >= 1, from the leaves read in order. */
static int range_root(const struct suite *s, uint64_t lo, uint64_t n, merkle_leaf_fn leaf,
		      void *arg, uint8_t out[MERKLE_HASH_LEN])
{
	struct merkle_frontier f;
	uint8_t h[MERKLE_HASH_LEN];
	int e;
	merkle_frontier_init(&f);
	for (uint64_t i = 0; i < n; i++) {
		if ((e = leaf(lo + i, h, arg)) != 0)
			return leaf_error(e);
		if ((e = merkle_frontier_add(s, &f, h)) != 0)
			return e;
	}
	return merkle_frontier_root(s, &f, out);
}

int merkle_root(const struct suite *s, uint64_t size, merkle_leaf_fn leaf, void *arg,
		uint8_t out[MERKLE_HASH_LEN])
{
	if (s == NULL || leaf == NULL)
		return -EINVAL;
	if (size == 0)
		return suite_hash(s, "", 0, out);
	return range_root(s, 0, size, leaf, arg, out);
}

/*
 * Computes the spans' hashes in increasing lo (the spans are disjoint, so
 * every leaf is read at most once and in order) into proof slots, then
 * copies the n hashes to path. Selection sort: there are at most 65.
 */
static int fill_proof(const struct suite *s, struct span *sp, size_t n_sp, size_t n,
		      merkle_leaf_fn leaf, void *arg, uint8_t path[][MERKLE_HASH_LEN],
		      size_t *n_path)
{
	uint8_t tmp[MERKLE_MAX_DEPTH][MERKLE_HASH_LEN];
	for (size_t i = 0; i < n_sp; i++) {
		size_t min = i;
		for (size_t j = i + 1; j < n_sp; j++)
			if (sp[j].lo < sp[min].lo)
				min = j;
		struct span t = sp[i];
		sp[i] = sp[min];
		sp[min] = t;
		int e = range_root(s, sp[i].lo, sp[i].n, leaf, arg, tmp[sp[i].slot]);
		if (e != 0)
			return e;
	}
	memcpy(path, tmp, n * sizeof tmp[0]);
	*n_path = n;
	return 0;
}

/*
 * PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])        for m < k
 *              = PATH(m - k, D[k:n]) : MTH(D[0:k])    for m >= k
 * and PATH(0, {d(0)}) = {}: walking down, the sibling met at depth d is
 * proof element (depth - 1 - d), the proof running from the leaf up.
 */
int merkle_inclusion_proof(const struct suite *s, uint64_t index, uint64_t size,
			   merkle_leaf_fn leaf, void *arg,
			   uint8_t path[][MERKLE_HASH_LEN], size_t *n_path)
{
	struct span sp[MERKLE_MAX_DEPTH];
	size_t c = 0;
	if (s == NULL || leaf == NULL || index >= size)
		return -EINVAL;
	uint64_t lo = 0, m = index, n = size;
	while (n > 1) {
		/* Each step halves n at least, so a u64 size gives at most 64. */
		uint64_t k = split(n);
		if (m < k) {
			sp[c++] = (struct span){ lo + k, n - k, 0 };
			n = k;
		} else {
			sp[c++] = (struct span){ lo, k, 0 };
			lo += k;
			m -= k;
			n -= k;
		}
	}
	for (size_t i = 0; i < c; i++)
		sp[i].slot = c - 1 - i;
	return fill_proof(s, sp, c, c, leaf, arg, path, n_path);
}

/*
 * PROOF(m, D[n]) = SUBPROOF(m, D[n], true), and
 * SUBPROOF(m, D[m], true) = {}, SUBPROOF(m, D[m], false) = {MTH(D[m])},
 * SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])       m <= k
 *                      = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]) m > k
 * Walking down as for PATH; the subtree where m reaches n comes first
 * when b has become false (size1 is not a power of two).
 */
int merkle_consistency_proof(const struct suite *s, uint64_t size1, uint64_t size2,
			     merkle_leaf_fn leaf, void *arg,
			     uint8_t path[][MERKLE_HASH_LEN], size_t *n_path)
{
	struct span sp[MERKLE_MAX_DEPTH + 1];
	size_t c = 0;
	bool b = true;
	if (s == NULL || leaf == NULL || size1 > size2)
		return -EINVAL;
	if (size1 == size2 || size1 == 0) {
		*n_path = 0;
		return 0;
	}
	uint64_t lo = 0, m = size1, n = size2;
	while (m != n) {
		/* 0 < m < n, so n >= 2; at most 64 steps as for PATH. */
		uint64_t k = split(n);
		if (m <= k) {
			sp[c++] = (struct span){ lo + k, n - k, 0 };
			n = k;
		} else {
			sp[c++] = (struct span){ lo, k, 0 };
			lo += k;
			m -= k;
			n -= k;
			b = false;
		}
	}
	size_t first = b ? 0 : 1, total = c + first;
	if (total > MERKLE_MAX_DEPTH)
		return -EOVERFLOW;
	for (size_t i = 0; i < c; i++)
		sp[i].slot = first + c - 1 - i;
	if (!b)
		sp[c++] = (struct span){ lo, n, 0 };
	return fill_proof(s, sp, c, total, leaf, arg, path, n_path);
}

/* Right-shifts fn and sn together until LSB(fn) is set or fn is 0. */
static void shift_to_set(uint64_t *fn, uint64_t *sn)
{
	while ((*fn & 1) == 0 && *fn != 0) {
		*fn >>= 1;
		*sn >>= 1;
	}
}

int merkle_inclusion_verify(const struct suite *s, uint64_t index, uint64_t size,
			    const uint8_t leaf[MERKLE_HASH_LEN],
			    const uint8_t path[][MERKLE_HASH_LEN], size_t n_path,
			    const uint8_t root[MERKLE_HASH_LEN])
{
	uint8_t r[MERKLE_HASH_LEN];
	int e;
	if (s == NULL || leaf == NULL || root == NULL || (path == NULL && n_path > 0))
		return -EINVAL;
	/* 1. */
	if (index >= size)
		return -EBADMSG;
	/* 2., 3. */
	uint64_t fn = index, sn = size - 1;
	memcpy(r, leaf, sizeof r);
	/* 4. */
	for (size_t i = 0; i < n_path; i++) {
		const uint8_t *p = path[i];
		if (sn == 0)
			return -EBADMSG;
		if ((fn & 1) || fn == sn) {
			if ((e = merkle_node(s, p, r, r)) != 0)
				return e;
			if ((fn & 1) == 0)
				shift_to_set(&fn, &sn);
		} else if ((e = merkle_node(s, r, p, r)) != 0) {
			return e;
		}
		fn >>= 1;
		sn >>= 1;
	}
	/* 5. */
	return sn == 0 && memcmp(r, root, sizeof r) == 0 ? 0 : -EBADMSG;
}

int merkle_consistency_verify(const struct suite *s, uint64_t size1, uint64_t size2,
			      const uint8_t root1[MERKLE_HASH_LEN],
			      const uint8_t root2[MERKLE_HASH_LEN],
			      const uint8_t path[][MERKLE_HASH_LEN], size_t n_path)
{
	uint8_t fr[MERKLE_HASH_LEN], sr[MERKLE_HASH_LEN];
	int e;
	if (s == NULL || root1 == NULL || root2 == NULL || (path == NULL && n_path > 0))
		return -EINVAL;
	/* The cases outside the RFC's 0 < first < second. */
	if (size1 > size2)
		return -EBADMSG;
	if (size1 == size2)
		return n_path == 0 && memcmp(root1, root2, MERKLE_HASH_LEN) == 0 ? 0 : -EBADMSG;
	if (size1 == 0)
		return n_path == 0 ? 0 : -EBADMSG;
	/* 1. */
	if (n_path == 0)
		return -EBADMSG;
	/* 2. (first_hash prepended when first is a power of two) and 5. */
	size_t i = 0;
	const uint8_t *start = (size1 & (size1 - 1)) == 0 ? root1 : path[i++];
	memcpy(fr, start, sizeof fr);
	memcpy(sr, start, sizeof sr);
	/* 3. */
	uint64_t fn = size1 - 1, sn = size2 - 1;
	/* 4. */
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	/* 6. */
	for (; i < n_path; i++) {
		const uint8_t *c = path[i];
		if (sn == 0)
			return -EBADMSG;
		if ((fn & 1) || fn == sn) {
			if ((e = merkle_node(s, c, fr, fr)) != 0 ||
			    (e = merkle_node(s, c, sr, sr)) != 0)
				return e;
			if ((fn & 1) == 0)
				shift_to_set(&fn, &sn);
		} else if ((e = merkle_node(s, sr, c, sr)) != 0) {
			return e;
		}
		fn >>= 1;
		sn >>= 1;
	}
	/* 7. */
	if (sn != 0 || memcmp(fr, root1, sizeof fr) != 0 || memcmp(sr, root2, sizeof sr) != 0)
		return -EBADMSG;
	return 0;
}
