/*
 * Fuzz harness for the share-file parser: a share that parses has a
 * threshold of at least 2, no more than its count, and an x within the
 * count; anything else is refused without a crash.
 */
#include <stdint.h>
#include <stdlib.h>

#include "keys/keystore_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct share_file sh;
	if (keystore_share_parse(data, size, &sh) != 0)
		return 0;
	if (sh.m < 2 || sh.m > sh.n || sh.x == 0 || sh.x > sh.n || suite_by_id(sh.suite) == NULL)
		abort();
	return 0;
}
