/*
 * Overwrite passes, durability and the verification read (see wipe.h).
 *
 * A pass is one write_stream of the I/O engine over [0, length), its
 * blocks made by fill_block as they are submitted: a constant byte, or
 * the AES-256-CTR keystream at the block's offset. The verification is
 * one read_stream of the same range whose sink regenerates each block and
 * compares, stopping at the first differing byte. Nothing of the pattern
 * is stored: the random key lives in the stream's context for the call
 * and is wiped with it.
 */
#include "erase/wipe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "crypto/stream.h"
#include "io/engine.h"
#include "io/io.h"
#include "util/mem.h"

/* Progress is reported at most every this many nanoseconds. */
#define PROGRESS_NS 200000000ull

static const char *const method_names[] = {
	[WIPE_ZERO] = "zero",
	[WIPE_RANDOM] = "random",
	[WIPE_BMB21] = "bmb21",
};

const char *wipe_method_name(enum wipe_method m)
{
	if ((unsigned)m >= sizeof method_names / sizeof method_names[0])
		return NULL;
	return method_names[m];
}

int wipe_method_parse(const char *name, enum wipe_method *out)
{
	for (unsigned i = 0; i < sizeof method_names / sizeof method_names[0]; i++) {
		if (strcmp(name, method_names[i]) == 0) {
			*out = (enum wipe_method)i;
			return 0;
		}
	}
	return -EINVAL;
}

int wipe_method_pattern(enum wipe_method m, struct wipe_pattern *out)
{
	struct wipe_pattern p = { 0 };
	switch (m) {
	case WIPE_ZERO:
		p.passes = 1;
		p.pass[0] = (struct wipe_pass){ WIPE_PASS_BYTE, 0x00 };
		break;
	case WIPE_RANDOM:
		p.passes = 1;
		p.pass[0] = (struct wipe_pass){ WIPE_PASS_RANDOM, 0 };
		break;
	case WIPE_BMB21:
		p.passes = 3;
		p.pass[0] = (struct wipe_pass){ WIPE_PASS_BYTE, 0x00 };
		p.pass[1] = (struct wipe_pass){ WIPE_PASS_BYTE, 0xff };
		p.pass[2] = (struct wipe_pass){ WIPE_PASS_RANDOM, 0 };
		break;
	default:
		return -EINVAL;
	}
	*out = p;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int wipe_pattern_parse(const char *text, struct wipe_pattern *out)
{
	struct wipe_pattern p = { 0 };
	const char *s = text;
	for (;;) {
		const char *end = strchr(s, ',');
		size_t n = end != NULL ? (size_t)(end - s) : strlen(s);
		if (p.passes == WIPE_MAX_PASSES)
			return -EINVAL;
		struct wipe_pass *ps = &p.pass[p.passes];
		if (n == 6 && strncmp(s, "random", 6) == 0) {
			ps->kind = WIPE_PASS_RANDOM;
		} else {
			const char *h = s;
			if (n == 4 && h[0] == '0' && (h[1] == 'x' || h[1] == 'X'))
				h += 2, n -= 2;
			int hi = n == 2 ? hexval(h[0]) : -1, lo = n == 2 ? hexval(h[1]) : -1;
			if (hi < 0 || lo < 0)
				return -EINVAL;
			ps->kind = WIPE_PASS_BYTE;
			ps->byte = (uint8_t)(hi << 4 | lo);
		}
		p.passes++;
		if (end == NULL)
			break;
		s = end + 1;
	}
	*out = p;
	return 0;
}

int wipe_pattern_format(const struct wipe_pattern *p, char *buf, size_t cap)
{
	size_t len = 0;
	if (cap == 0)
		return -ENAMETOOLONG;
	buf[0] = 0;
	for (unsigned i = 0; i < p->passes && i < WIPE_MAX_PASSES; i++) {
		int k;
		if (p->pass[i].kind == WIPE_PASS_RANDOM)
			k = snprintf(buf + len, cap - len, "%srandom", i ? "," : "");
		else
			k = snprintf(buf + len, cap - len, "%s0x%02x", i ? "," : "",
				     (unsigned)p->pass[i].byte);
		if (k < 0 || (size_t)k >= cap - len)
			return -ENAMETOOLONG;
		len += (size_t)k;
	}
	return 0;
}

const char *wipe_verify_name(enum wipe_verify v)
{
	switch (v) {
	case WIPE_VERIFY_NOT_DONE:
		return "not done";
	case WIPE_VERIFY_PASSED:
		return "passed";
	case WIPE_VERIFY_MISMATCH:
		return "MISMATCH";
	case WIPE_VERIFY_READ_ERROR:
		return "read error";
	}
	return "?";
}

const char *wipe_read_path_name(enum wipe_read_path r)
{
	switch (r) {
	case WIPE_READ_NONE:
		return "none";
	case WIPE_READ_DIRECT:
		return "O_DIRECT";
	case WIPE_READ_FLUSHED:
		return "BLKFLSBUF";
	case WIPE_READ_DROPPED:
		return "fadvise DONTNEED";
	}
	return "?";
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct progress {
	wipe_progress_fn fn;
	void *arg;
	uint64_t total;
	unsigned passes;
	uint64_t last; /* now_ns of the last report */
};

static void progress_at(struct progress *p, uint64_t done, unsigned pass, bool force)
{
	if (p->fn == NULL)
		return;
	uint64_t t = now_ns();
	if (!force && t - p->last < PROGRESS_NS)
		return;
	p->last = t;
	p->fn(p->arg, done, p->total, pass, p->passes);
}

/* One pass being written or checked: where its bytes come from. */
struct pass_run {
	const struct wipe_pass *pass;
	struct crypto_stream *stream; /* WIPE_PASS_RANDOM */
	struct progress *pr;
	unsigned number;       /* 1-based; passes + 1 is the verification */
	uint64_t base;         /* progress bytes before this pass */
	/* verification only: */
	uint8_t *expect;       /* IO_STREAM_BLOCK bytes of scratch */
	bool expect_const;     /* expect already holds a byte pass's value */
	uint64_t pos;          /* offset of the next byte the sink receives */
	bool mismatch;
	uint64_t bad;          /* the first differing offset */
};

/* The pass's n bytes at off into buf. */
static int pass_bytes(struct pass_run *r, uint64_t off, void *buf, size_t n)
{
	if (r->pass->kind == WIPE_PASS_BYTE) {
		memset(buf, r->pass->byte, n);
		return 0;
	}
	return crypto_stream_at(r->stream, off, buf, n);
}

static int fill_block(void *arg, uint64_t off, void *buf, size_t n)
{
	struct pass_run *r = arg;
	int e = pass_bytes(r, off, buf, n);
	progress_at(r->pr, r->base + off, r->number, false);
	return e;
}

/* The verification sink: each block compared with the pass regenerated. */
static int check_block(void *arg, const void *p, size_t n)
{
	struct pass_run *r = arg;
	if (!r->expect_const) {
		int e = pass_bytes(r, r->pos, r->expect, r->pass->kind == WIPE_PASS_BYTE ?
						      IO_STREAM_BLOCK : n);
		if (e != 0)
			return e;
		r->expect_const = r->pass->kind == WIPE_PASS_BYTE;
	}
	if (memcmp(p, r->expect, n) != 0) {
		const uint8_t *a = p;
		size_t i = 0;
		while (a[i] == r->expect[i])
			i++;
		r->mismatch = true;
		r->bad = r->pos + i;
		return -EBADMSG;
	}
	r->pos += n;
	progress_at(r->pr, r->base + r->pos, r->number, false);
	return 0;
}

/* Sets or clears O_DIRECT on fd's open file; 0 or -errno. */
static int set_direct(int fd, int flags, bool on)
{
	int fl = on ? flags | O_DIRECT : flags & ~O_DIRECT;
	return fcntl(fd, F_SETFL, fl) == 0 ? 0 : -errno;
}

static void note(struct wipe_result *out, const char *text)
{
	size_t len = strlen(out->note);
	if (len + 3 >= sizeof out->note)
		return;
	snprintf(out->note + len, sizeof out->note - len, "%s%s", len ? "; " : "", text);
}

/*
 * Filesystems on which an overwrite does not land on the old blocks, or
 * whose blocks are not on a local disk: named in the result, with why.
 */
static const struct {
	unsigned long magic;
	const char *name;
	const char *caveat; /* NULL: writes in place (data=journal aside) */
} fs_kinds[] = {
	{ 0xEF53, "ext4", NULL }, /* ext2, ext3 and ext4 share it */
	{ 0x58465342, "xfs", "XFS: shared (reflinked) extents are copied on write, "
			     "their old blocks are not overwritten" },
	{ 0x9123683E, "btrfs", "btrfs is copy-on-write: the passes land in new blocks, "
			       "the old ones are freed, not overwritten" },
	{ 0x2FC12FC1, "zfs", "ZFS is copy-on-write: the passes land in new blocks, "
			     "the old ones are freed, not overwritten" },
	{ 0xCA451A4E, "bcachefs", "bcachefs is copy-on-write: the old blocks are not "
				  "overwritten" },
	{ 0xF2F52010, "f2fs", "f2fs is log-structured: the passes land in new blocks" },
	{ 0x01021994, "tmpfs", "tmpfs: memory, and swap if pages were swapped out" },
	{ 0x6969, "nfs", "NFS: the server decides where the blocks go" },
	{ 0x794C7630, "overlay", "overlayfs: the lower layer keeps the original" },
};

/* The filesystem of fd into out->fs, and its caveat, if any, into the note. */
static void note_fs(int fd, struct wipe_result *out)
{
	struct statfs sf;
	if (fstatfs(fd, &sf) != 0)
		return;
	for (size_t i = 0; i < sizeof fs_kinds / sizeof fs_kinds[0]; i++) {
		if ((unsigned long)sf.f_type == fs_kinds[i].magic) {
			snprintf(out->fs, sizeof out->fs, "%s", fs_kinds[i].name);
			if (fs_kinds[i].caveat != NULL)
				note(out, fs_kinds[i].caveat);
			return;
		}
	}
	snprintf(out->fs, sizeof out->fs, "0x%lx", (unsigned long)sf.f_type);
}

/*
 * Whether direct I/O on this regular file really bypasses the cache:
 * filesystems that report STATX_DIOALIGN say 0 where they would quietly
 * do buffered I/O instead (ext4 with data=journal, encrypted or verity
 * files), and an alignment our 4 KiB units do not meet rules it out too.
 * Filesystems that do not report it are taken at their word (fcntl).
 */
static bool file_dio_ok(int fd)
{
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) != 0 ||
	    !(stx.stx_mask & STATX_DIOALIGN))
		return true;
	uint32_t a = stx.stx_dio_offset_align, m = stx.stx_dio_mem_align;
	return a != 0 && m != 0 && IO_DIRECT_ALIGN % a == 0 && IO_DIRECT_ALIGN % m == 0;
}

/* Length to overwrite (see wipe_fd) and whether fd is a block device. */
static int target_length(int fd, uint64_t len, uint64_t *n, bool *blk, unsigned *sector)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -errno;
	*sector = 0;
	if (S_ISREG(st.st_mode)) {
		uint64_t size = ((uint64_t)st.st_size + IO_DIRECT_ALIGN - 1) &
				~(uint64_t)(IO_DIRECT_ALIGN - 1);
		if (len != WIPE_WHOLE)
			len = (len + IO_DIRECT_ALIGN - 1) & ~(uint64_t)(IO_DIRECT_ALIGN - 1);
		*n = len < size ? len : size;
		*blk = false;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t size;
		int ss;
		if (ioctl(fd, BLKGETSIZE64, &size) != 0 || ioctl(fd, BLKSSZGET, &ss) != 0)
			return -errno;
		*n = len < size ? len : size;
		*blk = true;
		*sector = ss > 0 ? (unsigned)ss : 512;
		return 0;
	}
	return -EINVAL;
}

/*
 * Empties the cache in front of the verification read when it is not
 * O_DIRECT, and says how.
 */
static enum wipe_read_path drop_cache(int fd, bool blk, struct wipe_result *out)
{
	if (blk) {
		if (ioctl(fd, BLKFLSBUF, 0) == 0)
			return WIPE_READ_FLUSHED;
		note(out, "BLKFLSBUF refused (needs CAP_SYS_ADMIN): cache dropped with fadvise");
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	return WIPE_READ_DROPPED;
}

/* Writes, syncs and verifies; *out is filled by the caller's wrapper. */
static int wipe_run(int fd, uint64_t len, const struct wipe_opts *o,
		    const struct wipe_pattern *pat, struct wipe_result *out)
{
	const struct io_engine_ops *io = io_engine();
	struct pass_run run = { 0 };
	uint8_t *expect = NULL;
	bool blk = false, direct = false, set = false;
	uint64_t n = 0;
	unsigned sector = 0;
	int e, flags = -1;

	if ((e = io_engine_init()) != 0 || io->write_stream == NULL)
		return e != 0 ? e : -ENOSYS;
	if ((e = target_length(fd, len, &n, &blk, &sector)) != 0)
		return e;
	snprintf(out->target, sizeof out->target, "%s", blk ? "block device" : "file");
	out->length = n;
	if ((flags = fcntl(fd, F_GETFL)) < 0)
		return -errno;
	if ((flags & O_ACCMODE) != O_RDWR)
		return -EBADF;
	if (flags & O_APPEND)
		return -EINVAL; /* pwrite would append */
	if (!blk)
		note_fs(fd, out);
	bool dio_ok = blk ? n % sector == 0 : file_dio_ok(fd);
	if (!dio_ok && !o->no_direct)
		note(out, blk ? "length not a multiple of the sector: buffered"
			      : "the filesystem does no direct I/O on this file: buffered");
	if (!o->no_direct && dio_ok) {
		if (flags & O_DIRECT)
			direct = true;
		else if (set_direct(fd, flags, true) == 0)
			direct = set = true;
	} else if (flags & O_DIRECT) {
		if ((e = set_direct(fd, flags, false)) != 0)
			return e;
		set = true;
	}
	out->direct_write = direct;

	struct progress pr = { .fn = o->progress, .arg = o->arg, .total = n * (pat->passes + 1),
			       .passes = pat->passes };
	run.pr = &pr;
	for (unsigned i = 0; i < pat->passes; i++) {
		uint64_t done = 0;
		crypto_stream_free(run.stream);
		run = (struct pass_run){ .pass = &pat->pass[i], .pr = &pr, .number = i + 1,
					 .base = n * i };
		if (pat->pass[i].kind == WIPE_PASS_RANDOM) {
			uint8_t key[CRYPTO_KEY_LEN];
			if (o->random_key != NULL)
				memcpy(key, o->random_key, sizeof key);
			else if ((e = crypto_random(key, sizeof key)) != 0)
				goto out;
			e = crypto_stream_new(key, &run.stream);
			mem_wipe(key, sizeof key);
			if (e != 0)
				goto out;
		}
		e = io->write_stream(fd, 0, n, fill_block, &run, &done);
		if (e == -EINVAL && direct && done == 0) {
			/* The filesystem took the flag but not the writes. */
			if ((e = set_direct(fd, flags, false)) != 0)
				goto out;
			set = (flags & O_DIRECT) != 0; /* put back only what was there */
			direct = out->direct_write = false;
			note(out, "O_DIRECT writes refused: buffered");
			e = io->write_stream(fd, 0, n, fill_block, &run, &done);
		}
		out->pass_bytes[i] = done;
		if (e != 0)
			goto out;
		if ((e = io->fsync(fd, false)) != 0)
			goto out;
		out->passes_done = i + 1;
	}
	/* run still describes the final pass: read it back. */
	if (o->before_verify != NULL && (e = o->before_verify(o->arg, fd, n)) != 0)
		goto out;
	out->read_path = direct ? WIPE_READ_DIRECT : drop_cache(fd, blk, out);
	if ((expect = aligned_alloc(IO_DIRECT_ALIGN, IO_STREAM_BLOCK)) == NULL) {
		e = -ENOMEM;
		goto out;
	}
	run.expect = expect;
	run.number = pat->passes + 1;
	run.base = n * pat->passes;
	uint64_t got = 0, t0 = now_ns();
	e = io->read_stream(fd, 0, n, check_block, &run, &got);
	out->verify_ns = now_ns() - t0;
	out->verified_bytes = run.mismatch ? run.bad : run.pos;
	if (run.mismatch) {
		out->verify = WIPE_VERIFY_MISMATCH;
		out->mismatch_offset = run.bad;
		e = -EBADMSG;
	} else if (e != 0) {
		out->verify = WIPE_VERIFY_READ_ERROR;
	} else if (got < n) {
		out->verify = WIPE_VERIFY_MISMATCH; /* it shrank under us */
		out->mismatch_offset = got;
		note(out, "the target ended before the verified length");
		e = -EBADMSG;
	} else {
		out->verify = WIPE_VERIFY_PASSED;
		progress_at(&pr, pr.total, pat->passes + 1, true);
	}
out:
	crypto_stream_free(run.stream);
	free(expect);
	if (set && flags >= 0 && fcntl(fd, F_SETFL, flags) != 0 && e == 0)
		e = -errno;
	return e;
}

int wipe_fd_ex(int fd, uint64_t len, const struct wipe_opts *o, struct wipe_result *out)
{
	uint64_t t0 = now_ns();
	struct wipe_pattern def;
	const struct wipe_pattern *pat = o->pattern;
	const char *name = wipe_method_name(o->method);
	int e = 0;

	memset(out, 0, sizeof *out);
	if (name == NULL) {
		e = -EINVAL;
		goto out;
	}
	snprintf(out->method, sizeof out->method, "%s", name);
	if (pat == NULL) {
		if ((e = wipe_method_pattern(o->method, &def)) != 0)
			goto out;
		pat = &def;
	}
	if (pat->passes == 0 || pat->passes > WIPE_MAX_PASSES ||
	    wipe_pattern_format(pat, out->pattern, sizeof out->pattern) != 0) {
		e = -EINVAL;
		goto out;
	}
	snprintf(out->nist, sizeof out->nist, "Clear");
	out->passes = pat->passes;
	e = wipe_run(fd, len, o, pat, out);
out:
	out->error = e;
	out->elapsed_ns = now_ns() - t0;
	return e;
}

int wipe_fd(int fd, uint64_t len, enum wipe_method m, wipe_progress_fn progress, void *arg,
	    struct wipe_result *out)
{
	const struct wipe_opts o = { .method = m, .progress = progress, .arg = arg };
	return wipe_fd_ex(fd, len, &o, out);
}

int wipe_file_at_ex(int dirfd, const char *name, const struct wipe_opts *o,
		    struct wipe_result *out)
{
	uint64_t t0 = now_ns();
	struct stat st, again;
	int e;
	int fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0) {
		e = -errno;
		memset(out, 0, sizeof *out);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		memset(out, 0, sizeof *out);
		e = -EINVAL;
		goto out;
	}
	/* O_NONBLOCK kept open() from waiting on a FIFO; writes go without it. */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		e = -errno;
		memset(out, 0, sizeof *out);
		goto out;
	}
	if ((e = wipe_fd_ex(fd, WIPE_WHOLE, o, out)) != 0)
		goto out;
	if (st.st_nlink > 1)
		note(out, "the file had other hard links, which remain (with the wiped content)");
	if (fstatat(dirfd, name, &again, AT_SYMLINK_NOFOLLOW) != 0) {
		e = -errno;
		goto out;
	}
	if (again.st_dev != st.st_dev || again.st_ino != st.st_ino) {
		e = -ESTALE; /* the name was replaced meanwhile: not ours to remove */
		goto out;
	}
	if (unlinkat(dirfd, name, 0) != 0) {
		e = -errno;
		goto out;
	}
	e = io_fsync_dir(dirfd);
out:
	if (fd >= 0)
		close(fd);
	out->error = e;
	out->elapsed_ns = now_ns() - t0;
	return e;
}

int wipe_file_at(int dirfd, const char *name, enum wipe_method m, wipe_progress_fn progress,
		 void *arg, struct wipe_result *out)
{
	const struct wipe_opts o = { .method = m, .progress = progress, .arg = arg };
	return wipe_file_at_ex(dirfd, name, &o, out);
}
