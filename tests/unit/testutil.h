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
