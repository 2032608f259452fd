/*
 * Checking approvals and counting the quorum (quorum.h). The statement is
 * recomputed from the stored encoding for every check: a signature counts
 * only for the request exactly as it is stored now.
 */
#include "approval/quorum.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "crypto/pkey.h"

const char *approver_role_name(enum approver_role r)
{
	return r == APPROVER_ROLE_SUPERVISOR ? "supervisor" : r == APPROVER_ROLE_APPROVER ? "approver" : "?";
}

int approver_role_parse(const char *s, enum approver_role *out)
{
	if (strcmp(s, "approver") == 0)
		*out = APPROVER_ROLE_APPROVER;
	else if (strcmp(s, "supervisor") == 0)
		*out = APPROVER_ROLE_SUPERVISOR;
	else
		return -EINVAL;
	return 0;
}

bool approver_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > APPROVER_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return false;
	}
	return true;
}

void approver_fini(struct approver *a)
{
	free(a->pem);
	a->pem = NULL;
}

int approver_key_read(const void *pem, size_t len, struct approver *a, char *why, size_t size)
{
	struct pkey *k = NULL;
	int e = pkey_from_public_pem(pem, len, PKEY_SIGN, &k);
	if (e != 0 || pkey_use(k) != PKEY_SIGN || pkey_has_private(k)) {
		snprintf(why, size, "not an Ed25519 or SM2 public key (PEM, as 'openssl pkey "
			 "-pubout' writes it)");
		pkey_free(k);
		return -EINVAL;
	}
	a->suite = pkey_suite(k);
	e = pkey_fingerprint(k, a->fingerprint);
	pkey_free(k);
	if (e == 0) {
		char *copy = malloc(len + 1);
		if (copy == NULL)
			return -ENOMEM;
		memcpy(copy, pem, len);
		copy[len] = 0;
		free(a->pem);
		a->pem = copy;
	}
	return e;
}

static void utc(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, size, "%lld", (long long)t);
}

static const char *suite_signature(uint32_t suite)
{
	return suite == SUITE_NATIONAL ? "SM2" : suite == SUITE_INTERNATIONAL ? "Ed25519" : "unknown";
}

int approval_check(const struct erase_request *r, const uint8_t *enc, size_t enc_len,
		   const struct approver *a, const uint8_t *sig, size_t sig_len, int64_t now,
		   char *why, size_t size)
{
	char when[48];
	if (now >= r->expires) {
		utc(r->expires, when, sizeof when);
		snprintf(why, size, "the request expired at %s", when);
		return -EPERM;
	}
	if (a->revoked != 0) {
		utc(a->revoked, when, sizeof when);
		snprintf(why, size, "approver '%s' was revoked at %s by %s", a->name, when,
			 a->revoked_by);
		return -EPERM;
	}
	if (a->suite != r->suite) {
		snprintf(why, size, "approver '%s' has an %s key; this request needs %s signatures",
			 a->name, suite_signature(a->suite), suite_signature(r->suite));
		return -EPERM;
	}
	if (strcmp(a->user, r->requester) == 0) {
		snprintf(why, size, "the requester (%s) cannot approve their own request",
			 r->requester);
		return -EPERM;
	}
	uint8_t digest[32];
	struct buf st = { 0 };
	struct pkey *k = NULL;
	int e = erase_request_digest(r->suite, enc, enc_len, digest);
	if (e == 0)
		e = erase_statement(r->id, digest, &st);
	if (e == 0)
		e = pkey_from_public_pem(a->pem, strlen(a->pem), PKEY_SIGN, &k);
	if (e == 0) {
		e = pkey_verify(k, st.data, st.len, sig, sig_len);
		if (e == -EBADMSG) {
			snprintf(why, size, "not a signature by '%s' of this request's statement "
				 "(forged, made for another request, or over another scope)", a->name);
			e = -EPERM;
		}
	}
	if (e != 0 && e != -EPERM)
		snprintf(why, size, "the signature could not be checked: %s", strerror(-e));
	pkey_free(k);
	buf_fini(&st);
	return e;
}

static const struct approver *find(const struct approver *reg, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(reg[i].name, name) == 0)
			return &reg[i];
	return NULL;
}

int quorum_count(const struct erase_request *r, const uint8_t *enc, size_t enc_len,
		 const struct approver *reg, size_t n_reg, const struct approval *aps, size_t n,
		 int64_t now, struct quorum *q, char (*why)[APPROVAL_WHY_MAX])
{
	memset(q, 0, sizeof *q);
	q->approvers_needed = r->approvals_needed;
	q->expired = now >= r->expires;
	for (size_t i = 0; i < n; i++) {
		const struct approver *a = find(reg, n_reg, aps[i].approver);
		why[i][0] = 0;
		bool dup = false;
		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(aps[j].approver, aps[i].approver) == 0;
		if (a == NULL) {
			snprintf(why[i], APPROVAL_WHY_MAX, "'%s' is not a registered approver",
				 aps[i].approver);
			continue;
		}
		if (dup) {
			snprintf(why[i], APPROVAL_WHY_MAX, "a second signature by '%s' counts once",
				 a->name);
			continue;
		}
		int e = approval_check(r, enc, enc_len, a, aps[i].sig, aps[i].sig_len, now, why[i],
				       APPROVAL_WHY_MAX);
		if (e == -EPERM)
			continue;
		if (e != 0)
			return e;
		if (a->role == APPROVER_ROLE_SUPERVISOR)
			q->supervisors++;
		else
			q->approvers++;
	}
	char more[96] = "";
	unsigned short_by = q->approvers < q->approvers_needed ? q->approvers_needed - q->approvers : 0;
	if (short_by > 0)
		snprintf(more, sizeof more, "%u more approval%s (%u of %u)", short_by,
			 short_by == 1 ? "" : "s", q->approvers, q->approvers_needed);
	const char *expired = q->expired ? "the request has expired" : "";
	const char *sup = q->supervisors == 0 ? "the supervisor's approval" : "";
	snprintf(q->missing, sizeof q->missing, "%s%s%s%s%s", expired,
		 *expired && *more ? "; " : "", more, (*expired || *more) && *sup ? "; " : "", sup);
	q->met = !q->expired && q->approvers >= q->approvers_needed && q->supervisors >= 1;
	return 0;
}
