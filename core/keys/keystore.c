/*
 * The appliance keystore: the root key sealed by a passphrase, its Shamir
 * shares, and the datasets' key sets wrapped by it. Layouts in
 * docs/format/keystore.md. The root, share and split files end in a check
 * that needs no key, so a damaged file is named as damaged rather than
 * mistaken for a wrong passphrase. Rotation is journalled (keystore/
 * rotating) so that no crash leaves a key set under a root key nobody
 * holds.
 */
#include "keys/keystore_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"
#include "keys/shamir.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/mem.h"

#define ROOT_MAGIC "COFFERKS"
#define SHARE_MAGIC "COFFERSS"
#define SPLIT_MAGIC "COFFERSP"
#define KEYSET_MAGIC "COFFERWK"
#define KDF_SCRYPT 1
#define ROOT_AAD_LEN 156       /* bytes sealed as associated data */
#define ROOT_SEALED_LEN (CRYPTO_KEY_LEN + AEAD_OVERHEAD)
#define SHARE_BODY_LEN 104
#define KEYSET_HEAD_LEN 56
#define KEYSET_FILE_MAX (KEYSET_HEAD_LEN + 4 + CRYPTO_KEY_LEN * (KEYSET_MAX_GENS + 1) + AEAD_OVERHEAD)
#define SCRYPT_MAX_MEM (1ull << 30)

void keystore_init_opts_default(struct keystore_init_opts *o)
{
	o->suite = SUITE_INTERNATIONAL;
	o->scrypt_n = 1u << 15;
	o->scrypt_r = 8;
	o->scrypt_p = 1;
}

static int scrypt_params_ok(uint64_t n, uint32_t r, uint32_t p)
{
	return n >= 2 && (n & (n - 1)) == 0 && r >= 1 && r <= 64 && p >= 1 && p <= 64 &&
	       128ull * r <= SCRYPT_MAX_MEM / n;
}

int keystore_root_parse(const uint8_t *p, size_t len, struct root_head *h)
{
	uint8_t sum[CRYPTO_HASH_LEN];
	/* Version before length: a later version may have another length. */
	if (len < 16 || memcmp(p, ROOT_MAGIC, 8) != 0)
		return -EBADMSG;
	if (le32_get(p + 8) != KS_VERSION)
		return -ENOTSUP;
	if (len != ROOT_FILE_LEN)
		return -EBADMSG;
	/* The checksum is the suite's hash: an unknown suite cannot be checked. */
	const struct suite *s = suite_by_id(le32_get(p + 12));
	if (s == NULL)
		return -ENOTSUP;
	if (suite_hash(s, p, ROOT_FILE_LEN - CRYPTO_HASH_LEN, sum) != 0 ||
	    crypto_memcmp(sum, p + ROOT_FILE_LEN - CRYPTO_HASH_LEN, sizeof sum) != 0)
		return -EBADMSG;
	h->suite = le32_get(p + 12);
	memcpy(h->id, p + 16, 32);
	h->root_gen = le32_get(p + 48);
	memcpy(h->check, p + 52, CRYPTO_HASH_LEN);
	h->n = le64_get(p + 88);
	h->r = le32_get(p + 96);
	h->p = le32_get(p + 100);
	if (le32_get(p + 84) != KDF_SCRYPT || !scrypt_params_ok(h->n, h->r, h->p) ||
	    le32_get(p + 136) != ROOT_SEALED_LEN)
		return -EBADMSG;
	return 0;
}

/* The root key's check value: one-way, so it may be stored in the clear. */
static int root_check(const struct suite *s, const uint8_t *root, uint8_t out[CRYPTO_HASH_LEN])
{
	return suite_kdf(s, root, CRYPTO_KEY_LEN, "coffer/v1 root check", out, CRYPTO_HASH_LEN);
}

/*
 * Builds a root file sealing root under pass:
 *   0 magic, 8 version, 12 suite, 16 id, 48 root_gen, 52 check, 84 kdf,
 *   88 N, 96 r, 100 p, 104 salt, 136 sealed_len, 140..156 reserved,
 *   156 sealed root key (60), 216 checksum (32).
 */
static int root_build(const struct suite *s, const uint8_t id[32], uint32_t gen,
		      const uint8_t *root, const char *pass, size_t pass_len,
		      uint64_t n, uint32_t r, uint32_t p, uint8_t out[ROOT_FILE_LEN])
{
	memset(out, 0, ROOT_FILE_LEN);
	memcpy(out, ROOT_MAGIC, 8);
	le32_put(out + 8, KS_VERSION);
	le32_put(out + 12, suite_id(s));
	memcpy(out + 16, id, 32);
	le32_put(out + 48, gen);
	le32_put(out + 84, KDF_SCRYPT);
	le64_put(out + 88, n);
	le32_put(out + 96, r);
	le32_put(out + 100, p);
	le32_put(out + 136, ROOT_SEALED_LEN);
	uint8_t *kek = secmem_alloc(CRYPTO_KEY_LEN);
	if (kek == NULL)
		return -ENOMEM;
	int e = root_check(s, root, out + 52);
	if (e == 0)
		e = crypto_random(out + 104, 32);
	if (e == 0)
		e = crypto_scrypt(pass, pass_len, out + 104, 32, n, r, p, kek, CRYPTO_KEY_LEN);
	if (e == 0)
		e = suite_seal(s, kek, out, ROOT_AAD_LEN, root, CRYPTO_KEY_LEN, out + ROOT_AAD_LEN);
	if (e == 0)
		e = suite_hash(s, out, ROOT_FILE_LEN - CRYPTO_HASH_LEN,
			       out + ROOT_FILE_LEN - CRYPTO_HASH_LEN);
	secmem_free(kek, CRYPTO_KEY_LEN);
	return e;
}

/* Creates dir (mode 0700) if absent; an existing one is kept. */
static int mkdir_private(const char *dir)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int keystore_init(const char *state_dir, const char *pass, size_t pass_len,
		  const struct keystore_init_opts *o)
{
	const struct suite *s = suite_by_id(o->suite);
	if (s == NULL) {
		log_errorx("cryptographic suite %u is not available", o->suite);
		return -ENOTSUP;
	}
	if (!scrypt_params_ok(o->scrypt_n, o->scrypt_r, o->scrypt_p)) {
		log_errorx("scrypt parameters N=%llu r=%u p=%u are outside what a keystore "
			   "accepts", (unsigned long long)o->scrypt_n, o->scrypt_r, o->scrypt_p);
		return -EINVAL;
	}
	char dir[4096];
	if ((size_t)snprintf(dir, sizeof dir, "%s/keystore", state_dir) >= sizeof dir)
		return -ENAMETOOLONG;
	int e = mkdir_private(state_dir);
	if (e != 0) {
		log_errorx("cannot create %s: %s", state_dir, coffer_strerror(e));
		return e;
	}
	if (mkdir(dir, 0700) != 0) {
		e = -errno;
		if (e == -EEXIST)
			log_errorx("a keystore already exists in %s", dir);
		else
			log_errorx("cannot create %s: %s", dir, coffer_strerror(e));
		return e;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint8_t *root = secmem_alloc(CRYPTO_KEY_LEN);
	uint8_t id[32], file[ROOT_FILE_LEN];
	if (dfd < 0 || root == NULL) {
		e = dfd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	e = crypto_random(root, CRYPTO_KEY_LEN);
	if (e == 0)
		e = crypto_random(id, sizeof id);
	if (e == 0)
		e = root_build(s, id, 1, root, pass, pass_len, o->scrypt_n, o->scrypt_r,
			       o->scrypt_p, file);
	if (e == 0 && mkdirat(dfd, "keysets", 0700) != 0)
		e = -errno;
	/* The root file last: a keystore directory without it is not a keystore. */
	if (e == 0)
		e = io_replace_file_at(dfd, "root", file, sizeof file, 0600);
	if (e != 0)
		log_errorx("cannot create the keystore in %s: %s", dir, coffer_strerror(e));
out:
	secmem_free(root, CRYPTO_KEY_LEN);
	if (dfd >= 0)
		close(dfd);
	return e;
}

/* Reads the root file of ks into file (ROOT_FILE_LEN bytes) and parses it. */
static int root_read(struct keystore *ks, uint8_t file[ROOT_FILE_LEN], struct root_head *h)
{
	struct buf b = { 0 };
	int e = io_read_file_at(ks->dfd, "root", &b, 4096);
	if (e == -ENOENT) {
		log_errorx("no keystore in %s (no root file)", ks->path);
		goto out;
	}
	if (e != 0) {
		log_errorx("cannot read %s/root: %s", ks->path, coffer_strerror(e));
		goto out;
	}
	e = keystore_root_parse(b.data, b.len, h);
	if (e == -ENOTSUP)
		log_errorx("%s/root has a newer format version or a suite this program does "
			   "not implement", ks->path);
	else if (e != 0)
		log_errorx("keystore file %s/root is damaged (%s)", ks->path,
			   b.len != ROOT_FILE_LEN ? "wrong length, truncated?" : "checksum mismatch");
	else
		memcpy(file, b.data, ROOT_FILE_LEN);
out:
	buf_fini(&b);
	return e;
}

int keystore_open(const char *state_dir, struct keystore **out)
{
	struct keystore *ks = calloc(1, sizeof *ks);
	if (ks == NULL)
		return -ENOMEM;
	ks->dfd = -1;
	uint8_t file[ROOT_FILE_LEN];
	struct root_head h;
	int e = asprintf(&ks->path, "%s/keystore", state_dir) < 0 ? -ENOMEM : 0;
	if (e == 0 && (ks->dfd = open(ks->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		e = -errno;
		if (e != -ENOENT)
			log_errorx("cannot open %s: %s", ks->path, coffer_strerror(e));
	}
	if (e == 0)
		e = root_read(ks, file, &h);
	if (e != 0) {
		keystore_close(ks);
		return e;
	}
	ks->s = suite_by_id(h.suite);
	memcpy(ks->id, h.id, 32);
	ks->root_gen = h.root_gen;
	memcpy(ks->check, h.check, sizeof ks->check);
	*out = ks;
	return 0;
}

void keystore_close(struct keystore *ks)
{
	if (ks == NULL)
		return;
	secmem_free(ks->root, CRYPTO_KEY_LEN);
	if (ks->dfd >= 0)
		close(ks->dfd);
	free(ks->path);
	free(ks);
}

uint32_t keystore_suite(const struct keystore *ks) { return suite_id(ks->s); }
const uint8_t *keystore_id(const struct keystore *ks) { return ks->id; }
const uint8_t *keystore_root(const struct keystore *ks) { return ks->root; }

static int rotation_resume(struct keystore *ks);

/* After the root key checks out, a pending rotation is completed. */
int keystore_unlock_root(struct keystore *ks, const uint8_t root[CRYPTO_KEY_LEN])
{
	uint8_t check[CRYPTO_HASH_LEN];
	int e = root_check(ks->s, root, check);
	if (e != 0)
		return e;
	if (crypto_memcmp(check, ks->check, sizeof check) != 0)
		return -EACCES;
	if (ks->root == NULL && (ks->root = secmem_alloc(CRYPTO_KEY_LEN)) == NULL)
		return -ENOMEM;
	memcpy(ks->root, root, CRYPTO_KEY_LEN);
	return rotation_resume(ks);
}

int keystore_unlock_passphrase(struct keystore *ks, const char *pass, size_t pass_len)
{
	uint8_t file[ROOT_FILE_LEN];
	struct root_head h;
	int e = root_read(ks, file, &h);
	if (e != 0)
		return e;
	uint8_t *kek = secmem_alloc(CRYPTO_KEY_LEN), *root = secmem_alloc(CRYPTO_KEY_LEN);
	if (kek == NULL || root == NULL) {
		e = -ENOMEM;
		goto out;
	}
	e = crypto_scrypt(pass, pass_len, file + 104, 32, h.n, h.r, h.p, kek, CRYPTO_KEY_LEN);
	if (e == 0) {
		e = suite_open(ks->s, kek, file, ROOT_AAD_LEN, file + ROOT_AAD_LEN,
			       ROOT_SEALED_LEN, root);
		if (e == -EBADMSG) {
			log_errorx("wrong passphrase for the keystore");
			e = -EACCES;
		}
	}
	if (e == 0 && (e = keystore_unlock_root(ks, root)) == -EACCES)
		log_errorx("keystore file %s/root is inconsistent (check value)", ks->path);
out:
	secmem_free(kek, CRYPTO_KEY_LEN);
	secmem_free(root, CRYPTO_KEY_LEN);
	return e;
}

/*
 * Share file: 0 magic, 8 version, 12 suite, 16 keystore id, 48 split id,
 * 64 root_gen, 68 m, 69 n, 70 x, 71 reserved, 72 share (32), 104 checksum.
 */
int keystore_share_parse(const uint8_t *p, size_t len, struct share_file *sh)
{
	uint8_t sum[CRYPTO_HASH_LEN];
	if (len < 16 || memcmp(p, SHARE_MAGIC, 8) != 0)
		return -EBADMSG;
	if (le32_get(p + 8) != KS_VERSION)
		return -ENOTSUP;
	if (len != SHARE_FILE_LEN)
		return -EBADMSG;
	const struct suite *s = suite_by_id(le32_get(p + 12));
	if (s == NULL)
		return -ENOTSUP;
	if (suite_hash(s, p, SHARE_BODY_LEN, sum) != 0 ||
	    crypto_memcmp(sum, p + SHARE_BODY_LEN, sizeof sum) != 0)
		return -EBADMSG;
	sh->suite = le32_get(p + 12);
	memcpy(sh->keystore_id, p + 16, 32);
	memcpy(sh->split_id, p + 48, 16);
	sh->root_gen = le32_get(p + 64);
	sh->m = p[68];
	sh->n = p[69];
	sh->x = p[70];
	memcpy(sh->y, p + 72, 32);
	if (sh->m < 2 || sh->m > sh->n || sh->x == 0 || sh->x > sh->n || p[71] != 0)
		return -EBADMSG;
	return 0;
}

/*
 * The current split, keystore/split: 0 magic, 8 version, 12 split id,
 * 28 root_gen, 32 checksum over bytes 0..32 (keystore suite).
 */
static int split_read(struct keystore *ks, uint8_t split_id[16], uint32_t *gen)
{
	struct buf b = { 0 };
	uint8_t sum[CRYPTO_HASH_LEN];
	int e = io_read_file_at(ks->dfd, "split", &b, 4096);
	if (e == -ENOENT) {
		log_errorx("the root key of this keystore has not been split into shares");
		goto out;
	}
	if (e != 0)
		goto out;
	if (b.len != SPLIT_FILE_LEN || memcmp(b.data, SPLIT_MAGIC, 8) != 0 ||
	    le32_get(b.data + 8) != KS_VERSION || suite_hash(ks->s, b.data, 32, sum) != 0 ||
	    crypto_memcmp(sum, b.data + 32, sizeof sum) != 0) {
		log_errorx("keystore file %s/split is damaged", ks->path);
		e = -EBADMSG;
		goto out;
	}
	memcpy(split_id, b.data + 12, 16);
	*gen = le32_get(b.data + 28);
out:
	buf_fini(&b);
	return e;
}

int keystore_split(struct keystore *ks, unsigned n, unsigned m, const char *dir)
{
	if (ks->root == NULL)
		return -EPERM;
	if (m < 2 || m > n || n > 255) {
		log_errorx("a split needs 2 <= threshold <= shares <= 255 (got %u of %u)", m, n);
		return -EINVAL;
	}
	struct shamir_share *sh = secmem_alloc(n * sizeof *sh);
	uint8_t split[SPLIT_FILE_LEN] = { 0 }, file[SHARE_FILE_LEN];
	if (sh == NULL)
		return -ENOMEM;
	int dfd = -1, e = mkdir_private(dir);
	if (e == 0 && (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		e = -errno;
	memcpy(split, SPLIT_MAGIC, 8);
	le32_put(split + 8, KS_VERSION);
	le32_put(split + 28, ks->root_gen);
	if (e == 0)
		e = crypto_random(split + 12, 16);
	if (e == 0)
		e = suite_hash(ks->s, split, 32, split + 32);
	if (e == 0)
		e = shamir_split(ks->root, n, m, sh);
	for (unsigned i = 0; e == 0 && i < n; i++) {
		char name[64];
		memset(file, 0, sizeof file);
		memcpy(file, SHARE_MAGIC, 8);
		le32_put(file + 8, KS_VERSION);
		le32_put(file + 12, suite_id(ks->s));
		memcpy(file + 16, ks->id, 32);
		memcpy(file + 48, split + 12, 16);
		le32_put(file + 64, ks->root_gen);
		file[68] = (uint8_t)m;
		file[69] = (uint8_t)n;
		file[70] = sh[i].x;
		memcpy(file + 72, sh[i].y, 32);
		e = suite_hash(ks->s, file, SHARE_BODY_LEN, file + SHARE_BODY_LEN);
		snprintf(name, sizeof name, "share-%u-of-%u", i + 1, n);
		if (e == 0)
			e = io_replace_file_at(dfd, name, file, sizeof file, 0600);
	}
	mem_wipe(file, sizeof file);
	/* Recorded last: until then the previous split stays the valid one. */
	if (e == 0)
		e = keystore_replace(ks, "split", split, sizeof split);
	if (e == 0) {
		char detail[64];
		snprintf(detail, sizeof detail, "%u of %u", m, n);
		e = keystore_record(ks, "split", "-", detail);
	}
	if (e != 0)
		log_errorx("cannot write the shares to %s: %s", dir, coffer_strerror(e));
	if (dfd >= 0)
		close(dfd);
	secmem_free(sh, n * sizeof *sh);
	return e;
}

int keystore_unlock_share_data(struct keystore *ks, const uint8_t *const *data,
				const size_t *lens, const char *const *names, size_t n)
{
	uint8_t split_id[16];
	uint32_t split_gen;
	int e = split_read(ks, split_id, &split_gen);
	if (e != 0)
		return e;
	struct shamir_share *sh = secmem_alloc((n ? n : 1) * sizeof *sh);
	uint8_t *root = secmem_alloc(CRYPTO_KEY_LEN);
	struct share_file *f = secmem_alloc(sizeof *f);
	size_t k = 0;
	unsigned m = 0;
	if (sh == NULL || root == NULL || f == NULL) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		e = keystore_share_parse(data[i], lens[i], f);
		if (e != 0) {
			log_errorx("share file %s is corrupted (%s)", names[i],
				   e == -ENOTSUP ? "newer format version or unknown suite"
						 : "checksum mismatch");
			goto out;
		}
		const char *why = NULL;
		if (memcmp(f->keystore_id, ks->id, 32) != 0 || f->suite != suite_id(ks->s))
			why = "belongs to another keystore";
		else if (f->root_gen < ks->root_gen || f->root_gen != split_gen)
			why = "was made for an earlier root key (the keystore was rotated since)";
		else if (f->root_gen > ks->root_gen)
			why = "was made for a later root key than this keystore's (is the keystore "
			      "restored from an old copy?)";
		else if (memcmp(f->split_id, split_id, 16) != 0)
			why = "is from an earlier split (the root key was split again since)";
		if (why != NULL) {
			log_errorx("share file %s %s", names[i], why);
			e = -EACCES;
			goto out;
		}
		m = f->m;
		bool dup = false;
		for (size_t j = 0; j < k; j++)
			dup = dup || sh[j].x == f->x;
		if (!dup) {
			sh[k].x = f->x;
			memcpy(sh[k].y, f->y, 32);
			k++;
		}
	}
	if (n == 0 || k < m) {
		log_errorx("too few shares: %zu given, %u needed", k, m ? m : 2);
		e = -ERANGE;
		goto out;
	}
	e = shamir_combine(sh, k, root);
	if (e == 0 && (e = keystore_unlock_root(ks, root)) == -EACCES)
		log_errorx("the shares do not reconstruct this keystore's root key");
out:
	secmem_free(sh, (n ? n : 1) * sizeof *sh);
	secmem_free(root, CRYPTO_KEY_LEN);
	secmem_free(f, sizeof *f);
	return e;
}

int keystore_unlock_shares(struct keystore *ks, const char *const *files, size_t n)
{
	uint8_t **data = calloc(n ? n : 1, sizeof *data);
	size_t *lens = calloc(n ? n : 1, sizeof *lens);
	int e = data != NULL && lens != NULL ? 0 : -ENOMEM;
	for (size_t i = 0; e == 0 && i < n; i++) {
		struct buf b = { 0 };
		e = io_read_file_at(AT_FDCWD, files[i], &b, 4096);
		if (e != 0) {
			log_errorx("cannot read share file %s: %s", files[i], coffer_strerror(e));
			buf_fini(&b);
			break;
		}
		/* Into locked memory: a share is secret material in the clear. */
		if ((data[i] = secmem_alloc(b.len ? b.len : 1)) == NULL)
			e = -ENOMEM;
		else
			memcpy(data[i], b.data, b.len);
		lens[i] = b.len;
		buf_fini(&b);
	}
	if (e == 0)
		e = keystore_unlock_share_data(ks, (const uint8_t *const *)data, lens, files, n);
	for (size_t i = 0; data != NULL && i < n; i++)
		secmem_free(data[i], lens != NULL && lens[i] ? lens[i] : 1);
	free(data);
	free(lens);
	return e;
}

int keystore_derive(struct keystore *ks, const struct suite *s, const char *info,
		    uint8_t out[CRYPTO_KEY_LEN])
{
	if (ks->root == NULL)
		return -EPERM;
	return suite_kdf(s, ks->root, CRYPTO_KEY_LEN, info, out, CRYPTO_KEY_LEN);
}

/* fsyncs the directory holding name (relative to dfd), making an unlink durable. */
static int fsync_parent(int dfd, const char *name)
{
	const char *slash = strrchr(name, '/');
	if (slash == NULL)
		return io_fsync_dir(dfd);
	char dir[4096];
	if (slash == name)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - name), name);
	int pfd = openat(dfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int e = pfd < 0 ? -errno : io_fsync_dir(pfd);
	if (pfd >= 0)
		close(pfd);
	return e;
}

int keystore_overwrite_remove(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int e = io_overwrite_fd(fd);
	close(fd);
	if (e == 0 && unlinkat(dfd, name, 0) != 0)
		e = -errno;
	return e == 0 ? fsync_parent(dfd, name) : e;
}

int keystore_replace(struct keystore *ks, const char *name, const void *data, size_t len)
{
	/*
	 * A rename alone would leave the old bytes in freed blocks. (What
	 * overwriting does and does not achieve on SSDs and copy-on-write
	 * filesystems: docs/format/keystore.md.)
	 */
	return io_replace_file_wiping_at(ks->dfd, name, data, len, 0600);
}

/* keysets/ID, checking ID is 32 lower-case hex digits. */
static int keyset_name(const char *dataset_id, char name[64])
{
	size_t len = strlen(dataset_id);
	if (len != DATASET_ID_LEN || strspn(dataset_id, "0123456789abcdef") != len)
		return -EINVAL;
	snprintf(name, 64, "keysets/%s", dataset_id);
	return 0;
}

/*
 * Key set file: 0 magic, 8 version, 12 suite of the key set, 16 root_gen,
 * 20 dataset ID (32 ASCII hex), 52 sealed length, 56 sealed(n_gens,
 * master, content keys) under the wrap key, header as associated data.
 */
int keystore_keyset_encode(const struct keyset *k, uint8_t **pt, size_t *len)
{
	if (suite_by_id(k->suite) == NULL || k->n_gens < 1 || k->n_gens > KEYSET_MAX_GENS)
		return -EINVAL;
	size_t n = 4 + CRYPTO_KEY_LEN * (1 + (size_t)k->n_gens);
	uint8_t *p = secmem_alloc(n);
	if (p == NULL)
		return -ENOMEM;
	le32_put(p, k->n_gens);
	memcpy(p + 4, k->master, CRYPTO_KEY_LEN);
	memcpy(p + 4 + CRYPTO_KEY_LEN, k->content, CRYPTO_KEY_LEN * (size_t)k->n_gens);
	*pt = p;
	*len = n;
	return 0;
}

int keystore_keyset_decode(const uint8_t *pt, size_t len, uint32_t suite, struct keyset *out)
{
	uint32_t n = len >= 4 ? le32_get(pt) : 0;
	if (n < 1 || n > KEYSET_MAX_GENS || len != 4 + CRYPTO_KEY_LEN * (1 + (size_t)n))
		return -EBADMSG;
	mem_wipe(out, sizeof *out);
	out->suite = suite;
	out->n_gens = n;
	memcpy(out->master, pt + 4, CRYPTO_KEY_LEN);
	memcpy(out->content, pt + 4 + CRYPTO_KEY_LEN, CRYPTO_KEY_LEN * (size_t)n);
	return 0;
}

static int keyset_wrap(struct keystore *ks, const char *dataset_id, const struct keyset *k,
		       struct buf *out)
{
	const struct suite *s = suite_by_id(k->suite);
	uint8_t *pt = NULL, *wk = secmem_alloc(CRYPTO_KEY_LEN);
	size_t pt_len = 0;
	uint8_t head[KEYSET_HEAD_LEN];
	int e = wk != NULL ? keystore_keyset_encode(k, &pt, &pt_len) : -ENOMEM;
	if (e != 0) {
		secmem_free(wk, CRYPTO_KEY_LEN);
		return e;
	}
	memcpy(head, KEYSET_MAGIC, 8);
	le32_put(head + 8, KS_VERSION);
	le32_put(head + 12, k->suite);
	le32_put(head + 16, ks->root_gen);
	memcpy(head + 20, dataset_id, DATASET_ID_LEN);
	le32_put(head + 52, (uint32_t)(pt_len + AEAD_OVERHEAD));
	e = keystore_derive(ks, s, "coffer/v1 keyset wrap", wk);
	if (e == 0)
		e = buf_put(out, head, sizeof head);
	if (e == 0)
		e = buf_reserve(out, pt_len + AEAD_OVERHEAD);
	if (e == 0)
		e = suite_seal(s, wk, head, sizeof head, pt, pt_len, out->data + out->len);
	if (e == 0)
		out->len += pt_len + AEAD_OVERHEAD;
	secmem_free(pt, pt_len);
	secmem_free(wk, CRYPTO_KEY_LEN);
	return e;
}

static int keyset_unwrap(struct keystore *ks, const char *dataset_id, const uint8_t *p,
			 size_t len, struct keyset *out)
{
	if (len < KEYSET_HEAD_LEN || memcmp(p, KEYSET_MAGIC, 8) != 0)
		return -EBADMSG;
	if (le32_get(p + 8) != KS_VERSION)
		return -ENOTSUP;
	const struct suite *s = suite_by_id(le32_get(p + 12));
	uint32_t sealed = le32_get(p + 52);
	if (s == NULL)
		return -ENOTSUP;
	if (memcmp(p + 20, dataset_id, DATASET_ID_LEN) != 0 ||
	    sealed != len - KEYSET_HEAD_LEN || sealed < AEAD_OVERHEAD + 4 + 2 * CRYPTO_KEY_LEN ||
	    (sealed - AEAD_OVERHEAD - 4) % CRYPTO_KEY_LEN != 0)
		return -EBADMSG;
	if (le32_get(p + 16) != ks->root_gen)
		return -EBADMSG;
	size_t pt_len = sealed - AEAD_OVERHEAD;
	uint8_t *pt = secmem_alloc(pt_len), *wk = secmem_alloc(CRYPTO_KEY_LEN);
	int e = pt != NULL && wk != NULL ? 0 : -ENOMEM;
	if (e == 0)
		e = keystore_derive(ks, s, "coffer/v1 keyset wrap", wk);
	if (e == 0)
		e = suite_open(s, wk, p, KEYSET_HEAD_LEN, p + KEYSET_HEAD_LEN, sealed, pt);
	if (e == 0)
		e = keystore_keyset_decode(pt, pt_len, suite_id(s), out);
	secmem_free(pt, pt_len);
	secmem_free(wk, CRYPTO_KEY_LEN);
	return e;
}

static int keyset_write(struct keystore *ks, const char *dataset_id, const struct keyset *k,
			bool replace)
{
	char name[64];
	struct buf b = { 0 };
	int e = keyset_name(dataset_id, name);
	if (e != 0)
		return e;
	if (ks->root == NULL)
		return -EPERM;
	e = keyset_wrap(ks, dataset_id, k, &b);
	/* A new key set never replaces one: two creators cannot both succeed. */
	if (e == 0)
		e = replace ? keystore_replace(ks, name, b.data, b.len)
			    : io_create_file_at(ks->dfd, name, b.data, b.len, 0600);
	buf_fini(&b);
	if (e == -EEXIST)
		log_errorx("the keystore already holds a key set for dataset %s", dataset_id);
	if (e == 0 && replace)
		e = keystore_record(ks, "rotate-keyset", dataset_id, "content key rotated");
	return e;
}

int keystore_keyset_put(struct keystore *ks, const char *dataset_id, const struct keyset *k)
{
	return keyset_write(ks, dataset_id, k, false);
}

int keystore_keyset_replace(struct keystore *ks, const char *dataset_id, const struct keyset *k)
{
	return keyset_write(ks, dataset_id, k, true);
}

int keystore_keyset_get(struct keystore *ks, const char *dataset_id, struct keyset *out)
{
	char name[64];
	struct buf b = { 0 };
	int e = keyset_name(dataset_id, name);
	if (e != 0)
		return e;
	if (ks->root == NULL)
		return -EPERM;
	e = io_read_file_at(ks->dfd, name, &b, KEYSET_FILE_MAX);
	if (e == -ENOENT) {
		int64_t when = 0;
		if (keystore_is_shredded(ks, dataset_id, &when) == 1) {
			log_errorx("the keys of dataset %s were destroyed (crypto-shredded at "
				   "%lld): its data can never be read again", dataset_id,
				   (long long)when);
			e = -EKEYREVOKED;
		} else {
			log_errorx("the keystore holds no key set for dataset %s", dataset_id);
		}
	} else if (e == 0) {
		e = keyset_unwrap(ks, dataset_id, b.data, b.len, out);
		if (e == -EBADMSG)
			log_errorx("key set file %s/%s is damaged or not wrapped by this "
				   "keystore's current root key", ks->path, name);
		else if (e == -ENOTSUP)
			log_errorx("key set file %s/%s has a newer format version or a suite "
				   "this program does not implement", ks->path, name);
	}
	buf_fini(&b);
	return e;
}

/*
 * Calls fn for every key set file's dataset ID. The names are read first
 * and the directory closed before fn runs: fn may replace files in it,
 * and a directory stream need not skip entries renamed in meanwhile.
 */
static int keysets_each(struct keystore *ks, int (*fn)(struct keystore *, const char *, void *),
			void *arg)
{
	int fd = openat(ks->dfd, "keysets", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		int e = -errno;
		if (fd >= 0)
			close(fd);
		return e == -ENOENT ? 0 : e;
	}
	struct buf ids = { 0 };
	struct dirent *de;
	int e = 0;
	while (e == 0 && (de = readdir(d)) != NULL) {
		if (strlen(de->d_name) == DATASET_ID_LEN &&
		    strspn(de->d_name, "0123456789abcdef") == DATASET_ID_LEN)
			e = buf_put(&ids, de->d_name, DATASET_ID_LEN + 1);
	}
	closedir(d);
	for (size_t off = 0; e == 0 && off < ids.len; off += DATASET_ID_LEN + 1)
		e = fn(ks, (const char *)ids.data + off, arg);
	buf_fini(&ids);
	return e;
}

/*
 * The rotation journal, keystore/rotating: 0 magic, 8 version, 12 suite,
 * 16 old root_gen, 20 new root_gen, 24 the new root file (248 bytes,
 * sealed under the new passphrase), 272 the new root key sealed under a
 * key derived from the old root key, header (0..272) as associated data.
 * Written durably before anything is re-wrapped and removed after the
 * root file is replaced, it lets whoever unlocks the old root key
 * (passphrase, shares or cache) finish an interrupted rotation.
 */
#define ROT_MAGIC "COFFERRT"
#define ROT_AAD_LEN (24 + ROOT_FILE_LEN)
#define ROT_FILE_LEN (ROT_AAD_LEN + CRYPTO_KEY_LEN + AEAD_OVERHEAD)

struct rotation {
	uint32_t old_gen, new_gen;
	uint8_t root_file[ROOT_FILE_LEN];
	uint8_t *new_root;           /* secmem */
};

static int rotation_key(struct keystore *ks, uint8_t key[CRYPTO_KEY_LEN])
{
	return keystore_derive(ks, ks->s, "coffer/v1 rotation", key);
}

static int rotation_write(struct keystore *ks, const struct rotation *rot)
{
	uint8_t file[ROT_FILE_LEN];
	uint8_t *key = secmem_alloc(CRYPTO_KEY_LEN);
	int e = key != NULL ? rotation_key(ks, key) : -ENOMEM;
	memcpy(file, ROT_MAGIC, 8);
	le32_put(file + 8, KS_VERSION);
	le32_put(file + 12, suite_id(ks->s));
	le32_put(file + 16, rot->old_gen);
	le32_put(file + 20, rot->new_gen);
	memcpy(file + 24, rot->root_file, ROOT_FILE_LEN);
	if (e == 0)
		e = suite_seal(ks->s, key, file, ROT_AAD_LEN, rot->new_root, CRYPTO_KEY_LEN,
			       file + ROT_AAD_LEN);
	if (e == 0)
		e = io_create_file_at(ks->dfd, "rotating", file, sizeof file, 0600);
	secmem_free(key, CRYPTO_KEY_LEN);
	return e;
}

/*
 * Reads the journal: -ENOENT if none; -EBADMSG if damaged. The new root
 * key is opened only when ks is unlocked with the old root key.
 */
static int rotation_read(struct keystore *ks, struct rotation *rot)
{
	struct buf b = { 0 };
	struct root_head h;
	int e = io_read_file_at(ks->dfd, "rotating", &b, 4096);
	if (e != 0)
		goto out;
	e = -EBADMSG;
	if (b.len != ROT_FILE_LEN || memcmp(b.data, ROT_MAGIC, 8) != 0 ||
	    le32_get(b.data + 8) != KS_VERSION || le32_get(b.data + 12) != suite_id(ks->s))
		goto out;
	rot->old_gen = le32_get(b.data + 16);
	rot->new_gen = le32_get(b.data + 20);
	memcpy(rot->root_file, b.data + 24, ROOT_FILE_LEN);
	if (rot->new_gen != rot->old_gen + 1 ||
	    keystore_root_parse(rot->root_file, ROOT_FILE_LEN, &h) != 0 ||
	    h.root_gen != rot->new_gen || memcmp(h.id, ks->id, 32) != 0)
		goto out;
	e = 0;
	if (ks->root_gen == rot->old_gen) {
		uint8_t *key = secmem_alloc(CRYPTO_KEY_LEN);
		e = key != NULL ? rotation_key(ks, key) : -ENOMEM;
		if (e == 0)
			e = suite_open(ks->s, key, b.data, ROT_AAD_LEN, b.data + ROT_AAD_LEN,
				       CRYPTO_KEY_LEN + AEAD_OVERHEAD, rot->new_root);
		secmem_free(key, CRYPTO_KEY_LEN);
	}
out:
	if (e == -EBADMSG)
		log_errorx("keystore file %s/rotating is damaged", ks->path);
	buf_fini(&b);
	return e;
}

/*
 * Re-wraps one key set under the new root key (ks->root still the old
 * one). A key set already under the new generation (a resumed rotation)
 * is left alone.
 */
static int rewrap_one(struct keystore *ks, const char *id, void *arg)
{
	struct rotation *rot = arg;
	struct buf b = { 0 };
	char name[64];
	(void)keyset_name(id, name);
	int e = io_read_file_at(ks->dfd, name, &b, KEYSET_FILE_MAX);
	if (e == 0 && b.len >= KEYSET_HEAD_LEN && le32_get(b.data + 16) == rot->new_gen) {
		buf_fini(&b);
		return 0;
	}
	buf_fini(&b);
	struct keyset *k = keyset_new();
	e = k != NULL ? keystore_keyset_get(ks, id, k) : -ENOMEM;
	if (e == 0) {
		uint8_t *old = ks->root;
		uint32_t old_gen = ks->root_gen;
		ks->root = rot->new_root;
		ks->root_gen = rot->new_gen;
		e = keyset_wrap(ks, id, k, &b);
		ks->root = old;
		ks->root_gen = old_gen;
	}
	if (e == 0)
		e = keystore_replace(ks, name, b.data, b.len);
	buf_fini(&b);
	keyset_free(k);
	return e;
}

/*
 * Steps of a rotation after its journal is durable, each idempotent, so
 * a resumed rotation runs them all again: key sets and site keys
 * re-wrapped, the root file replaced, the old split retired, the journal
 * removed. On success ks holds the new root key.
 */
static int rotation_finish(struct keystore *ks, struct rotation *rot)
{
	int e = 0;
	if (ks->root_gen == rot->old_gen) {
		e = keysets_each(ks, rewrap_one, rot);
		if (e == 0)
			e = keystore_site_rewrap(ks, rot->new_root, rot->new_gen);
		if (e == 0)
			e = keystore_replace(ks, "root", rot->root_file, ROOT_FILE_LEN);
		if (e == 0) {
			memcpy(ks->root, rot->new_root, CRYPTO_KEY_LEN);
			ks->root_gen = rot->new_gen;
			e = root_check(ks->s, ks->root, ks->check);
		}
	}
	if (e == 0) {
		/* Shares of the old root key are useless now; so is their split. */
		int r = keystore_overwrite_remove(ks->dfd, "split");
		if (r != 0 && r != -ENOENT)
			e = r;
	}
	if (e == 0)
		e = keystore_record(ks, "rotate", "-", "root key replaced");
	if (e == 0) {
		int r = keystore_overwrite_remove(ks->dfd, "rotating");
		if (r != 0 && r != -ENOENT)
			e = r;
	}
	return e;
}

/* Finishes a rotation a crash or error interrupted; 0 if there is none. */
static int rotation_resume(struct keystore *ks)
{
	struct rotation rot = { .new_root = secmem_alloc(CRYPTO_KEY_LEN) };
	int e = rot.new_root != NULL ? rotation_read(ks, &rot) : -ENOMEM;
	if (e == -ENOENT) {
		e = 0;
	} else if (e == 0 && ks->root_gen != rot.old_gen && ks->root_gen != rot.new_gen) {
		log_errorx("keystore file %s/rotating belongs to another root key generation; "
			   "left as it is", ks->path);
	} else if (e == 0) {
		log_warnx("completing an interrupted rotation of the root key: the new "
			  "passphrase is now the keystore's passphrase");
		e = rotation_finish(ks, &rot);
		if (e != 0)
			log_errorx("cannot complete the rotation of the root key: %s",
				   coffer_strerror(e));
	}
	secmem_free(rot.new_root, CRYPTO_KEY_LEN);
	return e;
}

int keystore_rotate(struct keystore *ks, const char *new_pass, size_t new_pass_len)
{
	if (ks->root == NULL)
		return -EPERM;
	uint8_t old[ROOT_FILE_LEN];
	struct root_head h;
	struct rotation rot = { .old_gen = ks->root_gen, .new_gen = ks->root_gen + 1,
				.new_root = secmem_alloc(CRYPTO_KEY_LEN) };
	int e = rot.new_root != NULL ? root_read(ks, old, &h) : -ENOMEM;
	if (e == 0)
		e = crypto_random(rot.new_root, CRYPTO_KEY_LEN);
	if (e == 0)
		e = root_build(ks->s, ks->id, rot.new_gen, rot.new_root, new_pass, new_pass_len,
			       h.n, h.r, h.p, rot.root_file);
	/*
	 * The journal first: from here on any unlock of the old root key
	 * completes the rotation, so no key set is ever left under a root key
	 * nobody holds. -EEXIST: one is pending already (unlock resumes it).
	 */
	if (e == 0)
		e = rotation_write(ks, &rot);
	if (e == 0)
		e = rotation_finish(ks, &rot);
	if (e == -EEXIST)
		log_errorx("a rotation of the root key is already pending; unlock the keystore "
			   "to complete it");
	else if (e != 0)
		log_errorx("keystore rotation failed: %s (an unlock completes a rotation that "
			   "got as far as its journal)", coffer_strerror(e));
	secmem_free(rot.new_root, CRYPTO_KEY_LEN);
	return e;
}

struct export_scan {
	const struct suite *s;      /* the keystore's: exports are recorded by its hash */
	const char *dataset;
	unsigned remote;
	int err;
};

/*
 * For an export record of the dataset ("HASH PATH"): if the file is still
 * at PATH with that hash, it is destroyed like the keystore's own copy;
 * otherwise it left this appliance and is counted.
 */
static int shred_export(const struct keystore_record *rec, void *arg)
{
	struct export_scan *sc = arg;
	if (strcmp(rec->op, "export") != 0 || strcmp(rec->dataset, sc->dataset) != 0)
		return 0;
	const char *path = strchr(rec->detail, ' ');
	if (path == NULL || path - rec->detail != 64) {
		sc->remote++;
		return 0;
	}
	path++;
	struct buf b = { 0 };
	uint8_t sum[CRYPTO_HASH_LEN];
	char hex[65];
	/* Exports are recorded by absolute path; anything else is not ours to remove. */
	bool here = path[0] == '/' && io_read_file_at(AT_FDCWD, path, &b, 1u << 20) == 0 &&
		    suite_hash(sc->s, b.data, b.len, sum) == 0;
	buf_fini(&b);
	if (here) {
		hex_encode(sum, 32, hex);
		here = memcmp(hex, rec->detail, 64) == 0;
	}
	if (!here) {
		sc->remote++;
		return 0;
	}
	int e = keystore_overwrite_remove(AT_FDCWD, path);
	if (e != 0 && e != -ENOENT && sc->err == 0)
		sc->err = e;
	return 0;
}

int keystore_shred(struct keystore *ks, const char *dataset_id, const char *reason,
		   unsigned *n_remote)
{
	char name[64];
	int e = keyset_name(dataset_id, name);
	if (e != 0)
		return e;
	e = keystore_overwrite_remove(ks->dfd, name);
	if (e == -ENOENT) {
		int64_t when = 0;
		if (keystore_is_shredded(ks, dataset_id, &when) == 1) {
			if (n_remote != NULL)
				*n_remote = 0; /* counted by the first shred */
			return 0; /* done already: shredding is idempotent */
		}
		log_errorx("the keystore holds no key set for dataset %s", dataset_id);
		return e;
	}
	if (e != 0) {
		log_errorx("cannot destroy the key set of dataset %s: %s", dataset_id,
			   coffer_strerror(e));
		return e;
	}
	struct buf rec = { 0 };
	struct export_scan sc = { ks->s, dataset_id, 0, 0 };
	e = keystore_records_read(ks, &rec);
	if (e == 0)
		e = keystore_records_parse((const char *)rec.data, rec.len, shred_export, &sc);
	buf_fini(&rec);
	if (e == 0)
		e = sc.err;
	/* The reason is cut to what a record holds; the audit trail keeps it whole. */
	char detail[KEYSTORE_DETAIL_MAX + 1];
	snprintf(detail, sizeof detail, "remote copies %u; %s", sc.remote,
		 reason != NULL ? reason : "");
	for (char *c = detail; *c; c++)
		if (*c == '\t' || *c == '\n')
			*c = ' ';
	int r = keystore_record(ks, "shred", dataset_id, detail);
	if (e == 0)
		e = r;
	if (e == 0 && n_remote != NULL)
		*n_remote = sc.remote;
	return e;
}

struct shred_find {
	const char *dataset;
	int64_t when;
	bool found;
};

static int find_shred(const struct keystore_record *rec, void *arg)
{
	struct shred_find *f = arg;
	if (strcmp(rec->op, "shred") == 0 && strcmp(rec->dataset, f->dataset) == 0) {
		f->found = true;
		f->when = rec->time;
	}
	return 0;
}

int keystore_is_shredded(struct keystore *ks, const char *dataset_id, int64_t *when)
{
	struct buf rec = { 0 };
	struct shred_find f = { dataset_id, 0, false };
	int e = keystore_records_read(ks, &rec);
	if (e == 0)
		e = keystore_records_parse((const char *)rec.data, rec.len, find_shred, &f);
	buf_fini(&rec);
	if (e != 0)
		return e;
	if (f.found && when != NULL)
		*when = f.when;
	return f.found ? 1 : 0;
}
