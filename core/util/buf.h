/*
 * Bounds-checked byte buffers: every encoder writes through struct buf and
 * every decoder reads through struct rbuf, so no codec indexes raw memory.
 * All integers are little-endian on disk.
 */
#ifndef COFFER_UTIL_BUF_H
#define COFFER_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Growable output buffer. Zero-initialise, or buf_init(). */
struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
/* Frees the memory (wiping it first: buffers may hold plaintext). */
void buf_fini(struct buf *b);
/* Keeps the memory, sets len to 0. */
void buf_reset(struct buf *b);
/* Ensures room for n more bytes. Returns 0 or -ENOMEM. */
int buf_reserve(struct buf *b, size_t n);
/* Appends; each returns 0 or -ENOMEM. */
int buf_put(struct buf *b, const void *p, size_t n);
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u16(struct buf *b, uint16_t v);
int buf_put_u32(struct buf *b, uint32_t v);
int buf_put_u64(struct buf *b, uint64_t v);
/* u32 length followed by the bytes. */
int buf_put_bytes(struct buf *b, const void *p, size_t n);
/* As buf_put_bytes with strlen(s); NULL is written as the empty string. */
int buf_put_str(struct buf *b, const char *s);
/* Moves the contents out: *out owns the memory; b is left empty. */
void buf_steal(struct buf *b, uint8_t **out, size_t *len);

/* Read cursor over borrowed memory. */
struct rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;
};

void rbuf_init(struct rbuf *r, const void *p, size_t len);
size_t rbuf_left(const struct rbuf *r);
/* Each returns 0, or -EBADMSG when the input is too short. */
int rbuf_get(struct rbuf *r, void *out, size_t n);
int rbuf_get_u8(struct rbuf *r, uint8_t *v);
int rbuf_get_u16(struct rbuf *r, uint16_t *v);
int rbuf_get_u32(struct rbuf *r, uint32_t *v);
int rbuf_get_u64(struct rbuf *r, uint64_t *v);
/* Borrows n bytes in place: *p points into the input. */
int rbuf_get_ref(struct rbuf *r, size_t n, const uint8_t **p);
/*
 * u32 length then bytes, at most max bytes; borrowed in place.
 * -EBADMSG if short or longer than max.
 */
int rbuf_get_bytes_ref(struct rbuf *r, size_t max, const uint8_t **p, size_t *n);
/*
 * u32 length then bytes, copied into a new NUL-terminated string. Fails with
 * -EBADMSG if longer than max or if it contains a NUL byte, -ENOMEM.
 */
int rbuf_get_str(struct rbuf *r, size_t max, char **out);
/* -EBADMSG unless every byte was consumed: trailing bytes are corruption. */
int rbuf_end(const struct rbuf *r);

/* Little-endian helpers for fixed layouts. */
static inline void le16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
}
static inline uint16_t le16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static inline void le32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 |
	       (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void le64_put(uint8_t *p, uint64_t v)
{
	le32_put(p, (uint32_t)v);
	le32_put(p + 4, (uint32_t)(v >> 32));
}
static inline uint64_t le64_get(const uint8_t *p)
{
	return (uint64_t)le32_get(p) | (uint64_t)le32_get(p + 4) << 32;
}

#endif
