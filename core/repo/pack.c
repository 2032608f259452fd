/*
 * Pack files (docs/format/pack.md):
 *
 *   sealed blob 1 || ... || sealed blob n || sealed header || trailer
 *
 * The header sits at the end so blobs can be streamed out as they are
 * sealed, and it is sealed under the metadata key with the trailer as
 * associated data, so the trailer cannot be altered either. Offsets are
 * not stored: blobs tile the data region in entry order, which leaves a
 * reader nothing to cross-check and nothing to get wrong.
 *
 * The decoders here are strict: every field has exactly one acceptable
 * encoding, counts are checked against the bytes present before anything
 * is allocated, and trailing bytes are corruption.
 */
#include "repo/pack.h"

#include <errno.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

#include "repo/index.h"
#include "repo/pack_int.h"
#include "store/store.h"
#include "util/mem.h"

#define PACK_HEADER_FIXED 12 /* version, key_gen, count */
#define PACK_HEADER_MIN_SEALED (AEAD_OVERHEAD + PACK_HEADER_FIXED + PACK_ENTRY_LEN)

struct pack_writer {
	/*
	 * Sealed blobs, back to back, in an anonymous mapping grown with
	 * mremap: page-aligned, so a finished pack goes to store_put_padded,
	 * and given back to the kernel when the writer is freed. Through
	 * malloc, 16 MiB blocks freed by one thread and asked for by another
	 * left the arenas holding several times the memory in use.
	 */
	struct buf data;
	struct blob_entry *entries;
	size_t n, cap;
};

int pack_entry_check(const struct blob_entry *e)
{
	if (e->type != BLOB_DATA && e->type != BLOB_TREE && e->type != BLOB_DELTA)
		return -EBADMSG;
	if (e->comp != BLOB_COMP_NONE && e->comp != BLOB_COMP_ZSTD)
		return -EBADMSG;
	if (e->stored_len < AEAD_OVERHEAD || e->raw_len > BLOB_MAX_SIZE)
		return -EBADMSG;
	uint64_t ct_len = e->stored_len - AEAD_OVERHEAD;
	if (e->comp == BLOB_COMP_NONE && ct_len != e->raw_len)
		return -EBADMSG;
	/* Writers keep zstd output only when it is strictly smaller (blob.c). */
	if (e->comp == BLOB_COMP_ZSTD && ct_len >= e->raw_len)
		return -EBADMSG;
	return 0;
}

struct pack_writer *pack_writer_new(void)
{
	return calloc(1, sizeof(struct pack_writer));
}

/* Maps the data to cap bytes (a multiple of pages), or grows it there. 0 or -ENOMEM. */
static int pack_map(struct pack_writer *w, size_t cap)
{
	void *p = w->data.data == NULL
			  ? mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				 -1, 0)
			  : mremap(w->data.data, w->data.cap, cap, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return -ENOMEM;
	w->data.data = p;
	w->data.cap = cap;
	return 0;
}

/* Room for need more bytes of data. 0 or -ENOMEM. */
static int pack_room(struct pack_writer *w, size_t need)
{
	if (need <= w->data.cap - w->data.len)
		return 0;
	if (need > PACK_MAX_SIZE + (64u << 20))
		return -ENOMEM;
	size_t cap = w->data.cap ? w->data.cap * 2 : (64u << 10);
	while (cap - w->data.len < need)
		cap *= 2;
	return pack_map(w, cap);
}

void pack_writer_free(struct pack_writer *w)
{
	if (w == NULL)
		return;
	/* Ciphertext and a sealed header only: nothing to wipe. */
	if (w->data.data != NULL)
		munmap(w->data.data, w->data.cap);
	free(w->entries);
	free(w);
}

/*
 * Appends a sealed blob described by e (whose stored_len must equal
 * sealed_len) and sets e->offset. -EINVAL for an entry a reader would
 * reject, -EFBIG when the pack cannot take it (PACK_MAX_SIZE bytes or
 * INDEX_MAX_BLOBS blobs): finish the pack and start another.
 */
int pack_writer_add(struct pack_writer *w, struct blob_entry *e,
		    const uint8_t *sealed, size_t sealed_len)
{
	if (sealed_len != e->stored_len || pack_entry_check(e) != 0)
		return -EINVAL;
	if (w->n >= INDEX_MAX_BLOBS || sealed_len > PACK_MAX_SIZE - w->data.len)
		return -EFBIG;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		struct blob_entry *n = realloc(w->entries, cap * sizeof *n);
		if (n == NULL)
			return -ENOMEM;
		w->entries = n;
		w->cap = cap;
	}
	int r = pack_room(w, sealed_len);
	if (r != 0)
		return r;
	memcpy(w->data.data + w->data.len, sealed, sealed_len);
	w->data.len += sealed_len;
	e->offset = (uint32_t)(w->data.len - sealed_len);
	w->entries[w->n++] = *e;
	return 0;
}

void pack_writer_trim(struct pack_writer *w)
{
	if (w->data.len == 0 && w->data.data != NULL)
		(void)madvise(w->data.data, w->data.cap, MADV_DONTNEED);
}

size_t pack_writer_size(const struct pack_writer *w)
{
	return w->data.len;
}

size_t pack_writer_count(const struct pack_writer *w)
{
	return w->n;
}

/* Fills the 16 trailer bytes. */
static void pack_trailer_make(uint8_t t[PACK_TRAILER_LEN], uint32_t header_len)
{
	memcpy(t, PACK_MAGIC, 8);
	le32_put(t + 8, PACK_FORMAT_VERSION);
	le32_put(t + 12, header_len);
}

/*
 * On failure the writer is left as it was, so the caller may retry. -EINVAL
 * if no blob was added (a pack holds at least one).
 */
int pack_writer_reserve(struct pack_writer *w, size_t n)
{
	/* Exactly what is asked for (rounded to pages), not doubled. */
	if (w->data.data == NULL && n > 0)
		return pack_map(w, store_padded_len(n));
	return n > w->data.len ? pack_room(w, n - w->data.len) : 0;
}

int pack_writer_finish(struct pack_writer *w, const struct suite *s,
		       const uint8_t meta_key[CRYPTO_KEY_LEN], uint32_t key_gen,
		       uint8_t **file, size_t *file_len, uint8_t pack_id[32],
		       struct blob_entry **entries, size_t *n)
{
	struct buf hdr = { 0 };
	uint8_t trailer[PACK_TRAILER_LEN], id[32];
	size_t data_len = w->data.len;
	int e;

	if (w->n == 0)
		return -EINVAL;
	e = pack_header_encode(key_gen, w->entries, w->n, &hdr);
	if (e != 0)
		goto out;
	/* count <= INDEX_MAX_BLOBS keeps this far below 4 GiB */
	uint32_t header_len = (uint32_t)(hdr.len + AEAD_OVERHEAD);
	pack_trailer_make(trailer, header_len);
	e = pack_room(w, (size_t)header_len + PACK_TRAILER_LEN);
	if (e != 0)
		goto out;
	e = suite_seal(s, meta_key, trailer, sizeof trailer, hdr.data, hdr.len,
		       w->data.data + data_len);
	if (e != 0)
		goto out;
	w->data.len += header_len;
	memcpy(w->data.data + w->data.len, trailer, sizeof trailer);
	w->data.len += sizeof trailer;
	e = suite_hash(s, w->data.data, w->data.len, id);
	if (e != 0)
		goto out;
	/* Room for the padding store_put_padded overwrites (not counted in len). */
	e = pack_room(w, STORE_PAD_ALIGN - 1);
	if (e != 0)
		goto out;

	memcpy(pack_id, id, 32);
	*entries = w->entries;
	*n = w->n;
	/* Lent, not given: the next pack reuses the memory, which spares a
	 * fresh mapping (page faults and zeroing) for every pack. */
	*file = w->data.data;
	*file_len = w->data.len;
	w->data.len = 0;
	w->entries = NULL;
	w->n = w->cap = 0;
out:
	if (e != 0)
		w->data.len = data_len;
	buf_fini(&hdr);
	return e;
}

int pack_trailer_parse(const uint8_t trailer[PACK_TRAILER_LEN],
		       uint64_t file_len, uint32_t *header_len)
{
	struct rbuf r;
	const uint8_t *magic;
	uint32_t version, hlen;

	rbuf_init(&r, trailer, PACK_TRAILER_LEN);
	if (rbuf_get_ref(&r, 8, &magic) != 0 || rbuf_get_u32(&r, &version) != 0 ||
	    rbuf_get_u32(&r, &hlen) != 0)
		return -EBADMSG;
	if (memcmp(magic, PACK_MAGIC, 8) != 0)
		return -EBADMSG;
	if (version != PACK_FORMAT_VERSION)
		return -ENOTSUP;
	if (file_len < PACK_TRAILER_LEN)
		return -EBADMSG;
	if (hlen < PACK_HEADER_MIN_SEALED || hlen > file_len - PACK_TRAILER_LEN)
		return -EBADMSG;
	/* The header is a whole number of entries. */
	if ((hlen - PACK_HEADER_MIN_SEALED) % PACK_ENTRY_LEN != 0)
		return -EBADMSG;
	*header_len = hlen;
	return 0;
}

/* Reads one PACK_ENTRY_LEN entry (offset not set). */
static int pack_entry_decode(struct rbuf *r, struct blob_entry *e)
{
	uint16_t reserved;

	if (rbuf_get_u8(r, &e->type) != 0 || rbuf_get_u8(r, &e->comp) != 0 ||
	    rbuf_get_u16(r, &reserved) != 0 || rbuf_get_u32(r, &e->stored_len) != 0 ||
	    rbuf_get_u32(r, &e->raw_len) != 0 || rbuf_get(r, e->id, BLOB_ID_LEN) != 0)
		return -EBADMSG;
	if (reserved != 0)
		return -EBADMSG;
	return pack_entry_check(e);
}

int pack_header_decode(const uint8_t *p, size_t len, uint64_t data_len,
		       uint32_t *key_gen, struct blob_entry **entries, size_t *n)
{
	struct rbuf r;
	struct blob_entry *es = NULL;
	uint32_t version, kg, count;
	uint64_t off = 0;
	int e;

	rbuf_init(&r, p, len);
	if (rbuf_get_u32(&r, &version) != 0)
		return -EBADMSG;
	if (version != PACK_FORMAT_VERSION)
		return -ENOTSUP;
	if (rbuf_get_u32(&r, &kg) != 0 || rbuf_get_u32(&r, &count) != 0)
		return -EBADMSG;
	if (count == 0 || count > INDEX_MAX_BLOBS ||
	    count != rbuf_left(&r) / PACK_ENTRY_LEN)
		return -EBADMSG;
	es = calloc(count, sizeof *es);
	if (es == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		e = pack_entry_decode(&r, &es[i]);
		if (e != 0)
			goto out;
		es[i].offset = (uint32_t)off;
		off += es[i].stored_len;
		if (off > UINT32_MAX) {
			e = -EBADMSG;
			goto out;
		}
	}
	if (off != data_len) {
		e = -EBADMSG;
		goto out;
	}
	e = rbuf_end(&r);
	if (e != 0)
		goto out;
	*key_gen = kg;
	*entries = es;
	*n = count;
	es = NULL;
out:
	free(es);
	return e;
}

/*
 * Appends the header plaintext. -EINVAL for a count out of range or an
 * entry the decoder would reject; out is then left as it was.
 */
int pack_header_encode(uint32_t key_gen, const struct blob_entry *entries,
		       size_t n, struct buf *out)
{
	int e;

	if (n == 0 || n > INDEX_MAX_BLOBS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (pack_entry_check(&entries[i]) != 0)
			return -EINVAL;
	e = buf_reserve(out, PACK_HEADER_FIXED + n * PACK_ENTRY_LEN);
	if (e != 0)
		return e;
	/* Room is reserved: the puts below cannot fail. */
	buf_put_u32(out, PACK_FORMAT_VERSION);
	buf_put_u32(out, key_gen);
	buf_put_u32(out, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		const struct blob_entry *be = &entries[i];
		buf_put_u8(out, be->type);
		buf_put_u8(out, be->comp);
		buf_put_u16(out, 0);
		buf_put_u32(out, be->stored_len);
		buf_put_u32(out, be->raw_len);
		buf_put(out, be->id, BLOB_ID_LEN);
	}
	return 0;
}

int pack_read_header(const struct suite *s, const uint8_t meta_key[CRYPTO_KEY_LEN],
		     const uint8_t *file, size_t file_len, uint32_t *key_gen,
		     struct blob_entry **entries, size_t *n)
{
	uint32_t hlen;
	uint8_t *pt = NULL;
	size_t pt_len = 0;
	int e;

	if (file_len < PACK_TRAILER_LEN)
		return -EBADMSG;
	const uint8_t *trailer = file + file_len - PACK_TRAILER_LEN;
	e = pack_trailer_parse(trailer, file_len, &hlen);
	if (e != 0)
		return e;
	size_t data_len = file_len - PACK_TRAILER_LEN - hlen;
	pt_len = hlen - AEAD_OVERHEAD;
	pt = malloc(pt_len);
	if (pt == NULL)
		return -ENOMEM;
	e = suite_open(s, meta_key, trailer, PACK_TRAILER_LEN, file + data_len,
		       hlen, pt);
	if (e != 0)
		goto out;
	e = pack_header_decode(pt, pt_len, data_len, key_gen, entries, n);
out:
	mem_wipe(pt, pt_len);
	free(pt);
	return e;
}
