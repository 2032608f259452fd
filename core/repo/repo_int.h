/*
 * Private state of a repository, shared by repo.c (config, keys),
 * repo_lock.c, repo_blob.c (packs, index) and repo_snapshot.c.
 */
#ifndef COFFER_REPO_REPO_INT_H
#define COFFER_REPO_REPO_INT_H

#include <pthread.h>
#include <sys/types.h>

#include "repo/idset.h"
#include "repo/pack.h"
#include "crypto/keyset.h"
#include "repo/repo.h"

/*
 * Subkeys derived from the key set's master with the suite's KDF. The data
 * key is the key set's newest content generation, which new packs use.
 */
struct repo_keys {
	uint8_t data[CRYPTO_KEY_LEN];   /* blobs of new packs */
	uint8_t meta[CRYPTO_KEY_LEN];   /* pack headers, index, snapshots, locks */
	uint8_t id[CRYPTO_KEY_LEN];     /* blob IDs */
	uint8_t gear[CRYPTO_KEY_LEN];   /* chunker gear table */
	uint8_t config[CRYPTO_KEY_LEN]; /* config MAC */
};

struct repo_config {
	uint32_t version;
	uint32_t suite;
	uint8_t repo_id[32];
	uint32_t chunk_min, chunk_avg, chunk_max;
};

/* A blob accepted by repo_blob_save, waiting for a sealing worker. */
struct seal_job {
	struct seal_job *next;
	enum blob_type type;
	uint8_t id[BLOB_ID_LEN];
	bool has_base;                  /* try a delta against base_id */
	uint8_t base_id[BLOB_ID_LEN];
	/* repo_blob_save_async: the worker computes id, writes it here and
	 * counts it off tk; NULL for blobs whose ID the caller computed. */
	uint8_t *id_out;
	struct repo_ticket *tk;
	size_t len;
	uint8_t data[];
};

/* An open pack being filled with blobs of one type. */
struct repo_packer {
	struct pack_writer *w;
};

struct repo {
	struct store *store;
	const struct suite *suite;
	struct repo_config cfg;
	struct repo_keys *keys;     /* secmem */
	struct keyset *ks;          /* secmem: master and content generations */
	uint32_t write_gen;         /* content generation of new packs */
	struct chunker_params chunker;

	pthread_mutex_t mu;         /* guards everything below */
	struct index *index;
	size_t n_index_files;
	uint8_t (*index_files)[32];
	struct repo_packer packers[2]; /* [0] data blobs, [1] tree blobs */
	/* A data pack writer whose pack is stored, kept with its memory for
	 * the next data pack (see repo_pack_add). */
	struct pack_writer *spare;
	/*
	 * IDs accepted in this session and not yet in the index: queued for
	 * sealing, being sealed, or in an open pack. Deduplication checks it
	 * with the index, so a blob is stored once however many threads save
	 * it.
	 */
	struct idset *pending;
	struct index_pack *unindexed;  /* packs written, not yet in an index file */
	size_t n_unindexed;
	struct repo_write_stats wstats;
	uint64_t deltas_added;          /* new blobs stored as deltas */
	size_t pack_size;
	int zstd_level;
	struct buf sealbuf;             /* sealing without workers */

	/* Sealing workers (repo_set_threads): compress + encrypt off the
	 * caller's thread; guarded by mu. */
	pthread_t *workers;
	size_t n_workers;
	struct seal_job *queue_head, *queue_tail;
	size_t queue_bytes;             /* plaintext bytes queued */
	size_t busy;                    /* jobs taken by a worker, not yet packed */
	bool stopping;
	pthread_cond_t work_cv;         /* a job was queued, or stopping */
	pthread_cond_t space_cv;        /* queue_bytes went down */
	pthread_cond_t idle_cv;         /* queue empty and no worker busy */
	pthread_cond_t ticket_cv;       /* some repo_ticket reached zero */
	/*
	 * First failure to write a pack or index: blobs of that pack are lost,
	 * so every later save and flush of this session fails with it rather
	 * than produce a snapshot that references them.
	 */
	int write_error;

	char lock_name[65];         /* our lock object, "" if none */
	dev_t root_dev;             /* the repository directory, so a backup */
	ino_t root_ino;             /* never stores the repository into itself */
};

int repo_hex_name(const uint8_t id[32], char name[65]);
/* Stops and joins the sealing workers (after draining the queue). */
void repo_workers_stop(struct repo *r);

/*
 * Seals plaintext as an object of kind k (index, snapshot) and stores it
 * under the SHA-256 of the sealed bytes, returned in id.
 */
int repo_meta_save(struct repo *r, enum store_kind k, const void *pt, size_t len,
		   uint8_t id[32]);
/* Reads object `name` of kind k, checks it matches its name, opens it into pt. */
int repo_meta_load(struct repo *r, enum store_kind k, const char *name, struct buf *pt);
/*
 * Finishes the pack in w (sealed header under the meta key) and stores it
 * durably; fills ip (its entries are the caller's) and *file_len. Touches
 * no shared state of r: may run without r->mu.
 */
int repo_pack_seal_store(struct repo *r, struct pack_writer *w, uint32_t key_gen,
			 struct index_pack *ip, size_t *file_len);
/*
 * As repo_pack_seal_store, then appends the pack with its entries to (*list, *n_list), which a
 * later index file will list; *file_len is its size. The writer is reset.
 */
int repo_pack_commit(struct repo *r, struct pack_writer *w, uint32_t key_gen,
		     struct index_pack **list, size_t *n_list, size_t *file_len);


/*
 * Parsers of the small metadata objects, exposed for their fuzz harness
 * (tests/fuzz/fuzz_repo_meta.c). Each returns 0, -EBADMSG or -ENOTSUP.
 */
/* The config, before its MAC is checked (logs why it refuses). */
int repo_config_decode(const uint8_t *p, size_t len, struct repo_config *c);
/* A key file's fixed header and its scrypt bounds (no KDF is run). */
int repo_keyfile_parse(const uint8_t *p, size_t len, uint32_t suite);
/* A lock's plaintext; on success *host is allocated. */
int repo_lock_decode(const uint8_t *p, size_t len, bool *exclusive, uint32_t *pid,
		     char **host);
void repo_packs_fini(struct repo *r);

#endif
