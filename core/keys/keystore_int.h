/*
 * Private parts of the keystore shared by keystore.c, records.c and
 * export.c, and the parsers of its files, exposed for their fuzz harnesses
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

/* One line of the records file. */
struct keystore_record {
	int64_t time;
	char op[16];
	char dataset[65];   /* "-" when none */
	char detail[512];
};
/*
 * Calls fn for each complete record of the records file text, oldest
 * first; stops at and returns fn's nonzero. -EBADMSG at the first
 * malformed line (a torn last line, without its newline, is ignored: it
 * was being appended when the machine stopped).
 */
int keystore_records_parse(const char *text, size_t len,
			   int (*fn)(const struct keystore_record *rec, void *arg), void *arg);
/* Appends a record durably (O_APPEND, fsync). detail must have no tab or newline. */
int keystore_record(struct keystore *ks, const char *op, const char *dataset,
		    const char *detail);
/* Reads the records file (empty buffer if absent). */
int keystore_records_read(struct keystore *ks, struct buf *out);

/*
 * Overwrites name in the keystore directory in place with zeros, fsyncs
 * it, then unlinks it and fsyncs the directory. -ENOENT if absent.
 */
int keystore_overwrite_remove(int dfd, const char *name);
/* Durably replaces name with data, overwriting the old content in place first. */
int keystore_replace(struct keystore *ks, const char *name, const void *data, size_t len);
/* A key derived from the unlocked root key for purpose (info) with suite s. */
int keystore_derive(struct keystore *ks, const struct suite *s, const char *info,
		    uint8_t out[CRYPTO_KEY_LEN]);

#endif
