/*
 * keytool: test-only operations on an appliance's keys that the console
 * must not offer. Used by the integration tests, never installed.
 *
 *   keytool shred --state-dir D --dataset NAME
 *       crypto-shreds the dataset (keystore_shred) and marks it in the catalog
 *   keytool dump-keyset --state-dir D --dataset NAME
 *       prints the hex of the dataset's master and content keys, one a line
 *       (passphrase from $COFFER_PASSPHRASE_FILE), for the shred scan test
 *   keytool open-pack --state-dir D --dataset NAME PACKFILE
 *       exit 0 if the pack's header opens under the dataset's keys, 1 if
 *       authentication fails, 2 on any other error
 *
 * --dataset-id ID may replace --dataset NAME, for key sets a keystore holds
 * without a catalog row (imported from another site); shred then leaves
 * the catalog alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "crypto/keyset.h"
#include "keys/keystore.h"
#include "repo/pack.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/mem.h"

static int usage(void)
{
	fprintf(stderr, "usage: keytool shred|dump-keyset --state-dir D --dataset NAME|--dataset-id ID\n"
			"       keytool open-pack --state-dir D --dataset NAME|--dataset-id ID PACKFILE\n");
	return 2;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "keytool: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size_t n = (size_t)st.st_size, got = 0;
	uint8_t *p = malloc(n ? n : 1);
	while (p != NULL && got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (p == NULL || got != n) {
		free(p);
		fprintf(stderr, "keytool: cannot read %s\n", path);
		return -1;
	}
	*out = p;
	*len = n;
	return 0;
}

/* Unlocks ks with the passphrase in $COFFER_PASSPHRASE_FILE. */
static int unlock(struct keystore *ks)
{
	const char *file = getenv("COFFER_PASSPHRASE_FILE");
	uint8_t *pass;
	size_t len;
	if (file == NULL || read_file(file, &pass, &len) != 0) {
		fprintf(stderr, "keytool: set COFFER_PASSPHRASE_FILE\n");
		return -1;
	}
	if (len > 0 && pass[len - 1] == '\n')
		len--;
	int e = keystore_unlock_passphrase(ks, (const char *)pass, len);
	mem_wipe(pass, len);
	free(pass);
	return e;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "dataset", required_argument, NULL, 'd' },
		{ "dataset-id", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = NULL, *name = NULL, *id = NULL;
	struct catalog *cat = NULL;
	struct keystore *ks = NULL;
	struct keyset *k = NULL;
	struct dataset d;
	uint8_t *file = NULL;
	size_t file_len = 0;
	int opt, rc = 2, e;
	log_init("keytool", LOG_LVL_INFO);
	if (argc < 2)
		return usage();
	const char *cmd = argv[1];
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == 's')
			state = optarg;
		else if (opt == 'd')
			name = optarg;
		else if (opt == 'i')
			id = optarg;
		else
			return usage();
	}
	bool pack = strcmp(cmd, "open-pack") == 0;
	if (state == NULL || (name == NULL) == (id == NULL) || argc - optind != (pack ? 1 : 0))
		return usage();
	memset(&d, 0, sizeof d);
	if (id != NULL) {
		snprintf(d.id, sizeof d.id, "%s", id);
	} else if (catalog_open(state, &cat) != 0 || catalog_get(cat, name, &d) != 0) {
		fprintf(stderr, "keytool: no dataset %s\n", name);
		goto out;
	}
	if (keystore_open(state, &ks) != 0)
		goto out;
	if (strcmp(cmd, "shred") == 0) {
		unsigned remote = 0;
		e = keystore_shred(ks, d.id, "integration test", &remote);
		if (e != 0) {
			fprintf(stderr, "keytool: shred: %s\n", coffer_strerror(e));
			goto out;
		}
		if (cat != NULL && catalog_mark_shredded(cat, name, (int64_t)time(NULL)) != 0)
			goto out;
		printf("shredded %s (%u remote exports)\n", name ? name : id, remote);
		rc = 0;
		goto out;
	}
	if (!pack && strcmp(cmd, "dump-keyset") != 0) {
		rc = usage();
		goto out;
	}
	k = keyset_new();
	if (k == NULL || unlock(ks) != 0)
		goto out;
	e = keystore_keyset_get(ks, d.id, k);
	if (e != 0) {
		fprintf(stderr, "keytool: keyset: %s\n", coffer_strerror(e));
		goto out;
	}
	if (!pack) {
		char hex[2 * CRYPTO_KEY_LEN + 1];
		hex_encode(k->master, CRYPTO_KEY_LEN, hex);
		printf("%s\n", hex);
		for (uint32_t g = 0; g < k->n_gens; g++) {
			hex_encode(k->content[g], CRYPTO_KEY_LEN, hex);
			printf("%s\n", hex);
		}
		mem_wipe(hex, sizeof hex);
		rc = 0;
		goto out;
	}
	/* The meta key is derived from master exactly as a repository does. */
	const struct suite *s = suite_by_id(k->suite);
	uint8_t *meta = secmem_alloc(CRYPTO_KEY_LEN);
	if (s == NULL || meta == NULL ||
	    suite_kdf(s, k->master, CRYPTO_KEY_LEN, "coffer/v1 meta", meta, CRYPTO_KEY_LEN) != 0 ||
	    read_file(argv[optind], &file, &file_len) != 0) {
		secmem_free(meta, CRYPTO_KEY_LEN);
		goto out;
	}
	struct blob_entry *entries = NULL;
	size_t n = 0;
	uint32_t gen;
	e = pack_read_header(s, meta, file, file_len, &gen, &entries, &n);
	secmem_free(meta, CRYPTO_KEY_LEN);
	free(entries);
	if (e == 0) {
		printf("opened: %zu blobs, key generation %u\n", n, gen);
		rc = 0;
	} else if (e == -EBADMSG) {
		printf("authentication failed\n");
		rc = 1;
	} else {
		fprintf(stderr, "keytool: %s\n", coffer_strerror(e));
	}
out:
	free(file);
	keyset_free(k);
	keystore_close(ks);
	catalog_close(cat);
	return rc;
}
