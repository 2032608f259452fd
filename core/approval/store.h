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

#include <stdbool.h>
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

/*
 * The execution of a request, kept durable as it goes so that a restart
 * resumes it and the certificate can say what was done.
 */
struct erase_execution {
	int64_t started, finished;   /* finished 0: not yet */
	uint32_t executor_uid;
	char executor[APPROVER_USER_MAX + 1];
	char method[16];             /* of the overwrite */
	int64_t shredded;            /* when the key set was destroyed (0: not yet) */
	uint64_t files, bytes;       /* overwritten, verified and unlinked so far */
	uint64_t direct_files;       /* of which written with O_DIRECT */
	char result[1024];           /* how it ended, or "" */
};
/* Starts the record (-EEXIST if there is one: a resumed execution keeps its own). */
int erase_store_execution_begin(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
				const struct erase_execution *x);
int erase_store_execution_get(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
			      struct erase_execution *out);
int erase_store_execution_shredded(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
				   int64_t when);
/* One more file destroyed (bytes of it, direct: written with O_DIRECT). */
int erase_store_execution_file(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
			       uint64_t bytes, bool direct);
int erase_store_execution_finish(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
				 int64_t when, const char *result);
/* Another method for a retry (a device's failed attempt); clears the result. */
int erase_store_execution_method(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
				 const char *method);

/* The request's certificate of sanitization (docs/format/certificate.md). */
int erase_store_certificate_put(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
				const uint8_t *cert, size_t len);
/* Appended to out; -ENOENT when none was issued. */
int erase_store_certificate_get(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
				struct buf *out);

/* -EEXIST if this approver already signed this request. */
int erase_store_approval_add(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
			     const struct approval *a);
/* The request's signatures in the order given; each sig is owned (freed by _free). */
int erase_store_approvals(struct erase_store *s, const uint8_t id[ERASE_ID_LEN],
			  struct approval **out, size_t *n);
void erase_store_approvals_free(struct approval *v, size_t n);

#endif
