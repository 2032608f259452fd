/* Whole-buffer I/O helpers (io/io.h): no short reads or writes escape. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/io.h"

static void test_file_round_trip(void **state)
{
	(void)state;
	char path[] = "/tmp/coffer-io-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = 3 << 20;
	uint8_t *data = malloc(n), *back = malloc(n);
	assert_non_null(data);
	assert_non_null(back);
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 31 + 7);
	assert_int_equal(io_write_all(fd, data, n), 0);
	assert_int_equal(io_pwrite_all(fd, "XY", 2, 10), 0);
	assert_int_equal(io_pread_all(fd, back, n, 0), 0);
	assert_memory_equal(back + 10, "XY", 2);
	assert_memory_equal(back + 12, data + 12, n - 12);
	/* Reading past the end is an error, never a silent short read. */
	assert_int_equal(io_pread_all(fd, back, 16, (off_t)n - 8), -EIO);
	struct buf b = { 0 };
	assert_int_equal(io_read_file_at(AT_FDCWD, path, &b, n), 0);
	assert_int_equal(b.len, n);
	buf_reset(&b);
	assert_int_equal(io_read_file_at(AT_FDCWD, path, &b, n - 1), -EFBIG);
	buf_fini(&b);
	assert_int_equal(io_read_file_at(AT_FDCWD, "/nonexistent/coffer", &b, 10), -ENOENT);
	close(fd);
	unlink(path);
	free(data);
	free(back);
}

static void test_pipe_short_reads(void **state)
{
	(void)state;
	/* A pipe delivers data in pieces: io_read_up_to must gather them. */
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		for (int i = 0; i < 100; i++) {
			char c = (char)i;
			if (write(p[1], &c, 1) != 1)
				_exit(1);
			usleep(100);
		}
		_exit(0);
	}
	close(p[1]);
	uint8_t got[200];
	size_t n;
	assert_int_equal(io_read_up_to(p[0], got, sizeof got, &n), 0);
	assert_int_equal(n, 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(got[i], i);
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	assert_int_equal(st, 0);
}

static void test_write_errors(void **state)
{
	(void)state;
	int fd = open("/dev/full", O_WRONLY);
	if (fd < 0)
		skip();
	assert_int_equal(io_write_all(fd, "x", 1), -ENOSPC);
	close(fd);
	assert_int_equal(io_write_all(-1, "x", 1), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_round_trip),
		cmocka_unit_test(test_pipe_short_reads),
		cmocka_unit_test(test_write_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
