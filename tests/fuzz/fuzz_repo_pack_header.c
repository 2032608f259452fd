/*
 * Fuzzes pack_header_decode: the first 8 bytes give data_len, the rest is
 * the header plaintext. An accepted header must tile [0, data_len) with
 * valid entries, and since the encoding is canonical, encoding it again
 * must give back the input bytes and decode to the same entries.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int entry_differs(const struct blob_entry *a, const struct blob_entry *b)
{
	return memcmp(a->id, b->id, BLOB_ID_LEN) != 0 || a->type != b->type ||
	       a->comp != b->comp || a->offset != b->offset ||
	       a->stored_len != b->stored_len || a->raw_len != b->raw_len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blob_entry *es = NULL, *es2 = NULL;
	struct buf b = { 0 };
	size_t n = 0, n2 = 0;
	uint32_t kg = 0, kg2 = 0;

	if (size < 8)
		return 0;
	uint64_t data_len = le64_get(data);
	if (pack_header_decode(data + 8, size - 8, data_len, &kg, &es, &n) != 0)
		return 0;
	uint64_t off = 0;
	for (size_t i = 0; i < n; i++) {
		if (es[i].offset != off)
			abort();
		off += es[i].stored_len;
	}
	if (n == 0 || off != data_len)
		abort();
	if (pack_header_encode(kg, es, n, &b) != 0)
		abort();
	if (b.len != size - 8 || memcmp(b.data, data + 8, b.len) != 0)
		abort();
	if (pack_header_decode(b.data, b.len, data_len, &kg2, &es2, &n2) != 0)
		abort();
	if (kg2 != kg || n2 != n)
		abort();
	for (size_t i = 0; i < n; i++)
		if (entry_differs(&es[i], &es2[i]))
			abort();
	buf_fini(&b);
	free(es);
	free(es2);
	return 0;
}
