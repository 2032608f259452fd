/*
 * Private to core/jobs: the handle and the helpers jobstore.c and
 * metrics.c share. Every helper but the lock's expects js->lock held.
 */
#ifndef COFFER_JOBS_JOBSTORE_INT_H
#define COFFER_JOBS_JOBSTORE_INT_H

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "jobs/jobstore.h"

struct jobstore {
	sqlite3 *db;
	pthread_mutex_t lock;          /* error-checking; held for the whole of each public call */
	int64_t (*clock)(void *arg);   /* NULL: time(NULL) */
	void *clock_arg;
	char path[PATH_MAX];           /* of jobs.db, for messages */
};

/* Takes js->lock: 0, or -EDEADLK if this thread holds it already. */
int jobstore_lock(struct jobstore *js);
void jobstore_unlock(struct jobstore *js);
/* Logs what failed with SQLite's message; returns -EIO. */
int jobstore_fail(const struct jobstore *js, const char *what);
/* Runs SQL without parameters (pragmas, BEGIN, COMMIT). 0 or -EIO. */
int jobstore_exec(struct jobstore *js, const char *sql);
/* BEGIN IMMEDIATE: waits (busy timeout) for the one writer slot. */
int jobstore_tx_begin(struct jobstore *js);
/* Commits if e == 0, else rolls back; returns e, or -EIO if the commit failed. */
int jobstore_tx_end(struct jobstore *js, int e);
int64_t jobstore_now(const struct jobstore *js);

#endif
