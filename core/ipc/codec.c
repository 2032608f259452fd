/*
 * Framing, schema validation, and the typed reader and writer (ipc.h).
 * Every byte a peer sends is untrusted: a frame is checked whole against
 * its schema (every length, count and the exact end) before a handler
 * reads any field, so handlers never see a malformed message.
 */
#include "ipc/ipc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ipc_frame_len(const uint8_t *p, size_t n, size_t *frame_len)
{
	if (n < 4)
		return -EAGAIN;
	uint32_t len = le32_get(p);
	if (len > IPC_FRAME_MAX)
		return -EMSGSIZE;
	if (len < IPC_HEADER_LEN - 4)
		return -EPROTO;
	if (n < 4 + (size_t)len)
		return -EAGAIN;
	*frame_len = 4 + (size_t)len;
	return 0;
}

static int why_set(char *why, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int why_set(char *why, size_t size, const char *fmt, ...)
{
	if (why != NULL && size > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, size, fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

/* Checks one scalar or string field at r; -EPROTO naming it. */
static int check_field(struct rbuf *r, const struct ipc_field *f, const struct ipc_schema *s,
		       char *why, size_t size)
{
	uint8_t u8;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *p;
	size_t n;
	switch (f->kind) {
	case IPC_U8:
		if (rbuf_get_u8(r, &u8) == 0)
			return 0;
		break;
	case IPC_U32:
		if (rbuf_get_u32(r, &u32) == 0)
			return 0;
		break;
	case IPC_U64:
	case IPC_I64:
		if (rbuf_get_u64(r, &u64) == 0)
			return 0;
		break;
	case IPC_STR:
	case IPC_BYTES:
		if (rbuf_get_bytes_ref(r, f->max, &p, &n) != 0)
			return why_set(why, size, "%s: field %s is truncated or too long",
				       s->name, f->name);
		if (f->kind == IPC_STR && memchr(p, 0, n) != NULL)
			return why_set(why, size, "%s: field %s holds a NUL byte", s->name,
				       f->name);
		return 0;
	case IPC_LIST:
		break;
	}
	return why_set(why, size, "%s: field %s is truncated", s->name, f->name);
}

/* Validates a payload against s: every field, every list item, exact end. */
static int validate(const struct ipc_schema *s, const uint8_t *p, size_t len, char *why,
		    size_t size)
{
	struct rbuf r;
	rbuf_init(&r, p, len);
	for (size_t i = 0; i < s->n; i++) {
		const struct ipc_field *f = &s->fields[i];
		if (f->kind != IPC_LIST) {
			int e = check_field(&r, f, s, why, size);
			if (e != 0)
				return e;
			continue;
		}
		uint32_t count;
		if (rbuf_get_u32(&r, &count) != 0 || count > f->max)
			return why_set(why, size, "%s: list %s is truncated or too long", s->name,
				       f->name);
		for (uint32_t k = 0; k < count; k++)
			for (size_t j = 0; j < f->n_item; j++) {
				int e = check_field(&r, &f->item[j], s, why, size);
				if (e != 0)
					return e;
			}
	}
	if (rbuf_left(&r) != 0)
		return why_set(why, size, "%s: bytes after the last field", s->name);
	return 0;
}

int ipc_decode(const uint8_t *frame, size_t len, struct ipc_msg *m, char *why, size_t size)
{
	size_t flen;
	int e = ipc_frame_len(frame, len, &flen);
	if (e == -EAGAIN || (e == 0 && flen != len))
		return why_set(why, size, "frame length does not match its data");
	if (e != 0)
		return e;
	uint16_t version = le16_get(frame + 4), type = le16_get(frame + 6);
	if (version != IPC_VERSION)
		return -EPROTONOSUPPORT;
	const struct ipc_schema *s = ipc_schema(type);
	if (s == NULL)
		return why_set(why, size, "unknown message type 0x%04x", type);
	e = validate(s, frame + IPC_HEADER_LEN, len - IPC_HEADER_LEN, why, size);
	if (e != 0)
		return e;
	m->type = type;
	m->reqid = le32_get(frame + 8);
	m->payload = frame + IPC_HEADER_LEN;
	m->len = len - IPC_HEADER_LEN;
	return 0;
}

void ipc_reader_init(struct ipc_reader *rd, const struct ipc_msg *m)
{
	memset(rd, 0, sizeof *rd);
	rd->s = ipc_schema(m->type);
	rbuf_init(&rd->r, m->payload, m->len);
	if (rd->s == NULL)
		rd->err = -EPROTO;
}

/*
 * The field the next get or put must be of kind k: in a list, the next
 * item field; else the next top-level one. Advances the position.
 */
static const struct ipc_field *next_field(const struct ipc_schema *s, size_t *i,
					  const struct ipc_field **list, uint32_t *items_left,
					  size_t *sub, enum ipc_kind k, int *err)
{
	const struct ipc_field *f = NULL;
	if (*err != 0 || s == NULL) {
		*err = *err ? *err : -EPROTO;
		return NULL;
	}
	if (*list != NULL && *items_left > 0) {
		f = &(*list)->item[*sub];
		if (++*sub == (*list)->n_item) {
			*sub = 0;
			if (--*items_left == 0)
				*list = NULL;
		}
	} else if (*i < s->n) {
		*list = NULL;
		f = &s->fields[(*i)++];
	}
	if (f == NULL || f->kind != k) {
		*err = -EPROTO;
		return NULL;
	}
	return f;
}

#define RD_FIELD(rd, k) \
	next_field((rd)->s, &(rd)->i, &(rd)->list, &(rd)->items_left, &(rd)->sub, (k), &(rd)->err)

int ipc_get_u8(struct ipc_reader *rd, uint8_t *v)
{
	if (RD_FIELD(rd, IPC_U8) == NULL || rbuf_get_u8(&rd->r, v) != 0)
		return rd->err = -EPROTO;
	return 0;
}

int ipc_get_u32(struct ipc_reader *rd, uint32_t *v)
{
	if (RD_FIELD(rd, IPC_U32) == NULL || rbuf_get_u32(&rd->r, v) != 0)
		return rd->err = -EPROTO;
	return 0;
}

int ipc_get_u64(struct ipc_reader *rd, uint64_t *v)
{
	if (RD_FIELD(rd, IPC_U64) == NULL || rbuf_get_u64(&rd->r, v) != 0)
		return rd->err = -EPROTO;
	return 0;
}

int ipc_get_i64(struct ipc_reader *rd, int64_t *v)
{
	uint64_t u;
	if (RD_FIELD(rd, IPC_I64) == NULL || rbuf_get_u64(&rd->r, &u) != 0)
		return rd->err = -EPROTO;
	*v = (int64_t)u;
	return 0;
}

int ipc_get_ref(struct ipc_reader *rd, const uint8_t **p, size_t *n)
{
	const struct ipc_field *f = NULL;
	/* A string or a byte string: whichever the schema has next. */
	if (rd->err == 0) {
		struct ipc_reader peek = *rd;
		f = RD_FIELD(&peek, IPC_STR);
		if (f == NULL) {
			peek = *rd;
			f = RD_FIELD(&peek, IPC_BYTES);
		}
		if (f != NULL)
			*rd = peek;
	}
	if (f == NULL || rbuf_get_bytes_ref(&rd->r, f->max, p, n) != 0)
		return rd->err = -EPROTO;
	return 0;
}

int ipc_get_str(struct ipc_reader *rd, char *out, size_t cap)
{
	const uint8_t *p;
	size_t n;
	int e = ipc_get_ref(rd, &p, &n);
	if (e != 0)
		return e;
	if (n >= cap)
		return -ENAMETOOLONG;
	memcpy(out, p, n);
	out[n] = 0;
	return 0;
}

int ipc_get_list(struct ipc_reader *rd, uint32_t *count)
{
	const struct ipc_field *f = RD_FIELD(rd, IPC_LIST);
	if (f == NULL || rbuf_get_u32(&rd->r, count) != 0)
		return rd->err = -EPROTO;
	if (*count > 0) {
		rd->list = f;
		rd->items_left = *count;
		rd->sub = 0;
	}
	return 0;
}

int ipc_end(struct ipc_reader *rd)
{
	if (rd->err != 0 || rd->i != (rd->s ? rd->s->n : 0) || rd->list != NULL ||
	    rbuf_left(&rd->r) != 0)
		return -EPROTO;
	return 0;
}

void ipc_writer_init(struct ipc_writer *w, uint16_t type, uint32_t reqid)
{
	memset(w, 0, sizeof *w);
	w->s = ipc_schema(type);
	if (w->s == NULL) {
		w->err = -EPROTO;
		return;
	}
	uint8_t head[IPC_HEADER_LEN] = { 0 };
	le16_put(head + 4, IPC_VERSION);
	le16_put(head + 6, type);
	le32_put(head + 8, reqid);
	w->err = buf_put(&w->b, head, sizeof head);
}

void ipc_writer_fini(struct ipc_writer *w)
{
	buf_fini(&w->b);
}

#define WR_FIELD(w, k) \
	next_field((w)->s, &(w)->i, &(w)->list, &(w)->items_left, &(w)->sub, (k), &(w)->err)

/* Sets the sticky error if e is one. */
static void wr_err(struct ipc_writer *w, int e)
{
	if (w->err == 0 && e != 0)
		w->err = e;
}

void ipc_put_u8(struct ipc_writer *w, uint8_t v)
{
	if (WR_FIELD(w, IPC_U8) != NULL)
		wr_err(w, buf_put_u8(&w->b, v));
}

void ipc_put_u32(struct ipc_writer *w, uint32_t v)
{
	if (WR_FIELD(w, IPC_U32) != NULL)
		wr_err(w, buf_put_u32(&w->b, v));
}

void ipc_put_u64(struct ipc_writer *w, uint64_t v)
{
	if (WR_FIELD(w, IPC_U64) != NULL)
		wr_err(w, buf_put_u64(&w->b, v));
}

void ipc_put_i64(struct ipc_writer *w, int64_t v)
{
	if (WR_FIELD(w, IPC_I64) != NULL)
		wr_err(w, buf_put_u64(&w->b, (uint64_t)v));
}

/* Puts a string (str) or byte string (!str) of n bytes. */
static void put_bytes(struct ipc_writer *w, const void *p, size_t n, bool str)
{
	const struct ipc_field *f = WR_FIELD(w, str ? IPC_STR : IPC_BYTES);
	if (f == NULL)
		return;
	if (n > f->max)
		wr_err(w, -ENAMETOOLONG);
	else if (str && n > 0 && memchr(p, 0, n) != NULL)
		wr_err(w, -EINVAL);
	else
		wr_err(w, buf_put_bytes(&w->b, p, n));
}

void ipc_put_strn(struct ipc_writer *w, const char *s, size_t n)
{
	put_bytes(w, s != NULL ? s : "", s != NULL ? n : 0, true);
}

void ipc_put_str(struct ipc_writer *w, const char *s)
{
	ipc_put_strn(w, s, s != NULL ? strlen(s) : 0);
}

void ipc_put_bytes(struct ipc_writer *w, const void *p, size_t n)
{
	put_bytes(w, p, n, false);
}

void ipc_put_list(struct ipc_writer *w, uint32_t count)
{
	const struct ipc_field *f = WR_FIELD(w, IPC_LIST);
	if (f == NULL)
		return;
	if (count > f->max) {
		wr_err(w, -E2BIG);
		return;
	}
	wr_err(w, buf_put_u32(&w->b, count));
	if (count > 0) {
		w->list = f;
		w->items_left = count;
		w->sub = 0;
	}
}

int ipc_writer_finish(struct ipc_writer *w)
{
	if (w->err == 0 && (w->s == NULL || w->i != w->s->n || w->list != NULL))
		w->err = -EPROTO; /* fields missing: a programming error */
	if (w->err == 0 && w->b.len - 4 > IPC_FRAME_MAX)
		w->err = -EMSGSIZE;
	if (w->err == 0)
		le32_put(w->b.data, (uint32_t)(w->b.len - 4));
	return w->err;
}

int ipc_error_frame(struct ipc_writer *w, uint32_t reqid, int code, const char *message)
{
	char msg[1025];
	/* Cut to the field's limit rather than fail to report the error. */
	snprintf(msg, sizeof msg, "%s", message != NULL ? message : "");
	ipc_writer_init(w, IPC_ERROR, reqid);
	ipc_put_u32(w, (uint32_t)(code > 0 ? code : -code));
	ipc_put_str(w, msg);
	return ipc_writer_finish(w);
}

int ipc_error_read(const struct ipc_msg *m, int *code, char *message, size_t cap)
{
	struct ipc_reader rd;
	uint32_t c = 0;
	const uint8_t *p = NULL;
	size_t n = 0;
	if (m->type != IPC_ERROR || cap == 0)
		return -EINVAL;
	ipc_reader_init(&rd, m);
	int e = ipc_get_u32(&rd, &c);
	if (e == 0)
		e = ipc_get_ref(&rd, &p, &n);
	if (e == 0)
		e = ipc_end(&rd);
	if (e != 0)
		return e;
	if (n >= cap)
		n = cap - 1; /* a long message is cut, not refused */
	memcpy(message, p, n);
	message[n] = 0;
	*code = (int)c;
	return 0;
}

/* Appends one field's value (r positioned on it) to out. */
static int dump_field(struct ipc_reader *rd, const struct ipc_field *f, struct buf *out)
{
	char num[32];
	int e = 0;
	uint8_t u8;
	uint32_t u32;
	uint64_t u64;
	int64_t i64;
	const uint8_t *p;
	size_t n;
	/* A value is formatted only once it was read: a failed get leaves it unset. */
	switch (f->kind) {
	case IPC_U8:
		if ((e = ipc_get_u8(rd, &u8)) != 0)
			return e;
		snprintf(num, sizeof num, "%u", (unsigned)u8);
		break;
	case IPC_U32:
		if ((e = ipc_get_u32(rd, &u32)) != 0)
			return e;
		snprintf(num, sizeof num, "%u", (unsigned)u32);
		break;
	case IPC_U64:
		if ((e = ipc_get_u64(rd, &u64)) != 0)
			return e;
		snprintf(num, sizeof num, "%llu", (unsigned long long)u64);
		break;
	case IPC_I64:
		if ((e = ipc_get_i64(rd, &i64)) != 0)
			return e;
		snprintf(num, sizeof num, "%lld", (long long)i64);
		break;
	case IPC_STR:
	case IPC_BYTES:
		if ((e = ipc_get_ref(rd, &p, &n)) != 0)
			return e;
		if (f->secret)
			return buf_put(out, "(secret)", 8);
		e = buf_put_u8(out, '"');
		for (size_t i = 0; e == 0 && i < n; i++) {
			if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\') {
				e = buf_put_u8(out, p[i]);
			} else {
				snprintf(num, sizeof num, "\\x%02x", p[i]);
				e = buf_put(out, num, 4);
			}
		}
		return e == 0 ? buf_put_u8(out, '"') : e;
	case IPC_LIST:
		return -EPROTO;
	}
	return buf_put(out, num, strlen(num));
}

int ipc_dump(const struct ipc_msg *m, struct buf *out)
{
	struct ipc_reader rd;
	const struct ipc_schema *s = ipc_schema(m->type);
	if (s == NULL)
		return -EPROTO;
	ipc_reader_init(&rd, m);
	int e = buf_put(out, s->name, strlen(s->name));
	for (size_t i = 0; e == 0 && i < s->n; i++) {
		const struct ipc_field *f = &s->fields[i];
		e = buf_put_u8(out, ' ');
		if (e == 0)
			e = buf_put(out, f->name, strlen(f->name));
		if (e == 0)
			e = buf_put_u8(out, '=');
		if (e != 0)
			break;
		if (f->kind != IPC_LIST) {
			e = dump_field(&rd, f, out);
			continue;
		}
		uint32_t count = 0;
		e = ipc_get_list(&rd, &count);
		if (e == 0)
			e = buf_put_u8(out, '[');
		for (uint32_t k = 0; e == 0 && k < count; k++) {
			if (k > 0)
				e = buf_put(out, ", ", 2);
			for (size_t j = 0; e == 0 && j < f->n_item; j++) {
				if (j > 0)
					e = buf_put_u8(out, ' ');
				if (e == 0 && f->n_item > 1) {
					e = buf_put(out, f->item[j].name, strlen(f->item[j].name));
					if (e == 0)
						e = buf_put_u8(out, '=');
				}
				if (e == 0)
					e = dump_field(&rd, &f->item[j], out);
			}
		}
		if (e == 0)
			e = buf_put_u8(out, ']');
	}
	return e == 0 ? ipc_end(&rd) : e;
}

void ipc_target(const struct ipc_msg *m, char *out, size_t size)
{
	struct ipc_reader rd;
	const struct ipc_schema *s = ipc_schema(m->type);
	out[0] = 0;
	if (s == NULL || size == 0)
		return;
	ipc_reader_init(&rd, m);
	for (size_t i = 0; i < s->n; i++) {
		const struct ipc_field *f = &s->fields[i];
		bool named = strcmp(f->name, "dataset") == 0 || strcmp(f->name, "name") == 0 ||
			     strcmp(f->name, "job") == 0 || strcmp(f->name, "request") == 0;
		const uint8_t *p;
		size_t n;
		uint8_t u8;
		uint32_t u32, count;
		uint64_t u64;
		int64_t i64;
		switch (f->kind) {
		case IPC_STR:
		case IPC_BYTES:
			if (ipc_get_ref(&rd, &p, &n) != 0)
				return;
			if (named && f->kind == IPC_STR) {
				snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1),
					 (const char *)p);
				return;
			}
			break;
		case IPC_U64:
			if (ipc_get_u64(&rd, &u64) != 0)
				return;
			if (named) {
				snprintf(out, size, "job %llu", (unsigned long long)u64);
				return;
			}
			break;
		case IPC_U8:
			if (ipc_get_u8(&rd, &u8) != 0)
				return;
			break;
		case IPC_U32:
			if (ipc_get_u32(&rd, &u32) != 0)
				return;
			break;
		case IPC_I64:
			if (ipc_get_i64(&rd, &i64) != 0)
				return;
			break;
		case IPC_LIST:
			return; /* the target comes before any list in every schema */
		}
		(void)count;
	}
}
