/* Printable forms of raw names; see escape.h. */
#include "util/escape.h"

#include <string.h>

size_t utf8_seq_len(const uint8_t *p, size_t n)
{
	size_t len;
	uint32_t cp;
	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

size_t utf8_printable_len(const uint8_t *p, size_t n)
{
	size_t len = utf8_seq_len(p, n);
	if (len == 1 && (p[0] < 0x20 || p[0] == 0x7f))
		return 0;
	/* C1 controls (U+0080..U+009F) drive terminals too. */
	if (len == 2 && p[0] == 0xc2 && p[1] < 0xa0)
		return 0;
	return len;
}

/* Appends the escaped form of one unit at p; returns bytes consumed. */
static size_t escape_unit(const uint8_t *p, size_t n, char out[5], size_t *out_len)
{
	static const char hex[] = "0123456789abcdef";
	size_t k = utf8_printable_len(p, n);
	if (k > 0 && p[0] != '\\') {
		memcpy(out, p, k);
		*out_len = k;
		return k;
	}
	if (p[0] == '\\') {
		memcpy(out, "\\\\", 2);
		*out_len = 2;
		return 1;
	}
	out[0] = '\\';
	out[1] = 'x';
	out[2] = hex[p[0] >> 4];
	out[3] = hex[p[0] & 15];
	*out_len = 4;
	return 1;
}

int escape_append(struct buf *out, const void *p, size_t n)
{
	const uint8_t *s = p;
	for (size_t i = 0; i < n;) {
		char u[5];
		size_t ul;
		i += escape_unit(s + i, n - i, u, &ul);
		int e = buf_put(out, u, ul);
		if (e != 0)
			return e;
	}
	return 0;
}

const char *escape_cstr(const char *s, char *out, size_t cap)
{
	if (cap == 0)
		return out;
	if (s == NULL)
		s = "(no name)";
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s), o = 0;
	for (size_t i = 0; i < n;) {
		char u[5];
		size_t ul, used = escape_unit(p + i, n - i, u, &ul);
		if (o + ul + 1 > cap) {
			/* Cut, marking it: "..." replaces the tail that fits. */
			/* Too small a buffer for the marker: a plain cut. */
			if (cap < 4)
				break;
			if (o > cap - 4) {
				o = cap - 4;
				/* Never split a UTF-8 sequence when cutting. */
				while (o > 0 && ((uint8_t)out[o] & 0xc0) == 0x80)
					o--;
			}
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, u, ul);
		o += ul;
		i += used;
	}
	out[o] = 0;
	return out;
}
