/*
 * Pack files: sealed blobs back to back, then the sealed pack header (the
 * list of blob entries), then a fixed 16-byte trailer. A pack is named by
 * the SHA-256 of its bytes, so any change to it is detectable without keys.
 * Layout and invariants: docs/format/pack.md.
 */
#ifndef COFFER_REPO_PACK_H
#define COFFER_REPO_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "repo/blob.h"
#include "util/buf.h"

#define PACK_FORMAT_VERSION 1
#define PACK_TRAILER_LEN 16
#define PACK_MAGIC "COFFPACK" /* 8 bytes, first in the trailer */
#define PACK_MAX_SIZE (1u << 31) /* offsets are u32; keep well inside */
#define PACK_ENTRY_LEN 44        /* encoded blob entry in the header */

/* Builds one pack in memory. */
struct pack_writer;

struct pack_writer *pack_writer_new(void);
void pack_writer_free(struct pack_writer *w); /* accepts NULL */
/*
 * Reserves room for n bytes of blobs, so a pack filled to a known target
 * is allocated once instead of grown by doubling; the first reservation
 * is aligned to STORE_PAD_ALIGN. 0 or -ENOMEM.
 */
int pack_writer_reserve(struct pack_writer *w, size_t n);
/* Appends a sealed blob; e->offset is assigned here. Copies e and sealed. */
int pack_writer_add(struct pack_writer *w, struct blob_entry *e,
		    const uint8_t *sealed, size_t sealed_len);
/*
 * Gives all the memory of an empty writer back to the kernel (it stays
 * mapped, for the next pack to fill again).
 */
void pack_writer_trim(struct pack_writer *w);
/* Bytes of blob data so far (header not included). */
size_t pack_writer_size(const struct pack_writer *w);
size_t pack_writer_count(const struct pack_writer *w);
/*
 * Seals the header under meta_key with key generation key_gen, appends
 * header and trailer, and hands out the whole file (*file, *file_len: the
 * writer's memory, valid until the writer is next used or freed), its ID
 * (SHA-256 of the file) and the entries (owned by the caller, *n of them).
 * *file is page-aligned with room for STORE_PAD_ALIGN - 1 bytes past
 * *file_len: a store_put_padded buffer. The writer is reset and may be
 * reused; it keeps its memory.
 */
int pack_writer_finish(struct pack_writer *w, const struct suite *s,
		       const uint8_t meta_key[CRYPTO_KEY_LEN], uint32_t key_gen,
		       uint8_t **file, size_t *file_len, uint8_t pack_id[32],
		       struct blob_entry **entries, size_t *n);

/*
 * Parses the trailer: the last PACK_TRAILER_LEN bytes of a pack of
 * file_len bytes. On success *header_len is the sealed header length.
 * -EBADMSG if malformed or inconsistent with file_len, -ENOTSUP for an
 * unknown version.
 */
int pack_trailer_parse(const uint8_t trailer[PACK_TRAILER_LEN],
		       uint64_t file_len, uint32_t *header_len);

/*
 * Decodes a plaintext pack header. data_len is the number of bytes before
 * the sealed header: entries must tile [0, data_len) exactly, in order.
 * *entries is allocated (caller frees), *n set, *key_gen set.
 * -EBADMSG on any inconsistency.
 */
int pack_header_decode(const uint8_t *p, size_t len, uint64_t data_len,
		       uint32_t *key_gen, struct blob_entry **entries, size_t *n);
/* Encodes a header (for the writer, tests and fuzz round trips). */
int pack_header_encode(uint32_t key_gen, const struct blob_entry *entries,
		       size_t n, struct buf *out);

/*
 * Reads the header of a complete pack held in memory (file, file_len):
 * trailer, then sealed header opened under meta_key, then decoded.
 */
int pack_read_header(const struct suite *s, const uint8_t meta_key[CRYPTO_KEY_LEN],
		     const uint8_t *file, size_t file_len, uint32_t *key_gen,
		     struct blob_entry **entries, size_t *n);

#endif
