/*
 * coffer dataset create|list|show|rotate-key|export-keys.
 * A dataset is a repository in its level's pool, with its own key set held
 * in the keystore and a row in the catalog. Creation checks the level's
 * policy first and undoes everything it made if any step fails, so no
 * half-made dataset (a row without keys, keys without a repository)
 * remains.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "console.h"
#include "daemon.h"
#include "conf/levels.h"
#include "dataset/dataset.h"
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

static int ds_create(struct ds_args *a)
{
	struct keystore *ks = NULL;
	struct dataset *d = calloc(1, sizeof *d);
	int rc = EXIT_FAIL;
	if (d == NULL)
		return EXIT_FAIL;
	if (!a->have_level || a->owner == NULL) {
		log_errorx("dataset create needs --level N and --owner DEPT");
		rc = EXIT_USAGE;
		goto out;
	}
	struct dataset_create_req req = { .name = a->name, .level = a->level, .owner = a->owner };
	if (a->suite != NULL && parse_suite(a->suite, &req.suite) != 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	if (console_run_dir(&a->c) != NULL) {
		struct ipc_client *cl = console_connect(&a->c, "backupd");
		struct ipc_writer w;
		struct ipc_msg m;
		ipc_writer_init(&w, IPC_DATASET_CREATE, 1);
		ipc_put_str(&w, a->name);
		ipc_put_u32(&w, a->level);
		ipc_put_str(&w, a->owner);
		ipc_put_str(&w, a->suite);
		if (cl != NULL && console_call(cl, "backupd", &w, &m) == 0) {
			struct ipc_reader rd;
			ipc_reader_init(&rd, &m);
			snprintf(d->name, sizeof d->name, "%s", a->name);
			d->level = a->level;
			(void)ipc_get_str(&rd, d->id, sizeof d->id);
			(void)ipc_get_str(&rd, d->repo, sizeof d->repo);
			rc = EXIT_OK;
		}
		ipc_writer_fini(&w);
		ipc_close(cl);
		if (rc == EXIT_OK)
			goto print;
		goto out;
	}
	/* Refusals that need no key come before the passphrase is asked for. */
	if (!dataset_name_valid(a->name) || !dataset_owner_valid(a->owner)) {
		(void)dataset_create(console_state_dir(&a->c), console_config_dir(&a->c), NULL,
				     &req, d);
		rc = EXIT_USAGE;
		goto out;
	}
	if (console_keystore_unlocked(&a->c, &ks) != 0)
		goto out;
	/* dataset_create says why it failed. */
	if (dataset_create(console_state_dir(&a->c), console_config_dir(&a->c), ks, &req, d) != 0)
		goto out;
print:
	if (a->c.json) {
		printf("{\"dataset\":");
		json_cstr(stdout, d->name);
		printf(",\"id\":\"%s\",\"level\":%u,\"repository\":", d->id, d->level);
		json_cstr(stdout, d->repo);
		printf("}\n");
	} else if (!a->c.quiet) {
		printf("created dataset %s (level %u) at %s\n", d->name, d->level, d->repo);
	}
	rc = EXIT_OK;
out:
	keystore_close(ks);
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

/* The datasets as backupd lists them, printed by list_one. */
static int list_via_daemon(struct ds_args *a, struct list_ctx *lc)
{
	struct ipc_client *cl = console_connect(&a->c, "backupd");
	struct ipc_writer w;
	struct ipc_msg m;
	int e = cl != NULL ? 0 : -ECONNREFUSED;
	ipc_writer_init(&w, IPC_DATASET_LIST, 1);
	if (e == 0)
		e = console_call(cl, "backupd", &w, &m);
	if (e == 0) {
		struct ipc_reader rd;
		uint32_t n = 0;
		struct dataset d;
		ipc_reader_init(&rd, &m);
		(void)ipc_get_list(&rd, &n);
		if (lc->json)
			printf("[");
		for (uint32_t i = 0; i < n; i++) {
			console_get_dataset(&rd, &d);
			list_one(&d, lc);
		}
	}
	ipc_writer_fini(&w);
	ipc_close(cl);
	return e;
}

static int ds_list(struct ds_args *a)
{
	struct catalog *cat = NULL;
	struct list_ctx lc = { .json = a->c.json };
	int e;
	if (console_run_dir(&a->c) != NULL) {
		if ((e = list_via_daemon(a, &lc)) != 0)
			return EXIT_FAIL;
		if (lc.json)
			printf("]\n");
		else if (lc.n == 0 && !a->c.quiet)
			printf("no datasets\n");
		return EXIT_OK;
	}
	if (catalog_open(console_state_dir(&a->c), &cat) != 0)
		return EXIT_FAIL;
	if (lc.json)
		printf("[");
	e = catalog_list(cat, list_one, &lc);
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

/* Prints one dataset; gens < 0: key generations unknown. */
static void show_print(const struct ds_args *a, const struct dataset *d, long gens)
{
	char when[32];
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
		return;
	}
	printf("name             %s\nid               %s\nlevel            %u\nowner            ",
	       d->name, d->id, d->level);
	print_escaped(stdout, (const uint8_t *)d->owner, strlen(d->owner));
	printf("\nsuite            %s\npool             %s\nrepository       %s\n",
	       suite_label(d->suite), d->pool, d->repo);
	if (gens >= 0)
		printf("key generations  %ld (new data uses generation %ld)\n", gens, gens - 1);
	printf("created          %s\n", fmt_time(d->created, when, sizeof when));
	printf("state            %s", st);
	if (d->state == DATASET_SHREDDED)
		printf(" on %s", fmt_time(d->shredded, when, sizeof when));
	printf("\n");
}

static int ds_show(struct ds_args *a)
{
	struct catalog *cat = NULL;
	struct keystore *ks = NULL;
	struct keyset *k = NULL;
	struct dataset *d = malloc(sizeof *d);
	int rc = EXIT_FAIL;
	long gens = -1; /* unknown: shredded */
	if (d == NULL)
		goto out;
	if (console_run_dir(&a->c) != NULL) {
		struct ipc_client *cl = console_connect(&a->c, "backupd");
		struct ipc_writer w;
		struct ipc_msg m;
		uint32_t g = 0;
		ipc_writer_init(&w, IPC_DATASET_SHOW, 1);
		ipc_put_str(&w, a->name);
		if (cl != NULL && console_call(cl, "backupd", &w, &m) == 0) {
			struct ipc_reader rd;
			ipc_reader_init(&rd, &m);
			console_get_dataset(&rd, d);
			(void)ipc_get_u32(&rd, &g);
			show_print(a, d, g > 0 ? (long)g : -1);
			rc = EXIT_OK;
		}
		ipc_writer_fini(&w);
		ipc_close(cl);
		goto out;
	}
	if (ds_lookup(a, &cat, d) != 0)
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
	show_print(a, d, gens);
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
