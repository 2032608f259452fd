/*
 * Backup engines: from the filesystem (walk.c) and from an archive stream
 * (archive_in.c). Both chunk file content with chunk_stream and save trees
 * bottom-up, then write one snapshot. Errors on individual source items are
 * reported on stderr, counted, and do not abort the backup: the snapshot
 * stays consistent and records what could not be read.
 */
#ifndef COFFER_BACKUP_BACKUP_H
#define COFFER_BACKUP_BACKUP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"

/* Live progress, called at most a few times a second. */
struct backup_progress {
	uint64_t files, dirs, bytes_done, bytes_total_hint, errors;
	const char *current; /* path being read, may be NULL */
};
typedef void (*backup_progress_fn)(const struct backup_progress *p, void *arg);

struct backup_opts {
	char **tags;
	size_t n_tags;
	const char *dataset;          /* NULL in standalone mode */
	backup_progress_fn progress;  /* may be NULL */
	void *progress_arg;
	/*
	 * May be NULL. When another thread sets it the backup stops at the
	 * next entry or chunk with -ECANCELED and writes no snapshot: what
	 * was stored so far stays unreferenced until prune (a daemon stopping
	 * or a job cancelled).
	 */
	const atomic_bool *cancel;
};

struct backup_result {
	uint8_t snapshot_id[32];
	struct snapshot_stats stats;
	bool has_parent;
	uint8_t parent[32];
};

/*
 * Backs up the given paths (made absolute) into r: the parent snapshot is
 * the newest one with the same set of paths; files whose size, mtime,
 * ctime and inode match the parent are not read again. Takes a shared lock.
 * Returns 0 with res->stats.errors > 0 if some items could not be read.
 */
int backup_paths(struct repo *r, char *const *paths, size_t n_paths,
		 const struct backup_opts *o, struct backup_result *res);

/*
 * Ingests a tar/pax/cpio/zip stream read from fd, keeping the archive's
 * names, modes, owners, times, xattrs, ACLs and links. The snapshot's path
 * is `name` (the file name, or "-" for standard input).
 */
int backup_archive(struct repo *r, int fd, const char *name,
		   const struct backup_opts *o, struct backup_result *res);

/*
 * Streaming chunker for one file's content: write data in any pieces, it is
 * cut with the repository's chunker, each chunk saved as a data blob, and an
 * extent recorded. Sparse files: call chunk_stream_seek to start a new data
 * region at a later offset (the gap stays a hole).
 */
struct chunk_stream;

struct chunk_stream *chunk_stream_new(struct repo *r);
void chunk_stream_free(struct chunk_stream *cs); /* accepts NULL */
/* Starts a new file at offset 0, dropping any extents collected and the base. */
void chunk_stream_reset(struct chunk_stream *cs);
/*
 * Names the previous version of the file being chunked (old may be NULL,
 * or a node of another type: no base). Each new chunk is then saved with
 * the old chunk covering the same file offsets (the one with the largest
 * overlap) as its delta base (repo_blob_save_hint). The extents are
 * copied: old need not outlive the call. Call after chunk_stream_reset;
 * chunk_stream_finish and chunk_stream_reset drop the base. If the copy
 * cannot be allocated the stream has no base: deltas only save space.
 */
void chunk_stream_set_base(struct chunk_stream *cs, const struct node *old);
/*
 * Tells the stream the file's expected size: a large file's chunk IDs are
 * then computed by the repository's sealing workers in parallel
 * (repo_blob_save_async). Call after chunk_stream_reset.
 */
void chunk_stream_expect(struct chunk_stream *cs, uint64_t size);
int chunk_stream_write(struct chunk_stream *cs, const void *data, size_t len);
/* Cuts what is buffered and continues at offset (>= current end). */
int chunk_stream_seek(struct chunk_stream *cs, uint64_t offset);
/*
 * Cuts what is buffered and moves the extents into n (n->extents,
 * n->n_extents). The stream is reset for the next file.
 */
int chunk_stream_finish(struct chunk_stream *cs, struct node *n);

#endif
