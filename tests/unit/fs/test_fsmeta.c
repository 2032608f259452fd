/*
 * fsmeta on real files in a temporary directory: read the metadata of one
 * entry of each kind, apply it to a freshly created twin, read the twin
 * back and compare every field that restore promises to carry (type, mode
 * incl. setuid, owner, nanosecond atime and mtime, symlink target, xattrs
 * incl. raw ACLs). Root-only cases skip when not run as root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/fsmeta.h"

#include "testutil.h"

#define ACL_ACCESS "system.posix_acl_access"
#define ACL_DEFAULT "system.posix_acl_default"

struct fixture {
	char dir[256];
	int fd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	const char *t = getenv("TMPDIR");

	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "%s/fsmeta.XXXXXX", t ? t : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	f->fd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(f->fd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->fd);
	testutil_rm_tree(AT_FDCWD, f->dir);
	free(f);
	return 0;
}

static bool is_root(void)
{
	return geteuid() == 0;
}

static void set_times(int dirfd, const char *name, int64_t a, long an, int64_t m, long mn)
{
	struct timespec ts[2] = { { (time_t)a, an }, { (time_t)m, mn } };

	assert_int_equal(utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void make_file(int dirfd, const char *name, const char *content, mode_t mode)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);

	assert_true(fd >= 0);
	if (content != NULL)
		assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void set_xattr_at(int dirfd, const char *name, const char *xn, const void *v,
			 size_t len)
{
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW);
	char p[64];

	assert_true(fd >= 0);
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	assert_int_equal(setxattr(p, xn, v, len, 0), 0);
	close(fd);
}

static const struct xattr *find_xattr(const struct node *n, const char *name)
{
	for (size_t i = 0; i < n->n_xattrs; i++)
		if (strcmp(n->xattrs[i].name, name) == 0)
			return &n->xattrs[i];
	return NULL;
}

/* Every metadata field restore carries; owners only when asked (root). */
static void assert_meta_equal(const struct node *a, const struct node *b, bool owner)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->mode, b->mode);
	if (owner) {
		assert_int_equal(a->uid, b->uid);
		assert_int_equal(a->gid, b->gid);
		assert_string_equal(a->user, b->user);
		assert_string_equal(a->group, b->group);
	}
	assert_int_equal(a->atime.sec, b->atime.sec);
	assert_int_equal(a->atime.nsec, b->atime.nsec);
	assert_int_equal(a->mtime.sec, b->mtime.sec);
	assert_int_equal(a->mtime.nsec, b->mtime.nsec);
	/* size is content, which fsmeta does not write */
	assert_int_equal(a->rdev, b->rdev);
	assert_int_equal(a->link_len, b->link_len);
	if (a->link_len)
		assert_memory_equal(a->link, b->link, a->link_len);
	assert_int_equal(a->n_xattrs, b->n_xattrs);
	for (size_t i = 0; i < a->n_xattrs; i++) {
		assert_string_equal(a->xattrs[i].name, b->xattrs[i].name);
		assert_int_equal(a->xattrs[i].len, b->xattrs[i].len);
		if (a->xattrs[i].len)
			assert_memory_equal(a->xattrs[i].value, b->xattrs[i].value,
					    a->xattrs[i].len);
	}
}

/* Applies n to twin (already created) and checks the twin reads back equal. */
static void apply_and_compare(int dirfd, const char *twin, const struct node *n, bool owner)
{
	struct node back;

	assert_int_equal(fsmeta_apply(dirfd, twin, n), 0);
	assert_int_equal(fsmeta_read(dirfd, twin, &back, NULL), 0);
	assert_meta_equal(n, &back, owner);
	node_fini(&back);
}

/* Raw system.posix_acl_* value: u32 version 2, then {u16 tag, u16 perm, u32 id}. */
struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};

static size_t acl_build(uint8_t *out, const struct acl_ent *e, size_t n)
{
	size_t off = 4;

	out[0] = 2; out[1] = 0; out[2] = 0; out[3] = 0;
	for (size_t i = 0; i < n; i++, off += 8) {
		out[off] = (uint8_t)e[i].tag;
		out[off + 1] = (uint8_t)(e[i].tag >> 8);
		out[off + 2] = (uint8_t)e[i].perm;
		out[off + 3] = (uint8_t)(e[i].perm >> 8);
		for (int k = 0; k < 4; k++)
			out[off + 4 + k] = (uint8_t)(e[i].id >> (8 * k));
	}
	return off;
}

#define NOID 0xffffffffu

static void test_regular_file_xattrs(void **state)
{
	struct fixture *f = *state;
	struct node n;
	struct stat st;

	make_file(f->fd, "f", "hello world", 0641);
	set_xattr_at(f->fd, "f", "user.zeta", "z", 1);
	set_xattr_at(f->fd, "f", "user.alpha", "\0\1\2binary", 9);
	set_xattr_at(f->fd, "f", "user.empty", "", 0);
	set_times(f->fd, "f", 1234567890, 123456789, 1600000000, 987654321);

	assert_int_equal(fsmeta_read(f->fd, "f", &n, &st), 0);
	assert_int_equal(n.name_len, 1);
	assert_memory_equal(n.name, "f", 1);
	assert_int_equal(n.type, NODE_FILE);
	assert_int_equal(n.mode, 0641);
	assert_int_equal(n.size, 11);
	assert_int_equal(n.uid, st.st_uid);
	assert_int_equal(n.inode, st.st_ino);
	assert_int_equal(n.dev, st.st_dev);
	assert_int_equal(n.nlink, 1);
	assert_int_equal(n.mtime.sec, 1600000000);
	assert_int_equal(n.mtime.nsec, 987654321);
	assert_int_equal(n.atime.sec, 1234567890);
	assert_int_equal(n.atime.nsec, 123456789);
	assert_int_equal(n.n_extents, 0);
	/* Sorted by name, values byte-exact, the empty value kept. */
	assert_int_equal(n.n_xattrs, 3);
	assert_string_equal(n.xattrs[0].name, "user.alpha");
	assert_string_equal(n.xattrs[1].name, "user.empty");
	assert_string_equal(n.xattrs[2].name, "user.zeta");
	assert_int_equal(n.xattrs[0].len, 9);
	assert_memory_equal(n.xattrs[0].value, "\0\1\2binary", 9);
	assert_int_equal(n.xattrs[1].len, 0);

	make_file(f->fd, "twin", NULL, 0600);
	apply_and_compare(f->fd, "twin", &n, is_root());
	node_fini(&n);
}

static void test_symlinks(void **state)
{
	struct fixture *f = *state;
	static const char *targets[] = { "rel/target", "/abs/path/x", "dangling-nowhere" };
	char big[4000];

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	for (size_t i = 0; i < 4; i++) {
		const char *t = i < 3 ? targets[i] : big;
		struct node n;

		assert_int_equal(symlinkat(t, f->fd, "l"), 0);
		set_times(f->fd, "l", 1000000000, 1, 1100000000, 999999999);
		if (is_root())
			set_xattr_at(f->fd, "l", "trusted.t", "tv", 2);
		assert_int_equal(fsmeta_read(f->fd, "l", &n, NULL), 0);
		assert_int_equal(n.type, NODE_SYMLINK);
		assert_int_equal(n.size, 0); /* canonical: length is link_len */
		assert_int_equal(n.link_len, strlen(t));
		assert_memory_equal(n.link, t, n.link_len);
		assert_int_equal(n.mtime.nsec, 999999999);
		if (is_root()) {
			assert_int_equal(n.n_xattrs, 1);
			/* user.* cannot exist on a symlink: apply must skip it. */
			assert_non_null(find_xattr(&n, "trusted.t"));
		}

		assert_int_equal(symlinkat(t, f->fd, "l2"), 0);
		apply_and_compare(f->fd, "l2", &n, is_root());
		node_fini(&n);
		assert_int_equal(unlinkat(f->fd, "l", 0), 0);
		assert_int_equal(unlinkat(f->fd, "l2", 0), 0);
	}
}

static void test_user_xattr_on_symlink_is_skipped(void **state)
{
	struct fixture *f = *state;
	struct node n, back;

	/* A node as an archive might carry it: apply skips, no error. */
	assert_int_equal(symlinkat("t", f->fd, "l"), 0);
	assert_int_equal(fsmeta_read(f->fd, "l", &n, NULL), 0);
	assert_int_equal(n.n_xattrs, 0);
	n.xattrs = calloc(1, sizeof *n.xattrs);
	assert_non_null(n.xattrs);
	n.xattrs[0].name = strdup("user.x");
	n.xattrs[0].value = (uint8_t *)strdup("v");
	n.xattrs[0].len = 1;
	n.n_xattrs = 1;
	assert_int_equal(fsmeta_apply(f->fd, "l", &n), 0);
	assert_int_equal(fsmeta_read(f->fd, "l", &back, NULL), 0);
	assert_int_equal(back.n_xattrs, 0);
	node_fini(&back);
	node_fini(&n);
}

static void test_fifo_and_socket_node(void **state)
{
	struct fixture *f = *state;
	struct node n;

	/* Reading a FIFO must not open it (that would block: no writer). */
	assert_int_equal(mkfifoat(f->fd, "p", 0640), 0);
	assert_int_equal(fchmodat(f->fd, "p", 0604, 0), 0);
	set_times(f->fd, "p", 5, 6, 7, 8);
	assert_int_equal(fsmeta_read(f->fd, "p", &n, NULL), 0);
	assert_int_equal(n.type, NODE_FIFO);
	assert_int_equal(n.mode, 0604);
	assert_int_equal(n.size, 0);
	assert_int_equal(mkfifoat(f->fd, "p2", 0600), 0);
	apply_and_compare(f->fd, "p2", &n, is_root());
	node_fini(&n);

	assert_int_equal(mknodat(f->fd, "s", S_IFSOCK | 0600, 0), 0);
	assert_int_equal(fsmeta_read(f->fd, "s", &n, NULL), 0);
	assert_int_equal(n.type, NODE_SOCK);
	node_fini(&n);
}

static void test_device_node(void **state)
{
	struct fixture *f = *state;
	struct node n;

	if (!is_root())
		skip();
	if (mknodat(f->fd, "c", S_IFCHR | 0620, makedev(1, 3)) != 0)
		skip(); /* a container without CAP_MKNOD */
	assert_int_equal(fchmodat(f->fd, "c", 0620, 0), 0);
	assert_int_equal(fsmeta_read(f->fd, "c", &n, NULL), 0);
	assert_int_equal(n.type, NODE_CHR);
	assert_int_equal(n.rdev, makedev(1, 3));
	assert_int_equal(n.mode, 0620);
	assert_int_equal(n.size, 0);
	assert_int_equal(mknodat(f->fd, "c2", S_IFCHR | 0600, makedev(1, 3)), 0);
	apply_and_compare(f->fd, "c2", &n, true);
	node_fini(&n);
}

static void test_dir_mode_000(void **state)
{
	struct fixture *f = *state;
	struct node n;

	assert_int_equal(mkdirat(f->fd, "d", 0700), 0);
	make_file(f->fd, "d/inner", "x", 0600);
	assert_int_equal(fchmodat(f->fd, "d", 0, 0), 0);
	set_times(f->fd, "d", 111, 222, 333, 444);
	assert_int_equal(fsmeta_read(f->fd, "d", &n, NULL), 0);
	assert_int_equal(n.type, NODE_DIR);
	assert_int_equal(n.mode, 0);
	assert_int_equal(n.size, 0);
	assert_int_equal(n.nlink, 2);
	assert_int_equal(mkdirat(f->fd, "d2", 0700), 0);
	apply_and_compare(f->fd, "d2", &n, is_root());
	node_fini(&n);
	/* Sticky and setgid directories keep their bits. */
	assert_int_equal(mkdirat(f->fd, "t", 0700), 0);
	assert_int_equal(fchmodat(f->fd, "t", 03777, 0), 0);
	assert_int_equal(fsmeta_read(f->fd, "t", &n, NULL), 0);
	assert_int_equal(n.mode, 03777);
	assert_int_equal(mkdirat(f->fd, "t2", 0700), 0);
	apply_and_compare(f->fd, "t2", &n, is_root());
	node_fini(&n);
}

static void test_setuid_and_owner(void **state)
{
	struct fixture *f = *state;
	struct node n;
	struct stat st;

	if (!is_root())
		skip();
	make_file(f->fd, "su", "#!/bin/sh\n", 0755);
	assert_int_equal(fchownat(f->fd, "su", 1234, 1235, 0), 0);
	assert_int_equal(fchmodat(f->fd, "su", 06755, 0), 0);
	set_xattr_at(f->fd, "su", "trusted.k", "v", 1);
	assert_int_equal(fsmeta_read(f->fd, "su", &n, NULL), 0);
	assert_int_equal(n.mode, 06755);
	assert_int_equal(n.uid, 1234);
	assert_int_equal(n.gid, 1235);
	/* The ids are unknown here, so the stored names are empty. */
	assert_string_equal(n.user, fsmeta_user_name(1234));
	assert_string_equal(n.group, fsmeta_group_name(1235));

	/* chown after chmod would clear setuid: apply must order them. */
	make_file(f->fd, "su2", NULL, 0600);
	apply_and_compare(f->fd, "su2", &n, true);
	assert_int_equal(fstatat(f->fd, "su2", &st, 0), 0);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 1235);
	assert_int_equal(st.st_mode & 07777, 06755);

	/* A stored name that resolves here wins over the stored id. */
	free(n.user);
	free(n.group);
	n.user = strdup("root");
	n.group = strdup(fsmeta_group_name(0));
	assert_true(n.group[0] != '\0');
	make_file(f->fd, "su3", NULL, 0600);
	assert_int_equal(fsmeta_apply(f->fd, "su3", &n), 0);
	assert_int_equal(fstatat(f->fd, "su3", &st, 0), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, 0);
	assert_int_equal(st.st_mode & 07777, 06755);
	node_fini(&n);
}

static void test_acl(void **state)
{
	struct fixture *f = *state;
	static const struct acl_ent access[] = {
		{ 0x01, 6, NOID },   /* user::rw- */
		{ 0x02, 4, 1234 },   /* user:1234:r-- */
		{ 0x04, 4, NOID },   /* group::r-- */
		{ 0x08, 2, 4321 },   /* group:4321:-w- */
		{ 0x10, 6, NOID },   /* mask::rw- */
		{ 0x20, 0, NOID },   /* other::--- */
	};
	static const struct acl_ent dflt[] = {
		{ 0x01, 7, NOID }, { 0x02, 7, 1234 }, { 0x04, 5, NOID },
		{ 0x10, 7, NOID }, { 0x20, 1, NOID },
	};
	uint8_t a[64], d[64];
	size_t alen = acl_build(a, access, 6), dlen = acl_build(d, dflt, 5);
	const struct xattr *x;
	struct node n;

	make_file(f->fd, "acl", "data", 0600);
	set_xattr_at(f->fd, "acl", ACL_ACCESS, a, alen);
	set_xattr_at(f->fd, "acl", "user.other", "o", 1);
	set_times(f->fd, "acl", 42, 43, 44, 45);
	assert_int_equal(fsmeta_read(f->fd, "acl", &n, NULL), 0);
	/* The kernel derived the group bits from the mask. */
	assert_int_equal(n.mode, 0660);
	x = find_xattr(&n, ACL_ACCESS);
	assert_non_null(x);
	assert_int_equal(x->len, alen);
	assert_memory_equal(x->value, a, alen);
	/* Sorting: "system..." before "user...". */
	assert_string_equal(n.xattrs[0].name, ACL_ACCESS);
	make_file(f->fd, "acl2", NULL, 0600);
	apply_and_compare(f->fd, "acl2", &n, is_root());
	node_fini(&n);

	/* A directory with access and default ACLs. */
	assert_int_equal(mkdirat(f->fd, "ad", 0750), 0);
	set_xattr_at(f->fd, "ad", ACL_DEFAULT, d, dlen);
	assert_int_equal(fsmeta_read(f->fd, "ad", &n, NULL), 0);
	assert_non_null(find_xattr(&n, ACL_DEFAULT));
	assert_null(find_xattr(&n, ACL_ACCESS));
	assert_int_equal(mkdirat(f->fd, "ad2", 0700), 0);
	apply_and_compare(f->fd, "ad2", &n, is_root());
	node_fini(&n);

	/*
	 * A file created under a default ACL inherits an access ACL; applying
	 * a node without ACLs must remove it, and the default ACL of a
	 * directory created there too.
	 */
	make_file(f->fd, "plain", NULL, 0640);
	assert_int_equal(mkdirat(f->fd, "plaind", 0750), 0);
	assert_int_equal(fsmeta_read(f->fd, "plain", &n, NULL), 0);
	assert_int_equal(n.n_xattrs, 0);
	make_file(f->fd, "ad/inherit", NULL, 0600);
	{
		char p[512];

		snprintf(p, sizeof p, "%s/ad/inherit", f->dir);
		assert_true(getxattr(p, ACL_ACCESS, NULL, 0) > 0);
		assert_int_equal(fsmeta_apply(f->fd, "ad/inherit", &n), 0);
		assert_true(getxattr(p, ACL_ACCESS, NULL, 0) < 0);
		assert_int_equal(errno, ENODATA);
		node_fini(&n);

		assert_int_equal(fsmeta_read(f->fd, "plaind", &n, NULL), 0);
		assert_int_equal(mkdirat(f->fd, "ad/sub", 0700), 0);
		snprintf(p, sizeof p, "%s/ad/sub", f->dir);
		assert_true(getxattr(p, ACL_DEFAULT, NULL, 0) > 0);
		apply_and_compare(f->fd, "ad/sub", &n, is_root());
		assert_true(getxattr(p, ACL_DEFAULT, NULL, 0) < 0);
		assert_true(getxattr(p, ACL_ACCESS, NULL, 0) < 0);
		node_fini(&n);
	}
}

/* Creates name as restore does and returns its writable descriptor. */
static int create_excl(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "content", 7), 7);
	return fd;
}

/*
 * fsmeta_apply_fd, restore's path for regular files: through the open
 * descriptor, before close, the file reads back with every field equal,
 * and the mode and times survive the close.
 */
static void test_apply_fd(void **state)
{
	struct fixture *f = *state;
	struct node n, back;
	int fd;

	make_file(f->fd, "src", "content", 0641);
	set_xattr_at(f->fd, "src", "user.k", "value", 5);
	set_times(f->fd, "src", 1111111111, 222, 1500000000, 999999999);
	if (is_root()) {
		assert_int_equal(fchownat(f->fd, "src", 1234, 1235, 0), 0);
		assert_int_equal(fchmodat(f->fd, "src", 04641, 0), 0);
	}
	assert_int_equal(fsmeta_read(f->fd, "src", &n, NULL), 0);

	fd = create_excl(f->fd, "dst");
	assert_int_equal(fsmeta_apply_fd(fd, &n, false), 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(fsmeta_read(f->fd, "dst", &back, NULL), 0);
	assert_meta_equal(&n, &back, is_root());
	node_fini(&back);

	/* Only regular files: a directory's node is refused, nothing changed. */
	n.type = NODE_DIR;
	fd = create_excl(f->fd, "dst2");
	assert_int_equal(fsmeta_apply_fd(fd, &n, true), -EINVAL);
	close(fd);
	node_fini(&n);
}

/*
 * The ACL a file inherits from its directory's default ACL is removed when
 * the caller says one may be inherited; fsmeta_has_default_acl tells which
 * directories can pass that on. An ACL the node has is set either way.
 */
static void test_apply_fd_acl(void **state)
{
	struct fixture *f = *state;
	static const struct acl_ent dflt[] = {
		{ 0x01, 7, NOID }, { 0x02, 7, 1234 }, { 0x04, 5, NOID },
		{ 0x10, 7, NOID }, { 0x20, 1, NOID },
	};
	static const struct acl_ent access[] = {
		{ 0x01, 6, NOID }, { 0x02, 4, 4321 }, { 0x04, 0, NOID },
		{ 0x10, 4, NOID }, { 0x20, 0, NOID },
	};
	uint8_t d[64], a[64];
	size_t dlen = acl_build(d, dflt, 5), alen = acl_build(a, access, 5);
	struct node plain, withacl, back;
	int dfd, fd;

	assert_false(fsmeta_has_default_acl(f->fd));
	assert_int_equal(mkdirat(f->fd, "ad", 0700), 0);
	set_xattr_at(f->fd, "ad", ACL_DEFAULT, d, dlen);
	dfd = openat(f->fd, "ad", O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_true(fsmeta_has_default_acl(dfd));

	make_file(f->fd, "plain", "x", 0640);
	assert_int_equal(fsmeta_read(f->fd, "plain", &plain, NULL), 0);
	assert_null(find_xattr(&plain, ACL_ACCESS));
	fd = create_excl(dfd, "inherit");
	assert_true(fgetxattr(fd, ACL_ACCESS, NULL, 0) > 0);
	assert_int_equal(fsmeta_apply_fd(fd, &plain, true), 0);
	assert_true(fgetxattr(fd, ACL_ACCESS, NULL, 0) < 0);
	assert_int_equal(errno, ENODATA);
	close(fd);
	assert_int_equal(fsmeta_read(dfd, "inherit", &back, NULL), 0);
	assert_meta_equal(&plain, &back, is_root());
	node_fini(&back);

	/* Outside a default ACL, false is exact: nothing to remove. */
	fd = create_excl(f->fd, "noinherit");
	assert_int_equal(fsmeta_apply_fd(fd, &plain, false), 0);
	close(fd);
	assert_int_equal(fsmeta_read(f->fd, "noinherit", &back, NULL), 0);
	assert_meta_equal(&plain, &back, is_root());
	node_fini(&back);

	make_file(f->fd, "acl", "x", 0600);
	set_xattr_at(f->fd, "acl", ACL_ACCESS, a, alen);
	assert_int_equal(fsmeta_read(f->fd, "acl", &withacl, NULL), 0);
	assert_non_null(find_xattr(&withacl, ACL_ACCESS));
	fd = create_excl(dfd, "own");
	assert_int_equal(fsmeta_apply_fd(fd, &withacl, false), 0);
	close(fd);
	assert_int_equal(fsmeta_read(dfd, "own", &back, NULL), 0);
	assert_meta_equal(&withacl, &back, is_root());
	node_fini(&back);
	node_fini(&withacl);
	node_fini(&plain);
	close(dfd);
}

static void test_odd_names(void **state)
{
	struct fixture *f = *state;
	static const char name[] = "new\nline\xff\xfe end";
	struct node n;
	int fd;

	make_file(f->fd, name, "x", 0644);
	assert_int_equal(fsmeta_read(f->fd, name, &n, NULL), 0);
	assert_int_equal(n.name_len, sizeof name - 1);
	assert_memory_equal(n.name, name, sizeof name - 1);
	node_fini(&n);

	/* fsmeta_read_fd with a real fd and with an O_PATH fd. */
	fd = openat(f->fd, name, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fsmeta_read_fd(fd, (const uint8_t *)"top", 3, &n, NULL), 0);
	assert_int_equal(n.name_len, 3);
	assert_int_equal(n.type, NODE_FILE);
	assert_int_equal(n.size, 1);
	node_fini(&n);
	close(fd);
	set_xattr_at(f->fd, name, "user.k", "v", 1);
	assert_int_equal(symlinkat(name, f->fd, "ln"), 0);
	fd = openat(f->fd, "ln", O_PATH | O_NOFOLLOW);
	assert_true(fd >= 0);
	assert_int_equal(fsmeta_read_fd(fd, (const uint8_t *)"ln", 2, &n, NULL), 0);
	assert_int_equal(n.type, NODE_SYMLINK);
	assert_int_equal(n.link_len, sizeof name - 1);
	node_fini(&n);
	close(fd);
	fd = openat(f->fd, name, O_RDONLY);
	assert_int_equal(fsmeta_read_fd(fd, (const uint8_t *)name, sizeof name - 1, &n, NULL), 0);
	assert_int_equal(n.n_xattrs, 1);
	node_fini(&n);
	close(fd);
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	struct node n, keep;

	memset(&keep, 0x5a, sizeof keep);
	n = keep;
	assert_int_equal(fsmeta_read(f->fd, "absent", &n, NULL), -ENOENT);
	/* Out-param untouched on failure. */
	assert_memory_equal(&n, &keep, sizeof n);
	assert_int_equal(fsmeta_read_fd(f->fd, (const uint8_t *)"", 0, &n, NULL), -EINVAL);

	/* Applying a file's metadata to a directory of the same name fails. */
	make_file(f->fd, "f", "x", 0644);
	assert_int_equal(fsmeta_read(f->fd, "f", &n, NULL), 0);
	assert_int_equal(mkdirat(f->fd, "d", 0700), 0);
	assert_int_equal(fsmeta_apply(f->fd, "d", &n), -EEXIST);
	assert_int_equal(fsmeta_apply(f->fd, "absent", &n), -ENOENT);
	node_fini(&n);
}

static void test_owner_names(void **state)
{
	(void)state;
	assert_string_equal(fsmeta_user_name(0), "root");
	assert_string_equal(fsmeta_user_name(0), "root"); /* cached */
	assert_string_equal(fsmeta_user_name(3999999999u), "");
	assert_true(fsmeta_group_name(0)[0] != '\0');
	assert_string_equal(fsmeta_group_name(3999999999u), "");
	/* More ids than cache slots: still right, spill buffer. */
	for (unsigned i = 0; i < 200; i++)
		assert_string_equal(fsmeta_user_name(3000000000u + i), "");
	assert_string_equal(fsmeta_user_name(0), "root");
}

/*
 * A chain of 40 directories with 200-byte names (8 KB of path, twice
 * PATH_MAX): read and apply metadata at the bottom, by descriptor only.
 */
static void test_deep_path(void **state)
{
	struct fixture *f = *state;
	enum { LEVELS = 40 };
	int fds[LEVELS + 1];
	char name[201];
	struct node n;

	fds[0] = f->fd;
	for (int i = 0; i < LEVELS; i++) {
		memset(name, 'a' + i % 26, 200);
		name[200] = '\0';
		assert_int_equal(mkdirat(fds[i], name, 0700), 0);
		fds[i + 1] = openat(fds[i], name, O_RDONLY | O_DIRECTORY);
		assert_true(fds[i + 1] >= 0);
	}
	make_file(fds[LEVELS], "bottom", "deep", 0604);
	set_xattr_at(fds[LEVELS], "bottom", "user.deep", "yes", 3);
	set_times(fds[LEVELS], "bottom", 77, 1, 88, 2);
	assert_int_equal(fsmeta_read(fds[LEVELS], "bottom", &n, NULL), 0);
	assert_int_equal(n.mode, 0604);
	assert_int_equal(n.n_xattrs, 1);
	make_file(fds[LEVELS], "twin", NULL, 0600);
	apply_and_compare(fds[LEVELS], "twin", &n, is_root());
	node_fini(&n);
	/* The last directory itself, applied from its parent. */
	assert_int_equal(fchmod(fds[LEVELS], 0750), 0);
	assert_int_equal(fsmeta_read(fds[LEVELS - 1], name, &n, NULL), 0);
	assert_int_equal(n.mode, 0750);
	assert_int_equal(fchmod(fds[LEVELS], 0700), 0);
	apply_and_compare(fds[LEVELS - 1], name, &n, is_root());
	node_fini(&n);
	for (int i = LEVELS; i > 0; i--)
		close(fds[i]);
}

/* ---- fsmeta_read_since ------------------------------------------------- */

/* Sets a user.* xattr; false if this filesystem has none (ENOTSUP). */
static bool try_user_xattr(int dirfd, const char *name, const char *xn, const char *v)
{
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW);
	char p[64];
	int r;

	assert_true(fd >= 0);
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	r = setxattr(p, xn, v, strlen(v), 0);
	close(fd);
	if (r != 0 && errno == ENOTSUP)
		return false;
	assert_int_equal(r, 0);
	return true;
}

/*
 * Everything fsmeta reads, the name and ctime included; atime only if
 * asked (reading a symlink's target may set it).
 */
static void assert_node_same_as(const struct node *a, const struct node *b, bool atime)
{
	struct node bb = *b;

	if (!atime)
		bb.atime = a->atime;
	assert_meta_equal(a, &bb, true);
	assert_int_equal(a->name_len, b->name_len);
	assert_memory_equal(a->name, b->name, a->name_len);
	assert_int_equal(a->ctime.sec, b->ctime.sec);
	assert_int_equal(a->ctime.nsec, b->ctime.nsec);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->inode, b->inode);
	assert_int_equal(a->dev, b->dev);
	assert_int_equal(a->nlink, b->nlink);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->n_extents, 0);
	assert_int_equal(b->n_extents, 0);
}

static void assert_node_same(const struct node *a, const struct node *b)
{
	assert_node_same_as(a, b, true);
}

/*
 * Sets xn to v on name, again until its ctime differs from old's: with
 * coarse timestamps two changes in one clock tick share a ctime.
 */
static void change_xattr(int dirfd, const char *name, const char *xn, const char *v,
			 const struct node *old)
{
	struct stat st;

	for (int i = 0; i < 200; i++) {
		set_xattr_at(dirfd, name, xn, v, strlen(v));
		assert_int_equal(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
		if (st.st_ctim.tv_sec != old->ctime.sec ||
		    (uint32_t)st.st_ctim.tv_nsec != old->ctime.nsec)
			return;
		usleep(5000);
	}
	fail_msg("ctime of %s never changed", name);
}

static void test_read_since_file(void **state)
{
	struct fixture *f = *state;
	struct node old, n, again;
	struct stat st0, st1;
	const struct xattr *x;

	make_file(f->fd, "f", "some content", 0640);
	if (!try_user_xattr(f->fd, "f", "user.k", "v1")) {
		print_message("no user xattrs on %s: not testing fsmeta_read_since\n", f->dir);
		skip();
	}
	set_xattr_at(f->fd, "f", "user.a", "first", 5);
	set_times(f->fd, "f", 1500000000, 1, 1600000000, 2);
	assert_int_equal(fsmeta_read(f->fd, "f", &old, &st0), 0);
	assert_int_equal(old.n_xattrs, 2);

	/* Untouched: the same node, and the same stat. */
	assert_int_equal(fsmeta_read_since(f->fd, "f", &old, &n, &st1), 0);
	assert_node_same(&old, &n);
	assert_int_equal(n.mode, 0640);
	assert_int_equal(n.mtime.sec, 1600000000);
	assert_int_equal(n.mtime.nsec, 2);
	assert_int_equal(st1.st_ino, st0.st_ino);
	assert_int_equal(st1.st_size, 12);
	assert_int_equal(st1.st_ctim.tv_sec, st0.st_ctim.tv_sec);
	assert_int_equal(st1.st_ctim.tv_nsec, st0.st_ctim.tv_nsec);
	/* Its own copies: old may go first (ASan checks the rest). */
	assert_ptr_not_equal(n.xattrs, old.xattrs);
	assert_ptr_not_equal(n.xattrs[0].name, old.xattrs[0].name);
	assert_ptr_not_equal(n.xattrs[0].value, old.xattrs[0].value);
	assert_ptr_not_equal(n.user, old.user);
	/* st may be NULL. */
	assert_int_equal(fsmeta_read_since(f->fd, "f", &n, &again, NULL), 0);
	assert_node_same(&n, &again);
	node_fini(&again);

	/* The xattr changed (which sets ctime): read again, not taken from old. */
	change_xattr(f->fd, "f", "user.k", "v2-longer", &old);
	assert_int_equal(fsmeta_read_since(f->fd, "f", &old, &again, &st1), 0);
	x = find_xattr(&again, "user.k");
	assert_non_null(x);
	assert_int_equal(x->len, 9);
	assert_memory_equal(x->value, "v2-longer", 9);
	assert_int_equal(again.n_xattrs, 2);
	assert_int_equal(again.ctime.sec, st1.st_ctim.tv_sec);
	assert_int_equal(again.ctime.nsec, st1.st_ctim.tv_nsec);
	assert_true(again.ctime.sec != old.ctime.sec || again.ctime.nsec != old.ctime.nsec);
	node_fini(&again);

	/* With the node of that read as old, the new value stays. */
	assert_int_equal(fsmeta_read(f->fd, "f", &again, NULL), 0);
	node_fini(&n);
	assert_int_equal(fsmeta_read_since(f->fd, "f", &again, &n, NULL), 0);
	x = find_xattr(&n, "user.k");
	assert_non_null(x);
	assert_memory_equal(x->value, "v2-longer", 9);
	assert_node_same(&again, &n);
	node_fini(&again);
	node_fini(&n);
	node_fini(&old);
}

static void test_read_since_symlink(void **state)
{
	struct fixture *f = *state;
	struct node plain, since, fresh;
	struct stat st;

	assert_int_equal(symlinkat("some/where/else", f->fd, "l"), 0);
	set_times(f->fd, "l", 1000000000, 5, 1100000000, 6);
	assert_int_equal(fsmeta_read(f->fd, "l", &plain, NULL), 0);
	assert_int_equal(plain.type, NODE_SYMLINK);
	assert_int_equal(plain.mtime.sec, 1100000000);
	assert_int_equal(plain.mtime.nsec, 6);

	/* old == NULL: exactly fsmeta_read (whose readlink may have set the
	 * atime meanwhile, so that is not compared). */
	assert_int_equal(fsmeta_read_since(f->fd, "l", NULL, &fresh, &st), 0);
	assert_node_same_as(&plain, &fresh, false);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(fresh.link_len, 15);
	assert_memory_equal(fresh.link, "some/where/else", 15);

	/* Untouched: the same target, its own copy. */
	assert_int_equal(fsmeta_read_since(f->fd, "l", &plain, &since, &st), 0);
	assert_node_same_as(&plain, &since, false);
	assert_int_equal(since.size, 0);
	assert_ptr_not_equal(since.link, plain.link);
	assert_int_equal(since.link_len, 15);
	assert_memory_equal(since.link, "some/where/else", 15);
	/* Its times are the stat's own, not old's. */
	assert_int_equal(since.atime.sec, st.st_atim.tv_sec);
	assert_int_equal(since.atime.nsec, st.st_atim.tv_nsec);
	node_fini(&since);
	node_fini(&fresh);

	/* Replaced by another symlink (the inode number is often reused at
	 * once): the new target, not old's. */
	assert_int_equal(unlinkat(f->fd, "l", 0), 0);
	assert_int_equal(symlinkat("some/where/ELSE", f->fd, "l"), 0);
	assert_int_equal(fsmeta_read_since(f->fd, "l", &plain, &since, &st), 0);
	assert_int_equal(since.inode, st.st_ino);
	assert_int_equal(since.link_len, 15);
	assert_memory_equal(since.link, "some/where/ELSE", 15);
	node_fini(&since);

	/* An entry that is gone: -ENOENT, with or without old. */
	assert_int_equal(fsmeta_read_since(f->fd, "absent", &plain, &since, NULL), -ENOENT);
	assert_int_equal(fsmeta_read_since(f->fd, "absent", NULL, &since, NULL), -ENOENT);
	node_fini(&plain);
}

/*
 * *fake becomes a shallow copy of n whose only xattr is user.fake = "no"
 * (free fake->xattrs only: the name and value are literals).
 */
static void fake_xattrs_of(struct node *fake, const struct node *n)
{
	*fake = *n;
	fake->xattrs = calloc(1, sizeof *fake->xattrs);
	assert_non_null(fake->xattrs);
	fake->xattrs[0].name = "user.fake";
	fake->xattrs[0].value = (uint8_t *)"no";
	fake->xattrs[0].len = 2;
	fake->n_xattrs = 1;
}

/* An old node that is not this entry's (another type, another inode)
 * must not lend its target or xattrs. */
static void test_read_since_other_old(void **state)
{
	struct fixture *f = *state;
	struct node file, dir, fake, n;
	struct stat st;

	make_file(f->fd, "f", "data", 0600);
	if (!try_user_xattr(f->fd, "f", "user.real", "yes")) {
		print_message("no user xattrs on %s: not testing fsmeta_read_since\n", f->dir);
		skip();
	}
	assert_int_equal(mkdirat(f->fd, "d", 0750), 0);
	assert_int_equal(fsmeta_read(f->fd, "f", &file, NULL), 0);
	assert_int_equal(fsmeta_read(f->fd, "d", &dir, NULL), 0);

	/* old is a directory's node: the file is read as a file. */
	assert_int_equal(fsmeta_read_since(f->fd, "f", &dir, &n, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_node_same(&file, &n);
	assert_int_equal(n.type, NODE_FILE);
	assert_int_equal(n.size, 4);
	assert_int_equal(n.mode, 0600);
	assert_non_null(find_xattr(&n, "user.real"));
	node_fini(&n);
	/* And the other way round. */
	assert_int_equal(fsmeta_read_since(f->fd, "d", &file, &n, NULL), 0);
	assert_node_same(&dir, &n);
	assert_int_equal(n.type, NODE_DIR);
	assert_null(find_xattr(&n, "user.real"));
	node_fini(&n);

	/* The file's own stat fields, each with one thing wrong, and xattrs
	 * that are not the file's: every mismatch means a real read. */
	for (int k = 0; k < 5; k++) {
		fake_xattrs_of(&fake, &file);
		switch (k) {
		case 0: fake.type = NODE_DIR; break;
		case 1: fake.inode++; break;
		case 2: fake.ctime.nsec ^= 1; break;
		case 3: fake.mtime.sec--; break;
		case 4: fake.size++; break;
		}
		assert_int_equal(fsmeta_read_since(f->fd, "f", &fake, &n, NULL), 0);
		assert_null(find_xattr(&n, "user.fake"));
		assert_non_null(find_xattr(&n, "user.real"));
		assert_node_same(&file, &n);
		node_fini(&n);
		free(fake.xattrs);
	}
	/* The unaltered stat fields with the same fake xattrs: taken from
	 * old, as documented (one stat, no xattr read). */
	fake_xattrs_of(&fake, &file);
	assert_int_equal(fsmeta_read_since(f->fd, "f", &fake, &n, NULL), 0);
	assert_int_equal(n.n_xattrs, 1);
	assert_non_null(find_xattr(&n, "user.fake"));
	node_fini(&n);
	free(fake.xattrs);

	node_fini(&dir);
	node_fini(&file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_regular_file_xattrs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_xattr_on_symlink_is_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_and_socket_node, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_node, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_mode_000, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setuid_and_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_fd_acl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test(test_owner_names),
		cmocka_unit_test_setup_teardown(test_deep_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_since_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_since_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_since_other_old, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
