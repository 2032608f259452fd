/*
 * The local store's cache of open packs for ranged reads: reads stay
 * correct across evictions and from several threads at once, the number of
 * descriptors stays bounded, and a removed pack is really gone (no read
 * served from a descriptor kept open past its removal). Runs on whichever
 * I/O engine the process picks (COFFER_IO_ENGINE chooses in ctest).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"
#include "testutil.h"

#define NPACKS 100
#define PACK_SIZE 4000

struct fixture {
	char dir[64];
	struct store *s;
	char names[NPACKS][65];
};

static uint8_t byte_at(int pack, size_t off)
{
	return (uint8_t)(pack * 131 + off * 7 + (off >> 8));
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/coffer-fdc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	(void)rmdir(f->dir);
	assert_int_equal(store_local_open(f->dir, 1, &f->s), 0);
	uint8_t data[PACK_SIZE];
	for (int p = 0; p < NPACKS; p++) {
		snprintf(f->names[p], sizeof f->names[p], "%02x%062d", p, p);
		for (size_t i = 0; i < PACK_SIZE; i++)
			data[i] = byte_at(p, i);
		assert_int_equal(store_put(f->s, STORE_PACK, f->names[p], data, PACK_SIZE), 0);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	testutil_rm_tree(AT_FDCWD, f->dir);
	free(f);
	return 0;
}

static int check_range(struct fixture *f, int p, size_t off, size_t len)
{
	uint8_t got[PACK_SIZE];
	int e = store_get_range(f->s, STORE_PACK, f->names[p], off, len, got);
	if (e != 0)
		return e;
	for (size_t i = 0; i < len; i++)
		if (got[i] != byte_at(p, off + i))
			return -EBADMSG;
	return 0;
}

/* More packs than the cache holds, read round and round. */
static void test_evictions(void **state)
{
	struct fixture *f = *state;
	int before = testutil_open_fds();
	for (int round = 0; round < 3; round++)
		for (int p = 0; p < NPACKS; p++)
			assert_int_equal(check_range(f, p, (size_t)(p * 13 + round) % 3000, 900), 0);
	int after = testutil_open_fds();
	assert_true(before > 0);
	assert_true(after > before);         /* something is cached... */
	assert_true(after - before <= 64);   /* ...but bounded */
	/* Ranges past the end are errors even with the pack open. */
	uint8_t b[16];
	assert_int_equal(store_get_range(f->s, STORE_PACK, f->names[5], PACK_SIZE - 8, 16, b),
			 -EIO);
	assert_int_equal(store_get_range(f->s, STORE_PACK, f->names[5], PACK_SIZE + 1, 0, b),
			 -EIO);
	assert_int_equal(store_get_range(f->s, STORE_PACK, f->names[5], PACK_SIZE, 0, b), 0);
}

/* A low descriptor limit shrinks the cache, leaving room for others. */
static void test_low_fd_limit(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	int before = testutil_open_fds();
	for (int p = 0; p < NPACKS; p++)
		assert_int_equal(check_range(f, p, 10, 100), 0);
	int after = testutil_open_fds();
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_true(after - before <= 4);
}

/* A removed pack cannot be read, though it was open a moment ago. */
static void test_remove_invalidates(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(check_range(f, 7, 0, 100), 0);
	assert_int_equal(store_remove(f->s, STORE_PACK, f->names[7]), 0);
	assert_int_equal(check_range(f, 7, 0, 100), -ENOENT);
	/* Written again under the same name with other content: the new one. */
	uint8_t data[PACK_SIZE];
	for (size_t i = 0; i < PACK_SIZE; i++)
		data[i] = byte_at(8, i);
	assert_int_equal(store_put(f->s, STORE_PACK, f->names[7], data, PACK_SIZE), 0);
	uint8_t got[100];
	assert_int_equal(store_get_range(f->s, STORE_PACK, f->names[7], 0, 100, got), 0);
	assert_memory_equal(got, data, 100);
}

struct thr {
	struct fixture *f;
	int seed, bad;
};

static void *reader(void *arg)
{
	struct thr *t = arg;
	uint32_t x = (uint32_t)t->seed * 2654435761u + 1;
	for (int i = 0; i < 3000; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		int p = (int)(x % NPACKS);
		size_t off = (x >> 8) % 3000;
		if (check_range(t->f, p, off, 1000) != 0)
			t->bad++;
	}
	return NULL;
}

/* Threads evicting each other's packs never read the wrong bytes. */
static void test_threads(void **state)
{
	struct fixture *f = *state;
	struct thr t[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thr){ .f = f, .seed = i + 1 };
		assert_int_equal(pthread_create(&th[i], NULL, reader, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].bad, 0);
	}
}

/* With a destroyer set, removal hands the file to it (it unlinks), and only then. */
struct seen {
	int calls;
	char last[65];
	off_t size;
};

static int destroyer(void *arg, int dirfd, const char *name)
{
	struct seen *sn = arg;
	struct stat st;
	sn->calls++;
	snprintf(sn->last, sizeof sn->last, "%s", name);
	sn->size = fstatat(dirfd, name, &st, 0) == 0 ? st.st_size : -1;
	return unlinkat(dirfd, name, 0) == 0 ? 0 : -errno;
}

static void test_destroyer(void **state)
{
	struct fixture *f = *state;
	struct seen sn = { 0 };
	uint64_t size;
	store_set_destroyer(f->s, destroyer, &sn);
	assert_int_equal(store_remove(f->s, STORE_PACK, f->names[3]), 0);
	assert_int_equal(sn.calls, 1);
	assert_string_equal(sn.last, f->names[3]);
	assert_int_equal(sn.size, PACK_SIZE);
	assert_int_equal(store_size(f->s, STORE_PACK, f->names[3], &size), -ENOENT);
	store_set_destroyer(f->s, NULL, NULL);
	assert_int_equal(store_remove(f->s, STORE_PACK, f->names[4]), 0);
	assert_int_equal(sn.calls, 1);
	assert_int_equal(store_size(f->s, STORE_PACK, f->names[4], &size), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_evictions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_low_fd_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_invalidates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroyer, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
