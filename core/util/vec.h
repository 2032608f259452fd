/*
 * Appending to a growable array of fixed-size elements, for the many
 * places that collect rows from a callback (catalog and job listings,
 * schedules) before answering.
 */
#ifndef COFFER_UTIL_VEC_H
#define COFFER_UTIL_VEC_H

#include <stddef.h>

/*
 * Appends the size bytes at elem to the array *v, which holds *n
 * elements in room for *cap (all 0 and NULL to begin); the room doubles
 * as needed. 0, or -ENOMEM with the array unchanged. Free *v with free().
 */
int vec_push(void *v, size_t *n, size_t *cap, size_t size, const void *elem);

#endif
