/*
 * Blobs, packs and the index: saving with deduplication, writing packs and
 * then the index files that list them (in that order, so an index never
 * names a pack that is not durable), and loading verified blobs.
 */
#include "repo/repo_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/delta.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/thread.h"

/*
 * An idle sealing worker is woken once this much plaintext is queued, not
 * for every blob: a source tree's small files otherwise cost a wake-up and
 * a context switch each. Whoever waits for the workers (for queue space, a
 * ticket or a flush) wakes them first (repo_kick), so nothing queued below
 * the threshold is ever left waiting.
 */
#define REPO_WAKE_BYTES (256u << 10)
/* Write an index file after this many packs, so a crash loses little. */
#define REPO_PACKS_PER_INDEX 64
/*
 * Plaintext queued for sealing workers at most (bounds memory). 4 MiB
 * keeps the workers fed (each also holds the blob it seals): against
 * 8 MiB, the 8 GiB large-file backup peaked 6-8 MiB lower at the same
 * speed, and the tree backup took the same time.
 */
#define REPO_QUEUE_MAX (4u << 20)

static void index_packs_free(struct index_pack *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].blobs);
	free(p);
}

void repo_packs_fini(struct repo *r)
{
	for (int i = 0; i < 2; i++) {
		pack_writer_free(r->packers[i].w);
		r->packers[i].w = NULL;
	}
	pack_writer_free(r->spare);
	r->spare = NULL;
	idset_free(r->pending);
	r->pending = NULL;
	index_packs_free(r->unindexed, r->n_unindexed);
	r->unindexed = NULL;
	r->n_unindexed = 0;
}

int repo_index_file_save(struct repo *r, const struct index_file *f, uint8_t id[32])
{
	struct buf pt = { 0 };
	int e = index_file_encode(f, &pt);
	if (e == 0)
		e = repo_meta_save(r, STORE_INDEX, pt.data, pt.len, id);
	buf_fini(&pt);
	return e;
}

/* Writes one index file for the packs not yet indexed. Caller holds mu. */
static int repo_write_unindexed(struct repo *r)
{
	if (r->n_unindexed == 0)
		return 0;
	struct index_file f = { .n_packs = r->n_unindexed, .packs = r->unindexed };
	uint8_t id[32];
	int e = repo_index_file_save(r, &f, id);
	if (e != 0) {
		log_errorx("cannot write index: %s", coffer_strerror(e));
		return e;
	}
	index_packs_free(r->unindexed, r->n_unindexed);
	r->unindexed = NULL;
	r->n_unindexed = 0;
	return 0;
}

/*
 * Records a pack that is stored: in the list the next index file names, in
 * the in-memory index, out of the pending set, in the counters. Takes ip's
 * entries. Holds mu.
 */
static int repo_pack_record(struct repo *r, struct index_pack *ip, size_t file_len)
{
	struct index_pack *nl = realloc(r->unindexed, (r->n_unindexed + 1) * sizeof *nl);
	if (nl == NULL) {
		free(ip->blobs);
		return -ENOMEM;
	}
	r->unindexed = nl;
	nl[r->n_unindexed++] = *ip;
	int e = index_add_pack(r->index, ip->pack_id, ip->key_gen, ip->blobs, ip->n);
	/* Indexed now: no longer pending (other packs' blobs still are). */
	for (size_t i = 0; e == 0 && i < ip->n; i++)
		(void)idset_remove(r->pending, ip->blobs[i].id);
	if (e == 0) {
		r->wstats.packs_written++;
		r->wstats.stored_added += file_len;
		if (r->n_unindexed >= REPO_PACKS_PER_INDEX)
			e = repo_write_unindexed(r);
	}
	return e;
}

/* Finishes the open pack of packer p, stores it and indexes it. Holds mu. */
static int repo_write_pack(struct repo *r, struct repo_packer *p)
{
	if (pack_writer_count(p->w) == 0)
		return 0;
	struct index_pack ip = { 0 };
	size_t file_len;
	int e = repo_pack_seal_store(r, p->w, r->write_gen, &ip, &file_len);
	if (e == 0)
		e = repo_pack_record(r, &ip, file_len);
	if (e != 0 && r->write_error == 0)
		r->write_error = e;
	return e;
}

int repo_blob_id(const struct repo *r, const void *data, size_t len, uint8_t id[BLOB_ID_LEN])
{
	return blob_id(r->suite, r->keys->id, data, len, id);
}

/* Known in the index or pending in this session. Caller holds mu. */
static bool repo_blob_known_locked(struct repo *r, const uint8_t id[BLOB_ID_LEN])
{
	struct blob_loc loc;
	return index_lookup(r->index, id, &loc) || idset_has(r->pending, id);
}

/*
 * Deduplication's decision: unless id is already known, marks it pending
 * for this session and counts it as added (*is_new). Caller holds mu.
 */
static int repo_blob_claim(struct repo *r, const uint8_t id[BLOB_ID_LEN], size_t len,
			   bool *is_new)
{
	*is_new = false;
	if (repo_blob_known_locked(r, id))
		return 0;
	int e = idset_add(r->pending, id, 0, NULL);
	if (e == 0) {
		*is_new = true;
		r->wstats.blobs_added++;
		r->wstats.bytes_added += len;
	}
	return e;
}

bool repo_blob_known(struct repo *r, const uint8_t id[BLOB_ID_LEN])
{
	pthread_mutex_lock(&r->mu);
	bool known = repo_blob_known_locked(r, id);
	pthread_mutex_unlock(&r->mu);
	return known;
}

/* Records the first write failure; later saves and flushes return it. */
static void repo_fail(struct repo *r, int e)
{
	if (r->write_error == 0)
		r->write_error = e;
	/* A producer waiting for queue space must see it. */
	pthread_cond_broadcast(&r->space_cv);
}

/* Adds a sealed blob to its type's open pack, writing the pack when full. Holds mu. */
static int repo_pack_add(struct repo *r, struct blob_entry *be, const uint8_t *sealed,
			 size_t len)
{
	struct repo_packer *p = &r->packers[be->type == BLOB_TREE ? 1 : 0];
	int e = 0;
	/* A data pack fills to its target: allocate it once, with room for
	 * the blob that crosses the target and the header. Tree packs are
	 * usually small and grow as needed. */
	if (be->type == BLOB_DATA && pack_writer_count(p->w) == 0)
		e = pack_writer_reserve(p->w, r->pack_size + len + (64u << 10));
	if (e == 0)
		e = pack_writer_add(p->w, be, sealed, len);
	if (e == 0 && pack_writer_size(p->w) >= r->pack_size) {
		/*
		 * A full pack is written without the lock, so other workers go
		 * on sealing meanwhile; its blobs stay pending (known) until it
		 * is recorded. repo_flush waits for it: the caller counts as
		 * busy until this returns.
		 */
		struct pack_writer *full = p->w, *fresh = r->spare;
		r->spare = NULL;
		if (fresh == NULL)
			fresh = pack_writer_new();
		if (fresh == NULL) {
			e = repo_write_pack(r, p);
		} else {
			struct index_pack ip = { 0 };
			size_t file_len;
			p->w = fresh;
			pthread_mutex_unlock(&r->mu);
			e = repo_pack_seal_store(r, full, r->write_gen, &ip, &file_len);
			pthread_mutex_lock(&r->mu);
			if (e == 0)
				e = repo_pack_record(r, &ip, file_len);
			/* At most two data packs' memory exists: the open one and
			 * this one, kept for the next. */
			if (r->spare == NULL) {
				/* Every page goes back (MADV_DONTNEED); the
				 * mapping stays for the next pack to fill. */
				pack_writer_trim(full);
				r->spare = full;
			} else
				pack_writer_free(full);
		}
	}
	if (e != 0)
		repo_fail(r, e);
	return e;
}

/* One accepted blob is packed (or dropped after a failure). Holds mu. */
static void repo_job_done(struct repo *r)
{
	if (--r->busy == 0)
		pthread_cond_broadcast(&r->idle_cv);
}

/* Scratch buffers of one sealing thread. */
struct seal_bufs {
	struct buf sealed, delta, base;
};

static void seal_bufs_fini(struct seal_bufs *b)
{
	buf_fini(&b->sealed);
	buf_fini(&b->delta);
	buf_fini(&b->base);
}

/* Index entry of id and the name of its pack. Takes mu. */
static bool repo_blob_locate(struct repo *r, const uint8_t id[BLOB_ID_LEN],
			     struct blob_loc *loc, char name[65])
{
	pthread_mutex_lock(&r->mu);
	bool found = index_lookup(r->index, id, loc);
	if (found)
		repo_hex_name(index_pack_id(r->index, loc->pack_no), name);
	pthread_mutex_unlock(&r->mu);
	return found;
}

/* Reads and opens the blob at loc (no type rule applied) into out. */
static int repo_blob_read(struct repo *r, const struct blob_loc *loc, const char *name,
			  struct buf *out)
{
	pthread_mutex_lock(&r->mu);
	uint32_t gen = index_pack_key_gen(r->index, loc->pack_no);
	const uint8_t *data_key = repo_data_key_gen(r, gen, index_pack_id(r->index, loc->pack_no));
	pthread_mutex_unlock(&r->mu);
	if (data_key == NULL)
		return -ENOKEY;
	uint8_t *sealed = malloc(loc->e.stored_len ? loc->e.stored_len : 1);
	if (sealed == NULL)
		return -ENOMEM;
	int e = store_get_range(r->store, STORE_PACK, name, loc->e.offset, loc->e.stored_len,
				sealed);
	if (e == 0)
		e = blob_open(r->suite, data_key, r->keys->id, &loc->e, sealed,
			      loc->e.stored_len, out);
	free(sealed);
	return e;
}

/* Loads id, which must be indexed with exactly type t (no delta resolution). */
static int repo_blob_load_exact(struct repo *r, const uint8_t id[BLOB_ID_LEN],
				enum blob_type t, struct buf *out)
{
	struct blob_loc loc;
	char name[65];
	if (!repo_blob_locate(r, id, &loc, name))
		return -ENOENT;
	if (loc.e.type != t)
		return -EBADMSG;
	return repo_blob_read(r, &loc, name, out);
}

/*
 * Tries to encode data (ID id) as a delta against base_id, into b->delta.
 * The base must be indexed (durable): one still pending in this session
 * cannot be read back. A base that is a delta is replaced by its own base,
 * keeping chains one level deep. Returns 0 if b->delta holds a delta worth
 * storing, else nonzero (the chunk is then stored whole).
 */
static int repo_delta_try(struct repo *r, const uint8_t id[BLOB_ID_LEN],
			  const uint8_t base_id[BLOB_ID_LEN], const uint8_t *data, size_t len,
			  struct seal_bufs *b)
{
	uint8_t base[BLOB_ID_LEN];
	struct blob_loc loc;
	char name[65];
	/* Below 8 * DELTA_HEADER_LEN no delta can be small enough. */
	if (len < 8 * (DELTA_HEADER_LEN + 16))
		return -EFBIG;
	memcpy(base, base_id, sizeof base);
	if (!repo_blob_locate(r, base, &loc, name))
		return -ENOENT;
	if (loc.e.type == BLOB_DELTA) {
		struct delta_header h;
		int e = repo_blob_read(r, &loc, name, &b->base);
		if (e == 0)
			e = delta_header_decode(b->base.data, b->base.len, &h);
		if (e != 0)
			return e;
		memcpy(base, h.base_id, sizeof base);
	}
	if (memcmp(base, id, sizeof base) == 0)
		return -EINVAL;
	int e = repo_blob_load_exact(r, base, BLOB_DATA, &b->base);
	if (e == 0)
		e = delta_encode(base, b->base.data, b->base.len, data, len, len / 8, &b->delta);
	return e;
}

/*
 * Seals one accepted blob (as a delta against base_id when that pays) and
 * adds it to a pack. Called without mu, with the blob counted busy; takes
 * mu to pack it and marks the job done.
 */
static void repo_seal_one(struct repo *r, enum blob_type t, const uint8_t id[BLOB_ID_LEN],
			  const uint8_t *base_id, const uint8_t *data, size_t len,
			  struct seal_bufs *b)
{
	struct blob_entry be = { .type = (uint8_t)t };
	const uint8_t *pt = data;
	size_t pt_len = len;
	memcpy(be.id, id, sizeof be.id);
	if (t == BLOB_DATA && base_id != NULL &&
	    repo_delta_try(r, id, base_id, data, len, b) == 0) {
		be.type = BLOB_DELTA;
		pt = b->delta.data;
		pt_len = b->delta.len;
	}
	buf_reset(&b->sealed);
	int e = blob_seal(r->suite, r->keys->data, &be, pt, pt_len, r->zstd_level, &b->sealed);
	pthread_mutex_lock(&r->mu);
	if (e == 0 && r->write_error == 0) {
		if (be.type == BLOB_DELTA)
			r->deltas_added++;
		(void)repo_pack_add(r, &be, b->sealed.data, b->sealed.len);
	} else if (e != 0) {
		repo_fail(r, e);
	}
	repo_job_done(r);
	pthread_mutex_unlock(&r->mu);
}

/* One ID of tk is written (or given up with err). Holds mu. */
static void repo_ticket_done(struct repo *r, struct repo_ticket *tk, int err)
{
	if (err != 0 && tk->err == 0)
		tk->err = err;
	if (--tk->outstanding == 0)
		pthread_cond_broadcast(&r->ticket_cv);
}

/*
 * A job of repo_blob_save_async: computes the ID, hands it back, then
 * decides as repo_blob_save does whether the blob is new, and seals it if
 * so. Called without mu, with the job counted busy.
 */
static void repo_seal_async(struct repo *r, struct seal_job *job, struct seal_bufs *b)
{
	uint8_t id[BLOB_ID_LEN];
	int e = repo_blob_id(r, job->data, job->len, id);
	bool is_new = false;

	pthread_mutex_lock(&r->mu);
	if (e == 0)
		e = r->write_error;
	if (e == 0)
		e = repo_blob_claim(r, id, job->len, &is_new);
	if (e == 0)
		memcpy(job->id_out, id, sizeof id);
	else
		repo_fail(r, e);
	repo_ticket_done(r, job->tk, e);
	if (!is_new)
		repo_job_done(r);
	pthread_mutex_unlock(&r->mu);
	if (is_new)
		repo_seal_one(r, BLOB_DATA, id, job->has_base ? job->base_id : NULL, job->data,
			      job->len, b);
}

/*
 * A sealing worker: takes queued blobs, compresses and encrypts them
 * without the lock (the costly part), then adds them to a pack under it.
 */
static void *repo_seal_worker(void *arg)
{
	(void)thread_as_helper();
	struct repo *r = arg;
	struct seal_bufs b = { 0 };
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (r->queue_head == NULL && !r->stopping)
			pthread_cond_wait(&r->work_cv, &r->mu);
		struct seal_job *job = r->queue_head;
		if (job == NULL)
			break; /* stopping, and nothing left to do */
		r->queue_head = job->next;
		if (r->queue_head == NULL)
			r->queue_tail = NULL;
		r->queue_bytes -= job->len;
		pthread_cond_signal(&r->space_cv);
		if (job->tk != NULL && r->write_error == 0) {
			pthread_mutex_unlock(&r->mu);
			repo_seal_async(r, job, &b);
			pthread_mutex_lock(&r->mu);
		} else if (job->tk != NULL) {
			repo_ticket_done(r, job->tk, r->write_error);
			repo_job_done(r);
		} else if (r->write_error == 0) {
			pthread_mutex_unlock(&r->mu);
			repo_seal_one(r, job->type, job->id, job->has_base ? job->base_id : NULL,
				      job->data, job->len, &b);
			pthread_mutex_lock(&r->mu);
		} else {
			repo_job_done(r);
		}
		free(job);
	}
	pthread_mutex_unlock(&r->mu);
	seal_bufs_fini(&b);
	return NULL;
}

size_t repo_thread_count(const struct repo *r)
{
	return r->n_workers;
}

int repo_set_threads(struct repo *r, size_t n)
{
	if (r->n_workers > 0 || n == 0)
		return r->n_workers == n ? 0 : -EINVAL;
	r->workers = calloc(n, sizeof *r->workers);
	if (r->workers == NULL)
		return -ENOMEM;
	for (; r->n_workers < n; r->n_workers++) {
		int e = pthread_create(&r->workers[r->n_workers], NULL, repo_seal_worker, r);
		if (e != 0) {
			repo_workers_stop(r);
			return -e;
		}
	}
	return 0;
}

void repo_workers_stop(struct repo *r)
{
	if (r->workers == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stopping = true;
	pthread_cond_broadcast(&r->work_cv);
	pthread_mutex_unlock(&r->mu);
	for (size_t i = 0; i < r->n_workers; i++)
		pthread_join(r->workers[i], NULL);
	free(r->workers);
	r->workers = NULL;
	r->n_workers = 0;
	r->stopping = false;
}

/* Wakes every idle worker if anything is queued (REPO_WAKE_BYTES). Holds mu. */
static void repo_kick(struct repo *r)
{
	if (r->queue_head != NULL)
		pthread_cond_broadcast(&r->work_cv);
}

/*
 * Queues a blob accepted under the lock for a worker. The copy is made
 * without the lock; the caller waits while the queue holds more than
 * REPO_QUEUE_MAX bytes, so memory stays bounded.
 */
static int repo_enqueue(struct repo *r, enum blob_type t, const uint8_t id[BLOB_ID_LEN],
			const uint8_t *base_id, const void *data, size_t len,
			uint8_t *id_out, struct repo_ticket *tk)
{
	struct seal_job *job = malloc(sizeof *job + len);
	if (job != NULL) {
		job->next = NULL;
		job->type = t;
		job->len = len;
		job->id_out = id_out;
		job->tk = tk;
		if (id != NULL)
			memcpy(job->id, id, BLOB_ID_LEN);
		job->has_base = base_id != NULL;
		if (base_id != NULL)
			memcpy(job->base_id, base_id, BLOB_ID_LEN);
		if (len)
			memcpy(job->data, data, len);
	}
	pthread_mutex_lock(&r->mu);
	int e = job == NULL ? -ENOMEM : 0;
	while (e == 0 && r->write_error == 0 && r->queue_head != NULL &&
	       r->queue_bytes + len > REPO_QUEUE_MAX) {
		repo_kick(r);
		pthread_cond_wait(&r->space_cv, &r->mu);
	}
	if (e == 0)
		e = r->write_error;
	if (e == 0) {
		if (r->queue_tail != NULL)
			r->queue_tail->next = job;
		else
			r->queue_head = job;
		r->queue_tail = job;
		r->queue_bytes += len;
		if (r->queue_bytes >= REPO_WAKE_BYTES)
			pthread_cond_signal(&r->work_cv);
		job = NULL;
	} else {
		repo_fail(r, e);
		if (tk != NULL)
			repo_ticket_done(r, tk, e);
		repo_job_done(r);
	}
	pthread_mutex_unlock(&r->mu);
	free(job);
	return e;
}

/*
 * repo_blob_save with an optional delta base. Without workers, a blob with
 * a base is sealed on this thread but outside mu (loading the base takes
 * mu); other blobs are sealed under it as before.
 */
static int repo_blob_save_base(struct repo *r, enum blob_type t, const void *data, size_t len,
			       const uint8_t *base_id, uint8_t id[BLOB_ID_LEN], bool *added)
{
	uint8_t bid[BLOB_ID_LEN];
	/* The ID (a MAC) is computed by the caller's thread: callers need it
	 * at once to build trees, and deduplication needs it to decide. */
	int e = repo_blob_id(r, data, len, bid);
	if (e != 0)
		return e;
	pthread_mutex_lock(&r->mu);
	bool is_new = false, queue = false, seal_here = false;
	if (r->write_error != 0) {
		e = r->write_error;
	} else if ((e = repo_blob_claim(r, bid, len, &is_new)) == 0 && is_new) {
		r->busy++;
		queue = r->n_workers > 0;
		seal_here = !queue && base_id != NULL;
		if (!queue && !seal_here) {
			struct blob_entry be = { .type = (uint8_t)t };
			memcpy(be.id, bid, sizeof bid);
			buf_reset(&r->sealbuf);
			e = blob_seal(r->suite, r->keys->data, &be, data, len, r->zstd_level,
				      &r->sealbuf);
			if (e == 0)
				e = repo_pack_add(r, &be, r->sealbuf.data, r->sealbuf.len);
			else
				repo_fail(r, e);
			repo_job_done(r);
		}
	}
	pthread_mutex_unlock(&r->mu);
	if (queue)
		e = repo_enqueue(r, t, bid, base_id, data, len, NULL, NULL);
	if (seal_here) {
		struct seal_bufs b = { 0 };
		repo_seal_one(r, t, bid, base_id, data, len, &b);
		seal_bufs_fini(&b);
		pthread_mutex_lock(&r->mu);
		e = r->write_error;
		pthread_mutex_unlock(&r->mu);
	}
	if (e == 0) {
		memcpy(id, bid, sizeof bid);
		if (added != NULL)
			*added = is_new;
	}
	return e;
}

int repo_blob_save(struct repo *r, enum blob_type t, const void *data, size_t len,
		   uint8_t id[BLOB_ID_LEN], bool *added)
{
	return repo_blob_save_base(r, t, data, len, NULL, id, added);
}

int repo_blob_save_hint(struct repo *r, const void *data, size_t len,
			const uint8_t *base_id, uint8_t id[BLOB_ID_LEN], bool *added)
{
	return repo_blob_save_base(r, BLOB_DATA, data, len, base_id, id, added);
}

int repo_blob_save_async(struct repo *r, const void *data, size_t len,
			 const uint8_t *base_id, uint8_t id_out[BLOB_ID_LEN],
			 struct repo_ticket *tk)
{
	if (r->n_workers == 0)
		return repo_blob_save_hint(r, data, len, base_id, id_out, NULL);
	pthread_mutex_lock(&r->mu);
	int e = r->write_error;
	if (e == 0) {
		r->busy++;
		tk->outstanding++;
	}
	pthread_mutex_unlock(&r->mu);
	if (e == 0)
		e = repo_enqueue(r, BLOB_DATA, NULL, base_id, data, len, id_out, tk);
	return e;
}

int repo_ticket_wait(struct repo *r, struct repo_ticket *tk)
{
	pthread_mutex_lock(&r->mu);
	if (tk->outstanding > 0)
		repo_kick(r);
	while (tk->outstanding > 0)
		pthread_cond_wait(&r->ticket_cv, &r->mu);
	int e = tk->err;
	pthread_mutex_unlock(&r->mu);
	return e;
}

int repo_flush(struct repo *r)
{
	pthread_mutex_lock(&r->mu);
	/* Every accepted blob must be in a pack before the packs are closed. */
	if (r->busy > 0)
		repo_kick(r);
	while (r->busy > 0)
		pthread_cond_wait(&r->idle_cv, &r->mu);
	int e = r->write_error;
	if (e == 0)
		e = repo_write_pack(r, &r->packers[0]);
	if (e == 0)
		e = repo_write_pack(r, &r->packers[1]);
	if (e == 0)
		e = repo_write_unindexed(r);
	pthread_mutex_unlock(&r->mu);
	return e;
}

void repo_write_stats(const struct repo *r, struct repo_write_stats *st)
{
	*st = r->wstats;
}

uint64_t repo_deltas_added(const struct repo *r)
{
	return r->deltas_added;
}

int repo_delta_resolve(struct repo *r, const uint8_t id[BLOB_ID_LEN], const uint8_t *pt,
		       size_t len, struct buf *out)
{
	struct delta_header h;
	struct buf base = { 0 };
	int e = delta_header_decode(pt, len, &h);
	if (e == 0) {
		/* One level deep: a missing base, or one that is not a plain
		 * data blob, makes the delta unreadable. */
		e = repo_blob_load_exact(r, h.base_id, BLOB_DATA, &base);
		if (e == -ENOENT)
			e = -EBADMSG;
	}
	if (e == 0)
		e = delta_reconstruct(r->suite, r->keys->id, id, &h, base.data, base.len, out);
	buf_fini(&base);
	return e;
}

int repo_delta_header(struct repo *r, const uint8_t id[BLOB_ID_LEN],
		      uint8_t base_id[BLOB_ID_LEN], uint32_t *length)
{
	struct delta_header h;
	struct buf pt = { 0 };
	int e = repo_blob_load_exact(r, id, BLOB_DELTA, &pt);
	if (e == -EBADMSG) {
		struct blob_loc loc;
		char name[65];
		/* Indexed, but not as a delta. */
		if (repo_blob_locate(r, id, &loc, name) && loc.e.type != BLOB_DELTA)
			e = -ENOENT;
	}
	if (e == 0)
		e = delta_header_decode(pt.data, pt.len, &h);
	if (e == 0) {
		memcpy(base_id, h.base_id, BLOB_ID_LEN);
		*length = h.length;
	}
	buf_fini(&pt);
	return e;
}

int repo_blob_load(struct repo *r, const uint8_t id[BLOB_ID_LEN], enum blob_type t,
		   struct buf *out)
{
	struct blob_loc loc;
	char name[65];
	if (!repo_blob_locate(r, id, &loc, name))
		return -ENOENT;
	bool delta = t == BLOB_DATA && loc.e.type == BLOB_DELTA;
	if (loc.e.type != t && !delta)
		return -EBADMSG;
	if (!delta)
		return repo_blob_read(r, &loc, name, out);
	struct buf pt = { 0 };
	int e = repo_blob_read(r, &loc, name, &pt);
	if (e == 0)
		e = repo_delta_resolve(r, id, pt.data, pt.len, out);
	buf_fini(&pt);
	return e;
}

int repo_tree_save(struct repo *r, const struct tree *t, uint8_t id[BLOB_ID_LEN])
{
	struct buf b = { 0 };
	int e = tree_encode(t, &b);
	if (e == 0)
		e = repo_blob_save(r, BLOB_TREE, b.data, b.len, id, NULL);
	buf_fini(&b);
	return e;
}

int repo_tree_load(struct repo *r, const uint8_t id[BLOB_ID_LEN], struct tree *t)
{
	struct buf b = { 0 };
	int e = repo_blob_load(r, id, BLOB_TREE, &b);
	if (e == 0)
		e = tree_decode(b.data, b.len, t);
	buf_fini(&b);
	return e;
}

int repo_index_file_load(struct repo *r, const char *name, struct index_file *f)
{
	struct buf pt = { 0 };
	int e = repo_meta_load(r, STORE_INDEX, name, &pt);
	if (e == 0)
		e = index_file_decode(pt.data, pt.len, f);
	buf_fini(&pt);
	return e;
}

struct index_load {
	struct repo *r;
	char (*names)[65];
	size_t n, cap;
};

static int index_collect(const char *name, uint64_t size, void *arg)
{
	struct index_load *il = arg;
	if (il->n == il->cap) {
		size_t cap = il->cap ? il->cap * 2 : 16;
		char (*nn)[65] = realloc(il->names, cap * sizeof *nn);
		if (nn == NULL)
			return -ENOMEM;
		il->names = nn;
		il->cap = cap;
	}
	snprintf(il->names[il->n++], 65, "%s", name);
	return 0;
}

/*
 * Loads all index files. Files superseded by another (a prune that
 * crashed before deleting them) are skipped: the superseding file lists
 * every pack still in use.
 */
int repo_load_index(struct repo *r)
{
	struct index_load il = { .r = r };
	struct index_file *files = NULL;
	bool *loaded = NULL;
	struct idset *superseded = idset_new();
	int e = superseded ? store_list(r->store, STORE_INDEX, index_collect, &il) : -ENOMEM;
	int bad = 0;
	if (e != 0)
		goto out;
	files = calloc(il.n ? il.n : 1, sizeof *files);
	loaded = calloc(il.n ? il.n : 1, sizeof *loaded);
	if (files == NULL || loaded == NULL) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < il.n; i++) {
		int le = repo_index_file_load(r, il.names[i], &files[i]);
		if (le == -ENOMEM) {
			e = le;
			goto out;
		}
		if (le != 0) {
			log_errorx("index file %s is damaged: %s", il.names[i], coffer_strerror(le));
			bad = le;
			continue;
		}
		loaded[i] = true;
		for (size_t j = 0; j < files[i].n_supersedes; j++)
			if ((e = idset_add(superseded, files[i].supersedes[j], 0, NULL)) != 0)
				goto out;
	}
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < il.n && e == 0; i++) {
		uint8_t id[32];
		if (!loaded[i] || hex_decode(il.names[i], id, 32) != 0 || idset_has(superseded, id))
			continue;
		for (size_t j = 0; j < files[i].n_packs && e == 0; j++) {
			const struct index_pack *p = &files[i].packs[j];
			e = index_add_pack(r->index, p->pack_id, p->key_gen, p->blobs, p->n);
		}
		if (e == 0) {
			uint8_t (*nf)[32] = realloc(r->index_files, (r->n_index_files + 1) * 32);
			if (nf == NULL)
				e = -ENOMEM;
			else {
				r->index_files = nf;
				memcpy(nf[r->n_index_files++], id, 32);
			}
		}
	}
	pthread_mutex_unlock(&r->mu);
out:
	if (files != NULL)
		for (size_t i = 0; i < il.n; i++)
			index_file_fini(&files[i]);
	free(files);
	free(loaded);
	free(il.names);
	idset_free(superseded);
	return e ? e : bad;
}

const struct index *repo_index(const struct repo *r) { return r->index; }
size_t repo_index_file_count(const struct repo *r) { return r->n_index_files; }
const uint8_t *repo_index_file_id(const struct repo *r, size_t i) { return r->index_files[i]; }
