/*
 * Memory helpers: wiping that the compiler cannot elide, and locked,
 * non-dumpable allocations for key material.
 */
#ifndef COFFER_UTIL_MEM_H
#define COFFER_UTIL_MEM_H

#include <stddef.h>

/* Overwrites n bytes with zeros; never optimised away. */
void mem_wipe(void *p, size_t n);

/*
 * Allocates n zeroed bytes for secrets: locked in RAM (best effort, mlock may
 * be limited by RLIMIT_MEMLOCK) and excluded from core dumps. NULL on failure.
 */
void *secmem_alloc(size_t n);
/* Wipes and frees memory from secmem_alloc. Accepts NULL. */
void secmem_free(void *p, size_t n);

#endif
