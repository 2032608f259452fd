/*
 * Store conformance suite. Every test in the first group runs against every
 * backend through its setup function, so the backends cannot drift apart;
 * the second group checks what only the local store has (the on-disk
 * layout, the temp-file protocol, create/open rules).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

#include "testutil.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define PACK7F "7f23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct fixture {
	struct store *s;
	char base[256];  /* temp directory, local backend only */
	char dir[300];   /* the store directory inside it */
	int local;
};

static int setup_mem(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(store_mem_new(&f->s), 0);
	*state = f;
	return 0;
}

static int setup_local(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	const char *t = getenv("TMPDIR");
	snprintf(f->base, sizeof f->base, "%s/coffer-store-XXXXXX", t ? t : "/tmp");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->dir, sizeof f->dir, "%s/repo", f->base);
	assert_int_equal(store_local_open(f->dir, 1, &f->s), 0);
	f->local = 1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	if (f->local)
		testutil_rm_tree(AT_FDCWD, f->base);
	free(f);
	return 0;
}

/* Collects list results. */
struct seen {
	size_t n;
	char names[32][65];
	uint64_t sizes[32];
	int stop_after; /* 0: never stop */
	int stop_code;
};

static int collect(const char *name, uint64_t size, void *arg)
{
	struct seen *s = arg;
	assert_true(s->n < 32);
	assert_true(strlen(name) <= 64);
	strcpy(s->names[s->n], name);
	s->sizes[s->n] = size;
	s->n++;
	if (s->stop_after && (int)s->n == s->stop_after)
		return s->stop_code;
	return 0;
}

/* Size listed for name, or -1 if it was not listed (exactly once). */
static long long seen_size(const struct seen *s, const char *name)
{
	long long r = -1;
	int hits = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->names[i], name) == 0) {
			r = (long long)s->sizes[i];
			hits++;
		}
	}
	assert_true(hits <= 1);
	return r;
}

static void test_put_get(void **state)
{
	struct fixture *f = *state;
	struct buf b = { 0 };
	uint64_t sz = 0;
	const char msg[] = "hello, store";

	assert_int_equal(store_put(f->s, STORE_SNAPSHOT, "abc123", msg, sizeof msg), 0);
	assert_int_equal(store_get(f->s, STORE_SNAPSHOT, "abc123", &b), 0);
	assert_int_equal(b.len, sizeof msg);
	assert_memory_equal(b.data, msg, sizeof msg);
	/* get appends */
	assert_int_equal(store_get(f->s, STORE_SNAPSHOT, "abc123", &b), 0);
	assert_int_equal(b.len, 2 * sizeof msg);
	assert_memory_equal(b.data + sizeof msg, msg, sizeof msg);
	assert_int_equal(store_size(f->s, STORE_SNAPSHOT, "abc123", &sz), 0);
	assert_int_equal(sz, sizeof msg);
	/* same name, other kind: a different object */
	assert_int_equal(store_size(f->s, STORE_INDEX, "abc123", &sz), -ENOENT);
	buf_fini(&b);
}

static void test_empty_object(void **state)
{
	struct fixture *f = *state;
	struct buf b = { 0 };
	uint64_t sz = 1;

	assert_int_equal(store_put(f->s, STORE_LOCK, "0", NULL, 0), 0);
	assert_int_equal(store_get(f->s, STORE_LOCK, "0", &b), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(store_size(f->s, STORE_LOCK, "0", &sz), 0);
	assert_int_equal(sz, 0);
	assert_int_equal(store_get_range(f->s, STORE_LOCK, "0", 0, 0, NULL), 0);
	buf_fini(&b);
}

static void test_large_pack(void **state)
{
	struct fixture *f = *state;
	size_t n = 3u << 20;
	uint8_t *p = malloc(n), out[100];
	struct buf b = { 0 };
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + (i >> 11));
	assert_int_equal(store_put(f->s, STORE_PACK, HEX64, p, n), 0);
	assert_int_equal(store_get(f->s, STORE_PACK, HEX64, &b), 0);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, p, n);
	assert_int_equal(store_get_range(f->s, STORE_PACK, HEX64, n - 100, 100, out), 0);
	assert_memory_equal(out, p + n - 100, 100);
	assert_int_equal(store_get_range(f->s, STORE_PACK, HEX64, 12345, 100, out), 0);
	assert_memory_equal(out, p + 12345, 100);
	buf_fini(&b);
	free(p);
}

static void test_get_range(void **state)
{
	struct fixture *f = *state;
	uint8_t out[16];
	const char data[] = "0123456789";

	assert_int_equal(store_put(f->s, STORE_INDEX, "ff", data, 10), 0);
	assert_int_equal(store_get_range(f->s, STORE_INDEX, "ff", 3, 4, out), 0);
	assert_memory_equal(out, "3456", 4);
	assert_int_equal(store_get_range(f->s, STORE_INDEX, "ff", 0, 10, out), 0);
	assert_memory_equal(out, data, 10);
	assert_int_equal(store_get_range(f->s, STORE_INDEX, "ff", 10, 0, out), 0);
	/* past the end, straddling the end, and offsets that overflow */
	assert_int_equal(store_get_range(f->s, STORE_INDEX, "ff", 7, 4, out), -EIO);
	assert_int_equal(store_get_range(f->s, STORE_INDEX, "ff", 0, 11, out), -EIO);
	assert_int_equal(store_get_range(f->s, STORE_INDEX, "ff", 11, 0, out), -EIO);
	assert_int_equal(store_get_range(f->s, STORE_INDEX, "ff", 100, 1, out), -EIO);
	assert_int_equal(store_get_range(f->s, STORE_INDEX, "ff", UINT64_MAX, 2, out), -EIO);
	assert_int_equal(store_get_range(f->s, STORE_INDEX, "ff",
					 UINT64_MAX - 3, 8, out), -EIO);
}

static void test_write_once(void **state)
{
	struct fixture *f = *state;
	struct buf b = { 0 };

	assert_int_equal(store_put(f->s, STORE_KEY, "aa", "first", 5), 0);
	assert_int_equal(store_put(f->s, STORE_KEY, "aa", "second!", 7), -EEXIST);
	assert_int_equal(store_put(f->s, STORE_KEY, "aa", "first", 5), -EEXIST);
	assert_int_equal(store_get(f->s, STORE_KEY, "aa", &b), 0);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "first", 5);
	assert_int_equal(store_put(f->s, STORE_CONFIG, "config", "c1", 2), 0);
	assert_int_equal(store_put(f->s, STORE_CONFIG, "config", "c2", 2), -EEXIST);
	buf_fini(&b);
}

static void test_missing(void **state)
{
	struct fixture *f = *state;
	struct buf b = { 0 };
	uint64_t sz = 77;
	uint8_t out[4];

	for (enum store_kind k = STORE_KEY; k <= STORE_LOCK; k++) {
		assert_int_equal(store_get(f->s, k, "dead", &b), -ENOENT);
		assert_int_equal(store_size(f->s, k, "dead", &sz), -ENOENT);
		assert_int_equal(store_remove(f->s, k, "dead"), -ENOENT);
		assert_int_equal(store_get_range(f->s, k, "dead", 0, 1, out), -ENOENT);
	}
	assert_int_equal(store_get(f->s, STORE_CONFIG, "config", &b), -ENOENT);
	assert_int_equal(b.len, 0);
	assert_int_equal(sz, 77);
}

static void test_remove(void **state)
{
	struct fixture *f = *state;
	struct buf b = { 0 };
	uint64_t sz;

	assert_int_equal(store_put(f->s, STORE_LOCK, "1234", "x", 1), 0);
	assert_int_equal(store_put(f->s, STORE_PACK, "12ab34", "y", 1), 0);
	assert_int_equal(store_remove(f->s, STORE_LOCK, "1234"), 0);
	assert_int_equal(store_get(f->s, STORE_LOCK, "1234", &b), -ENOENT);
	assert_int_equal(store_size(f->s, STORE_LOCK, "1234", &sz), -ENOENT);
	assert_int_equal(store_remove(f->s, STORE_LOCK, "1234"), -ENOENT);
	assert_int_equal(store_remove(f->s, STORE_PACK, "12ab34"), 0);
	assert_int_equal(store_size(f->s, STORE_PACK, "12ab34", &sz), -ENOENT);
	/* the name is free again */
	assert_int_equal(store_put(f->s, STORE_LOCK, "1234", "zz", 2), 0);
	assert_int_equal(store_size(f->s, STORE_LOCK, "1234", &sz), 0);
	assert_int_equal(sz, 2);
	buf_fini(&b);
}

static void test_invalid_names(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"", "AB", "aB", "..", ".", "a/b", "ab/cd", "../ab", "0x12", "g0",
		"ab ", "config",
		HEX64 "0", /* 65 digits */
	};
	struct buf b = { 0 };
	uint64_t sz;
	uint8_t out[1];

	for (enum store_kind k = STORE_KEY; k <= STORE_LOCK; k++) {
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			assert_int_equal(store_put(f->s, k, bad[i], "x", 1), -EINVAL);
			assert_int_equal(store_get(f->s, k, bad[i], &b), -EINVAL);
			assert_int_equal(store_get_range(f->s, k, bad[i], 0, 1, out), -EINVAL);
			assert_int_equal(store_size(f->s, k, bad[i], &sz), -EINVAL);
			assert_int_equal(store_remove(f->s, k, bad[i]), -EINVAL);
		}
		/* the longest valid name */
		assert_int_equal(store_put(f->s, k, HEX64, "x", 1), 0);
	}
	/* config is the only config name */
	assert_int_equal(store_put(f->s, STORE_CONFIG, "abcd", "x", 1), -EINVAL);
	assert_int_equal(store_put(f->s, STORE_CONFIG, "CONFIG", "x", 1), -EINVAL);
	assert_int_equal(store_put(f->s, STORE_CONFIG, "config/", "x", 1), -EINVAL);
	/* packs need two digits for their fan-out directory */
	assert_int_equal(store_put(f->s, STORE_PACK, "a", "x", 1), -EINVAL);
	assert_int_equal(store_put(f->s, STORE_KEY, "a", "x", 1), 0);
	/* bad kinds */
	assert_int_equal(store_put(f->s, (enum store_kind)99, "aa", "x", 1), -EINVAL);
	assert_int_equal(store_list(f->s, (enum store_kind)99, collect, NULL), -EINVAL);
	assert_int_equal(b.len, 0);
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	struct seen s;
	char name[8];

	/* nothing yet */
	for (enum store_kind k = STORE_CONFIG; k <= STORE_LOCK; k++) {
		memset(&s, 0, sizeof s);
		assert_int_equal(store_list(f->s, k, collect, &s), 0);
		assert_int_equal(s.n, 0);
	}
	assert_int_equal(store_put(f->s, STORE_CONFIG, "config", "cfg", 3), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof name, "%02x%d", i * 51, i);
		assert_int_equal(store_put(f->s, STORE_PACK, name, HEX64, (size_t)(10 + i)), 0);
	}
	assert_int_equal(store_put(f->s, STORE_INDEX, "a1", "index", 5), 0);
	assert_int_equal(store_put(f->s, STORE_INDEX, "a2", "", 0), 0);
	assert_int_equal(store_put(f->s, STORE_SNAPSHOT, "a1", "snap", 4), 0);

	memset(&s, 0, sizeof s);
	assert_int_equal(store_list(f->s, STORE_PACK, collect, &s), 0);
	assert_int_equal(s.n, 5);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof name, "%02x%d", i * 51, i);
		assert_int_equal(seen_size(&s, name), 10 + i);
	}
	memset(&s, 0, sizeof s);
	assert_int_equal(store_list(f->s, STORE_INDEX, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(seen_size(&s, "a1"), 5);
	assert_int_equal(seen_size(&s, "a2"), 0);
	memset(&s, 0, sizeof s);
	assert_int_equal(store_list(f->s, STORE_SNAPSHOT, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(seen_size(&s, "a1"), 4);
	memset(&s, 0, sizeof s);
	assert_int_equal(store_list(f->s, STORE_CONFIG, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(seen_size(&s, "config"), 3);
	memset(&s, 0, sizeof s);
	assert_int_equal(store_list(f->s, STORE_KEY, collect, &s), 0);
	assert_int_equal(s.n, 0);
	memset(&s, 0, sizeof s);
	assert_int_equal(store_list(f->s, STORE_LOCK, collect, &s), 0);
	assert_int_equal(s.n, 0);
}

static void test_list_stop(void **state)
{
	struct fixture *f = *state;
	struct seen s;
	char name[8];

	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof name, "%x", i);
		assert_int_equal(store_put(f->s, STORE_LOCK, name, "l", 1), 0);
	}
	memset(&s, 0, sizeof s);
	s.stop_after = 2;
	s.stop_code = 42;
	assert_int_equal(store_list(f->s, STORE_LOCK, collect, &s), 42);
	assert_int_equal(s.n, 2);
	memset(&s, 0, sizeof s);
	s.stop_after = 1;
	s.stop_code = -ECANCELED;
	assert_int_equal(store_list(f->s, STORE_LOCK, collect, &s), -ECANCELED);
	assert_int_equal(s.n, 1);
}

struct remover {
	struct store *s;
	int n;
};

static int remove_cb(const char *name, uint64_t size, void *arg)
{
	struct remover *r = arg;
	(void)size;
	r->n++;
	return store_remove(r->s, STORE_LOCK, name);
}

/* Removing stale locks while listing them is a normal thing to do. */
static void test_list_remove(void **state)
{
	struct fixture *f = *state;
	struct remover r = { f->s, 0 };
	struct seen s;
	char name[8];

	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof name, "%x", i);
		assert_int_equal(store_put(f->s, STORE_LOCK, name, "l", 1), 0);
	}
	assert_int_equal(store_list(f->s, STORE_LOCK, remove_cb, &r), 0);
	assert_int_equal(r.n, 20);
	memset(&s, 0, sizeof s);
	assert_int_equal(store_list(f->s, STORE_LOCK, collect, &s), 0);
	assert_int_equal(s.n, 0);
}

/* ---- local backend only ---- */

static void put_file(const char *dir, const char *rel, const char *content)
{
	char path[600];
	int n = snprintf(path, sizeof path, "%s/%s", dir, rel);
	assert_true(n > 0 && (size_t)n < sizeof path);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(content, fp);
	fclose(fp);
}

static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void test_local_junk_not_listed(void **state)
{
	struct fixture *f = *state;
	struct seen s;
	char path[600];

	assert_int_equal(store_put(f->s, STORE_INDEX, "beef", "i", 1), 0);
	put_file(f->dir, "tmp/123-4-5.tmp", "stray");
	put_file(f->dir, "tmp/abcd", "stray");
	put_file(f->dir, "index/README", "junk");
	put_file(f->dir, "index/ABCD", "junk");
	put_file(f->dir, "index/beef.tmp", "junk");
	snprintf(path, sizeof path, "%s/index/cafe", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);  /* not a regular file */
	snprintf(path, sizeof path, "%s/index/f00d", f->dir);
	assert_int_equal(symlink("beef", path), 0);
	put_file(f->dir, "data/ab/cd12", "pack in the wrong fan-out dir");
	put_file(f->dir, "data/junk", "junk");

	memset(&s, 0, sizeof s);
	assert_int_equal(store_list(f->s, STORE_INDEX, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(seen_size(&s, "beef"), 1);
	memset(&s, 0, sizeof s);
	assert_int_equal(store_list(f->s, STORE_PACK, collect, &s), 0);
	assert_int_equal(s.n, 0);

	/* non-regular entries are not objects either */
	uint64_t sz;
	struct buf b = { 0 };
	assert_int_equal(store_size(f->s, STORE_INDEX, "cafe", &sz), -ENOENT);
	assert_int_equal(store_get(f->s, STORE_INDEX, "cafe", &b), -ENOENT);
	assert_int_equal(store_get(f->s, STORE_INDEX, "f00d", &b), -ENOENT);
	buf_fini(&b);
}

static void test_local_layout(void **state)
{
	struct fixture *f = *state;
	char path[600];
	struct stat sb;

	assert_int_equal(store_put(f->s, STORE_PACK, PACK7F, "pack", 4), 0);
	assert_int_equal(store_put(f->s, STORE_KEY, "01", "key", 3), 0);
	assert_int_equal(store_put(f->s, STORE_CONFIG, "config", "cfg", 3), 0);
	snprintf(path, sizeof path, "%s/data/7f/%s", f->dir, PACK7F);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 4);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(path, sizeof path, "%s/keys/01", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	snprintf(path, sizeof path, "%s/config", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	for (int i = 0; i < 256; i++) {
		snprintf(path, sizeof path, "%s/data/%02x", f->dir, i);
		assert_int_equal(stat(path, &sb), 0);
		assert_true(S_ISDIR(sb.st_mode));
	}
	snprintf(path, sizeof path, "%s/tmp", f->dir);
	assert_int_equal(count_entries(path), 0);
	/* a refused put leaves nothing behind either */
	assert_int_equal(store_put(f->s, STORE_KEY, "01", "again", 5), -EEXIST);
	assert_int_equal(count_entries(path), 0);
	snprintf(path, sizeof path, "%s/data", f->dir);
	assert_int_equal(count_entries(path), 256);
}

static void test_local_reopen(void **state)
{
	struct fixture *f = *state;
	struct store *s2 = NULL;
	struct buf b = { 0 };

	/* without config the directory is not a store */
	assert_int_equal(store_local_open(f->dir, 0, &s2), -ENOENT);
	assert_null(s2);
	assert_int_equal(store_put(f->s, STORE_CONFIG, "config", "cfg", 3), 0);
	assert_int_equal(store_put(f->s, STORE_SNAPSHOT, "5a", "snap", 4), 0);
	assert_int_equal(store_local_open(f->dir, 0, &s2), 0);
	assert_int_equal(store_get(s2, STORE_SNAPSHOT, "5a", &b), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "snap", 4);
	store_close(s2);
	s2 = NULL;
	/* create refuses a directory that is not empty */
	assert_int_equal(store_local_open(f->dir, 1, &s2), -EEXIST);
	assert_null(s2);
	buf_fini(&b);
}

static void test_local_create_rules(void **state)
{
	struct fixture *f = *state;
	struct store *s2 = NULL;
	char path[600];

	/* an empty existing directory is fine */
	snprintf(path, sizeof path, "%s/empty", f->base);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(store_local_open(path, 1, &s2), 0);
	store_close(s2);
	s2 = NULL;
	/* one file is enough to refuse */
	snprintf(path, sizeof path, "%s/busy", f->base);
	assert_int_equal(mkdir(path, 0700), 0);
	put_file(path, "precious", "do not touch");
	assert_int_equal(store_local_open(path, 1, &s2), -EEXIST);
	assert_int_equal(count_entries(path), 1);
	/* a regular file is not a directory to create in */
	snprintf(path, sizeof path, "%s/busy/precious", f->base);
	assert_int_equal(store_local_open(path, 1, &s2), -EEXIST);
	/* a plain directory without config does not open */
	snprintf(path, sizeof path, "%s/busy", f->base);
	assert_int_equal(store_local_open(path, 0, &s2), -ENOENT);
	snprintf(path, sizeof path, "%s/absent", f->base);
	assert_int_equal(store_local_open(path, 0, &s2), -ENOENT);
	assert_null(s2);
}

/* ---- store_put_padded ------------------------------------------------- */

static size_t pad_round(size_t len)
{
	return (len + STORE_PAD_ALIGN - 1) / STORE_PAD_ALIGN * STORE_PAD_ALIGN;
}

/* A store_put_padded buffer of len pseudo-random bytes, the padding 0xa5. */
static uint8_t *padded_new(size_t len, uint32_t seed)
{
	size_t cap = pad_round(len ? len : 1);
	uint8_t *p = aligned_alloc(STORE_PAD_ALIGN, cap);
	uint32_t x = seed * 2654435761u + 1;

	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		x = x * 1664525u + 1013904223u;
		p[i] = (uint8_t)(x >> 24);
	}
	memset(p + len, 0xa5, cap - len);
	return p;
}

/* Puts len bytes padded under name; reads them back exactly. */
static void put_padded_and_check(struct fixture *f, const char *name, size_t len,
				 uint32_t seed)
{
	uint8_t *p = padded_new(len, seed);
	uint8_t *copy = malloc(len ? len : 1);
	uint8_t tail[64];
	struct buf b = { 0 };
	uint64_t sz = 0;

	assert_non_null(copy);
	memcpy(copy, p, len);
	assert_int_equal(store_put_padded(f->s, STORE_PACK, name, p, len), 0);
	/* The content is untouched (only padding may be overwritten). */
	assert_memory_equal(p, copy, len);
	assert_int_equal(store_size(f->s, STORE_PACK, name, &sz), 0);
	assert_int_equal(sz, len);
	assert_int_equal(store_get(f->s, STORE_PACK, name, &b), 0);
	assert_int_equal(b.len, len);
	assert_memory_equal(b.data, copy, len);
	if (len >= sizeof tail) {
		assert_int_equal(store_get_range(f->s, STORE_PACK, name, len - sizeof tail,
						 sizeof tail, tail), 0);
		assert_memory_equal(tail, copy + len - sizeof tail, sizeof tail);
	}
	/* Nothing past len: the padding was cut off again. */
	assert_int_equal(store_get_range(f->s, STORE_PACK, name, len, 1, tail), -EIO);
	if (f->local) {
		char path[600];
		struct stat sb;
		snprintf(path, sizeof path, "%s/data/%.2s/%s", f->dir, name, name);
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_size, len);
		assert_int_equal(sb.st_mode & 0777, 0600);
	}
	/* Write-once, as store_put. */
	assert_int_equal(store_put_padded(f->s, STORE_PACK, name, p, len), -EEXIST);
	buf_fini(&b);
	free(copy);
	free(p);
}

static void test_put_padded(void **state)
{
	struct fixture *f = *state;
	char name[65];
	/* Above and below the local store's O_DIRECT threshold (1 MiB), at
	 * it, and whole blocks (no padding at all). */
	static const size_t lens[] = {
		(3u << 20) + 123, 1000, 1u << 20, (1u << 20) - 1, 2u << 20, 4096, 1,
	};

	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		snprintf(name, sizeof name, "%02zx%062zx", i + 0x10, lens[i]);
		put_padded_and_check(f, name, lens[i], (uint32_t)i + 1);
	}
	if (f->local) {
		char path[600];
		snprintf(path, sizeof path, "%s/tmp", f->dir);
		assert_int_equal(count_entries(path), 0);
	}
	/* Other kinds go through too. */
	uint8_t *p = padded_new(5000, 99);
	struct buf b = { 0 };
	assert_int_equal(store_put_padded(f->s, STORE_INDEX, "abcdef", p, 5000), 0);
	assert_int_equal(store_get(f->s, STORE_INDEX, "abcdef", &b), 0);
	assert_int_equal(b.len, 5000);
	free(p);
	p = padded_new(5000, 99);
	assert_memory_equal(b.data, p, 5000);
	buf_fini(&b);
	free(p);
}

static void test_put_padded_refused(void **state)
{
	struct fixture *f = *state;
	size_t len = (2u << 20) + 5;
	uint8_t *p = padded_new(len + STORE_PAD_ALIGN, 3);
	uint64_t sz;

	/* Not aligned: refused, nothing stored. */
	assert_int_equal(store_put_padded(f->s, STORE_PACK, HEX64, p + 1, len), -EINVAL);
	assert_int_equal(store_put_padded(f->s, STORE_PACK, HEX64, p + 512, len), -EINVAL);
	assert_int_equal(store_put_padded(f->s, STORE_PACK, HEX64, p + 16, 1000), -EINVAL);
	assert_int_equal(store_size(f->s, STORE_PACK, HEX64, &sz), -ENOENT);
	/* NULL (even empty) and bad names, as store_put. */
	assert_int_equal(store_put_padded(f->s, STORE_PACK, HEX64, NULL, 0), -EINVAL);
	assert_int_equal(store_put_padded(f->s, STORE_PACK, "0", p, 10), -EINVAL);
	assert_int_equal(store_put_padded(f->s, STORE_PACK, "ABCD", p, 10), -EINVAL);
	assert_int_equal(store_put_padded(f->s, STORE_PACK, "../x", p, 10), -EINVAL);
	assert_int_equal(store_put_padded(f->s, (enum store_kind)99, "ab", p, 10), -EINVAL);
	/* An object put plainly is not replaced by a padded put. */
	assert_int_equal(store_put(f->s, STORE_PACK, PACK7F, "old", 3), 0);
	assert_int_equal(store_put_padded(f->s, STORE_PACK, PACK7F, p, len), -EEXIST);
	assert_int_equal(store_size(f->s, STORE_PACK, PACK7F, &sz), 0);
	assert_int_equal(sz, 3);
	if (f->local) {
		char path[600];
		snprintf(path, sizeof path, "%s/tmp", f->dir);
		assert_int_equal(count_entries(path), 0);
	}
	free(p);
}

#define BOTH(t)                                                        \
	cmocka_unit_test_setup_teardown(t, setup_mem, teardown),       \
	cmocka_unit_test_setup_teardown(t, setup_local, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_put_get),
		BOTH(test_empty_object),
		BOTH(test_large_pack),
		BOTH(test_get_range),
		BOTH(test_write_once),
		BOTH(test_missing),
		BOTH(test_remove),
		BOTH(test_invalid_names),
		BOTH(test_list),
		BOTH(test_list_stop),
		BOTH(test_list_remove),
		BOTH(test_put_padded),
		BOTH(test_put_padded_refused),
		cmocka_unit_test_setup_teardown(test_local_junk_not_listed, setup_local, teardown),
		cmocka_unit_test_setup_teardown(test_local_layout, setup_local, teardown),
		cmocka_unit_test_setup_teardown(test_local_reopen, setup_local, teardown),
		cmocka_unit_test_setup_teardown(test_local_create_rules, setup_local, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
