/*
 * Fuzz harness for the keystore records parser: every record handed out
 * has a non-empty operation and dataset without tabs or newlines and a
 * non-negative time; malformed input is refused without a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys/keystore_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check(const struct keystore_record *rec, void *arg)
{
	(void)arg;
	if (rec->time < 0 || rec->op[0] == 0 || rec->dataset[0] == 0 ||
	    strpbrk(rec->op, "\t\n") || strpbrk(rec->dataset, "\t\n") ||
	    strpbrk(rec->detail, "\t\n"))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)keystore_records_parse((const char *)data, size, check, NULL);
	return 0;
}
