/*
 * coffer keystore init|split|unlock|lock|rotate|status|identity|import:
 * the appliance keystore under the state directory (keys/keystore.h) and
 * this site's identity (keys/site.h). Unlocking caches
 * the root key in the kernel keyring (keys/session.h) so that the commands
 * that follow need no passphrase; where there is no keyring each command
 * asks. Crypto-shredding is deliberately not offered here.
 *
 * Through the daemons (a run directory, daemon.h) unlock, lock and status
 * act on the keystore sessions of coffer-backupd and coffer-restored, the
 * two daemons that hold keys, instead of the kernel keyring.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "console.h"
#include "record.h"
#include "daemon.h"
#include "keys/keystore.h"
#include "keys/session.h"
#include "keys/site.h"
#include "io/io.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/mem.h"

#define SESSION_TIMEOUT_DEFAULT 900
#define SESSION_TIMEOUT_MAX (7 * 86400)
#define SHARES_MAX 64

static void keystore_usage(void)
{
	fprintf(stderr,
		"usage: coffer keystore init [--suite international|national] [--kdf-cost N]\n"
		"       coffer keystore split --shares N --threshold M --out DIR\n"
		"       coffer keystore unlock [--share FILE]... [--timeout SECONDS]\n"
		"       coffer keystore lock\n"
		"       coffer keystore rotate [--new-passphrase-file FILE]\n"
		"       coffer keystore status [--json]\n"
		"       coffer keystore identity [--out DIR] [--json]\n"
		"       coffer keystore import FILE --sender PUBKEY\n"
		"All take --state-dir DIR (else $COFFER_STATE_DIR, else /var/lib/coffer).\n"
		"The passphrase comes from --passphrase-file FILE, $COFFER_PASSPHRASE_FILE or\n"
		"the terminal; unlock caches the root key so later commands need none.\n"
		"Through the daemons (--run-dir DIR or COFFER_RUN_DIR) unlock and lock act on\n"
		"coffer-backupd and coffer-restored, and status also shows their state.\n");
}

/* Options of every keystore subcommand, parsed in one place. */
struct ks_args {
	struct common_opts c;
	const char *suite;
	const char *out;
	const char *new_pass_file;
	const char *sender;
	const char *file;            /* import's FILE */
	const char *shares[SHARES_MAX];
	size_t n_shares;
	unsigned n, m, timeout, kdf_cost;
	bool have_n, have_m;
};

static int ks_parse(int argc, char **argv, struct ks_args *a, bool want_file)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "suite", required_argument, NULL, 's' },
		{ "shares", required_argument, NULL, 'n' },
		{ "threshold", required_argument, NULL, 'm' },
		{ "out", required_argument, NULL, 'o' },
		{ "share", required_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ "kdf-cost", required_argument, NULL, 'k' },
		{ "new-passphrase-file", required_argument, NULL, 'N' },
		{ "sender", required_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	a->timeout = SESSION_TIMEOUT_DEFAULT;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (common_opt(&a->c, opt, optarg))
			continue;
		switch (opt) {
		case 's': a->suite = optarg; break;
		case 'n':
			if (parse_uint("shares", optarg, &a->n))
				return EXIT_USAGE;
			a->have_n = true;
			break;
		case 'm':
			if (parse_uint("threshold", optarg, &a->m))
				return EXIT_USAGE;
			a->have_m = true;
			break;
		case 'o': a->out = optarg; break;
		case 'f':
			if (a->n_shares == SHARES_MAX) {
				log_errorx("at most %d --share files", SHARES_MAX);
				return EXIT_USAGE;
			}
			a->shares[a->n_shares++] = optarg;
			break;
		case 't':
			if (parse_uint("timeout", optarg, &a->timeout))
				return EXIT_USAGE;
			if (a->timeout < 1 || a->timeout > SESSION_TIMEOUT_MAX) {
				log_errorx("--timeout must be between 1 and %d seconds",
					   SESSION_TIMEOUT_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'k':
			/* log2 of scrypt's N; tests lower it to run fast. */
			if (parse_uint("kdf-cost", optarg, &a->kdf_cost) || a->kdf_cost < 10 ||
			    a->kdf_cost > 22) {
				log_errorx("--kdf-cost must be between 10 and 22");
				return EXIT_USAGE;
			}
			break;
		case 'N': a->new_pass_file = optarg; break;
		case 'E': a->sender = optarg; break;
		case 'h': keystore_usage(); return EXIT_OK;
		default: keystore_usage(); return EXIT_USAGE;
		}
	}
	if (argc - optind != (want_file ? 1 : 0)) {
		keystore_usage();
		return EXIT_USAGE;
	}
	if (want_file)
		a->file = argv[optind];
	return -1; /* parsed: go on */
}

/* ---- through the daemons ------------------------------------------------ */

/* The daemons that hold keys; the scheduler holds none. */
static const char *const key_daemons[] = { "backupd", "restored", "erased" };
#define N_KEY_DAEMONS (sizeof key_daemons / sizeof key_daemons[0])
#define UNLOCK_PASS_MAX 1024 /* the protocol's passphrase field */

/*
 * What to send: the passphrase, or the share files' bytes. Everything
 * here is secret: buf_fini and passphrase_free wipe it.
 */
struct unlock_secret {
	char *pass;
	size_t pass_len;
	struct buf shares[SHARES_MAX];
	size_t n_shares;
};

static void unlock_secret_fini(struct unlock_secret *u)
{
	if (u->pass != NULL)
		passphrase_free(u->pass, u->pass_len);
	for (size_t i = 0; i < u->n_shares; i++)
		buf_fini(&u->shares[i]);
}

static int unlock_secret_read(const struct ks_args *a, struct unlock_secret *u)
{
	if (a->n_shares == 0) {
		if (passphrase_get(&a->c, false, &u->pass, &u->pass_len) != 0)
			return -1;
		if (u->pass_len > UNLOCK_PASS_MAX || memchr(u->pass, 0, u->pass_len) != NULL) {
			log_errorx("the daemons take a passphrase of at most %d bytes without NUL "
				   "bytes", UNLOCK_PASS_MAX);
			return -1;
		}
		return 0;
	}
	for (size_t i = 0; i < a->n_shares; i++) {
		int e = io_read_file_at(AT_FDCWD, a->shares[i], &u->shares[i], 4096);
		u->n_shares++;
		if (e == -EFBIG)
			log_errorx("%s is larger than any share file (4096 bytes)", a->shares[i]);
		else if (e != 0)
			log_errorx("cannot read share file %s: %s", a->shares[i], coffer_strerror(e));
		if (e != 0)
			return -1;
	}
	return 0;
}

/*
 * Sends type (KEYSTORE_UNLOCK with u, or KEYSTORE_LOCK) to every daemon
 * that holds keys. A daemon not running is reported and skipped; one that
 * refuses is an error. EXIT_OK when at least one daemon did it and none
 * refused.
 */
static int ks_daemons_send(const struct ks_args *a, uint16_t type, const struct unlock_secret *u)
{
	const char *run = console_run_dir(&a->c);
	const char *done = type == IPC_KEYSTORE_UNLOCK ? "unlocked" : "locked";
	unsigned ok = 0, failed = 0;
	for (size_t d = 0; d < N_KEY_DAEMONS; d++) {
		const char *name = key_daemons[d];
		struct ipc_client *cl = NULL;
		int e = ipc_connect(run, name, &cl);
		if (e == 0)
			record_note_daemon(); /* the daemon records the request */
		if (e == -ENOENT || e == -ECONNREFUSED) {
			log_warnx("coffer-%s is not running (no answer on %s/%s.sock): its keystore "
				  "was not %s", name, run, name, done);
			continue;
		}
		if (e != 0) {
			log_errorx("cannot reach coffer-%s at %s: %s", name, run, coffer_strerror(e));
			failed++;
			continue;
		}
		struct ipc_writer w;
		struct ipc_msg m;
		ipc_writer_init(&w, type, ipc_next_reqid(cl));
		if (type == IPC_KEYSTORE_UNLOCK) {
			ipc_put_strn(&w, u->pass, u->pass_len);
			ipc_put_list(&w, (uint32_t)u->n_shares);
			for (size_t i = 0; i < u->n_shares; i++)
				ipc_put_bytes(&w, u->shares[i].data, u->shares[i].len);
		}
		if (console_call(cl, name, &w, &m) == 0) {
			ok++;
			if (!a->c.quiet)
				printf("keystore %s in coffer-%s\n", done, name);
		} else {
			failed++;
		}
		ipc_writer_fini(&w); /* wipes the secret */
		ipc_close(cl);
	}
	if (ok == 0 && failed == 0)
		log_errorx("no daemon that holds keys is running under %s", run);
	return ok > 0 && failed == 0 ? EXIT_OK : EXIT_FAIL;
}

static int ks_unlock_daemons(struct ks_args *a)
{
	struct unlock_secret u = { 0 };
	int rc = EXIT_FAIL;
	if (unlock_secret_read(a, &u) == 0)
		rc = ks_daemons_send(a, IPC_KEYSTORE_UNLOCK, &u);
	unlock_secret_fini(&u);
	return rc;
}

/* The daemons' keystore states, after the local status (JSON: inside its object). */
static bool ks_status_daemons(const struct ks_args *a, bool json)
{
	const char *run = console_run_dir(&a->c);
	bool any = false;
	if (json)
		printf("\"daemons\":{");
	else
		printf("daemons          (%s)\n", run);
	for (size_t d = 0; d < N_KEY_DAEMONS; d++) {
		struct daemon_probe p;
		char what[1200];
		console_probe(run, key_daemons[d], 5000, &p);
		if (p.state == PROBE_UP) {
			snprintf(what, sizeof what, "%s", console_keystore_state(p.keystore));
			any = true;
		} else if (p.state == PROBE_DOWN) {
			snprintf(what, sizeof what, "not running");
		} else {
			snprintf(what, sizeof what, "unknown: %.1100s", p.error);
		}
		if (json) {
			printf("%s\"%s\":", d ? "," : "", key_daemons[d]);
			json_cstr(stdout, what);
		} else {
			printf("  coffer-%-9s %s\n", key_daemons[d], what);
		}
	}
	if (json)
		printf("}");
	return any;
}

static int ks_init(struct ks_args *a)
{
	struct keystore_init_opts o;
	keystore_init_opts_default(&o);
	if (a->suite != NULL) {
		if (parse_suite(a->suite, &o.suite) != 0)
			return EXIT_USAGE;
	}
	if (a->kdf_cost)
		o.scrypt_n = 1ull << a->kdf_cost;
	const char *state = console_state_dir(&a->c);
	char *pass;
	size_t len;
	if (passphrase_get(&a->c, true, &pass, &len) != 0)
		return EXIT_FAIL;
	int e = keystore_init(state, pass, len, &o);
	passphrase_free(pass, len);
	if (e == -EEXIST)
		log_errorx("a keystore already exists in %s", state);
	if (e != 0)
		return EXIT_FAIL;
	if (!a->c.quiet)
		printf("created keystore in %s (suite %s)\n"
		       "Keep the passphrase safe, and split the root key among officers with\n"
		       "'coffer keystore split': without either the datasets cannot be read.\n",
		       state, suite_alias(suite_by_id(o.suite)));
	return EXIT_OK;
}

static int ks_split(struct ks_args *a)
{
	if (!a->have_n || !a->have_m || a->out == NULL) {
		log_errorx("keystore split needs --shares N --threshold M --out DIR");
		return EXIT_USAGE;
	}
	if (a->m < 2 || a->m > a->n || a->n > 255) {
		log_errorx("need 2 <= threshold <= shares <= 255 (got %u of %u)", a->m, a->n);
		return EXIT_USAGE;
	}
	struct keystore *ks;
	if (console_keystore_unlocked(&a->c, &ks) != 0)
		return EXIT_FAIL;
	int e = keystore_split(ks, a->n, a->m, a->out);
	keystore_close(ks);
	if (e != 0) {
		log_errorx("cannot split the root key into %s: %s", a->out, coffer_strerror(e));
		return EXIT_FAIL;
	}
	if (!a->c.quiet)
		printf("wrote %u shares to %s; any %u of them unlock the keystore.\n"
		       "Give each to a different officer; earlier shares no longer work.\n",
		       a->n, a->out, a->m);
	return EXIT_OK;
}

static int ks_unlock(struct ks_args *a)
{
	if (console_run_dir(&a->c) != NULL)
		return ks_unlock_daemons(a);
	struct keystore *ks = NULL;
	const char *state = console_state_dir(&a->c);
	int e = keystore_open(state, &ks), rc = EXIT_FAIL;
	if (e == -ENOENT)
		log_errorx("no keystore in %s (run 'coffer keystore init')", state);
	if (e != 0)
		return EXIT_FAIL;
	if (a->n_shares > 0) {
		e = keystore_unlock_shares(ks, a->shares, a->n_shares);
		/* keystore_unlock_shares names the damaged files and the counts. */
		if (e == -ERANGE)
			log_errorx("too few shares to unlock the keystore");
		else if (e == -EACCES)
			log_errorx("these shares do not make this keystore's root key");
	} else {
		char *pass;
		size_t len;
		if (passphrase_get(&a->c, false, &pass, &len) != 0)
			goto out;
		e = keystore_unlock_passphrase(ks, pass, len);
		passphrase_free(pass, len);
	}
	if (e != 0)
		goto out;
	e = session_store(keystore_id(ks), keystore_root(ks), a->timeout);
	if (e == -ENOSYS) {
		printf("keystore verified, but the kernel keyring is unavailable here: each "
		       "command will ask for the passphrase.\n");
		rc = EXIT_OK;
		goto out;
	}
	if (e != 0) {
		log_errorx("cannot cache the root key in the kernel keyring: %s",
			   coffer_strerror(e));
		goto out;
	}
	if (!a->c.quiet)
		printf("keystore unlocked for %u seconds (until 'coffer keystore lock')\n",
		       a->timeout);
	rc = EXIT_OK;
out:
	keystore_close(ks);
	return rc;
}

static int ks_lock(struct ks_args *a)
{
	if (console_run_dir(&a->c) != NULL)
		return ks_daemons_send(a, IPC_KEYSTORE_LOCK, NULL);
	struct keystore *ks = NULL;
	const char *state = console_state_dir(&a->c);
	int e = keystore_open(state, &ks);
	if (e == -ENOENT)
		log_errorx("no keystore in %s", state);
	if (e != 0)
		return EXIT_FAIL;
	e = session_clear(keystore_id(ks));
	keystore_close(ks);
	if (e != 0 && e != -ENOENT && e != -ENOSYS) {
		log_errorx("cannot clear the cached root key: %s", coffer_strerror(e));
		return EXIT_FAIL;
	}
	if (!a->c.quiet)
		printf("keystore locked\n");
	return EXIT_OK;
}

static int ks_rotate(struct ks_args *a)
{
	struct keystore *ks;
	char *pass = NULL;
	size_t len = 0;
	int rc = EXIT_FAIL;
	if (console_keystore_unlocked(&a->c, &ks) != 0)
		return EXIT_FAIL;
	/*
	 * The new passphrase never comes from the old one's file: from
	 * --new-passphrase-file, $COFFER_NEW_PASSPHRASE_FILE, or the terminal.
	 */
	struct common_opts nc = a->c;
	nc.passphrase_file = a->new_pass_file ? a->new_pass_file
					      : getenv("COFFER_NEW_PASSPHRASE_FILE");
	if (nc.passphrase_file == NULL || *nc.passphrase_file == 0) {
		nc.passphrase_file = NULL;
		unsetenv("COFFER_PASSPHRASE_FILE");
		fprintf(stderr, "Enter the new passphrase.\n");
	}
	if (passphrase_get(&nc, true, &pass, &len) != 0)
		goto out;
	int e = keystore_rotate(ks, pass, len);
	if (e != 0) {
		log_errorx("cannot rotate the root key: %s", coffer_strerror(e));
		goto out;
	}
	/* A cached old root key is useless now; cache the new one if it was. */
	if (session_clear(keystore_id(ks)) == 0)
		(void)session_store(keystore_id(ks), keystore_root(ks), SESSION_TIMEOUT_DEFAULT);
	if (!a->c.quiet)
		printf("root key rotated; every key set is re-wrapped. Shares of the old root "
		       "key no longer work: run 'coffer keystore split' again.\n");
	rc = EXIT_OK;
out:
	if (pass != NULL)
		passphrase_free(pass, len);
	keystore_close(ks);
	return rc;
}

static int count_ds(const struct dataset *d, void *arg)
{
	unsigned *n = arg;
	n[d->state == DATASET_SHREDDED]++;
	return 0;
}

static int ks_status(struct ks_args *a)
{
	struct keystore *ks = NULL;
	struct catalog *cat = NULL;
	const char *state = console_state_dir(&a->c);
	bool via_daemons = console_run_dir(&a->c) != NULL;
	int e = keystore_open(state, &ks);
	if (e == -ENOENT)
		log_errorx("no keystore in %s (run 'coffer keystore init')", state);
	if (e != 0 && !via_daemons)
		return EXIT_FAIL;
	if (e != 0) {
		/* This user may not read the state directory: the daemons still answer. */
		if (a->c.json)
			printf("{");
		bool any = ks_status_daemons(a, a->c.json);
		if (a->c.json)
			printf("}\n");
		return any ? EXIT_OK : EXIT_FAIL;
	}
	uint8_t *root = secmem_alloc(CRYPTO_KEY_LEN);
	bool cached = false;
	if (root != NULL) {
		cached = session_load(keystore_id(ks), root) == 0 &&
			 keystore_unlock_root(ks, root) == 0;
		secmem_free(root, CRYPTO_KEY_LEN);
	}
	unsigned counts[2] = { 0, 0 };
	if (catalog_open(state, &cat) == 0)
		(void)catalog_list(cat, count_ds, counts);
	catalog_close(cat);
	char id[65];
	hex_encode(keystore_id(ks), 32, id);
	const struct suite *s = suite_by_id(keystore_suite(ks));
	const char *sname = s ? suite_alias(s) : "unknown";
	if (a->c.json) {
		printf("{\"state_dir\":");
		json_cstr(stdout, state);
		printf(",\"keystore\":\"%s\",\"suite\":", id);
		json_cstr(stdout, sname);
		printf(",\"unlocked\":%s,\"datasets\":%u,\"shredded\":%u",
		       cached ? "true" : "false", counts[0], counts[1]);
		if (via_daemons) {
			printf(",");
			(void)ks_status_daemons(a, true);
		}
		printf("}\n");
	} else {
		printf("state directory  %s\nkeystore         %s\nsuite            %s\n"
		       "session          %s\ndatasets         %u active, %u shredded\n",
		       state, id, sname,
		       cached ? "unlocked (root key cached in the kernel keyring)"
			      : "locked (commands ask for the passphrase)",
		       counts[0], counts[1]);
		if (via_daemons)
			(void)ks_status_daemons(a, false);
	}
	keystore_close(ks);
	return EXIT_OK;
}

/* Writes pem to DIR/name (mode 0644: it is public), replacing an older copy. */
static int write_public(const char *dir, const char *name, const struct buf *pem)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int e = dfd >= 0 ? io_replace_file_at(dfd, name, pem->data, pem->len, 0644) : -errno;
	if (dfd >= 0)
		close(dfd);
	if (e != 0)
		log_errorx("cannot write %s/%s: %s", dir, name, coffer_strerror(e));
	return e;
}

/*
 * This site's public identity: the fingerprints of its signing and
 * wrapping keys and, with --out DIR, the keys as PEM files (site-sign.pem,
 * site-wrap.pem) to give to the sites it pairs with.
 */
static int ks_identity(struct ks_args *a)
{
	struct keystore *ks = NULL;
	struct pkey *sign = NULL, *wrap = NULL;
	struct buf spem = { 0 }, wpem = { 0 };
	uint8_t fs[32], fw[32];
	char hs[65], hw[65], id[65];
	int rc = EXIT_FAIL;
	if (console_keystore_unlocked(&a->c, &ks) != 0)
		return EXIT_FAIL;
	/* keystore_site_keys says why it failed. */
	if (keystore_site_keys(ks, &sign, &wrap) != 0)
		goto out;
	if (pkey_fingerprint(sign, fs) != 0 || pkey_fingerprint(wrap, fw) != 0 ||
	    pkey_public_pem(sign, &spem) != 0 || pkey_public_pem(wrap, &wpem) != 0) {
		log_errorx("cannot encode this site's public keys");
		goto out;
	}
	if (a->out != NULL && (mkdir(a->out, 0755) != 0 && errno != EEXIST)) {
		log_errorx("cannot create %s: %s", a->out, coffer_strerror(-errno));
		goto out;
	}
	if (a->out != NULL && (write_public(a->out, "site-sign.pem", &spem) != 0 ||
			       write_public(a->out, "site-wrap.pem", &wpem) != 0))
		goto out;
	hex_encode(fs, 32, hs);
	hex_encode(fw, 32, hw);
	hex_encode(keystore_id(ks), 32, id);
	const char *sname = suite_alias(suite_by_id(keystore_suite(ks)));
	if (a->c.json) {
		printf("{\"keystore\":\"%s\",\"suite\":", id);
		json_cstr(stdout, sname);
		printf(",\"signing_key\":\"%s\",\"wrapping_key\":\"%s\"}\n", hs, hw);
	} else {
		printf("keystore      %s\nsuite         %s\nsigning key   %s\nwrapping key  %s\n",
		       id, sname, hs, hw);
		if (a->out != NULL && !a->c.quiet)
			printf("public keys written to %s/site-sign.pem and %s/site-wrap.pem\n",
			       a->out, a->out);
	}
	rc = EXIT_OK;
out:
	pkey_free(sign);
	pkey_free(wrap);
	buf_fini(&spem);
	buf_fini(&wpem);
	keystore_close(ks);
	return rc;
}

/*
 * Imports a key set another site exported for this one, after checking
 * its signature against the sender's signing key (--sender, pinned by the
 * operator): the receiving half of 'coffer dataset export-keys'.
 */
static int ks_import(struct ks_args *a)
{
	struct keystore *ks = NULL;
	struct pkey *sender = NULL;
	char id[DATASET_ID_LEN + 1];
	int rc = EXIT_FAIL;
	if (a->sender == NULL) {
		log_errorx("keystore import needs --sender PUBKEY (the sending site's signing "
			   "key): an unsigned key set is never accepted");
		return EXIT_USAGE;
	}
	if (console_load_public_key(a->sender, PKEY_SIGN, "sender key", &sender) != 0)
		return EXIT_FAIL;
	if (console_keystore_unlocked(&a->c, &ks) != 0)
		goto out;
	/* keystore_keyset_import says why it refused. */
	if (keystore_keyset_import(ks, a->file, sender, id) != 0)
		goto out;
	if (!a->c.quiet)
		printf("imported the key set of dataset %s from %s\n", id, a->file);
	rc = EXIT_OK;
out:
	pkey_free(sender);
	keystore_close(ks);
	return rc;
}

int cmd_keystore(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct ks_args *a);
		bool want_file;
	} subs[] = {
		{ "init", ks_init, false }, { "split", ks_split, false },
		{ "unlock", ks_unlock, false }, { "lock", ks_lock, false },
		{ "rotate", ks_rotate, false }, { "status", ks_status, false },
		{ "identity", ks_identity, false }, { "import", ks_import, true },
	};
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		keystore_usage();
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		if (strcmp(argv[1], subs[i].name) != 0)
			continue;
		struct ks_args *a = calloc(1, sizeof *a);
		if (a == NULL)
			return EXIT_FAIL;
		int rc = ks_parse(argc - 1, argv + 1, a, subs[i].want_file);
		if (rc < 0)
			rc = subs[i].run(a);
		free(a);
		return rc;
	}
	log_errorx("unknown keystore command '%s'", argv[1]);
	keystore_usage();
	return EXIT_USAGE;
}
