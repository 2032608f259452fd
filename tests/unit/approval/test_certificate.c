/*
 * Certificates of sanitization (approval/certificate.h,
 * docs/format/certificate.md): a certificate built from a real request,
 * real approvers' Ed25519 signatures and an execution record, signed by
 * an appliance key, verifies with that key alone; each way of lying is
 * caught: a byte changed, another key, fields that disagree with the
 * request it carries, too few approvals, no supervisor, the requester's
 * own approval, a signature of another request, and every malformation
 * of the format.
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

#include "approval/certificate.h"
#include "crypto/crypto.h"
#include "crypto/pkey.h"

#define T0 1800000000
static char *sites[] = { "this appliance (keystore 0011223344556677)" };
/* bob and carol approve, erin supervises, alice requests (and is registered too). */
static const char *const names[] = { "bob", "carol", "erin", "alice" };
#define N 4

struct fix {
	struct pkey *key[N], *appliance, *other;
	struct approver reg[N];
	struct erase_request r, other_r;
	struct buf enc, other_enc, sig[N], other_sig;
	struct approval ap[N];
	struct erase_execution x;
};

static void request(struct erase_request *r, uint8_t id0, const char *reason)
{
	memset(r, 0, sizeof *r);
	r->suite = SUITE_INTERNATIONAL;
	memset(r->id, id0, ERASE_ID_LEN);
	r->created = T0;
	r->expires = T0 + 86400;
	r->requester_uid = 1000;
	r->requester = "alice";
	r->dataset = "payroll";
	r->dataset_id = "0123456789abcdef0123456789abcdef";
	r->level = 2;
	r->level_name = "sensitive";
	r->scope = ERASE_SCOPE_DATASET;
	r->repository = "/var/lib/coffer/pools/sensitive/0123456789abcdef0123456789abcdef";
	r->keyset_id = r->dataset_id;
	r->sites = sites;
	r->n_sites = 1;
	r->reason = (char *)reason;
	r->legal_basis = "Archives Law art. 19\nsecond line \\ backslash";
	r->approvals_needed = 2;
	r->supervisor_needed = 1;
}

static void sign(const struct pkey *k, const struct erase_request *r, const struct buf *enc,
		 struct buf *sig)
{
	uint8_t d[32];
	struct buf st = { 0 };
	assert_int_equal(erase_request_digest(r->suite, enc->data, enc->len, d), 0);
	assert_int_equal(erase_statement(r->id, d, &st), 0);
	buf_reset(sig);
	assert_int_equal(pkey_sign(k, st.data, st.len, sig), 0);
	buf_fini(&st);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof *f);
	char why[128];
	assert_non_null(f);
	request(&f->r, 0x11, "retention ended");
	request(&f->other_r, 0x22, "retention ended");
	assert_int_equal(erase_request_encode(&f->r, &f->enc), 0);
	assert_int_equal(erase_request_encode(&f->other_r, &f->other_enc), 0);
	for (int i = 0; i < N; i++) {
		struct buf pem = { 0 };
		assert_int_equal(pkey_generate(SUITE_INTERNATIONAL, PKEY_SIGN, &f->key[i]), 0);
		assert_int_equal(pkey_public_pem(f->key[i], &pem), 0);
		snprintf(f->reg[i].name, sizeof f->reg[i].name, "%s", names[i]);
		snprintf(f->reg[i].user, sizeof f->reg[i].user, "%s", names[i]);
		f->reg[i].role = i == 2 ? APPROVER_ROLE_SUPERVISOR : APPROVER_ROLE_APPROVER;
		assert_int_equal(approver_key_read(pem.data, pem.len, &f->reg[i], why, sizeof why), 0);
		buf_fini(&pem);
		sign(f->key[i], &f->r, &f->enc, &f->sig[i]);
		f->ap[i] = (struct approval){ .sig = f->sig[i].data, .sig_len = f->sig[i].len,
					      .time = T0 + 100 + i, .by_uid = 1 };
		snprintf(f->ap[i].approver, sizeof f->ap[i].approver, "%s", names[i]);
	}
	sign(f->key[0], &f->other_r, &f->other_enc, &f->other_sig);
	assert_int_equal(pkey_generate(SUITE_INTERNATIONAL, PKEY_SIGN, &f->appliance), 0);
	assert_int_equal(pkey_generate(SUITE_INTERNATIONAL, PKEY_SIGN, &f->other), 0);
	f->x = (struct erase_execution){ .started = T0 + 200, .finished = T0 + 260,
					 .executor_uid = 1000, .shredded = T0 + 201, .files = 7,
					 .bytes = 123456 };
	snprintf(f->x.executor, sizeof f->x.executor, "alice");
	snprintf(f->x.method, sizeof f->x.method, "random");
	snprintf(f->x.result, sizeof f->x.result, "ok: 7 files");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	for (int i = 0; i < N; i++) {
		pkey_free(f->key[i]);
		approver_fini(&f->reg[i]);
		buf_fini(&f->sig[i]);
	}
	pkey_free(f->appliance);
	pkey_free(f->other);
	buf_fini(&f->enc);
	buf_fini(&f->other_enc);
	buf_fini(&f->other_sig);
	free(f);
	return 0;
}

/* A signed certificate of r (described by r, carrying enc) with approvals idx[0..n). */
static void make(struct fix *f, const struct erase_request *r, const struct buf *enc,
		 const int *idx, size_t n, struct buf *out)
{
	struct approver who[N];
	struct approval aps[N];
	for (size_t i = 0; i < n; i++) {
		who[i] = f->reg[idx[i]];
		aps[i] = f->ap[idx[i]];
	}
	struct cert_input in = { .r = r, .enc = enc->data, .enc_len = enc->len, .approvers = who,
				 .approvals = aps, .n_approvals = n, .x = &f->x,
				 .scope = "whole dataset", .keys_destroyed = "0123 2027-01-15T08:03:21Z",
				 .method_type = "Clear", .verification = "full read-back: passed",
				 .media = "files of repository /x on ext4", .method = "random: random",
				 .appliance = "00ff", .issued = T0 + 300 };
	struct buf sig = { 0 };
	buf_reset(out);
	assert_int_equal(cert_build(&in, out), 0);
	assert_int_equal(pkey_sign(f->appliance, out->data, out->len, &sig), 0);
	assert_int_equal(cert_append_signature(out, sig.data, sig.len), 0);
	buf_fini(&sig);
}

static void expect(struct fix *f, const struct buf *c, const struct pkey *k, int want,
		   const char *why_has)
{
	struct cert_summary sum;
	char why[512] = "";
	int e = cert_verify(c->data, c->len, k != NULL ? k : f->appliance, &sum, why, sizeof why);
	if (e != want || (why_has != NULL && strstr(why, why_has) == NULL))
		fail_msg("verify: %d (want %d): %s (want '%s')", e, want, why, why_has ? why_has : "");
}

static const int all3[] = { 0, 1, 2 };

static void test_good(void **state)
{
	struct fix *f = *state;
	struct buf c = { 0 }, json = { 0 };
	struct cert_summary sum;
	char why[256];
	make(f, &f->r, &f->enc, all3, 3, &c);
	assert_int_equal(cert_verify(c.data, c.len, f->appliance, &sum, why, sizeof why), 0);
	assert_int_equal(sum.approvers, 2);
	assert_int_equal(sum.supervisors, 1);
	assert_string_equal(sum.dataset, "payroll");
	assert_string_equal(sum.finished, "2027-01-15T08:04:20Z");
	/* Free text stays on one line. */
	assert_non_null(strstr((char *)c.data, "\nlegal-basis Archives Law art. 19\\nsecond line \\\\ backslash\n"));
	assert_int_equal(cert_to_json(c.data, c.len, &json), 0);
	assert_non_null(strstr((char *)json.data, "\"approval\":[\""));
	assert_non_null(strstr((char *)json.data, "\"dataset\":\"payroll\""));
	buf_fini(&c);
	buf_fini(&json);
}

/* The PDF: well formed (every xref offset points at its object), one field a line. */
static void test_pdf(void **state)
{
	struct fix *f = *state;
	struct buf c = { 0 }, pdf = { 0 };
	make(f, &f->r, &f->enc, all3, 3, &c);
	assert_int_equal(cert_to_pdf(c.data, c.len, &pdf), 0);
	assert_int_equal(buf_put_u8(&pdf, 0), 0);
	const char *s = (const char *)pdf.data;
	assert_memory_equal(s, "%PDF-1.4\n", 9);
	assert_non_null(strstr(s, "(dataset payroll) Tj"));
	assert_non_null(strstr(s, "(legal-basis Archives Law art. 19\\\\nsecond line"));
	assert_non_null(strstr(s, " hex digits\\)) Tj")); /* the request, shortened */
	const char *sx = strstr(s, "startxref\n");
	assert_non_null(sx);
	size_t xref = strtoul(sx + 10, NULL, 10);
	assert_memory_equal(s + xref, "xref\n0 ", 7);
	unsigned count = (unsigned)strtoul(s + xref + 7, NULL, 10);
	const char *entry = strchr(s + xref + 5, '\n') + 1 + 20; /* past the free entry */
	for (unsigned i = 1; i < count; i++, entry += 20) {
		size_t off = strtoul(entry, NULL, 10);
		char want[32];
		snprintf(want, sizeof want, "%u 0 obj", i);
		assert_memory_equal(s + off, want, strlen(want));
	}
	assert_non_null(strstr(s, "%%EOF\n"));
	/* Refused like the text: not a certificate. */
	buf_reset(&pdf);
	assert_int_equal(cert_to_pdf((const uint8_t *)"nope\n", 5, &pdf), -EBADMSG);
	buf_fini(&c);
	buf_fini(&pdf);
}

static void test_lies(void **state)
{
	struct fix *f = *state;
	struct buf c = { 0 }, enc2 = { 0 };
	make(f, &f->r, &f->enc, all3, 3, &c);
	/* One byte changed anywhere before the signature. */
	for (size_t off = 40; off < c.len - 140; off += 97) {
		c.data[off] ^= 0x01;
		struct cert_summary sum;
		char why[512];
		if (cert_verify(c.data, c.len, f->appliance, &sum, why, sizeof why) == 0)
			fail_msg("a change at byte %zu verifies", off);
		c.data[off] ^= 0x01;
	}
	/* Another key. */
	expect(f, &c, f->other, -EPERM, "not the appliance key's");
	/* Signed, but the fields say another reason than the request carried. */
	struct erase_request lie = f->r;
	lie.reason = "a better reason";
	make(f, &lie, &f->enc, all3, 3, &c);
	expect(f, &c, NULL, -EPERM, "'reason' is not what the signed request says");
	/* Signed, carrying a request the approvals were not given for. */
	assert_int_equal(erase_request_encode(&lie, &enc2), 0);
	make(f, &lie, &enc2, all3, 3, &c);
	expect(f, &c, NULL, -EPERM, "does not verify");
	/* Too few, no supervisor, the requester's own. */
	static const int two[] = { 0, 2 }, nosup[] = { 0, 1 }, own[] = { 0, 3, 2 };
	make(f, &f->r, &f->enc, two, 2, &c);
	expect(f, &c, NULL, -EPERM, "do not make the quorum: 1 of 2");
	make(f, &f->r, &f->enc, nosup, 2, &c);
	expect(f, &c, NULL, -EPERM, "no supervisor");
	make(f, &f->r, &f->enc, own, 3, &c);
	expect(f, &c, NULL, -EPERM, "cannot approve their own request");
	/* bob's signature of another request presented as his approval of this one. */
	f->ap[0].sig = f->other_sig.data;
	f->ap[0].sig_len = f->other_sig.len;
	make(f, &f->r, &f->enc, all3, 3, &c);
	expect(f, &c, NULL, -EPERM, "another request");
	f->ap[0].sig = f->sig[0].data;
	f->ap[0].sig_len = f->sig[0].len;
	buf_fini(&c);
	buf_fini(&enc2);
}

static void test_format(void **state)
{
	struct fix *f = *state;
	struct buf c = { 0 }, bad = { 0 };
	char why[256];
	make(f, &f->r, &f->enc, all3, 3, &c);
	assert_int_equal(cert_check_format(c.data, c.len, why, sizeof why), 0);
	for (size_t n = 0; n < c.len; n += 7)
		if (cert_check_format(c.data, n, why, sizeof why) != -EBADMSG)
			fail_msg("a cut at %zu is accepted", n);
	/* Bytes after the signature. */
	buf_put(&bad, c.data, c.len);
	buf_put(&bad, "x y\n", 4);
	assert_int_equal(cert_check_format(bad.data, bad.len, why, sizeof why), -EBADMSG);
	assert_non_null(strstr(why, "after the signature"));
	/* A repeated key, a missing one, a CR, an unknown first line. */
	const char *line = strstr((char *)c.data, "\ntool ");
	size_t at = (size_t)(line - (char *)c.data) + 1;
	buf_reset(&bad);
	buf_put(&bad, c.data, at);
	buf_put(&bad, "tool again\n", 11);
	buf_put(&bad, c.data + at, c.len - at);
	assert_int_equal(cert_check_format(bad.data, bad.len, why, sizeof why), -EBADMSG);
	buf_reset(&bad);
	const char *next = strchr(line + 1, '\n');
	buf_put(&bad, c.data, at);
	buf_put(&bad, next + 1, c.len - (size_t)(next + 1 - (char *)c.data));
	assert_int_equal(cert_check_format(bad.data, bad.len, why, sizeof why), -EBADMSG);
	assert_non_null(strstr(why, "'tool' is missing"));
	buf_reset(&bad);
	buf_put(&bad, c.data, c.len);
	bad.data[at + 2] = '\r';
	assert_int_equal(cert_check_format(bad.data, bad.len, why, sizeof why), -EBADMSG);
	bad.data[at + 2] = 'o';
	bad.data[0] = 'C';
	assert_int_equal(cert_check_format(bad.data, bad.len, why, sizeof why), -EBADMSG);
	buf_fini(&c);
	buf_fini(&bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pdf, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
