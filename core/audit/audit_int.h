/* What the audit writer and verifier share beyond entry.h. */
#ifndef COFFER_AUDIT_AUDIT_INT_H
#define COFFER_AUDIT_AUDIT_INT_H

#include <stdint.h>

struct suite;

#define AUDIT_VERSION 1
#define AUDIT_EXPORT_MAGIC "COFFERAX"
#define AUDIT_CP_MAGIC "COFFERCP"

/* K(e + 1) = MAC_K(e)("coffer audit evolve v1" || u64 e), computed in place. */
int audit_evolve_key(const struct suite *s, uint8_t key[32], uint64_t epoch);

#endif
