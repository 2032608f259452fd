/* Open-addressing hash set of 32-byte IDs; see idset.h. */
#include "repo/idset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct idset_slot {
	uint8_t id[32];
	uint64_t v;
	bool used;
};

struct idset {
	struct idset_slot *slots;
	size_t cap; /* power of two, or 0 */
	size_t n;
};

struct idset *idset_new(void)
{
	return calloc(1, sizeof(struct idset));
}

void idset_free(struct idset *s)
{
	if (s == NULL)
		return;
	free(s->slots);
	free(s);
}

void idset_clear(struct idset *s)
{
	if (s->cap)
		memset(s->slots, 0, s->cap * sizeof *s->slots);
	s->n = 0;
}

static size_t idset_hash(const uint8_t id[32])
{
	uint64_t h;
	memcpy(&h, id, sizeof h);
	return (size_t)h;
}

/* The slot holding id, or the empty slot where it would go. */
static struct idset_slot *idset_probe(const struct idset *s, const uint8_t id[32])
{
	size_t mask = s->cap - 1;
	for (size_t i = idset_hash(id) & mask;; i = (i + 1) & mask) {
		struct idset_slot *sl = &s->slots[i];
		if (!sl->used || memcmp(sl->id, id, 32) == 0)
			return sl;
	}
}

static int idset_grow(struct idset *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	struct idset_slot *old = s->slots;
	size_t old_cap = s->cap;
	s->slots = calloc(cap, sizeof *s->slots);
	if (s->slots == NULL) {
		s->slots = old;
		return -ENOMEM;
	}
	s->cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].used)
			*idset_probe(s, old[i].id) = old[i];
	free(old);
	return 0;
}

int idset_add(struct idset *s, const uint8_t id[32], uint64_t v, bool *added)
{
	/* Keep the load under 3/4 so probes stay short and always terminate. */
	if ((s->n + 1) * 4 > s->cap * 3) {
		int e = idset_grow(s);
		if (e != 0)
			return e;
	}
	struct idset_slot *sl = idset_probe(s, id);
	bool is_new = !sl->used;
	if (is_new) {
		memcpy(sl->id, id, 32);
		sl->used = true;
		s->n++;
	}
	sl->v = v;
	if (added != NULL)
		*added = is_new;
	return 0;
}

bool idset_get(const struct idset *s, const uint8_t id[32], uint64_t *v)
{
	if (s->n == 0)
		return false;
	const struct idset_slot *sl = idset_probe(s, id);
	if (!sl->used)
		return false;
	if (v != NULL)
		*v = sl->v;
	return true;
}

bool idset_has(const struct idset *s, const uint8_t id[32])
{
	return idset_get(s, id, NULL);
}

/*
 * Linear probing without tombstones: after emptying a slot, later members
 * of the same probe run are shifted back into the gap when their home slot
 * does not lie (cyclically) between the gap and their current slot.
 */
bool idset_remove(struct idset *s, const uint8_t id[32])
{
	if (s->n == 0)
		return false;
	struct idset_slot *sl = idset_probe(s, id);
	if (!sl->used)
		return false;
	size_t mask = s->cap - 1, gap = (size_t)(sl - s->slots);
	sl->used = false;
	s->n--;
	for (size_t i = (gap + 1) & mask; s->slots[i].used; i = (i + 1) & mask) {
		size_t home = idset_hash(s->slots[i].id) & mask;
		bool stays = gap <= i ? (gap < home && home <= i) : (gap < home || home <= i);
		if (stays)
			continue;
		s->slots[gap] = s->slots[i];
		s->slots[i].used = false;
		gap = i;
	}
	return true;
}

size_t idset_count(const struct idset *s)
{
	return s->n;
}

int idset_foreach(const struct idset *s,
		  int (*cb)(const uint8_t id[32], uint64_t v, void *arg), void *arg)
{
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->slots[i].used)
			continue;
		int r = cb(s->slots[i].id, s->slots[i].v, arg);
		if (r != 0)
			return r;
	}
	return 0;
}
