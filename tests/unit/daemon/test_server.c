/*
 * The request loop (daemon/server.h) and the audit trail's promise that
 * an answer never leaves before its record (docs/format/audit.md): the
 * on_request hook, where the daemons write the record, must run while the
 * reply is still held back. The test is a real server thread on a real
 * socket; the hook looks at the client's socket with MSG_PEEK, so it sees
 * whether any byte of the reply has arrived yet.
 *
 * Three kinds of answer: a reply, an error from the handler, and the
 * loop's own refusal of a role the peer lacks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf/roles.h"
#include "daemon/server.h"
#include "ipc/client.h"
#include "ipc/ipc.h"
#include "testutil.h"

static int client_fd = -1;

/* What the hook saw, for the last request. */
static struct {
	int calls;
	int code;
	bool reply_arrived; /* a byte of the answer was readable when the record was written */
	char message[256];
} seen;

static void h_answer(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		     void *arg)
{
	(void)arg;
	struct ipc_writer w;
	ipc_writer_init(&w, IPC_KEYSTORE_LOCK | IPC_REPLY, m->reqid);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
}

static void h_fail(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		   void *arg)
{
	(void)arg;
	server_error(s, p, m->reqid, ENOENT, "no such thing");
}

static void on_request(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		       int code, const char *message, void *arg)
{
	(void)s, (void)p, (void)m, (void)arg;
	uint8_t b;
	ssize_t k = recv(client_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	seen.reply_arrived = k > 0;
	seen.code = code;
	snprintf(seen.message, sizeof seen.message, "%s", message);
	seen.calls++;
}

static const struct server_handler_entry table[] = {
	{ IPC_KEYSTORE_LOCK, 0, h_answer },
	{ IPC_STATUS, 0, h_fail },
	/* No peer here has roles (no roles.conf): the loop refuses this one itself. */
	{ IPC_SCHEDULE, ROLE_SYSADMIN, h_answer },
};

static void *run(void *arg)
{
	(void)server_run(arg);
	return NULL;
}

/* Sends an empty request of type and reads the whole answer; returns its type. */
static uint16_t call(uint16_t type, uint32_t reqid)
{
	struct ipc_writer w;
	ipc_writer_init(&w, type, reqid);
	int e = ipc_writer_finish(&w);
	ssize_t sent = e == 0 ? send(client_fd, w.b.data, w.b.len, MSG_NOSIGNAL) : -1;
	size_t want = w.b.len;
	ipc_writer_fini(&w);
	assert_int_equal(e, 0);
	assert_int_equal(sent, (ssize_t)want);
	uint8_t frame[4096];
	size_t have = 0, len = 0;
	while (len == 0 || have < len) {
		ssize_t k = recv(client_fd, frame + have, sizeof frame - have, 0);
		assert_true(k > 0);
		have += (size_t)k;
		int fe = ipc_frame_len(frame, have, &len);
		assert_true(fe == 0 || fe == -EAGAIN);
		if (fe == -EAGAIN)
			len = 0;
	}
	struct ipc_msg m;
	char why[128];
	assert_int_equal(ipc_decode(frame, len, &m, why, sizeof why), 0);
	assert_int_equal(m.reqid, reqid);
	return m.type;
}

static void test_record_before_answer(void **state)
{
	(void)state;
	char dir[] = "/tmp/coffer-test-server-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct server_hooks hooks = { .on_request = on_request };
	struct server *s = NULL;
	assert_int_equal(server_new(dir, "t", table, sizeof table / sizeof table[0], NULL, &hooks,
				    &s),
			 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, run, s), 0);

	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	assert_int_equal(ipc_socket_path(dir, "t", sa.sun_path, sizeof sa.sun_path), 0);
	client_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(client_fd >= 0);
	assert_int_equal(connect(client_fd, (struct sockaddr *)&sa, sizeof sa), 0);

	assert_int_equal(call(IPC_KEYSTORE_LOCK, 7), IPC_KEYSTORE_LOCK | IPC_REPLY);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.code, 0);
	assert_false(seen.reply_arrived);

	assert_int_equal(call(IPC_STATUS, 8), IPC_ERROR);
	assert_int_equal(seen.calls, 2);
	assert_int_equal(seen.code, ENOENT);
	assert_string_equal(seen.message, "no such thing");
	assert_false(seen.reply_arrived);

	assert_int_equal(call(IPC_SCHEDULE, 9), IPC_ERROR);
	assert_int_equal(seen.calls, 3);
	assert_int_equal(seen.code, EACCES);
	assert_non_null(strstr(seen.message, "needs the role sysadmin"));
	assert_false(seen.reply_arrived);

	close(client_fd);
	/* The loop's signalfd takes SIGTERM: server_new blocked it in every thread. */
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	server_free(s);
	testutil_rm_tree(AT_FDCWD, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_before_answer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
