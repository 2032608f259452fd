/*
 * Streaming content chunker: buffers a file's bytes, cuts them with the
 * repository's keyed FastCDC chunker, saves each chunk as a data blob and
 * records its extent. See backup.h.
 */
#include "backup/backup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Room in the buffer past one largest chunk, without a base. */
#define CHUNK_STREAM_SLACK (1u << 20)
/* Bytes the chunker's gear hash depends on (GEAR_WINDOW in chunker.c). */
#define CHUNK_GEAR_WINDOW 64

struct chunk_stream {
	struct repo *r;
	const struct chunker_params *cp;
	/*
	 * Bytes not yet cut are buf[start, start + len). Cutting advances
	 * start; the rest moves to the front only when an append would not
	 * fit, so each byte is moved at most about once, not once per chunk.
	 */
	uint8_t *buf;
	size_t start, len, cap;
	uint64_t buf_off;    /* file offset of buf[start] */
	struct extent *ext;
	size_t n_ext, cap_ext;
	/*
	 * The previous version's extents (chunk_stream_set_base), ascending;
	 * base_next is the first that may still overlap the next chunk, since
	 * chunks are emitted in file order.
	 */
	struct extent *base;
	size_t n_base, cap_base, base_next;
	/*
	 * For a large file (chunk_stream_expect) the sealing workers compute
	 * the chunks' IDs and write them into ext[].id: ext is not moved, and
	 * the extents are not handed out, until tk has no ID outstanding.
	 */
	bool async;
	struct repo_ticket tk;
};

/* Files from this size on have their chunk IDs computed by the workers:
 * the wait for the last ID at the end of a file is then amortised. */
#define CHUNK_ASYNC_MIN (32ull << 20)

struct chunk_stream *chunk_stream_new(struct repo *r)
{
	struct chunk_stream *cs = calloc(1, sizeof *cs);
	if (cs == NULL)
		return NULL;
	cs->r = r;
	cs->cp = repo_chunker(r);
	/* The largest chunk and a read's worth: a full chunk can always be
	 * cut with room left for the next read. Cutting along a base needs
	 * more (chunk_stream_set_base). */
	cs->cap = (size_t)cs->cp->max_size + CHUNK_STREAM_SLACK;
	cs->buf = malloc(cs->cap);
	if (cs->buf == NULL) {
		free(cs);
		return NULL;
	}
	return cs;
}

/* Waits for the IDs the workers still owe; returns their error. */
static int chunk_stream_settle(struct chunk_stream *cs)
{
	if (cs->tk.outstanding == 0 && cs->tk.err == 0)
		return 0;
	int e = repo_ticket_wait(cs->r, &cs->tk);
	cs->tk.err = 0;
	return e;
}

void chunk_stream_free(struct chunk_stream *cs)
{
	if (cs == NULL)
		return;
	(void)chunk_stream_settle(cs);
	free(cs->buf);
	free(cs->ext);
	free(cs->base);
	free(cs);
}

void chunk_stream_reset(struct chunk_stream *cs)
{
	(void)chunk_stream_settle(cs);
	cs->async = false;
	cs->start = 0;
	cs->len = 0;
	cs->buf_off = 0;
	cs->n_ext = 0;
	cs->n_base = 0;
	cs->base_next = 0;
}

void chunk_stream_expect(struct chunk_stream *cs, uint64_t size)
{
	cs->async = size >= CHUNK_ASYNC_MIN;
}

void chunk_stream_set_base(struct chunk_stream *cs, const struct node *old)
{
	cs->n_base = 0;
	cs->base_next = 0;
	if (old == NULL || old->type != NODE_FILE || old->n_extents == 0)
		return;
	if (old->n_extents > cs->cap_base) {
		struct extent *nb = realloc(cs->base, old->n_extents * sizeof *nb);
		if (nb == NULL)
			return;
		cs->base = nb;
		cs->cap_base = old->n_extents;
	}
	/* Deciding a cut at an old boundary may need the old chunk and the
	 * next one buffered (chunk_stream_find): two largest chunks. Without
	 * that room no base is used, which only costs deltas. */
	size_t want = 2 * (size_t)cs->cp->max_size;
	if (cs->cap < want) {
		uint8_t *nb = malloc(want);
		if (nb == NULL)
			return;
		if (cs->len)
			memcpy(nb, cs->buf + cs->start, cs->len);
		free(cs->buf);
		cs->buf = nb;
		cs->start = 0;
		cs->cap = want;
	}
	memcpy(cs->base, old->extents, old->n_extents * sizeof *cs->base);
	cs->n_base = old->n_extents;
}

/*
 * The old extent overlapping [off, off + len) the most, or NULL. Old
 * extents wholly before off are skipped for good: later chunks start
 * further on.
 */
static const struct extent *chunk_stream_base_for(struct chunk_stream *cs, uint64_t off,
						  uint64_t len)
{
	const struct extent *best = NULL;
	uint64_t best_overlap = 0, end = off + len;
	while (cs->base_next < cs->n_base &&
	       cs->base[cs->base_next].offset + cs->base[cs->base_next].len <= off)
		cs->base_next++;
	for (size_t i = cs->base_next; i < cs->n_base && cs->base[i].offset < end; i++) {
		const struct extent *x = &cs->base[i];
		uint64_t lo = x->offset > off ? x->offset : off;
		uint64_t hi = x->offset + x->len < end ? x->offset + x->len : end;
		if (hi > lo && hi - lo > best_overlap) {
			best = x;
			best_overlap = hi - lo;
		}
	}
	return best;
}

static int chunk_stream_emit(struct chunk_stream *cs, size_t n)
{
	if (cs->n_ext == cs->cap_ext) {
		size_t cap = cs->cap_ext ? cs->cap_ext * 2 : 16;
		int e = chunk_stream_settle(cs); /* workers write into ext */
		if (e != 0)
			return e;
		struct extent *ne = realloc(cs->ext, cap * sizeof *ne);
		if (ne == NULL)
			return -ENOMEM;
		cs->ext = ne;
		cs->cap_ext = cap;
	}
	struct extent *x = &cs->ext[cs->n_ext];
	const struct extent *base = chunk_stream_base_for(cs, cs->buf_off, n);
	int e = cs->async ? repo_blob_save_async(cs->r, cs->buf + cs->start, n,
						 base ? base->id : NULL, x->id, &cs->tk)
			  : repo_blob_save_hint(cs->r, cs->buf + cs->start, n,
						base ? base->id : NULL, x->id, NULL);
	if (e != 0)
		return e;
	x->offset = cs->buf_off;
	x->len = (uint32_t)n;
	cs->n_ext++;
	cs->buf_off += n;
	cs->start += n;
	cs->len -= n;
	if (cs->len == 0)
		cs->start = 0;
	return 0;
}

/* The old extent starting exactly at off, or NULL (binary search). */
static const struct extent *chunk_stream_base_at(const struct chunk_stream *cs, uint64_t off)
{
	size_t lo = 0, hi = cs->n_base;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cs->base[mid].offset < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < cs->n_base && cs->base[lo].offset == off ? &cs->base[lo] : NULL;
}

/*
 * Would the chunker accept a cut after len bytes of p (p[0] starting a
 * chunk)? The same test as chunker_find_cut's: the gear hash of the 64
 * bytes before the cut against the mask for that length, or len at the
 * maximum.
 */
static bool chunk_stream_is_candidate(const struct chunker_params *cp, const uint8_t *p,
				      size_t len)
{
	if (len == cp->max_size)
		return true;
	if (len < cp->min_size || len > cp->max_size || len < CHUNK_GEAR_WINDOW)
		return false;
	uint64_t h = 0;
	for (size_t i = len - CHUNK_GEAR_WINDOW; i < len; i++)
		h = (h << 1) + cp->gear[p[i]];
	return (h & (len < cp->avg_size ? cp->mask_s : cp->mask_l)) == 0;
}

/*
 * Length of the next chunk, 0 if more data is needed (chunker_find_cut's
 * contract). With a base, a file changed in place keeps its old chunk
 * boundaries, so that each changed chunk has exactly one old chunk to be
 * a delta of and the unchanged ones deduplicate. Content-defined cuts move
 * when a write touches the 64 bytes before a cut point (the old cut
 * disappears and two chunks merge) or makes a new one (a chunk splits,
 * and the cuts after it may shift for a while): each such case would
 * cost a whole chunk or two. So, at an old boundary, the old extent's
 * end is the cut when
 *  - the chunker agrees, or
 *  - it cuts earlier but the old end still passes the chunker's test (a
 *    write made a new cut point), or
 *  - it cuts later (a write removed the old cut point) but the next old
 *    extent's end passes the test for a chunk starting at the old end,
 *    that is, the cut point after the write survived.
 * Content that moved (bytes inserted or removed) satisfies none of these
 * but by chance (about 2^-18 each), and is cut by content as without a
 * base, which finds the moved content again.
 */
static size_t chunk_stream_find(struct chunk_stream *cs, bool eof)
{
	const uint8_t *p = cs->buf + cs->start;
	size_t c = chunker_find_cut(cs->cp, p, cs->len, eof);
	const struct extent *x = cs->n_base ? chunk_stream_base_at(cs, cs->buf_off) : NULL;
	if (x == NULL || x->len == c || x->len > cs->cp->max_size)
		return c;
	size_t old = x->len;
	if (old > cs->len)
		return eof ? c : 0; /* the old end is not buffered yet */
	if (c != 0 && c < old)
		return chunk_stream_is_candidate(cs->cp, p, old) ? old : c;
	/* c == 0 (no cut point yet) or c > old: look at the next extent. */
	const struct extent *y = chunk_stream_base_at(cs, cs->buf_off + old);
	if (y == NULL || y->len > cs->cp->max_size)
		return c;
	if ((size_t)old + y->len > cs->len)
		return eof ? c : 0; /* fits: the buffer holds 2 * max_size */
	bool at_eof = eof && (size_t)old + y->len == cs->len && y == &cs->base[cs->n_base - 1];
	return at_eof || chunk_stream_is_candidate(cs->cp, p + old, y->len) ? old : c;
}

/* Cuts chunks while a cut point can be decided (or everything, at eof). */
static int chunk_stream_cut(struct chunk_stream *cs, bool eof)
{
	while (cs->len > 0) {
		size_t n = chunk_stream_find(cs, eof);
		if (n == 0)
			return 0;
		int e = chunk_stream_emit(cs, n);
		if (e != 0)
			return e;
	}
	return 0;
}

int chunk_stream_write(struct chunk_stream *cs, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 0) {
		if (cs->start + cs->len == cs->cap && cs->start > 0) {
			memmove(cs->buf, cs->buf + cs->start, cs->len);
			cs->start = 0;
		}
		size_t room = cs->cap - cs->start - cs->len;
		size_t n = len < room ? len : room;
		memcpy(cs->buf + cs->start + cs->len, p, n);
		cs->len += n;
		p += n;
		len -= n;
		if (cs->len >= cs->cp->max_size) {
			int e = chunk_stream_cut(cs, false);
			if (e != 0)
				return e;
		}
	}
	return 0;
}

int chunk_stream_seek(struct chunk_stream *cs, uint64_t offset)
{
	int e = chunk_stream_cut(cs, true);
	if (e != 0)
		return e;
	if (offset < cs->buf_off)
		return -EINVAL;
	cs->buf_off = offset;
	return 0;
}

int chunk_stream_finish(struct chunk_stream *cs, struct node *n)
{
	int e = chunk_stream_cut(cs, true);
	int e2 = chunk_stream_settle(cs);
	if (e == 0)
		e = e2;
	if (e != 0)
		return e;
	free(n->extents);
	n->extents = NULL;
	n->n_extents = 0;
	if (cs->n_ext) {
		n->extents = malloc(cs->n_ext * sizeof *n->extents);
		if (n->extents == NULL)
			return -ENOMEM;
		memcpy(n->extents, cs->ext, cs->n_ext * sizeof *n->extents);
		n->n_extents = cs->n_ext;
	}
	chunk_stream_reset(cs);
	return 0;
}
