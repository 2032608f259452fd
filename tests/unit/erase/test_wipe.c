/*
 * The overwrite engine (erase/wipe.h) on real files: a file full of a
 * marker is wiped with each method; afterwards no 4 KiB block holds the
 * marker, the content is exactly the method's final pass (zeros, a byte,
 * or the AES-256-CTR stream regenerated from the key), the result says
 * what was done, and wipe_file_at leaves no file behind. A block damaged
 * between the last pass and the verification is caught and named. Sizes
 * that are not multiples of 4 KiB, empty files, the buffered path and the
 * refusals are covered; the random stream is checked against a known
 * AES-256 value; device_probe and device_purge refuse what they must.
 *
 * The I/O engine is the process's: ctest runs this test a second time
 * with COFFER_IO_ENGINE=sync (unit.test_wipe.sync).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/stream.h"
#include "erase/device.h"
#include "erase/wipe.h"
#include "io/engine.h"
#include "testutil.h"

#define MARKER "COFFER-MARKER-0123456789"

struct fixture {
	char dir[64];
	int dfd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (f == NULL)
		return -1;
	/* /var/tmp: a disk filesystem (O_DIRECT), where /tmp may be a tmpfs. */
	snprintf(f->dir, sizeof f->dir, "/var/tmp/coffer-wipe-XXXXXX");
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

/* A file of n bytes of the marker, repeated; returns it open O_RDWR. */
static int make_marked(struct fixture *f, const char *name, size_t n)
{
	uint8_t *p = malloc(n + 1);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)MARKER[i % (sizeof MARKER - 1)];
	int fd = openat(f->dfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, 0), (ssize_t)n);
	assert_int_equal(fsync(fd), 0);
	free(p);
	return fd;
}

static uint64_t round4k(uint64_t n)
{
	return (n + 4095) & ~(uint64_t)4095;
}

/* The whole file, and its size in *n. */
static uint8_t *slurp(int fd, uint64_t *n)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	*n = (uint64_t)st.st_size;
	uint8_t *p = malloc(*n + 1);
	assert_non_null(p);
	assert_int_equal(pread(fd, p, *n, 0), (ssize_t)*n);
	return p;
}

/* No 4 KiB block (nor any span across two) holds the marker. */
static void assert_no_marker(const uint8_t *p, uint64_t n)
{
	const char *m = MARKER;
	size_t ml = 14; /* "COFFER-MARKER-": shorter than any period of it */
	for (uint64_t b = 0; b < n; b += 4096) {
		uint64_t end = b + 4096 + ml - 1 < n ? b + 4096 + ml - 1 : n;
		if (memmem(p + b, end - b, m, ml) != NULL)
			fail_msg("the marker survives in the block at %llu", (unsigned long long)b);
	}
}

static void assert_all(const uint8_t *p, uint64_t n, uint8_t v)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i] != v)
			fail_msg("byte %llu is 0x%02x, not 0x%02x", (unsigned long long)i, p[i], v);
}

/* p equals the keystream under key for [0, n). */
static void assert_stream(const uint8_t *p, uint64_t n, const uint8_t key[32])
{
	struct crypto_stream *s;
	uint8_t *want = malloc(n + 1);
	assert_non_null(want);
	assert_int_equal(crypto_stream_new(key, &s), 0);
	assert_int_equal(crypto_stream_at(s, 0, want, n), 0);
	crypto_stream_free(s);
	assert_memory_equal(p, want, n);
	free(want);
}

static const uint8_t test_key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				      17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
				      31, 32 };

static void assert_result_ok(const struct wipe_result *r, const char *method, unsigned passes,
			     uint64_t length)
{
	assert_string_equal(r->method, method);
	assert_string_equal(r->nist, "Clear");
	assert_string_equal(r->target, "file");
	assert_true(r->fs[0] != 0); /* the filesystem is named */
	assert_int_equal(r->passes, passes);
	assert_int_equal(r->passes_done, passes);
	assert_int_equal(r->length, length);
	for (unsigned i = 0; i < passes; i++)
		assert_int_equal(r->pass_bytes[i], length);
	assert_int_equal(r->verify, WIPE_VERIFY_PASSED);
	assert_int_equal(r->verified_bytes, length);
	assert_int_equal(r->error, 0);
	/* O_DIRECT on this filesystem, so the read-back came from the disk. */
	assert_true(r->direct_write);
	assert_int_equal(r->read_path, WIPE_READ_DIRECT);
	assert_true(r->elapsed_ns > 0);
	assert_true(r->verify_ns <= r->elapsed_ns);
}

/* zero: a size that is not a multiple of 4 KiB is overwritten up to the block. */
static void test_zero(void **state)
{
	struct fixture *f = *state;
	const size_t n = 3 * 4096 + 100;
	int fd = make_marked(f, "z", n);
	struct wipe_result r;
	assert_int_equal(wipe_fd(fd, WIPE_WHOLE, WIPE_ZERO, NULL, NULL, &r), 0);
	assert_result_ok(&r, "zero", 1, round4k(n));
	assert_string_equal(r.pattern, "0x00");
	uint64_t got;
	uint8_t *p = slurp(fd, &got);
	assert_int_equal(got, round4k(n)); /* up to the block, no further */
	assert_no_marker(p, got);
	assert_all(p, got, 0);
	/* The descriptor's flags are as they were (no O_DIRECT left on it). */
	assert_int_equal(fcntl(fd, F_GETFL) & (O_DIRECT | O_ACCMODE), O_RDWR);
	free(p);
	close(fd);
}

/* random: the content is the keystream under the key, regenerated here. */
static void test_random_keyed(void **state)
{
	struct fixture *f = *state;
	const size_t n = 2 * IO_WRITE_BLOCK + 777;
	int fd = make_marked(f, "r", n);
	struct wipe_result r;
	struct wipe_opts o = { .method = WIPE_RANDOM, .random_key = test_key };
	assert_int_equal(wipe_fd_ex(fd, WIPE_WHOLE, &o, &r), 0);
	assert_result_ok(&r, "random", 1, round4k(n));
	assert_string_equal(r.pattern, "random");
	uint64_t got;
	uint8_t *p = slurp(fd, &got);
	assert_int_equal(got, round4k(n));
	assert_no_marker(p, got);
	assert_stream(p, got, test_key);
	free(p);
	close(fd);
}

/* random with a fresh key: verified, not the marker, different every time. */
static void test_random_fresh(void **state)
{
	struct fixture *f = *state;
	const size_t n = 64 * 1024;
	int fd = make_marked(f, "rf", n);
	struct wipe_result r;
	assert_int_equal(wipe_fd(fd, WIPE_WHOLE, WIPE_RANDOM, NULL, NULL, &r), 0);
	assert_result_ok(&r, "random", 1, n);
	uint64_t got;
	uint8_t *a = slurp(fd, &got);
	assert_no_marker(a, got);
	assert_int_equal(wipe_fd(fd, WIPE_WHOLE, WIPE_RANDOM, NULL, NULL, &r), 0);
	uint8_t *b = slurp(fd, &got);
	assert_int_equal(got, n);
	assert_true(memcmp(a, b, n) != 0);
	/* Not a short repeating pattern: no 16-byte block equals the first. */
	for (size_t i = 16; i < n; i += 16)
		assert_true(memcmp(a, a + i, 16) != 0);
	free(a);
	free(b);
	close(fd);
}

struct prog {
	unsigned calls;
	uint64_t last_done, total;
	unsigned last_pass, passes;
	bool backwards;
};

static void on_progress(void *arg, uint64_t done, uint64_t total, unsigned pass, unsigned passes)
{
	struct prog *p = arg;
	p->backwards |= done < p->last_done;
	p->calls++;
	p->last_done = done;
	p->total = total;
	p->last_pass = pass;
	p->passes = passes;
}

static uint64_t mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * bmb21: three passes, 0x00, 0xFF, then random, each written in full; the
 * file holds the random pass. Progress is rate-limited and ends at total.
 */
static void test_bmb21(void **state)
{
	struct fixture *f = *state;
	const size_t n = 8 * IO_WRITE_BLOCK + 5;
	int fd = make_marked(f, "b", n);
	struct wipe_result r;
	struct prog pg = { 0 };
	struct wipe_opts o = { .method = WIPE_BMB21, .random_key = test_key,
			       .progress = on_progress, .arg = &pg };
	uint64_t t0 = mono();
	assert_int_equal(wipe_fd_ex(fd, WIPE_WHOLE, &o, &r), 0);
	uint64_t took = mono() - t0;
	assert_result_ok(&r, "bmb21", 3, round4k(n));
	assert_string_equal(r.pattern, "0x00,0xff,random");
	uint64_t got;
	uint8_t *p = slurp(fd, &got);
	assert_no_marker(p, got);
	assert_stream(p, got, test_key);
	free(p);
	/* At most 5 a second, plus the last one. */
	assert_true(pg.calls >= 1);
	assert_true(pg.calls <= took / 200000000u + 2);
	assert_false(pg.backwards);
	assert_int_equal(pg.total, 4 * round4k(n));
	assert_int_equal(pg.last_done, pg.total);
	assert_int_equal(pg.last_pass, 4); /* the verification */
	assert_int_equal(pg.passes, 3);
	close(fd);
}

/* A configured pattern replaces the method's passes and is recorded. */
static void test_custom_pattern(void **state)
{
	struct fixture *f = *state;
	struct wipe_pattern pat;
	assert_int_equal(wipe_pattern_parse("random,0xAa", &pat), 0);
	int fd = make_marked(f, "c", 10000);
	struct wipe_result r;
	struct wipe_opts o = { .method = WIPE_BMB21, .pattern = &pat };
	assert_int_equal(wipe_fd_ex(fd, WIPE_WHOLE, &o, &r), 0);
	assert_result_ok(&r, "bmb21", 2, round4k(10000));
	assert_string_equal(r.pattern, "random,0xaa");
	uint64_t got;
	uint8_t *p = slurp(fd, &got);
	assert_all(p, got, 0xaa);
	free(p);
	close(fd);
}

static void test_pattern_text(void **state)
{
	(void)state;
	struct wipe_pattern p;
	char buf[96];
	assert_int_equal(wipe_method_pattern(WIPE_BMB21, &p), 0);
	assert_int_equal(wipe_pattern_format(&p, buf, sizeof buf), 0);
	assert_string_equal(buf, "0x00,0xff,random");
	assert_int_equal(wipe_pattern_parse("00,FF,random", &p), 0);
	assert_int_equal(p.passes, 3);
	assert_int_equal(p.pass[1].kind, WIPE_PASS_BYTE);
	assert_int_equal(p.pass[1].byte, 0xff);
	assert_int_equal(p.pass[2].kind, WIPE_PASS_RANDOM);
	assert_int_equal(wipe_pattern_format(&p, buf, 10), -ENAMETOOLONG);
	const char *bad[] = { "", "0x1", "random,", ",00", "zz", "0x100", "rand", "00 ",
			      "00,00,00,00,00,00,00,00,00" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (wipe_pattern_parse(bad[i], &p) != -EINVAL)
			fail_msg("pattern '%s' accepted", bad[i]);
	assert_int_equal(wipe_pattern_parse("00,00,00,00,00,00,00,random", &p), 0);
	assert_int_equal(p.passes, 8);
	enum wipe_method m;
	assert_int_equal(wipe_method_parse("bmb21", &m), 0);
	assert_int_equal(m, WIPE_BMB21);
	assert_int_equal(wipe_method_parse("gutmann", &m), -EINVAL);
	assert_null(wipe_method_name((enum wipe_method)7));
}

struct damage {
	uint64_t off;
	const char *path;
};

/* before_verify: a byte changed behind the wipe's back, through another descriptor. */
static int damage_one(void *arg, int fd, uint64_t length)
{
	(void)fd;
	struct damage *d = arg;
	assert_true(d->off < length);
	int w = open(d->path, O_WRONLY | O_CLOEXEC);
	assert_true(w >= 0);
	uint8_t b = 0x5a;
	assert_int_equal(pwrite(w, &b, 1, (off_t)d->off), 1);
	assert_int_equal(fsync(w), 0);
	close(w);
	return 0;
}

/* A damaged block fails the verification, which names the first bad byte. */
static void check_mismatch(struct fixture *f, enum wipe_method m, bool buffered)
{
	const size_t n = 3 * IO_STREAM_BLOCK + 12345;
	char path[128];
	snprintf(path, sizeof path, "%s/m", f->dir);
	int fd = make_marked(f, "m", n);
	struct damage d = { .off = IO_STREAM_BLOCK + 4096 * 3 + 17, .path = path };
	struct wipe_result r;
	struct wipe_opts o = { .method = m, .before_verify = damage_one, .arg = &d,
			       .no_direct = buffered };
	assert_int_equal(wipe_fd_ex(fd, WIPE_WHOLE, &o, &r), -EBADMSG);
	assert_int_equal(r.error, -EBADMSG);
	assert_int_equal(r.verify, WIPE_VERIFY_MISMATCH);
	assert_int_equal(r.mismatch_offset, d.off);
	assert_int_equal(r.verified_bytes, d.off);
	assert_int_equal(r.passes_done, r.passes);
	assert_int_equal(r.direct_write, !buffered);
	assert_int_equal(r.read_path, buffered ? WIPE_READ_DROPPED : WIPE_READ_DIRECT);
	close(fd);
}

static void test_mismatch_zero(void **state)
{
	check_mismatch(*state, WIPE_ZERO, false);
}

static void test_mismatch_random(void **state)
{
	check_mismatch(*state, WIPE_RANDOM, false);
}

static void test_mismatch_bmb21_buffered(void **state)
{
	check_mismatch(*state, WIPE_BMB21, true);
}

/* Without O_DIRECT: buffered writes, the cache dropped before reading back. */
static void test_buffered(void **state)
{
	struct fixture *f = *state;
	const size_t n = IO_WRITE_BLOCK + 1;
	int fd = make_marked(f, "buf", n);
	struct wipe_result r;
	struct wipe_opts o = { .method = WIPE_ZERO, .no_direct = true };
	assert_int_equal(wipe_fd_ex(fd, WIPE_WHOLE, &o, &r), 0);
	assert_false(r.direct_write);
	assert_int_equal(r.read_path, WIPE_READ_DROPPED);
	assert_int_equal(r.verify, WIPE_VERIFY_PASSED);
	assert_int_equal(r.verified_bytes, round4k(n));
	uint64_t got;
	uint8_t *p = slurp(fd, &got);
	assert_all(p, got, 0);
	free(p);
	close(fd);
	/* A descriptor already O_DIRECT keeps it. */
	fd = openat(f->dfd, "buf", O_RDWR | O_DIRECT | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(wipe_fd(fd, WIPE_WHOLE, WIPE_ZERO, NULL, NULL, &r), 0);
	assert_true(r.direct_write);
	assert_true(fcntl(fd, F_GETFL) & O_DIRECT);
	close(fd);
}

/* wipe_file_at, every method and odd sizes: the file is gone afterwards. */
static void test_file_at_sizes(void **state)
{
	struct fixture *f = *state;
	const size_t sizes[] = { 0, 1, 4095, 4096, 4097, IO_WRITE_BLOCK + 1, 3 * IO_WRITE_BLOCK };
	const enum wipe_method ms[] = { WIPE_ZERO, WIPE_RANDOM, WIPE_BMB21 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		for (size_t k = 0; k < 3; k++) {
			close(make_marked(f, "f", sizes[i]));
			struct wipe_result r;
			struct prog pg = { 0 };
			assert_int_equal(wipe_file_at(f->dfd, "f", ms[k], on_progress, &pg, &r), 0);
			assert_int_equal(r.length, round4k(sizes[i]));
			assert_int_equal(r.verify, WIPE_VERIFY_PASSED);
			assert_int_equal(r.verified_bytes, round4k(sizes[i]));
			assert_int_equal(r.passes_done, ms[k] == WIPE_BMB21 ? 3 : 1);
			assert_int_equal(pg.last_done, pg.total);
			assert_int_equal(faccessat(f->dfd, "f", F_OK, AT_SYMLINK_NOFOLLOW), -1);
			assert_int_equal(errno, ENOENT);
		}
	}
}

/* wipe_fd on a kept file: the zero-size file stays empty and passes. */
static void test_empty(void **state)
{
	struct fixture *f = *state;
	int fd = make_marked(f, "e", 0);
	struct wipe_result r;
	assert_int_equal(wipe_fd(fd, WIPE_WHOLE, WIPE_BMB21, NULL, NULL, &r), 0);
	assert_int_equal(r.length, 0);
	assert_int_equal(r.verify, WIPE_VERIFY_PASSED);
	assert_int_equal(r.verified_bytes, 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 0);
	close(fd);
}

/* A length below the size wipes that much (rounded up), never more; above, the size. */
static void test_length(void **state)
{
	struct fixture *f = *state;
	const size_t n = 40000;
	int fd = make_marked(f, "l", n);
	struct wipe_result r;
	assert_int_equal(wipe_fd(fd, 5000, WIPE_ZERO, NULL, NULL, &r), 0);
	assert_int_equal(r.length, 8192);
	uint64_t got;
	uint8_t *p = slurp(fd, &got);
	assert_int_equal(got, n);
	assert_all(p, 8192, 0);
	/* The bytes past the rounded length keep the marker, from where it stood. */
	const char *marker = MARKER;
	assert_memory_equal(p + 8192, &marker[8192 % (sizeof MARKER - 1)], 10);
	free(p);
	assert_int_equal(wipe_fd(fd, 1u << 30, WIPE_ZERO, NULL, NULL, &r), 0);
	assert_int_equal(r.length, round4k(n));
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, round4k(n));
	close(fd);
}

/* What wipe_fd and wipe_file_at refuse, and that they record the refusal. */
static void test_refusals(void **state)
{
	struct fixture *f = *state;
	struct wipe_result r;
	close(make_marked(f, "x", 9000));
	int fd = openat(f->dfd, "x", O_WRONLY | O_CLOEXEC);
	assert_int_equal(wipe_fd(fd, WIPE_WHOLE, WIPE_ZERO, NULL, NULL, &r), -EBADF);
	assert_int_equal(r.error, -EBADF);
	assert_int_equal(r.verify, WIPE_VERIFY_NOT_DONE);
	close(fd);
	fd = openat(f->dfd, "x", O_RDONLY | O_CLOEXEC);
	assert_int_equal(wipe_fd(fd, WIPE_WHOLE, WIPE_ZERO, NULL, NULL, &r), -EBADF);
	close(fd);
	fd = openat(f->dfd, "x", O_RDWR | O_APPEND | O_CLOEXEC);
	assert_int_equal(wipe_fd(fd, WIPE_WHOLE, WIPE_ZERO, NULL, NULL, &r), -EINVAL);
	close(fd);
	assert_int_equal(wipe_fd(-1, WIPE_WHOLE, WIPE_ZERO, NULL, NULL, &r), -EBADF);
	assert_int_equal(wipe_fd(0, WIPE_WHOLE, (enum wipe_method)9, NULL, NULL, &r), -EINVAL);
	int pp[2];
	assert_int_equal(pipe(pp), 0);
	assert_int_equal(wipe_fd(pp[0], WIPE_WHOLE, WIPE_ZERO, NULL, NULL, &r), -EINVAL);
	close(pp[0]);
	close(pp[1]);
	struct wipe_pattern empty = { 0 };
	fd = openat(f->dfd, "x", O_RDWR | O_CLOEXEC);
	struct wipe_opts o = { .method = WIPE_ZERO, .pattern = &empty };
	assert_int_equal(wipe_fd_ex(fd, WIPE_WHOLE, &o, &r), -EINVAL);
	close(fd);
	/* The untouched file still holds the marker. */
	fd = openat(f->dfd, "x", O_RDONLY | O_CLOEXEC);
	char b[14];
	assert_int_equal(pread(fd, b, sizeof b, 0), (ssize_t)sizeof b);
	assert_memory_equal(b, MARKER, sizeof b);
	close(fd);

	assert_int_equal(wipe_file_at(f->dfd, "missing", WIPE_ZERO, NULL, NULL, &r), -ENOENT);
	assert_int_equal(symlinkat("x", f->dfd, "link"), 0);
	assert_int_equal(wipe_file_at(f->dfd, "link", WIPE_ZERO, NULL, NULL, &r), -ELOOP);
	assert_int_equal(mkdirat(f->dfd, "d", 0700), 0);
	assert_int_equal(wipe_file_at(f->dfd, "d", WIPE_ZERO, NULL, NULL, &r), -EISDIR);
	assert_int_equal(mkfifoat(f->dfd, "fifo", 0600), 0);
	assert_int_equal(wipe_file_at(f->dfd, "fifo", WIPE_ZERO, NULL, NULL, &r), -EINVAL);
	assert_int_equal(faccessat(f->dfd, "x", F_OK, 0), 0); /* nothing removed */
	assert_int_equal(faccessat(f->dfd, "fifo", F_OK, AT_SYMLINK_NOFOLLOW), 0);
}

/* A failed verification leaves the file in place, for a retry. */
static void test_file_at_keeps_on_failure(void **state)
{
	struct fixture *f = *state;
	char path[128];
	snprintf(path, sizeof path, "%s/k", f->dir);
	close(make_marked(f, "k", 50000));
	struct damage d = { .off = 40000, .path = path };
	struct wipe_result r;
	struct wipe_opts o = { .method = WIPE_ZERO, .before_verify = damage_one, .arg = &d };
	assert_int_equal(wipe_file_at_ex(f->dfd, "k", &o, &r), -EBADMSG);
	assert_int_equal(r.mismatch_offset, 40000);
	assert_int_equal(faccessat(f->dfd, "k", F_OK, 0), 0);
}

/* The keystream: AES-256 of the zero block under the zero key, and any offset. */
static void test_stream(void **state)
{
	(void)state;
	static const uint8_t zero_key[32];
	static const uint8_t kat[16] = { 0xdc, 0x95, 0xc0, 0x78, 0xa2, 0x40, 0x89, 0x89,
					 0xad, 0x48, 0xa2, 0x14, 0x92, 0x84, 0x20, 0x87 };
	struct crypto_stream *s;
	uint8_t all[4096], part[1000];
	assert_int_equal(crypto_stream_new(zero_key, &s), 0);
	assert_int_equal(crypto_stream_at(s, 0, all, sizeof all), 0);
	assert_memory_equal(all, kat, 16);
	const uint64_t offs[] = { 1, 15, 16, 17, 1000, 3000 };
	for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
		size_t n = offs[i] + sizeof part <= sizeof all ? sizeof part : sizeof all - offs[i];
		assert_int_equal(crypto_stream_at(s, offs[i], part, n), 0);
		assert_memory_equal(part, all + offs[i], n);
	}
	crypto_stream_free(s);
	crypto_stream_free(NULL);
}

/* device_probe refuses what is not a block device, naming it. */
static void test_device_not_block(void **state)
{
	struct fixture *f = *state;
	struct device_info d;
	char path[128];
	close(make_marked(f, "img", 4096));
	snprintf(path, sizeof path, "%s/img", f->dir);
	assert_int_equal(device_probe(path, &d), -ENOTBLK);
	assert_non_null(strstr(d.why, "is not a block device (a regular file)"));
	assert_non_null(strstr(d.why, path));
	assert_int_equal(device_probe("/dev/null", &d), -ENOTBLK);
	assert_non_null(strstr(d.why, "a character device"));
	assert_int_equal(device_probe(f->dir, &d), -ENOTBLK);
	assert_int_equal(device_probe("/nonexistent/dev", &d), -ENOENT);
}

/*
 * The device the root filesystem is on, reached through a device node
 * made here, is refused as mounted at "/" (root only; skipped where the
 * root filesystem is not on a block device, e.g. an overlay).
 */
static void test_device_mounted(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char path[128], want[160];
	assert_int_equal(stat("/", &st), 0);
	if (geteuid() != 0 || major(st.st_dev) == 0)
		skip();
	snprintf(path, sizeof path, "%s/rootdev", f->dir);
	assert_int_equal(mknod(path, S_IFBLK | 0600, st.st_dev), 0);
	struct device_info d;
	assert_int_equal(device_probe(path, &d), -EBUSY);
	snprintf(want, sizeof want, "(%u:%u) is mounted at /", major(st.st_dev), minor(st.st_dev));
	assert_non_null(strstr(d.why, want));
}

/* Purge is refused, with the reason, where the device has no secure erase. */
static void test_purge_unsupported(void **state)
{
	(void)state;
	struct device_info d = { .size = 1 << 20 };
	struct wipe_result r;
	snprintf(d.name, sizeof d.name, "loop9");
	assert_int_equal(device_purge(-1, &d, &r), -EOPNOTSUPP);
	assert_string_equal(r.nist, ""); /* nothing done, nothing claimed */
	assert_int_equal(r.passes_done, 0);
	assert_non_null(strstr(r.note, "loop9 has no secure erase"));
	d.nvme = true;
	snprintf(d.name, sizeof d.name, "nvme0n1");
	assert_int_equal(device_purge(-1, &d, &r), -EOPNOTSUPP);
	assert_non_null(strstr(r.note, "NVMe Sanitize"));
	assert_string_equal(r.nist, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_keyed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bmb21, setup, teardown),
		cmocka_unit_test_setup_teardown(test_custom_pattern, setup, teardown),
		cmocka_unit_test(test_pattern_text),
		cmocka_unit_test_setup_teardown(test_mismatch_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mismatch_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mismatch_bmb21_buffered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_at_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_at_keeps_on_failure, setup, teardown),
		cmocka_unit_test(test_stream),
		cmocka_unit_test_setup_teardown(test_device_not_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_mounted, setup, teardown),
		cmocka_unit_test(test_purge_unsupported),
	};
	if (io_engine_init() != 0)
		return 1;
	fprintf(stderr, "I/O engine: %s\n", io_engine()->name);
	return cmocka_run_group_tests_name(io_engine()->name, tests, NULL, NULL);
}
