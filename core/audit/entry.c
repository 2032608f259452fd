/* Audit entries: encoding and the strict parser (entry.h). */
#include "audit/entry.h"

#include <errno.h>
#include <string.h>

static const char seal_label[] = "coffer audit seal v1";

/* Starts an entry: a length placeholder and the common header; returns its offset. */
static int head(struct buf *out, enum audit_kind kind, uint64_t seq, int64_t time_ns,
		const uint8_t prev[32], size_t *start)
{
	*start = out->len;
	int e = buf_put_u32(out, 0);
	if (e == 0)
		e = buf_put_u8(out, (uint8_t)kind);
	if (e == 0)
		e = buf_put_u64(out, seq);
	if (e == 0)
		e = buf_put_u64(out, (uint64_t)time_ns);
	if (e == 0)
		e = buf_put(out, prev, 32);
	return e;
}

/* Patches the length field; on any error the entry is taken back out. */
static int finish(struct buf *out, size_t start, int e)
{
	if (e == 0 && out->len - start - 4 > AUDIT_ENTRY_MAX)
		e = -EINVAL;
	if (e != 0) {
		out->len = start;
		return e;
	}
	le32_put(out->data + start, (uint32_t)(out->len - start - 4));
	return 0;
}

static int put_str(struct buf *out, const char *s, size_t max, int e)
{
	if (e != 0)
		return e;
	size_t n = s != NULL ? strlen(s) : 0;
	return n > max ? -EINVAL : buf_put_bytes(out, s != NULL ? s : "", n);
}

int audit_encode_record(struct buf *out, uint64_t seq, int64_t time_ns,
			const uint8_t prev[32], const struct audit_record *r)
{
	size_t start;
	int e = head(out, AUDIT_RECORD, seq, time_ns, prev, &start);
	if (e == 0)
		e = buf_put_u32(out, r->uid);
	e = put_str(out, r->actor, AUDIT_ACTOR_MAX, e);
	e = put_str(out, r->role, AUDIT_ROLE_MAX, e);
	e = put_str(out, r->op, AUDIT_OP_MAX, e);
	e = put_str(out, r->target, AUDIT_TARGET_MAX, e);
	if (e == 0)
		e = buf_put(out, r->params, 32);
	e = put_str(out, r->outcome, AUDIT_OUTCOME_MAX, e);
	e = put_str(out, r->origin, AUDIT_ORIGIN_MAX, e);
	return finish(out, start, e);
}

int audit_encode_seal(struct buf *out, uint64_t seq, int64_t time_ns, const uint8_t prev[32],
		      uint64_t epoch, uint64_t tree_size, const uint8_t root[32],
		      const uint8_t mac[32], const void *sig, size_t sig_len)
{
	size_t start;
	int e = head(out, AUDIT_SEAL, seq, time_ns, prev, &start);
	if (e == 0)
		e = buf_put_u64(out, epoch);
	if (e == 0)
		e = buf_put_u64(out, tree_size);
	if (e == 0)
		e = buf_put(out, root, 32);
	if (e == 0)
		e = buf_put(out, mac, 32);
	if (e == 0)
		e = sig_len > AUDIT_SIG_MAX ? -EINVAL : buf_put_bytes(out, sig, sig_len);
	return finish(out, start, e);
}

int audit_encode_anchor(struct buf *out, uint64_t seq, int64_t time_ns, const uint8_t prev[32],
			uint64_t epoch, const struct merkle_frontier *f, const char *reason)
{
	size_t start;
	int e = head(out, AUDIT_ANCHOR, seq, time_ns, prev, &start);
	if (e == 0)
		e = buf_put_u64(out, epoch);
	if (e == 0)
		e = buf_put_u8(out, f->n);
	for (uint8_t i = 0; e == 0 && i < f->n; i++)
		e = buf_put(out, f->h[i], 32);
	e = put_str(out, reason, AUDIT_REASON_MAX, e);
	return finish(out, start, e);
}

/* A string field: borrowed, at most max bytes, no NUL. */
static int get_str(struct rbuf *r, size_t max, const uint8_t **p, size_t *n)
{
	if (rbuf_get_bytes_ref(r, max, p, n) != 0 || memchr(*p, 0, *n) != NULL)
		return -EBADMSG;
	return 0;
}

int audit_entry_parse(const uint8_t *p, size_t n, size_t *used, struct audit_entry *e)
{
	if (n < 4)
		return -EAGAIN;
	uint32_t len = le32_get(p);
	if (len < AUDIT_HEAD_LEN - 4 || len > AUDIT_ENTRY_MAX)
		return -EBADMSG;
	if (n - 4 < len)
		return -EAGAIN;
	struct rbuf r;
	uint8_t kind;
	uint64_t t;
	memset(e, 0, sizeof *e);
	rbuf_init(&r, p + 4, len);
	int err = rbuf_get_u8(&r, &kind);
	if (err == 0)
		err = rbuf_get_u64(&r, &e->seq);
	if (err == 0)
		err = rbuf_get_u64(&r, &t);
	if (err == 0)
		err = rbuf_get_ref(&r, 32, &e->prev);
	if (err != 0)
		return -EBADMSG;
	e->time_ns = (int64_t)t;
	e->bytes = p + 4;
	e->len = len;
	switch (kind) {
	case AUDIT_RECORD:
		e->kind = AUDIT_RECORD;
		if (rbuf_get_u32(&r, &e->uid) != 0 ||
		    get_str(&r, AUDIT_ACTOR_MAX, &e->actor, &e->actor_len) != 0 ||
		    get_str(&r, AUDIT_ROLE_MAX, &e->role, &e->role_len) != 0 ||
		    get_str(&r, AUDIT_OP_MAX, &e->op, &e->op_len) != 0 ||
		    get_str(&r, AUDIT_TARGET_MAX, &e->target, &e->target_len) != 0 ||
		    rbuf_get_ref(&r, 32, &e->params) != 0 ||
		    get_str(&r, AUDIT_OUTCOME_MAX, &e->outcome, &e->outcome_len) != 0 ||
		    get_str(&r, AUDIT_ORIGIN_MAX, &e->origin, &e->origin_len) != 0)
			return -EBADMSG;
		break;
	case AUDIT_SEAL:
		e->kind = AUDIT_SEAL;
		if (rbuf_get_u64(&r, &e->epoch) != 0 || rbuf_get_u64(&r, &e->tree_size) != 0 ||
		    rbuf_get_ref(&r, 32, &e->root) != 0 || rbuf_get_ref(&r, 32, &e->mac) != 0 ||
		    rbuf_get_bytes_ref(&r, AUDIT_SIG_MAX, &e->sig, &e->sig_len) != 0)
			return -EBADMSG;
		break;
	case AUDIT_ANCHOR:
		e->kind = AUDIT_ANCHOR;
		if (rbuf_get_u64(&r, &e->epoch) != 0 || rbuf_get_u8(&r, &e->n_frontier) != 0 ||
		    e->n_frontier > MERKLE_MAX_DEPTH ||
		    rbuf_get_ref(&r, (size_t)e->n_frontier * 32, &e->frontier) != 0 ||
		    get_str(&r, AUDIT_REASON_MAX, &e->reason, &e->reason_len) != 0)
			return -EBADMSG;
		break;
	default:
		return -EBADMSG;
	}
	if (rbuf_left(&r) != 0)
		return -EBADMSG;
	*used = 4 + (size_t)len;
	return 0;
}

size_t audit_seal_message(uint32_t suite, uint64_t epoch, uint64_t tree_size,
			  const uint8_t root[32], const uint8_t prev[32], uint8_t *out)
{
	size_t n = sizeof seal_label - 1;
	memcpy(out, seal_label, n);
	le32_put(out + n, suite);
	le64_put(out + n + 4, epoch);
	le64_put(out + n + 12, tree_size);
	memcpy(out + n + 20, root, 32);
	memcpy(out + n + 52, prev, 32);
	return n + 84;
}
