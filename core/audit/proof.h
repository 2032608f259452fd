/*
 * Proof files (docs/format/audit.md, "Proofs"): an RFC 9162 inclusion
 * proof of one entry, or a consistency proof between two tree sizes,
 * made from an export's trail and checked by someone who holds only
 * signed checkpoints and the proof, not the trail.
 *
 * The makers read the trail bytes of an export (audit_export_parse) and
 * log what stops them. The parser is strict and has a fuzz harness; the
 * checker compares a parsed proof with checkpoints whose signatures the
 * caller has checked (a proof is worth what its checkpoint is worth).
 *
 * Errors: 0 or a negative errno. -EINVAL bad arguments (an entry not in
 * the tree asked for, size1 > size2, an unknown suite); -ERANGE entries
 * the trail does not hold (past its end, or removed by a prune);
 * -EBADMSG a damaged trail, a malformed proof or one that does not check;
 * -ENOTSUP a proof of a newer version; -ENOMEM; -EIO from the hash.
 */
#ifndef COFFER_AUDIT_PROOF_H
#define COFFER_AUDIT_PROOF_H

#include <stddef.h>
#include <stdint.h>

#include "audit/merkle.h"
#include "util/buf.h"

struct audit_cp;

enum audit_proof_kind { AUDIT_PROOF_INCLUSION = 1, AUDIT_PROOF_CONSISTENCY = 2 };

/* A proof; the entry and the path are borrowed (from the parsed bytes, or the caller's). */
struct audit_proof {
	uint32_t suite;
	enum audit_proof_kind kind;
	/* Inclusion: entry `index` (its seq) is in the tree of tree_size entries. */
	uint64_t index, tree_size;
	const uint8_t *entry;     /* the entry as the trail holds it: length field, entry bytes */
	size_t entry_len;         /* 4 + the length field */
	/* Consistency: the tree of size1 entries is a prefix of the tree of size2. */
	uint64_t size1, size2;
	/* RFC 9162 PATH(index, D[tree_size]) or PROOF(size1, D[size2]). */
	const uint8_t (*path)[MERKLE_HASH_LEN];
	size_t n_path;            /* <= MERKLE_MAX_DEPTH */
};

/*
 * Appends to out the proof file that entry seq of trail (len bytes, the
 * trail of an export of suite) is in the tree of its first tree_size
 * entries. -EINVAL seq >= tree_size; -ERANGE the trail holds fewer than
 * tree_size entries, or the proof needs entries removed by a prune.
 */
int audit_proof_inclusion(const uint8_t *trail, size_t len, uint32_t suite, uint64_t seq,
			  uint64_t tree_size, struct buf *out);
/*
 * Appends to out the proof file that the tree of the first size1 entries
 * of trail is a prefix of the tree of its first size2. -EINVAL size1 >
 * size2; -ERANGE as for inclusion, and size1 below a prune's anchor.
 */
int audit_proof_consistency(const uint8_t *trail, size_t len, uint32_t suite, uint64_t size1,
			    uint64_t size2, struct buf *out);
/*
 * root = MTH of the first size entries of trail, what a checkpoint of
 * that size must hold. -ERANGE fewer entries, or size below a prune's
 * anchor (above it, the anchor's compact range stands in).
 */
int audit_trail_head(const uint8_t *trail, size_t len, uint32_t suite, uint64_t size,
		     uint8_t root[MERKLE_HASH_LEN]);

/* Appends the proof file of pr (the one writer of the format). -EINVAL pr is not one. */
int audit_proof_encode(const struct audit_proof *pr, struct buf *out);
/*
 * Parses a whole proof file (out borrows from p): -EBADMSG another magic,
 * an unknown kind, a length over its limit, more than MERKLE_MAX_DEPTH
 * hashes, index >= tree_size or size1 > size2, bytes short or left over;
 * -ENOTSUP another version. The entry's content is the checker's.
 */
int audit_proof_parse(const uint8_t *p, size_t len, struct audit_proof *out);

/*
 * Checks pr against signed checkpoints: an inclusion proof against
 * cp_new (cp_old unused), a consistency proof from cp_old to cp_new.
 * Signatures are not looked at: the caller checks them first with the
 * key it trusts. 0, or -EBADMSG with why (size bytes) saying what does
 * not hold; -EINVAL a consistency proof without cp_old.
 */
int audit_proof_check(const struct audit_proof *pr, const struct audit_cp *cp_new,
		      const struct audit_cp *cp_old, char *why, size_t size);

#endif
