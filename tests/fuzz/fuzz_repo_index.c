/*
 * Fuzzes index_file_decode. The encoding is canonical, so anything the
 * decoder accepts must encode back to exactly the input bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct index_file f;
	struct buf b = { 0 };

	if (index_file_decode(data, size, &f) != 0)
		return 0;
	if (index_file_encode(&f, &b) != 0)
		abort();
	if (b.len != size || memcmp(b.data, data, size) != 0)
		abort();
	buf_fini(&b);
	index_file_fini(&f);
	return 0;
}
