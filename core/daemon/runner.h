/*
 * The job runner of coffer-backupd and coffer-restored (docs/daemons.md,
 * "Jobs"): a queue kept in jobs.db, worker threads that take jobs in
 * order subject to each pool's concurrency limit, cancellation, progress
 * throttled into the store and streamed to watchers, and what a job logs
 * captured into its record.
 *
 * A job function runs on a worker thread with a log sink installed, so
 * every message the libraries log while it runs is kept with the job and
 * sent as an event. It returns 0 (succeeded), -ECANCELED (it saw
 * runner_job.cancel; cancelled, or interrupted when the daemon stops) or
 * another negative errno (failed), with a one-line summary or error in
 * rj->message.
 */
#ifndef COFFER_DAEMON_RUNNER_H
#define COFFER_DAEMON_RUNNER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "jobs/jobstore.h"

struct runner;
struct server;

struct runner_job {
	struct runner *rn;
	struct job job;            /* as taken from the store */
	atomic_bool cancel;        /* set by runner_cancel or the daemon stopping */
	char message[JOB_MESSAGE_MAX + 1]; /* OUT: the summary or the error */
	char snapshot[JOB_SNAPSHOT_LEN + 1]; /* OUT: the snapshot made or read, or "" */
	/* Progress, as last reported. */
	uint64_t files, bytes, total, errors;
	int64_t last_store_ms, last_event_ms;
	struct runner_job *next;   /* the runner's list of running jobs */
};

typedef int (*runner_fn)(struct runner_job *rj, void *arg);
/* Concurrency limit of a pool (0: none); called from worker threads. */
typedef unsigned (*runner_limit_fn)(const char *pool, void *arg);
/* Called on the loop thread after a job ended (metrics, follow-up work). */
typedef void (*runner_done_fn)(struct runner *rn, const struct job *j, void *arg);

struct runner_conf {
	const char *daemon;        /* "backupd": the jobs this runner takes */
	unsigned threads;          /* workers, >= 1 */
	runner_fn run;
	runner_limit_fn limit;     /* may be NULL: no limits */
	runner_done_fn done;       /* may be NULL */
	void *arg;
};

/*
 * Marks the daemon's jobs still running as interrupted (the daemon was
 * killed), queues its jobs still queued, and starts the workers.
 */
int runner_new(struct server *s, struct jobstore *js, const struct runner_conf *c,
	       struct runner **out);
/*
 * Stops: every running job is asked to stop, the workers are joined, and
 * jobs that stopped for this are marked interrupted. Their end events
 * are queued on the server's loop, which runs them before server_run
 * returns; free the runner after that. Accepts NULL.
 */
void runner_stop(struct runner *rn);
void runner_free(struct runner *rn); /* stops first if needed; accepts NULL */

/*
 * Adds j (kind, dataset, pool, params, request_key, requested_by,
 * attempt) as a queued job of this daemon. -EEXIST: its request key has a
 * job already, whose ID is in *id.
 */
int runner_submit(struct runner *rn, struct job *j, uint64_t *id);
/*
 * Cancels job id of this daemon: a running one is asked to stop, a queued
 * one ends cancelled at once. -ENOENT (no such job of this daemon),
 * -EALREADY (it has ended).
 */
int runner_cancel(struct runner *rn, uint64_t id);
/* Jobs running and queued now. */
void runner_counts(struct runner *rn, unsigned *running, unsigned *queued);

/*
 * From a job function: reports progress. Events go out at most four
 * times a second, the store is written at most once a second; force
 * writes both now.
 */
void runner_progress(struct runner_job *rj, uint64_t files, uint64_t bytes, uint64_t total,
		     uint64_t errors, const char *current, bool force);

struct jobstore *runner_store(struct runner *rn);

#endif
