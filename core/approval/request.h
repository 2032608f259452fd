/*
 * A destruction request: its canonical encoding (what every approval's
 * signature covers), its digest and the statement approvers sign
 * (docs/format/erase.md, "Requests").
 *
 * Errors: 0 or a negative errno; -EBADMSG an encoding that breaks a rule
 * of the format, -ENOTSUP a newer version, -EINVAL a request that cannot
 * be encoded (a field over its limit, unsorted snapshots...).
 */
#ifndef COFFER_APPROVAL_REQUEST_H
#define COFFER_APPROVAL_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define ERASE_REQUEST_VERSION 1
#define ERASE_ID_LEN 16              /* bytes; 32 hex digits */
#define ERASE_NAME_MAX 64            /* requester, dataset, snapshot IDs */
#define ERASE_SHORT_MAX 32           /* dataset and key set IDs, level name */
#define ERASE_PATH_MAX 4096
#define ERASE_SITE_MAX 128
#define ERASE_TEXT_MAX 1024          /* reason, legal basis */
#define ERASE_SNAPSHOTS_MAX 4096
#define ERASE_SITES_MAX 64
#define ERASE_APPROVALS_MAX 16
#define ERASE_STATEMENT_MAX 160

enum erase_scope {
	ERASE_SCOPE_DATASET = 1,
	ERASE_SCOPE_SNAPSHOTS = 2,
	/* A decommissioned block device: dataset is its path, dataset_id its identity. */
	ERASE_SCOPE_DEVICE = 3,
};

/* A request's fields; strings are NUL-terminated and owned by the struct. */
struct erase_request {
	uint32_t suite;
	uint8_t id[ERASE_ID_LEN];
	int64_t created, expires;
	uint32_t requester_uid;
	char *requester;
	char *dataset, *dataset_id;
	uint32_t level;
	char *level_name;
	enum erase_scope scope;
	char **snapshots;            /* sorted, distinct */
	size_t n_snapshots;
	char *repository, *keyset_id;
	char **sites;                /* this site first */
	size_t n_sites;
	char *reason, *legal_basis;
	uint32_t approvals_needed;
	uint8_t supervisor_needed;
};

void erase_request_free(struct erase_request *r); /* the fields; accepts a zeroed struct */

/* Appends the canonical encoding of r to out; -EINVAL (logged, naming the field) if r breaks a rule. */
int erase_request_encode(const struct erase_request *r, struct buf *out);
/* Strict inverse of erase_request_encode; on success free *r with erase_request_free. */
int erase_request_parse(const uint8_t *p, size_t len, struct erase_request *r);

/* Hash (the request's suite) of the encoding. */
int erase_request_digest(uint32_t suite, const uint8_t *enc, size_t len, uint8_t out[32]);
/* The statement approvers sign for request id with digest (docs/format/erase.md). */
int erase_statement(const uint8_t id[ERASE_ID_LEN], const uint8_t digest[32], struct buf *out);

/* The ID as 32 hex digits and back (-EINVAL unless exactly that). */
void erase_id_hex(const uint8_t id[ERASE_ID_LEN], char out[2 * ERASE_ID_LEN + 1]);
int erase_id_parse(const char *s, uint8_t id[ERASE_ID_LEN]);

#endif
