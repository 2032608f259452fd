/*
 * Fuzz harness for the proof file parser (audit/proof.h,
 * docs/format/audit.md "Proofs"), which reads what an auditor is handed.
 * Any input must give 0, -EBADMSG or -ENOTSUP. An accepted proof must
 * lie within the input and the format's limits, re-encode
 * (audit_proof_encode) to exactly its bytes (the encoding is canonical:
 * two byte strings never parse as the same proof), and read as damaged
 * once cut short by a byte. The checker is then run on it against
 * checkpoints of the sizes it names and a root the input cannot know:
 * it must refuse (or, for the proofs that need no hash, accept), never
 * crash or read outside the path and entry.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/entry.h"
#include "audit/proof.h"
#include "audit/verify.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok)
		abort();
}

/* [p, p + n) lies inside [lo, lo + len). */
static bool inside(const void *p, size_t n, const uint8_t *lo, size_t len)
{
	const uint8_t *q = p;
	return q != NULL && q >= lo && n <= len && (size_t)(q - lo) <= len - n;
}

static void check_fields(const struct audit_proof *pr, const uint8_t *data, size_t size)
{
	require(pr->n_path <= MERKLE_MAX_DEPTH);
	require(pr->n_path == 0 || inside(pr->path, pr->n_path * MERKLE_HASH_LEN, data, size));
	if (pr->kind == AUDIT_PROOF_INCLUSION) {
		require(pr->index < pr->tree_size);
		require(pr->entry_len >= 4 && pr->entry_len - 4 <= AUDIT_ENTRY_MAX);
		require(inside(pr->entry, pr->entry_len, data, size));
		require(le32_get(pr->entry) == pr->entry_len - 4);
	} else {
		require(pr->kind == AUDIT_PROOF_CONSISTENCY);
		require(pr->size1 <= pr->size2);
	}
}

/* Checkpoints of the proof's sizes, with a root no input can aim at (all 0xa5). */
static void run_checker(const struct audit_proof *pr)
{
	struct audit_cp cp = { .suite = pr->suite }, old = { .suite = pr->suite };
	char why[512] = "";
	memset(cp.root, 0xa5, sizeof cp.root);
	memset(old.root, 0xa5, sizeof old.root);
	cp.size = pr->kind == AUDIT_PROOF_INCLUSION ? pr->tree_size : pr->size2;
	old.size = pr->size1;
	int e = audit_proof_check(pr, &cp, &old, why, sizeof why);
	require(e == 0 || e == -EBADMSG);
	require(memchr(why, 0, sizeof why) != NULL);
	/* Only a consistency proof that needs no hash can hold against that root. */
	if (e == 0)
		require(pr->kind == AUDIT_PROOF_CONSISTENCY &&
			(pr->size1 == pr->size2 || pr->size1 == 0) && pr->n_path == 0);
	/* Without the older checkpoint a consistency proof is not checked at all. */
	if (pr->kind == AUDIT_PROOF_CONSISTENCY)
		require(audit_proof_check(pr, &cp, NULL, why, sizeof why) == -EINVAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_proof pr, again;
	struct buf b = { 0 };
	int e = audit_proof_parse(data, size, &pr);
	require(e == 0 || e == -EBADMSG || e == -ENOTSUP);
	if (e != 0)
		return 0;
	check_fields(&pr, data, size);
	require(audit_proof_encode(&pr, &b) == 0);
	require(b.len == size && memcmp(b.data, data, size) == 0);
	buf_fini(&b);
	require(audit_proof_parse(data, size - 1, &again) == -EBADMSG);
	run_checker(&pr);
	return 0;
}
