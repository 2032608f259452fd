/*
 * FastCDC content-defined chunking (Xia et al., USENIX ATC 2016) with
 * normalised chunking and a keyed gear table; see chunker.h and
 * docs/format/crypto.md.
 *
 * The gear hash h = (h << 1) + gear[byte] forgets a byte after 64 steps
 * (its contribution is shifted out), so h is a function of exactly the last
 * 64 bytes. The search therefore starts hashing 64 bytes before min_size:
 * every cut decision depends only on the 64 bytes before the cut and on
 * where the cut lies relative to the chunk start. That makes boundaries
 * resynchronise after an insertion as soon as one old boundary is found
 * again, and makes the result independent of how the input was buffered.
 */
#include "repo/chunker.h"

#include <errno.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/buf.h"
#include "util/mem.h"

#define GEAR_INFO "coffer/v1 chunker gear"
#define GEAR_WINDOW 64 /* bytes that h depends on: its width in bits */

/*
 * The k most significant bits of a 64-bit word.
 *
 * Why the high bits: bit j of h receives gear[b] << s for each byte b that
 * is s <= j steps old (plus carries from lower bits, which come from even
 * newer bytes). Bit 0 therefore depends on the newest byte alone and bit 63
 * on all 64 bytes of the window. A mask over the low bits would make the
 * cut decision a function of a handful of bytes and repeat on any short
 * repeating pattern; with the top k bits the weakest tested bit (64 - k)
 * still covers the last 65 - k bytes (at least 38 for the largest allowed
 * avg_size) and the whole test covers the full 64-byte window.
 */
static uint64_t top_bits(unsigned k)
{
	return ~(uint64_t)0 << (64 - k);
}

int chunker_params_init(struct chunker_params *p, const struct suite *s,
			const uint8_t gear_key[32],
			uint32_t min_size, uint32_t avg_size, uint32_t max_size)
{
	uint8_t table[256 * 8];
	unsigned bits = 0;

	/*
	 * min_size >= CHUNKER_MIN_LIMIT (64 = GEAR_WINDOW) lets the hash warm
	 * up inside the chunk, and makes avg_size >= 128 so that mask_l keeps
	 * at least 5 bits; max_size <= 64 MiB makes avg_size <= 32 MiB so
	 * mask_s has at most 27.
	 */
	if (min_size < CHUNKER_MIN_LIMIT || min_size >= avg_size ||
	    avg_size >= max_size || max_size > CHUNKER_MAX_LIMIT ||
	    (avg_size & (avg_size - 1)) != 0)
		return -EINVAL;
	while ((1u << bits) < avg_size)
		bits++;

	/* The suite's own KDF: a national repository derives nothing with SHA-256. */
	int e = suite_kdf(s, gear_key, 32, GEAR_INFO, table, sizeof table);
	if (e != 0)
		goto out;
	p->min_size = min_size;
	p->avg_size = avg_size;
	p->max_size = max_size;
	/*
	 * Normalised chunking, level 2: a cut is 4 times less likely than
	 * 1/avg_size per byte before avg_size and 4 times more likely after
	 * it, which pulls chunk sizes towards avg_size.
	 */
	p->mask_s = top_bits(bits + 2);
	p->mask_l = top_bits(bits - 2);
	for (size_t i = 0; i < 256; i++)
		p->gear[i] = le64_get(table + 8 * i);
out:
	mem_wipe(table, sizeof table);
	return e;
}

/*
 * A cut of length L is accepted when, after hashing byte L - 1, the bits of
 * h under the mask are all zero: mask_s for min_size <= L < avg_size,
 * mask_l for avg_size <= L < max_size; L = max_size is always a cut.
 */
size_t chunker_find_cut(const struct chunker_params *p, const uint8_t *buf,
			size_t len, bool eof)
{
	const uint64_t *gear = p->gear;
	const uint64_t mask_s = p->mask_s, mask_l = p->mask_l;
	size_t n = len < p->max_size ? len : p->max_size;
	size_t i = p->min_size - GEAR_WINDOW;
	size_t warm_end = p->min_size - 1;
	size_t small_end = p->avg_size - 1 < n ? p->avg_size - 1 : n;
	uint64_t h = 0;

	if (n < p->min_size)
		return eof ? len : 0;
	for (; i < warm_end; i++)
		h = (h << 1) + gear[buf[i]];
	for (; i < small_end; i++) {
		h = (h << 1) + gear[buf[i]];
		if ((h & mask_s) == 0)
			return i + 1;
	}
	for (; i < n; i++) {
		h = (h << 1) + gear[buf[i]];
		if ((h & mask_l) == 0)
			return i + 1;
	}
	if (n == p->max_size)
		return n;
	return eof ? len : 0;
}
