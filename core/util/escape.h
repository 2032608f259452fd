/*
 * Printable forms of raw names for messages and listings. File names are
 * arbitrary bytes: a newline or a terminal escape sequence in a name must
 * not forge or garble a log line. Valid, printable UTF-8 passes unchanged;
 * a backslash becomes "\\"; every other byte becomes "\xNN". The mapping
 * is reversible.
 */
#ifndef COFFER_UTIL_ESCAPE_H
#define COFFER_UTIL_ESCAPE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Length (1..4) of the valid UTF-8 sequence at p, or 0 if invalid. */
size_t utf8_seq_len(const uint8_t *p, size_t n);
/* As utf8_seq_len, but 0 also for control characters (C0, DEL, C1). */
size_t utf8_printable_len(const uint8_t *p, size_t n);

/* Appends the printable form of n bytes to out. 0 or -ENOMEM. */
int escape_append(struct buf *out, const void *p, size_t n);
/*
 * Printable form of a C string in out (cap bytes, NUL-terminated), cut
 * with "..." when it does not fit. NULL prints as "(no name)". Returns out.
 */
const char *escape_cstr(const char *s, char *out, size_t cap);

#endif
