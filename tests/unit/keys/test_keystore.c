/*
 * The keystore as a library: a wrong passphrase is refused and changes no
 * file; a truncated or altered root file is refused as damaged; with a 5/3
 * split every 3-subset of shares unlocks and every 2-subset is too few; a
 * corrupted share (header, x, share bytes, checksum) is refused and named,
 * as is a share of another keystore; key sets of both suites round-trip;
 * rotation keeps every key set readable while retiring the old passphrase,
 * the old shares and the old wrapped bytes; shredding leaves no byte of
 * the key set in any file, refuses it afterwards, records it, and spares
 * the other key sets; the records parser takes torn last lines and refuses
 * malformed ones.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/io.h"
#include "keys/keystore_int.h"
#include "util/buf.h"

#include "../testutil.h"

#define PASS "correct horse"
#define ID_A "0123456789abcdef0123456789abcdef"
#define ID_B "fedcba9876543210fedcba9876543210"

struct fix {
	char base[64], state[96], shares[96];
	struct keystore *ks;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof *f);
	struct keystore_init_opts o;
	assert_non_null(f);
	snprintf(f->base, sizeof f->base, "/tmp/coffer-ks.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->state, sizeof f->state, "%s/state", f->base);
	snprintf(f->shares, sizeof f->shares, "%s/shares", f->base);
	keystore_init_opts_default(&o);
	o.scrypt_n = 1024;
	assert_int_equal(keystore_init(f->state, PASS, strlen(PASS), &o), 0);
	assert_int_equal(keystore_open(f->state, &f->ks), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	keystore_close(f->ks);
	testutil_rm_tree(AT_FDCWD, f->base);
	free(f);
	return 0;
}

static void test_passphrase(void **state)
{
	struct fix *f = *state;
	struct buf before = { 0 };
	testutil_snapshot_tree(f->state, &before);
	assert_null(keystore_root(f->ks));
	testutil_stderr_begin();
	int e = keystore_unlock_passphrase(f->ks, "wrong", 5);
	const char *err = testutil_stderr_end();
	assert_int_equal(e, -EACCES);
	assert_non_null(strstr(err, "wrong passphrase"));
	assert_null(keystore_root(f->ks));
	testutil_assert_tree_unchanged(f->state, &before);
	assert_int_equal(keystore_unlock_passphrase(f->ks, PASS, strlen(PASS)), 0);
	assert_non_null(keystore_root(f->ks));
	buf_fini(&before);
}

static void test_damaged_root(void **state)
{
	struct fix *f = *state;
	char root[160], saved[160];
	struct keystore *ks;
	snprintf(root, sizeof root, "%s/keystore/root", f->state);
	snprintf(saved, sizeof saved, "%s/root.good", f->base);
	struct buf good = { 0 };
	assert_int_equal(io_read_file_at(AT_FDCWD, root, &good, 4096), 0);
	assert_int_equal(good.len, ROOT_FILE_LEN);
	/*
	 * Every byte flipped in turn: refused as damaged, never as a wrong
	 * passphrase; in the version or suite field, as a version or suite
	 * this program does not read (the checksum is the suite's hash).
	 */
	for (size_t off = 0; off < good.len; off += 7) {
		testutil_flip_byte(root, (off_t)off, 0x20);
		testutil_stderr_begin();
		int e = keystore_open(f->state, &ks);
		const char *err = testutil_stderr_end();
		assert_true(e == -EBADMSG || (off >= 8 && off < 16 && e == -ENOTSUP));
		if (e == -EBADMSG)
			assert_non_null(strstr(err, "is damaged"));
		testutil_flip_byte(root, (off_t)off, 0x20);
	}
	assert_int_equal(truncate(root, ROOT_FILE_LEN / 2), 0);
	testutil_stderr_begin();
	assert_int_equal(keystore_open(f->state, &ks), -EBADMSG);
	assert_non_null(strstr(testutil_stderr_end(), "truncated"));
	int fd = open(root, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, good.data, good.len), (ssize_t)good.len);
	close(fd);
	assert_int_equal(keystore_open(f->state, &ks), 0);
	keystore_close(ks);
	buf_fini(&good);
}

/* Paths of share files i (1-based) of the 5 in f->shares. */
static void share_path(const struct fix *f, unsigned i, char *out, size_t size)
{
	snprintf(out, size, "%s/share-%u-of-5", f->shares, i);
}

static void test_shares(void **state)
{
	struct fix *f = *state;
	char p[5][160];
	const char *files[3];
	assert_int_equal(keystore_split(f->ks, 5, 3, f->shares), -EPERM); /* locked */
	assert_int_equal(keystore_unlock_passphrase(f->ks, PASS, strlen(PASS)), 0);
	assert_int_equal(keystore_split(f->ks, 5, 3, f->shares), 0);
	for (unsigned i = 0; i < 5; i++)
		share_path(f, i + 1, p[i], sizeof p[i]);
	for (unsigned mask = 0; mask < 32; mask++) {
		unsigned k = (unsigned)__builtin_popcount(mask), n = 0;
		if (k != 3 && k != 2)
			continue;
		for (unsigned i = 0; i < 5; i++)
			if (mask & (1u << i))
				files[n++] = p[i];
		struct keystore *ks;
		assert_int_equal(keystore_open(f->state, &ks), 0);
		testutil_stderr_begin();
		int e = keystore_unlock_shares(ks, files, n);
		const char *err = testutil_stderr_end();
		if (k == 3) {
			assert_int_equal(e, 0);
			assert_memory_equal(keystore_root(ks), keystore_root(f->ks), CRYPTO_KEY_LEN);
		} else {
			assert_int_equal(e, -ERANGE);
			assert_non_null(strstr(err, "too few shares: 2 given, 3 needed"));
			assert_null(keystore_root(ks));
		}
		keystore_close(ks);
	}
}

static void test_bad_shares(void **state)
{
	struct fix *f = *state;
	char p[3][160];
	const char *files[3] = { p[0], p[1], p[2] };
	static const off_t regions[] = { 20, 70, 80, 110 }; /* id, x, share, checksum */
	assert_int_equal(keystore_unlock_passphrase(f->ks, PASS, strlen(PASS)), 0);
	assert_int_equal(keystore_split(f->ks, 5, 3, f->shares), 0);
	for (unsigned i = 0; i < 3; i++)
		share_path(f, i + 1, p[i], sizeof p[i]);
	for (size_t r = 0; r < sizeof regions / sizeof regions[0]; r++) {
		struct keystore *ks;
		assert_int_equal(keystore_open(f->state, &ks), 0);
		testutil_flip_byte(p[1], regions[r], 0x04);
		testutil_stderr_begin();
		int e = keystore_unlock_shares(ks, files, 3);
		const char *err = testutil_stderr_end();
		assert_int_equal(e, -EBADMSG);
		assert_non_null(strstr(err, p[1]));
		assert_non_null(strstr(err, "corrupted"));
		assert_null(keystore_root(ks));
		testutil_flip_byte(p[1], regions[r], 0x04);
		assert_int_equal(keystore_unlock_shares(ks, files, 3), 0);
		keystore_close(ks);
	}

	/* A share of another keystore is named as such. */
	char other[128], oshares[128], op[160];
	struct keystore_init_opts o;
	struct keystore *ks2;
	keystore_init_opts_default(&o);
	o.scrypt_n = 1024;
	snprintf(other, sizeof other, "%s/other", f->base);
	snprintf(oshares, sizeof oshares, "%s/oshares", f->base);
	assert_int_equal(keystore_init(other, PASS, strlen(PASS), &o), 0);
	assert_int_equal(keystore_open(other, &ks2), 0);
	assert_int_equal(keystore_unlock_passphrase(ks2, PASS, strlen(PASS)), 0);
	assert_int_equal(keystore_split(ks2, 5, 3, oshares), 0);
	keystore_close(ks2);
	snprintf(op, sizeof op, "%s/share-3-of-5", oshares);
	files[2] = op;
	assert_int_equal(keystore_open(f->state, &ks2), 0);
	testutil_stderr_begin();
	int e = keystore_unlock_shares(ks2, files, 3);
	const char *err = testutil_stderr_end();
	assert_int_equal(e, -EACCES);
	assert_non_null(strstr(err, "another keystore"));
	keystore_close(ks2);
}

static void make_keyset(struct keyset *k, uint32_t suite)
{
	assert_int_equal(keyset_generate(k, suite), 0);
	assert_int_equal(keyset_rotate(k), 0);
}

static void test_keysets_rotate(void **state)
{
	struct fix *f = *state;
	struct keyset *a = keyset_new(), *b = keyset_new(), *got = keyset_new();
	assert_int_equal(keystore_keyset_put(f->ks, ID_A, a), -EPERM); /* locked */
	assert_int_equal(keystore_unlock_passphrase(f->ks, PASS, strlen(PASS)), 0);
	make_keyset(a, SUITE_INTERNATIONAL);
	make_keyset(b, SUITE_NATIONAL);
	assert_int_equal(keystore_keyset_put(f->ks, ID_A, a), 0);
	assert_int_equal(keystore_keyset_put(f->ks, ID_B, b), 0);
	assert_int_equal(keystore_keyset_put(f->ks, ID_A, a), -EEXIST);
	assert_int_equal(keystore_keyset_get(f->ks, ID_B, got), 0);
	assert_memory_equal(got, b, sizeof *b);
	assert_int_equal(keystore_split(f->ks, 5, 3, f->shares), 0);

	char wrapped_path[160];
	struct buf old = { 0 };
	snprintf(wrapped_path, sizeof wrapped_path, "%s/keystore/keysets/%s", f->state, ID_A);
	assert_int_equal(io_read_file_at(AT_FDCWD, wrapped_path, &old, 1u << 16), 0);

	assert_int_equal(keystore_rotate(f->ks, "new pass", 8), 0);
	assert_int_equal(keystore_keyset_get(f->ks, ID_A, got), 0);
	assert_memory_equal(got, a, sizeof *a);
	assert_int_equal(keystore_keyset_get(f->ks, ID_B, got), 0);
	assert_memory_equal(got, b, sizeof *b);
	/* The old wrapping is gone from every file (its sealed part is unique). */
	assert_false(testutil_tree_contains(f->state, old.data + 56, 32));

	struct keystore *ks;
	assert_int_equal(keystore_open(f->state, &ks), 0);
	testutil_stderr_begin();
	assert_int_equal(keystore_unlock_passphrase(ks, PASS, strlen(PASS)), -EACCES);
	char p[3][160];
	const char *files[3] = { p[0], p[1], p[2] };
	for (unsigned i = 0; i < 3; i++)
		share_path(f, i + 1, p[i], sizeof p[i]);
	assert_true(keystore_unlock_shares(ks, files, 3) < 0);
	(void)testutil_stderr_end();
	assert_int_equal(keystore_unlock_passphrase(ks, "new pass", 8), 0);
	assert_int_equal(keystore_keyset_get(ks, ID_A, got), 0);
	assert_memory_equal(got, a, sizeof *a);
	keystore_close(ks);
	buf_fini(&old);
	keyset_free(a);
	keyset_free(b);
	keyset_free(got);
}

static void test_shred(void **state)
{
	struct fix *f = *state;
	struct keyset *a = keyset_new(), *b = keyset_new(), *got = keyset_new();
	unsigned remote = 99;
	assert_int_equal(keystore_unlock_passphrase(f->ks, PASS, strlen(PASS)), 0);
	make_keyset(a, SUITE_INTERNATIONAL);
	make_keyset(b, SUITE_INTERNATIONAL);
	assert_int_equal(keystore_keyset_put(f->ks, ID_A, a), 0);
	assert_int_equal(keystore_keyset_put(f->ks, ID_B, b), 0);
	char wrapped_path[160];
	struct buf wrapped = { 0 };
	snprintf(wrapped_path, sizeof wrapped_path, "%s/keystore/keysets/%s", f->state, ID_A);
	assert_int_equal(io_read_file_at(AT_FDCWD, wrapped_path, &wrapped, 1u << 16), 0);
	assert_int_equal(keystore_is_shredded(f->ks, ID_A, NULL), 0);

	/* Shredding needs no unlock. */
	struct keystore *locked;
	assert_int_equal(keystore_open(f->state, &locked), 0);
	assert_int_equal(keystore_shred(locked, ID_A, "test", &remote), 0);
	keystore_close(locked);
	assert_int_equal(remote, 0);

	assert_false(testutil_tree_contains(f->state, a->master, CRYPTO_KEY_LEN));
	assert_false(testutil_tree_contains(f->state, a->content[0], CRYPTO_KEY_LEN));
	assert_false(testutil_tree_contains(f->state, a->content[1], CRYPTO_KEY_LEN));
	assert_false(testutil_tree_contains(f->state, wrapped.data + 56, wrapped.len - 56));
	int64_t when = 0;
	assert_int_equal(keystore_is_shredded(f->ks, ID_A, &when), 1);
	assert_true(when > 0);
	testutil_stderr_begin();
	int e = keystore_keyset_get(f->ks, ID_A, got);
	const char *err = testutil_stderr_end();
	assert_int_equal(e, -EKEYREVOKED);
	assert_non_null(strstr(err, "crypto-shredded"));
	assert_int_equal(keystore_keyset_get(f->ks, ID_B, got), 0);
	assert_memory_equal(got, b, sizeof *b);
	/* Idempotent; an unknown dataset is refused. */
	assert_int_equal(keystore_shred(f->ks, ID_A, "again", NULL), 0);
	testutil_stderr_begin();
	assert_int_equal(keystore_shred(f->ks, "00000000000000000000000000000000", "x", NULL),
			 -ENOENT);
	(void)testutil_stderr_end();
	buf_fini(&wrapped);
	keyset_free(a);
	keyset_free(b);
	keyset_free(got);
}

static int count_records(const struct keystore_record *rec, void *arg)
{
	(void)rec;
	(*(int *)arg)++;
	return 0;
}

/*
 * A rotation that stops half-way (here: one key set file is damaged, so
 * re-wrapping fails after others were done) loses nothing: its journal
 * stays, the old passphrase still unlocks, and the unlock completes the
 * rotation once the file is repaired. Afterwards only the new passphrase
 * works and every key set reads back unchanged.
 */
static void test_rotation_resumes(void **state)
{
	struct fix *f = *state;
	enum { N = 6 };
	struct keyset *k[N], *got = keyset_new();
	char ids[N][DATASET_ID_LEN + 1];
	struct buf good = { 0 };
	assert_int_equal(keystore_unlock_passphrase(f->ks, PASS, strlen(PASS)), 0);
	for (int i = 0; i < N; i++) {
		k[i] = keyset_new();
		make_keyset(k[i], i % 2 ? SUITE_NATIONAL : SUITE_INTERNATIONAL);
		snprintf(ids[i], sizeof ids[i], "%02d23456789abcdef0123456789abcdef", i);
		assert_int_equal(keystore_keyset_put(f->ks, ids[i], k[i]), 0);
	}
	/* Damage the key set readdir lists last, so the others go first. */
	char dir[160], last[DATASET_ID_LEN + 1] = "";
	snprintf(dir, sizeof dir, "%s/keystore/keysets", f->state);
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strlen(de->d_name) == DATASET_ID_LEN)
			memcpy(last, de->d_name, DATASET_ID_LEN + 1);
	closedir(d);
	char victim[sizeof dir + sizeof last + 1];
	snprintf(victim, sizeof victim, "%s/%s", dir, last);
	assert_int_equal(io_read_file_at(AT_FDCWD, victim, &good, 1u << 16), 0);
	testutil_flip_byte(victim, 70, 0x01);

	testutil_stderr_begin();
	assert_int_not_equal(keystore_rotate(f->ks, "new pass", 8), 0);
	(void)testutil_stderr_end();
	keystore_close(f->ks);
	char journal[192];
	snprintf(journal, sizeof journal, "%s/keystore/rotating", f->state);
	assert_int_equal(access(journal, F_OK), 0);

	/* Still damaged: the unlock tries to finish and says it cannot. */
	assert_int_equal(keystore_open(f->state, &f->ks), 0);
	testutil_stderr_begin();
	assert_int_not_equal(keystore_unlock_passphrase(f->ks, PASS, strlen(PASS)), 0);
	assert_non_null(strstr(testutil_stderr_end(), "rotation"));
	keystore_close(f->ks);

	/* Repaired: the old passphrase unlocks and completes the rotation. */
	assert_int_equal(io_replace_file_at(AT_FDCWD, victim, good.data, good.len, 0600), 0);
	assert_int_equal(keystore_open(f->state, &f->ks), 0);
	testutil_stderr_begin();
	assert_int_equal(keystore_unlock_passphrase(f->ks, PASS, strlen(PASS)), 0);
	assert_non_null(strstr(testutil_stderr_end(), "interrupted rotation"));
	assert_int_equal(access(journal, F_OK), -1);
	for (int i = 0; i < N; i++) {
		assert_int_equal(keystore_keyset_get(f->ks, ids[i], got), 0);
		assert_memory_equal(got, k[i], sizeof *got);
	}
	keystore_close(f->ks);
	assert_int_equal(keystore_open(f->state, &f->ks), 0);
	testutil_stderr_begin();
	assert_int_equal(keystore_unlock_passphrase(f->ks, PASS, strlen(PASS)), -EACCES);
	(void)testutil_stderr_end();
	assert_int_equal(keystore_unlock_passphrase(f->ks, "new pass", 8), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(keystore_keyset_get(f->ks, ids[i], got), 0);
		assert_memory_equal(got, k[i], sizeof *got);
		keyset_free(k[i]);
	}
	buf_fini(&good);
	keyset_free(got);
}

/*
 * keystore_replace leaves the old or the new content at every moment and
 * overwrites the old bytes: after it, no file holds them.
 */
static void test_replace_overwrites_old(void **state)
{
	struct fix *f = *state;
	uint8_t old[300], new[200];
	char path[192];
	memset(old, 0x5a, sizeof old);
	for (size_t i = 0; i < sizeof old; i++)
		old[i] = (uint8_t)(i * 7 + 3);
	memset(new, 0xa5, sizeof new);
	assert_int_equal(keystore_replace(f->ks, "probe", old, sizeof old), 0);
	/* Another name holds the same inode: it sees the overwrite. */
	char probe[192];
	snprintf(probe, sizeof probe, "%s/keystore/probe", f->state);
	snprintf(path, sizeof path, "%s/held", f->base);
	assert_int_equal(link(probe, path), 0);
	assert_int_equal(keystore_replace(f->ks, "probe", new, sizeof new), 0);
	struct buf b = { 0 };
	assert_int_equal(io_read_file_at(AT_FDCWD, probe, &b, 4096), 0);
	assert_int_equal(b.len, sizeof new);
	assert_memory_equal(b.data, new, sizeof new);
	buf_reset(&b);
	assert_int_equal(io_read_file_at(AT_FDCWD, path, &b, 4096), 0);
	assert_int_equal(b.len, sizeof old);
	for (size_t i = 0; i < b.len; i++)
		assert_int_equal(b.data[i], 0);
	buf_fini(&b);
}

/*
 * Records: a torn last line is cut off before the next append, so the
 * file stays parseable; fields over their limits are refused, not
 * written.
 */
static void test_records_append(void **state)
{
	struct fix *f = *state;
	char path[192], big[KEYSTORE_DETAIL_MAX + 2];
	int n = 0;
	assert_int_equal(keystore_record(f->ks, "split", "-", "3 of 5"), 0);
	snprintf(path, sizeof path, "%s/keystore/records", f->state);
	int fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "123\tsh", 7), 7);
	close(fd);
	assert_int_equal(keystore_record(f->ks, "rotate", "-", "x"), 0);
	struct buf b = { 0 };
	assert_int_equal(keystore_records_read(f->ks, &b), 0);
	assert_int_equal(keystore_records_parse((const char *)b.data, b.len, count_records, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(b.data[b.len - 1], '\n');
	buf_fini(&b);
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = 0;
	assert_int_equal(keystore_record(f->ks, "shred", "-", big), -EINVAL);
	assert_int_equal(keystore_record(f->ks, "a-very-long-operation", "-", "x"), -EINVAL);
	assert_int_equal(keystore_record(f->ks, "", "-", "x"), -EINVAL);
	big[KEYSTORE_DETAIL_MAX] = 0;
	assert_int_equal(keystore_record(f->ks, "shred", "-", big), 0);
	n = 0;
	assert_int_equal(keystore_records_read(f->ks, &b), 0);
	assert_int_equal(keystore_records_parse((const char *)b.data, b.len, count_records, &n), 0);
	assert_int_equal(n, 3);
	buf_fini(&b);
}


static void test_records_parse(void **state)
{
	int n = 0;
	(void)state;
	const char ok[] = "1\tsplit\t-\t3 of 5\n2\tshred\tabc\t\n3\trotate\t-\tpart";
	assert_int_equal(keystore_records_parse(ok, strlen(ok), count_records, &n), 0);
	assert_int_equal(n, 2); /* the torn last line is not a record */
	static const char *const bad[] = {
		"x\tsplit\t-\td\n", "1\t\t-\td\n", "1\tsplit\td\n", "-5\tsplit\t-\td\n",
		"1\tsplit\t-\td\te\n", "1\tsplit\t\td\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(keystore_records_parse(bad[i], strlen(bad[i]), count_records, &n),
				 -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_passphrase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shares, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_shares, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keysets_rotate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_overwrites_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records_append, setup, teardown),
		cmocka_unit_test(test_records_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
