/*
 * coffer-backupd: datasets, policies, backup and retention jobs, snapshot
 * listings and the keystore session (docs/daemons.md). main.c starts it,
 * handlers.c answers requests on the loop thread, jobs.c runs jobs on
 * worker threads.
 */
#ifndef COFFER_BACKUPD_BACKUPD_H
#define COFFER_BACKUPD_BACKUPD_H

#include <stddef.h>

#include "daemon/common.h"

struct backupd {
	struct daemon_ctx c;       /* first: handlers receive it as their arg */
	unsigned job_threads;      /* sealing threads per job */
};

extern const struct server_handler_entry backupd_handlers[];
extern const size_t backupd_n_handlers;

/* The job function of the runner (jobs.c). */
int backupd_run_job(struct runner_job *rj, void *arg);

#endif
