/*
 * Snapshot codec (layout in docs/format/snapshot.md).
 *
 * A snapshot file is the entry point of a restore, so its decoder is as
 * strict as the tree decoder: bounded strings without NUL, counts checked
 * against the input left before allocating, a canonical has_parent byte,
 * and no trailing bytes. Encoding is deterministic, so decode followed by
 * encode reproduces the input exactly.
 */
#include "repo/snapshot.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NSEC_PER_SEC 1000000000u
#define STR_MIN_LEN 4 /* an empty str: just its length */

void snapshot_init(struct snapshot *s)
{
	memset(s, 0, sizeof *s);
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n && v != NULL; i++)
		free(v[i]);
	free(v);
}

void snapshot_fini(struct snapshot *s)
{
	if (s == NULL)
		return;
	free(s->hostname);
	free(s->username);
	free_strv(s->paths, s->n_paths);
	free_strv(s->tags, s->n_tags);
	free(s->source);
	free(s->dataset);
	free(s->program);
	snapshot_init(s);
}

/* NULL counts as the empty string, as buf_put_str writes it. */
static bool str_ok(const char *s, size_t min)
{
	size_t n = s ? strnlen(s, SNAPSHOT_MAX_STR + 1) : 0;

	return n >= min && n <= SNAPSHOT_MAX_STR;
}

static bool snapshot_ok(const struct snapshot *s)
{
	if (s->time.nsec >= NSEC_PER_SEC)
		return false;
	if (!str_ok(s->hostname, 0) || !str_ok(s->username, 0) ||
	    !str_ok(s->source, 0) || !str_ok(s->dataset, 0) ||
	    !str_ok(s->program, 0))
		return false;
	if (s->n_paths > SNAPSHOT_MAX_PATHS || (s->n_paths && s->paths == NULL))
		return false;
	for (size_t i = 0; i < s->n_paths; i++)
		if (!str_ok(s->paths[i], 1))
			return false;
	if (s->n_tags > SNAPSHOT_MAX_TAGS || (s->n_tags && s->tags == NULL))
		return false;
	for (size_t i = 0; i < s->n_tags; i++)
		if (!str_ok(s->tags[i], 0))
			return false;
	return true;
}

static int put_strv(struct buf *b, char *const *v, size_t n)
{
	int r = buf_put_u32(b, (uint32_t)n);

	for (size_t i = 0; r == 0 && i < n; i++)
		r = buf_put_str(b, v[i]);
	return r;
}

#define N_STATS 10 /* fields of struct snapshot_stats, in encoding order */

static int put_stats(struct buf *b, const struct snapshot_stats *st)
{
	const uint64_t v[N_STATS] = {
		st->files, st->dirs, st->others, st->bytes, st->bytes_read,
		st->blobs_added, st->bytes_added, st->stored_added,
		st->errors, st->duration_ns,
	};
	int r = 0;

	for (size_t i = 0; r == 0 && i < N_STATS; i++)
		r = buf_put_u64(b, v[i]);
	return r;
}

static int get_stats(struct rbuf *r, struct snapshot_stats *st)
{
	uint64_t v[N_STATS];

	for (size_t i = 0; i < N_STATS; i++)
		if (rbuf_get_u64(r, &v[i]) != 0)
			return -EBADMSG;
	st->files = v[0];
	st->dirs = v[1];
	st->others = v[2];
	st->bytes = v[3];
	st->bytes_read = v[4];
	st->blobs_added = v[5];
	st->bytes_added = v[6];
	st->stored_added = v[7];
	st->errors = v[8];
	st->duration_ns = v[9];
	return 0;
}

/*
 * Appends the encoding to out. -EINVAL (out untouched) if s breaks a limit;
 * -ENOMEM (out restored to its former length).
 */
int snapshot_encode(const struct snapshot *s, struct buf *out)
{
	size_t start = out->len;
	int r;

	if (!snapshot_ok(s))
		return -EINVAL;
	r = buf_put_u32(out, SNAPSHOT_FORMAT_VERSION);
	if (r == 0)
		r = buf_put_u64(out, (uint64_t)s->time.sec);
	if (r == 0)
		r = buf_put_u32(out, s->time.nsec);
	if (r == 0)
		r = buf_put_str(out, s->hostname);
	if (r == 0)
		r = buf_put_str(out, s->username);
	if (r == 0)
		r = buf_put_u32(out, s->uid);
	if (r == 0)
		r = buf_put_u32(out, s->gid);
	if (r == 0)
		r = put_strv(out, s->paths, s->n_paths);
	if (r == 0)
		r = put_strv(out, s->tags, s->n_tags);
	if (r == 0)
		r = buf_put_str(out, s->source);
	if (r == 0)
		r = buf_put_str(out, s->dataset);
	if (r == 0)
		r = buf_put_str(out, s->program);
	if (r == 0)
		r = buf_put(out, s->tree, BLOB_ID_LEN);
	if (r == 0)
		r = buf_put_u8(out, s->has_parent ? 1 : 0);
	if (r == 0 && s->has_parent)
		r = buf_put(out, s->parent, sizeof s->parent);
	if (r == 0)
		r = put_stats(out, &s->stats);
	if (r != 0)
		out->len = start;
	return r;
}

/*
 * Reads a u32 count (at most max) and that many strings of at least min
 * bytes. The count is checked against the input left before allocating.
 * On failure *vp / *np describe what was allocated, for the caller to free.
 */
static int get_strv(struct rbuf *r, size_t max, size_t min, char ***vp, size_t *np)
{
	uint32_t cnt;
	int e = rbuf_get_u32(r, &cnt);

	if (e != 0)
		return e;
	if (cnt > max || cnt > rbuf_left(r) / (STR_MIN_LEN + min))
		return -EBADMSG;
	if (cnt == 0)
		return 0;
	*vp = calloc(cnt, sizeof **vp);
	if (*vp == NULL)
		return -ENOMEM;
	*np = cnt;
	for (uint32_t i = 0; i < cnt; i++) {
		e = rbuf_get_str(r, SNAPSHOT_MAX_STR, &(*vp)[i]);
		if (e != 0)
			return e;
		if (strlen((*vp)[i]) < min)
			return -EBADMSG;
	}
	return 0;
}

static int64_t u64_to_i64(uint64_t v)
{
	if (v <= INT64_MAX)
		return (int64_t)v;
	return -(int64_t)(~v) - 1;
}

/*
 * Decodes into *s (overwritten, not freed) only on success. -ENOTSUP for
 * another format version, -EBADMSG for malformed input.
 */
int snapshot_decode(const uint8_t *p, size_t len, struct snapshot *s)
{
	struct snapshot tmp;
	struct rbuf r;
	uint32_t ver;
	uint64_t sec;
	uint8_t hp;
	int e;

	snapshot_init(&tmp);
	rbuf_init(&r, p, len);
	e = rbuf_get_u32(&r, &ver);
	if (e != 0)
		goto out;
	if (ver != SNAPSHOT_FORMAT_VERSION) {
		e = -ENOTSUP;
		goto out;
	}
	e = rbuf_get_u64(&r, &sec);
	if (e == 0)
		e = rbuf_get_u32(&r, &tmp.time.nsec);
	if (e == 0)
		e = rbuf_get_str(&r, SNAPSHOT_MAX_STR, &tmp.hostname);
	if (e == 0)
		e = rbuf_get_str(&r, SNAPSHOT_MAX_STR, &tmp.username);
	if (e == 0)
		e = rbuf_get_u32(&r, &tmp.uid);
	if (e == 0)
		e = rbuf_get_u32(&r, &tmp.gid);
	if (e == 0)
		e = get_strv(&r, SNAPSHOT_MAX_PATHS, 1, &tmp.paths, &tmp.n_paths);
	if (e == 0)
		e = get_strv(&r, SNAPSHOT_MAX_TAGS, 0, &tmp.tags, &tmp.n_tags);
	if (e == 0)
		e = rbuf_get_str(&r, SNAPSHOT_MAX_STR, &tmp.source);
	if (e == 0)
		e = rbuf_get_str(&r, SNAPSHOT_MAX_STR, &tmp.dataset);
	if (e == 0)
		e = rbuf_get_str(&r, SNAPSHOT_MAX_STR, &tmp.program);
	if (e == 0)
		e = rbuf_get(&r, tmp.tree, BLOB_ID_LEN);
	if (e == 0)
		e = rbuf_get_u8(&r, &hp);
	if (e != 0)
		goto out;
	if (hp > 1 || tmp.time.nsec >= NSEC_PER_SEC) {
		e = -EBADMSG;
		goto out;
	}
	tmp.time.sec = u64_to_i64(sec);
	tmp.has_parent = hp == 1;
	if (tmp.has_parent)
		e = rbuf_get(&r, tmp.parent, sizeof tmp.parent);
	if (e == 0)
		e = get_stats(&r, &tmp.stats);
	if (e == 0)
		e = rbuf_end(&r);
out:
	if (e != 0)
		snapshot_fini(&tmp);
	else
		*s = tmp;
	return e;
}
