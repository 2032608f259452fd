/*
 * Fuzz harness for the certificate of sanitization's reader
 * (approval/certificate.h, docs/format/certificate.md): a certificate is
 * verified offline from a file anyone may hand over. The format check,
 * the JSON rendering and the whole verification (against a fixed key)
 * must return, never crash; the check and the rendering must agree on
 * what is well formed, and nothing verifies that the format refuses.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "approval/certificate.h"
#include "crypto/crypto.h"
#include "crypto/pkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pkey *key;
	if (key == NULL)
		require(pkey_generate(SUITE_INTERNATIONAL, PKEY_SIGN, &key) == 0);
	char why[512];
	struct cert_summary sum;
	struct buf json = { 0 };
	int f = cert_check_format(data, size, why, sizeof why);
	require(f == 0 || f == -EBADMSG);
	int j = cert_to_json(data, size, &json);
	require(j == f);
	int v = cert_verify(data, size, key, &sum, why, sizeof why);
	require(v == 0 || v == -EBADMSG || v == -EPERM);
	require(f == 0 || v != 0);
	buf_fini(&json);
	return 0;
}
