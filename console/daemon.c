/* The console's client side of the daemons (daemon.h). */
#include "daemon.h"
#include "record.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "crypto/crypto.h"
#include "util/log.h"

#define DEFAULT_RUN_DIR "/run/coffer"

const char *console_run_dir(const struct common_opts *c)
{
	static char path[PATH_MAX];
	const char *d = c->run_dir ? c->run_dir : getenv("COFFER_RUN_DIR");
	if (d == NULL || *d == 0) {
		if (access(DEFAULT_RUN_DIR "/backupd.sock", F_OK) != 0)
			return NULL;
		d = DEFAULT_RUN_DIR;
	}
	char cwd[PATH_MAX];
	if (d[0] == '/' || getcwd(cwd, sizeof cwd) == NULL)
		snprintf(path, sizeof path, "%s", d);
	else if ((size_t)snprintf(path, sizeof path, "%s/%s", cwd, d) >= sizeof path)
		snprintf(path, sizeof path, "%s", d);
	return path;
}

struct ipc_client *console_connect(const struct common_opts *c, const char *name)
{
	const char *run = console_run_dir(c);
	struct ipc_client *cl = NULL;
	if (run == NULL) {
		log_errorx("no daemons to talk to: give --run-dir DIR or set COFFER_RUN_DIR");
		return NULL;
	}
	int e = ipc_connect(run, name, &cl);
	if (e == 0)
		record_note_daemon();
	if (e == -ENOENT || e == -ECONNREFUSED)
		log_errorx("coffer-%s is not running (no answer on %s/%s.sock)", name, run, name);
	else if (e == -EACCES)
		log_errorx("not allowed to reach coffer-%s at %s/%s.sock (is this user in the "
			   "appliance's groups?)", name, run, name);
	else if (e != 0)
		log_errorx("cannot reach coffer-%s at %s: %s", name, run, coffer_strerror(e));
	return e == 0 ? cl : NULL;
}

int console_call(struct ipc_client *cl, const char *name, struct ipc_writer *w,
		 struct ipc_msg *m)
{
	char err[1100] = "";
	int e = ipc_writer_finish(w);
	if (e != 0) {
		log_errorx("cannot encode the request: %s", coffer_strerror(e));
		return e;
	}
	e = ipc_call(cl, w, m, CALL_TIMEOUT_MS, err, sizeof err);
	if (e == 0)
		return 0;
	if (err[0] != 0)
		log_errorx("coffer-%s: %s", name, err);
	else if (e == -ETIMEDOUT)
		log_errorx("coffer-%s did not answer within %d s", name, CALL_TIMEOUT_MS / 1000);
	else if (e == -ECONNRESET)
		log_errorx("coffer-%s closed the connection", name);
	else
		log_errorx("talking to coffer-%s: %s", name, coffer_strerror(e));
	return e;
}

int console_follow_job(struct ipc_client *cl, uint64_t job, const char *what,
		       const struct common_opts *c, struct job_end *end)
{
	bool show = progress_enabled(c), shown = false;
	uint64_t start = console_now_ns();
	for (;;) {
		struct ipc_msg m;
		int e = ipc_recv(cl, &m, -1);
		if (e != 0) {
			if (shown)
				progress_clear();
			log_errorx("lost the connection while following job %llu: %s",
				   (unsigned long long)job, coffer_strerror(e));
			return e;
		}
		struct ipc_reader rd;
		uint64_t id = 0;
		ipc_reader_init(&rd, &m);
		if (m.type == IPC_EV_PROGRESS) {
			uint64_t files = 0, bytes = 0, total = 0, errors = 0;
			(void)ipc_get_u64(&rd, &id);
			(void)ipc_get_u64(&rd, &files);
			(void)ipc_get_u64(&rd, &bytes);
			(void)ipc_get_u64(&rd, &total);
			(void)ipc_get_u64(&rd, &errors);
			if (id == job && show) {
				progress_line(what, files, "files", bytes, total, errors, start);
				shown = true;
			}
		} else if (m.type == IPC_EV_LOG) {
			uint8_t level = 0;
			char text[2049] = "";
			(void)ipc_get_u64(&rd, &id);
			(void)ipc_get_u8(&rd, &level);
			(void)ipc_get_str(&rd, text, sizeof text);
			if (id == job && (!c->quiet || level == LOG_LVL_ERROR)) {
				if (shown)
					progress_clear();
				fprintf(stderr, "coffer: job %llu: %s\n", (unsigned long long)job, text);
			}
		} else if (m.type == IPC_EV_DONE) {
			(void)ipc_get_u64(&rd, &id);
			if (id != job)
				continue;
			(void)ipc_get_str(&rd, end->state, sizeof end->state);
			(void)ipc_get_str(&rd, end->message, sizeof end->message);
			(void)ipc_get_str(&rd, end->snapshot, sizeof end->snapshot);
			if (shown)
				progress_clear();
			return 0;
		}
	}
}

int console_job_exit(const struct job_end *end)
{
	return strcmp(end->state, "succeeded") == 0 ? EXIT_OK : EXIT_FAIL;
}

int console_run_job(struct ipc_client *cl, const char *name, struct ipc_writer *w,
		    const char *what, const struct common_opts *c, bool detach,
		    struct job_end *end_out)
{
	struct ipc_msg m;
	struct ipc_reader rd;
	struct job_end end;
	uint64_t job = 0;
	if (console_call(cl, name, w, &m) != 0)
		return EXIT_FAIL;
	ipc_reader_init(&rd, &m);
	(void)ipc_get_u64(&rd, &job);
	if (detach) {
		if (c->json)
			printf("{\"job\":%llu}\n", (unsigned long long)job);
		else if (!c->quiet)
			printf("job %llu queued\n", (unsigned long long)job);
		return EXIT_OK;
	}
	if (console_follow_job(cl, job, what, c, &end) != 0)
		return EXIT_FAIL;
	int rc = console_job_exit(&end);
	if (c->json)
		printf("{\"job\":%llu,\"state\":\"%s\",\"snapshot\":\"%s\"}\n",
		       (unsigned long long)job, end.state, end.snapshot);
	else if (rc != EXIT_OK)
		log_errorx("job %llu %s: %s", (unsigned long long)job, end.state, end.message);
	else if (!c->quiet)
		printf("job %llu: %s\n", (unsigned long long)job, end.message);
	if (end_out != NULL)
		*end_out = end;
	return rc;
}

void console_get_dataset(struct ipc_reader *rd, struct dataset *d)
{
	char suite[33] = "";
	uint8_t shredded = 0;
	memset(d, 0, sizeof *d);
	(void)ipc_get_str(rd, d->name, sizeof d->name);
	(void)ipc_get_str(rd, d->id, sizeof d->id);
	(void)ipc_get_u32(rd, &d->level);
	(void)ipc_get_str(rd, d->owner, sizeof d->owner);
	(void)ipc_get_str(rd, suite, sizeof suite);
	(void)ipc_get_str(rd, d->pool, sizeof d->pool);
	(void)ipc_get_str(rd, d->repo, sizeof d->repo);
	(void)ipc_get_i64(rd, &d->created);
	(void)ipc_get_u8(rd, &shredded);
	(void)ipc_get_i64(rd, &d->shredded);
	const struct suite *s = suite_by_name(suite);
	d->suite = s != NULL ? suite_id(s) : 0;
	d->state = shredded ? DATASET_SHREDDED : DATASET_ACTIVE;
}

/* One request of a probe; 0, or the negative errno with why in p->error. */
static int probe_call(struct ipc_client *cl, const char *name, uint16_t type, int timeout_ms,
		      struct ipc_msg *m, struct daemon_probe *p)
{
	struct ipc_writer w;
	char err[1025] = "";
	ipc_writer_init(&w, type, ipc_next_reqid(cl));
	int e = ipc_writer_finish(&w);
	if (e == 0)
		e = ipc_call(cl, &w, m, timeout_ms, err, sizeof err);
	ipc_writer_fini(&w);
	if (e == 0 && m->type != (type | IPC_REPLY))
		e = -EPROTO;
	if (e == 0)
		return 0;
	if (err[0] != 0)
		snprintf(p->error, sizeof p->error, "%s", err);
	else if (e == -ETIMEDOUT)
		snprintf(p->error, sizeof p->error, "coffer-%s did not answer within %d ms", name,
			 timeout_ms);
	else
		snprintf(p->error, sizeof p->error, "%s request to coffer-%s: %s",
			 ipc_type_name(type), name, coffer_strerror(e));
	return e;
}

void console_probe(const char *run_dir, const char *name, int timeout_ms,
		   struct daemon_probe *p)
{
	struct ipc_client *cl = NULL;
	struct ipc_msg m;
	struct ipc_reader rd;
	memset(p, 0, sizeof *p);
	int e = ipc_connect(run_dir, name, &cl);
	if (e == 0)
		record_note_daemon();
	if (e == -ENOENT || e == -ECONNREFUSED) {
		p->state = PROBE_DOWN;
		return;
	}
	p->state = PROBE_FAILED;
	if (e != 0) {
		snprintf(p->error, sizeof p->error, "cannot reach coffer-%s at %s/%s.sock: %s", name,
			 run_dir, name, coffer_strerror(e));
		return;
	}
	/* HELLO: only the client's name, to help the daemon's debug log. */
	struct ipc_writer w;
	char err[1025] = "";
	ipc_writer_init(&w, IPC_HELLO, ipc_next_reqid(cl));
	ipc_put_str(&w, "coffer");
	e = ipc_writer_finish(&w);
	if (e == 0)
		e = ipc_call(cl, &w, &m, timeout_ms, err, sizeof err);
	ipc_writer_fini(&w);
	if (e == 0 && m.type == (IPC_HELLO | IPC_REPLY)) {
		uint8_t dev = 0;
		ipc_reader_init(&rd, &m);
		(void)ipc_get_str(&rd, p->daemon, sizeof p->daemon);
		(void)ipc_get_str(&rd, p->version, sizeof p->version);
		(void)ipc_get_u32(&rd, &p->protocol);
		(void)ipc_get_u32(&rd, &p->uid);
		(void)ipc_get_u32(&rd, &p->gid);
		(void)ipc_get_u32(&rd, &p->roles);
		(void)ipc_get_str(&rd, p->roles_text, sizeof p->roles_text);
		(void)ipc_get_u8(&rd, &dev);
		p->dev_mode = dev != 0;
		p->have_hello = ipc_end(&rd) == 0;
	} else {
		snprintf(p->error, sizeof p->error, "hello to coffer-%s: %s", name,
			 err[0] ? err : coffer_strerror(e ? e : -EPROTO));
		ipc_close(cl);
		return;
	}
	if (probe_call(cl, name, IPC_STATUS, timeout_ms, &m, p) == 0) {
		char who[33] = "", version[33] = "";
		ipc_reader_init(&rd, &m);
		(void)ipc_get_str(&rd, who, sizeof who);
		(void)ipc_get_str(&rd, version, sizeof version);
		(void)ipc_get_i64(&rd, &p->started);
		(void)ipc_get_u8(&rd, &p->keystore);
		(void)ipc_get_u32(&rd, &p->running);
		(void)ipc_get_u32(&rd, &p->queued);
		(void)ipc_get_str(&rd, p->detail, sizeof p->detail);
		p->have_status = ipc_end(&rd) == 0;
		if (p->have_status)
			p->state = PROBE_UP;
		else
			snprintf(p->error, sizeof p->error, "malformed status reply from coffer-%s",
				 name);
	}
	ipc_close(cl);
}

const char *console_keystore_state(uint8_t keystore)
{
	static const char *const names[] = { "holds no keys", "no keystore", "locked",
					     "unlocked" };
	return keystore < sizeof names / sizeof names[0] ? names[keystore] : "unknown";
}
