/* The offline verifier (verify.h, docs/format/audit.md "Verification"). */
#include "audit/verify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_int.h"
#include "audit/entry.h"
#include "audit/merkle.h"
#include "crypto/crypto.h"
#include "crypto/pkey.h"
#include "util/mem.h"
#include "util/vec.h"

/* The one reader of the files' magic and version (audit_int.h). */
int audit_file_header(struct rbuf *r, const uint8_t *p, size_t len, const char *magic)
{
	uint32_t version;
	rbuf_init(r, p, len);
	if (len < 12 || memcmp(p, magic, 8) != 0)
		return -EBADMSG;
	r->off = 8;
	if (rbuf_get_u32(r, &version) != 0)
		return -EBADMSG;
	return version == AUDIT_VERSION ? 0 : -ENOTSUP;
}

int audit_export_parse(const uint8_t *p, size_t len, struct audit_export_view *out)
{
	struct rbuf r;
	uint64_t n;
	const uint8_t *trail;
	int e = audit_file_header(&r, p, len, AUDIT_EXPORT_MAGIC);
	if (e != 0)
		return e;
	memset(out, 0, sizeof *out);
	if (rbuf_get_u32(&r, &out->suite) != 0 ||
	    rbuf_get_bytes_ref(&r, 8192, &out->pem, &out->pem_len) != 0 ||
	    rbuf_get_u32(&r, &out->epoch_records) != 0 ||
	    rbuf_get_u32(&r, &out->epoch_seconds) != 0 ||
	    rbuf_get_u32(&r, &out->retention_days) != 0 || rbuf_get_u64(&r, &n) != 0 ||
	    n != rbuf_left(&r) || rbuf_get_ref(&r, (size_t)n, &trail) != 0)
		return -EBADMSG;
	out->trail = trail;
	out->trail_len = (size_t)n;
	return 0;
}

int audit_export_header(struct buf *out, const struct audit_export_view *v)
{
	int e = buf_put(out, AUDIT_EXPORT_MAGIC, 8);
	if (e == 0)
		e = buf_put_u32(out, AUDIT_VERSION);
	if (e == 0)
		e = buf_put_u32(out, v->suite);
	if (e == 0)
		e = buf_put_bytes(out, v->pem, v->pem_len);
	if (e == 0)
		e = buf_put_u32(out, v->epoch_records);
	if (e == 0)
		e = buf_put_u32(out, v->epoch_seconds);
	if (e == 0)
		e = buf_put_u32(out, v->retention_days);
	if (e == 0)
		e = buf_put_u64(out, v->trail_len);
	return e;
}

int audit_checkpoint_parse(const uint8_t *p, size_t len, struct audit_cp *out)
{
	struct rbuf r;
	uint64_t t;
	uint16_t sl;
	const uint8_t *root;
	int e = audit_file_header(&r, p, len, AUDIT_CP_MAGIC);
	if (e != 0)
		return e;
	memset(out, 0, sizeof *out);
	if (rbuf_get_u32(&r, &out->suite) != 0 || rbuf_get_u64(&r, &out->size) != 0 ||
	    rbuf_get_ref(&r, 32, &root) != 0 || rbuf_get_u64(&r, &t) != 0)
		return -EBADMSG;
	out->signed_part = p;
	out->signed_len = r.off;
	if (rbuf_get_u16(&r, &sl) != 0 || sl == 0 || rbuf_get_ref(&r, sl, &out->sig) != 0 ||
	    rbuf_left(&r) != 0)
		return -EBADMSG;
	memcpy(out->root, root, 32);
	out->time = (int64_t)t;
	out->sig_len = sl;
	return 0;
}

struct vstate {
	const struct audit_verify_opts *o;
	const struct suite *s;
	struct audit_verify_result *res;
	uint8_t (*leaves)[32];
	size_t n_leaves, cap_leaves;
	bool anchored;
};

static int bad(struct vstate *v, uint64_t seq, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int bad(struct vstate *v, uint64_t seq, uint64_t off, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->res->why, sizeof v->res->why, fmt, ap);
	va_end(ap);
	v->res->bad_seq = seq;
	v->res->bad_offset = off;
	return -EBADMSG;
}

static int leaf_at(uint64_t index, uint8_t out[MERKLE_HASH_LEN], void *arg)
{
	struct vstate *v = arg;
	if (index >= v->n_leaves)
		return -EINVAL;
	memcpy(out, v->leaves[index], 32);
	return 0;
}

/* Checks the checkpoints whose size is the current frontier's. */
static int check_cps_at(struct vstate *v, const struct merkle_frontier *fr, uint64_t off)
{
	for (size_t i = 0; i < v->o->n_cps; i++) {
		const struct audit_cp *cp = &v->o->cps[i];
		if (cp->size != fr->size)
			continue;
		uint8_t root[32];
		int e = merkle_frontier_root(v->s, fr, root);
		if (e != 0)
			return e;
		if (crypto_memcmp(root, cp->root, 32) != 0)
			return bad(v, cp->size, off,
				   "the first %llu entries do not match the checkpoint of that size: "
				   "the trail was changed or forked after it was taken",
				   (unsigned long long)cp->size);
		v->res->cps_checked++;
	}
	return 0;
}

int audit_verify(const uint8_t *trail, size_t len, const struct audit_verify_opts *o,
		 struct audit_verify_result *res)
{
	struct vstate v = { .o = o, .s = suite_by_id(o->suite), .res = res };
	struct merkle_frontier fr;
	uint8_t prev[32] = { 0 }, *key = secmem_alloc(32);
	uint64_t expect_seq = 0, epoch = 0, records_since_seal = 0;
	size_t off = 0;
	int e = 0;
	memset(res, 0, sizeof *res);
	merkle_frontier_init(&fr);
	if (v.s == NULL || key == NULL) {
		secmem_free(key, 32);
		return v.s == NULL ? bad(&v, 0, 0, "unknown suite %u", o->suite) : -ENOMEM;
	}
	if (o->initial_key != NULL)
		memcpy(key, o->initial_key, 32);
	/* Checkpoint signatures first: a forged checkpoint proves nothing. */
	for (size_t i = 0; e == 0 && i < o->n_cps; i++) {
		const struct audit_cp *cp = &o->cps[i];
		if (cp->suite != o->suite)
			e = bad(&v, 0, 0, "checkpoint %zu is of another suite", i + 1);
		else if (o->pub != NULL &&
			 pkey_verify(o->pub, cp->signed_part, cp->signed_len, cp->sig, cp->sig_len) != 0)
			e = bad(&v, 0, 0, "checkpoint %zu (size %llu) is not signed by the trail's "
				"key", i + 1, (unsigned long long)cp->size);
	}
	while (e == 0 && off < len) {
		struct audit_entry en;
		size_t used;
		int r = audit_entry_parse(trail + off, len - off, &used, &en);
		if (r == -EAGAIN) {
			e = bad(&v, expect_seq, off, "the last %zu bytes are an incomplete entry "
				"(truncated)", len - off);
			break;
		}
		if (r != 0) {
			e = bad(&v, expect_seq, off, "the entry at offset %zu is damaged "
				"(it does not parse)", off);
			break;
		}
		if (en.kind == AUDIT_ANCHOR) {
			if (off != 0) {
				e = bad(&v, en.seq, off, "an anchor in the middle of the trail");
				break;
			}
			/* A pruned trail: the removed entries are stood in for. */
			v.anchored = true;
			fr.size = en.seq;
			fr.n = en.n_frontier;
			for (uint8_t i = 0; i < en.n_frontier; i++)
				memcpy(fr.h[i], en.frontier + 32u * i, 32);
			if (merkle_frontier_check(&fr) != 0) {
				e = bad(&v, en.seq, off, "the anchor's compact range is inconsistent");
				break;
			}
			expect_seq = en.seq;
			memcpy(prev, en.prev, 32);
			for (uint64_t k = 0; o->initial_key != NULL && k < en.epoch; k++)
				if ((e = audit_evolve_key(v.s, key, k)) != 0)
					break;
			epoch = en.epoch;
			res->first_seq = en.seq;
			res->sealed_up_to = en.seq;
			off += used;
			continue;
		}
		if ((e = check_cps_at(&v, &fr, off)) != 0)
			break;
		if (en.seq != expect_seq) {
			e = bad(&v, expect_seq, off, "entry %llu is missing: the entry at offset %zu "
				"has sequence number %llu (entries removed, inserted or reordered)",
				(unsigned long long)expect_seq, off, (unsigned long long)en.seq);
			break;
		}
		if (crypto_memcmp(en.prev, prev, 32) != 0) {
			e = bad(&v, en.seq, off, "entry %llu does not chain to entry %llu: an entry up "
				"to %llu was changed, or entries were removed, inserted or reordered",
				(unsigned long long)en.seq, (unsigned long long)en.seq - 1,
				(unsigned long long)en.seq - 1);
			break;
		}
		if (en.kind == AUDIT_SEAL) {
			uint8_t root[32], msg[AUDIT_SEALMSG_LEN + 32], mac[CRYPTO_HASH_LEN];
			if (en.epoch != epoch) {
				e = bad(&v, en.seq, off, "seal %llu closes epoch %llu where epoch %llu was "
					"expected: sealed epochs were removed or repeated",
					(unsigned long long)en.seq, (unsigned long long)en.epoch,
					(unsigned long long)epoch);
				break;
			}
			if ((e = merkle_frontier_root(v.s, &fr, root)) != 0)
				break;
			if (en.tree_size != en.seq || crypto_memcmp(root, en.root, 32) != 0) {
				e = bad(&v, en.seq, off, "seal %llu does not match the entries before it",
					(unsigned long long)en.seq);
				break;
			}
			size_t mlen = audit_seal_message(o->suite, en.epoch, en.tree_size, en.root,
							 en.prev, msg);
			if (o->initial_key != NULL) {
				if ((e = suite_mac(v.s, key, msg, mlen, mac)) != 0)
					break;
				if (crypto_memcmp(mac, en.mac, 32) != 0) {
					e = bad(&v, en.seq, off, "seal %llu (epoch %llu) is not made with the "
						"key derived from the initial key: forged or altered",
						(unsigned long long)en.seq, (unsigned long long)en.epoch);
					break;
				}
			}
			if (o->pub != NULL) {
				memcpy(msg + mlen, en.mac, 32);
				if (pkey_verify(o->pub, msg, mlen + 32, en.sig, en.sig_len) != 0) {
					e = bad(&v, en.seq, off, "seal %llu has no valid signature of the "
						"trail's key", (unsigned long long)en.seq);
					break;
				}
			}
			if (o->initial_key != NULL && (e = audit_evolve_key(v.s, key, epoch)) != 0)
				break;
			epoch++;
			res->seals++;
			res->sealed_up_to = en.seq + 1;
			records_since_seal = 0;
		} else {
			res->records++;
			records_since_seal++;
		}
		uint8_t leaf[32];
		if ((e = merkle_leaf(v.s, en.bytes, en.len, leaf)) != 0 ||
		    (e = merkle_frontier_add(v.s, &fr, leaf)) != 0 ||
		    (e = suite_hash(v.s, en.bytes, en.len, prev)) != 0)
			break;
		if (!v.anchored &&
		    (e = vec_push(&v.leaves, &v.n_leaves, &v.cap_leaves, 32, leaf)) != 0)
			break;
		res->entries++;
		expect_seq++;
		off += used;
	}
	if (e == 0)
		e = check_cps_at(&v, &fr, off);
	if (e == 0)
		e = merkle_frontier_root(v.s, &fr, res->root);
	for (size_t i = 0; e == 0 && i < o->n_cps; i++) {
		const struct audit_cp *cp = &o->cps[i];
		if (cp->size > fr.size) {
			e = bad(&v, fr.size, off, "the trail has %llu entries, fewer than the %llu of "
				"a checkpoint: it was truncated", (unsigned long long)fr.size,
				(unsigned long long)cp->size);
			break;
		}
		if (v.anchored) {
			if (cp->size < res->first_seq)
				e = bad(&v, cp->size, 0, "a checkpoint of %llu entries is older than "
					"the prune at %llu and cannot be checked against this trail",
					(unsigned long long)cp->size, (unsigned long long)res->first_seq);
			continue;
		}
		/* What a party holding only the two tree heads would check. */
		uint8_t path[MERKLE_MAX_DEPTH][MERKLE_HASH_LEN];
		size_t n_path = 0;
		e = merkle_consistency_proof(v.s, cp->size, fr.size, leaf_at, &v, path, &n_path);
		if (e == 0 && merkle_consistency_verify(v.s, cp->size, fr.size, cp->root, res->root,
							 (const uint8_t(*)[MERKLE_HASH_LEN])path,
							 n_path) != 0)
			e = bad(&v, cp->size, 0, "no consistency proof from the checkpoint of %llu "
				"entries to the trail", (unsigned long long)cp->size);
	}
	res->unsealed = records_since_seal;
	free(v.leaves);
	secmem_free(key, 32);
	return e;
}
