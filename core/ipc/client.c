/* Client connections to the daemons (client.h). */
#include "ipc/client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "io/io.h"

struct ipc_client {
	int fd;
	uint32_t next_reqid;
	struct buf in;   /* bytes received, the current frame first */
	size_t consumed; /* length of the frame handed out last */
};

int ipc_socket_path(const char *run_dir, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s.sock", run_dir, name);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int ipc_connect(const char *run_dir, const char *name, struct ipc_client **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int e = ipc_socket_path(run_dir, name, sa.sun_path, sizeof sa.sun_path);
	if (e != 0)
		return e;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		e = -errno;
		close(fd);
		return e;
	}
	struct ipc_client *c = calloc(1, sizeof *c);
	if (c == NULL) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->next_reqid = 1;
	*out = c;
	return 0;
}

void ipc_close(struct ipc_client *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	buf_fini(&c->in);
	free(c);
}

uint32_t ipc_next_reqid(struct ipc_client *c)
{
	return c->next_reqid++;
}

int ipc_send(struct ipc_client *c, const struct ipc_writer *w)
{
	if (w->err != 0)
		return w->err;
	/* MSG_NOSIGNAL: a daemon that went away is an error, not a SIGPIPE. */
	const uint8_t *p = w->b.data;
	size_t n = w->b.len;
	while (n > 0) {
		ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return errno == EPIPE ? -ECONNRESET : -errno;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ipc_recv(struct ipc_client *c, struct ipc_msg *m, int timeout_ms)
{
	/* Drop the frame handed out by the previous call. */
	if (c->consumed > 0) {
		memmove(c->in.data, c->in.data + c->consumed, c->in.len - c->consumed);
		c->in.len -= c->consumed;
		c->consumed = 0;
	}
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	for (;;) {
		size_t flen;
		int e = ipc_frame_len(c->in.data, c->in.len, &flen);
		if (e == 0) {
			e = ipc_decode(c->in.data, flen, m, NULL, 0);
			c->consumed = flen;
			return e;
		}
		if (e != -EAGAIN)
			return e;
		int wait = -1;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				return -ETIMEDOUT;
			wait = left > 60000 ? 60000 : (int)left;
		}
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int r = poll(&pfd, 1, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			continue; /* the deadline is checked above */
		if ((e = buf_reserve(&c->in, 65536)) != 0)
			return e;
		ssize_t k = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -ECONNRESET;
		c->in.len += (size_t)k;
	}
}

int ipc_call(struct ipc_client *c, const struct ipc_writer *w, struct ipc_msg *m,
	     int timeout_ms, char *err, size_t err_cap)
{
	uint32_t reqid = le32_get(w->b.data + 8);
	int e = ipc_send(c, w);
	while (e == 0) {
		e = ipc_recv(c, m, timeout_ms);
		if (e != 0 || m->reqid != reqid)
			continue;
		if (m->type == (uint16_t)(le16_get(w->b.data + 6) | IPC_REPLY))
			return 0;
		if (m->type != IPC_ERROR)
			return -EPROTO; /* not this request's reply */
		int code = EPROTO;
		char tmp[8];
		if (err == NULL || err_cap == 0)
			e = ipc_error_read(m, &code, tmp, sizeof tmp);
		else
			e = ipc_error_read(m, &code, err, err_cap);
		return e != 0 ? e : -(code > 0 ? code : EPROTO);
	}
	return e;
}
