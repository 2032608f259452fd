/*
 * Delta blobs (docs/format/delta.md): a chunk that replaces a chunk at the
 * same place in the previous version of a file is stored as a librsync
 * ("rdiff") delta against that base chunk when the delta is much smaller.
 *
 * A delta blob is stored under the ID of the content it reconstructs,
 * MAC_idkey(new chunk), with entry type BLOB_DELTA, so trees and
 * deduplication never see the difference. Its plaintext is a small header
 * (version, base ID, reconstructed length) followed by the rdiff delta.
 * Chains are one level deep: a base is always a plain BLOB_DATA blob.
 *
 * These functions are pure (no repository, no I/O) so that the header
 * parser and the patcher can be fuzzed; repo_blob.c and check.c fetch the
 * base and call them.
 */
#ifndef COFFER_REPO_DELTA_H
#define COFFER_REPO_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "repo/blob.h"
#include "util/buf.h"

#define DELTA_VERSION 1
#define DELTA_HEADER_LEN (1 + BLOB_ID_LEN + 4)
/* librsync block length for signatures of bases (when content moved):
 * small, so a 4 KiB change costs about 4 KiB plus a block of literal. */
#define DELTA_BLOCK_LEN 512

struct delta_header {
	uint8_t version;
	uint8_t base_id[BLOB_ID_LEN];
	uint32_t length;       /* bytes the delta reconstructs, 1..BLOB_MAX_SIZE */
	const uint8_t *body;   /* the rdiff delta stream, inside the parsed input */
	size_t body_len;
};

/*
 * Parses a delta blob's plaintext. -ENOTSUP for an unknown version,
 * -EBADMSG for a bad length or a body that does not start with the rdiff
 * delta magic. h->body points into p.
 */
int delta_header_decode(const uint8_t *p, size_t len, struct delta_header *h);

/*
 * Encodes data as a delta blob plaintext against base (whose ID is
 * base_id) into out (replacing its contents). The delta is verified by
 * applying it before it is returned, so a weak-sum collision in the
 * signature can never store a wrong chunk. Returns 0, -EFBIG when the
 * plaintext would exceed max_len bytes (header included: the delta is not
 * worth keeping, and encoding stops early), -ENOMEM, -EINVAL (empty or
 * oversized input) or -EIO (librsync failed, or the check did).
 */
int delta_encode(const uint8_t base_id[BLOB_ID_LEN], const uint8_t *base, size_t base_len,
		 const uint8_t *data, size_t len, size_t max_len, struct buf *out);

/*
 * Applies the rdiff delta of h to base into out (replacing its contents).
 * Output is capped at h->length bytes, and must be exactly that long; copy
 * commands must stay inside base. -EBADMSG on any violation.
 */
int delta_apply(const struct delta_header *h, const uint8_t *base, size_t base_len,
		struct buf *out);

/*
 * delta_apply, then checks MAC_idkey(result) == id: the only proof that
 * the delta, the base and the ID belong together. On failure out is
 * empty. -EBADMSG on mismatch.
 */
int delta_reconstruct(const struct suite *s, const uint8_t id_key[CRYPTO_KEY_LEN],
		      const uint8_t id[BLOB_ID_LEN], const struct delta_header *h,
		      const uint8_t *base, size_t base_len, struct buf *out);

#endif
