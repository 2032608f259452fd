/* Pieces shared by the filesystem and archive backup engines. */
#ifndef COFFER_BACKUP_BACKUP_INT_H
#define COFFER_BACKUP_BACKUP_INT_H

#include "backup/backup.h"

/*
 * Fills the who/where/when fields of a new snapshot (time, host, user,
 * source, dataset, program, tags). Returns 0 or -ENOMEM.
 */
int backup_snapshot_prepare(struct snapshot *s, const struct backup_opts *o,
			    const char *source);
/*
 * Fills the write counters and duration of st from what the repository
 * added since `before` and the CLOCK_MONOTONIC start time t0 (ns).
 */
void backup_stats_finish(struct snapshot_stats *st, struct repo *r,
			 const struct repo_write_stats *before, uint64_t t0);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t backup_now_ns(void);

#endif
