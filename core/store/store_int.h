/*
 * Private to the store module: the name rules every backend shares, so
 * that the conformance suite sees identical answers from each of them.
 */
#ifndef COFFER_STORE_STORE_INT_H
#define COFFER_STORE_STORE_INT_H

#include <stdbool.h>

#include "store/store.h"

#define STORE_NAME_MAX 64 /* hex digits: a SHA-256 or MAC output */

/*
 * True if name is acceptable for kind k: exactly "config" for STORE_CONFIG,
 * otherwise 1..STORE_NAME_MAX lower-case hex digits (at least 2 for packs,
 * whose first two digits pick the fan-out directory). Nothing else can
 * reach a path, so no name can escape its directory.
 */
bool store_name_valid(enum store_kind k, const char *name);
bool store_kind_valid(enum store_kind k);

#endif
