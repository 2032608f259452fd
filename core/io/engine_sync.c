/*
 * The plain-syscall engine (see engine.h): the fallback when io_uring is
 * unavailable, and the reference the io_uring engine is tested against.
 * Everything is done one call at a time; large files get a sequential
 * read-ahead hint instead of reads in flight.
 */
#include "io/engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "io/io.h"

/* statx of an open descriptor, filling what fstat knows (statx(2) may be
 * filtered where fstat is not). */
static void stat_to_statx(const struct stat *stp, struct statx *stx)
{
	const struct stat st = *stp;
	memset(stx, 0, sizeof *stx);
	stx->stx_mask = STATX_BASIC_STATS;
	stx->stx_mode = (uint16_t)st.st_mode;
	stx->stx_ino = (uint64_t)st.st_ino;
	stx->stx_size = (uint64_t)st.st_size;
	stx->stx_nlink = (uint32_t)st.st_nlink;
	stx->stx_uid = st.st_uid;
	stx->stx_gid = st.st_gid;
	stx->stx_blocks = (uint64_t)st.st_blocks;
	stx->stx_mtime.tv_sec = st.st_mtim.tv_sec;
	stx->stx_mtime.tv_nsec = (uint32_t)st.st_mtim.tv_nsec;
	stx->stx_ctime.tv_sec = st.st_ctim.tv_sec;
	stx->stx_ctime.tv_nsec = (uint32_t)st.st_ctim.tv_nsec;
	stx->stx_atime.tv_sec = st.st_atim.tv_sec;
	stx->stx_atime.tv_nsec = (uint32_t)st.st_atim.tv_nsec;
	stx->stx_dev_major = major(st.st_dev);
	stx->stx_dev_minor = minor(st.st_dev);
}

static int sync_statx(int fd, struct statx *stx)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -errno;
	stat_to_statx(&st, stx);
	return 0;
}

static void sync_read_one(struct io_file_req *r, io_want_fn want, void *arg)
{
	r->err = 0;
	r->skipped = false;
	r->len = 0;
	if (r->stat_first) {
		struct stat st;
		if (fstatat(r->dirfd, r->name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			r->err = -errno;
			return;
		}
		stat_to_statx(&st, &r->stx);
		if (!S_ISREG(st.st_mode) || (want != NULL && !want(r, arg))) {
			r->skipped = true;
			return;
		}
	}
	int fd = openat(r->dirfd, r->name, IO_READ_FLAGS | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(r->dirfd, r->name, IO_READ_FLAGS);
	if (fd < 0) {
		r->err = -errno;
		return;
	}
	r->err = sync_statx(fd, &r->stx);
	if (r->err != 0)
		goto out;
	/* want() has already accepted a stat_first file. */
	if (!S_ISREG(r->stx.stx_mode) || (want != NULL && !r->stat_first && !want(r, arg))) {
		r->skipped = true;
		goto out;
	}
	r->err = io_read_up_to(fd, r->buf, r->cap, &r->len);
	if (r->err == 0 && r->readahead > r->cap && r->stx.stx_size > r->cap)
		(void)posix_fadvise(fd, (off_t)r->cap, (off_t)(r->readahead - r->cap),
				    POSIX_FADV_WILLNEED);
out:
	close(fd);
}

static int sync_read_files(struct io_file_req *reqs, size_t n, io_want_fn want, void *arg)
{
	for (size_t i = 0; i < n; i++)
		sync_read_one(&reqs[i], want, arg);
	return 0;
}

static int sync_read_stream(int fd, uint64_t off, uint64_t len, io_sink_fn sink, void *arg,
			    uint64_t *done)
{
	size_t bs = len < IO_STREAM_BLOCK ? (size_t)len : IO_STREAM_BLOCK;
	uint64_t got = 0;
	bool direct;
	int e;

	if (len == 0) {
		*done = 0;
		return 0;
	}
	if ((e = io_stream_mode(fd, off, &direct)) != 0)
		return e;
	/* Aligned and rounded up, so that O_DIRECT reads can use it. */
	uint8_t *b = aligned_alloc(IO_DIRECT_ALIGN, io_direct_round(bs));
	if (b == NULL)
		return -ENOMEM;
	if (len > IO_STREAM_BLOCK && !direct)
		(void)posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_SEQUENTIAL);
	while (got < len) {
		size_t want = len - got < bs ? (size_t)(len - got) : bs;
		size_t ask = direct ? io_direct_round(want) : want;
		ssize_t r = pread(fd, b, ask, (off_t)(off + got));
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0) {
			e = -errno;
			goto out;
		}
		if (r == 0)
			break;
		size_t n = (size_t)r < want ? (size_t)r : want;
		e = sink(arg, b, n);
		if (e != 0)
			goto out;
		got += n;
		/* A short direct read is the end of the file: the rest of a
		 * block cannot be asked for at an unaligned offset. */
		if (direct && (size_t)r < ask)
			break;
	}
	*done = got;
out:
	free(b);
	return e;
}

/*
 * One block at a time: fill, then write it whole, so *done is exact. The
 * buffer is aligned and rounded up for descriptors opened with O_DIRECT.
 */
static int sync_write_stream(int fd, uint64_t off, uint64_t len, io_fill_fn fill, void *arg,
			     uint64_t *done)
{
	size_t bs = len < IO_WRITE_BLOCK ? (size_t)len : IO_WRITE_BLOCK;
	uint64_t put = 0;
	bool direct;
	int e;

	*done = 0;
	if (len == 0)
		return 0;
	if ((e = io_stream_mode(fd, off, &direct)) != 0)
		return e;
	uint8_t *b = aligned_alloc(IO_DIRECT_ALIGN, io_direct_round(bs));
	if (b == NULL)
		return -ENOMEM;
	while (put < len) {
		size_t n = len - put < bs ? (size_t)(len - put) : bs;
		if ((e = fill(arg, off + put, b, n)) != 0)
			break;
		if ((e = io_pwrite_all(fd, b, n, (off_t)(off + put))) != 0)
			break;
		put += n;
		*done = put;
	}
	free(b);
	return e;
}

static int sync_fsync(int fd, bool datasync)
{
	int r;
	do
		r = datasync ? fdatasync(fd) : fsync(fd);
	while (r != 0 && errno == EINTR);
	return r != 0 ? -errno : 0;
}

static int sync_write_durable(int fd, const void *p, size_t n)
{
	int e = io_pwrite_all(fd, p, n, 0);
	if (e != 0)
		return e;
	return sync_fsync(fd, false);
}

const struct io_engine_ops io_sync_ops = {
	.name = "sync",
	.read_files = sync_read_files,
	.read_stream = sync_read_stream,
	.write_stream = sync_write_stream,
	.pread_all = io_pread_all,
	.pwrite_all = io_pwrite_all,
	.fsync = sync_fsync,
	.write_durable = sync_write_durable,
};
