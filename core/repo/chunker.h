/*
 * FastCDC content-defined chunking with a keyed gear table.
 *
 * The gear table (256 64-bit values) is derived from a repository secret, so
 * chunk boundaries depend on the key: someone who sees chunk sizes cannot
 * tell whether a known file is stored by chunking it themselves.
 *
 * The cut-point search is a pure function over bytes: no I/O, no state
 * beyond the parameters, so it is easy to test and fuzz.
 */
#ifndef COFFER_REPO_CHUNKER_H
#define COFFER_REPO_CHUNKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

#define CHUNKER_MIN_LIMIT 64u              /* smallest allowed min size */
#define CHUNKER_MAX_LIMIT (64u << 20)      /* largest allowed max size */

struct chunker_params {
	uint32_t min_size;  /* no cut before this many bytes */
	uint32_t avg_size;  /* power of two; expected chunk size */
	uint32_t max_size;  /* always cut here */
	uint64_t mask_s;    /* stricter mask used before avg_size (normalised chunking) */
	uint64_t mask_l;    /* looser mask used after avg_size */
	uint64_t gear[256];
};

/*
 * Fills p from a 32-byte gear key (the table is derived with suite s's
 * KDF) and the sizes. Requires
 * CHUNKER_MIN_LIMIT <= min < avg < max <= CHUNKER_MAX_LIMIT and avg a power
 * of two. Returns 0 or -EINVAL.
 */
int chunker_params_init(struct chunker_params *p, const struct suite *s,
			const uint8_t gear_key[32],
			uint32_t min_size, uint32_t avg_size, uint32_t max_size);

/*
 * Length of the chunk that starts at buf[0]. If no cut point lies within
 * len bytes and len < max_size, returns 0 when !eof (the caller must supply
 * more data) or len when eof (the final chunk). Never returns more than
 * max_size or len.
 */
size_t chunker_find_cut(const struct chunker_params *p, const uint8_t *buf,
			size_t len, bool eof);

#endif
