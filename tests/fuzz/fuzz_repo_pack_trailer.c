/*
 * Fuzzes pack_trailer_parse. The trailer is the last 16 bytes of the input;
 * it is parsed once with the input's own length as the file length and
 * once with a file length taken from the first 8 bytes (so lengths far
 * beyond the input are covered). Whatever is accepted must satisfy the
 * bounds docs/format/pack.md promises to readers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "repo/pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *trailer, uint64_t file_len)
{
	uint32_t hlen = 0;

	if (pack_trailer_parse(trailer, file_len, &hlen) != 0)
		return;
	if (file_len < PACK_TRAILER_LEN || hlen > file_len - PACK_TRAILER_LEN ||
	    hlen < AEAD_OVERHEAD + 12 + PACK_ENTRY_LEN ||
	    (hlen - AEAD_OVERHEAD - 12) % PACK_ENTRY_LEN != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < PACK_TRAILER_LEN)
		return 0;
	const uint8_t *trailer = data + size - PACK_TRAILER_LEN;
	check(trailer, size);
	if (size >= 8 + PACK_TRAILER_LEN)
		check(trailer, le64_get(data));
	return 0;
}
