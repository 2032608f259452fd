/*
 * Repositories whose keys come from a key set (appliance mode) rather than
 * a key file: no key file is written; the wrong key set is refused before
 * anything is written; content-key generations are recorded per pack, so
 * data written before a rotation stays readable after it, and a key set
 * lacking a generation is refused for exactly those packs; a pack of one
 * repository does not open with another repository's keys. Each test runs
 * in both suites.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/keyset.h"
#include "repo/pack.h"
#include "repo/repo.h"
#include "util/buf.h"

#include "../testutil.h"

struct fix {
	char base[64];
	char dir[96], dir2[96];
	uint32_t suite;
	struct keyset *ks, *ks2;
	struct repo_init_opts o;
};

static int setup_suite(void **state, uint32_t suite)
{
	struct fix *f = calloc(1, sizeof *f);
	assert_non_null(f);
	snprintf(f->base, sizeof f->base, "/tmp/coffer-keyed.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->dir, sizeof f->dir, "%s/a", f->base);
	snprintf(f->dir2, sizeof f->dir2, "%s/b", f->base);
	f->suite = suite;
	f->ks = keyset_new();
	f->ks2 = keyset_new();
	assert_non_null(f->ks);
	assert_non_null(f->ks2);
	assert_int_equal(keyset_generate(f->ks, suite), 0);
	assert_int_equal(keyset_generate(f->ks2, suite), 0);
	repo_init_opts_default(&f->o);
	f->o.chunk_min = 4096;
	f->o.chunk_avg = 8192;
	f->o.chunk_max = 65536;
	assert_int_equal(repo_init_keyed(f->dir, f->ks, &f->o), 0);
	*state = f;
	return 0;
}

static int setup_intl(void **state)
{
	return setup_suite(state, SUITE_INTERNATIONAL);
}

static int setup_national(void **state)
{
	return setup_suite(state, SUITE_NATIONAL);
}

static int teardown(void **state)
{
	struct fix *f = *state;
	testutil_rm_tree(AT_FDCWD, f->base);
	keyset_free(f->ks);
	keyset_free(f->ks2);
	free(f);
	return 0;
}

/* Number of entries in dir (0 if absent). */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	if (d != NULL)
		closedir(d);
	return n;
}

static void save_flush(struct repo *r, const char *text, uint8_t id[32])
{
	bool added;
	assert_int_equal(repo_blob_save(r, BLOB_DATA, text, strlen(text), id, &added), 0);
	assert_true(added);
	assert_int_equal(repo_flush(r), 0);
}

static void assert_loads(struct repo *r, const uint8_t id[32], const char *text)
{
	struct buf b = { 0 };
	assert_int_equal(repo_blob_load(r, id, BLOB_DATA, &b), 0);
	assert_int_equal(b.len, strlen(text));
	assert_memory_equal(b.data, text, b.len);
	buf_fini(&b);
}

static void test_round_trip(void **state)
{
	struct fix *f = *state;
	char keys[128];
	snprintf(keys, sizeof keys, "%s/keys", f->dir);
	assert_int_equal(count_entries(keys), 0); /* no key file: keys live elsewhere */

	struct repo *r;
	uint8_t id[32];
	assert_int_equal(repo_open_keyed(f->dir, f->ks, &r), 0);
	assert_int_equal(suite_id(repo_suite(r)), f->suite);
	save_flush(r, "kept by the keystore", id);
	repo_close(r);

	assert_int_equal(repo_open_keyed(f->dir, f->ks, &r), 0);
	assert_int_equal(repo_load_index(r), 0);
	assert_loads(r, id, "kept by the keystore");
	repo_close(r);
}

static void test_wrong_keys(void **state)
{
	struct fix *f = *state;
	struct repo *r = NULL;
	int before = count_entries(f->dir);
	assert_int_equal(repo_open_keyed(f->dir, f->ks2, &r), -EACCES);
	assert_null(r);
	/* A passphrase opens nothing either: there is no key file. */
	assert_int_equal(repo_open(f->dir, "pw", 2, &r), -EACCES);
	assert_int_equal(count_entries(f->dir), before);
	char locks[128];
	snprintf(locks, sizeof locks, "%s/locks", f->dir);
	assert_int_equal(count_entries(locks), 0);
}

static void test_generations(void **state)
{
	struct fix *f = *state;
	struct repo *r;
	uint8_t id0[32], id1[32];
	struct blob_loc loc;

	assert_int_equal(repo_open_keyed(f->dir, f->ks, &r), 0);
	save_flush(r, "written under generation zero", id0);
	repo_close(r);

	struct keyset *old = keyset_new();
	assert_non_null(old);
	memcpy(old, f->ks, sizeof *old);
	assert_int_equal(keyset_rotate(f->ks), 0);
	assert_int_equal(f->ks->n_gens, 2);
	assert_memory_not_equal(f->ks->content[0], f->ks->content[1], CRYPTO_KEY_LEN);

	assert_int_equal(repo_open_keyed(f->dir, f->ks, &r), 0);
	assert_int_equal(repo_load_index(r), 0);
	save_flush(r, "written under generation one", id1);
	assert_true(index_lookup(repo_index(r), id0, &loc));
	assert_int_equal(index_pack_key_gen(repo_index(r), loc.pack_no), 0);
	assert_true(index_lookup(repo_index(r), id1, &loc));
	assert_int_equal(index_pack_key_gen(repo_index(r), loc.pack_no), 1);
	repo_close(r);

	/* After a reload both generations read, each with its own key. */
	assert_int_equal(repo_open_keyed(f->dir, f->ks, &r), 0);
	assert_int_equal(repo_load_index(r), 0);
	assert_loads(r, id0, "written under generation zero");
	assert_loads(r, id1, "written under generation one");
	repo_close(r);

	/* The key set from before the rotation lacks generation 1. */
	struct buf b = { 0 };
	assert_int_equal(repo_open_keyed(f->dir, old, &r), 0);
	assert_int_equal(repo_load_index(r), 0);
	assert_loads(r, id0, "written under generation zero");
	assert_int_equal(repo_blob_load(r, id1, BLOB_DATA, &b), -ENOKEY);
	buf_fini(&b);
	repo_close(r);
	keyset_free(old);
}

static void test_other_repository_keys(void **state)
{
	struct fix *f = *state;
	struct repo *ra, *rb;
	uint8_t id[32];
	struct blob_loc loc;
	char path[512], hex[65];

	assert_int_equal(repo_init_keyed(f->dir2, f->ks2, &f->o), 0);
	assert_int_equal(repo_open_keyed(f->dir, f->ks, &ra), 0);
	assert_int_equal(repo_open_keyed(f->dir2, f->ks2, &rb), 0);
	save_flush(ra, "only for dataset A", id);
	testutil_blob_place(ra, f->dir, id, path, sizeof path, hex, &loc);

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	uint8_t *file = malloc((size_t)st.st_size);
	assert_non_null(file);
	assert_int_equal(pread(fd, file, (size_t)st.st_size, 0), st.st_size);
	close(fd);

	uint32_t gen;
	struct blob_entry *ents = NULL;
	size_t n;
	/* A's own keys read the header; B's do not. */
	assert_int_equal(pack_read_header(repo_suite(ra), repo_meta_key(ra), file,
					  (size_t)st.st_size, &gen, &ents, &n), 0);
	free(ents);
	ents = NULL;
	assert_int_equal(pack_read_header(repo_suite(rb), repo_meta_key(rb), file,
					  (size_t)st.st_size, &gen, &ents, &n), -EBADMSG);
	assert_null(ents);
	/* Nor does B's data key open the blob itself. */
	struct buf b = { 0 };
	assert_int_equal(blob_open(repo_suite(rb), repo_data_key_gen(rb, 0, NULL), repo_id_key(rb),
				   &loc.e, file + loc.e.offset, loc.e.stored_len, &b), -EBADMSG);
	buf_fini(&b);
	free(file);
	repo_close(ra);
	repo_close(rb);
}

int main(void)
{
	const struct CMUnitTest intl[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup_intl, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_keys, setup_intl, teardown),
		cmocka_unit_test_setup_teardown(test_generations, setup_intl, teardown),
		cmocka_unit_test_setup_teardown(test_other_repository_keys, setup_intl, teardown),
	};
	const struct CMUnitTest national[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup_national, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_keys, setup_national, teardown),
		cmocka_unit_test_setup_teardown(test_generations, setup_national, teardown),
		cmocka_unit_test_setup_teardown(test_other_repository_keys, setup_national, teardown),
	};
	int failed = cmocka_run_group_tests_name("international", intl, NULL, NULL);
	return failed + cmocka_run_group_tests_name("national", national, NULL, NULL);
}
