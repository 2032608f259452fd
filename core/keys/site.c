/*
 * Site identity and key-set exports (site.h). Layouts in
 * docs/format/keystore.md, "Site identity and key-set exports".
 *
 * The site file holds the two private keys as PKCS#8, sealed by a key
 * derived from the root key, so it is as safe as the key sets beside it
 * and is re-sealed by the same rotation. An export is signed over
 * everything before its signature, and its wrapped part binds the whole
 * header as associated data: neither the dataset ID, nor the sender, nor
 * the recipient can be changed without the import refusing it.
 */
#include "keys/site.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/io.h"
#include "keys/keystore_int.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/mem.h"

#define SITE_MAGIC "COFFERSI"
#define SITE_HEAD_LEN 24
#define SITE_DER_MAX 512    /* a PKCS#8 Ed25519/X25519/SM2 key is < 200 B */
#define SITE_FILE_MAX 4096
#define EXPORT_MAGIC "COFFERKX"
#define EXPORT_HEAD_LEN 156
#define EXPORT_WRAPPED_MAX 65536
#define EXPORT_SIG_MAX 256
#define EXPORT_FILE_MAX (EXPORT_HEAD_LEN + EXPORT_WRAPPED_MAX + 2 + EXPORT_SIG_MAX)

/* Appends k's PKCS#8 as u16 length || DER to the secmem buffer p (cap). */
static int put_der(const struct pkey *k, uint8_t *p, size_t cap, size_t *len)
{
	struct buf der = { 0 };
	/* One allocation up front: buf never leaves an unwiped copy behind. */
	int e = buf_reserve(&der, SITE_DER_MAX);
	if (e == 0)
		e = pkey_private_der(k, &der);
	if (e == 0 && (der.len > SITE_DER_MAX || *len + 2 + der.len > cap))
		e = -EOVERFLOW;
	if (e == 0) {
		p[*len] = (uint8_t)(der.len & 0xff);
		p[*len + 1] = (uint8_t)(der.len >> 8);
		memcpy(p + *len + 2, der.data, der.len);
		*len += 2 + der.len;
	}
	buf_fini(&der); /* wipes */
	return e;
}

/*
 * Site file: 0 magic, 8 version, 12 suite, 16 root_gen, 20 sealed length,
 * 24 Seal(site key, header, u16 n || sign DER || u16 n || wrap DER), the
 * site key derived from the root key ks is unlocked with now.
 */
static int site_build(struct keystore *ks, const struct pkey *sign, const struct pkey *wrap,
		      struct buf *out)
{
	size_t cap = 2 * (2 + SITE_DER_MAX), len = 0;
	uint8_t *pt = secmem_alloc(cap), *key = secmem_alloc(CRYPTO_KEY_LEN);
	uint8_t head[SITE_HEAD_LEN];
	int e = pt != NULL && key != NULL ? 0 : -ENOMEM;
	if (e == 0)
		e = put_der(sign, pt, cap, &len);
	if (e == 0)
		e = put_der(wrap, pt, cap, &len);
	if (e == 0)
		e = keystore_derive(ks, ks->s, "coffer/v1 site seal", key);
	memcpy(head, SITE_MAGIC, 8);
	le32_put(head + 8, KS_VERSION);
	le32_put(head + 12, suite_id(ks->s));
	le32_put(head + 16, ks->root_gen);
	le32_put(head + 20, (uint32_t)(len + AEAD_OVERHEAD));
	if (e == 0)
		e = buf_put(out, head, sizeof head);
	if (e == 0)
		e = buf_reserve(out, len + AEAD_OVERHEAD);
	if (e == 0)
		e = suite_seal(ks->s, key, head, sizeof head, pt, len, out->data + out->len);
	if (e == 0)
		out->len += len + AEAD_OVERHEAD;
	secmem_free(pt, cap);
	secmem_free(key, CRYPTO_KEY_LEN);
	return e;
}

/* Reads u16 length || PKCS#8 DER from r as a private key of ks's suite. */
static int get_der(struct rbuf *r, uint32_t suite, enum pkey_use use, struct pkey **out)
{
	uint16_t n = 0;
	const uint8_t *der = NULL;
	int e = rbuf_get_u16(r, &n);
	if (e == 0 && (n == 0 || n > SITE_DER_MAX))
		e = -EBADMSG;
	if (e == 0)
		e = rbuf_get_ref(r, n, &der);
	if (e == 0)
		e = pkey_from_private_der(der, n, suite, use, out);
	return e == -EINVAL ? -EBADMSG : e;
}

/* Opens the site file: -ENOENT if there is none, -EBADMSG if damaged. */
static int site_load(struct keystore *ks, struct pkey **sign, struct pkey **wrap)
{
	struct buf b = { 0 };
	uint8_t *pt = NULL, *key = secmem_alloc(CRYPTO_KEY_LEN);
	size_t pt_len = 0;
	struct pkey *s = NULL, *w = NULL;
	int e = key != NULL ? io_read_file_at(ks->dfd, "site", &b, SITE_FILE_MAX) : -ENOMEM;
	if (e != 0)
		goto out;
	e = -EBADMSG;
	if (b.len < SITE_HEAD_LEN + AEAD_OVERHEAD || memcmp(b.data, SITE_MAGIC, 8) != 0)
		goto out;
	if (le32_get(b.data + 8) != KS_VERSION) {
		e = -ENOTSUP;
		goto out;
	}
	if (le32_get(b.data + 12) != suite_id(ks->s) || le32_get(b.data + 16) != ks->root_gen ||
	    le32_get(b.data + 20) != b.len - SITE_HEAD_LEN)
		goto out;
	pt_len = b.len - SITE_HEAD_LEN - AEAD_OVERHEAD;
	if ((pt = secmem_alloc(pt_len ? pt_len : 1)) == NULL) {
		e = -ENOMEM;
		goto out;
	}
	e = keystore_derive(ks, ks->s, "coffer/v1 site seal", key);
	if (e == 0)
		e = suite_open(ks->s, key, b.data, SITE_HEAD_LEN, b.data + SITE_HEAD_LEN,
			       b.len - SITE_HEAD_LEN, pt);
	struct rbuf r;
	rbuf_init(&r, pt, pt_len);
	if (e == 0)
		e = get_der(&r, suite_id(ks->s), PKEY_SIGN, &s);
	if (e == 0)
		e = get_der(&r, suite_id(ks->s), PKEY_WRAP, &w);
	if (e == 0 && rbuf_left(&r) != 0)
		e = -EBADMSG;
	if (e == 0) {
		*sign = s;
		*wrap = w;
		s = w = NULL;
	}
out:
	if (e == -EBADMSG)
		log_errorx("keystore file %s/site is damaged or not sealed by this keystore's "
			   "current root key", ks->path);
	else if (e == -ENOTSUP)
		log_errorx("%s/site has a newer format version than this program reads", ks->path);
	pkey_free(s);
	pkey_free(w);
	secmem_free(pt, pt_len ? pt_len : 1);
	secmem_free(key, CRYPTO_KEY_LEN);
	buf_fini(&b);
	return e;
}

/* Hex fingerprint of k (65 bytes with the NUL). */
static int fpr_hex(const struct pkey *k, char hex[65])
{
	uint8_t f[32];
	int e = pkey_fingerprint(k, f);
	if (e == 0)
		hex_encode(f, sizeof f, hex);
	return e;
}

/*
 * Makes and stores fresh site keys. Two processes racing here both write
 * under their own temporary name and one rename wins; the loser reads the
 * winner's file, so the site never has two identities.
 */
static int site_create(struct keystore *ks)
{
	struct pkey *s = NULL, *w = NULL;
	struct buf b = { 0 };
	char fs[65], fw[65], detail[160];
	int e = pkey_generate(suite_id(ks->s), PKEY_SIGN, &s);
	if (e == 0)
		e = pkey_generate(suite_id(ks->s), PKEY_WRAP, &w);
	if (e == 0)
		e = site_build(ks, s, w, &b);
	if (e == 0)
		e = io_create_file_at(ks->dfd, "site", b.data, b.len, 0600);
	if (e == 0 && (e = fpr_hex(s, fs)) == 0 && (e = fpr_hex(w, fw)) == 0) {
		snprintf(detail, sizeof detail, "sign %s wrap %s", fs, fw);
		e = keystore_record(ks, "site-keys", "-", detail);
	}
	if (e == -EEXIST)
		e = 0; /* another process made them first */
	pkey_free(s);
	pkey_free(w);
	buf_fini(&b);
	return e;
}

int keystore_site_keys(struct keystore *ks, struct pkey **sign, struct pkey **wrap)
{
	struct pkey *s = NULL, *w = NULL;
	if (ks->root == NULL)
		return -EPERM;
	int e = site_load(ks, &s, &w);
	if (e == -ENOENT && (e = site_create(ks)) == 0)
		e = site_load(ks, &s, &w);
	if (e != 0) {
		if (e != -EBADMSG && e != -ENOTSUP)
			log_errorx("cannot load this site's keys from %s/site: %s", ks->path,
				   coffer_strerror(e));
		return e;
	}
	if (sign != NULL)
		*sign = s;
	else
		pkey_free(s);
	if (wrap != NULL)
		*wrap = w;
	else
		pkey_free(w);
	return 0;
}

int keystore_site_rewrap(struct keystore *ks, const uint8_t *new_root, uint32_t new_gen)
{
	struct pkey *s = NULL, *w = NULL;
	struct buf b = { 0 };
	/* Already under new_gen: a resumed rotation re-sealed it before. */
	int e = io_read_file_at(ks->dfd, "site", &b, SITE_FILE_MAX);
	bool done = e == 0 && b.len >= SITE_HEAD_LEN && le32_get(b.data + 16) == new_gen;
	buf_fini(&b);
	if (e == -ENOENT || done)
		return 0;
	if (e == 0)
		e = site_load(ks, &s, &w);
	if (e != 0)
		return e;
	uint8_t *old = ks->root;
	uint32_t old_gen = ks->root_gen;
	ks->root = (uint8_t *)new_root;
	ks->root_gen = new_gen;
	e = site_build(ks, s, w, &b);
	ks->root = old;
	ks->root_gen = old_gen;
	if (e == 0)
		e = keystore_replace(ks, "site", b.data, b.len);
	pkey_free(s);
	pkey_free(w);
	buf_fini(&b);
	return e;
}

/*
 * Export file: 0 magic, 8 version, 12 suite, 16 dataset ID (32 hex), 48
 * sender keystore ID, 80 sender signing-key fingerprint, 112 recipient
 * wrapping-key fingerprint, 144 time (i64), 152 W, 156 wrapped (W bytes),
 * then u16 S and the signature over bytes 0 .. 156 + W.
 */
int keystore_export_parse(const uint8_t *p, size_t len, struct keyset_export_head *h)
{
	struct rbuf r;
	uint32_t w = 0;
	uint16_t sl = 0;
	if (len < EXPORT_HEAD_LEN || memcmp(p, EXPORT_MAGIC, 8) != 0)
		return -EBADMSG;
	if (le32_get(p + 8) != KS_VERSION)
		return -ENOTSUP;
	memset(h, 0, sizeof *h);
	h->suite = le32_get(p + 12);
	memcpy(h->dataset_id, p + 16, DATASET_ID_LEN);
	h->dataset_id[DATASET_ID_LEN] = 0;
	if (suite_by_id(h->suite) == NULL ||
	    strspn(h->dataset_id, "0123456789abcdef") != DATASET_ID_LEN)
		return -EBADMSG;
	memcpy(h->sender_keystore, p + 48, 32);
	memcpy(h->sender_fpr, p + 80, 32);
	memcpy(h->recipient_fpr, p + 112, 32);
	h->time = (int64_t)le64_get(p + 144);
	w = le32_get(p + 152);
	rbuf_init(&r, p, len);
	r.off = EXPORT_HEAD_LEN;
	if (w == 0 || w > EXPORT_WRAPPED_MAX || rbuf_get_ref(&r, w, &h->wrapped) != 0)
		return -EBADMSG;
	h->wrapped_len = w;
	h->signed_part = p;
	h->signed_len = EXPORT_HEAD_LEN + (size_t)w;
	if (rbuf_get_u16(&r, &sl) != 0 || sl == 0 || sl > EXPORT_SIG_MAX ||
	    rbuf_get_ref(&r, sl, &h->sig) != 0 || rbuf_left(&r) != 0)
		return -EBADMSG;
	h->sig_len = sl;
	return 0;
}

/* path made absolute (its directory resolved), as the shred finds it later. */
static int absolute_path(const char *path, char out[PATH_MAX])
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	if (*base == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return -EINVAL;
	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	if (realpath(dir, real) == NULL)
		return -errno;
	int n = snprintf(out, PATH_MAX, "%s/%s", strcmp(real, "/") == 0 ? "" : real, base);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int keystore_keyset_export(struct keystore *ks, const char *dataset_id,
			   const struct pkey *recipient, const char *path)
{
	struct keyset *k = keyset_new();
	struct pkey *sign = NULL;
	struct buf f = { 0 }, sig = { 0 };
	uint8_t *pt = NULL, head[EXPORT_HEAD_LEN];
	size_t pt_len = 0;
	char abs[PATH_MAX], detail[PATH_MAX + 80], sum_hex[65];
	int e = k != NULL ? 0 : -ENOMEM;

	if (e == 0 && pkey_use(recipient) != PKEY_WRAP) {
		log_errorx("the recipient key is a signing key; a key set is exported to a "
			   "site's wrapping key");
		e = -EINVAL;
	}
	if (e == 0)
		e = absolute_path(path, abs);
	if (e == 0)
		e = keystore_keyset_get(ks, dataset_id, k);
	if (e == 0 && pkey_suite(recipient) != k->suite) {
		const struct suite *want = suite_by_id(k->suite);
		log_errorx("dataset %s uses the %s suite; its keys can only be wrapped for a "
			   "key of that suite", dataset_id, suite_alias(want));
		e = -EINVAL;
	}
	if (e == 0)
		e = keystore_site_keys(ks, &sign, NULL);
	if (e == 0)
		e = keystore_keyset_encode(k, &pt, &pt_len);
	memset(head, 0, sizeof head);
	memcpy(head, EXPORT_MAGIC, 8);
	le32_put(head + 8, KS_VERSION);
	if (e == 0) {
		le32_put(head + 12, k->suite);
		memcpy(head + 16, dataset_id, DATASET_ID_LEN);
		memcpy(head + 48, ks->id, 32);
		le64_put(head + 144, (uint64_t)time(NULL));
		e = pkey_fingerprint(sign, head + 80);
	}
	if (e == 0)
		e = pkey_fingerprint(recipient, head + 112);
	if (e == 0)
		e = buf_put(&f, head, sizeof head); /* W patched below */
	if (e == 0)
		e = pkey_wrap(recipient, head, sizeof head - 4, pt, pt_len, &f);
	if (e == 0 && f.len - EXPORT_HEAD_LEN > EXPORT_WRAPPED_MAX)
		e = -EOVERFLOW;
	if (e == 0) {
		le32_put(f.data + 152, (uint32_t)(f.len - EXPORT_HEAD_LEN));
		e = pkey_sign(sign, f.data, f.len, &sig);
	}
	if (e == 0 && (sig.len == 0 || sig.len > EXPORT_SIG_MAX))
		e = -EOVERFLOW;
	if (e == 0)
		e = buf_put_u16(&f, (uint16_t)sig.len);
	if (e == 0)
		e = buf_put(&f, sig.data, sig.len);
	if (e == 0) {
		e = io_create_file_at(AT_FDCWD, abs, f.data, f.len, 0600);
		if (e == -EEXIST)
			log_errorx("%s exists; an export never replaces a file", abs);
		else if (e != 0)
			log_errorx("cannot write %s: %s", abs, coffer_strerror(e));
	}
	if (e == 0) {
		/* Recorded with its hash so that a shred destroys it while it is here. */
		uint8_t sum[CRYPTO_HASH_LEN];
		e = suite_hash(ks->s, f.data, f.len, sum);
		hex_encode(sum, sizeof sum, sum_hex);
		snprintf(detail, sizeof detail, "%s %s", sum_hex, abs);
		if (e == 0 && strpbrk(abs, "\t\n") != NULL)
			e = -EINVAL; /* cannot be recorded: never leave it unrecorded */
		if (e == 0)
			e = keystore_record(ks, "export", dataset_id, detail);
		if (e != 0) {
			(void)keystore_overwrite_remove(AT_FDCWD, abs);
			log_errorx("cannot record the export, so it was removed again: %s",
				   coffer_strerror(e));
		}
	}
	secmem_free(pt, pt_len);
	keyset_free(k);
	pkey_free(sign);
	buf_fini(&f);
	buf_fini(&sig);
	return e;
}

int keystore_keyset_import(struct keystore *ks, const char *path, const struct pkey *sender,
			   char dataset_id[DATASET_ID_LEN + 1])
{
	struct keyset_export_head h;
	struct buf f = { 0 };
	struct pkey *wrap = NULL;
	struct keyset *k = keyset_new();
	uint8_t fpr[32], *pt = NULL;
	size_t pt_len = 0, pt_cap = 0;
	char hex[65], detail[96];
	int e = k != NULL ? io_read_file_at(AT_FDCWD, path, &f, EXPORT_FILE_MAX) : -ENOMEM;
	if (e != 0) {
		if (e != -ENOMEM)
			log_errorx("cannot read %s: %s", path,
				   e == -EFBIG ? "too large for a key-set export" : coffer_strerror(e));
		goto out;
	}
	e = keystore_export_parse(f.data, f.len, &h);
	if (e != 0) {
		log_errorx("%s is not a valid key-set export (%s)", path,
			   e == -ENOTSUP ? "newer format version" : "damaged or truncated");
		goto out;
	}
	if (pkey_use(sender) != PKEY_SIGN) {
		log_errorx("the sender key must be the sending site's signing key");
		e = -EINVAL;
		goto out;
	}
	/* Authenticity first: nothing of an unsigned file is acted upon. */
	if ((e = pkey_fingerprint(sender, fpr)) != 0)
		goto out;
	if (crypto_memcmp(fpr, h.sender_fpr, 32) != 0 ||
	    pkey_verify(sender, h.signed_part, h.signed_len, h.sig, h.sig_len) != 0) {
		log_errorx("%s is not signed by the given sender key", path);
		e = -EACCES;
		goto out;
	}
	if ((e = keystore_site_keys(ks, NULL, &wrap)) != 0)
		goto out;
	if ((e = pkey_fingerprint(wrap, fpr)) != 0)
		goto out;
	if (crypto_memcmp(fpr, h.recipient_fpr, 32) != 0 || h.suite != pkey_suite(wrap)) {
		log_errorx("%s was made for another site's key, not this one's", path);
		e = -EACCES;
		goto out;
	}
	pt_len = pt_cap = h.wrapped_len;
	if ((pt = secmem_alloc(pt_cap)) == NULL) {
		e = -ENOMEM;
		goto out;
	}
	e = pkey_unwrap(wrap, f.data, EXPORT_HEAD_LEN - 4, h.wrapped, h.wrapped_len, pt, pt_len,
			&pt_len);
	if (e == 0)
		e = keystore_keyset_decode(pt, pt_len, h.suite, k);
	if (e != 0) {
		log_errorx("%s does not open with this site's key (damaged)", path);
		e = -EBADMSG;
		goto out;
	}
	int64_t when = 0;
	if (keystore_is_shredded(ks, h.dataset_id, &when) == 1) {
		log_errorx("the keys of dataset %s were destroyed on this appliance; they are "
			   "not brought back", h.dataset_id);
		e = -EKEYREVOKED;
		goto out;
	}
	if ((e = keystore_keyset_put(ks, h.dataset_id, k)) != 0)
		goto out;
	hex_encode(h.sender_fpr, 32, hex);
	snprintf(detail, sizeof detail, "from %s", hex);
	e = keystore_record(ks, "import", h.dataset_id, detail);
	if (e == 0)
		memcpy(dataset_id, h.dataset_id, DATASET_ID_LEN + 1);
out:
	secmem_free(pt, pt_cap);
	keyset_free(k);
	pkey_free(wrap);
	buf_fini(&f);
	return e;
}
