/*
 * Certificates of sanitization (certificate.h, docs/format/certificate.md).
 * One table says which keys come in which order and how often; the
 * builder writes in that order and the parser holds every line to it.
 */
#define _DEFAULT_SOURCE /* timegm */
#include "approval/certificate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "crypto/pkey.h"
#include "util/hex.h"

enum { ONCE, ANY, SOME }; /* exactly one; zero or more; one or more */

static const struct {
	const char *key;
	int times;
} fields[] = {
	{ "certificate", ONCE }, { "issued", ONCE },      { "tool", ONCE },
	{ "appliance", ONCE },   { "dataset", ONCE },     { "dataset-id", ONCE },
	{ "classification", ONCE }, { "scope", ONCE },    { "snapshot", ANY },
	{ "site", SOME },
	{ "media", ONCE },       { "requester", ONCE },   { "requested", ONCE },
	{ "reason", ONCE },      { "legal-basis", ONCE }, { "approvals-needed", ONCE },
	{ "approver", ANY },     { "approval", ANY },     { "executed-by", ONCE },
	{ "started", ONCE },     { "finished", ONCE },    { "keys-destroyed", ONCE },
	{ "method-type", ONCE }, { "method", ONCE },      { "files", ONCE },
	{ "bytes", ONCE },       { "verification", ONCE }, { "result", ONCE },
	{ "request", ONCE },     { "signature", ONCE },
};
#define N_FIELDS (sizeof fields / sizeof fields[0])
#define MAX_LINES 512

/* ---- building ------------------------------------------------------------- */

static void iso_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "1970-01-01T00:00:00Z");
}

static int parse_iso_time(const char *s, int64_t *out)
{
	struct tm tm = { 0 };
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != 0)
		return -EBADMSG;
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* Free text on one line: \ as \\ and line breaks as \n. */
static int put_escaped(struct buf *b, const char *s)
{
	int e = 0;
	for (; *s && e == 0; s++) {
		if (*s == '\\')
			e = buf_put(b, "\\\\", 2);
		else if (*s == '\n')
			e = buf_put(b, "\\n", 2);
		else if (*s == '\r')
			e = buf_put(b, "\\r", 2);
		else
			e = buf_put_u8(b, (uint8_t)*s);
	}
	return e;
}

static int put_field(struct buf *b, const char *key, const char *value, bool escape)
{
	int e = buf_put(b, key, strlen(key));
	if (e == 0)
		e = buf_put_u8(b, ' ');
	if (e == 0)
		e = escape ? put_escaped(b, value) : buf_put(b, value, strlen(value));
	if (e == 0)
		e = buf_put_u8(b, '\n');
	return e;
}

static int put_hex_field(struct buf *b, const char *key, const char *prefix, const uint8_t *p,
			 size_t n)
{
	char *hex = malloc(2 * n + 1);
	if (hex == NULL)
		return -ENOMEM;
	hex_encode(p, n, hex);
	int e = buf_put(b, key, strlen(key));
	if (e == 0)
		e = buf_put_u8(b, ' ');
	if (e == 0 && prefix != NULL)
		e = buf_put(b, prefix, strlen(prefix));
	if (e == 0)
		e = buf_put(b, hex, 2 * n);
	if (e == 0)
		e = buf_put_u8(b, '\n');
	free(hex);
	return e;
}

int cert_build(const struct cert_input *in, struct buf *out)
{
	const struct erase_request *r = in->r;
	char v[512], t[32], idhex[2 * ERASE_ID_LEN + 1];
	size_t start = out->len;
	erase_id_hex(r->id, idhex);
	int e = buf_put(out, CERT_FIRST_LINE "\n", sizeof CERT_FIRST_LINE);
	if (e == 0)
		e = put_field(out, "certificate", idhex, false);
	iso_time(in->issued, t);
	if (e == 0)
		e = put_field(out, "issued", t, false);
	if (e == 0)
		e = put_field(out, "tool", "Coffer " COFFER_VERSION, false);
	if (e == 0)
		e = put_field(out, "appliance", in->appliance, false);
	if (e == 0)
		e = put_field(out, "dataset", r->dataset, true);
	if (e == 0)
		e = put_field(out, "dataset-id", r->dataset_id, false);
	snprintf(v, sizeof v, "level %u (%s)", r->level, r->level_name);
	if (e == 0)
		e = put_field(out, "classification", v, true);
	if (e == 0)
		e = put_field(out, "scope", in->scope, false);
	for (size_t i = 0; e == 0 && i < r->n_snapshots; i++)
		e = put_field(out, "snapshot", r->snapshots[i], false);
	for (size_t i = 0; e == 0 && i < r->n_sites; i++)
		e = put_field(out, "site", r->sites[i], true);
	if (e == 0)
		e = put_field(out, "media", in->media, true);
	snprintf(v, sizeof v, "%s (%u)", r->requester, (unsigned)r->requester_uid);
	if (e == 0)
		e = put_field(out, "requester", v, true);
	iso_time(r->created, t);
	if (e == 0)
		e = put_field(out, "requested", t, false);
	if (e == 0)
		e = put_field(out, "reason", r->reason, true);
	if (e == 0)
		e = put_field(out, "legal-basis", r->legal_basis, true);
	snprintf(v, sizeof v, "%u", (unsigned)r->approvals_needed);
	if (e == 0)
		e = put_field(out, "approvals-needed", v, false);
	for (size_t i = 0; e == 0 && i < in->n_approvals; i++) {
		const struct approver *a = &in->approvers[i];
		char prefix[APPROVER_NAME_MAX + APPROVER_USER_MAX + 32];
		snprintf(prefix, sizeof prefix, "%s %s %s ", a->name, approver_role_name(a->role),
			 a->user);
		e = put_hex_field(out, "approver", prefix, (const uint8_t *)a->pem, strlen(a->pem));
	}
	for (size_t i = 0; e == 0 && i < in->n_approvals; i++) {
		const struct approval *ap = &in->approvals[i];
		char prefix[APPROVER_NAME_MAX + 48];
		iso_time(ap->time, t);
		snprintf(prefix, sizeof prefix, "%s %s ", ap->approver, t);
		e = put_hex_field(out, "approval", prefix, ap->sig, ap->sig_len);
	}
	snprintf(v, sizeof v, "%s (%u)", in->x->executor, (unsigned)in->x->executor_uid);
	if (e == 0)
		e = put_field(out, "executed-by", v, true);
	iso_time(in->x->started, t);
	if (e == 0)
		e = put_field(out, "started", t, false);
	iso_time(in->x->finished, t);
	if (e == 0)
		e = put_field(out, "finished", t, false);
	if (e == 0)
		e = put_field(out, "keys-destroyed", in->keys_destroyed, false);
	if (e == 0)
		e = put_field(out, "method-type", in->method_type, false);
	if (e == 0)
		e = put_field(out, "method", in->method, true);
	snprintf(v, sizeof v, "%llu", (unsigned long long)in->x->files);
	if (e == 0)
		e = put_field(out, "files", v, false);
	snprintf(v, sizeof v, "%llu", (unsigned long long)in->x->bytes);
	if (e == 0)
		e = put_field(out, "bytes", v, false);
	if (e == 0)
		e = put_field(out, "verification", in->verification, true);
	if (e == 0)
		e = put_field(out, "result", in->x->result, true);
	if (e == 0)
		e = put_hex_field(out, "request", NULL, in->enc, in->enc_len);
	if (e != 0)
		out->len = start;
	return e;
}

int cert_append_signature(struct buf *cert, const uint8_t *sig, size_t len)
{
	return put_hex_field(cert, "signature", NULL, sig, len);
}

/* ---- parsing ---------------------------------------------------------------- */

struct line {
	unsigned field;
	char *value;       /* NUL-terminated copy */
	size_t offset;     /* of the line in the file */
};

struct parsed {
	struct line v[MAX_LINES];
	size_t n;
};

static void parsed_free(struct parsed *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].value);
	p->n = 0;
}

static int parse(const uint8_t *p, size_t len, struct parsed *out, char *why, size_t size)
{
	size_t off = 0, first = sizeof CERT_FIRST_LINE; /* with its \n */
	unsigned fi = 0, count = 0;
	out->n = 0;
	if (len < first || memcmp(p, CERT_FIRST_LINE "\n", first) != 0) {
		snprintf(why, size, "not a Coffer certificate of sanitization (version 1)");
		return -EBADMSG;
	}
	off = first;
	while (off < len) {
		const uint8_t *nl = memchr(p + off, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - (p + off)) : len - off;
		if (nl == NULL || n > CERT_LINE_MAX || memchr(p + off, '\r', n) != NULL ||
		    memchr(p + off, 0, n) != NULL) {
			snprintf(why, size, "line at byte %zu: %s", off,
				 nl == NULL ? "no line end" : n > CERT_LINE_MAX ? "too long"
								      : "a CR or NUL byte");
			return -EBADMSG;
		}
		const uint8_t *sp = memchr(p + off, ' ', n);
		size_t klen = sp != NULL ? (size_t)(sp - (p + off)) : n;
		if (sp == NULL || klen + 1 >= n) {
			snprintf(why, size, "line at byte %zu: not 'KEY VALUE'", off);
			return -EBADMSG;
		}
		/* Stay on the current key if it may repeat, else move on to this one. */
		bool same = klen == strlen(fields[fi].key) &&
			    memcmp(p + off, fields[fi].key, klen) == 0 &&
			    (fields[fi].times != ONCE || count == 0);
		while (!same) {
			if (fields[fi].times != ANY && count == 0) {
				snprintf(why, size, "'%s' is missing (before byte %zu)", fields[fi].key,
					 off);
				return -EBADMSG;
			}
			if (++fi == N_FIELDS) {
				snprintf(why, size, "line at byte %zu: '%.*s' is unknown, repeated or "
					 "out of place", off, (int)(klen < 40 ? klen : 40), p + off);
				return -EBADMSG;
			}
			count = 0;
			same = klen == strlen(fields[fi].key) &&
			       memcmp(p + off, fields[fi].key, klen) == 0;
		}
		if (out->n == MAX_LINES) {
			snprintf(why, size, "too many lines");
			return -EBADMSG;
		}
		struct line *l = &out->v[out->n];
		l->field = fi;
		l->offset = off;
		l->value = strndup((const char *)p + off + klen + 1, n - klen - 1);
		if (l->value == NULL)
			return -ENOMEM;
		out->n++;
		count++;
		off += n + 1;
		if (strcmp(fields[fi].key, "signature") == 0 && off != len) {
			snprintf(why, size, "bytes after the signature line");
			return -EBADMSG;
		}
	}
	if (strcmp(fields[fi].key, "signature") != 0 || count != 1) {
		snprintf(why, size, "the certificate ends before its signature");
		return -EBADMSG;
	}
	return 0;
}

int cert_check_format(const uint8_t *p, size_t len, char *why, size_t size)
{
	struct parsed *ps = calloc(1, sizeof *ps);
	if (ps == NULL)
		return -ENOMEM;
	int e = parse(p, len, ps, why, size);
	parsed_free(ps);
	free(ps);
	return e;
}

/* ---- verifying ---------------------------------------------------------------- */

/* The value of a key that occurs (parse made sure of it); "" otherwise. */
static const char *value_of(const struct parsed *ps, const char *key)
{
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(fields[ps->v[i].field].key, key) == 0)
			return ps->v[i].value;
	return "";
}

/* Hex of exactly the value's length into a new buffer. */
static int unhex(const char *s, uint8_t **out, size_t *n)
{
	size_t len = strlen(s);
	if (len == 0 || len % 2 != 0)
		return -EBADMSG;
	*out = malloc(len / 2);
	if (*out == NULL)
		return -ENOMEM;
	if (hex_decode(s, *out, len / 2) != 0) {
		free(*out);
		*out = NULL;
		return -EBADMSG;
	}
	*n = len / 2;
	return 0;
}

/* Step 3: the request encoding says what the certificate says. */
static int check_request(const struct parsed *ps, const struct erase_request *r, char *why,
			 size_t size)
{
	char idhex[2 * ERASE_ID_LEN + 1], v[512];
	struct buf esc = { 0 };
	erase_id_hex(r->id, idhex);
	const char *bad = NULL;
	if (strcmp(value_of(ps, "certificate"), idhex) != 0)
		bad = "certificate (the request ID)";
	else if (strcmp(value_of(ps, "dataset-id"), r->dataset_id) != 0)
		bad = "dataset-id";
	snprintf(v, sizeof v, "%u", (unsigned)r->approvals_needed);
	if (bad == NULL && strcmp(value_of(ps, "approvals-needed"), v) != 0)
		bad = "approvals-needed";
	static const char *const text_keys[] = { "dataset", "reason", "legal-basis" };
	const char *texts[] = { r->dataset, r->reason, r->legal_basis };
	for (size_t i = 0; bad == NULL && i < 3; i++) {
		buf_reset(&esc);
		if (put_escaped(&esc, texts[i]) != 0 || buf_put_u8(&esc, 0) != 0 ||
		    strcmp(value_of(ps, text_keys[i]), (char *)esc.data) != 0)
			bad = text_keys[i];
	}
	buf_fini(&esc);
	size_t k = 0;
	for (size_t i = 0; bad == NULL && i < ps->n; i++) {
		if (strcmp(fields[ps->v[i].field].key, "snapshot") != 0)
			continue;
		if (k >= r->n_snapshots || strcmp(ps->v[i].value, r->snapshots[k]) != 0)
			bad = "snapshot";
		k++;
	}
	if (bad == NULL && k != r->n_snapshots)
		bad = "snapshot";
	if (bad != NULL) {
		snprintf(why, size, "'%s' is not what the signed request says", bad);
		return -EPERM;
	}
	return 0;
}

/* Step 4: the approvals, checked against the request as approvers saw it. */
static int check_approvals(const struct parsed *ps, const struct erase_request *r,
			   const uint8_t *enc, size_t enc_len, struct cert_summary *sum, char *why,
			   size_t size)
{
	struct approver reg[64];
	size_t n_reg = 0;
	int e = 0;
	memset(reg, 0, sizeof reg);
	for (size_t i = 0; e == 0 && i < ps->n; i++) {
		if (strcmp(fields[ps->v[i].field].key, "approver") != 0)
			continue;
		char name[APPROVER_NAME_MAX + 1], role[17], user[APPROVER_USER_MAX + 1], rest[2];
		const char *val = ps->v[i].value;
		const char *hexp = NULL;
		/* NAME ROLE LOGIN PEMHEX: the hex is the fourth word. */
		int words = sscanf(val, "%32s %16s %64s %1s", name, role, user, rest);
		for (int sp = 0, k = 0; val[k] && words == 4; k++)
			if (val[k] == ' ' && ++sp == 3)
				hexp = val + k + 1;
		uint8_t *pem = NULL;
		size_t pem_len = 0;
		char kwhy[128];
		if (n_reg == 64 || words != 4 || hexp == NULL ||
		    approver_role_parse(role, &reg[n_reg].role) != 0 ||
		    unhex(hexp, &pem, &pem_len) != 0 ||
		    approver_key_read(pem, pem_len, &reg[n_reg], kwhy, sizeof kwhy) != 0) {
			snprintf(why, size, "approver line at byte %zu is malformed", ps->v[i].offset);
			e = -EBADMSG;
		} else {
			snprintf(reg[n_reg].name, sizeof reg[n_reg].name, "%s", name);
			snprintf(reg[n_reg].user, sizeof reg[n_reg].user, "%s", user);
			n_reg++;
		}
		free(pem);
	}
	unsigned approvers = 0, supervisors = 0;
	char counted[64][APPROVER_NAME_MAX + 1];
	size_t n_counted = 0;
	for (size_t i = 0; e == 0 && i < ps->n; i++) {
		if (strcmp(fields[ps->v[i].field].key, "approval") != 0)
			continue;
		char name[APPROVER_NAME_MAX + 1], when[32], hexs[2];
		const char *val = ps->v[i].value, *sigp = strrchr(val, ' ');
		int64_t t;
		uint8_t *sig = NULL;
		size_t sig_len = 0;
		if (sscanf(val, "%32s %31s %1s", name, when, hexs) != 3 || sigp == NULL ||
		    parse_iso_time(when, &t) != 0 || unhex(sigp + 1, &sig, &sig_len) != 0) {
			snprintf(why, size, "approval line at byte %zu is malformed", ps->v[i].offset);
			e = -EBADMSG;
			break;
		}
		const struct approver *a = NULL;
		for (size_t k = 0; k < n_reg && a == NULL; k++)
			if (strcmp(reg[k].name, name) == 0)
				a = &reg[k];
		bool dup = false;
		for (size_t k = 0; k < n_counted; k++)
			dup = dup || strcmp(counted[k], name) == 0;
		char awhy[APPROVAL_WHY_MAX];
		if (a == NULL || dup) {
			snprintf(why, size, "the approval by '%s' %s", name,
				 a == NULL ? "has no approver line" : "is given twice");
			e = -EPERM;
		} else if (approval_check(r, enc, enc_len, a, sig, sig_len, t, awhy, sizeof awhy) != 0) {
			snprintf(why, size, "the approval by '%s' does not verify: %s", name, awhy);
			e = -EPERM;
		} else {
			snprintf(counted[n_counted++], APPROVER_NAME_MAX + 1, "%s", name);
			if (a->role == APPROVER_ROLE_SUPERVISOR)
				supervisors++;
			else
				approvers++;
		}
		free(sig);
		if (n_counted == 64)
			break;
	}
	for (size_t k = 0; k < n_reg; k++)
		approver_fini(&reg[k]);
	if (e != 0)
		return e;
	sum->approvers = approvers;
	sum->supervisors = supervisors;
	sum->needed = r->approvals_needed;
	if (approvers < r->approvals_needed || supervisors == 0) {
		snprintf(why, size, "the approvals do not make the quorum: %u of %u approvers, %s",
			 approvers, (unsigned)r->approvals_needed,
			 supervisors ? "a supervisor" : "no supervisor");
		return -EPERM;
	}
	return 0;
}

int cert_verify(const uint8_t *p, size_t len, const struct pkey *pub, struct cert_summary *out,
		char *why, size_t size)
{
	struct parsed *ps = calloc(1, sizeof *ps);
	struct erase_request r = { 0 };
	uint8_t *enc = NULL, *sig = NULL;
	size_t enc_len = 0, sig_len = 0;
	memset(out, 0, sizeof *out);
	if (ps == NULL)
		return -ENOMEM;
	int e = parse(p, len, ps, why, size);
	if (e == 0) {
		const struct line *last = &ps->v[ps->n - 1];
		if (unhex(last->value, &sig, &sig_len) != 0) {
			snprintf(why, size, "the signature is not hex");
			e = -EBADMSG;
		} else if (pkey_verify(pub, p, last->offset, sig, sig_len) != 0) {
			snprintf(why, size, "the signature is not the appliance key's over this "
				 "certificate (altered, or signed by another key)");
			e = -EPERM;
		}
	}
	if (e == 0 && (unhex(value_of(ps, "request"), &enc, &enc_len) != 0 ||
		       erase_request_parse(enc, enc_len, &r) != 0)) {
		snprintf(why, size, "the request it carries does not parse");
		e = -EBADMSG;
	}
	if (e == 0)
		e = check_request(ps, &r, why, size);
	if (e == 0)
		e = check_approvals(ps, &r, enc, enc_len, out, why, size);
	if (e == 0) {
		snprintf(out->id, sizeof out->id, "%s", value_of(ps, "certificate"));
		snprintf(out->dataset, sizeof out->dataset, "%s", r.dataset);
		snprintf(out->finished, sizeof out->finished, "%s", value_of(ps, "finished"));
	}
	erase_request_free(&r);
	free(enc);
	free(sig);
	parsed_free(ps);
	free(ps);
	return e;
}

/* ---- JSON ------------------------------------------------------------------------ */

static int json_str(struct buf *b, const char *s)
{
	int e = buf_put_u8(b, '"');
	for (; *s && e == 0; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			e = buf_put(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			e = buf_put(b, esc, 6);
		} else {
			e = buf_put_u8(b, c);
		}
	}
	return e == 0 ? buf_put_u8(b, '"') : e;
}

int cert_to_json(const uint8_t *p, size_t len, struct buf *out)
{
	char why[256];
	struct parsed *ps = calloc(1, sizeof *ps);
	if (ps == NULL)
		return -ENOMEM;
	int e = parse(p, len, ps, why, sizeof why);
	if (e == 0)
		e = buf_put_u8(out, '{');
	for (size_t i = 0; e == 0 && i < ps->n; i++) {
		const char *key = fields[ps->v[i].field].key;
		bool many = fields[ps->v[i].field].times != ONCE;
		bool first_of = i == 0 || ps->v[i - 1].field != ps->v[i].field;
		bool last_of = i + 1 == ps->n || ps->v[i + 1].field != ps->v[i].field;
		if (first_of) {
			if (i > 0)
				e = buf_put_u8(out, ',');
			if (e == 0)
				e = json_str(out, key);
			if (e == 0)
				e = buf_put(out, many ? ":[" : ":", many ? 2 : 1);
		} else if (e == 0) {
			e = buf_put_u8(out, ',');
		}
		if (e == 0)
			e = json_str(out, ps->v[i].value);
		if (e == 0 && many && last_of)
			e = buf_put_u8(out, ']');
	}
	if (e == 0)
		e = buf_put(out, "}\n", 2);
	parsed_free(ps);
	free(ps);
	return e;
}
