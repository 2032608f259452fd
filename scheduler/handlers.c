/* coffer-scheduler's requests: hello, status and the schedule. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf/roles.h"
#include "ipc/ipc.h"
#include "scheduler/scheduler.h"
#include "util/vec.h"

struct sched_reply {
	struct sched_row *v;
	size_t n, cap;
};

static int collect(const struct sched_row *r, void *arg)
{
	struct sched_reply *sr = arg;
	return vec_push(&sr->v, &sr->n, &sr->cap, sizeof *r, r);
}

static void h_schedule(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		       void *arg)
{
	struct scheduler *sc = arg;
	struct sched_reply sr = { 0 };
	int e = sched_db_list(sc->db, collect, &sr);
	if (e != 0) {
		free(sr.v);
		server_error(s, p, m->reqid, -e, "cannot read the schedule");
		return;
	}
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	ipc_put_list(&w, (uint32_t)sr.n);
	for (size_t i = 0; i < sr.n; i++) {
		const struct sched_row *r = &sr.v[i];
		ipc_put_str(&w, r->dataset);
		ipc_put_str(&w, r->kind);
		ipc_put_str(&w, r->calendar);
		ipc_put_i64(&w, r->next_run);
		ipc_put_i64(&w, r->last_slot);
		ipc_put_u64(&w, r->last_job);
		ipc_put_u32(&w, r->failures);
		ipc_put_str(&w, r->state);
	}
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
	free(sr.v);
}

const struct server_handler_entry scheduler_handlers[] = {
	{ IPC_HELLO, 0, daemon_h_hello },
	{ IPC_STATUS, ROLES_ALL, daemon_h_status },
	{ IPC_SCHEDULE, ROLE_SYSADMIN | ROLE_OPERATOR | ROLE_DAEMON, h_schedule },
};
const size_t scheduler_n_handlers = sizeof scheduler_handlers / sizeof scheduler_handlers[0];
