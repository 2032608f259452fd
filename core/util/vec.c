/* Growable arrays (vec.h). */
#include "util/vec.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int vec_push(void *v, size_t *n, size_t *cap, size_t size, const void *elem)
{
	void **pv = v; /* v is the address of the caller's element pointer */
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		if (c > SIZE_MAX / size)
			return -ENOMEM;
		void *nv = realloc(*pv, c * size);
		if (nv == NULL)
			return -ENOMEM;
		*pv = nv;
		*cap = c;
	}
	memcpy((char *)*pv + *n * size, elem, size);
	(*n)++;
	return 0;
}
