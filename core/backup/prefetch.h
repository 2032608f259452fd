/*
 * Read-ahead for the backup walk. Reading many small files one after
 * another waits for the disk once per file (about 60 µs per cold read
 * here), while the disk serves far more reads in parallel. The files the
 * walk will read next are brought into the page cache ahead of it, so the
 * walk finds them there: with the io_uring engine by one thread reading
 * them in batches through the ring (openat, statx, read and close of up
 * to IO_BATCH files submitted together), otherwise by a few threads that
 * open them and ask the kernel to read them (POSIX_FADV_WILLNEED).
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

/*
 * Starts n read-ahead threads, or the single batching thread when the
 * process's I/O engine is io_uring. NULL if none could be started (the
 * walk goes on without).
 */
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

/*
 * Queues the subdirectory `name` of d to be listed ahead of the walk and
 * its entries other than subdirectories stat'd, which brings its blocks
 * and their inodes into the cache. The queue is a stack: the walk
 * goes depth first, so the directories pushed last are needed first
 * (push a directory's subdirectories in reverse order). Never blocks;
 * dropped when the queue is full.
 */
void prefetch_push_dir(struct prefetch_dir *d, const char *name);

#endif
