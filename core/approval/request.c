/*
 * The canonical encoding of destruction requests (request.h,
 * docs/format/erase.md). Encoding and parsing check the same rules, so
 * whatever is stored parses back to what was encoded, byte for byte.
 */
#include "approval/request.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/hex.h"
#include "util/log.h"

#define REQUEST_MAGIC "COFFERER"
#define STATEMENT_HEAD "coffer erase approval v1\n"

void erase_request_free(struct erase_request *r)
{
	free(r->requester);
	free(r->dataset);
	free(r->dataset_id);
	free(r->level_name);
	for (size_t i = 0; i < r->n_snapshots; i++)
		free(r->snapshots[i]);
	free(r->snapshots);
	free(r->repository);
	free(r->keyset_id);
	for (size_t i = 0; i < r->n_sites; i++)
		free(r->sites[i]);
	free(r->sites);
	free(r->reason);
	free(r->legal_basis);
	memset(r, 0, sizeof *r);
}

/* The rules both directions check; why names the first one broken. */
static bool str_ok(const char *s, size_t max, bool may_be_empty)
{
	size_t n = s != NULL ? strlen(s) : 0;
	return n <= max && (may_be_empty || n > 0);
}

static const char *request_rule_broken(const struct erase_request *r)
{
	if (suite_by_id(r->suite) == NULL)
		return "unknown suite";
	if (r->expires <= r->created)
		return "it must expire after it is made";
	if (!str_ok(r->requester, ERASE_NAME_MAX, false))
		return "requester";
	if (!str_ok(r->dataset, ERASE_NAME_MAX, false) ||
	    !str_ok(r->dataset_id, ERASE_SHORT_MAX, false))
		return "dataset";
	if (!str_ok(r->level_name, ERASE_SHORT_MAX, true))
		return "level name";
	if (r->scope == ERASE_SCOPE_DATASET || r->scope == ERASE_SCOPE_DEVICE) {
		if (r->n_snapshots != 0)
			return "a whole-dataset or device request names no snapshots";
	} else if (r->scope == ERASE_SCOPE_SNAPSHOTS) {
		if (r->n_snapshots == 0)
			return "a snapshot request names at least one snapshot";
	} else {
		return "unknown scope";
	}
	if (r->n_snapshots > ERASE_SNAPSHOTS_MAX)
		return "too many snapshots";
	for (size_t i = 0; i < r->n_snapshots; i++) {
		if (!str_ok(r->snapshots[i], ERASE_NAME_MAX, false))
			return "snapshot ID";
		if (i > 0 && strcmp(r->snapshots[i - 1], r->snapshots[i]) >= 0)
			return "snapshots must be sorted and distinct";
	}
	if (!str_ok(r->repository, ERASE_PATH_MAX, false) || r->repository[0] != '/')
		return "repository (an absolute path)";
	if (!str_ok(r->keyset_id, ERASE_SHORT_MAX, false))
		return "key set ID";
	if (r->n_sites == 0 || r->n_sites > ERASE_SITES_MAX)
		return "sites (1 to 64: this one first)";
	for (size_t i = 0; i < r->n_sites; i++)
		if (!str_ok(r->sites[i], ERASE_SITE_MAX, false))
			return "site";
	if (!str_ok(r->reason, ERASE_TEXT_MAX, false))
		return "reason (1 to 1024 bytes)";
	if (!str_ok(r->legal_basis, ERASE_TEXT_MAX, false))
		return "legal basis (1 to 1024 bytes)";
	if (r->approvals_needed < 1 || r->approvals_needed > ERASE_APPROVALS_MAX)
		return "approvals needed (1 to 16)";
	if (r->supervisor_needed != 1)
		return "the supervisor is always needed";
	return NULL;
}

int erase_request_encode(const struct erase_request *r, struct buf *out)
{
	const char *why = request_rule_broken(r);
	if (why != NULL) {
		log_errorx("the destruction request cannot be encoded: %s", why);
		return -EINVAL;
	}
	size_t start = out->len;
	int e = buf_put(out, REQUEST_MAGIC, 8);
	if (e == 0)
		e = buf_put_u32(out, ERASE_REQUEST_VERSION);
	if (e == 0)
		e = buf_put_u32(out, r->suite);
	if (e == 0)
		e = buf_put(out, r->id, ERASE_ID_LEN);
	if (e == 0)
		e = buf_put_u64(out, (uint64_t)r->created);
	if (e == 0)
		e = buf_put_u64(out, (uint64_t)r->expires);
	if (e == 0)
		e = buf_put_u32(out, r->requester_uid);
	if (e == 0)
		e = buf_put_str(out, r->requester);
	if (e == 0)
		e = buf_put_str(out, r->dataset);
	if (e == 0)
		e = buf_put_str(out, r->dataset_id);
	if (e == 0)
		e = buf_put_u32(out, r->level);
	if (e == 0)
		e = buf_put_str(out, r->level_name);
	if (e == 0)
		e = buf_put_u8(out, (uint8_t)r->scope);
	if (e == 0)
		e = buf_put_u32(out, (uint32_t)r->n_snapshots);
	for (size_t i = 0; i < r->n_snapshots; i++)
		if (e == 0)
			e = buf_put_str(out, r->snapshots[i]);
	if (e == 0)
		e = buf_put_str(out, r->repository);
	if (e == 0)
		e = buf_put_str(out, r->keyset_id);
	if (e == 0)
		e = buf_put_u32(out, (uint32_t)r->n_sites);
	for (size_t i = 0; i < r->n_sites; i++)
		if (e == 0)
			e = buf_put_str(out, r->sites[i]);
	if (e == 0)
		e = buf_put_str(out, r->reason);
	if (e == 0)
		e = buf_put_str(out, r->legal_basis);
	if (e == 0)
		e = buf_put_u32(out, r->approvals_needed);
	if (e == 0)
		e = buf_put_u8(out, r->supervisor_needed);
	if (e != 0)
		out->len = start;
	return e;
}

/* n strings of at most max bytes into a new array. */
static int get_strs(struct rbuf *rb, uint32_t n, size_t max, char ***out)
{
	*out = calloc(n ? n : 1, sizeof **out);
	if (*out == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		int e = rbuf_get_str(rb, max, &(*out)[i]);
		if (e != 0)
			return e;
	}
	return 0;
}

int erase_request_parse(const uint8_t *p, size_t len, struct erase_request *r)
{
	struct rbuf rb;
	uint8_t magic[8], scope = 0;
	uint32_t version = 0, n = 0;
	uint64_t created = 0, expires = 0;
	memset(r, 0, sizeof *r);
	rbuf_init(&rb, p, len);
	int e = rbuf_get(&rb, magic, 8);
	if (e == 0 && memcmp(magic, REQUEST_MAGIC, 8) != 0)
		e = -EBADMSG;
	if (e == 0)
		e = rbuf_get_u32(&rb, &version);
	if (e == 0 && version != ERASE_REQUEST_VERSION)
		e = version > ERASE_REQUEST_VERSION ? -ENOTSUP : -EBADMSG;
	if (e == 0)
		e = rbuf_get_u32(&rb, &r->suite);
	if (e == 0)
		e = rbuf_get(&rb, r->id, ERASE_ID_LEN);
	if (e == 0)
		e = rbuf_get_u64(&rb, &created);
	if (e == 0)
		e = rbuf_get_u64(&rb, &expires);
	r->created = (int64_t)created;
	r->expires = (int64_t)expires;
	if (e == 0)
		e = rbuf_get_u32(&rb, &r->requester_uid);
	if (e == 0)
		e = rbuf_get_str(&rb, ERASE_NAME_MAX, &r->requester);
	if (e == 0)
		e = rbuf_get_str(&rb, ERASE_NAME_MAX, &r->dataset);
	if (e == 0)
		e = rbuf_get_str(&rb, ERASE_SHORT_MAX, &r->dataset_id);
	if (e == 0)
		e = rbuf_get_u32(&rb, &r->level);
	if (e == 0)
		e = rbuf_get_str(&rb, ERASE_SHORT_MAX, &r->level_name);
	if (e == 0)
		e = rbuf_get_u8(&rb, &scope);
	r->scope = (enum erase_scope)scope;
	if (e == 0)
		e = rbuf_get_u32(&rb, &n);
	if (e == 0 && n > ERASE_SNAPSHOTS_MAX)
		e = -EBADMSG;
	if (e == 0) {
		e = get_strs(&rb, n, ERASE_NAME_MAX, &r->snapshots);
		r->n_snapshots = r->snapshots != NULL ? n : 0;
	}
	if (e == 0)
		e = rbuf_get_str(&rb, ERASE_PATH_MAX, &r->repository);
	if (e == 0)
		e = rbuf_get_str(&rb, ERASE_SHORT_MAX, &r->keyset_id);
	if (e == 0)
		e = rbuf_get_u32(&rb, &n);
	if (e == 0 && n > ERASE_SITES_MAX)
		e = -EBADMSG;
	if (e == 0) {
		e = get_strs(&rb, n, ERASE_SITE_MAX, &r->sites);
		r->n_sites = r->sites != NULL ? n : 0;
	}
	if (e == 0)
		e = rbuf_get_str(&rb, ERASE_TEXT_MAX, &r->reason);
	if (e == 0)
		e = rbuf_get_str(&rb, ERASE_TEXT_MAX, &r->legal_basis);
	if (e == 0)
		e = rbuf_get_u32(&rb, &r->approvals_needed);
	if (e == 0)
		e = rbuf_get_u8(&rb, &r->supervisor_needed);
	if (e == 0)
		e = rbuf_end(&rb);
	if (e == 0 && request_rule_broken(r) != NULL)
		e = -EBADMSG;
	if (e != 0)
		erase_request_free(r);
	return e;
}

int erase_request_digest(uint32_t suite, const uint8_t *enc, size_t len, uint8_t out[32])
{
	const struct suite *s = suite_by_id(suite);
	return s != NULL ? suite_hash(s, enc, len, out) : -ENOTSUP;
}

int erase_statement(const uint8_t id[ERASE_ID_LEN], const uint8_t digest[32], struct buf *out)
{
	char idhex[2 * ERASE_ID_LEN + 1], dhex[65], text[ERASE_STATEMENT_MAX];
	erase_id_hex(id, idhex);
	hex_encode(digest, 32, dhex);
	int n = snprintf(text, sizeof text, STATEMENT_HEAD "request %s\ndigest %s\n", idhex, dhex);
	if (n < 0 || (size_t)n >= sizeof text)
		return -EOVERFLOW;
	return buf_put(out, text, (size_t)n);
}

void erase_id_hex(const uint8_t id[ERASE_ID_LEN], char out[2 * ERASE_ID_LEN + 1])
{
	hex_encode(id, ERASE_ID_LEN, out);
}

int erase_id_parse(const char *s, uint8_t id[ERASE_ID_LEN])
{
	if (s == NULL || strlen(s) != 2 * ERASE_ID_LEN)
		return -EINVAL;
	return hex_decode(s, id, ERASE_ID_LEN) == 0 ? 0 : -EINVAL;
}
