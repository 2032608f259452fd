/*
 * coffer dataset create|list|show|rotate-key|export-keys.
 * A dataset is a repository in its level's pool, with its own key set held
 * in the keystore and a row in the catalog. Creation checks the level's
 * policy first and undoes everything it made if any step fails, so no
 * half-made dataset (a row without keys, keys without a repository)
 * remains.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "conf/levels.h"
#include "console.h"
#include "crypto/keyset.h"
#include "keys/keystore.h"
#include "keys/site.h"
#include "util/log.h"

static void dataset_usage(void)
{
	fprintf(stderr,
		"usage: coffer dataset create NAME --level N --owner DEPT [--suite S]\n"
		"       coffer dataset list [--json]\n"
		"       coffer dataset show NAME [--json]\n"
		"       coffer dataset rotate-key NAME\n"
		"       coffer dataset export-keys NAME --recipient PUBKEY --out FILE\n"
		"All take --state-dir DIR and --config-dir DIR (levels.conf).\n");
}

struct ds_args {
	struct common_opts c;
	const char *name, *owner, *suite;
	const char *recipient, *out;
	unsigned level;
	bool have_level;
};

static int ds_parse(int argc, char **argv, struct ds_args *a, bool want_name)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "level", required_argument, NULL, 'l' },
		{ "owner", required_argument, NULL, 'o' },
		{ "suite", required_argument, NULL, 's' },
		{ "recipient", required_argument, NULL, 'R' },
		{ "out", required_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (common_opt(&a->c, opt, optarg))
			continue;
		switch (opt) {
		case 'l':
			if (parse_uint("level", optarg, &a->level))
				return EXIT_USAGE;
			a->have_level = true;
			break;
		case 'o': a->owner = optarg; break;
		case 's': a->suite = optarg; break;
		case 'R': a->recipient = optarg; break;
		case 'O': a->out = optarg; break;
		case 'h': dataset_usage(); return EXIT_OK;
		default: dataset_usage(); return EXIT_USAGE;
		}
	}
	if (argc - optind != (want_name ? 1 : 0)) {
		dataset_usage();
		return EXIT_USAGE;
	}
	if (want_name)
		a->name = argv[optind];
	return -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	if (flag == FTW_DP)
		return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
	return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Removes a repository this command created (only ever such a one). */
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

static int owner_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > DATASET_OWNER_MAX)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int ds_create(struct ds_args *a)
{
	struct levels *lv = NULL;
	struct catalog *cat = NULL;
	struct keystore *ks = NULL;
	struct keyset *k = NULL;
	struct dataset *d = calloc(1, sizeof *d);
	bool repo_made = false, keys_put = false, in_tx = false;
	int rc = EXIT_FAIL, e;
	if (d == NULL)
		return EXIT_FAIL;
	if (!a->have_level || a->owner == NULL) {
		log_errorx("dataset create needs --level N and --owner DEPT");
		rc = EXIT_USAGE;
		goto out;
	}
	if (!dataset_name_valid(a->name)) {
		log_errorx("bad dataset name '%s' (1-64 of A-Z a-z 0-9 . _ -, not starting "
			   "with . or -)", a->name);
		rc = EXIT_USAGE;
		goto out;
	}
	if (!owner_valid(a->owner)) {
		log_errorx("bad owner (1-64 printable characters)");
		rc = EXIT_USAGE;
		goto out;
	}
	const char *state = console_state_dir(&a->c);
	if (levels_load(console_config_dir(&a->c), state, &lv) != 0)
		goto out;
	const struct level *l = levels_find(lv, a->level);
	if (l == NULL) {
		log_errorx("no level %u in levels.conf", a->level);
		goto out;
	}
	uint32_t suite = l->suite != LEVEL_SUITE_ANY ? l->suite : SUITE_INTERNATIONAL;
	if (a->suite != NULL) {
		if (parse_suite(a->suite, &suite) != 0) {
			rc = EXIT_USAGE;
			goto out;
		}
	}
	char why[256];
	if (level_allows_suite(l, suite, why, sizeof why) != 0) {
		log_errorx("refused by policy: %s", why);
		goto out;
	}
	if (suite_by_id(suite) == NULL) {
		log_errorx("the %s suite is not available in this build",
			   level_suite_rule_name(suite));
		goto out;
	}
	if (console_keystore_unlocked(&a->c, &ks) != 0)
		goto out;
	if (catalog_open(state, &cat) != 0)
		goto out;

	snprintf(d->name, sizeof d->name, "%s", a->name);
	snprintf(d->owner, sizeof d->owner, "%s", a->owner);
	d->level = l->number;
	d->suite = suite;
	d->created = (int64_t)time(NULL);
	if (catalog_new_id(d->id) != 0 ||
	    (size_t)snprintf(d->pool, sizeof d->pool, "%s", l->pool) >= sizeof d->pool ||
	    (size_t)snprintf(d->repo, sizeof d->repo, "%s/%s", l->pool, d->id) >=
		    sizeof d->repo) {
		log_errorx("cannot make a dataset ID or path");
		goto out;
	}
	/* The row first, inside a transaction committed only at the end. */
	if (catalog_begin(cat) != 0)
		goto out;
	in_tx = true;
	e = catalog_add(cat, d);
	if (e == -EEXIST) {
		log_errorx("dataset '%s' already exists", d->name);
		goto out;
	}
	if (e != 0)
		goto out;
	e = make_dirs(d->pool);
	if (e != 0) {
		log_errorx("cannot create pool %s: %s", d->pool, coffer_strerror(e));
		goto out;
	}
	k = keyset_new();
	if (k == NULL || keyset_generate(k, suite) != 0) {
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
	if (catalog_commit(cat) != 0)
		goto out;
	in_tx = false;
	if (a->c.json) {
		printf("{\"dataset\":");
		json_cstr(stdout, d->name);
		printf(",\"id\":\"%s\",\"level\":%u,\"repository\":", d->id, d->level);
		json_cstr(stdout, d->repo);
		printf("}\n");
	} else if (!a->c.quiet) {
		printf("created dataset %s (level %u %s, %s suite) at %s\n", d->name, d->level,
		       l->name, level_suite_rule_name(suite), d->repo);
	}
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK) {
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
	keystore_close(ks);
	levels_free(lv);
	free(d);
	return rc;
}

static const char *suite_label(uint32_t id)
{
	const struct suite *s = suite_by_id(id);
	return s ? suite_alias(s) : level_suite_rule_name(id);
}

struct list_ctx {
	bool json;
	unsigned n;
};

static int list_one(const struct dataset *d, void *arg)
{
	struct list_ctx *lc = arg;
	char when[32];
	if (lc->json) {
		printf("%s{\"name\":", lc->n ? "," : "");
		json_cstr(stdout, d->name);
		printf(",\"id\":\"%s\",\"level\":%u,\"owner\":", d->id, d->level);
		json_cstr(stdout, d->owner);
		printf(",\"suite\":");
		json_cstr(stdout, suite_label(d->suite));
		printf(",\"state\":\"%s\",\"created\":%lld}",
		       d->state == DATASET_SHREDDED ? "shredded" : "active", (long long)d->created);
	} else {
		if (lc->n == 0)
			printf("%-24s %5s %-16s %-13s %-8s %s\n", "NAME", "LEVEL", "OWNER", "SUITE",
			       "STATE", "CREATED");
		printf("%-24s %5u ", d->name, d->level);
		print_escaped(stdout, (const uint8_t *)d->owner, strlen(d->owner));
		printf("%*s %-13s %-8s %s\n",
		       (int)(strlen(d->owner) < 16 ? 16 - strlen(d->owner) : 0), "",
		       suite_label(d->suite), d->state == DATASET_SHREDDED ? "shredded" : "active",
		       fmt_time(d->created, when, sizeof when));
	}
	lc->n++;
	return 0;
}

static int ds_list(struct ds_args *a)
{
	struct catalog *cat = NULL;
	struct list_ctx lc = { .json = a->c.json };
	if (catalog_open(console_state_dir(&a->c), &cat) != 0)
		return EXIT_FAIL;
	if (lc.json)
		printf("[");
	int e = catalog_list(cat, list_one, &lc);
	if (lc.json)
		printf("]\n");
	else if (e == 0 && lc.n == 0 && !a->c.quiet)
		printf("no datasets\n");
	catalog_close(cat);
	return e == 0 ? EXIT_OK : EXIT_FAIL;
}

/* The catalog row of a->name, with a message if absent. */
static int ds_lookup(struct ds_args *a, struct catalog **cat, struct dataset *d)
{
	if (catalog_open(console_state_dir(&a->c), cat) != 0)
		return -1;
	int e = catalog_get(*cat, a->name, d);
	if (e == -ENOENT)
		log_errorx("no dataset '%s' (see 'coffer dataset list')", a->name);
	return e == 0 ? 0 : -1;
}

static int ds_show(struct ds_args *a)
{
	struct catalog *cat = NULL;
	struct keystore *ks = NULL;
	struct keyset *k = NULL;
	struct dataset *d = malloc(sizeof *d);
	int rc = EXIT_FAIL;
	long gens = -1; /* unknown: shredded */
	char when[32];
	if (d == NULL || ds_lookup(a, &cat, d) != 0)
		goto out;
	if (d->state == DATASET_ACTIVE) {
		if (console_keystore_unlocked(&a->c, &ks) != 0)
			goto out;
		k = keyset_new();
		if (k == NULL || keystore_keyset_get(ks, d->id, k) != 0) {
			log_errorx("cannot read the keys of dataset '%s'", d->name);
			goto out;
		}
		gens = k->n_gens;
	}
	const char *st = d->state == DATASET_SHREDDED ? "shredded" : "active";
	if (a->c.json) {
		printf("{\"name\":");
		json_cstr(stdout, d->name);
		printf(",\"id\":\"%s\",\"level\":%u,\"owner\":", d->id, d->level);
		json_cstr(stdout, d->owner);
		printf(",\"suite\":");
		json_cstr(stdout, suite_label(d->suite));
		printf(",\"pool\":");
		json_cstr(stdout, d->pool);
		printf(",\"repository\":");
		json_cstr(stdout, d->repo);
		if (gens >= 0)
			printf(",\"key_generations\":%ld", gens);
		else
			printf(",\"key_generations\":null");
		printf(",\"state\":\"%s\",\"created\":%lld,\"shredded\":%lld}\n", st,
		       (long long)d->created, (long long)d->shredded);
	} else {
		printf("name             %s\nid               %s\nlevel            %u\nowner            ",
		       d->name, d->id, d->level);
		print_escaped(stdout, (const uint8_t *)d->owner, strlen(d->owner));
		printf("\nsuite            %s\npool             %s\nrepository       %s\n",
		       suite_label(d->suite), d->pool, d->repo);
		if (gens >= 0)
			printf("key generations  %ld (new data uses generation %ld)\n", gens,
			       gens - 1);
		printf("created          %s\n", fmt_time(d->created, when, sizeof when));
		printf("state            %s", st);
		if (d->state == DATASET_SHREDDED)
			printf(" on %s", fmt_time(d->shredded, when, sizeof when));
		printf("\n");
	}
	rc = EXIT_OK;
out:
	keyset_free(k);
	keystore_close(ks);
	catalog_close(cat);
	free(d);
	return rc;
}

/* The catalog row and key set of an active dataset, keystore unlocked. */
static int ds_keys(struct ds_args *a, struct catalog **cat, struct dataset *d,
		   struct keystore **ks, struct keyset **k)
{
	if (ds_lookup(a, cat, d) != 0)
		return -1;
	if (d->state == DATASET_SHREDDED) {
		log_errorx("dataset '%s' was crypto-shredded: it has no keys", d->name);
		return -1;
	}
	if (console_keystore_unlocked(&a->c, ks) != 0)
		return -1;
	*k = keyset_new();
	if (*k == NULL)
		return -1;
	int e = keystore_keyset_get(*ks, d->id, *k);
	if (e != 0) {
		log_errorx("cannot read the keys of dataset '%s': %s", d->name,
			   coffer_strerror(e));
		return -1;
	}
	return 0;
}

static int ds_rotate_key(struct ds_args *a)
{
	struct catalog *cat = NULL;
	struct keystore *ks = NULL;
	struct keyset *k = NULL;
	struct dataset *d = malloc(sizeof *d);
	int rc = EXIT_FAIL, e;
	if (d == NULL || ds_keys(a, &cat, d, &ks, &k) != 0)
		goto out;
	e = keyset_rotate(k);
	if (e == -ENOSPC) {
		log_errorx("dataset '%s' has %d content-key generations, the most there can be",
			   d->name, KEYSET_MAX_GENS);
		goto out;
	}
	if (e == 0)
		e = keystore_keyset_replace(ks, d->id, k);
	if (e != 0) {
		log_errorx("cannot rotate the keys of dataset '%s': %s", d->name,
			   coffer_strerror(e));
		goto out;
	}
	if (!a->c.quiet)
		printf("dataset %s: new data is sealed under content-key generation %u; "
		       "older data stays readable\n", d->name, k->n_gens - 1);
	rc = EXIT_OK;
out:
	keyset_free(k);
	keystore_close(ks);
	catalog_close(cat);
	free(d);
	return rc;
}

/*
 * The dataset's key set, wrapped for another site's wrapping key and
 * signed by this site (keys/site.h), for that site to import: the way a
 * replica gets keys of its own, so that it can restore alone.
 */
static int ds_export_keys(struct ds_args *a)
{
	struct catalog *cat = NULL;
	struct keystore *ks = NULL;
	struct keyset *k = NULL;
	struct pkey *rcpt = NULL;
	struct dataset *d = malloc(sizeof *d);
	int rc = EXIT_FAIL;
	if (a->recipient == NULL || a->out == NULL) {
		log_errorx("dataset export-keys needs --recipient PUBKEY --out FILE");
		free(d);
		return EXIT_USAGE;
	}
	if (d == NULL || console_load_public_key(a->recipient, PKEY_WRAP, "recipient key",
						 &rcpt) != 0)
		goto out;
	if (ds_keys(a, &cat, d, &ks, &k) != 0)
		goto out;
	/* keystore_keyset_export says why it failed. */
	if (keystore_keyset_export(ks, d->id, rcpt, a->out) != 0)
		goto out;
	if (!a->c.quiet)
		printf("wrote the keys of dataset %s (%s), wrapped for the recipient's key and "
		       "signed by this site, to %s\n", d->name, d->id, a->out);
	rc = EXIT_OK;
out:
	pkey_free(rcpt);
	keyset_free(k);
	keystore_close(ks);
	catalog_close(cat);
	free(d);
	return rc;
}

int cmd_dataset(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct ds_args *a);
		bool want_name;
	} subs[] = {
		{ "create", ds_create, true }, { "list", ds_list, false },
		{ "show", ds_show, true }, { "rotate-key", ds_rotate_key, true },
		{ "export-keys", ds_export_keys, true },
	};
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		dataset_usage();
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		if (strcmp(argv[1], subs[i].name) != 0)
			continue;
		struct ds_args *a = calloc(1, sizeof *a);
		if (a == NULL)
			return EXIT_FAIL;
		int rc = ds_parse(argc - 1, argv + 1, a, subs[i].want_name);
		if (rc < 0)
			rc = subs[i].run(a);
		free(a);
		return rc;
	}
	log_errorx("unknown dataset command '%s'", argv[1]);
	dataset_usage();
	return EXIT_USAGE;
}
