/*
 * The backup read-ahead (backup/prefetch.h) on real directories: files and
 * subdirectories queued for read-ahead, names that do not exist among
 * them, leave no descriptor behind once the read-ahead is freed, the
 * caller's own descriptor stays open, and many directories queued faster
 * than they can be listed hold a bounded number of descriptors (the
 * oldest queued ones are dropped), and odd entries of a listed directory
 * (FIFOs, symlinks) are stat'd without blocking.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/prefetch.h"
#include "io/engine.h"

#include "testutil.h"

#define SUBDIRS 150
/* Queued directories plus what the listing threads hold, with room to spare. */
#define FD_BOUND 100
#define BIG_ENTRIES 3000
#define PUSHES 600

struct fixture {
	char dir[256];
	int dfd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char name[32];

	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/coffer-test-prefetch-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->dfd >= 0);
	for (int i = 0; i < SUBDIRS; i++) {
		snprintf(name, sizeof name, "d%03d", i);
		assert_int_equal(mkdirat(f->dfd, name, 0755), 0);
		snprintf(name, sizeof name, "d%03d/file", i);
		int fd = openat(f->dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "content", 7), 7);
		close(fd);
	}
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

static void test_no_descriptor_left(void **state)
{
	struct fixture *f = *state;
	int before = testutil_open_fds();
	char name[32];

	struct prefetch *pf = prefetch_new(2);
	assert_non_null(pf);
	struct prefetch_dir *d = prefetch_dir_new(pf, f->dfd);
	assert_non_null(d);
	for (int i = SUBDIRS; i-- > 0;) {
		snprintf(name, sizeof name, "d%03d", i);
		prefetch_push_dir(d, name);
		prefetch_push(d, name, NULL); /* a directory among the files: skipped */
	}
	prefetch_push_dir(d, "missing");
	prefetch_push(d, "missing", NULL);
	prefetch_dir_put(d);

	/* A subdirectory's files, through its own prefetch_dir. */
	int sub = openat(f->dfd, "d000", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(sub >= 0);
	d = prefetch_dir_new(pf, sub);
	assert_non_null(d);
	prefetch_push(d, "file", NULL);
	prefetch_dir_put(d);
	close(sub);

	prefetch_free(pf);
	assert_int_equal(testutil_open_fds(), before);
	assert_true(fcntl(f->dfd, F_GETFD) >= 0);
}

/*
 * Jobs queued in prefetch_dirs of their own, each of which keeps a
 * descriptor while its job waits, pushed far faster than they are done
 * (each lists a directory of BIG_ENTRIES names): the descriptors held
 * right after the pushes stay within the bound.
 */
static void test_bounded_descriptors(void **state)
{
	struct fixture *f = *state;
	char name[32];

	assert_int_equal(mkdirat(f->dfd, "big", 0755), 0);
	int big = openat(f->dfd, "big", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(big >= 0);
	for (int i = 0; i < BIG_ENTRIES; i++) {
		snprintf(name, sizeof name, "entry-with-a-longer-name-%05d", i);
		int fd = openat(big, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
	close(big);
	int before = testutil_open_fds();
	struct prefetch *pf = prefetch_new(2);
	assert_non_null(pf);
	for (int i = 0; i < PUSHES; i++) {
		struct prefetch_dir *d = prefetch_dir_new(pf, f->dfd);
		assert_non_null(d);
		prefetch_push_dir(d, "big");
		prefetch_dir_put(d);
	}
	int held = testutil_open_fds() - before;
	prefetch_free(pf);
	assert_true(held <= FD_BOUND);
	assert_int_equal(testutil_open_fds(), before);
}

/*
 * A listed directory's entries are stat'd without following them: a FIFO,
 * a dangling symlink, a symlink to a FIFO and a name removed while queued
 * are passed over without blocking, and nothing stays open.
 */
static void test_odd_entries(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mkdirat(f->dfd, "odd", 0755), 0);
	int odd = openat(f->dfd, "odd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(odd >= 0);
	assert_int_equal(mkfifoat(odd, "fifo", 0644), 0);
	assert_int_equal(symlinkat("nowhere", odd, "dangling"), 0);
	assert_int_equal(symlinkat("fifo", odd, "to-fifo"), 0);
	assert_int_equal(mkdirat(odd, "sub", 0755), 0);
	int fd = openat(odd, "gone", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);

	int before = testutil_open_fds();
	struct prefetch *pf = prefetch_new(2);
	assert_non_null(pf);
	struct prefetch_dir *d = prefetch_dir_new(pf, f->dfd);
	assert_non_null(d);
	prefetch_push_dir(d, "odd");
	assert_int_equal(unlinkat(odd, "gone", 0), 0);
	prefetch_push_dir(d, "odd");
	prefetch_dir_put(d);
	prefetch_free(pf);
	assert_int_equal(testutil_open_fds(), before);
	close(odd);
}

int main(void)
{
	/* The engine's probe keeps a descriptor for the process: open it first. */
	if (io_engine_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_descriptor_left, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_entries, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
