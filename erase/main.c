/*
 * coffer-erased (erased.h, docs/daemons.md). The keystore is opened
 * locked: crypto-shredding needs no secret, so destruction never waits
 * for an unlock.
 */
#include "erase/erased.h"

#include "approval/store.h"
#include "conf/roles.h"
#include "crypto/crypto.h"
#include "util/log.h"

#define ANY_ROLE ROLES_ALL
#define READERS (ROLE_SECADMIN | ROLE_APPROVER | ROLE_AUDITOR)

const struct server_handler_entry erased_handlers[] = {
	{ IPC_HELLO, 0, daemon_h_hello },
	{ IPC_STATUS, ANY_ROLE, daemon_h_status },
	{ IPC_KEYSTORE_UNLOCK, ROLE_SECADMIN, daemon_h_unlock },
	{ IPC_KEYSTORE_LOCK, ROLE_SECADMIN, daemon_h_lock },
	{ IPC_APPROVER_ADD, ROLE_SECADMIN, erased_h_approver_add },
	{ IPC_APPROVER_LIST, READERS, erased_h_approver_list },
	{ IPC_APPROVER_REVOKE, ROLE_SECADMIN, erased_h_approver_revoke },
	/* daemon: coffer-scheduler files the request when a dataset's retention ends. */
	{ IPC_ERASE_REQUEST, ROLE_SECADMIN | ROLE_DAEMON, erased_h_request },
	{ IPC_ERASE_REQUEST_DEVICE, ROLE_SECADMIN, erased_h_request_device },
	{ IPC_ERASE_SHOW, READERS, erased_h_show },
	{ IPC_ERASE_LIST, READERS, erased_h_list },
	/* The signature is what counts; who carries it in is recorded. */
	{ IPC_ERASE_APPROVE, ROLE_APPROVER | ROLE_SECADMIN, erased_h_approve },
	{ IPC_ERASE_EXECUTE, ROLE_SECADMIN, erased_h_execute },
	{ IPC_ERASE_CERTIFICATE, READERS, erased_h_certificate },
};
const size_t erased_n_handlers = sizeof erased_handlers / sizeof erased_handlers[0];

const char *erased_suite_name(uint32_t suite)
{
	const struct suite *su = suite_by_id(suite);
	return su != NULL ? suite_alias(su) : "unknown";
}

struct erase_store *erased_store(struct erased *e)
{
	if (e->store == NULL && erase_store_open(e->c.a.state_dir, &e->store) != 0)
		e->store = NULL;
	return e->store;
}

/*
 * The executor starts on the first tick, once the loop runs (so the audit
 * trail and the keystore are open), and resumes what a crash interrupted.
 */
static void on_tick(struct daemon_ctx *c)
{
	struct erased *e = (struct erased *)c;
	if (e->thread_started)
		return;
	(void)erased_store(e); /* opened here, before two threads could race to open it */
	int err = erased_executor_start(e);
	if (err != 0)
		log_errorx("cannot start the executor thread: %s", coffer_strerror(err));
	else
		erased_resume(e);
}

/* SIGTERM: a destruction stops between two files and resumes at the next start. */
static void on_stop(struct daemon_ctx *c)
{
	erased_executor_stop((struct erased *)c);
}

int main(int argc, char **argv)
{
	struct erased e = { 0 };
	int rc = daemon_args_parse(argc, argv, "erased", &e.c.a);
	if (rc >= 0)
		return rc;
	e.c.holds_keys = true;
	pthread_mutex_init(&e.mu, NULL);
	pthread_cond_init(&e.cv, NULL);
	e.c.tick = on_tick;
	e.c.tick_ms = 1000;
	e.c.stop = on_stop;
	rc = daemon_serve(&e.c, erased_handlers, erased_n_handlers, NULL);
	erased_executor_stop(&e);
	erase_store_close(e.store);
	return rc;
}
