/*
 * Fuzzes the parsers of the small repository objects: the config, a key
 * file's header and a lock's plaintext. The first input byte picks the
 * parser; the rest is the object.
 */
#include <stdint.h>
#include <stdlib.h>

#include "repo/repo_int.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	log_set_level(LOG_LVL_SILENT);
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	switch (data[0] % 3) {
	case 0: {
		struct repo_config c;
		(void)repo_config_decode(p, n, &c);
		break;
	}
	case 1:
		(void)repo_keyfile_parse(p, n, SUITE_INTERNATIONAL);
		break;
	default: {
		bool excl;
		uint32_t pid;
		char *host = NULL;
		if (repo_lock_decode(p, n, &excl, &pid, &host) == 0)
			free(host);
		break;
	}
	}
	return 0;
}
