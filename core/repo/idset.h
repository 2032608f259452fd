/*
 * A set of 32-byte IDs (blob, pack, snapshot IDs), optionally with a small
 * value per ID. IDs are MAC or hash outputs, uniformly random, so their
 * first bytes serve as the hash. Used for blobs pending in open packs, and
 * for the reachable-blob sets of check and prune.
 */
#ifndef COFFER_REPO_IDSET_H
#define COFFER_REPO_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct idset;

struct idset *idset_new(void);
void idset_free(struct idset *s); /* accepts NULL */
void idset_clear(struct idset *s);
/* Adds id with value v (or updates v). *added (may be NULL) tells if new. */
int idset_add(struct idset *s, const uint8_t id[32], uint64_t v, bool *added);
bool idset_has(const struct idset *s, const uint8_t id[32]);
/* Removes id if present; returns whether it was. */
bool idset_remove(struct idset *s, const uint8_t id[32]);
/* Returns true and sets *v if present. */
bool idset_get(const struct idset *s, const uint8_t id[32], uint64_t *v);
size_t idset_count(const struct idset *s);
/* Visits every member; a non-zero return from cb stops and is returned. */
int idset_foreach(const struct idset *s,
		  int (*cb)(const uint8_t id[32], uint64_t v, void *arg), void *arg);

#endif
