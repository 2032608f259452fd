/*
 * coffer-backupd's requests (docs/protocol/ipc.md), each with the roles
 * that may make it (docs/daemons.md, "Roles"). They run on the loop
 * thread: short work is done here, backups and retention become jobs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backupd/backupd.h"
#include "catalog/catalog.h"
#include "conf/roles.h"
#include "crypto/crypto.h"
#include "crypto/keyset.h"
#include "dataset/dataset.h"
#include "ipc/ipc.h"
#include "jobs/params.h"
#include "keys/keystore.h"
#include "repo/repo.h"
#include "repo/snapshot.h"
#include "sched/calendar.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/vec.h"

#define ANY_ROLE ROLES_ALL
#define READERS (ROLE_SYSADMIN | ROLE_OPERATOR | ROLE_SECADMIN)

/* The reply frame for request m. */






/* ---- session ---------------------------------------------------------- */



/* ---- keystore --------------------------------------------------------- */



/* ---- datasets --------------------------------------------------------- */

static void put_dataset(struct ipc_writer *w, const struct dataset *d)
{
	const struct suite *su = suite_by_id(d->suite);
	ipc_put_str(w, d->name);
	ipc_put_str(w, d->id);
	ipc_put_u32(w, d->level);
	ipc_put_str(w, d->owner);
	ipc_put_str(w, su != NULL ? suite_alias(su) : "unknown");
	ipc_put_str(w, d->pool);
	ipc_put_str(w, d->repo);
	ipc_put_i64(w, d->created);
	ipc_put_u8(w, d->state == DATASET_SHREDDED);
	ipc_put_i64(w, d->shredded);
}

static void h_dataset_create(struct server *s, const struct peer_info *p,
			     const struct ipc_msg *m, void *arg)
{
	struct backupd *b = arg;
	struct ipc_reader rd;
	char name[65], owner[65], suite[33];
	uint32_t level = 0;
	ipc_reader_init(&rd, m);
	(void)ipc_get_str(&rd, name, sizeof name);
	(void)ipc_get_u32(&rd, &level);
	(void)ipc_get_str(&rd, owner, sizeof owner);
	(void)ipc_get_str(&rd, suite, sizeof suite);
	if (ipc_end(&rd) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	struct dataset_create_req req = { .name = name, .level = level, .owner = owner };
	if (suite[0] != 0) {
		const struct suite *su = suite_by_name(suite);
		if (su == NULL) {
			server_error(s, p, m->reqid, EINVAL,
				     "unknown suite '%s' (use international or national)", suite);
			return;
		}
		req.suite = suite_id(su);
	}
	struct daemon_capture cap;
	struct dataset d;
	daemon_capture_begin(&cap);
	pthread_mutex_lock(&b->c.ks_lock);
	int e;
	if (b->c.ks == NULL || keystore_root(b->c.ks) == NULL) {
		log_errorx("the keystore is locked: a secadmin must run 'coffer keystore unlock'");
		e = -EPERM;
	} else {
		e = dataset_create(b->c.a.state_dir, b->c.a.config_dir, b->c.ks, &req, &d);
	}
	pthread_mutex_unlock(&b->c.ks_lock);
	daemon_capture_end();
	if (e != 0) {
		daemon_fail(s, p, m, e, &cap, "the dataset could not be created");
		return;
	}
	log_info("dataset %s (%s) created by uid %u at level %u", d.name, d.id, (unsigned)p->uid,
		 d.level);
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	ipc_put_str(&w, d.id);
	ipc_put_str(&w, d.repo);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
}

struct list_ctx {
	struct ipc_writer *w;
	struct dataset *v;
	size_t n, cap;
};

static int collect(const struct dataset *d, void *arg)
{
	struct list_ctx *l = arg;
	return vec_push(&l->v, &l->n, &l->cap, sizeof *d, d);
}

static void h_dataset_list(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			   void *arg)
{
	struct backupd *b = arg;
	struct catalog *cat = NULL;
	struct list_ctx l = { 0 };
	struct daemon_capture cap;
	daemon_capture_begin(&cap);
	int e = catalog_open(b->c.a.state_dir, &cat);
	if (e == 0)
		e = catalog_list(cat, collect, &l);
	catalog_close(cat);
	daemon_capture_end();
	if (e != 0) {
		free(l.v);
		daemon_fail(s, p, m, e, &cap, "cannot read the catalog");
		return;
	}
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	ipc_put_list(&w, (uint32_t)l.n);
	for (size_t i = 0; i < l.n; i++)
		put_dataset(&w, &l.v[i]);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
	free(l.v);
}

/* Reads the single dataset-name field of m into name. */
static int read_name(const struct ipc_msg *m, char name[65])
{
	struct ipc_reader rd;
	ipc_reader_init(&rd, m);
	(void)ipc_get_str(&rd, name, 65);
	return ipc_end(&rd);
}

static void h_dataset_show(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			   void *arg)
{
	struct backupd *b = arg;
	char name[65];
	if (read_name(m, name) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	struct catalog *cat = NULL;
	struct dataset d;
	int e = catalog_open(b->c.a.state_dir, &cat);
	if (e == 0)
		e = catalog_get(cat, name, &d);
	catalog_close(cat);
	if (e != 0) {
		server_error(s, p, m->reqid, -e, e == -ENOENT ? "no dataset '%s'" : "cannot read the "
			     "catalog for '%s'", name);
		return;
	}
	/* Key generations need the keys; 0 while the keystore is locked. */
	uint32_t gens = 0;
	struct keyset *k = keyset_new();
	pthread_mutex_lock(&b->c.ks_lock);
	if (k != NULL && b->c.ks != NULL && keystore_root(b->c.ks) != NULL &&
	    d.state != DATASET_SHREDDED) {
		struct daemon_capture quiet;
		daemon_capture_begin(&quiet);
		if (keystore_keyset_get(b->c.ks, d.id, k) == 0)
			gens = k->n_gens;
		daemon_capture_end();
	}
	pthread_mutex_unlock(&b->c.ks_lock);
	keyset_free(k);
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	put_dataset(&w, &d);
	ipc_put_u32(&w, gens);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
}

/* ---- policies --------------------------------------------------------- */

enum {
	POL_CALENDAR = 1, POL_SOURCES = 2, POL_KEEP_LAST = 4, POL_KEEP_DAILY = 8,
	POL_KEEP_WEEKLY = 16, POL_KEEP_MONTHLY = 32, POL_KEEP_YEARLY = 64, POL_VERIFY = 128,
};

static void h_policy_set(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			 void *arg)
{
	struct backupd *b = arg;
	struct ipc_reader rd;
	char name[65], calendar[129];
	uint32_t mask = 0, n = 0, keep[5], verify = 0;
	struct policy in, cur;
	policy_init(&in);
	policy_init(&cur);
	ipc_reader_init(&rd, m);
	(void)ipc_get_str(&rd, name, sizeof name);
	(void)ipc_get_u32(&rd, &mask);
	(void)ipc_get_str(&rd, calendar, sizeof calendar);
	(void)ipc_get_list(&rd, &n);
	int e = 0;
	for (uint32_t i = 0; i < n; i++) {
		char path[4097];
		if (ipc_get_str(&rd, path, sizeof path) == 0 && e == 0)
			e = policy_add_source(&in, path);
	}
	for (int i = 0; i < 5; i++)
		(void)ipc_get_u32(&rd, &keep[i]);
	(void)ipc_get_u32(&rd, &verify);
	if (ipc_end(&rd) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		goto out;
	}
	if (e != 0) {
		server_error(s, p, m->reqid, EINVAL, "a source must be an absolute path (at most "
			     "%d of them)", POLICY_SOURCES_MAX);
		goto out;
	}
	if (mask & POL_CALENDAR && calendar[0] != 0) {
		struct calendar c;
		char why[256];
		if (calendar_parse(calendar, &c, why, sizeof why) != 0) {
			server_error(s, p, m->reqid, EINVAL, "bad calendar '%s': %s", calendar, why);
			goto out;
		}
	}
	if (verify > 3660) {
		server_error(s, p, m->reqid, EINVAL, "verify-days must be 0 to 3660");
		goto out;
	}
	/* Only the settings given change; the rest stay as they were. */
	struct catalog *cat = NULL;
	struct daemon_capture cap;
	daemon_capture_begin(&cap);
	e = catalog_open(b->c.a.state_dir, &cat);
	if (e == 0)
		e = catalog_policy_get(cat, name, &cur);
	if (e == 0) {
		if (mask & POL_CALENDAR)
			snprintf(cur.calendar, sizeof cur.calendar, "%s", calendar);
		if (mask & POL_SOURCES) {
			for (size_t i = 0; i < cur.n_sources; i++)
				free(cur.sources[i]);
			free(cur.sources);
			cur.sources = in.sources;
			cur.n_sources = in.n_sources;
			in.sources = NULL;
			in.n_sources = 0;
		}
		uint32_t *dst[5] = { &cur.keep_last, &cur.keep_daily, &cur.keep_weekly,
				     &cur.keep_monthly, &cur.keep_yearly };
		for (int i = 0; i < 5; i++)
			if (mask & (POL_KEEP_LAST << i))
				*dst[i] = keep[i];
		if (mask & POL_VERIFY)
			cur.verify_days = verify;
		e = catalog_policy_set(cat, name, &cur);
	}
	catalog_close(cat);
	daemon_capture_end();
	if (e != 0) {
		char what[128];
		snprintf(what, sizeof what, e == -ENOENT ? "no dataset '%s'" : "cannot store the "
			 "policy of '%s'", name);
		daemon_fail(s, p, m, e, &cap, what);
		goto out;
	}
	log_info("policy of %s changed by uid %u", name, (unsigned)p->uid);
	daemon_reply_empty(s, p, m);
out:
	policy_fini(&in);
	policy_fini(&cur);
}

static void h_policy_show(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			  void *arg)
{
	struct backupd *b = arg;
	char name[65];
	if (read_name(m, name) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	struct catalog *cat = NULL;
	struct policy pol;
	policy_init(&pol);
	int e = catalog_open(b->c.a.state_dir, &cat);
	if (e == 0)
		e = catalog_policy_get(cat, name, &pol);
	catalog_close(cat);
	if (e != 0) {
		server_error(s, p, m->reqid, -e, e == -ENOENT ? "no dataset '%s'" : "cannot read the "
			     "policy of '%s'", name);
		policy_fini(&pol);
		return;
	}
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	ipc_put_str(&w, name);
	ipc_put_str(&w, pol.calendar);
	ipc_put_list(&w, (uint32_t)pol.n_sources);
	for (size_t i = 0; i < pol.n_sources; i++)
		ipc_put_str(&w, pol.sources[i]);
	ipc_put_u32(&w, pol.keep_last);
	ipc_put_u32(&w, pol.keep_daily);
	ipc_put_u32(&w, pol.keep_weekly);
	ipc_put_u32(&w, pol.keep_monthly);
	ipc_put_u32(&w, pol.keep_yearly);
	ipc_put_u32(&w, pol.verify_days);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
	policy_fini(&pol);
}

/* ---- jobs ------------------------------------------------------------- */

/* Answers a job submission: the ID, and the watch if asked for. */


static void h_backup(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		     void *arg)
{
	struct backupd *b = arg;
	struct ipc_reader rd;
	struct job *j = calloc(1, sizeof *j);
	struct dataset d;
	char why[256] = "";
	uint32_t n = 0, n_tags = 0;
	uint8_t watch = 0;
	if (j == NULL) {
		server_error(s, p, m->reqid, ENOMEM, "out of memory");
		return;
	}
	j->kind = JOB_BACKUP;
	ipc_reader_init(&rd, m);
	(void)ipc_get_str(&rd, j->dataset, sizeof j->dataset);
	(void)ipc_get_list(&rd, &n);
	for (uint32_t i = 0; i < n; i++) {
		char path[4097];
		if (ipc_get_str(&rd, path, sizeof path) == 0 && why[0] == 0) {
			if (path[0] != '/')
				snprintf(why, sizeof why, "'%.200s' is not an absolute path", path);
			else if (job_param_add(j->params, sizeof j->params, "path", path) != 0)
				snprintf(why, sizeof why, "too many paths for one job");
		}
	}
	(void)ipc_get_list(&rd, &n_tags);
	for (uint32_t i = 0; i < n_tags; i++) {
		char tag[65];
		if (ipc_get_str(&rd, tag, sizeof tag) == 0 && why[0] == 0 &&
		    job_param_add(j->params, sizeof j->params, "tag", tag) != 0)
			snprintf(why, sizeof why, "too many tags for one job");
	}
	(void)ipc_get_str(&rd, j->request_key, sizeof j->request_key);
	(void)ipc_get_u32(&rd, &j->attempt);
	(void)ipc_get_u8(&rd, &watch);
	if (ipc_end(&rd) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		goto out;
	}
	if (why[0] != 0) {
		server_error(s, p, m->reqid, EINVAL, "%s", why);
		goto out;
	}
	int e = daemon_job_dataset(&b->c, j->dataset, &d, why, sizeof why);
	if (e != 0) {
		server_error(s, p, m->reqid, -e, "%s", why);
		goto out;
	}
	/* No paths: the policy's sources. */
	if (n == 0) {
		struct catalog *cat = NULL;
		struct policy pol;
		policy_init(&pol);
		e = 0;
		if (catalog_open(b->c.a.state_dir, &cat) == 0 &&
		    catalog_policy_get(cat, j->dataset, &pol) == 0)
			for (size_t i = 0; i < pol.n_sources && e == 0; i++)
				e = job_param_add(j->params, sizeof j->params, "path", pol.sources[i]);
		catalog_close(cat);
		size_t n_src = pol.n_sources;
		policy_fini(&pol);
		if (e != 0) {
			server_error(s, p, m->reqid, E2BIG, "the policy's sources do not fit one job");
			goto out;
		}
		if (n_src == 0) {
			server_error(s, p, m->reqid, EINVAL,
				     "no paths given and dataset '%s' has no sources in its policy "
				     "('coffer policy set %s --source PATH')", j->dataset, j->dataset);
			goto out;
		}
	}
	snprintf(j->pool, sizeof j->pool, "%s", d.pool);
	daemon_submit(s, p, m, &b->c, j, watch);
out:
	free(j);
}

static void h_retention(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			void *arg)
{
	struct backupd *b = arg;
	struct ipc_reader rd;
	struct job *j = calloc(1, sizeof *j);
	struct dataset d;
	char why[256];
	uint8_t watch = 0;
	if (j == NULL) {
		server_error(s, p, m->reqid, ENOMEM, "out of memory");
		return;
	}
	j->kind = JOB_RETENTION;
	ipc_reader_init(&rd, m);
	(void)ipc_get_str(&rd, j->dataset, sizeof j->dataset);
	(void)ipc_get_str(&rd, j->request_key, sizeof j->request_key);
	(void)ipc_get_u32(&rd, &j->attempt);
	(void)ipc_get_u8(&rd, &watch);
	int e = ipc_end(&rd) != 0 ? -EPROTO
				  : daemon_job_dataset(&b->c, j->dataset, &d, why, sizeof why);
	if (e == -EPROTO)
		server_error(s, p, m->reqid, EPROTO, "malformed request");
	else if (e != 0)
		server_error(s, p, m->reqid, -e, "%s", why);
	if (e == 0) {
		snprintf(j->pool, sizeof j->pool, "%s", d.pool);
		(void)job_param_add(j->params, sizeof j->params, "rules", "the policy's");
		daemon_submit(s, p, m, &b->c, j, watch);
	}
	free(j);
}

static void h_snapshots(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			void *arg)
{
	struct backupd *b = arg;
	char name[65];
	if (read_name(m, name) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	struct daemon_capture cap;
	struct repo *r = NULL;
	struct snapshot_entry *v = NULL;
	size_t n = 0;
	daemon_capture_begin(&cap);
	int e = daemon_open_dataset(&b->c, name, NULL, &r);
	if (e == 0)
		e = repo_snapshot_list(r, &v, &n, NULL);
	daemon_capture_end();
	repo_close(r);
	if (e != 0) {
		daemon_fail(s, p, m, e, &cap, "cannot list the snapshots");
		return;
	}
	struct ipc_writer w;
	struct buf joined = { 0 };
	daemon_reply_init(&w, m);
	ipc_put_list(&w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		const struct snapshot *sn = &v[i].snap;
		char id[65], parent[65] = "";
		hex_encode(v[i].id, 32, id);
		if (sn->has_parent)
			hex_encode(sn->parent, 32, parent);
		ipc_put_str(&w, id);
		ipc_put_i64(&w, sn->time.sec);
		buf_reset(&joined);
		for (size_t k = 0; k < sn->n_paths; k++) {
			(void)buf_put(&joined, sn->paths[k], strlen(sn->paths[k]));
			if (k + 1 < sn->n_paths)
				(void)buf_put_u8(&joined, '\n');
		}
		ipc_put_strn(&w, (const char *)joined.data, joined.len);
		buf_reset(&joined);
		for (size_t k = 0; k < sn->n_tags; k++) {
			(void)buf_put(&joined, sn->tags[k], strlen(sn->tags[k]));
			if (k + 1 < sn->n_tags)
				(void)buf_put_u8(&joined, ',');
		}
		ipc_put_strn(&w, (const char *)joined.data, joined.len);
		ipc_put_str(&w, sn->hostname);
		ipc_put_u64(&w, sn->stats.files);
		ipc_put_u64(&w, sn->stats.bytes);
		ipc_put_str(&w, parent);
	}
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
	buf_fini(&joined);
	snapshot_entries_free(v, n);
}











/* Sends the done event of an ended job to one watcher. */


const struct server_handler_entry backupd_handlers[] = {
	{ IPC_HELLO, 0, daemon_h_hello },
	{ IPC_STATUS, ANY_ROLE, daemon_h_status },
	{ IPC_KEYSTORE_UNLOCK, ROLE_SECADMIN, daemon_h_unlock },
	{ IPC_KEYSTORE_LOCK, ROLE_SECADMIN, daemon_h_lock },
	{ IPC_DATASET_CREATE, ROLE_SYSADMIN, h_dataset_create },
	{ IPC_DATASET_LIST, READERS, h_dataset_list },
	{ IPC_DATASET_SHOW, READERS, h_dataset_show },
	{ IPC_POLICY_SET, ROLE_SYSADMIN, h_policy_set },
	{ IPC_POLICY_SHOW, ROLE_SYSADMIN | ROLE_OPERATOR | ROLE_DAEMON, h_policy_show },
	{ IPC_BACKUP, ROLE_OPERATOR | ROLE_DAEMON, h_backup },
	{ IPC_RETENTION, ROLE_OPERATOR | ROLE_DAEMON, h_retention },
	{ IPC_SNAPSHOTS, ROLE_OPERATOR | ROLE_SYSADMIN | ROLE_DAEMON, h_snapshots },
	{ IPC_JOBS, ROLE_OPERATOR | ROLE_SYSADMIN | ROLE_DAEMON, daemon_h_jobs },
	{ IPC_JOB_SHOW, ROLE_OPERATOR | ROLE_SYSADMIN | ROLE_DAEMON, daemon_h_job_show },
	{ IPC_JOB_CANCEL, ROLE_OPERATOR | ROLE_DAEMON, daemon_h_job_cancel },
	{ IPC_JOB_WATCH, ROLE_OPERATOR | ROLE_SYSADMIN | ROLE_DAEMON, daemon_h_job_watch },
	{ IPC_AUDIT_READ, ROLE_AUDITOR, daemon_h_audit_read },
	{ IPC_AUDIT_CHECKPOINT, ROLE_AUDITOR, daemon_h_audit_checkpoint },
	{ IPC_AUDIT_SEAL, ROLE_SYSADMIN, daemon_h_audit_seal },
	{ IPC_AUDIT_PRUNE, ROLE_SYSADMIN, daemon_h_audit_prune },
};
const size_t backupd_n_handlers = sizeof backupd_handlers / sizeof backupd_handlers[0];
