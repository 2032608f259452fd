/* Creating and opening datasets (dataset.h). */
#include "dataset/dataset.h"

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/levels.h"
#include "crypto/keyset.h"
#include "keys/keystore.h"
#include "repo/repo.h"
#include "util/log.h"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	if (flag == FTW_DP)
		return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
	return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Removes a repository dataset_create made (only ever such a one). */
static void remove_tree(const char *dir)
{
	struct stat st;
	if (lstat(dir, &st) != 0 && errno == ENOENT)
		return;
	if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		log_warn("cannot remove %s; remove it by hand", dir);
}

/* mkdir -p for a pool (mode 0700: only the appliance reads pools). */
static int make_dirs(const char *path)
{
	char tmp[DATASET_PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s", path) >= sizeof tmp)
		return -ENAMETOOLONG;
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p != 0)
			continue;
		char saved = *p;
		*p = 0;
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = saved;
		if (saved == 0)
			return 0;
	}
}

int dataset_owner_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > DATASET_OWNER_MAX)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* Checks the request against levels.conf; *lv_out is the level (in *lvs). */
static int check_request(const char *state_dir, const char *config_dir,
			 const struct dataset_create_req *req, struct levels **lvs,
			 const struct level **lv_out, uint32_t *suite_out)
{
	if (!dataset_name_valid(req->name)) {
		log_errorx("bad dataset name '%s' (1-64 of A-Z a-z 0-9 . _ -, not starting "
			   "with . or -)", req->name);
		return -EINVAL;
	}
	if (!dataset_owner_valid(req->owner)) {
		log_errorx("bad owner (1-64 printable characters)");
		return -EINVAL;
	}
	int e = levels_load(config_dir, state_dir, lvs);
	if (e != 0)
		return e;
	const struct level *l = levels_find(*lvs, req->level);
	if (l == NULL) {
		log_errorx("no level %u in levels.conf", req->level);
		return -ENOENT;
	}
	uint32_t suite = req->suite ? req->suite
			 : l->suite != LEVEL_SUITE_ANY ? l->suite : SUITE_INTERNATIONAL;
	char why[256];
	if (level_allows_suite(l, suite, why, sizeof why) != 0) {
		log_errorx("refused by policy: %s", why);
		return -EPERM;
	}
	if (suite_by_id(suite) == NULL) {
		log_errorx("the %s suite is not available in this build",
			   level_suite_rule_name(suite));
		return -ENOTSUP;
	}
	*lv_out = l;
	*suite_out = suite;
	return 0;
}

int dataset_create(const char *state_dir, const char *config_dir, struct keystore *ks,
		   const struct dataset_create_req *req, struct dataset *out)
{
	struct levels *lvs = NULL;
	const struct level *l = NULL;
	struct catalog *cat = NULL;
	struct keyset *k = NULL;
	struct dataset *d = calloc(1, sizeof *d);
	bool repo_made = false, keys_put = false, in_tx = false;
	uint32_t suite = 0;
	int e = d != NULL ? 0 : -ENOMEM;
	if (e == 0)
		e = check_request(state_dir, config_dir, req, &lvs, &l, &suite);
	if (e == 0)
		e = catalog_open(state_dir, &cat);
	if (e != 0)
		goto out;
	snprintf(d->name, sizeof d->name, "%s", req->name);
	snprintf(d->owner, sizeof d->owner, "%s", req->owner);
	d->level = l->number;
	d->suite = suite;
	d->created = (int64_t)time(NULL);
	if (catalog_new_id(d->id) != 0 ||
	    (size_t)snprintf(d->pool, sizeof d->pool, "%s", l->pool) >= sizeof d->pool ||
	    (size_t)snprintf(d->repo, sizeof d->repo, "%s/%s", l->pool, d->id) >=
		    sizeof d->repo) {
		log_errorx("cannot make a dataset ID or path");
		e = -ENAMETOOLONG;
		goto out;
	}
	/* The row first, inside a transaction committed only at the end. */
	if ((e = catalog_begin(cat)) != 0)
		goto out;
	in_tx = true;
	e = catalog_add(cat, d);
	if (e == -EEXIST)
		log_errorx("dataset '%s' already exists", d->name);
	if (e != 0)
		goto out;
	e = make_dirs(d->pool);
	if (e != 0) {
		log_errorx("cannot create pool %s: %s", d->pool, coffer_strerror(e));
		goto out;
	}
	k = keyset_new();
	e = k != NULL ? keyset_generate(k, suite) : -ENOMEM;
	if (e != 0) {
		log_errorx("cannot generate the dataset's keys");
		goto out;
	}
	struct repo_init_opts o;
	repo_init_opts_default(&o);
	o.suite = suite;
	repo_made = true; /* from here a partial directory may exist */
	e = repo_init_keyed(d->repo, k, &o);
	if (e != 0) {
		log_errorx("cannot create repository %s: %s", d->repo, coffer_strerror(e));
		goto out;
	}
	e = keystore_keyset_put(ks, d->id, k);
	if (e != 0) {
		log_errorx("cannot store the dataset's keys: %s", coffer_strerror(e));
		goto out;
	}
	keys_put = true;
	if ((e = catalog_commit(cat)) != 0)
		goto out;
	in_tx = false;
	*out = *d;
out:
	if (e != 0) {
		/*
		 * Undo in reverse. Keys stored for a dataset that will not exist
		 * are destroyed like a shredded dataset's: they protect nothing.
		 */
		if (keys_put)
			(void)keystore_shred(ks, d->id, "dataset creation rolled back", NULL);
		if (repo_made)
			remove_tree(d->repo);
		if (in_tx)
			catalog_rollback(cat);
	}
	keyset_free(k);
	catalog_close(cat);
	levels_free(lvs);
	free(d);
	return e;
}

int dataset_open(const char *state_dir, struct keystore *ks, const char *name,
		 struct dataset *d_out, struct repo **out)
{
	struct catalog *cat = NULL;
	struct keyset *k = NULL;
	struct dataset *d = malloc(sizeof *d);
	int e = d != NULL ? catalog_open(state_dir, &cat) : -ENOMEM;
	if (e != 0)
		goto out;
	e = catalog_get(cat, name, d);
	if (e == -ENOENT)
		log_errorx("no dataset '%s' (see 'coffer dataset list')", name);
	if (e != 0)
		goto out;
	if (d->state == DATASET_SHREDDED) {
		log_errorx("dataset '%s' was crypto-shredded: its keys are destroyed and its data "
			   "can never be read again", d->name);
		e = -EKEYREVOKED;
		goto out;
	}
	k = keyset_new();
	e = k != NULL ? keystore_keyset_get(ks, d->id, k) : -ENOMEM;
	if (e == -EKEYREVOKED)
		log_errorx("dataset '%s' was crypto-shredded: its keys are destroyed and its "
			   "data can never be read again", d->name);
	else if (e != 0)
		log_errorx("cannot get the keys of dataset '%s': %s", d->name, coffer_strerror(e));
	if (e != 0)
		goto out;
	if ((e = repo_probe(d->repo)) != 0)
		goto out;
	e = repo_open_keyed(d->repo, k, out);
	if (e == -EACCES)
		log_errorx("the keys of dataset '%s' do not open %s", d->name, d->repo);
	else if (e != 0)
		log_errorx("cannot open %s: %s", d->repo, coffer_strerror(e));
	if (e == 0 && d_out != NULL)
		*d_out = *d;
out:
	keyset_free(k);
	catalog_close(cat);
	free(d);
	return e;
}
