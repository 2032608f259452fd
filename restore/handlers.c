/*
 * coffer-restored's requests (docs/protocol/ipc.md), each with the roles
 * that may make it (docs/daemons.md, "Roles"). They run on the loop
 * thread: a request is checked and becomes a job; the repository is
 * opened only by the job, on a worker thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "conf/roles.h"
#include "dataset/dataset.h"
#include "ipc/ipc.h"
#include "jobs/params.h"
#include "restore/restored.h"
#include "util/log.h"

#define ANY_ROLE ROLES_ALL
/* As policy verify-days (backupd): a cycle of at most ten years. */
#define CYCLE_DAYS_MAX 3660

/*
 * RESTORE: dataset, snapshot spec, absolute target, includes, watch. The
 * snapshot is resolved by the job (it needs the repository), so a spec
 * that matches nothing fails the job, naming the spec.
 */
static void h_restore(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		      void *arg)
{
	struct restored *rs = arg;
	struct ipc_reader rd;
	struct job *j = calloc(1, sizeof *j);
	struct dataset d;
	char snap[65] = "", target[4097] = "", why[512] = "";
	uint32_t n = 0;
	uint8_t watch = 0;
	if (j == NULL) {
		server_error(s, p, m->reqid, ENOMEM, "out of memory");
		return;
	}
	j->kind = JOB_RESTORE;
	ipc_reader_init(&rd, m);
	(void)ipc_get_str(&rd, j->dataset, sizeof j->dataset);
	(void)ipc_get_str(&rd, snap, sizeof snap);
	(void)ipc_get_str(&rd, target, sizeof target);
	if (snap[0] == 0)
		snprintf(why, sizeof why, "no snapshot given (an ID, a unique prefix or 'latest')");
	else if (target[0] != '/')
		snprintf(why, sizeof why, "the target '%.200s' is not an absolute path (coffer-restored "
			 "does not know the client's working directory)", target);
	else if (job_param_add(j->params, sizeof j->params, "snapshot", snap) != 0 ||
		 job_param_add(j->params, sizeof j->params, "target", target) != 0)
		snprintf(why, sizeof why, "the request does not fit one job");
	(void)ipc_get_list(&rd, &n);
	for (uint32_t i = 0; i < n; i++) {
		char path[4097];
		if (ipc_get_str(&rd, path, sizeof path) == 0 && why[0] == 0) {
			if (path[0] != '/')
				snprintf(why, sizeof why, "include '%.200s' is not an absolute path (give "
					 "the path as stored, starting with '/')", path);
			else if (job_param_add(j->params, sizeof j->params, "include", path) != 0)
				snprintf(why, sizeof why, "too many includes for one job");
		}
	}
	(void)ipc_get_u8(&rd, &watch);
	if (ipc_end(&rd) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		goto out;
	}
	if (why[0] != 0) {
		server_error(s, p, m->reqid, EINVAL, "%s", why);
		goto out;
	}
	int e = daemon_job_dataset(&rs->c, j->dataset, &d, why, sizeof why);
	if (e != 0) {
		server_error(s, p, m->reqid, -e, "%s", why);
		goto out;
	}
	snprintf(j->pool, sizeof j->pool, "%s", d.pool);
	daemon_submit(s, p, m, &rs->c, j, watch);
out:
	free(j);
}

/*
 * VERIFY: dataset, cycle_days (0: every pack), slot, request_key,
 * attempt, watch. The slot is taken modulo the cycle, as repo_check does,
 * so a scheduler may send a day number as it is.
 */
static void h_verify(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		     void *arg)
{
	struct restored *rs = arg;
	struct ipc_reader rd;
	struct job *j = calloc(1, sizeof *j);
	struct dataset d;
	char why[256], num[16];
	uint32_t cycle = 0, slot = 0;
	uint8_t watch = 0;
	if (j == NULL) {
		server_error(s, p, m->reqid, ENOMEM, "out of memory");
		return;
	}
	j->kind = JOB_VERIFY;
	ipc_reader_init(&rd, m);
	(void)ipc_get_str(&rd, j->dataset, sizeof j->dataset);
	(void)ipc_get_u32(&rd, &cycle);
	(void)ipc_get_u32(&rd, &slot);
	(void)ipc_get_str(&rd, j->request_key, sizeof j->request_key);
	(void)ipc_get_u32(&rd, &j->attempt);
	(void)ipc_get_u8(&rd, &watch);
	if (ipc_end(&rd) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		goto out;
	}
	if (cycle > CYCLE_DAYS_MAX) {
		server_error(s, p, m->reqid, EINVAL, "cycle_days must be 0 (every pack) to %d",
			     CYCLE_DAYS_MAX);
		goto out;
	}
	slot = cycle > 0 ? slot % cycle : 0;
	int e = daemon_job_dataset(&rs->c, j->dataset, &d, why, sizeof why);
	if (e != 0) {
		server_error(s, p, m->reqid, -e, "%s", why);
		goto out;
	}
	snprintf(j->pool, sizeof j->pool, "%s", d.pool);
	snprintf(num, sizeof num, "%u", (unsigned)cycle);
	(void)job_param_add(j->params, sizeof j->params, "cycle_days", num);
	snprintf(num, sizeof num, "%u", (unsigned)slot);
	(void)job_param_add(j->params, sizeof j->params, "slot", num);
	daemon_submit(s, p, m, &rs->c, j, watch);
out:
	free(j);
}

const struct server_handler_entry restored_handlers[] = {
	{ IPC_HELLO, 0, daemon_h_hello },
	{ IPC_STATUS, ANY_ROLE, daemon_h_status },
	{ IPC_KEYSTORE_UNLOCK, ROLE_SECADMIN, daemon_h_unlock },
	{ IPC_KEYSTORE_LOCK, ROLE_SECADMIN, daemon_h_lock },
	{ IPC_RESTORE, ROLE_OPERATOR, h_restore },
	{ IPC_VERIFY, ROLE_OPERATOR | ROLE_DAEMON, h_verify },
	{ IPC_JOBS, ROLE_OPERATOR | ROLE_SYSADMIN | ROLE_DAEMON, daemon_h_jobs },
	{ IPC_JOB_SHOW, ROLE_OPERATOR | ROLE_SYSADMIN | ROLE_DAEMON, daemon_h_job_show },
	{ IPC_JOB_CANCEL, ROLE_OPERATOR | ROLE_DAEMON, daemon_h_job_cancel },
	{ IPC_JOB_WATCH, ROLE_OPERATOR | ROLE_SYSADMIN | ROLE_DAEMON, daemon_h_job_watch },
};
const size_t restored_n_handlers = sizeof restored_handlers / sizeof restored_handlers[0];
