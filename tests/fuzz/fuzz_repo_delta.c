/*
 * Fuzzes the delta blob reader: delta_header_decode, then librsync patch
 * application with the output cap (delta_apply) and the final ID check
 * (delta_reconstruct). Input: 2 bytes (little-endian) choosing the base
 * length, 0..65535 bytes of a fixed pseudo-random base, then a delta
 * blob's plaintext. Whatever is accepted must produce exactly the length
 * the header promises; copies must stay inside the base (ASan checks).
 * Headers promising more than 1 MiB are parsed but not applied, to keep
 * runs fast (the cap itself is what is tested, not large outputs).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/delta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BASE_MAX 65536
#define APPLY_MAX (1u << 20)

static uint8_t base[BASE_MAX];
static const uint8_t id_key[CRYPTO_KEY_LEN] = { 0xde, 0x17 };

/* The same base as the seed generator used: xorshift32 from seed 7. */
static void base_init(void)
{
	static int done;
	uint32_t x = 7u * 2654435761u + 1;
	if (done)
		return;
	for (size_t i = 0; i < BASE_MAX; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		base[i] = (uint8_t)x;
	}
	done = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct delta_header h;
	struct buf out = { 0 };
	uint8_t id[BLOB_ID_LEN] = { 0 };
	if (size < 2)
		return 0;
	base_init();
	size_t base_len = (size_t)data[0] | (size_t)data[1] << 8;
	if (delta_header_decode(data + 2, size - 2, &h) != 0)
		return 0;
	if (h.version != DELTA_VERSION || h.length == 0 || h.length > BLOB_MAX_SIZE ||
	    h.body < data + 2 || h.body + h.body_len != data + size)
		abort();
	if (h.length > APPLY_MAX)
		return 0;
	if (delta_apply(&h, base, base_len, &out) == 0 && out.len != h.length)
		abort();
	/* The MAC check must refuse an ID that is not the output's. */
	const struct suite *s = suite_by_id(SUITE_INTERNATIONAL);
	if (s != NULL && delta_reconstruct(s, id_key, id, &h, base, base_len, &out) == 0 &&
	    out.len != h.length)
		abort();
	buf_fini(&out);
	return 0;
}
