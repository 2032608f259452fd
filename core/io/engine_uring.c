/*
 * The io_uring engine (see engine.h). Each thread gets its own ring on its
 * first call; a thread that cannot get one (memlock limit, a seccomp
 * filter applied later) quietly does that thread's work with the
 * plain-syscall engine. Every operation waits for all it submitted before
 * returning, so a ring is empty between calls and the caller's buffers
 * are never written after the call returns.
 *
 * What the ring buys: a batch of small files costs four system calls
 * (openat, statx, read, close rounds of up to IO_BATCH each) instead of
 * four per file, and operations that would block run in the kernel's
 * workers in parallel, which is what a disk that is fast only at queue
 * depth 32 needs. Large files keep IO_STREAM_DEPTH big reads in flight
 * while the caller chunks the previous block, and an overwrite
 * (write_stream) keeps IO_WRITE_DEPTH blocks in flight, the caller making
 * the next block's content while the device writes the earlier ones.
 *
 * A read that returns -EAGAIN (files opened O_NONBLOCK on kernels that
 * honour it for io_uring) is redone with a plain pread, never resubmitted,
 * so it cannot spin.
 */
#include "io/engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/io.h"

/* Enough for a read_files round (IO_BATCH files, up to two entries each). */
#define RING_ENTRIES 128

struct uring_ctx {
	struct io_uring ring;
	int state; /* 1: usable; -errno: no ring in this thread */
	uint8_t *blk[IO_STREAM_DEPTH]; /* read_stream blocks, allocated on use */
	struct uring_ctx *prev, *next; /* in ctx_all */
};

/*
 * Every live context is on ctx_all so it stays reachable (leak checkers)
 * until its thread exits; the key's destructor then frees it.
 */
static pthread_mutex_t ctx_mu = PTHREAD_MUTEX_INITIALIZER;
static struct uring_ctx *ctx_all;
static pthread_once_t ctx_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t ctx_key;
static int ctx_key_err;
static _Thread_local struct uring_ctx *ctx_self;

static void ctx_destroy(void *p)
{
	struct uring_ctx *c = p;

	pthread_mutex_lock(&ctx_mu);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ctx_all = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&ctx_mu);
	if (c->state > 0)
		io_uring_queue_exit(&c->ring);
	for (int i = 0; i < IO_STREAM_DEPTH; i++)
		free(c->blk[i]);
	free(c);
	ctx_self = NULL;
}

/*
 * A forked child inherits the parent's ring mapping: using it would submit
 * into the parent's ring. The child starts afresh; the inherited context
 * is left alone (still on ctx_all).
 */
static void ctx_after_fork(void)
{
	ctx_self = NULL;
}

static void ctx_key_make(void)
{
	ctx_key_err = -pthread_key_create(&ctx_key, ctx_destroy);
	if (ctx_key_err == 0)
		(void)pthread_atfork(NULL, NULL, ctx_after_fork);
}

static int ring_init(struct io_uring *ring)
{
	/* One submitter per ring, completions run when we wait: the cheapest
	 * mode, on kernels that have it (5.19, 6.0). */
	int e = io_uring_queue_init(RING_ENTRIES, ring,
				    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN);
	if (e == -EINVAL)
		e = io_uring_queue_init(RING_ENTRIES, ring, 0);
	return e;
}

/* This thread's ring, made on first use. Returns NULL if there is none. */
static struct uring_ctx *ctx_get(void)
{
	struct uring_ctx *c = ctx_self;
	if (c != NULL)
		return c->state > 0 ? c : NULL;
	pthread_once(&ctx_key_once, ctx_key_make);
	if (ctx_key_err != 0)
		return NULL;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	int e = ring_init(&c->ring);
	c->state = e == 0 ? 1 : e;
	if (pthread_setspecific(ctx_key, c) != 0) {
		if (c->state > 0)
			io_uring_queue_exit(&c->ring);
		free(c);
		return NULL;
	}
	pthread_mutex_lock(&ctx_mu);
	c->next = ctx_all;
	if (ctx_all != NULL)
		ctx_all->prev = c;
	ctx_all = c;
	pthread_mutex_unlock(&ctx_mu);
	ctx_self = c;
	return c->state > 0 ? c : NULL;
}

/*
 * A ring whose submission failed for good still holds entries pointing at
 * buffers we are about to give back: it is never touched again, and the
 * thread carries on with plain system calls.
 */
static void ctx_break(struct uring_ctx *c, int err)
{
	c->state = err < 0 ? err : -EIO;
}

static struct io_uring_sqe *sqe_get(struct uring_ctx *c)
{
	/* Callers never queue more than RING_ENTRIES between submits, so this
	 * cannot fail; the check keeps a broken invariant from crashing. */
	struct io_uring_sqe *s = io_uring_get_sqe(&c->ring);
	if (s != NULL)
		io_uring_sqe_set_data64(s, 0);
	return s;
}

/* Submits what is queued. Returns 0 or -errno (the ring is then broken). */
static int ring_submit(struct uring_ctx *c)
{
	for (int tries = 0; tries < 1000; tries++) {
		int r = io_uring_submit(&c->ring);
		if (r >= 0)
			return 0;
		if (r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			ctx_break(c, r);
			return r;
		}
	}
	ctx_break(c, -EAGAIN);
	return -EAGAIN;
}

/* Waits for one completion and returns its data and result. */
static int ring_wait(struct uring_ctx *c, uint64_t *data, int *res)
{
	struct io_uring_cqe *cqe;
	int r;
	do
		r = io_uring_wait_cqe(&c->ring, &cqe);
	while (r == -EINTR || r == -EAGAIN);
	if (r != 0) {
		ctx_break(c, r);
		return r;
	}
	*data = io_uring_cqe_get_data64(cqe);
	*res = cqe->res;
	io_uring_cqe_seen(&c->ring, cqe);
	return 0;
}

/* Submits and collects n completions into res[data] (when data < nres). */
static int ring_round(struct uring_ctx *c, unsigned n, int *res, unsigned nres)
{
	int e = ring_submit(c);
	if (e != 0)
		return e;
	for (unsigned i = 0; i < n; i++) {
		uint64_t d;
		int r;
		if ((e = ring_wait(c, &d, &r)) != 0)
			return e;
		if (d < nres)
			res[d] = r;
	}
	return 0;
}

/*
 * One batch of at most IO_BATCH files: a round of openat (and one more
 * without O_NOATIME for files that are not ours), one of statx on the new
 * descriptors, one of reads (with a read-ahead hint for large files), one
 * of close. A read cut short is finished with pread on the still open fd.
 */
static int uring_files_batch(struct uring_ctx *c, struct io_file_req *r, unsigned n,
			     io_want_fn want, void *arg)
{
	static const char empty[] = "";
	int fd[IO_BATCH], res[IO_BATCH];
	unsigned q;
	int e;

	for (unsigned i = 0; i < n; i++) {
		r[i].err = 0;
		r[i].skipped = false;
		r[i].len = 0;
		fd[i] = -1;
	}
	/* Files to look at before opening: one round of statx by name. */
	bool no_open[IO_BATCH] = { false };
	q = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!r[i].stat_first)
			continue;
		struct io_uring_sqe *s = sqe_get(c);
		if (s == NULL) {
			e = -EIO;
			goto out;
		}
		io_uring_prep_statx(s, r[i].dirfd, r[i].name, AT_SYMLINK_NOFOLLOW,
				    STATX_BASIC_STATS, &r[i].stx);
		io_uring_sqe_set_data64(s, i);
		q++;
	}
	if (q != 0 && (e = ring_round(c, q, res, n)) != 0)
		goto out;
	for (unsigned i = 0; i < n; i++) {
		if (!r[i].stat_first)
			continue;
		no_open[i] = true;
		if (res[i] < 0)
			r[i].err = res[i];
		else if (!S_ISREG(r[i].stx.stx_mode) || (want != NULL && !want(&r[i], arg)))
			r[i].skipped = true;
		else
			no_open[i] = false;
	}
	bool retry[IO_BATCH] = { false };
	for (int pass = 0; pass < 2; pass++) {
		q = 0;
		for (unsigned i = 0; i < n; i++) {
			if ((pass == 0 && no_open[i]) || (pass == 1 && !retry[i]))
				continue;
			struct io_uring_sqe *s = sqe_get(c);
			if (s == NULL) {
				e = -EIO;
				goto out;
			}
			io_uring_prep_openat(s, r[i].dirfd, r[i].name,
					     IO_READ_FLAGS | (pass == 0 ? O_NOATIME : 0), 0);
			io_uring_sqe_set_data64(s, i);
			q++;
		}
		if (q == 0)
			break;
		if ((e = ring_round(c, q, res, n)) != 0)
			goto out;
		for (unsigned i = 0; i < n; i++) {
			if ((pass == 0 && no_open[i]) || (pass == 1 && !retry[i]))
				continue;
			retry[i] = false;
			if (res[i] >= 0)
				fd[i] = res[i];
			else if (pass == 0 && res[i] == -EPERM)
				retry[i] = true; /* O_NOATIME: not our file */
			else
				r[i].err = res[i];
		}
	}

	q = 0;
	for (unsigned i = 0; i < n; i++) {
		if (fd[i] < 0)
			continue;
		struct io_uring_sqe *s = sqe_get(c);
		if (s == NULL) {
			e = -EIO;
			goto out;
		}
		io_uring_prep_statx(s, fd[i], empty, AT_EMPTY_PATH, STATX_BASIC_STATS, &r[i].stx);
		io_uring_sqe_set_data64(s, i);
		q++;
	}
	if (q != 0 && (e = ring_round(c, q, res, n)) != 0)
		goto out;

	unsigned waits = 0;
	for (unsigned i = 0; i < n; i++) {
		if (fd[i] < 0)
			continue;
		if (res[i] < 0) {
			r[i].err = res[i];
			continue;
		}
		/* want() has already accepted a stat_first file. */
		if (!S_ISREG(r[i].stx.stx_mode) ||
		    (want != NULL && !r[i].stat_first && !want(&r[i], arg))) {
			r[i].skipped = true;
			continue;
		}
		res[i] = 0;
		struct io_uring_sqe *s;
		if (r[i].cap != 0) {
			if ((s = sqe_get(c)) == NULL) {
				e = -EIO;
				goto out;
			}
			/* One read of at most 1 GiB; the rest, if any, by pread below. */
			unsigned want_len = r[i].cap < (1u << 30) ? (unsigned)r[i].cap : 1u << 30;
			io_uring_prep_read(s, fd[i], r[i].buf, want_len, 0);
			io_uring_sqe_set_data64(s, i);
			waits++;
		}
		if (r[i].readahead > r[i].cap && r[i].stx.stx_size > r[i].cap) {
			uint64_t ra = r[i].readahead - r[i].cap;
			if (ra > (1u << 30))
				ra = 1u << 30;
			if ((s = sqe_get(c)) == NULL) {
				e = -EIO;
				goto out;
			}
			io_uring_prep_fadvise(s, fd[i], r[i].cap, (off_t)ra, POSIX_FADV_WILLNEED);
			io_uring_sqe_set_data64(s, UINT64_MAX); /* result ignored */
			waits++;
		}
	}
	if (waits != 0) {
		int rr[IO_BATCH] = { 0 };
		if ((e = ring_round(c, waits, rr, n)) != 0)
			goto out;
		for (unsigned i = 0; i < n; i++) {
			if (fd[i] < 0 || r[i].err != 0 || r[i].skipped || r[i].cap == 0)
				continue;
			size_t got = 0;
			if (rr[i] >= 0)
				got = (size_t)rr[i];
			else if (rr[i] != -EAGAIN && rr[i] != -EINTR) {
				r[i].err = rr[i];
				continue;
			}
			/* Short (or not done): finish with plain reads; a read
			 * of 0 there is the real end of the file. */
			if (got < r[i].cap && (rr[i] < 0 || got < r[i].stx.stx_size)) {
				size_t more = 0;
				r[i].err = io_pread_up_to(fd[i], (uint8_t *)r[i].buf + got,
							    r[i].cap - got, (off_t)got, &more);
				got += more;
			}
			r[i].len = got;
		}
	}
	e = 0;
out:
	/* Closing always happens, through the ring if it still works. */
	q = 0;
	for (unsigned i = 0; i < n; i++) {
		if (fd[i] < 0)
			continue;
		struct io_uring_sqe *s = c->state > 0 ? sqe_get(c) : NULL;
		if (s == NULL) {
			close(fd[i]);
			continue;
		}
		io_uring_prep_close(s, fd[i]);
		io_uring_sqe_set_data64(s, UINT64_MAX);
		q++;
	}
	if (q != 0 && ring_submit(c) == 0) {
		for (unsigned k = 0; k < q; k++) {
			uint64_t d;
			int v;
			if (ring_wait(c, &d, &v) != 0)
				break;
		}
	}
	return e;
}

static int uring_read_files(struct io_file_req *reqs, size_t n, io_want_fn want, void *arg)
{
	for (size_t i = 0; i < n; i += IO_BATCH) {
		struct uring_ctx *c = ctx_get();
		unsigned k = n - i < IO_BATCH ? (unsigned)(n - i) : IO_BATCH;
		int e = c != NULL ? uring_files_batch(c, reqs + i, k, want, arg)
				  : io_sync_ops.read_files(reqs + i, k, want, arg);
		if (e != 0)
			return e;
	}
	return 0;
}

/* One block of a stream or of a large read or write. */
struct slot {
	uint8_t *p;
	size_t len, done;
	uint64_t off;
	bool busy, eof;
	bool direct; /* O_DIRECT read: whole aligned units, a short one is the end */
	int err;
};

static int slot_submit(struct uring_ctx *c, struct slot *s, int fd, unsigned idx, bool write)
{
	struct io_uring_sqe *q = sqe_get(c);
	if (q == NULL)
		return -EIO;
	unsigned len = (unsigned)(s->direct ? io_direct_round(s->len) : s->len - s->done);
	if (write)
		io_uring_prep_write(q, fd, s->p + s->done, len, s->off + s->done);
	else
		io_uring_prep_read(q, fd, s->p + s->done, len, s->off + s->done);
	io_uring_sqe_set_data64(q, idx);
	s->busy = true;
	return 0;
}

/*
 * Applies a completion to its slot. Returns true if the slot needs its
 * remainder submitted again. -EAGAIN is finished with plain calls.
 */
static bool slot_complete(struct slot *s, int fd, int res, bool write)
{
	s->busy = false;
	if (res == -EINTR)
		return true;
	if (s->direct) {
		/* Asked again whole: a part could start at an unaligned offset. */
		if (res == -EAGAIN)
			return true;
		if (res < 0) {
			s->err = res;
			return false;
		}
		s->done = (size_t)res < s->len ? (size_t)res : s->len;
		s->eof = (size_t)res < io_direct_round(s->len);
		return false;
	}
	if (res == -EAGAIN) {
		if (write) {
			s->err = io_pwrite_all(fd, s->p + s->done, s->len - s->done,
					       (off_t)(s->off + s->done));
			if (s->err == 0)
				s->done = s->len;
			return false;
		}
		size_t more = 0;
		s->err = io_pread_up_to(fd, s->p + s->done, s->len - s->done,
					  (off_t)(s->off + s->done), &more);
		s->done += more;
		if (s->err == 0 && s->done < s->len)
			s->eof = true;
		return false;
	}
	if (res < 0) {
		s->err = res;
		return false;
	}
	if (res == 0) {
		if (write)
			s->err = -EIO; /* a write that makes no progress */
		else
			s->eof = true;
		return false;
	}
	s->done += (size_t)res;
	return s->done < s->len;
}

/* Waits until no slot is in flight (after an error, or at the end). */
static int slots_drain(struct uring_ctx *c, struct slot *sl, unsigned n)
{
	for (;;) {
		bool any = false;
		for (unsigned i = 0; i < n; i++)
			any |= sl[i].busy;
		if (!any)
			return 0;
		uint64_t d;
		int v;
		int e = ring_wait(c, &d, &v);
		if (e != 0)
			return e;
		if (d < n)
			sl[d].busy = false;
	}
}

/*
 * Where the blocks of uring_blocks are: in place in the caller's buffer p
 * (pread_all, pwrite_all, write_durable), or, for write_stream, in the
 * per-slot buffers blk (one per slot, aligned), whose content fill makes
 * just before each block is submitted.
 */
struct blocks_src {
	uint8_t *p;
	io_fill_fn fill;
	void *arg;
	uint8_t **blk;
};

/*
 * The large positional reads and writes: n bytes at off in pieces of bs,
 * up to depth (at most IO_WRITE_DEPTH) in flight, each resubmitted until
 * whole; a slot whose piece is done takes the next one, so pieces are
 * taken (and filled) in file order while they complete in any order. With
 * sync, an fsync follows once every piece is written. Stops taking pieces
 * at the first failure and waits for what is in flight. *done is the
 * length from off known to be complete in order: every piece older than
 * those the slots hold is whole, so it is the lowest unfinished offset
 * among the slots (n once all are done).
 */
static int uring_blocks(struct uring_ctx *c, int fd, uint64_t off, uint64_t n, bool write,
			bool sync, unsigned depth, size_t bs, const struct blocks_src *src,
			uint64_t *done)
{
	struct slot sl[IO_WRITE_DEPTH] = { 0 };
	uint64_t next = 0;
	int e = 0, err = 0;

	for (;;) {
		unsigned queued = 0;
		for (unsigned i = 0; i < depth && err == 0; i++) {
			if (sl[i].busy)
				continue;
			if (sl[i].done < sl[i].len && sl[i].p != NULL) {
				/* a short piece being continued */
			} else if (next < n) {
				size_t len = n - next < bs ? (size_t)(n - next) : bs;
				uint8_t *p = src->p != NULL ? src->p + next : src->blk[i];
				sl[i] = (struct slot){ .p = p, .len = len, .off = off + next };
				next += len;
				if (src->fill != NULL &&
				    (err = src->fill(src->arg, sl[i].off, p, len)) != 0)
					break; /* the slot stays unwritten */
			} else {
				continue;
			}
			if ((e = slot_submit(c, &sl[i], fd, i, write)) != 0)
				goto out;
			queued++;
		}
		bool busy = false;
		for (unsigned i = 0; i < depth; i++)
			busy |= sl[i].busy;
		if (queued != 0 && (e = ring_submit(c)) != 0)
			goto out;
		if (!busy)
			break;
		uint64_t d;
		int v;
		if ((e = ring_wait(c, &d, &v)) != 0)
			goto out;
		if (d >= depth)
			continue;
		struct slot *s = &sl[d];
		(void)slot_complete(s, fd, v, write);
		if (s->err == 0 && s->eof)
			s->err = -EIO; /* pread_all: the file ended first */
		if (s->err != 0 && err == 0)
			err = s->err;
	}
	if (err != 0) {
		e = err;
		goto out;
	}
	if (sync) {
		struct io_uring_sqe *q = sqe_get(c);
		if (q == NULL) {
			e = -EIO;
			goto out;
		}
		io_uring_prep_fsync(q, fd, 0);
		int res[1] = { 0 };
		io_uring_sqe_set_data64(q, 0);
		if ((e = ring_round(c, 1, res, 1)) != 0)
			goto out;
		while (res[0] == -EINTR || res[0] == -EAGAIN) {
			if ((q = sqe_get(c)) == NULL) {
				e = -EIO;
				goto out;
			}
			io_uring_prep_fsync(q, fd, 0);
			io_uring_sqe_set_data64(q, 0);
			if ((e = ring_round(c, 1, res, 1)) != 0)
				goto out;
		}
		e = res[0];
	}
out:
	if (c->state > 0) {
		int d = slots_drain(c, sl, depth);
		if (e == 0)
			e = d;
	}
	uint64_t known = next;
	for (unsigned i = 0; i < depth; i++) {
		if (sl[i].p != NULL && (sl[i].done < sl[i].len || sl[i].err != 0) &&
		    sl[i].off - off + sl[i].done < known)
			known = sl[i].off - off + sl[i].done;
	}
	*done = known;
	return e;
}

/* pread_all / pwrite_all / write_durable: the buffer in place, 4 MiB in flight. */
static int uring_rw(struct uring_ctx *c, int fd, uint8_t *p, size_t n, off_t off, bool write,
		    bool sync)
{
	const struct blocks_src src = { .p = p };
	uint64_t done;
	return uring_blocks(c, fd, (uint64_t)off, n, write, sync, IO_STREAM_DEPTH,
			    IO_STREAM_BLOCK, &src, &done);
}

static int uring_pread_all(int fd, void *p, size_t n, off_t off)
{
	struct uring_ctx *c = ctx_get();
	if (c == NULL)
		return io_pread_all(fd, p, n, off);
	return uring_rw(c, fd, p, n, off, false, false);
}

/*
 * Only O_DIRECT writes go through the ring. ext4 cannot do a buffered
 * write without possibly blocking, so the ring hands each to a kernel
 * worker thread: two context switches per write, and for a large buffer
 * several workers copying into the same file at once, spinning on its
 * inode lock. A write of one piece has nothing to overlap anyway and is
 * not even checked (one fcntl saved per small file). Restoring the
 * benchmark tree went from 6.0-6.7 s to 4.8-5.3 s, the 8 GiB large-file
 * set from 20.4-22.5 s to 17.1-19.3 s (docs/io.md).
 */
static int uring_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	struct uring_ctx *c = NULL;
	if (n > IO_STREAM_BLOCK) {
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0 && (fl & O_DIRECT))
			c = ctx_get();
	}
	if (c == NULL)
		return io_pwrite_all(fd, p, n, off);
	/* The ring only reads from p when writing. */
	return uring_rw(c, fd, (uint8_t *)(uintptr_t)p, n, off, true, false);
}

static int uring_write_durable(int fd, const void *p, size_t n)
{
	struct uring_ctx *c = ctx_get();
	if (c == NULL)
		return io_sync_ops.write_durable(fd, p, n);
	return uring_rw(c, fd, (uint8_t *)(uintptr_t)p, n, 0, true, true);
}

static int uring_fsync(int fd, bool datasync)
{
	struct uring_ctx *c = ctx_get();
	if (c == NULL)
		return io_sync_ops.fsync(fd, datasync);
	int res[1];
	int e;
	do {
		struct io_uring_sqe *q = sqe_get(c);
		if (q == NULL)
			return -EIO;
		io_uring_prep_fsync(q, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
		io_uring_sqe_set_data64(q, 0);
		res[0] = 0;
		if ((e = ring_round(c, 1, res, 1)) != 0)
			return e;
	} while (res[0] == -EINTR || res[0] == -EAGAIN);
	return res[0];
}

/*
 * The stream: IO_STREAM_DEPTH slots in a circle, handed to sink strictly
 * in file order; a slot is refilled with the next block once its data has
 * been consumed. Stops at the first error, sink failure or end of file,
 * then waits for whatever is still in flight.
 */
static int uring_stream(struct uring_ctx *c, int fd, uint64_t off, uint64_t len,
			io_sink_fn sink, void *arg, uint64_t *done)
{
	struct slot sl[IO_STREAM_DEPTH] = { 0 };
	uint64_t next = 0, given = 0;
	unsigned head = 0, tail = 0, used = 0;
	bool stop = false;
	int e = 0;

	for (int i = 0; i < IO_STREAM_DEPTH; i++) {
		if (c->blk[i] == NULL &&
		    (c->blk[i] = aligned_alloc(IO_DIRECT_ALIGN, IO_STREAM_BLOCK)) == NULL)
			return -ENOMEM;
	}
	bool direct;
	if ((e = io_stream_mode(fd, off, &direct)) != 0)
		return e;
	while (!stop) {
		unsigned queued = 0;
		while (used < IO_STREAM_DEPTH && next < len) {
			size_t l = len - next < IO_STREAM_BLOCK ? (size_t)(len - next) : IO_STREAM_BLOCK;
			sl[tail] = (struct slot){ .p = c->blk[tail], .len = l, .off = off + next,
						  .direct = direct };
			if ((e = slot_submit(c, &sl[tail], fd, tail, false)) != 0)
				goto out;
			next += l;
			tail = (tail + 1) % IO_STREAM_DEPTH;
			used++;
			queued++;
		}
		if (used == 0)
			break;
		if (queued != 0 && (e = ring_submit(c)) != 0)
			goto out;
		struct slot *h = &sl[head];
		if (h->busy) {
			uint64_t d;
			int v;
			if ((e = ring_wait(c, &d, &v)) != 0)
				goto out;
			if (d >= IO_STREAM_DEPTH)
				continue;
			struct slot *s = &sl[d];
			if (slot_complete(s, fd, v, false) && s->err == 0 && !s->eof) {
				if ((e = slot_submit(c, s, fd, (unsigned)d, false)) != 0)
					goto out;
				if ((e = ring_submit(c)) != 0)
					goto out;
			}
			continue;
		}
		/* The head is complete: hand it over in order. */
		if (h->err != 0) {
			e = h->err;
			goto out;
		}
		if (h->done > 0) {
			e = sink(arg, h->p, h->done);
			if (e != 0)
				goto out;
			given += h->done;
		}
		if (h->eof || h->done < h->len)
			stop = true;
		head = (head + 1) % IO_STREAM_DEPTH;
		used--;
	}
	*done = given;
out:
	if (c->state > 0) {
		int d = slots_drain(c, sl, IO_STREAM_DEPTH);
		if (e == 0)
			e = d;
	}
	return e;
}

static int uring_read_stream(int fd, uint64_t off, uint64_t len, io_sink_fn sink, void *arg,
			     uint64_t *done)
{
	struct uring_ctx *c = ctx_get();
	if (c == NULL)
		return io_sync_ops.read_stream(fd, off, len, sink, arg, done);
	return uring_stream(c, fd, off, len, sink, arg, done);
}

/*
 * write_stream: up to IO_WRITE_DEPTH blocks of IO_WRITE_BLOCK in flight,
 * in buffers of this call only (a short stream allocates what it needs:
 * wiping many small files must not fault in 32 MiB each time).
 */
static int uring_write_stream(int fd, uint64_t off, uint64_t len, io_fill_fn fill, void *arg,
			      uint64_t *done)
{
	struct uring_ctx *c = ctx_get();
	if (c == NULL)
		return io_sync_ops.write_stream(fd, off, len, fill, arg, done);
	*done = 0;
	if (len == 0)
		return 0;
	bool direct;
	int e = io_stream_mode(fd, off, &direct);
	if (e != 0)
		return e;
	size_t bs = len < IO_WRITE_BLOCK ? (size_t)len : IO_WRITE_BLOCK;
	uint64_t blocks = (len + bs - 1) / bs;
	unsigned depth = blocks < IO_WRITE_DEPTH ? (unsigned)blocks : IO_WRITE_DEPTH;
	uint8_t *blk[IO_WRITE_DEPTH] = { NULL };
	for (unsigned i = 0; i < depth; i++) {
		if ((blk[i] = aligned_alloc(IO_DIRECT_ALIGN, io_direct_round(bs))) == NULL) {
			e = -ENOMEM;
			goto out;
		}
	}
	const struct blocks_src src = { .fill = fill, .arg = arg, .blk = blk };
	e = uring_blocks(c, fd, off, len, true, false, depth, bs, &src, done);
out:
	for (unsigned i = 0; i < depth; i++)
		free(blk[i]);
	return e;
}

int io_uring_probe(const char **why)
{
	static const int ops[] = {
		IORING_OP_OPENAT, IORING_OP_STATX, IORING_OP_READ, IORING_OP_WRITE,
		IORING_OP_CLOSE, IORING_OP_FSYNC, IORING_OP_FADVISE,
	};
	static const char *const names[] = {
		"kernel lacks IORING_OP_OPENAT", "kernel lacks IORING_OP_STATX",
		"kernel lacks IORING_OP_READ", "kernel lacks IORING_OP_WRITE",
		"kernel lacks IORING_OP_CLOSE", "kernel lacks IORING_OP_FSYNC",
		"kernel lacks IORING_OP_FADVISE",
	};
	*why = NULL;
	if (ctx_get() == NULL) {
		struct uring_ctx *c = ctx_self;
		return c != NULL && c->state < 0 ? c->state : -ENOMEM;
	}
	struct io_uring_probe *p = io_uring_get_probe_ring(&ctx_self->ring);
	if (p == NULL) {
		*why = "kernel cannot list io_uring operations";
		return -ENOSYS;
	}
	int e = 0;
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		if (!io_uring_opcode_supported(p, ops[i])) {
			*why = names[i];
			e = -ENOSYS;
			break;
		}
	}
	io_uring_free_probe(p);
	return e;
}

const struct io_engine_ops io_uring_ops = {
	.name = "uring",
	.read_files = uring_read_files,
	.read_stream = uring_read_stream,
	.write_stream = uring_write_stream,
	.pread_all = uring_pread_all,
	.pwrite_all = uring_pwrite_all,
	.fsync = uring_fsync,
	.write_durable = uring_write_durable,
};
