/* Proof files: making, encoding, parsing and checking them (proof.h). */
#include "audit/proof.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit_int.h"
#include "audit/entry.h"
#include "audit/verify.h"
#include "crypto/crypto.h"
#include "util/log.h"

/* ---- reading the trail ---------------------------------------------------- */

/*
 * A forward cursor over a trail's leaves (its entries but an anchor). The
 * provers read leaves in increasing order (merkle.h), so one pass over
 * the bytes serves them, with no copy of the leaves.
 */
struct cursor {
	const struct suite *s;
	const uint8_t *trail;
	size_t len, off;
	uint64_t first;           /* the seq of the first leaf held: 0, or the anchor's */
	uint64_t next;            /* the seq of the entry at off */
	uint64_t need;            /* the tree asked for, for the messages */
	uint64_t want;            /* the entry to keep when it is passed, else UINT64_MAX */
	struct audit_entry wanted;
	bool have_wanted;
};

/*
 * Opens c over trail; an anchor at its head (a pruned trail) sets first
 * and the compact range fr of the removed entries, else fr is empty.
 */
static int cursor_open(struct cursor *c, const uint8_t *trail, size_t len, uint32_t suite,
		       uint64_t need, struct merkle_frontier *fr)
{
	struct audit_entry en;
	size_t used;
	*c = (struct cursor){ .s = suite_by_id(suite), .trail = trail, .len = len,
			      .need = need, .want = UINT64_MAX };
	merkle_frontier_init(fr);
	if (c->s == NULL) {
		log_errorx("the trail is of an unknown suite %u", suite);
		return -EINVAL;
	}
	/* Anything but an anchor at the head is cursor_next's to read and judge. */
	if (len == 0 || audit_entry_parse(trail, len, &used, &en) != 0 || en.kind != AUDIT_ANCHOR)
		return 0;
	fr->size = en.seq;
	fr->n = en.n_frontier;
	if (en.n_frontier > 0)
		memcpy(fr->h, en.frontier, (size_t)en.n_frontier * MERKLE_HASH_LEN);
	if (merkle_frontier_check(fr) != 0) {
		log_errorx("the trail's anchor is damaged (its compact range does not match its "
			   "seq): 'coffer audit verify' says more");
		return -EBADMSG;
	}
	c->first = c->next = en.seq;
	c->off = used;
	return 0;
}

/* The next leaf into *en. -ERANGE the trail ends before c->need; -EBADMSG it is damaged. */
static int cursor_next(struct cursor *c, struct audit_entry *en)
{
	size_t used;
	if (c->off == c->len) {
		log_errorx("the trail has %llu entries, fewer than the %llu of the tree asked for",
			   (unsigned long long)c->next, (unsigned long long)c->need);
		return -ERANGE;
	}
	int e = audit_entry_parse(c->trail + c->off, c->len - c->off, &used, en);
	if (e != 0 || en->kind == AUDIT_ANCHOR || en->seq != c->next) {
		log_errorx("the trail is damaged at offset %zu (entry %llu): 'coffer audit verify' "
			   "says more", c->off, (unsigned long long)c->next);
		return -EBADMSG;
	}
	if (en->seq == c->want) {
		c->wanted = *en;
		c->have_wanted = true;
	}
	c->off += used;
	c->next++;
	return 0;
}

/* Reads on until the entry at the cursor is seq (every entry before it is whole). */
static int cursor_skip_to(struct cursor *c, uint64_t seq)
{
	struct audit_entry en;
	int e = 0;
	while (e == 0 && c->next < seq)
		e = cursor_next(c, &en);
	return e;
}

/* merkle_leaf_fn over a cursor. */
static int leaf_at(uint64_t index, uint8_t out[MERKLE_HASH_LEN], void *arg)
{
	struct cursor *c = arg;
	struct audit_entry en;
	if (index < c->first) {
		log_errorx("the proof needs entries removed by the prune (the trail starts at "
			   "entry %llu): make it from an export taken before the prune",
			   (unsigned long long)c->first);
		return -ERANGE;
	}
	if (index < c->next)
		return -EINVAL; /* the provers never read back */
	int e = cursor_skip_to(c, index);
	if (e == 0)
		e = cursor_next(c, &en);
	return e == 0 ? merkle_leaf(c->s, en.bytes, en.len, out) : e;
}

int audit_trail_head(const uint8_t *trail, size_t len, uint32_t suite, uint64_t size,
		     uint8_t root[MERKLE_HASH_LEN])
{
	struct cursor c;
	struct merkle_frontier fr;
	uint8_t leaf[MERKLE_HASH_LEN];
	int e = cursor_open(&c, trail, len, suite, size, &fr);
	if (e != 0)
		return e;
	if (size == 0)
		merkle_frontier_init(&fr); /* the empty tree, pruned or not */
	else if (size < c.first) {
		log_errorx("the trail was pruned at entry %llu: the tree of its first %llu entries "
			   "cannot be computed from it", (unsigned long long)c.first,
			   (unsigned long long)size);
		return -ERANGE;
	}
	while (fr.size < size) {
		struct audit_entry en;
		if ((e = cursor_next(&c, &en)) != 0 ||
		    (e = merkle_leaf(c.s, en.bytes, en.len, leaf)) != 0 ||
		    (e = merkle_frontier_add(c.s, &fr, leaf)) != 0)
			return e;
	}
	return merkle_frontier_root(c.s, &fr, root);
}

/* ---- making proofs -------------------------------------------------------- */

int audit_proof_inclusion(const uint8_t *trail, size_t len, uint32_t suite, uint64_t seq,
			  uint64_t tree_size, struct buf *out)
{
	struct cursor c;
	struct merkle_frontier fr;
	uint8_t path[MERKLE_MAX_DEPTH][MERKLE_HASH_LEN];
	size_t n_path = 0;
	if (seq >= tree_size) {
		log_errorx("entry %llu is not in the tree of %llu entries", (unsigned long long)seq,
			   (unsigned long long)tree_size);
		return -EINVAL;
	}
	int e = cursor_open(&c, trail, len, suite, tree_size, &fr);
	if (e != 0)
		return e;
	if (seq < c.first) {
		log_errorx("entry %llu was removed by the prune (the trail starts at entry %llu): "
			   "it can no longer be proved from this trail", (unsigned long long)seq,
			   (unsigned long long)c.first);
		return -ERANGE;
	}
	/* The entry itself is no leaf the prover reads: kept as the cursor passes it. */
	c.want = seq;
	e = merkle_inclusion_proof(c.s, seq, tree_size, leaf_at, &c, path, &n_path);
	/* The trail must hold the whole tree, and the entry is on the way. */
	if (e == 0)
		e = cursor_skip_to(&c, tree_size);
	if (e != 0)
		return e;
	if (!c.have_wanted)
		return -EINVAL; /* cannot be: the cursor went past seq */
	struct audit_proof pr = { .suite = suite, .kind = AUDIT_PROOF_INCLUSION, .index = seq,
				  .tree_size = tree_size, .entry = c.wanted.bytes - 4,
				  .entry_len = c.wanted.len + 4,
				  .path = (const uint8_t(*)[MERKLE_HASH_LEN])path, .n_path = n_path };
	return audit_proof_encode(&pr, out);
}

int audit_proof_consistency(const uint8_t *trail, size_t len, uint32_t suite, uint64_t size1,
			    uint64_t size2, struct buf *out)
{
	struct cursor c;
	struct merkle_frontier fr;
	uint8_t path[MERKLE_MAX_DEPTH][MERKLE_HASH_LEN];
	size_t n_path = 0;
	if (size1 > size2) {
		log_errorx("no tree of %llu entries is a prefix of one of %llu: the older, smaller "
			   "tree comes first", (unsigned long long)size1, (unsigned long long)size2);
		return -EINVAL;
	}
	int e = cursor_open(&c, trail, len, suite, size2, &fr);
	if (e != 0)
		return e;
	/* The empty tree is a prefix of every tree: its proof needs no entry. */
	if (size1 > 0 && size1 < c.first) {
		log_errorx("the trail was pruned at entry %llu: a consistency proof from the tree of "
			   "%llu entries cannot be made from it", (unsigned long long)c.first,
			   (unsigned long long)size1);
		return -ERANGE;
	}
	e = merkle_consistency_proof(c.s, size1, size2, leaf_at, &c, path, &n_path);
	/* An empty proof read nothing: the trail must still hold the tree. */
	if (e == 0)
		e = cursor_skip_to(&c, size2);
	if (e != 0)
		return e;
	struct audit_proof pr = { .suite = suite, .kind = AUDIT_PROOF_CONSISTENCY, .size1 = size1,
				  .size2 = size2,
				  .path = (const uint8_t(*)[MERKLE_HASH_LEN])path, .n_path = n_path };
	return audit_proof_encode(&pr, out);
}

/* ---- the file ------------------------------------------------------------- */

/* The entry field is a trail entry whole: its length field is the str's. */
static bool entry_field_ok(const uint8_t *entry, size_t n)
{
	return entry != NULL && n >= 4 && n - 4 <= AUDIT_ENTRY_MAX && le32_get(entry) == n - 4;
}

static bool proof_ok(const struct audit_proof *pr)
{
	if (pr->n_path > MERKLE_MAX_DEPTH || (pr->n_path > 0 && pr->path == NULL))
		return false;
	if (pr->kind == AUDIT_PROOF_INCLUSION)
		return pr->index < pr->tree_size && entry_field_ok(pr->entry, pr->entry_len);
	return pr->kind == AUDIT_PROOF_CONSISTENCY && pr->size1 <= pr->size2;
}

int audit_proof_encode(const struct audit_proof *pr, struct buf *out)
{
	size_t start = out->len;
	if (!proof_ok(pr))
		return -EINVAL;
	int e = buf_put(out, AUDIT_PROOF_MAGIC, 8);
	if (e == 0)
		e = buf_put_u32(out, AUDIT_VERSION);
	if (e == 0)
		e = buf_put_u32(out, pr->suite);
	if (e == 0)
		e = buf_put_u8(out, (uint8_t)pr->kind);
	if (e == 0 && pr->kind == AUDIT_PROOF_INCLUSION) {
		e = buf_put_u64(out, pr->index);
		if (e == 0)
			e = buf_put_u64(out, pr->tree_size);
		if (e == 0)
			e = buf_put(out, pr->entry, pr->entry_len);
	} else if (e == 0) {
		e = buf_put_u64(out, pr->size1);
		if (e == 0)
			e = buf_put_u64(out, pr->size2);
	}
	if (e == 0)
		e = buf_put_u8(out, (uint8_t)pr->n_path);
	if (e == 0 && pr->n_path > 0)
		e = buf_put(out, pr->path, pr->n_path * MERKLE_HASH_LEN);
	if (e != 0)
		out->len = start;
	return e;
}

int audit_proof_parse(const uint8_t *p, size_t len, struct audit_proof *out)
{
	struct rbuf r;
	uint8_t kind, n;
	const uint8_t *bytes, *path;
	size_t n_bytes;
	int e = audit_file_header(&r, p, len, AUDIT_PROOF_MAGIC);
	if (e != 0)
		return e;
	memset(out, 0, sizeof *out);
	if (rbuf_get_u32(&r, &out->suite) != 0 || rbuf_get_u8(&r, &kind) != 0)
		return -EBADMSG;
	out->kind = kind;
	if (kind == AUDIT_PROOF_INCLUSION) {
		if (rbuf_get_u64(&r, &out->index) != 0 || rbuf_get_u64(&r, &out->tree_size) != 0)
			return -EBADMSG;
		out->entry = p + r.off;
		if (rbuf_get_bytes_ref(&r, AUDIT_ENTRY_MAX, &bytes, &n_bytes) != 0)
			return -EBADMSG;
		out->entry_len = 4 + n_bytes;
	} else if (kind == AUDIT_PROOF_CONSISTENCY) {
		if (rbuf_get_u64(&r, &out->size1) != 0 || rbuf_get_u64(&r, &out->size2) != 0)
			return -EBADMSG;
	} else {
		return -EBADMSG;
	}
	if (rbuf_get_u8(&r, &n) != 0 || n > MERKLE_MAX_DEPTH ||
	    rbuf_get_ref(&r, (size_t)n * MERKLE_HASH_LEN, &path) != 0 || rbuf_left(&r) != 0)
		return -EBADMSG;
	out->path = (const uint8_t(*)[MERKLE_HASH_LEN])path;
	out->n_path = n;
	return proof_ok(out) ? 0 : -EBADMSG;
}

/* ---- checking ------------------------------------------------------------- */

static int fails(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fails(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static int check_inclusion(const struct suite *s, const struct audit_proof *pr,
			   const struct audit_cp *cp, char *why, size_t size)
{
	struct audit_entry en;
	size_t used;
	uint8_t leaf[MERKLE_HASH_LEN];
	if (cp->size != pr->tree_size)
		return fails(why, size, "the proof is into the tree of %llu entries, the checkpoint "
			     "is of %llu: it was made for another checkpoint",
			     (unsigned long long)pr->tree_size, (unsigned long long)cp->size);
	if (audit_entry_parse(pr->entry, pr->entry_len, &used, &en) != 0 || used != pr->entry_len)
		return fails(why, size, "the entry in the proof is damaged (it does not parse)");
	if (en.kind == AUDIT_ANCHOR)
		return fails(why, size, "the entry in the proof is an anchor, which is no leaf of "
			     "the tree");
	if (en.seq != pr->index)
		return fails(why, size, "the entry in the proof has seq %llu, the proof says it is "
			     "entry %llu", (unsigned long long)en.seq, (unsigned long long)pr->index);
	int e = merkle_leaf(s, en.bytes, en.len, leaf);
	if (e == 0)
		e = merkle_inclusion_verify(s, pr->index, pr->tree_size, leaf, pr->path, pr->n_path,
					    cp->root);
	if (e == -EBADMSG)
		return fails(why, size, "entry %llu and the path do not lead to the checkpoint's "
			     "tree head: the entry, the path or the checkpoint was changed, or they "
			     "are of different trails", (unsigned long long)pr->index);
	if (e != 0)
		snprintf(why, size, "cannot hash: %s", coffer_strerror(e));
	return e;
}

static int check_consistency(const struct suite *s, const struct audit_proof *pr,
			     const struct audit_cp *cp_new, const struct audit_cp *cp_old,
			     char *why, size_t size)
{
	if (cp_old->size != pr->size1 || cp_new->size != pr->size2)
		return fails(why, size, "the proof is from the tree of %llu entries to the tree of "
			     "%llu, the checkpoints are of %llu (older) and %llu (newer)",
			     (unsigned long long)pr->size1, (unsigned long long)pr->size2,
			     (unsigned long long)cp_old->size, (unsigned long long)cp_new->size);
	int e = merkle_consistency_verify(s, pr->size1, pr->size2, cp_old->root, cp_new->root,
					  pr->path, pr->n_path);
	if (e == -EBADMSG)
		return fails(why, size, "the path does not prove that the tree of %llu entries is a "
			     "prefix of the tree of %llu: the trail was changed or forked between "
			     "the checkpoints, or the proof or a checkpoint was changed",
			     (unsigned long long)pr->size1, (unsigned long long)pr->size2);
	if (e != 0)
		snprintf(why, size, "cannot hash: %s", coffer_strerror(e));
	return e;
}

int audit_proof_check(const struct audit_proof *pr, const struct audit_cp *cp_new,
		      const struct audit_cp *cp_old, char *why, size_t size)
{
	const struct suite *s = suite_by_id(pr->suite);
	bool consistency = pr->kind == AUDIT_PROOF_CONSISTENCY;
	if (!proof_ok(pr))
		return fails(why, size, "this is not a proof (audit_proof_parse refuses it)");
	if (consistency && cp_old == NULL) {
		snprintf(why, size, "a consistency proof is checked against the older checkpoint "
			 "too");
		return -EINVAL;
	}
	if (s == NULL)
		return fails(why, size, "the proof is of an unknown suite %u", pr->suite);
	if (cp_new->suite != pr->suite || (consistency && cp_old->suite != pr->suite))
		return fails(why, size, "the proof is of suite %u, a checkpoint of another",
			     pr->suite);
	if (consistency)
		return check_consistency(s, pr, cp_new, cp_old, why, size);
	return check_inclusion(s, pr, cp_new, why, size);
}
