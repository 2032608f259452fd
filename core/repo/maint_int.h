/*
 * Private to the maintenance commands (check.c, prune.c, stats.c,
 * forget.c): loading the index with every pack's full entry list, listing
 * the packs in the store, and walking the trees of a snapshot with the
 * path of every node, for messages that name what is affected.
 */
#ifndef COFFER_REPO_MAINT_INT_H
#define COFFER_REPO_MAINT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/idset.h"
#include "repo/repo.h"

/* One pack as the index files list it (the in-memory index keeps only the
 * first copy of a duplicated blob; maintenance needs every entry). */
struct maint_pack {
	const struct index_pack *ip; /* borrowed from maint_index.files */
	size_t file;                 /* which index file lists it */
};

/* Every index file in the store, loaded. */
struct maint_index {
	size_t n_files;
	char (*names)[65];
	uint8_t (*ids)[32];
	struct index_file *files;
	bool *ok;             /* loaded and authentic */
	bool *superseded;     /* named by another loaded file: not used */
	size_t n_bad;         /* files that failed to load (reported) */
	size_t n_superseded;
	struct maint_pack *packs; /* packs of the files in use, each once */
	size_t n_packs;
	struct idset *pack_ids;   /* pack ID -> position in packs */
};

/*
 * Lists and loads every index file, reports damaged ones on stderr (by
 * name) and rebuilds the repository's in-memory index from the files not
 * superseded, exactly as repo_load_index would, so that what is checked is
 * what is used. Refuses (-EINVAL) while this session has blobs not yet
 * flushed. Damaged files are counted in mi->n_bad, not returned as errors.
 */
int maint_index_load(struct repo *r, struct maint_index *mi);
void maint_index_fini(struct maint_index *mi);

/* Packs present in the store: ID -> size. */
struct maint_store_packs {
	struct idset *sizes;
	uint64_t count, bytes;
};

int maint_store_packs_list(struct repo *r, struct maint_store_packs *sp);
void maint_store_packs_fini(struct maint_store_packs *sp);

/*
 * A depth-first walk of the trees below one root, iterative so that deep
 * directory chains cannot overflow the stack. Paths are absolute ("/" for
 * the root tree) with control characters escaped, fit for messages only.
 * Every hook may be NULL; a negative return from a hook stops the walk and
 * is returned by maint_walk(). Each tree that enter lets in is followed by
 * exactly one call of fail or of leave (callers keep per-tree state on a
 * stack). Without a fail hook a tree that cannot be loaded stops the walk.
 */
struct maint_walk_ops {
	/* Before loading tree id: 0 to load and descend, 1 to skip it. */
	int (*enter)(void *arg, const uint8_t id[32], const char *path);
	/* Tree id could not be loaded (err): 0 to go on without it. */
	int (*fail)(void *arg, const uint8_t id[32], const char *path, int err);
	/* Each node of a loaded tree, before descending into it. */
	int (*node)(void *arg, const struct node *n, const char *path);
	/* After every node below tree id was visited. */
	int (*leave)(void *arg, const uint8_t id[32], const char *path);
};

int maint_walk(struct repo *r, const uint8_t root[32], const struct maint_walk_ops *ops,
	       void *arg);

/*
 * Adds to used the base of every delta blob in used, reading each delta's
 * header (a small blob): a base is used as long as one used delta needs
 * it. If bases is not NULL it receives the bases too. A delta whose header
 * cannot be read is reported and makes this return -EBADMSG after the
 * others are done (what it needs is unknown).
 */
int maint_add_delta_bases(struct repo *r, struct idset *used, struct idset *bases);

/* The first 8 hex digits of an ID, for messages ("1a2b3c4d"). */
void maint_short_id(const uint8_t id[32], char out[9]);

#endif
