/*
 * Shared by the maintenance commands: the index as its files list it
 * (every entry of every pack, which the in-memory index does not keep), the
 * packs present in the store, and an iterative tree walk that carries the
 * path of each node so findings can name the files they affect.
 */
#include "repo/maint_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/repo_int.h"
#include "util/hex.h"
#include "util/escape.h"
#include "util/log.h"

/* Deeper than any real directory chain; bounds memory on a hostile tree. */
#define MAINT_WALK_MAX_DEPTH 65536

void maint_short_id(const uint8_t id[32], char out[9])
{
	hex_encode(id, 4, out);
}

struct name_list {
	char (*names)[65];
	size_t n, cap;
};

static int name_list_add(const char *name, uint64_t size, void *arg)
{
	struct name_list *nl = arg;
	if (nl->n == nl->cap) {
		size_t cap = nl->cap ? nl->cap * 2 : 16;
		char (*nn)[65] = realloc(nl->names, cap * sizeof *nn);
		if (nn == NULL)
			return -ENOMEM;
		nl->names = nn;
		nl->cap = cap;
	}
	snprintf(nl->names[nl->n++], 65, "%s", name);
	return 0;
}

void maint_index_fini(struct maint_index *mi)
{
	if (mi == NULL)
		return;
	for (size_t i = 0; i < mi->n_files && mi->files != NULL; i++)
		index_file_fini(&mi->files[i]);
	free(mi->files);
	free(mi->names);
	free(mi->ids);
	free(mi->ok);
	free(mi->superseded);
	free(mi->packs);
	idset_free(mi->pack_ids);
	memset(mi, 0, sizeof *mi);
}

static bool repo_has_unflushed(struct repo *r)
{
	pthread_mutex_lock(&r->mu);
	bool busy = r->n_unindexed > 0;
	for (int i = 0; i < 2; i++)
		busy = busy || (r->packers[i].w && pack_writer_count(r->packers[i].w) > 0);
	pthread_mutex_unlock(&r->mu);
	return busy;
}

/* Lists the packs of the files in use, each pack once, in mi->packs. */
static int maint_index_packs(struct maint_index *mi)
{
	size_t total = 0;
	for (size_t i = 0; i < mi->n_files; i++)
		if (mi->ok[i] && !mi->superseded[i])
			total += mi->files[i].n_packs;
	mi->packs = calloc(total ? total : 1, sizeof *mi->packs);
	if (mi->packs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < mi->n_files; i++) {
		if (!mi->ok[i] || mi->superseded[i])
			continue;
		for (size_t j = 0; j < mi->files[i].n_packs; j++) {
			const struct index_pack *p = &mi->files[i].packs[j];
			bool added;
			int e = idset_add(mi->pack_ids, p->pack_id, mi->n_packs, &added);
			if (e != 0)
				return e;
			if (!added)
				continue; /* listed twice: the first listing stands */
			mi->packs[mi->n_packs].ip = p;
			mi->packs[mi->n_packs].file = i;
			mi->n_packs++;
		}
	}
	return 0;
}

/* Replaces the repository's in-memory index by the packs of mi. */
static int maint_index_install(struct repo *r, const struct maint_index *mi)
{
	struct index *ix = index_new();
	size_t n_used = 0;
	for (size_t i = 0; i < mi->n_files; i++)
		n_used += mi->ok[i] && !mi->superseded[i];
	uint8_t (*ids)[32] = malloc((n_used ? n_used : 1) * sizeof *ids);
	int e = ix && ids ? 0 : -ENOMEM;
	for (size_t i = 0; i < mi->n_packs && e == 0; i++) {
		const struct index_pack *p = mi->packs[i].ip;
		e = index_add_pack(ix, p->pack_id, p->key_gen, p->blobs, p->n);
	}
	if (e != 0) {
		index_free(ix);
		free(ids);
		return e;
	}
	n_used = 0;
	for (size_t i = 0; i < mi->n_files; i++)
		if (mi->ok[i] && !mi->superseded[i])
			memcpy(ids[n_used++], mi->ids[i], 32);
	pthread_mutex_lock(&r->mu);
	index_free(r->index);
	free(r->index_files);
	r->index = ix;
	r->index_files = ids;
	r->n_index_files = n_used;
	pthread_mutex_unlock(&r->mu);
	return 0;
}

int maint_index_load(struct repo *r, struct maint_index *mi)
{
	struct name_list nl = { 0 };
	struct idset *sup = idset_new();
	int e;

	memset(mi, 0, sizeof *mi);
	if (repo_has_unflushed(r)) {
		log_errorx("internal error: maintenance started with blobs not yet flushed");
		idset_free(sup);
		return -EINVAL;
	}
	mi->pack_ids = idset_new();
	if (sup == NULL || mi->pack_ids == NULL) {
		e = -ENOMEM;
		goto out;
	}
	if ((e = store_list(r->store, STORE_INDEX, name_list_add, &nl)) != 0) {
		log_errorx("cannot list index files: %s", coffer_strerror(e));
		goto out;
	}
	mi->n_files = nl.n;
	mi->names = nl.names;
	nl.names = NULL;
	size_t n = mi->n_files ? mi->n_files : 1;
	mi->ids = calloc(n, sizeof *mi->ids);
	mi->files = calloc(n, sizeof *mi->files);
	mi->ok = calloc(n, sizeof *mi->ok);
	mi->superseded = calloc(n, sizeof *mi->superseded);
	if (!mi->ids || !mi->files || !mi->ok || !mi->superseded) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < mi->n_files; i++) {
		int le = hex_decode(mi->names[i], mi->ids[i], 32);
		if (le == 0)
			le = repo_index_file_load(r, mi->names[i], &mi->files[i]);
		if (le == -ENOMEM) {
			e = le;
			goto out;
		}
		if (le != 0) {
			log_errorx("index file %s is damaged: %s", mi->names[i],
				   le == -EBADMSG ? "it fails authentication or does not "
						    "match its name" : coffer_strerror(le));
			mi->n_bad++;
			continue;
		}
		mi->ok[i] = true;
		for (size_t j = 0; j < mi->files[i].n_supersedes; j++)
			if ((e = idset_add(sup, mi->files[i].supersedes[j], 0, NULL)) != 0)
				goto out;
	}
	for (size_t i = 0; i < mi->n_files; i++) {
		mi->superseded[i] = mi->ok[i] && idset_has(sup, mi->ids[i]);
		mi->n_superseded += mi->superseded[i];
	}
	if ((e = maint_index_packs(mi)) == 0)
		e = maint_index_install(r, mi);
out:
	free(nl.names);
	idset_free(sup);
	if (e != 0)
		maint_index_fini(mi);
	return e;
}

struct delta_bases {
	struct repo *r;
	struct idset *found;
	int bad;
};

static int delta_base_one(const uint8_t id[32], uint64_t v, void *arg)
{
	struct delta_bases *db = arg;
	struct blob_loc loc;
	uint8_t base[BLOB_ID_LEN];
	uint32_t length;
	char hex[65];
	(void)v;
	if (!index_lookup(repo_index(db->r), id, &loc) || loc.e.type != BLOB_DELTA)
		return 0;
	int e = repo_delta_header(db->r, id, base, &length);
	if (e == -ENOMEM)
		return e;
	if (e != 0) {
		hex_encode(id, 32, hex);
		log_errorx("delta blob %s cannot be read, so its base is unknown: %s", hex,
			   coffer_strerror(e));
		db->bad = -EBADMSG;
		return 0;
	}
	return idset_add(db->found, base, 0, NULL);
}

static int delta_base_merge(const uint8_t id[32], uint64_t v, void *arg)
{
	return idset_add(arg, id, v, NULL);
}

int maint_add_delta_bases(struct repo *r, struct idset *used, struct idset *bases)
{
	struct delta_bases db = { .r = r, .found = idset_new() };
	int e = db.found != NULL ? 0 : -ENOMEM;
	/* Collected apart first: used cannot grow while it is iterated. */
	if (e == 0)
		e = idset_foreach(used, delta_base_one, &db);
	if (e == 0)
		e = idset_foreach(db.found, delta_base_merge, used);
	if (e == 0 && bases != NULL)
		e = idset_foreach(db.found, delta_base_merge, bases);
	idset_free(db.found);
	return e ? e : db.bad;
}

static int store_pack_add(const char *name, uint64_t size, void *arg)
{
	struct maint_store_packs *sp = arg;
	uint8_t id[32];
	if (hex_decode(name, id, 32) != 0) {
		log_warnx("ignoring pack file with a malformed name: %s", name);
		return 0;
	}
	bool added;
	int e = idset_add(sp->sizes, id, size, &added);
	if (e == 0 && added) {
		sp->count++;
		sp->bytes += size;
	}
	return e;
}

int maint_store_packs_list(struct repo *r, struct maint_store_packs *sp)
{
	memset(sp, 0, sizeof *sp);
	if ((sp->sizes = idset_new()) == NULL)
		return -ENOMEM;
	int e = store_list(r->store, STORE_PACK, store_pack_add, sp);
	if (e != 0) {
		log_errorx("cannot list packs: %s", coffer_strerror(e));
		maint_store_packs_fini(sp);
	}
	return e;
}

void maint_store_packs_fini(struct maint_store_packs *sp)
{
	if (sp == NULL)
		return;
	idset_free(sp->sizes);
	memset(sp, 0, sizeof *sp);
}

struct walk_frame {
	struct tree t;
	size_t next;      /* next node to visit */
	size_t path_len;  /* length of the parent's path, restored on leaving */
	uint8_t id[32];
};

struct walk {
	struct repo *r;
	const struct maint_walk_ops *ops;
	void *arg;
	struct walk_frame *st;
	size_t depth, cap;
	struct buf path;  /* NUL-terminated; len excludes the NUL */
};

static int path_terminate(struct walk *w)
{
	int e = buf_reserve(&w->path, 1);
	if (e == 0)
		w->path.data[w->path.len] = 0;
	return e;
}

/* Appends "/name" in printable form (util/escape.h). */
static int path_push(struct walk *w, const uint8_t *name, size_t len)
{
	int e = 0;
	if (w->path.len != 1)
		e = buf_put_u8(&w->path, '/');
	if (e == 0)
		e = escape_append(&w->path, name, len);
	return e ? e : path_terminate(w);
}

static void path_truncate(struct walk *w, size_t len)
{
	w->path.len = len;
	w->path.data[len] = 0; /* within the reserved room */
}

/*
 * Enters tree id at the current path: 1 if a frame was pushed, 0 if the
 * tree is skipped or could not be loaded, or a negative errno.
 */
static int walk_enter(struct walk *w, const uint8_t id[32], size_t parent_len)
{
	const char *path = (const char *)w->path.data;
	int e = 0;
	if (w->ops->enter != NULL && (e = w->ops->enter(w->arg, id, path)) != 0)
		return e < 0 ? e : 0;
	if (w->depth == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		struct walk_frame *ns = realloc(w->st, cap * sizeof *ns);
		if (ns == NULL)
			return -ENOMEM;
		w->st = ns;
		w->cap = cap;
	}
	struct walk_frame *f = &w->st[w->depth];
	tree_init(&f->t);
	e = w->depth >= MAINT_WALK_MAX_DEPTH ? -ELOOP : repo_tree_load(w->r, id, &f->t);
	if (e != 0) {
		tree_fini(&f->t);
		if (e == -ENOMEM)
			return e;
		if (w->ops->fail == NULL)
			return e;
		e = w->ops->fail(w->arg, id, path, e);
		return e < 0 ? e : 0;
	}
	f->next = 0;
	f->path_len = parent_len;
	memcpy(f->id, id, 32);
	w->depth++;
	return 1;
}

int maint_walk(struct repo *r, const uint8_t root[32], const struct maint_walk_ops *ops,
	       void *arg)
{
	struct walk w = { .r = r, .ops = ops, .arg = arg };
	int e = buf_put_u8(&w.path, '/');
	if (e == 0)
		e = path_terminate(&w);
	if (e == 0)
		e = walk_enter(&w, root, 0);
	while (e >= 0 && w.depth > 0) {
		struct walk_frame *f = &w.st[w.depth - 1];
		if (f->next == f->t.n) {
			if (ops->leave != NULL)
				e = ops->leave(arg, f->id, (const char *)w.path.data);
			path_truncate(&w, f->path_len);
			tree_fini(&f->t);
			w.depth--;
			continue;
		}
		const struct node *n = &f->t.nodes[f->next++];
		size_t saved = w.path.len;
		if ((e = path_push(&w, n->name, n->name_len)) != 0)
			break;
		if (ops->node != NULL && (e = ops->node(arg, n, (const char *)w.path.data)) < 0)
			break;
		e = 0;
		if (n->type == NODE_DIR) {
			/* The frame may move when the stack grows: copy the ID. */
			uint8_t sub[32];
			memcpy(sub, n->subtree, sizeof sub);
			if ((e = walk_enter(&w, sub, saved)) == 1) {
				e = 0;
				continue; /* the path stays until the subtree is left */
			}
		}
		path_truncate(&w, saved);
	}
	while (w.depth > 0)
		tree_fini(&w.st[--w.depth].t);
	free(w.st);
	buf_fini(&w.path);
	return e < 0 ? e : 0;
}
