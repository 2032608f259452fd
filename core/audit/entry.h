/*
 * Audit trail entries (docs/format/audit.md, "Entries"): their encoding
 * and a strict parser. Records say what happened; seals close epochs;
 * an anchor heads a pruned trail. The parser is the trail's only reader
 * of untrusted bytes and has a fuzz harness.
 */
#ifndef COFFER_AUDIT_ENTRY_H
#define COFFER_AUDIT_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "audit/merkle.h"
#include "util/buf.h"

#define AUDIT_ENTRY_MAX 65536   /* bytes after the length field */
#define AUDIT_HEAD_LEN 53       /* length field, kind, seq, time, prev */
/* Field limits in bytes (docs/format/audit.md, "Entries"). */
#define AUDIT_ACTOR_MAX 64
#define AUDIT_ROLE_MAX 128
#define AUDIT_OP_MAX 64
#define AUDIT_TARGET_MAX 256
#define AUDIT_OUTCOME_MAX 512
#define AUDIT_ORIGIN_MAX 32
#define AUDIT_SIG_MAX 256
#define AUDIT_REASON_MAX 256

enum audit_kind { AUDIT_RECORD = 1, AUDIT_SEAL = 2, AUDIT_ANCHOR = 3 };

/* What a record says (borrowed strings). */
struct audit_record {
	uint32_t uid;
	const char *actor;        /* ≤ 64 bytes */
	const char *role;         /* ≤ 128 */
	const char *op;           /* ≤ 64 */
	const char *target;       /* ≤ 256 */
	uint8_t params[32];       /* Hash of the request without its secrets, or zeros */
	const char *outcome;      /* ≤ 512 */
	const char *origin;       /* ≤ 32 */
};

/* A parsed entry; strings and hashes point into the parsed bytes (borrowed). */
struct audit_entry {
	enum audit_kind kind;
	uint64_t seq;
	int64_t time_ns;
	const uint8_t *prev;      /* 32 bytes */
	const uint8_t *bytes;     /* the entry bytes: kind to end */
	size_t len;               /* their length */
	/* Record. */
	uint32_t uid;
	const uint8_t *actor, *role, *op, *target, *outcome, *origin;
	size_t actor_len, role_len, op_len, target_len, outcome_len, origin_len;
	const uint8_t *params;    /* 32 bytes */
	/* Seal. */
	uint64_t epoch, tree_size;
	const uint8_t *root, *mac; /* 32 bytes each */
	const uint8_t *sig;
	size_t sig_len;
	/* Anchor. */
	uint8_t n_frontier;
	const uint8_t *frontier;  /* n_frontier × 32 */
	const uint8_t *reason;
	size_t reason_len;
};

/* Appends a whole record entry (length field first) to out. -EINVAL: a field over its limit. */
int audit_encode_record(struct buf *out, uint64_t seq, int64_t time_ns,
			const uint8_t prev[32], const struct audit_record *r);
/* Appends a seal entry. */
int audit_encode_seal(struct buf *out, uint64_t seq, int64_t time_ns, const uint8_t prev[32],
		      uint64_t epoch, uint64_t tree_size, const uint8_t root[32],
		      const uint8_t mac[32], const void *sig, size_t sig_len);
/* Appends an anchor. */
int audit_encode_anchor(struct buf *out, uint64_t seq, int64_t time_ns, const uint8_t prev[32],
			uint64_t epoch, const struct merkle_frontier *f, const char *reason);

/*
 * Parses the entry at the start of p (n bytes available): 0 with *used
 * (length field included) and *e; -EAGAIN if n is too short for the
 * entry its length field announces (a torn tail); -EBADMSG if malformed
 * (unknown kind, a field over its limit, bytes left over inside the
 * entry, a NUL in a string).
 */
int audit_entry_parse(const uint8_t *p, size_t n, size_t *used, struct audit_entry *e);

/*
 * The message a seal's MAC and signature cover (SealMsg): written into
 * out (cap >= AUDIT_SEALMSG_LEN), length returned.
 */
#define AUDIT_SEALMSG_LEN (20 + 4 + 8 + 8 + 32 + 32)
size_t audit_seal_message(uint32_t suite, uint64_t epoch, uint64_t tree_size,
			  const uint8_t root[32], const uint8_t prev[32], uint8_t *out);

#endif
