/*
 * coffer-restored: restore jobs and verification jobs (docs/daemons.md).
 * main.c starts it, handlers.c answers requests on the loop thread,
 * jobs.c runs jobs on worker threads. It holds the keystore like
 * coffer-backupd (a secadmin unlocks both) and shares jobs.db with it.
 */
#ifndef COFFER_RESTORE_RESTORED_H
#define COFFER_RESTORE_RESTORED_H

#include <stddef.h>

#include "daemon/common.h"

struct restored {
	struct daemon_ctx c;       /* first: handlers receive it as their arg */
};

extern const struct server_handler_entry restored_handlers[];
extern const size_t restored_n_handlers;

/* The job function of the runner (jobs.c). */
int restored_run_job(struct runner_job *rj, void *arg);

#endif
