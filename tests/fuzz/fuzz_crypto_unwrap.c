/*
 * Fuzz harness for pkey_unwrap, the parser of wrapped secrets
 * (docs/format/crypto.md section 7.3): every input is offered to a fixed
 * X25519 key and a fixed SM2 key, with a fixed aad. The committed seeds
 * were wrapped for these keys, so the fuzzer starts from valid messages of
 * both versions; anything it changes must be refused without a crash, a
 * leak, or a secret returned.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/pkey.h"

/* Written by `openssl genpkey -algorithm X25519`; a test key, nothing else. */
static const char x25519_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VuBCIEIJgZt+KKHFqNGNqacjfEUPiflEIeYHT8jY6TdDUr6idM\n"
	"-----END PRIVATE KEY-----\n";
/* Written by `openssl genpkey -algorithm SM2`; a test key, nothing else. */
static const char sm2_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgmtfIZucPKS4bFa4y\n"
	"e4mcVOG0FHdLpmrPEg/e5IFDnVGhRANCAATYIQ9+MRLnSB8xo0Y+kXy72MDff5UA\n"
	"3TQjunVfu4JqciE9W+h98lymIeSVtODpBoZNEyw09PK0vKmbEE7L7CPe\n"
	"-----END PRIVATE KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pkey *keys[2];

static void load_keys(void)
{
	if (keys[0] != NULL)
		return;
	if (pkey_from_private_pem(x25519_pem, sizeof x25519_pem - 1, PKEY_WRAP,
				  &keys[0]) != 0 ||
	    pkey_from_private_pem(sm2_pem, sizeof sm2_pem - 1, PKEY_WRAP, &keys[1]) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[256];
	load_keys();
	for (int i = 0; i < 2; i++) {
		size_t n = 0;
		int e = pkey_unwrap(keys[i], "fuzz", 4, data, size, out, sizeof out, &n);
		/* A secret only comes back whole and within bounds. */
		if (e == 0 && n > sizeof out)
			abort();
		if (e != 0 && n != 0)
			abort(); /* out-params are set only on success */
	}
	return 0;
}
