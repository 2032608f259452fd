/*
 * treecmp: compares two directory trees entry by entry and prints every
 * difference, one per line. Integration tests use it to prove that a
 * restore re-created exactly what was backed up: types, modes, owners,
 * sizes, nanosecond times, content, the data/hole layout of sparse files,
 * symlink targets, device numbers, every xattr (ACLs included) and the
 * hard-link structure.
 *
 * Trees may be deeper than PATH_MAX, so every system call is made relative
 * to an open directory fd with a single name; the relative paths printed
 * are only ever built in memory. Names are raw bytes and are printed with
 * escapes (\\, \xNN) so that any name fits on one line.
 *
 * Usage: treecmp [--no-atime] [--no-owner] [--ignore-root-meta] A B
 * Exit: 0 identical, 1 differences found, 2 usage or I/O error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

struct opts {
	bool no_atime;
	bool no_owner;
	bool ignore_root_meta;
};

/* Maps an inode to the first relative path seen for it in one tree. */
struct link_slot {
	dev_t dev;
	ino_t ino;
	char *path; /* NULL: empty slot */
};

struct link_map {
	struct link_slot *slots;
	size_t cap, used;
};

static struct opts opt;
static unsigned long n_diffs;
static unsigned long n_errors;
static struct link_map links_a, links_b;

/* --- output ------------------------------------------------------------- */

static void put_escaped(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\\')
			fputs("\\\\", stdout);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

/* Starts a difference line for path; the caller prints the rest. */
static void diff_start(const char *path)
{
	n_diffs++;
	put_escaped(path, strlen(path));
	fputs(": ", stdout);
}

static void diff_msg(const char *path, const char *msg)
{
	diff_start(path);
	printf("%s\n", msg);
}

static void diff_u64(const char *path, const char *what, unsigned long long a,
		     unsigned long long b, bool octal)
{
	diff_start(path);
	if (octal)
		printf("%s differs: A=%04llo B=%04llo\n", what, a, b);
	else
		printf("%s differs: A=%llu B=%llu\n", what, a, b);
}

static void io_error(const char *path, const char *what, int err)
{
	n_errors++;
	fputs("treecmp: ", stderr);
	for (const char *p = path; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c >= 0x7f || c == '\\')
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fprintf(stderr, ": %s: %s\n", what, strerror(err));
}

/* --- small helpers ------------------------------------------------------ */

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "treecmp: out of memory\n");
		exit(2);
	}
	return p;
}

static void *xrealloc(void *old, size_t n)
{
	void *p = realloc(old, n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "treecmp: out of memory\n");
		exit(2);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = xmalloc(n);
	memcpy(p, s, n);
	return p;
}

/* Relative path of a child: "name" below the root ("."), else "dir/name". */
static char *child_path(const char *dir, const char *name)
{
	if (strcmp(dir, ".") == 0)
		return xstrdup(name);
	size_t a = strlen(dir), b = strlen(name);
	char *p = xmalloc(a + b + 2);
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b + 1);
	return p;
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFCHR: return "char device";
	case S_IFBLK: return "block device";
	case S_IFSOCK: return "socket";
	default: return "unknown";
	}
}

/* --- hard links --------------------------------------------------------- */

static size_t link_hash(dev_t dev, ino_t ino, size_t cap)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;
	h ^= h >> 29;
	return (size_t)(h & (cap - 1));
}

static void link_grow(struct link_map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 256;
	struct link_slot *ns = xmalloc(ncap * sizeof *ns);
	memset(ns, 0, ncap * sizeof *ns);
	for (size_t i = 0; i < m->cap; i++) {
		struct link_slot *s = &m->slots[i];
		if (s->path == NULL)
			continue;
		size_t j = link_hash(s->dev, s->ino, ncap);
		while (ns[j].path != NULL)
			j = (j + 1) & (ncap - 1);
		ns[j] = *s;
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
}

/*
 * Returns the first path recorded for the inode, or NULL after recording
 * path as the first one.
 */
static const char *link_seen(struct link_map *m, const struct stat *st, const char *path)
{
	if ((m->used + 1) * 2 > m->cap)
		link_grow(m);
	size_t j = link_hash(st->st_dev, st->st_ino, m->cap);
	while (m->slots[j].path != NULL) {
		if (m->slots[j].dev == st->st_dev && m->slots[j].ino == st->st_ino)
			return m->slots[j].path;
		j = (j + 1) & (m->cap - 1);
	}
	m->slots[j].dev = st->st_dev;
	m->slots[j].ino = st->st_ino;
	m->slots[j].path = xstrdup(path);
	m->used++;
	return NULL;
}

static void link_free(struct link_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].path);
	free(m->slots);
	m->slots = NULL;
	m->cap = m->used = 0;
}

static void compare_links(const char *path, const struct stat *sa, const struct stat *sb)
{
	const char *fa = link_seen(&links_a, sa, path);
	const char *fb = link_seen(&links_b, sb, path);
	if (fa == NULL && fb == NULL)
		return;
	if (fa != NULL && fb != NULL && strcmp(fa, fb) == 0)
		return;
	diff_start(path);
	fputs("hard links differ: A=", stdout);
	if (fa)
		put_escaped(fa, strlen(fa));
	else
		fputs("(not linked)", stdout);
	fputs(" B=", stdout);
	if (fb)
		put_escaped(fb, strlen(fb));
	else
		fputs("(not linked)", stdout);
	putchar('\n');
}

/* --- xattrs ------------------------------------------------------------- */

struct xattr {
	char *name;
	char *value;
	size_t len;
};

struct xattr_set {
	struct xattr *v;
	size_t n;
};

static int xattr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct xattr *)a)->name, ((const struct xattr *)b)->name);
}

static void xattr_set_free(struct xattr_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].value);
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/*
 * Reads every xattr of the entry open as an O_PATH fd. The magic link
 * /proc/self/fd/N is followed by listxattr/getxattr to exactly the inode
 * the fd refers to (a symlink itself, a device node, a FIFO), which no
 * f*xattr call accepts for O_PATH fds and no open() could reach without
 * side effects. Returns 0 or a negative errno.
 */
static int xattr_read(int fd, struct xattr_set *out)
{
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	char *names = NULL;
	ssize_t n;
	for (;;) {
		n = listxattr(proc, NULL, 0);
		if (n < 0) {
			if (errno == ENOTSUP || errno == EPERM)
				return 0;
			return -errno;
		}
		names = xrealloc(names, (size_t)n + 1);
		n = n ? listxattr(proc, names, (size_t)n) : 0;
		if (n >= 0)
			break;
		if (errno != ERANGE) {
			int e = -errno;
			free(names);
			return e;
		}
	}
	struct xattr_set s = { 0 };
	for (ssize_t off = 0; off < n; off += (ssize_t)strlen(names + off) + 1) {
		const char *name = names + off;
		char *val = NULL;
		ssize_t vl;
		for (;;) {
			vl = getxattr(proc, name, NULL, 0);
			if (vl < 0)
				break;
			val = xrealloc(val, (size_t)vl);
			vl = vl ? getxattr(proc, name, val, (size_t)vl) : 0;
			if (vl >= 0 || errno != ERANGE)
				break;
		}
		if (vl < 0) {
			if (errno == ENODATA) { /* removed meanwhile */
				free(val);
				continue;
			}
			int e = -errno;
			free(val);
			free(names);
			xattr_set_free(&s);
			return e;
		}
		s.v = xrealloc(s.v, (s.n + 1) * sizeof *s.v);
		s.v[s.n].name = xstrdup(name);
		s.v[s.n].value = val;
		s.v[s.n].len = (size_t)vl;
		s.n++;
	}
	free(names);
	if (s.n > 1)
		qsort(s.v, s.n, sizeof *s.v, xattr_cmp);
	*out = s;
	return 0;
}

static void put_value(const struct xattr *x)
{
	if (x->len <= 64) {
		put_escaped(x->value, x->len);
	} else {
		put_escaped(x->value, 64);
		printf("...(%zu bytes)", x->len);
	}
}

static void compare_xattrs(const char *path, int fa, int fb)
{
	struct xattr_set a = { 0 }, b = { 0 };
	int e = xattr_read(fa, &a);
	if (e != 0) {
		io_error(path, "A: listing xattrs", -e);
		return;
	}
	e = xattr_read(fb, &b);
	if (e != 0) {
		io_error(path, "B: listing xattrs", -e);
		xattr_set_free(&a);
		return;
	}
	size_t i = 0, j = 0;
	while (i < a.n || j < b.n) {
		int c = i == a.n ? 1 : j == b.n ? -1 : strcmp(a.v[i].name, b.v[j].name);
		if (c < 0) {
			diff_start(path);
			fputs("xattr ", stdout);
			put_escaped(a.v[i].name, strlen(a.v[i].name));
			fputs(" only in A\n", stdout);
			i++;
		} else if (c > 0) {
			diff_start(path);
			fputs("xattr ", stdout);
			put_escaped(b.v[j].name, strlen(b.v[j].name));
			fputs(" only in B\n", stdout);
			j++;
		} else {
			if (a.v[i].len != b.v[j].len ||
			    memcmp(a.v[i].value, b.v[j].value, a.v[i].len) != 0) {
				diff_start(path);
				fputs("xattr ", stdout);
				put_escaped(a.v[i].name, strlen(a.v[i].name));
				fputs(" differs: A=", stdout);
				put_value(&a.v[i]);
				fputs(" B=", stdout);
				put_value(&b.v[j]);
				putchar('\n');
			}
			i++;
			j++;
		}
	}
	xattr_set_free(&a);
	xattr_set_free(&b);
}

/* --- regular file content and sparse layout ----------------------------- */

struct extent {
	off_t start, end;
};

struct extents {
	struct extent *v;
	size_t n;
};

static void extents_add(struct extents *x, off_t start, off_t end)
{
	x->v = xrealloc(x->v, (x->n + 1) * sizeof *x->v);
	x->v[x->n].start = start;
	x->v[x->n].end = end;
	x->n++;
}

/*
 * The data regions of an open file by SEEK_DATA/SEEK_HOLE. A filesystem
 * without hole reporting shows the whole file as one region. Returns 0 or
 * a negative errno.
 */
static int data_map(int fd, off_t size, struct extents *out)
{
	struct extents x = { 0 };
	off_t pos = 0;
	while (pos < size) {
		off_t d = lseek(fd, pos, SEEK_DATA);
		if (d < 0) {
			if (errno == ENXIO)
				break;
			int e = -errno;
			free(x.v);
			return e;
		}
		off_t h = lseek(fd, d, SEEK_HOLE);
		if (h < 0) {
			int e = -errno;
			free(x.v);
			return e;
		}
		if (h > size)
			h = size;
		extents_add(&x, d, h);
		pos = h;
	}
	*out = x;
	return 0;
}

static bool extents_equal(const struct extents *a, const struct extents *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].start != b->v[i].start || a->v[i].end != b->v[i].end)
			return false;
	return true;
}

static void put_extents(const struct extents *x)
{
	if (x->n == 0)
		fputs("(all hole)", stdout);
	for (size_t i = 0; i < x->n && i < 8; i++)
		printf("%s%lld-%lld", i ? "," : "", (long long)x->v[i].start,
		       (long long)x->v[i].end);
	if (x->n > 8)
		printf(",...(%zu regions)", x->n);
}

/*
 * Union of both data maps, sorted and merged: outside it both files read as
 * zeros, so only these ranges need reading.
 */
static struct extents extents_union(const struct extents *a, const struct extents *b)
{
	struct extents all = { 0 }, u = { 0 };
	for (size_t i = 0; i < a->n; i++)
		extents_add(&all, a->v[i].start, a->v[i].end);
	for (size_t i = 0; i < b->n; i++)
		extents_add(&all, b->v[i].start, b->v[i].end);
	/* insertion sort: maps are short */
	for (size_t i = 1; i < all.n; i++) {
		struct extent k = all.v[i];
		size_t j = i;
		while (j > 0 && all.v[j - 1].start > k.start) {
			all.v[j] = all.v[j - 1];
			j--;
		}
		all.v[j] = k;
	}
	for (size_t i = 0; i < all.n; i++) {
		if (u.n > 0 && all.v[i].start <= u.v[u.n - 1].end) {
			if (all.v[i].end > u.v[u.n - 1].end)
				u.v[u.n - 1].end = all.v[i].end;
		} else {
			extents_add(&u, all.v[i].start, all.v[i].end);
		}
	}
	free(all.v);
	return u;
}

/* Reads exactly len bytes at off; short only at end of file. */
static ssize_t pread_full(int fd, char *buf, size_t len, off_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = pread(fd, buf + got, len - got, off + (off_t)got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

#define CMP_BUF (1u << 20)

/* Compares bytes in [start, end) of both files; true if equal. */
static bool range_equal(const char *path, int fa, int fb, off_t start, off_t end,
			char *ba, char *bb, off_t *first_diff)
{
	for (off_t pos = start; pos < end;) {
		size_t want = (size_t)(end - pos < (off_t)CMP_BUF ? end - pos : (off_t)CMP_BUF);
		ssize_t ra = pread_full(fa, ba, want, pos);
		ssize_t rb = pread_full(fb, bb, want, pos);
		if (ra < 0 || rb < 0) {
			io_error(path, "reading content", errno);
			return true;
		}
		if (ra != rb || memcmp(ba, bb, (size_t)ra) != 0) {
			size_t k = 0;
			size_t m = (size_t)(ra < rb ? ra : rb);
			while (k < m && ba[k] == bb[k])
				k++;
			*first_diff = pos + (off_t)k;
			return false;
		}
		if (ra == 0)
			break;
		pos += ra;
	}
	return true;
}

static void compare_content(const char *path, int da, const char *na, int db,
			    const char *nb, off_t size)
{
	int fa = openat(da, na, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fa < 0) {
		io_error(path, "A: open", errno);
		return;
	}
	int fb = openat(db, nb, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fb < 0) {
		io_error(path, "B: open", errno);
		close(fa);
		return;
	}
	struct extents ma = { 0 }, mb = { 0 }, u = { 0 };
	int e = data_map(fa, size, &ma);
	if (e == 0)
		e = data_map(fb, size, &mb);
	if (e != 0) {
		io_error(path, "mapping holes", -e);
		goto out;
	}
	if (!extents_equal(&ma, &mb)) {
		diff_start(path);
		fputs("data/hole map differs: A=", stdout);
		put_extents(&ma);
		fputs(" B=", stdout);
		put_extents(&mb);
		putchar('\n');
	}
	u = extents_union(&ma, &mb);
	char *ba = xmalloc(CMP_BUF), *bb = xmalloc(CMP_BUF);
	for (size_t i = 0; i < u.n; i++) {
		off_t at;
		if (!range_equal(path, fa, fb, u.v[i].start, u.v[i].end, ba, bb, &at)) {
			diff_start(path);
			printf("content differs at byte %lld\n", (long long)at);
			break;
		}
	}
	free(ba);
	free(bb);
out:
	free(ma.v);
	free(mb.v);
	free(u.v);
	close(fa);
	close(fb);
}

/* --- symlinks ----------------------------------------------------------- */

/* Reads a symlink target of any length; NULL on error (errno set). */
static char *read_link(int dfd, const char *name, size_t *len)
{
	size_t cap = 256;
	for (;;) {
		char *p = xmalloc(cap);
		ssize_t n = readlinkat(dfd, name, p, cap);
		if (n < 0) {
			int e = errno;
			free(p);
			errno = e;
			return NULL;
		}
		if ((size_t)n < cap) {
			*len = (size_t)n;
			return p;
		}
		free(p);
		cap *= 2;
	}
}

static void compare_symlink(const char *path, int da, const char *na, int db, const char *nb)
{
	size_t la, lb;
	char *ta = read_link(da, na, &la);
	if (ta == NULL) {
		io_error(path, "A: readlink", errno);
		return;
	}
	char *tb = read_link(db, nb, &lb);
	if (tb == NULL) {
		io_error(path, "B: readlink", errno);
		free(ta);
		return;
	}
	if (la != lb || memcmp(ta, tb, la) != 0) {
		diff_start(path);
		fputs("symlink target differs: A=", stdout);
		put_escaped(ta, la);
		fputs(" B=", stdout);
		put_escaped(tb, lb);
		putchar('\n');
	}
	free(ta);
	free(tb);
}

/* --- directories and entries -------------------------------------------- */

struct names {
	char **v;
	size_t n;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(struct names *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->v[i]);
	free(x->v);
}

/* Sorted names of an open directory (fd stays open and owned by caller). */
static int list_dir(int fd, struct names *out)
{
	int dup_fd = dup(fd);
	if (dup_fd < 0)
		return -errno;
	DIR *d = fdopendir(dup_fd);
	if (d == NULL) {
		int e = -errno;
		close(dup_fd);
		return e;
	}
	rewinddir(d);
	struct names x = { 0 };
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		x.v = xrealloc(x.v, (x.n + 1) * sizeof *x.v);
		x.v[x.n++] = xstrdup(de->d_name);
		errno = 0;
	}
	int e = errno ? -errno : 0;
	closedir(d);
	if (e != 0) {
		names_free(&x);
		return e;
	}
	if (x.n > 1)
		qsort(x.v, x.n, sizeof *x.v, name_cmp);
	*out = x;
	return 0;
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static void diff_time(const char *path, const char *what, const struct timespec *a,
		      const struct timespec *b)
{
	diff_start(path);
	printf("%s differs: A=%lld.%09ld B=%lld.%09ld\n", what, (long long)a->tv_sec,
	       a->tv_nsec, (long long)b->tv_sec, b->tv_nsec);
}

static void compare_meta(const char *path, const struct stat *sa, const struct stat *sb)
{
	bool dir = S_ISDIR(sa->st_mode);
	if ((sa->st_mode & 07777) != (sb->st_mode & 07777))
		diff_u64(path, "mode", sa->st_mode & 07777, sb->st_mode & 07777, true);
	if (!opt.no_owner && sa->st_uid != sb->st_uid)
		diff_u64(path, "uid", sa->st_uid, sb->st_uid, false);
	if (!opt.no_owner && sa->st_gid != sb->st_gid)
		diff_u64(path, "gid", sa->st_gid, sb->st_gid, false);
	/* Directory sizes depend on the filesystem and its history. */
	if (!dir && sa->st_size != sb->st_size)
		diff_u64(path, "size", (unsigned long long)sa->st_size,
			 (unsigned long long)sb->st_size, false);
	if (!same_time(&sa->st_mtim, &sb->st_mtim))
		diff_time(path, "mtime", &sa->st_mtim, &sb->st_mtim);
	if (!opt.no_atime && !dir && !same_time(&sa->st_atim, &sb->st_atim))
		diff_time(path, "atime", &sa->st_atim, &sb->st_atim);
	if ((S_ISCHR(sa->st_mode) || S_ISBLK(sa->st_mode)) && sa->st_rdev != sb->st_rdev) {
		diff_start(path);
		printf("device differs: A=%u,%u B=%u,%u\n", major(sa->st_rdev),
		       minor(sa->st_rdev), major(sb->st_rdev), minor(sb->st_rdev));
	}
}

static void compare_dir(const char *path, int fa, int fb);

/*
 * Compares one entry: na in directory da against nb in db (the same name
 * except for the roots). root: the two top directories themselves.
 */
static void compare_entry(const char *path, int da, const char *na, int db, const char *nb,
			  bool root)
{
	struct stat sa, sb;
	if (fstatat(da, na, &sa, AT_SYMLINK_NOFOLLOW) != 0) {
		io_error(path, "A: stat", errno);
		return;
	}
	if (fstatat(db, nb, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
		io_error(path, "B: stat", errno);
		return;
	}
	if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
		diff_start(path);
		printf("type differs: A=%s B=%s\n", type_name(sa.st_mode), type_name(sb.st_mode));
		return;
	}
	bool meta = !(root && opt.ignore_root_meta);
	if (meta)
		compare_meta(path, &sa, &sb);
	if (!S_ISDIR(sa.st_mode))
		compare_links(path, &sa, &sb);

	int pa = openat(da, na, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pa < 0) {
		io_error(path, "A: open", errno);
		return;
	}
	int pb = openat(db, nb, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pb < 0) {
		io_error(path, "B: open", errno);
		close(pa);
		return;
	}
	if (meta)
		compare_xattrs(path, pa, pb);
	close(pa);
	close(pb);

	if (S_ISREG(sa.st_mode) && sa.st_size == sb.st_size) {
		compare_content(path, da, na, db, nb, sa.st_size);
	} else if (S_ISLNK(sa.st_mode)) {
		compare_symlink(path, da, na, db, nb);
	} else if (S_ISDIR(sa.st_mode)) {
		int fa = openat(da, na, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fa < 0) {
			io_error(path, "A: opening directory", errno);
			return;
		}
		int fb = openat(db, nb, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fb < 0) {
			io_error(path, "B: opening directory", errno);
			close(fa);
			return;
		}
		compare_dir(path, fa, fb);
		close(fa);
		close(fb);
	}
}

static void compare_dir(const char *path, int fa, int fb)
{
	struct names a = { 0 }, b = { 0 };
	int e = list_dir(fa, &a);
	if (e != 0) {
		io_error(path, "A: reading directory", -e);
		return;
	}
	e = list_dir(fb, &b);
	if (e != 0) {
		io_error(path, "B: reading directory", -e);
		names_free(&a);
		return;
	}
	size_t i = 0, j = 0;
	while (i < a.n || j < b.n) {
		int c = i == a.n ? 1 : j == b.n ? -1 : strcmp(a.v[i], b.v[j]);
		const char *name = c <= 0 ? a.v[i] : b.v[j];
		char *sub = child_path(path, name);
		if (c < 0) {
			diff_msg(sub, "only in A");
			i++;
		} else if (c > 0) {
			diff_msg(sub, "only in B");
			j++;
		} else {
			compare_entry(sub, fa, name, fb, name, false);
			i++;
			j++;
		}
		free(sub);
	}
	names_free(&a);
	names_free(&b);
}

static void usage(void)
{
	fprintf(stderr, "usage: treecmp [--no-atime] [--no-owner] [--ignore-root-meta] A B\n");
}

/* Deep trees keep two directory fds open per level. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	int i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--no-atime") == 0) {
			opt.no_atime = true;
		} else if (strcmp(argv[i], "--no-owner") == 0) {
			opt.no_owner = true;
		} else if (strcmp(argv[i], "--ignore-root-meta") == 0) {
			opt.ignore_root_meta = true;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			usage();
			return 2;
		}
	}
	if (argc - i != 2) {
		usage();
		return 2;
	}
	raise_fd_limit();
	const char *a = argv[i], *b = argv[i + 1];
	struct stat st;
	if (stat(a, &st) != 0) {
		fprintf(stderr, "treecmp: %s: %s\n", a, strerror(errno));
		return 2;
	}
	if (stat(b, &st) != 0) {
		fprintf(stderr, "treecmp: %s: %s\n", b, strerror(errno));
		return 2;
	}
	/* The roots are named by the caller's paths; everything below by fd. */
	compare_entry(".", AT_FDCWD, a, AT_FDCWD, b, true);
	link_free(&links_a);
	link_free(&links_b);
	if (fflush(stdout) != 0)
		return 2;
	if (n_errors)
		return 2;
	return n_diffs ? 1 : 0;
}
