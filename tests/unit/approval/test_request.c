/*
 * The canonical encoding of destruction requests (approval/request.h,
 * docs/format/erase.md): round trips byte for byte, every rule refused
 * both when encoding and when parsing, every truncation and trailing
 * byte refused, and the statement's exact bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "approval/request.h"
#include "crypto/crypto.h"
#include "io/io.h"
#include "testutil.h"
#include "util/hex.h"

static char *snaps[] = { "1111aaaa", "2222bbbb", "3333cccc" };
static char *sites[] = { "site-a (this appliance)", "site-b" };

static struct erase_request sample(void)
{
	struct erase_request r = {
		.suite = SUITE_INTERNATIONAL, .created = 1800000000, .expires = 1800604800,
		.requester_uid = 1001, .requester = "alice", .dataset = "payroll",
		.dataset_id = "0123456789abcdef0123456789abcdef", .level = 2,
		.level_name = "sensitive", .scope = ERASE_SCOPE_SNAPSHOTS, .snapshots = snaps,
		.n_snapshots = 3, .repository = "/var/lib/coffer/pools/sensitive/payroll",
		.keyset_id = "0123456789abcdef0123456789abcdef", .sites = sites, .n_sites = 2,
		.reason = "retention ended", .legal_basis = "Archives Law art. 19",
		.approvals_needed = 2, .supervisor_needed = 1,
	};
	for (int i = 0; i < ERASE_ID_LEN; i++)
		r.id[i] = (uint8_t)(0xa0 + i);
	return r;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct erase_request r = sample(), back;
	struct buf b = { 0 }, again = { 0 };
	assert_int_equal(erase_request_encode(&r, &b), 0);
	assert_int_equal(erase_request_parse(b.data, b.len, &back), 0);
	assert_string_equal(back.dataset, "payroll");
	assert_string_equal(back.legal_basis, "Archives Law art. 19");
	assert_int_equal(back.n_snapshots, 3);
	assert_string_equal(back.snapshots[2], "3333cccc");
	assert_int_equal(back.n_sites, 2);
	assert_memory_equal(back.id, r.id, ERASE_ID_LEN);
	assert_int_equal(back.expires, 1800604800);
	assert_int_equal(erase_request_encode(&back, &again), 0);
	assert_int_equal(again.len, b.len);
	assert_memory_equal(again.data, b.data, b.len);
	erase_request_free(&back);

	/* A whole-dataset request has no snapshots. */
	r.scope = ERASE_SCOPE_DATASET;
	r.n_snapshots = 0;
	buf_reset(&b);
	assert_int_equal(erase_request_encode(&r, &b), 0);
	assert_int_equal(erase_request_parse(b.data, b.len, &back), 0);
	assert_int_equal(back.scope, ERASE_SCOPE_DATASET);
	erase_request_free(&back);
	buf_fini(&b);
	buf_fini(&again);
}

static void test_rules(void **state)
{
	(void)state;
	char *unsorted[] = { "2222", "1111" }, *dup[] = { "1111", "1111" };
	char longtext[ERASE_TEXT_MAX + 2];
	memset(longtext, 'x', sizeof longtext - 1);
	longtext[sizeof longtext - 1] = 0;
	for (int i = 0; i < 12; i++) {
		struct erase_request r = sample();
		switch (i) {
		case 0: r.expires = r.created; break;
		case 1: r.scope = ERASE_SCOPE_DATASET; break;            /* with snapshots */
		case 2: r.n_snapshots = 0; break;                        /* scope 2, none */
		case 3: r.snapshots = unsorted; r.n_snapshots = 2; break;
		case 4: r.snapshots = dup; r.n_snapshots = 2; break;
		case 5: r.repository = "relative/path"; break;
		case 6: r.n_sites = 0; break;
		case 7: r.reason = ""; break;
		case 8: r.legal_basis = longtext; break;
		case 9: r.approvals_needed = 0; break;
		case 10: r.supervisor_needed = 0; break;
		case 11: r.suite = 99; break;
		}
		struct buf b = { 0 };
		testutil_stderr_begin();
		int e = erase_request_encode(&r, &b);
		const char *said = testutil_stderr_end();
		if (e != -EINVAL)
			fail_msg("case %d encoded", i);
		assert_int_equal(b.len, 0);
		assert_non_null(strstr(said, "cannot be encoded"));
		buf_fini(&b);
	}
}

/* Every prefix and every extension is refused; a newer version says so. */
static void test_strict_parse(void **state)
{
	(void)state;
	struct erase_request r = sample(), back;
	struct buf b = { 0 };
	assert_int_equal(erase_request_encode(&r, &b), 0);
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(erase_request_parse(b.data, n, &back), -EBADMSG);
	assert_int_equal(buf_put_u8(&b, 0), 0);
	assert_int_equal(erase_request_parse(b.data, b.len, &back), -EBADMSG);
	b.len--;
	b.data[8] = 2; /* version */
	assert_int_equal(erase_request_parse(b.data, b.len, &back), -ENOTSUP);
	b.data[8] = 1;
	b.data[0] ^= 1; /* magic */
	assert_int_equal(erase_request_parse(b.data, b.len, &back), -EBADMSG);
	b.data[0] ^= 1;
	/* A rule broken inside a well-formed encoding: the last byte, supervisor_needed. */
	b.data[b.len - 1] = 0;
	assert_int_equal(erase_request_parse(b.data, b.len, &back), -EBADMSG);
	buf_fini(&b);
}

static void test_statement(void **state)
{
	(void)state;
	struct erase_request r = sample();
	struct buf b = { 0 }, st = { 0 };
	uint8_t d[32], d2[32];
	char idhex[33], dhex[65], want[160];
	assert_int_equal(erase_request_encode(&r, &b), 0);
	assert_int_equal(erase_request_digest(r.suite, b.data, b.len, d), 0);
	/* The digest is the suite's hash of the encoding (SHA-256 here). */
	assert_int_equal(suite_hash(suite_by_id(SUITE_INTERNATIONAL), b.data, b.len, d2), 0);
	assert_memory_equal(d, d2, 32);
	assert_int_equal(erase_request_digest(SUITE_NATIONAL, b.data, b.len, d2), 0);
	assert_memory_not_equal(d, d2, 32);
	assert_int_equal(erase_statement(r.id, d, &st), 0);
	erase_id_hex(r.id, idhex);
	assert_string_equal(idhex, "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
	hex_encode(d, 32, dhex);
	snprintf(want, sizeof want, "coffer erase approval v1\nrequest %s\ndigest %s\n", idhex,
		 dhex);
	assert_int_equal(st.len, strlen(want));
	assert_memory_equal(st.data, want, st.len);

	uint8_t id[ERASE_ID_LEN];
	assert_int_equal(erase_id_parse(idhex, id), 0);
	assert_memory_equal(id, r.id, ERASE_ID_LEN);
	assert_int_equal(erase_id_parse("a0a1", id), -EINVAL);
	assert_int_equal(erase_id_parse("z0a1a2a3a4a5a6a7a8a9aaabacadaeaf", id), -EINVAL);
	buf_fini(&b);
	buf_fini(&st);
}

/*
 * The fuzz corpus's seeds were written by a script from the format's
 * description alone, not by this code: the parser must agree with the
 * document.
 */
static void test_spec_seeds(void **state)
{
	(void)state;
	struct buf b = { 0 };
	struct erase_request r;
	assert_int_equal(io_read_file_at(AT_FDCWD, COFFER_SRC_DIR
					 "/tests/fuzz/corpus/fuzz_approval_request/dataset", &b,
					 1 << 16), 0);
	assert_int_equal(erase_request_parse(b.data, b.len, &r), 0);
	assert_int_equal(r.scope, ERASE_SCOPE_DATASET);
	assert_string_equal(r.requester, "alice");
	assert_string_equal(r.sites[0], "this appliance");
	erase_request_free(&r);
	buf_reset(&b);
	assert_int_equal(io_read_file_at(AT_FDCWD, COFFER_SRC_DIR
					 "/tests/fuzz/corpus/fuzz_approval_request/snapshots", &b,
					 1 << 16), 0);
	assert_int_equal(erase_request_parse(b.data, b.len, &r), 0);
	assert_int_equal(r.suite, SUITE_NATIONAL);
	assert_int_equal(r.n_snapshots, 2);
	assert_int_equal(r.approvals_needed, 3);
	erase_request_free(&r);
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_strict_parse),
		cmocka_unit_test(test_statement),
		cmocka_unit_test(test_spec_seeds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
