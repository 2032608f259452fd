/*
 * The registry of approvers and supervisors (docs/format/erase.md,
 * "Approvers"): added and revoked by the secadmin, read by those who
 * take part in or audit a destruction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "approval/quorum.h"
#include "approval/store.h"
#include "conf/roles.h"
#include "crypto/crypto.h"
#include "erase/erased.h"
#include "util/hex.h"
#include "util/log.h"

/* A login as approvers give it: 1-64 printable bytes, no space or slash. */
static bool login_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > APPROVER_USER_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] == '/' || s[i] == 0x7f)
			return false;
	return true;
}

void erased_h_approver_add(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			   void *arg)
{
	struct erased *e = arg;
	struct ipc_reader rd;
	struct approver a = { 0 };
	char role[17], why[256];
	const uint8_t *pem;
	size_t pem_len;
	ipc_reader_init(&rd, m);
	(void)ipc_get_str(&rd, a.name, sizeof a.name);
	(void)ipc_get_str(&rd, role, sizeof role);
	(void)ipc_get_str(&rd, a.user, sizeof a.user);
	(void)ipc_get_ref(&rd, &pem, &pem_len);
	if (ipc_end(&rd) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	if (!approver_name_valid(a.name)) {
		server_error(s, p, m->reqid, EINVAL, "bad approver name '%s': 1 to 32 of a-z 0-9 - _ .",
			     a.name);
		return;
	}
	if (approver_role_parse(role, &a.role) != 0) {
		server_error(s, p, m->reqid, EINVAL, "bad role '%s': approver or supervisor", role);
		return;
	}
	if (a.user[0] == 0)
		snprintf(a.user, sizeof a.user, "%s", a.name);
	if (!login_valid(a.user)) {
		server_error(s, p, m->reqid, EINVAL, "bad login '%s' for the approver", a.user);
		return;
	}
	int err = approver_key_read(pem, pem_len, &a, why, sizeof why);
	if (err != 0) {
		server_error(s, p, m->reqid, -err, "the public key of '%s' is refused: %s", a.name,
			     err == -EINVAL ? why : coffer_strerror(err));
		approver_fini(&a);
		return;
	}
	a.added = (int64_t)time(NULL);
	user_name(p->uid, a.added_by, sizeof a.added_by);
	struct erase_store *st = erased_store(e);
	struct daemon_capture cap;
	daemon_capture_begin(&cap);
	err = st != NULL ? erase_store_approver_add(st, &a) : -EIO;
	daemon_capture_end();
	if (err != 0) {
		daemon_fail(s, p, m, err, &cap, "the approver could not be registered");
	} else {
		char fp[65];
		struct ipc_writer w;
		hex_encode(a.fingerprint, 32, fp);
		log_info("approver '%s' (%s, %s key %.16s...) registered by %s", a.name,
			 approver_role_name(a.role), erased_suite_name(a.suite), fp, a.added_by);
		daemon_reply_init(&w, m);
		ipc_put_str(&w, erased_suite_name(a.suite));
		ipc_put_str(&w, fp);
		server_reply(s, p, &w);
		ipc_writer_fini(&w);
	}
	approver_fini(&a);
}

void erased_h_approver_list(struct server *s, const struct peer_info *p,
			    const struct ipc_msg *m, void *arg)
{
	struct erased *e = arg;
	struct erase_store *st = erased_store(e);
	struct approver *v = NULL;
	size_t n = 0;
	struct daemon_capture cap;
	daemon_capture_begin(&cap);
	int err = st != NULL ? erase_store_approvers(st, &v, &n) : -EIO;
	daemon_capture_end();
	if (err != 0) {
		daemon_fail(s, p, m, err, &cap, "the approvers could not be read");
		return;
	}
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	ipc_put_list(&w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		char fp[65];
		hex_encode(v[i].fingerprint, 32, fp);
		ipc_put_str(&w, v[i].name);
		ipc_put_str(&w, approver_role_name(v[i].role));
		ipc_put_str(&w, v[i].user);
		ipc_put_str(&w, erased_suite_name(v[i].suite));
		ipc_put_str(&w, fp);
		ipc_put_i64(&w, v[i].added);
		ipc_put_str(&w, v[i].added_by);
		ipc_put_i64(&w, v[i].revoked);
		ipc_put_str(&w, v[i].revoked_by);
	}
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
	erase_store_approvers_free(v, n);
}

void erased_h_approver_revoke(struct server *s, const struct peer_info *p,
			      const struct ipc_msg *m, void *arg)
{
	struct erased *e = arg;
	struct ipc_reader rd;
	char name[APPROVER_NAME_MAX + 1], by[APPROVER_USER_MAX + 1];
	ipc_reader_init(&rd, m);
	(void)ipc_get_str(&rd, name, sizeof name);
	if (ipc_end(&rd) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	user_name(p->uid, by, sizeof by);
	struct erase_store *st = erased_store(e);
	struct daemon_capture cap;
	daemon_capture_begin(&cap);
	int err = st != NULL ? erase_store_approver_revoke(st, name, by, (int64_t)time(NULL)) : -EIO;
	daemon_capture_end();
	if (err != 0) {
		daemon_fail(s, p, m, err, &cap, "the approver could not be revoked");
		return;
	}
	log_info("approver '%s' revoked by %s: their signatures no longer count", name, by);
	daemon_reply_empty(s, p, m);
}
