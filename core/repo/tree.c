/*
 * Tree codec: one directory listing per blob (layout in docs/format/tree.md).
 *
 * Trees come back from the repository during restore, check and the next
 * backup, so the decoder treats its input as hostile: every length and count
 * is bounded by the format limits and by the bytes actually left before
 * anything is allocated. The decoder accepts exactly what the encoder
 * produces (sorted unique names, no stray fields, every byte consumed), so a
 * directory has a single encoding and equal directories deduplicate.
 */
#include "repo/tree.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

/*
 * Smallest encodings, to bound untrusted counts by the input left: a node
 * with a 1-byte name, empty user, group and link, no xattrs and no
 * type-specific tail; an xattr with a 1-byte name and an empty value.
 */
#define NODE_MIN_LEN (4 + 1 + 1 + 4 * 4 + 4 + 4 + 3 * 12 + 3 * 8 + 4 + 8 + 4 + 4)
#define XATTR_MIN_LEN (4 + 1 + 4)
#define EXTENT_LEN (8 + 4 + BLOB_ID_LEN)
#define NSEC_PER_SEC 1000000000u

/* Bytewise order: memcmp over the common prefix, then shorter first. */
static int name_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

static int node_cmp(const struct node *a, const struct node *b)
{
	return name_cmp(a->name, a->name_len, b->name, b->name_len);
}

static bool name_ok(const uint8_t *p, size_t n)
{
	if (p == NULL || n == 0 || n > TREE_MAX_NAME)
		return false;
	if (memchr(p, '/', n) != NULL || memchr(p, 0, n) != NULL)
		return false;
	if (p[0] == '.' && (n == 1 || (n == 2 && p[1] == '.')))
		return false;
	return true;
}

/* NULL counts as the empty string, as buf_put_str writes it. */
static bool cstr_ok(const char *s, size_t min, size_t max)
{
	size_t n = s ? strnlen(s, max + 1) : 0;

	return n >= min && n <= max;
}

static bool time_ok(const struct ns_time *t)
{
	return t->nsec < NSEC_PER_SEC;
}

static bool xattrs_ok(const struct node *n)
{
	if (n->n_xattrs > TREE_MAX_XATTRS)
		return false;
	if (n->n_xattrs && n->xattrs == NULL)
		return false;
	for (size_t i = 0; i < n->n_xattrs; i++) {
		const struct xattr *x = &n->xattrs[i];

		if (x->name == NULL || !cstr_ok(x->name, 1, TREE_MAX_XATTR_NAME))
			return false;
		if (x->len > TREE_MAX_XATTR_VALUE || (x->len && x->value == NULL))
			return false;
		if (i > 0 && strcmp(n->xattrs[i - 1].name, x->name) >= 0)
			return false;
	}
	return true;
}

static bool extents_ok(const struct node *n)
{
	if (n->type != NODE_FILE)
		return n->n_extents == 0;
	if (n->n_extents > UINT32_MAX || (n->n_extents && n->extents == NULL))
		return false;
	for (size_t i = 0; i < n->n_extents; i++) {
		const struct extent *x = &n->extents[i];

		if (x->len == 0 || x->offset > n->size ||
		    x->len > n->size - x->offset)
			return false;
		/* The previous extent ends within size, so this cannot wrap. */
		if (i > 0 && x->offset < n->extents[i - 1].offset +
					 n->extents[i - 1].len)
			return false;
	}
	return true;
}

/* Every per-node invariant of docs/format/tree.md except the ordering. */
static bool node_ok(const struct node *n)
{
	if (!name_ok(n->name, n->name_len))
		return false;
	if (n->type < NODE_FILE || n->type > NODE_SOCK)
		return false;
	if ((n->flags & ~(uint32_t)NODE_F_KNOWN) != 0 || (n->mode & ~07777u) != 0)
		return false;
	if (!time_ok(&n->atime) || !time_ok(&n->mtime) || !time_ok(&n->ctime))
		return false;
	if (!cstr_ok(n->user, 0, TREE_MAX_OWNER_NAME) ||
	    !cstr_ok(n->group, 0, TREE_MAX_OWNER_NAME))
		return false;
	if (n->type == NODE_SYMLINK) {
		if (n->link == NULL || n->link_len == 0 ||
		    n->link_len > TREE_MAX_LINK ||
		    memchr(n->link, 0, n->link_len) != NULL)
			return false;
	} else if (n->link_len != 0) {
		return false;
	}
	if (n->rdev != 0 && n->type != NODE_CHR && n->type != NODE_BLK)
		return false;
	return xattrs_ok(n) && extents_ok(n);
}

void node_fini(struct node *n)
{
	if (n == NULL)
		return;
	/* Names, targets and xattr values are plaintext of the backed-up data. */
	mem_wipe(n->name, n->name_len);
	free(n->name);
	free(n->user);
	free(n->group);
	mem_wipe(n->link, n->link_len);
	free(n->link);
	for (size_t i = 0; i < n->n_xattrs && n->xattrs != NULL; i++) {
		struct xattr *x = &n->xattrs[i];

		if (x->name != NULL)
			mem_wipe(x->name, strlen(x->name));
		free(x->name);
		mem_wipe(x->value, x->len);
		free(x->value);
	}
	free(n->xattrs);
	free(n->extents);
	memset(n, 0, sizeof *n);
}

int node_copy_link_xattrs(struct node *dst, const struct node *src)
{
	if (src->link_len > 0) {
		if ((dst->link = malloc(src->link_len)) == NULL)
			return -ENOMEM;
		memcpy(dst->link, src->link, src->link_len);
		dst->link_len = src->link_len;
	}
	if (src->n_xattrs == 0)
		return 0;
	if ((dst->xattrs = calloc(src->n_xattrs, sizeof *dst->xattrs)) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < src->n_xattrs; i++) {
		const struct xattr *s = &src->xattrs[i];
		struct xattr *d = &dst->xattrs[i];

		d->name = strdup(s->name);
		d->value = malloc(s->len ? s->len : 1);
		dst->n_xattrs = i + 1;
		if (d->name == NULL || d->value == NULL)
			return -ENOMEM;
		if (s->len > 0)
			memcpy(d->value, s->value, s->len);
		d->len = s->len;
	}
	return 0;
}

void tree_init(struct tree *t)
{
	t->nodes = NULL;
	t->n = 0;
	t->cap = 0;
}

void tree_fini(struct tree *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n && t->nodes != NULL; i++)
		node_fini(&t->nodes[i]);
	free(t->nodes);
	tree_init(t);
}

static int node_qsort_cmp(const void *a, const void *b)
{
	return node_cmp(a, b);
}

void tree_sort(struct tree *t)
{
	if (t->n > 1)
		qsort(t->nodes, t->n, sizeof *t->nodes, node_qsort_cmp);
}

const struct node *tree_find(const struct tree *t, const uint8_t *name, size_t len)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct node *n = &t->nodes[mid];
		int c = name_cmp(name, len, n->name, n->name_len);

		if (c == 0)
			return n;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * Grows by doubling. The test is n >= cap rather than n == cap so that a
 * tree whose array was built by hand (cap left 0) is reallocated, not
 * overrun.
 */
int tree_add(struct tree *t, struct node *n)
{
	if (t->n >= t->cap) {
		size_t cap = t->n < 4 ? 8 : t->n * 2;

		if (cap > SIZE_MAX / sizeof *t->nodes)
			return -ENOMEM;
		struct node *p = realloc(t->nodes, cap * sizeof *p);
		if (p == NULL)
			return -ENOMEM;
		t->nodes = p;
		t->cap = cap;
	}
	t->nodes[t->n++] = *n;
	memset(n, 0, sizeof *n);
	return 0;
}

static int put_time(struct buf *b, const struct ns_time *t)
{
	int r = buf_put_u64(b, (uint64_t)t->sec);

	if (r == 0)
		r = buf_put_u32(b, t->nsec);
	return r;
}

/* Writes one node already checked by node_ok. */
static int node_put(struct buf *b, const struct node *n)
{
	int r = buf_put_bytes(b, n->name, n->name_len);

	if (r == 0)
		r = buf_put_u8(b, n->type);
	if (r == 0)
		r = buf_put_u32(b, n->flags);
	if (r == 0)
		r = buf_put_u32(b, n->mode);
	if (r == 0)
		r = buf_put_u32(b, n->uid);
	if (r == 0)
		r = buf_put_u32(b, n->gid);
	if (r == 0)
		r = buf_put_str(b, n->user);
	if (r == 0)
		r = buf_put_str(b, n->group);
	if (r == 0)
		r = put_time(b, &n->atime);
	if (r == 0)
		r = put_time(b, &n->mtime);
	if (r == 0)
		r = put_time(b, &n->ctime);
	if (r == 0)
		r = buf_put_u64(b, n->size);
	if (r == 0)
		r = buf_put_u64(b, n->inode);
	if (r == 0)
		r = buf_put_u64(b, n->dev);
	if (r == 0)
		r = buf_put_u32(b, n->nlink);
	if (r == 0)
		r = buf_put_u64(b, n->rdev);
	if (r == 0)
		r = buf_put_bytes(b, n->link, n->link_len);
	if (r == 0)
		r = buf_put_u32(b, (uint32_t)n->n_xattrs);
	for (size_t i = 0; r == 0 && i < n->n_xattrs; i++) {
		r = buf_put_str(b, n->xattrs[i].name);
		if (r == 0)
			r = buf_put_bytes(b, n->xattrs[i].value, n->xattrs[i].len);
	}
	if (r == 0 && n->type == NODE_FILE) {
		r = buf_put_u32(b, (uint32_t)n->n_extents);
		for (size_t i = 0; r == 0 && i < n->n_extents; i++) {
			const struct extent *x = &n->extents[i];

			r = buf_put_u64(b, x->offset);
			if (r == 0)
				r = buf_put_u32(b, x->len);
			if (r == 0)
				r = buf_put(b, x->id, BLOB_ID_LEN);
		}
	}
	if (r == 0 && n->type == NODE_DIR)
		r = buf_put(b, n->subtree, BLOB_ID_LEN);
	return r;
}

/*
 * Checks the whole tree before writing anything, so on -EINVAL out is
 * untouched; on -ENOMEM whatever was appended is dropped again.
 */
int tree_encode(const struct tree *t, struct buf *out)
{
	size_t start = out->len;
	int r;

	if (t->n > UINT32_MAX || (t->n && t->nodes == NULL))
		return -EINVAL;
	for (size_t i = 0; i < t->n; i++) {
		if (!node_ok(&t->nodes[i]))
			return -EINVAL;
		if (i > 0 && node_cmp(&t->nodes[i - 1], &t->nodes[i]) >= 0)
			return -EINVAL;
	}
	r = buf_put_u32(out, TREE_FORMAT_VERSION);
	if (r == 0)
		r = buf_put_u32(out, (uint32_t)t->n);
	for (size_t i = 0; r == 0 && i < t->n; i++)
		r = node_put(out, &t->nodes[i]);
	if (r != 0)
		out->len = start;
	return r;
}

/* Two's complement back to int64 without implementation-defined casts. */
static int64_t u64_to_i64(uint64_t v)
{
	if (v <= INT64_MAX)
		return (int64_t)v;
	return -(int64_t)(~v) - 1;
}

static int get_time(struct rbuf *r, struct ns_time *t)
{
	uint64_t sec;
	int e = rbuf_get_u64(r, &sec);

	if (e == 0)
		e = rbuf_get_u32(r, &t->nsec);
	if (e == 0)
		t->sec = u64_to_i64(sec);
	return e;
}

/* A heap copy of n bytes; never NULL on success, even for n == 0. */
static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	if (d != NULL && n)
		memcpy(d, p, n);
	return d;
}

static int get_xattrs(struct rbuf *r, struct node *n)
{
	uint32_t cnt;
	int e = rbuf_get_u32(r, &cnt);

	if (e != 0)
		return e;
	if (cnt > TREE_MAX_XATTRS || cnt > rbuf_left(r) / XATTR_MIN_LEN)
		return -EBADMSG;
	if (cnt == 0)
		return 0;
	n->xattrs = calloc(cnt, sizeof *n->xattrs);
	if (n->xattrs == NULL)
		return -ENOMEM;
	n->n_xattrs = cnt;
	for (uint32_t i = 0; i < cnt; i++) {
		struct xattr *x = &n->xattrs[i];
		const uint8_t *v;
		size_t len;

		e = rbuf_get_str(r, TREE_MAX_XATTR_NAME, &x->name);
		if (e == 0)
			e = rbuf_get_bytes_ref(r, TREE_MAX_XATTR_VALUE, &v, &len);
		if (e != 0)
			return e;
		x->value = dup_bytes(v, len);
		if (x->value == NULL)
			return -ENOMEM;
		x->len = len;
	}
	return 0;
}

static int get_extents(struct rbuf *r, struct node *n)
{
	uint32_t cnt;
	int e = rbuf_get_u32(r, &cnt);

	if (e != 0)
		return e;
	if (cnt > rbuf_left(r) / EXTENT_LEN)
		return -EBADMSG;
	if (cnt == 0)
		return 0;
	n->extents = calloc(cnt, sizeof *n->extents);
	if (n->extents == NULL)
		return -ENOMEM;
	n->n_extents = cnt;
	for (uint32_t i = 0; e == 0 && i < cnt; i++) {
		struct extent *x = &n->extents[i];

		e = rbuf_get_u64(r, &x->offset);
		if (e == 0)
			e = rbuf_get_u32(r, &x->len);
		if (e == 0)
			e = rbuf_get(r, x->id, BLOB_ID_LEN);
	}
	return e;
}

/*
 * Reads one node into the zeroed *n. On failure *n may hold partial
 * allocations: the caller frees it with node_fini.
 */
static int node_get(struct rbuf *r, struct node *n)
{
	const uint8_t *p;
	size_t len;
	int e = rbuf_get_bytes_ref(r, TREE_MAX_NAME, &p, &len);

	if (e != 0)
		return e;
	if (!name_ok(p, len))
		return -EBADMSG;
	n->name = dup_bytes(p, len);
	if (n->name == NULL)
		return -ENOMEM;
	n->name_len = len;

	e = rbuf_get_u8(r, &n->type);
	if (e == 0)
		e = rbuf_get_u32(r, &n->flags);
	if (e == 0)
		e = rbuf_get_u32(r, &n->mode);
	if (e == 0)
		e = rbuf_get_u32(r, &n->uid);
	if (e == 0)
		e = rbuf_get_u32(r, &n->gid);
	if (e == 0)
		e = rbuf_get_str(r, TREE_MAX_OWNER_NAME, &n->user);
	if (e == 0)
		e = rbuf_get_str(r, TREE_MAX_OWNER_NAME, &n->group);
	if (e == 0)
		e = get_time(r, &n->atime);
	if (e == 0)
		e = get_time(r, &n->mtime);
	if (e == 0)
		e = get_time(r, &n->ctime);
	if (e == 0)
		e = rbuf_get_u64(r, &n->size);
	if (e == 0)
		e = rbuf_get_u64(r, &n->inode);
	if (e == 0)
		e = rbuf_get_u64(r, &n->dev);
	if (e == 0)
		e = rbuf_get_u32(r, &n->nlink);
	if (e == 0)
		e = rbuf_get_u64(r, &n->rdev);
	if (e == 0)
		e = rbuf_get_bytes_ref(r, TREE_MAX_LINK, &p, &len);
	if (e != 0)
		return e;
	if (len) {
		n->link = dup_bytes(p, len);
		if (n->link == NULL)
			return -ENOMEM;
		n->link_len = len;
	}
	e = get_xattrs(r, n);
	if (e == 0 && n->type == NODE_FILE)
		e = get_extents(r, n);
	if (e == 0 && n->type == NODE_DIR)
		e = rbuf_get(r, n->subtree, BLOB_ID_LEN);
	if (e == 0 && !node_ok(n))
		e = -EBADMSG;
	return e;
}

/*
 * Decodes into *t (overwritten, not freed) only on success. -ENOTSUP for
 * another format version, -EBADMSG for anything the encoder would not
 * have produced.
 */
int tree_decode(const uint8_t *p, size_t len, struct tree *t)
{
	struct tree tmp;
	struct rbuf r;
	uint32_t ver, cnt;
	int e;

	tree_init(&tmp);
	rbuf_init(&r, p, len);
	e = rbuf_get_u32(&r, &ver);
	if (e != 0)
		goto out;
	if (ver != TREE_FORMAT_VERSION) {
		e = -ENOTSUP;
		goto out;
	}
	e = rbuf_get_u32(&r, &cnt);
	if (e != 0)
		goto out;
	if (cnt > rbuf_left(&r) / NODE_MIN_LEN) {
		e = -EBADMSG;
		goto out;
	}
	if (cnt) {
		tmp.nodes = calloc(cnt, sizeof *tmp.nodes);
		if (tmp.nodes == NULL) {
			e = -ENOMEM;
			goto out;
		}
		tmp.cap = cnt;
	}
	for (uint32_t i = 0; i < cnt; i++) {
		tmp.n = i + 1; /* so tree_fini frees a half-read node too */
		e = node_get(&r, &tmp.nodes[i]);
		if (e != 0)
			goto out;
		if (i > 0 && node_cmp(&tmp.nodes[i - 1], &tmp.nodes[i]) >= 0) {
			e = -EBADMSG;
			goto out;
		}
	}
	e = rbuf_end(&r);
out:
	if (e != 0)
		tree_fini(&tmp);
	else
		*t = tmp;
	return e;
}
