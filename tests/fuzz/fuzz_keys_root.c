/*
 * Fuzz harness for the keystore root-file parser: any bytes either parse
 * into a header whose scrypt parameters are bounded and whose suite
 * exists, or are refused; never a crash or an out-of-bounds read.
 */
#include <stdint.h>
#include <stdlib.h>

#include "keys/keystore_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct root_head h;
	if (keystore_root_parse(data, size, &h) != 0)
		return 0;
	if (suite_by_id(h.suite) == NULL || h.n < 2 || (h.n & (h.n - 1)) != 0 ||
	    128ull * h.r * h.n > (1ull << 30) || h.p == 0 || h.p > 64)
		abort();
	return 0;
}
