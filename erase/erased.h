/*
 * coffer-erased: approvers, destruction requests and their approvals
 * (docs/format/erase.md), and, alone on the appliance, the destruction
 * itself. Its state is STATE_DIR/erase.db; every request it serves is
 * recorded in the audit trail by the loop.
 */
#ifndef COFFER_ERASE_ERASED_H
#define COFFER_ERASE_ERASED_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/common.h"

struct erase_store;

struct erased {
	struct daemon_ctx c;         /* first: handlers get it as their arg */
	struct erase_store *store;   /* opened on first use; loop and executor share it */
	/* The executor thread (execute.c) and what it shares, under mu. */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, queued;
	uint8_t queue[16];           /* the request to run next */
	struct {
		bool active;
		uint8_t id[16];
		char phase[128];
		uint64_t done, total;    /* bytes of the current phase */
	} progress;
};

/* "international", "national" (suite_alias), or "unknown". */
const char *erased_suite_name(uint32_t suite);

/* erase.db, opened on first use; NULL after saying why. */
struct erase_store *erased_store(struct erased *e);

extern const struct server_handler_entry erased_handlers[];
extern const size_t erased_n_handlers;

/* Handlers, by file. approvers.c: */
void erased_h_approver_add(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			   void *arg);
void erased_h_approver_list(struct server *s, const struct peer_info *p,
			    const struct ipc_msg *m, void *arg);
void erased_h_approver_revoke(struct server *s, const struct peer_info *p,
			      const struct ipc_msg *m, void *arg);
/* requests.c: */
void erased_h_request(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		      void *arg);
void erased_h_request_device(struct server *s, const struct peer_info *p,
			     const struct ipc_msg *m, void *arg);
void erased_h_show(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		   void *arg);
void erased_h_approve(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		      void *arg);
void erased_h_list(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		   void *arg);
void erased_h_execute(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		      void *arg);
void erased_h_certificate(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			  void *arg);
/* A device's identity for requests (docs/format/erase.md): 32 hex digits. */
struct device_info;
void erased_device_identity(const struct device_info *d, char out[33]);
/* Builds, signs, stores and records the certificate of a done request. */
int erased_issue_certificate(struct erased *e, const uint8_t id[16], char *why, size_t size);

/* execute.c: the executor thread, one destruction at a time. */
int erased_executor_start(struct erased *e);
void erased_executor_stop(struct erased *e);
/* What a repository holds: its packs, its regular files and their bytes. */
void erased_repo_totals(struct erased *e, const char *repo, uint64_t *packs, uint64_t *files,
			uint64_t *bytes);
/* Queues request id; -EBUSY while another runs or waits. */
int erased_execute_queue(struct erased *e, const uint8_t id[16]);
/* Queues a request a crash or a stop left executing. */
void erased_resume(struct erased *e);
/* The executor's progress on request id (phase "" when it is not running it). */
void erased_progress(struct erased *e, const uint8_t id[16], char *phase, size_t size,
		     uint64_t *done, uint64_t *total);

#endif
