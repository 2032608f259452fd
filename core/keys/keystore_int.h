/*
 * Private parts of the keystore shared by keystore.c, records.c and
 * site.c, and the parsers of its files, exposed for their fuzz harnesses
 * (tests/fuzz/fuzz_keys_*.c). Layouts: docs/format/keystore.md.
 */
#ifndef COFFER_KEYS_KEYSTORE_INT_H
#define COFFER_KEYS_KEYSTORE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "keys/keystore.h"
#include "util/buf.h"

#define ROOT_FILE_LEN 248
#define SHARE_FILE_LEN 136
#define SPLIT_FILE_LEN 64
#define KS_VERSION 1

struct keystore {
	int dfd;                    /* STATE_DIR/keystore */
	char *path;                 /* for messages */
	const struct suite *s;
	uint8_t id[32];
	uint32_t root_gen;
	uint8_t check[CRYPTO_HASH_LEN]; /* one-way image of the root key */
	uint8_t *root;              /* secmem; NULL while locked */
};

/* The fields of a root file that parse without a key. */
struct root_head {
	uint32_t suite;
	uint8_t id[32];
	uint32_t root_gen;
	uint8_t check[CRYPTO_HASH_LEN];
	uint64_t n;
	uint32_t r, p;
};
/* -EBADMSG (damaged: bad length, magic, checksum, parameters) or -ENOTSUP. */
int keystore_root_parse(const uint8_t *p, size_t len, struct root_head *h);

struct share_file {
	uint32_t suite;
	uint8_t keystore_id[32];
	uint8_t split_id[16];
	uint32_t root_gen;
	uint8_t m, n, x;
	uint8_t y[32];
};
/* -EBADMSG (damaged, checksum mismatch) or -ENOTSUP (newer version). */
int keystore_share_parse(const uint8_t *p, size_t len, struct share_file *sh);

/* One line of the records file; the limits bind writer and parser alike. */
#define KEYSTORE_OP_MAX 15
#define KEYSTORE_DATASET_MAX 64
#define KEYSTORE_DETAIL_MAX 511
struct keystore_record {
	int64_t time;
	char op[KEYSTORE_OP_MAX + 1];
	char dataset[KEYSTORE_DATASET_MAX + 1];   /* "-" when none */
	char detail[KEYSTORE_DETAIL_MAX + 1];
};
/*
 * Calls fn for each complete record of the records file text, oldest
 * first; stops at and returns fn's nonzero. -EBADMSG at the first
 * malformed line (a torn last line, without its newline, is ignored: it
 * was being appended when the machine stopped).
 */
int keystore_records_parse(const char *text, size_t len,
			   int (*fn)(const struct keystore_record *rec, void *arg), void *arg);
/*
 * Appends a record durably (O_APPEND, fsync), first cutting off a torn
 * last line a crash left. -EINVAL if a field has a tab or newline, is
 * empty (op, dataset) or longer than its limit.
 */
int keystore_record(struct keystore *ks, const char *op, const char *dataset,
		    const char *detail);
/* Reads the records file (empty buffer if absent). */
int keystore_records_read(struct keystore *ks, struct buf *out);

/*
 * Overwrites name in the keystore directory in place with zeros, fsyncs
 * it, then unlinks it and fsyncs the directory. -ENOENT if absent.
 */
int keystore_overwrite_remove(int dfd, const char *name);
/*
 * Durably replaces name with data (the old or the new content survives a
 * crash, never neither), then overwrites the old content in place.
 */
int keystore_replace(struct keystore *ks, const char *name, const void *data, size_t len);
/* A key derived from the unlocked root key for purpose (info) with suite s. */
int keystore_derive(struct keystore *ks, const struct suite *s, const char *info,
		    uint8_t out[CRYPTO_KEY_LEN]);

/*
 * The plaintext of a wrapped key set (n_gens u32, master, content keys),
 * shared by key set files and exports: encode allocates *pt in secmem
 * (secmem_free(*pt, *len)); decode checks n_gens against the length.
 */
int keystore_keyset_encode(const struct keyset *k, uint8_t **pt, size_t *len);
int keystore_keyset_decode(const uint8_t *pt, size_t len, uint32_t suite, struct keyset *out);

/*
 * Re-seals the site file (site.c) under new_root with generation new_gen
 * while ks is still unlocked with the old root key; done by
 * keystore_rotate. 0 if there is no site file yet.
 */
int keystore_site_rewrap(struct keystore *ks, const uint8_t *new_root, uint32_t new_gen);

/* The fields of an export file (site.c), parsed without keys. */
struct keyset_export_head {
	uint32_t suite;
	char dataset_id[DATASET_ID_LEN + 1];
	uint8_t sender_keystore[32];
	uint8_t sender_fpr[32];     /* the signing key that signed it */
	uint8_t recipient_fpr[32];  /* the wrapping key it was made for */
	int64_t time;
	const uint8_t *signed_part; /* borrowed: header and wrapped key set */
	size_t signed_len;
	const uint8_t *wrapped;     /* borrowed: pkey_wrap output */
	size_t wrapped_len;
	const uint8_t *sig;         /* borrowed */
	size_t sig_len;
};
/* -EBADMSG (damaged, truncated, trailing bytes) or -ENOTSUP (newer version). */
int keystore_export_parse(const uint8_t *p, size_t len, struct keyset_export_head *h);

#endif
