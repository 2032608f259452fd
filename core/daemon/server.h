/*
 * The request loop every daemon runs: one thread that owns the listening
 * socket, the clients, the signals and the timers, polling them all
 * without ever blocking on one (docs/daemons.md, "Processes").
 *
 * Requests are dispatched through a table {type, roles, handler}, the
 * OpenSSH monitor's pattern: a type not in the table is refused, and a
 * peer whose roles (from SO_PEERCRED and roles.conf) hold none of the
 * entry's roles gets EACCES naming what it lacks. Handlers run on the loop
 * thread and must not block: long work goes to job threads, which send
 * events back through server_post (thread-safe) to the clients watching.
 *
 * A peer is dropped, without disturbing any other, for a malformed or
 * oversized frame, a frame not complete within SERVER_FRAME_TIMEOUT_MS,
 * or more than SERVER_OUT_MAX bytes of replies it does not read.
 */
#ifndef COFFER_DAEMON_SERVER_H
#define COFFER_DAEMON_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc/ipc.h"

#define SERVER_FRAME_TIMEOUT_MS 10000
#define SERVER_OUT_MAX (4u << 20)
#define SERVER_PEERS_MAX 64
#define SERVER_WATCHES_MAX 16

struct server;
struct roles_conf;

/* What the loop knows of a client (valid during a handler call). */
struct peer_info {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	unsigned roles;          /* enum role bits; 0 if none or conflicting */
	char roles_text[512];    /* "operator, sysadmin", or why none */
	uint64_t id;             /* unique per connection, for server_reply_to */
};

/*
 * A handler answers m (already validated against its schema): it calls
 * server_reply or server_error exactly once, now, or keeps the peer's ID
 * and request ID to answer later from the loop thread (server_reply_to).
 */
typedef void (*server_handler)(struct server *s, const struct peer_info *p,
			       const struct ipc_msg *m, void *arg);

struct server_handler_entry {
	uint16_t type;
	unsigned roles;          /* any of these; 0: every peer, even one without roles */
	server_handler fn;
};

struct server_hooks {
	void (*on_reload)(struct server *s, void *arg); /* SIGHUP */
	void (*on_stop)(struct server *s, void *arg);   /* SIGTERM/SIGINT, before the loop ends */
	void (*on_tick)(struct server *s, void *arg);   /* every tick_ms, if set */
	/*
	 * After every request, answered or refused (the audit trail): code 0
	 * when it was answered, else the positive errno of its error reply
	 * and that reply's message. m is NULL for a frame that did not decode
	 * (message says why). It runs before the answer leaves: the peer's
	 * output is held until it returns.
	 */
	void (*on_request)(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			   int code, const char *message, void *arg);
	unsigned tick_ms;
	void *arg;                                      /* for hooks and handlers */
};

/*
 * Listens on RUN_DIR/NAME.sock (mode 0660; a stale socket is replaced, a
 * live one means another instance runs: -EADDRINUSE), writes
 * RUN_DIR/NAME.pid, and blocks SIGTERM, SIGINT, SIGHUP and SIGPIPE for
 * the loop's signalfd. roles is borrowed until server_set_roles replaces
 * it. Call from the main thread before starting any other thread.
 */
int server_new(const char *run_dir, const char *name, const struct server_handler_entry *table,
	       size_t n, struct roles_conf *roles, const struct server_hooks *hooks,
	       struct server **out);
/* Removes the socket and pid file, closes every client. Accepts NULL. */
void server_free(struct server *s);
/* Replaces the roles configuration (SIGHUP); each peer is re-resolved at its next request. */
void server_set_roles(struct server *s, struct roles_conf *roles);

/*
 * Runs the loop: tells systemd READY=1 (and pings its watchdog), returns 0
 * after a stop request (signal or server_stop) once on_stop has run.
 */
int server_run(struct server *s);
void server_stop(struct server *s); /* loop thread only */

/* Replies to the request being handled (loop thread). */
void server_reply(struct server *s, const struct peer_info *p, struct ipc_writer *w);
/* An ERROR reply with a formatted message; code is a positive errno. */
void server_error(struct server *s, const struct peer_info *p, uint32_t reqid, int code,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Replies later to peer id, if it is still connected (loop thread). */
void server_reply_to(struct server *s, uint64_t peer_id, struct ipc_writer *w);

/*
 * Subscribes peer p to events of job, delivered with reqid, until an
 * IPC_EV_DONE for the job or the peer goes away. -ENOSPC past
 * SERVER_WATCHES_MAX per peer.
 */
int server_watch(struct server *s, const struct peer_info *p, uint64_t job, uint32_t reqid);
/*
 * Any thread: queues the finished event frame w for the peers watching
 * job (its request ID is replaced by each watcher's). Never blocks on
 * peers; the frame is copied.
 */
void server_post(struct server *s, uint64_t job, const struct ipc_writer *w);
/* Any thread: runs fn(arg) on the loop thread soon (e.g. a job finished). */
int server_call_soon(struct server *s, void (*fn)(struct server *s, void *arg), void *arg);

#endif
