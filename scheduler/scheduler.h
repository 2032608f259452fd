/*
 * coffer-scheduler: the calendars of every dataset's policy (docs/
 * daemons.md, "Policies" and "Scheduler state"). It holds no key and no
 * data, only dataset names, job IDs and times: on each tick it reads the
 * policies, submits what is due to coffer-backupd (backups, retention) and
 * coffer-restored (verification) with request keys that make a repeated
 * submission the same job, follows those jobs, and retries failed ones
 * with backoff, raising an alert when it gives up.
 */
#ifndef COFFER_SCHEDULER_SCHEDULER_H
#define COFFER_SCHEDULER_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/common.h"

#define SCHED_RETRIES_MAX 8        /* attempts of one slot before the alert */
#define SCHED_BACKOFF_S 60         /* first retry after a minute, then doubling */
#define SCHED_VERIFY_CALENDAR "0 3 * * *" /* the daily verification share */

/* One schedule: a dataset and a kind of job, and where it stands. */
struct sched_row {
	char dataset[65];
	char kind[16];             /* "backup", "retention", "verify"; "expiry" (expiry.c) */
	char calendar[129];        /* the calendar its next_run came from */
	int64_t next_run;          /* the next slot to submit (Unix seconds) */
	int64_t last_slot;         /* the slot submitted last, 0 if none */
	uint64_t last_job;         /* its job, 0 if none yet */
	int64_t pending_slot;      /* a slot being submitted (crash recovery), 0 if none */
	uint32_t failures;         /* failed attempts of last_slot */
	int64_t retry_at;          /* when to retry last_slot, 0 if not retrying */
	uint64_t runs;             /* slots submitted so far (verify: picks the next share) */
	uint32_t share;            /* verify: the pack share of the slot being run */
	char state[32];            /* "idle", "running", "retrying", "alerted" */
};

struct sched_db;
int sched_db_open(const char *state_dir, struct sched_db **out);
void sched_db_close(struct sched_db *db);
int sched_db_get(struct sched_db *db, const char *dataset, const char *kind,
		 struct sched_row *out); /* -ENOENT */
int sched_db_put(struct sched_db *db, const struct sched_row *r);
int sched_db_delete(struct sched_db *db, const char *dataset, const char *kind);
int sched_db_list(struct sched_db *db, int (*fn)(const struct sched_row *r, void *arg),
		  void *arg);

struct scheduler {
	struct daemon_ctx c;       /* first: handlers receive it as their arg */
	struct sched_db *db;
	int64_t last_poll_ms;
	int64_t last_expiry_ms;    /* monotonic: the last retention-expiry check */
};

/* One pass over every policy and tracked job (tick.c). */
void scheduler_tick(struct daemon_ctx *c);
/*
 * Files the destruction request of every dataset whose level's
 * dataset_retention has ended (expiry.c), every few seconds of mono ms.
 */
void scheduler_expiry(struct scheduler *s, int64_t now, int64_t mono_ms);
/* Closes the connections to the other daemons (tick.c). */
void scheduler_disconnect(void);

extern const struct server_handler_entry scheduler_handlers[];
extern const size_t scheduler_n_handlers;

#endif
