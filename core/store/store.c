/*
 * The store_* entry points: argument checks common to every backend, then
 * dispatch through the backend's ops table. Checking names here, once,
 * means a backend never sees a name that could leave its directory and the
 * conformance suite gets the same -EINVAL from all of them.
 */
#include "store/store.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "store/store_int.h"

bool store_kind_valid(enum store_kind k)
{
	switch (k) {
	case STORE_CONFIG:
	case STORE_KEY:
	case STORE_PACK:
	case STORE_INDEX:
	case STORE_SNAPSHOT:
	case STORE_LOCK:
		return true;
	}
	return false;
}

bool store_name_valid(enum store_kind k, const char *name)
{
	if (name == NULL || !store_kind_valid(k))
		return false;
	if (k == STORE_CONFIG)
		return strcmp(name, "config") == 0;
	size_t n = 0;
	for (; name[n] != 0; n++) {
		char c = name[n];
		if (n == STORE_NAME_MAX)
			return false;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return n >= (k == STORE_PACK ? 2u : 1u);
}

int store_put(struct store *s, enum store_kind k, const char *name,
	      const void *data, size_t len)
{
	if (!store_name_valid(k, name) || (data == NULL && len != 0))
		return -EINVAL;
	return s->ops->put(s, k, name, data, len);
}

int store_put_padded(struct store *s, enum store_kind k, const char *name,
		     void *data, size_t len)
{
	if (!store_name_valid(k, name) || data == NULL || (uintptr_t)data % STORE_PAD_ALIGN != 0)
		return -EINVAL;
	if (s->ops->put_padded == NULL)
		return s->ops->put(s, k, name, data, len);
	return s->ops->put_padded(s, k, name, data, len);
}

int store_get(struct store *s, enum store_kind k, const char *name,
	      struct buf *out)
{
	if (!store_name_valid(k, name))
		return -EINVAL;
	return s->ops->get(s, k, name, out);
}

int store_get_range(struct store *s, enum store_kind k, const char *name,
		    uint64_t off, size_t len, void *out)
{
	if (!store_name_valid(k, name) || (out == NULL && len != 0))
		return -EINVAL;
	return s->ops->get_range(s, k, name, off, len, out);
}

int store_size(struct store *s, enum store_kind k, const char *name,
	       uint64_t *size)
{
	if (!store_name_valid(k, name))
		return -EINVAL;
	return s->ops->size(s, k, name, size);
}

int store_list(struct store *s, enum store_kind k,
	       int (*cb)(const char *name, uint64_t size, void *arg), void *arg)
{
	if (!store_kind_valid(k) || cb == NULL)
		return -EINVAL;
	return s->ops->list(s, k, cb, arg);
}

int store_remove(struct store *s, enum store_kind k, const char *name)
{
	if (!store_name_valid(k, name))
		return -EINVAL;
	return s->ops->remove(s, k, name);
}

void store_set_destroyer(struct store *s, int (*fn)(void *arg, int dirfd, const char *name),
			 void *arg)
{
	s->destroy = fn;
	s->destroy_arg = fn != NULL ? arg : NULL;
}

int store_clean(struct store *s, uint64_t *removed)
{
	*removed = 0;
	return s->ops->clean ? s->ops->clean(s, removed) : 0;
}

void store_close(struct store *s)
{
	if (s != NULL)
		s->ops->close(s);
}
