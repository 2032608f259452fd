/*
 * Tests of the proof files (audit/proof.h, docs/format/audit.md "Proofs"):
 * the real writer makes a trail in a temporary directory and signs a
 * checkpoint after every append, so the checkpoints' tree heads come from
 * trail.c, not from the code under test. Every proof made from the export
 * must check against the checkpoint it is for, and fail against any other,
 * once a byte of it is changed, or against a checkpoint of a forked trail.
 * The parser must refuse every truncation and every out-of-range field;
 * a pruned trail (an anchor at its head) must refuse what it cannot prove.
 *
 * The fixture: epoch_records = 4, a checkpoint of the empty trail, then
 * 14 records with a checkpoint after each, then a forced seal and a last
 * checkpoint. An epoch is sealed as its fourth record is written, so seals
 * fall at seq 4, 9, 14 and 17 (the forced one): 18 entries; checkpoints of
 * 0-3, 5-8, 10-13, 15-18 entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/entry.h"
#include "audit/merkle.h"
#include "audit/proof.h"
#include "audit/verify.h"
#include "crypto/crypto.h"
#include "io/io.h"
#include "util/buf.h"

#include "testutil.h"

#define EPOCH_RECORDS 4
#define NREC 14
#define NENT 18
#define MAXE 64
#define MAXCP 32

/* Offsets in a proof file (docs/format/audit.md, "Proofs"). */
#define P_VERSION 8
#define P_KIND 16
#define P_INDEX 17          /* inclusion: index; consistency: size1 */
#define P_SIZE 25           /* tree_size; size2 */
#define P_ENTRY 33          /* inclusion: the entry, its length field first */
#define P_CONS_N 33         /* consistency: n */

/* Where each entry of a trail lies. */
struct idx {
	size_t n;
	size_t off[MAXE], len[MAXE]; /* len: with the length field */
};

struct cpt {
	struct buf b;
	struct audit_cp cp;          /* borrows b */
};

struct fix {
	char base[64];
	char sd[96];
	uint8_t k0[32];
	struct audit *a;
	struct buf exp;
	struct audit_export_view v;  /* borrows exp */
	struct idx ix;
	struct cpt cps[MAXCP];
	size_t n_cps;
};

/* ---- building trails ---------------------------------------------------- */

static void make_trail(const char *sd, uint32_t suite, uint8_t k0[32], struct audit **a)
{
	struct audit_params p;
	audit_params_default(&p);
	p.epoch_records = EPOCH_RECORDS;
	assert_int_equal(mkdir(sd, 0700), 0);
	assert_int_equal(audit_init(sd, suite, &p, k0), 0);
	assert_int_equal(audit_open(sd, a), 0);
}

/* Appends record i; tag tells trails apart. */
static void add_record(struct audit *a, unsigned i, const char *tag)
{
	static const char *const ops[] = { "backup", "restore", "keystore unlock", "job backup" };
	char target[64], outcome[64];
	snprintf(target, sizeof target, "ds-%s-%u", tag, i);
	snprintf(outcome, sizeof outcome, "ok: %s number %u", tag, i);
	struct audit_record r = { .uid = 1000 + i, .actor = "alice", .role = "operator",
				  .op = ops[i % 4], .target = target, .outcome = outcome,
				  .origin = "backupd" };
	memset(r.params, (int)i, sizeof r.params);
	assert_int_equal(audit_append(a, &r), 0);
}

static void take_cp(struct audit *a, struct cpt *c)
{
	memset(c, 0, sizeof *c);
	assert_int_equal(audit_checkpoint(a, &c->b), 0);
	assert_int_equal(audit_checkpoint_parse(c->b.data, c->b.len, &c->cp), 0);
}

static void index_trail(const uint8_t *t, size_t len, struct idx *ix)
{
	size_t off = 0;
	memset(ix, 0, sizeof *ix);
	while (off < len) {
		struct audit_entry en;
		size_t used;
		assert_true(ix->n < MAXE);
		assert_int_equal(audit_entry_parse(t + off, len - off, &used, &en), 0);
		assert_int_equal(en.seq, ix->n);
		ix->off[ix->n] = off;
		ix->len[ix->n] = used;
		ix->n++;
		off += used;
	}
}

static void take_export(struct audit *a, struct buf *exp, struct audit_export_view *v)
{
	buf_reset(exp);
	assert_int_equal(audit_export(a, exp), 0);
	assert_int_equal(audit_export_parse(exp->data, exp->len, v), 0);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof *f);
	assert_non_null(f);
	snprintf(f->base, sizeof f->base, "/tmp/coffer-proof.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->sd, sizeof f->sd, "%s/a", f->base);
	make_trail(f->sd, SUITE_INTERNATIONAL, f->k0, &f->a);
	take_cp(f->a, &f->cps[f->n_cps++]);
	for (unsigned i = 0; i < NREC; i++) {
		add_record(f->a, i, "a");
		take_cp(f->a, &f->cps[f->n_cps++]);
	}
	assert_int_equal(audit_seal(f->a, true), 0);
	take_cp(f->a, &f->cps[f->n_cps++]);
	take_export(f->a, &f->exp, &f->v);
	index_trail(f->v.trail, f->v.trail_len, &f->ix);
	assert_int_equal(f->ix.n, NENT);
	assert_int_equal(f->cps[f->n_cps - 1].cp.size, NENT);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	audit_close(f->a);
	for (size_t i = 0; i < f->n_cps; i++)
		buf_fini(&f->cps[i].b);
	buf_fini(&f->exp);
	testutil_rm_tree(AT_FDCWD, f->base);
	free(f);
	return 0;
}

/* ---- making and checking ------------------------------------------------- */

static void prove_inclusion(const struct audit_export_view *v, uint64_t seq, uint64_t size,
			    struct buf *out)
{
	buf_reset(out);
	int e = audit_proof_inclusion(v->trail, v->trail_len, v->suite, seq, size, out);
	if (e != 0)
		fail_msg("inclusion of %llu in %llu: %d", (unsigned long long)seq,
			 (unsigned long long)size, e);
}

static void prove_consistency(const struct audit_export_view *v, uint64_t size1,
			      uint64_t size2, struct buf *out)
{
	buf_reset(out);
	int e = audit_proof_consistency(v->trail, v->trail_len, v->suite, size1, size2, out);
	if (e != 0)
		fail_msg("consistency of %llu to %llu: %d", (unsigned long long)size1,
			 (unsigned long long)size2, e);
}

/* Parses p and checks it; a proof that does not parse counts as refused (-EBADMSG). */
static int check(const uint8_t *p, size_t len, const struct audit_cp *cp,
		 const struct audit_cp *old, char *why, size_t size)
{
	struct audit_proof pr;
	int e = audit_proof_parse(p, len, &pr);
	if (e != 0) {
		snprintf(why, size, "parse: %d", e);
		return e;
	}
	return audit_proof_check(&pr, cp, old, why, size);
}

static void assert_checks(const struct buf *b, const struct audit_cp *cp,
			  const struct audit_cp *old)
{
	char why[512] = "";
	int e = check(b->data, b->len, cp, old, why, sizeof why);
	if (e != 0)
		fail_msg("the proof does not check against the checkpoint of %llu: %d %s",
			 (unsigned long long)cp->size, e, why);
}

/* The proof fails, saying want (NULL: anything), or does not even parse. */
static void assert_fails(const uint8_t *p, size_t len, const struct audit_cp *cp,
			 const struct audit_cp *old, const char *want)
{
	char why[512] = "";
	int e = check(p, len, cp, old, why, sizeof why);
	if (e != -EBADMSG)
		fail_msg("a bad proof gave %d (%s)", e, why);
	if (want != NULL && strstr(why, want) == NULL)
		fail_msg("the proof failed saying \"%s\", not \"%s\"", why, want);
}

/* The RFC 9162 path length of leaf m in a tree of n (merkle.c's recursion, counted). */
static size_t path_len(uint64_t m, uint64_t n)
{
	size_t c = 0;
	while (n > 1) {
		uint64_t k = 1;
		while (k * 2 < n)
			k *= 2;
		if (m < k)
			n = k;
		else
			m -= k, n -= k;
		c++;
	}
	return c;
}

/* ---- the tests ---------------------------------------------------------- */

/*
 * 1. Every entry in every checkpoint's tree: the proof holds the entry as
 * the trail does and checks; against every other checkpoint it fails.
 */
static void test_inclusion_every_entry(void **state)
{
	struct fix *f = *state;
	struct buf b = { 0 };
	uint8_t root[32];
	size_t proofs = 0;

	for (size_t c = 0; c < f->n_cps; c++) {
		const struct audit_cp *cp = &f->cps[c].cp;
		assert_int_equal(audit_trail_head(f->v.trail, f->v.trail_len, f->v.suite, cp->size,
						  root), 0);
		assert_memory_equal(root, cp->root, 32);
		for (uint64_t seq = 0; seq < cp->size; seq++) {
			struct audit_proof pr;
			prove_inclusion(&f->v, seq, cp->size, &b);
			assert_int_equal(audit_proof_parse(b.data, b.len, &pr), 0);
			assert_int_equal(pr.kind, AUDIT_PROOF_INCLUSION);
			assert_int_equal(pr.suite, SUITE_INTERNATIONAL);
			assert_int_equal(pr.index, seq);
			assert_int_equal(pr.tree_size, cp->size);
			assert_int_equal(pr.entry_len, f->ix.len[seq]);
			assert_memory_equal(pr.entry, f->v.trail + f->ix.off[seq], pr.entry_len);
			assert_int_equal(pr.n_path, path_len(seq, cp->size));
			assert_int_equal(b.len, P_ENTRY + pr.entry_len + 1 + 32 * pr.n_path);
			assert_checks(&b, cp, NULL);
			for (size_t o = 0; o < f->n_cps; o++)
				if (f->cps[o].cp.size != cp->size)
					assert_fails(b.data, b.len, &f->cps[o].cp, NULL,
						     "made for another checkpoint");
			proofs++;
		}
	}
	assert_int_equal(proofs, 1 + 2 + 3 + 5 + 6 + 7 + 8 + 10 + 11 + 12 + 13 + 15 + 16 + 17 + 18);
	buf_fini(&b);
}

/* 2. A changed path byte, a changed entry byte, another index, another tree size: refused. */
static void test_inclusion_tampered(void **state)
{
	struct fix *f = *state;
	struct buf b = { 0 }, m = { 0 };

	for (size_t c = 0; c < f->n_cps; c++) {
		const struct audit_cp *cp = &f->cps[c].cp;
		for (uint64_t seq = 0; seq < cp->size; seq++) {
			prove_inclusion(&f->v, seq, cp->size, &b);
			size_t path = b.len - 32 * path_len(seq, cp->size);
			for (size_t i = path; i < b.len; i++)
				for (unsigned bit = 0; bit < 8; bit += 7) {
					b.data[i] ^= (uint8_t)(1u << bit);
					assert_fails(b.data, b.len, cp, NULL, "do not lead");
					b.data[i] ^= (uint8_t)(1u << bit);
				}
		}
	}

	/* Every byte of the entry (its length field too): refused, one way or another. */
	const struct audit_cp *last = &f->cps[f->n_cps - 1].cp;
	for (uint64_t seq = 0; seq < NENT; seq++) {
		prove_inclusion(&f->v, seq, NENT, &b);
		for (size_t i = P_ENTRY; i < P_ENTRY + f->ix.len[seq]; i++) {
			b.data[i] ^= 0x10;
			assert_fails(b.data, b.len, last, NULL, NULL);
			b.data[i] ^= 0x10;
		}
		assert_checks(&b, last, NULL);
	}

	/* Another index for the same entry: the entry's seq says otherwise. */
	prove_inclusion(&f->v, 7, NENT, &b);
	buf_reset(&m);
	assert_int_equal(buf_put(&m, b.data, b.len), 0);
	le64_put(m.data + P_INDEX, 6);
	assert_fails(m.data, m.len, last, NULL, "has seq 7, the proof says it is entry 6");
	/* ... and with the entry's own seq changed to match, the leaf is another. */
	le64_put(m.data + P_ENTRY + 5, 6);
	assert_fails(m.data, m.len, last, NULL, "do not lead");
	/* Entry 7 with the path of entry 6. */
	prove_inclusion(&f->v, 6, NENT, &m);
	struct buf swapped = { 0 };
	assert_int_equal(buf_put(&swapped, b.data, P_ENTRY + f->ix.len[7]), 0);
	assert_int_equal(buf_put(&swapped, m.data + P_ENTRY + f->ix.len[6],
				 m.len - P_ENTRY - f->ix.len[6]), 0);
	assert_fails(swapped.data, swapped.len, last, NULL, "do not lead");

	/* The tree size changed to another checkpoint's, that checkpoint's head does not match. */
	prove_inclusion(&f->v, 3, 16, &b);
	le64_put(b.data + P_SIZE, 17);
	const struct audit_cp *cp17 = &f->cps[f->n_cps - 2].cp;
	assert_int_equal(cp17->size, 17);
	assert_fails(b.data, b.len, cp17, NULL, "do not lead");
	/* A proof into a tree it is not in: refused by the parser. */
	le64_put(b.data + P_SIZE, 3);
	assert_int_equal(check(b.data, b.len, cp17, NULL, (char[64]){ 0 }, 64), -EBADMSG);

	/* A checkpoint of the same size with another root (as a fork's): refused. */
	prove_inclusion(&f->v, 3, NENT, &b);
	struct audit_cp other = *last;
	other.root[31] ^= 1;
	assert_fails(b.data, b.len, &other, NULL, "do not lead");
	/* Of another suite. */
	other = *last;
	other.suite = SUITE_NATIONAL;
	assert_fails(b.data, b.len, &other, NULL, "suite");
	buf_fini(&swapped);
	buf_fini(&m);
	buf_fini(&b);
}

/* 3. Every pair of checkpoints: consistent in their order, not swapped, not tampered. */
static void test_consistency_every_pair(void **state)
{
	struct fix *f = *state;
	struct buf b = { 0 };
	char why[512];

	for (size_t i = 0; i < f->n_cps; i++)
		for (size_t j = i; j < f->n_cps; j++) {
			const struct audit_cp *old = &f->cps[i].cp, *cp = &f->cps[j].cp;
			struct audit_proof pr;
			prove_consistency(&f->v, old->size, cp->size, &b);
			assert_int_equal(audit_proof_parse(b.data, b.len, &pr), 0);
			assert_int_equal(pr.kind, AUDIT_PROOF_CONSISTENCY);
			assert_int_equal(pr.size1, old->size);
			assert_int_equal(pr.size2, cp->size);
			assert_int_equal(b.len, P_CONS_N + 1 + 32 * pr.n_path);
			assert_checks(&b, cp, old);
			if (old->size == cp->size || old->size == 0) {
				assert_int_equal(pr.n_path, 0);
				continue;
			}
			assert_true(pr.n_path > 0);
			/* Swapped: the sizes are not the proof's. */
			assert_fails(b.data, b.len, old, cp, "the checkpoints are of");
			/* Against a checkpoint of another size. */
			for (size_t o = 0; o < f->n_cps; o++)
				if (f->cps[o].cp.size != cp->size)
					assert_fails(b.data, b.len, &f->cps[o].cp, old, NULL);
			for (size_t k = P_CONS_N + 1; k < b.len; k++) {
				b.data[k] ^= 0x80;
				assert_fails(b.data, b.len, cp, old, "is a prefix");
				b.data[k] ^= 0x01;
				assert_fails(b.data, b.len, cp, old, "is a prefix");
				b.data[k] ^= 0x81;
			}
			/* The sizes changed to other checkpoints' (their roots do not follow). */
			for (size_t o = 0; o < f->n_cps; o++) {
				const struct audit_cp *other = &f->cps[o].cp;
				if (other->size <= old->size || other->size == cp->size)
					continue;
				le64_put(b.data + P_SIZE, other->size);
				assert_fails(b.data, b.len, other, old, "is a prefix");
			}
			le64_put(b.data + P_SIZE, cp->size);
		}

	/* Swapped order in the file: no proof says a bigger tree is a prefix of a smaller. */
	assert_int_equal(f->cps[4].cp.size, 5);
	assert_int_equal(f->cps[8].cp.size, 10);
	prove_consistency(&f->v, 5, 10, &b);
	le64_put(b.data + P_INDEX, 10);
	le64_put(b.data + P_SIZE, 5);
	assert_int_equal(check(b.data, b.len, &f->cps[4].cp, &f->cps[8].cp, why, sizeof why),
			 -EBADMSG);
	/* Without the older checkpoint there is nothing to check against. */
	prove_consistency(&f->v, 5, 10, &b);
	assert_int_equal(check(b.data, b.len, &f->cps[8].cp, NULL, why, sizeof why), -EINVAL);
	/* Equal sizes and different roots: not consistent. */
	prove_consistency(&f->v, NENT, NENT, &b);
	struct audit_cp other = f->cps[f->n_cps - 1].cp;
	other.root[0] ^= 1;
	assert_fails(b.data, b.len, &f->cps[f->n_cps - 1].cp, &other, "is a prefix");
	buf_fini(&b);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	struct buf b = { 0 };
	assert_int_equal(io_read_file_at(AT_FDCWD, from, &b, 1u << 20), 0);
	assert_int_equal(io_replace_file_at(AT_FDCWD, to, b.data, b.len, mode), 0);
	buf_fini(&b);
}

/* Trail b: a copy of a's files (the same keys, the same history so far). */
static struct audit *fork_trail(const struct fix *f, const char *name)
{
	static const char *const files[] = { "trail", "state", "sign.key", "sign.pem", "lock" };
	char sd[128], dir[160], from[200], to[200];
	struct audit *b;
	snprintf(sd, sizeof sd, "%s/%s", f->base, name);
	snprintf(dir, sizeof dir, "%s/audit", sd);
	assert_int_equal(mkdir(sd, 0700), 0);
	assert_int_equal(mkdir(dir, 0770), 0);
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(from, sizeof from, "%s/audit/%s", f->sd, files[i]);
		snprintf(to, sizeof to, "%s/%s", dir, files[i]);
		copy_file(from, to, 0660);
	}
	assert_int_equal(audit_open(sd, &b), 0);
	return b;
}

/*
 * 4. A fork: the same 18 entries, then records of its own. The fork is
 * consistent with every checkpoint taken before it parted, no proof from
 * either trail checks against the other's checkpoints of the later part,
 * and the tree heads tell the trails apart.
 */
static void test_fork(void **state)
{
	struct fix *f = *state;
	struct audit *fb = fork_trail(f, "b");
	struct buf xa = { 0 }, xb = { 0 }, b = { 0 };
	struct audit_export_view va, vb;
	struct cpt ca, cb;
	uint8_t root[32];

	add_record(f->a, 100, "a");
	add_record(f->a, 101, "a");
	add_record(fb, 100, "b");
	add_record(fb, 101, "b");
	take_cp(f->a, &ca);
	take_cp(fb, &cb);
	assert_int_equal(ca.cp.size, NENT + 2);
	assert_int_equal(cb.cp.size, NENT + 2);
	assert_memory_not_equal(ca.cp.root, cb.cp.root, 32);
	take_export(f->a, &xa, &va);
	take_export(fb, &xb, &vb);

	/* Each trail's head is its own checkpoint's, not the other's. */
	assert_int_equal(audit_trail_head(va.trail, va.trail_len, va.suite, NENT + 2, root), 0);
	assert_memory_equal(root, ca.cp.root, 32);
	assert_int_equal(audit_trail_head(vb.trail, vb.trail_len, vb.suite, NENT + 2, root), 0);
	assert_memory_equal(root, cb.cp.root, 32);

	for (uint64_t seq = 0; seq < NENT + 2; seq++) {
		prove_inclusion(&va, seq, NENT + 2, &b);
		assert_checks(&b, &ca.cp, NULL);
		assert_fails(b.data, b.len, &cb.cp, NULL, "do not lead");
		prove_inclusion(&vb, seq, NENT + 2, &b);
		assert_checks(&b, &cb.cp, NULL);
		assert_fails(b.data, b.len, &ca.cp, NULL, "do not lead");
	}
	for (size_t i = 0; i < f->n_cps; i++) {
		const struct audit_cp *old = &f->cps[i].cp;
		/* Both histories extend every checkpoint taken before the fork... */
		prove_consistency(&vb, old->size, NENT + 2, &b);
		assert_checks(&b, &cb.cp, old);
		prove_consistency(&va, old->size, NENT + 2, &b);
		assert_checks(&b, &ca.cp, old);
		/* ... but a's proof is not b's tree's. */
		if (old->size > 0)
			assert_fails(b.data, b.len, &cb.cp, old, "is a prefix");
	}
	/* Of equal size: the one cannot be the other's prefix. */
	prove_consistency(&va, NENT + 2, NENT + 2, &b);
	assert_fails(b.data, b.len, &cb.cp, &ca.cp, "is a prefix");

	audit_close(fb);
	buf_fini(&ca.b);
	buf_fini(&cb.b);
	buf_fini(&b);
	buf_fini(&xa);
	buf_fini(&xb);
}

/* A consistency proof file of n path hashes, written byte by byte. */
static void raw_consistency(struct buf *b, uint32_t version, uint8_t kind, uint64_t size1,
			    uint64_t size2, unsigned n)
{
	buf_reset(b);
	assert_int_equal(buf_put(b, "COFFERAP", 8), 0);
	assert_int_equal(buf_put_u32(b, version), 0);
	assert_int_equal(buf_put_u32(b, SUITE_INTERNATIONAL), 0);
	assert_int_equal(buf_put_u8(b, kind), 0);
	assert_int_equal(buf_put_u64(b, size1), 0);
	assert_int_equal(buf_put_u64(b, size2), 0);
	assert_int_equal(buf_put_u8(b, (uint8_t)n), 0);
	for (unsigned i = 0; i < n * 32; i++)
		assert_int_equal(buf_put_u8(b, (uint8_t)i), 0);
}

/* 5. The parser: exact length, known kind and version, bounded fields. */
static void test_parse_strict(void **state)
{
	struct fix *f = *state;
	struct buf p = { 0 }, q = { 0 }, m = { 0 };
	struct audit_proof pr;

	prove_inclusion(&f->v, 5, 11, &p);
	prove_consistency(&f->v, 6, 16, &q);
	const struct buf *both[] = { &p, &q };
	for (size_t k = 0; k < 2; k++) {
		const struct buf *b = both[k];
		/* Every truncation. */
		for (size_t n = 0; n < b->len; n++)
			assert_int_equal(audit_proof_parse(b->data, n, &pr), -EBADMSG);
		/* A byte more. */
		buf_reset(&m);
		assert_int_equal(buf_put(&m, b->data, b->len), 0);
		assert_int_equal(buf_put_u8(&m, 0), 0);
		assert_int_equal(audit_proof_parse(m.data, m.len, &pr), -EBADMSG);
		m.len--;
		assert_int_equal(audit_proof_parse(m.data, m.len, &pr), 0);
		/* It re-encodes to itself. */
		struct buf r = { 0 };
		assert_int_equal(audit_proof_encode(&pr, &r), 0);
		assert_int_equal(r.len, b->len);
		assert_memory_equal(r.data, b->data, b->len);
		buf_fini(&r);
		/* Newer version, another magic, unknown kinds. */
		le32_put(m.data + P_VERSION, 2);
		assert_int_equal(audit_proof_parse(m.data, m.len, &pr), -ENOTSUP);
		le32_put(m.data + P_VERSION, 1);
		m.data[7] = 'X';
		assert_int_equal(audit_proof_parse(m.data, m.len, &pr), -EBADMSG);
		m.data[7] = 'P';
		static const uint8_t kinds[] = { 0, 3, 4, 0x81, 255 };
		for (size_t i = 0; i < sizeof kinds; i++) {
			m.data[P_KIND] = kinds[i];
			assert_int_equal(audit_proof_parse(m.data, m.len, &pr), -EBADMSG);
		}
	}

	/* The path: up to MERKLE_MAX_DEPTH hashes. */
	raw_consistency(&m, 1, 2, 3, 1000, MERKLE_MAX_DEPTH);
	assert_int_equal(audit_proof_parse(m.data, m.len, &pr), 0);
	assert_int_equal(pr.n_path, MERKLE_MAX_DEPTH);
	raw_consistency(&m, 1, 2, 3, 1000, MERKLE_MAX_DEPTH + 1);
	assert_int_equal(audit_proof_parse(m.data, m.len, &pr), -EBADMSG);
	raw_consistency(&m, 1, 2, 3, 1000, 255);
	assert_int_equal(audit_proof_parse(m.data, m.len, &pr), -EBADMSG);
	/* n announcing more hashes than there are, or fewer. */
	raw_consistency(&m, 1, 2, 3, 1000, 3);
	m.data[P_CONS_N] = 4;
	assert_int_equal(audit_proof_parse(m.data, m.len, &pr), -EBADMSG);
	m.data[P_CONS_N] = 2;
	assert_int_equal(audit_proof_parse(m.data, m.len, &pr), -EBADMSG);
	/* Sizes out of order; an index outside its tree. */
	raw_consistency(&m, 1, 2, 1001, 1000, 3);
	assert_int_equal(audit_proof_parse(m.data, m.len, &pr), -EBADMSG);
	raw_consistency(&m, 1, 2, 1000, 1000, 0);
	assert_int_equal(audit_proof_parse(m.data, m.len, &pr), 0);
	buf_reset(&m);
	assert_int_equal(buf_put(&m, p.data, p.len), 0);
	le64_put(m.data + P_INDEX, 11);
	assert_int_equal(audit_proof_parse(m.data, m.len, &pr), -EBADMSG);
	le64_put(m.data + P_INDEX, 10);
	assert_int_equal(audit_proof_parse(m.data, m.len, &pr), 0);

	/* The entry: at most AUDIT_ENTRY_MAX bytes after its length field. */
	size_t path = p.len - P_ENTRY - f->ix.len[5];
	for (uint32_t n = AUDIT_ENTRY_MAX; n <= AUDIT_ENTRY_MAX + 1; n++) {
		buf_reset(&m);
		assert_int_equal(buf_put(&m, p.data, P_ENTRY), 0);
		assert_int_equal(buf_put_u32(&m, n), 0);
		assert_int_equal(buf_reserve(&m, n), 0);
		memset(m.data + m.len, 'x', n);
		m.len += n;
		assert_int_equal(buf_put(&m, p.data + p.len - path, path), 0);
		int e = audit_proof_parse(m.data, m.len, &pr);
		assert_int_equal(e, n == AUDIT_ENTRY_MAX ? 0 : -EBADMSG);
		if (e == 0) /* well formed, but no entry: the checker's to refuse */
			assert_fails(m.data, m.len, &f->cps[9].cp, NULL, "damaged");
	}

	/* The encoder writes only what the parser accepts. */
	assert_int_equal(audit_proof_parse(p.data, p.len, &pr), 0);
	struct audit_proof bad = pr;
	bad.n_path = MERKLE_MAX_DEPTH + 1;
	assert_int_equal(audit_proof_encode(&bad, &m), -EINVAL);
	bad = pr;
	bad.index = bad.tree_size;
	assert_int_equal(audit_proof_encode(&bad, &m), -EINVAL);
	bad = pr;
	bad.entry_len--;
	assert_int_equal(audit_proof_encode(&bad, &m), -EINVAL);
	bad = pr;
	bad.kind = 3;
	assert_int_equal(audit_proof_encode(&bad, &m), -EINVAL);
	buf_fini(&m);
	buf_fini(&p);
	buf_fini(&q);
}

/* What the makers refuse, and say. */
static void assert_refused(int e, int want, const char *said, const char *why)
{
	if (e != want || strstr(said, why) == NULL)
		fail_msg("%d (want %d), said \"%s\" (want \"%s\")", e, want, said, why);
}

/* 6. Asked for what the trail does not hold, or with a damaged trail. */
static void test_makers_refuse(void **state)
{
	struct fix *f = *state;
	const uint8_t *t = f->v.trail;
	size_t len = f->v.trail_len;
	struct buf b = { 0 }, m = { 0 };
	uint8_t root[32];
	int e;

	testutil_stderr_begin();
	e = audit_proof_inclusion(t, len, SUITE_INTERNATIONAL, 5, 5, &b);
	assert_refused(e, -EINVAL, testutil_stderr_end(), "not in the tree of 5 entries");
	testutil_stderr_begin();
	e = audit_proof_inclusion(t, len, SUITE_INTERNATIONAL, 3, NENT + 1, &b);
	assert_refused(e, -ERANGE, testutil_stderr_end(), "18 entries, fewer than the 19");
	/* The last entry of a tree that is one too big: the entry itself is missing. */
	testutil_stderr_begin();
	e = audit_proof_inclusion(t, len, SUITE_INTERNATIONAL, NENT, NENT + 1, &b);
	assert_refused(e, -ERANGE, testutil_stderr_end(), "fewer than the 19");
	testutil_stderr_begin();
	e = audit_proof_consistency(t, len, SUITE_INTERNATIONAL, 9, 4, &b);
	assert_refused(e, -EINVAL, testutil_stderr_end(), "smaller tree comes first");
	/* An empty proof needs no leaf, but the trail must still hold the tree. */
	testutil_stderr_begin();
	e = audit_proof_consistency(t, len, SUITE_INTERNATIONAL, NENT + 1, NENT + 1, &b);
	assert_refused(e, -ERANGE, testutil_stderr_end(), "fewer than the 19");
	testutil_stderr_begin();
	e = audit_proof_consistency(t, len, SUITE_INTERNATIONAL, 0, NENT + 1, &b);
	assert_refused(e, -ERANGE, testutil_stderr_end(), "fewer than the 19");
	testutil_stderr_begin();
	e = audit_trail_head(t, len, SUITE_INTERNATIONAL, NENT + 1, root);
	assert_refused(e, -ERANGE, testutil_stderr_end(), "fewer than the 19");
	testutil_stderr_begin();
	e = audit_proof_inclusion(t, len, 77, 3, 5, &b);
	assert_refused(e, -EINVAL, testutil_stderr_end(), "unknown suite 77");
	assert_int_equal(b.len, 0);

	/* A torn last entry: the trees before it can still be proved; its own cannot. */
	size_t torn = f->ix.off[NENT - 1] + f->ix.len[NENT - 1] - 3;
	const struct audit_cp *cp17 = &f->cps[f->n_cps - 2].cp;
	prove_inclusion(&(struct audit_export_view){ .suite = SUITE_INTERNATIONAL, .trail = t,
						     .trail_len = torn },
			4, 17, &b);
	assert_checks(&b, cp17, NULL);
	assert_int_equal(audit_trail_head(t, torn, SUITE_INTERNATIONAL, 17, root), 0);
	assert_memory_equal(root, cp17->root, 32);
	testutil_stderr_begin();
	e = audit_trail_head(t, torn, SUITE_INTERNATIONAL, NENT, root);
	assert_refused(e, -EBADMSG, testutil_stderr_end(), "damaged at offset");
	testutil_stderr_begin();
	e = audit_proof_inclusion(t, torn, SUITE_INTERNATIONAL, 2, NENT, &b);
	assert_refused(e, -EBADMSG, testutil_stderr_end(), "(entry 17)");

	/* A damaged entry 9 (its kind): trees up to 9 entries are fine, the larger refused. */
	assert_int_equal(buf_put(&m, t, len), 0);
	m.data[f->ix.off[9] + 4] = 0x7f;
	assert_int_equal(f->cps[7].cp.size, 8);
	prove_inclusion(&(struct audit_export_view){ .suite = SUITE_INTERNATIONAL, .trail = m.data,
						     .trail_len = m.len },
			7, 8, &b);
	assert_checks(&b, &f->cps[7].cp, NULL);
	testutil_stderr_begin();
	e = audit_proof_consistency(m.data, m.len, SUITE_INTERNATIONAL, 4, 11, &b);
	assert_refused(e, -EBADMSG, testutil_stderr_end(), "damaged at offset");
	/* An entry out of sequence (its seq changed). */
	buf_reset(&m);
	assert_int_equal(buf_put(&m, t, len), 0);
	le64_put(m.data + f->ix.off[9] + 5, 10);
	testutil_stderr_begin();
	e = audit_trail_head(m.data, m.len, SUITE_INTERNATIONAL, 12, root);
	assert_refused(e, -EBADMSG, testutil_stderr_end(), "(entry 9)");
	buf_fini(&m);
	buf_fini(&b);
}

/*
 * The trail as a prune at `at` (just after a seal) leaves it: an anchor
 * with the compact range of the first `at` entries, then the kept ones.
 */
static void prune_at(const struct fix *f, size_t at, uint64_t epoch, struct buf *out)
{
	const struct suite *s = suite_by_id(SUITE_INTERNATIONAL);
	struct merkle_frontier fr;
	struct audit_entry last;
	uint8_t leaf[32], prev[32];
	size_t used;
	merkle_frontier_init(&fr);
	for (size_t i = 0; i < at; i++) {
		const uint8_t *p = f->v.trail + f->ix.off[i];
		assert_int_equal(merkle_leaf(s, p + 4, f->ix.len[i] - 4, leaf), 0);
		assert_int_equal(merkle_frontier_add(s, &fr, leaf), 0);
	}
	const uint8_t *p = f->v.trail + f->ix.off[at - 1];
	assert_int_equal(audit_entry_parse(p, f->ix.len[at - 1], &used, &last), 0);
	assert_int_equal(last.kind, AUDIT_SEAL);
	assert_int_equal(suite_hash(s, p + 4, used - 4, prev), 0);
	buf_reset(out);
	assert_int_equal(audit_encode_anchor(out, at, last.time_ns, prev, epoch, &fr,
					     "test: epochs before the cut"), 0);
	assert_int_equal(buf_put(out, f->v.trail + f->ix.off[at], f->v.trail_len - f->ix.off[at]),
			 0);
}

/*
 * 7. A pruned trail: the tree heads above the anchor are the whole
 * history's; the removed entries cannot be proved, nor a consistency from
 * a tree below the anchor; what needs no removed subtree is the same proof
 * as from the whole trail.
 */
static void test_pruned(void **state)
{
	struct fix *f = *state;
	struct buf pt = { 0 }, b = { 0 }, w = { 0 };
	struct audit_verify_result res;
	uint8_t root[32];
	int e;

	prune_at(f, 5, 1, &pt); /* entries 0-4: epoch 0 and its seal */
	struct audit_verify_opts o = { .suite = SUITE_INTERNATIONAL };
	assert_int_equal(audit_verify(pt.data, pt.len, &o, &res), 0);
	assert_int_equal(res.first_seq, 5);

	for (size_t c = 0; c < f->n_cps; c++) {
		const struct audit_cp *cp = &f->cps[c].cp;
		testutil_stderr_begin();
		e = audit_trail_head(pt.data, pt.len, SUITE_INTERNATIONAL, cp->size, root);
		const char *said = testutil_stderr_end();
		if (cp->size > 0 && cp->size < 5) {
			assert_refused(e, -ERANGE, said, "pruned at entry 5");
			continue;
		}
		assert_int_equal(e, 0);
		assert_memory_equal(root, cp->root, 32);
		for (uint64_t seq = 0; seq < cp->size; seq++) {
			testutil_stderr_begin();
			e = audit_proof_inclusion(pt.data, pt.len, SUITE_INTERNATIONAL, seq, cp->size,
						  &b);
			said = testutil_stderr_end();
			/* Every path of a kept entry has a subtree over removed ones. */
			assert_refused(e, -ERANGE, said, seq < 5 ? "removed by the prune"
								 : "needs entries removed");
		}
	}
	for (size_t i = 0; i < f->n_cps; i++)
		for (size_t j = i; j < f->n_cps; j++) {
			uint64_t s1 = f->cps[i].cp.size, s2 = f->cps[j].cp.size;
			buf_reset(&b);
			testutil_stderr_begin();
			e = audit_proof_consistency(pt.data, pt.len, SUITE_INTERNATIONAL, s1, s2, &b);
			const char *said = testutil_stderr_end();
			bool pow2 = (s1 & (s1 - 1)) == 0;
			if (s1 > 0 && s1 < 5) {
				assert_refused(e, -ERANGE, said, "from the tree of");
			} else if (s1 == 0 || s1 == s2 || pow2) {
				/* Only right of s1, or nothing: as the whole trail gives it. */
				assert_int_equal(e, 0);
				prove_consistency(&f->v, s1, s2, &w);
				assert_int_equal(b.len, w.len);
				assert_memory_equal(b.data, w.data, w.len);
				assert_checks(&b, &f->cps[j].cp, &f->cps[i].cp);
			} else {
				assert_refused(e, -ERANGE, said, "needs entries removed");
			}
		}
	buf_fini(&w);
	buf_fini(&b);
	buf_fini(&pt);
}

/* 8. An anchor passed off as a leaf is refused by the checker. */
static void test_anchor_is_no_leaf(void **state)
{
	struct fix *f = *state;
	struct buf pt = { 0 }, b = { 0 };
	struct audit_entry en;
	size_t used;

	prune_at(f, 10, 2, &pt);
	assert_int_equal(audit_entry_parse(pt.data, pt.len, &used, &en), 0);
	assert_int_equal(en.kind, AUDIT_ANCHOR);
	struct audit_proof pr = { .suite = SUITE_INTERNATIONAL, .kind = AUDIT_PROOF_INCLUSION,
				  .index = 10, .tree_size = 11, .entry = pt.data,
				  .entry_len = used };
	assert_int_equal(audit_proof_encode(&pr, &b), 0);
	assert_fails(b.data, b.len, &f->cps[9].cp, NULL, "anchor");
	buf_fini(&b);
	buf_fini(&pt);
}

/* 9. The national suite (SM3): proofs of its trail check; against the international, not. */
static void test_national(void **state)
{
	struct fix *f = *state;
	char sd[128];
	uint8_t k0[32];
	struct audit *a;
	struct buf x = { 0 }, b = { 0 };
	struct audit_export_view v;
	struct cpt c1, c2;

	snprintf(sd, sizeof sd, "%s/n", f->base);
	make_trail(sd, SUITE_NATIONAL, k0, &a);
	for (unsigned i = 0; i < 3; i++)
		add_record(a, i, "n");
	take_cp(a, &c1);
	for (unsigned i = 3; i < 9; i++)
		add_record(a, i, "n");
	take_cp(a, &c2);
	take_export(a, &x, &v);
	assert_int_equal(v.suite, SUITE_NATIONAL);
	for (uint64_t seq = 0; seq < c2.cp.size; seq++) {
		prove_inclusion(&v, seq, c2.cp.size, &b);
		assert_checks(&b, &c2.cp, NULL);
	}
	prove_consistency(&v, c1.cp.size, c2.cp.size, &b);
	assert_checks(&b, &c2.cp, &c1.cp);
	/* An international checkpoint of the same size: another suite. */
	for (size_t i = 0; i < f->n_cps; i++)
		if (f->cps[i].cp.size == c2.cp.size)
			assert_fails(b.data, b.len, &f->cps[i].cp, &c1.cp, "suite");
	audit_close(a);
	buf_fini(&c1.b);
	buf_fini(&c2.b);
	buf_fini(&b);
	buf_fini(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inclusion_every_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inclusion_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_consistency_every_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_strict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_makers_refuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pruned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchor_is_no_leaf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_national, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
