/*
 * The requests every daemon answers alike, and start-up and shutdown
 * around the loop (common.h).
 */
#include "daemon/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/levels.h"
#include "audit/audit.h"
#include "catalog/catalog.h"
#include "conf/roles.h"
#include "dataset/dataset.h"
#include "io/io.h"
#include "ipc/ipc.h"
#include "jobs/jobstore.h"
#include "keys/keystore.h"
#include "repo/repo.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/vec.h"

/* ---- replies and captured reasons ------------------------------------ */

void daemon_reply_init(struct ipc_writer *w, const struct ipc_msg *m)
{
	ipc_writer_init(w, m->type | IPC_REPLY, m->reqid);
}

void daemon_reply_empty(struct server *s, const struct peer_info *p, const struct ipc_msg *m)
{
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
}

static void capture_sink(enum log_level lvl, const char *msg, void *arg)
{
	struct daemon_capture *c = arg;
	/* The level's tag is redundant in a refusal the client prints as an error. */
	msg = log_untag(msg);
	if (lvl <= LOG_LVL_WARN && c->text[0] == 0)
		snprintf(c->text, sizeof c->text, "%s", msg);
}

void daemon_capture_begin(struct daemon_capture *cap)
{
	cap->text[0] = 0;
	log_set_thread_sink(capture_sink, cap);
}

void daemon_capture_end(void)
{
	log_set_thread_sink(NULL, NULL);
}

void daemon_fail(struct server *s, const struct peer_info *p, const struct ipc_msg *m, int e,
		 const struct daemon_capture *cap, const char *fallback)
{
	server_error(s, p, m->reqid, e < 0 ? -e : e, "%s",
		     cap != NULL && cap->text[0] ? cap->text : fallback);
}

/* ---- keys -------------------------------------------------------------- */

int daemon_open_dataset(struct daemon_ctx *c, const char *name, struct dataset *d,
			struct repo **out)
{
	pthread_mutex_lock(&c->ks_lock);
	int e;
	if (c->ks == NULL || keystore_root(c->ks) == NULL) {
		log_errorx("the keystore is locked: a secadmin must run 'coffer keystore unlock'");
		e = -EPERM;
	} else {
		e = dataset_open(c->a.state_dir, c->ks, name, d, out);
	}
	pthread_mutex_unlock(&c->ks_lock);
	return e;
}

int daemon_open_job_repo(struct daemon_ctx *c, struct runner_job *rj, unsigned threads,
			 struct repo **out)
{
	struct repo *r = NULL;
	int e = daemon_open_dataset(c, rj->job.dataset, NULL, &r);
	if (e == 0 && threads > 0 && (e = repo_set_threads(r, threads)) != 0)
		log_errorx("cannot start %u threads: %s", threads, coffer_strerror(e));
	if (e == 0 && (e = repo_load_index(r)) == -EBADMSG) {
		log_warnx("some index files are damaged: what only they list cannot be found "
			  "(run a verification)");
		e = 0;
	}
	if (e != 0) {
		if (rj->message[0] == 0)
			snprintf(rj->message, sizeof rj->message, "cannot open dataset %s: %s",
				 rj->job.dataset, coffer_strerror(e));
		repo_close(r);
		return e;
	}
	*out = r;
	return 0;
}

/* Reads a passphrase file (one line) and unlocks the keystore with it. */
static int unlock_from_file(struct daemon_ctx *c, const char *path)
{
	struct buf raw = { 0 };
	int e = io_read_file_at(AT_FDCWD, path, &raw, 4096);
	if (e != 0) {
		log_errorx("cannot read the passphrase file %s: %s", path, coffer_strerror(e));
		buf_fini(&raw);
		return e;
	}
	size_t len = raw.len;
	if (len > 0 && raw.data[len - 1] == '\n')
		len--;
	e = keystore_unlock_passphrase(c->ks, (const char *)raw.data, len);
	buf_fini(&raw); /* wipes */
	if (e == 0)
		log_info("keystore unlocked from %s", path);
	return e;
}

void daemon_h_unlock(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		     void *arg)
{
	struct daemon_ctx *c = arg;
	struct ipc_reader rd;
	const uint8_t *pass = NULL, *share[64];
	size_t pass_len = 0, lens[64];
	const char *names[64];
	char labels[64][24];
	uint32_t n = 0;
	ipc_reader_init(&rd, m);
	(void)ipc_get_ref(&rd, &pass, &pass_len);
	(void)ipc_get_list(&rd, &n);
	for (uint32_t i = 0; i < n; i++) {
		(void)ipc_get_ref(&rd, &share[i], &lens[i]);
		snprintf(labels[i], sizeof labels[i], "share %u", i + 1);
		names[i] = labels[i];
	}
	if (ipc_end(&rd) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed unlock request");
		return;
	}
	struct daemon_capture cap;
	daemon_capture_begin(&cap);
	pthread_mutex_lock(&c->ks_lock);
	int e = -ENOENT;
	if (c->ks == NULL) {
		log_errorx("there is no keystore in %s (run 'coffer keystore init' there)",
			   c->a.state_dir);
	} else if (n > 0) {
		e = keystore_unlock_share_data(c->ks, share, lens, names, n);
	} else {
		/* The passphrase is copied into locked memory for scrypt. */
		char *pw = secmem_alloc(pass_len + 1);
		e = pw != NULL ? 0 : -ENOMEM;
		if (e == 0) {
			memcpy(pw, pass, pass_len);
			e = keystore_unlock_passphrase(c->ks, pw, pass_len);
			secmem_free(pw, pass_len + 1);
		}
	}
	pthread_mutex_unlock(&c->ks_lock);
	daemon_capture_end();
	if (e != 0) {
		log_warnx("keystore unlock by uid %u refused", (unsigned)p->uid);
		daemon_fail(s, p, m, e, &cap, "the keystore could not be unlocked");
		return;
	}
	log_info("keystore unlocked by uid %u", (unsigned)p->uid);
	daemon_reply_empty(s, p, m);
}

void daemon_h_lock(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		   void *arg)
{
	struct daemon_ctx *c = arg;
	pthread_mutex_lock(&c->ks_lock);
	/* Reopened locked: the root key leaves memory (keystore_close wipes it). */
	struct keystore *fresh = NULL;
	int e = c->ks != NULL ? keystore_open(c->a.state_dir, &fresh) : -ENOENT;
	if (e == 0) {
		keystore_close(c->ks);
		c->ks = fresh;
	}
	pthread_mutex_unlock(&c->ks_lock);
	if (e != 0) {
		server_error(s, p, m->reqid, -e, "cannot lock the keystore: %s", coffer_strerror(e));
		return;
	}
	log_info("keystore locked by uid %u (running jobs keep the keys they hold)",
		 (unsigned)p->uid);
	daemon_reply_empty(s, p, m);
}

/* ---- hello and status --------------------------------------------------- */

void daemon_h_hello(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		    void *arg)
{
	struct daemon_ctx *c = arg;
	struct ipc_writer w;
	uid_t dev;
	daemon_reply_init(&w, m);
	ipc_put_str(&w, c->a.name);
	ipc_put_str(&w, COFFER_VERSION);
	ipc_put_u32(&w, IPC_VERSION);
	ipc_put_u32(&w, p->uid);
	ipc_put_u32(&w, p->gid);
	ipc_put_u32(&w, p->roles);
	ipc_put_strn(&w, p->roles_text, strnlen(p->roles_text, 256));
	ipc_put_u8(&w, roles_dev_mode(c->roles, &dev));
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
}

void daemon_h_status(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		     void *arg)
{
	struct daemon_ctx *c = arg;
	struct ipc_writer w;
	unsigned running = 0, queued = 0;
	if (c->rn != NULL)
		runner_counts(c->rn, &running, &queued);
	pthread_mutex_lock(&c->ks_lock);
	uint8_t ks = !c->holds_keys ? 0 : c->ks == NULL ? 1 : keystore_root(c->ks) != NULL ? 3 : 2;
	pthread_mutex_unlock(&c->ks_lock);
	static const char *const what[] = { "holds no keys", "no keystore", "keystore locked",
					    "keystore unlocked" };
	daemon_reply_init(&w, m);
	ipc_put_str(&w, c->a.name);
	ipc_put_str(&w, COFFER_VERSION);
	ipc_put_i64(&w, c->started);
	ipc_put_u8(&w, ks);
	ipc_put_u32(&w, running);
	ipc_put_u32(&w, queued);
	ipc_put_str(&w, what[ks]);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
}

/* ---- jobs ------------------------------------------------------------- */

void daemon_put_job(struct ipc_writer *w, const struct job *j)
{
	ipc_put_u64(w, j->id);
	ipc_put_str(w, job_kind_name(j->kind));
	ipc_put_str(w, j->dataset);
	ipc_put_str(w, j->daemon);
	ipc_put_str(w, job_state_name(j->state));
	ipc_put_u32(w, j->requested_by);
	ipc_put_i64(w, j->created);
	ipc_put_i64(w, j->started);
	ipc_put_i64(w, j->finished);
	ipc_put_u64(w, j->files);
	ipc_put_u64(w, j->bytes);
	ipc_put_u64(w, j->errors);
	ipc_put_str(w, j->snapshot);
	ipc_put_str(w, j->message);
	ipc_put_u32(w, j->attempt);
	ipc_put_str(w, j->params);
}

int daemon_job_dataset(struct daemon_ctx *c, const char *name, struct dataset *d, char *why,
		       size_t size)
{
	struct catalog *cat = NULL;
	int e = catalog_open(c->a.state_dir, &cat);
	if (e == 0)
		e = catalog_get(cat, name, d);
	catalog_close(cat);
	if (e == -ENOENT)
		snprintf(why, size, "no dataset '%s'", name);
	else if (e != 0)
		snprintf(why, size, "cannot read the catalog");
	else if (d->state == DATASET_SHREDDED) {
		snprintf(why, size, "dataset '%s' was crypto-shredded", name);
		e = -EKEYREVOKED;
	}
	return e;
}

static void send_done(struct server *s, const struct peer_info *p, uint32_t reqid,
		      const struct job *j);

/*
 * Answers a job submission: the ID, and the watch if asked for. A job
 * that has ended already (a repeated request key) gets its done event at
 * once: a watch would wait for an event that will never come.
 */
static void reply_job(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		      struct jobstore *js, uint64_t id, bool watch)
{
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	ipc_put_u64(&w, id);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
	if (!watch)
		return;
	struct job j;
	if (js != NULL && jobstore_get(js, id, &j) == 0 && job_state_final(j.state))
		send_done(s, p, m->reqid, &j);
	else
		(void)server_watch(s, p, id, m->reqid);
}

void daemon_submit(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		   struct daemon_ctx *c, struct job *j, bool watch)
{
	uint64_t id = 0;
	j->requested_by = p->uid;
	int e = runner_submit(c->rn, j, &id);
	if (e == -EEXIST) {
		/* The same request again (a scheduler retrying a submission): the same job. */
		reply_job(s, p, m, c->js, id, watch);
		return;
	}
	if (e != 0) {
		server_error(s, p, m->reqid, -e, "cannot queue the job: %s", coffer_strerror(e));
		return;
	}
	log_info("job %llu queued: %s of %s by uid %u", (unsigned long long)id,
		 job_kind_name(j->kind), j->dataset, (unsigned)p->uid);
	reply_job(s, p, m, NULL, id, watch);
}

struct jobs_ctx {
	struct job *v;
	size_t n, cap;
};

static int collect_job(const struct job *j, void *arg)
{
	struct jobs_ctx *c = arg;
	return vec_push(&c->v, &c->n, &c->cap, sizeof *j, j);
}

void daemon_h_jobs(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		   void *arg)
{
	struct daemon_ctx *c = arg;
	struct ipc_reader rd;
	char name[65];
	uint32_t limit = 0;
	ipc_reader_init(&rd, m);
	(void)ipc_get_str(&rd, name, sizeof name);
	(void)ipc_get_u32(&rd, &limit);
	if (ipc_end(&rd) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	struct job_filter f = { .dataset = name[0] ? name : NULL,
				.limit = limit == 0 || limit > 1000 ? 100 : limit };
	struct jobs_ctx jc = { 0 };
	int e = jobstore_list(c->js, &f, collect_job, &jc);
	if (e != 0) {
		free(jc.v);
		server_error(s, p, m->reqid, -e, "cannot read the job history");
		return;
	}
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	ipc_put_list(&w, (uint32_t)jc.n);
	for (size_t i = 0; i < jc.n; i++)
		daemon_put_job(&w, &jc.v[i]);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
	free(jc.v);
}

static int read_job_id(const struct ipc_msg *m, uint64_t *id)
{
	struct ipc_reader rd;
	ipc_reader_init(&rd, m);
	(void)ipc_get_u64(&rd, id);
	return ipc_end(&rd);
}

struct msg_ctx {
	struct ipc_writer *w;
	unsigned n;
};

static int count_msg(int64_t t, int level, const char *text, void *arg)
{
	(void)t, (void)level, (void)text;
	((struct msg_ctx *)arg)->n++;
	return 0;
}

static int put_msg(int64_t t, int level, const char *text, void *arg)
{
	struct msg_ctx *c = arg;
	char cut[2049];
	snprintf(cut, sizeof cut, "%s", text);
	ipc_put_i64(c->w, t);
	ipc_put_u8(c->w, (uint8_t)level);
	ipc_put_str(c->w, cut);
	return 0;
}

void daemon_h_job_show(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		       void *arg)
{
	struct daemon_ctx *c = arg;
	uint64_t id = 0;
	struct job *j = malloc(sizeof *j);
	if (j == NULL || read_job_id(m, &id) != 0) {
		server_error(s, p, m->reqid, j ? EPROTO : ENOMEM, "malformed request");
		free(j);
		return;
	}
	int e = jobstore_get(c->js, id, j);
	if (e != 0) {
		server_error(s, p, m->reqid, -e, e == -ENOENT ? "no job %llu" : "cannot read job %llu",
			     (unsigned long long)id);
		free(j);
		return;
	}
	struct ipc_writer w;
	struct msg_ctx mc = { &w, 0 };
	(void)jobstore_messages(c->js, id, count_msg, &mc);
	daemon_reply_init(&w, m);
	daemon_put_job(&w, j);
	ipc_put_list(&w, mc.n);
	(void)jobstore_messages(c->js, id, put_msg, &mc);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
	free(j);
}

void daemon_h_job_cancel(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			 void *arg)
{
	struct daemon_ctx *c = arg;
	uint64_t id = 0;
	if (read_job_id(m, &id) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	int e = runner_cancel(c->rn, id);
	if (e == -ENOENT)
		server_error(s, p, m->reqid, ENOENT, "coffer-%s has no job %llu", c->a.name,
			     (unsigned long long)id);
	else if (e == -EALREADY)
		server_error(s, p, m->reqid, EALREADY, "job %llu has already ended",
			     (unsigned long long)id);
	else if (e != 0)
		server_error(s, p, m->reqid, -e, "cannot cancel job %llu: %s",
			     (unsigned long long)id, coffer_strerror(e));
	else {
		log_info("job %llu cancelled by uid %u", (unsigned long long)id, (unsigned)p->uid);
		daemon_reply_empty(s, p, m);
	}
}

/* Sends the done event of an ended job to one watcher. */
static void send_done(struct server *s, const struct peer_info *p, uint32_t reqid,
		      const struct job *j)
{
	struct ipc_writer w;
	ipc_writer_init(&w, IPC_EV_DONE, reqid);
	ipc_put_u64(&w, j->id);
	ipc_put_str(&w, job_state_name(j->state));
	ipc_put_str(&w, j->message);
	ipc_put_str(&w, j->snapshot);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
}

void daemon_h_job_watch(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			void *arg)
{
	struct daemon_ctx *c = arg;
	uint64_t id = 0;
	struct job j;
	if (read_job_id(m, &id) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	int e = jobstore_get(c->js, id, &j);
	if (e != 0) {
		server_error(s, p, m->reqid, -e, "no job %llu", (unsigned long long)id);
		return;
	}
	if (strcmp(j.daemon, c->a.name) != 0 && !job_state_final(j.state)) {
		server_error(s, p, m->reqid, EXDEV, "job %llu is run by coffer-%s: watch it there",
			     (unsigned long long)id, j.daemon);
		return;
	}
	daemon_reply_empty(s, p, m);
	if (job_state_final(j.state))
		send_done(s, p, m->reqid, &j);
	else if (server_watch(s, p, id, m->reqid) != 0)
		server_error(s, p, m->reqid, ENOSPC, "too many watches on this connection");
}

unsigned daemon_pool_limit(const char *pool, void *arg)
{
	struct daemon_ctx *c = arg;
	struct levels *lv = NULL;
	unsigned lim = 1;
	if (levels_load(c->a.config_dir, c->a.state_dir, &lv) == 0)
		for (size_t i = 0; i < lv->n; i++)
			if (strcmp(lv->v[i].pool, pool) == 0)
				lim = lv->v[i].concurrency;
	levels_free(lv);
	return lim;
}

void daemon_job_done(struct runner *rn, const struct job *j, void *arg)
{
	struct daemon_ctx *c = arg;
	char path[4200], op[32], target[100], outcome[1100];
	uint8_t params[CRYPTO_HASH_LEN] = { 0 };
	snprintf(op, sizeof op, "job %s", job_kind_name(j->kind));
	snprintf(target, sizeof target, "%s (job %llu)", j->dataset, (unsigned long long)j->id);
	snprintf(outcome, sizeof outcome, "%s: %s", job_state_name(j->state), j->message);
	if (c->audit != NULL)
		(void)suite_hash(suite_by_id(audit_suite(c->audit)), j->params, strlen(j->params),
				 params);
	/* The job acted for whoever asked for it. */
	daemon_audit(c, j->requested_by, "(job)", op, target, params, outcome);
	snprintf(path, sizeof path, "%s/metrics/coffer.prom", c->a.state_dir);
	int e = jobstore_write_metrics(runner_store(rn), path, daemon_now(&c->a));
	if (e != 0)
		log_warnx("cannot write %s: %s", path, coffer_strerror(e));
}

/* ---- start-up and shutdown --------------------------------------------- */

/* Everything -n checks and a reload re-reads: roles.conf and levels.conf. */
static int load_config(struct daemon_ctx *c, struct roles_conf **roles)
{
	struct levels *lv = NULL;
	int e = roles_load(c->a.config_dir, roles);
	if (e == 0)
		e = levels_load(c->a.config_dir, c->a.state_dir, &lv);
	levels_free(lv);
	uid_t dev;
	if (e == 0 && roles_dev_mode(*roles, &dev))
		log_warnx("development mode: uid %u holds every role (roles.conf "
			  "dev-single-user); never use this on an appliance", (unsigned)dev);
	return e;
}

static void on_reload(struct server *s, void *arg)
{
	struct daemon_ctx *c = arg;
	struct roles_conf *roles = NULL;
	if (load_config(c, &roles) != 0) {
		log_errorx("the new configuration is refused; the old one stays");
		roles_free(roles);
		return;
	}
	server_set_roles(s, roles);
	roles_free(c->roles);
	c->roles = roles;
	if (c->reload != NULL)
		c->reload(c);
}

static void on_stop(struct server *s, void *arg)
{
	struct daemon_ctx *c = arg;
	(void)s;
	if (c->stop != NULL)
		c->stop(c);
	runner_stop(c->rn);
}

/* ---- the audit trail ----------------------------------------------------- */

void daemon_audit(struct daemon_ctx *c, uint32_t uid, const char *roles, const char *op,
		  const char *target, const uint8_t params[32], const char *outcome)
{
	char name[65], rolebuf[129], targetbuf[257], outbuf[513];
	if (c->audit == NULL)
		return;
	user_name(uid, name, sizeof name);
	/* Cut to the record's limits rather than lose the record. */
	snprintf(rolebuf, sizeof rolebuf, "%s", roles != NULL && *roles ? roles : "none");
	snprintf(targetbuf, sizeof targetbuf, "%s", target != NULL ? target : "");
	snprintf(outbuf, sizeof outbuf, "%s", outcome);
	struct audit_record r = { .uid = uid, .actor = name, .role = rolebuf, .op = op,
				  .target = targetbuf, .outcome = outbuf, .origin = c->a.name };
	if (params != NULL)
		memcpy(r.params, params, 32);
	int e = audit_append(c->audit, &r);
	if (e != 0)
		log_errorx("ALERT: cannot record '%s' by uid %u in the audit trail: %s", op,
			   (unsigned)uid, coffer_strerror(e));
}

/* Every request, refused or answered, becomes a record. */
static void on_request(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		       int code, const char *message, void *arg)
{
	struct daemon_ctx *c = arg;
	char target[257] = "", outcome[600];
	uint8_t params[CRYPTO_HASH_LEN] = { 0 };
	(void)s;
	if (m != NULL) {
		struct buf d = { 0 };
		ipc_target(m, target, sizeof target);
		/* The request as ipc_dump renders it: secrets elided, so the digest holds none. */
		if (ipc_dump(m, &d) == 0)
			(void)suite_hash(suite_by_id(audit_suite(c->audit)), d.data, d.len, params);
		buf_fini(&d);
	}
	/* EACCES: a role the caller lacks; EPERM: a policy (retention, a locked keystore). */
	if (code == 0)
		snprintf(outcome, sizeof outcome, "ok");
	else
		snprintf(outcome, sizeof outcome, "%s: %.500s",
			 code == EACCES || code == EPERM ? "refused" : "failed", message);
	daemon_audit(c, p->uid, p->roles_text,
		     m != NULL ? ipc_type_name(m->type) : "protocol violation", target,
		     m != NULL ? params : NULL, outcome);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_tick(struct server *s, void *arg)
{
	struct daemon_ctx *c = arg;
	(void)s;
	if (c->tick != NULL)
		c->tick(c);
	/* An epoch that is old enough is sealed even when nothing new is recorded. */
	if (c->audit != NULL && mono_ms() >= c->next_seal_check) {
		c->next_seal_check = mono_ms() + 10000;
		int e = audit_seal(c->audit, false);
		if (e != 0)
			log_errorx("cannot seal the audit trail: %s", coffer_strerror(e));
	}
}

int daemon_serve(struct daemon_ctx *c, const struct server_handler_entry *table, size_t n,
		 const struct runner_conf *rc)
{
	int e = 0;
	pthread_mutex_init(&c->ks_lock, NULL);
	c->started = (int64_t)time(NULL);
	if (daemon_setup(&c->a) != 0 || load_config(c, &c->roles) != 0) {
		e = -EINVAL;
		goto out;
	}
	if (c->holds_keys) {
		e = keystore_open(c->a.state_dir, &c->ks);
		if (e == -ENOENT)
			log_warnx("no keystore in %s yet: datasets cannot be opened", c->a.state_dir);
		else if (e != 0)
			goto out;
		e = 0;
	}
	if (c->a.check_only) {
		printf("coffer-%s: the configuration in %s is valid\n", c->a.name, c->a.config_dir);
		goto out;
	}
	/* No unaudited operation: the trail must exist before anything is served. */
	if ((e = audit_open(c->a.state_dir, &c->audit)) != 0) {
		if (e == -ENOENT)
			log_errorx("no audit trail in %s: run 'coffer audit init' first (the "
				   "appliance does not run unaudited)", c->a.state_dir);
		goto out;
	}
	daemon_audit(c, (uint32_t)getuid(), "daemon", "daemon start", c->a.name, NULL, "ok");
	if (c->ks != NULL && c->a.passphrase_file != NULL) {
		e = unlock_from_file(c, c->a.passphrase_file);
		daemon_audit(c, (uint32_t)getuid(), "daemon", "keystore unlock", "passphrase file",
			     NULL, e == 0 ? "ok" : "failed: the passphrase file does not unlock it");
		if (e != 0)
			goto out;
	}
	if (rc != NULL && (e = jobstore_open(c->a.state_dir, &c->js)) != 0)
		goto out;
	struct server_hooks hooks = { .on_reload = on_reload, .on_stop = on_stop,
				      .on_request = on_request, .on_tick = on_tick,
				      .tick_ms = c->tick ? c->tick_ms : 1000, .arg = c };
	if ((e = server_new(c->a.run_dir, c->a.name, table, n, c->roles, &hooks, &c->srv)) != 0)
		goto out;
	if (rc != NULL && (e = runner_new(c->srv, c->js, rc, &c->rn)) != 0)
		goto out;
	log_info("coffer-%s %s ready on %s/%s.sock", c->a.name, COFFER_VERSION, c->a.run_dir,
		 c->a.name);
	e = server_run(c->srv);
	daemon_audit(c, (uint32_t)getuid(), "daemon", "daemon stop", c->a.name, NULL, "ok");
out:
	runner_free(c->rn);
	server_free(c->srv);
	jobstore_close(c->js);
	keystore_close(c->ks);
	audit_close(c->audit);
	roles_free(c->roles);
	pthread_mutex_destroy(&c->ks_lock);
	return e == 0 ? 0 : 1;
}
