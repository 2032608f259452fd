/*
 * Blob sealing and opening; see blob.h and docs/format/crypto.md.
 *
 * The associated data binds everything a pack header or index entry says
 * about a blob (ID, type, compression, plaintext length) to its ciphertext,
 * so a tampered entry cannot make a reader mis-decode a genuine blob. The ID
 * is checked again after decryption: it proves that the plaintext is the one
 * that was asked for, which the data key alone cannot (anyone holding it
 * could seal other content under a given ID).
 */
#include "repo/blob.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "util/mem.h"

#define BLOB_AAD_MAGIC "coffer blob v1"
#define BLOB_AAD_MAGIC_LEN 14
#define BLOB_AAD_LEN (BLOB_AAD_MAGIC_LEN + BLOB_ID_LEN + 1 + 1 + 4)

static void blob_aad(const uint8_t id[BLOB_ID_LEN], uint8_t type, uint8_t comp,
		     uint32_t raw_len, uint8_t aad[BLOB_AAD_LEN])
{
	memcpy(aad, BLOB_AAD_MAGIC, BLOB_AAD_MAGIC_LEN);
	memcpy(aad + BLOB_AAD_MAGIC_LEN, id, BLOB_ID_LEN);
	aad[BLOB_AAD_MAGIC_LEN + BLOB_ID_LEN] = type;
	aad[BLOB_AAD_MAGIC_LEN + BLOB_ID_LEN + 1] = comp;
	le32_put(aad + BLOB_AAD_MAGIC_LEN + BLOB_ID_LEN + 2, raw_len);
}

int blob_id(const struct suite *s, const uint8_t id_key[CRYPTO_KEY_LEN],
	    const void *data, size_t len, uint8_t id[BLOB_ID_LEN])
{
	return suite_mac(s, id_key, data, len, id);
}

/*
 * Per-thread compression state, kept between blobs: ZSTD_compress would
 * create and tear down a context (and its tables) per call, which for the
 * many small blobs of a source tree cost as much as compressing them, and
 * a fresh output buffer per blob costs page faults. The buffer holds
 * compressed plaintext: it is wiped after each use and when freed.
 */
struct blob_scratch {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	uint8_t *z;
	size_t cap;
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_err;

static void scratch_free(void *p)
{
	struct blob_scratch *s = p;
	if (s == NULL)
		return;
	ZSTD_freeCCtx(s->cctx);
	ZSTD_freeDCtx(s->dctx);
	free(s->z); /* wiped after every use */
	free(s);
}

static void scratch_key_make(void)
{
	scratch_key_err = pthread_key_create(&scratch_key, scratch_free);
}

/* This thread's scratch with room for cap bytes of output, or NULL. */
static struct blob_scratch *scratch_get(size_t cap)
{
	if (pthread_once(&scratch_once, scratch_key_make) != 0 || scratch_key_err != 0)
		return NULL;
	struct blob_scratch *s = pthread_getspecific(scratch_key);
	if (s == NULL) {
		if ((s = calloc(1, sizeof *s)) == NULL)
			return NULL;
		if ((s->cctx = ZSTD_createCCtx()) == NULL || (s->dctx = ZSTD_createDCtx()) == NULL ||
		    pthread_setspecific(scratch_key, s) != 0) {
			scratch_free(s);
			return NULL;
		}
	}
	if (s->cap < cap) {
		uint8_t *z = realloc(s->z, cap);
		if (z == NULL)
			return NULL;
		s->z = z;
		s->cap = cap;
	}
	return s;
}

/* Blobs at least this large are probed before being compressed. */
#define BLOB_PROBE_MIN (64u << 10)
#define BLOB_PROBE_LEN (4u << 10)

/*
 * Cheap test for incompressible data (already compressed or encrypted
 * files, media): three 4 KiB samples, at the start, middle and end, each
 * compressed at zstd's fastest level. The blob is worth compressing unless
 * none of them shrinks by at least 1/32. A tenth of the cost of letting
 * zstd find out on the whole blob.
 */
static bool blob_worth_compressing(ZSTD_CCtx *cctx, const uint8_t *data, size_t len)
{
	if (len < BLOB_PROBE_MIN)
		return true;
	uint8_t z[ZSTD_COMPRESSBOUND(BLOB_PROBE_LEN)];
	size_t starts[3] = { 0, len / 2 - BLOB_PROBE_LEN / 2, len - BLOB_PROBE_LEN };
	bool worth = false;
	for (int i = 0; i < 3 && !worth; i++) {
		size_t n = ZSTD_compressCCtx(cctx, z, sizeof z, data + starts[i], BLOB_PROBE_LEN, 1);
		worth = !ZSTD_isError(n) && n < BLOB_PROBE_LEN - BLOB_PROBE_LEN / 32;
	}
	mem_wipe(z, sizeof z);
	return worth;
}

/*
 * Compresses data into the scratch buffer when that is worth it and makes
 * it strictly smaller: *out points into the scratch (the caller wipes
 * *out_len bytes of it after use), or is NULL.
 */
static int blob_compress(const void *data, size_t len, int level,
			 uint8_t **out, size_t *out_len)
{
	size_t cap = ZSTD_compressBound(len);
	struct blob_scratch *s = scratch_get(cap);
	if (s == NULL)
		return -ENOMEM;
	*out = NULL;
	if (!blob_worth_compressing(s->cctx, data, len))
		return 0;
	size_t n = ZSTD_compressCCtx(s->cctx, s->z, cap, data, len, level);
	if (ZSTD_isError(n)) {
		mem_wipe(s->z, cap);
		/* With a compressBound-sized output only allocation can fail. */
		return -ENOMEM;
	}
	if (n >= len) {
		mem_wipe(s->z, n);
		return 0;
	}
	*out = s->z;
	*out_len = n;
	return 0;
}

int blob_seal(const struct suite *s, const uint8_t data_key[CRYPTO_KEY_LEN],
	      struct blob_entry *e, const void *data, size_t len,
	      int zstd_level, struct buf *out)
{
	uint8_t aad[BLOB_AAD_LEN];
	uint8_t *z = NULL;
	size_t z_len = 0;
	int r = 0;

	if (len > BLOB_MAX_SIZE)
		return -EINVAL;
	if (zstd_level > 0 && len > 0 &&
	    (r = blob_compress(data, len, zstd_level, &z, &z_len)) != 0)
		return r;
	uint8_t comp = z != NULL ? BLOB_COMP_ZSTD : BLOB_COMP_NONE;
	const void *pt = z != NULL ? z : data;
	size_t pt_len = z != NULL ? z_len : len;

	if ((r = buf_reserve(out, pt_len + AEAD_OVERHEAD)) != 0)
		goto out;
	blob_aad(e->id, e->type, comp, (uint32_t)len, aad);
	r = suite_seal(s, data_key, aad, sizeof aad, pt, pt_len,
		       out->data + out->len);
	if (r != 0)
		goto out;
	out->len += pt_len + AEAD_OVERHEAD;
	e->comp = comp;
	e->stored_len = (uint32_t)(pt_len + AEAD_OVERHEAD);
	e->raw_len = (uint32_t)len;
out:
	if (z != NULL)
		mem_wipe(z, z_len); /* the scratch buffer stays for the next blob */
	return r;
}

/*
 * Decrypts and decompresses into out, then checks the ID. Everything the
 * entry claims is verified: stored_len against the bytes given, the length
 * arithmetic of each compression mode, and (through the AAD) id, type,
 * comp and raw_len. A BLOB_DELTA blob is authenticated by the AEAD alone
 * here; its ID is checked after reconstruction (delta.h). On failure out is left empty and wiped, since it may
 * hold plaintext that did not verify.
 */
int blob_open(const struct suite *s, const uint8_t data_key[CRYPTO_KEY_LEN],
	      const uint8_t id_key[CRYPTO_KEY_LEN], const struct blob_entry *e,
	      const uint8_t *sealed, size_t sealed_len, struct buf *out)
{
	uint8_t aad[BLOB_AAD_LEN], id[BLOB_ID_LEN];
	uint8_t *z = NULL;
	size_t ct_len;
	int r = -EBADMSG;

	buf_reset(out);
	if (e->stored_len != sealed_len || sealed_len < AEAD_OVERHEAD ||
	    e->raw_len > BLOB_MAX_SIZE)
		return -EBADMSG;
	ct_len = sealed_len - AEAD_OVERHEAD;
	switch (e->comp) {
	case BLOB_COMP_NONE:
		if (ct_len != e->raw_len)
			return -EBADMSG;
		break;
	case BLOB_COMP_ZSTD:
		/* Writers store zstd only when it is strictly smaller. */
		if (ct_len >= e->raw_len)
			return -EBADMSG;
		break;
	default:
		return -EBADMSG;
	}
	if ((r = buf_reserve(out, e->raw_len)) != 0)
		return r;
	blob_aad(e->id, e->type, e->comp, e->raw_len, aad);

	if (e->comp == BLOB_COMP_NONE) {
		r = suite_open(s, data_key, aad, sizeof aad, sealed, sealed_len,
			       out->data);
		if (r != 0)
			goto out;
	} else {
		struct blob_scratch *sc = scratch_get(ct_len);
		if (sc == NULL) {
			r = -ENOMEM;
			goto out;
		}
		z = sc->z;
		r = suite_open(s, data_key, aad, sizeof aad, sealed, sealed_len, z);
		if (r != 0)
			goto out;
		size_t n = ZSTD_decompressDCtx(sc->dctx, out->data, e->raw_len, z, ct_len);
		if (ZSTD_isError(n) || n != e->raw_len) {
			r = -EBADMSG;
			goto out;
		}
	}
	/* A delta's ID names the content it reconstructs, not its own
	 * plaintext: delta_reconstruct checks it once the base is applied. */
	if (e->type != BLOB_DELTA) {
		if ((r = blob_id(s, id_key, out->data, e->raw_len, id)) != 0)
			goto out;
		if (crypto_memcmp(id, e->id, BLOB_ID_LEN) != 0) {
			r = -EBADMSG;
			goto out;
		}
	}
	out->len = e->raw_len;
out:
	if (z != NULL)
		mem_wipe(z, ct_len); /* the scratch buffer stays for the next blob */
	if (r != 0)
		mem_wipe(out->data, e->raw_len);
	return r;
}
