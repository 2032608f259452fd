/*
 * restore_to_dir against a real repository in a temporary directory.
 *
 * The snapshot is built by a small walker in this file (fsmeta_read for the
 * metadata, one data blob per 16 KiB of each data region found with
 * SEEK_DATA/SEEK_HOLE): this test links only coffer_restore, and a walker
 * of its own keeps restore's test independent of the backup engine. The
 * restored tree is then compared with the snapshot entry by entry (type,
 * mode, owner as root, nanosecond times, symlink targets, xattrs and ACLs,
 * content and hole map against the source, hard links sharing an inode),
 * for a full restore, an --include restore, and restores from a repository
 * with a damaged data pack and a damaged tree pack. The pipeline (threads)
 * is exercised by restoring the same snapshot with 1, 2 and 8 threads, a
 * file of more than one job with repeated blobs among them, and a damaged
 * hard-link group and repeated blob, which must fail the same files
 * whatever the number of threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/fsmeta.h"
#include "restore/restore.h"
#include "util/hex.h"

#include "testutil.h"

#define PIECE (16u << 10)
/* More than one job's 64 extents; its pieces cycle through three contents. */
#define MULTI_PIECES 150
#define DEEP_LEVELS 25
#define ODD_NAME "odd\nname\xff"

struct fixture {
	char base[256];
	char repo[300];
	int basefd;
	struct repo *r;
	struct snapshot snap;
	/* What the walker saw. */
	uint64_t files, dirs, others, bytes;
	bool have_dev;
};

/* ---- helpers ---------------------------------------------------------- */

static void put_file(int dfd, const char *name, const void *data, size_t len, mode_t mode)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);

	assert_true(fd >= 0);
	if (len)
		assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void times_at(int dfd, const char *name, time_t a, long an, time_t m, long mn)
{
	struct timespec ts[2] = { { a, an }, { m, mn } };

	assert_int_equal(utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static int sub(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);

	assert_true(fd >= 0);
	return fd;
}

static void xattr_at(int dfd, const char *name, const char *xn, const void *v, size_t len)
{
	int fd = openat(dfd, name, O_PATH | O_NOFOLLOW);
	char p[64];

	assert_true(fd >= 0);
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	assert_int_equal(setxattr(p, xn, v, len, 0), 0);
	close(fd);
}

static size_t count_entries(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY);
	DIR *d = fdopendir(fd);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static char *slurp(int dfd, const char *name, size_t *len)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW);
	struct stat st;
	char *p;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

/* Data regions of a file as "start-end," text, from SEEK_DATA/SEEK_HOLE. */
static void data_map(int dfd, const char *name, char *out, size_t cap)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW);
	off_t off = 0, d, h;
	size_t used = 0;

	assert_true(fd >= 0);
	out[0] = '\0';
	while ((d = lseek(fd, off, SEEK_DATA)) >= 0) {
		h = lseek(fd, d, SEEK_HOLE);
		assert_true(h > d);
		used += (size_t)snprintf(out + used, cap - used, "%lld-%lld,",
					 (long long)d, (long long)h);
		assert_true(used < cap);
		off = h;
	}
	close(fd);
}

/* ---- the test walker -------------------------------------------------- */

static void save_content(struct fixture *f, int dfd, const char *name, struct node *n)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW);
	uint8_t *buf = malloc(PIECE);
	size_t cap = 0;
	off_t off = 0, d, h;

	assert_true(fd >= 0);
	assert_non_null(buf);
	while (off < (off_t)n->size && (d = lseek(fd, off, SEEK_DATA)) >= 0) {
		h = lseek(fd, d, SEEK_HOLE);
		for (off_t p = d; p < h; p += PIECE) {
			size_t len = (size_t)(h - p < (off_t)PIECE ? h - p : (off_t)PIECE);
			bool added;

			assert_int_equal(pread(fd, buf, len, p), (ssize_t)len);
			if (n->n_extents == cap) {
				cap = cap ? cap * 2 : 4;
				n->extents = realloc(n->extents, cap * sizeof *n->extents);
				assert_non_null(n->extents);
			}
			n->extents[n->n_extents].offset = (uint64_t)p;
			n->extents[n->n_extents].len = (uint32_t)len;
			assert_int_equal(repo_blob_save(f->r, BLOB_DATA, buf, len,
							n->extents[n->n_extents].id, &added), 0);
			n->n_extents++;
			f->bytes += len;
		}
		off = h;
	}
	free(buf);
	close(fd);
}

static void walk(struct fixture *f, int dfd, uint8_t id[BLOB_ID_LEN])
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY);
	DIR *d = fdopendir(fd);
	struct dirent *e;
	struct tree t;

	assert_non_null(d);
	tree_init(&t);
	while ((e = readdir(d)) != NULL) {
		struct node n;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		assert_int_equal(fsmeta_read(dfd, e->d_name, &n, NULL), 0);
		if (n.type == NODE_FILE) {
			save_content(f, dfd, e->d_name, &n);
			f->files++;
		} else if (n.type == NODE_DIR) {
			int s = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);

			assert_true(s >= 0);
			walk(f, s, n.subtree);
			close(s);
			f->dirs++;
		} else {
			f->others++;
		}
		assert_int_equal(tree_add(&t, &n), 0);
	}
	closedir(d);
	tree_sort(&t);
	assert_int_equal(repo_tree_save(f->r, &t, id), 0);
	tree_fini(&t);
}

/* ---- the source tree -------------------------------------------------- */

static void build_source(struct fixture *f, int srcfd)
{
	static const uint8_t acl[] = {
		2, 0, 0, 0,
		0x01, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,
		0x02, 0, 4, 0, 0xd2, 0x04, 0, 0,       /* user 1234 r */
		0x04, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
		0x10, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,
		0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
	};
	uint8_t *big = malloc(100000);
	uint32_t x = 12345;
	int srv, a, b, s, deep;
	char name[201];
	int fds[DEEP_LEVELS + 1];

	assert_non_null(big);
	for (size_t i = 0; i < 100000; i++) {
		x = x * 1103515245u + 12345u;
		big[i] = (uint8_t)(x >> 16);
	}
	put_file(srcfd, "top", "top-level file\n", 15, 0644);
	assert_int_equal(mkdirat(srcfd, "srv", 0751), 0);
	srv = sub(srcfd, "srv");
	assert_int_equal(mkdirat(srv, "a", 0750), 0);
	assert_int_equal(mkdirat(srv, "b", 0755), 0);
	a = sub(srv, "a");
	b = sub(srv, "b");

	put_file(a, "file1", "hello\n", 6, 0640);
	xattr_at(a, "file1", "user.x", "1", 1);
	xattr_at(a, "file1", "user.y", "two", 3);
	times_at(a, "file1", 1111111111, 111, 1222222222, 222);
	{
		int fd = openat(a, "sparse", O_WRONLY | O_CREAT | O_EXCL, 0644);
		char s8[8192];

		assert_true(fd >= 0);
		memset(s8, 'S', sizeof s8);
		assert_int_equal(pwrite(fd, s8, sizeof s8, 1 << 20), (ssize_t)sizeof s8);
		assert_int_equal(pwrite(fd, big, 4096, 2 << 20), 4096);
		assert_int_equal(ftruncate(fd, 3 << 20), 0);
		close(fd);
	}
	put_file(a, "hl1", "linked\n", 7, 0600);
	assert_int_equal(linkat(a, "hl1", a, "hl3", 0), 0);
	assert_int_equal(linkat(a, "hl1", b, "hl2", 0), 0);
	assert_int_equal(symlinkat("../b/nowhere", a, "link"), 0);
	assert_int_equal(symlinkat("/etc/passwd", a, "abs"), 0);
	times_at(a, "link", 1000000000, 5, 1000000001, 6);
	assert_int_equal(mkfifoat(a, "fifo", 0600), 0);
	assert_int_equal(fchmodat(a, "fifo", 0620, 0), 0);
	assert_int_equal(mknodat(a, "sock", S_IFSOCK | 0600, 0), 0);
	put_file(a, "acl", "acl\n", 4, 0600);
	xattr_at(a, "acl", "system.posix_acl_access", acl, sizeof acl);

	assert_int_equal(mkdirat(a, "ro", 0700), 0);
	s = sub(a, "ro");
	put_file(s, "inner", "ro\n", 3, 0444);
	close(s);
	assert_int_equal(fchmodat(a, "ro", 0555, 0), 0);
	if (geteuid() == 0) {
		/* Only root can back up (and verify) a mode 000 directory. */
		assert_int_equal(mkdirat(a, "zero", 0700), 0);
		s = sub(a, "zero");
		put_file(s, "inner2", "z\n", 2, 0600);
		close(s);
		assert_int_equal(fchmodat(a, "zero", 0, 0), 0);
	}
	assert_int_equal(mkdirat(a, "sub", 0700), 0);
	s = sub(a, "sub");
	put_file(s, "deep", "x\n", 2, 0600);
	close(s);
	assert_int_equal(mkdirat(a, "sticky", 0700), 0);
	assert_int_equal(fchmodat(a, "sticky", 01777, 0), 0);

	put_file(b, ODD_NAME, "odd\n", 4, 0644);
	put_file(b, "empty", NULL, 0, 0644);
	put_file(b, "big", big, 100000, 0644);
	{
		int fd = openat(b, "multi", O_WRONLY | O_CREAT | O_EXCL, 0644);

		assert_true(fd >= 0);
		for (int i = 0; i < MULTI_PIECES; i++)
			assert_int_equal(pwrite(fd, big + (i % 3) * 1000, PIECE,
						(off_t)i * PIECE), (ssize_t)PIECE);
		/* A short tail: a different blob, not a multiple of PIECE. */
		assert_int_equal(pwrite(fd, big, 777, (off_t)MULTI_PIECES * PIECE), 777);
		close(fd);
		times_at(b, "multi", 1300000005, 5, 1300000006, 6);
	}
	if (geteuid() == 0) {
		put_file(b, "setuid", "#!/bin/sh\n", 10, 0755);
		assert_int_equal(fchownat(b, "setuid", 1234, 1235, 0), 0);
		assert_int_equal(fchmodat(b, "setuid", 04755, 0), 0);
		f->have_dev = mknodat(b, "null", S_IFCHR | 0666, makedev(1, 3)) == 0;
		if (f->have_dev)
			assert_int_equal(fchmodat(b, "null", 0640, 0), 0);
	}

	/* Deeper than PATH_MAX: 25 levels of 200-byte names. */
	assert_int_equal(mkdirat(srv, "deep", 0755), 0);
	deep = sub(srv, "deep");
	fds[0] = deep;
	for (int i = 0; i < DEEP_LEVELS; i++) {
		memset(name, 'a' + i % 26, 200);
		name[200] = '\0';
		assert_int_equal(mkdirat(fds[i], name, 0755), 0);
		fds[i + 1] = sub(fds[i], name);
	}
	put_file(fds[DEEP_LEVELS], "bottom", "bottom\n", 7, 0600);
	for (int i = DEEP_LEVELS; i > 0; i--)
		close(fds[i]);
	close(deep);

	/* Directory times last, as creating entries changes them. */
	times_at(a, "sub", 1300000000, 1, 1300000000, 2);
	times_at(srv, "a", 1400000000, 123456789, 1400000001, 987654321);
	times_at(srv, "b", 1400000002, 3, 1400000003, 4);
	times_at(srcfd, "srv", 1500000000, 0, 1500000001, 999999999);
	close(a);
	close(b);
	close(srv);
	free(big);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	const char *t = getenv("TMPDIR");
	struct repo_init_opts o;
	int src;

	assert_non_null(f);
	snprintf(f->base, sizeof f->base, "%s/restore.XXXXXX", t ? t : "/tmp");
	assert_non_null(mkdtemp(f->base));
	f->basefd = open(f->base, O_RDONLY | O_DIRECTORY);
	assert_true(f->basefd >= 0);
	snprintf(f->repo, sizeof f->repo, "%s/repo", f->base);
	repo_init_opts_default(&o);
	o.scrypt_n = 1024;
	o.chunk_min = 1024;
	o.chunk_avg = 4096;
	o.chunk_max = 16384;
	assert_int_equal(repo_init(f->repo, "pw", 2, &o), 0);
	assert_int_equal(repo_open(f->repo, "pw", 2, &f->r), 0);
	assert_int_equal(repo_load_index(f->r), 0);
	/* One blob per pack, so damage to one pack hits one blob. */
	repo_set_pack_size(f->r, 1);

	assert_int_equal(mkdirat(f->basefd, "src", 0755), 0);
	src = sub(f->basefd, "src");
	build_source(f, src);
	snapshot_init(&f->snap);
	walk(f, src, f->snap.tree);
	close(src);
	assert_int_equal(repo_flush(f->r), 0);
	f->snap.stats.bytes = f->bytes;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	repo_close(f->r);
	snapshot_fini(&f->snap);
	close(f->basefd);
	testutil_rm_tree(AT_FDCWD, f->base);
	free(f);
	return 0;
}

/* ---- verification ----------------------------------------------------- */

struct verify {
	struct fixture *f;
	const char *missing;   /* stored path expected absent (damage), or NULL */
	const char *bad_tree;  /* stored path whose listing is damaged, or NULL */
	size_t checked;
};

static void assert_node_meta(const struct node *want, const struct node *got)
{
	assert_int_equal(got->type, want->type);
	assert_int_equal(got->mode, want->mode);
	if (geteuid() == 0) {
		assert_int_equal(got->uid, want->uid);
		assert_int_equal(got->gid, want->gid);
	}
	assert_int_equal(got->mtime.sec, want->mtime.sec);
	assert_int_equal(got->mtime.nsec, want->mtime.nsec);
	/*
	 * Hard links share one inode and so one atime, but the walker read
	 * the first link's content before it saw the others: their nodes
	 * legitimately disagree and only the first one's atime is restored.
	 */
	if (want->nlink == 1 || want->type == NODE_DIR) {
		assert_int_equal(got->atime.sec, want->atime.sec);
		assert_int_equal(got->atime.nsec, want->atime.nsec);
	}
	assert_int_equal(got->size, want->size);
	assert_int_equal(got->rdev, want->rdev);
	assert_int_equal(got->link_len, want->link_len);
	if (want->link_len)
		assert_memory_equal(got->link, want->link, want->link_len);
	assert_int_equal(got->n_xattrs, want->n_xattrs);
	for (size_t i = 0; i < want->n_xattrs; i++) {
		assert_string_equal(got->xattrs[i].name, want->xattrs[i].name);
		assert_int_equal(got->xattrs[i].len, want->xattrs[i].len);
		if (want->xattrs[i].len)
			assert_memory_equal(got->xattrs[i].value, want->xattrs[i].value,
					    want->xattrs[i].len);
	}
}

/*
 * Compares the restored directory outfd with the snapshot tree id, and
 * file contents and hole maps with the source directory srcfd. path is the
 * stored path of the directory ("" for the root).
 */
static void verify_dir(struct verify *v, const uint8_t id[BLOB_ID_LEN], int outfd, int srcfd,
		       const char *path)
{
	size_t absent = 0;
	struct tree t;

	tree_init(&t);
	assert_int_equal(repo_tree_load(v->f->r, id, &t), 0);
	for (size_t i = 0; i < t.n; i++) {
		const struct node *n = &t.nodes[i];
		char name[TREE_MAX_NAME + 1], p[8192];
		struct node got;

		memcpy(name, n->name, n->name_len);
		name[n->name_len] = '\0';
		snprintf(p, sizeof p, "%s/%s", path, name);
		if (v->missing && strcmp(p, v->missing) == 0) {
			assert_int_equal(fsmeta_read(outfd, name, &got, NULL), -ENOENT);
			absent++;
			continue;
		}
		assert_int_equal(fsmeta_read(outfd, name, &got, NULL), 0);
		assert_node_meta(n, &got);
		node_fini(&got);
		v->checked++;
		if (n->type == NODE_FILE) {
			size_t la, lb;
			char *a = slurp(outfd, name, &la), *b = slurp(srcfd, name, &lb);
			char ma[512], mb[512];

			assert_int_equal(la, lb);
			assert_memory_equal(a, b, la);
			free(a);
			free(b);
			data_map(outfd, name, ma, sizeof ma);
			data_map(srcfd, name, mb, sizeof mb);
			assert_string_equal(ma, mb);
		} else if (n->type == NODE_DIR) {
			int o, s;

			if (v->bad_tree && strcmp(p, v->bad_tree) == 0)
				continue;
			o = sub(outfd, name);
			s = sub(srcfd, name);
			verify_dir(v, n->subtree, o, s, p);
			close(o);
			close(s);
		}
	}
	/* Nothing restored that the snapshot does not hold. */
	assert_int_equal(count_entries(outfd), t.n - absent);
	tree_fini(&t);
}

static void verify_all(struct fixture *f, const char *out, const char *missing,
		       const char *bad_tree)
{
	struct verify v = { f, missing, bad_tree, 0 };
	int o = sub(f->basefd, out), s = sub(f->basefd, "src");

	verify_dir(&v, f->snap.tree, o, s, "");
	assert_true(v.checked > 30);
	close(o);
	close(s);
}

static void same_inode(int basefd, const char *p1, const char *p2)
{
	struct stat a, b;

	assert_int_equal(fstatat(basefd, p1, &a, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(fstatat(basefd, p2, &b, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(a.st_ino, b.st_ino);
}

/* Runs restore with stderr captured into *log (caller frees). */
static int restore_logged(struct fixture *f, const char *out, const struct restore_opts *o,
			  struct restore_result *res, char **log)
{
	char tgt[512], lp[512];
	int saved, lfd, e;
	size_t len;

	snprintf(tgt, sizeof tgt, "%s/%s", f->base, out);
	snprintf(lp, sizeof lp, "%s.log", out);
	lfd = openat(f->basefd, lp, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(lfd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(lfd, 2);
	e = restore_to_dir(f->r, &f->snap, tgt, o, res);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(lfd);
	*log = slurp(f->basefd, lp, &len);
	(*log)[len] = '\0';
	fputs(*log, stderr); /* keep it visible in test output */
	return e;
}

/*
 * Finds the node at a stored path ("/srv/b/big"); copies its type and the
 * ID of its extent number extent, or of its subtree if extent < 0.
 */
static void find_node(struct fixture *f, const char *path, uint8_t type_out[1],
		      uint8_t id_out[BLOB_ID_LEN], int extent)
{
	uint8_t cur[BLOB_ID_LEN];
	char *copy = strdup(path), *save, *tok;
	struct tree t;

	memcpy(cur, f->snap.tree, BLOB_ID_LEN);
	tok = strtok_r(copy, "/", &save);
	while (tok != NULL) {
		const struct node *n;
		char *next = strtok_r(NULL, "/", &save);

		tree_init(&t);
		assert_int_equal(repo_tree_load(f->r, cur, &t), 0);
		n = tree_find(&t, (const uint8_t *)tok, strlen(tok));
		assert_non_null(n);
		if (next == NULL) {
			*type_out = n->type;
			if (extent >= 0) {
				assert_true(n->n_extents > (size_t)extent);
				memcpy(id_out, n->extents[extent].id, BLOB_ID_LEN);
			} else {
				memcpy(id_out, n->subtree, BLOB_ID_LEN);
			}
		} else {
			memcpy(cur, n->subtree, BLOB_ID_LEN);
		}
		tree_fini(&t);
		tok = next;
	}
	free(copy);
}

/* ---- tests ------------------------------------------------------------ */

struct pcount {
	unsigned calls;
	uint64_t last_bytes, total;
};

static void on_progress(const struct restore_progress *p, void *arg)
{
	struct pcount *c = arg;

	c->calls++;
	assert_true(p->bytes_done >= c->last_bytes);
	c->last_bytes = p->bytes_done;
	c->total = p->bytes_total;
}

static void test_full(void **state)
{
	struct fixture *f = *state;
	struct restore_result res;
	struct pcount pc = { 0, 0, 0 };
	struct restore_opts o = { .progress = on_progress, .progress_arg = &pc };
	char *log;

	assert_int_equal(restore_logged(f, "out", &o, &res, &log), 0);
	assert_string_equal(log, "");
	free(log);
	assert_int_equal(res.errors, 0);
	assert_int_equal(res.files, f->files);
	assert_int_equal(res.dirs, f->dirs);
	assert_int_equal(res.others, f->others);
	/* Hard-linked content is written once. */
	assert_int_equal(res.bytes, f->bytes - 7 * 2);
	assert_true(pc.calls >= 2); /* at least the first and the last */
	assert_true(pc.calls < 100);
	assert_int_equal(pc.total, f->bytes);
	assert_int_equal(pc.last_bytes, res.bytes);

	verify_all(f, "out", NULL, NULL);
	same_inode(f->basefd, "out/srv/a/hl1", "out/srv/b/hl2");
	same_inode(f->basefd, "out/srv/a/hl1", "out/srv/a/hl3");
	{
		struct stat st;

		assert_int_equal(fstatat(f->basefd, "out/srv/a/hl1", &st, 0), 0);
		assert_int_equal(st.st_nlink, 3);
		/* A 3 MiB file with 12 KiB of data stays sparse. */
		assert_int_equal(fstatat(f->basefd, "out/srv/a/sparse", &st, 0), 0);
		assert_int_equal(st.st_size, 3 << 20);
		assert_true(st.st_blocks * 512 < 64 * 1024);
	}

	/* Restoring again over the result merges and replaces: same tree. */
	assert_int_equal(restore_logged(f, "out", NULL, &res, &log), 0);
	free(log);
	assert_int_equal(res.errors, 0);
	verify_all(f, "out", NULL, NULL);
	same_inode(f->basefd, "out/srv/a/hl1", "out/srv/b/hl2");
}

/*
 * A TARGET with a default ACL: everything restored into it inherits an
 * access ACL (and directories the default too) that the originals never
 * had, which would grant access they did not. Every such ACL must be gone
 * afterwards, in subdirectories that inherited the default as well, while
 * the entries that had ACLs keep exactly theirs.
 */
static void test_target_default_acl(void **state)
{
	/* user::rwx user:1234:rwx group::r-x mask::rwx other::r-x */
	static const uint8_t dflt[] = {
		2, 0, 0, 0,
		0x01, 0, 7, 0, 0xff, 0xff, 0xff, 0xff,
		0x02, 0, 7, 0, 0xd2, 0x04, 0, 0,
		0x04, 0, 5, 0, 0xff, 0xff, 0xff, 0xff,
		0x10, 0, 7, 0, 0xff, 0xff, 0xff, 0xff,
		0x20, 0, 5, 0, 0xff, 0xff, 0xff, 0xff,
	};
	struct fixture *f = *state;
	struct restore_result res;
	char *log;

	assert_int_equal(mkdirat(f->basefd, "out", 0700), 0);
	xattr_at(f->basefd, "out", "system.posix_acl_default", dflt, sizeof dflt);
	for (size_t threads = 1; threads <= 3; threads += 2) {
		struct restore_opts o = { .threads = threads };

		assert_int_equal(restore_logged(f, "out", &o, &res, &log), 0);
		assert_string_equal(log, "");
		free(log);
		assert_int_equal(res.errors, 0);
		verify_all(f, "out", NULL, NULL);
		testutil_rm_tree(f->basefd, "out/srv");
		testutil_rm_tree(f->basefd, "out/top");
	}
}

static void test_replaces_planted_entries(void **state)
{
	struct fixture *f = *state;
	struct restore_result res;
	char *log;
	int out, fd;

	/*
	 * A target prepared by someone else: a symlink where a directory goes,
	 * a hard link to an outside file where a file goes. Neither may be
	 * written through.
	 */
	assert_int_equal(mkdirat(f->basefd, "out", 0700), 0);
	out = sub(f->basefd, "out");
	put_file(f->basefd, "victim", "keep\n", 5, 0644);
	assert_int_equal(symlinkat("..", out, "srv"), 0);
	assert_int_equal(linkat(f->basefd, "victim", out, "top", 0), 0);
	close(out);
	assert_int_equal(restore_logged(f, "out", NULL, &res, &log), 0);
	free(log);
	assert_int_equal(res.errors, 0);
	verify_all(f, "out", NULL, NULL);
	fd = openat(f->basefd, "victim", O_RDONLY);
	{
		char b[16] = { 0 };

		assert_int_equal(read(fd, b, sizeof b), 5);
		assert_string_equal(b, "keep\n");
	}
	close(fd);
	/* The parent of the symlink got no "a" or "b". */
	assert_int_equal(faccessat(f->basefd, "a", F_OK, AT_SYMLINK_NOFOLLOW), -1);
}

static void test_include(void **state)
{
	struct fixture *f = *state;
	char *const inc[] = { "/srv/a/sub/", "//top", "/srv/nothing" };
	struct restore_opts o = { .includes = inc, .n_includes = 3 };
	struct restore_result res;
	struct node got;
	uint8_t type, id[BLOB_ID_LEN];
	char *log;
	int outa, srca, outs, srcs;

	assert_int_equal(restore_logged(f, "inc", &o, &res, &log), 0);
	assert_non_null(strstr(log, "/srv/nothing: not found in the snapshot"));
	free(log);
	assert_int_equal(res.errors, 1);
	assert_int_equal(res.files, 2); /* top and sub/deep */
	assert_int_equal(res.dirs, 3);  /* srv, srv/a, srv/a/sub */

	/* Leading directories carry their own metadata (checked before
	 * anything reads them: readdir changes atime). */
	{
		struct tree t;
		const struct node *srv, *a;
		int fd;

		tree_init(&t);
		assert_int_equal(repo_tree_load(f->r, f->snap.tree, &t), 0);
		srv = tree_find(&t, (const uint8_t *)"srv", 3);
		assert_non_null(srv);
		fd = sub(f->basefd, "inc");
		assert_int_equal(fsmeta_read(fd, "srv", &got, NULL), 0);
		assert_int_equal(got.mode, srv->mode);
		assert_int_equal(got.mtime.sec, srv->mtime.sec);
		assert_int_equal(got.mtime.nsec, srv->mtime.nsec);
		node_fini(&got);
		close(fd);
		{
			struct tree t2;

			tree_init(&t2);
			assert_int_equal(repo_tree_load(f->r, srv->subtree, &t2), 0);
			a = tree_find(&t2, (const uint8_t *)"a", 1);
			assert_non_null(a);
			fd = sub(f->basefd, "inc/srv");
			assert_int_equal(fsmeta_read(fd, "a", &got, NULL), 0);
			assert_int_equal(got.mode, a->mode);
			assert_int_equal(got.mtime.nsec, a->mtime.nsec);
			assert_int_equal(got.atime.nsec, a->atime.nsec);
			node_fini(&got);
			close(fd);
			tree_fini(&t2);
		}
		tree_fini(&t);
	}

	outs = sub(f->basefd, "inc");
	assert_int_equal(count_entries(outs), 2);
	close(outs);
	outs = sub(f->basefd, "inc/srv");
	assert_int_equal(count_entries(outs), 1);
	close(outs);
	outa = sub(f->basefd, "inc/srv/a");
	assert_int_equal(count_entries(outa), 1);

	/* The subtree in full, compared with the snapshot. */
	find_node(f, "/srv/a/sub", &type, id, -1);
	assert_int_equal(type, NODE_DIR);
	{
		struct verify v = { f, NULL, NULL, 0 };
		int o2 = sub(outa, "sub");

		srca = sub(f->basefd, "src/srv/a");
		srcs = sub(srca, "sub");
		verify_dir(&v, id, o2, srcs, "/srv/a/sub");
		assert_int_equal(v.checked, 1);
		close(o2);
		close(srcs);
		close(srca);
	}
	close(outa);

	/* A file as include, and the root as include (everything). */
	{
		char *const one[] = { "/srv/b/" ODD_NAME };
		char *const root[] = { "/" };

		o.includes = one;
		o.n_includes = 1;
		assert_int_equal(restore_logged(f, "inc2", &o, &res, &log), 0);
		free(log);
		assert_int_equal(res.errors, 0);
		assert_int_equal(res.files, 1);
		assert_int_equal(faccessat(f->basefd, "inc2/srv/b/" ODD_NAME, F_OK, 0), 0);
		o.includes = root;
		assert_int_equal(restore_logged(f, "inc3", &o, &res, &log), 0);
		free(log);
		assert_int_equal(res.errors, 0);
		verify_all(f, "inc3", NULL, NULL);
	}
}

static void test_damaged_data_pack(void **state)
{
	struct fixture *f = *state;
	struct restore_result res;
	uint8_t type, id[BLOB_ID_LEN];
	char *log;

	find_node(f, "/srv/b/big", &type, id, 2);
	assert_int_equal(type, NODE_FILE);
	testutil_damage_blob(f->r, f->repo, id);

	assert_int_equal(restore_logged(f, "dmg", NULL, &res, &log), 0);
	assert_non_null(strstr(log, "error: cannot restore /srv/b/big: a data blob is corrupt"));
	/* Exactly one item named. */
	assert_null(strstr(strstr(log, "/srv/b/big") + 1, "cannot restore"));
	free(log);
	assert_int_equal(res.errors, 1);
	assert_int_equal(res.files, f->files - 1);
	/* Everything else is there and intact; no partial big. */
	verify_all(f, "dmg", "/srv/b/big", NULL);
}

static void test_damaged_tree_pack(void **state)
{
	struct fixture *f = *state;
	struct restore_result res;
	uint8_t type, id[BLOB_ID_LEN];
	struct stat st;
	char *log;

	find_node(f, "/srv/b", &type, id, -1);
	assert_int_equal(type, NODE_DIR);
	testutil_damage_blob(f->r, f->repo, id);

	assert_int_equal(restore_logged(f, "dmg", NULL, &res, &log), 0);
	assert_non_null(strstr(log, "cannot restore the contents of /srv/b: its tree blob is corrupt"));
	free(log);
	assert_int_equal(res.errors, 1);
	/* The directory itself exists, with its mode; the rest is complete. */
	assert_int_equal(fstatat(f->basefd, "dmg/srv/b", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_mtim.tv_sec, 1400000003);
	{
		/* b's listing was unreadable, so b is restored empty. */
		int bo = sub(f->basefd, "dmg/srv/b");

		assert_int_equal(count_entries(bo), 0);
		close(bo);
	}
	/* Other subtrees intact: /srv/a compared in full. */
	{
		struct verify v = { f, NULL, NULL, 0 };
		int o = sub(f->basefd, "dmg/srv/a"), s = sub(f->basefd, "src/srv/a");

		find_node(f, "/srv/a", &type, id, -1);
		verify_dir(&v, id, o, s, "/srv/a");
		assert_true(v.checked > 10);
		close(o);
		close(s);
	}
}

struct tcount {
	pthread_t caller;
	unsigned calls, foreign;
	uint64_t last_bytes;
};

static void on_progress_thread(const struct restore_progress *p, void *arg)
{
	struct tcount *c = arg;

	c->calls++;
	if (!pthread_equal(pthread_self(), c->caller))
		c->foreign++;
	assert_true(p->bytes_done >= c->last_bytes);
	c->last_bytes = p->bytes_done;
}

/*
 * The same snapshot restored with 1, 2 and 8 threads: identical trees,
 * identical counts, progress reported on the caller's thread only and
 * reaching every byte. /srv/b/multi spans three jobs whose blobs repeat.
 */
static void test_threads(void **state)
{
	static const size_t threads[] = { 1, 2, 8 };
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++) {
		struct tcount tc = { pthread_self(), 0, 0, 0 };
		struct restore_opts o = { .progress = on_progress_thread, .progress_arg = &tc,
					  .threads = threads[i] };
		struct restore_result res;
		char out[32], p1[64], p2[64];
		char *log;

		snprintf(out, sizeof out, "t%zu", threads[i]);
		assert_int_equal(restore_logged(f, out, &o, &res, &log), 0);
		assert_string_equal(log, "");
		free(log);
		assert_int_equal(res.errors, 0);
		assert_int_equal(res.files, f->files);
		assert_int_equal(res.dirs, f->dirs);
		assert_int_equal(res.others, f->others);
		assert_int_equal(res.bytes, f->bytes - 7 * 2);
		assert_true(tc.calls >= 2);
		assert_int_equal(tc.foreign, 0);
		assert_int_equal(tc.last_bytes, res.bytes);
		verify_all(f, out, NULL, NULL);
		snprintf(p1, sizeof p1, "%s/srv/a/hl1", out);
		snprintf(p2, sizeof p2, "%s/srv/b/hl2", out);
		same_inode(f->basefd, p1, p2);
	}
}

/*
 * A damaged blob of a hard-link group's file and a damaged blob that
 * /srv/b/multi uses fifty times: with 1 and with 4 threads exactly these
 * four names fail (each link member is tried as a copy after the first
 * failed, and fails alike; the cache never serves what failed to load),
 * and all else is intact.
 */
static void test_damaged_threads(void **state)
{
	static const char *const failed[] = { "/srv/a/hl1", "/srv/a/hl3", "/srv/b/hl2",
					      "/srv/b/multi" };
	static const size_t threads[] = { 1, 4 };
	struct fixture *f = *state;
	uint8_t type, id[BLOB_ID_LEN];

	find_node(f, "/srv/a/hl1", &type, id, 0);
	testutil_damage_blob(f->r, f->repo, id);
	find_node(f, "/srv/b/multi", &type, id, 1);
	testutil_damage_blob(f->r, f->repo, id);

	for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++) {
		struct restore_opts o = { .threads = threads[i] };
		struct restore_result res;
		char out[32], p[128];
		const char *at;
		unsigned named = 0;
		char *log;

		snprintf(out, sizeof out, "dt%zu", threads[i]);
		assert_int_equal(restore_logged(f, out, &o, &res, &log), 0);
		for (size_t k = 0; k < 4; k++) {
			snprintf(p, sizeof p, "cannot restore %s: a data blob is corrupt", failed[k]);
			assert_non_null(strstr(log, p));
			snprintf(p, sizeof p, "%s%s", out, failed[k]);
			assert_int_equal(faccessat(f->basefd, p, F_OK, AT_SYMLINK_NOFOLLOW), -1);
		}
		for (at = log; (at = strstr(at, "cannot restore")) != NULL; at++)
			named++;
		assert_int_equal(named, 4);
		free(log);
		assert_int_equal(res.errors, 4);
		assert_int_equal(res.files, f->files - 4);
		/* Their neighbours are complete. */
		{
			size_t la, lb;
			char *a, *b;
			int o1, s1;

			snprintf(p, sizeof p, "%s/srv/b", out);
			o1 = sub(f->basefd, p);
			s1 = sub(f->basefd, "src/srv/b");
			a = slurp(o1, "big", &la);
			b = slurp(s1, "big", &lb);
			assert_int_equal(la, lb);
			assert_memory_equal(a, b, la);
			free(a);
			free(b);
			close(o1);
			close(s1);
		}
	}
}

/*
 * More hard-link groups than descriptors may be kept: with RLIMIT_NOFILE
 * at 64 restore keeps 16, and the rest must link by path.
 */
static void test_hardlinks_beyond_fd_cap(void **state)
{
	struct fixture *f = *state;
	struct restore_result res;
	struct rlimit old, low;
	struct snapshot snap;
	int src, d1, d2;
	char n[32], p1[64], p2[64];

	assert_int_equal(mkdirat(f->basefd, "hsrc", 0755), 0);
	src = sub(f->basefd, "hsrc");
	assert_int_equal(mkdirat(src, "d1", 0755), 0);
	assert_int_equal(mkdirat(src, "d2", 0755), 0);
	d1 = sub(src, "d1");
	d2 = sub(src, "d2");
	for (int i = 0; i < 40; i++) {
		snprintf(n, sizeof n, "f%02d", i);
		put_file(d1, n, n, strlen(n), 0644);
		assert_int_equal(linkat(d1, n, d2, n, 0), 0);
	}
	close(d1);
	close(d2);
	snapshot_init(&snap);
	walk(f, src, snap.tree);
	close(src);
	assert_int_equal(repo_flush(f->r), 0);

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	{
		char tgt[512];

		snprintf(tgt, sizeof tgt, "%s/hout", f->base);
		assert_int_equal(restore_to_dir(f->r, &snap, tgt, NULL, &res), 0);
	}
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(res.errors, 0);
	assert_int_equal(res.files, 80);
	for (int i = 0; i < 40; i++) {
		snprintf(p1, sizeof p1, "hout/d1/f%02d", i);
		snprintf(p2, sizeof p2, "hout/d2/f%02d", i);
		same_inode(f->basefd, p1, p2);
	}
	snapshot_fini(&snap);
}

/*
 * A hand-built root: a file the backup flagged incomplete (restored, but
 * reported and counted), a character device (root: created; otherwise
 * reported and counted) and a name that is not valid UTF-8 and holds a
 * newline, which messages must escape.
 */
static void test_flags_devices_and_messages(void **state)
{
	struct fixture *f = *state;
	struct restore_result res;
	struct snapshot snap;
	struct node n;
	struct tree t;
	struct stat st;
	char *log;
	int src;

	assert_int_equal(mkdirat(f->basefd, "fsrc", 0755), 0);
	src = sub(f->basefd, "fsrc");
	put_file(src, "partial", "what could be read\n", 19, 0644);
	tree_init(&t);
	assert_int_equal(fsmeta_read(src, "partial", &n, NULL), 0);
	save_content(f, src, "partial", &n);
	n.flags = NODE_F_INCOMPLETE;
	assert_int_equal(tree_add(&t, &n), 0);
	memset(&n, 0, sizeof n);
	n.name = (uint8_t *)strdup("dev\n\x1b[31m");
	n.name_len = strlen((char *)n.name);
	n.type = NODE_CHR;
	n.mode = 0640;
	n.uid = geteuid();
	n.gid = getegid();
	n.user = strdup("");
	n.group = strdup("");
	n.mtime.sec = 1234;
	n.nlink = 1;
	n.rdev = makedev(1, 3);
	assert_int_equal(tree_add(&t, &n), 0);
	tree_sort(&t);
	snapshot_init(&snap);
	assert_int_equal(repo_tree_save(f->r, &t, snap.tree), 0);
	assert_int_equal(repo_flush(f->r), 0);
	tree_fini(&t);
	close(src);

	{
		struct snapshot keep = f->snap;

		f->snap = snap;
		assert_int_equal(restore_logged(f, "fout", NULL, &res, &log), 0);
		f->snap = keep;
	}
	assert_non_null(strstr(log, "cannot restore /partial completely"));
	assert_int_equal(fstatat(f->basefd, "fout/partial", &st, 0), 0);
	assert_int_equal(st.st_size, 19);
	if (fstatat(f->basefd, "fout/dev\n\x1b[31m", &st, AT_SYMLINK_NOFOLLOW) == 0) {
		/* Root with CAP_MKNOD. */
		assert_true(S_ISCHR(st.st_mode));
		assert_int_equal(st.st_rdev, makedev(1, 3));
		assert_int_equal(st.st_mode & 07777, 0640);
		assert_int_equal(st.st_mtim.tv_sec, 1234);
		assert_int_equal(res.errors, 1);
		assert_int_equal(res.others, 1);
	} else {
		assert_non_null(strstr(log, "cannot restore /dev\\x0a\\x1b[31m: Operation not permitted"));
		assert_int_equal(res.errors, 2);
	}
	/* No raw control characters from names reach the log. */
	assert_null(strchr(log, '\x1b'));
	free(log);
	assert_int_equal(res.files, 1);
	snapshot_fini(&snap);
}

static void test_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct restore_result res;
	struct snapshot snap;
	char tgt[512];
	int fd;

	assert_int_equal(restore_to_dir(f->r, &f->snap, "", NULL, &res), -EINVAL);
	assert_int_equal(restore_to_dir(NULL, &f->snap, "/tmp", NULL, &res), -EINVAL);
	/* TARGET under a regular file cannot be created. */
	fd = openat(f->basefd, "file", O_WRONLY | O_CREAT, 0600);
	close(fd);
	snprintf(tgt, sizeof tgt, "%s/file/x", f->base);
	assert_int_equal(restore_to_dir(f->r, &f->snap, tgt, NULL, &res), -ENOTDIR);
	/* A root tree that is not in the repository: nothing can run. */
	snapshot_init(&snap);
	memset(snap.tree, 0xab, sizeof snap.tree);
	snprintf(tgt, sizeof tgt, "%s/none", f->base);
	assert_int_equal(restore_to_dir(f->r, &snap, tgt, NULL, &res), -ENOENT);
	snapshot_fini(&snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_target_default_acl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaces_planted_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_include, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_data_pack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_tree_pack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardlinks_beyond_fd_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flags_devices_and_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
