/*
 * The small-file pool (backup/smallfile.h) against a real repository in a
 * temporary directory, with two sealing workers and with none (every save
 * then seals on the pool's own threads): files of 1 byte to 100 KiB come
 * back from the repository byte for byte as one extent each, more files
 * than the queue holds in one batch, which files the pool takes
 * (smallfiles_wants), files that vanished, were replaced or changed while
 * read (the node's flags and the messages), deduplication through the pool,
 * and a delta base from the old node (the new extent's ID is the content's,
 * and a delta was stored).
 *
 * COFFER_TEST_KEEP=1 keeps each test's directory under /tmp.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/smallfile.h"
#include "repo/repo.h"

#include "testutil.h"

#define CHUNK_MIN (128u << 10)
#define CHUNK_AVG (256u << 10)
#define CHUNK_MAX (1u << 20)
#define POOL_THREADS 2

struct fixture {
	char base[256];
	char repo[300];
	char src[300];
	struct repo *r;
	struct smallfiles *sf;
	int dfd; /* the source directory */
	bool workers;
};

static int setup_with(void **state, bool workers)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct repo_init_opts o;

	assert_non_null(f);
	f->workers = workers;
	snprintf(f->base, sizeof f->base, "/tmp/coffer-test-smallfile-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->repo, sizeof f->repo, "%s/repo", f->base);
	snprintf(f->src, sizeof f->src, "%s/src", f->base);
	repo_init_opts_default(&o);
	o.scrypt_n = 1024;
	o.chunk_min = CHUNK_MIN;
	o.chunk_avg = CHUNK_AVG;
	o.chunk_max = CHUNK_MAX;
	assert_int_equal(repo_init(f->repo, "pw", 2, &o), 0);
	assert_int_equal(repo_open(f->repo, "pw", 2, &f->r), 0);
	assert_int_equal(repo_load_index(f->r), 0);
	assert_int_equal(repo_chunker(f->r)->min_size, CHUNK_MIN);
	if (workers)
		assert_int_equal(repo_set_threads(f->r, 2), 0);
	assert_int_equal(repo_thread_count(f->r), workers ? 2 : 0);
	/* As backup_paths: lock, save, flush. */
	assert_int_equal(repo_lock(f->r, false), 0);
	f->sf = smallfiles_new(f->r, POOL_THREADS);
	assert_non_null(f->sf);
	assert_int_equal(mkdir(f->src, 0700), 0);
	f->dfd = open(f->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->dfd >= 0);
	*state = f;
	return 0;
}

static int setup_workers(void **state)
{
	return setup_with(state, true);
}

static int setup_no_workers(void **state)
{
	return setup_with(state, false);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	smallfiles_free(f->sf);
	repo_close(f->r);
	close(f->dfd);
	if (getenv("COFFER_TEST_KEEP") == NULL)
		testutil_rm_tree(AT_FDCWD, f->base);
	free(f);
	return 0;
}

/* ---- helpers ---------------------------------------------------------- */

/* Deterministic content: different seeds give different bytes. */
static uint8_t *content(size_t len, uint32_t seed)
{
	uint8_t *p = malloc(len ? len : 1);
	uint64_t x = 0x9e3779b97f4a7c15ull ^ ((uint64_t)seed * 0x100000001b3ull);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 24);
	}
	return p;
}

static void write_file(int dfd, const char *name, const void *data, size_t len)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	if (len > 0)
		assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void stat_at(int dfd, const char *name, struct stat *st)
{
	assert_int_equal(fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW), 0);
}

/* A node as the walk gives it to the pool: a file, its size, no content. */
static void file_node(struct node *n, uint64_t size)
{
	memset(n, 0, sizeof *n);
	n->type = NODE_FILE;
	n->size = size;
}

/* Submits one file and waits for it; returns the wait's result. */
static int run_one(struct fixture *f, const char *name, const struct stat *st,
		   const struct node *old, struct node *n, struct smallfile_result *res)
{
	struct smallfile_batch b = { 0 };
	char path[64];

	snprintf(path, sizeof path, "/src/%s", name);
	assert_int_equal(smallfiles_submit(f->sf, &b, f->dfd, name, st, old, n, path, res), 0);
	assert_true(res->pooled); /* set at submission */
	int e = smallfiles_wait(f->sf, &b);
	smallfile_result_report(res); /* the walk's thread logs the message */
	return e;
}

/* The extent id, once flushed, loads back as exactly data. */
static void assert_blob_is(struct repo *r, const uint8_t id[BLOB_ID_LEN], const uint8_t *data,
			   size_t len)
{
	struct buf out = { 0 };
	uint8_t want[BLOB_ID_LEN];

	assert_int_equal(repo_blob_id(r, data, len, want), 0);
	assert_memory_equal(id, want, BLOB_ID_LEN);
	assert_int_equal(buf_put(&out, "stale", 5), 0);
	assert_int_equal(repo_blob_load(r, id, BLOB_DATA, &out), 0);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, data, len);
	buf_fini(&out);
}

/* The one whole-file extent a pooled small file gets. */
static void assert_one_extent(const struct node *n, size_t len)
{
	assert_int_equal(n->n_extents, 1);
	assert_non_null(n->extents);
	assert_int_equal(n->extents[0].offset, 0);
	assert_int_equal(n->extents[0].len, len);
}

/* ---- tests ------------------------------------------------------------ */

static const size_t sizes[] = { 1, 2, 63, 100, 1000, 4095, 4096, 4097, 5000, 100u << 10 };
#define N_SIZES (sizeof sizes / sizeof sizes[0])

static void test_files_round_trip(void **state)
{
	struct fixture *f = *state;
	struct smallfile_batch b = { 0 };
	struct smallfile_result res[N_SIZES];
	struct node nodes[N_SIZES];
	uint8_t *data[N_SIZES];
	struct repo_write_stats ws;
	char name[32], path[64];

	for (size_t i = 0; i < N_SIZES; i++) {
		struct stat st;
		snprintf(name, sizeof name, "f%zu", i);
		data[i] = content(sizes[i], (uint32_t)i + 1);
		write_file(f->dfd, name, data[i], sizes[i]);
		stat_at(f->dfd, name, &st);
		assert_true(smallfiles_wants(f->sf, &st));
		file_node(&nodes[i], (uint64_t)st.st_size);
		memset(&res[i], 0xff, sizeof res[i]); /* submit must set every field */
		snprintf(path, sizeof path, "/src/%s", name);
		assert_int_equal(smallfiles_submit(f->sf, &b, f->dfd, name, &st, NULL, &nodes[i],
						   path, &res[i]),
				 0);
	}
	assert_int_equal(smallfiles_wait(f->sf, &b), 0);
	assert_int_equal(b.outstanding, 0);
	assert_int_equal(b.err, 0);
	for (size_t i = 0; i < N_SIZES; i++) {
		assert_int_equal(res[i].event, SMALLFILE_OK);
		assert_int_equal(res[i].bytes_read, sizes[i]);
		smallfile_result_report(&res[i]);
		assert_true(res[i].pooled);
		assert_false(res[i].skipped);
		assert_false(res[i].error);
		assert_int_equal(nodes[i].flags, 0);
		assert_int_equal(nodes[i].size, sizes[i]);
		assert_one_extent(&nodes[i], sizes[i]);
	}
	repo_write_stats(f->r, &ws);
	assert_int_equal(ws.blobs_added, N_SIZES);
	assert_int_equal(repo_flush(f->r), 0);
	for (size_t i = 0; i < N_SIZES; i++) {
		assert_true(repo_blob_known(f->r, nodes[i].extents[0].id));
		assert_blob_is(f->r, nodes[i].extents[0].id, data[i], sizes[i]);
		node_fini(&nodes[i]);
		free(data[i]);
	}
}

/* More files in one batch than the queue holds: submit blocks, none is lost. */
static void test_many_files_one_batch(void **state)
{
	struct fixture *f = *state;
	enum { N = 16 * POOL_THREADS * 3 + 7 };
	struct smallfile_batch b = { 0 };
	struct smallfile_result *res = calloc(N, sizeof *res);
	struct node *nodes = calloc(N, sizeof *nodes);
	char name[32];

	assert_non_null(res);
	assert_non_null(nodes);
	for (size_t i = 0; i < N; i++) {
		struct stat st;
		uint8_t *d = content(10 + i, 1000 + (uint32_t)i);
		snprintf(name, sizeof name, "m%zu", i);
		write_file(f->dfd, name, d, 10 + i);
		free(d);
		stat_at(f->dfd, name, &st);
		file_node(&nodes[i], (uint64_t)st.st_size);
		assert_int_equal(smallfiles_submit(f->sf, &b, f->dfd, name, &st, NULL, &nodes[i],
						   name, &res[i]),
				 0);
	}
	assert_int_equal(smallfiles_wait(f->sf, &b), 0);
	assert_int_equal(repo_flush(f->r), 0);
	for (size_t i = 0; i < N; i++) {
		uint8_t *d = content(10 + i, 1000 + (uint32_t)i);
		smallfile_result_report(&res[i]);
		assert_true(res[i].pooled);
		assert_false(res[i].skipped);
		assert_one_extent(&nodes[i], 10 + i);
		assert_blob_is(f->r, nodes[i].extents[0].id, d, 10 + i);
		free(d);
		node_fini(&nodes[i]);
	}
	free(nodes);
	free(res);
}

static void test_wants(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	uint8_t *d = content(CHUNK_MIN + 1, 7);
	struct smallfile_batch b = { 0 };

	write_file(f->dfd, "empty", NULL, 0);
	stat_at(f->dfd, "empty", &st);
	assert_false(smallfiles_wants(f->sf, &st));

	assert_int_equal(mkdirat(f->dfd, "dir", 0700), 0);
	stat_at(f->dfd, "dir", &st);
	assert_false(smallfiles_wants(f->sf, &st));

	assert_int_equal(symlinkat("f1", f->dfd, "link"), 0);
	stat_at(f->dfd, "link", &st);
	assert_false(smallfiles_wants(f->sf, &st));

	/* The limit is the chunker's minimum: below it one chunk, at it no longer. */
	write_file(f->dfd, "below", d, CHUNK_MIN - 1);
	stat_at(f->dfd, "below", &st);
	assert_true(smallfiles_wants(f->sf, &st));
	assert_false(smallfiles_wants(NULL, &st));
	write_file(f->dfd, "at", d, repo_chunker(f->r)->min_size);
	stat_at(f->dfd, "at", &st);
	assert_false(smallfiles_wants(f->sf, &st));
	write_file(f->dfd, "above", d, CHUNK_MIN + 1);
	stat_at(f->dfd, "above", &st);
	assert_false(smallfiles_wants(f->sf, &st));

	/* A file with a hole goes to the walk, which keeps holes. */
	int fd = openat(f->dfd, "sparse", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64 << 10), 0);
	assert_int_equal(pwrite(fd, "x", 1, (64 << 10) - 1), 1);
	assert_int_equal(fsync(fd), 0);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	assert_int_equal(st.st_size, 64 << 10);
	if ((uint64_t)st.st_blocks * 512 >= (uint64_t)st.st_size)
		print_message("this filesystem made no hole in a sparse file: "
			      "not checking smallfiles_wants on one\n");
	else
		assert_false(smallfiles_wants(f->sf, &st));

	/* No threads, no pool; the NULL pool is accepted everywhere. */
	assert_null(smallfiles_new(f->r, 0));
	b.err = -EIO;
	assert_int_equal(smallfiles_wait(NULL, &b), -EIO);
	smallfiles_free(NULL);
	free(d);
}

static void test_vanished(void **state)
{
	struct fixture *f = *state;
	struct smallfile_result res;
	struct node n;
	struct stat st;

	write_file(f->dfd, "other", "abc", 3);
	stat_at(f->dfd, "other", &st);
	file_node(&n, 3);
	testutil_stderr_begin();
	int e = run_one(f, "gone", &st, NULL, &n, &res);
	const char *err = testutil_stderr_end();
	assert_int_equal(e, 0);
	assert_true(res.pooled);
	assert_true(res.skipped);
	assert_false(res.error);
	assert_int_equal(n.n_extents, 0);
	assert_null(n.extents);
	assert_non_null(strstr(err, "/src/gone vanished during the backup"));
	node_fini(&n);
}

static void test_replaced(void **state)
{
	struct fixture *f = *state;
	struct smallfile_result res;
	struct node n;
	struct stat sb;

	write_file(f->dfd, "a", "aaaa", 4);
	write_file(f->dfd, "b", "bbbb", 4);
	stat_at(f->dfd, "b", &sb);
	file_node(&n, 4);
	testutil_stderr_begin();
	int e = run_one(f, "a", &sb, NULL, &n, &res);
	const char *err = testutil_stderr_end();
	assert_int_equal(e, 0);
	assert_true(res.skipped);
	assert_false(res.error);
	assert_int_equal(n.n_extents, 0);
	assert_non_null(strstr(err, "/src/a was replaced while being backed up"));
	node_fini(&n);

	/* Listed as a file, now a directory of the same name: replaced too. */
	assert_int_equal(unlinkat(f->dfd, "a", 0), 0);
	assert_int_equal(mkdirat(f->dfd, "a", 0700), 0);
	file_node(&n, 4);
	testutil_stderr_begin();
	e = run_one(f, "a", &sb, NULL, &n, &res);
	(void)testutil_stderr_end();
	assert_int_equal(e, 0);
	assert_true(res.skipped);
	assert_int_equal(n.n_extents, 0);
	node_fini(&n);
}

static void test_unreadable(void **state)
{
	struct fixture *f = *state;
	struct smallfile_result res;
	struct node n;
	struct stat st;

	/* Listed as a file, now a symlink: not followed (ELOOP), an error. */
	write_file(f->dfd, "target", "t", 1);
	stat_at(f->dfd, "target", &st);
	assert_int_equal(symlinkat("target", f->dfd, "sl"), 0);
	file_node(&n, 1);
	testutil_stderr_begin();
	int e = run_one(f, "sl", &st, NULL, &n, &res);
	const char *err = testutil_stderr_end();
	assert_int_equal(e, 0);
	assert_true(res.skipped);
	assert_true(res.error);
	assert_int_equal(n.n_extents, 0);
	assert_non_null(strstr(err, "cannot read /src/sl: open:"));
	node_fini(&n);

	if (geteuid() == 0)
		return; /* root reads a mode-000 file */
	write_file(f->dfd, "secret", "s", 1);
	assert_int_equal(fchmodat(f->dfd, "secret", 0, 0), 0);
	stat_at(f->dfd, "secret", &st);
	file_node(&n, 1);
	testutil_stderr_begin();
	e = run_one(f, "secret", &st, NULL, &n, &res);
	err = testutil_stderr_end();
	assert_int_equal(e, 0);
	assert_true(res.skipped);
	assert_true(res.error);
	assert_int_equal(n.n_extents, 0);
	assert_non_null(strstr(err, "cannot read /src/secret: open:"));
	node_fini(&n);
}

static void test_changed_while_read(void **state)
{
	struct fixture *f = *state;
	struct smallfile_result res;
	struct node n;
	struct stat st, listed;
	uint8_t *d = content(3000, 42);

	/* mtime differs from the listing's */
	write_file(f->dfd, "c", d, 3000);
	stat_at(f->dfd, "c", &st);
	listed = st;
	listed.st_mtim.tv_sec -= 100;
	file_node(&n, 3000);
	testutil_stderr_begin();
	int e = run_one(f, "c", &listed, NULL, &n, &res);
	const char *err = testutil_stderr_end();
	assert_int_equal(e, 0);
	assert_false(res.skipped);
	assert_false(res.error);
	assert_int_equal(n.flags, NODE_F_CHANGED);
	assert_one_extent(&n, 3000);
	assert_non_null(strstr(err, "/src/c changed while being backed up"));
	assert_int_equal(repo_flush(f->r), 0);
	assert_blob_is(f->r, n.extents[0].id, d, 3000);
	node_fini(&n);

	/* ctime alone differs (as after a chmod) */
	listed = st;
	listed.st_ctim.tv_nsec = (listed.st_ctim.tv_nsec + 1) % 1000000000;
	file_node(&n, 3000);
	testutil_stderr_begin();
	e = run_one(f, "c", &listed, NULL, &n, &res);
	(void)testutil_stderr_end();
	assert_int_equal(e, 0);
	assert_int_equal(n.flags, NODE_F_CHANGED);
	assert_one_extent(&n, 3000);
	node_fini(&n);

	/* Shrank since listed: what is there is kept, marked changed. */
	listed = st;
	listed.st_size = 3500;
	file_node(&n, 3500);
	testutil_stderr_begin();
	e = run_one(f, "c", &listed, NULL, &n, &res);
	(void)testutil_stderr_end();
	assert_int_equal(e, 0);
	assert_false(res.skipped);
	assert_int_equal(n.flags, NODE_F_CHANGED);
	assert_one_extent(&n, 3000);
	node_fini(&n);

	/* Grew since listed: read up to the listed size only (extents stay
	 * within the node's size), marked changed. */
	listed = st;
	listed.st_size = 1000;
	file_node(&n, 1000);
	testutil_stderr_begin();
	e = run_one(f, "c", &listed, NULL, &n, &res);
	(void)testutil_stderr_end();
	assert_int_equal(e, 0);
	assert_int_equal(n.flags, NODE_F_CHANGED);
	assert_one_extent(&n, 1000);
	assert_int_equal(repo_flush(f->r), 0);
	assert_blob_is(f->r, n.extents[0].id, d, 1000);
	node_fini(&n);

	/* The unaltered stat: not changed. */
	file_node(&n, 3000);
	assert_int_equal(run_one(f, "c", &st, NULL, &n, &res), 0);
	assert_int_equal(n.flags, 0);
	assert_one_extent(&n, 3000);
	node_fini(&n);
	free(d);
}

static void test_dedup(void **state)
{
	struct fixture *f = *state;
	struct smallfile_batch b = { 0 };
	struct smallfile_result res[3];
	struct node n[3];
	struct stat st;
	struct repo_write_stats w0, w1;
	uint8_t *d = content(4000, 9), *other = content(4000, 10);
	const char *names[3] = { "same1", "same2", "other" };

	write_file(f->dfd, "same1", d, 4000);
	write_file(f->dfd, "same2", d, 4000);
	write_file(f->dfd, "other", other, 4000);
	repo_write_stats(f->r, &w0);
	for (int i = 0; i < 3; i++) {
		stat_at(f->dfd, names[i], &st);
		file_node(&n[i], 4000);
		assert_int_equal(smallfiles_submit(f->sf, &b, f->dfd, names[i], &st, NULL, &n[i],
						   names[i], &res[i]),
				 0);
	}
	assert_int_equal(smallfiles_wait(f->sf, &b), 0);
	repo_write_stats(f->r, &w1);
	for (int i = 0; i < 3; i++) {
		smallfile_result_report(&res[i]);
		assert_one_extent(&n[i], 4000);
	}
	assert_memory_equal(n[0].extents[0].id, n[1].extents[0].id, BLOB_ID_LEN);
	assert_memory_not_equal(n[0].extents[0].id, n[2].extents[0].id, BLOB_ID_LEN);
	assert_int_equal(w1.blobs_added - w0.blobs_added, 2);
	assert_int_equal(w1.bytes_added - w0.bytes_added, 8000);
	assert_int_equal(repo_flush(f->r), 0);
	assert_blob_is(f->r, n[1].extents[0].id, d, 4000);
	assert_blob_is(f->r, n[2].extents[0].id, other, 4000);

	/* Once more after the flush: known in the index, nothing added. */
	struct node again;
	struct smallfile_result r;
	stat_at(f->dfd, "same2", &st);
	file_node(&again, 4000);
	assert_int_equal(run_one(f, "same2", &st, NULL, &again, &r), 0);
	repo_write_stats(f->r, &w0);
	assert_int_equal(w0.blobs_added, w1.blobs_added);
	assert_memory_equal(again.extents[0].id, n[0].extents[0].id, BLOB_ID_LEN);
	node_fini(&again);
	for (int i = 0; i < 3; i++)
		node_fini(&n[i]);
	free(d);
	free(other);
}

/* The old node's extent is the delta base; the ID is still the content's. */
static void test_delta_base(void **state)
{
	struct fixture *f = *state;
	enum { LEN = 32u << 10 };
	struct smallfile_result res;
	struct node v1, v2, v3, dir_old;
	struct stat st;
	uint8_t *d = content(LEN, 77);

	write_file(f->dfd, "v", d, LEN);
	stat_at(f->dfd, "v", &st);
	file_node(&v1, LEN);
	assert_int_equal(run_one(f, "v", &st, NULL, &v1, &res), 0);
	assert_one_extent(&v1, LEN);
	assert_int_equal(repo_flush(f->r), 0); /* a base must be indexed */
	assert_blob_is(f->r, v1.extents[0].id, d, LEN);
	uint64_t deltas = repo_deltas_added(f->r);

	/* A few bytes changed in place: the old node (v1) gives the base. */
	memcpy(d + LEN / 2, "a small edit in the middle", 26);
	write_file(f->dfd, "v", d, LEN);
	stat_at(f->dfd, "v", &st);
	file_node(&v2, LEN);
	assert_int_equal(run_one(f, "v", &st, &v1, &v2, &res), 0);
	assert_false(res.skipped);
	assert_int_equal(v2.flags, 0);
	assert_one_extent(&v2, LEN);
	assert_memory_not_equal(v2.extents[0].id, v1.extents[0].id, BLOB_ID_LEN);
	assert_int_equal(repo_flush(f->r), 0);
	assert_blob_is(f->r, v2.extents[0].id, d, LEN);
	assert_int_equal(repo_deltas_added(f->r), deltas + 1);
	uint8_t base[BLOB_ID_LEN];
	uint32_t rlen;
	assert_int_equal(repo_delta_header(f->r, v2.extents[0].id, base, &rlen), 0);
	assert_memory_equal(base, v1.extents[0].id, BLOB_ID_LEN);
	assert_int_equal(rlen, LEN);

	/* An old entry that is not a file gives no base: stored whole. */
	memcpy(d + 100, "another edit", 12);
	write_file(f->dfd, "v", d, LEN);
	stat_at(f->dfd, "v", &st);
	dir_old = v2;
	dir_old.type = NODE_DIR;
	file_node(&v3, LEN);
	assert_int_equal(run_one(f, "v", &st, &dir_old, &v3, &res), 0);
	assert_one_extent(&v3, LEN);
	assert_int_equal(repo_flush(f->r), 0);
	assert_blob_is(f->r, v3.extents[0].id, d, LEN);
	assert_int_equal(repo_deltas_added(f->r), deltas + 1);
	assert_int_equal(repo_delta_header(f->r, v3.extents[0].id, base, &rlen), -ENOENT);

	node_fini(&v3);
	node_fini(&v2);
	node_fini(&v1);
	free(d);
}

#define BOTH(t)                                                         \
	cmocka_unit_test_setup_teardown(t, setup_workers, teardown),    \
	cmocka_unit_test_setup_teardown(t, setup_no_workers, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_files_round_trip),
		BOTH(test_many_files_one_batch),
		cmocka_unit_test_setup_teardown(test_wants, setup_workers, teardown),
		BOTH(test_vanished),
		BOTH(test_replaced),
		cmocka_unit_test_setup_teardown(test_unreadable, setup_workers, teardown),
		BOTH(test_changed_while_read),
		BOTH(test_dedup),
		BOTH(test_delta_base),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
