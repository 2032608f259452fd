/*
 * coffer-erased: approvers, destruction requests and their approvals
 * (docs/format/erase.md), and, alone on the appliance, the destruction
 * itself. Its state is STATE_DIR/erase.db; every request it serves is
 * recorded in the audit trail by the loop.
 */
#ifndef COFFER_ERASE_ERASED_H
#define COFFER_ERASE_ERASED_H

#include <stddef.h>

#include "daemon/common.h"

struct erase_store;

struct erased {
	struct daemon_ctx c;         /* first: handlers get it as their arg */
	struct erase_store *store;   /* opened on first use */
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
void erased_h_show(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		   void *arg);
void erased_h_approve(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		      void *arg);
void erased_h_list(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		   void *arg);

#endif
