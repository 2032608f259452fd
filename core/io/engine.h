/*
 * The I/O engine: the calls on Coffer's hot paths (reading many small
 * files during a backup, streaming large files, writing and syncing packs,
 * restore writes) behind one table of operations, so the same code runs on
 * io_uring or on plain system calls.
 *
 * One engine is chosen per process, on first use: io_uring when a ring can
 * be set up and the kernel knows every operation we use, plain system
 * calls otherwise (seccomp filters in containers, old kernels,
 * kernel.io_uring_disabled). Falling back is logged once, with the reason.
 * COFFER_IO_ENGINE=sync or =uring in the environment forces one; uring
 * forced but unavailable is an error, not a silent fallback.
 *
 * Rings are per thread, created on a thread's first call and destroyed when
 * it exits, so no ring is ever shared and no call takes a lock. Every call
 * has finished with the caller's buffers when it returns: nothing stays in
 * flight between calls.
 *
 * All calls return 0 or a negative errno; short reads and writes, EINTR
 * and EAGAIN are dealt with inside. docs/io.md has the details.
 */
#ifndef COFFER_IO_ENGINE_H
#define COFFER_IO_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Files one read_files batch handles together (the ring's queue depth). */
#define IO_BATCH 32
/* Block size and blocks in flight of read_stream and of large rw calls. */
#define IO_STREAM_BLOCK (1u << 20)
#define IO_STREAM_DEPTH 4
/*
 * read_stream on a descriptor opened (or fcntl'd) with O_DIRECT reads in
 * whole units of this size from buffers aligned to it; off must be a
 * multiple of it (-EINVAL otherwise). Any filesystem's logical block size
 * divides it.
 */
#define IO_DIRECT_ALIGN 4096u
/*
 * Block size and blocks in flight of write_stream: overwriting a device or
 * a file at the disk's full speed needs a deep queue of large writes.
 */
#define IO_WRITE_BLOCK (1u << 20)
#define IO_WRITE_DEPTH 32

/*
 * One small file for read_files. The file is opened read-only, without
 * following a final symlink, without blocking on a FIFO and (where the
 * caller owns the file) without updating its atime.
 */
struct io_file_req {
	int dirfd;          /* in: name is relative to it */
	const char *name;   /* in */
	void *buf;          /* in: the content goes here... */
	size_t cap;         /* in: ...up to cap bytes */
	uint64_t readahead; /* in: if the file is larger than cap, ask the kernel
			     * to read up to this many bytes of it ahead (0: no) */
	void *user;         /* in: for the caller's want() callback */
	bool stat_first;    /* in: statx the name first and open the file only if
			     * want() accepts it: for files that are probably
			     * unchanged, whose opening would be wasted */
	int err;            /* out: 0, or -errno of the open, statx or read */
	bool skipped;       /* out: want() declined it, or it is not a regular file */
	size_t len;         /* out: bytes read into buf (stx.stx_size may be more) */
	struct statx stx;   /* out: of the opened file, valid when err == 0 */
};

/*
 * Decides after the statx whether a file's content is read; r->stx is
 * valid. Only called for regular files.
 */
typedef bool (*io_want_fn)(const struct io_file_req *r, void *arg);
/*
 * Receives a stream's data in file order. A non-zero return stops the
 * stream and is returned by read_stream.
 */
typedef int (*io_sink_fn)(void *arg, const void *p, size_t n);
/*
 * Produces the content of one block of a write_stream: n bytes for the
 * file offset off, into buf (aligned to IO_DIRECT_ALIGN). Called on the
 * thread that called write_stream, in file order. A non-zero return stops
 * the stream and is returned by write_stream.
 */
typedef int (*io_fill_fn)(void *arg, uint64_t off, void *buf, size_t n);

struct io_engine_ops {
	const char *name; /* "uring" or "sync" */
	/*
	 * Opens, statx's, reads and closes n files, IO_BATCH at a time.
	 * Per-file failures land in reqs[i].err; the call itself fails only
	 * when the engine does (-ENOMEM...). want may be NULL (read all).
	 */
	int (*read_files)(struct io_file_req *reqs, size_t n, io_want_fn want, void *arg);
	/*
	 * Reads [off, off + len) of fd in IO_STREAM_BLOCK blocks with up to
	 * IO_STREAM_DEPTH in flight, handing each to sink in order. *done
	 * is set to the bytes handed over; it is less than len (and the call
	 * returns 0) when the file ends early. Returns a read error as
	 * -errno, or sink's non-zero result. With O_DIRECT on fd, reads
	 * bypass the page cache (no copy out of it; see IO_DIRECT_ALIGN).
	 */
	int (*read_stream)(int fd, uint64_t off, uint64_t len, io_sink_fn sink, void *arg,
			   uint64_t *done);
	/*
	 * Writes [off, off + len) of fd in IO_WRITE_BLOCK blocks with up to
	 * IO_WRITE_DEPTH in flight (one at a time on the sync engine), each
	 * block's content made by fill just before it is submitted. Returns 0
	 * once every write has completed (the data may still be in the page
	 * cache: fsync is the caller's), -errno of a failed write, or fill's
	 * non-zero result. *done is set in every case to the bytes from off
	 * known to be written in full and in order (len on success; on
	 * failure where the stream stopped, erring low). With O_DIRECT on fd
	 * the page cache is bypassed: off must then be a multiple of
	 * IO_DIRECT_ALIGN (-EINVAL otherwise) and len a multiple of the
	 * device's logical block size (else the kernel fails the last write).
	 * Writing past the end of a block device is the kernel's -ENOSPC; a
	 * write that makes no progress is -EIO.
	 */
	int (*write_stream)(int fd, uint64_t off, uint64_t len, io_fill_fn fill, void *arg,
			    uint64_t *done);
	/* Reads exactly n bytes at off; -EIO if the file ends first. */
	int (*pread_all)(int fd, void *p, size_t n, off_t off);
	/* Writes all n bytes at off. */
	int (*pwrite_all)(int fd, const void *p, size_t n, off_t off);
	/* fsync, or fdatasync with datasync. */
	int (*fsync)(int fd, bool datasync);
	/*
	 * The durable write of a new file (a pack in tmp/): all n bytes at
	 * offset 0, then fsync; on return 0 the content is on stable storage.
	 */
	int (*write_durable)(int fd, const void *p, size_t n);
};

/*
 * Chooses the process's engine if not done yet (see above). Returns 0, or
 * -errno when COFFER_IO_ENGINE forces an engine that cannot run (the
 * reason is logged) or names none we know (-EINVAL). Callers need not
 * call it: io_engine() does, but a program may call it first to fail
 * early with a clear message.
 */
int io_engine_init(void);
/*
 * The process's engine. When io_engine_init() failed, every operation of
 * the returned table fails with its error.
 */
const struct io_engine_ops *io_engine(void);

/* The two engines, for tests and benchmarks. uring fails with -errno if
 * io_uring cannot be used here. */
const struct io_engine_ops *io_engine_sync(void);
int io_engine_uring(const struct io_engine_ops **out);

/*
 * Shorthands for the process engine. io_engine_pwrite_all is the
 * positional write-all for restore (instead of io/io.h's io_pwrite_all).
 */
int io_engine_pwrite_all(int fd, const void *p, size_t n, off_t off);
int io_engine_pread_all(int fd, void *p, size_t n, off_t off);
int io_engine_fsync(int fd, bool datasync);
int io_engine_write_durable(int fd, const void *p, size_t n);

#endif
