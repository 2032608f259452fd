/*
 * STATE_DIR/erase.db (docs/format/erase.md, "State"): approvers,
 * requests in their canonical encoding with their state, and the
 * signatures given. Only coffer-erased opens it. What it holds is not
 * trusted for what it means: quorum.h checks every signature against the
 * stored encoding each time.
 *
 * Errors: 0 or a negative errno, each also logged: -ENOENT no such row,
 * -EEXIST a duplicate (name, key, signature), -EALREADY already revoked,
 * -ENOTSUP a newer schema, -EIO SQLite failed.
 */
#ifndef COFFER_APPROVAL_STORE_H
#define COFFER_APPROVAL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "approval/quorum.h"
#include "approval/request.h"
#include "util/buf.h"

enum erase_state {
	ERASE_PENDING = 1,
	ERASE_EXECUTING = 2,   /* begun: resumes at restart, never back to pending */
	ERASE_DONE = 3,
	ERASE_CANCELLED = 4,
};
const char *erase_state_name(enum erase_state s);

struct erase_store;
int erase_store_open(const char *state_dir, struct erase_store **out);
void erase_store_close(struct erase_store *s); /* accepts NULL */

int erase_store_approver_add(struct erase_store *s, const struct approver *a);
/* Every approver, revoked ones too, by name; free with erase_store_approvers_free. */
int erase_store_approvers(struct erase_store *s, struct approver **out, size_t *n);
void erase_store_approvers_free(struct approver *v, size_t n);
int erase_store_approver_revoke(struct erase_store *s, const char *name, const char *by,
				int64_t when);

int erase_store_request_add(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
			    const uint8_t *enc, size_t len);
/* The encoding (appended to enc), the state and when it was entered. */
int erase_store_request_get(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
			    struct buf *enc, enum erase_state *state, int64_t *since);
/* Moves a request on; -EPERM unless from is its state now (and says so). */
int erase_store_request_set_state(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
				  enum erase_state from, enum erase_state to, int64_t when);
/* The IDs of every request, newest first; *ids holds n of them. */
int erase_store_request_ids(struct erase_store *s, uint8_t (**ids)[ERASE_ID_LEN], size_t *n);

/* -EEXIST if this approver already signed this request. */
int erase_store_approval_add(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
			     const struct approval *a);
/* The request's signatures in the order given; each sig is owned (freed by _free). */
int erase_store_approvals(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
			  struct approval **out, size_t *n);
void erase_store_approvals_free(struct approval *v, size_t n);

#endif
