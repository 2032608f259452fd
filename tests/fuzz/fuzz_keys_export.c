/*
 * Fuzz harness for the key-set export parser: an export that parses has a
 * known suite, a dataset ID of 32 lower-case hex digits, and wrapped and
 * signature parts that lie inside the input and end exactly at its end;
 * anything else is refused without a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys/keystore_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keyset_export_head h;
	if (keystore_export_parse(data, size, &h) != 0)
		return 0;
	const uint8_t *end = data + size;
	if (suite_by_id(h.suite) == NULL || strlen(h.dataset_id) != DATASET_ID_LEN ||
	    strspn(h.dataset_id, "0123456789abcdef") != DATASET_ID_LEN ||
	    h.signed_part != data || h.wrapped < data || h.wrapped + h.wrapped_len > end ||
	    h.signed_len != (size_t)(h.wrapped + h.wrapped_len - data) || h.sig_len == 0 ||
	    h.sig + h.sig_len != end)
		abort();
	return 0;
}
