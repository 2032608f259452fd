/*
 * Small files backed up off the walk's thread. A source tree is mostly
 * files smaller than the chunker's minimum size: each is one chunk, so
 * opening, reading, identifying and queueing it for sealing needs nothing
 * of the walk but the file. Done on the walk's thread, that per-file work
 * kept it busy while the sealing workers waited; here a few threads do it,
 * and the walk waits for a directory's files only when it saves the
 * directory's tree.
 *
 * The outcome is exactly the walk's own (walk.c, walk_file_content): the
 * same single extent, the same delta base, the same flags for a file that
 * changed or failed while being read, the same messages. The messages are
 * kept in the result and logged by the walk (smallfile_result_report):
 * log sinks are per thread, and a daemon job's is the walk's thread's.
 */
#ifndef COFFER_BACKUP_SMALLFILE_H
#define COFFER_BACKUP_SMALLFILE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "repo/repo.h"
#include "repo/tree.h"

struct smallfiles;

enum smallfile_event {
	SMALLFILE_OK,
	SMALLFILE_VANISHED, /* skipped */
	SMALLFILE_REPLACED, /* skipped */
	SMALLFILE_FAILED,   /* err during `what`: skipped after "open", else incomplete */
	SMALLFILE_CHANGED,  /* changed while being read */
};

/* What became of one submitted file, read by the walk after the wait. */
struct smallfile_result {
	bool pooled;    /* submitted: the rest is the pool's outcome */
	bool skipped;   /* left out of the tree (vanished, unreadable, replaced) */
	bool error;     /* counts as a read error */
	uint64_t bytes_read;
	enum smallfile_event event;
	int err;
	const char *what;
	char *path;     /* for the message; smallfile_result_report frees it */
};

/* Logs the file's message, if any, on the calling thread, and frees path. */
void smallfile_result_report(struct smallfile_result *res);

/* The files of one directory, waited for together. Zero-initialise. */
struct smallfile_batch {
	unsigned outstanding; /* guarded by the pool's lock */
	int err;              /* first repository failure (negative errno) */
};

/* n threads, or NULL (no memory, no threads: the walk reads the files itself). */
struct smallfiles *smallfiles_new(struct repo *r, unsigned n);
void smallfiles_free(struct smallfiles *sf); /* accepts NULL; waits for queued files */

/* Whether a file of this stat goes to the pool: regular, not empty, one
 * chunk (shorter than the chunker's minimum) and without holes. */
bool smallfiles_wants(const struct smallfiles *sf, const struct stat *st);

/*
 * Queues the file `name` in dirfd (kept open by the caller until the
 * batch's wait) whose stat is st and whose node n (filled but for its
 * content; stays where it is until the wait) is to get its extent. old is
 * its node in the parent snapshot or NULL; path names it in messages. res
 * is written before the wait returns. Blocks while the queue is full.
 * Returns 0 or -ENOMEM.
 */
int smallfiles_submit(struct smallfiles *sf, struct smallfile_batch *b, int dirfd,
		      const char *name, const struct stat *st, const struct node *old,
		      struct node *n, const char *path, struct smallfile_result *res);

/* Waits for every file of b; returns b's repository failure or 0. */
int smallfiles_wait(struct smallfiles *sf, struct smallfile_batch *b);

#endif
