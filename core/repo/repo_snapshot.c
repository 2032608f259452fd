/* Snapshot files: sealed, content-named, listed oldest first. */
#include "repo/repo_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hex.h"
#include "util/log.h"

int repo_snapshot_save(struct repo *r, const struct snapshot *s, uint8_t id[32])
{
	struct buf pt = { 0 };
	int e = snapshot_encode(s, &pt);
	if (e == 0)
		e = repo_meta_save(r, STORE_SNAPSHOT, pt.data, pt.len, id);
	buf_fini(&pt);
	return e;
}

/* Loads by object name, checking the content against the name first. */
static int repo_snapshot_load_name(struct repo *r, const char *name, struct snapshot *s)
{
	struct buf pt = { 0 };
	int e = repo_meta_load(r, STORE_SNAPSHOT, name, &pt);
	if (e == 0)
		e = snapshot_decode(pt.data, pt.len, s);
	buf_fini(&pt);
	return e;
}

int repo_snapshot_load(struct repo *r, const uint8_t id[32], struct snapshot *s)
{
	char name[65];
	repo_hex_name(id, name);
	return repo_snapshot_load_name(r, name, s);
}

struct snap_list {
	struct repo *r;
	struct snapshot_entry *e;
	size_t n, cap, bad;
};

static int snap_list_one(const char *name, uint64_t size, void *arg)
{
	struct snap_list *sl = arg;
	if (sl->n == sl->cap) {
		size_t cap = sl->cap ? sl->cap * 2 : 16;
		struct snapshot_entry *ne = realloc(sl->e, cap * sizeof *ne);
		if (ne == NULL)
			return -ENOMEM;
		sl->e = ne;
		sl->cap = cap;
	}
	struct snapshot_entry *se = &sl->e[sl->n];
	snapshot_init(&se->snap);
	int e = repo_snapshot_load_name(sl->r, name, &se->snap);
	if (e == 0)
		e = hex_decode(name, se->id, 32);
	if (e == -ENOMEM)
		return e;
	if (e != 0) {
		log_errorx("snapshot %s is damaged: %s", name, coffer_strerror(e));
		snapshot_fini(&se->snap);
		sl->bad++;
		return 0;
	}
	sl->n++;
	return 0;
}

static int snap_cmp_time(const void *a, const void *b)
{
	const struct snapshot_entry *x = a, *y = b;
	if (x->snap.time.sec != y->snap.time.sec)
		return x->snap.time.sec < y->snap.time.sec ? -1 : 1;
	if (x->snap.time.nsec != y->snap.time.nsec)
		return x->snap.time.nsec < y->snap.time.nsec ? -1 : 1;
	return memcmp(x->id, y->id, 32);
}

int repo_snapshot_list(struct repo *r, struct snapshot_entry **out, size_t *n,
		       size_t *n_bad)
{
	struct snap_list sl = { .r = r };
	int e = store_list(r->store, STORE_SNAPSHOT, snap_list_one, &sl);
	if (e != 0) {
		snapshot_entries_free(sl.e, sl.n);
		return e;
	}
	if (sl.n)
		qsort(sl.e, sl.n, sizeof *sl.e, snap_cmp_time);
	*out = sl.e;
	*n = sl.n;
	if (n_bad != NULL)
		*n_bad = sl.bad;
	return 0;
}

void snapshot_entries_free(struct snapshot_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snapshot_fini(&e[i].snap);
	free(e);
}

struct snap_match {
	const char *prefix;
	size_t len;
	size_t matches;
	uint8_t id[32];
};

static int snap_match_one(const char *name, uint64_t size, void *arg)
{
	struct snap_match *m = arg;
	if (strncmp(name, m->prefix, m->len) != 0)
		return 0;
	if (m->matches++ == 0 && hex_decode(name, m->id, 32) != 0)
		return -EBADMSG;
	return 0;
}

int repo_snapshot_resolve(struct repo *r, const char *spec, uint8_t id[32])
{
	if (strcmp(spec, "latest") == 0) {
		struct snapshot_entry *e;
		size_t n;
		int rc = repo_snapshot_list(r, &e, &n, NULL);
		if (rc != 0)
			return rc;
		if (n == 0) {
			snapshot_entries_free(e, n);
			return -ENOENT;
		}
		memcpy(id, e[n - 1].id, 32);
		snapshot_entries_free(e, n);
		return 0;
	}
	size_t len = strlen(spec);
	if (len == 0 || len > 64 || strspn(spec, "0123456789abcdef") != len)
		return -EINVAL;
	struct snap_match m = { .prefix = spec, .len = len };
	int rc = store_list(r->store, STORE_SNAPSHOT, snap_match_one, &m);
	if (rc != 0)
		return rc;
	if (m.matches == 0)
		return -ENOENT;
	if (m.matches > 1)
		return -ENOTUNIQ;
	memcpy(id, m.id, 32);
	return 0;
}

int repo_snapshot_remove(struct repo *r, const uint8_t id[32])
{
	char name[65];
	repo_hex_name(id, name);
	return store_remove(r->store, STORE_SNAPSHOT, name);
}
