/*
 * Index files and the in-memory index (docs/format/index.md).
 *
 * An index file lists packs and, for each, its blobs with their offsets, so
 * that opening a repository needs no pack headers. Its decoder is as strict
 * as the pack header's: one valid encoding per value, counts bounded by the
 * bytes present before any allocation, blobs of a pack sorted by offset and
 * not overlapping, nothing after the last field.
 *
 * The in-memory index is an open-addressing table (linear probing) keyed by
 * blob ID. IDs are MAC outputs, uniformly distributed, so their first eight
 * bytes are the hash. Each slot is one fixed 52-byte record; the table is
 * doubled at 70 % load. Packs get small numbers, kept in a separate table,
 * so a slot carries a u32 rather than a 32-byte pack ID.
 *
 * Memory is about 52 / 0.7 = 75 bytes per blob at worst, which is too much
 * for hundreds of millions of blobs; issue 3 replaces this table with a
 * bounded one (compact or mmap'd sorted runs) behind the same interface.
 */
#include "repo/index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repo/idset.h"
#include "repo/pack_int.h"

#define INDEX_ENTRY_LEN 48     /* encoded blob entry in an index file */
#define INDEX_PACK_FIXED 40    /* pack_id, key_gen, n_blobs */
#define INDEX_MIN_SLOTS 1024

/* ---- index files ---- */

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

/* ---- in-memory index ---- */

/*
 * One blob: 52 bytes, and nothing may be added without a good reason (see
 * the file comment). pack_no1 is the pack number plus one, so a zeroed slot
 * is empty and the table can come from calloc.
 */
struct index_slot {
	uint8_t id[BLOB_ID_LEN];
	uint32_t pack_no1;
	uint32_t offset;
	uint32_t stored_len;
	uint32_t raw_len;
	uint8_t type;
	uint8_t comp;
};

_Static_assert(sizeof(struct index_slot) == 52, "index slot grew");

struct index_packinfo {
	uint8_t id[32];
	uint32_t key_gen;
};

struct index {
	struct index_slot *slots;
	size_t cap;                  /* power of two, or 0 */
	size_t n;
	struct index_packinfo *packs;
	size_t n_packs, packs_cap;
	struct idset *pack_map;      /* pack ID -> pack number */
};

struct index *index_new(void)
{
	struct index *ix = calloc(1, sizeof *ix);
	if (ix == NULL)
		return NULL;
	ix->pack_map = idset_new();
	if (ix->pack_map == NULL) {
		free(ix);
		return NULL;
	}
	return ix;
}

void index_free(struct index *ix)
{
	if (ix == NULL)
		return;
	free(ix->slots);
	free(ix->packs);
	idset_free(ix->pack_map);
	free(ix);
}

static size_t index_hash(const uint8_t id[BLOB_ID_LEN])
{
	uint64_t h;
	memcpy(&h, id, sizeof h);
	return (size_t)h;
}

/* The slot holding id, or the empty slot where it would go. cap > 0. */
static struct index_slot *index_probe(const struct index_slot *slots, size_t cap,
				      const uint8_t id[BLOB_ID_LEN])
{
	size_t mask = cap - 1;
	for (size_t i = index_hash(id) & mask;; i = (i + 1) & mask) {
		const struct index_slot *s = &slots[i];
		if (s->pack_no1 == 0 || memcmp(s->id, id, BLOB_ID_LEN) == 0)
			return (struct index_slot *)s;
	}
}

/* Makes room for `more` blobs below 70 % load. 0 or -ENOMEM. */
static int index_reserve(struct index *ix, size_t more)
{
	if (more > SIZE_MAX / 16 - ix->n)
		return -ENOMEM;
	size_t want = ix->n + more;
	size_t cap = ix->cap ? ix->cap : INDEX_MIN_SLOTS;
	while (want * 10 > cap * 7) {
		if (cap > SIZE_MAX / 2 / sizeof(struct index_slot))
			return -ENOMEM;
		cap *= 2;
	}
	if (cap == ix->cap)
		return 0;
	struct index_slot *slots = calloc(cap, sizeof *slots);
	if (slots == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < ix->cap; i++)
		if (ix->slots[i].pack_no1 != 0)
			*index_probe(slots, cap, ix->slots[i].id) = ix->slots[i];
	free(ix->slots);
	ix->slots = slots;
	ix->cap = cap;
	return 0;
}

/*
 * The pack number for pack_id, adding the pack if new (a pack listed by
 * two index files keeps one number and its first key_gen).
 */
static int index_pack_no(struct index *ix, const uint8_t pack_id[32],
			 uint32_t key_gen, uint32_t *pack_no)
{
	uint64_t v;

	if (idset_get(ix->pack_map, pack_id, &v)) {
		*pack_no = (uint32_t)v;
		return 0;
	}
	/* pack_no1 must not wrap */
	if (ix->n_packs >= UINT32_MAX - 1)
		return -ENOMEM;
	if (ix->n_packs == ix->packs_cap) {
		size_t cap = ix->packs_cap ? ix->packs_cap * 2 : 64;
		struct index_packinfo *p = realloc(ix->packs, cap * sizeof *p);
		if (p == NULL)
			return -ENOMEM;
		ix->packs = p;
		ix->packs_cap = cap;
	}
	int e = idset_add(ix->pack_map, pack_id, ix->n_packs, NULL);
	if (e != 0)
		return e;
	memcpy(ix->packs[ix->n_packs].id, pack_id, 32);
	ix->packs[ix->n_packs].key_gen = key_gen;
	*pack_no = (uint32_t)ix->n_packs++;
	return 0;
}

/*
 * Room is made before anything is added, so on -ENOMEM the index holds
 * none of the pack's blobs (the pack number may already be taken, which is
 * harmless).
 */
int index_add_pack(struct index *ix, const uint8_t pack_id[32], uint32_t key_gen,
		   const struct blob_entry *blobs, size_t n)
{
	uint32_t pack_no;
	int e = index_reserve(ix, n);
	if (e != 0)
		return e;
	e = index_pack_no(ix, pack_id, key_gen, &pack_no);
	if (e != 0)
		return e;
	for (size_t i = 0; i < n; i++) {
		const struct blob_entry *b = &blobs[i];
		struct index_slot *s = index_probe(ix->slots, ix->cap, b->id);
		if (s->pack_no1 != 0)
			continue; /* first location wins */
		memcpy(s->id, b->id, BLOB_ID_LEN);
		s->pack_no1 = pack_no + 1;
		s->offset = b->offset;
		s->stored_len = b->stored_len;
		s->raw_len = b->raw_len;
		s->type = b->type;
		s->comp = b->comp;
		ix->n++;
	}
	return 0;
}

static void index_slot_loc(const struct index_slot *s, struct blob_loc *loc)
{
	loc->pack_no = s->pack_no1 - 1;
	memcpy(loc->e.id, s->id, BLOB_ID_LEN);
	loc->e.type = s->type;
	loc->e.comp = s->comp;
	loc->e.offset = s->offset;
	loc->e.stored_len = s->stored_len;
	loc->e.raw_len = s->raw_len;
}

bool index_lookup(const struct index *ix, const uint8_t id[32], struct blob_loc *loc)
{
	if (ix->n == 0)
		return false;
	const struct index_slot *s = index_probe(ix->slots, ix->cap, id);
	if (s->pack_no1 == 0)
		return false;
	if (loc != NULL)
		index_slot_loc(s, loc);
	return true;
}

size_t index_blob_count(const struct index *ix)
{
	return ix->n;
}

size_t index_pack_count(const struct index *ix)
{
	return ix->n_packs;
}

/* NULL if pack_no is out of range. */
const uint8_t *index_pack_id(const struct index *ix, uint32_t pack_no)
{
	return pack_no < ix->n_packs ? ix->packs[pack_no].id : NULL;
}

/* 0 if pack_no is out of range. */
uint32_t index_pack_key_gen(const struct index *ix, uint32_t pack_no)
{
	return pack_no < ix->n_packs ? ix->packs[pack_no].key_gen : 0;
}

int index_find_pack(const struct index *ix, const uint8_t pack_id[32], uint32_t *pack_no)
{
	uint64_t v;

	if (!idset_get(ix->pack_map, pack_id, &v))
		return -ENOENT;
	*pack_no = (uint32_t)v;
	return 0;
}

int index_foreach(const struct index *ix,
		  int (*cb)(const struct blob_loc *loc, void *arg), void *arg)
{
	struct blob_loc loc;

	for (size_t i = 0; i < ix->cap; i++) {
		if (ix->slots[i].pack_no1 == 0)
			continue;
		index_slot_loc(&ix->slots[i], &loc);
		int r = cb(&loc, arg);
		if (r != 0)
			return r;
	}
	return 0;
}
