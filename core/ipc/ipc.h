/*
 * The message protocol between the console and the daemons, and between
 * daemons (docs/protocol/ipc.md). Frames on a unix stream socket:
 *
 *   u32 length of what follows (8 .. IPC_FRAME_MAX)
 *   u16 protocol version (IPC_VERSION)
 *   u16 message type (enum ipc_type)
 *   u32 request ID (chosen by the client, echoed in replies and events)
 *   payload: the fields of the type's schema, in order
 *
 * Every type has a schema (msg.c): a fixed sequence of u8, u32, u64, i64,
 * strings and byte strings with maximum lengths, and lists with a maximum
 * count whose items are such fields. ipc_decode checks a whole frame
 * against its schema before anyone reads it; the typed getters then walk
 * the fields in order. The writer checks every field against the schema
 * as it is put, so a daemon never sends what a peer would refuse.
 *
 * Errors: -EPROTO malformed (short, trailing bytes, a length or count over
 * its maximum, an unknown type, a NUL in a string), -EMSGSIZE a frame over
 * IPC_FRAME_MAX, -EPROTONOSUPPORT another protocol version.
 */
#ifndef COFFER_IPC_IPC_H
#define COFFER_IPC_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Bumped whenever a schema or the framing changes (docs/protocol/ipc.md). */
#define IPC_VERSION 1
#define IPC_HEADER_LEN 12
#define IPC_FRAME_MAX (1u << 20) /* bytes after the length field */

enum ipc_type {
	IPC_HELLO = 0x0001,
	IPC_STATUS = 0x0002,
	IPC_KEYSTORE_UNLOCK = 0x0010,
	IPC_KEYSTORE_LOCK = 0x0011,
	IPC_DATASET_CREATE = 0x0020,
	IPC_DATASET_LIST = 0x0021,
	IPC_DATASET_SHOW = 0x0022,
	IPC_POLICY_SET = 0x0030,
	IPC_POLICY_SHOW = 0x0031,
	IPC_BACKUP = 0x0040,
	IPC_RETENTION = 0x0041,
	IPC_SNAPSHOTS = 0x0042,
	IPC_RESTORE = 0x0050,
	IPC_VERIFY = 0x0051,
	IPC_JOBS = 0x0060,
	IPC_JOB_SHOW = 0x0061,
	IPC_JOB_CANCEL = 0x0062,
	IPC_JOB_WATCH = 0x0063,
	IPC_SCHEDULE = 0x0070,
	IPC_AUDIT_READ = 0x0080,
	IPC_AUDIT_CHECKPOINT = 0x0081,
	IPC_AUDIT_PRUNE = 0x0082,
	IPC_AUDIT_SEAL = 0x0083,
	IPC_APPROVER_ADD = 0x0090,
	IPC_APPROVER_LIST = 0x0091,
	IPC_APPROVER_REVOKE = 0x0092,
	IPC_ERASE_REQUEST = 0x00a0,
	IPC_ERASE_SHOW = 0x00a1,
	IPC_ERASE_APPROVE = 0x00a2,
	IPC_ERASE_LIST = 0x00a3,
	IPC_ERASE_EXECUTE = 0x00a4,
	IPC_ERASE_CERTIFICATE = 0x00a5,
	IPC_ERASE_REQUEST_DEVICE = 0x00a6,
	/* Events: sent by a daemon to a client watching a job. */
	IPC_EV_PROGRESS = 0x4001,
	IPC_EV_LOG = 0x4002,
	IPC_EV_DONE = 0x4003,
	/* The reply to request type T has type T | IPC_REPLY. */
	IPC_REPLY = 0x8000,
	IPC_ERROR = 0xffff,
};

/* Field kinds of a schema. */
enum ipc_kind { IPC_U8 = 1, IPC_U32, IPC_U64, IPC_I64, IPC_STR, IPC_BYTES, IPC_LIST };

struct ipc_field {
	enum ipc_kind kind;
	uint32_t max;                 /* STR/BYTES: bytes; LIST: items */
	const struct ipc_field *item; /* LIST: the fields of one item (no lists) */
	uint8_t n_item;
	const char *name;             /* for messages and the protocol document */
	bool secret;                  /* never shown by ipc_dump (passphrases, shares) */
};

struct ipc_schema {
	uint16_t type;
	const char *name;             /* "backup", "backup reply" ... */
	const struct ipc_field *fields;
	uint8_t n;
};

/* The schema of a message type, or NULL for an unknown type. */
const struct ipc_schema *ipc_schema(uint16_t type);
/* Every schema, for the protocol tests and the fuzz harness. */
const struct ipc_schema *ipc_schema_at(size_t i); /* NULL past the end */

/* A decoded frame; payload points into the frame (borrowed). */
struct ipc_msg {
	uint16_t type;
	uint32_t reqid;
	const uint8_t *payload;
	size_t len;
};

/*
 * Looks at the n bytes received so far. 0 with *frame_len (header
 * included) when a whole frame is there; -EAGAIN when more bytes are
 * needed; -EMSGSIZE or -EPROTO (length under 8) as soon as the length
 * field shows the frame is bad, so a daemon can drop the peer without
 * waiting for the rest.
 */
int ipc_frame_len(const uint8_t *p, size_t n, size_t *frame_len);
/*
 * Decodes one whole frame: version, known type, payload valid for the
 * schema. On -EPROTO, why (may be NULL, size bytes) names the field.
 */
int ipc_decode(const uint8_t *frame, size_t len, struct ipc_msg *m, char *why, size_t size);

/*
 * Reading a decoded message: the getters take the fields in schema order
 * (list items field by field) and fail with -EPROTO on a kind that does
 * not match the schema, which only a programming error can cause.
 */
struct ipc_reader {
	const struct ipc_schema *s;
	struct rbuf r;
	size_t i;                  /* next top-level field */
	const struct ipc_field *list; /* the list being read, or NULL */
	uint32_t items_left;
	size_t sub;                /* next field of the current item */
	int err;
};
void ipc_reader_init(struct ipc_reader *rd, const struct ipc_msg *m);
int ipc_get_u8(struct ipc_reader *rd, uint8_t *v);
int ipc_get_u32(struct ipc_reader *rd, uint32_t *v);
int ipc_get_u64(struct ipc_reader *rd, uint64_t *v);
int ipc_get_i64(struct ipc_reader *rd, int64_t *v);
/* Copies a string and NUL-terminates it; -ENAMETOOLONG if cap <= its length. */
int ipc_get_str(struct ipc_reader *rd, char *out, size_t cap);
/* Borrows a string or byte string in place (not NUL-terminated). */
int ipc_get_ref(struct ipc_reader *rd, const uint8_t **p, size_t *n);
/* Starts a list: *count items follow, each read field by field. */
int ipc_get_list(struct ipc_reader *rd, uint32_t *count);
/* 0 when every field was read; -EPROTO otherwise. */
int ipc_end(struct ipc_reader *rd);

/*
 * Building a frame. Put the fields in schema order; the first error
 * sticks (w->err) and is returned by ipc_writer_finish, which also
 * requires every field to have been put and the frame to fit
 * IPC_FRAME_MAX.
 */
struct ipc_writer {
	const struct ipc_schema *s;
	struct buf b;
	size_t i;
	const struct ipc_field *list;
	uint32_t items_left;
	size_t sub;
	int err;
};
/* -EPROTO (in w->err) for an unknown type. */
void ipc_writer_init(struct ipc_writer *w, uint16_t type, uint32_t reqid);
void ipc_writer_fini(struct ipc_writer *w);
void ipc_put_u8(struct ipc_writer *w, uint8_t v);
void ipc_put_u32(struct ipc_writer *w, uint32_t v);
void ipc_put_u64(struct ipc_writer *w, uint64_t v);
void ipc_put_i64(struct ipc_writer *w, int64_t v);
/* A string (NULL is the empty string); one longer than its field allows is -ENAMETOOLONG. */
void ipc_put_str(struct ipc_writer *w, const char *s);
void ipc_put_strn(struct ipc_writer *w, const char *s, size_t n);
void ipc_put_bytes(struct ipc_writer *w, const void *p, size_t n);
void ipc_put_list(struct ipc_writer *w, uint32_t count);
/* The finished frame in w->b (w keeps it until fini); returns w->err. */
int ipc_writer_finish(struct ipc_writer *w);

/* An error reply: code is a positive errno, message one sentence. */
int ipc_error_frame(struct ipc_writer *w, uint32_t reqid, int code, const char *message);
/* Reads an ERROR message: *code positive errno, message copied (cap bytes). */
int ipc_error_read(const struct ipc_msg *m, int *code, char *message, size_t cap);

/*
 * Appends a one-line rendering of a decoded message to out, for debug
 * logs: "backup dataset=\"x\" paths=[\"/a\"] ..." with strings escaped
 * and secret fields shown as (secret). Reads every field, so it also
 * exercises the whole reader.
 */
int ipc_dump(const struct ipc_msg *m, struct buf *out);

/*
 * What a request acts on, for the audit trail: the value of its first
 * top-level field named "dataset", "name" or "job" ("" when none).
 */
void ipc_target(const struct ipc_msg *m, char *out, size_t size);

/* The name of a type ("backup", "backup reply", "error"...), or "unknown". */
const char *ipc_type_name(uint16_t type);

#endif
