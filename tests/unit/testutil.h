/*
 * Helpers shared by the unit tests (each test is one translation unit, so
 * these are static inline). Include after <cmocka.h>.
 */
#ifndef COFFER_TESTS_TESTUTIL_H
#define COFFER_TESTS_TESTUTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Removes name in dfd and everything below it, by descriptor only, so
 * trees deeper than PATH_MAX and mode-000 directories go too.
 */
static inline void testutil_rm_tree(int dfd, const char *name)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		(void)unlinkat(dfd, name, 0);
		return;
	}
	/* A mode-000 directory must be opened up first (root or its owner). */
	(void)!fchmodat(dfd, name, 0700, 0);
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			testutil_rm_tree(dirfd(d), e->d_name);
	if (d != NULL)
		closedir(d);
	else if (fd >= 0)
		close(fd);
	(void)unlinkat(dfd, name, AT_REMOVEDIR);
}

/* The descriptors this process has open (the listing's own not counted). */
static inline int testutil_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* Flips bits of the byte at off in the file at path (made writable). */
static inline void testutil_flip_byte(const char *path, off_t off, uint8_t mask)
{
	uint8_t b;
	assert_int_equal(chmod(path, 0600), 0);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= mask;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/*
 * Captures what the calls between testutil_stderr_begin and
 * testutil_stderr_end write to stderr; end returns it (static storage,
 * valid until the next capture, truncated at 4 KiB).
 */
static int testutil_saved_stderr = -1;
static char testutil_cap_path[128];

static inline void testutil_stderr_begin(void)
{
	snprintf(testutil_cap_path, sizeof testutil_cap_path, "/tmp/coffer-test-err.%d",
		 (int)getpid());
	fflush(stderr);
	testutil_saved_stderr = dup(2);
	int fd = open(testutil_cap_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, 2);
	close(fd);
}

static inline const char *testutil_stderr_end(void)
{
	static char text[4096];
	fflush(stderr);
	dup2(testutil_saved_stderr, 2);
	close(testutil_saved_stderr);
	int fd = open(testutil_cap_path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
	if (fd >= 0)
		close(fd);
	unlink(testutil_cap_path);
	text[n > 0 ? n : 0] = 0;
	return text;
}

#ifdef COFFER_IO_IO_H
#include <stdbool.h>

/*
 * Appends each path under dir and the whole content of each file to out,
 * in readdir order: two calls on an unchanged tree give the same bytes.
 */
static inline void testutil_snapshot_tree(const char *dir, struct buf *out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		struct stat st;
		assert_int_equal(lstat(path, &st), 0);
		assert_int_equal(buf_put(out, path, strlen(path) + 1), 0);
		if (S_ISDIR(st.st_mode)) {
			testutil_snapshot_tree(path, out);
			continue;
		}
		struct buf b = { 0 };
		assert_int_equal(io_read_file_at(AT_FDCWD, path, &b, 1u << 20), 0);
		assert_int_equal(buf_put(out, b.data, b.len), 0);
		buf_fini(&b);
	}
	closedir(d);
}

/* True if needle (n bytes) occurs in any file under dir. */
static inline bool testutil_tree_contains(const char *dir, const uint8_t *needle, size_t n)
{
	struct buf all = { 0 };
	testutil_snapshot_tree(dir, &all);
	bool found = false;
	for (size_t i = 0; !found && i + n <= all.len; i++)
		found = memcmp(all.data + i, needle, n) == 0;
	buf_fini(&all);
	return found;
}

static inline void testutil_assert_tree_unchanged(const char *dir, const struct buf *before)
{
	struct buf now = { 0 };
	testutil_snapshot_tree(dir, &now);
	assert_int_equal(now.len, before->len);
	assert_memory_equal(now.data, before->data, now.len);
	buf_fini(&now);
}
#endif

#ifdef COFFER_REPO_REPO_H
#include "util/hex.h"

/*
 * Path of the pack holding blob id in the local repository at repo_dir,
 * and the blob's place in it. The index must be loaded.
 */
static inline void testutil_blob_place(struct repo *r, const char *repo_dir,
				       const uint8_t id[32], char *path, size_t size,
				       char hex[65], struct blob_loc *loc)
{
	assert_true(index_lookup(repo_index(r), id, loc));
	hex_encode(index_pack_id(repo_index(r), loc->pack_no), 32, hex);
	snprintf(path, size, "%s/data/%.2s/%s", repo_dir, hex, hex);
}

/* Damages the stored blob id: one byte in the middle of it, in its pack. */
static inline void testutil_damage_blob(struct repo *r, const char *repo_dir,
					const uint8_t id[32])
{
	struct blob_loc loc;
	char path[512], hex[65];
	testutil_blob_place(r, repo_dir, id, path, sizeof path, hex, &loc);
	testutil_flip_byte(path, (off_t)loc.e.offset + loc.e.stored_len / 2, 0x40);
}
#endif

#endif
