/*
 * The Merkle tree of RFC 9162 section 2.1 (Certificate Transparency v2,
 * the same tree as RFC 6962 section 2.1) over the audit trail's entries,
 * with the trail's suite hash (SHA-256 or SM3) in place of SHA-256. It
 * gives the signed checkpoints their root, and lets anyone holding a
 * checkpoint be shown that an entry is in it (inclusion proof) or that a
 * later checkpoint extends it (consistency proof) without the trail.
 *
 * A writer keeps a frontier (compact range) and updates the tree head in
 * O(log n) per append; provers read leaf hashes back through a callback
 * (O(n) leaf reads, no heap allocation); verifiers are the iterative
 * algorithms of RFC 9162 2.1.3.2 and 2.1.4.2, O(proof length).
 *
 * Errors: 0 or a negative errno. -EBADMSG a proof or frontier that does
 * not check, -EINVAL bad arguments, -EOVERFLOW a tree too large for this
 * module's fixed-size arrays (over 2^63 leaves, see MERKLE_MAX_DEPTH), the
 * leaf callback's own error, or the hash's (-EIO from OpenSSL).
 */
#ifndef COFFER_AUDIT_MERKLE_H
#define COFFER_AUDIT_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_LEN 32   /* = CRYPTO_HASH_LEN: both suites' hashes */
/*
 * Frontiers never hold more than this many hashes (one per set bit of a
 * u64 size); inclusion proofs never exceed it either. A consistency proof
 * fits when size2 <= 2^63; above that one could need 65 hashes, and
 * merkle_consistency_proof says -EOVERFLOW instead.
 */
#define MERKLE_MAX_DEPTH 64

struct suite;

/* RFC 9162 2.1.1: leaf hash = HASH(0x00 || data). */
int merkle_leaf(const struct suite *s, const void *data, size_t len,
		uint8_t out[MERKLE_HASH_LEN]);
/* RFC 9162 2.1.1: interior node = HASH(0x01 || l || r). out may alias l or r. */
int merkle_node(const struct suite *s, const uint8_t l[MERKLE_HASH_LEN],
		const uint8_t r[MERKLE_HASH_LEN], uint8_t out[MERKLE_HASH_LEN]);

/*
 * A compact range [0, size): the roots of the perfect subtrees that the
 * binary decomposition of size gives, largest first (one per set bit of
 * size, so h[i] covers 2^(bit) leaves). Enough to compute MTH(D[0:size])
 * and every later tree head without the leaves; plain data, so it can be
 * saved and restored (check it with merkle_frontier_check after reading).
 */
struct merkle_frontier {
	uint64_t size;                               /* leaves covered */
	uint8_t n;                                   /* = popcount(size) */
	uint8_t h[MERKLE_MAX_DEPTH][MERKLE_HASH_LEN]; /* h[0..n-1], largest subtree first */
};

/* The empty frontier (size 0). */
void merkle_frontier_init(struct merkle_frontier *f);
/*
 * Appends one leaf hash (from merkle_leaf). On error f is unchanged:
 * -EINVAL f fails merkle_frontier_check, -EOVERFLOW size is UINT64_MAX.
 */
int merkle_frontier_add(const struct suite *s, struct merkle_frontier *f,
			const uint8_t leaf[MERKLE_HASH_LEN]);
/*
 * root = MTH(D[0:size]); the empty tree's head is HASH() of the empty
 * string (RFC 9162 2.1.1). -EINVAL f fails merkle_frontier_check.
 */
int merkle_frontier_root(const struct suite *s, const struct merkle_frontier *f,
			 uint8_t root[MERKLE_HASH_LEN]);
/* 0, or -EBADMSG if n is not the number of set bits of size (frontiers read from disk). */
int merkle_frontier_check(const struct merkle_frontier *f);

/*
 * Supplies the leaf hash of entry index (< the size asked for) from the
 * caller's storage: 0, or a negative errno that the calling function
 * returns as it is. The functions below read each index at most once per
 * call, in increasing order (sequential reads of the caller's storage).
 */
typedef int (*merkle_leaf_fn)(uint64_t index, uint8_t out[MERKLE_HASH_LEN], void *arg);

/* out = MTH(D[0:size]) from the leaf hashes 0..size-1; HASH() when size is 0. */
int merkle_root(const struct suite *s, uint64_t size, merkle_leaf_fn leaf, void *arg,
		uint8_t out[MERKLE_HASH_LEN]);

/*
 * RFC 9162 2.1.3.1: the inclusion proof PATH(index, D[size]) into path
 * (MERKLE_MAX_DEPTH entries), its length in *n_path; both written only
 * on success. -EINVAL index >= size.
 */
int merkle_inclusion_proof(const struct suite *s, uint64_t index, uint64_t size,
			   merkle_leaf_fn leaf, void *arg,
			   uint8_t path[][MERKLE_HASH_LEN], size_t *n_path);
/*
 * RFC 9162 2.1.3.2: 0 if path (n_path hashes) proves that leaf is entry
 * index of the tree of size leaves whose head is root; -EBADMSG otherwise,
 * index >= size included. The size is not bound by the proof: the caller
 * takes size and root from the same signed checkpoint.
 */
int merkle_inclusion_verify(const struct suite *s, uint64_t index, uint64_t size,
			    const uint8_t leaf[MERKLE_HASH_LEN],
			    const uint8_t path[][MERKLE_HASH_LEN], size_t n_path,
			    const uint8_t root[MERKLE_HASH_LEN]);

/*
 * RFC 9162 2.1.4.1: the consistency proof PROOF(size1, D[size2]) into
 * path (MERKLE_MAX_DEPTH entries), its length in *n_path; both written
 * only on success. size1 == size2 and size1 == 0 give the empty proof
 * (no leaf is read). -EINVAL size1 > size2; -EOVERFLOW the proof would
 * exceed MERKLE_MAX_DEPTH hashes (only possible when size2 > 2^63).
 */
int merkle_consistency_proof(const struct suite *s, uint64_t size1, uint64_t size2,
			     merkle_leaf_fn leaf, void *arg,
			     uint8_t path[][MERKLE_HASH_LEN], size_t *n_path);
/*
 * RFC 9162 2.1.4.2: 0 if path (n_path hashes) proves that the tree of
 * size1 leaves with head root1 is a prefix of the tree of size2 leaves
 * with head root2; -EBADMSG otherwise. As in RFC 9162 and its reference
 * verifiers: size1 > size2 fails; size1 == size2 needs the empty proof and
 * root1 == root2; size1 == 0 (< size2) needs the empty proof and is
 * always consistent (root1 is not looked at). As for inclusion, the sizes
 * come with the roots from signed checkpoints.
 */
int merkle_consistency_verify(const struct suite *s, uint64_t size1, uint64_t size2,
			      const uint8_t root1[MERKLE_HASH_LEN],
			      const uint8_t root2[MERKLE_HASH_LEN],
			      const uint8_t path[][MERKLE_HASH_LEN], size_t n_path);

#endif
