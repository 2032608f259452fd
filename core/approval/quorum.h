/*
 * Approvers, their signatures over a request's statement, and the count
 * that decides whether a destruction may run (docs/format/erase.md,
 * "Approving", "Quorum and execution"). Pure functions: the caller brings
 * the registry, the stored request and the stored signatures, and every
 * count is made afresh from them, so nothing stored is taken on trust.
 */
#ifndef COFFER_APPROVAL_QUORUM_H
#define COFFER_APPROVAL_QUORUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "approval/request.h"

#define APPROVER_NAME_MAX 32
#define APPROVER_USER_MAX 64
#define APPROVAL_WHY_MAX 256

enum approver_role {
	APPROVER_ROLE_APPROVER = 1,
	APPROVER_ROLE_SUPERVISOR = 2,
};
const char *approver_role_name(enum approver_role r);     /* "approver", "supervisor" */
int approver_role_parse(const char *s, enum approver_role *out); /* -EINVAL */
/* 1-32 of a-z 0-9 - _ . : names of approvers. */
bool approver_name_valid(const char *s);

struct approver {
	char name[APPROVER_NAME_MAX + 1];
	enum approver_role role;
	char user[APPROVER_USER_MAX + 1];  /* the approver's login */
	uint32_t suite;                     /* of the key */
	char *pem;                          /* the public key, owned */
	uint8_t fingerprint[32];
	int64_t added, revoked;             /* revoked 0: valid */
	char added_by[APPROVER_USER_MAX + 1], revoked_by[APPROVER_USER_MAX + 1];
};
void approver_fini(struct approver *a);

/*
 * Reads a public key PEM for an approver: Ed25519 (international) or SM2
 * (national); fills suite and fingerprint. -EINVAL (said in why) for
 * anything else: an X25519 key, RSA, a private key, garbage.
 */
int approver_key_read(const void *pem, size_t len, struct approver *a, char *why, size_t size);

/* A stored signature. */
struct approval {
	char approver[APPROVER_NAME_MAX + 1];
	const uint8_t *sig;
	size_t sig_len;
	int64_t time;
	uint32_t by_uid;
};

/*
 * Whether approver a's signature over request r (whose canonical encoding
 * is enc) would be accepted or counted now: the rules 2-6 of "Approving"
 * (the request's state and duplicates are the caller's). 0, or -EPERM
 * with the reason in why.
 */
int approval_check(const struct erase_request *r, const uint8_t *enc, size_t enc_len,
		   const struct approver *a, const uint8_t *sig, size_t sig_len, int64_t now,
		   char *why, size_t size);

/* The count for one request. */
struct quorum {
	unsigned approvers, supervisors;     /* valid signatures, distinct approvers */
	unsigned approvers_needed;
	bool expired;
	bool met;                             /* everything needed, before expiry */
	char missing[512];                    /* what is still missing, or "" */
};

/*
 * Counts the signatures aps (n) of request r: each verdict is written to
 * why[i] ("" when it counts), using the registry reg (n_reg approvers,
 * revoked ones included). A signature by a name not in the registry, or a
 * second one by the same approver, does not count.
 */
int quorum_count(const struct erase_request *r, const uint8_t *enc, size_t enc_len,
		 const struct approver *reg, size_t n_reg, const struct approval *aps, size_t n,
		 int64_t now, struct quorum *q, char (*why)[APPROVAL_WHY_MAX]);

#endif
