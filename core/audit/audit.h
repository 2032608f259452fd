/*
 * The audit trail (docs/format/audit.md): append-only records, hash
 * chained, sealed in epochs with a forward-secure MAC key, signed, and
 * laid out as an RFC 9162 Merkle tree whose signed checkpoints auditors
 * keep. Several processes write it (the daemons, the console in direct
 * mode): each append takes an exclusive lock and first replays what the
 * others wrote, so there is one writer at a time and one history.
 *
 * Errors: 0 or a negative errno. -ENOENT no trail here (audit init),
 * -EEXIST already initialised, -EBADMSG the trail or state is damaged
 * (named on the log), -ENOTSUP a newer version.
 */
#ifndef COFFER_AUDIT_AUDIT_H
#define COFFER_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/entry.h"
#include "util/buf.h"

#define AUDIT_RETENTION_MIN_DAYS 180

struct audit_params {
	uint32_t epoch_records;   /* seal after this many records (default 1000) */
	uint32_t epoch_seconds;   /* or when the epoch's first record is this old (3600) */
	uint32_t retention_days;  /* records younger cannot be pruned (>= 180, default 180) */
};
void audit_params_default(struct audit_params *p);

/*
 * Creates STATE_DIR/audit for suite with a random K(0), written to
 * initial_key for the auditors (the appliance keeps no copy), and a
 * signing key. -EINVAL for parameters out of range (named).
 */
int audit_init(const char *state_dir, uint32_t suite, const struct audit_params *p,
	       uint8_t initial_key[32]);

struct audit;
int audit_open(const char *state_dir, struct audit **out);
void audit_close(struct audit *a); /* wipes the epoch key; accepts NULL */
uint32_t audit_suite(const struct audit *a);

/*
 * Appends a record: durable (fsync'd) when this returns. Seals the epoch
 * first when it is due. Thread-safe within a process.
 */
int audit_append(struct audit *a, const struct audit_record *r);
/* Seals the open epoch: always (force) or only if due. 0 also when there is nothing to seal. */
int audit_seal(struct audit *a, bool force);

/* The signed tree head of the whole trail now (docs/format/audit.md, "Checkpoints"). */
int audit_checkpoint(struct audit *a, struct buf *out);
/* The self-contained export: header, signing public key, the trail. */
int audit_export(struct audit *a, struct buf *out);
/*
 * The export of the trail in STATE_DIR exactly as the files hold it, for
 * readers: nothing is cut, replayed or appended, no write access is
 * needed, and a torn or damaged trail is exported as it is for the
 * verifier to name. -ENOENT: no trail there.
 */
int audit_export_files(const char *state_dir, struct buf *out);

/*
 * Removes the sealed epochs that ended before `before` (Unix seconds),
 * which must lie retention_days or more in the past (-EPERM otherwise,
 * said): the trail becomes an anchor and the kept entries, the prune is
 * recorded by who, and sealed. *removed: entries removed (0: none old
 * enough).
 */
int audit_prune(struct audit *a, int64_t before, const struct audit_record *who,
		uint64_t *removed);

/*
 * Up to max bytes of the trail file from offset, appended to out, and its
 * size now in *total: what a remote export is assembled from.
 */
int audit_read(struct audit *a, uint64_t offset, size_t max, struct buf *out, uint64_t *total);
/* The trail's epoch and retention settings. */
void audit_params_get(const struct audit *a, struct audit_params *p);

/* The public key of the signing key as PEM. */
int audit_public_pem(struct audit *a, struct buf *out);
/*
 * Signs msg with the appliance's audit signing key, the key seals and
 * checkpoints are signed with (destruction certificates use it too):
 * -EPERM when this process cannot read sign.key.
 */
int audit_sign(struct audit *a, const void *msg, size_t len, struct buf *sig);

#endif
