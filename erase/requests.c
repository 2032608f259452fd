/*
 * Destruction requests and their approvals (docs/format/erase.md,
 * "Requests", "Approving"): a request is resolved to concrete things
 * (the dataset's ID, level, repository, key set, snapshot IDs, sites)
 * when it is made, and only that encoding is ever signed or counted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#include "approval/certificate.h"
#include "approval/quorum.h"
#include "approval/request.h"
#include "approval/store.h"
#include "audit/audit.h"
#include "catalog/catalog.h"
#include "crypto/pkey.h"
#include "conf/levels.h"
#include "conf/roles.h"
#include "crypto/crypto.h"
#include "erase/erased.h"
#include "erase/device.h"
#include "erase/wipe.h"
#include "keys/keystore.h"
#include "util/hex.h"
#include "util/log.h"

#define SNAPSHOT_PREFIX_MIN 8
#define SNAPSHOT_ID_HEX 64

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * The full ID of the snapshot spec names in REPO/snapshots (a unique
 * prefix of at least 8 hex digits). Only the names are read: no key is
 * needed to say which snapshots exist.
 */
static int resolve_snapshot(const char *repo, const char *spec, char out[SNAPSHOT_ID_HEX + 1],
			    char *why, size_t size)
{
	size_t n = strlen(spec);
	if (n < SNAPSHOT_PREFIX_MIN || n > SNAPSHOT_ID_HEX || !is_hex(spec, n)) {
		snprintf(why, size, "'%s' is not a snapshot ID (8 to 64 lower-case hex digits)", spec);
		return -EINVAL;
	}
	char dir[DATASET_PATH_MAX + 16];
	snprintf(dir, sizeof dir, "%s/snapshots", repo);
	DIR *d = opendir(dir);
	if (d == NULL) {
		snprintf(why, size, "cannot list the snapshots of %.400s: %s", repo, strerror(errno));
		return -EIO;
	}
	unsigned found = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != SNAPSHOT_ID_HEX || !is_hex(de->d_name, SNAPSHOT_ID_HEX) ||
		    strncmp(de->d_name, spec, n) != 0)
			continue;
		if (found++ == 0)
			memcpy(out, de->d_name, SNAPSHOT_ID_HEX + 1);
	}
	closedir(d);
	if (found == 1)
		return 0;
	snprintf(why, size, found == 0 ? "no snapshot %s in the dataset"
				       : "snapshot prefix %s is ambiguous: give more digits", spec);
	return found == 0 ? -ENOENT : -EINVAL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- erase request -------------------------------------------------------- */

struct request_in {
	char dataset[DATASET_NAME_MAX + 1];
	char **snapshots;
	uint32_t n_snapshots;
	char reason[ERASE_TEXT_MAX + 1], legal_basis[ERASE_TEXT_MAX + 1];
};

static void request_in_free(struct request_in *in)
{
	for (uint32_t i = 0; i < in->n_snapshots; i++)
		free(in->snapshots[i]);
	free(in->snapshots);
}

static int read_request(const struct ipc_msg *m, struct request_in *in)
{
	struct ipc_reader rd;
	uint32_t n = 0;
	ipc_reader_init(&rd, m);
	memset(in, 0, sizeof *in);
	int e = ipc_get_str(&rd, in->dataset, sizeof in->dataset);
	if (e == 0)
		e = ipc_get_list(&rd, &n);
	if (e == 0 && (in->snapshots = calloc(n ? n : 1, sizeof *in->snapshots)) == NULL)
		e = -ENOMEM;
	for (uint32_t i = 0; e == 0 && i < n; i++) {
		char id[65];
		e = ipc_get_str(&rd, id, sizeof id);
		if (e == 0 && (in->snapshots[i] = strdup(id)) == NULL)
			e = -ENOMEM;
		if (e == 0)
			in->n_snapshots++;
	}
	if (e == 0)
		e = ipc_get_str(&rd, in->reason, sizeof in->reason);
	if (e == 0)
		e = ipc_get_str(&rd, in->legal_basis, sizeof in->legal_basis);
	if (e == 0)
		e = ipc_end(&rd);
	return e;
}

/*
 * What every request takes from levels.conf and the caller: the level's
 * quorum and lifetime, the requester, this site, a fresh ID. *level_suite
 * gets the level's suite rule (LEVEL_SUITE_ANY or a suite).
 */
static int fill_common(struct erased *e, const struct peer_info *p, unsigned level,
		       struct erase_request *r, char *requester, char *site,
		       uint32_t *level_suite, char *why, size_t size)
{
	struct levels *lv = NULL;
	int err = levels_load(e->c.a.config_dir, e->c.a.state_dir, &lv);
	if (err != 0) {
		snprintf(why, size, "levels.conf cannot be read");
		return err;
	}
	const struct level *l = levels_find(lv, level);
	if (l == NULL) {
		snprintf(why, size, "level %u is not defined in levels.conf", level);
		levels_free(lv);
		return -EINVAL;
	}
	if ((err = crypto_random(r->id, ERASE_ID_LEN)) != 0) {
		levels_free(lv);
		return err;
	}
	r->created = (int64_t)time(NULL);
	r->expires = r->created + (int64_t)l->erase_expiry_s;
	r->approvals_needed = l->erase_approvals;
	r->supervisor_needed = 1;
	r->level = level;
	r->level_name = strdup(l->name);
	*level_suite = l->suite;
	levels_free(lv);
	user_name(p->uid, requester, APPROVER_USER_MAX + 1);
	r->requester_uid = p->uid;
	r->requester = requester;
	/* Replication does not exist yet: this appliance holds the only copy. */
	char ks[65] = "";
	if (e->c.ks != NULL)
		hex_encode(keystore_id(e->c.ks), 8, ks);
	snprintf(site, ERASE_SITE_MAX + 1, "this appliance (keystore %s)", ks[0] ? ks : "none");
	r->sites = calloc(1, sizeof *r->sites);
	if (r->level_name == NULL || r->sites == NULL)
		return -ENOMEM;
	r->sites[0] = site;
	r->n_sites = 1;
	return 0;
}

/*
 * Fills r from the catalog, levels.conf and the repository. r's strings
 * point into d, in and the allocated snapshot and site arrays.
 */
static int resolve(struct erased *e, const struct peer_info *p, const struct request_in *in,
		   struct dataset *d, struct erase_request *r, char *requester, char *site,
		   char *why, size_t size)
{
	struct catalog *cat = NULL;
	uint32_t level_suite;
	int err = catalog_open(e->c.a.state_dir, &cat);
	if (err == 0)
		err = catalog_get(cat, in->dataset, d);
	catalog_close(cat);
	if (err == -ENOENT) {
		snprintf(why, size, "no dataset '%s'", in->dataset);
		return err;
	}
	if (err != 0) {
		snprintf(why, size, "the catalog cannot be read: %s", coffer_strerror(err));
		return err;
	}
	if (d->state == DATASET_SHREDDED) {
		snprintf(why, size, "dataset '%s' was destroyed already", d->name);
		return -EALREADY;
	}
	if ((err = fill_common(e, p, d->level, r, requester, site, &level_suite, why, size)) != 0)
		return err;
	r->suite = d->suite;
	r->dataset = d->name;
	r->dataset_id = d->id;
	r->keyset_id = d->id;
	r->repository = d->repo;
	r->reason = (char *)in->reason;
	r->legal_basis = (char *)in->legal_basis;
	r->scope = in->n_snapshots ? ERASE_SCOPE_SNAPSHOTS : ERASE_SCOPE_DATASET;
	r->snapshots = calloc(in->n_snapshots ? in->n_snapshots : 1, sizeof *r->snapshots);
	if (r->snapshots == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < in->n_snapshots; i++) {
		char *full = malloc(SNAPSHOT_ID_HEX + 1);
		if (full == NULL)
			return -ENOMEM;
		r->snapshots[r->n_snapshots++] = full;
		if ((err = resolve_snapshot(d->repo, in->snapshots[i], full, why, size)) != 0)
			return err;
	}
	qsort(r->snapshots, r->n_snapshots, sizeof *r->snapshots, cmp_str);
	for (size_t i = 1; i < r->n_snapshots; i++)
		if (strcmp(r->snapshots[i - 1], r->snapshots[i]) == 0) {
			snprintf(why, size, "snapshot %.16s... is named twice", r->snapshots[i]);
			return -EINVAL;
		}
	return 0;
}

/* Frees what resolve allocated (the rest of r is borrowed). */
static void resolved_free(struct erase_request *r)
{
	for (size_t i = 0; i < r->n_snapshots; i++)
		free(r->snapshots[i]);
	free(r->snapshots);
	free(r->sites);
	free(r->level_name);
}

/* Encodes r, stores it pending and replies with its ID, digest and statement. */
static void submit(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		   struct erased *e, struct erase_request *r, int err, char *why)
{
	struct buf enc = { 0 }, st = { 0 };
	uint8_t digest[32];
	struct daemon_capture cap;
	daemon_capture_begin(&cap);
	if (err == 0)
		err = erase_request_encode(r, &enc);
	if (err == 0)
		err = erase_request_digest(r->suite, enc.data, enc.len, digest);
	if (err == 0)
		err = erase_statement(r->id, digest, &st);
	struct erase_store *store = err == 0 ? erased_store(e) : NULL;
	if (err == 0)
		err = store != NULL ? erase_store_request_add(store, r->id, enc.data, enc.len) : -EIO;
	daemon_capture_end();
	if (err != 0) {
		if (why[0])
			server_error(s, p, m->reqid, -err, "%s", why);
		else
			daemon_fail(s, p, m, err, &cap, "the request could not be made");
		goto out;
	}
	char idhex[2 * ERASE_ID_LEN + 1], dhex[65];
	erase_id_hex(r->id, idhex);
	hex_encode(digest, 32, dhex);
	log_info("destruction request %s by %s: %s '%s'%s; needs %u approvals and the supervisor",
		 idhex, r->requester,
		 r->scope == ERASE_SCOPE_DEVICE ? "the device" : r->scope == ERASE_SCOPE_DATASET
									? "all of dataset"
									: "snapshots of dataset",
		 r->dataset, r->scope == ERASE_SCOPE_SNAPSHOTS ? " (chosen snapshots)" : "",
		 r->approvals_needed);
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	ipc_put_str(&w, idhex);
	ipc_put_str(&w, dhex);
	ipc_put_strn(&w, (const char *)st.data, st.len);
	ipc_put_i64(&w, r->expires);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
out:
	buf_fini(&enc);
	buf_fini(&st);
}

static bool has_reason(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		       const char *reason, const char *legal)
{
	if (reason[0] != 0 && legal[0] != 0)
		return true;
	server_error(s, p, m->reqid, EINVAL, "a destruction request needs a reason and its legal "
		     "basis (--reason, --legal-basis)");
	return false;
}

/*
 * The open whole-dataset or device request (pending and not expired, or
 * executing) for the same dataset or device, if any: a second one is
 * refused, so an automatic filing never piles up requests. Requests for
 * chosen snapshots may stand beside it.
 */
static int open_request_for(struct erased *e, const char *dataset_id, char out[33])
{
	struct erase_store *st = erased_store(e);
	uint8_t (*ids)[ERASE_ID_LEN] = NULL;
	size_t n = 0;
	int found = 0;
	if (st == NULL || erase_store_request_ids(st, &ids, &n) != 0)
		return 0;
	for (size_t i = 0; i < n && !found; i++) {
		struct buf enc = { 0 };
		struct erase_request r;
		enum erase_state state;
		int64_t since;
		if (erase_store_request_get(st, ids[i], &enc, &state, &since) == 0 &&
		    (state == ERASE_PENDING || state == ERASE_EXECUTING) &&
		    erase_request_parse(enc.data, enc.len, &r) == 0) {
			found = strcmp(r.dataset_id, dataset_id) == 0 &&
				r.scope != ERASE_SCOPE_SNAPSHOTS &&
				(state == ERASE_EXECUTING || (int64_t)time(NULL) < r.expires);
			if (found)
				erase_id_hex(ids[i], out);
			erase_request_free(&r);
		}
		buf_fini(&enc);
	}
	free(ids);
	return found;
}

void erased_h_request(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		      void *arg)
{
	struct erased *e = arg;
	struct request_in in;
	struct dataset d;
	struct erase_request r = { 0 };
	char requester[APPROVER_USER_MAX + 1], site[ERASE_SITE_MAX + 1], why[512] = "";
	int err = read_request(m, &in);
	if (err != 0)
		server_error(s, p, m->reqid, err == -ENOMEM ? ENOMEM : EPROTO, "malformed request");
	else if (has_reason(s, p, m, in.reason, in.legal_basis)) {
		err = resolve(e, p, &in, &d, &r, requester, site, why, sizeof why);
		char open_id[33];
		if (err == 0 && r.scope == ERASE_SCOPE_DATASET &&
		    open_request_for(e, r.dataset_id, open_id)) {
			snprintf(why, sizeof why, "request %s for dataset '%s' is open already (it "
				 "is pending or executing)", open_id, d.name);
			err = -EEXIST;
		}
		submit(s, p, m, e, &r, err, why);
	}
	resolved_free(&r);
	request_in_free(&in);
}

/*
 * A device's identity: what execution checks it is still the device
 * approved. The first 32 hex digits of SHA-256 over what the kernel and
 * the device say it is.
 */
void erased_device_identity(const struct device_info *d, char out[33])
{
	char text[512];
	uint8_t h[32];
	char hex[65];
	int n = snprintf(text, sizeof text, "%s|%u:%u|%llu|%s|%s", d->name, d->major, d->minor,
			 (unsigned long long)d->size, d->model, d->serial);
	(void)suite_hash(suite_by_id(SUITE_INTERNATIONAL), text, (size_t)n, h);
	hex_encode(h, 32, hex);
	memcpy(out, hex, 32);
	out[32] = 0;
}

void erased_h_request_device(struct server *s, const struct peer_info *p,
			     const struct ipc_msg *m, void *arg)
{
	struct erased *e = arg;
	struct ipc_reader rd;
	char path[65], reason[ERASE_TEXT_MAX + 1], legal[ERASE_TEXT_MAX + 1], why[512] = "";
	char requester[APPROVER_USER_MAX + 1], site[ERASE_SITE_MAX + 1], ident[33];
	uint32_t level = 0, level_suite = 0;
	struct erase_request r = { 0 };
	struct device_info dev;
	ipc_reader_init(&rd, m);
	(void)ipc_get_str(&rd, path, sizeof path);
	(void)ipc_get_u32(&rd, &level);
	(void)ipc_get_str(&rd, reason, sizeof reason);
	(void)ipc_get_str(&rd, legal, sizeof legal);
	if (ipc_end(&rd) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	if (!has_reason(s, p, m, reason, legal))
		return;
	int err = device_probe(path, &dev);
	if (err != 0) {
		server_error(s, p, m->reqid, -err, "%s", dev.why);
		return;
	}
	erased_device_identity(&dev, ident);
	err = fill_common(e, p, level, &r, requester, site, &level_suite, why, sizeof why);
	if (err == 0) {
		r.suite = level_suite != LEVEL_SUITE_ANY ? level_suite
			  : e->c.ks != NULL ? keystore_suite(e->c.ks) : SUITE_INTERNATIONAL;
		r.scope = ERASE_SCOPE_DEVICE;
		r.dataset = path;
		r.dataset_id = ident;
		r.repository = path;
		r.keyset_id = "none";
		r.reason = reason;
		r.legal_basis = legal;
		if (path[0] != '/') {
			snprintf(why, sizeof why, "give the device as an absolute path (/dev/...)");
			err = -EINVAL;
		}
	}
	char open_id[33];
	if (err == 0 && open_request_for(e, r.dataset_id, open_id)) {
		snprintf(why, sizeof why, "request %s for device %s is open already", open_id, path);
		err = -EEXIST;
	}
	submit(s, p, m, e, &r, err, why);
	resolved_free(&r);
}

/* ---- loading and counting -------------------------------------------------- */

struct loaded {
	uint8_t id[ERASE_ID_LEN];
	struct buf enc;
	struct erase_request r;
	enum erase_state state;
	int64_t since;
	struct approver *reg;
	size_t n_reg;
	struct approval *aps;
	size_t n_aps;
	char (*why)[APPROVAL_WHY_MAX];
	struct quorum q;
};

static void loaded_free(struct loaded *l)
{
	buf_fini(&l->enc);
	erase_request_free(&l->r);
	erase_store_approvers_free(l->reg, l->n_reg);
	erase_store_approvals_free(l->aps, l->n_aps);
	free(l->why);
}

/* The request, the registry, the signatures and their count now; why says what failed. */
static int load(struct erased *e, const char *idhex, struct loaded *l, char *why, size_t size)
{
	memset(l, 0, sizeof *l);
	if (erase_id_parse(idhex, l->id) != 0) {
		snprintf(why, size, "'%s' is not a request ID (32 hex digits)", idhex);
		return -EINVAL;
	}
	struct erase_store *st = erased_store(e);
	if (st == NULL)
		return -EIO;
	int err = erase_store_request_get(st, l->id, &l->enc, &l->state, &l->since);
	if (err == -ENOENT) {
		snprintf(why, size, "no destruction request %s", idhex);
		return err;
	}
	if (err == 0 && erase_request_parse(l->enc.data, l->enc.len, &l->r) != 0) {
		snprintf(why, size, "the stored request %s is damaged: it cannot be executed, and "
			 "no signature of it can count", idhex);
		return -EBADMSG;
	}
	if (err == 0)
		err = erase_store_approvers(st, &l->reg, &l->n_reg);
	if (err == 0)
		err = erase_store_approvals(st, l->id, &l->aps, &l->n_aps);
	if (err == 0 && (l->why = calloc(l->n_aps ? l->n_aps : 1, sizeof *l->why)) == NULL)
		err = -ENOMEM;
	if (err == 0)
		err = quorum_count(&l->r, l->enc.data, l->enc.len, l->reg, l->n_reg, l->aps, l->n_aps,
				   (int64_t)time(NULL), &l->q, l->why);
	return err;
}

static const struct approver *registered(const struct loaded *l, const char *name)
{
	for (size_t i = 0; i < l->n_reg; i++)
		if (strcmp(l->reg[i].name, name) == 0)
			return &l->reg[i];
	return NULL;
}

/* The state as people read it: a pending request past its expiry is expired. */
static const char *state_text(const struct loaded *l)
{
	if (l->state == ERASE_PENDING && l->q.expired)
		return "expired";
	return erase_state_name(l->state);
}

/* The execution of request id, if one began: a list of zero or one. */
static void put_execution(struct erased *e, struct ipc_writer *w, const uint8_t *id)
{
	struct erase_execution x;
	struct erase_store *st = erased_store(e);
	if (st == NULL || erase_store_execution_get(st, id, &x) != 0) {
		ipc_put_list(w, 0);
		return;
	}
	char phase[128];
	uint64_t done, total;
	erased_progress(e, id, phase, sizeof phase, &done, &total);
	ipc_put_list(w, 1);
	ipc_put_i64(w, x.started);
	ipc_put_i64(w, x.finished);
	ipc_put_str(w, x.executor);
	ipc_put_str(w, x.method);
	ipc_put_i64(w, x.shredded);
	ipc_put_u64(w, x.files);
	ipc_put_u64(w, x.bytes);
	ipc_put_u64(w, x.direct_files);
	ipc_put_str(w, x.result);
	ipc_put_str(w, phase);
	ipc_put_u64(w, done);
	ipc_put_u64(w, total);
}

static const char *scope_name(enum erase_scope sc)
{
	return sc == ERASE_SCOPE_DATASET ? "dataset" : sc == ERASE_SCOPE_DEVICE ? "device"
										  : "snapshots";
}

static void put_quorum(struct ipc_writer *w, const struct quorum *q)
{
	ipc_put_u32(w, q->approvers);
	ipc_put_u32(w, q->approvers_needed);
	ipc_put_u32(w, q->supervisors);
	ipc_put_u8(w, q->met);
	ipc_put_str(w, q->missing);
}

static int read_id(const struct ipc_msg *m, char *id, size_t size)
{
	struct ipc_reader rd;
	ipc_reader_init(&rd, m);
	int e = ipc_get_str(&rd, id, size);
	return e == 0 ? ipc_end(&rd) : e;
}

static void fail_load(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		      int err, const struct daemon_capture *cap, const char *why)
{
	if (why[0])
		server_error(s, p, m->reqid, -err, "%s", why);
	else
		daemon_fail(s, p, m, err, cap, "the request could not be read");
}

/* load() with its failure answered; 0, or the error already sent. */
static int load_answered(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			 struct erased *e, const char *idhex, struct loaded *l)
{
	char why[512] = "";
	struct daemon_capture cap;
	daemon_capture_begin(&cap);
	int err = load(e, idhex, l, why, sizeof why);
	daemon_capture_end();
	if (err != 0)
		fail_load(s, p, m, err, &cap, why);
	return err;
}

void erased_h_show(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		   void *arg)
{
	struct erased *e = arg;
	char idhex[2 * ERASE_ID_LEN + 1];
	struct loaded l;
	if (read_id(m, idhex, sizeof idhex) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	if (load_answered(s, p, m, e, idhex, &l) != 0) {
		loaded_free(&l);
		return;
	}
	const struct erase_request *r = &l.r;
	uint64_t packs = 0, files = 0, bytes = 0;
	if ((l.state == ERASE_PENDING || l.state == ERASE_EXECUTING) && r->scope != ERASE_SCOPE_DEVICE)
		erased_repo_totals(e, r->repository, &packs, &files, &bytes);
	uint8_t digest[32];
	char dhex[65];
	struct buf st = { 0 };
	(void)erase_request_digest(r->suite, l.enc.data, l.enc.len, digest);
	(void)erase_statement(r->id, digest, &st);
	hex_encode(digest, 32, dhex);
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	ipc_put_str(&w, idhex);
	ipc_put_str(&w, state_text(&l));
	ipc_put_i64(&w, l.since);
	ipc_put_str(&w, erased_suite_name(r->suite));
	ipc_put_i64(&w, r->created);
	ipc_put_i64(&w, r->expires);
	ipc_put_str(&w, r->requester);
	ipc_put_u32(&w, r->requester_uid);
	ipc_put_str(&w, r->dataset);
	ipc_put_str(&w, r->dataset_id);
	ipc_put_u32(&w, r->level);
	ipc_put_str(&w, r->level_name);
	ipc_put_str(&w, scope_name(r->scope));
	ipc_put_list(&w, (uint32_t)r->n_snapshots);
	for (size_t i = 0; i < r->n_snapshots; i++)
		ipc_put_str(&w, r->snapshots[i]);
	ipc_put_str(&w, r->repository);
	ipc_put_u64(&w, packs);
	ipc_put_u64(&w, files);
	ipc_put_u64(&w, bytes);
	ipc_put_str(&w, r->keyset_id);
	ipc_put_list(&w, (uint32_t)r->n_sites);
	for (size_t i = 0; i < r->n_sites; i++)
		ipc_put_str(&w, r->sites[i]);
	ipc_put_str(&w, r->reason);
	ipc_put_str(&w, r->legal_basis);
	size_t shown = l.n_aps < 64 ? l.n_aps : 64;
	ipc_put_list(&w, (uint32_t)shown);
	for (size_t i = 0; i < shown; i++) {
		const struct approver *a = registered(&l, l.aps[i].approver);
		ipc_put_str(&w, l.aps[i].approver);
		ipc_put_str(&w, a != NULL ? approver_role_name(a->role) : "unknown");
		ipc_put_i64(&w, l.aps[i].time);
		ipc_put_u32(&w, l.aps[i].by_uid);
		ipc_put_u8(&w, l.why[i][0] == 0);
		ipc_put_str(&w, l.why[i]);
	}
	put_quorum(&w, &l.q);
	ipc_put_str(&w, dhex);
	ipc_put_strn(&w, (const char *)st.data, st.len);
	put_execution(e, &w, l.id);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
	buf_fini(&st);
	loaded_free(&l);
}

void erased_h_execute(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		      void *arg)
{
	struct erased *e = arg;
	struct ipc_reader rd;
	char idhex[2 * ERASE_ID_LEN + 1], method[17];
	ipc_reader_init(&rd, m);
	(void)ipc_get_str(&rd, idhex, sizeof idhex);
	(void)ipc_get_str(&rd, method, sizeof method);
	if (ipc_end(&rd) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	struct loaded l;
	struct daemon_capture cap;
	int err = load_answered(s, p, m, e, idhex, &l);
	if (err != 0)
		goto out;
	if (l.state == ERASE_DONE || l.state == ERASE_CANCELLED) {
		server_error(s, p, m->reqid, EALREADY, "request %s is %s", idhex,
			     erase_state_name(l.state));
		goto out;
	}
	if (l.state == ERASE_PENDING && !l.q.met) {
		server_error(s, p, m->reqid, EPERM, "request %s cannot be executed without its full "
			     "quorum: %s", idhex, l.q.missing);
		goto out;
	}
	struct erase_execution x = { .started = (int64_t)time(NULL), .executor_uid = p->uid };
	user_name(p->uid, x.executor, sizeof x.executor);
	bool method_given = method[0] != 0;
	if (method[0] == 0)
		/* The national suite's datasets follow the Chinese secrecy rules' pattern. */
		snprintf(method, sizeof method, "%s", l.r.suite == SUITE_NATIONAL ? "bmb21" : "random");
	enum wipe_method wm;
	bool purge = strcmp(method, "purge") == 0 && l.r.scope == ERASE_SCOPE_DEVICE;
	if (!purge && wipe_method_parse(method, &wm) != 0) {
		server_error(s, p, m->reqid, EINVAL, "unknown method '%s': zero, random or bmb21 "
			     "(purge for a device)", method);
		goto out;
	}
	snprintf(x.method, sizeof x.method, "%s", purge ? "purge" : wipe_method_name(wm));
	struct erase_store *st = erased_store(e);
	daemon_capture_begin(&cap);
	if (l.state == ERASE_PENDING) {
		/* Durable before anything is destroyed: from here it only goes forward. */
		err = erase_store_execution_begin(st, l.id, &x);
		if (err == 0 || err == -EEXIST)
			err = erase_store_request_set_state(st, l.id, ERASE_PENDING, ERASE_EXECUTING,
							    x.started);
	} else if (l.r.scope == ERASE_SCOPE_DEVICE && method_given) {
		/*
		 * A device whose attempt failed (a Purge it does not support, say) may be
		 * retried with another method: nothing of it counts as done yet.
		 */
		struct erase_execution was;
		if (erase_store_execution_get(st, l.id, &was) == 0 &&
		    strncmp(was.result, "failed", 6) == 0 && strcmp(was.method, x.method) != 0)
			err = erase_store_execution_method(st, l.id, x.method);
	}
	if (err == 0)
		err = erased_execute_queue(e, l.id);
	daemon_capture_end();
	if (err == -EBUSY) {
		server_error(s, p, m->reqid, EBUSY, "another destruction is running; request %s "
			     "is executing and starts after it (or at the next start)", idhex);
		goto out;
	}
	if (err != 0) {
		daemon_fail(s, p, m, err, &cap, "the execution could not be started");
		goto out;
	}
	struct erase_execution now;
	if (erase_store_execution_get(st, l.id, &now) == 0)
		snprintf(method, sizeof method, "%s", now.method);
	log_info("destruction %s of dataset '%s' started by %s (%s)", idhex, l.r.dataset,
		 x.executor, method);
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	ipc_put_str(&w, method);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
out:
	loaded_free(&l);
}

void erased_h_approve(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		      void *arg)
{
	struct erased *e = arg;
	struct ipc_reader rd;
	char idhex[2 * ERASE_ID_LEN + 1], name[APPROVER_NAME_MAX + 1], why[512] = "";
	const uint8_t *sig;
	size_t sig_len;
	ipc_reader_init(&rd, m);
	(void)ipc_get_str(&rd, idhex, sizeof idhex);
	(void)ipc_get_str(&rd, name, sizeof name);
	(void)ipc_get_ref(&rd, &sig, &sig_len);
	if (ipc_end(&rd) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	struct loaded l;
	struct daemon_capture cap;
	int err = load_answered(s, p, m, e, idhex, &l);
	if (err != 0)
		goto out;
	if (l.state != ERASE_PENDING) {
		server_error(s, p, m->reqid, EPERM, "request %s is %s: it takes no more approvals",
			     idhex, erase_state_name(l.state));
		goto out;
	}
	const struct approver *a = registered(&l, name);
	if (a == NULL) {
		server_error(s, p, m->reqid, ENOENT, "no approver named '%s' (coffer approver list)",
			     name);
		goto out;
	}
	char reason[APPROVAL_WHY_MAX];
	err = approval_check(&l.r, l.enc.data, l.enc.len, a, sig, sig_len, (int64_t)time(NULL),
			     reason, sizeof reason);
	if (err != 0) {
		server_error(s, p, m->reqid, -err, "the approval is refused: %s", reason);
		goto out;
	}
	struct approval ap = { .sig = sig, .sig_len = sig_len, .time = (int64_t)time(NULL),
			       .by_uid = p->uid };
	snprintf(ap.approver, sizeof ap.approver, "%s", a->name);
	daemon_capture_begin(&cap);
	err = erase_store_approval_add(erased_store(e), l.id, &ap);
	daemon_capture_end();
	if (err != 0) {
		daemon_fail(s, p, m, err, &cap, "the approval could not be stored");
		goto out;
	}
	enum approver_role role = a->role; /* a lives in l, reloaded now */
	loaded_free(&l);
	if ((err = load(e, idhex, &l, why, sizeof why)) != 0) {
		fail_load(s, p, m, err, NULL, why);
		goto out;
	}
	log_info("request %s approved by %s '%s' (%u of %u approvals%s)", idhex,
		 approver_role_name(role), name, l.q.approvers, l.q.approvers_needed,
		 l.q.supervisors ? ", supervisor's given" : ", supervisor's missing");
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	put_quorum(&w, &l.q);
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
out:
	loaded_free(&l);
}

void erased_h_list(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
		   void *arg)
{
	struct erased *e = arg;
	struct erase_store *st = erased_store(e);
	uint8_t (*ids)[ERASE_ID_LEN] = NULL;
	size_t n = 0;
	struct daemon_capture cap;
	daemon_capture_begin(&cap);
	int err = st != NULL ? erase_store_request_ids(st, &ids, &n) : -EIO;
	daemon_capture_end();
	if (err != 0) {
		daemon_fail(s, p, m, err, &cap, "the requests could not be read");
		return;
	}
	struct ipc_writer w;
	daemon_reply_init(&w, m);
	size_t shown = n < 10000 ? n : 10000;
	ipc_put_list(&w, (uint32_t)shown);
	for (size_t i = 0; i < shown; i++) {
		char idhex[2 * ERASE_ID_LEN + 1], why[256] = "";
		struct loaded l;
		erase_id_hex(ids[i], idhex);
		bool ok = load(e, idhex, &l, why, sizeof why) == 0;
		ipc_put_str(&w, idhex);
		ipc_put_str(&w, ok ? state_text(&l) : "damaged");
		ipc_put_str(&w, ok ? l.r.dataset : "");
		ipc_put_str(&w, ok ? scope_name(l.r.scope) : "");
		ipc_put_i64(&w, ok ? l.r.created : 0);
		ipc_put_i64(&w, ok ? l.r.expires : 0);
		ipc_put_str(&w, ok ? l.r.requester : "");
		ipc_put_u8(&w, ok && l.q.met);
		loaded_free(&l);
	}
	server_reply(s, p, &w);
	ipc_writer_fini(&w);
	free(ids);
}

/* ---- the certificate ------------------------------------------------------------ */

/* The filesystem a path is on, as the certificate names it. */
static const char *fs_name(const char *path)
{
	struct statfs sf;
	if (statfs(path, &sf) != 0)
		return "an unknown filesystem";
	switch ((unsigned long)sf.f_type) {
	case 0xEF53: return "ext4 (or ext2/3)";
	case 0x58465342: return "XFS";
	case 0x9123683E: return "btrfs (copy-on-write)";
	case 0x2FC12FC1: return "ZFS (copy-on-write)";
	case 0x01021994: return "tmpfs";
	case 0x794c7630: return "overlayfs";
	default: return "another filesystem";
	}
}

/* The fingerprint (hex) of the appliance key, the audit trail's signing key. */
static int appliance_fingerprint(struct erased *e, char out[65])
{
	struct buf pem = { 0 };
	struct pkey *k = NULL;
	uint8_t fp[32];
	int err = audit_public_pem(e->c.audit, &pem);
	if (err == 0)
		err = pkey_from_public_pem(pem.data, pem.len, PKEY_SIGN, &k);
	if (err == 0)
		err = pkey_fingerprint(k, fp);
	if (err == 0)
		hex_encode(fp, 32, out);
	pkey_free(k);
	buf_fini(&pem);
	return err;
}

int erased_issue_certificate(struct erased *e, const uint8_t id[ERASE_ID_LEN], char *why,
			     size_t size)
{
	char idhex[2 * ERASE_ID_LEN + 1], fp[65], media[4200], method[128], pattern[96];
	struct loaded l;
	struct erase_execution x;
	struct buf cert = { 0 }, sig = { 0 };
	struct approver *who = NULL;
	struct approval *aps = NULL;
	erase_id_hex(id, idhex);
	int err = load(e, idhex, &l, why, size);
	struct erase_store *st = erased_store(e);
	if (err == 0)
		err = erase_store_execution_get(st, id, &x);
	if (err == 0 && (l.state != ERASE_DONE || x.finished == 0)) {
		snprintf(why, size, "request %s is %s: a certificate is issued when it is done",
			 idhex, state_text(&l));
		err = -EAGAIN;
	}
	if (err != 0)
		goto out;
	/* The signatures that counted at execution, with their approvers. */
	who = calloc(l.n_aps ? l.n_aps : 1, sizeof *who);
	aps = calloc(l.n_aps ? l.n_aps : 1, sizeof *aps);
	size_t n = 0;
	if (who == NULL || aps == NULL) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < l.n_aps; i++) {
		const struct approver *a = registered(&l, l.aps[i].approver);
		char awhy[APPROVAL_WHY_MAX];
		bool dup = false;
		for (size_t k = 0; k < n; k++)
			dup = dup || strcmp(who[k].name, l.aps[i].approver) == 0;
		if (a == NULL || dup)
			continue;
		/* As counted when the execution began: a later revocation does not undo it. */
		who[n] = *a;
		if (who[n].revoked > x.started)
			who[n].revoked = 0;
		if (approval_check(&l.r, l.enc.data, l.enc.len, &who[n], l.aps[i].sig,
				   l.aps[i].sig_len, x.started, awhy, sizeof awhy) == 0)
			aps[n++] = l.aps[i];
	}
	enum wipe_method wm;
	struct wipe_pattern pat;
	if (wipe_method_parse(x.method, &wm) != 0 || wipe_method_pattern(wm, &pat) != 0 ||
	    wipe_pattern_format(&pat, pattern, sizeof pattern) != 0)
		snprintf(pattern, sizeof pattern, "?");
	snprintf(method, sizeof method, "%s: %s", x.method, pattern);
	char pool[DATASET_PATH_MAX];
	snprintf(pool, sizeof pool, "%s", l.r.repository);
	char *slash = strrchr(pool, '/');
	if (slash != NULL && slash != pool)
		*slash = 0;
	bool device = l.r.scope == ERASE_SCOPE_DEVICE, purge = strcmp(x.method, "purge") == 0;
	char keys[128], t[32];
	struct tm tm;
	time_t shred_t = (time_t)x.shredded;
	if (gmtime_r(&shred_t, &tm) == NULL || strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(t, sizeof t, "?");
	snprintf(keys, sizeof keys, "%s %s", l.r.keyset_id, t);
	bool snaps = l.r.scope == ERASE_SCOPE_SNAPSHOTS;
	if (snaps)
		snprintf(keys, sizeof keys, "none (the key set stays: the kept snapshots use it)");
	if (device) {
		snprintf(media, sizeof media, "block device %s, identity %s (kernel name, numbers, "
			 "size, model and serial at the request)", l.r.repository, l.r.dataset_id);
		snprintf(keys, sizeof keys, "none (a device, not a dataset)");
		if (purge)
			snprintf(method, sizeof method, "purge: the device's secure erase (BLKSECDISCARD)");
	} else {
		snprintf(media, sizeof media, "files of repository %s on %s%s", l.r.repository,
			 fs_name(pool), snaps ? ": the chosen snapshots, and the packs and index "
						"files that held their data (rewritten without it)"
					      : "");
	}
	if ((err = appliance_fingerprint(e, fp)) != 0) {
		snprintf(why, size, "the appliance key cannot be read: %s", coffer_strerror(err));
		goto out;
	}
	struct cert_input in = { .r = &l.r, .enc = l.enc.data, .enc_len = l.enc.len,
				 .approvers = who, .approvals = aps, .n_approvals = n, .x = &x,
				 .scope = device ? "device" : snaps ? "chosen snapshots" : "whole dataset",
				 .media = media,
				 .keys_destroyed = keys,
				 .method_type = purge ? "Purge (NIST SP 800-88 Rev. 2, IEEE 2883): the "
							"device's secure erase"
						      : device ? "Clear (NIST SP 800-88 Rev. 2, IEEE 2883): "
								 "overwrite of every addressable block, "
								 "verified"
						      : snaps ? "Clear (overwrite, verified) of every file "
								"that held their data; data the kept "
								"snapshots share stays"
							       : "Clear (overwrite, verified), after "
								 "cryptographic erase of the key set",
				 .verification = purge ? "sampled read-back from the device (64 blocks): "
							 "passed"
						       : device ? "full read-back of the final pass from "
								  "the device: passed"
								: "full read-back of the final pass of "
								  "every file: passed",
				 .method = method, .appliance = fp,
				 .issued = (int64_t)time(NULL) };
	err = cert_build(&in, &cert);
	if (err == 0 && (err = audit_sign(e->c.audit, cert.data, cert.len, &sig)) != 0)
		snprintf(why, size, "the certificate cannot be signed: %s",
			 err == -EPERM ? "this daemon cannot read the appliance key (audit/sign.key)"
				       : coffer_strerror(err));
	if (err == 0)
		err = cert_append_signature(&cert, sig.data, sig.len);
	if (err == 0)
		err = erase_store_certificate_put(st, id, cert.data, cert.len);
	if (err == 0) {
		uint8_t digest[32];
		(void)suite_hash(suite_by_id(audit_suite(e->c.audit)), cert.data, cert.len, digest);
		daemon_audit(&e->c, x.executor_uid, "secadmin (erased executor)", "erase certificate",
			     l.r.dataset, digest, "ok: certificate of sanitization issued and signed");
	} else if (why[0] == 0) {
		snprintf(why, size, "the certificate cannot be issued: %s", coffer_strerror(err));
	}
out:
	free(who);
	free(aps);
	buf_fini(&cert);
	buf_fini(&sig);
	loaded_free(&l);
	return err;
}

void erased_h_certificate(struct server *s, const struct peer_info *p, const struct ipc_msg *m,
			  void *arg)
{
	struct erased *e = arg;
	char idhex[2 * ERASE_ID_LEN + 1], why[512] = "";
	uint8_t id[ERASE_ID_LEN];
	struct buf cert = { 0 };
	if (read_id(m, idhex, sizeof idhex) != 0) {
		server_error(s, p, m->reqid, EPROTO, "malformed request");
		return;
	}
	if (erase_id_parse(idhex, id) != 0) {
		server_error(s, p, m->reqid, EINVAL, "'%s' is not a request ID", idhex);
		return;
	}
	struct daemon_capture cap;
	daemon_capture_begin(&cap);
	struct erase_store *st = erased_store(e);
	int err = st != NULL ? erase_store_certificate_get(st, id, &cert) : -EIO;
	/* Not issued at the end (the key was unreadable, say): issued now. */
	if (err == -ENOENT && (err = erased_issue_certificate(e, id, why, sizeof why)) == 0)
		err = erase_store_certificate_get(st, id, &cert);
	daemon_capture_end();
	if (err != 0) {
		if (why[0])
			server_error(s, p, m->reqid, -err, "%s", why);
		else
			daemon_fail(s, p, m, err, &cap, "the certificate could not be read");
	} else {
		struct ipc_writer w;
		daemon_reply_init(&w, m);
		ipc_put_bytes(&w, cert.data, cert.len);
		server_reply(s, p, &w);
		ipc_writer_fini(&w);
	}
	buf_fini(&cert);
}
