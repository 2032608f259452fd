/*
 * What coffer-backupd, coffer-restored and coffer-scheduler share beyond
 * the loop: the state every daemon has (struct daemon_ctx, the first
 * member of each daemon's own state, so handlers get it as their arg),
 * the keystore a daemon holds, start-up and shutdown around the loop,
 * and the requests every daemon answers alike (hello, status, the
 * keystore session, job queries).
 */
#ifndef COFFER_DAEMON_COMMON_H
#define COFFER_DAEMON_COMMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/daemon.h"
#include "daemon/runner.h"
#include "daemon/server.h"

struct dataset;
struct keystore;
struct repo;
struct roles_conf;

struct daemon_ctx {
	struct daemon_args a;
	struct server *srv;
	struct runner *rn;          /* NULL for a daemon without jobs */
	struct jobstore *js;        /* NULL for a daemon without jobs */
	struct roles_conf *roles;
	bool holds_keys;            /* opens the keystore (backupd, restored) */
	pthread_mutex_t ks_lock;    /* guards ks: handlers and job threads share it */
	struct keystore *ks;        /* locked until a secadmin unlocks it */
	struct audit *audit;        /* the audit trail every request is recorded in */
	int64_t next_seal_check;    /* monotonic ms: when to look whether an epoch is due */
	int64_t started;
	void (*reload)(struct daemon_ctx *c); /* daemon-specific SIGHUP work, may be NULL */
	void (*stop)(struct daemon_ctx *c);   /* daemon-specific SIGTERM work, may be NULL */
	void (*tick)(struct daemon_ctx *c);   /* with tick_ms */
	unsigned tick_ms;
};

/*
 * Runs a daemon: roles.conf and levels.conf loaded (and, with -n, only
 * checked), the keystore opened (and unlocked with --passphrase-file),
 * jobs.db opened and the runner started when rc is not NULL, the loop run
 * until SIGTERM, then everything stopped in order. Returns the exit code.
 */
int daemon_serve(struct daemon_ctx *c, const struct server_handler_entry *table, size_t n,
		 const struct runner_conf *rc);

/*
 * Opens dataset name's repository with the daemon's keystore (-EPERM,
 * said, while it is locked). Any thread.
 */
int daemon_open_dataset(struct daemon_ctx *c, const char *name, struct dataset *d,
			struct repo **out);

/*
 * For struct runner_conf (arg: the daemon's struct daemon_ctx): the pool's
 * concurrency from levels.conf (default 1), and after each job the
 * metrics file STATE_DIR/metrics/coffer.prom rewritten.
 */
unsigned daemon_pool_limit(const char *pool, void *arg);
void daemon_job_done(struct runner *rn, const struct job *j, void *arg);

/*
 * For a job function: opens the job's dataset with its index loaded
 * (damaged index files are warned about, not fatal) and, if threads > 0,
 * that many sealing threads. On failure rj->message says why.
 */
int daemon_open_job_repo(struct daemon_ctx *c, struct runner_job *rj, unsigned threads,
			 struct repo **out);

/*
 * Appends a record to the audit trail (docs/format/audit.md): the actor's
 * uid (its user name is looked up), the roles it held, the operation, its
 * target, the digest of what was asked (may be NULL) and the outcome. A
 * failure to record is logged at error level: the operation has happened.
 */
void daemon_audit(struct daemon_ctx *c, uint32_t uid, const char *roles, const char *op,
		  const char *target, const uint8_t params[32], const char *outcome);

/* Replies. */
void daemon_reply_init(struct ipc_writer *w, const struct ipc_msg *m);
void daemon_reply_empty(struct server *s, const struct peer_info *p, const struct ipc_msg *m);

/*
 * What the libraries log while a handler works, captured so that the
 * client gets the reason for a refusal, not only an errno.
 */
struct daemon_capture {
	char text[1024];
};
void daemon_capture_begin(struct daemon_capture *cap);
void daemon_capture_end(void);
/* An ERROR reply with the captured reason, else fallback. */
void daemon_fail(struct server *s, const struct peer_info *p, const struct ipc_msg *m, int e,
		 const struct daemon_capture *cap, const char *fallback);

/*
 * The catalog row of dataset name for a new job: it must exist and not be
 * shredded (why, size bytes, says otherwise). Its pool goes into the job
 * for the concurrency limit.
 */
int daemon_job_dataset(struct daemon_ctx *c, const char *name, struct dataset *d, char *why,
		       size_t size);

/* The job record fields of the protocol. */
void daemon_put_job(struct ipc_writer *w, const struct job *j);
/*
 * Queues j through c->rn and answers with its ID (a repeated request key
 * answers with the existing job), watching it for the peer if asked.
 */
void daemon_submit(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		   struct daemon_ctx *c, struct job *j, bool watch);

/* Handlers every daemon registers; arg is its struct daemon_ctx. */
void daemon_h_hello(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		    void *arg);
void daemon_h_status(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		     void *arg);
void daemon_h_unlock(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		     void *arg);
void daemon_h_lock(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		   void *arg);
void daemon_h_jobs(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		   void *arg);
void daemon_h_job_show(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		       void *arg);
void daemon_h_job_cancel(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			 void *arg);
void daemon_h_job_watch(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			void *arg);
/* The audit trail's requests (audit_handlers.c). */
void daemon_h_audit_read(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			 void *arg);
void daemon_h_audit_checkpoint(struct server *s, const struct peer_info *p,
			       const struct ipc_msg *m, void *arg);
void daemon_h_audit_seal(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			 void *arg);
void daemon_h_audit_prune(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			  void *arg);

#endif
