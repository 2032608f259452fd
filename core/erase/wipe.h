/*
 * The overwrite engine of destruction: one or more passes over a file or a
 * block device, written at the device's speed through the I/O engine
 * (io/engine.h write_stream: 1 MiB blocks, 32 in flight on io_uring),
 * each pass made durable (fsync), then the final pass read back in full
 * and compared with what was written. Used by dataset erasure (every block
 * of pack, index and snapshot files, then unlink) and by device
 * sanitization (erase/device.h).
 *
 * An overwrite is NIST SP 800-88's Clear: it reaches every block the
 * file or the device's interface addresses, nothing the device or the
 * filesystem keeps elsewhere (remapped sectors, flash over-provisioning,
 * journals, copy-on-write extents, snapshots). docs/erase-methods.md says
 * what each method does and does not guarantee; crypto-shredding
 * (keys/keystore.h) is the primary guarantee, this is defence in depth.
 *
 * Methods and their passes (struct wipe_pattern; configurable):
 *   zero    1 pass of 0x00
 *   random  1 pass of AES-256-CTR keystream under a fresh random key
 *           (crypto/stream.h), regenerated to verify, never stored
 *   bmb21   0x00, 0xFF, random: the BMB21-2019 overwrite as Chinese tools
 *           commonly document it (the standard's text is not public)
 *
 * Every function returns 0 or a negative errno and fills *out in every
 * case with what was done (a failed wipe is still recorded).
 */
#ifndef COFFER_ERASE_WIPE_H
#define COFFER_ERASE_WIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

enum wipe_method {
	WIPE_ZERO = 0,
	WIPE_RANDOM = 1,
	WIPE_BMB21 = 2,
};

/* Passes a pattern may have. */
#define WIPE_MAX_PASSES 8
/* wipe_fd's len for "the whole file or device". */
#define WIPE_WHOLE UINT64_MAX

enum wipe_pass_kind {
	WIPE_PASS_BYTE,   /* every byte the same value */
	WIPE_PASS_RANDOM, /* a keyed pseudo-random stream */
};

struct wipe_pass {
	enum wipe_pass_kind kind;
	uint8_t byte; /* WIPE_PASS_BYTE: the value */
};

struct wipe_pattern {
	unsigned passes; /* 1 to WIPE_MAX_PASSES */
	struct wipe_pass pass[WIPE_MAX_PASSES];
};

/* "zero", "random", "bmb21"; NULL for an unknown value. */
const char *wipe_method_name(enum wipe_method m);
/* The method called name. Returns 0 or -EINVAL. */
int wipe_method_parse(const char *name, enum wipe_method *out);
/* The method's default passes. Returns 0 or -EINVAL. */
int wipe_method_pattern(enum wipe_method m, struct wipe_pattern *out);
/*
 * Parses passes written as wipe_pattern_format writes them: comma
 * separated, each a byte (0x00-0xff, or two hex digits) or "random", e.g.
 * "0x00,0xff,random". Returns 0 or -EINVAL (empty, too many passes, an
 * item that is neither).
 */
int wipe_pattern_parse(const char *text, struct wipe_pattern *out);
/* Writes "0x00,0xff,random" into buf. Returns 0 or -ENAMETOOLONG. */
int wipe_pattern_format(const struct wipe_pattern *p, char *buf, size_t cap);

enum wipe_verify {
	WIPE_VERIFY_NOT_DONE = 0, /* stopped before the verification read */
	WIPE_VERIFY_PASSED,       /* every byte read back as written */
	WIPE_VERIFY_MISMATCH,     /* a byte differs (or the target ended early) */
	WIPE_VERIFY_READ_ERROR,   /* the verification read failed */
};

/* Where the verification read came from. */
enum wipe_read_path {
	WIPE_READ_NONE = 0,
	WIPE_READ_DIRECT,   /* O_DIRECT: from the device, bypassing the page cache */
	WIPE_READ_FLUSHED,  /* block device: BLKFLSBUF emptied its cache first */
	WIPE_READ_DROPPED,  /* posix_fadvise(DONTNEED) after fsync dropped the
			     * file's clean cached pages first (advisory: pages
			     * mapped by another process may stay) */
};

/* "passed", "MISMATCH"...; "O_DIRECT", "BLKFLSBUF"... */
const char *wipe_verify_name(enum wipe_verify v);
const char *wipe_read_path_name(enum wipe_read_path r);

/*
 * What a wipe (or erase/device.h's purge) did: plain data, no pointers,
 * for the certificate of sanitization.
 */
struct wipe_result {
	char method[16];   /* "zero", "random", "bmb21", "secure-erase" */
	char nist[8];      /* "Clear" (overwrite); "Purge" only for device_purge
			    * done; "" when nothing was done */
	char pattern[96];  /* the passes as written: "0x00,0xff,random" */
	char target[16];   /* "file" or "block device" */
	char fs[16];       /* a file's filesystem ("ext4", "xfs", "btrfs"... or
			    * its magic number in hex); "" for a device */
	unsigned passes;   /* passes of the pattern */
	uint64_t length;   /* every pass covers [0, length) */
	uint64_t pass_bytes[WIPE_MAX_PASSES]; /* bytes pass i wrote in full */
	unsigned passes_done; /* passes written and fsync'd */
	bool direct_write; /* O_DIRECT writes; else buffered, fsync per pass */
	enum wipe_read_path read_path;
	enum wipe_verify verify;
	uint64_t verified_bytes;  /* bytes from 0 read back equal to what was
				   * written (up to the first mismatch) */
	uint64_t mismatch_offset; /* verify == MISMATCH: the first bad byte */
	int error;                /* 0, or the -errno the call returned */
	uint64_t elapsed_ns;      /* the whole call, CLOCK_MONOTONIC */
	uint64_t verify_ns;       /* of which the verification read */
	char note[192];           /* remarks for the record ("; " between), or "":
				   * e.g. that a copy-on-write filesystem keeps
				   * the old blocks, or why O_DIRECT was not used */
};

/*
 * Progress: done of total bytes of the whole job, which is every pass
 * (pass 1 to passes) followed by the verification read (reported as pass
 * passes + 1), so total = length * (passes + 1). Written bytes count when
 * they are handed to the I/O engine (at most 32 MiB ahead of the disk).
 * Called on the wiping thread, at most 5 times per second, and once more
 * with done == total at the end of a successful wipe.
 */
typedef void (*wipe_progress_fn)(void *arg, uint64_t done, uint64_t total, unsigned pass,
				 unsigned passes);

struct wipe_opts {
	enum wipe_method method;
	const struct wipe_pattern *pattern; /* NULL: the method's; else these
					     * passes under the method's name */
	wipe_progress_fn progress;          /* may be NULL */
	void *arg;                          /* for progress and before_verify */
	/*
	 * Key of the random passes; NULL (always, outside tests and
	 * benchmarks): a fresh key from crypto_random per pass. Given, the
	 * stream is crypto/stream.h's under this key, so it can be checked.
	 */
	const uint8_t *random_key;
	bool no_direct; /* never O_DIRECT (tests of the buffered path) */
	/*
	 * Called after the final pass is durable, before the verification
	 * read; a non-zero result stops the wipe with it. Tests damage a block
	 * here to show that verification catches it.
	 */
	int (*before_verify)(void *arg, int fd, uint64_t length);
};

/*
 * Overwrites fd (a regular file or a block device, open O_RDWR without
 * O_APPEND) from offset 0 with the method's passes, fsyncs after each,
 * then reads the final pass back in full and compares. The length is:
 *   regular file: st_size rounded up to IO_DIRECT_ALIGN (the file then
 *                 has that size), or len rounded up likewise if smaller:
 *                 never beyond the rounded size;
 *   block device: its size (BLKGETSIZE64), or len if smaller.
 * WIPE_WHOLE asks for all of it. O_DIRECT is used when fd accepts it (set
 * with fcntl for the call, put back after), else buffered writes, each
 * pass fsync'd, and verification after dropping the cache (BLKFLSBUF on a
 * block device, posix_fadvise DONTNEED on a file); out says which.
 * Returns 0 when every pass was written and verified; -EBADMSG when the
 * read-back differs (out->mismatch_offset); -EINVAL for another kind of
 * file, O_APPEND or a bad pattern; -EBADF if fd is not open read-write;
 * else the -errno of the failed write, fsync or read.
 */
int wipe_fd(int fd, uint64_t len, enum wipe_method m, wipe_progress_fn progress, void *arg,
	    struct wipe_result *out);
int wipe_fd_ex(int fd, uint64_t len, const struct wipe_opts *o, struct wipe_result *out);

/*
 * Destroys the regular file name in dirfd: opens it (no symlink is
 * followed), wipes it whole as wipe_fd, then, only if that succeeded,
 * unlinks it (if the name still refers to the same file; -ESTALE
 * otherwise) and fsyncs dirfd. A failed wipe leaves the file in place
 * with whatever passes were written, so it can be retried.
 */
int wipe_file_at(int dirfd, const char *name, enum wipe_method m, wipe_progress_fn progress,
		 void *arg, struct wipe_result *out);
int wipe_file_at_ex(int dirfd, const char *name, const struct wipe_opts *o,
		    struct wipe_result *out);

#endif
