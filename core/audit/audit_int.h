/* What the audit writer, verifier and prover share beyond entry.h. */
#ifndef COFFER_AUDIT_AUDIT_INT_H
#define COFFER_AUDIT_AUDIT_INT_H

#include <stddef.h>
#include <stdint.h>

struct rbuf;
struct suite;

#define AUDIT_VERSION 1
#define AUDIT_EXPORT_MAGIC "COFFERAX"
#define AUDIT_CP_MAGIC "COFFERCP"
#define AUDIT_PROOF_MAGIC "COFFERAP"

/*
 * The magic and version that open the format's files (export, checkpoint,
 * proof): 0 with r initialised over p and left after them; -EBADMSG
 * another magic or too short, -ENOTSUP another version.
 */
int audit_file_header(struct rbuf *r, const uint8_t *p, size_t len, const char *magic);

/* K(e + 1) = MAC_K(e)("coffer audit evolve v1" || u64 e), computed in place. */
int audit_evolve_key(const struct suite *s, uint8_t key[32], uint64_t epoch);

#endif
