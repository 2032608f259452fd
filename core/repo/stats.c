/*
 * Repository statistics: how much the snapshots hold, how much of it is
 * distinct, and what it costs on disk. Each tree is loaded once; the bytes
 * of files below a tree are remembered per tree ID, so a directory that
 * many snapshots share is summed without being read again.
 *
 * Delta blobs are counted without reading them: the length a delta
 * reconstructs is that of the extents naming it, its cost is its stored
 * length in the index, and the difference is what it saved.
 */
#include "repo/maint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repo/maint_int.h"
#include "util/hex.h"
#include "util/log.h"

struct stats_walk {
	struct idset *below;  /* tree ID -> logical bytes of the files below it */
	struct idset *data;   /* distinct data blobs referenced */
	uint64_t *sums;       /* per open tree, the bytes found so far */
	size_t depth, cap;
	char snap[9];
};

static void stats_add(struct stats_walk *w, uint64_t bytes)
{
	if (w->depth > 0)
		w->sums[w->depth - 1] += bytes;
}

/* Opens a sum for a tree being entered. */
static int stats_push(struct stats_walk *w)
{
	if (w->depth == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		uint64_t *ns = realloc(w->sums, cap * sizeof *ns);
		if (ns == NULL)
			return -ENOMEM;
		w->sums = ns;
		w->cap = cap;
	}
	w->sums[w->depth++] = 0;
	return 0;
}

static int stats_enter(void *arg, const uint8_t id[32], const char *path)
{
	struct stats_walk *w = arg;
	uint64_t v;
	if (idset_get(w->below, id, &v)) {
		stats_add(w, v);
		return 1;
	}
	return stats_push(w);
}

static int stats_fail(void *arg, const uint8_t id[32], const char *path, int err)
{
	struct stats_walk *w = arg;
	char hex[65];
	hex_encode(id, 32, hex);
	log_errorx("snapshot %s: directory %s (tree %s) cannot be read: %s", w->snap, path,
		   hex, coffer_strerror(err));
	return -EBADMSG;
}

static int stats_node(void *arg, const struct node *n, const char *path)
{
	struct stats_walk *w = arg;
	if (n->type != NODE_FILE)
		return 0;
	stats_add(w, n->size);
	for (size_t i = 0; i < n->n_extents; i++) {
		int e = idset_add(w->data, n->extents[i].id, n->extents[i].len, NULL);
		if (e != 0)
			return e;
	}
	return 0;
}

static int stats_leave(void *arg, const uint8_t id[32], const char *path)
{
	struct stats_walk *w = arg;
	uint64_t sum = w->sums[--w->depth];
	stats_add(w, sum);
	return idset_add(w->below, id, sum, NULL);
}

struct blob_sums {
	const struct index *ix;
	uint64_t unique;
	uint64_t raw, stored, data, trees;
	uint64_t deltas, delta_saved;
};

static int sum_referenced(const uint8_t id[32], uint64_t v, void *arg)
{
	struct blob_sums *bs = arg;
	struct blob_loc loc;
	/* A blob missing from the index counts with the length its extent
	 * gives; so does a delta, whose raw_len is that of the delta. */
	bool found = index_lookup(bs->ix, id, &loc);
	bs->unique += found && loc.e.type != BLOB_DELTA ? loc.e.raw_len : v;
	if (found && loc.e.type == BLOB_DELTA) {
		bs->deltas++;
		if (v > loc.e.stored_len)
			bs->delta_saved += v - loc.e.stored_len;
	}
	return 0;
}

static int sum_indexed(const struct blob_loc *loc, void *arg)
{
	struct blob_sums *bs = arg;
	bs->raw += loc->e.raw_len;
	bs->stored += loc->e.stored_len;
	if (loc->e.type == BLOB_TREE)
		bs->trees++;
	else
		bs->data++;
	return 0;
}

int repo_stats(struct repo *r, struct repo_stats *st)
{
	static const struct maint_walk_ops ops = {
		.enter = stats_enter, .fail = stats_fail,
		.node = stats_node, .leave = stats_leave,
	};
	struct stats_walk w = { 0 };
	struct maint_index mi = { 0 };
	struct maint_store_packs sp = { 0 };
	struct snapshot_entry *snaps = NULL;
	struct repo_stats s = { 0 };
	size_t n = 0, n_bad = 0;
	w.below = idset_new();
	w.data = idset_new();
	int e = w.below && w.data ? 0 : -ENOMEM;
	if (e != 0)
		goto out;
	if ((e = repo_snapshot_list(r, &snaps, &n, &n_bad)) != 0) {
		log_errorx("cannot list snapshots: %s", coffer_strerror(e));
		goto out;
	}
	if (n_bad > 0)
		log_warnx("%zu damaged snapshot(s) are not counted", n_bad);
	if ((e = maint_index_load(r, &mi)) != 0)
		goto out;
	if (mi.n_bad > 0)
		log_warnx("%zu damaged index file(s) are not counted", mi.n_bad);
	s.snapshots = n;
	for (size_t i = 0; i < n; i++) {
		maint_short_id(snaps[i].id, w.snap);
		w.depth = 0;
		/* A bottom sum for the root tree to report into. */
		if ((e = stats_push(&w)) != 0)
			goto out;
		if ((e = maint_walk(r, snaps[i].snap.tree, &ops, &w)) != 0)
			goto out;
		s.logical_bytes += w.sums[0];
	}
	struct blob_sums bs = { .ix = repo_index(r) };
	if ((e = idset_foreach(w.data, sum_referenced, &bs)) != 0)
		goto out;
	if ((e = index_foreach(bs.ix, sum_indexed, &bs)) != 0)
		goto out;
	if ((e = maint_store_packs_list(r, &sp)) != 0)
		goto out;
	s.unique_bytes = bs.unique;
	s.stored_bytes = sp.bytes;
	s.packs = sp.count;
	s.data_blobs = bs.data;
	s.tree_blobs = bs.trees;
	s.delta_blobs = bs.deltas;
	s.delta_saved_bytes = bs.delta_saved;
	s.index_files = repo_index_file_count(r);
	s.dedup_ratio = s.unique_bytes ? (double)s.logical_bytes / (double)s.unique_bytes : 0;
	s.compression_ratio = bs.stored ? (double)bs.raw / (double)bs.stored : 0;
	*st = s;
out:
	idset_free(w.below);
	idset_free(w.data);
	free(w.sums);
	maint_index_fini(&mi);
	maint_store_packs_fini(&sp);
	snapshot_entries_free(snaps, n);
	return e;
}
