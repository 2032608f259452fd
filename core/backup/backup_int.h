/* Pieces shared by the filesystem and archive backup engines. */
#ifndef COFFER_BACKUP_BACKUP_INT_H
#define COFFER_BACKUP_BACKUP_INT_H

#include <stdbool.h>
#include <sys/stat.h>

#include "backup/backup.h"

/*
 * Fills the who/where/when fields of a new snapshot (time, host, user,
 * source, dataset, program, tags). Returns 0 or -ENOMEM.
 */
int backup_snapshot_prepare(struct snapshot *s, const struct backup_opts *o,
			    const char *source);
/*
 * Finishes a backup whose trees are saved (s->tree set): flushes the
 * repository (packs, then index), fills s->stats from the walk's counters,
 * what the repository added since `before` and the start time t0 (ns,
 * CLOCK_MONOTONIC), saves the snapshot and fills res. Names the failure.
 */
int backup_commit(struct repo *r, struct snapshot *s, const struct snapshot_stats *walked,
		  const struct repo_write_stats *before, uint64_t t0,
		  struct backup_result *res);
/*
 * openat with O_NOATIME, retried without it when the kernel refuses
 * (EPERM: O_NOATIME needs ownership or CAP_FOWNER). Used for files and
 * directories alike: a backup must not change the access times it records,
 * or the next backup would see every directory it listed as changed.
 */
int backup_openat(int dirfd, const char *name, int flags);
/* The messages about one source entry, shared by every reader of files. */
void backup_warn_vanished(const char *path);
void backup_warn_replaced(const char *path);
void backup_warn_changed(const char *path);
/* "cannot read PATH: WHAT: ERROR"; the caller counts it. */
void backup_report_error(const char *path, int err, const char *what);
/* Same inode of a regular file: what was opened is what was listed. */
bool backup_same_inode(const struct stat *now, const struct stat *listed);
/* Same size, mtime and ctime: the content did not change meanwhile. */
bool backup_same_content_stat(const struct stat *now, const struct stat *listed);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t backup_now_ns(void);

#endif
