/*
 * Streaming content chunker: buffers a file's bytes, cuts them with the
 * repository's keyed FastCDC chunker, saves each chunk as a data blob and
 * records its extent. See backup.h.
 */
#include "backup/backup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
};

struct chunk_stream *chunk_stream_new(struct repo *r)
{
	struct chunk_stream *cs = calloc(1, sizeof *cs);
	if (cs == NULL)
		return NULL;
	cs->r = r;
	cs->cp = repo_chunker(r);
	/* Twice the largest chunk: a full chunk can always be cut with room
	 * left for the next read. */
	cs->cap = 2 * (size_t)cs->cp->max_size;
	cs->buf = malloc(cs->cap);
	if (cs->buf == NULL) {
		free(cs);
		return NULL;
	}
	return cs;
}

void chunk_stream_free(struct chunk_stream *cs)
{
	if (cs == NULL)
		return;
	free(cs->buf);
	free(cs->ext);
	free(cs);
}

void chunk_stream_reset(struct chunk_stream *cs)
{
	cs->start = 0;
	cs->len = 0;
	cs->buf_off = 0;
	cs->n_ext = 0;
}

static int chunk_stream_emit(struct chunk_stream *cs, size_t n)
{
	if (cs->n_ext == cs->cap_ext) {
		size_t cap = cs->cap_ext ? cs->cap_ext * 2 : 16;
		struct extent *ne = realloc(cs->ext, cap * sizeof *ne);
		if (ne == NULL)
			return -ENOMEM;
		cs->ext = ne;
		cs->cap_ext = cap;
	}
	struct extent *x = &cs->ext[cs->n_ext];
	int e = repo_blob_save(cs->r, BLOB_DATA, cs->buf + cs->start, n, x->id, NULL);
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

/* Cuts chunks while a cut point can be decided (or everything, at eof). */
static int chunk_stream_cut(struct chunk_stream *cs, bool eof)
{
	while (cs->len > 0) {
		size_t n = chunker_find_cut(cs->cp, cs->buf + cs->start, cs->len, eof);
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
