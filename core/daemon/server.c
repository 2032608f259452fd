/*
 * The daemons' request loop (server.h): poll over the listening socket,
 * the signalfd, an eventfd for work posted by job threads, and every
 * client. Clients are non-blocking both ways; each has an input buffer
 * that collects one frame and an output queue that is flushed as the
 * client reads. Nothing here waits on a client.
 */
#include "daemon/server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "conf/roles.h"
#include "io/io.h"
#include "ipc/client.h"
#include "util/log.h"

struct watch {
	uint64_t job;
	uint32_t reqid;
};

struct peer {
	struct peer *next;
	int fd;
	struct peer_info info;
	bool resolved;           /* roles looked up for the current roles conf */
	struct buf in;
	struct buf out;
	size_t out_off;          /* bytes of out already written */
	int64_t frame_start;     /* ms when the pending partial frame began; 0: none */
	bool closing;            /* drop once out is flushed */
	bool held;               /* a request is being dispatched: its reply waits for the record */
	bool dead;               /* drop now */
	struct watch watches[SERVER_WATCHES_MAX];
	size_t n_watches;
};

/* Work handed to the loop by other threads. */
struct posted {
	struct posted *next;
	uint64_t job;            /* event for watchers of job, or 0 for a call */
	void (*fn)(struct server *s, void *arg);
	void *arg;
	size_t len;
	uint8_t frame[];         /* the event frame */
};

struct server {
	char name[32];
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char pid_path[4200];
	const struct server_handler_entry *table;
	size_t n_table;
	struct server_hooks hooks;
	struct roles_conf *roles;
	unsigned roles_gen;      /* bumped by server_set_roles */
	int lfd, sfd, efd;
	struct peer *peers;
	size_t n_peers;
	uint64_t next_peer_id;
	bool stop;
	/* The request being dispatched, and how it was answered (for on_request). */
	struct {
		bool active, answered;
		uint64_t peer;
		uint32_t reqid;
		int code;
		char message[1024];
	} cur;
	pthread_mutex_t lock;    /* guards posted */
	struct posted *posted, *posted_tail;
	uint64_t watchdog_usec;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Binds path unless a live daemon answers there; a stale socket is replaced. */
static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		if (errno != EADDRINUSE) {
			int e = -errno;
			close(fd);
			return e;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
		if (probe >= 0)
			close(probe);
		if (live) {
			close(fd);
			return -EADDRINUSE;
		}
		(void)unlink(path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
			int e = -errno;
			close(fd);
			return e;
		}
	}
	/* Who may connect is decided by the run directory and the group. */
	if (chmod(path, 0660) != 0 || listen(fd, 32) != 0) {
		int e = -errno;
		close(fd);
		(void)unlink(path);
		return e;
	}
	return fd;
}

int server_new(const char *run_dir, const char *name, const struct server_handler_entry *table,
	       size_t n, struct roles_conf *roles, const struct server_hooks *hooks,
	       struct server **out)
{
	struct server *s = calloc(1, sizeof *s);
	if (s == NULL)
		return -ENOMEM;
	s->lfd = s->sfd = s->efd = -1;
	snprintf(s->name, sizeof s->name, "%s", name);
	s->table = table;
	s->n_table = n;
	s->roles = roles;
	if (hooks != NULL)
		s->hooks = *hooks;
	s->next_peer_id = 1;
	pthread_mutex_init(&s->lock, NULL);
	int e = ipc_socket_path(run_dir, name, s->sock_path, sizeof s->sock_path);
	if (e == 0 && (size_t)snprintf(s->pid_path, sizeof s->pid_path, "%s/%s.pid", run_dir,
				       name) >= sizeof s->pid_path)
		e = -ENAMETOOLONG;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* A client that goes away while we write is an error on that client, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (e == 0 && pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		e = -errno;
	if (e == 0 && (s->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		e = -errno;
	if (e == 0 && (s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		e = -errno;
	if (e == 0) {
		s->lfd = listen_at(s->sock_path);
		if (s->lfd < 0) {
			e = s->lfd;
			if (e == -EADDRINUSE)
				log_errorx("another %s is already running (it answers on %s)", name,
					   s->sock_path);
			else
				log_errorx("cannot listen on %s: %s", s->sock_path, coffer_strerror(e));
			s->sock_path[0] = 0; /* not ours to remove */
		}
	}
	if (e == 0) {
		char pid[32];
		int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
		e = io_replace_file_at(AT_FDCWD, s->pid_path, pid, (size_t)len, 0644);
		if (e != 0)
			log_errorx("cannot write %s: %s", s->pid_path, coffer_strerror(e));
	}
	if (e != 0) {
		s->pid_path[0] = 0;
		server_free(s);
		return e;
	}
	*out = s;
	return 0;
}

static void peer_free(struct peer *p)
{
	close(p->fd);
	buf_fini(&p->in);
	buf_fini(&p->out);
	free(p);
}

void server_free(struct server *s)
{
	if (s == NULL)
		return;
	while (s->peers != NULL) {
		struct peer *p = s->peers;
		s->peers = p->next;
		peer_free(p);
	}
	while (s->posted != NULL) {
		struct posted *q = s->posted;
		s->posted = q->next;
		free(q);
	}
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->sock_path[0])
		(void)unlink(s->sock_path);
	if (s->pid_path[0])
		(void)unlink(s->pid_path);
	if (s->sfd >= 0)
		close(s->sfd);
	if (s->efd >= 0)
		close(s->efd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void server_set_roles(struct server *s, struct roles_conf *roles)
{
	s->roles = roles;
	s->roles_gen++;
	for (struct peer *p = s->peers; p != NULL; p = p->next)
		p->resolved = false;
}

void server_stop(struct server *s)
{
	s->stop = true;
}

static struct peer *peer_by_id(struct server *s, uint64_t id)
{
	for (struct peer *p = s->peers; p != NULL; p = p->next)
		if (p->info.id == id && !p->dead)
			return p;
	return NULL;
}

/* Writes what the peer's queue holds, as far as the socket takes it. */
static void peer_flush(struct peer *p)
{
	if (p->held)
		return;
	while (p->out_off < p->out.len) {
		ssize_t k = send(p->fd, p->out.data + p->out_off, p->out.len - p->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			if (errno != EAGAIN)
				p->dead = true;
			return;
		}
		p->out_off += (size_t)k;
	}
	buf_reset(&p->out);
	p->out_off = 0;
	if (p->closing)
		p->dead = true;
}

/* Queues len bytes for p; a peer that lets too much pile up is dropped. */
static void peer_queue(struct peer *p, const uint8_t *frame, size_t len)
{
	if (p->dead)
		return;
	if (p->out.len - p->out_off + len > SERVER_OUT_MAX) {
		log_warnx("dropping client pid %ld: it does not read its replies", (long)p->info.pid);
		p->dead = true;
		return;
	}
	if (buf_put(&p->out, frame, len) != 0) {
		p->dead = true;
		return;
	}
	peer_flush(p);
}

/* Notes how the request being dispatched was answered. */
static void note_answer(struct server *s, uint64_t peer, uint32_t reqid, int code,
			const char *message)
{
	if (!s->cur.active || s->cur.answered || s->cur.peer != peer || s->cur.reqid != reqid)
		return;
	s->cur.answered = true;
	s->cur.code = code;
	snprintf(s->cur.message, sizeof s->cur.message, "%s", message);
}

void server_reply_to(struct server *s, uint64_t peer_id, struct ipc_writer *w)
{
	struct peer *p = peer_by_id(s, peer_id);
	if (w->b.len >= IPC_HEADER_LEN)
		note_answer(s, peer_id, le32_get(w->b.data + 8), 0, "");
	if (ipc_writer_finish(w) != 0) {
		log_errorx("%s: a reply of type %s could not be encoded: %s", s->name,
			   w->s ? w->s->name : "?", coffer_strerror(w->err));
		if (p != NULL) {
			struct ipc_writer e;
			ipc_error_frame(&e, le32_get(w->b.data + 8), EIO, "the reply could not be encoded");
			peer_queue(p, e.b.data, e.b.len);
			ipc_writer_fini(&e);
		}
		return;
	}
	if (p != NULL)
		peer_queue(p, w->b.data, w->b.len);
}

void server_reply(struct server *s, const struct peer_info *p, struct ipc_writer *w)
{
	server_reply_to(s, p->id, w);
}

void server_error(struct server *s, const struct peer_info *p, uint32_t reqid, int code,
		  const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct ipc_writer w;
	note_answer(s, p->id, reqid, code, msg);
	ipc_error_frame(&w, reqid, code, msg);
	struct peer *q = peer_by_id(s, p->id);
	if (q != NULL)
		peer_queue(q, w.b.data, w.b.len);
	ipc_writer_fini(&w);
}

int server_watch(struct server *s, const struct peer_info *p, uint64_t job, uint32_t reqid)
{
	struct peer *q = peer_by_id(s, p->id);
	if (q == NULL)
		return -ENOENT;
	if (q->n_watches == SERVER_WATCHES_MAX)
		return -ENOSPC;
	q->watches[q->n_watches++] = (struct watch){ job, reqid };
	return 0;
}

static void post(struct server *s, struct posted *q)
{
	pthread_mutex_lock(&s->lock);
	if (s->posted_tail != NULL)
		s->posted_tail->next = q;
	else
		s->posted = q;
	s->posted_tail = q;
	pthread_mutex_unlock(&s->lock);
	uint64_t one = 1;
	(void)!write(s->efd, &one, sizeof one);
}

void server_post(struct server *s, uint64_t job, const struct ipc_writer *w)
{
	if (w->err != 0 || w->b.len < IPC_HEADER_LEN)
		return;
	struct posted *q = malloc(sizeof *q + w->b.len);
	if (q == NULL)
		return; /* an event lost under memory pressure; the job record stays right */
	memset(q, 0, sizeof *q);
	q->job = job;
	q->len = w->b.len;
	memcpy(q->frame, w->b.data, w->b.len);
	post(s, q);
}

int server_call_soon(struct server *s, void (*fn)(struct server *s, void *arg), void *arg)
{
	struct posted *q = calloc(1, sizeof *q);
	if (q == NULL)
		return -ENOMEM;
	q->fn = fn;
	q->arg = arg;
	post(s, q);
	return 0;
}

/* Delivers posted events and runs posted calls. */
static void drain_posted(struct server *s)
{
	uint64_t n;
	(void)!read(s->efd, &n, sizeof n);
	pthread_mutex_lock(&s->lock);
	struct posted *q = s->posted;
	s->posted = s->posted_tail = NULL;
	pthread_mutex_unlock(&s->lock);
	while (q != NULL) {
		struct posted *next = q->next;
		if (q->fn != NULL) {
			q->fn(s, q->arg);
		} else {
			bool done = le16_get(q->frame + 6) == IPC_EV_DONE;
			for (struct peer *p = s->peers; p != NULL; p = p->next) {
				for (size_t i = 0; i < p->n_watches; i++) {
					if (p->watches[i].job != q->job)
						continue;
					le32_put(q->frame + 8, p->watches[i].reqid);
					peer_queue(p, q->frame, q->len);
					if (done)
						p->watches[i--] = p->watches[--p->n_watches];
				}
			}
		}
		free(q);
		q = next;
	}
}

static void accept_peers(struct server *s)
{
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or a transient error: poll tells us again */
		struct ucred cred;
		socklen_t len = sizeof cred;
		if (s->n_peers >= SERVER_PEERS_MAX ||
		    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
			if (s->n_peers >= SERVER_PEERS_MAX)
				log_warnx("%s: refusing a client: %d already connected", s->name,
					  SERVER_PEERS_MAX);
			close(fd);
			continue;
		}
		struct peer *p = calloc(1, sizeof *p);
		if (p == NULL) {
			close(fd);
			continue;
		}
		p->fd = fd;
		p->info.uid = cred.uid;
		p->info.gid = cred.gid;
		p->info.pid = cred.pid;
		p->info.id = s->next_peer_id++;
		p->next = s->peers;
		s->peers = p;
		s->n_peers++;
	}
}

/* Looks up the peer's roles (once per roles configuration). */
static void peer_resolve(struct server *s, struct peer *p)
{
	if (p->resolved)
		return;
	char why[512] = "";
	unsigned roles = 0;
	int e = s->roles != NULL ? roles_of_peer(s->roles, p->info.uid, p->info.gid, &roles, why,
						   sizeof why)
				 : -ENOENT;
	if (e == 0) {
		p->info.roles = roles;
		roles_describe(roles, p->info.roles_text, sizeof p->info.roles_text);
	} else {
		p->info.roles = 0;
		snprintf(p->info.roles_text, sizeof p->info.roles_text, "%s",
			 why[0] ? why : "no roles could be determined");
	}
	p->resolved = true;
}

/* Names of the roles in mask, for a refusal. */
static void roles_needed(unsigned mask, char *buf, size_t size)
{
	size_t off = 0;
	buf[0] = 0;
	for (unsigned bit = 1; bit != 0 && off < size; bit <<= 1) {
		if (!(mask & bit))
			continue;
		int n = snprintf(buf + off, size - off, "%s%s", off ? " or " : "",
				 role_name((enum role)bit));
		off += n > 0 ? (size_t)n : 0;
	}
}

static void dispatch_one(struct server *s, struct peer *p, const struct ipc_msg *m);

/*
 * Runs the request and reports how it was answered to on_request. The
 * peer's output is held until on_request returns, so the answer never
 * leaves before the audit record of it is durable: a crash in between
 * loses an answer, never a record.
 */
static void dispatch(struct server *s, struct peer *p, const struct ipc_msg *m)
{
	p->held = true;
	s->cur.active = true;
	s->cur.answered = false;
	s->cur.peer = p->info.id;
	s->cur.reqid = m->reqid;
	s->cur.code = 0;
	s->cur.message[0] = 0;
	dispatch_one(s, p, m);
	s->cur.active = false;
	if (s->hooks.on_request != NULL)
		s->hooks.on_request(s, &p->info, m, s->cur.code, s->cur.message, s->hooks.arg);
	p->held = false;
	if (!p->dead)
		peer_flush(p);
}

static void dispatch_one(struct server *s, struct peer *p, const struct ipc_msg *m)
{
	const struct server_handler_entry *h = NULL;
	for (size_t i = 0; i < s->n_table && h == NULL; i++)
		if (s->table[i].type == m->type)
			h = &s->table[i];
	if (h == NULL) {
		server_error(s, &p->info, m->reqid, EOPNOTSUPP, "%s does not serve '%s' requests",
			     s->name, ipc_type_name(m->type));
		return;
	}
	peer_resolve(s, p);
	if (h->roles != 0 && !(p->info.roles & h->roles)) {
		char need[128];
		roles_needed(h->roles, need, sizeof need);
		log_warnx("%s: refused '%s' from uid %u: needs role %s (%s)", s->name,
			  ipc_type_name(m->type), (unsigned)p->info.uid, need, p->info.roles_text);
		server_error(s, &p->info, m->reqid, EACCES,
			     "'%s' needs the role %s; uid %u has: %s", ipc_type_name(m->type), need,
			     (unsigned)p->info.uid, p->info.roles_text);
		return;
	}
	if (log_get_level() >= LOG_LVL_DEBUG) {
		struct buf d = { 0 };
		if (ipc_dump(m, &d) == 0 && buf_put_u8(&d, 0) == 0)
			log_debug("%s: uid %u: %s", s->name, (unsigned)p->info.uid, (char *)d.data);
		buf_fini(&d);
	}
	h->fn(s, &p->info, m, s->hooks.arg);
}

/* Reads what the peer sent and handles every whole frame in it. */
static void peer_read(struct server *s, struct peer *p)
{
	for (;;) {
		if (buf_reserve(&p->in, 65536) != 0) {
			p->dead = true;
			return;
		}
		ssize_t k = recv(p->fd, p->in.data + p->in.len, p->in.cap - p->in.len, MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			if (errno != EAGAIN)
				p->dead = true;
			break;
		}
		if (k == 0) {
			p->dead = true; /* its jobs go on: they belong to the daemon */
			return;
		}
		p->in.len += (size_t)k;
		if (p->frame_start == 0)
			p->frame_start = mono_ms();
		if (p->in.len >= IPC_FRAME_MAX + 4)
			break; /* handle what is there before reading more */
	}
	size_t off = 0;
	while (!p->dead && !p->closing) {
		size_t flen;
		int e = ipc_frame_len(p->in.data + off, p->in.len - off, &flen);
		if (e == -EAGAIN)
			break;
		struct ipc_msg m;
		char why[256] = "malformed frame";
		if (e == 0)
			e = ipc_decode(p->in.data + off, flen, &m, why, sizeof why);
		if (e != 0) {
			uint32_t reqid = p->in.len - off >= 12 ? le32_get(p->in.data + off + 8) : 0;
			const char *what = e == -EMSGSIZE ? "frame larger than the protocol allows"
					   : e == -EPROTONOSUPPORT ? "protocol version not supported (this daemon speaks version 1)"
								   : why;
			log_warnx("%s: dropping client pid %ld: %s", s->name, (long)p->info.pid, what);
			if (s->hooks.on_request != NULL) {
				peer_resolve(s, p);
				s->hooks.on_request(s, &p->info, NULL, EPROTO, what, s->hooks.arg);
			}
			server_error(s, &p->info, reqid, e == -EPROTONOSUPPORT ? EPROTONOSUPPORT : EPROTO,
				     "%s", what);
			p->closing = true;
			peer_flush(p);
			break;
		}
		dispatch(s, p, &m);
		off += flen;
	}
	if (off > 0) {
		memmove(p->in.data, p->in.data + off, p->in.len - off);
		p->in.len -= off;
	}
	p->frame_start = p->in.len > 0 ? (off > 0 ? mono_ms() : p->frame_start) : 0;
}

static void reap_peers(struct server *s)
{
	int64_t now = mono_ms();
	for (struct peer **pp = &s->peers; *pp != NULL;) {
		struct peer *p = *pp;
		if (!p->dead && p->frame_start != 0 &&
		    now - p->frame_start > SERVER_FRAME_TIMEOUT_MS) {
			log_warnx("%s: dropping client pid %ld: a request did not arrive whole within "
				  "%d s", s->name, (long)p->info.pid, SERVER_FRAME_TIMEOUT_MS / 1000);
			p->dead = true;
		}
		if (p->dead) {
			*pp = p->next;
			s->n_peers--;
			peer_free(p);
		} else {
			pp = &p->next;
		}
	}
}

static void handle_signals(struct server *s)
{
	struct signalfd_siginfo si;
	while (read(s->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			log_info("%s: SIGHUP: reloading the configuration", s->name);
			if (s->hooks.on_reload != NULL)
				s->hooks.on_reload(s, s->hooks.arg);
		} else {
			log_info("%s: %s: stopping", s->name, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			s->stop = true;
		}
	}
}

int server_run(struct server *s)
{
	struct pollfd *pfd = calloc(SERVER_PEERS_MAX + 3, sizeof *pfd);
	if (pfd == NULL)
		return -ENOMEM;
	if (sd_watchdog_enabled(0, &s->watchdog_usec) <= 0)
		s->watchdog_usec = 0;
	(void)sd_notifyf(0, "READY=1\nSTATUS=%s listening on %s", s->name, s->sock_path);
	int64_t next_tick = s->hooks.tick_ms ? mono_ms() : INT64_MAX;
	int64_t next_dog = s->watchdog_usec ? mono_ms() : INT64_MAX;
	while (!s->stop) {
		int64_t now = mono_ms();
		if (now >= next_tick) {
			s->hooks.on_tick(s, s->hooks.arg);
			next_tick = now + s->hooks.tick_ms;
		}
		if (now >= next_dog) {
			(void)sd_notify(0, "WATCHDOG=1");
			next_dog = now + (int64_t)(s->watchdog_usec / 2000);
		}
		size_t n = 0;
		pfd[n++] = (struct pollfd){ .fd = s->sfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = s->efd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
		int64_t wake = next_tick < next_dog ? next_tick : next_dog;
		for (struct peer *p = s->peers; p != NULL; p = p->next) {
			short ev = p->closing ? 0 : POLLIN;
			if (p->out.len > p->out_off)
				ev |= POLLOUT;
			pfd[n++] = (struct pollfd){ .fd = p->fd, .events = ev };
			if (p->frame_start != 0 && p->frame_start + SERVER_FRAME_TIMEOUT_MS + 1 < wake)
				wake = p->frame_start + SERVER_FRAME_TIMEOUT_MS + 1;
		}
		int timeout = -1;
		if (wake != INT64_MAX)
			timeout = wake <= now ? 0 : wake - now > 60000 ? 60000 : (int)(wake - now);
		int r = poll(pfd, n, timeout);
		if (r < 0 && errno != EINTR) {
			log_errorx("%s: poll: %s", s->name, strerror(errno));
			break;
		}
		if (r > 0) {
			if (pfd[0].revents)
				handle_signals(s);
			if (pfd[1].revents)
				drain_posted(s);
			size_t i = 3;
			for (struct peer *p = s->peers; p != NULL && i < n; p = p->next, i++) {
				if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL) &&
				    !(pfd[i].revents & POLLIN))
					p->dead = true;
				if (pfd[i].revents & POLLIN)
					peer_read(s, p);
				if (pfd[i].revents & POLLOUT)
					peer_flush(p);
			}
			if (pfd[2].revents & POLLIN)
				accept_peers(s);
		}
		reap_peers(s);
	}
	(void)sd_notify(0, "STOPPING=1");
	if (s->hooks.on_stop != NULL)
		s->hooks.on_stop(s, s->hooks.arg);
	/* What stopping jobs handed back (their end events) runs now. */
	drain_posted(s);
	/* Flush what is owed to clients (best effort, briefly). */
	for (struct peer *p = s->peers; p != NULL; p = p->next)
		peer_flush(p);
	free(pfd);
	return 0;
}
