/*
 * Choice of the process's I/O engine (see engine.h). The choice is made
 * once, by the first caller, and logged only when it is not the default
 * (a fallback, or an engine forced through COFFER_IO_ENGINE).
 */
#include "io/engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static const struct io_engine_ops *engine_chosen;
static int engine_err;

/* The table used when the forced engine cannot run: everything fails. */
static int fail_read_files(struct io_file_req *reqs, size_t n, io_want_fn want, void *arg)
{
	(void)reqs, (void)n, (void)want, (void)arg;
	return engine_err;
}

static int fail_read_stream(int fd, uint64_t off, uint64_t len, io_sink_fn sink, void *arg,
			    uint64_t *done)
{
	(void)fd, (void)off, (void)len, (void)sink, (void)arg, (void)done;
	return engine_err;
}

static int fail_pread_all(int fd, void *p, size_t n, off_t off)
{
	(void)fd, (void)p, (void)n, (void)off;
	return engine_err;
}

static int fail_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	(void)fd, (void)p, (void)n, (void)off;
	return engine_err;
}

static int fail_fsync(int fd, bool datasync)
{
	(void)fd, (void)datasync;
	return engine_err;
}

static int fail_write_durable(int fd, const void *p, size_t n)
{
	(void)fd, (void)p, (void)n;
	return engine_err;
}

static int fail_write_stream(int fd, uint64_t off, uint64_t len, io_fill_fn fill, void *arg,
			     uint64_t *done)
{
	(void)fd, (void)off, (void)len, (void)fill, (void)arg;
	*done = 0;
	return engine_err;
}

static const struct io_engine_ops fail_ops = {
	.name = "none",
	.read_files = fail_read_files,
	.read_stream = fail_read_stream,
	.pread_all = fail_pread_all,
	.pwrite_all = fail_pwrite_all,
	.fsync = fail_fsync,
	.write_durable = fail_write_durable,
	.write_stream = fail_write_stream,
};

static void engine_choose(void)
{
	const char *force = getenv("COFFER_IO_ENGINE");
	const char *why;

	if (force != NULL && *force == 0)
		force = NULL;
	if (force != NULL && strcmp(force, "sync") == 0) {
		log_debug("I/O engine: plain system calls (COFFER_IO_ENGINE=sync)");
		engine_chosen = &io_sync_ops;
		return;
	}
	if (force != NULL && strcmp(force, "uring") != 0) {
		log_errorx("COFFER_IO_ENGINE=%s: unknown I/O engine (use sync or uring)", force);
		engine_err = -EINVAL;
		engine_chosen = &fail_ops;
		return;
	}
	int e = io_uring_probe(&why);
	if (e == 0) {
		log_debug("I/O engine: io_uring");
		engine_chosen = &io_uring_ops;
		return;
	}
	if (why == NULL)
		why = strerror(-e);
	if (force != NULL) {
		log_errorx("COFFER_IO_ENGINE=uring, but io_uring is unavailable (%s)", why);
		engine_err = e;
		engine_chosen = &fail_ops;
		return;
	}
	log_info("io_uring unavailable (%s): using plain system calls", why);
	engine_chosen = &io_sync_ops;
}

int io_stream_mode(int fd, uint64_t off, bool *direct)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	*direct = (fl & O_DIRECT) != 0;
	return *direct && off % IO_DIRECT_ALIGN != 0 ? -EINVAL : 0;
}

int io_engine_init(void)
{
	pthread_once(&engine_once, engine_choose);
	return engine_err;
}

const struct io_engine_ops *io_engine(void)
{
	pthread_once(&engine_once, engine_choose);
	return engine_chosen;
}

const struct io_engine_ops *io_engine_sync(void)
{
	return &io_sync_ops;
}

int io_engine_uring(const struct io_engine_ops **out)
{
	const char *why;
	int e = io_uring_probe(&why);
	if (e != 0)
		return e;
	*out = &io_uring_ops;
	return 0;
}

int io_engine_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	return io_engine()->pwrite_all(fd, p, n, off);
}

int io_engine_pread_all(int fd, void *p, size_t n, off_t off)
{
	return io_engine()->pread_all(fd, p, n, off);
}

int io_engine_fsync(int fd, bool datasync)
{
	return io_engine()->fsync(fd, datasync);
}

int io_engine_write_durable(int fd, const void *p, size_t n)
{
	return io_engine()->write_durable(fd, p, n);
}
