/*
 * Fuzzes the tree decoder. Whatever it accepts must re-encode to exactly
 * the input: the decoder admits only canonical encodings, which is what
 * makes equal directories deduplicate. Any other outcome aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/tree.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tree t;
	struct buf b = { 0 };

	if (tree_decode(data, size, &t) != 0)
		return 0;
	if (tree_encode(&t, &b) != 0 || b.len != size ||
	    (size && memcmp(b.data, data, size) != 0))
		abort();
	for (size_t i = 0; i < t.n; i++)
		if (tree_find(&t, t.nodes[i].name, t.nodes[i].name_len) != &t.nodes[i])
			abort();
	tree_fini(&t);
	buf_fini(&b);
	return 0;
}
