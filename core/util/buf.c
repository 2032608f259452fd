/* Bounds-checked byte buffers; see buf.h. */
#include "util/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_fini(struct buf *b)
{
	if (b->data != NULL)
		mem_wipe(b->data, b->cap);
	free(b->data);
	buf_init(b);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
}

int buf_reserve(struct buf *b, size_t n)
{
	if (n <= b->cap - b->len)
		return 0;
	if (n > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	size_t cap = b->cap ? b->cap : 64;
	while (cap - b->len < n)
		cap *= 2;
	/* Not realloc: the old block may hold plaintext and must be wiped. */
	uint8_t *p = malloc(cap);
	if (p == NULL)
		return -ENOMEM;
	if (b->len)
		memcpy(p, b->data, b->len);
	if (b->data != NULL)
		mem_wipe(b->data, b->cap);
	free(b->data);
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf_put(struct buf *b, const void *p, size_t n)
{
	int r = buf_reserve(b, n);
	if (r != 0)
		return r;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_put(b, &v, 1);
}

int buf_put_u16(struct buf *b, uint16_t v)
{
	uint8_t t[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	return buf_put(b, t, 2);
}

int buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t t[4];
	le32_put(t, v);
	return buf_put(b, t, 4);
}

int buf_put_u64(struct buf *b, uint64_t v)
{
	uint8_t t[8];
	le64_put(t, v);
	return buf_put(b, t, 8);
}

int buf_put_bytes(struct buf *b, const void *p, size_t n)
{
	if (n > UINT32_MAX)
		return -EOVERFLOW;
	int r = buf_put_u32(b, (uint32_t)n);
	return r ? r : buf_put(b, p, n);
}

int buf_put_str(struct buf *b, const char *s)
{
	return buf_put_bytes(b, s ? s : "", s ? strlen(s) : 0);
}

void buf_steal(struct buf *b, uint8_t **out, size_t *len)
{
	*out = b->data;
	*len = b->len;
	buf_init(b);
}

void rbuf_init(struct rbuf *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

size_t rbuf_left(const struct rbuf *r)
{
	return r->len - r->off;
}

int rbuf_get_ref(struct rbuf *r, size_t n, const uint8_t **p)
{
	if (n > rbuf_left(r))
		return -EBADMSG;
	*p = r->p + r->off;
	r->off += n;
	return 0;
}

int rbuf_get(struct rbuf *r, void *out, size_t n)
{
	const uint8_t *p;
	int e = rbuf_get_ref(r, n, &p);
	if (e == 0 && n)
		memcpy(out, p, n);
	return e;
}

int rbuf_get_u8(struct rbuf *r, uint8_t *v)
{
	return rbuf_get(r, v, 1);
}

int rbuf_get_u16(struct rbuf *r, uint16_t *v)
{
	const uint8_t *p;
	int e = rbuf_get_ref(r, 2, &p);
	if (e == 0)
		*v = (uint16_t)(p[0] | p[1] << 8);
	return e;
}

int rbuf_get_u32(struct rbuf *r, uint32_t *v)
{
	const uint8_t *p;
	int e = rbuf_get_ref(r, 4, &p);
	if (e == 0)
		*v = le32_get(p);
	return e;
}

int rbuf_get_u64(struct rbuf *r, uint64_t *v)
{
	const uint8_t *p;
	int e = rbuf_get_ref(r, 8, &p);
	if (e == 0)
		*v = le64_get(p);
	return e;
}

int rbuf_get_bytes_ref(struct rbuf *r, size_t max, const uint8_t **p, size_t *n)
{
	uint32_t len;
	size_t save = r->off;
	int e = rbuf_get_u32(r, &len);
	if (e == 0 && len > max)
		e = -EBADMSG;
	if (e == 0)
		e = rbuf_get_ref(r, len, p);
	if (e != 0) {
		r->off = save;
		return e;
	}
	*n = len;
	return 0;
}

int rbuf_get_str(struct rbuf *r, size_t max, char **out)
{
	const uint8_t *p;
	size_t n;
	int e = rbuf_get_bytes_ref(r, max, &p, &n);
	if (e != 0)
		return e;
	if (n && memchr(p, 0, n) != NULL)
		return -EBADMSG;
	char *s = malloc(n + 1);
	if (s == NULL)
		return -ENOMEM;
	if (n)
		memcpy(s, p, n);
	s[n] = 0;
	*out = s;
	return 0;
}

int rbuf_end(const struct rbuf *r)
{
	return r->off == r->len ? 0 : -EBADMSG;
}
