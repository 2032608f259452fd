/*
 * A keystream at any offset: AES-256-CTR under a key, whose block i (16
 * bytes at offset 16 i) is AES_key(i) with i as a 128-bit big-endian
 * counter starting at 0 (the keystream NIST SP 800-38A's CTR mode XORs
 * with the plaintext). Used where a long pseudo-random stream must be
 * written and later regenerated to check it without being stored: the
 * random pass of an overwrite (erase/wipe.h). It is not a cipher for
 * data: nothing authenticates it, and a key must never serve two streams
 * whose outputs could be compared.
 */
#ifndef COFFER_CRYPTO_STREAM_H
#define COFFER_CRYPTO_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

struct crypto_stream;

/*
 * A keystream under key (CRYPTO_KEY_LEN bytes, copied into OpenSSL's
 * context; the caller may wipe its copy). Returns 0, -ENOMEM or -EIO.
 */
int crypto_stream_new(const uint8_t key[CRYPTO_KEY_LEN], struct crypto_stream **out);
/*
 * Writes the n keystream bytes at offset off into out. Any offset and
 * length; calls are independent (the same off gives the same bytes).
 * Returns 0 or -EIO.
 */
int crypto_stream_at(struct crypto_stream *s, uint64_t off, void *out, size_t n);
/* Wipes and frees the context. Accepts NULL. */
void crypto_stream_free(struct crypto_stream *s);

#endif
