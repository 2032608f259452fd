/*
 * Read-ahead for the backup walk. Reading many small files one after
 * another waits for the disk once per file (about 60 µs per cold read
 * here), while the disk serves far more reads in parallel. A few threads
 * open the files the walk will read next and ask the kernel to read them
 * into the page cache (POSIX_FADV_WILLNEED), so the walk finds them there.
 *
 * Files the parent snapshot shows unchanged are not read ahead: the walk
 * will not read them either.
 */
#ifndef COFFER_BACKUP_PREFETCH_H
#define COFFER_BACKUP_PREFETCH_H

#include <stdint.h>

#include "repo/tree.h"

struct prefetch;
struct prefetch_dir;

/* Starts n threads; NULL if none could be started (the walk goes on without). */
struct prefetch *prefetch_new(unsigned n);
void prefetch_free(struct prefetch *pf); /* accepts NULL; drops what is queued */

/* A directory whose entries will be read ahead; holds a dup of fd. NULL on failure. */
struct prefetch_dir *prefetch_dir_new(struct prefetch *pf, int fd);
/* Releases the caller's reference (queued jobs keep the fd open until done). */
void prefetch_dir_put(struct prefetch_dir *d);
/*
 * Queues `name` in d for read-ahead; old is its node in the parent
 * snapshot, or NULL. Never blocks; drops the request when the queue is
 * full.
 */
void prefetch_push(struct prefetch_dir *d, const char *name, const struct node *old);

#endif
