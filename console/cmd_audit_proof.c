/*
 * coffer audit prove|check-proof (docs/format/audit.md, "Proofs").
 *
 * `prove` hands an auditor a proof file: that entry N is in the tree a
 * signed checkpoint covers, or that a later checkpoint's tree extends an
 * older one's. It reads the trail as the other readers do (load_export)
 * and refuses a checkpoint the trail does not match, so no proof it
 * writes fails for a good reason. `check-proof` is the auditor's side: it
 * needs the checkpoints, the proof and the trail's public key, no trail
 * and nothing of the appliance.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>

#include "audit/entry.h"
#include "audit/proof.h"
#include "audit/verify.h"
#include "audit_common.h"
#include "console.h"
#include "crypto/crypto.h"
#include "crypto/pkey.h"
#include "io/io.h"
#include "util/buf.h"
#include "util/hex.h"
#include "util/log.h"

/* The largest proof: its header, an entry of AUDIT_ENTRY_MAX bytes and 64 hashes. */
#define PROOF_MAX ((size_t)1 << 17)

int parse_seq(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	/* strtoull would take "-1", " 1" and "+1" as well. */
	if (!isdigit((unsigned char)s[0]) || errno != 0 || *end != 0) {
		log_errorx("--seq needs an entry's sequence number, not '%s'", s);
		return -1;
	}
	*out = v;
	return 0;
}

/* A checkpoint's worth: pub's signature over its signed part (as audit_verify checks it). */
static bool signed_by(const struct pkey *pub, const struct audit_cp *cp)
{
	return pkey_suite(pub) == cp->suite &&
	       pkey_verify(pub, cp->signed_part, cp->signed_len, cp->sig, cp->sig_len) == 0;
}

/* ---- prove ---------------------------------------------------------------- */

/* -1 to go on, else the usage error's exit code after saying what is missing. */
static int prove_usage(const struct audit_args *a)
{
	if (a->to == NULL)
		log_errorx("give the file to write with --out FILE");
	else if (a->n_cps != 1)
		log_errorx("give the checkpoint to prove against with --checkpoint FILE (one)");
	else if (a->have_seq == (a->old != NULL))
		log_errorx("give --seq N (an entry is in the checkpoint's tree) or --old CP1 (the "
			   "checkpoint's tree extends CP1's), one of them");
	else
		return -1;
	return EXIT_USAGE;
}

/*
 * The trail's own key signed cp, and the first cp->size entries of the
 * trail have cp's tree head: else no proof from this trail can hold
 * against cp. -1 after saying why.
 */
static int trail_matches(const struct audit_export_view *v, const struct pkey *pub,
			 const char *path, const struct audit_cp *cp)
{
	uint8_t root[MERKLE_HASH_LEN];
	if (cp->suite != v->suite || !signed_by(pub, cp)) {
		log_errorx("the trail does not match checkpoint %s: it is not signed by the trail's "
			   "key (another appliance's, or forged)", path);
		return -1;
	}
	int e = audit_trail_head(v->trail, v->trail_len, v->suite, cp->size, root);
	if (e != 0) {
		log_errorx("cannot check checkpoint %s against the trail", path);
		return -1;
	}
	if (crypto_memcmp(root, cp->root, MERKLE_HASH_LEN) != 0) {
		log_errorx("the trail does not match checkpoint %s: its first %llu entries have "
			   "another tree head (the checkpoint is of another trail, or the trail was "
			   "changed since it was taken)", path, (unsigned long long)cp->size);
		return -1;
	}
	return 0;
}

/* Checks the proof just made as an auditor will: a proof that fails is never handed out. */
static int self_check(const struct buf *b, const struct audit_cp *cp, const struct audit_cp *old)
{
	struct audit_proof pr;
	char why[512];
	int e = audit_proof_parse(b->data, b->len, &pr);
	if (e == 0)
		e = audit_proof_check(&pr, cp, old, why, sizeof why);
	else
		snprintf(why, sizeof why, "it does not parse");
	if (e != 0)
		log_errorx("the proof made does not check (%s): not written", why);
	return e == 0 ? 0 : -1;
}

int audit_do_prove(struct audit_args *a)
{
	struct buf xb = { 0 }, cpb = { 0 }, oldb = { 0 }, out = { 0 };
	struct audit_cp cp, old;
	struct audit_export_view v;
	struct pkey *pub = NULL;
	int rc = prove_usage(a);
	if (rc >= 0)
		return rc;
	rc = EXIT_FAIL;
	if (read_checkpoint(a->cps[0], &cpb, &cp) != 0 ||
	    (a->old != NULL && read_checkpoint(a->old, &oldb, &old) != 0))
		goto out;
	if (load_export(a, &xb) != 0 || parse_export(a, &xb, &v) != 0)
		goto out;
	if (pkey_from_public_pem(v.pem, v.pem_len, PKEY_SIGN, &pub) != 0) {
		log_errorx("the trail's signing key is unusable");
		goto out;
	}
	if (trail_matches(&v, pub, a->cps[0], &cp) != 0 ||
	    (a->old != NULL && trail_matches(&v, pub, a->old, &old) != 0))
		goto out;
	int e = a->have_seq
			? audit_proof_inclusion(v.trail, v.trail_len, v.suite, a->seq, cp.size, &out)
			: audit_proof_consistency(v.trail, v.trail_len, v.suite, old.size, cp.size, &out);
	/* The makers name what they refuse (bad arguments, missing or damaged entries). */
	if (e != 0 && e != -EINVAL && e != -ERANGE && e != -EBADMSG)
		log_errorx("cannot make the proof: %s", coffer_strerror(e));
	if (e != 0 || self_check(&out, &cp, a->old != NULL ? &old : NULL) != 0 ||
	    write_new_file(a->to, out.data, out.len, 0644) != 0)
		goto out;
	if (!a->c.quiet && a->have_seq)
		printf("proof that entry %llu is in the tree of %llu entries of %s written to %s\n",
		       (unsigned long long)a->seq, (unsigned long long)cp.size, a->cps[0], a->to);
	else if (!a->c.quiet)
		printf("proof that the tree of %llu entries of %s is a prefix of the tree of %llu "
		       "entries of %s written to %s\n", (unsigned long long)old.size, a->old,
		       (unsigned long long)cp.size, a->cps[0], a->to);
	rc = EXIT_OK;
out:
	pkey_free(pub);
	buf_fini(&out);
	buf_fini(&oldb);
	buf_fini(&cpb);
	buf_fini(&xb);
	return rc;
}

/* ---- check-proof ---------------------------------------------------------- */

/* Reads and parses the proof file into b (which pr borrows); -1 after saying why. */
static int read_proof(const char *path, struct buf *b, struct audit_proof *pr)
{
	int e = io_read_file_at(AT_FDCWD, path, b, PROOF_MAX);
	if (e != 0 && e != -EFBIG) {
		log_errorx("cannot read %s: %s", path, coffer_strerror(e));
		return -1;
	}
	if (e == 0)
		e = audit_proof_parse(b->data, b->len, pr);
	if (e != 0)
		printf("FAILED: %s is not an audit proof (%s)\n", path,
		       e == -ENOTSUP ? "a newer version" : "damaged or truncated");
	return e == 0 ? 0 : -1;
}

/* -1 to go on, else the usage error's exit code after saying what is missing. */
static int check_usage(const struct audit_args *a)
{
	if (a->proof == NULL)
		log_errorx("give the proof: coffer audit check-proof FILE --checkpoint CP "
			   "[--old CP1] --public-key PEM");
	else if (a->n_cps != 1)
		log_errorx("give the checkpoint the proof is against with --checkpoint FILE (one)");
	else if (a->public_key == NULL)
		log_errorx("give the trail's public key with --public-key PEM (sign.pem, as you "
			   "keep it): the checkpoints are worth only their signature");
	else
		return -1;
	return EXIT_USAGE;
}

/* The proof's kind is what --old says it is; else the usage error's exit code. */
static int check_kind(const struct audit_args *a, const struct audit_proof *pr)
{
	if (pr->kind == AUDIT_PROOF_CONSISTENCY && a->old == NULL)
		log_errorx("%s is a consistency proof: give the older checkpoint with --old CP1",
			   a->proof);
	else if (pr->kind == AUDIT_PROOF_INCLUSION && a->old != NULL)
		log_errorx("%s is an inclusion proof: --old is for consistency proofs", a->proof);
	else
		return -1;
	return EXIT_USAGE;
}

/* 0 if pub signed cp; else says so (FAILED) and -1. */
static int check_signature(const struct pkey *pub, const char *pem, const char *path,
			   const struct audit_cp *cp)
{
	if (signed_by(pub, cp))
		return 0;
	printf("FAILED: checkpoint %s is not signed by the key in %s\n", path, pem);
	return -1;
}

static void print_quoted(const char *name, const uint8_t *p, size_t n)
{
	printf(", %s \"", name);
	print_escaped(stdout, p, n);
	printf("\"");
}

/* "OK: entry N (record, op ..., at TIME) is in the signed tree of SIZE entries". */
static void say_included(const struct audit_proof *pr)
{
	struct audit_entry en;
	size_t used;
	char when[32];
	(void)audit_entry_parse(pr->entry, pr->entry_len, &used, &en); /* checked already */
	printf("OK: entry %llu (", (unsigned long long)en.seq);
	if (en.kind == AUDIT_RECORD) {
		printf("record");
		print_quoted("op", en.op, en.op_len);
		print_quoted("actor", en.actor, en.actor_len);
		printf(" (uid %u)", en.uid);
		print_quoted("role", en.role, en.role_len);
		print_quoted("target", en.target, en.target_len);
		print_quoted("outcome", en.outcome, en.outcome_len);
		print_quoted("origin", en.origin, en.origin_len);
	} else {
		printf("seal of epoch %llu over %llu entries", (unsigned long long)en.epoch,
		       (unsigned long long)en.tree_size);
	}
	printf(", at %s) is in the signed tree of %llu entries\n",
	       fmt_time(en.time_ns / 1000000000, when, sizeof when),
	       (unsigned long long)pr->tree_size);
}

/* The key and the checkpoint time, for the auditor's notes. */
static void say_signed(const struct pkey *pub, const struct audit_cp *cp)
{
	uint8_t fp[32];
	char fph[65], when[32];
	(void)pkey_fingerprint(pub, fp);
	hex_encode(fp, 32, fph);
	printf("checkpoint taken %s, signing key %s\n", fmt_time(cp->time, when, sizeof when),
	       fph);
}

int audit_do_check_proof(struct audit_args *a)
{
	struct buf pb = { 0 }, cpb = { 0 }, oldb = { 0 };
	struct audit_proof pr;
	struct audit_cp cp, old;
	struct pkey *pub = NULL;
	char why[512];
	int rc = check_usage(a);
	if (rc >= 0)
		return rc;
	rc = EXIT_FAIL;
	if (read_proof(a->proof, &pb, &pr) != 0)
		goto out;
	if ((rc = check_kind(a, &pr)) >= 0)
		goto out;
	rc = EXIT_FAIL;
	if (read_checkpoint(a->cps[0], &cpb, &cp) != 0 ||
	    (a->old != NULL && read_checkpoint(a->old, &oldb, &old) != 0) ||
	    console_load_public_key(a->public_key, PKEY_SIGN, "audit signing key", &pub) != 0)
		goto out;
	/* A checkpoint's worth is its signature: checked before anything it says is used. */
	if (check_signature(pub, a->public_key, a->cps[0], &cp) != 0 ||
	    (a->old != NULL && check_signature(pub, a->public_key, a->old, &old) != 0))
		goto out;
	int e = audit_proof_check(&pr, &cp, a->old != NULL ? &old : NULL, why, sizeof why);
	if (e != 0) {
		printf("FAILED: %s\n", why);
		goto out;
	}
	if (pr.kind == AUDIT_PROOF_INCLUSION)
		say_included(&pr);
	else
		printf("OK: the tree of %llu entries is a prefix of the tree of %llu entries\n",
		       (unsigned long long)pr.size1, (unsigned long long)pr.size2);
	say_signed(pub, &cp);
	rc = EXIT_OK;
out:
	pkey_free(pub);
	buf_fini(&oldb);
	buf_fini(&cpb);
	buf_fini(&pb);
	return rc;
}
