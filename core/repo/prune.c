/*
 * Prune: removes the blobs no snapshot references, under an exclusive lock.
 *
 * Every step leaves a repository that loads and restores
 * (docs/format/repository.md, "Prune and check"):
 *
 *  1. the still-used blobs of partly used packs are copied, sealed bytes
 *     unchanged, into new packs (a crash leaves orphan packs);
 *  2. one new index file lists every pack kept and the new ones, and
 *     supersedes every index file loaded (a crash before it is durable
 *     changes nothing; after it, the old files are ignored on load);
 *  3. the old index files are deleted;
 *  4. the packs no longer listed are deleted, with the orphans of crashed
 *     backups (a crash leaves orphans, which the next prune removes).
 *
 * A sealed blob does not depend on its pack (its associated data binds only
 * its ID, type, compression and length), so copying one needs no key.
 */
#include "repo/maint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repo/maint_int.h"
#include "repo/pack.h"
#include "repo/repo_int.h"
#include "util/hex.h"
#include "util/log.h"

enum pack_action { PACK_KEEP, PACK_DELETE, PACK_REWRITE };

/* In the claimed set: the blob has been copied into a new pack already. */
#define CLAIM_COPIED UINT64_MAX

struct prune {
	struct repo *r;
	struct prune_result res;
	struct maint_index mi;
	struct maint_store_packs sp;
	struct snapshot_entry *snaps;
	size_t n_snaps;
	struct idset *used;     /* tree and data blobs reachable from a snapshot,
				 * and the bases of the delta blobs among them */
	struct idset *bases;    /* bases of used deltas: kept as data blobs */
	char snap[9];
	uint8_t *action;        /* enum pack_action per mi.packs */
	struct idset *claimed;  /* used blob -> position of the pack providing it */
	size_t n_delete, n_rewrite;
	uint64_t n_missing;     /* used blobs no index lists */
	struct pack_writer *w[2];      /* new packs: [0] data, [1] trees */
	uint32_t w_gen[2];             /* content generation of each one's blobs */
	struct index_pack *fresh;      /* packs written by this prune */
	size_t n_fresh;
	struct buf sealed;
};

static int used_enter(void *arg, const uint8_t id[32], const char *path)
{
	struct prune *p = arg;
	bool added;
	int e = idset_add(p->used, id, 0, &added);
	if (e != 0)
		return e;
	return added ? 0 : 1;
}

static int used_fail(void *arg, const uint8_t id[32], const char *path, int err)
{
	struct prune *p = arg;
	char hex[65];
	hex_encode(id, 32, hex);
	log_errorx("snapshot %s: directory %s (tree %s) cannot be read: %s", p->snap, path,
		   hex, coffer_strerror(err));
	return -EBADMSG;
}

static int used_node(void *arg, const struct node *n, const char *path)
{
	struct prune *p = arg;
	if (n->type != NODE_FILE)
		return 0;
	for (size_t i = 0; i < n->n_extents; i++) {
		int e = idset_add(p->used, n->extents[i].id, 0, NULL);
		if (e != 0)
			return e;
	}
	return 0;
}

static int count_missing(const uint8_t id[32], uint64_t v, void *arg)
{
	struct prune *p = arg;
	struct blob_loc loc;
	if (!index_lookup(repo_index(p->r), id, &loc))
		p->n_missing++;
	return 0;
}

/*
 * The used set: every tree and data blob reachable from every snapshot,
 * and the base of every delta blob among them (read from the deltas'
 * headers).
 */
static int prune_used(struct prune *p)
{
	static const struct maint_walk_ops ops = {
		.enter = used_enter, .fail = used_fail, .node = used_node,
	};
	size_t n_bad = 0;
	int e = repo_snapshot_list(p->r, &p->snaps, &p->n_snaps, &n_bad);
	if (e != 0) {
		log_errorx("cannot list snapshots: %s", coffer_strerror(e));
		return e;
	}
	if (n_bad > 0) {
		log_errorx("prune refused: %zu snapshot(s) cannot be read, so the data in "
			   "use is unknown; run 'coffer check'", n_bad);
		return -EBADMSG;
	}
	for (size_t i = 0; i < p->n_snaps; i++) {
		maint_short_id(p->snaps[i].id, p->snap);
		e = maint_walk(p->r, p->snaps[i].snap.tree, &ops, p);
		if (e == -EBADMSG)
			log_errorx("prune refused: a tree cannot be read, so the data in use "
				   "is unknown; run 'coffer check'");
		if (e != 0)
			return e;
	}
	e = maint_add_delta_bases(p->r, p->used, p->bases);
	if (e == -EBADMSG)
		log_errorx("prune refused: a delta blob cannot be read, so the data in use "
			   "is unknown; run 'coffer check'");
	if (e != 0)
		return e;
	if ((e = idset_foreach(p->used, count_missing, p)) != 0)
		return e;
	if (p->n_missing > 0)
		log_warnx("%llu blob(s) in use are in no index; packs that no index lists "
			  "are kept, as they may hold them; run 'coffer check'",
			  (unsigned long long)p->n_missing);
	return 0;
}

static bool pack_all_used(const struct prune *p, const struct index_pack *ip)
{
	for (size_t i = 0; i < ip->n; i++)
		if (!idset_has(p->used, ip->blobs[i].id))
			return false;
	return true;
}

/*
 * Decides what happens to each pack. Fully used packs are kept, unless
 * every blob of one is already provided by another kept pack (a duplicate
 * from two concurrent backups). Each used blob is then claimed by exactly
 * one pack: a kept one, or else the first partly used pack holding it,
 * which is rewritten. Packs that provide nothing are deleted.
 */
static int prune_classify(struct prune *p)
{
	size_t n = p->mi.n_packs;
	if ((p->action = calloc(n ? n : 1, 1)) == NULL)
		return -ENOMEM;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			const struct index_pack *ip = p->mi.packs[i].ip;
			bool all = pack_all_used(p, ip), provides = false;
			if (all != (pass == 0))
				continue;
			for (size_t j = 0; j < ip->n; j++) {
				const uint8_t *id = ip->blobs[j].id;
				if (!idset_has(p->used, id) || idset_has(p->claimed, id))
					continue;
				/* A base must stay a plain data blob: a delta
				 * copy of it (concurrent backups) cannot serve. */
				if (ip->blobs[j].type == BLOB_DELTA && idset_has(p->bases, id))
					continue;
				int e = idset_add(p->claimed, id, i, NULL);
				if (e != 0)
					return e;
				provides = true;
			}
			if (!provides)
				p->action[i] = PACK_DELETE;
			else
				p->action[i] = all ? PACK_KEEP : PACK_REWRITE;
			p->n_delete += !provides;
			p->n_rewrite += provides && !all;
		}
	}
	return 0;
}

/* Finishes the open new pack of writer t, stores it and records it. */
static int prune_pack_finish(struct prune *p, int t)
{
	size_t len;
	if (pack_writer_count(p->w[t]) == 0)
		return 0;
	return repo_pack_commit(p->r, p->w[t], p->w_gen[t], &p->fresh, &p->n_fresh, &len);
}

/* Copies the blobs pack i provides into the new packs. */
static int prune_copy_pack(struct prune *p, size_t i)
{
	const struct index_pack *ip = p->mi.packs[i].ip;
	char name[65];
	hex_encode(ip->pack_id, 32, name);
	for (size_t j = 0; j < ip->n; j++) {
		struct blob_entry be = ip->blobs[j];
		uint64_t owner;
		if (!idset_get(p->claimed, be.id, &owner) || owner != i)
			continue;
		buf_reset(&p->sealed);
		int e = buf_reserve(&p->sealed, be.stored_len ? be.stored_len : 1);
		if (e == 0)
			e = store_get_range(repo_store(p->r), STORE_PACK, name, be.offset,
					    be.stored_len, p->sealed.data);
		if (e != 0) {
			log_errorx("cannot read pack %s: %s", name, coffer_strerror(e));
			return e;
		}
		int t = be.type == BLOB_TREE ? 1 : 0;
		/*
		 * Sealed bytes are copied, not re-sealed, so a new pack holds
		 * blobs of one content generation only: the one its header
		 * records.
		 */
		if (pack_writer_count(p->w[t]) > 0 && p->w_gen[t] != ip->key_gen &&
		    (e = prune_pack_finish(p, t)) != 0)
			return e;
		p->w_gen[t] = ip->key_gen;
		if ((e = pack_writer_add(p->w[t], &be, p->sealed.data, be.stored_len)) != 0)
			return e;
		if ((e = idset_add(p->claimed, be.id, CLAIM_COPIED, NULL)) != 0)
			return e;
		if (pack_writer_size(p->w[t]) >= p->r->pack_size &&
		    (e = prune_pack_finish(p, t)) != 0)
			return e;
	}
	return 0;
}

static int prune_rewrite(struct prune *p)
{
	p->w[0] = pack_writer_new();
	p->w[1] = pack_writer_new();
	if (p->w[0] == NULL || p->w[1] == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < p->mi.n_packs; i++) {
		if (p->action[i] != PACK_REWRITE)
			continue;
		int e = prune_copy_pack(p, i);
		if (e != 0)
			return e;
	}
	int e = prune_pack_finish(p, 0);
	if (e == 0)
		e = prune_pack_finish(p, 1);
	return e;
}

struct cover_check {
	const struct idset *have;
	const struct index *ix;
	uint64_t lost;
};

static int cover_one(const uint8_t id[32], uint64_t v, void *arg)
{
	struct cover_check *cc = arg;
	struct blob_loc loc;
	if (index_lookup(cc->ix, id, &loc) && !idset_has(cc->have, id))
		cc->lost++;
	return 0;
}

/*
 * Before anything is deleted: every used blob that was indexed must be in
 * the new index. Guards the bookkeeping above against itself.
 */
static int prune_verify_cover(struct prune *p, const struct index_file *f)
{
	struct idset *have = idset_new();
	int e = have ? 0 : -ENOMEM;
	for (size_t i = 0; i < f->n_packs && e == 0; i++)
		for (size_t j = 0; j < f->packs[i].n && e == 0; j++)
			e = idset_add(have, f->packs[i].blobs[j].id, 0, NULL);
	struct cover_check cc = { have, repo_index(p->r), 0 };
	if (e == 0)
		e = idset_foreach(p->used, cover_one, &cc);
	if (e == 0 && cc.lost) {
		log_errorx("internal error: the new index would lose %llu blob(s) in use; "
			   "nothing was deleted", (unsigned long long)cc.lost);
		e = -EIO;
	}
	idset_free(have);
	return e;
}

/* Writes the index file that replaces every one loaded. */
static int prune_write_index(struct prune *p, uint8_t id[32])
{
	struct index_file f = { 0 };
	size_t n_keep = p->mi.n_packs - p->n_delete - p->n_rewrite;
	int e = 0;
	f.packs = calloc(n_keep + p->n_fresh + 1, sizeof *f.packs);
	f.supersedes = calloc(p->mi.n_files + 1, sizeof *f.supersedes);
	if (f.packs == NULL || f.supersedes == NULL) {
		e = -ENOMEM;
		goto out;
	}
	/* Shallow copies: the entries stay owned by mi and fresh. */
	for (size_t i = 0; i < p->mi.n_packs; i++)
		if (p->action[i] == PACK_KEEP)
			f.packs[f.n_packs++] = *p->mi.packs[i].ip;
	for (size_t i = 0; i < p->n_fresh; i++)
		f.packs[f.n_packs++] = p->fresh[i];
	for (size_t i = 0; i < p->mi.n_files; i++)
		if (p->mi.ok[i])
			memcpy(f.supersedes[f.n_supersedes++], p->mi.ids[i], 32);
	if ((e = prune_verify_cover(p, &f)) != 0)
		goto out;
	if ((e = repo_index_file_save(p->r, &f, id)) != 0)
		log_errorx("cannot write the new index: %s", coffer_strerror(e));
out:
	free(f.packs);
	free(f.supersedes);
	return e;
}

static int remove_pack(struct prune *p, const uint8_t id[32])
{
	char name[65];
	hex_encode(id, 32, name);
	int e = store_remove(repo_store(p->r), STORE_PACK, name);
	if (e == -ENOENT)
		return 0;
	if (e != 0)
		log_errorx("cannot remove pack %s: %s", name, coffer_strerror(e));
	return e;
}

struct orphan_ctx {
	struct prune *p;
	int err;
};

static int remove_orphan(const uint8_t id[32], uint64_t size, void *arg)
{
	struct orphan_ctx *oc = arg;
	struct prune *p = oc->p;
	if (idset_has(p->mi.pack_ids, id))
		return 0;
	for (size_t i = 0; i < p->n_fresh; i++)
		if (memcmp(p->fresh[i].pack_id, id, 32) == 0)
			return 0;
	int e = remove_pack(p, id);
	if (e == 0)
		p->res.packs_deleted++;
	else if (oc->err == 0)
		oc->err = e;
	return 0;
}

static int count_orphan(const uint8_t id[32], uint64_t size, void *arg)
{
	const struct prune *p = arg;
	return idset_has(p->mi.pack_ids, id) ? 0 : 1;
}

/*
 * Deletes, in order: the index files superseded (all those loaded when
 * new_index was written, else only the leftovers of a crashed prune), then
 * the packs dropped, then orphans. A failure to delete an index file stops
 * before any pack is touched.
 */
static int prune_delete(struct prune *p, const uint8_t *new_index)
{
	int e = 0;
	for (size_t i = 0; i < p->mi.n_files; i++) {
		if (!p->mi.ok[i] || (new_index == NULL && !p->mi.superseded[i]) ||
		    (new_index != NULL && memcmp(p->mi.ids[i], new_index, 32) == 0))
			continue;
		int re = store_remove(repo_store(p->r), STORE_INDEX, p->mi.names[i]);
		if (re != 0 && re != -ENOENT) {
			log_errorx("cannot remove index file %s: %s", p->mi.names[i],
				   coffer_strerror(re));
			e = re;
		}
	}
	if (e != 0)
		return e;
	for (size_t i = 0; i < p->mi.n_packs; i++) {
		if (p->action[i] == PACK_KEEP)
			continue;
		int re = remove_pack(p, p->mi.packs[i].ip->pack_id);
		if (re != 0) {
			e = e ? e : re;
			continue;
		}
		if (p->action[i] == PACK_DELETE)
			p->res.packs_deleted++;
		else
			p->res.packs_rewritten++;
	}
	if (p->n_missing == 0) {
		struct orphan_ctx oc = { p, 0 };
		int le = idset_foreach(p->sp.sizes, remove_orphan, &oc);
		if (e == 0)
			e = le ? le : oc.err;
	}
	return e;
}

/* Blobs dropped: every entry of a deleted pack, and the entries of a
 * rewritten pack that were not copied from it. */
static uint64_t prune_blobs_removed(const struct prune *p)
{
	uint64_t n = 0;
	for (size_t i = 0; i < p->mi.n_packs; i++) {
		const struct index_pack *ip = p->mi.packs[i].ip;
		if (p->action[i] == PACK_DELETE) {
			n += ip->n;
		} else if (p->action[i] == PACK_REWRITE) {
			for (size_t j = 0; j < ip->n; j++) {
				uint64_t v;
				if (!idset_get(p->claimed, ip->blobs[j].id, &v) ||
				    v != CLAIM_COPIED)
					n++;
			}
		}
	}
	return n;
}

static void prune_fini(struct prune *p)
{
	maint_index_fini(&p->mi);
	maint_store_packs_fini(&p->sp);
	snapshot_entries_free(p->snaps, p->n_snaps);
	idset_free(p->used);
	idset_free(p->bases);
	idset_free(p->claimed);
	free(p->action);
	pack_writer_free(p->w[0]);
	pack_writer_free(p->w[1]);
	for (size_t i = 0; i < p->n_fresh; i++)
		free(p->fresh[i].blobs);
	free(p->fresh);
	buf_fini(&p->sealed);
}

int repo_prune(struct repo *r, struct prune_result *res)
{
	struct prune p = { .r = r };
	uint8_t new_index[32];
	bool wrote_index = false;
	int e = repo_lock(r, true);
	if (e != 0)
		return e;
	/* Temp files of killed writers: no writer can be active under the lock. */
	uint64_t stale = 0;
	if ((e = store_clean(repo_store(r), &stale)) != 0)
		log_warnx("cannot remove leftover temporary files: %s", coffer_strerror(e));
	else if (stale)
		log_info("removed %llu temporary files left by interrupted writes",
			 (unsigned long long)stale);
	p.used = idset_new();
	p.bases = idset_new();
	p.claimed = idset_new();
	if (p.used == NULL || p.bases == NULL || p.claimed == NULL) {
		e = -ENOMEM;
		goto out;
	}
	/* Loaded under the lock: an index read earlier may miss a backup's. */
	if ((e = maint_index_load(r, &p.mi)) != 0)
		goto out;
	if (p.mi.n_bad > 0) {
		log_errorx("prune refused: %zu index file(s) cannot be read, and the packs "
			   "they list would be deleted; run 'coffer check'", p.mi.n_bad);
		e = -EBADMSG;
		goto out;
	}
	if ((e = prune_used(&p)) != 0)
		goto out;
	if ((e = maint_store_packs_list(r, &p.sp)) != 0)
		goto out;
	p.res.packs_before = p.sp.count;
	p.res.bytes_before = p.sp.bytes;
	if ((e = prune_classify(&p)) != 0)
		goto out;
	bool orphans = p.n_missing == 0 &&
		       idset_foreach(p.sp.sizes, count_orphan, &p) == 1;
	if (p.n_delete == 0 && p.n_rewrite == 0 && !orphans && p.mi.n_superseded == 0) {
		p.res.packs_after = p.res.packs_before;
		p.res.bytes_after = p.res.bytes_before;
		*res = p.res;
		goto out;
	}
	if (p.n_delete > 0 || p.n_rewrite > 0) {
		if ((e = prune_rewrite(&p)) != 0)
			goto out;
		if ((e = prune_write_index(&p, new_index)) != 0)
			goto out;
		wrote_index = true;
	}
	/* Without a new index, only leftovers of crashes go: the files in use stay. */
	e = prune_delete(&p, wrote_index ? new_index : NULL);
	p.res.blobs_removed = prune_blobs_removed(&p);
	/* Reload, so this handle sees the repository as it now is. */
	maint_index_fini(&p.mi);
	int le = maint_index_load(r, &p.mi);
	e = e ? e : le;
	maint_store_packs_fini(&p.sp);
	if (e == 0 && (e = maint_store_packs_list(r, &p.sp)) == 0) {
		p.res.packs_after = p.sp.count;
		p.res.bytes_after = p.sp.bytes;
		*res = p.res;
	}
out:
	prune_fini(&p);
	repo_unlock(r);
	return e;
}
