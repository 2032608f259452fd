/*
 * Appliance mode for the console: where the state and configuration live,
 * getting the root key (session cache first, then the passphrase), and
 * opening a dataset's repository with its key set. Shared by the keystore
 * and dataset commands and by every --dataset form of a repository command.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "console.h"
#include "dataset/dataset.h"
#include "io/io.h"
#include "keys/keystore.h"
#include "keys/session.h"
#include "util/log.h"
#include "util/mem.h"

/*
 * dir made absolute against the working directory: levels.conf resolves
 * pools under it and the catalog stores absolute repository paths.
 */
static const char *absolute(const char *dir, char *out, size_t size)
{
	char cwd[PATH_MAX];
	if (dir[0] == '/' || getcwd(cwd, sizeof cwd) == NULL)
		snprintf(out, size, "%s", dir);
	else if ((size_t)snprintf(out, size, "%s/%s", cwd, dir) >= size)
		snprintf(out, size, "%s", dir);
	return out;
}

const char *console_state_dir(const struct common_opts *c)
{
	static char path[PATH_MAX];
	const char *d = c->state_dir ? c->state_dir : getenv("COFFER_STATE_DIR");
	if (d == NULL || *d == 0)
		d = "/var/lib/coffer";
	return absolute(d, path, sizeof path);
}

const char *console_config_dir(const struct common_opts *c)
{
	static char path[PATH_MAX];
	const char *d = c->config_dir ? c->config_dir : getenv("COFFER_CONFIG_DIR");
	if (d == NULL || *d == 0)
		d = "/etc/coffer";
	return absolute(d, path, sizeof path);
}

int console_keystore_unlocked(const struct common_opts *c, struct keystore **out)
{
	struct keystore *ks = NULL;
	const char *state = console_state_dir(c);
	int e = keystore_open(state, &ks);
	if (e == -ENOENT) {
		log_errorx("no keystore in %s (run 'coffer keystore init')", state);
		return -1;
	}
	if (e != 0)
		return -1; /* keystore_open said why */
	uint8_t *root = secmem_alloc(CRYPTO_KEY_LEN);
	if (root == NULL) {
		keystore_close(ks);
		return -1;
	}
	/* A cached root key that no longer fits (rotated since) is ignored. */
	e = session_load(keystore_id(ks), root);
	if (e == 0)
		e = keystore_unlock_root(ks, root);
	secmem_free(root, CRYPTO_KEY_LEN);
	if (e != 0) {
		char *pass;
		size_t len;
		if (passphrase_get(c, false, &pass, &len) != 0) {
			keystore_close(ks);
			return -1;
		}
		e = keystore_unlock_passphrase(ks, pass, len);
		passphrase_free(pass, len);
		if (e != 0) {
			keystore_close(ks);
			return -1;
		}
	}
	*out = ks;
	return 0;
}

struct repo *console_open_dataset(const struct common_opts *c)
{
	struct keystore *ks = NULL;
	struct repo *r = NULL;
	struct catalog *cat = NULL;
	struct dataset d;
	const char *state = console_state_dir(c);
	char when[32];
	/* Refusals that need no key come before the passphrase is asked for. */
	if (catalog_open(state, &cat) != 0)
		return NULL;
	int e = catalog_get(cat, c->dataset, &d);
	catalog_close(cat);
	if (e == -ENOENT)
		log_errorx("no dataset '%s' (see 'coffer dataset list')", c->dataset);
	if (e != 0)
		return NULL;
	if (d.state == DATASET_SHREDDED) {
		log_errorx("dataset '%s' was crypto-shredded on %s: its keys are destroyed and "
			   "its data can never be read again", d.name,
			   fmt_time(d.shredded, when, sizeof when));
		return NULL;
	}
	if (console_keystore_unlocked(c, &ks) != 0)
		return NULL;
	/* dataset_open says why it failed. */
	(void)dataset_open(state, ks, c->dataset, NULL, &r);
	keystore_close(ks);
	return r;
}

int console_load_public_key(const char *path, enum pkey_use use, const char *what,
			    struct pkey **out)
{
	struct buf b = { 0 };
	int e = io_read_file_at(AT_FDCWD, path, &b, 64 * 1024);
	if (e != 0) {
		log_errorx("cannot read the %s %s: %s", what, path, coffer_strerror(e));
		buf_fini(&b);
		return -1;
	}
	e = pkey_from_public_pem(b.data, b.len, use, out);
	buf_fini(&b);
	if (e == -EINVAL) {
		log_errorx("%s cannot be the %s: it is not a %s key (a wrapping key is X25519 "
			   "or SM2, a signing key Ed25519 or SM2)", path, what,
			   use == PKEY_SIGN ? "signing" : "wrapping");
		return -1;
	}
	if (e != 0) {
		log_errorx("%s is not a PEM public key (%s)", path, coffer_strerror(e));
		return -1;
	}
	return 0;
}

