/*
 * Fuzzes the snapshot decoder. Whatever it accepts must re-encode to
 * exactly the input (the encoding is canonical); any other outcome aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/snapshot.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapshot s;
	struct buf b = { 0 };

	if (snapshot_decode(data, size, &s) != 0)
		return 0;
	if (snapshot_encode(&s, &b) != 0 || b.len != size ||
	    (size && memcmp(b.data, data, size) != 0))
		abort();
	snapshot_fini(&s);
	buf_fini(&b);
	return 0;
}
