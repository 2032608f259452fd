/*
 * File I/O helpers that never return short: every call loops over partial
 * reads and writes and EINTR. They return 0 or a negative errno.
 *
 * These are plain system calls, for the cold paths and as the building
 * blocks of the plain-syscall engine; the hot paths use io/engine.h, which
 * runs on io_uring where it can.
 */
#ifndef COFFER_IO_IO_H
#define COFFER_IO_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"

int io_write_all(int fd, const void *p, size_t n);
int io_pwrite_all(int fd, const void *p, size_t n, off_t off);
/* Reads exactly n bytes at off; -EIO if the file ends first. */
int io_pread_all(int fd, void *p, size_t n, off_t off);
/* Reads up to n bytes, stopping only at end of file; *got = bytes read. */
int io_read_up_to(int fd, void *p, size_t n, size_t *got);
/* Reads up to n bytes at off, stopping only at end of file; *got = bytes read. */
int io_pread_up_to(int fd, void *p, size_t n, off_t off, size_t *got);
/* Appends the whole remaining file to out; -EFBIG past max bytes. */
int io_read_fd(int fd, struct buf *out, size_t max);
/* fsync of a directory, making renames and unlinks in it durable. */
int io_fsync_dir(int dirfd);
/*
 * Durably creates or replaces name in dirfd with n bytes: a temporary file
 * (exactly mode, whatever the umask), written, fsync'd, renamed over name,
 * and the directory fsync'd,
 * so a crash leaves the old or the new content, never a mixture.
 */
int io_replace_file_at(int dirfd, const char *name, const void *p, size_t n, mode_t mode);
/*
 * As io_replace_file_at, then the old file's inode, held open across the
 * rename, is overwritten with zeros in place and fsync'd: name holds the
 * old or the new content at every moment, and the old bytes do not stay
 * in freed blocks (on filesystems that write in place; see
 * docs/format/keystore.md for what this cannot reach).
 */
int io_replace_file_wiping_at(int dirfd, const char *name, const void *p, size_t n, mode_t mode);
/* Overwrites the whole file open (for writing) at fd with zeros and fsyncs it. */
int io_overwrite_fd(int fd);
/* As io_replace_file_at, but never replaces: -EEXIST if name exists. */
int io_create_file_at(int dirfd, const char *name, const void *p, size_t n, mode_t mode);
/*
 * Moves from/fname to to/tname unless tname exists (-EEXIST). Filesystems
 * without RENAME_NOREPLACE get link + unlink, which refuses to replace as
 * well; a crash between the two only leaves the old name behind.
 */
int io_rename_noreplace(int from, const char *fname, int to, const char *tname);
/* Opens path relative to dirfd and reads it all (-EFBIG past max). */
int io_read_file_at(int dirfd, const char *path, struct buf *out, size_t max);

#endif
