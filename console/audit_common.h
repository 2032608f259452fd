/*
 * What the audit commands share (cmd_audit.c, cmd_audit_proof.c): their
 * arguments, where the trail is read from, and the files they read and
 * write. Each helper says why when it fails.
 */
#ifndef COFFER_CONSOLE_AUDIT_COMMON_H
#define COFFER_CONSOLE_AUDIT_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "audit/audit.h"
#include "console.h"

#define MAX_CHECKPOINTS 64

struct audit_cp;
struct audit_export_view;
struct buf;

struct audit_args {
	struct common_opts c;
	const char *sub;
	uint32_t suite;
	struct audit_params p;
	const char *key_out, *initial_key, *public_key, *from, *to;
	const char *cps[MAX_CHECKPOINTS];
	size_t n_cps;
	int64_t since, until, before;
	bool have_before;
	const char *actor, *op;
	/* prove and check-proof */
	uint64_t seq;
	bool have_seq;
	const char *old;         /* --old CP1: the older checkpoint of a consistency proof */
	const char *proof;       /* check-proof's FILE */
};

/* The export to read: --from, the daemon, or the state directory. -1 after saying why. */
int load_export(const struct audit_args *a, struct buf *out);
/* Parses what load_export read; a negative errno after saying why. */
int parse_export(const struct audit_args *a, const struct buf *b, struct audit_export_view *v);
/* Writes bytes to a new file (never over an existing one), fsync'd. -1 after saying why. */
int write_new_file(const char *path, const void *p, size_t n, mode_t mode);
/* Reads and parses the checkpoint file at path into b, which cp borrows. -1 after saying why. */
int read_checkpoint(const char *path, struct buf *b, struct audit_cp *cp);

/* cmd_audit_proof.c: --seq N; -1 after saying why. */
int parse_seq(const char *s, uint64_t *out);
/* coffer audit prove and check-proof: exit codes. */
int audit_do_prove(struct audit_args *a);
int audit_do_check_proof(struct audit_args *a);

#endif
