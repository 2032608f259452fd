/*
 * The offset-addressable AES-256-CTR keystream of stream.h. The counter
 * block for offset off is off / 16 (big-endian, 128 bits); a start inside
 * a block first discards off % 16 bytes of it, which OpenSSL's CTR mode
 * carries over within the same context. The keystream is the encryption
 * of zeros, done in place in the caller's buffer.
 */
#include "crypto/stream.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "util/log.h"

/* OpenSSL's update takes an int length. */
#define STREAM_PIECE (1u << 30)

struct crypto_stream {
	EVP_CIPHER_CTX *ctx;
	EVP_CIPHER *cipher;
};

static int stream_fail(const char *what)
{
	char msg[256];
	unsigned long err = ERR_get_error();
	if (err != 0) {
		ERR_error_string_n(err, msg, sizeof msg);
		log_warnx("crypto: %s: %s", what, msg);
	} else {
		log_warnx("crypto: %s failed", what);
	}
	ERR_clear_error();
	return -EIO;
}

int crypto_stream_new(const uint8_t key[CRYPTO_KEY_LEN], struct crypto_stream **out)
{
	static const uint8_t iv0[16];
	struct crypto_stream *s = OPENSSL_zalloc(sizeof *s);
	if (s == NULL)
		return -ENOMEM;
	int e = 0;
	if ((s->cipher = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL)) == NULL ||
	    (s->ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex2(s->ctx, s->cipher, key, iv0, NULL) != 1)
		e = stream_fail("AES-256-CTR keystream init");
	if (e != 0) {
		crypto_stream_free(s);
		return e;
	}
	*out = s;
	return 0;
}

int crypto_stream_at(struct crypto_stream *s, uint64_t off, void *out, size_t n)
{
	uint8_t iv[16] = { 0 }, skip[16] = { 0 };
	uint64_t blk = off / 16;
	int len;
	for (int i = 0; i < 8; i++)
		iv[15 - i] = (uint8_t)(blk >> (8 * i));
	if (EVP_EncryptInit_ex2(s->ctx, NULL, NULL, iv, NULL) != 1)
		return stream_fail("AES-256-CTR keystream seek");
	if (off % 16 != 0 &&
	    EVP_EncryptUpdate(s->ctx, skip, &len, skip, (int)(off % 16)) != 1)
		return stream_fail("AES-256-CTR keystream");
	uint8_t *p = out;
	memset(p, 0, n);
	while (n > 0) {
		size_t k = n < STREAM_PIECE ? n : STREAM_PIECE;
		if (EVP_EncryptUpdate(s->ctx, p, &len, p, (int)k) != 1 || (size_t)len != k)
			return stream_fail("AES-256-CTR keystream");
		p += k;
		n -= k;
	}
	return 0;
}

void crypto_stream_free(struct crypto_stream *s)
{
	if (s == NULL)
		return;
	EVP_CIPHER_CTX_free(s->ctx); /* cleanses the key schedule */
	EVP_CIPHER_free(s->cipher);
	OPENSSL_free(s);
}
