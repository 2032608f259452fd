/* Whole-buffer I/O; see io.h. */
#include "io/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int io_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO; /* no progress: never spin */
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int io_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	const uint8_t *c = p;
	while (n) {
		ssize_t w = pwrite(fd, c, n, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO; /* no progress: never spin */
		c += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

int io_pread_all(int fd, void *p, size_t n, off_t off)
{
	uint8_t *c = p;
	while (n) {
		ssize_t r = pread(fd, c, n, off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		c += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

int io_read_up_to(int fd, void *p, size_t n, size_t *got)
{
	uint8_t *c = p;
	size_t done = 0;
	while (done < n) {
		ssize_t r = read(fd, c + done, n - done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	*got = done;
	return 0;
}

int io_pread_up_to(int fd, void *p, size_t n, off_t off, size_t *got)
{
	uint8_t *c = p;
	size_t done = 0;
	while (done < n) {
		ssize_t r = pread(fd, c + done, n - done, off + (off_t)done);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	*got = done;
	return 0;
}

int io_read_fd(int fd, struct buf *out, size_t max)
{
	for (;;) {
		int e = buf_reserve(out, 65536);
		if (e != 0)
			return e;
		size_t got;
		e = io_read_up_to(fd, out->data + out->len, out->cap - out->len, &got);
		if (e != 0)
			return e;
		out->len += got;
		if (out->len > max)
			return -EFBIG;
		if (got == 0)
			return 0;
	}
}

int io_fsync_dir(int dirfd)
{
	if (fsync(dirfd) != 0 && errno != EINVAL)
		return -errno;
	return 0;
}

int io_rename_noreplace(int from, const char *fname, int to, const char *tname)
{
	if (renameat2(from, fname, to, tname, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (linkat(from, fname, to, tname, 0) != 0)
		return -errno;
	(void)unlinkat(from, fname, 0);
	return 0;
}

/*
 * Writes name in dirfd through a temporary file: written, fsync'd, renamed
 * into place (over an existing name, or refusing one when !replace), and
 * the directory fsync'd. The temporary name carries the process ID when
 * !replace, so two processes creating the same name never share it.
 */
static int write_file_at(int dirfd, const char *name, const void *p, size_t n, mode_t mode,
			 bool replace)
{
	/* name may have a directory part: work in that directory. */
	const char *slash = strrchr(name, '/');
	const char *base = slash ? slash + 1 : name;
	char dir[PATH_MAX], tmp[NAME_MAX + 1];
	int dfd = dirfd;
	if (slash != NULL) {
		if ((size_t)(slash - name) >= sizeof dir)
			return -ENAMETOOLONG;
		memcpy(dir, name, (size_t)(slash - name));
		dir[slash - name] = 0;
		if ((dfd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			return -errno;
	} else if (dirfd == AT_FDCWD) {
		/* The working directory needs a real descriptor for its fsync. */
		if ((dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			return -errno;
	}
	int e = 0, fd = -1, len;
	if (replace)
		len = snprintf(tmp, sizeof tmp, ".%s.tmp", base);
	else
		len = snprintf(tmp, sizeof tmp, ".%s.%ld.tmp", base, (long)getpid());
	if (len < 0 || (size_t)len >= sizeof tmp)
		e = -ENAMETOOLONG;
	if (e == 0) {
		(void)unlinkat(dfd, tmp, 0); /* left by a crash */
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd < 0)
			e = -errno;
	}
	/* Exactly mode: group access (the audit trail's 0660) must not depend on the umask. */
	if (e == 0 && fchmod(fd, mode) != 0)
		e = -errno;
	if (e == 0)
		e = io_write_all(fd, p, n);
	if (e == 0 && fsync(fd) != 0)
		e = -errno;
	if (fd >= 0 && close(fd) != 0 && e == 0)
		e = -errno;
	if (e == 0 && replace && renameat(dfd, tmp, dfd, base) != 0)
		e = -errno;
	if (e == 0 && !replace)
		e = io_rename_noreplace(dfd, tmp, dfd, base);
	if (e != 0 && fd >= 0)
		(void)unlinkat(dfd, tmp, 0);
	if (e == 0)
		e = io_fsync_dir(dfd);
	if (dfd != dirfd)
		close(dfd);
	return e;
}

int io_replace_file_at(int dirfd, const char *name, const void *p, size_t n, mode_t mode)
{
	return write_file_at(dirfd, name, p, n, mode, true);
}

int io_overwrite_fd(int fd)
{
	static const uint8_t zero[4096];
	struct stat st;
	int e = fstat(fd, &st) == 0 ? 0 : -errno;
	for (off_t off = 0; e == 0 && off < st.st_size; off += (off_t)sizeof zero) {
		size_t n = (size_t)(st.st_size - off) < sizeof zero ? (size_t)(st.st_size - off)
								     : sizeof zero;
		e = io_pwrite_all(fd, zero, n, off);
	}
	if (e == 0 && fsync(fd) != 0)
		e = -errno;
	return e;
}

int io_replace_file_wiping_at(int dirfd, const char *name, const void *p, size_t n, mode_t mode)
{
	int old = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (old < 0 && errno != ENOENT)
		return -errno;
	int e = io_replace_file_at(dirfd, name, p, n, mode);
	if (e == 0 && old >= 0)
		e = io_overwrite_fd(old);
	if (old >= 0)
		close(old);
	return e;
}

int io_create_file_at(int dirfd, const char *name, const void *p, size_t n, mode_t mode)
{
	return write_file_at(dirfd, name, p, n, mode, false);
}

int io_read_file_at(int dirfd, const char *path, struct buf *out, size_t max)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int e = io_read_fd(fd, out, max);
	close(fd);
	return e;
}
