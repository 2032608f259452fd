/*
 * Fuzz harness for the destruction request parser (approval/request.h,
 * docs/format/erase.md "Requests"): erase.db is not trusted, so its
 * stored encodings are untrusted input. Anything but 0, -EBADMSG and
 * -ENOTSUP aborts; an accepted request must re-encode to exactly its
 * input (the encoding is canonical: two byte strings never parse as one
 * request, so a signature over one can never be shown for another), and
 * its statement must be made.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "approval/request.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct erase_request r;
	int e = erase_request_parse(data, size, &r);
	require(e == 0 || e == -EBADMSG || e == -ENOTSUP);
	if (e != 0)
		return 0;
	struct buf again = { 0 }, st = { 0 };
	uint8_t d[32];
	require(erase_request_encode(&r, &again) == 0);
	require(again.len == size && memcmp(again.data, data, size) == 0);
	require(erase_request_digest(r.suite, data, size, d) == 0);
	require(erase_statement(r.id, d, &st) == 0 && st.len < ERASE_STATEMENT_MAX);
	buf_fini(&again);
	buf_fini(&st);
	erase_request_free(&r);
	return 0;
}
