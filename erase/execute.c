/*
 * Executing a destruction (docs/format/erase.md, "Execution"): one at a
 * time, on the executor thread, in an order that never leaves a dataset
 * which looks intact:
 *
 *   1. the request moves to `executing` (durable) before anything is
 *      touched: from then on it only goes forward, and a restart resumes
 *      it;
 *   2. crypto-shredding: every wrapped copy of the key set this appliance
 *      holds is overwritten and removed (keystore_shred): from here the
 *      repository is ciphertext nobody can read;
 *   3. the catalog marks the dataset shredded: every command refuses it
 *      and no schedule runs it;
 *   4. every file of the repository is overwritten, read back, fsync'd
 *      and unlinked (erase/wipe.h), directories removed bottom-up;
 *   5. the request is `done` and the execution's record says what was
 *      done, for the certificate.
 * Each step is idempotent, so resuming after a crash at any point redoes
 * at most the file it was in.
 */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "approval/quorum.h"
#include "approval/request.h"
#include "approval/store.h"
#include "catalog/catalog.h"
#include "conf/roles.h"
#include "erase/erased.h"
#include "erase/device.h"
#include "erase/wipe.h"
#include "keys/keystore.h"
#include "repo/maint.h"
#include "repo/repo.h"
#include "store/store.h"
#include "util/hex.h"
#include "util/log.h"

/* ---- progress, shared with the loop thread ---------------------------------- */

static void set_phase(struct erased *e, const uint8_t *id, const char *phase, uint64_t done,
		      uint64_t total)
{
	pthread_mutex_lock(&e->mu);
	if (id != NULL)
		memcpy(e->progress.id, id, ERASE_ID_LEN);
	e->progress.active = phase != NULL;
	snprintf(e->progress.phase, sizeof e->progress.phase, "%s", phase ? phase : "");
	e->progress.done = done;
	e->progress.total = total;
	pthread_mutex_unlock(&e->mu);
}

void erased_progress(struct erased *e, const uint8_t id[ERASE_ID_LEN], char *phase,
		     size_t size, uint64_t *done, uint64_t *total)
{
	pthread_mutex_lock(&e->mu);
	bool mine = e->progress.active && memcmp(e->progress.id, id, ERASE_ID_LEN) == 0;
	snprintf(phase, size, "%s", mine ? e->progress.phase : "");
	*done = mine ? e->progress.done : 0;
	*total = mine ? e->progress.total : 0;
	pthread_mutex_unlock(&e->mu);
}

static bool stopping(struct erased *e)
{
	pthread_mutex_lock(&e->mu);
	bool s = e->stop;
	pthread_mutex_unlock(&e->mu);
	return s;
}

/* ---- the repository's files ----------------------------------------------------- */

struct walk {
	struct erased *e;
	const uint8_t *id;
	enum wipe_method method;
	bool count_only;
	unsigned depth;                /* below the repository's directory */
	bool in_data;                  /* inside its data/: the files are packs */
	uint64_t files, bytes;         /* counted, or destroyed */
	uint64_t packs;                /* counted */
	uint64_t total;
	int err;
	char why[512];
};

static void on_progress(void *arg, uint64_t done, uint64_t total, unsigned pass, unsigned passes)
{
	struct walk *w = arg;
	(void)pass, (void)passes;
	/* A file's passes and read-back, scaled onto its size. */
	uint64_t part = total ? done / (passes + 1) : 0;
	pthread_mutex_lock(&w->e->mu);
	w->e->progress.done = w->bytes + part;
	pthread_mutex_unlock(&w->e->mu);
}

static void destroy_at(struct walk *w, int dfd, const char *name);

/* Destroys (or counts) what the directory name in dfd holds, then the directory. */
static void destroy_dir(struct walk *w, int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		w->err = -errno;
		snprintf(w->why, sizeof w->why, "cannot open the directory %.200s: %s", name,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	bool was_in_data = w->in_data;
	if (w->depth == 1 && strcmp(name, "data") == 0)
		w->in_data = true;
	w->depth++;
	while (w->err == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		destroy_at(w, dirfd(d), de->d_name);
	}
	w->depth--;
	w->in_data = was_in_data;
	closedir(d);
	if (w->err != 0 || w->count_only)
		return;
	if (unlinkat(dfd, name, AT_REMOVEDIR) != 0 || fsync(dfd) != 0) {
		w->err = -errno;
		snprintf(w->why, sizeof w->why, "cannot remove the directory %.200s: %s", name,
			 strerror(errno));
	}
}

static void destroy_at(struct walk *w, int dfd, const char *name)
{
	struct stat st;
	if (w->err == 0 && !w->count_only && stopping(w->e))
		w->err = -EINTR;
	if (w->err != 0)
		return;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		w->err = -errno;
		snprintf(w->why, sizeof w->why, "cannot stat %.200s: %s", name, strerror(errno));
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		destroy_dir(w, dfd, name);
		return;
	}
	if (w->count_only) {
		if (S_ISREG(st.st_mode)) {
			w->files++;
			w->bytes += (uint64_t)st.st_size;
			w->packs += w->in_data;
		}
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		/* Nothing of the dataset's data: a repository holds only regular files. */
		if (unlinkat(dfd, name, 0) != 0)
			w->err = -errno;
		return;
	}
	struct wipe_result res;
	int e = wipe_file_at(dfd, name, w->method, on_progress, w, &res);
	if (e != 0) {
		w->err = e;
		snprintf(w->why, sizeof w->why, "overwriting %.200s failed: %s (verification %s)",
			 name, coffer_strerror(e), wipe_verify_name(res.verify));
		return;
	}
	w->files++;
	w->bytes += (uint64_t)st.st_size;
	struct erase_store *s = erased_store(w->e);
	if (s != NULL)
		(void)erase_store_execution_file(s, w->id, (uint64_t)st.st_size, res.direct_write);
	pthread_mutex_lock(&w->e->mu);
	w->e->progress.done = w->bytes;
	pthread_mutex_unlock(&w->e->mu);
}

/* Walks the repository: counting when count_only, else destroying. */
static int walk_repository(struct walk *w, const char *repo)
{
	char parent[DATASET_PATH_MAX];
	const char *slash = strrchr(repo, '/');
	if (slash == NULL || slash == repo) {
		snprintf(w->why, sizeof w->why, "refusing to destroy %s: not a repository path", repo);
		return -EINVAL;
	}
	snprintf(parent, sizeof parent, "%.*s", (int)(slash - repo), repo);
	int dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(w->why, sizeof w->why, "cannot open %.400s: %s", parent, strerror(errno));
		return -errno;
	}
	struct stat st;
	if (fstatat(dfd, slash + 1, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		int e = errno;
		close(dfd);
		/* Gone: destroyed before a crash, or never made. Nothing is left to overwrite. */
		return e == ENOENT ? 0 : -e;
	}
	destroy_at(w, dfd, slash + 1);
	close(dfd);
	return w->err;
}

void erased_repo_totals(struct erased *e, const char *repo, uint64_t *packs, uint64_t *files,
			uint64_t *bytes)
{
	struct walk w = { .e = e, .count_only = true };
	(void)walk_repository(&w, repo);
	*packs = w.packs;
	*files = w.files;
	*bytes = w.bytes;
}

/* ---- one execution ------------------------------------------------------------ */

static void audit_step(struct erased *e, const struct erase_execution *x, const char *op,
		       const char *target, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void audit_step(struct erased *e, const struct erase_execution *x, const char *op,
		       const char *target, const char *fmt, ...)
{
	char outcome[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(outcome, sizeof outcome, fmt, ap);
	va_end(ap);
	daemon_audit(&e->c, x->executor_uid, "secadmin (erased executor)", op, target, NULL,
		     outcome);
}

static int shred_keys(struct erased *e, const struct erase_request *r, const uint8_t *id,
		      struct erase_execution *x, char *why, size_t size)
{
	char idhex[2 * ERASE_ID_LEN + 1], reason[128];
	unsigned remote = 0;
	erase_id_hex(id, idhex);
	snprintf(reason, sizeof reason, "destruction request %s", idhex);
	pthread_mutex_lock(&e->c.ks_lock);
	int err = e->c.ks != NULL ? keystore_shred(e->c.ks, r->keyset_id, reason, &remote) : -ENOENT;
	pthread_mutex_unlock(&e->c.ks_lock);
	if (err != 0) {
		snprintf(why, size, "the key set %s could not be destroyed: %s", r->keyset_id,
			 coffer_strerror(err));
		return err;
	}
	x->shredded = (int64_t)time(NULL);
	struct erase_store *s = erased_store(e);
	if (s != NULL)
		(void)erase_store_execution_shredded(s, id, x->shredded);
	audit_step(e, x, "erase shred", r->dataset,
		   "ok: key set %s destroyed on this appliance (request %s)%s", r->keyset_id,
		   idhex, remote ? "; copies exported to other sites remain theirs to destroy" : "");
	return 0;
}

static int mark_catalog(struct erased *e, const struct erase_request *r, char *why, size_t size)
{
	struct catalog *cat = NULL;
	struct dataset d;
	int err = catalog_open(e->c.a.state_dir, &cat);
	if (err == 0)
		err = catalog_get(cat, r->dataset, &d);
	if (err == 0 && strcmp(d.id, r->dataset_id) != 0)
		err = -ESTALE; /* another dataset took the name: it is not ours to touch */
	if (err == 0 && d.state != DATASET_SHREDDED)
		err = catalog_mark_shredded(cat, r->dataset, (int64_t)time(NULL));
	catalog_close(cat);
	if (err == -ENOENT || err == -ESTALE)
		return 0; /* the row is gone or is another dataset's now: nothing to mark */
	if (err != 0)
		snprintf(why, size, "the catalog could not mark '%s' destroyed: %s", r->dataset,
			 coffer_strerror(err));
	return err;
}

/* Steps 2-4 for a whole dataset; result says what was done. */
static int destroy_dataset(struct erased *e, const uint8_t *id, const struct erase_request *rq,
			   struct erase_execution *xp, char result[512], char *why, size_t size)
{
	const struct erase_request r = *rq;
	struct erase_execution x = *xp;
	struct erase_store *s = erased_store(e);
	int err;
	enum wipe_method method;
	if (wipe_method_parse(x.method, &method) != 0) {
		err = -EINVAL;
		snprintf(why, size, "unknown overwrite method '%s'", x.method);
		return err;
	}
	set_phase(e, id, "destroying the key set", 0, 0);
	if (x.shredded == 0 && (err = shred_keys(e, &r, id, &x, why, size)) != 0)
		return err;
	if ((err = mark_catalog(e, &r, why, size)) != 0)
		return err;
	struct walk w = { .e = e, .id = id, .method = method, .count_only = true };
	err = walk_repository(&w, r.repository);
	if (err != 0) {
		snprintf(why, size, "%s", w.why);
		return err;
	}
	char phase[128];
	snprintf(phase, sizeof phase, "overwriting %llu files (%s)", (unsigned long long)w.files,
		 x.method);
	set_phase(e, id, phase, 0, w.bytes);
	struct walk d = { .e = e, .id = id, .method = method, .total = w.bytes };
	err = walk_repository(&d, r.repository);
	if (err != 0) {
		snprintf(why, size, "%s", err == -EINTR ? "stopped: it resumes when coffer-erased "
							  "starts again" : d.why);
		return err;
	}
	(void)erase_store_execution_get(s, id, &x);
	snprintf(result, 512, "ok: key set destroyed; %llu files, %llu bytes "
		 "overwritten (%s), read back and verified, unlinked",
		 (unsigned long long)x.files, (unsigned long long)x.bytes, x.method);
	*xp = x;
	return 0;
}

/* Chosen snapshots: what their removal and the prune that follows would unlink is destroyed. */
struct snap_ctx {
	struct erased *e;
	const uint8_t *id;
	enum wipe_method method;
	uint64_t files, bytes;
};

static int destroy_removed(void *arg, int dirfd, const char *name)
{
	struct snap_ctx *c = arg;
	struct stat st;
	struct wipe_result res;
	uint64_t size = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? (uint64_t)st.st_size : 0;
	int err = wipe_file_at(dirfd, name, c->method, NULL, NULL, &res);
	if (err != 0) {
		log_errorx("overwriting %s failed: %s (verification %s)", name, coffer_strerror(err),
			   wipe_verify_name(res.verify));
		return err;
	}
	c->files++;
	c->bytes += size;
	struct erase_store *s = erased_store(c->e);
	if (s != NULL)
		(void)erase_store_execution_file(s, c->id, size, res.direct_write);
	pthread_mutex_lock(&c->e->mu);
	c->e->progress.done = c->bytes;
	pthread_mutex_unlock(&c->e->mu);
	return 0;
}

static int destroy_snapshots(struct erased *e, const uint8_t *id, const struct erase_request *r,
			     struct erase_execution *x, char result[512], char *why, size_t size)
{
	struct snap_ctx c = { .e = e, .id = id };
	struct repo *repo = NULL;
	struct dataset d;
	struct prune_result pr = { 0 };
	if (wipe_method_parse(x->method, &c.method) != 0) {
		snprintf(why, size, "unknown overwrite method '%s'", x->method);
		return -EINVAL;
	}
	set_phase(e, id, "opening the dataset", 0, 0);
	int err = daemon_open_dataset(&e->c, r->dataset, &d, &repo);
	if (err != 0) {
		snprintf(why, size, "dataset '%s' cannot be opened: %s", r->dataset,
			 err == -EPERM ? "the keystore is locked in coffer-erased (coffer keystore "
					 "unlock): removing snapshots needs the dataset's keys"
				       : coffer_strerror(err));
		return err;
	}
	if (strcmp(d.id, r->dataset_id) != 0) {
		repo_close(repo);
		snprintf(why, size, "dataset '%s' is not the one the request approved", r->dataset);
		return -ESTALE;
	}
	store_set_destroyer(repo_store(repo), destroy_removed, &c);
	set_phase(e, id, "destroying the snapshots", 0, 0);
	size_t gone = 0;
	for (size_t i = 0; err == 0 && i < r->n_snapshots; i++) {
		uint8_t sid[32];
		if (hex_decode(r->snapshots[i], sid, 32) != 0) {
			err = -EBADMSG;
			break;
		}
		err = repo_snapshot_remove(repo, sid);
		if (err == -ENOENT)
			err = 0; /* destroyed before a crash */
		else if (err == 0)
			gone++;
	}
	if (err == 0) {
		set_phase(e, id, "rewriting packs without the destroyed data", 0, 0);
		err = repo_prune(repo, &pr);
	}
	store_set_destroyer(repo_store(repo), NULL, NULL);
	repo_close(repo);
	if (err != 0) {
		snprintf(why, size, "destroying the snapshots of '%s' failed: %s", r->dataset,
			 coffer_strerror(err));
		return err;
	}
	(void)erase_store_execution_get(erased_store(e), id, x);
	snprintf(result, 512, "ok: %zu snapshot(s) destroyed; %llu packs rewritten without their "
		 "data; %llu files, %llu bytes overwritten (%s), read back and verified, unlinked",
		 r->n_snapshots, (unsigned long long)pr.packs_rewritten,
		 (unsigned long long)x->files, (unsigned long long)x->bytes, x->method);
	(void)gone;
	return 0;
}

/* For a decommissioned block device: the device approved, overwritten and verified, or purged. */
static int destroy_device(struct erased *e, const uint8_t *id, const struct erase_request *r,
			  struct erase_execution *x, char result[512], char *why, size_t size)
{
	struct device_info dev;
	struct wipe_result res;
	char ident[33];
	int fd = -1;
	set_phase(e, id, "checking the device", 0, 0);
	int err = device_probe(r->repository, &dev);
	if (err != 0) {
		snprintf(why, size, "%s", dev.why);
		return err;
	}
	erased_device_identity(&dev, ident);
	if (strcmp(ident, r->dataset_id) != 0) {
		snprintf(why, size, "%s is not the device the request approved (its identity "
			 "changed: another medium, or a resized one)", r->repository);
		return -ESTALE;
	}
	if ((err = device_open(&dev, &fd)) != 0) {
		snprintf(why, size, "cannot open %s exclusively: %s", r->repository,
			 coffer_strerror(err));
		return err;
	}
	char phase[128];
	snprintf(phase, sizeof phase, "%s %s", strcmp(x->method, "purge") == 0 ? "purging"
									 : "overwriting",
		 r->repository);
	set_phase(e, id, phase, 0, dev.size);
	struct walk w = { .e = e, .id = id };
	if (strcmp(x->method, "purge") == 0) {
		err = device_purge(fd, &dev, &res);
	} else {
		struct wipe_opts o = { .progress = on_progress, .arg = &w };
		(void)wipe_method_parse(x->method, &o.method);
		err = wipe_fd_ex(fd, WIPE_WHOLE, &o, &res);
	}
	close(fd);
	if (err != 0) {
		snprintf(why, size, "%s of %s failed: %s (verification %s%s%s)", x->method,
			 r->repository, coffer_strerror(err), wipe_verify_name(res.verify),
			 res.note[0] ? "; " : "", res.note);
		return err;
	}
	struct erase_store *s = erased_store(e);
	if (s != NULL)
		(void)erase_store_execution_file(s, id, res.length, res.direct_write);
	x->files = 1;
	x->bytes = res.length;
	snprintf(result, 512, "ok: device %s (%llu bytes) %s with %s (%s), %s: %s (%s)",
		 r->repository, (unsigned long long)res.length,
		 strcmp(x->method, "purge") == 0 ? "purged" : "overwritten", x->method,
		 res.pattern[0] ? res.pattern : res.method, res.nist,
		 wipe_verify_name(res.verify), wipe_read_path_name(res.read_path));
	return 0;
}

static int execute(struct erased *e, const uint8_t id[ERASE_ID_LEN], char *why, size_t size)
{
	struct erase_store *s = erased_store(e);
	struct buf enc = { 0 };
	struct erase_request r = { 0 };
	struct erase_execution x;
	enum erase_state state;
	int64_t since;
	char idhex[2 * ERASE_ID_LEN + 1];
	erase_id_hex(id, idhex);
	int err = s != NULL ? erase_store_request_get(s, id, &enc, &state, &since) : -EIO;
	if (err == 0 && state != ERASE_EXECUTING)
		err = -EALREADY;
	if (err == 0 && erase_request_parse(enc.data, enc.len, &r) != 0)
		err = -EBADMSG;
	if (err == 0)
		err = erase_store_execution_get(s, id, &x);
	if (err != 0) {
		snprintf(why, size, "request %s cannot be executed: %s", idhex, coffer_strerror(err));
		goto out;
	}
	char result[512];
	err = r.scope == ERASE_SCOPE_DEVICE      ? destroy_device(e, id, &r, &x, result, why, size)
	      : r.scope == ERASE_SCOPE_SNAPSHOTS ? destroy_snapshots(e, id, &r, &x, result, why, size)
						 : destroy_dataset(e, id, &r, &x, result, why, size);
	if (err != 0)
		goto out;
	err = erase_store_execution_finish(s, id, (int64_t)time(NULL), result);
	if (err == 0)
		err = erase_store_request_set_state(s, id, ERASE_EXECUTING, ERASE_DONE,
						    (int64_t)time(NULL));
	if (err != 0) {
		snprintf(why, size, "the execution's end could not be recorded: %s",
			 coffer_strerror(err));
		goto out;
	}
	audit_step(e, &x, "erase done", r.dataset, "%s (request %s)", result, idhex);
	log_info("destruction %s of dataset '%s' done: %s", idhex, r.dataset, result);
	char cwhy[512] = "";
	if (erased_issue_certificate(e, id, cwhy, sizeof cwhy) != 0)
		log_errorx("the certificate of %s is not issued yet: %s ('coffer erase certificate "
			   "%s' issues it once that is fixed)", idhex, cwhy, idhex);
out:
	erase_request_free(&r);
	buf_fini(&enc);
	return err;
}

/* ---- the executor thread ------------------------------------------------------------ */

/* The next request to run: one queued, else one left executing by a crash. */
static bool next_request(struct erased *e, uint8_t id[ERASE_ID_LEN])
{
	pthread_mutex_lock(&e->mu);
	while (!e->stop && !e->queued)
		pthread_cond_wait(&e->cv, &e->mu);
	bool got = !e->stop && e->queued;
	if (got) {
		memcpy(id, e->queue, ERASE_ID_LEN);
		e->queued = false;
	}
	pthread_mutex_unlock(&e->mu);
	return got;
}

static void *executor(void *arg)
{
	struct erased *e = arg;
	uint8_t id[ERASE_ID_LEN];
	while (next_request(e, id)) {
		char why[512] = "", idhex[2 * ERASE_ID_LEN + 1];
		erase_id_hex(id, idhex);
		int err = execute(e, id, why, sizeof why);
		set_phase(e, NULL, NULL, 0, 0);
		if (err != 0 && err != -EINTR) {
			struct erase_execution x = { 0 };
			struct erase_store *s = erased_store(e);
			if (s != NULL && erase_store_execution_get(s, id, &x) == 0) {
				char result[600];
				snprintf(result, sizeof result, "failed: %s", why);
				(void)erase_store_execution_finish(s, id, 0, result);
				audit_step(e, &x, "erase failed", idhex, "%s", result);
			}
			log_errorx("ALERT: destruction %s stopped: %s (the key set is destroyed once "
				   "that step is passed; run 'coffer erase execute %s' again to resume)",
				   idhex, why, idhex);
		}
	}
	return NULL;
}

int erased_execute_queue(struct erased *e, const uint8_t id[ERASE_ID_LEN])
{
	pthread_mutex_lock(&e->mu);
	int err = e->queued || e->progress.active ? -EBUSY : 0;
	if (err == 0) {
		memcpy(e->queue, id, ERASE_ID_LEN);
		e->queued = true;
		pthread_cond_signal(&e->cv);
	}
	pthread_mutex_unlock(&e->mu);
	return err;
}

int erased_executor_start(struct erased *e)
{
	int err = -pthread_create(&e->thread, NULL, executor, e);
	e->thread_started = err == 0;
	return err;
}

void erased_executor_stop(struct erased *e)
{
	if (!e->thread_started)
		return;
	pthread_mutex_lock(&e->mu);
	e->stop = true;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
	pthread_join(e->thread, NULL);
	e->thread_started = false;
}

/* At start: a request left executing by a crash or a stop resumes. */
void erased_resume(struct erased *e)
{
	struct erase_store *s = erased_store(e);
	uint8_t (*ids)[ERASE_ID_LEN] = NULL;
	size_t n = 0;
	if (s == NULL || erase_store_request_ids(s, &ids, &n) != 0)
		return;
	for (size_t i = n; i-- > 0;) {
		struct buf enc = { 0 };
		enum erase_state st;
		int64_t since;
		if (erase_store_request_get(s, ids[i], &enc, &st, &since) == 0 &&
		    st == ERASE_EXECUTING && erased_execute_queue(e, ids[i]) == 0) {
			char hex[2 * ERASE_ID_LEN + 1];
			erase_id_hex(ids[i], hex);
			log_warnx("resuming destruction %s, interrupted before it ended", hex);
			buf_fini(&enc);
			break; /* one at a time: the others follow when it is done */
		}
		buf_fini(&enc);
	}
	free(ids);
}
