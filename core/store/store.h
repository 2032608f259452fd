/*
 * Write-once object storage for a repository. A store holds named objects
 * of a few kinds; it knows nothing of their contents or of cryptography.
 * Every backend (local filesystem, in-memory; S3 later) passes the same
 * conformance suite (tests/unit/store/test_store.c).
 *
 * Names are lower-case hex strings of at most 64 characters (the config
 * object is named "config"). All functions return 0 or a negative errno;
 * -ENOENT when an object does not exist.
 */
#ifndef COFFER_STORE_STORE_H
#define COFFER_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum store_kind {
	STORE_CONFIG,   /* the repository config, named "config" */
	STORE_KEY,      /* key files */
	STORE_PACK,     /* pack files (data/xx/NAME on disk) */
	STORE_INDEX,    /* index files */
	STORE_SNAPSHOT, /* snapshot files */
	STORE_LOCK,     /* lock files: the only kind that is ever removed while live */
};

struct store;

struct store_ops {
	const char *name;
	int (*put)(struct store *s, enum store_kind k, const char *name,
		   const void *data, size_t len);
	/* Optional: put of a padded buffer (store_put_padded); NULL: put. */
	int (*put_padded)(struct store *s, enum store_kind k, const char *name,
			  void *data, size_t len);
	int (*get)(struct store *s, enum store_kind k, const char *name,
		   struct buf *out);
	int (*get_range)(struct store *s, enum store_kind k, const char *name,
			 uint64_t off, size_t len, void *out);
	int (*size)(struct store *s, enum store_kind k, const char *name,
		    uint64_t *size);
	int (*list)(struct store *s, enum store_kind k,
		    int (*cb)(const char *name, uint64_t size, void *arg), void *arg);
	int (*remove)(struct store *s, enum store_kind k, const char *name);
	/* Optional: removes leftovers of interrupted writes (NULL: none kept). */
	int (*clean)(struct store *s, uint64_t *removed);
	void (*close)(struct store *s);
};

struct store {
	const struct store_ops *ops;
	/* Set by store_set_destroyer: removal destroys (local store). */
	int (*destroy)(void *arg, int dirfd, const char *name);
	void *destroy_arg;
};

/*
 * Opens the local-filesystem store rooted at dir. With create, makes the
 * directory layout (dir must be absent or empty). Objects are written to
 * DIR/tmp under a unique name, fsync'd, renamed into place and the
 * directory fsync'd, so a crash leaves either the whole object or nothing.
 */
int store_local_open(const char *dir, int create, struct store **out);
/* A store in memory, for tests. */
int store_mem_new(struct store **out);

/*
 * Stores an object atomically. Write-once: -EEXIST if the name exists
 * (except that rewriting identical content is harmless for content-named
 * kinds, and backends may return 0 in that case).
 */
int store_put(struct store *s, enum store_kind k, const char *name,
	      const void *data, size_t len);
/*
 * Buffers that store_put_padded takes: aligned to this, and writable up
 * to the next multiple of it past len.
 */
#define STORE_PAD_ALIGN 4096u
/* len rounded up to STORE_PAD_ALIGN: the length store_put_padded writes. */
static inline size_t store_padded_len(size_t len)
{
	return (len + STORE_PAD_ALIGN - 1) & ~(size_t)(STORE_PAD_ALIGN - 1);
}
/*
 * As store_put, for a large object in such a buffer (the bytes past len
 * are overwritten with zeros). The local store then writes it with
 * O_DIRECT where the filesystem allows: no copy into the page cache,
 * which for packs was a tenth of a large backup's CPU time.
 */
int store_put_padded(struct store *s, enum store_kind k, const char *name,
		     void *data, size_t len);
/* Reads a whole object, appending to out. */
int store_get(struct store *s, enum store_kind k, const char *name,
	      struct buf *out);
/* Reads exactly len bytes at off; -EIO if the object is shorter. */
int store_get_range(struct store *s, enum store_kind k, const char *name,
		    uint64_t off, size_t len, void *out);
int store_size(struct store *s, enum store_kind k, const char *name,
	       uint64_t *size);
/*
 * Calls cb for every object of kind k (in no particular order). A non-zero
 * return from cb stops the listing and is returned.
 */
int store_list(struct store *s, enum store_kind k,
	       int (*cb)(const char *name, uint64_t size, void *arg), void *arg);
/* Removes an object durably. */
int store_remove(struct store *s, enum store_kind k, const char *name);
/*
 * From now on the local store does not unlink what it removes but hands
 * each file to fn (dirfd: its directory, name: its name there), which
 * must destroy it: overwrite, verify, unlink and sync dirfd (erase/wipe.h
 * wipe_file_at). For destroying chosen snapshots: what prune removes then
 * leaves nothing behind. fn NULL: back to plain removal. Other stores
 * ignore it.
 */
void store_set_destroyer(struct store *s, int (*fn)(void *arg, int dirfd, const char *name),
			 void *arg);
/*
 * Removes what interrupted writes left behind (temporary files of a
 * process killed mid-write); *removed counts them. Only safe while no
 * other writer uses the store: call it holding the repository's exclusive
 * lock.
 */
int store_clean(struct store *s, uint64_t *removed);
void store_close(struct store *s); /* accepts NULL */

#endif
