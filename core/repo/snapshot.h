/*
 * Snapshots: the root of one backup. A snapshot file names the root tree,
 * the paths backed up, when, by whom, its parent and statistics. Layout:
 * docs/format/snapshot.md.
 */
#ifndef COFFER_REPO_SNAPSHOT_H
#define COFFER_REPO_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/tree.h"
#include "util/buf.h"

#define SNAPSHOT_FORMAT_VERSION 1
#define SNAPSHOT_MAX_PATHS 65536
#define SNAPSHOT_MAX_TAGS 1024
#define SNAPSHOT_MAX_STR 65536

struct snapshot_stats {
	uint64_t files, dirs, others;  /* nodes by kind */
	uint64_t bytes;                /* logical bytes of file content */
	uint64_t bytes_read;           /* file bytes actually read this run */
	uint64_t blobs_added;          /* new blobs stored */
	uint64_t bytes_added;          /* plaintext bytes of new blobs */
	uint64_t stored_added;         /* bytes added to packs (after zstd+AEAD) */
	uint64_t errors;               /* source items that could not be read */
	uint64_t duration_ns;
};

struct snapshot {
	struct ns_time time;
	char *hostname, *username;
	uint32_t uid, gid;
	char **paths;      /* absolute source paths, or the archive name */
	size_t n_paths;
	char **tags;
	size_t n_tags;
	char *source;      /* "fs" or "archive" */
	char *dataset;     /* empty in standalone mode */
	char *program;     /* e.g. "coffer 0.1.0" */
	uint8_t tree[BLOB_ID_LEN];
	bool has_parent;
	uint8_t parent[32];
	struct snapshot_stats stats;
};

void snapshot_init(struct snapshot *s);
void snapshot_fini(struct snapshot *s);
int snapshot_encode(const struct snapshot *s, struct buf *out);
/* Strict decoder: -EBADMSG malformed, -ENOTSUP unknown version. */
int snapshot_decode(const uint8_t *p, size_t len, struct snapshot *s);

#endif
