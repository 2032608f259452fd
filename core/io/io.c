/* Whole-buffer I/O; see io.h. */
#include "io/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
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

int io_replace_file_at(int dirfd, const char *name, const void *p, size_t n, mode_t mode)
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
	}
	int e = 0, fd = -1;
	if ((size_t)snprintf(tmp, sizeof tmp, ".%s.tmp", base) >= sizeof tmp)
		e = -ENAMETOOLONG;
	if (e == 0) {
		(void)unlinkat(dfd, tmp, 0); /* left by a crash */
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd < 0)
			e = -errno;
	}
	if (e == 0)
		e = io_write_all(fd, p, n);
	if (e == 0 && fsync(fd) != 0)
		e = -errno;
	if (fd >= 0 && close(fd) != 0 && e == 0)
		e = -errno;
	if (e == 0 && renameat(dfd, tmp, dfd, base) != 0)
		e = -errno;
	if (e != 0 && fd >= 0)
		(void)unlinkat(dfd, tmp, 0);
	if (e == 0)
		e = io_fsync_dir(dfd);
	if (dfd != dirfd)
		close(dfd);
	return e;
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
