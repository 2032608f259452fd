/*
 * Local-filesystem store. Layout under the store directory DIR
 * (docs/format/store.md):
 *
 *   config            the repository config (STORE_CONFIG)
 *   keys/NAME         STORE_KEY
 *   data/XX/NAME      STORE_PACK, XX = first two hex digits of NAME
 *   index/NAME        STORE_INDEX
 *   snapshots/NAME    STORE_SNAPSHOT
 *   locks/NAME        STORE_LOCK
 *   tmp/              objects being written
 *
 * Every object is written under a unique name in tmp/, fsync'd, then
 * renamed into place with RENAME_NOREPLACE (or linked, which also refuses
 * to replace) and the directory fsync'd: a crash leaves a stray temp file
 * at worst, never a partial or overwritten object.
 *
 * Pack writes (the temp file's content and its fsync) and object reads go
 * through the I/O engine (io/engine.h), so they run on io_uring where it
 * is available. Ranged pack reads keep the last LOCAL_FD_CACHE packs open
 * (least recently used goes first): a restore or check reads thousands of
 * blobs from the same few packs and would otherwise open and close a pack
 * per blob. Removing a pack drops its descriptor.
 *
 * The store keeps one O_DIRECTORY descriptor per kind and works only with
 * *at() calls on single path components (plus "XX/NAME" for packs), so a
 * rename of DIR while open cannot redirect writes, and names, checked in
 * store_name_valid(), cannot climb out.
 */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/engine.h"
#include "io/io.h"
#include "store/store_int.h"

#define LOCAL_NKINDS (STORE_LOCK + 1)
#define LOCAL_DIR_MODE 0700
#define LOCAL_FILE_MODE 0600
#define LOCAL_PATH_MAX (3 + STORE_NAME_MAX + 1) /* "XX/" NAME NUL */
#define LOCAL_TMP_NAME_MAX 64
/* Pack descriptors kept open for get_range: at most this many, and at
 * most 1/LOCAL_FD_SHARE of RLIMIT_NOFILE (restore needs descriptors too). */
#define LOCAL_FD_CACHE 64
#define LOCAL_FD_SHARE 16

/*
 * An open pack. Entries leave the cache (eviction, removal of the pack)
 * while a reader may still be using them: the last reader closes them.
 */
struct local_fd {
	char name[STORE_NAME_MAX + 1];
	int fd;
	uint64_t size;
	uint64_t used; /* LRU tick */
	unsigned refs; /* readers using fd, plus nothing for the cache itself */
	bool dropped;  /* no longer in the cache: close when refs reaches 0 */
};

struct store_local {
	struct store base;
	int root_fd;
	int dir_fd[LOCAL_NKINDS]; /* directory of each kind (data/ for packs) */
	int tmp_fd;
	pthread_mutex_t fd_mu; /* guards everything below */
	struct local_fd *fds[LOCAL_FD_CACHE];
	unsigned n_fds;
	uint64_t fd_tick;
	uint64_t fd_gen; /* bumped by every pack removal */
};

/* Directory of each kind, relative to DIR. */
static const char *const local_kind_dir[LOCAL_NKINDS] = {
	[STORE_CONFIG] = ".",
	[STORE_KEY] = "keys",
	[STORE_PACK] = "data",
	[STORE_INDEX] = "index",
	[STORE_SNAPSHOT] = "snapshots",
	[STORE_LOCK] = "locks",
};

/* Made at create time, in this order; each must be absent before. */
static const char *const local_subdirs[] = {
	"keys", "data", "index", "snapshots", "locks", "tmp",
};

static atomic_ulong local_tmp_seq;

static struct store_local *local_of(struct store *s)
{
	return (struct store_local *)s;
}

/* Path of an object relative to its kind's directory. */
static void local_relpath(enum store_kind k, const char *name,
			  char out[LOCAL_PATH_MAX])
{
	if (k == STORE_PACK)
		snprintf(out, LOCAL_PATH_MAX, "%.2s/%s", name, name);
	else
		snprintf(out, LOCAL_PATH_MAX, "%s", name);
}

/*
 * The directory that holds the object's entry, for operations that change
 * it (put, remove) and must fsync it. Returns 1 if *fd was opened here and
 * must be closed, 0 if it is the store's own descriptor, or -errno.
 */
static int local_entry_dir(struct store_local *s, enum store_kind k,
			   const char *name, int *fd)
{
	if (k != STORE_PACK) {
		*fd = s->dir_fd[k];
		return 0;
	}
	char sub[3] = { name[0], name[1], 0 };
	int d = openat(s->dir_fd[k], sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return -errno;
	*fd = d;
	return 1;
}

/*
 * Opens an object for reading. Anything but a regular file (a symlink, a
 * directory, a FIFO someone left there) is not an object: -ENOENT.
 * O_NONBLOCK keeps a FIFO from hanging the open.
 */
static int local_open_obj(struct store_local *s, enum store_kind k,
			  const char *name, int *fd_out, uint64_t *size)
{
	char rel[LOCAL_PATH_MAX];
	struct stat st;

	local_relpath(k, name, rel);
	int fd = openat(s->dir_fd[k], rel,
			O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP ? -ENOENT : -errno;
	if (fstat(fd, &st) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	*fd_out = fd;
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Creates a new, uniquely named file in tmp/ for writing. */
static int local_tmp_open(struct store_local *s, char name[LOCAL_TMP_NAME_MAX],
			  int *fd_out)
{
	for (int tries = 0; tries < 100; tries++) {
		struct timespec ts;
		unsigned long seq = atomic_fetch_add(&local_tmp_seq, 1);

		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(name, LOCAL_TMP_NAME_MAX, "%ld-%lu-%lx.tmp",
			 (long)getpid(), seq, (unsigned long)ts.tv_nsec);
		int fd = openat(s->tmp_fd, name,
				O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
				LOCAL_FILE_MODE);
		if (fd >= 0) {
			*fd_out = fd;
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Padded objects smaller than this are written through the page cache. */
#define LOCAL_DIRECT_MIN (1u << 20)

/*
 * The durable write of a padded buffer (store_put_padded) with O_DIRECT:
 * whole aligned blocks, the zeroed padding cut off again by ftruncate,
 * then fsync. 1 when the filesystem refuses O_DIRECT (tmpfs): the caller
 * writes through the page cache instead.
 */
static int local_write_direct(int fd, uint8_t *data, size_t len)
{
	size_t padded = store_padded_len(len);
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) != 0)
		return 1;
	memset(data + len, 0, padded - len);
	int e = io_engine_pwrite_all(fd, data, padded, 0);
	if (e == -EINVAL) {
		/* Refused only at the first write: try again buffered. */
		if (fcntl(fd, F_SETFL, fl) != 0 || ftruncate(fd, 0) != 0)
			return -errno;
		return 1;
	}
	if (e == 0 && ftruncate(fd, (off_t)len) != 0)
		e = -errno;
	if (e == 0)
		e = io_engine_fsync(fd, false);
	return e;
}

/*
 * Write-once put: tmp file, write, fsync, rename-noreplace, fsync of the
 * destination directory. On failure the temp file is removed. If only the
 * final directory fsync fails the object is in place but its durability is
 * unknown, and the error is returned. padded: data is a store_put_padded
 * buffer.
 */
static int local_put_as(struct store *st, enum store_kind k, const char *name,
			const void *data, size_t len, bool padded)
{
	struct store_local *s = local_of(st);
	char tmp[LOCAL_TMP_NAME_MAX];
	struct stat sb;
	int fd = -1, dfd = -1, owned = 0, e;
	bool tmp_made = false;

	if (!store_name_valid(k, name))
		return -EINVAL;
	e = local_entry_dir(s, k, name, &dfd);
	if (e < 0)
		return e;
	owned = e;
	/* Cheap early refusal; the rename below is what enforces it. */
	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		e = -EEXIST;
		goto out;
	}
	if (errno != ENOENT) {
		e = -errno;
		goto out;
	}
	e = local_tmp_open(s, tmp, &fd);
	if (e != 0)
		goto out;
	tmp_made = true;
	e = padded && len >= LOCAL_DIRECT_MIN
		    ? local_write_direct(fd, (uint8_t *)(uintptr_t)data, len) : 1;
	if (e == 1)
		e = io_engine_write_durable(fd, data, len);
	if (e != 0)
		goto out;
	e = close(fd) != 0 ? -errno : 0;
	fd = -1;
	if (e != 0)
		goto out;
	e = io_rename_noreplace(s->tmp_fd, tmp, dfd, name);
	if (e != 0)
		goto out;
	tmp_made = false;
	e = io_fsync_dir(dfd);
out:
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		(void)unlinkat(s->tmp_fd, tmp, 0);
	if (owned)
		close(dfd);
	return e;
}

static int local_put(struct store *st, enum store_kind k, const char *name,
		     const void *data, size_t len)
{
	return local_put_as(st, k, name, data, len, false);
}

static int local_put_padded(struct store *st, enum store_kind k, const char *name,
			    void *data, size_t len)
{
	return local_put_as(st, k, name, data, len, true);
}

/* Appends the whole object to out; out is unchanged on failure. */
static int local_get(struct store *st, enum store_kind k, const char *name,
		     struct buf *out)
{
	struct store_local *s = local_of(st);
	uint64_t size;
	int fd, e;

	if (!store_name_valid(k, name))
		return -EINVAL;
	e = local_open_obj(s, k, name, &fd, &size);
	if (e != 0)
		return e;
	if (size > SIZE_MAX / 2) {
		e = -EFBIG;
		goto out;
	}
	e = buf_reserve(out, (size_t)size);
	if (e != 0)
		goto out;
	/* Objects are never rewritten, so the size read above stays true. */
	e = io_engine_pread_all(fd, out->data + out->len, (size_t)size, 0);
	if (e == 0)
		out->len += (size_t)size;
out:
	close(fd);
	return e;
}

/* Closes an entry that has left the cache once nobody reads from it. Holds fd_mu. */
static void local_fd_release(struct local_fd *f)
{
	if (f->refs == 0 && f->dropped) {
		close(f->fd);
		free(f);
	}
}

/* Takes entry i out of the cache. Holds fd_mu. */
static void local_fd_evict(struct store_local *s, unsigned i)
{
	struct local_fd *f = s->fds[i];
	s->fds[i] = s->fds[--s->n_fds];
	s->fds[s->n_fds] = NULL;
	f->dropped = true;
	local_fd_release(f);
}

static int local_fd_find(struct store_local *s, const char *name)
{
	for (unsigned i = 0; i < s->n_fds; i++)
		if (strcmp(s->fds[i]->name, name) == 0)
			return (int)i;
	return -1;
}

/* How many packs may be kept open, given the descriptor limit now. */
static unsigned local_fd_cap(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur / LOCAL_FD_SHARE >= LOCAL_FD_CACHE)
		return LOCAL_FD_CACHE;
	return (unsigned)(rl.rlim_cur / LOCAL_FD_SHARE);
}

/* Closes every cached pack nobody is reading (out of descriptors). */
static void local_fd_flush(struct store_local *s)
{
	pthread_mutex_lock(&s->fd_mu);
	while (s->n_fds > 0)
		local_fd_evict(s, s->n_fds - 1);
	pthread_mutex_unlock(&s->fd_mu);
}

/*
 * An open descriptor of pack name, from the cache or opened and cached;
 * release it with local_fd_put. A pack removed while it was being opened
 * is not cached (its descriptor serves this one read).
 */
static int local_fd_get(struct store_local *s, const char *name, struct local_fd **out)
{
	pthread_mutex_lock(&s->fd_mu);
	int i = local_fd_find(s, name);
	if (i >= 0) {
		struct local_fd *f = s->fds[i];
		f->refs++;
		f->used = ++s->fd_tick;
		pthread_mutex_unlock(&s->fd_mu);
		*out = f;
		return 0;
	}
	uint64_t gen = s->fd_gen;
	pthread_mutex_unlock(&s->fd_mu);
	unsigned cap = local_fd_cap();

	struct local_fd *f = calloc(1, sizeof *f);
	if (f == NULL)
		return -ENOMEM;
	int e = local_open_obj(s, STORE_PACK, name, &f->fd, &f->size);
	if (e == -EMFILE || e == -ENFILE) {
		local_fd_flush(s);
		e = local_open_obj(s, STORE_PACK, name, &f->fd, &f->size);
	}
	if (e != 0) {
		free(f);
		return e;
	}
	snprintf(f->name, sizeof f->name, "%s", name);
	f->refs = 1;

	pthread_mutex_lock(&s->fd_mu);
	i = local_fd_find(s, name);
	if (i >= 0) { /* another reader was quicker */
		close(f->fd);
		free(f);
		f = s->fds[i];
		f->refs++;
	} else if (gen != s->fd_gen) {
		f->dropped = true;
	} else {
		while (s->n_fds > 0 && s->n_fds >= cap) {
			unsigned lru = 0;
			for (unsigned k = 1; k < s->n_fds; k++)
				if (s->fds[k]->used < s->fds[lru]->used)
					lru = k;
			local_fd_evict(s, lru);
		}
		s->fds[s->n_fds++] = f;
	}
	f->used = ++s->fd_tick;
	pthread_mutex_unlock(&s->fd_mu);
	*out = f;
	return 0;
}

static void local_fd_put(struct store_local *s, struct local_fd *f)
{
	pthread_mutex_lock(&s->fd_mu);
	f->refs--;
	local_fd_release(f);
	pthread_mutex_unlock(&s->fd_mu);
}

/* Forgets pack name's descriptor (it is being removed). */
static void local_fd_drop(struct store_local *s, const char *name)
{
	pthread_mutex_lock(&s->fd_mu);
	s->fd_gen++;
	int i = local_fd_find(s, name);
	if (i >= 0)
		local_fd_evict(s, (unsigned)i);
	pthread_mutex_unlock(&s->fd_mu);
}

static int local_get_range(struct store *st, enum store_kind k,
			   const char *name, uint64_t off, size_t len, void *out)
{
	struct store_local *s = local_of(st);
	uint64_t size;
	int fd, e;

	if (!store_name_valid(k, name))
		return -EINVAL;
	if (k == STORE_PACK) {
		struct local_fd *f;
		e = local_fd_get(s, name, &f);
		if (e != 0)
			return e;
		/* Packs are never rewritten: the size seen at open stays true. */
		if (off > f->size || len > f->size - off)
			e = -EIO;
		else
			e = io_engine_pread_all(f->fd, out, len, (off_t)off);
		local_fd_put(s, f);
		return e;
	}
	e = local_open_obj(s, k, name, &fd, &size);
	if (e != 0)
		return e;
	if (off > size || len > size - off)
		e = -EIO;
	else
		e = io_engine_pread_all(fd, out, len, (off_t)off);
	close(fd);
	return e;
}

static int local_size(struct store *st, enum store_kind k, const char *name,
		      uint64_t *size)
{
	struct store_local *s = local_of(st);
	char rel[LOCAL_PATH_MAX];
	struct stat sb;

	if (!store_name_valid(k, name))
		return -EINVAL;
	local_relpath(k, name, rel);
	if (fstatat(s->dir_fd[k], rel, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return -errno;
	if (!S_ISREG(sb.st_mode))
		return -ENOENT;
	*size = (uint64_t)sb.st_size;
	return 0;
}

/*
 * Lists one directory. prefix, if not NULL, is the fan-out directory name
 * a pack's first two digits must match. Entries that vanish while listing
 * (locks being removed) are skipped. Returns 0, cb's non-zero result, or
 * -errno.
 */
static int local_list_dir(int parent, const char *sub, enum store_kind k,
			  const char *prefix,
			  int (*cb)(const char *name, uint64_t size, void *arg),
			  void *arg)
{
	/* A fresh open: the store's descriptor has a shared offset. */
	int fd = openat(parent, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		int e = -errno;
		close(fd);
		return e;
	}
	int e = 0;
	for (;;) {
		struct stat sb;

		errno = 0;
		struct dirent *de = readdir(d);
		if (de == NULL) {
			e = -errno;
			break;
		}
		if (!store_name_valid(k, de->d_name))
			continue;
		if (prefix != NULL && strncmp(de->d_name, prefix, 2) != 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				continue;
			e = -errno;
			break;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		e = cb(de->d_name, (uint64_t)sb.st_size, arg);
		if (e != 0)
			break;
	}
	closedir(d);
	return e;
}

static int local_list(struct store *st, enum store_kind k,
		      int (*cb)(const char *name, uint64_t size, void *arg),
		      void *arg)
{
	struct store_local *s = local_of(st);

	if (!store_kind_valid(k))
		return -EINVAL;
	if (k != STORE_PACK)
		return local_list_dir(s->dir_fd[k], ".", k, NULL, cb, arg);
	for (unsigned i = 0; i < 256; i++) {
		char sub[3];

		snprintf(sub, sizeof sub, "%02x", i);
		int e = local_list_dir(s->dir_fd[k], sub, k, sub, cb, arg);
		if (e == -ENOENT)
			continue; /* a fan-out directory someone removed */
		if (e != 0)
			return e;
	}
	return 0;
}

static int local_remove(struct store *st, enum store_kind k, const char *name)
{
	struct store_local *s = local_of(st);
	int dfd = -1, e;

	if (!store_name_valid(k, name))
		return -EINVAL;
	int owned = local_entry_dir(s, k, name, &dfd);
	if (owned < 0)
		return owned;
	if (k == STORE_PACK)
		local_fd_drop(s, name);
	if (st->destroy != NULL)
		e = st->destroy(st->destroy_arg, dfd, name);
	else if (unlinkat(dfd, name, 0) != 0)
		e = -errno;
	else
		e = io_fsync_dir(dfd);
	if (owned)
		close(dfd);
	return e;
}

static void local_free(struct store_local *s)
{
	if (s == NULL)
		return;
	/* Closing with a read in flight is the caller's bug; nothing is
	 * left to wait for here. */
	for (unsigned i = 0; i < s->n_fds; i++) {
		close(s->fds[i]->fd);
		free(s->fds[i]);
	}
	pthread_mutex_destroy(&s->fd_mu);
	for (int k = 0; k < LOCAL_NKINDS; k++)
		if (s->dir_fd[k] >= 0)
			close(s->dir_fd[k]);
	if (s->tmp_fd >= 0)
		close(s->tmp_fd);
	if (s->root_fd >= 0)
		close(s->root_fd);
	free(s);
}

/* Removes every file in tmp/: the caller guarantees no write is running. */
static int local_clean(struct store *st, uint64_t *removed)
{
	struct store_local *s = local_of(st);
	int dfd = dup(s->tmp_fd);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (d == NULL) {
		int e = -errno;
		close(dfd);
		return e;
	}
	int e = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (unlinkat(s->tmp_fd, de->d_name, 0) == 0)
			(*removed)++;
		else if (errno != ENOENT && e == 0)
			e = -errno;
	}
	closedir(d);
	if (*removed && e == 0)
		e = io_fsync_dir(s->tmp_fd);
	return e;
}

static void local_close(struct store *st)
{
	local_free(local_of(st));
}

static const struct store_ops local_ops = {
	.name = "local",
	.put = local_put,
	.put_padded = local_put_padded,
	.get = local_get,
	.get_range = local_get_range,
	.size = local_size,
	.list = local_list,
	.remove = local_remove,
	.clean = local_clean,
	.close = local_close,
};

/* 0 if path is an empty directory, -EEXIST if it is anything else. */
static int local_check_empty(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR ? -EEXIST : -errno;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		int e = -errno;
		close(fd);
		return e;
	}
	int e = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			e = -EEXIST;
			break;
		}
	}
	if (e == 0 && errno != 0)
		e = -errno;
	closedir(d);
	return e;
}

/* mkdirat, then fsync of the new directory itself. */
static int local_mkdir_synced(int parent, const char *name)
{
	if (mkdirat(parent, name, LOCAL_DIR_MODE) != 0)
		return -errno;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int e = io_fsync_dir(fd);
	close(fd);
	return e;
}

/*
 * Makes the layout in dir, which must be absent or an empty directory.
 * Every new directory, DIR and DIR's parent are fsync'd, so a store that
 * create reported is there after a crash. No config is written: the
 * repository layer puts it, and until then open refuses the store.
 */
static int local_create(const char *dir)
{
	int root = -1, data = -1, parent = -1, e;

	if (mkdir(dir, LOCAL_DIR_MODE) != 0) {
		if (errno != EEXIST)
			return -errno;
		e = local_check_empty(dir);
		if (e != 0)
			return e;
	}
	root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	for (size_t i = 0; i < sizeof local_subdirs / sizeof local_subdirs[0]; i++) {
		e = local_mkdir_synced(root, local_subdirs[i]);
		if (e != 0)
			goto out;
	}
	data = openat(root, "data", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (data < 0) {
		e = -errno;
		goto out;
	}
	for (unsigned i = 0; i < 256; i++) {
		char sub[3];

		snprintf(sub, sizeof sub, "%02x", i);
		e = local_mkdir_synced(data, sub);
		if (e != 0)
			goto out;
	}
	e = io_fsync_dir(data);
	if (e != 0)
		goto out;
	e = io_fsync_dir(root);
	if (e != 0)
		goto out;
	parent = openat(root, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (parent < 0) {
		e = -errno;
		goto out;
	}
	e = io_fsync_dir(parent);
out:
	if (parent >= 0)
		close(parent);
	if (data >= 0)
		close(data);
	close(root);
	return e;
}

int store_local_open(const char *dir, int create, struct store **out)
{
	struct store_local *s;
	struct stat sb;
	int e;

	if (dir == NULL || out == NULL)
		return -EINVAL;
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return -ENOMEM;
	s->base.ops = &local_ops;
	s->root_fd = s->tmp_fd = -1;
	pthread_mutex_init(&s->fd_mu, NULL);
	for (int k = 0; k < LOCAL_NKINDS; k++)
		s->dir_fd[k] = -1;

	if (create) {
		e = local_create(dir);
		if (e != 0)
			goto out;
	}
	s->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0) {
		e = -errno;
		goto out;
	}
	if (!create) {
		if (fstatat(s->root_fd, "config", &sb, AT_SYMLINK_NOFOLLOW) != 0) {
			e = -errno;
			goto out;
		}
		if (!S_ISREG(sb.st_mode)) {
			e = -ENOENT;
			goto out;
		}
	}
	for (int k = 0; k < LOCAL_NKINDS; k++) {
		s->dir_fd[k] = openat(s->root_fd, local_kind_dir[k],
				      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (s->dir_fd[k] < 0) {
			e = -errno;
			goto out;
		}
	}
	s->tmp_fd = openat(s->root_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->tmp_fd < 0) {
		e = -errno;
		goto out;
	}
	*out = &s->base;
	s = NULL;
	e = 0;
out:
	local_free(s);
	return e;
}
