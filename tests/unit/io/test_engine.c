/*
 * The I/O engine (io/engine.h): every operation on both engines, with the
 * edge cases the hot paths meet (empty and short files, files larger than
 * the buffer, missing files, things that are not regular files, large
 * files across many blocks in flight), compared byte for byte with what
 * was written. The io_uring half is skipped (exit 77) only when this
 * machine cannot set up a ring at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/engine.h"
#include "testutil.h"

struct fixture {
	const struct io_engine_ops *ops;
	char dir[64];
	int dfd;
};

static const struct io_engine_ops *g_ops; /* the engine of this group */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (f == NULL)
		return -1;
	f->ops = g_ops;
	snprintf(f->dir, sizeof f->dir, "/tmp/coffer-engine-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dfd < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	close(f->dfd);
	testutil_rm_tree(AT_FDCWD, f->dir);
	free(f);
	return 0;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static void make_file(int dfd, const char *name, const uint8_t *p, size_t n)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);
		assert_true(w > 0);
		done += (size_t)w;
	}
	close(fd);
}

static bool decline_b(const struct io_file_req *r, void *arg)
{
	(*(int *)arg)++;
	return strcmp(r->name, "b") != 0;
}

/* Small files of every shape in one batch. */
static void read_files_shapes(void **state, bool stat_first)
{
	struct fixture *f = *state;
	uint8_t data[3000];
	fill(data, sizeof data, 1);
	make_file(f->dfd, "empty", data, 0);
	make_file(f->dfd, "short", data, 10);
	make_file(f->dfd, "exact", data, 1000);
	make_file(f->dfd, "big", data, 3000);
	make_file(f->dfd, "b", data, 50);
	assert_int_equal(mkdirat(f->dfd, "dir", 0700), 0);
	assert_int_equal(symlinkat("short", f->dfd, "link"), 0);
	assert_int_equal(mkfifoat(f->dfd, "fifo", 0600), 0);

	const char *names[] = { "empty", "short", "exact", "big", "missing", "dir", "link", "fifo", "b" };
	enum { N = sizeof names / sizeof names[0] };
	struct io_file_req r[N];
	uint8_t bufs[N][1000];
	memset(r, 0, sizeof r);
	for (int i = 0; i < N; i++) {
		r[i].dirfd = f->dfd;
		r[i].name = names[i];
		r[i].buf = bufs[i];
		r[i].cap = sizeof bufs[i];
		r[i].readahead = 1 << 20;
		r[i].len = 77;   /* must be reset */
		r[i].err = 5;
		r[i].stat_first = stat_first;
	}
	int calls = 0;
	assert_int_equal(f->ops->read_files(r, N, decline_b, &calls), 0);
	assert_int_equal(calls, 5); /* regular files only */

	assert_int_equal(r[0].err, 0);
	assert_false(r[0].skipped);
	assert_int_equal(r[0].len, 0);
	assert_int_equal(r[0].stx.stx_size, 0);

	assert_int_equal(r[1].err, 0);
	assert_int_equal(r[1].len, 10);
	assert_memory_equal(bufs[1], data, 10);
	assert_true(S_ISREG(r[1].stx.stx_mode));

	assert_int_equal(r[2].err, 0);
	assert_int_equal(r[2].len, 1000);
	assert_memory_equal(bufs[2], data, 1000);

	assert_int_equal(r[3].err, 0);
	assert_int_equal(r[3].len, 1000); /* only cap bytes... */
	assert_int_equal(r[3].stx.stx_size, 3000); /* ...of a larger file */
	assert_memory_equal(bufs[3], data, 1000);

	assert_int_equal(r[4].err, -ENOENT);

	assert_int_equal(r[5].err, 0);
	assert_true(r[5].skipped);
	assert_true(S_ISDIR(r[5].stx.stx_mode));
	assert_int_equal(r[5].len, 0);

	if (stat_first) { /* a final symlink is not followed */
		assert_int_equal(r[6].err, 0);
		assert_true(r[6].skipped);
		assert_true(S_ISLNK(r[6].stx.stx_mode));
	} else {
		assert_int_equal(r[6].err, -ELOOP);
	}

	assert_int_equal(r[7].err, 0); /* opened without blocking, not read */
	assert_true(r[7].skipped);
	assert_true(S_ISFIFO(r[7].stx.stx_mode));

	assert_int_equal(r[8].err, 0);
	assert_true(r[8].skipped);
	assert_int_equal(r[8].len, 0);
	assert_int_equal(r[8].stx.stx_size, 50);
}

static void test_read_files_shapes(void **state)
{
	read_files_shapes(state, false);
}

/* The same shapes looked at by name (statx) before any of them is opened. */
static void test_read_files_stat_first(void **state)
{
	read_files_shapes(state, true);
}

/* Many files: several batches, every byte where it belongs. */
static void test_read_files_many(void **state)
{
	struct fixture *f = *state;
	enum { N = 3 * IO_BATCH + 5 };
	struct io_file_req r[N];
	static uint8_t want[N][600], got[N][600];
	char names[N][16];
	memset(r, 0, sizeof r);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "f%03d", i);
		fill(want[i], sizeof want[i], (uint32_t)i + 7);
		make_file(f->dfd, names[i], want[i], (size_t)(i * 6));
		r[i].dirfd = f->dfd;
		r[i].name = names[i];
		r[i].buf = got[i];
		r[i].cap = sizeof got[i];
	}
	assert_int_equal(f->ops->read_files(r, N, NULL, NULL), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].err, 0);
		assert_int_equal(r[i].len, (size_t)(i * 6));
		assert_int_equal(r[i].stx.stx_size, (uint64_t)(i * 6));
		assert_memory_equal(got[i], want[i], (size_t)(i * 6));
	}
	assert_int_equal(f->ops->read_files(r, 0, NULL, NULL), 0);
}

struct sink {
	uint8_t *out;
	size_t len, cap;
	unsigned calls;
	unsigned fail_after; /* 0: never */
};

static int sink_cb(void *arg, const void *p, size_t n)
{
	struct sink *s = arg;
	if (s->fail_after != 0 && s->calls == s->fail_after)
		return -ENOSPC;
	s->calls++;
	if (n > IO_STREAM_BLOCK || s->len + n > s->cap)
		return -E2BIG;
	memcpy(s->out + s->len, p, n);
	s->len += n;
	return 0;
}

#define BIG_SIZE ((size_t)9 * IO_STREAM_BLOCK + 12345)

static uint8_t *make_big(struct fixture *f, int *fd)
{
	uint8_t *data = malloc(BIG_SIZE);
	assert_non_null(data);
	fill(data, BIG_SIZE, 99);
	make_file(f->dfd, "large", data, BIG_SIZE);
	*fd = openat(f->dfd, "large", O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	assert_true(*fd >= 0);
	return data;
}

/* A large file through many reads in flight, in order, byte for byte. */
static void test_read_stream(void **state)
{
	struct fixture *f = *state;
	int fd;
	uint8_t *data = make_big(f, &fd);
	struct sink s = { .out = malloc(BIG_SIZE), .cap = BIG_SIZE };
	assert_non_null(s.out);
	uint64_t done = 1;

	assert_int_equal(f->ops->read_stream(fd, 0, BIG_SIZE, sink_cb, &s, &done), 0);
	assert_int_equal(done, BIG_SIZE);
	assert_int_equal(s.len, BIG_SIZE);
	assert_memory_equal(s.out, data, BIG_SIZE);

	/* From an odd offset, asking past the end: stops at the end. */
	s.len = 0;
	assert_int_equal(f->ops->read_stream(fd, 777, BIG_SIZE, sink_cb, &s, &done), 0);
	assert_int_equal(done, BIG_SIZE - 777);
	assert_memory_equal(s.out, data + 777, BIG_SIZE - 777);

	/* A small range, and an empty one. */
	s.len = 0;
	assert_int_equal(f->ops->read_stream(fd, 5, 100, sink_cb, &s, &done), 0);
	assert_int_equal(done, 100);
	assert_memory_equal(s.out, data + 5, 100);
	assert_int_equal(f->ops->read_stream(fd, 5, 0, sink_cb, &s, &done), 0);
	assert_int_equal(done, 0);
	assert_int_equal(f->ops->read_stream(fd, BIG_SIZE + 10, 50, sink_cb, &s, &done), 0);
	assert_int_equal(done, 0);

	/* The sink's failure stops the stream and comes back unchanged. */
	s.len = 0;
	s.calls = 0;
	s.fail_after = 3;
	done = 42;
	assert_int_equal(f->ops->read_stream(fd, 0, BIG_SIZE, sink_cb, &s, &done), -ENOSPC);
	assert_int_equal(s.calls, 3);
	assert_int_equal(done, 42);
	assert_memory_equal(s.out, data, s.len);

	/* Read errors come back as -errno. */
	s.fail_after = 0;
	assert_int_equal(f->ops->read_stream(-1, 0, 10, sink_cb, &s, &done), -EBADF);
	int dir = openat(f->dfd, ".", O_RDONLY | O_DIRECTORY);
	assert_int_equal(f->ops->read_stream(dir, 0, 10, sink_cb, &s, &done), -EISDIR);
	close(dir);
	close(fd);
	free(s.out);
	free(data);
}


/*
 * O_DIRECT streams: whole aligned reads land in aligned buffers, a range
 * ending inside a block or the file gives exactly its bytes, a misaligned
 * start is refused.
 */
static void test_read_stream_direct(void **state)
{
	struct fixture *f = *state;
	int fd;
	uint8_t *data = make_big(f, &fd);
	struct sink s = { .out = malloc(BIG_SIZE), .cap = BIG_SIZE };
	assert_non_null(s.out);
	uint64_t done = 1;
	int dfd = openat(f->dfd, "large", O_RDONLY | O_CLOEXEC | O_DIRECT);
	if (dfd < 0 && errno == EINVAL) { /* this filesystem has no direct I/O */
		close(fd);
		free(s.out);
		free(data);
		skip();
	}
	assert_true(dfd >= 0);

	assert_int_equal(f->ops->read_stream(dfd, 0, BIG_SIZE, sink_cb, &s, &done), 0);
	assert_int_equal(done, BIG_SIZE);
	assert_memory_equal(s.out, data, BIG_SIZE);
	s.len = 0;
	assert_int_equal(f->ops->read_stream(dfd, 3 * IO_DIRECT_ALIGN, 100001, sink_cb, &s,
					     &done), 0);
	assert_int_equal(done, 100001);
	assert_int_equal(s.len, 100001);
	assert_memory_equal(s.out, data + 3 * IO_DIRECT_ALIGN, 100001);
	s.len = 0;
	uint64_t from = (BIG_SIZE / IO_DIRECT_ALIGN - 2) * IO_DIRECT_ALIGN;
	assert_int_equal(f->ops->read_stream(dfd, from, BIG_SIZE, sink_cb, &s, &done), 0);
	assert_int_equal(done, BIG_SIZE - from);
	assert_memory_equal(s.out, data + from, BIG_SIZE - from);
	assert_int_equal(f->ops->read_stream(dfd, 777, 100, sink_cb, &s, &done), -EINVAL);
	close(dfd);
	close(fd);
	free(s.out);
	free(data);
}

/* Positional whole-buffer reads and writes, large and small. */
static void test_pread_pwrite(void **state)
{
	struct fixture *f = *state;
	size_t n = 5 * IO_STREAM_BLOCK + 3;
	uint8_t *data = malloc(n), *back = malloc(n + 100);
	assert_non_null(data);
	assert_non_null(back);
	fill(data, n, 5);
	int fd = openat(f->dfd, "rw", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(f->ops->pwrite_all(fd, data, n, 100), 0);
	assert_int_equal(f->ops->pwrite_all(fd, "hello", 5, 0), 0);
	assert_int_equal(f->ops->pwrite_all(fd, "", 0, 0), 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, n + 100);
	assert_int_equal(f->ops->pread_all(fd, back, n + 100, 0), 0);
	assert_memory_equal(back, "hello", 5);
	assert_memory_equal(back + 100, data, n);
	/* Reading past the end is an error, never a silent short read. */
	assert_int_equal(f->ops->pread_all(fd, back, 200, (off_t)n), -EIO);
	assert_int_equal(f->ops->pread_all(fd, back, 2 * IO_STREAM_BLOCK, (off_t)n - 10), -EIO);
	assert_int_equal(f->ops->pread_all(fd, back, 0, 0), 0);
	assert_int_equal(f->ops->fsync(fd, false), 0);
	assert_int_equal(f->ops->fsync(fd, true), 0);
	close(fd);

	fd = openat(f->dfd, "rw", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(f->ops->pwrite_all(fd, data, 10, 0), -EBADF);
	close(fd);

	/* O_DIRECT (the only writes the ring takes): several aligned pieces. */
	fd = openat(f->dfd, "direct", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0600);
	if (fd >= 0) {
		size_t dn = 3 * IO_STREAM_BLOCK;
		void *al = NULL;
		assert_int_equal(posix_memalign(&al, IO_DIRECT_ALIGN, dn), 0);
		memcpy(al, data, dn);
		assert_int_equal(f->ops->pwrite_all(fd, al, dn, IO_DIRECT_ALIGN), 0);
		close(fd);
		fd = openat(f->dfd, "direct", O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_size, dn + IO_DIRECT_ALIGN);
		assert_int_equal(f->ops->pread_all(fd, back, dn, IO_DIRECT_ALIGN), 0);
		assert_memory_equal(back, data, dn);
		close(fd);
		free(al);
	} else {
		assert_int_equal(errno, EINVAL); /* a filesystem without O_DIRECT */
	}
	assert_int_equal(f->ops->pread_all(-1, back, 10, 0), -EBADF);
	assert_int_equal(f->ops->fsync(-1, false), -EBADF);
	free(data);
	free(back);
}

/* The pack write: the whole buffer, then fsync. */
static void test_write_durable(void **state)
{
	struct fixture *f = *state;
	size_t sizes[] = { 0, 1, 4096, 3 * IO_STREAM_BLOCK + 17 };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t n = sizes[k];
		uint8_t *data = malloc(n + 1), *back = malloc(n + 1);
		assert_non_null(data);
		assert_non_null(back);
		fill(data, n, (uint32_t)k);
		int fd = openat(f->dfd, "pack", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(f->ops->write_durable(fd, data, n), 0);
		close(fd);
		fd = openat(f->dfd, "pack", O_RDONLY | O_CLOEXEC);
		struct stat st;
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_size, n);
		assert_int_equal(f->ops->pread_all(fd, back, n, 0), 0);
		assert_memory_equal(back, data, n);
		assert_int_equal(f->ops->write_durable(fd, data, n + 1), -EBADF);
		close(fd);
		free(data);
		free(back);
	}
}

/* The byte write_stream's test fill puts at a file offset. */
static uint8_t byte_at(uint64_t off, uint32_t seed)
{
	uint64_t x = (off + seed) * 0x9E3779B97F4A7C15ull;
	return (uint8_t)(x >> 56 ^ x >> 23);
}

struct filler {
	uint32_t seed;
	uint64_t next;      /* the offset the next call must have */
	unsigned calls;
	unsigned fail_at;   /* 1-based call that fails; 0: never */
	bool misaligned;    /* a buffer was not IO_DIRECT_ALIGN-aligned */
	bool too_big;       /* a block was larger than IO_WRITE_BLOCK */
};

static int fill_cb(void *arg, uint64_t off, void *buf, size_t n)
{
	struct filler *f = arg;
	f->calls++;
	if (f->fail_at != 0 && f->calls == f->fail_at)
		return -ENOSPC;
	if (off != f->next)
		return -EPROTO; /* out of order */
	f->misaligned |= (uintptr_t)buf % IO_DIRECT_ALIGN != 0;
	f->too_big |= n > IO_WRITE_BLOCK;
	for (size_t i = 0; i < n; i++)
		((uint8_t *)buf)[i] = byte_at(off + i, f->seed);
	f->next = off + n;
	return 0;
}

/* Every byte of [off, off + len) of fd is byte_at's. */
static void assert_written(int fd, uint64_t off, uint64_t len, uint32_t seed)
{
	uint8_t *b = malloc(len ? len : 1);
	assert_non_null(b);
	assert_int_equal(pread(fd, b, len, (off_t)off), (ssize_t)len);
	for (uint64_t i = 0; i < len; i++) {
		if (b[i] != byte_at(off + i, seed))
			fail_msg("byte %llu differs", (unsigned long long)(off + i));
	}
	free(b);
}

/*
 * write_stream: more blocks than are in flight at once, filled in file
 * order into aligned buffers, every byte where it belongs; odd offsets and
 * lengths, nothing to write, the fill's failure (with *done saying how far
 * it got), write errors.
 */
static void test_write_stream(void **state)
{
	struct fixture *f = *state;
	const uint64_t big = (uint64_t)(IO_WRITE_DEPTH + 7) * IO_WRITE_BLOCK + 4321;
	int fd = openat(f->dfd, "w", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	struct filler fl = { .seed = 3 };
	uint64_t done = 1;

	assert_int_equal(f->ops->write_stream(fd, 0, big, fill_cb, &fl, &done), 0);
	assert_int_equal(done, big);
	assert_int_equal(fl.next, big);
	assert_int_equal(fl.calls, IO_WRITE_DEPTH + 8);
	assert_false(fl.misaligned);
	assert_false(fl.too_big);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, big);
	assert_written(fd, 0, big, 3);

	/* A small piece at an odd offset: the rest stays. */
	fl = (struct filler){ .seed = 9, .next = 777 };
	assert_int_equal(f->ops->write_stream(fd, 777, 5000, fill_cb, &fl, &done), 0);
	assert_int_equal(done, 5000);
	assert_int_equal(fl.calls, 1);
	assert_written(fd, 0, 777, 3);
	assert_written(fd, 777, 5000, 9);
	assert_written(fd, 5777, big - 5777, 3);

	/* Nothing to write: no call at all. */
	fl = (struct filler){ .seed = 1 };
	done = 5;
	assert_int_equal(f->ops->write_stream(fd, 0, 0, fill_cb, &fl, &done), 0);
	assert_int_equal(done, 0);
	assert_int_equal(fl.calls, 0);

	/* The fill's failure stops the stream; the blocks before it are written. */
	fl = (struct filler){ .seed = 5, .fail_at = 4 };
	assert_int_equal(f->ops->write_stream(fd, 0, big, fill_cb, &fl, &done), -ENOSPC);
	assert_int_equal(fl.calls, 4);
	assert_int_equal(done, 3 * (uint64_t)IO_WRITE_BLOCK);
	assert_written(fd, 0, done, 5);
	assert_written(fd, done, 100, 3);
	close(fd);

	/* Write errors come back as -errno, with nothing counted as written. */
	fd = openat(f->dfd, "w", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	fl = (struct filler){ .seed = 5 };
	done = 5;
	assert_int_equal(f->ops->write_stream(fd, 0, 3 * IO_WRITE_BLOCK, fill_cb, &fl, &done),
			 -EBADF);
	assert_int_equal(done, 0);
	close(fd);
	fl = (struct filler){ .seed = 5 };
	assert_int_equal(f->ops->write_stream(-1, 0, 10, fill_cb, &fl, &done), -EBADF);
}

/* write_stream with O_DIRECT: aligned writes of whole blocks; a misaligned start refused. */
static void test_write_stream_direct(void **state)
{
	struct fixture *f = *state;
	const uint64_t len = 5 * (uint64_t)IO_WRITE_BLOCK + 3 * IO_DIRECT_ALIGN;
	int fd = openat(f->dfd, "wd", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0600);
	if (fd < 0 && errno == EINVAL)
		skip(); /* this filesystem has no direct I/O */
	assert_true(fd >= 0);
	struct filler fl = { .seed = 11, .next = IO_DIRECT_ALIGN };
	uint64_t done = 0;
	assert_int_equal(f->ops->write_stream(fd, IO_DIRECT_ALIGN, len, fill_cb, &fl, &done), 0);
	assert_int_equal(done, len);
	assert_false(fl.misaligned);
	int rd = openat(f->dfd, "wd", O_RDONLY | O_CLOEXEC);
	assert_true(rd >= 0);
	assert_written(rd, IO_DIRECT_ALIGN, len, 11);
	close(rd);
	fl = (struct filler){ .seed = 1, .next = 100 };
	assert_int_equal(f->ops->write_stream(fd, 100, IO_DIRECT_ALIGN, fill_cb, &fl, &done),
			 -EINVAL);
	assert_int_equal(fl.calls, 0);
	close(fd);
}

struct thr {
	struct fixture *f;
	const uint8_t *data;
	int fd;
	int ok;
};

static void *stream_thread(void *arg)
{
	struct thr *t = arg;
	struct sink s = { .out = malloc(BIG_SIZE), .cap = BIG_SIZE };
	uint64_t done = 0;
	t->ok = s.out != NULL;
	for (int i = 0; i < 3 && t->ok; i++) {
		s.len = 0;
		t->ok = t->f->ops->read_stream(t->fd, 0, BIG_SIZE, sink_cb, &s, &done) == 0 &&
			done == BIG_SIZE && memcmp(s.out, t->data, BIG_SIZE) == 0;
	}
	free(s.out);
	return NULL;
}

/* Threads at once: each has its own ring, none sees another's data. */
static void test_threads(void **state)
{
	struct fixture *f = *state;
	int fd;
	uint8_t *data = make_big(f, &fd);
	struct thr t[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thr){ .f = f, .data = data, .fd = fd };
		assert_int_equal(pthread_create(&th[i], NULL, stream_thread, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_true(t[i].ok);
	}
	close(fd);
	free(data);
}

/* Makes io_uring_setup fail with EPERM, as a container's seccomp filter does. */
static int block_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/*
 * The process engine as COFFER_IO_ENGINE picks it, in a fresh child each
 * (with io_uring blocked if blocked): "init-error op-error name", and
 * what the child logged in log (if not NULL).
 */
static int engine_in_child_ex(const char *env, bool blocked, char *name, size_t cap,
			      char *log, size_t logcap);

static int engine_in_child(const char *env, char *name, size_t cap)
{
	return engine_in_child_ex(env, false, name, cap, NULL, 0);
}

static int engine_in_child_ex(const char *env, bool blocked, char *name, size_t cap,
			      char *log, size_t logcap)
{
	int p[2], l[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(l), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		close(l[0]);
		dup2(l[1], 2);
		if (blocked && block_io_uring() != 0)
			_exit(3);
		if (env != NULL)
			setenv("COFFER_IO_ENGINE", env, 1);
		else
			unsetenv("COFFER_IO_ENGINE");
		int e = io_engine_init();
		const struct io_engine_ops *o = io_engine();
		uint8_t b[4];
		/* The failing table fails every call with the init error. */
		int e2 = o->pread_all(p[1], b, 0, 0);
		/* A second look must not log again. */
		(void)io_engine_init();
		(void)io_engine();
		dprintf(p[1], "%d %d %s", e, e2, o->name);
		_exit(0);
	}
	close(p[1]);
	close(l[1]);
	ssize_t n = read(p[0], name, cap - 1);
	close(p[0]);
	if (log != NULL) {
		ssize_t k = 0, r;
		while (k < (ssize_t)logcap - 1 && (r = read(l[0], log + k, logcap - 1 - (size_t)k)) > 0)
			k += r;
		log[k] = 0;
	}
	close(l[0]);
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(n > 0);
	name[n] = 0;
	return 0;
}

/* A real fallback: io_uring_setup refused, as under a seccomp filter. */
static void test_fallback(void **state)
{
	(void)state;
	char out[64], log[512];
	engine_in_child_ex(NULL, true, out, sizeof out, log, sizeof log);
	assert_string_equal(out, "0 0 sync");
	assert_non_null(strstr(log, "io_uring unavailable (Operation not permitted): "
				    "using plain system calls"));
	/* Logged once, however many calls follow. */
	assert_null(strstr(strstr(log, "io_uring unavailable") + 1, "io_uring unavailable"));
	/* Forced, it is an error with the reason, and nothing falls back. */
	engine_in_child_ex("uring", true, out, sizeof out, log, sizeof log);
	assert_string_equal(out, "-1 -1 none");
	assert_non_null(strstr(log, "COFFER_IO_ENGINE=uring, but io_uring is unavailable "
				    "(Operation not permitted)"));
}

static void test_selection(void **state)
{
	(void)state;
	char out[64];
	engine_in_child("sync", out, sizeof out);
	assert_string_equal(out, "0 0 sync");
	engine_in_child("bogus", out, sizeof out);
	assert_string_equal(out, "-22 -22 none");
	const struct io_engine_ops *u;
	if (io_engine_uring(&u) == 0) {
		engine_in_child("uring", out, sizeof out);
		assert_string_equal(out, "0 0 uring");
		engine_in_child(NULL, out, sizeof out);
		assert_string_equal(out, "0 0 uring");
	} else {
		engine_in_child(NULL, out, sizeof out);
		assert_string_equal(out, "0 0 sync");
		engine_in_child("uring", out, sizeof out);
		assert_true(strncmp(out, "0 ", 2) != 0);
	}
}

#define ENGINE_TESTS                                                              \
	cmocka_unit_test_setup_teardown(test_read_files_shapes, setup, teardown), \
	cmocka_unit_test_setup_teardown(test_read_files_stat_first, setup, teardown), \
	cmocka_unit_test_setup_teardown(test_read_files_many, setup, teardown),   \
	cmocka_unit_test_setup_teardown(test_read_stream, setup, teardown),       \
	cmocka_unit_test_setup_teardown(test_read_stream_direct, setup, teardown), \
	cmocka_unit_test_setup_teardown(test_pread_pwrite, setup, teardown),      \
	cmocka_unit_test_setup_teardown(test_write_durable, setup, teardown),     \
	cmocka_unit_test_setup_teardown(test_write_stream, setup, teardown),      \
	cmocka_unit_test_setup_teardown(test_write_stream_direct, setup, teardown), \
	cmocka_unit_test_setup_teardown(test_threads, setup, teardown)

int main(void)
{
	const struct CMUnitTest sync_tests[] = { ENGINE_TESTS, cmocka_unit_test(test_selection),
					       cmocka_unit_test(test_fallback) };
	const struct CMUnitTest uring_tests[] = { ENGINE_TESTS };

	g_ops = io_engine_sync();
	int failed = cmocka_run_group_tests_name("sync", sync_tests, NULL, NULL);
	int e = io_engine_uring(&g_ops);
	if (e != 0) {
		fprintf(stderr, "io_uring unavailable (%s): uring engine not tested\n",
			strerror(-e));
		return failed ? failed : 77;
	}
	failed += cmocka_run_group_tests_name("uring", uring_tests, NULL, NULL);
	return failed;
}
