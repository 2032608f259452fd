/*
 * In-memory store for tests: the semantics of the local store (write-once,
 * -ENOENT, -EIO on short ranges) without a filesystem. Objects sit in a
 * flat array searched linearly, which is plenty for test-sized
 * repositories. A mutex makes it safe for the repository's worker threads.
 */
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

struct mem_obj {
	enum store_kind kind;
	char name[STORE_NAME_MAX + 1];
	uint8_t *data;
	size_t len;
};

struct store_mem {
	struct store base;
	pthread_mutex_t lock;
	struct mem_obj *objs;
	size_t n, cap;
};

static struct store_mem *mem_of(struct store *s)
{
	return (struct store_mem *)s;
}

/* The object's slot, or NULL. Called with the lock held. */
static struct mem_obj *mem_find(struct store_mem *m, enum store_kind k,
				const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->objs[i].kind == k && strcmp(m->objs[i].name, name) == 0)
			return &m->objs[i];
	return NULL;
}

static int mem_put(struct store *s, enum store_kind k, const char *name,
		   const void *data, size_t len)
{
	struct store_mem *m = mem_of(s);
	int e = 0;

	if (!store_name_valid(k, name))
		return -EINVAL;
	/* malloc(0) may return NULL: always allocate at least a byte. */
	uint8_t *copy = malloc(len ? len : 1);
	if (copy == NULL)
		return -ENOMEM;
	if (len)
		memcpy(copy, data, len);
	pthread_mutex_lock(&m->lock);
	if (mem_find(m, k, name) != NULL) {
		e = -EEXIST;
		goto out;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct mem_obj *objs = realloc(m->objs, cap * sizeof *objs);
		if (objs == NULL) {
			e = -ENOMEM;
			goto out;
		}
		m->objs = objs;
		m->cap = cap;
	}
	struct mem_obj *o = &m->objs[m->n++];
	o->kind = k;
	strcpy(o->name, name);
	o->data = copy;
	o->len = len;
	copy = NULL;
out:
	pthread_mutex_unlock(&m->lock);
	free(copy);
	return e;
}

static int mem_get(struct store *s, enum store_kind k, const char *name,
		   struct buf *out)
{
	struct store_mem *m = mem_of(s);
	int e;

	if (!store_name_valid(k, name))
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	struct mem_obj *o = mem_find(m, k, name);
	e = o == NULL ? -ENOENT : buf_put(out, o->data, o->len);
	pthread_mutex_unlock(&m->lock);
	return e;
}

static int mem_get_range(struct store *s, enum store_kind k, const char *name,
			 uint64_t off, size_t len, void *out)
{
	struct store_mem *m = mem_of(s);
	int e = 0;

	if (!store_name_valid(k, name))
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	struct mem_obj *o = mem_find(m, k, name);
	if (o == NULL)
		e = -ENOENT;
	else if (off > o->len || len > o->len - off)
		e = -EIO;
	else if (len)
		memcpy(out, o->data + off, len);
	pthread_mutex_unlock(&m->lock);
	return e;
}

static int mem_size(struct store *s, enum store_kind k, const char *name,
		    uint64_t *size)
{
	struct store_mem *m = mem_of(s);
	int e = 0;

	if (!store_name_valid(k, name))
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	struct mem_obj *o = mem_find(m, k, name);
	if (o == NULL)
		e = -ENOENT;
	else
		*size = o->len;
	pthread_mutex_unlock(&m->lock);
	return e;
}

/*
 * Copies the names and sizes first and calls cb without the lock, so cb
 * may use the store (a typical caller removes stale locks while listing).
 */
static int mem_list(struct store *s, enum store_kind k,
		    int (*cb)(const char *name, uint64_t size, void *arg),
		    void *arg)
{
	struct store_mem *m = mem_of(s);
	struct mem_obj *snap = NULL;
	size_t n = 0;
	int e = 0;

	if (!store_kind_valid(k))
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (m->n) {
		snap = malloc(m->n * sizeof *snap);
		if (snap == NULL)
			e = -ENOMEM;
	}
	for (size_t i = 0; e == 0 && i < m->n; i++)
		if (m->objs[i].kind == k)
			snap[n++] = m->objs[i];
	pthread_mutex_unlock(&m->lock);
	for (size_t i = 0; e == 0 && i < n; i++)
		e = cb(snap[i].name, snap[i].len, arg);
	free(snap);
	return e;
}

static int mem_remove(struct store *s, enum store_kind k, const char *name)
{
	struct store_mem *m = mem_of(s);
	int e = 0;

	if (!store_name_valid(k, name))
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	struct mem_obj *o = mem_find(m, k, name);
	if (o == NULL) {
		e = -ENOENT;
	} else {
		free(o->data);
		*o = m->objs[--m->n];
	}
	pthread_mutex_unlock(&m->lock);
	return e;
}

static void mem_close(struct store *s)
{
	struct store_mem *m = mem_of(s);

	for (size_t i = 0; i < m->n; i++)
		free(m->objs[i].data);
	free(m->objs);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static const struct store_ops mem_ops = {
	.name = "mem",
	.put = mem_put,
	.get = mem_get,
	.get_range = mem_get_range,
	.size = mem_size,
	.list = mem_list,
	.remove = mem_remove,
	.close = mem_close,
};

int store_mem_new(struct store **out)
{
	struct store_mem *m = calloc(1, sizeof *m);
	if (m == NULL)
		return -ENOMEM;
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m);
		return -ENOMEM;
	}
	m->base.ops = &mem_ops;
	*out = &m->base;
	return 0;
}
