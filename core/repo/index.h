/*
 * The index maps blob IDs to their place in packs.
 *
 * Index files (docs/format/index.md) are immutable: each lists some packs
 * and the blobs in them, and may name earlier index files it supersedes
 * (prune writes one that replaces the old ones, then deletes them). The
 * in-memory index is the union of all index files plus packs written in the
 * current session.
 */
#ifndef COFFER_REPO_INDEX_H
#define COFFER_REPO_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/blob.h"
#include "util/buf.h"

#define INDEX_FORMAT_VERSION 1
#define INDEX_MAX_PACKS (1u << 24)   /* per index file */
#define INDEX_MAX_BLOBS (1u << 24)   /* per pack */

/* One pack as listed in an index file. */
struct index_pack {
	uint8_t pack_id[32];
	uint32_t key_gen;
	size_t n;
	struct blob_entry *blobs;
};

/* A decoded index file. */
struct index_file {
	size_t n_supersedes;
	uint8_t (*supersedes)[32]; /* IDs of index files this one replaces */
	size_t n_packs;
	struct index_pack *packs;
};

void index_file_fini(struct index_file *f);
/* Plaintext codec. decode: -EBADMSG on malformed input, -ENOTSUP on version. */
int index_file_encode(const struct index_file *f, struct buf *out);
int index_file_decode(const uint8_t *p, size_t len, struct index_file *f);

/*
 * In-memory index. Its RAM is bounded (about 11 bytes per blob): the
 * records live in sorted runs in unlinked temporary files in $TMPDIR,
 * /var/tmp or /tmp, mmap'd read-only (index.c). Nothing locks inside:
 * the caller serialises index_add_pack and index_free against every other
 * call (the repository holds its mutex for all of them); calls that only
 * read (lookup, counts, pack IDs, find_pack, foreach) may run at the same
 * time as each other.
 */
struct index;

/* Where a blob lives. */
struct blob_loc {
	uint32_t pack_no;  /* index_pack_id() turns it into the pack ID */
	struct blob_entry e;
};

struct index *index_new(void);
void index_free(struct index *ix); /* accepts NULL */
/*
 * Adds all blobs of a pack. A blob already present keeps its first
 * location (duplicates across packs are harmless), except that a whole
 * (BLOB_DATA) copy replaces a delta copy, so a delta's base always
 * resolves to a whole blob. Returns 0 or -ENOMEM.
 */
int index_add_pack(struct index *ix, const uint8_t pack_id[32], uint32_t key_gen,
		   const struct blob_entry *blobs, size_t n);
/* Returns true and fills *loc if the blob is known. */
bool index_lookup(const struct index *ix, const uint8_t id[32], struct blob_loc *loc);
size_t index_blob_count(const struct index *ix);
size_t index_pack_count(const struct index *ix);
/* Pack ID and key generation of pack_no (0 <= pack_no < index_pack_count). */
const uint8_t *index_pack_id(const struct index *ix, uint32_t pack_no);
uint32_t index_pack_key_gen(const struct index *ix, uint32_t pack_no);
/* Pack number of a pack ID, or -ENOENT. */
int index_find_pack(const struct index *ix, const uint8_t pack_id[32], uint32_t *pack_no);
/*
 * Calls cb for each blob (in no particular order); a non-zero return stops
 * the walk and is returned.
 */
int index_foreach(const struct index *ix,
		  int (*cb)(const struct blob_loc *loc, void *arg), void *arg);

#endif
