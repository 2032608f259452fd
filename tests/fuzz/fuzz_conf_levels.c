/*
 * Fuzz harness for the levels.conf parser: any bytes must give either a
 * table of levels that satisfies the invariants below, or -EINVAL; never a
 * crash, a leak or a read outside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/levels.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct levels *l = NULL;
	log_init("fuzz", LOG_LVL_SILENT);
	if (levels_parse((const char *)data, size, "fuzz", "/state", &l) != 0)
		return 0;
	for (size_t i = 0; i < l->n; i++) {
		const struct level *lv = &l->v[i];
		if (lv->number == 0 || lv->number > LEVEL_MAX || lv->name[0] == 0 ||
		    lv->pool == NULL || lv->pool[0] != '/' || levels_find(l, lv->number) != lv)
			abort();
		for (size_t j = 0; j < i; j++) {
			size_t a = strlen(l->v[j].pool);
			if (l->v[j].number >= lv->number ||
			    (strncmp(l->v[j].pool, lv->pool, a) == 0 &&
			     (lv->pool[a] == 0 || lv->pool[a] == '/')))
				abort();
		}
	}
	levels_free(l);
	return 0;
}
