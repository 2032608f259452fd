/* Lower-case hex encoding of IDs. */
#ifndef COFFER_UTIL_HEX_H
#define COFFER_UTIL_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2*n hex digits and a NUL into out (2*n+1 bytes). */
void hex_encode(const uint8_t *p, size_t n, char *out);
/*
 * Decodes exactly 2*n hex digits (either case) from s into out.
 * Returns 0, or -EINVAL if s is not that many hex digits.
 */
int hex_decode(const char *s, uint8_t *out, size_t n);

#endif
