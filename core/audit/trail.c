/*
 * Writing the audit trail (audit.h, docs/format/audit.md). The truth is
 * the trail file; the state file is a checkpoint of the writer's view
 * after the last seal (the epoch key and where the trail stood), so that
 * opening replays at most one epoch. Every append runs under an
 * exclusive flock and starts by replaying whatever other processes
 * appended since this one last looked.
 */
#include "audit/audit.h"
#include "audit/audit_int.h"
#include "audit/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "crypto/pkey.h"
#include "io/io.h"
#include "util/log.h"
#include "util/mem.h"

#define STATE_MAGIC "COFFERAS"
#define STATE_FIXED_LEN 137
#define STATE_MAX (STATE_FIXED_LEN + 32 * MERKLE_MAX_DEPTH + 32)
#define EVOLVE_LABEL "coffer audit evolve v1"

struct audit {
	char dir[PATH_MAX];
	int dfd, lockfd, trailfd;
	pthread_mutex_t mu;          /* one append at a time per process */
	const struct suite *s;
	uint32_t suite;
	struct pkey *sign;           /* NULL if this process cannot read sign.key */
	/* The view of the trail, valid at offset. */
	uint64_t epoch;
	uint8_t *key;                /* K(epoch), secmem */
	uint64_t offset, next_seq;
	uint8_t prev[32];
	int64_t epoch_first_ns;
	uint32_t epoch_count;
	struct audit_params p;
	struct merkle_frontier fr;
	struct stat state_st;        /* the state file as last read */
};

void audit_params_default(struct audit_params *p)
{
	p->epoch_records = 1000;
	p->epoch_seconds = 3600;
	p->retention_days = AUDIT_RETENTION_MIN_DAYS;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* K(e + 1) = MAC_K(e)("coffer audit evolve v1" || u64 e), in place. */
int audit_evolve_key(const struct suite *s, uint8_t key[32], uint64_t epoch)
{
	uint8_t msg[sizeof EVOLVE_LABEL - 1 + 8], next[CRYPTO_HASH_LEN];
	memcpy(msg, EVOLVE_LABEL, sizeof EVOLVE_LABEL - 1);
	le64_put(msg + sizeof EVOLVE_LABEL - 1, epoch);
	int e = suite_mac(s, key, msg, sizeof msg, next);
	if (e == 0)
		memcpy(key, next, 32);
	mem_wipe(next, sizeof next);
	return e;
}

/* ---- the state file ---------------------------------------------------- */

static int state_encode(const struct audit *a, uint8_t *out, size_t *len)
{
	memset(out, 0, STATE_MAX);
	memcpy(out, STATE_MAGIC, 8);
	le32_put(out + 8, AUDIT_VERSION);
	le32_put(out + 12, a->suite);
	le64_put(out + 16, a->epoch);
	memcpy(out + 24, a->key, 32);
	le64_put(out + 56, a->offset);
	le64_put(out + 64, a->next_seq);
	memcpy(out + 72, a->prev, 32);
	le64_put(out + 104, (uint64_t)a->epoch_first_ns);
	le32_put(out + 112, a->epoch_count);
	le32_put(out + 116, a->p.epoch_records);
	le32_put(out + 120, a->p.epoch_seconds);
	le32_put(out + 124, a->p.retention_days);
	le64_put(out + 128, a->fr.size);
	out[136] = a->fr.n;
	size_t n = STATE_FIXED_LEN;
	for (uint8_t i = 0; i < a->fr.n; i++, n += 32)
		memcpy(out + n, a->fr.h[i], 32);
	int e = suite_hash(a->s, out, n, out + n);
	*len = n + 32;
	return e;
}

static int state_write(struct audit *a)
{
	uint8_t *buf = secmem_alloc(STATE_MAX);
	size_t len = 0;
	int e = buf != NULL ? state_encode(a, buf, &len) : -ENOMEM;
	/* The old file holds the previous epoch's key: overwritten, not just unlinked. */
	if (e == 0)
		e = io_replace_file_wiping_at(a->dfd, "state", buf, len, 0660);
	secmem_free(buf, STATE_MAX);
	if (e == 0)
		(void)fstatat(a->dfd, "state", &a->state_st, 0);
	else
		log_errorx("cannot write %s/state: %s", a->dir, coffer_strerror(e));
	return e;
}

static int state_read(struct audit *a)
{
	struct buf b = { 0 };
	uint8_t sum[CRYPTO_HASH_LEN];
	int e = io_read_file_at(a->dfd, "state", &b, STATE_MAX);
	if (e != 0) {
		log_errorx("cannot read %s/state: %s", a->dir, coffer_strerror(e));
		goto out;
	}
	e = -EBADMSG;
	if (b.len < STATE_FIXED_LEN + 32 || memcmp(b.data, STATE_MAGIC, 8) != 0)
		goto bad;
	if (le32_get(b.data + 8) != AUDIT_VERSION) {
		e = -ENOTSUP;
		log_errorx("%s/state has a newer format version", a->dir);
		goto out;
	}
	const struct suite *s = suite_by_id(le32_get(b.data + 12));
	uint8_t n = b.data[136];
	if (s == NULL || n > MERKLE_MAX_DEPTH || b.len != STATE_FIXED_LEN + 32u * n + 32 ||
	    suite_hash(s, b.data, b.len - 32, sum) != 0 ||
	    crypto_memcmp(sum, b.data + b.len - 32, 32) != 0)
		goto bad;
	a->s = s;
	a->suite = le32_get(b.data + 12);
	a->epoch = le64_get(b.data + 16);
	memcpy(a->key, b.data + 24, 32);
	a->offset = le64_get(b.data + 56);
	a->next_seq = le64_get(b.data + 64);
	memcpy(a->prev, b.data + 72, 32);
	a->epoch_first_ns = (int64_t)le64_get(b.data + 104);
	a->epoch_count = le32_get(b.data + 112);
	a->p.epoch_records = le32_get(b.data + 116);
	a->p.epoch_seconds = le32_get(b.data + 120);
	a->p.retention_days = le32_get(b.data + 124);
	a->fr.size = le64_get(b.data + 128);
	a->fr.n = n;
	for (uint8_t i = 0; i < n; i++)
		memcpy(a->fr.h[i], b.data + STATE_FIXED_LEN + 32u * i, 32);
	if (merkle_frontier_check(&a->fr) != 0 || a->fr.size != a->next_seq)
		goto bad;
	e = 0;
	(void)fstatat(a->dfd, "state", &a->state_st, 0);
	goto out;
bad:
	log_errorx("%s/state is damaged", a->dir);
out:
	buf_fini(&b);
	return e;
}

/* ---- replaying the trail ----------------------------------------------- */

/* Folds one entry (already parsed, at the current end) into the view. */
static int fold(struct audit *a, const struct audit_entry *en)
{
	uint8_t leaf[32];
	if (en->kind == AUDIT_ANCHOR)
		return -EBADMSG; /* only ever the first thing in the file */
	if (en->seq != a->next_seq || memcmp(en->prev, a->prev, 32) != 0)
		return -EBADMSG;
	int e = merkle_leaf(a->s, en->bytes, en->len, leaf);
	if (e == 0)
		e = merkle_frontier_add(a->s, &a->fr, leaf);
	if (e == 0)
		e = suite_hash(a->s, en->bytes, en->len, a->prev);
	if (e != 0)
		return e;
	a->next_seq++;
	if (en->kind == AUDIT_RECORD) {
		if (a->epoch_count++ == 0)
			a->epoch_first_ns = en->time_ns;
	} else if (en->kind == AUDIT_SEAL) {
		/* A seal another writer made (or we made and then died): our key evolves too. */
		if (en->epoch != a->epoch)
			return -EBADMSG;
		e = audit_evolve_key(a->s, a->key, a->epoch);
		a->epoch++;
		a->epoch_count = 0;
		a->epoch_first_ns = 0;
	}
	return e;
}

/*
 * Brings the view up to the end of the trail (lock held). A torn last
 * entry is cut off. Returns whether a seal was replayed (*sealed) so the
 * caller writes the state.
 */
static int replay(struct audit *a, bool *sealed)
{
	struct stat st;
	*sealed = false;
	if (fstat(a->trailfd, &st) != 0)
		return -errno;
	struct stat sst;
	bool state_changed = fstatat(a->dfd, "state", &sst, 0) == 0 &&
			     (sst.st_ino != a->state_st.st_ino ||
			      sst.st_mtim.tv_sec != a->state_st.st_mtim.tv_sec ||
			      sst.st_mtim.tv_nsec != a->state_st.st_mtim.tv_nsec);
	if ((uint64_t)st.st_size < a->offset || state_changed) {
		/* Another writer sealed (or pruned): start from its state. */
		int e = state_read(a);
		if (e != 0)
			return e;
	}
	if ((uint64_t)st.st_size < a->offset) {
		/* Sealed entries are gone: only a cut of the file does that. */
		log_errorx("%s/trail is shorter (%lld bytes) than its sealed part (%llu bytes): "
			   "it has been cut; run 'coffer audit verify' with the initial key and "
			   "the checkpoints kept elsewhere", a->dir, (long long)st.st_size,
			   (unsigned long long)a->offset);
		return -EBADMSG;
	}
	if ((uint64_t)st.st_size == a->offset)
		return 0;
	size_t n = (size_t)st.st_size - a->offset;
	uint8_t *buf = malloc(n);
	if (buf == NULL)
		return -ENOMEM;
	int e = io_pread_all(a->trailfd, buf, n, (off_t)a->offset);
	size_t off = 0;
	while (e == 0 && off < n) {
		struct audit_entry en;
		size_t used;
		e = audit_entry_parse(buf + off, n - off, &used, &en);
		if (e == -EAGAIN) {
			/* Torn by a writer that died mid-write: never acknowledged. */
			log_warnx("%s/trail: cutting off an incomplete last entry (%zu bytes)", a->dir,
				  n - off);
			e = ftruncate(a->trailfd, (off_t)(a->offset + off)) == 0 ? 0 : -errno;
			if (e == 0 && fsync(a->trailfd) != 0)
				e = -errno;
			break;
		}
		if (e == 0)
			e = fold(a, &en);
		if (e == 0 && en.kind == AUDIT_SEAL)
			*sealed = true;
		if (e == 0)
			off += used;
	}
	free(buf);
	if (e == -EBADMSG)
		log_errorx("%s/trail is damaged at offset %llu: refusing to append to it (run "
			   "'coffer audit verify')", a->dir, (unsigned long long)(a->offset + off));
	if (e == 0)
		a->offset += off;
	return e;
}

/* A prune replaced the trail file: reopen it and start from the state. */
static int follow_replaced_trail(struct audit *a)
{
	struct stat mine, named;
	if (fstat(a->trailfd, &mine) != 0 || fstatat(a->dfd, "trail", &named, 0) != 0)
		return -errno;
	if (mine.st_ino == named.st_ino && mine.st_dev == named.st_dev)
		return 0;
	int fd = openat(a->dfd, "trail", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	close(a->trailfd);
	a->trailfd = fd;
	a->state_st.st_ino = 0; /* forces state_read */
	return 0;
}

/* Takes the lock and syncs the view; release with unlock(). */
static int lock(struct audit *a)
{
	pthread_mutex_lock(&a->mu);
	if (flock(a->lockfd, LOCK_EX) != 0) {
		int e = -errno;
		pthread_mutex_unlock(&a->mu);
		return e;
	}
	bool sealed;
	int e = follow_replaced_trail(a);
	if (e == 0)
		e = replay(a, &sealed);
	if (e == 0 && sealed)
		e = state_write(a);
	if (e != 0) {
		(void)flock(a->lockfd, LOCK_UN);
		pthread_mutex_unlock(&a->mu);
	}
	return e;
}

static void unlock(struct audit *a)
{
	(void)flock(a->lockfd, LOCK_UN);
	pthread_mutex_unlock(&a->mu);
}

/* Appends encoded entry bytes (length field first) and folds them in. */
static int append_entry(struct audit *a, const struct buf *b)
{
	int e = io_pwrite_all(a->trailfd, b->data, b->len, (off_t)a->offset);
	if (e == 0 && fdatasync(a->trailfd) != 0)
		e = -errno;
	struct audit_entry en;
	size_t used;
	if (e == 0)
		e = audit_entry_parse(b->data, b->len, &used, &en);
	if (e == 0)
		e = fold(a, &en);
	if (e == 0)
		a->offset += b->len;
	else
		log_errorx("cannot append to %s/trail: %s", a->dir, coffer_strerror(e));
	return e;
}

/* Appends the seal of the open epoch and evolves the key (lock held). */
static int seal_locked(struct audit *a)
{
	uint8_t root[32], msg[AUDIT_SEALMSG_LEN], mac[CRYPTO_HASH_LEN];
	struct buf sig = { 0 }, b = { 0 };
	int e = merkle_frontier_root(a->s, &a->fr, root);
	size_t mlen = audit_seal_message(a->suite, a->epoch, a->next_seq, root, a->prev, msg);
	if (e == 0)
		e = suite_mac(a->s, a->key, msg, mlen, mac);
	if (e == 0 && a->sign != NULL) {
		uint8_t signed_msg[AUDIT_SEALMSG_LEN + 32];
		memcpy(signed_msg, msg, mlen);
		memcpy(signed_msg + mlen, mac, 32);
		e = pkey_sign(a->sign, signed_msg, mlen + 32, &sig);
	}
	if (e == 0)
		e = audit_encode_seal(&b, a->next_seq, now_ns(), a->prev, a->epoch, a->next_seq, root,
				      mac, sig.data, sig.len);
	/* fold() evolves the key once the seal is in the trail. */
	if (e == 0)
		e = append_entry(a, &b);
	if (e == 0)
		e = state_write(a);
	buf_fini(&sig);
	buf_fini(&b);
	return e;
}

static bool seal_due(const struct audit *a, int64_t now)
{
	return a->epoch_count > 0 &&
	       (a->epoch_count >= a->p.epoch_records ||
		now - a->epoch_first_ns >= (int64_t)a->p.epoch_seconds * 1000000000);
}

int audit_append(struct audit *a, const struct audit_record *r)
{
	struct buf b = { 0 };
	int e = lock(a);
	if (e != 0)
		return e;
	int64_t now = now_ns();
	if (seal_due(a, now))
		e = seal_locked(a);
	if (e == 0)
		e = audit_encode_record(&b, a->next_seq, now, a->prev, r);
	if (e == 0)
		e = append_entry(a, &b);
	if (e == 0 && a->epoch_count >= a->p.epoch_records)
		e = seal_locked(a);
	unlock(a);
	buf_fini(&b);
	return e;
}

int audit_seal(struct audit *a, bool force)
{
	int e = lock(a);
	if (e != 0)
		return e;
	if (a->epoch_count > 0 && (force || seal_due(a, now_ns())))
		e = seal_locked(a);
	unlock(a);
	return e;
}

/* ---- init, open, close -------------------------------------------------- */

int audit_init(const char *state_dir, uint32_t suite, const struct audit_params *p,
	       uint8_t initial_key[32])
{
	const struct suite *s = suite_by_id(suite);
	char dir[PATH_MAX];
	if (s == NULL)
		return -ENOTSUP;
	if (p->epoch_records < 1 || p->epoch_records > 1000000 || p->epoch_seconds < 1 ||
	    p->epoch_seconds > 7 * 86400 || p->retention_days < AUDIT_RETENTION_MIN_DAYS ||
	    p->retention_days > 36500) {
		log_errorx("audit parameters out of range: epochs of 1-1000000 records and "
			   "1 s - 7 days, retention %d-36500 days", AUDIT_RETENTION_MIN_DAYS);
		return -EINVAL;
	}
	if ((size_t)snprintf(dir, sizeof dir, "%s/audit", state_dir) >= sizeof dir)
		return -ENAMETOOLONG;
	/* The daemons' group writes here whatever the umask (docs/format/audit.md, "Files"). */
	if (mkdir(dir, 0770) != 0 || chmod(dir, 0770) != 0) {
		int e = -errno;
		if (e == -EEXIST)
			log_errorx("an audit trail already exists in %s", dir);
		else
			log_errorx("cannot create %s: %s", dir, coffer_strerror(e));
		return e;
	}
	struct audit *a = calloc(1, sizeof *a);
	struct pkey *sign = NULL;
	struct buf der = { 0 }, pem = { 0 };
	int e = a != NULL ? 0 : -ENOMEM;
	if (a != NULL)
		a->dfd = -1;
	if (e == 0 && (a->key = secmem_alloc(32)) == NULL)
		e = -ENOMEM;
	if (e == 0 && (a->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		e = -errno;
	if (e == 0) {
		snprintf(a->dir, sizeof a->dir, "%s", dir);
		a->s = s;
		a->suite = suite;
		a->p = *p;
		merkle_frontier_init(&a->fr);
		e = crypto_random(a->key, 32);
	}
	if (e == 0)
		e = pkey_generate(suite, PKEY_SIGN, &sign);
	if (e == 0)
		e = pkey_private_der(sign, &der);
	if (e == 0)
		e = pkey_public_pem(sign, &pem);
	/* The signing key is readable by the daemons' group: every writer signs. */
	if (e == 0)
		e = io_replace_file_at(a->dfd, "sign.key", der.data, der.len, 0640);
	if (e == 0)
		e = io_replace_file_at(a->dfd, "sign.pem", pem.data, pem.len, 0644);
	if (e == 0)
		e = io_replace_file_at(a->dfd, "trail", "", 0, 0660);
	if (e == 0)
		e = io_replace_file_at(a->dfd, "lock", "", 0, 0660);
	/* The state last: a directory without it is not a trail. */
	if (e == 0)
		e = state_write(a);
	if (e == 0)
		memcpy(initial_key, a->key, 32);
	else
		log_errorx("cannot create the audit trail in %s: %s", dir, coffer_strerror(e));
	buf_fini(&der);
	buf_fini(&pem);
	pkey_free(sign);
	if (a != NULL) {
		secmem_free(a->key, 32);
		if (a->dfd >= 0)
			close(a->dfd);
		free(a);
	}
	return e;
}

/*
 * A struct audit for STATE_DIR/audit with the directory and the lock file
 * open, the lock with flags (O_RDWR for writers, O_RDONLY for readers).
 * *out is set whenever it could be allocated, on error too (for the
 * caller's message and audit_close).
 */
static int audit_alloc(const char *state_dir, int flags, struct audit **out)
{
	struct audit *a = calloc(1, sizeof *a);
	*out = a;
	if (a == NULL)
		return -ENOMEM;
	a->dfd = a->lockfd = a->trailfd = -1;
	pthread_mutex_init(&a->mu, NULL);
	int e = (a->key = secmem_alloc(32)) != NULL ? 0 : -ENOMEM;
	if (e == 0 && (size_t)snprintf(a->dir, sizeof a->dir, "%s/audit", state_dir) >= sizeof a->dir)
		e = -ENAMETOOLONG;
	if (e == 0 && (a->dfd = open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		e = -errno;
	if (e == 0 && (a->lockfd = openat(a->dfd, "lock", flags | O_CLOEXEC)) < 0)
		e = -errno;
	return e;
}

int audit_open(const char *state_dir, struct audit **out)
{
	struct audit *a;
	int e = audit_alloc(state_dir, O_RDWR, &a);
	if (a == NULL)
		return e;
	if (e == 0 && (a->trailfd = openat(a->dfd, "trail", O_RDWR | O_CLOEXEC)) < 0)
		e = -errno;
	if (e == 0 && flock(a->lockfd, LOCK_EX) != 0)
		e = -errno;
	if (e == 0) {
		bool sealed;
		e = state_read(a);
		if (e == 0)
			e = replay(a, &sealed);
		if (e == 0 && sealed)
			e = state_write(a);
		(void)flock(a->lockfd, LOCK_UN);
	}
	if (e == 0) {
		/* Without sign.key (another user's daemon) seals are MAC'd but unsigned. */
		struct buf der = { 0 };
		if (io_read_file_at(a->dfd, "sign.key", &der, 4096) == 0 &&
		    pkey_from_private_der(der.data, der.len, a->suite, PKEY_SIGN, &a->sign) != 0)
			log_warnx("%s/sign.key is unusable: seals will not be signed", a->dir);
		buf_fini(&der);
	}
	if (e != 0) {
		if (e != -ENOENT)
			log_errorx("cannot open the audit trail in %s: %s", a->dir, coffer_strerror(e));
		audit_close(a);
		return e;
	}
	*out = a;
	return 0;
}

void audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	secmem_free(a->key, 32);
	pkey_free(a->sign);
	if (a->trailfd >= 0)
		close(a->trailfd);
	if (a->lockfd >= 0)
		close(a->lockfd);
	if (a->dfd >= 0)
		close(a->dfd);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

uint32_t audit_suite(const struct audit *a)
{
	return a->suite;
}

int audit_public_pem(struct audit *a, struct buf *out)
{
	return io_read_file_at(a->dfd, "sign.pem", out, 8192);
}

int audit_sign(struct audit *a, const void *msg, size_t len, struct buf *sig)
{
	return a->sign != NULL ? pkey_sign(a->sign, msg, len, sig) : -EPERM;
}

/* ---- checkpoints and export --------------------------------------------- */

int audit_checkpoint(struct audit *a, struct buf *out)
{
	uint8_t root[32];
	struct buf sig = { 0 };
	size_t start = out->len;
	int e = lock(a);
	if (e != 0)
		return e;
	e = merkle_frontier_root(a->s, &a->fr, root);
	if (e == 0)
		e = buf_put(out, AUDIT_CP_MAGIC, 8);
	if (e == 0)
		e = buf_put_u32(out, AUDIT_VERSION);
	if (e == 0)
		e = buf_put_u32(out, a->suite);
	if (e == 0)
		e = buf_put_u64(out, a->next_seq);
	if (e == 0)
		e = buf_put(out, root, 32);
	if (e == 0)
		e = buf_put_u64(out, (uint64_t)(now_ns() / 1000000000));
	unlock(a);
	if (e == 0 && a->sign == NULL)
		e = -EPERM;
	if (e == 0)
		e = pkey_sign(a->sign, out->data + start, out->len - start, &sig);
	if (e == 0)
		e = buf_put_u16(out, (uint16_t)sig.len);
	if (e == 0)
		e = buf_put(out, sig.data, sig.len);
	if (e != 0)
		out->len = start;
	buf_fini(&sig);
	return e;
}

/* The export of the first n bytes of a's trail file (the caller holds the lock). */
static int export_assemble(struct audit *a, uint64_t n, struct buf *out)
{
	struct buf pem = { 0 };
	int e = audit_public_pem(a, &pem);
	if (e != 0)
		return e;
	struct audit_export_view v = { .suite = a->suite, .pem = pem.data, .pem_len = pem.len,
				       .epoch_records = a->p.epoch_records,
				       .epoch_seconds = a->p.epoch_seconds,
				       .retention_days = a->p.retention_days, .trail_len = (size_t)n };
	e = audit_export_header(out, &v);
	if (e == 0)
		e = buf_reserve(out, (size_t)n);
	if (e == 0)
		e = io_pread_all(a->trailfd, out->data + out->len, (size_t)n, 0);
	if (e == 0)
		out->len += (size_t)n;
	buf_fini(&pem);
	return e;
}

int audit_export(struct audit *a, struct buf *out)
{
	int e = lock(a);
	if (e != 0)
		return e;
	e = export_assemble(a, a->offset, out);
	unlock(a);
	return e;
}

int audit_export_files(const char *state_dir, struct buf *out)
{
	struct audit *a;
	struct stat st;
	bool locked = false;
	int e = audit_alloc(state_dir, O_RDONLY, &a);
	if (a == NULL)
		return e;
	/* Shared: no writer is half-way through an append, and a prune cannot swap the file. */
	if (e == 0 && flock(a->lockfd, LOCK_SH) != 0)
		e = -errno;
	locked = e == 0;
	if (e == 0 && (a->trailfd = openat(a->dfd, "trail", O_RDONLY | O_CLOEXEC)) < 0)
		e = -errno;
	if (e == 0)
		e = state_read(a); /* the suite and parameters */
	if (e == 0 && fstat(a->trailfd, &st) != 0)
		e = -errno;
	if (e == 0)
		e = export_assemble(a, (uint64_t)st.st_size, out);
	if (locked)
		(void)flock(a->lockfd, LOCK_UN);
	if (e != 0 && e != -ENOENT)
		log_errorx("cannot read the audit trail in %s: %s", a->dir, coffer_strerror(e));
	audit_close(a);
	return e;
}

/* ---- pruning ------------------------------------------------------------ */

struct cut {
	uint64_t first;              /* the seq the file starts at: 0, or an earlier prune's */
	size_t keep_from;            /* file offset of the first kept entry */
	uint64_t seq;                /* its seq */
	int64_t time_ns;             /* the last removed entry's (a seal's) time */
	uint8_t prev[32];            /* that seal's hash */
	uint64_t epoch;              /* the epoch after it */
	struct merkle_frontier fr;   /* the compact range of what is removed */
};

/*
 * Finds the last seal that ended before `before_ns`: everything up to and
 * including it goes. 0 with c->keep_from == 0 when nothing qualifies.
 */
static int find_cut(struct audit *a, const uint8_t *t, size_t n, int64_t before_ns,
		    struct cut *c)
{
	struct merkle_frontier fr;
	size_t off = 0;
	memset(c, 0, sizeof *c);
	merkle_frontier_init(&fr);
	while (off < n) {
		struct audit_entry en;
		size_t used;
		uint8_t leaf[32];
		int e = audit_entry_parse(t + off, n - off, &used, &en);
		if (e != 0)
			return -EBADMSG;
		if (en.kind == AUDIT_ANCHOR) {
			c->first = en.seq;
			fr.size = en.seq;
			fr.n = en.n_frontier;
			for (uint8_t i = 0; i < en.n_frontier; i++)
				memcpy(fr.h[i], en.frontier + 32u * i, 32);
			off += used;
			continue;
		}
		if (en.time_ns >= before_ns)
			break;
		if ((e = merkle_leaf(a->s, en.bytes, en.len, leaf)) != 0 ||
		    (e = merkle_frontier_add(a->s, &fr, leaf)) != 0)
			return e;
		off += used;
		if (en.kind == AUDIT_SEAL) {
			c->keep_from = off;
			c->seq = en.seq + 1;
			c->time_ns = en.time_ns;
			c->epoch = en.epoch + 1;
			c->fr = fr;
			if ((e = suite_hash(a->s, en.bytes, en.len, c->prev)) != 0)
				return e;
		}
	}
	return 0;
}

int audit_prune(struct audit *a, int64_t before, const struct audit_record *who,
		uint64_t *removed)
{
	int64_t limit = (int64_t)time(NULL) - (int64_t)a->p.retention_days * 86400;
	if (before > limit) {
		char day[32];
		time_t t = (time_t)limit;
		struct tm tm;
		strftime(day, sizeof day, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
		log_errorx("records younger than the retention of %u days cannot be removed: "
			   "the cut must be %s or earlier", a->p.retention_days, day);
		return -EPERM;
	}
	struct buf t = { 0 }, head = { 0 }, file = { 0 };
	struct cut c;
	char reason[256];
	int e = lock(a);
	if (e != 0)
		return e;
	e = buf_reserve(&t, (size_t)a->offset);
	if (e == 0)
		e = io_pread_all(a->trailfd, t.data, (size_t)a->offset, 0);
	if (e == 0) {
		t.len = (size_t)a->offset;
		e = find_cut(a, t.data, t.len, before * 1000000000, &c);
	}
	*removed = 0;
	if (e != 0 || c.keep_from == 0)
		goto out;
	snprintf(reason, sizeof reason, "older than %lld, retention %u days, by uid %u",
		 (long long)before, a->p.retention_days, who->uid);
	e = audit_encode_anchor(&head, c.seq, c.time_ns, c.prev, c.epoch, &c.fr, reason);
	if (e == 0)
		e = buf_put(&file, head.data, head.len);
	if (e == 0)
		e = buf_put(&file, t.data + c.keep_from, t.len - c.keep_from);
	/* Under the lock: no writer can append to the old file meanwhile. */
	if (e == 0)
		e = io_replace_file_at(a->dfd, "trail", file.data, file.len, 0660);
	if (e == 0)
		e = follow_replaced_trail(a);
	if (e != 0) {
		log_errorx("cannot rewrite %s/trail: %s", a->dir, coffer_strerror(e));
		goto out;
	}
	*removed = c.seq - c.first;
	a->offset = file.len;
	e = state_write(a);
	/* The prune is a record naming the anchor, sealed at once. */
	struct audit_record r = *who;
	char outcome[400];
	struct buf b = { 0 };
	snprintf(outcome, sizeof outcome, "ok: removed entries %llu-%llu (%s)",
		 (unsigned long long)c.first, (unsigned long long)c.seq - 1, reason);
	r.outcome = outcome;
	r.op = "audit prune";
	if (e == 0)
		e = suite_hash(a->s, head.data + 4, head.len - 4, r.params);
	if (e == 0)
		e = audit_encode_record(&b, a->next_seq, now_ns(), a->prev, &r);
	if (e == 0)
		e = append_entry(a, &b);
	if (e == 0)
		e = seal_locked(a);
	buf_fini(&b);
out:
	unlock(a);
	buf_fini(&t);
	buf_fini(&head);
	buf_fini(&file);
	return e;
}

int audit_read(struct audit *a, uint64_t offset, size_t max, struct buf *out, uint64_t *total)
{
	int e = lock(a);
	if (e != 0)
		return e;
	*total = a->offset;
	size_t n = offset >= a->offset ? 0 : (size_t)(a->offset - offset);
	if (n > max)
		n = max;
	e = buf_reserve(out, n);
	if (e == 0 && n > 0)
		e = io_pread_all(a->trailfd, out->data + out->len, n, (off_t)offset);
	if (e == 0)
		out->len += n;
	unlock(a);
	return e;
}

void audit_params_get(const struct audit *a, struct audit_params *p)
{
	*p = a->p;
}
