/*
 * Repository creation and opening: the config object, key files and key
 * derivation. Layouts: docs/format/repository.md.
 */
#include "repo/repo_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/keyset.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/mem.h"

#define CONFIG_MAGIC "COFFERRP"
#define CONFIG_BODY_LEN 60 /* bytes covered by the MAC */
#define CONFIG_LEN (CONFIG_BODY_LEN + CRYPTO_HASH_LEN)

#define KEYFILE_MAGIC "COFFERKY"
#define KEYFILE_VERSION 1
#define KEYFILE_KDF_SCRYPT 1
#define KEYFILE_HEAD_LEN 72
#define KEYFILE_SEALED_LEN (CRYPTO_KEY_LEN + AEAD_OVERHEAD)
#define KEYFILE_LEN (KEYFILE_HEAD_LEN + KEYFILE_SEALED_LEN)

/* scrypt bounds a key file may ask for: enough for strong settings, low
 * enough that a hostile key file cannot exhaust memory (128*r*N bytes). */
#define SCRYPT_MAX_MEM (1ull << 30)

int repo_hex_name(const uint8_t id[32], char name[65])
{
	hex_encode(id, 32, name);
	return 0;
}

void repo_init_opts_default(struct repo_init_opts *o)
{
	o->suite = SUITE_INTERNATIONAL;
	o->chunk_min = 512u << 10;
	o->chunk_avg = 1u << 20;
	o->chunk_max = 8u << 20;
	o->scrypt_n = 1u << 15;
	o->scrypt_r = 8;
	o->scrypt_p = 1;
}

/*
 * Fills k from the key set: the fixed subkeys from its master with the
 * suite's KDF, the data key from its newest content generation.
 */
static int repo_derive_keys(const struct suite *s, const struct keyset *ks,
			    struct repo_keys *k)
{
	static const struct {
		const char *info;
		size_t off;
	} subkeys[] = {
		{ "coffer/v1 meta", offsetof(struct repo_keys, meta) },
		{ "coffer/v1 id", offsetof(struct repo_keys, id) },
		{ "coffer/v1 gear", offsetof(struct repo_keys, gear) },
		{ "coffer/v1 config", offsetof(struct repo_keys, config) },
	};
	for (size_t i = 0; i < sizeof subkeys / sizeof subkeys[0]; i++) {
		int e = suite_kdf(s, ks->master, sizeof ks->master, subkeys[i].info,
				  (uint8_t *)k + subkeys[i].off, CRYPTO_KEY_LEN);
		if (e != 0)
			return e;
	}
	memcpy(k->data, ks->content[ks->n_gens - 1], CRYPTO_KEY_LEN);
	return 0;
}

static void config_encode_body(const struct repo_config *c, uint8_t out[CONFIG_BODY_LEN])
{
	memcpy(out, CONFIG_MAGIC, 8);
	le32_put(out + 8, c->version);
	le32_put(out + 12, c->suite);
	memcpy(out + 16, c->repo_id, 32);
	le32_put(out + 48, c->chunk_min);
	le32_put(out + 52, c->chunk_avg);
	le32_put(out + 56, c->chunk_max);
}

/*
 * Parses the config before any key is known: the version and suite checks
 * come first so that a newer repository is refused without asking for
 * anything. The MAC is checked later, once the keys are unlocked.
 */
int repo_config_decode(const uint8_t *p, size_t len, struct repo_config *c)
{
	if (len < 16 || memcmp(p, CONFIG_MAGIC, 8) != 0) {
		log_errorx("not a Coffer repository (bad config magic)");
		return -EBADMSG;
	}
	c->version = le32_get(p + 8);
	if (c->version != REPO_FORMAT_VERSION) {
		log_errorx("repository format version %u is not supported by this "
			   "program (it reads version %u); upgrade Coffer",
			   c->version, REPO_FORMAT_VERSION);
		return -ENOTSUP;
	}
	if (len != CONFIG_LEN) {
		log_errorx("repository config has a bad length (%zu bytes)", len);
		return -EBADMSG;
	}
	c->suite = le32_get(p + 12);
	memcpy(c->repo_id, p + 16, 32);
	c->chunk_min = le32_get(p + 48);
	c->chunk_avg = le32_get(p + 52);
	c->chunk_max = le32_get(p + 56);
	return 0;
}

/* 0 if the scrypt parameters are sane and bounded, else -EBADMSG. */
static int keyfile_params_check(uint64_t n, uint32_t r, uint32_t p)
{
	if (n < 2 || (n & (n - 1)) != 0 || r == 0 || r > 64 || p == 0 || p > 64 ||
	    128ull * r > SCRYPT_MAX_MEM / n)
		return -EBADMSG;
	return 0;
}

static int keyfile_kek(const uint8_t *head, const char *pass, size_t pass_len,
		       uint8_t kek[CRYPTO_KEY_LEN])
{
	uint64_t n = le64_get(head + 20);
	uint32_t r = le32_get(head + 28), p = le32_get(head + 32);
	int e = keyfile_params_check(n, r, p);
	return e ? e : crypto_scrypt(pass, pass_len, head + 36, 32, n, r, p, kek,
				     CRYPTO_KEY_LEN);
}

int repo_keyfile_parse(const uint8_t *p, size_t len, uint32_t suite)
{
	if (len != KEYFILE_LEN || memcmp(p, KEYFILE_MAGIC, 8) != 0)
		return -EBADMSG;
	if (le32_get(p + 8) != KEYFILE_VERSION || le32_get(p + 16) != KEYFILE_KDF_SCRYPT)
		return -ENOTSUP;
	if (le32_get(p + 12) != suite || le32_get(p + 68) != KEYFILE_SEALED_LEN)
		return -EBADMSG;
	return keyfile_params_check(le64_get(p + 20), le32_get(p + 28), le32_get(p + 32));
}

/* Builds a key file sealing master under the passphrase. */
static int keyfile_build(const struct suite *s, const struct repo_init_opts *o,
			 const char *pass, size_t pass_len,
			 const uint8_t master[CRYPTO_KEY_LEN], uint8_t out[KEYFILE_LEN])
{
	uint8_t *kek = secmem_alloc(CRYPTO_KEY_LEN);
	if (kek == NULL)
		return -ENOMEM;
	memcpy(out, KEYFILE_MAGIC, 8);
	le32_put(out + 8, KEYFILE_VERSION);
	le32_put(out + 12, suite_id(s));
	le32_put(out + 16, KEYFILE_KDF_SCRYPT);
	le64_put(out + 20, o->scrypt_n);
	le32_put(out + 28, o->scrypt_r);
	le32_put(out + 32, o->scrypt_p);
	int e = crypto_random(out + 36, 32);
	le32_put(out + 68, KEYFILE_SEALED_LEN);
	if (e == 0)
		e = keyfile_kek(out, pass, pass_len, kek);
	if (e == 0)
		e = suite_seal(s, kek, out, KEYFILE_HEAD_LEN, master, CRYPTO_KEY_LEN,
			       out + KEYFILE_HEAD_LEN);
	secmem_free(kek, CRYPTO_KEY_LEN);
	return e;
}

/* Opens one key file; -EACCES if the passphrase does not open it. */
static int keyfile_open(const struct suite *s, const uint8_t *p, size_t len,
			const char *pass, size_t pass_len, uint8_t master[CRYPTO_KEY_LEN])
{
	int e = repo_keyfile_parse(p, len, suite_id(s));
	if (e != 0)
		return e;
	uint8_t *kek = secmem_alloc(CRYPTO_KEY_LEN);
	if (kek == NULL)
		return -ENOMEM;
	e = keyfile_kek(p, pass, pass_len, kek);
	if (e == 0) {
		e = suite_open(s, kek, p, KEYFILE_HEAD_LEN, p + KEYFILE_HEAD_LEN,
			       KEYFILE_SEALED_LEN, master);
		if (e == -EBADMSG)
			e = -EACCES;
	}
	secmem_free(kek, CRYPTO_KEY_LEN);
	return e;
}

static int chunk_sizes_valid(uint32_t min, uint32_t avg, uint32_t max)
{
	struct chunker_params *p = malloc(sizeof *p);
	static const uint8_t zero[32];
	if (p == NULL)
		return -ENOMEM;
	int e = chunker_params_init(p, suite_by_id(SUITE_INTERNATIONAL), zero, min, avg, max);
	free(p);
	return e;
}

/* Checks what every new repository needs; says why it refuses. */
static int repo_init_check(const struct suite *s, uint32_t suite, const struct repo_init_opts *o)
{
	if (s == NULL) {
		log_errorx("cryptographic suite %u is not available", suite);
		return -ENOTSUP;
	}
	if (chunk_sizes_valid(o->chunk_min, o->chunk_avg, o->chunk_max) != 0) {
		log_errorx("invalid chunk sizes %u/%u/%u", o->chunk_min, o->chunk_avg,
			   o->chunk_max);
		return -EINVAL;
	}
	return 0;
}

/*
 * Writes a new repository's objects: the key file (kf, or none in
 * appliance mode) and then the config, MAC'd under the key set's config
 * subkey. The config goes last: a directory with a config is a usable
 * repository.
 */
static int repo_create(const char *dir, const struct suite *s, const struct keyset *ks,
		       const struct repo_init_opts *o, const uint8_t *kf, size_t kf_len)
{
	struct repo_keys *k = secmem_alloc(sizeof *k);
	if (k == NULL)
		return -ENOMEM;
	struct store *st = NULL;
	struct repo_config c = { .version = REPO_FORMAT_VERSION, .suite = suite_id(s),
				 .chunk_min = o->chunk_min, .chunk_avg = o->chunk_avg,
				 .chunk_max = o->chunk_max };
	uint8_t cfg[CONFIG_LEN], kid[CRYPTO_HASH_LEN];
	char name[65];
	int e = crypto_random(c.repo_id, sizeof c.repo_id);
	if (e == 0)
		e = repo_derive_keys(s, ks, k);
	if (e != 0)
		goto out;
	config_encode_body(&c, cfg);
	if ((e = suite_mac(s, k->config, cfg, CONFIG_BODY_LEN, cfg + CONFIG_BODY_LEN)) != 0)
		goto out;
	if ((e = store_local_open(dir, 1, &st)) != 0) {
		log_errorx("cannot create repository at %s: %s", dir,
			   e == -EEXIST ? "directory exists and is not empty" : coffer_strerror(e));
		goto out;
	}
	if (kf != NULL) {
		if ((e = suite_hash(s, kf, kf_len, kid)) != 0)
			goto out;
		repo_hex_name(kid, name);
		if ((e = store_put(st, STORE_KEY, name, kf, kf_len)) != 0)
			goto out;
	}
	e = store_put(st, STORE_CONFIG, "config", cfg, sizeof cfg);
out:
	store_close(st);
	secmem_free(k, sizeof *k);
	return e;
}

int repo_init(const char *dir, const char *pass, size_t pass_len,
	      const struct repo_init_opts *o)
{
	const struct suite *s = suite_by_id(o->suite);
	int e = repo_init_check(s, o->suite, o);
	if (e != 0)
		return e;
	struct keyset *ks = keyset_new();
	uint8_t *master = secmem_alloc(CRYPTO_KEY_LEN);
	uint8_t kf[KEYFILE_LEN];
	if (ks == NULL || master == NULL)
		e = -ENOMEM;
	if (e == 0)
		e = crypto_random(master, CRYPTO_KEY_LEN);
	if (e == 0)
		e = keyset_from_master(ks, o->suite, master);
	if (e == 0)
		e = keyfile_build(s, o, pass, pass_len, master, kf);
	if (e == 0)
		e = repo_create(dir, s, ks, o, kf, sizeof kf);
	secmem_free(master, CRYPTO_KEY_LEN);
	keyset_free(ks);
	return e;
}

int repo_init_keyed(const char *dir, const struct keyset *ks, const struct repo_init_opts *o)
{
	const struct suite *s = suite_by_id(ks->suite);
	int e = repo_init_check(s, ks->suite, o);
	if (e != 0)
		return e;
	if (ks->n_gens < 1 || ks->n_gens > KEYSET_MAX_GENS)
		return -EINVAL;
	return repo_create(dir, s, ks, o, NULL, 0);
}

int repo_probe(const char *dir)
{
	struct store *st = NULL;
	struct buf b = { 0 };
	struct repo_config c;
	int e = store_local_open(dir, 0, &st);
	if (e != 0) {
		log_errorx(e == -ENOENT ? "no repository at %s" : "cannot open repository at %s: %s",
			   dir, coffer_strerror(e));
		return e;
	}
	e = store_get(st, STORE_CONFIG, "config", &b);
	if (e != 0)
		log_errorx("cannot read repository config: %s", coffer_strerror(e));
	else if ((e = repo_config_decode(b.data, b.len, &c)) == 0 && suite_by_id(c.suite) == NULL) {
		log_errorx("repository uses cryptographic suite %u, which this program "
			   "does not support", c.suite);
		e = -ENOTSUP;
	}
	buf_fini(&b);
	store_close(st);
	return e;
}

struct keyfile_try {
	struct repo *r;
	uint8_t *master;            /* secmem: receives the master secret */
	const char *pass;
	size_t pass_len;
	int result; /* 0 once a key file opened */
	int n;      /* key files seen */
};

static int repo_try_keyfile(const char *name, uint64_t size, void *arg)
{
	struct keyfile_try *t = arg;
	struct buf b = { 0 };
	t->n++;
	int e = store_get(t->r->store, STORE_KEY, name, &b);
	if (e == 0)
		e = keyfile_open(t->r->suite, b.data, b.len, t->pass, t->pass_len,
				 t->master);
	buf_fini(&b);
	if (e == 0) {
		t->result = 0;
		return 1; /* stop listing */
	}
	if (e != -EACCES)
		log_warnx("key file %s is unreadable: %s", name, coffer_strerror(e));
	return 0;
}

/*
 * First half of opening: the store and the config, checked for version and
 * suite, into a new r (its raw bytes in cfg). No key is needed yet.
 */
static int repo_open_config(const char *dir, struct repo **out, struct buf *cfg)
{
	struct repo *r = calloc(1, sizeof *r);
	if (r == NULL)
		return -ENOMEM;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->work_cv, NULL);
	pthread_cond_init(&r->space_cv, NULL);
	pthread_cond_init(&r->idle_cv, NULL);
	pthread_cond_init(&r->ticket_cv, NULL);
	r->pack_size = 16u << 20;
	r->zstd_level = 3;
	*out = r; /* repo_close frees it on failure */
	int e = store_local_open(dir, 0, &r->store);
	struct stat st;
	if (e == 0 && stat(dir, &st) == 0) {
		r->root_dev = st.st_dev;
		r->root_ino = st.st_ino;
	}
	if (e != 0) {
		if (e == -ENOENT)
			log_errorx("no repository at %s", dir);
		else
			log_errorx("cannot open repository at %s: %s", dir, coffer_strerror(e));
		return e;
	}
	if ((e = store_get(r->store, STORE_CONFIG, "config", cfg)) != 0) {
		log_errorx("cannot read repository config: %s", coffer_strerror(e));
		return e;
	}
	if ((e = repo_config_decode(cfg->data, cfg->len, &r->cfg)) != 0)
		return e;
	if ((r->suite = suite_by_id(r->cfg.suite)) == NULL) {
		log_errorx("repository uses cryptographic suite %u, which this program "
			   "does not support", r->cfg.suite);
		return -ENOTSUP;
	}
	if ((r->keys = secmem_alloc(sizeof *r->keys)) == NULL ||
	    (r->ks = keyset_new()) == NULL)
		return -ENOMEM;
	return 0;
}

/*
 * Second half, once r->ks holds the key set: derives the subkeys and
 * authenticates the config with them. keyed tells how a mismatch is
 * reported: with a key set from the keystore it means the keys belong to
 * another repository (-EACCES); with a key file that opened, the config
 * was altered (-EBADMSG).
 */
static int repo_open_finish(struct repo *r, const struct buf *cfg, bool keyed)
{
	uint8_t mac[CRYPTO_HASH_LEN];
	int e = repo_derive_keys(r->suite, r->ks, r->keys);
	if (e == 0)
		e = suite_mac(r->suite, r->keys->config, cfg->data, CONFIG_BODY_LEN, mac);
	if (e != 0)
		return e;
	if (crypto_memcmp(mac, cfg->data + CONFIG_BODY_LEN, sizeof mac) != 0) {
		if (keyed) {
			log_errorx("these keys do not belong to this repository");
			return -EACCES;
		}
		log_errorx("repository config fails authentication: it was altered");
		return -EBADMSG;
	}
	r->write_gen = r->ks->n_gens - 1;
	if ((e = chunker_params_init(&r->chunker, r->suite, r->keys->gear, r->cfg.chunk_min,
				     r->cfg.chunk_avg, r->cfg.chunk_max)) != 0) {
		log_errorx("repository config has invalid chunk sizes");
		return e;
	}
	r->index = index_new();
	r->pending = idset_new();
	bool allocated = r->index != NULL && r->pending != NULL;
	for (int i = 0; i < 2; i++) {
		r->packers[i].w = pack_writer_new();
		allocated = allocated && r->packers[i].w;
	}
	return allocated ? 0 : -ENOMEM;
}

int repo_open(const char *dir, const char *pass, size_t pass_len, struct repo **out)
{
	struct repo *r = NULL;
	struct buf b = { 0 };
	uint8_t *master = secmem_alloc(CRYPTO_KEY_LEN);
	int e = master != NULL ? repo_open_config(dir, &r, &b) : -ENOMEM;
	if (e != 0)
		goto out;
	struct keyfile_try t = { r, master, pass, pass_len, -EACCES, 0 };
	if ((e = store_list(r->store, STORE_KEY, repo_try_keyfile, &t)) < 0)
		goto out;
	if ((e = t.result) != 0) {
		if (t.n)
			log_errorx("wrong passphrase: it opens none of the repository's %d "
				   "key file(s)", t.n);
		else
			log_errorx("repository has no key file: its keys are held by an "
				   "appliance keystore (open it with --dataset)");
		goto out;
	}
	if ((e = keyset_from_master(r->ks, r->cfg.suite, master)) == 0)
		e = repo_open_finish(r, &b, false);
out:
	secmem_free(master, CRYPTO_KEY_LEN);
	buf_fini(&b);
	if (e != 0) {
		repo_close(r);
		return e;
	}
	*out = r;
	return 0;
}

int repo_open_keyed(const char *dir, const struct keyset *ks, struct repo **out)
{
	struct repo *r = NULL;
	struct buf b = { 0 };
	int e = repo_open_config(dir, &r, &b);
	if (e == 0 && (ks->n_gens < 1 || ks->n_gens > KEYSET_MAX_GENS))
		e = -EINVAL;
	if (e == 0 && ks->suite != r->cfg.suite) {
		log_errorx("these keys are for the %s suite, the repository uses %s",
			   suite_by_id(ks->suite) ? suite_alias(suite_by_id(ks->suite)) : "an unknown",
			   suite_alias(r->suite));
		e = -EACCES;
	}
	if (e == 0) {
		memcpy(r->ks, ks, sizeof *ks);
		e = repo_open_finish(r, &b, true);
	}
	buf_fini(&b);
	if (e != 0) {
		repo_close(r);
		return e;
	}
	*out = r;
	return 0;
}

void repo_close(struct repo *r)
{
	if (r == NULL)
		return;
	repo_workers_stop(r);
	repo_unlock(r);
	repo_packs_fini(r);
	index_free(r->index);
	free(r->index_files);
	buf_fini(&r->sealbuf);
	secmem_free(r->keys, sizeof *r->keys);
	keyset_free(r->ks);
	store_close(r->store);
	pthread_cond_destroy(&r->work_cv);
	pthread_cond_destroy(&r->space_cv);
	pthread_cond_destroy(&r->idle_cv);
	pthread_cond_destroy(&r->ticket_cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

struct store *repo_store(const struct repo *r) { return r->store; }
bool repo_is_root(const struct repo *r, dev_t dev, ino_t ino)
{
	return r->root_ino != 0 && r->root_dev == dev && r->root_ino == ino;
}
const struct suite *repo_suite(const struct repo *r) { return r->suite; }
const struct chunker_params *repo_chunker(const struct repo *r) { return &r->chunker; }
const uint8_t *repo_id(const struct repo *r) { return r->cfg.repo_id; }
const uint8_t *repo_data_key_gen(const struct repo *r, uint32_t gen, const uint8_t *pack_id)
{
	if (gen < r->ks->n_gens)
		return r->ks->content[gen];
	if (pack_id != NULL) {
		char name[65];
		repo_hex_name(pack_id, name);
		log_errorx("pack %s is sealed under content key generation %u, which this "
			   "key set lacks (it has %u)", name, gen, r->ks->n_gens);
	}
	return NULL;
}
const uint8_t *repo_meta_key(const struct repo *r) { return r->keys->meta; }
const uint8_t *repo_id_key(const struct repo *r) { return r->keys->id; }
void repo_set_pack_size(struct repo *r, size_t bytes) { r->pack_size = bytes; }
void repo_set_zstd_level(struct repo *r, int level) { r->zstd_level = level; }

static const char *repo_meta_label(enum store_kind k)
{
	switch (k) {
	case STORE_INDEX: return "coffer index v1";
	case STORE_SNAPSHOT: return "coffer snapshot v1";
	case STORE_LOCK: return "coffer lock v1";
	default: return NULL;
	}
}

int repo_meta_seal(const struct repo *r, enum store_kind k, const void *pt,
		   size_t len, struct buf *out)
{
	const char *label = repo_meta_label(k);
	if (label == NULL)
		return -EINVAL;
	int e = buf_reserve(out, len + AEAD_OVERHEAD);
	if (e == 0)
		e = suite_seal(r->suite, r->keys->meta, label, strlen(label), pt, len,
			       out->data + out->len);
	if (e == 0)
		out->len += len + AEAD_OVERHEAD;
	return e;
}

int repo_meta_open(const struct repo *r, enum store_kind k, const uint8_t *in,
		   size_t len, struct buf *out)
{
	const char *label = repo_meta_label(k);
	if (label == NULL)
		return -EINVAL;
	if (len < AEAD_OVERHEAD)
		return -EBADMSG;
	buf_reset(out);
	int e = buf_reserve(out, len - AEAD_OVERHEAD);
	if (e == 0)
		e = suite_open(r->suite, r->keys->meta, label, strlen(label), in, len,
			       out->data);
	if (e == 0)
		out->len = len - AEAD_OVERHEAD;
	return e;
}

int repo_meta_save(struct repo *r, enum store_kind k, const void *pt, size_t len,
		   uint8_t id[32])
{
	struct buf sealed = { 0 };
	char name[65];
	int e = repo_meta_seal(r, k, pt, len, &sealed);
	if (e == 0)
		e = suite_hash(r->suite, sealed.data, sealed.len, id);
	if (e == 0) {
		repo_hex_name(id, name);
		e = store_put(r->store, k, name, sealed.data, sealed.len);
		if (e == -EEXIST) /* content-named: identical content already there */
			e = 0;
	}
	buf_fini(&sealed);
	return e;
}

int repo_meta_load(struct repo *r, enum store_kind k, const char *name, struct buf *pt)
{
	struct buf raw = { 0 };
	uint8_t sum[32];
	char hex[65];
	int e = store_get(r->store, k, name, &raw);
	if (e == 0)
		e = suite_hash(r->suite, raw.data, raw.len, sum);
	if (e == 0) {
		repo_hex_name(sum, hex);
		if (strcmp(hex, name) != 0)
			e = -EBADMSG; /* the content does not match its name */
	}
	if (e == 0)
		e = repo_meta_open(r, k, raw.data, raw.len, pt);
	buf_fini(&raw);
	return e;
}

/* Stores a finished pack file under its ID (naming it on failure). */
static int repo_pack_store(struct repo *r, uint8_t *file, size_t len,
			   const uint8_t id[32])
{
	char name[65];
	repo_hex_name(id, name);
	int e = store_put_padded(r->store, STORE_PACK, name, file, len);
	if (e == -EEXIST) /* content-named: identical content already there */
		e = 0;
	if (e != 0)
		log_errorx("cannot write pack %s: %s", name, coffer_strerror(e));
	return e;
}

int repo_pack_seal_store(struct repo *r, struct pack_writer *w, uint32_t key_gen,
			 struct index_pack *ip, size_t *file_len)
{
	uint8_t *file = NULL;
	struct blob_entry *entries = NULL;
	size_t len = 0, n = 0;
	int e = pack_writer_finish(w, r->suite, r->keys->meta, key_gen, &file, &len, ip->pack_id,
				   &entries, &n);
	if (e == 0)
		e = repo_pack_store(r, file, len, ip->pack_id);
	if (e == 0) {
		ip->key_gen = key_gen;
		ip->n = n;
		ip->blobs = entries;
		entries = NULL;
		*file_len = len;
	}
	free(entries);
	return e;
}

int repo_pack_commit(struct repo *r, struct pack_writer *w, uint32_t key_gen,
		     struct index_pack **list, size_t *n_list, size_t *file_len)
{
	struct index_pack ip = { 0 };
	int e = repo_pack_seal_store(r, w, key_gen, &ip, file_len);
	struct index_pack *nl = e == 0 ? realloc(*list, (*n_list + 1) * sizeof *nl) : NULL;
	if (e == 0 && nl == NULL)
		e = -ENOMEM;
	if (e == 0) {
		nl[*n_list] = ip;
		*list = nl;
		(*n_list)++;
	} else {
		free(ip.blobs);
	}
	return e;
}
