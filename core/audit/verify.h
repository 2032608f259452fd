/*
 * The auditor's verifier (docs/format/audit.md, "Verification"): a pure
 * function of an exported trail, the initial key K(0) and any saved
 * checkpoints, with no dependency on the appliance or its daemons. It
 * reports the first problem by sequence number.
 */
#ifndef COFFER_AUDIT_VERIFY_H
#define COFFER_AUDIT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct pkey;

/* A parsed export (borrowed from the bytes it was parsed from). */
struct audit_export_view {
	uint32_t suite;
	const uint8_t *pem;          /* the signing public key */
	size_t pem_len;
	uint32_t epoch_records, epoch_seconds, retention_days;
	const uint8_t *trail;
	size_t trail_len;
};
/* -EBADMSG (damaged, truncated), -ENOTSUP (newer version). */
int audit_export_parse(const uint8_t *p, size_t len, struct audit_export_view *out);
/*
 * Appends an export's header for v (v->trail unused) announcing
 * v->trail_len trail bytes, which the caller appends next: the one
 * writer of the format, for the appliance and for a console assembling
 * an export from a daemon's pieces.
 */
int audit_export_header(struct buf *out, const struct audit_export_view *v);

/* A parsed checkpoint (the signature is checked by audit_verify). */
struct audit_cp {
	uint32_t suite;
	uint64_t size;
	uint8_t root[32];
	int64_t time;
	const uint8_t *signed_part, *sig; /* borrowed */
	size_t signed_len, sig_len;
};
int audit_checkpoint_parse(const uint8_t *p, size_t len, struct audit_cp *out);

struct audit_verify_opts {
	uint32_t suite;
	const uint8_t *initial_key;   /* K(0), 32 bytes; NULL: MACs not checked */
	const struct pkey *pub;       /* the audit signing key; NULL: signatures not checked */
	const struct audit_cp *cps;   /* checkpoints to check the trail against */
	size_t n_cps;
};

struct audit_verify_result {
	uint64_t entries, records, seals;
	uint64_t first_seq;           /* 0, or the anchor's */
	uint64_t sealed_up_to;        /* entries covered by the last valid seal */
	uint64_t unsealed;            /* records after the last seal */
	uint64_t cps_checked;
	uint8_t root[32];             /* the tree head of the whole trail */
	/* The first problem, when audit_verify returns -EBADMSG. */
	uint64_t bad_seq;
	uint64_t bad_offset;
	char why[512];
};

/*
 * Verifies the trail bytes. 0: every check passed (unsealed records are
 * reported, not an error); -EBADMSG with res->why naming the first
 * problem; -ENOMEM.
 */
int audit_verify(const uint8_t *trail, size_t len, const struct audit_verify_opts *o,
		 struct audit_verify_result *res);

#endif
