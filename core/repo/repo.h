/*
 * A repository: config, keys, packs, index and snapshots in a store, and
 * the rules that keep it valid across crashes (docs/format/repository.md):
 *
 *  - every object is written once, atomically, and never modified;
 *  - packs are written before the index files that list them, and index
 *    files before the snapshots whose trees reference their blobs;
 *  - a blob's pack leaves the index before the pack is deleted.
 *
 * Backups take a shared lock and run concurrently; prune and erase take an
 * exclusive one. All functions return 0 or a negative errno.
 */
#ifndef COFFER_REPO_REPO_H
#define COFFER_REPO_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto/crypto.h"
#include "repo/blob.h"
#include "repo/chunker.h"
#include "repo/index.h"
#include "repo/snapshot.h"
#include "repo/tree.h"
#include "store/store.h"

#define REPO_FORMAT_VERSION 1

struct repo_init_opts {
	uint32_t suite;                 /* enum suite_id */
	uint32_t chunk_min, chunk_avg, chunk_max;
	uint64_t scrypt_n;              /* scrypt cost for the key file */
	uint32_t scrypt_r, scrypt_p;
};

/* Defaults: international suite, 512 KiB / 1 MiB / 8 MiB chunks, scrypt N=2^15 r=8 p=1. */
void repo_init_opts_default(struct repo_init_opts *o);

/*
 * Creates a repository in dir (absent or empty) with a fresh random master
 * key, sealed under the passphrase in a key file.
 */
int repo_init(const char *dir, const char *pass, size_t pass_len,
	      const struct repo_init_opts *o);

struct repo;
struct keyset;

/*
 * Appliance mode: creates a repository with no key file, its keys being
 * ks (a dataset's key set, held by the keystore). ks->suite overrides
 * o->suite.
 */
int repo_init_keyed(const char *dir, const struct keyset *ks,
		    const struct repo_init_opts *o);
/*
 * Opens a repository with a key set instead of a passphrase. -EACCES if
 * the config does not authenticate under ks ("these keys do not belong to
 * this repository"). The repository keeps its own copy of ks.
 */
int repo_open_keyed(const char *dir, const struct keyset *ks, struct repo **out);

/*
 * Checks that dir holds a repository this program can read (magic, format
 * version, suite) without any key: called before asking for a passphrase,
 * so a newer repository is refused first. Returns 0, -ENOENT, -EBADMSG or
 * -ENOTSUP, having said why on stderr.
 */
int repo_probe(const char *dir);

/*
 * Opens a repository. Returns -ENOENT if dir holds no repository,
 * -ENOTSUP if its format version or suite is newer than this program
 * knows, -EACCES if the passphrase opens no key file, -EBADMSG if the
 * config fails authentication. Nothing is written.
 */
int repo_open(const char *dir, const char *pass, size_t pass_len, struct repo **out);
/* Flushes nothing: call repo_flush first if blobs were saved. Accepts NULL. */
void repo_close(struct repo *r);

/*
 * Takes a lock for this process: shared (backups) or exclusive (prune).
 * -EBUSY names the conflict on stderr. Stale locks of dead processes on
 * this host are removed. Released by repo_unlock or repo_close.
 */
int repo_lock(struct repo *r, bool exclusive);
void repo_unlock(struct repo *r);

/*
 * Loads every index file into the in-memory index. Damaged index files are
 * reported and skipped (returns -EBADMSG after loading the rest).
 */
int repo_load_index(struct repo *r);
const struct index *repo_index(const struct repo *r);
/* IDs of the index files loaded (for prune to supersede). */
size_t repo_index_file_count(const struct repo *r);
const uint8_t *repo_index_file_id(const struct repo *r, size_t i);

/* Counters of what this session added. */
struct repo_write_stats {
	uint64_t blobs_added, bytes_added, stored_added, packs_written;
};

/*
 * Stores a blob unless one with the same ID is already known (in the index
 * or written in this session). Sets id; *added tells whether it was new.
 * Data and tree blobs go to separate packs. Safe to call from several
 * threads.
 */
int repo_blob_save(struct repo *r, enum blob_type t, const void *data, size_t len,
		   uint8_t id[BLOB_ID_LEN], bool *added);
/*
 * As repo_blob_save for a data blob, with a hint: base_id (NULL: none) is
 * the chunk this one replaces at the same place in the previous version of
 * its file. A new blob is then stored as a delta blob against that base
 * (or the base's own base, if the base is a delta) when the delta is less
 * than 1/8 of the chunk; otherwise, or if the base is not indexed yet, as
 * a plain data blob. The delta is computed by the sealing workers, not on
 * the caller's thread. Either way the ID is MAC_idkey(data).
 */
/*
 * IDs still being computed by the sealing workers for one caller
 * (repo_blob_save_async). Zero-initialise; fields are the repository's.
 */
struct repo_ticket {
	size_t outstanding;
	int err;
};
/*
 * As repo_blob_save_hint, but the ID is computed by a sealing worker, so
 * the caller's thread only cuts chunks: that spreads hashing, the costliest
 * step for incompressible data, over every core. Returns once data is
 * copied and queued; the worker writes the ID to id_out, which must stay
 * valid and untouched until repo_ticket_wait(tk) returns. Without workers
 * it is repo_blob_save_hint. Deduplication is decided by the worker.
 */
int repo_blob_save_async(struct repo *r, const void *data, size_t len,
			 const uint8_t *base_id, uint8_t id_out[BLOB_ID_LEN],
			 struct repo_ticket *tk);
/*
 * Waits until every ID of tk is written. Returns 0, or the error that
 * stopped one being computed or stored (the session's write error).
 */
int repo_ticket_wait(struct repo *r, struct repo_ticket *tk);
int repo_blob_save_hint(struct repo *r, const void *data, size_t len,
			const uint8_t *base_id, uint8_t id[BLOB_ID_LEN], bool *added);
/* Computes the blob ID without storing anything. */
int repo_blob_id(const struct repo *r, const void *data, size_t len, uint8_t id[BLOB_ID_LEN]);
/* True if the blob is stored or pending in this session. */
bool repo_blob_known(struct repo *r, const uint8_t id[BLOB_ID_LEN]);
/*
 * Writes all pending packs, then one index file listing the packs of this
 * session not yet indexed. After it returns, every saved blob is durable
 * and indexed.
 */
int repo_flush(struct repo *r);
void repo_write_stats(const struct repo *r, struct repo_write_stats *st);
/* How many of the blobs this session added are deltas (for tests). */
uint64_t repo_deltas_added(const struct repo *r);

/*
 * Loads a blob by ID, verifying it (MAC, and that its type is t), into out
 * (replacing its contents). -ENOENT if unknown, -EBADMSG if damaged, -EIO
 * if its pack cannot be read. A data blob stored as a delta is
 * reconstructed from its base (one more blob read) and verified likewise.
 */
int repo_blob_load(struct repo *r, const uint8_t id[BLOB_ID_LEN], enum blob_type t,
		   struct buf *out);

/*
 * Given the opened plaintext of the delta blob id, loads its base (which
 * must be indexed as a plain BLOB_DATA blob: chains are one level deep),
 * applies the delta and checks the result's MAC against id, into out.
 * -EBADMSG if the header, the base or the result is wrong, -ENOTSUP for
 * an unknown delta version.
 */
int repo_delta_resolve(struct repo *r, const uint8_t id[BLOB_ID_LEN], const uint8_t *pt,
		       size_t len, struct buf *out);
/*
 * Reads the header of the delta blob id (a small read): its base ID and
 * the length it reconstructs. -ENOENT if id is not indexed as a delta.
 */
int repo_delta_header(struct repo *r, const uint8_t id[BLOB_ID_LEN],
		      uint8_t base_id[BLOB_ID_LEN], uint32_t *length);

int repo_tree_save(struct repo *r, const struct tree *t, uint8_t id[BLOB_ID_LEN]);
int repo_tree_load(struct repo *r, const uint8_t id[BLOB_ID_LEN], struct tree *t);

/* Snapshots. An ID is the SHA-256 of the snapshot file. */
int repo_snapshot_save(struct repo *r, const struct snapshot *s, uint8_t id[32]);
int repo_snapshot_load(struct repo *r, const uint8_t id[32], struct snapshot *s);

struct snapshot_entry {
	uint8_t id[32];
	struct snapshot snap;
};
/*
 * Lists all readable snapshots, oldest first. Damaged snapshot files are
 * reported on stderr and counted in *n_bad (may be NULL).
 */
int repo_snapshot_list(struct repo *r, struct snapshot_entry **out, size_t *n,
		       size_t *n_bad);
void snapshot_entries_free(struct snapshot_entry *e, size_t n);
/*
 * Resolves "latest", a full hex ID or a unique hex prefix to a snapshot ID.
 * -ENOENT if none matches, -ENOTUNIQ if a prefix is ambiguous.
 */
int repo_snapshot_resolve(struct repo *r, const char *spec, uint8_t id[32]);
int repo_snapshot_remove(struct repo *r, const uint8_t id[32]);

/*
 * Sealed metadata files (index, snapshot): the whole plaintext sealed
 * under the meta key with a label per kind as associated data, so a file
 * of one kind cannot pass for another.
 */
int repo_meta_seal(const struct repo *r, enum store_kind k, const void *pt,
		   size_t len, struct buf *out);
int repo_meta_open(const struct repo *r, enum store_kind k, const uint8_t *in,
		   size_t len, struct buf *out);

/* Reads and decodes one index file by name (check and prune use it). */
int repo_index_file_load(struct repo *r, const char *name, struct index_file *f);
/* Writes an index file; its name is the SHA-256 of the sealed bytes. */
int repo_index_file_save(struct repo *r, const struct index_file *f, uint8_t id[32]);

/* Accessors. */
struct store *repo_store(const struct repo *r);
/* True if dev/ino is the repository's own directory. */
bool repo_is_root(const struct repo *r, dev_t dev, ino_t ino);
const struct suite *repo_suite(const struct repo *r);
const struct chunker_params *repo_chunker(const struct repo *r);
const uint8_t *repo_id(const struct repo *r);
/*
 * The data key of content generation gen (packs record theirs), or NULL,
 * after saying which pack needs it if pack_id is given, when the key set
 * lacks it.
 */
const uint8_t *repo_data_key_gen(const struct repo *r, uint32_t gen, const uint8_t *pack_id);
const uint8_t *repo_meta_key(const struct repo *r);
const uint8_t *repo_id_key(const struct repo *r);

/* Target size of a pack before it is written (default 16 MiB). */
void repo_set_pack_size(struct repo *r, size_t bytes);
/*
 * Compresses and encrypts new blobs on n worker threads (0: on the
 * caller's thread, the default). repo_blob_save then returns once the blob
 * is accepted; errors surface at a later save or at repo_flush, which
 * waits for every accepted blob. Call once, before saving.
 */
int repo_set_threads(struct repo *r, size_t n);
/* The sealing workers started by repo_set_threads (0: none). */
size_t repo_thread_count(const struct repo *r);
/* zstd level for new blobs (default 3; 0 disables compression). */
void repo_set_zstd_level(struct repo *r, int level);

#endif
