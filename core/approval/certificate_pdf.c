/*
 * The certificate as a PDF for people to print and file (certificate.h,
 * docs/format/certificate.md): a rendering of the signed text, not a
 * signed document itself. PDF 1.4 written by hand: A4 pages of
 * Helvetica, one field a line, long values wrapped and hex values
 * shortened (the text certificate holds them whole).
 */
#include "approval/certificate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_W 595
#define PAGE_H 842
#define MARGIN 50
#define LEADING 12
#define WRAP 96                  /* characters of 9 pt Helvetica across the page */
#define LINES_PER_PAGE ((PAGE_H - 2 * MARGIN) / LEADING - 2)
#define HEX_SHOWN 48
#define MAX_PAGES 64
#define MAX_OBJS (4 + 2 * MAX_PAGES)

/* One page's content stream, built line by line. */
struct page {
	struct buf s;
	unsigned lines;
};

static int put_text(struct buf *b, const char *p, size_t n)
{
	int e = buf_put_u8(b, '(');
	for (size_t i = 0; e == 0 && i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '(' || c == ')' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			e = buf_put(b, esc, 2);
		} else {
			e = buf_put_u8(b, c >= 0x20 && c < 0x7f ? c : '?');
		}
	}
	return e == 0 ? buf_put(b, ") Tj\n", 5) : e;
}

static int add_line(struct page *pg, const char *font, const char *p, size_t n)
{
	char head[96];
	int len = snprintf(head, sizeof head, "BT /%s 9 Tf %d %d Td ", font, MARGIN,
			   PAGE_H - MARGIN - (int)(pg->lines + 2) * LEADING);
	pg->lines++;
	int e = buf_put(&pg->s, head, (size_t)len);
	if (e == 0)
		e = put_text(&pg->s, p, n);
	return e == 0 ? buf_put(&pg->s, "ET\n", 3) : e;
}

/* True if s is long and all hex: shortened, as the text form holds it whole. */
static bool long_hex(const char *s, size_t n)
{
	if (n <= HEX_SHOWN + 16)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

struct doc {
	struct page pages[MAX_PAGES];
	unsigned n;
};

static struct page *current(struct doc *d)
{
	if (d->n == 0 || d->pages[d->n - 1].lines >= LINES_PER_PAGE) {
		if (d->n == MAX_PAGES)
			return NULL;
		d->n++;
	}
	return &d->pages[d->n - 1];
}

/* Adds one field, wrapped; the hex tail of a long value is shortened. */
static int add_field(struct doc *d, const char *line, size_t n)
{
	char shown[CERT_LINE_MAX + 64];
	const char *sp = memchr(line, ' ', n);
	size_t len = n < CERT_LINE_MAX ? n : CERT_LINE_MAX;
	memcpy(shown, line, len);
	if (sp != NULL) {
		/* The last word of the value: a key, a signature or an encoding in hex. */
		const char *last = line + n;
		while (last > sp + 1 && last[-1] != ' ')
			last--;
		size_t tail = (size_t)(line + n - last);
		if (long_hex(last, tail)) {
			size_t at = (size_t)(last - line) + HEX_SHOWN;
			len = (size_t)snprintf(shown + at, sizeof shown - at,
					       "... (%zu hex digits)", tail) + at;
		}
	}
	for (size_t off = 0; off < len; off += WRAP) {
		struct page *pg = current(d);
		if (pg == NULL)
			return -EFBIG;
		size_t k = len - off < WRAP ? len - off : WRAP;
		int e = add_line(pg, off == 0 ? "F2" : "F1", shown + off, k);
		if (e != 0)
			return e;
	}
	return 0;
}

static int obj_start(struct buf *out, size_t *offsets, unsigned id)
{
	char h[32];
	offsets[id] = out->len;
	int n = snprintf(h, sizeof h, "%u 0 obj\n", id);
	return buf_put(out, h, (size_t)n);
}

static int put_str(struct buf *out, const char *s)
{
	return buf_put(out, s, strlen(s));
}

int cert_to_pdf(const uint8_t *p, size_t len, struct buf *out)
{
	char why[256];
	int e = cert_check_format(p, len, why, sizeof why);
	if (e != 0)
		return e;
	struct doc *d = calloc(1, sizeof *d);
	if (d == NULL)
		return -ENOMEM;
	struct page *pg = current(d);
	static const char title[] = "Certificate of Sanitization (Coffer; the signed text "
				    "form is the one to verify)";
	e = add_line(pg, "F2", title, sizeof title - 1);
	pg->lines++;
	/* Every line after the first, as the text holds it. */
	const char *t = (const char *)p, *end = t + len;
	const char *nl = memchr(t, '\n', len);
	for (const char *l = nl + 1; e == 0 && l < end;) {
		const char *next = memchr(l, '\n', (size_t)(end - l));
		size_t n = next != NULL ? (size_t)(next - l) : (size_t)(end - l);
		e = add_field(d, l, n);
		l += n + 1;
	}
	size_t offsets[MAX_OBJS + 1] = { 0 };
	unsigned n_objs = 4 + 2 * d->n;
	char tmp[128];
	if (e == 0)
		e = put_str(out, "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n");
	if (e == 0)
		e = obj_start(out, offsets, 1);
	if (e == 0)
		e = put_str(out, "<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
	if (e == 0)
		e = obj_start(out, offsets, 2);
	if (e == 0)
		e = put_str(out, "<< /Type /Pages /Kids [");
	for (unsigned i = 0; e == 0 && i < d->n; i++) {
		snprintf(tmp, sizeof tmp, "%s%u 0 R", i ? " " : "", 5 + 2 * i);
		e = put_str(out, tmp);
	}
	snprintf(tmp, sizeof tmp, "] /Count %u >>\nendobj\n", d->n);
	if (e == 0)
		e = put_str(out, tmp);
	if (e == 0)
		e = obj_start(out, offsets, 3);
	if (e == 0)
		e = put_str(out, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
				 "/Encoding /WinAnsiEncoding >>\nendobj\n");
	if (e == 0)
		e = obj_start(out, offsets, 4);
	if (e == 0)
		e = put_str(out, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold "
				 "/Encoding /WinAnsiEncoding >>\nendobj\n");
	for (unsigned i = 0; e == 0 && i < d->n; i++) {
		e = obj_start(out, offsets, 5 + 2 * i);
		snprintf(tmp, sizeof tmp, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] ",
			 PAGE_W, PAGE_H);
		if (e == 0)
			e = put_str(out, tmp);
		snprintf(tmp, sizeof tmp, "/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> "
			 "/Contents %u 0 R >>\nendobj\n", 6 + 2 * i);
		if (e == 0)
			e = put_str(out, tmp);
		if (e == 0)
			e = obj_start(out, offsets, 6 + 2 * i);
		snprintf(tmp, sizeof tmp, "<< /Length %zu >>\nstream\n", d->pages[i].s.len);
		if (e == 0)
			e = put_str(out, tmp);
		if (e == 0)
			e = buf_put(out, d->pages[i].s.data, d->pages[i].s.len);
		if (e == 0)
			e = put_str(out, "endstream\nendobj\n");
	}
	size_t xref = out->len;
	snprintf(tmp, sizeof tmp, "xref\n0 %u\n0000000000 65535 f \n", n_objs + 1);
	if (e == 0)
		e = put_str(out, tmp);
	for (unsigned i = 1; e == 0 && i <= n_objs; i++) {
		snprintf(tmp, sizeof tmp, "%010zu 00000 n \n", offsets[i]);
		e = put_str(out, tmp);
	}
	snprintf(tmp, sizeof tmp, "trailer\n<< /Size %u /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n",
		 n_objs + 1, xref);
	if (e == 0)
		e = put_str(out, tmp);
	for (unsigned i = 0; i < d->n; i++)
		buf_fini(&d->pages[i].s);
	free(d);
	return e;
}
