/*
 * The certificate of sanitization (docs/format/certificate.md): built by
 * coffer-erased when a destruction is done, signed with the appliance
 * key, and verified offline with nothing but the file and that key's
 * public half, approvals and quorum included.
 *
 * Errors: 0 or a negative errno; -EBADMSG a malformed certificate,
 * -EPERM one that does not verify (why says what).
 */
#ifndef COFFER_APPROVAL_CERTIFICATE_H
#define COFFER_APPROVAL_CERTIFICATE_H

#include <stddef.h>
#include <stdint.h>

#include "approval/quorum.h"
#include "approval/request.h"
#include "approval/store.h"
#include "util/buf.h"

#define CERT_LINE_MAX 16384
#define CERT_FIRST_LINE "coffer certificate of sanitization v1"

struct pkey;

/* What a certificate is made of; the approvals are the ones that counted. */
struct cert_input {
	const struct erase_request *r;
	const uint8_t *enc;
	size_t enc_len;
	const struct approver *approvers;  /* approvers[i] gave approvals[i] */
	const struct approval *approvals;
	size_t n_approvals;
	const struct erase_execution *x;
	const char *scope;                  /* "whole dataset", "device" */
	const char *media;                  /* "files of repository PATH on ext4" */
	const char *keys_destroyed;         /* "KEYSETID TIME", or "none" for a device */
	const char *method_type;            /* "Clear (...)" or "Purge (...)" */
	const char *method;                 /* "random: random" */
	const char *verification;           /* how it was verified, and the result */
	const char *appliance;              /* the signing key's fingerprint, hex */
	int64_t issued;
};

/* Appends the certificate without its signature line (what is signed). */
int cert_build(const struct cert_input *in, struct buf *out);
/* Appends "signature HEX\n". */
int cert_append_signature(struct buf *cert, const uint8_t *sig, size_t len);

/* What verification found, for the report. */
struct cert_summary {
	char id[2 * ERASE_ID_LEN + 1];
	char dataset[ERASE_NAME_MAX + 1];
	char finished[32];
	unsigned approvers, supervisors, needed;
};

/*
 * The format (docs/format/certificate.md, "Format") only: -EBADMSG with
 * the first broken rule in why. The parser every check starts with.
 */
int cert_check_format(const uint8_t *p, size_t len, char *why, size_t size);
/* The certificate's fields as one JSON object (arrays for site, approver, approval). */
int cert_to_json(const uint8_t *p, size_t len, struct buf *out);
/*
 * A PDF rendering of the certificate for printing and filing: every field,
 * long hex values shortened. Not signed: the text form is what verifies.
 */
int cert_to_pdf(const uint8_t *p, size_t len, struct buf *out);
/* The whole verification ("Verification" 1-4) against the appliance key pub. */
int cert_verify(const uint8_t *p, size_t len, const struct pkey *pub, struct cert_summary *out,
		char *why, size_t size);

#endif
