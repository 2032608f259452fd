/*
 * Approvals and the quorum (approval/quorum.h, docs/format/erase.md):
 * real Ed25519 and SM2 keys sign real statements, and every refusal the
 * issue names is tried: too few approvals, no supervisor, the requester
 * approving, a forged signature, one replayed from another request, a
 * revoked approver, an expired request, a request changed after it was
 * signed, a key of the wrong suite; plus duplicates and strangers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approval/quorum.h"
#include "approval/request.h"
#include "crypto/crypto.h"
#include "crypto/pkey.h"

#define NOW 1800000100
#define N_PEOPLE 5

static char *sites[] = { "this appliance" };

/* alice requests; bob, carol, dave approve; erin supervises. */
static const char *const names[N_PEOPLE] = { "alice", "bob", "carol", "dave", "erin" };

struct fix {
	struct pkey *key[N_PEOPLE], *sm2;
	struct approver reg[N_PEOPLE + 1];
	struct erase_request r;
	struct buf enc, other_enc;
	struct buf sig[N_PEOPLE];
};

static void make_request(struct erase_request *r, uint8_t id0, const char *dataset)
{
	memset(r, 0, sizeof *r);
	r->suite = SUITE_INTERNATIONAL;
	memset(r->id, id0, ERASE_ID_LEN);
	r->created = NOW - 100;
	r->expires = NOW + 3600;
	r->requester_uid = 1000;
	r->requester = "alice";
	r->dataset = (char *)dataset;
	r->dataset_id = "0123456789abcdef0123456789abcdef";
	r->level = 1;
	r->level_name = "internal";
	r->scope = ERASE_SCOPE_DATASET;
	r->repository = "/var/lib/coffer/pools/internal/x";
	r->keyset_id = r->dataset_id;
	r->sites = sites;
	r->n_sites = 1;
	r->reason = "test";
	r->legal_basis = "test rule 1";
	r->approvals_needed = 2;
	r->supervisor_needed = 1;
}

static void sign_statement(const struct pkey *k, const struct erase_request *r,
			   const struct buf *enc, struct buf *sig)
{
	uint8_t d[32];
	struct buf st = { 0 };
	assert_int_equal(erase_request_digest(r->suite, enc->data, enc->len, d), 0);
	assert_int_equal(erase_statement(r->id, d, &st), 0);
	buf_reset(sig);
	assert_int_equal(pkey_sign(k, st.data, st.len, sig), 0);
	buf_fini(&st);
}

static void register_key(struct approver *a, const char *name, enum approver_role role,
			 const struct pkey *k)
{
	struct buf pem = { 0 };
	char why[128];
	memset(a, 0, sizeof *a);
	snprintf(a->name, sizeof a->name, "%s", name);
	snprintf(a->user, sizeof a->user, "%s", name);
	a->role = role;
	a->added = NOW - 1000;
	assert_int_equal(pkey_public_pem(k, &pem), 0);
	assert_int_equal(approver_key_read(pem.data, pem.len, a, why, sizeof why), 0);
	buf_fini(&pem);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof *f);
	assert_non_null(f);
	for (int i = 0; i < N_PEOPLE; i++) {
		assert_int_equal(pkey_generate(SUITE_INTERNATIONAL, PKEY_SIGN, &f->key[i]), 0);
		register_key(&f->reg[i], names[i],
			     i == 4 ? APPROVER_ROLE_SUPERVISOR : APPROVER_ROLE_APPROVER, f->key[i]);
	}
	assert_int_equal(pkey_generate(SUITE_NATIONAL, PKEY_SIGN, &f->sm2), 0);
	register_key(&f->reg[N_PEOPLE], "sm2-frank", APPROVER_ROLE_APPROVER, f->sm2);
	make_request(&f->r, 0x11, "payroll");
	assert_int_equal(erase_request_encode(&f->r, &f->enc), 0);
	for (int i = 0; i < N_PEOPLE; i++)
		sign_statement(f->key[i], &f->r, &f->enc, &f->sig[i]);
	struct erase_request other;
	make_request(&other, 0x22, "payroll");
	assert_int_equal(erase_request_encode(&other, &f->other_enc), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	for (int i = 0; i < N_PEOPLE; i++) {
		pkey_free(f->key[i]);
		buf_fini(&f->sig[i]);
	}
	for (int i = 0; i <= N_PEOPLE; i++)
		approver_fini(&f->reg[i]);
	pkey_free(f->sm2);
	buf_fini(&f->enc);
	buf_fini(&f->other_enc);
	free(f);
	return 0;
}

static int check(struct fix *f, int who, const struct buf *sig, int64_t now, char *why)
{
	return approval_check(&f->r, f->enc.data, f->enc.len, &f->reg[who], sig->data, sig->len,
			      now, why, APPROVAL_WHY_MAX);
}

static void test_accepts_and_refuses(void **state)
{
	struct fix *f = *state;
	char why[APPROVAL_WHY_MAX];
	struct buf forged = { 0 }, replay = { 0 };

	assert_int_equal(check(f, 1, &f->sig[1], NOW, why), 0);
	assert_int_equal(check(f, 4, &f->sig[4], NOW, why), 0);

	/* The requester. */
	assert_int_equal(check(f, 0, &f->sig[0], NOW, why), -EPERM);
	assert_non_null(strstr(why, "cannot approve their own request"));
	/* Forged: bob's name, carol's signature. */
	assert_int_equal(check(f, 1, &f->sig[2], NOW, why), -EPERM);
	assert_non_null(strstr(why, "not a signature by 'bob'"));
	/* Forged: a signature by a key nobody registered. */
	struct pkey *stranger;
	assert_int_equal(pkey_generate(SUITE_INTERNATIONAL, PKEY_SIGN, &stranger), 0);
	sign_statement(stranger, &f->r, &f->enc, &forged);
	assert_int_equal(check(f, 1, &forged, NOW, why), -EPERM);
	pkey_free(stranger);
	/* Replayed: bob's valid signature of another request. */
	struct erase_request other;
	make_request(&other, 0x22, "payroll");
	sign_statement(f->key[1], &other, &f->other_enc, &replay);
	assert_int_equal(check(f, 1, &replay, NOW, why), -EPERM);
	assert_non_null(strstr(why, "another request"));
	/* Expired. */
	assert_int_equal(check(f, 1, &f->sig[1], f->r.expires, why), -EPERM);
	assert_non_null(strstr(why, "expired at"));
	/* Revoked. */
	f->reg[1].revoked = NOW - 1;
	snprintf(f->reg[1].revoked_by, sizeof f->reg[1].revoked_by, "secadmin1");
	assert_int_equal(check(f, 1, &f->sig[1], NOW, why), -EPERM);
	assert_non_null(strstr(why, "was revoked at"));
	assert_non_null(strstr(why, "secadmin1"));
	f->reg[1].revoked = 0;
	/* The wrong suite: an SM2 approver for an international request. */
	struct buf sm2sig = { 0 };
	sign_statement(f->sm2, &f->r, &f->enc, &sm2sig);
	assert_int_equal(check(f, N_PEOPLE, &sm2sig, NOW, why), -EPERM);
	assert_non_null(strstr(why, "needs Ed25519 signatures"));
	/* A damaged signature. */
	f->sig[2].data[5] ^= 1;
	assert_int_equal(check(f, 2, &f->sig[2], NOW, why), -EPERM);
	f->sig[2].data[5] ^= 1;
	buf_fini(&forged);
	buf_fini(&replay);
	buf_fini(&sm2sig);
}

/* SM2 approvals of a national request verify (SM3 with the standard ID). */
static void test_national(void **state)
{
	struct fix *f = *state;
	struct erase_request r;
	struct buf enc = { 0 }, sig = { 0 };
	char why[APPROVAL_WHY_MAX];
	make_request(&r, 0x33, "secret");
	r.suite = SUITE_NATIONAL;
	assert_int_equal(erase_request_encode(&r, &enc), 0);
	sign_statement(f->sm2, &r, &enc, &sig);
	assert_int_equal(approval_check(&r, enc.data, enc.len, &f->reg[N_PEOPLE], sig.data, sig.len,
					NOW, why, sizeof why), 0);
	/* An Ed25519 approver cannot approve it. */
	assert_int_equal(approval_check(&r, enc.data, enc.len, &f->reg[1], f->sig[1].data,
					f->sig[1].len, NOW, why, sizeof why), -EPERM);
	assert_non_null(strstr(why, "needs SM2 signatures"));
	buf_fini(&enc);
	buf_fini(&sig);
}

static struct approval ap(const char *name, const struct buf *sig)
{
	struct approval a = { .sig = sig->data, .sig_len = sig->len, .time = NOW, .by_uid = 1 };
	snprintf(a.approver, sizeof a.approver, "%s", name);
	return a;
}

static void test_quorum(void **state)
{
	struct fix *f = *state;
	struct quorum q;
	char why[8][APPROVAL_WHY_MAX];
	struct approval aps[8] = { 0 };
	size_t n = 0;

	/* Nothing yet. */
	assert_int_equal(quorum_count(&f->r, f->enc.data, f->enc.len, f->reg, N_PEOPLE + 1, aps,
				      0, NOW, &q, why), 0);
	assert_false(q.met);
	assert_string_equal(q.missing, "2 more approvals (0 of 2); the supervisor's approval");

	/* The requester's own, bob twice, a stranger's name: one counts. */
	aps[n++] = ap("alice", &f->sig[0]);
	aps[n++] = ap("bob", &f->sig[1]);
	aps[n++] = ap("bob", &f->sig[1]);
	aps[n++] = ap("mallory", &f->sig[2]);
	assert_int_equal(quorum_count(&f->r, f->enc.data, f->enc.len, f->reg, N_PEOPLE + 1, aps,
				      n, NOW, &q, why), 0);
	assert_int_equal(q.approvers, 1);
	assert_non_null(strstr(why[0], "own request"));
	assert_string_equal(why[1], "");
	assert_non_null(strstr(why[2], "counts once"));
	assert_non_null(strstr(why[3], "not a registered approver"));
	assert_string_equal(q.missing, "1 more approval (1 of 2); the supervisor's approval");

	/* Enough approvers but no supervisor. */
	aps[n++] = ap("carol", &f->sig[2]);
	assert_int_equal(quorum_count(&f->r, f->enc.data, f->enc.len, f->reg, N_PEOPLE + 1, aps,
				      n, NOW, &q, why), 0);
	assert_int_equal(q.approvers, 2);
	assert_false(q.met);
	assert_string_equal(q.missing, "the supervisor's approval");

	/* The supervisor: met. */
	aps[n++] = ap("erin", &f->sig[4]);
	assert_int_equal(quorum_count(&f->r, f->enc.data, f->enc.len, f->reg, N_PEOPLE + 1, aps,
				      n, NOW, &q, why), 0);
	assert_true(q.met);
	assert_int_equal(q.supervisors, 1);
	assert_string_equal(q.missing, "");

	/* Expired: not met, though every signature was good when given. */
	assert_int_equal(quorum_count(&f->r, f->enc.data, f->enc.len, f->reg, N_PEOPLE + 1, aps,
				      n, f->r.expires + 1, &q, why), 0);
	assert_false(q.met);
	assert_true(q.expired);
	assert_non_null(strstr(q.missing, "the request has expired"));

	/* Carol revoked afterwards: her signature stops counting. */
	f->reg[2].revoked = NOW - 1;
	assert_int_equal(quorum_count(&f->r, f->enc.data, f->enc.len, f->reg, N_PEOPLE + 1, aps,
				      n, NOW, &q, why), 0);
	assert_false(q.met);
	assert_non_null(strstr(why[4], "revoked"));
	f->reg[2].revoked = 0;

	/* The stored request changed after signing (its scope widened): nothing counts. */
	struct erase_request wider = f->r;
	struct buf enc2 = { 0 };
	wider.dataset = "payroll-and-more";
	assert_int_equal(erase_request_encode(&wider, &enc2), 0);
	assert_int_equal(quorum_count(&wider, enc2.data, enc2.len, f->reg, N_PEOPLE + 1, aps, n,
				      NOW, &q, why), 0);
	assert_false(q.met);
	assert_int_equal(q.approvers + q.supervisors, 0);
	assert_non_null(strstr(why[1], "over another scope"));
	assert_non_null(strstr(why[5], "over another scope"));
	buf_fini(&enc2);
}

static void test_keys_and_names(void **state)
{
	(void)state;
	struct approver a = { 0 };
	char why[128];
	struct pkey *wrap;
	struct buf pem = { 0 };
	assert_int_equal(pkey_generate(SUITE_INTERNATIONAL, PKEY_WRAP, &wrap), 0);
	assert_int_equal(pkey_public_pem(wrap, &pem), 0);
	assert_int_equal(approver_key_read(pem.data, pem.len, &a, why, sizeof why), -EINVAL);
	assert_non_null(strstr(why, "not an Ed25519 or SM2 public key"));
	assert_int_equal(approver_key_read("garbage", 7, &a, why, sizeof why), -EINVAL);
	pkey_free(wrap);
	buf_fini(&pem);
	approver_fini(&a);

	assert_true(approver_name_valid("bob.smith-2_x"));
	assert_false(approver_name_valid(""));
	assert_false(approver_name_valid("Bob"));
	assert_false(approver_name_valid("a b"));
	assert_false(approver_name_valid("123456789012345678901234567890123"));
	enum approver_role r;
	assert_int_equal(approver_role_parse("supervisor", &r), 0);
	assert_int_equal(r, APPROVER_ROLE_SUPERVISOR);
	assert_int_equal(approver_role_parse("boss", &r), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_accepts_and_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_national, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quorum, setup, teardown),
		cmocka_unit_test(test_keys_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
