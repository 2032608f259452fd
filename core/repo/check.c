/*
 * Repository check. It reads what a restore would need and says precisely
 * what is wrong: which index file, snapshot, tree or pack is damaged or
 * missing, and then which files (snapshot and path) cannot be restored
 * because of it, so that an operator knows what to repair from a replica
 * and what is lost.
 *
 * Order matters when a backup runs at the same time: snapshots are listed
 * first, then index files, then packs. A snapshot is written only after the
 * index files that list its blobs, and those only after their packs, so
 * everything a listed snapshot needs is already visible in the later
 * listings. Packs written meanwhile merely show up as orphans.
 */
#include "repo/maint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repo/maint_int.h"
#include "repo/pack.h"
#include "util/hex.h"
#include "util/log.h"

/* Why a blob is bad; kept in the bad set as BAD(reason, pack position). */
enum bad_reason {
	BAD_MISSING = 1,  /* referenced, in no index */
	BAD_TYPE,         /* indexed with another type than it is used as */
	BAD_MISSING_PACK, /* its pack is not in the store */
	BAD_DAMAGED_PACK, /* its pack fails a check */
	BAD_TREE,         /* a tree that cannot be loaded */
	BAD_DELTA,        /* a delta blob that cannot be reconstructed */
};
#define BAD(reason, pack) ((uint64_t)(pack) << 8 | (uint64_t)(reason))
#define BAD_REASON(v) ((unsigned)((v) & 0xff))
#define BAD_PACK(v) ((size_t)((v) >> 8))

struct check {
	struct repo *r;
	const struct check_opts *o;
	struct check_result res;
	struct maint_index mi;
	struct maint_store_packs sp;
	struct snapshot_entry *snaps;
	size_t n_snaps;
	struct idset *trees;  /* trees entered in the first walk */
	struct idset *data;   /* data blobs referenced */
	struct idset *bad;    /* blob and tree IDs -> BAD(...) */
	struct idset *clean;  /* second walk: trees with nothing bad below */
	uint64_t *counts;     /* second walk: findings below each open tree */
	size_t depth, cap;
	char snap[9];         /* short ID of the snapshot being walked */
};

static void hex_id(const uint8_t id[32], char out[65])
{
	hex_encode(id, 32, out);
}

/* First walk: load every tree once, collect the data blobs. */
static int check_enter(void *arg, const uint8_t id[32], const char *path)
{
	struct check *c = arg;
	bool added;
	int e = idset_add(c->trees, id, 0, &added);
	if (e != 0)
		return e;
	return added ? 0 : 1;
}

/* The damaged tree is named here; the second walk names where it is used. */
static int check_fail(void *arg, const uint8_t id[32], const char *path, int err)
{
	struct check *c = arg;
	char hex[65];
	hex_id(id, hex);
	log_errorx("tree %s cannot be read: %s", hex,
		   err == -ENOENT ? "it is in no index" : coffer_strerror(err));
	c->res.errors++;
	return idset_add(c->bad, id, BAD(BAD_TREE, 0), NULL);
}

static int check_node(void *arg, const struct node *n, const char *path)
{
	struct check *c = arg;
	if (n->type != NODE_FILE)
		return 0;
	for (size_t i = 0; i < n->n_extents; i++) {
		int e = idset_add(c->data, n->extents[i].id, 0, NULL);
		if (e != 0)
			return e;
	}
	return 0;
}

static int check_leave(void *arg, const uint8_t id[32], const char *path)
{
	struct check *c = arg;
	c->res.trees++;
	return 0;
}

static int check_trees(struct check *c)
{
	static const struct maint_walk_ops ops = {
		.enter = check_enter, .fail = check_fail,
		.node = check_node, .leave = check_leave,
	};
	for (size_t i = 0; i < c->n_snaps; i++) {
		maint_short_id(c->snaps[i].id, c->snap);
		int e = maint_walk(c->r, c->snaps[i].snap.tree, &ops, c);
		if (e != 0)
			return e;
	}
	return 0;
}

/* Marks a blob bad unless it is already (the first reason found stands). */
static int mark_bad(struct check *c, const uint8_t id[32], uint64_t v)
{
	if (idset_has(c->bad, id))
		return 0;
	return idset_add(c->bad, id, v, NULL);
}

static int check_data_one(const uint8_t id[32], uint64_t v, void *arg)
{
	struct check *c = arg;
	struct blob_loc loc;
	char hex[65];
	if (index_lookup(repo_index(c->r), id, &loc) &&
	    (loc.e.type == BLOB_DATA || loc.e.type == BLOB_DELTA))
		return 0;
	hex_id(id, hex);
	if (!index_lookup(repo_index(c->r), id, &loc)) {
		log_errorx("data blob %s is referenced but in no index", hex);
		c->res.errors++;
		return mark_bad(c, id, BAD(BAD_MISSING, 0));
	}
	log_errorx("blob %s is used as file content but indexed as type %u", hex,
		   loc.e.type);
	c->res.errors++;
	return mark_bad(c, id, BAD(BAD_TYPE, 0));
}

/*
 * Marks the blobs of pack p bad, those for which the index gives this pack
 * as their location: a copy elsewhere is what a restore would read.
 */
static int mark_pack_bad(struct check *c, size_t p, enum bad_reason why)
{
	const struct index_pack *ip = c->mi.packs[p].ip;
	const struct index *ix = repo_index(c->r);
	for (size_t i = 0; i < ip->n; i++) {
		struct blob_loc loc;
		if (!index_lookup(ix, ip->blobs[i].id, &loc) ||
		    memcmp(index_pack_id(ix, loc.pack_no), ip->pack_id, 32) != 0)
			continue;
		int e = mark_bad(c, ip->blobs[i].id, BAD(why, p));
		if (e != 0)
			return e;
	}
	return 0;
}

static int entry_cmp_offset(const void *a, const void *b)
{
	const struct blob_entry *x = a, *y = b;
	return (x->offset > y->offset) - (x->offset < y->offset);
}

/* True when the pack header lists exactly the entries of the index. */
static bool entries_match(const struct blob_entry *hdr, size_t n_hdr,
			  const struct index_pack *ip)
{
	if (n_hdr != ip->n)
		return false;
	struct blob_entry *a = malloc((n_hdr ? n_hdr : 1) * sizeof *a);
	struct blob_entry *b = malloc((n_hdr ? n_hdr : 1) * sizeof *b);
	bool same = a != NULL && b != NULL;
	if (same && n_hdr) {
		memcpy(a, hdr, n_hdr * sizeof *a);
		memcpy(b, ip->blobs, n_hdr * sizeof *b);
		qsort(a, n_hdr, sizeof *a, entry_cmp_offset);
		qsort(b, n_hdr, sizeof *b, entry_cmp_offset);
	}
	for (size_t i = 0; same && i < n_hdr; i++)
		same = memcmp(a[i].id, b[i].id, BLOB_ID_LEN) == 0 && a[i].type == b[i].type &&
		       a[i].comp == b[i].comp && a[i].offset == b[i].offset &&
		       a[i].stored_len == b[i].stored_len && a[i].raw_len == b[i].raw_len;
	free(a);
	free(b);
	return same;
}

/*
 * A delta blob of pack p opened fine: reconstructs it from its base and
 * checks the result's ID. A failure marks the delta itself bad (its pack
 * may be sound: the base may be what is missing or damaged).
 */
static int check_delta(struct check *c, size_t p, const char *name,
		       const struct blob_entry *be, const struct buf *plain, struct buf *out)
{
	char hex[65];
	int e = repo_delta_resolve(c->r, be->id, plain->data, plain->len, out);
	if (e == 0 || e == -ENOMEM)
		return e;
	hex_id(be->id, hex);
	log_errorx("pack %s: delta blob %s cannot be reconstructed: %s", name, hex,
		   e == -EBADMSG ? "its base is missing, damaged or itself a delta, or "
		   "the result does not match its ID" : coffer_strerror(e));
	c->res.errors++;
	return mark_bad(c, be->id, BAD(BAD_DELTA, p));
}

/*
 * Reads pack p whole and verifies it: SHA-256 against its name, the header
 * against the index, and every blob the index places in it (MAC and ID;
 * delta blobs are reconstructed from their base and the result's ID
 * checked). Sets *damaged; returns 0 or -ENOMEM.
 */
static int check_pack_data(struct check *c, size_t p, const char *name, bool *damaged)
{
	const struct index_pack *ip = c->mi.packs[p].ip;
	const struct suite *s = repo_suite(c->r);
	struct buf file = { 0 }, plain = { 0 }, recon = { 0 };
	struct blob_entry *hdr = NULL;
	size_t n_hdr = 0;
	uint32_t key_gen;
	uint8_t sum[32];
	char hex[65];
	int e = store_get(repo_store(c->r), STORE_PACK, name, &file);
	*damaged = false;
	if (e == -ENOMEM)
		goto out;
	if (e != 0) {
		log_errorx("pack %s cannot be read: %s", name, coffer_strerror(e));
		c->res.errors++;
		*damaged = true;
		e = 0;
		goto out;
	}
	c->res.packs_read++;
	if ((e = suite_hash(s, file.data, file.len, sum)) != 0)
		goto out;
	if (memcmp(sum, ip->pack_id, 32) != 0) {
		log_errorx("pack %s: content does not match its name (its hash)", name);
		c->res.errors++;
		*damaged = true;
	}
	e = pack_read_header(s, repo_meta_key(c->r), file.data, file.len, &key_gen, &hdr,
			     &n_hdr);
	if (e == -ENOMEM)
		goto out;
	if (e != 0) {
		log_errorx("pack %s: header cannot be read: %s", name,
			   e == -EBADMSG ? "malformed or fails authentication" :
			   coffer_strerror(e));
		c->res.errors++;
		*damaged = true;
	} else if (key_gen != ip->key_gen || !entries_match(hdr, n_hdr, ip)) {
		log_errorx("pack %s: header does not match the index", name);
		c->res.errors++;
		*damaged = true;
	}
	e = 0;
	const uint8_t *data_key = repo_data_key_gen(c->r, ip->key_gen, ip->pack_id);
	for (size_t i = 0; i < ip->n; i++) {
		const struct blob_entry *be = &ip->blobs[i];
		int be_e;
		if ((uint64_t)be->offset + be->stored_len > file.len)
			be_e = -ERANGE;
		else if (data_key == NULL)
			be_e = -ENOKEY;
		else
			be_e = blob_open(s, data_key, repo_id_key(c->r), be,
					 file.data + be->offset, be->stored_len, &plain);
		if (be_e == -ENOMEM) {
			e = be_e;
			goto out;
		}
		if (be_e != 0) {
			hex_id(be->id, hex);
			log_errorx("pack %s: blob %s %s", name, hex,
				   be_e == -ERANGE ? "lies beyond the end of the pack" :
				   be_e == -EBADMSG ? "fails authentication" :
				   coffer_strerror(be_e));
			c->res.errors++;
			*damaged = true;
		} else if (be->type == BLOB_DELTA &&
			   (e = check_delta(c, p, name, be, &plain, &recon)) != 0) {
			goto out;
		}
	}
out:
	free(hdr);
	buf_fini(&file);
	buf_fini(&plain);
	buf_fini(&recon);
	return e;
}

/* Whether read_data reads this pack (check_opts.share_of). */
static bool in_share(const struct check *c, const uint8_t pack_id[32])
{
	if (c->o == NULL || c->o->share_of == 0)
		return true;
	return le32_get(pack_id) % c->o->share_of == c->o->share_slot % c->o->share_of;
}

/*
 * Every indexed pack must exist and be long enough for its blobs and the
 * trailer; with read_data it is also read and verified. Packs in the store
 * that no index lists are counted as orphans.
 */
static int check_packs(struct check *c)
{
	char name[65];
	int e = 0;
	uint64_t bytes_total = 0, bytes_done = 0;
	c->res.packs = c->mi.n_packs;
	for (size_t p = 0; p < c->mi.n_packs; p++) {
		uint64_t size;
		if (in_share(c, c->mi.packs[p].ip->pack_id) &&
		    idset_get(c->sp.sizes, c->mi.packs[p].ip->pack_id, &size))
			bytes_total += size;
	}
	for (size_t p = 0; p < c->mi.n_packs && e == 0; p++) {
		if (c->o != NULL && c->o->read_data && c->o->cancel != NULL &&
		    atomic_load_explicit(c->o->cancel, memory_order_relaxed))
			return -ECANCELED;
		const struct index_pack *ip = c->mi.packs[p].ip;
		uint64_t size, end = 0;
		bool damaged = false;
		hex_id(ip->pack_id, name);
		for (size_t i = 0; i < ip->n; i++) {
			uint64_t be = (uint64_t)ip->blobs[i].offset + ip->blobs[i].stored_len;
			end = be > end ? be : end;
		}
		if (!idset_get(c->sp.sizes, ip->pack_id, &size)) {
			log_errorx("pack %s is listed in the index but missing from the store",
				   name);
			c->res.errors++;
			e = mark_pack_bad(c, p, BAD_MISSING_PACK);
			continue;
		}
		if (size < end + PACK_TRAILER_LEN) {
			log_errorx("pack %s is truncated: %llu bytes, its blobs and trailer "
				   "need at least %llu", name, (unsigned long long)size,
				   (unsigned long long)(end + PACK_TRAILER_LEN));
			c->res.errors++;
			damaged = true;
		} else if (c->o != NULL && c->o->read_data && in_share(c, ip->pack_id)) {
			e = check_pack_data(c, p, name, &damaged);
			bytes_done += size;
			if (c->o->progress != NULL)
				c->o->progress(p + 1, c->mi.n_packs, bytes_done, bytes_total,
					       c->o->progress_arg);
		}
		if (e == 0 && damaged) {
			c->res.damaged_packs++;
			e = mark_pack_bad(c, p, BAD_DAMAGED_PACK);
		}
	}
	return e;
}

/*
 * Without read_data: every referenced delta's base must be indexed as a
 * plain data blob and not be bad. Reads each delta's header (small
 * blobs); with read_data check_delta has already done more.
 */
static int check_delta_base(const uint8_t id[32], uint64_t v, void *arg)
{
	struct check *c = arg;
	struct blob_loc loc;
	uint8_t base[BLOB_ID_LEN];
	uint32_t length;
	char hex[65], bhex[65];
	(void)v;
	if (idset_has(c->bad, id) || !index_lookup(repo_index(c->r), id, &loc) ||
	    loc.e.type != BLOB_DELTA)
		return 0;
	hex_id(id, hex);
	int e = repo_delta_header(c->r, id, base, &length);
	if (e == -ENOMEM)
		return e;
	if (e != 0) {
		log_errorx("delta blob %s cannot be read: %s", hex, coffer_strerror(e));
	} else if (!index_lookup(repo_index(c->r), base, &loc) || loc.e.type != BLOB_DATA ||
		   idset_has(c->bad, base)) {
		hex_id(base, bhex);
		log_errorx("delta blob %s: its base %s is missing, damaged or not a data blob",
			   hex, bhex);
	} else {
		return 0;
	}
	c->res.errors++;
	return mark_bad(c, id, BAD(BAD_DELTA, 0));
}

static int count_orphan(const uint8_t id[32], uint64_t size, void *arg)
{
	struct check *c = arg;
	char hex[65];
	if (idset_has(c->mi.pack_ids, id))
		return 0;
	hex_id(id, hex);
	log_debug("pack %s is listed in no index", hex);
	c->res.orphan_packs++;
	return 0;
}

/* Second walk: name every file that needs a bad blob, once per snapshot. */
static int affected_push(struct check *c)
{
	if (c->depth == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		uint64_t *nc = realloc(c->counts, cap * sizeof *nc);
		if (nc == NULL)
			return -ENOMEM;
		c->counts = nc;
		c->cap = cap;
	}
	c->counts[c->depth++] = 0;
	return 0;
}

/* Counts a finding in the innermost open tree. */
static void affected_note(struct check *c)
{
	c->res.affected_files++;
	if (c->depth > 0)
		c->counts[c->depth - 1]++;
}

static void affected_print(struct check *c, const char *path, const char *what,
			   uint64_t v, const uint8_t id[32])
{
	char hex[65];
	switch (BAD_REASON(v)) {
	case BAD_MISSING_PACK:
	case BAD_DAMAGED_PACK:
		hex_id(c->mi.packs[BAD_PACK(v)].ip->pack_id, hex);
		log_errorx("snapshot %s: %s%s needs %s pack %s", c->snap, path, what,
			   BAD_REASON(v) == BAD_MISSING_PACK ? "missing" : "damaged", hex);
		break;
	case BAD_TYPE:
		hex_id(id, hex);
		log_errorx("snapshot %s: %s%s needs blob %s, indexed with the wrong type",
			   c->snap, path, what, hex);
		break;
	case BAD_DELTA:
		hex_id(id, hex);
		log_errorx("snapshot %s: %s%s needs delta blob %s, which cannot be "
			   "reconstructed", c->snap, path, what, hex);
		break;
	default:
		hex_id(id, hex);
		log_errorx("snapshot %s: %s%s needs blob %s, which is in no index", c->snap,
			   path, what, hex);
		break;
	}
}

static void affected_unreadable(struct check *c, const uint8_t id[32], const char *path)
{
	char hex[65];
	hex_id(id, hex);
	log_errorx("snapshot %s: directory %s (tree %s) cannot be read; the files below it "
		   "are unknown", c->snap, path, hex);
	affected_note(c);
}

static int affected_enter(void *arg, const uint8_t id[32], const char *path)
{
	struct check *c = arg;
	uint64_t v;
	if (idset_has(c->clean, id))
		return 1;
	if (idset_get(c->bad, id, &v)) {
		if (BAD_REASON(v) == BAD_TREE) {
			affected_unreadable(c, id, path);
			return 1;
		}
		/* The listing may still load: say so, and look below it. */
		affected_print(c, path, " (directory)", v, id);
		affected_note(c);
	}
	return affected_push(c);
}

static int affected_fail(void *arg, const uint8_t id[32], const char *path, int err)
{
	struct check *c = arg;
	c->depth--;
	affected_unreadable(c, id, path);
	return 0;
}

static int affected_node(void *arg, const struct node *n, const char *path)
{
	struct check *c = arg;
	uint64_t v;
	if (n->type != NODE_FILE)
		return 0;
	for (size_t i = 0; i < n->n_extents; i++) {
		if (idset_get(c->bad, n->extents[i].id, &v)) {
			affected_print(c, path, "", v, n->extents[i].id);
			affected_note(c);
			break;
		}
	}
	return 0;
}

static int affected_leave(void *arg, const uint8_t id[32], const char *path)
{
	struct check *c = arg;
	uint64_t found = c->counts[--c->depth];
	if (found == 0)
		return idset_add(c->clean, id, 0, NULL);
	if (c->depth > 0)
		c->counts[c->depth - 1] += found;
	return 0;
}

static int check_affected(struct check *c)
{
	static const struct maint_walk_ops ops = {
		.enter = affected_enter, .fail = affected_fail,
		.node = affected_node, .leave = affected_leave,
	};
	if ((c->clean = idset_new()) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_snaps; i++) {
		maint_short_id(c->snaps[i].id, c->snap);
		c->depth = 0;
		int e = maint_walk(c->r, c->snaps[i].snap.tree, &ops, c);
		if (e != 0)
			return e;
	}
	return 0;
}

/* Takes a shared lock unless the caller holds one: a prune must not delete
 * what is being checked. A read-only repository is checked without one. */
static int check_lock(struct repo *r, bool *taken)
{
	int e = repo_lock(r, false);
	*taken = e == 0;
	if (e == 0 || e == -EALREADY)
		return 0;
	if (e == -EBUSY)
		return e;
	log_warnx("cannot take a lock (%s); checking without one", coffer_strerror(e));
	return 0;
}

int repo_check(struct repo *r, const struct check_opts *o, struct check_result *res)
{
	struct check c = { .r = r, .o = o };
	size_t n_bad_snaps = 0;
	bool locked = false;
	int e = check_lock(r, &locked);
	if (e != 0)
		return e;
	c.trees = idset_new();
	c.data = idset_new();
	c.bad = idset_new();
	if (c.trees == NULL || c.data == NULL || c.bad == NULL) {
		e = -ENOMEM;
		goto out;
	}
	if ((e = repo_snapshot_list(r, &c.snaps, &c.n_snaps, &n_bad_snaps)) != 0) {
		log_errorx("cannot list snapshots: %s", coffer_strerror(e));
		goto out;
	}
	c.res.snapshots = c.n_snaps;
	c.res.errors += n_bad_snaps;
	if ((e = maint_index_load(r, &c.mi)) != 0)
		goto out;
	c.res.errors += c.mi.n_bad;
	for (size_t i = 0; i < c.mi.n_files; i++)
		if (c.mi.superseded[i])
			log_info("index file %s is superseded (left by an interrupted prune); "
				 "the next prune removes it", c.mi.names[i]);
	if ((e = check_trees(&c)) != 0)
		goto out;
	c.res.data_blobs = idset_count(c.data);
	if ((e = idset_foreach(c.data, check_data_one, &c)) != 0)
		goto out;
	if ((e = maint_store_packs_list(r, &c.sp)) != 0)
		goto out;
	if ((e = check_packs(&c)) != 0)
		goto out;
	/* A share leaves deltas in unread packs: their bases are checked as without read_data. */
	if ((o == NULL || !o->read_data || o->share_of > 0) &&
	    (e = idset_foreach(c.data, check_delta_base, &c)) != 0)
		goto out;
	if ((e = idset_foreach(c.sp.sizes, count_orphan, &c)) != 0)
		goto out;
	if (c.res.orphan_packs)
		log_info("%llu pack(s) are listed in no index (left by an interrupted backup "
			 "or prune); prune removes them", (unsigned long long)c.res.orphan_packs);
	if (idset_count(c.bad) > 0 && (e = check_affected(&c)) != 0)
		goto out;
	*res = c.res;
	e = c.res.errors ? -EBADMSG : 0;
out:
	if (e != 0 && e != -EBADMSG)
		log_errorx("check stopped: %s", coffer_strerror(e));
	snapshot_entries_free(c.snaps, c.n_snaps);
	maint_index_fini(&c.mi);
	maint_store_packs_fini(&c.sp);
	idset_free(c.trees);
	idset_free(c.data);
	idset_free(c.bad);
	idset_free(c.clean);
	free(c.counts);
	if (locked)
		repo_unlock(r);
	return e;
}
