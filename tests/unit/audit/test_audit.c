/*
 * Tests of the tamper-evident audit trail (audit/audit.h, audit/verify.h,
 * docs/format/audit.md): the real writer makes a trail of several sealed
 * epochs in a temporary directory, the export is taken and parsed as an
 * auditor would, and the trail bytes are then attacked the ways the
 * format's threat model lists. Each attack must make audit_verify say
 * -EBADMSG and name the precise first bad entry ("Verification": the
 * first problem by sequence number).
 *
 * The expected sequence numbers come from walking the trail with
 * audit_entry_parse, not from the module's own bookkeeping. Two kinds of
 * tampering are tried for each edit: a naive one, caught by the hash
 * chain at the first entry after it; and one "re-chained" by an intruder
 * without the keys (every later seq, prev, tree_size and root fixed up),
 * which only the next seal's MAC under K(e) (and its signature) catches.
 *
 * The fixture trail: epoch_records = 4 and 22 records, then a forced
 * seal, so seq 0-3 records, 4 the seal of epoch 0, 5-8, 9 (epoch 1),
 * 10-13, 14 (2), 15-18, 19 (3), 20-23, 24 (4), 25-26 records and 27 the
 * forced seal of epoch 5: 28 entries, the state holding K(6).
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
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/audit_int.h"
#include "audit/entry.h"
#include "audit/merkle.h"
#include "audit/verify.h"
#include "crypto/crypto.h"
#include "crypto/pkey.h"
#include "io/io.h"
#include "util/buf.h"

#include "testutil.h"

#define EPOCH_RECORDS 4
#define NREC 22          /* records in the fixture trail */
#define NENT 28          /* its entries: 22 records and 6 seals */
#define MAXE 128         /* entries an index holds */

/* Offsets inside an entry (docs/format/audit.md, "Entries"). */
#define OFF_SEQ 5
#define OFF_PREV 21
#define OFF_TREE_SIZE (AUDIT_HEAD_LEN + 8)
#define OFF_ROOT (AUDIT_HEAD_LEN + 16)

/* Where each entry of a trail lies, found by parsing it. */
struct idx {
	size_t n;
	size_t off[MAXE], len[MAXE]; /* len: with the length field */
	enum audit_kind kind[MAXE];
	uint64_t epoch[MAXE];
};

struct fix {
	char base[64];      /* the mkdtemp directory */
	char sd[96];        /* the state directory: base/a */
	uint8_t k0[32];
	struct audit *a;
	struct buf exp;     /* the last export */
	struct audit_export_view view;
	struct pkey *pub;   /* the signing public key, from the export */
	struct buf t;       /* a copy of the trail bytes, to be mutated */
	struct idx ix;      /* the entries of t as exported */
};

static const struct suite *sha(void)
{
	const struct suite *s = suite_by_id(SUITE_INTERNATIONAL);
	assert_non_null(s);
	return s;
}

/* ---- building trails ---------------------------------------------------- */

static void make_trail(const char *sd, uint8_t k0[32], struct audit **a)
{
	struct audit_params p;
	audit_params_default(&p);
	p.epoch_records = EPOCH_RECORDS;
	assert_int_equal(mkdir(sd, 0700), 0);
	assert_int_equal(audit_init(sd, SUITE_INTERNATIONAL, &p, k0), 0);
	assert_int_equal(audit_open(sd, a), 0);
}

/* Appends records from..from+n-1: distinct ops, targets and outcomes; tag tells trails apart. */
static void add_records(struct audit *a, unsigned from, unsigned n, const char *tag)
{
	static const char *const ops[] = { "backup", "restore", "keystore unlock", "job backup",
					   "dataset create" };
	for (unsigned i = from; i < from + n; i++) {
		char target[64], outcome[64];
		snprintf(target, sizeof target, "ds-%s-%u", tag, i);
		snprintf(outcome, sizeof outcome, "ok: %s number %u", tag, i);
		struct audit_record r = { .uid = 1000 + i, .actor = "alice", .role = "operator",
					  .op = ops[i % 5], .target = target, .outcome = outcome,
					  .origin = "backupd" };
		memset(r.params, (int)i, sizeof r.params);
		assert_int_equal(audit_append(a, &r), 0);
	}
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
		assert_int_equal(en.seq, ix->n); /* no anchor: seq is the index */
		ix->off[ix->n] = off;
		ix->len[ix->n] = used;
		ix->kind[ix->n] = en.kind;
		ix->epoch[ix->n] = en.kind == AUDIT_SEAL ? en.epoch : UINT64_MAX;
		ix->n++;
		off += used;
	}
}

/* Takes an export of f->a, parses it, copies its trail into f->t and indexes it. */
static void take_export(struct fix *f)
{
	buf_fini(&f->exp);
	assert_int_equal(audit_export(f->a, &f->exp), 0);
	assert_int_equal(audit_export_parse(f->exp.data, f->exp.len, &f->view), 0);
	assert_int_equal(f->view.suite, SUITE_INTERNATIONAL);
	assert_int_equal(f->view.epoch_records, EPOCH_RECORDS);
	if (f->pub == NULL)
		assert_int_equal(pkey_from_public_pem(f->view.pem, f->view.pem_len, PKEY_SIGN,
						      &f->pub), 0);
	buf_reset(&f->t);
	assert_int_equal(buf_put(&f->t, f->view.trail, f->view.trail_len), 0);
	index_trail(f->t.data, f->t.len, &f->ix);
}

static int setup_empty(void **state)
{
	struct fix *f = calloc(1, sizeof *f);
	assert_non_null(f);
	snprintf(f->base, sizeof f->base, "/tmp/coffer-audit.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->sd, sizeof f->sd, "%s/a", f->base);
	make_trail(f->sd, f->k0, &f->a);
	*state = f;
	return 0;
}

static int setup_full(void **state)
{
	setup_empty(state);
	struct fix *f = *state;
	add_records(f->a, 0, NREC, "a");
	assert_int_equal(audit_seal(f->a, true), 0);
	take_export(f);
	assert_int_equal(f->ix.n, NENT);
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	audit_close(f->a);
	pkey_free(f->pub);
	buf_fini(&f->exp);
	buf_fini(&f->t);
	testutil_rm_tree(AT_FDCWD, f->base);
	free(f);
	return 0;
}

/* ---- verifying ---------------------------------------------------------- */

static int verify(const uint8_t *t, size_t len, const uint8_t *k0, const struct pkey *pub,
		  const struct audit_cp *cps, size_t n_cps, struct audit_verify_result *res)
{
	struct audit_verify_opts o = { .suite = SUITE_INTERNATIONAL, .initial_key = k0,
				       .pub = pub, .cps = cps, .n_cps = n_cps };
	return audit_verify(t, len, &o, res);
}

/* Asserts that verification fails, first at seq (and at offset off unless SIZE_MAX), saying why. */
static void assert_bad(const uint8_t *t, size_t len, const uint8_t *k0, const struct pkey *pub,
		       const struct audit_cp *cps, size_t n_cps, uint64_t seq, size_t off,
		       const char *why)
{
	struct audit_verify_result res;
	int e = verify(t, len, k0, pub, cps, n_cps, &res);
	if (e != -EBADMSG || res.bad_seq != seq || (off != SIZE_MAX && res.bad_offset != off) ||
	    strstr(res.why, why) == NULL)
		print_error("verify: %d, bad_seq %llu (want %llu), offset %llu (want %lld): %s "
			    "(want \"%s\")\n", e, (unsigned long long)res.bad_seq,
			    (unsigned long long)seq, (unsigned long long)res.bad_offset,
			    off == SIZE_MAX ? -1LL : (long long)off, res.why, why);
	assert_int_equal(e, -EBADMSG);
	assert_int_equal(res.bad_seq, seq);
	if (off != SIZE_MAX)
		assert_int_equal(res.bad_offset, off);
	assert_non_null(strstr(res.why, why));
}

static void assert_good(const uint8_t *t, size_t len, const uint8_t *k0, const struct pkey *pub,
			const struct audit_cp *cps, size_t n_cps, struct audit_verify_result *res)
{
	int e = verify(t, len, k0, pub, cps, n_cps, res);
	if (e != 0)
		print_error("verify: %d at seq %llu: %s\n", e, (unsigned long long)res->bad_seq,
			    res->why);
	assert_int_equal(e, 0);
}

/* ---- what an intruder without the keys can do to the bytes -------------- */

/*
 * Makes t (len bytes, entries of unchanged lengths) a consistent chain
 * again from entry `from` on: each entry's seq its index, prev the hash of
 * the entry before, and each seal's tree_size and root those of the
 * entries before it. Only the seals' MACs and signatures are left as they
 * were: those need the keys.
 */
static void rechain(uint8_t *t, size_t len, size_t from)
{
	struct merkle_frontier fr;
	uint8_t prev[32] = { 0 };
	size_t off = 0;
	merkle_frontier_init(&fr);
	for (uint64_t i = 0; off < len; i++) {
		struct audit_entry en;
		size_t used;
		uint8_t *p = t + off, leaf[32], root[32];
		assert_int_equal(audit_entry_parse(p, len - off, &used, &en), 0);
		if (i >= from) {
			le64_put(p + OFF_SEQ, i);
			memcpy(p + OFF_PREV, prev, 32);
			if (en.kind == AUDIT_SEAL) {
				assert_int_equal(merkle_frontier_root(sha(), &fr, root), 0);
				le64_put(p + OFF_TREE_SIZE, i);
				memcpy(p + OFF_ROOT, root, 32);
			}
		}
		assert_int_equal(merkle_leaf(sha(), p + 4, used - 4, leaf), 0);
		assert_int_equal(merkle_frontier_add(sha(), &fr, leaf), 0);
		assert_int_equal(suite_hash(sha(), p + 4, used - 4, prev), 0);
		off += used;
	}
}

/* out = t with entry i (of ix) removed. */
static void cut_entry(const struct buf *t, const struct idx *ix, size_t i, struct buf *out)
{
	buf_reset(out);
	assert_int_equal(buf_put(out, t->data, ix->off[i]), 0);
	assert_int_equal(buf_put(out, t->data + ix->off[i] + ix->len[i],
				 t->len - ix->off[i] - ix->len[i]), 0);
}

/*
 * An intruder's continuation: the first `keep` entries of f->t, then n_rec
 * new records chained to them and, if seal, a seal of epoch `epoch` MAC'd
 * with key and signed with sign: a well-formed tail in every respect but
 * the key it is made with.
 */
static void forge_tail(const struct fix *f, size_t keep, unsigned n_rec, bool seal,
		       uint64_t epoch, const uint8_t key[32], const struct pkey *sign,
		       struct buf *out)
{
	struct merkle_frontier fr;
	uint8_t prev[32] = { 0 }, leaf[32];
	size_t end = keep < f->ix.n ? f->ix.off[keep] : f->t.len;
	buf_reset(out);
	assert_int_equal(buf_put(out, f->t.data, end), 0);
	merkle_frontier_init(&fr);
	for (size_t i = 0; i < keep; i++) {
		const uint8_t *p = f->t.data + f->ix.off[i] + 4;
		assert_int_equal(merkle_leaf(sha(), p, f->ix.len[i] - 4, leaf), 0);
		assert_int_equal(merkle_frontier_add(sha(), &fr, leaf), 0);
		assert_int_equal(suite_hash(sha(), p, f->ix.len[i] - 4, prev), 0);
	}
	uint64_t seq = keep;
	for (unsigned j = 0; j < n_rec + (seal ? 1u : 0u); j++, seq++) {
		size_t start = out->len;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		if (j < n_rec) {
			char target[64];
			snprintf(target, sizeof target, "forged-%u", j);
			struct audit_record r = { .uid = 0, .actor = "root", .role = "sysadmin",
						  .op = "backup", .target = target,
						  .outcome = "ok", .origin = "backupd" };
			memset(r.params, 0, sizeof r.params);
			assert_int_equal(audit_encode_record(out, seq, now, prev, &r), 0);
		} else {
			uint8_t root[32], msg[AUDIT_SEALMSG_LEN + 32], mac[32];
			struct buf sig = { 0 };
			assert_int_equal(merkle_frontier_root(sha(), &fr, root), 0);
			size_t mlen = audit_seal_message(SUITE_INTERNATIONAL, epoch, seq, root, prev,
							 msg);
			assert_int_equal(suite_mac(sha(), key, msg, mlen, mac), 0);
			memcpy(msg + mlen, mac, 32);
			assert_int_equal(pkey_sign(sign, msg, mlen + 32, &sig), 0);
			assert_int_equal(audit_encode_seal(out, seq, now, prev, epoch, seq, root, mac,
							   sig.data, sig.len), 0);
			buf_fini(&sig);
		}
		const uint8_t *p = out->data + start + 4;
		size_t n = out->len - start - 4;
		assert_int_equal(merkle_leaf(sha(), p, n, leaf), 0);
		assert_int_equal(merkle_frontier_add(sha(), &fr, leaf), 0);
		assert_int_equal(suite_hash(sha(), p, n, prev), 0);
	}
}

static void path_in(const struct fix *f, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/audit/%s", f->sd, name);
}

/* What an intruder who took the appliance holds: sign.key and the state's K(e). */
static void steal_keys(const struct fix *f, struct pkey **sign, uint8_t key[32], uint64_t *epoch)
{
	char path[160];
	struct buf b = { 0 };
	path_in(f, "sign.key", path, sizeof path);
	assert_int_equal(io_read_file_at(AT_FDCWD, path, &b, 4096), 0);
	assert_int_equal(pkey_from_private_der(b.data, b.len, SUITE_INTERNATIONAL, PKEY_SIGN, sign),
			 0);
	buf_fini(&b);
	path_in(f, "state", path, sizeof path);
	assert_int_equal(io_read_file_at(AT_FDCWD, path, &b, 8192), 0);
	assert_true(b.len >= 56);
	assert_memory_equal(b.data, "COFFERAS", 8);
	*epoch = le64_get(b.data + 16);
	memcpy(key, b.data + 24, 32);
	buf_fini(&b);
}

static void checkpoint(struct audit *a, struct buf *cpb, struct audit_cp *cp)
{
	assert_int_equal(audit_checkpoint(a, cpb), 0);
	assert_int_equal(audit_checkpoint_parse(cpb->data, cpb->len, cp), 0);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	struct buf b = { 0 };
	assert_int_equal(io_read_file_at(AT_FDCWD, from, &b, 1u << 20), 0);
	assert_int_equal(io_replace_file_at(AT_FDCWD, to, b.data, b.len, mode), 0);
	buf_fini(&b);
}

/* ---- the tests ---------------------------------------------------------- */

/* 1. The untouched trail verifies, with the counts the writer's epochs give. */
static void test_untouched(void **state)
{
	struct fix *f = *state;
	struct audit_verify_result res;

	add_records(f->a, 0, NREC, "a");
	/* Before the forced seal: five epochs sealed, two records open. */
	take_export(f);
	assert_int_equal(f->ix.n, NENT - 1);
	assert_good(f->t.data, f->t.len, f->k0, f->pub, NULL, 0, &res);
	assert_int_equal(res.entries, NENT - 1);
	assert_int_equal(res.records, NREC);
	assert_int_equal(res.seals, 5);
	assert_int_equal(res.unsealed, 2);
	assert_int_equal(res.sealed_up_to, 25);

	assert_int_equal(audit_seal(f->a, true), 0);
	take_export(f);
	assert_int_equal(f->ix.n, NENT);
	/* Where the writer sealed, found by parsing: every fifth entry, epochs 0.. in order. */
	for (size_t i = 0, epoch = 0; i < f->ix.n; i++) {
		bool is_seal = i % 5 == 4 || i == NENT - 1;
		assert_int_equal(f->ix.kind[i], is_seal ? AUDIT_SEAL : AUDIT_RECORD);
		if (is_seal)
			assert_int_equal(f->ix.epoch[i], epoch++);
	}
	assert_good(f->t.data, f->t.len, f->k0, f->pub, NULL, 0, &res);
	assert_int_equal(res.entries, NENT);
	assert_int_equal(res.records, NREC);
	assert_int_equal(res.seals, 6);
	assert_int_equal(res.unsealed, 0);
	assert_int_equal(res.sealed_up_to, NENT);
	assert_int_equal(res.first_seq, 0);
	assert_int_equal(res.cps_checked, 0);
	/* A second forced seal has nothing to seal. */
	assert_int_equal(audit_seal(f->a, true), 0);
	take_export(f);
	assert_int_equal(f->ix.n, NENT);

	/* The tree head is the checkpoint's. */
	struct buf cpb = { 0 };
	struct audit_cp cp;
	checkpoint(f->a, &cpb, &cp);
	assert_int_equal(cp.size, NENT);
	assert_memory_equal(cp.root, res.root, 32);
	assert_good(f->t.data, f->t.len, f->k0, f->pub, &cp, 1, &res);
	assert_int_equal(res.cps_checked, 1);
	/* Nothing to check against: still consistent. */
	assert_good(f->t.data, f->t.len, NULL, NULL, NULL, 0, &res);
	assert_int_equal(res.entries, NENT);

	/* The state holds K(6), K(0) evolved six times. */
	struct pkey *sign = NULL;
	uint8_t key[32], want[32];
	uint64_t epoch;
	steal_keys(f, &sign, key, &epoch);
	assert_int_equal(epoch, 6);
	memcpy(want, f->k0, 32);
	for (uint64_t e = 0; e < 6; e++)
		assert_int_equal(audit_evolve_key(sha(), want, e), 0);
	assert_memory_equal(key, want, 32);
	pkey_free(sign);

	/* Another K(0) fails at the first seal. */
	uint8_t other[32];
	memcpy(other, f->k0, 32);
	other[7] ^= 0x20;
	assert_bad(f->t.data, f->t.len, other, f->pub, NULL, 0, 4, f->ix.off[4], "initial key");
	buf_fini(&cpb);
}

/* 2. One byte of a sealed record's outcome edited. */
static void test_edit_outcome(void **state)
{
	struct fix *f = *state;
	struct audit_entry en;
	size_t used;

	/* Record 6, in sealed epoch 1: its outcome string, found by parsing. */
	assert_int_equal(f->ix.kind[6], AUDIT_RECORD);
	assert_int_equal(audit_entry_parse(f->t.data + f->ix.off[6], f->t.len - f->ix.off[6], &used,
					   &en), 0);
	assert_true(en.outcome_len > 2);
	size_t at = (size_t)(en.outcome - f->t.data) + 1; /* "ok: ..." -> "oj: ..." */
	assert_true(at > f->ix.off[6] && at < f->ix.off[6] + f->ix.len[6]);
	f->t.data[at] ^= 0x01;
	/* The edited entry still parses and chains; the next one's prev breaks. */
	index_trail(f->t.data, f->t.len, &f->ix);
	assert_bad(f->t.data, f->t.len, f->k0, f->pub, NULL, 0, 7, f->ix.off[7], "does not chain");
	assert_bad(f->t.data, f->t.len, NULL, NULL, NULL, 0, 7, f->ix.off[7], "does not chain");

	/* Re-chained by someone without the keys: epoch 1's seal (9) no longer matches. */
	rechain(f->t.data, f->t.len, 7);
	assert_bad(f->t.data, f->t.len, f->k0, f->pub, NULL, 0, 9, f->ix.off[9], "initial key");
	assert_bad(f->t.data, f->t.len, f->k0, NULL, NULL, 0, 9, f->ix.off[9], "initial key");
	assert_bad(f->t.data, f->t.len, NULL, f->pub, NULL, 0, 9, f->ix.off[9], "signature");

	/* The last record of an epoch (8): the seal itself is the next entry. */
	take_export(f);
	assert_int_equal(audit_entry_parse(f->t.data + f->ix.off[8], f->t.len - f->ix.off[8], &used,
					   &en), 0);
	f->t.data[(size_t)(en.outcome - f->t.data) + en.outcome_len - 1] ^= 0x01;
	assert_bad(f->t.data, f->t.len, f->k0, f->pub, NULL, 0, 9, f->ix.off[9], "does not chain");

	/* A record of the last epoch (26, sealed by the forced seal 27). */
	take_export(f);
	assert_int_equal(audit_entry_parse(f->t.data + f->ix.off[26], f->t.len - f->ix.off[26],
					   &used, &en), 0);
	f->t.data[(size_t)(en.outcome - f->t.data)] ^= 0x02;
	assert_bad(f->t.data, f->t.len, f->k0, f->pub, NULL, 0, 27, f->ix.off[27],
		   "does not chain");
	rechain(f->t.data, f->t.len, 27);
	assert_bad(f->t.data, f->t.len, f->k0, f->pub, NULL, 0, 27, f->ix.off[27], "initial key");
}

/* 3. One record cut out. */
static void test_delete(void **state)
{
	struct fix *f = *state;
	struct buf m = { 0 };

	cut_entry(&f->t, &f->ix, 6, &m);
	/* Where 6 was, 7 is: 6 is named missing, at 6's offset. */
	assert_bad(m.data, m.len, f->k0, f->pub, NULL, 0, 6, f->ix.off[6], "missing");
	assert_bad(m.data, m.len, NULL, NULL, NULL, 0, 6, f->ix.off[6], "missing");

	/* Renumbered and re-chained: epoch 1's seal, now entry 8, fails. */
	rechain(m.data, m.len, 6);
	assert_bad(m.data, m.len, f->k0, f->pub, NULL, 0, 8, f->ix.off[9] - f->ix.len[6],
		   "initial key");
	assert_bad(m.data, m.len, NULL, f->pub, NULL, 0, 8, SIZE_MAX, "signature");

	/* The first record of all. */
	cut_entry(&f->t, &f->ix, 0, &m);
	assert_bad(m.data, m.len, f->k0, f->pub, NULL, 0, 0, 0, "missing");
	/* A whole sealed epoch's seal. */
	cut_entry(&f->t, &f->ix, 9, &m);
	assert_bad(m.data, m.len, f->k0, f->pub, NULL, 0, 9, f->ix.off[9], "missing");
	buf_fini(&m);
}

/* 4. A copy of an existing record spliced in. */
static void test_insert(void **state)
{
	struct fix *f = *state;
	struct buf m = { 0 };

	/* Record 2 again, between 6 and 7. */
	assert_int_equal(buf_put(&m, f->t.data, f->ix.off[7]), 0);
	assert_int_equal(buf_put(&m, f->t.data + f->ix.off[2], f->ix.len[2]), 0);
	assert_int_equal(buf_put(&m, f->t.data + f->ix.off[7], f->t.len - f->ix.off[7]), 0);
	assert_bad(m.data, m.len, f->k0, f->pub, NULL, 0, 7, f->ix.off[7], "missing");

	/* Renumbered and re-chained: epoch 1's seal, now entry 10, fails. */
	rechain(m.data, m.len, 7);
	assert_bad(m.data, m.len, f->k0, f->pub, NULL, 0, 10, f->ix.off[9] + f->ix.len[2],
		   "initial key");
	assert_bad(m.data, m.len, NULL, f->pub, NULL, 0, 10, SIZE_MAX, "signature");

	/* Record 6 twice in a row: same seq, so the second is out of place. */
	buf_reset(&m);
	assert_int_equal(buf_put(&m, f->t.data, f->ix.off[7]), 0);
	assert_int_equal(buf_put(&m, f->t.data + f->ix.off[6], f->ix.len[6]), 0);
	assert_int_equal(buf_put(&m, f->t.data + f->ix.off[7], f->t.len - f->ix.off[7]), 0);
	assert_bad(m.data, m.len, f->k0, f->pub, NULL, 0, 7, f->ix.off[7], "missing");

	/* A forged record with the right seq and prev, pushed in before 7: 7 is then out of place. */
	forge_tail(f, 7, 1, false, 0, NULL, NULL, &m);
	size_t forged_end = m.len;
	assert_int_equal(buf_put(&m, f->t.data + f->ix.off[7], f->t.len - f->ix.off[7]), 0);
	assert_bad(m.data, m.len, f->k0, f->pub, NULL, 0, 8, forged_end, "missing");
	buf_fini(&m);
}

/* 5. Two adjacent records swapped. */
static void test_swap(void **state)
{
	struct fix *f = *state;
	struct buf m = { 0 };

	assert_int_equal(buf_put(&m, f->t.data, f->ix.off[6]), 0);
	assert_int_equal(buf_put(&m, f->t.data + f->ix.off[7], f->ix.len[7]), 0);
	assert_int_equal(buf_put(&m, f->t.data + f->ix.off[6], f->ix.len[6]), 0);
	assert_int_equal(buf_put(&m, f->t.data + f->ix.off[8], f->t.len - f->ix.off[8]), 0);
	assert_int_equal(m.len, f->t.len);
	/* 7 stands where 6 should. */
	assert_bad(m.data, m.len, f->k0, f->pub, NULL, 0, 6, f->ix.off[6], "missing");

	/* Renumbered and re-chained: the same entries in another order, so another root. */
	rechain(m.data, m.len, 6);
	assert_bad(m.data, m.len, f->k0, f->pub, NULL, 0, 9, f->ix.off[9], "initial key");
	assert_bad(m.data, m.len, NULL, f->pub, NULL, 0, 9, f->ix.off[9], "signature");

	/* A record and the seal after it. */
	buf_reset(&m);
	assert_int_equal(buf_put(&m, f->t.data, f->ix.off[8]), 0);
	assert_int_equal(buf_put(&m, f->t.data + f->ix.off[9], f->ix.len[9]), 0);
	assert_int_equal(buf_put(&m, f->t.data + f->ix.off[8], f->ix.len[8]), 0);
	assert_int_equal(buf_put(&m, f->t.data + f->ix.off[10], f->t.len - f->ix.off[10]), 0);
	assert_bad(m.data, m.len, f->k0, f->pub, NULL, 0, 8, f->ix.off[8], "missing");
	buf_fini(&m);
}

/*
 * 6. The tail cut back into sealed history (after epoch 1's seal, entry
 * 9) by an intruder holding the appliance's current state (K(6) and the
 * signing key), then new records appended and sealed with what it holds.
 */
static void test_truncate_reseal(void **state)
{
	struct fix *f = *state;
	struct audit_verify_result res;
	struct pkey *sign = NULL;
	uint8_t key[32];
	uint64_t epoch;
	struct buf m = { 0 }, cpb = { 0 };
	struct audit_cp cp;
	struct idx mx;
	const size_t keep = 10;

	/* The auditor's checkpoint, taken before the intrusion. */
	checkpoint(f->a, &cpb, &cp);
	assert_int_equal(cp.size, NENT);
	steal_keys(f, &sign, key, &epoch);
	assert_int_equal(epoch, 6);
	assert_int_equal(f->ix.kind[keep - 1], AUDIT_SEAL);
	assert_int_equal(f->ix.epoch[keep - 1], 1);

	/*
	 * The next epoch's number (2), sealed with K(6): chain, root and
	 * signature are right (signatures alone accept it), the MAC is not
	 * under K(2).
	 */
	forge_tail(f, keep, 4, true, 2, key, sign, &m);
	index_trail(m.data, m.len, &mx);
	assert_int_equal(mx.n, 15);
	assert_good(m.data, m.len, NULL, f->pub, NULL, 0, &res);
	assert_int_equal(res.seals, 3);
	assert_int_equal(res.entries, 15);
	assert_bad(m.data, m.len, f->k0, f->pub, NULL, 0, 14, mx.off[14], "initial key");
	/* The checkpoint, with no K(0): fewer entries than it covers. */
	assert_bad(m.data, m.len, NULL, f->pub, &cp, 1, 15, m.len, "truncated");

	/* Its own epoch's number (6) with K(6): epochs skip, refused even without K(0). */
	forge_tail(f, keep, 4, true, 6, key, sign, &m);
	index_trail(m.data, m.len, &mx);
	assert_bad(m.data, m.len, f->k0, f->pub, NULL, 0, 14, mx.off[14], "epoch 6 where epoch 2");
	assert_bad(m.data, m.len, NULL, f->pub, NULL, 0, 14, mx.off[14], "epoch 6 where epoch 2");

	/*
	 * Enough forged records (epoch 2 again) to outgrow the checkpoint: the
	 * first 28 entries are not the checkpoint's.
	 */
	forge_tail(f, keep, 20, true, 2, key, sign, &m);
	index_trail(m.data, m.len, &mx);
	assert_int_equal(mx.n, 31);
	assert_bad(m.data, m.len, NULL, f->pub, &cp, 1, NENT, mx.off[NENT], "checkpoint");
	assert_bad(m.data, m.len, f->k0, f->pub, &cp, 1, NENT, mx.off[NENT], "checkpoint");

	/*
	 * The bare truncation, nothing appended: what is left is a valid trail
	 * ending at a valid seal, indistinguishable from an older export, so
	 * K(0) alone cannot tell; only a checkpoint covering the cut part can
	 * (docs/format/audit.md "What is detected" lists the removal of the
	 * tail as detected "given K(0) or an earlier checkpoint": for a bare
	 * cut it is the checkpoint only).
	 */
	assert_good(f->t.data, f->ix.off[keep], f->k0, f->pub, NULL, 0, &res);
	assert_int_equal(res.entries, keep);
	assert_int_equal(res.unsealed, 0);
	assert_bad(f->t.data, f->ix.off[keep], NULL, f->pub, &cp, 1, keep, f->ix.off[keep],
		   "truncated");
	assert_bad(f->t.data, f->ix.off[keep], NULL, NULL, &cp, 1, keep, f->ix.off[keep],
		   "truncated");
	/* Cut inside an epoch (after record 7): unsealed, and below the checkpoint. */
	assert_good(f->t.data, f->ix.off[8], f->k0, f->pub, NULL, 0, &res);
	assert_int_equal(res.unsealed, 3);
	assert_bad(f->t.data, f->ix.off[8], NULL, f->pub, &cp, 1, 8, f->ix.off[8], "truncated");

	pkey_free(sign);
	buf_fini(&m);
	buf_fini(&cpb);
}

/* 7. Whole trails forged after the compromise. */
static void test_forged_trail(void **state)
{
	struct fix *f = *state;
	struct audit_verify_result res;
	char sd[128], from[160], to[160];
	uint8_t k0b[32];
	struct audit *b = NULL;
	struct buf exp = { 0 };
	struct audit_export_view v;
	struct pkey *pubb = NULL;
	struct idx ix;

	/* A new trail with its own K(0)' and signing key, the same records. */
	snprintf(sd, sizeof sd, "%s/b", f->base);
	make_trail(sd, k0b, &b);
	assert_memory_not_equal(k0b, f->k0, 32);
	add_records(b, 0, NREC, "a");
	assert_int_equal(audit_seal(b, true), 0);
	assert_int_equal(audit_export(b, &exp), 0);
	assert_int_equal(audit_export_parse(exp.data, exp.len, &v), 0);
	assert_int_equal(pkey_from_public_pem(v.pem, v.pem_len, PKEY_SIGN, &pubb), 0);
	index_trail(v.trail, v.trail_len, &ix);
	assert_int_equal(ix.n, NENT);
	assert_good(v.trail, v.trail_len, k0b, pubb, NULL, 0, &res);
	/* Its epoch-0 seal is not under K(0), whichever public key comes with it. */
	assert_bad(v.trail, v.trail_len, f->k0, pubb, NULL, 0, 4, ix.off[4], "initial key");
	assert_bad(v.trail, v.trail_len, f->k0, f->pub, NULL, 0, 4, ix.off[4], "initial key");
	/* With the appliance's key known to the auditor, the signature fails too. */
	assert_bad(v.trail, v.trail_len, NULL, f->pub, NULL, 0, 4, ix.off[4], "signature");
	audit_close(b);
	pkey_free(pubb);
	pubb = NULL;
	buf_reset(&exp);

	/* The appliance's own signing key (stolen), but any MAC key: only K(0) tells. */
	snprintf(sd, sizeof sd, "%s/c", f->base);
	make_trail(sd, k0b, &b);
	audit_close(b);
	path_in(f, "sign.key", from, sizeof from);
	snprintf(to, sizeof to, "%s/audit/sign.key", sd);
	copy_file(from, to, 0640);
	path_in(f, "sign.pem", from, sizeof from);
	snprintf(to, sizeof to, "%s/audit/sign.pem", sd);
	copy_file(from, to, 0644);
	assert_int_equal(audit_open(sd, &b), 0);
	add_records(b, 0, NREC, "a");
	assert_int_equal(audit_seal(b, true), 0);
	assert_int_equal(audit_export(b, &exp), 0);
	assert_int_equal(audit_export_parse(exp.data, exp.len, &v), 0);
	assert_int_equal(v.pem_len, f->view.pem_len);
	assert_memory_equal(v.pem, f->view.pem, v.pem_len);
	index_trail(v.trail, v.trail_len, &ix);
	assert_int_equal(ix.n, NENT);
	assert_good(v.trail, v.trail_len, NULL, f->pub, NULL, 0, &res);
	assert_int_equal(res.seals, 6);
	assert_bad(v.trail, v.trail_len, f->k0, f->pub, NULL, 0, 4, ix.off[4], "initial key");
	assert_bad(v.trail, v.trail_len, f->k0, NULL, NULL, 0, 4, ix.off[4], "initial key");
	audit_close(b);
	buf_fini(&exp);
}

/* 8. A fork: the same history up to 15 entries, then different records, same size. */
static void test_fork(void **state)
{
	struct fix *f = *state;
	struct audit_verify_result res;
	static const char *const files[] = { "trail", "state", "sign.key", "sign.pem", "lock" };
	char sd[128], dir[160], from[160], to[200];
	struct audit *b = NULL;
	struct buf expb = { 0 }, cpb = { 0 };
	struct audit_export_view vb;
	struct audit_cp cp;
	struct idx ix;

	add_records(f->a, 0, 12, "a"); /* seq 0-14: three sealed epochs */
	snprintf(sd, sizeof sd, "%s/b", f->base);
	snprintf(dir, sizeof dir, "%s/audit", sd);
	assert_int_equal(mkdir(sd, 0700), 0);
	assert_int_equal(mkdir(dir, 0770), 0);
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		path_in(f, files[i], from, sizeof from);
		snprintf(to, sizeof to, "%s/%s", dir, files[i]);
		copy_file(from, to, 0660);
	}
	assert_int_equal(audit_open(sd, &b), 0);
	add_records(f->a, 12, 3, "a");
	add_records(b, 12, 3, "b");
	assert_int_equal(audit_seal(f->a, true), 0);
	assert_int_equal(audit_seal(b, true), 0);

	take_export(f);
	assert_int_equal(audit_export(b, &expb), 0);
	assert_int_equal(audit_export_parse(expb.data, expb.len, &vb), 0);
	index_trail(vb.trail, vb.trail_len, &ix);
	assert_int_equal(f->ix.n, 19);
	assert_int_equal(ix.n, 19);
	/* The same first 15 entries, then not. */
	assert_memory_equal(vb.trail, f->t.data, f->ix.off[15]);
	assert_memory_not_equal(vb.trail + ix.off[15], f->t.data + f->ix.off[15], ix.len[15]);

	/* Each history is valid on its own, under K(0) and the same key. */
	assert_good(vb.trail, vb.trail_len, f->k0, f->pub, NULL, 0, &res);
	assert_good(f->t.data, f->t.len, f->k0, f->pub, NULL, 0, &res);

	checkpoint(f->a, &cpb, &cp);
	assert_int_equal(cp.size, 19);
	assert_good(f->t.data, f->t.len, f->k0, f->pub, &cp, 1, &res);
	assert_int_equal(res.cps_checked, 1);
	/* The other, against A's checkpoint: the first 19 entries are not its. */
	assert_bad(vb.trail, vb.trail_len, f->k0, f->pub, &cp, 1, 19, vb.trail_len, "checkpoint");
	assert_bad(vb.trail, vb.trail_len, NULL, NULL, &cp, 1, 19, vb.trail_len, "checkpoint");
	/* And once the fork has grown past it. */
	add_records(b, 15, 2, "b");
	buf_reset(&expb);
	assert_int_equal(audit_export(b, &expb), 0);
	assert_int_equal(audit_export_parse(expb.data, expb.len, &vb), 0);
	index_trail(vb.trail, vb.trail_len, &ix);
	assert_int_equal(ix.n, 21);
	assert_bad(vb.trail, vb.trail_len, NULL, f->pub, &cp, 1, 19, ix.off[19], "checkpoint");

	audit_close(b);
	buf_fini(&expb);
	buf_fini(&cpb);
}

/*
 * 9. A torn last entry (a writer killed mid-write): the verifier reports
 * it at its offset; the writer cuts it off on open ("Writing": it was
 * never acknowledged), after which the trail verifies and goes on.
 */
static void test_torn_tail(void **state)
{
	struct fix *f = *state;
	struct audit_verify_result res;
	char path[160];
	static const size_t tears[] = { 2, 40, 0 }; /* 0: all but the last byte */

	add_records(f->a, NREC, 1, "a"); /* seq 28, unsealed */
	take_export(f);
	assert_int_equal(f->ix.n, NENT + 1);
	size_t good_len = f->t.len;
	path_in(f, "trail", path, sizeof path);

	for (size_t k = 0; k < sizeof tears / sizeof *tears; k++) {
		/* The entry the dead writer was writing: seq 29, chained right. */
		struct buf m = { 0 };
		forge_tail(f, NENT + 1, 1, false, 0, NULL, NULL, &m);
		size_t whole = m.len - good_len;
		size_t part = tears[k] != 0 ? tears[k] : whole - 1;
		assert_true(part < whole);
		m.len = good_len + part;

		audit_close(f->a);
		f->a = NULL;
		int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, m.data + good_len, part), (ssize_t)part);
		close(fd);

		/* The auditor, given these bytes: damaged at the torn entry, named by its seq. */
		assert_bad(m.data, m.len, f->k0, f->pub, NULL, 0, NENT + 1, good_len, "incomplete");

		/* The writer recovers: the torn bytes are cut off, said on the log. */
		testutil_stderr_begin();
		int e = audit_open(f->sd, &f->a);
		const char *said = testutil_stderr_end();
		assert_int_equal(e, 0);
		assert_non_null(strstr(said, "incomplete last entry"));
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_size, (off_t)good_len);
		take_export(f);
		assert_int_equal(f->t.len, good_len);
		assert_good(f->t.data, f->t.len, f->k0, f->pub, NULL, 0, &res);
		assert_int_equal(res.entries, NENT + 1);
		assert_int_equal(res.unsealed, 1);
		buf_fini(&m);
	}

	/* And appends after it: seq 29 is the next record. */
	add_records(f->a, NREC + 1, 1, "a");
	assert_int_equal(audit_seal(f->a, true), 0);
	take_export(f);
	assert_int_equal(f->ix.n, NENT + 3);
	assert_int_equal(f->ix.kind[NENT + 1], AUDIT_RECORD);
	assert_int_equal(f->ix.kind[NENT + 2], AUDIT_SEAL);
	assert_int_equal(f->ix.epoch[NENT + 2], 6);
	assert_good(f->t.data, f->t.len, f->k0, f->pub, NULL, 0, &res);
	assert_int_equal(res.unsealed, 0);
	assert_int_equal(res.seals, 7);
}

/* 10. A checkpoint whose signature (or signed content) was altered is refused. */
/* A trail file cut below its sealed part is refused, not reread from a wrapped length. */
static void test_cut_file_refused(void **state)
{
	struct fix *f = *state;
	struct audit *b = NULL;
	char path[160];
	path_in(f, "trail", path, sizeof path);
	audit_close(f->a);
	f->a = NULL;
	assert_int_equal(truncate(path, (off_t)f->ix.off[10]), 0);
	assert_int_equal(audit_open(f->sd, &b), -EBADMSG);
	assert_null(b);
}

static void test_checkpoint_signature(void **state)
{
	struct fix *f = *state;
	struct audit_verify_result res;
	struct buf cpb = { 0 }, bad = { 0 };
	struct audit_cp cp, cpx;

	checkpoint(f->a, &cpb, &cp);
	assert_int_equal(cp.size, NENT);
	assert_good(f->t.data, f->t.len, f->k0, f->pub, &cp, 1, &res);
	assert_int_equal(res.cps_checked, 1);

	/* One byte in the signature (its first, middle and last). */
	size_t sig_at = (size_t)(cp.sig - cpb.data);
	size_t at[] = { sig_at, sig_at + cp.sig_len / 2, cpb.len - 1 };
	for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
		buf_reset(&bad);
		assert_int_equal(buf_put(&bad, cpb.data, cpb.len), 0);
		bad.data[at[i]] ^= 0x04;
		assert_int_equal(audit_checkpoint_parse(bad.data, bad.len, &cpx), 0);
		assert_bad(f->t.data, f->t.len, f->k0, f->pub, &cpx, 1, 0, 0, "not signed");
		assert_bad(f->t.data, f->t.len, NULL, f->pub, &cpx, 1, 0, 0, "not signed");
	}
	/* The signed part: a byte of the root, the time. */
	size_t fields[] = { 8 + 4 + 4 + 8 + 5, 8 + 4 + 4 + 8 + 32 + 1 };
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		buf_reset(&bad);
		assert_int_equal(buf_put(&bad, cpb.data, cpb.len), 0);
		bad.data[fields[i]] ^= 0x80;
		assert_int_equal(audit_checkpoint_parse(bad.data, bad.len, &cpx), 0);
		assert_bad(f->t.data, f->t.len, f->k0, f->pub, &cpx, 1, 0, 0, "not signed");
	}
	/* A good checkpoint listed after a bad one: the bad one is still named. */
	struct audit_cp two[2] = { cp, cpx };
	assert_bad(f->t.data, f->t.len, f->k0, f->pub, two, 2, 0, 0, "checkpoint 2");
	buf_fini(&cpb);
	buf_fini(&bad);
}

/* Retention: a cut younger than retention_days is refused, and nothing changes. */
static void test_prune_retention(void **state)
{
	struct fix *f = *state;
	struct audit_verify_result res;
	struct buf before = { 0 }, exp0 = { 0 };
	char dir[160];
	uint64_t removed = 77;
	struct audit_record who = { .uid = 0, .actor = "root", .role = "sysadmin",
				    .op = "audit prune", .target = "", .outcome = "",
				    .origin = "console" };
	memset(who.params, 0, sizeof who.params);

	snprintf(dir, sizeof dir, "%s/audit", f->sd);
	testutil_snapshot_tree(dir, &before);
	assert_int_equal(buf_put(&exp0, f->exp.data, f->exp.len), 0);

	int64_t now = (int64_t)time(NULL);
	int64_t cuts[] = { now - 10 * 86400, now - 179 * 86400, now, now + 86400 };
	for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
		testutil_stderr_begin();
		int e = audit_prune(f->a, cuts[i], &who, &removed);
		const char *said = testutil_stderr_end();
		assert_int_equal(e, -EPERM);
		assert_non_null(strstr(said, "retention of 180 days"));
		testutil_assert_tree_unchanged(dir, &before);
	}
	/* Old enough, but every entry is younger: nothing removed, nothing changed. */
	assert_int_equal(audit_prune(f->a, now - 181 * 86400, &who, &removed), 0);
	assert_int_equal(removed, 0);
	testutil_assert_tree_unchanged(dir, &before);

	take_export(f);
	assert_int_equal(f->exp.len, exp0.len);
	assert_memory_equal(f->exp.data, exp0.data, exp0.len);
	assert_good(f->t.data, f->t.len, f->k0, f->pub, NULL, 0, &res);
	assert_int_equal(res.entries, NENT);
	assert_int_equal(res.first_seq, 0);
	buf_fini(&before);
	buf_fini(&exp0);
}

/* The files' modes are the documented ones whatever the umask: the daemons' group appends. */
static void test_modes(void **state)
{
	(void)state;
	char base[] = "/tmp/coffer-audit-modes.XXXXXX", sd[64], path[128];
	static const struct {
		const char *name;
		mode_t mode;
	} want[] = { { "", 0770 },        { "/trail", 0660 },    { "/state", 0660 },
		     { "/sign.key", 0640 }, { "/sign.pem", 0644 }, { "/lock", 0660 } };
	uint8_t k0[32];
	struct audit_params p;
	struct stat st;
	assert_non_null(mkdtemp(base));
	snprintf(sd, sizeof sd, "%s/a", base);
	assert_int_equal(mkdir(sd, 0700), 0);
	audit_params_default(&p);
	mode_t old = umask(027);
	int e = audit_init(sd, SUITE_INTERNATIONAL, &p, k0);
	umask(old);
	assert_int_equal(e, 0);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		snprintf(path, sizeof path, "%s/audit%s", sd, want[i].name);
		assert_int_equal(stat(path, &st), 0);
		if ((st.st_mode & 07777) != want[i].mode)
			fail_msg("%s: mode %04o, %04o expected", path, (unsigned)(st.st_mode & 07777),
				 (unsigned)want[i].mode);
	}
	testutil_rm_tree(AT_FDCWD, base);
}

/*
 * The readers' export (audit_export_files) is the writer's when the
 * trail is whole; with a torn tail it holds the torn bytes, changes no
 * file, and the verifier names the torn entry.
 */
static void test_export_files(void **state)
{
	struct fix *f = *state;
	struct audit_export_view v;
	struct buf x = { 0 }, before = { 0 };
	char dir[160], trail[180];

	assert_int_equal(audit_export_files(f->sd, &x), 0);
	assert_int_equal(x.len, f->exp.len);
	assert_memory_equal(x.data, f->exp.data, x.len);

	snprintf(dir, sizeof dir, "%s/audit", f->sd);
	snprintf(trail, sizeof trail, "%s/trail", dir);
	size_t last = f->ix.n - 1;
	assert_int_equal(truncate(trail, (off_t)(f->ix.off[last] + f->ix.len[last] - 5)), 0);
	testutil_snapshot_tree(dir, &before);
	buf_reset(&x);
	assert_int_equal(audit_export_files(f->sd, &x), 0);
	testutil_assert_tree_unchanged(dir, &before);
	assert_int_equal(audit_export_parse(x.data, x.len, &v), 0);
	assert_int_equal(v.trail_len, f->ix.off[last] + f->ix.len[last] - 5);
	assert_bad(v.trail, v.trail_len, f->k0, f->pub, NULL, 0, last, f->ix.off[last],
		   "incomplete entry");
	buf_fini(&x);
	buf_fini(&before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_untouched, setup_empty, teardown),
		cmocka_unit_test_setup_teardown(test_edit_outcome, setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_insert, setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_swap, setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_reseal, setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_forged_trail, setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_fork, setup_empty, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_cut_file_refused, setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_signature, setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_prune_retention, setup_full, teardown),
		cmocka_unit_test(test_modes),
		cmocka_unit_test_setup_teardown(test_export_files, setup_full, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
