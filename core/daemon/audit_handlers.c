/*
 * The audit trail's requests (docs/protocol/ipc.md): an auditor reads the
 * raw trail in pieces and takes checkpoints; the verification itself runs
 * in the auditor's console, never here (an auditor does not trust the
 * appliance to check itself).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "audit/audit.h"
#include "conf/roles.h"
#include "daemon/common.h"
#include "util/log.h"

#define READ_MAX (512u * 1024)

void daemon_h_audit_read(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			 void *arg)
{
	struct daemon_ctx *c = arg;
	struct ipc_reader rd;
	uint64_t off = 0, total = 0;
	uint32_t max = 0;
	ipc_reader_init(&rd, m);
	(void)ipc_get_u64(&rd, &off);
	(void)ipc_get_u32(&rd, &max);
	if (ipc_end(&rd) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	struct buf data = { 0 }, pem = { 0 };
	struct audit_params ap;
	int e = audit_read(c->audit, off, max == 0 || max > READ_MAX ? READ_MAX : max, &data,
			   &total);
	if (e == 0)
		e = audit_public_pem(c->audit, &pem);
	if (e != 0) {
		server_error(s, p, m->reqid, -e, "cannot read the audit trail: %s",
			     coffer_strerror(e));
		goto out;
	}
	audit_params_get(c->audit, &ap);
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	ipc_put_u32(&w, audit_suite(c->audit));
	ipc_put_strn(&w, (const char *)pem.data, pem.len);
	ipc_put_u32(&w, ap.epoch_records);
	ipc_put_u32(&w, ap.epoch_seconds);
	ipc_put_u32(&w, ap.retention_days);
	ipc_put_u64(&w, total);
	ipc_put_bytes(&w, data.data, data.len);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
out:
	buf_fini(&data);
	buf_fini(&pem);
}

void daemon_h_audit_checkpoint(struct server *s, const struct peer_info *p,
			       const struct ipc_msg *m, void *arg)
{
	struct daemon_ctx *c = arg;
	struct buf cp = { 0 };
	int e = audit_checkpoint(c->audit, &cp);
	if (e != 0) {
		server_error(s, p, m->reqid, -e, "cannot make a checkpoint: %s",
			     e == -EPERM ? "this daemon cannot read the audit signing key"
					 : coffer_strerror(e));
	} else {
		struct ipc_writer w;
		daemon_reply_init(&w, m);
		ipc_put_bytes(&w, cp.data, cp.len);
		server_reply(s, p, &w);
		ipc_writer_fini(&w);
	}
	buf_fini(&cp);
}

void daemon_h_audit_seal(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			 void *arg)
{
	struct daemon_ctx *c = arg;
	int e = audit_seal(c->audit, true);
	if (e != 0)
		server_error(s, p, m->reqid, -e, "cannot seal the audit trail: %s",
			     coffer_strerror(e));
	else
		daemon_reply_empty(s, p, m);
}

void daemon_h_audit_prune(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			  void *arg)
{
	struct daemon_ctx *c = arg;
	struct ipc_reader rd;
	int64_t before = 0;
	uint64_t removed = 0;
	ipc_reader_init(&rd, m);
	(void)ipc_get_i64(&rd, &before);
	if (ipc_end(&rd) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	struct daemon_capture cap;
	struct audit_record who = { .uid = p->uid, .actor = "", .role = p->roles_text,
				    .target = "", .origin = c->a.name };
	char name[65];
	user_name(p->uid, name, sizeof name);
	who.actor = name;
	daemon_capture_begin(&cap);
	int e = audit_prune(c->audit, before, &who, &removed);
	daemon_capture_end();
	if (e != 0) {
		daemon_fail(s, p, m, e, &cap, "cannot prune the audit trail");
		return;
	}
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	ipc_put_u64(&w, removed);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
}
