/*
 * The job store: STATE_DIR/jobs.db (SQLite, WAL), the queue and history of
 * the jobs of coffer-backupd and coffer-restored (docs/daemons.md "Jobs";
 * the schema is docs/format/jobs.md), and the Prometheus metrics file
 * computed from it (docs/daemons.md "Metrics and alerts").
 *
 * A job is created queued, taken by one daemon (queued -> running), and
 * ends in exactly one final state (succeeded, failed, cancelled,
 * interrupted) that is never changed again. Read-then-write steps (start,
 * finish, add with a request key, add_message, write_metrics) run in one
 * BEGIN IMMEDIATE transaction, so two processes never both take a job,
 * both finish it, or both create the job of one request key.
 *
 * Concurrency: several processes may each open the file. A struct
 * jobstore may be shared by the threads of one process: every call holds
 * the handle's own mutex for its whole duration (SQLITE_OPEN_FULLMUTEX
 * alone would not do: it serialises single SQLite calls, not a
 * BEGIN ... COMMIT of one thread against the statements of another, nor
 * the error message read after a failure). Calls on one handle therefore
 * run one at a time; threads that must write in parallel may open a
 * handle each. jobstore_list and jobstore_messages call their callback
 * with the mutex released, so the callback may call the store, on the same
 * handle too. A call made on a handle from inside another call on it in
 * the same thread (the clock callback, or a log sink that records into the
 * store while the store logs an error) fails with -EDEADLK instead of
 * hanging. A handle MUST NOT be used in a child after fork().
 *
 * Errors: 0 or a negative errno. -ENOENT no such job, -EEXIST request key
 * taken, -EALREADY the job is not in a state the call accepts, -EBUSY the
 * pool is full (jobstore_start_limited), -EINVAL a bad argument,
 * -EDEADLK re-entered from inside a call on the same handle,
 * -ENOTSUP a newer schema, -EBADMSG a row that breaks the schema's rules,
 * -EIO SQLite failed (its message is logged), -ENOMEM.
 */
#ifndef COFFER_JOBS_JOBSTORE_H
#define COFFER_JOBS_JOBSTORE_H

#include <stdbool.h>
#include <stdint.h>

/* Values are stored in jobs.db: never renumber. */
enum job_kind { JOB_BACKUP = 1, JOB_RETENTION = 2, JOB_RESTORE = 3, JOB_VERIFY = 4 };
enum job_state {
	JOB_QUEUED = 1,
	JOB_RUNNING = 2,
	JOB_SUCCEEDED = 3,
	JOB_FAILED = 4,
	JOB_CANCELLED = 5,
	JOB_INTERRUPTED = 6,
};

/* "backup", "retention", "restore", "verify"; "unknown" for another value. */
const char *job_kind_name(enum job_kind k);
/* "queued", "running", "succeeded", "failed", "cancelled", "interrupted";
 * "unknown" for another value. */
const char *job_state_name(enum job_state s);
/* The inverse of the names above (exact, lower case). 0 or -EINVAL. */
int job_kind_parse(const char *s, enum job_kind *out);
int job_state_parse(const char *s, enum job_state *out);
/* True for succeeded, failed, cancelled and interrupted. */
bool job_state_final(enum job_state s);

#define JOB_DATASET_MAX 64   /* as DATASET_NAME_MAX (catalog/catalog.h) */
#define JOB_DAEMON_MAX 15
#define JOB_KEY_MAX 128
#define JOB_SNAPSHOT_LEN 64  /* hex digits of a snapshot ID */
#define JOB_MESSAGE_MAX 1024 /* bytes; longer messages are cut */
#define JOB_PARAMS_MAX 8192
#define JOB_POOL_MAX 4095
#define JOB_MESSAGES_KEPT 1000 /* per job; later ones are only counted */

/* Levels of per-job messages: enum log_level's values (util/log.h). */
enum job_msg_level { JOB_MSG_ERROR = 0, JOB_MSG_WARN = 1, JOB_MSG_INFO = 2, JOB_MSG_DEBUG = 3 };

struct job {
	uint64_t id;                        /* 1, 2, ...: increasing, never reused */
	enum job_kind kind;
	char dataset[JOB_DATASET_MAX + 1];  /* 1..64 bytes */
	char daemon[JOB_DAEMON_MAX + 1];    /* who runs it: "backupd", "restored"; 1..15 bytes */
	enum job_state state;
	char request_key[JOB_KEY_MAX + 1];  /* "" when none; unique otherwise */
	uint32_t requested_by;              /* uid */
	int64_t created, started, finished; /* Unix seconds; 0 = not yet */
	uint64_t files, bytes, errors;      /* progress; each <= INT64_MAX */
	char snapshot[JOB_SNAPSHOT_LEN + 1]; /* 64 lower-case hex digits, "" when none */
	char message[JOB_MESSAGE_MAX + 1];  /* the error or the summary */
	uint32_t attempt;                   /* 1 for a first run, a retry + 1 */
	char params[JOB_PARAMS_MAX + 1];    /* human-readable summary of what was asked */
	char pool[JOB_POOL_MAX + 1];        /* the dataset's storage pool (catalog's string) */
	uint64_t messages_dropped;          /* messages beyond JOB_MESSAGES_KEPT, not kept */
};

struct jobstore;

/*
 * Opens (creating if needed) state_dir/jobs.db; state_dir must exist.
 * Sets WAL, synchronous = FULL and a 10 s busy timeout, and creates the
 * schema if the file is new. A newer schema: -ENOTSUP.
 */
int jobstore_open(const char *state_dir, struct jobstore **out);
void jobstore_close(struct jobstore *js); /* accepts NULL */

/*
 * The clock that stamps created, started, finished and message times
 * (default: time(NULL)). For tests and for daemons run on a clock file;
 * fn is called with the handle's mutex held and must not call the store.
 * NULL restores the default.
 */
void jobstore_set_clock(struct jobstore *js, int64_t (*fn)(void *arg), void *arg);

/*
 * Adds a queued job. From *j it takes kind, dataset, daemon, request_key,
 * requested_by, snapshot, message, attempt (>= 1), params and pool; it
 * assigns id, state (queued), created (now), started = finished = 0 and
 * zero counters, and writes them back into *j and the id into *id.
 * A non-empty request_key that exists already: -EEXIST, *id = the
 * existing job's id (for the scheduler's exactly-once submission) and *j
 * unchanged. A field not NUL-terminated within its array, an empty
 * dataset or daemon, a bad kind or snapshot, attempt 0: -EINVAL.
 */
int jobstore_add(struct jobstore *js, struct job *j, uint64_t *id);
/* The job id into *out (set only on success). -ENOENT. */
int jobstore_get(struct jobstore *js, uint64_t id, struct job *out);

/*
 * queued -> running, sets started. -EALREADY if the job is not queued
 * (another thread or daemon took it, or it was cancelled), -ENOENT.
 */
int jobstore_start(struct jobstore *js, uint64_t id);
/*
 * As jobstore_start, but -EBUSY (and the job stays queued) when
 * pool_limit jobs with the job's pool string are running already, in any
 * daemon: the per-pool concurrency of levels.conf, checked and taken in
 * one transaction. pool_limit 0: no limit.
 */
int jobstore_start_limited(struct jobstore *js, uint64_t id, unsigned pool_limit);
/*
 * Sets the progress counters of a running job (each <= INT64_MAX, else
 * -EINVAL). -EALREADY if the job is not running, -ENOENT. Each call is
 * one fsync'ed commit: call it at most about once a second per job.
 */
int jobstore_progress(struct jobstore *js, uint64_t id, uint64_t files, uint64_t bytes,
		      uint64_t errors);
/*
 * running|queued -> state (final, else -EINVAL), sets finished. message
 * (cut to JOB_MESSAGE_MAX bytes at a UTF-8 character boundary) and
 * snapshot ("" or 64 lower-case hex digits, else -EINVAL) replace the
 * job's; NULL keeps what it had. A job already final is not changed:
 * -EALREADY. -ENOENT.
 */
int jobstore_finish(struct jobstore *js, uint64_t id, enum job_state state,
		    const char *message, const char *snapshot);
/*
 * Every job of daemon still running -> interrupted, finished = now,
 * message "the daemon stopped while the job ran". Queued jobs of that
 * daemon stay queued; other daemons' jobs are untouched. Returns the
 * number of jobs marked (>= 0) or a negative errno. For a daemon's start
 * (it was killed) and for its SIGTERM path.
 */
int jobstore_mark_interrupted(struct jobstore *js, const char *daemon);

struct job_filter {
	const char *dataset; /* NULL: all */
	const char *daemon;  /* NULL: all */
	int state;           /* enum job_state; 0: any */
	unsigned limit;      /* at most this many jobs; 0: 100 */
	bool oldest_first;   /* false: newest (highest id) first */
};

/*
 * Calls fn for each job matching f (NULL: no filter, newest first, 100),
 * in id order. Stops at and returns fn's nonzero; else 0 or a negative
 * errno. Rows are read in pages, each a consistent view; fn runs with no
 * lock held, and a job that changes between pages is seen once at most.
 * oldest_first with state JOB_QUEUED is the order a daemon takes work in.
 */
int jobstore_list(struct jobstore *js, const struct job_filter *f,
		  int (*fn)(const struct job *j, void *arg), void *arg);

/*
 * Adds a message the job logged (an unreadable file, a damaged pack):
 * level is enum job_msg_level (else -EINVAL), text is cut to
 * JOB_MESSAGE_MAX bytes at a character boundary, time is now. The first
 * JOB_MESSAGES_KEPT messages of a job are kept; each later one only
 * increments the job's messages_dropped (and the call returns 0).
 * -ENOENT. A job in any state takes messages.
 */
int jobstore_add_message(struct jobstore *js, uint64_t id, int level, const char *text);
/*
 * Calls fn for each kept message of job id, oldest first; text is
 * borrowed for the call only. Stops at and returns fn's nonzero; -ENOENT
 * if there is no such job.
 */
int jobstore_messages(struct jobstore *js, uint64_t id,
		      int (*fn)(int64_t time, int level, const char *text, void *arg),
		      void *arg);

/*
 * Rewrites path (normally STATE_DIR/metrics/coffer.prom; its directory is
 * created 0755 if absent) in the Prometheus text exposition format, from
 * the whole job history as of one moment, `now` being the present time:
 *
 *   coffer_job_last_success_timestamp_seconds{dataset,kind}  gauge
 *   coffer_job_last_duration_seconds{dataset,kind}           gauge
 *   coffer_job_failures_total{dataset,kind}                  counter
 *   coffer_backup_last_bytes{dataset}                        gauge
 *   coffer_snapshot_age_seconds{dataset}                     gauge
 *   coffer_jobs_running, coffer_jobs_queued                  gauge
 *
 * (exact definitions in docs/format/jobs.md). The file is written to a
 * temporary file in the same directory, fsync'ed, renamed over path (mode
 * 0644) and the directory fsync'ed: a reader sees the old file or the new
 * one, never a part. The query and the rename run inside one BEGIN
 * IMMEDIATE transaction, so concurrent writers (both daemons) rename in
 * the order of the history they saw and the last file is never stale.
 */
int jobstore_write_metrics(struct jobstore *js, const char *path, int64_t now);

#endif
