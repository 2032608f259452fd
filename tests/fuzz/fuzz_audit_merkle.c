/*
 * Fuzz harness for the RFC 9162 Merkle verifiers and provers
 * (audit/merkle.h). The verifiers take what an auditor is handed, so any
 * sizes, index, hashes and path must give 0, -EBADMSG or -EINVAL, never a
 * crash, a hang or a read outside the path. When the input instead
 * describes a real tree (its bytes are the leaves), the heads must agree
 * and the proofs generated must verify, and fail once a bit is flipped.
 *
 * Input: byte 0 = flags: bit 0 real tree, bit 1 SM3 (else SHA-256),
 * bit 2 (raw) one-byte sizes and index (else u64 little-endian each).
 * Raw: size1, size2, index, then leaf, root1, root2 (32 bytes each), then
 * the path, 32 bytes per element (at most 80, a trailing part ignored).
 * Real tree: size1 selector, index selector, mutation selector (a byte
 * each), then leaves, each a length byte (low 4 bits) and that many
 * bytes, at most 256 leaves.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/merkle.h"
#include "crypto/crypto.h"

#define HL MERKLE_HASH_LEN
#define MAX_LEAVES 256
#define MAX_RAW_PATH 80

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok)
		abort();
}

static bool allowed(int e)
{
	return e == 0 || e == -EBADMSG || e == -EINVAL;
}

static uint64_t take(const uint8_t **p, size_t *left, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n && *left > 0; i++, (*p)++, (*left)--)
		v |= (uint64_t)**p << (8 * i);
	return v;
}

static void take_hash(const uint8_t **p, size_t *left, uint8_t out[HL])
{
	size_t n = *left < HL ? *left : HL;
	memset(out, 0, HL);
	memcpy(out, *p, n);
	*p += n;
	*left -= n;
}

static void raw(const struct suite *s, bool small, const uint8_t *p, size_t left)
{
	size_t w = small ? 1 : 8;
	uint64_t size1 = take(&p, &left, w), size2 = take(&p, &left, w);
	uint64_t index = take(&p, &left, w);
	uint8_t leaf[HL], root1[HL], root2[HL];
	take_hash(&p, &left, leaf);
	take_hash(&p, &left, root1);
	take_hash(&p, &left, root2);
	size_t n = left / HL;
	if (n > MAX_RAW_PATH)
		n = MAX_RAW_PATH;
	/* An exact-size copy, so that a read past n elements is caught. */
	uint8_t(*path)[HL] = n > 0 ? malloc(n * HL) : NULL;
	if (n > 0 && path == NULL)
		return;
	if (n > 0)
		memcpy(path, p, n * HL);
	const uint8_t(*cpath)[HL] = (const uint8_t(*)[HL])path;
	int e = merkle_inclusion_verify(s, index, size2, leaf, cpath, n, root2);
	require(allowed(e));
	if (index >= size2)
		require(e == -EBADMSG);
	e = merkle_consistency_verify(s, size1, size2, root1, root2, cpath, n);
	require(allowed(e));
	if (size1 > size2)
		require(e == -EBADMSG);
	free(path);
}

struct leaves {
	uint8_t h[MAX_LEAVES][HL];
	uint64_t n;
};

static int leaf_at(uint64_t index, uint8_t out[HL], void *arg)
{
	const struct leaves *l = arg;
	require(index < l->n);
	memcpy(out, l->h[index], HL);
	return 0;
}

static void real(const struct suite *s, const uint8_t *p, size_t left)
{
	static struct leaves l; /* 8 KiB: off the stack */
	struct merkle_frontier f, f1;
	uint8_t root[HL], root1[HL], got[HL], path[MERKLE_MAX_DEPTH][HL];
	size_t n_path;
	uint8_t sel1 = (uint8_t)take(&p, &left, 1), sel2 = (uint8_t)take(&p, &left, 1);
	uint8_t mut = (uint8_t)take(&p, &left, 1);

	l.n = 0;
	while (left > 0 && l.n < MAX_LEAVES) {
		size_t len = *p & 15;
		p++, left--;
		if (len > left)
			len = left;
		require(merkle_leaf(s, p, len, l.h[l.n++]) == 0);
		p += len, left -= len;
	}
	uint64_t size1 = sel1 % (l.n + 1);

	merkle_frontier_init(&f);
	merkle_frontier_init(&f1);
	for (uint64_t i = 0; i < l.n; i++) {
		if (i == size1)
			f1 = f;
		require(merkle_frontier_add(s, &f, l.h[i]) == 0);
		require(merkle_frontier_check(&f) == 0);
	}
	if (size1 == l.n)
		f1 = f;
	require(merkle_root(s, l.n, leaf_at, &l, root) == 0);
	require(merkle_frontier_root(s, &f, got) == 0 && memcmp(got, root, HL) == 0);
	require(merkle_root(s, size1, leaf_at, &l, root1) == 0);
	require(merkle_frontier_root(s, &f1, got) == 0 && memcmp(got, root1, HL) == 0);

	if (l.n > 0) {
		uint64_t index = sel2 % l.n;
		require(merkle_inclusion_proof(s, index, l.n, leaf_at, &l, path, &n_path) == 0);
		require(n_path <= MERKLE_MAX_DEPTH);
		require(merkle_inclusion_verify(s, index, l.n, l.h[index],
						(const uint8_t(*)[HL])path, n_path, root) == 0);
		if (n_path > 0) {
			path[mut % n_path][(mut / 8) % HL] ^= (uint8_t)(1u << (mut % 8));
			require(merkle_inclusion_verify(s, index, l.n, l.h[index],
							(const uint8_t(*)[HL])path, n_path,
							root) == -EBADMSG);
		}
		require(merkle_inclusion_proof(s, l.n, l.n, leaf_at, &l, path, &n_path) == -EINVAL);
	}

	require(merkle_consistency_proof(s, size1, l.n, leaf_at, &l, path, &n_path) == 0);
	require(n_path <= MERKLE_MAX_DEPTH);
	require(merkle_consistency_verify(s, size1, l.n, root1, root, (const uint8_t(*)[HL])path,
					  n_path) == 0);
	if (n_path > 0) {
		path[mut % n_path][(mut / 8) % HL] ^= (uint8_t)(1u << (mut % 8));
		require(merkle_consistency_verify(s, size1, l.n, root1, root,
						  (const uint8_t(*)[HL])path, n_path) == -EBADMSG);
	}
	require(merkle_consistency_proof(s, l.n + 1, l.n, leaf_at, &l, path, &n_path) == -EINVAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t flags = data[0];
	const struct suite *s = suite_by_id(flags & 2 ? SUITE_NATIONAL : SUITE_INTERNATIONAL);
	require(s != NULL);
	if (flags & 1)
		real(s, data + 1, size - 1);
	else
		raw(s, (flags & 4) != 0, data + 1, size - 1);
	return 0;
}
