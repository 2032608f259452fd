/*
 * Fuzz harness for the audit trail's entry parser (audit/entry.h,
 * docs/format/audit.md "Entries"), the one reader of untrusted trail
 * bytes. The input is a trail: entries are parsed one after the other
 * until the end, a torn tail (-EAGAIN) or a malformed entry (-EBADMSG);
 * any other result aborts. Every entry accepted must stay within the
 * input and the format's limits, borrow its fields from inside its own
 * bytes, and re-encode (audit_encode_record, _seal, _anchor, from the
 * parsed fields) to exactly the bytes it was parsed from: the encoding
 * is canonical, so two different byte strings never parse as the same
 * entry. Each accepted entry cut short by one byte must read as torn.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/entry.h"
#include "audit/merkle.h"
#include "util/buf.h"

/* The smallest entry of each kind (length field included). */
#define RECORD_MIN (AUDIT_HEAD_LEN + 4 + 6 * 4 + 32)
#define SEAL_MIN (AUDIT_HEAD_LEN + 8 + 8 + 32 + 32 + 4)
#define ANCHOR_MIN (AUDIT_HEAD_LEN + 8 + 1 + 4)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok)
		abort();
}

/* [p, p + n) lies inside [lo, lo + len). */
static bool inside(const uint8_t *p, size_t n, const uint8_t *lo, size_t len)
{
	return p != NULL && p >= lo && n <= len && (size_t)(p - lo) <= len - n;
}

/* A string field: inside the entry, within its limit, no NUL; copied NUL-terminated. */
static void str_field(const struct audit_entry *e, const uint8_t *p, size_t n, size_t max,
		      char *out)
{
	require(n <= max);
	require(inside(p, n, e->bytes, e->len));
	require(memchr(p, 0, n) == NULL);
	memcpy(out, p, n);
	out[n] = 0;
}

static void check_reencoding(const struct buf *b, const uint8_t *entry, size_t used)
{
	require(b->len == used);
	require(memcmp(b->data, entry, used) == 0);
}

static void check_record(const struct audit_entry *e, const uint8_t *entry, size_t used)
{
	char actor[AUDIT_ACTOR_MAX + 1], role[AUDIT_ROLE_MAX + 1], op[AUDIT_OP_MAX + 1], target[AUDIT_TARGET_MAX + 1];
	char outcome[AUDIT_OUTCOME_MAX + 1], origin[AUDIT_ORIGIN_MAX + 1];
	struct audit_record r = { .uid = e->uid, .actor = actor, .role = role, .op = op,
				  .target = target, .outcome = outcome, .origin = origin };
	struct buf b = { 0 };

	require(used >= RECORD_MIN);
	str_field(e, e->actor, e->actor_len, AUDIT_ACTOR_MAX, actor);
	str_field(e, e->role, e->role_len, AUDIT_ROLE_MAX, role);
	str_field(e, e->op, e->op_len, AUDIT_OP_MAX, op);
	str_field(e, e->target, e->target_len, AUDIT_TARGET_MAX, target);
	str_field(e, e->outcome, e->outcome_len, AUDIT_OUTCOME_MAX, outcome);
	str_field(e, e->origin, e->origin_len, AUDIT_ORIGIN_MAX, origin);
	require(inside(e->params, 32, e->bytes, e->len));
	memcpy(r.params, e->params, 32);
	/* Each field where the one before it ends (a u32 length before each string). */
	require(e->actor == e->bytes + (AUDIT_HEAD_LEN - 4) + 4 + 4);
	require(e->role == e->actor + e->actor_len + 4 && e->op == e->role + e->role_len + 4);
	require(e->target == e->op + e->op_len + 4 && e->params == e->target + e->target_len);
	require(e->outcome == e->params + 32 + 4 && e->origin == e->outcome + e->outcome_len + 4);
	require(e->actor_len + e->role_len + e->op_len + e->target_len + e->outcome_len +
			e->origin_len + RECORD_MIN == used);
	require(audit_encode_record(&b, e->seq, e->time_ns, e->prev, &r) == 0);
	check_reencoding(&b, entry, used);
	buf_fini(&b);
}

static void check_seal(const struct audit_entry *e, const uint8_t *entry, size_t used)
{
	struct buf b = { 0 };

	require(used >= SEAL_MIN);
	require(e->sig_len <= AUDIT_SIG_MAX);
	require(inside(e->root, 32, e->bytes, e->len) && inside(e->mac, 32, e->bytes, e->len));
	require(e->sig_len == 0 || inside(e->sig, e->sig_len, e->bytes, e->len));
	require(e->root == e->bytes + (AUDIT_HEAD_LEN - 4) + 16 && e->mac == e->root + 32 &&
		e->sig == e->mac + 32 + 4);
	require(SEAL_MIN + e->sig_len == used);
	require(audit_encode_seal(&b, e->seq, e->time_ns, e->prev, e->epoch, e->tree_size,
				  e->root, e->mac, e->sig, e->sig_len) == 0);
	check_reencoding(&b, entry, used);
	buf_fini(&b);
}

static void check_anchor(const struct audit_entry *e, const uint8_t *entry, size_t used)
{
	static struct merkle_frontier f; /* 2 KiB: off the stack */
	char reason[AUDIT_REASON_MAX + 1];
	struct buf b = { 0 };

	require(used >= ANCHOR_MIN);
	require(e->n_frontier <= MERKLE_MAX_DEPTH);
	require(e->n_frontier == 0 ||
		inside(e->frontier, (size_t)e->n_frontier * 32, e->bytes, e->len));
	str_field(e, e->reason, e->reason_len, AUDIT_REASON_MAX, reason);
	require(e->frontier == e->bytes + (AUDIT_HEAD_LEN - 4) + 9 &&
		e->reason == e->frontier + (size_t)e->n_frontier * 32 + 4);
	require(ANCHOR_MIN + (size_t)e->n_frontier * 32 + e->reason_len == used);
	memset(&f, 0, sizeof f);
	f.size = e->seq;
	f.n = e->n_frontier;
	if (f.n > 0)
		memcpy(f.h, e->frontier, (size_t)f.n * 32);
	require(audit_encode_anchor(&b, e->seq, e->time_ns, e->prev, e->epoch, &f, reason) == 0);
	check_reencoding(&b, entry, used);
	buf_fini(&b);
}

/* One entry accepted at p (left bytes from there). */
static void check_entry(const uint8_t *p, size_t left, size_t used, const struct audit_entry *e)
{
	struct audit_entry e2;
	size_t used2 = 0;

	require(used >= AUDIT_HEAD_LEN && used <= left && used - 4 <= AUDIT_ENTRY_MAX);
	require(le32_get(p) == used - 4);
	require(e->bytes == p + 4 && e->len == used - 4);
	require(e->bytes[0] == (uint8_t)e->kind);
	require(e->seq == le64_get(p + 5) && (uint64_t)e->time_ns == le64_get(p + 13));
	require(e->prev == p + 21);
	switch (e->kind) {
	case AUDIT_RECORD: check_record(e, p, used); break;
	case AUDIT_SEAL: check_seal(e, p, used); break;
	case AUDIT_ANCHOR: check_anchor(e, p, used); break;
	default: require(false);
	}
	/* The same entry one byte short is a torn tail, never another entry. */
	require(audit_entry_parse(p, used - 1, &used2, &e2) == -EAGAIN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	while (off < size) {
		struct audit_entry e;
		size_t used = 0, left = size - off;
		int r = audit_entry_parse(data + off, left, &used, &e);
		require(r == 0 || r == -EAGAIN || r == -EBADMSG);
		if (r == -EAGAIN) {
			/*
			 * Only when the length field, or the entry it announces (of a
			 * valid length), is not all there.
			 */
			uint32_t len = left >= 4 ? le32_get(data + off) : 0;
			require(left < 4 || (len >= AUDIT_HEAD_LEN - 4 && len <= AUDIT_ENTRY_MAX &&
					     (size_t)len > left - 4));
			break;
		}
		if (r != 0)
			break;
		check_entry(data + off, left, used, &e);
		off += used;
	}
	return 0;
}
