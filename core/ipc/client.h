/*
 * The client side of the protocol (ipc.h): the console, and the scheduler
 * talking to the other daemons. One connection to RUN_DIR/NAME.sock;
 * blocking calls with timeouts, so a daemon that hangs never hangs its
 * client forever.
 */
#ifndef COFFER_IPC_CLIENT_H
#define COFFER_IPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "ipc/ipc.h"

struct ipc_client;

/* The socket path of daemon name ("backupd") under run_dir (size bytes). */
int ipc_socket_path(const char *run_dir, const char *name, char *out, size_t size);
/*
 * Connects to daemon name. -ENOENT (no socket) or -ECONNREFUSED (no
 * daemon listening) are the "daemon not running" cases.
 */
int ipc_connect(const char *run_dir, const char *name, struct ipc_client **out);
void ipc_close(struct ipc_client *c); /* accepts NULL */

/* Sends the finished frame in w (ipc_writer_finish done). */
int ipc_send(struct ipc_client *c, const struct ipc_writer *w);
/*
 * Receives the next frame within timeout_ms (-1: no limit), decoded into
 * m; m stays valid until the next receive. -ETIMEDOUT, -ECONNRESET when
 * the daemon closed the connection, -EPROTO for a malformed frame.
 */
int ipc_recv(struct ipc_client *c, struct ipc_msg *m, int timeout_ms);
/*
 * Sends w and receives its answer (the first frame with w's request ID),
 * which must be w's reply type or ERROR (-EPROTO otherwise). An ERROR
 * reply returns -code and copies its message into err (err_cap bytes;
 * may be NULL). *m is the reply otherwise.
 */
int ipc_call(struct ipc_client *c, const struct ipc_writer *w, struct ipc_msg *m,
	     int timeout_ms, char *err, size_t err_cap);
/* A fresh request ID for this connection. */
uint32_t ipc_next_reqid(struct ipc_client *c);

#endif
