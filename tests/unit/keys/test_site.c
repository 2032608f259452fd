/*
 * Site identity and key-set exports, in both suites: site keys are made
 * once and stay the same across reopening and root-key rotation; a key
 * set exported from site A for site B's wrapping key imports at B, given
 * A's signing key, as exactly the same key set; an export signed by
 * anyone else, made for another site, of the wrong suite, altered in any
 * byte or truncated is refused and changes nothing at the importer; an
 * export never replaces a file; shredding at A destroys an export still
 * on this machine and counts one that left; a key set shredded at B is
 * not brought back by an import.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/io.h"
#include "keys/keystore_int.h"
#include "keys/site.h"
#include "util/buf.h"

#include "../testutil.h"

#define PASS "correct horse"
#define ID_A "0123456789abcdef0123456789abcdef"

struct site {
	char state[128];
	struct keystore *ks;
};

struct fix {
	uint32_t suite;
	char base[64], export_path[128];
	struct site a, b, c;
	struct keyset *k;
};

static void site_open(struct fix *f, struct site *s, const char *name)
{
	struct keystore_init_opts o;
	keystore_init_opts_default(&o);
	o.suite = f->suite;
	o.scrypt_n = 1024;
	snprintf(s->state, sizeof s->state, "%s/%s", f->base, name);
	assert_int_equal(keystore_init(s->state, PASS, strlen(PASS), &o), 0);
	assert_int_equal(keystore_open(s->state, &s->ks), 0);
	assert_int_equal(keystore_unlock_passphrase(s->ks, PASS, strlen(PASS)), 0);
}

static int setup_suite(void **state, uint32_t suite)
{
	struct fix *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->suite = suite;
	snprintf(f->base, sizeof f->base, "/tmp/coffer-site.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->export_path, sizeof f->export_path, "%s/A.keys", f->base);
	site_open(f, &f->a, "a");
	site_open(f, &f->b, "b");
	site_open(f, &f->c, "c");
	f->k = keyset_new();
	assert_non_null(f->k);
	assert_int_equal(keyset_generate(f->k, suite), 0);
	assert_int_equal(keyset_rotate(f->k), 0);
	assert_int_equal(keystore_keyset_put(f->a.ks, ID_A, f->k), 0);
	*state = f;
	return 0;
}

static int setup_int(void **state) { return setup_suite(state, SUITE_INTERNATIONAL); }
static int setup_nat(void **state) { return setup_suite(state, SUITE_NATIONAL); }

static int teardown(void **state)
{
	struct fix *f = *state;
	keystore_close(f->a.ks);
	keystore_close(f->b.ks);
	keystore_close(f->c.ks);
	keyset_free(f->k);
	testutil_rm_tree(AT_FDCWD, f->base);
	free(f);
	return 0;
}

/* The site's public key of use, as another site would load it from PEM. */
static struct pkey *public_of(struct site *s, enum pkey_use use)
{
	struct pkey *sign = NULL, *wrap = NULL, *pub = NULL;
	struct buf pem = { 0 };
	assert_int_equal(keystore_site_keys(s->ks, &sign, &wrap), 0);
	assert_int_equal(pkey_public_pem(use == PKEY_SIGN ? sign : wrap, &pem), 0);
	assert_int_equal(pkey_from_public_pem(pem.data, pem.len, use, &pub), 0);
	assert_false(pkey_has_private(pub));
	pkey_free(sign);
	pkey_free(wrap);
	buf_fini(&pem);
	return pub;
}

static void fingerprint_of(struct site *s, enum pkey_use use, uint8_t out[32])
{
	struct pkey *k = public_of(s, use);
	assert_int_equal(pkey_fingerprint(k, out), 0);
	pkey_free(k);
}

/* Exports ID_A from a for b into f->export_path. */
static void export_a_to_b(struct fix *f)
{
	struct pkey *b_wrap = public_of(&f->b, PKEY_WRAP);
	assert_int_equal(keystore_keyset_export(f->a.ks, ID_A, b_wrap, f->export_path), 0);
	pkey_free(b_wrap);
}

static int import_at(struct site *s, const char *path, const struct pkey *sender)
{
	char id[DATASET_ID_LEN + 1] = "";
	testutil_stderr_begin();
	int e = keystore_keyset_import(s->ks, path, sender, id);
	(void)testutil_stderr_end();
	if (e == 0)
		assert_string_equal(id, ID_A);
	return e;
}

static void test_site_keys_stable(void **state)
{
	struct fix *f = *state;
	uint8_t sign1[32], wrap1[32], sign2[32], wrap2[32], other[32];
	struct pkey *k = NULL;

	fingerprint_of(&f->a, PKEY_SIGN, sign1);
	fingerprint_of(&f->a, PKEY_WRAP, wrap1);
	assert_memory_not_equal(sign1, wrap1, 32);
	fingerprint_of(&f->b, PKEY_SIGN, other);
	assert_memory_not_equal(sign1, other, 32);

	/* Reopened: the same keys. Locked: none. */
	keystore_close(f->a.ks);
	assert_int_equal(keystore_open(f->a.state, &f->a.ks), 0);
	assert_int_equal(keystore_site_keys(f->a.ks, &k, NULL), -EPERM);
	assert_int_equal(keystore_unlock_passphrase(f->a.ks, PASS, strlen(PASS)), 0);
	fingerprint_of(&f->a, PKEY_SIGN, sign2);
	fingerprint_of(&f->a, PKEY_WRAP, wrap2);
	assert_memory_equal(sign1, sign2, 32);
	assert_memory_equal(wrap1, wrap2, 32);

	/* Keys of the keystore's suite, each of its use. */
	struct pkey *s = NULL, *w = NULL;
	assert_int_equal(keystore_site_keys(f->a.ks, &s, &w), 0);
	assert_int_equal(pkey_suite(s), f->suite);
	assert_int_equal(pkey_suite(w), f->suite);
	assert_int_equal(pkey_use(s), PKEY_SIGN);
	assert_int_equal(pkey_use(w), PKEY_WRAP);
	assert_true(pkey_has_private(s));
	pkey_free(s);
	pkey_free(w);
}

static void test_export_import(void **state)
{
	struct fix *f = *state;
	struct keyset *got = keyset_new();
	struct pkey *a_sign = public_of(&f->a, PKEY_SIGN);
	struct stat st;

	export_a_to_b(f);
	assert_int_equal(stat(f->export_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* The export holds no key in the clear. */
	struct buf file = { 0 };
	assert_int_equal(io_read_file_at(AT_FDCWD, f->export_path, &file, 1u << 20), 0);
	for (size_t i = 0; i + CRYPTO_KEY_LEN <= file.len; i++) {
		assert_memory_not_equal(file.data + i, f->k->master, CRYPTO_KEY_LEN);
		assert_memory_not_equal(file.data + i, f->k->content[1], CRYPTO_KEY_LEN);
	}
	buf_fini(&file);

	assert_int_equal(import_at(&f->b, f->export_path, a_sign), 0);
	assert_int_equal(keystore_keyset_get(f->b.ks, ID_A, got), 0);
	assert_memory_equal(got, f->k, sizeof *got);
	/* A second import does not replace the key set. */
	assert_int_equal(import_at(&f->b, f->export_path, a_sign), -EEXIST);

	/* B's copy survives A's rotation of its root key and B's own. */
	assert_int_equal(keystore_rotate(f->b.ks, "new pass", 8), 0);
	keystore_close(f->b.ks);
	assert_int_equal(keystore_open(f->b.state, &f->b.ks), 0);
	assert_int_equal(keystore_unlock_passphrase(f->b.ks, "new pass", 8), 0);
	assert_int_equal(keystore_keyset_get(f->b.ks, ID_A, got), 0);
	assert_memory_equal(got, f->k, sizeof *got);

	pkey_free(a_sign);
	keyset_free(got);
}

static void test_rotation_keeps_identity(void **state)
{
	struct fix *f = *state;
	uint8_t before[32], after[32];
	struct buf old = { 0 };
	char site_path[192];

	fingerprint_of(&f->a, PKEY_WRAP, before);
	snprintf(site_path, sizeof site_path, "%s/keystore/site", f->a.state);
	assert_int_equal(io_read_file_at(AT_FDCWD, site_path, &old, 1u << 16), 0);
	assert_int_equal(keystore_rotate(f->a.ks, "new pass", 8), 0);
	fingerprint_of(&f->a, PKEY_WRAP, after);
	assert_memory_equal(before, after, 32);
	/* Re-sealed under the new root key: the old sealed bytes are gone. */
	assert_false(testutil_tree_contains(f->a.state, old.data + 24, old.len - 24));
	buf_fini(&old);

	/* An export made for the old wrapping key still imports: it is the same key. */
	struct pkey *a_wrap = public_of(&f->a, PKEY_WRAP), *b_sign = public_of(&f->b, PKEY_SIGN);
	struct keyset *k = keyset_new();
	assert_int_equal(keyset_generate(k, f->suite), 0);
	assert_int_equal(keystore_keyset_put(f->b.ks, ID_A, k), 0);
	assert_int_equal(keystore_keyset_export(f->b.ks, ID_A, a_wrap, f->export_path), 0);
	assert_int_equal(keystore_shred(f->a.ks, ID_A, "make room", NULL), 0);
	/* ...but not into a keystore that shredded that dataset. */
	assert_int_equal(import_at(&f->a, f->export_path, b_sign), -EKEYREVOKED);
	pkey_free(a_wrap);
	pkey_free(b_sign);
	keyset_free(k);
}

static void test_refusals(void **state)
{
	struct fix *f = *state;
	struct pkey *a_sign = public_of(&f->a, PKEY_SIGN), *b_sign = public_of(&f->b, PKEY_SIGN);
	struct pkey *b_wrap = public_of(&f->b, PKEY_WRAP), *foreign = NULL;
	struct buf before = { 0 }, file = { 0 };
	char path[192];

	/* Wrong kinds of recipient: a signing key, a key of the other suite. */
	testutil_stderr_begin();
	assert_int_equal(keystore_keyset_export(f->a.ks, ID_A, b_sign, f->export_path), -EINVAL);
	uint32_t other = f->suite == SUITE_INTERNATIONAL ? SUITE_NATIONAL : SUITE_INTERNATIONAL;
	assert_int_equal(pkey_generate(other, PKEY_WRAP, &foreign), 0);
	assert_int_equal(keystore_keyset_export(f->a.ks, ID_A, foreign, f->export_path), -EINVAL);
	const char *err = testutil_stderr_end();
	assert_non_null(strstr(err, "suite"));
	assert_int_equal(access(f->export_path, F_OK), -1);

	export_a_to_b(f);
	/* Never replaces a file. */
	testutil_stderr_begin();
	assert_int_equal(keystore_keyset_export(f->a.ks, ID_A, b_wrap, f->export_path), -EEXIST);
	(void)testutil_stderr_end();
	assert_int_equal(io_read_file_at(AT_FDCWD, f->export_path, &file, 1u << 20), 0);

	testutil_snapshot_tree(f->b.state, &before);
	/* Signed by someone else; made for another site; a signing key as sender. */
	assert_int_equal(import_at(&f->b, f->export_path, b_sign), -EACCES);
	assert_int_equal(import_at(&f->c, f->export_path, a_sign), -EACCES);
	assert_int_equal(import_at(&f->b, f->export_path, b_wrap), -EINVAL);
	/* Every byte altered, and every truncation, is refused. */
	snprintf(path, sizeof path, "%s/altered", f->base);
	for (size_t i = 0; i < file.len; i++) {
		file.data[i] ^= 0x20;
		assert_int_equal(io_replace_file_at(AT_FDCWD, path, file.data, file.len, 0600), 0);
		file.data[i] ^= 0x20;
		assert_int_not_equal(import_at(&f->b, path, a_sign), 0);
	}
	for (size_t n = 0; n < file.len; n += 7) {
		assert_int_equal(io_replace_file_at(AT_FDCWD, path, file.data, n, 0600), 0);
		assert_int_not_equal(import_at(&f->b, path, a_sign), 0);
	}
	assert_int_equal(buf_put_u8(&file, 0), 0);
	assert_int_equal(io_replace_file_at(AT_FDCWD, path, file.data, file.len, 0600), 0);
	assert_int_equal(import_at(&f->b, path, a_sign), -EBADMSG);
	testutil_assert_tree_unchanged(f->b.state, &before);

	pkey_free(a_sign);
	pkey_free(b_sign);
	pkey_free(b_wrap);
	pkey_free(foreign);
	buf_fini(&before);
	buf_fini(&file);
}

static void test_shred_finds_exports(void **state)
{
	struct fix *f = *state;
	char moved[192];
	unsigned remote = 99;

	export_a_to_b(f);
	snprintf(moved, sizeof moved, "%s/A.keys.2", f->base);
	assert_int_equal(rename(f->export_path, moved), 0);
	export_a_to_b(f); /* a second export, left where it was written */
	/* The moved one counts as gone: it is no longer where it was recorded. */
	assert_int_equal(keystore_shred(f->a.ks, ID_A, "test", &remote), 0);
	assert_int_equal(remote, 1);
	assert_int_equal(access(f->export_path, F_OK), -1);
	assert_int_equal(access(moved, F_OK), 0);
}

int main(void)
{
#define BOTH(t) cmocka_unit_test_setup_teardown(t, setup_int, teardown), \
		cmocka_unit_test_setup_teardown(t, setup_nat, teardown)
	const struct CMUnitTest tests[] = {
		BOTH(test_site_keys_stable),
		BOTH(test_export_import),
		BOTH(test_rotation_keeps_identity),
		BOTH(test_refusals),
		BOTH(test_shred_finds_exports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
