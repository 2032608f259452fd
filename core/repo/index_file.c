/*
 * Index files (docs/format/index.md): the plaintext codec.
 *
 * An index file lists packs and, for each, its blobs with their offsets, so
 * that opening a repository needs no pack headers. Its decoder is as strict
 * as the pack header's: one valid encoding per value, counts bounded by the
 * bytes present before any allocation, blobs of a pack sorted by offset and
 * not overlapping, nothing after the last field. The in-memory index that
 * the files are loaded into is in index.c.
 */
#include "repo/index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repo/pack_int.h"

#define INDEX_ENTRY_LEN 48     /* encoded blob entry in an index file */
#define INDEX_PACK_FIXED 40    /* pack_id, key_gen, n_blobs */

void index_file_fini(struct index_file *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n_packs; i++)
		free(f->packs[i].blobs);
	free(f->packs);
	free(f->supersedes);
	memset(f, 0, sizeof *f);
}

/*
 * The rules for the blobs of one pack: 1..INDEX_MAX_BLOBS valid entries,
 * sorted by offset, not overlapping, all inside a u32 pack. 0 or -EBADMSG.
 */
static int index_pack_check(const struct blob_entry *b, size_t n)
{
	if (n == 0 || n > INDEX_MAX_BLOBS)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		if (pack_entry_check(&b[i]) != 0)
			return -EBADMSG;
		uint64_t end = (uint64_t)b[i].offset + b[i].stored_len;
		if (end > UINT32_MAX)
			return -EBADMSG;
		if (i + 1 < n && end > b[i + 1].offset)
			return -EBADMSG;
	}
	return 0;
}

/*
 * Appends the plaintext of f. -EINVAL if f breaks a rule the decoder
 * enforces (out is then unchanged), -ENOMEM.
 */
int index_file_encode(const struct index_file *f, struct buf *out)
{
	size_t old = out->len;
	int e = 0;

	if (f->n_packs > INDEX_MAX_PACKS || f->n_supersedes > UINT32_MAX)
		return -EINVAL;
	for (size_t i = 0; i < f->n_packs; i++)
		if (index_pack_check(f->packs[i].blobs, f->packs[i].n) != 0)
			return -EINVAL;

	e = buf_put_u32(out, INDEX_FORMAT_VERSION);
	if (e == 0)
		e = buf_put_u32(out, (uint32_t)f->n_supersedes);
	for (size_t i = 0; e == 0 && i < f->n_supersedes; i++)
		e = buf_put(out, f->supersedes[i], 32);
	if (e == 0)
		e = buf_put_u32(out, (uint32_t)f->n_packs);
	for (size_t i = 0; e == 0 && i < f->n_packs; i++) {
		const struct index_pack *p = &f->packs[i];
		e = buf_reserve(out, INDEX_PACK_FIXED + p->n * INDEX_ENTRY_LEN);
		if (e != 0)
			break;
		/* Room is reserved: these puts cannot fail. */
		buf_put(out, p->pack_id, 32);
		buf_put_u32(out, p->key_gen);
		buf_put_u32(out, (uint32_t)p->n);
		for (size_t j = 0; j < p->n; j++) {
			const struct blob_entry *b = &p->blobs[j];
			buf_put_u8(out, b->type);
			buf_put_u8(out, b->comp);
			buf_put_u16(out, 0);
			buf_put_u32(out, b->offset);
			buf_put_u32(out, b->stored_len);
			buf_put_u32(out, b->raw_len);
			buf_put(out, b->id, BLOB_ID_LEN);
		}
	}
	if (e != 0)
		out->len = old;
	return e;
}

static int index_entry_decode(struct rbuf *r, struct blob_entry *b)
{
	uint16_t reserved;

	if (rbuf_get_u8(r, &b->type) != 0 || rbuf_get_u8(r, &b->comp) != 0 ||
	    rbuf_get_u16(r, &reserved) != 0 || rbuf_get_u32(r, &b->offset) != 0 ||
	    rbuf_get_u32(r, &b->stored_len) != 0 || rbuf_get_u32(r, &b->raw_len) != 0 ||
	    rbuf_get(r, b->id, BLOB_ID_LEN) != 0)
		return -EBADMSG;
	return reserved == 0 ? 0 : -EBADMSG;
}

/* Decodes one pack record into p (p->blobs allocated on success only). */
static int index_pack_decode(struct rbuf *r, struct index_pack *p)
{
	uint32_t n;
	struct blob_entry *b;
	int e;

	if (rbuf_get(r, p->pack_id, 32) != 0 || rbuf_get_u32(r, &p->key_gen) != 0 ||
	    rbuf_get_u32(r, &n) != 0)
		return -EBADMSG;
	if (n == 0 || n > INDEX_MAX_BLOBS || n > rbuf_left(r) / INDEX_ENTRY_LEN)
		return -EBADMSG;
	b = calloc(n, sizeof *b);
	if (b == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		e = index_entry_decode(r, &b[i]);
		if (e != 0)
			goto out;
	}
	e = index_pack_check(b, n);
	if (e != 0)
		goto out;
	p->n = n;
	p->blobs = b;
	b = NULL;
out:
	free(b);
	return e;
}

int index_file_decode(const uint8_t *p, size_t len, struct index_file *out)
{
	struct index_file f = { 0 };
	struct rbuf r;
	uint32_t version, ns, np;
	int e;

	rbuf_init(&r, p, len);
	if (rbuf_get_u32(&r, &version) != 0)
		return -EBADMSG;
	if (version != INDEX_FORMAT_VERSION)
		return -ENOTSUP;
	if (rbuf_get_u32(&r, &ns) != 0 || ns > rbuf_left(&r) / 32)
		return -EBADMSG;
	if (ns) {
		f.supersedes = malloc((size_t)ns * 32);
		if (f.supersedes == NULL)
			return -ENOMEM;
		f.n_supersedes = ns;
		for (uint32_t i = 0; i < ns; i++)
			if (rbuf_get(&r, f.supersedes[i], 32) != 0) {
				e = -EBADMSG;
				goto out;
			}
	}
	/* Each pack takes at least its fixed part and one entry. */
	if (rbuf_get_u32(&r, &np) != 0 || np > INDEX_MAX_PACKS ||
	    np > rbuf_left(&r) / (INDEX_PACK_FIXED + INDEX_ENTRY_LEN)) {
		e = -EBADMSG;
		goto out;
	}
	if (np) {
		f.packs = calloc(np, sizeof *f.packs);
		if (f.packs == NULL) {
			e = -ENOMEM;
			goto out;
		}
	}
	for (uint32_t i = 0; i < np; i++) {
		e = index_pack_decode(&r, &f.packs[i]);
		if (e != 0)
			goto out;
		f.n_packs++;
	}
	e = rbuf_end(&r);
	if (e != 0)
		goto out;
	*out = f;
	memset(&f, 0, sizeof f);
out:
	index_file_fini(&f);
	return e;
}
