/*
 * Restore into a directory: re-creates a snapshot's tree under TARGET, so a
 * stored /srv/a lands at TARGET/srv/a (guarantees in docs/restore.md).
 *
 * Every filesystem call is relative to an open directory descriptor: the
 * walk holds one descriptor per level of the tree being restored and hands
 * the kernel single names only, so trees deeper than PATH_MAX restore fine
 * and no symlink inside the target is ever followed (descents use
 * O_NOFOLLOW, creations fail rather than write through a link). The path
 * string kept alongside is for messages and progress only.
 *
 * The walk is iterative with an explicit stack, so a hostile or merely very
 * deep snapshot cannot exhaust the C stack; the open-file limit bounds the
 * depth instead, and a directory that cannot be opened is reported like any
 * other failed item.
 *
 * Content is written by a pipeline (docs/restore.md, "Pipeline"): the walk
 * stays on the calling thread and does every namespace and metadata
 * operation (creating, linking, removing, fsmeta_apply), while worker
 * threads only load blobs (pack read, decryption, decompression, MAC) and
 * pwrite them into descriptors the walk opened. A file is finished (size
 * set, closed, metadata applied, counted) by the walk once its last job is
 * done, and a directory's metadata waits until every file in it is
 * finished, so no time or mode is ever applied under a writer's feet and
 * no worker needs to write into a directory that has become read-only.
 * Jobs, open files and cached blobs are bounded, so memory and descriptors
 * stay bounded whatever the size of the tree or of a file.
 *
 * Damage is contained per item: a blob that cannot be loaded fails the one
 * file that needs it, which is removed (so nothing half-restored looks
 * complete), named on stderr and counted; a directory listing that cannot
 * be loaded fails that subtree. Only running out of memory or failing to
 * create TARGET or read the root listing stops the restore.
 */
#include "restore/restore.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs/fsmeta.h"
#include "io/engine.h"
#include "util/escape.h"
#include "util/log.h"

#define PROGRESS_INTERVAL_NS 250000000ull /* at most four calls a second */
#define HL_MAX_FDS 4096

/*
 * Pipeline bounds. Data in flight is one blob per worker plus the cache:
 * jobs only name extents. A job covers at most JOB_MAX_BYTES of a file so
 * that all workers share a large file; JOB_MAX_EXTENTS fits its mask.
 */
#define MAX_THREADS 256
#define QUEUE_JOBS 256
#define MAX_PENDING 256
#define JOB_MAX_BYTES (16u << 20)
#define JOB_MAX_EXTENTS 64
#define CACHE_SLOTS 64
#define CACHE_BYTES (32u << 20)
#define RECENT_SLOTS 8192 /* a power of two */
/*
 * An idle worker is woken when this much work is queued, or at once when
 * all are idle: small files then cost one wake-up per batch, not per file.
 */
#define WAKE_JOBS 8
#define WAKE_BYTES (1u << 20)

/*
 * Hard links. The first restored node of each (dev, inode) pair with
 * nlink > 1 is remembered; later ones become links to it. For the first
 * HL_MAX_FDS groups (fewer when the open-file limit is low) an O_PATH
 * descriptor of the restored file is kept: linking from it works whatever
 * happens to the path and needs no walk. Beyond that cap the file's path
 * relative to TARGET is used instead, re-walked from the TARGET descriptor
 * one component at a time (so depth still does not matter). Only if both
 * fail is the node restored as an independent copy, with a warning.
 */
struct hl_ent {
	uint64_t dev, ino;
	int fd;          /* O_PATH of the first restored file, or -1 */
	char *rel;       /* its path below TARGET, '/'-separated, NUL-terminated */
	size_t rel_len;
	struct pfile *pending; /* the first file while its content is written */
	bool failed;     /* the first file failed: the next member takes its place */
	bool used;
};

struct hl_table {
	struct hl_ent *slot;
	size_t cap, n;      /* open addressing, cap a power of two */
	size_t n_fds, max_fds;
};

/*
 * One directory being restored. It is on the walk's stack while its
 * entries are created; once left, it stays alive (deferred) until the
 * files and subdirectories in it still being written are finished, and its
 * metadata is applied then.
 */
struct frame {
	struct tree tree;   /* its listing */
	size_t next;        /* next entry of tree to restore */
	int fd;             /* the directory, open */
	size_t self;        /* index of its node in the parent frame's tree */
	size_t path_len;    /* length of its stored path in ctx.path */
	size_t pending;     /* files and deferred subdirectories not yet finished */
	bool full;          /* every entry wanted (no include filter below) */
	bool fresh;         /* made by this restore: empty, no clear_slot needed */
	bool acl_default;   /* has a default ACL: files made in it inherit one */
	bool left;          /* the walk is done with it */
	bool deferred;      /* left with pending > 0: on ctx.deferred, path copied */
	struct frame *parent;
	struct frame *dprev, *dnext; /* ctx.deferred */
	struct buf path;    /* its stored path once deferred, for messages */
};

/*
 * A regular file whose content is being written. Created and opened by
 * the walk; then only its jobs touch it (fd, and the fields marked "mu"),
 * and the thread that ends its last job applies its metadata and closes
 * it (file_complete); the walk then finishes it (finish_file).
 */
struct pfile {
	const struct node *n;    /* in its directory's frame, alive until finished */
	int fd;
	int dirfd;               /* its directory, open until the file is finished */
	struct frame *dir;       /* its directory */
	char name[TREE_MAX_NAME + 1];
	struct buf path;         /* stored path, for messages */
	uint64_t bytes;          /* content bytes (sum of extents) */
	uint64_t end;            /* where the last extent ends: no truncate if at size */
	size_t jobs_left;        /* mu; one extra while jobs are being queued */
	int err;                 /* mu: the first error */
	bool blob_err;           /* mu: err came from loading a blob */
	int meta_err;            /* fsmeta_apply_fd's result */
	atomic_bool failed;      /* lets the other jobs of a failed file stop early */
	bool link_group;
	bool live;
	struct pfile *next;      /* free list (walk) or done list (mu) */
};

/* Extents [first, first + count) of a file; bit i of shared: go through the cache. */
struct job {
	struct pfile *f;
	size_t first, count;
	uint64_t shared;
	uint64_t bytes;
};

struct cache_ent {
	uint8_t id[BLOB_ID_LEN];
	struct buf data;
	uint64_t tick;           /* last use, for LRU eviction */
	bool used;
};

struct ctx;

struct worker {
	struct ctx *c;
	struct buf blob;
	uint8_t last[BLOB_ID_LEN]; /* the blob in .blob, when have_last */
	bool have_last;
	pthread_t tid;
};

struct pipeline {
	pthread_mutex_t mu;
	pthread_cond_t work;       /* to workers: a job is queued, or stop */
	pthread_cond_t main;       /* to the walk: a file is done, or queue space */
	struct job q[QUEUE_JOBS];  /* ring */
	size_t q_head, q_n;
	uint64_t q_bytes;          /* content bytes the queued jobs write */
	size_t idle;               /* workers waiting for a job */
	struct pfile *done, *done_tail; /* files whose last job has finished, FIFO */
	uint64_t bytes_done;
	bool stop, main_waiting;
	bool mu_ok, work_ok, main_ok;
	struct worker *w;          /* w_n; n_workers running, w[0] the walk's if none */
	size_t w_n, n_workers;
	/* Walk only. */
	struct pfile *pool, *free_list;
	size_t pool_n;
	uint8_t (*recent)[BLOB_ID_LEN]; /* IDs met lately, direct-mapped */
	/* Blobs met more than once. */
	pthread_mutex_t cache_mu;
	bool cache_mu_ok;
	struct cache_ent cache[CACHE_SLOTS];
	size_t cache_bytes;
	uint64_t cache_tick;
};

struct include {
	char *path;         /* normalised: "/a/b", or "" for the root */
	size_t len;
	bool found;
};

struct ctx {
	struct repo *r;
	const struct restore_opts *o;
	struct restore_result res;
	int rootfd;                  /* TARGET */
	struct frame **st;           /* the walk's stack */
	size_t depth, st_cap;
	struct frame *deferred;      /* left, waiting for their content */
	size_t n_deferred, n_frames;
	struct buf path;             /* stored path of the current item, NUL-terminated */
	struct buf esc;              /* printable form of a path */
	struct buf tmp;
	struct include *inc;
	size_t n_inc;
	struct hl_table hl;
	uint64_t bytes_total;
	uint64_t last_progress;
	struct pipeline p;
};

enum select { SEL_SKIP, SEL_FULL, SEL_PARTIAL };

/* ---- paths for messages ----------------------------------------------- */

/*
 * Printable form of bytes: valid UTF-8 passes, control characters and
 * invalid bytes become \xHH and a backslash \\, so a name with a newline or
 * an escape sequence cannot forge or hide log lines. Returns a string
 * valid until the next call ("?" if memory ran out).
 */
static const char *esc(struct ctx *c, const uint8_t *p, size_t n)
{
	int r;

	buf_reset(&c->esc);
	r = n == 0 ? buf_put(&c->esc, "/", 1) : escape_append(&c->esc, p, n);
	if (r == 0)
		r = buf_put_u8(&c->esc, 0);
	return r == 0 ? (const char *)c->esc.data : "?";
}

static const char *cur(struct ctx *c)
{
	return esc(c, c->path.data, c->path.len);
}

/* Appends "/name" to the current path; returns the length to restore. */
static int path_push(struct ctx *c, const uint8_t *name, size_t len, size_t *saved)
{
	*saved = c->path.len;
	if (buf_reserve(&c->path, len + 2) != 0)
		return -ENOMEM;
	c->path.data[c->path.len++] = '/';
	memcpy(c->path.data + c->path.len, name, len);
	c->path.len += len;
	c->path.data[c->path.len] = '\0';
	return 0;
}

static void path_pop(struct ctx *c, size_t saved)
{
	c->path.len = saved;
	if (c->path.data != NULL)
		c->path.data[saved] = '\0';
}

static void fail_item(struct ctx *c, const char *what, int e)
{
	log_errorx("cannot restore %s%s: %s", what ? what : "", cur(c), coffer_strerror(e));
	c->res.errors++;
}

/* As fail_item, for a file finished after the walk moved on. */
static void fail_file(struct ctx *c, const struct pfile *f, const char *what, const char *why)
{
	log_errorx("cannot restore %s%s: %s", what ? what : "",
		   esc(c, f->path.data, f->path.len), why);
	c->res.errors++;
}

/* What a failed load of a data or tree blob means, in the operator's terms. */
static const char *blob_reason(int e, bool tree)
{
	switch (e) {
	case -ENOENT:
		return tree ? "its tree blob is missing from the repository" :
			      "a data blob is missing from the repository";
	case -EBADMSG:
		return tree ? "its tree blob is corrupt or failed authentication" :
			      "a data blob is corrupt or failed authentication";
	case -EIO:
		return "a pack file cannot be read";
	default:
		return coffer_strerror(e);
	}
}

/* ---- progress --------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void progress(struct ctx *c, bool force)
{
	struct restore_progress p;
	uint64_t t;

	if (c->o == NULL || c->o->progress == NULL)
		return;
	t = now_ns();
	if (!force && t - c->last_progress < PROGRESS_INTERVAL_NS)
		return;
	c->last_progress = t;
	p.files = c->res.files;
	p.dirs = c->res.dirs;
	pthread_mutex_lock(&c->p.mu);
	p.bytes_done = c->p.bytes_done;
	pthread_mutex_unlock(&c->p.mu);
	p.bytes_total = c->bytes_total;
	p.errors = c->res.errors;
	p.current = c->path.len ? cur(c) : NULL;
	c->o->progress(&p, c->o->progress_arg);
}

/* ---- include filter --------------------------------------------------- */

/*
 * Normalises an include to "/a/b" (repeated and trailing slashes dropped,
 * a missing leading slash added; "/" becomes "").
 */
static int include_norm(const char *in, struct include *out)
{
	size_t n = strlen(in), j = 0;
	char *p = malloc(n + 2);

	if (p == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '/')
			continue;
		if (i == 0 || in[i - 1] == '/')
			p[j++] = '/';
		p[j++] = in[i];
	}
	p[j] = '\0';
	out->path = p;
	out->len = j;
	out->found = false;
	return 0;
}

/*
 * Decides for the item at the current path: wanted with everything below
 * (an include names it or, for the root, "/"), a directory on the way to an
 * include, or not wanted.
 */
static enum select include_select(struct ctx *c, bool is_dir)
{
	const char *p = (const char *)c->path.data;
	size_t n = c->path.len;
	enum select s = SEL_SKIP;

	for (size_t i = 0; i < c->n_inc; i++) {
		struct include *in = &c->inc[i];

		if (in->len == n && memcmp(in->path, p, n) == 0) {
			in->found = true;
			s = SEL_FULL;
		} else if (s == SEL_SKIP && is_dir && in->len > n && in->path[n] == '/' &&
			   memcmp(in->path, p, n) == 0) {
			s = SEL_PARTIAL;
		}
	}
	return s;
}

/* ---- hard links ------------------------------------------------------- */

static uint64_t hl_hash(uint64_t dev, uint64_t ino)
{
	uint64_t x = ino ^ (dev * 0x9e3779b97f4a7c15ull);

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static struct hl_ent *hl_find(struct hl_table *h, uint64_t dev, uint64_t ino)
{
	if (h->cap == 0)
		return NULL;
	for (size_t i = hl_hash(dev, ino) & (h->cap - 1);; i = (i + 1) & (h->cap - 1)) {
		struct hl_ent *e = &h->slot[i];

		if (!e->used)
			return NULL;
		if (e->dev == dev && e->ino == ino)
			return e;
	}
}

static int hl_grow(struct hl_table *h)
{
	size_t cap = h->cap ? h->cap * 2 : 256;
	struct hl_ent *s = calloc(cap, sizeof *s);

	if (s == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < h->cap; i++) {
		struct hl_ent *e = &h->slot[i];
		size_t j;

		if (!e->used)
			continue;
		for (j = hl_hash(e->dev, e->ino) & (cap - 1); s[j].used; j = (j + 1) & (cap - 1))
			;
		s[j] = *e;
	}
	free(h->slot);
	h->slot = s;
	h->cap = cap;
	return 0;
}

/*
 * Remembers the node just created as name in dirfd as the first of its
 * hard-link group; pending is its pfile while its content is written
 * (NULL: complete). A slot left by a first member that failed is taken
 * over. Returns 0 or -ENOMEM.
 */
static int hl_add(struct ctx *c, const struct node *n, int dirfd, const char *name,
		  struct pfile *pending)
{
	struct hl_table *h = &c->hl;
	struct hl_ent *e = hl_find(h, n->dev, n->inode);
	char *rel;
	size_t i;

	/* The stored path without its leading '/': relative to TARGET. */
	rel = strndup((const char *)c->path.data + 1, c->path.len - 1);
	if (rel == NULL)
		return -ENOMEM;
	if (e == NULL) {
		if ((h->n + 1) * 2 > h->cap && hl_grow(h) != 0) {
			free(rel);
			return -ENOMEM;
		}
		for (i = hl_hash(n->dev, n->inode) & (h->cap - 1); h->slot[i].used;
		     i = (i + 1) & (h->cap - 1))
			;
		e = &h->slot[i];
		e->dev = n->dev;
		e->ino = n->inode;
		e->fd = -1;
		e->used = true;
		h->n++;
	} else {
		free(e->rel);
		if (e->fd >= 0) {
			close(e->fd);
			h->n_fds--;
			e->fd = -1;
		}
	}
	e->rel = rel;
	e->rel_len = c->path.len - 1;
	e->pending = pending;
	e->failed = false;
	if (h->n_fds < h->max_fds) {
		e->fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (e->fd >= 0)
			h->n_fds++;
	}
	return 0;
}

/*
 * Records how the first member of a group, restored in the background,
 * ended: a failed one is no link target (its name was removed).
 */
static void hl_settle(struct ctx *c, const struct node *n, bool ok)
{
	struct hl_ent *e = hl_find(&c->hl, n->dev, n->inode);

	if (e == NULL)
		return;
	e->pending = NULL;
	if (!ok) {
		e->failed = true;
		if (e->fd >= 0) {
			close(e->fd);
			c->hl.n_fds--;
			e->fd = -1;
		}
	}
}

/* Links to e->rel by walking it from TARGET, component by component. */
static int hl_link_by_path(struct ctx *c, const struct hl_ent *e, int dirfd, const char *name)
{
	char *rel = strdup(e->rel), *p, *slash;
	int fd = c->rootfd, r = 0;

	if (rel == NULL)
		return -ENOMEM;
	for (p = rel; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
		int nfd;

		*slash = '\0';
		nfd = openat(fd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0)
			r = -errno;
		if (fd != c->rootfd)
			close(fd);
		if (r < 0)
			goto out;
		fd = nfd;
	}
	if (linkat(fd, p, dirfd, name, 0) != 0)
		r = -errno;
	if (fd != c->rootfd)
		close(fd);
out:
	free(rel);
	return r;
}

/*
 * Makes name in dirfd another link to the group's first file. linkat with
 * AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH on older kernels; the
 * /proc/self/fd path with AT_SYMLINK_FOLLOW does the same without it (the
 * magic link resolves to the inode, even a symlink's).
 */
static int hl_link(struct ctx *c, const struct hl_ent *e, int dirfd, const char *name)
{
	if (e->fd >= 0) {
		char p[32];

		if (linkat(e->fd, "", dirfd, name, AT_EMPTY_PATH) == 0)
			return 0;
		snprintf(p, sizeof p, "/proc/self/fd/%d", e->fd);
		if (linkat(AT_FDCWD, p, dirfd, name, AT_SYMLINK_FOLLOW) == 0)
			return 0;
	}
	return hl_link_by_path(c, e, dirfd, name);
}

static void hl_fini(struct hl_table *h)
{
	for (size_t i = 0; i < h->cap; i++) {
		if (!h->slot[i].used)
			continue;
		if (h->slot[i].fd >= 0)
			close(h->slot[i].fd);
		free(h->slot[i].rel);
	}
	free(h->slot);
	memset(h, 0, sizeof *h);
}

/* ---- content pipeline ------------------------------------------------- */

static void dir_settle(struct ctx *c, struct frame *f);

/* Copies a cached blob into out; false if id is not cached. */
static bool cache_get(struct pipeline *p, const uint8_t *id, struct buf *out)
{
	bool hit = false;

	pthread_mutex_lock(&p->cache_mu);
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		struct cache_ent *e = &p->cache[i];

		if (!e->used || memcmp(e->id, id, BLOB_ID_LEN) != 0)
			continue;
		buf_reset(out);
		if (buf_put(out, e->data.data, e->data.len) == 0) {
			e->tick = ++p->cache_tick;
			hit = true;
		}
		break;
	}
	pthread_mutex_unlock(&p->cache_mu);
	return hit;
}

/*
 * Keeps a copy of a blob that was met more than once, evicting the least
 * recently used ones to stay within CACHE_BYTES. Best effort: a blob that
 * does not fit, or memory that runs out, just means a later load.
 */
static void cache_put(struct pipeline *p, const uint8_t *id, const struct buf *b)
{
	struct cache_ent *slot = NULL;

	if (b->len > CACHE_BYTES / 4)
		return;
	pthread_mutex_lock(&p->cache_mu);
	for (;;) {
		struct cache_ent *lru = NULL;

		slot = NULL;
		for (size_t i = 0; i < CACHE_SLOTS; i++) {
			struct cache_ent *e = &p->cache[i];

			if (!e->used) {
				slot = e;
				continue;
			}
			if (memcmp(e->id, id, BLOB_ID_LEN) == 0)
				goto out; /* another worker was first */
			if (lru == NULL || e->tick < lru->tick)
				lru = e;
		}
		if (slot != NULL && p->cache_bytes + b->len <= CACHE_BYTES)
			break;
		if (lru == NULL)
			goto out;
		p->cache_bytes -= lru->data.len;
		buf_fini(&lru->data);
		lru->used = false;
	}
	buf_reset(&slot->data);
	if (buf_put(&slot->data, b->data, b->len) != 0) {
		buf_fini(&slot->data);
		goto out;
	}
	memcpy(slot->id, id, BLOB_ID_LEN);
	slot->tick = ++p->cache_tick;
	slot->used = true;
	p->cache_bytes += b->len;
out:
	pthread_mutex_unlock(&p->cache_mu);
}

/*
 * Accounts for one finished job of f (called with mu held). A file's first
 * error wins. Returns true for its last job: the caller must then call
 * file_complete, without mu.
 */
static bool job_done_locked(struct pipeline *p, struct pfile *f, int e, bool blob_err,
			    uint64_t written)
{
	p->bytes_done += written;
	if (e != 0 && f->err == 0) {
		f->err = e;
		f->blob_err = blob_err;
		atomic_store_explicit(&f->failed, true, memory_order_relaxed);
	}
	return --f->jobs_left == 0;
}

/*
 * Ends a file whose content is all written, on whichever thread wrote the
 * last of it: sets its size when the last extent ends short of it (the
 * tail stays a hole; the file was created empty, so otherwise the writes
 * gave it its size), applies its metadata through its own descriptor,
 * since its times must come after its content, and closes it. Its
 * directory cannot have had its own metadata applied yet (leave_dir waits
 * for this file), so the default ACL it was created under is still the
 * one enter_dir saw. Then hands the file to the walk.
 */
static void file_complete(struct ctx *c, struct pfile *f)
{
	struct pipeline *p = &c->p;
	int e = f->err;

	if (e == 0 && f->end != f->n->size && ftruncate(f->fd, (off_t)f->n->size) != 0)
		e = -errno;
	f->meta_err = e == 0 ? fsmeta_apply_fd(f->fd, f->n, f->dir->acl_default) : 0;
	if (close(f->fd) != 0 && e == 0)
		e = -errno; /* NFS reports write errors at close */
	f->fd = -1;
	pthread_mutex_lock(&p->mu);
	f->err = e;
	f->next = NULL;
	if (p->done_tail != NULL)
		p->done_tail->next = f;
	else
		p->done = f;
	p->done_tail = f;
	if (p->main_waiting)
		pthread_cond_signal(&p->main);
	pthread_mutex_unlock(&p->mu);
}

/*
 * Loads and writes the extents of one job, on a worker or (one thread)
 * on the walk's thread. The same blob twice in a row is loaded once; a
 * blob the walk saw before goes through the cache. Returns the error, if
 * any, in *err and *blob_err, and the bytes written.
 */
static uint64_t run_job(struct ctx *c, struct worker *w, const struct job *j, int *err,
			bool *blob_err)
{
	struct pfile *f = j->f;
	const struct extent *xs = f->n->extents;
	uint64_t written = 0;
	int e = 0;

	*blob_err = false;
	for (size_t i = 0; i < j->count; i++) {
		const struct extent *x = &xs[j->first + i];
		bool shared = (j->shared >> i) & 1;

		if (atomic_load_explicit(&f->failed, memory_order_relaxed))
			break;
		if (!w->have_last || memcmp(w->last, x->id, BLOB_ID_LEN) != 0) {
			w->have_last = false;
			if (!shared || !cache_get(&c->p, x->id, &w->blob)) {
				e = repo_blob_load(c->r, x->id, BLOB_DATA, &w->blob);
				if (e == 0 && shared)
					cache_put(&c->p, x->id, &w->blob);
			}
			if (e != 0) {
				*blob_err = true;
				break;
			}
			memcpy(w->last, x->id, BLOB_ID_LEN);
			w->have_last = true;
		}
		if (w->blob.len != x->len) {
			e = -EBADMSG;
			*blob_err = true;
			break;
		}
		e = io_engine_pwrite_all(f->fd, w->blob.data, w->blob.len, (off_t)x->offset);
		if (e != 0)
			break;
		written += x->len;
	}
	*err = e;
	return written;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pipeline *p = &w->c->p;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct job j;
		uint64_t written;
		bool blob_err;
		int e;

		while (p->q_n == 0 && !p->stop) {
			p->idle++;
			pthread_cond_wait(&p->work, &p->mu);
			p->idle--;
		}
		if (p->q_n == 0)
			break;
		j = p->q[p->q_head];
		p->q_head = (p->q_head + 1) % QUEUE_JOBS;
		p->q_n--;
		p->q_bytes -= j.bytes;
		if (p->main_waiting)
			pthread_cond_signal(&p->main);
		pthread_mutex_unlock(&p->mu);
		written = run_job(w->c, w, &j, &e, &blob_err);
		pthread_mutex_lock(&p->mu);
		if (job_done_locked(p, j.f, e, blob_err, written)) {
			pthread_mutex_unlock(&p->mu);
			file_complete(w->c, j.f);
			pthread_mutex_lock(&p->mu);
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/*
 * Finishes a completed file on the walk's thread: a failed one is removed
 * and reported, a good one counted (and its metadata errors reported).
 * Returns 0 (errors reported and counted) or -ENOMEM.
 */
static int finish_file(struct ctx *c, struct pfile *f)
{
	const struct node *n = f->n;
	struct frame *dir = f->dir;
	int e = f->err;

	if (e != 0) {
		/* Nothing half-restored may look complete. */
		unlinkat(f->dirfd, f->name, 0);
		if (f->link_group)
			hl_settle(c, n, false);
		if (e != -ENOMEM)
			fail_file(c, f, NULL, f->blob_err ? blob_reason(e, false) :
							    coffer_strerror(e));
		goto out;
	}
	if (n->flags & NODE_F_INCOMPLETE) {
		log_errorx("cannot restore %s completely: its content could not be read "
			   "in full at backup time", esc(c, f->path.data, f->path.len));
		c->res.errors++;
	} else if (n->flags & NODE_F_CHANGED) {
		log_warnx("%s changed while it was backed up: its content may be inconsistent",
			  esc(c, f->path.data, f->path.len));
	}
	c->res.bytes += f->bytes;
	c->res.files++;
	if (f->meta_err != 0)
		fail_file(c, f, "the metadata of ", coffer_strerror(f->meta_err));
	if (f->link_group)
		hl_settle(c, n, true);
out:
	f->live = false;
	f->next = c->p.free_list;
	c->p.free_list = f;
	dir->pending--;
	if (e == -ENOMEM)
		return e;
	dir_settle(c, dir);
	return 0;
}

static void add_ns(struct timespec *ts, uint64_t ns)
{
	ns += (uint64_t)ts->tv_nsec;
	ts->tv_sec += (time_t)(ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
}

/*
 * Finishes the files whose jobs are done. With block, first waits until
 * one is, or (want_space) the queue has room, or the progress interval
 * has passed, so the caller's loop keeps the progress callback going.
 * Returns 0 or -ENOMEM.
 */
static int pump(struct ctx *c, bool block, bool want_space)
{
	struct pipeline *p = &c->p;
	struct pfile *f, *next;
	int r = 0;

	pthread_mutex_lock(&p->mu);
	if (block && p->n_workers > 0 && p->done == NULL &&
	    !(want_space && p->q_n < QUEUE_JOBS)) {
		struct timespec ts;

		/* What the walk waits for may sit in a batch not yet handed out. */
		if (p->q_n > 0 && p->idle > 0)
			pthread_cond_broadcast(&p->work);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		add_ns(&ts, PROGRESS_INTERVAL_NS);
		p->main_waiting = true;
		pthread_cond_timedwait(&p->main, &p->mu, &ts);
		p->main_waiting = false;
	}
	f = p->done;
	p->done = p->done_tail = NULL;
	pthread_mutex_unlock(&p->mu);
	for (; f != NULL; f = next) {
		next = f->next;
		if (r == 0)
			r = finish_file(c, f);
		else
			f->next = NULL; /* left live: cleaned up by pipeline_fini */
	}
	progress(c, false);
	return r;
}

/*
 * Runs a job: queued for the workers (waiting for room), or at once on
 * this thread when there are none. Returns 0 or -ENOMEM.
 */
static int submit(struct ctx *c, const struct job *j)
{
	struct pipeline *p = &c->p;
	int r;

	if (p->n_workers == 0) {
		struct worker *w = &p->w[0];
		uint64_t written;
		bool blob_err;
		int e;

		bool last;

		pthread_mutex_lock(&p->mu);
		j->f->jobs_left++;
		pthread_mutex_unlock(&p->mu);
		written = run_job(c, w, j, &e, &blob_err);
		pthread_mutex_lock(&p->mu);
		last = job_done_locked(p, j->f, e, blob_err, written);
		pthread_mutex_unlock(&p->mu);
		if (last)
			file_complete(c, j->f);
		return 0;
	}
	for (;;) {
		pthread_mutex_lock(&p->mu);
		if (p->q_n < QUEUE_JOBS) {
			p->q[(p->q_head + p->q_n) % QUEUE_JOBS] = *j;
			p->q_n++;
			p->q_bytes += j->bytes;
			j->f->jobs_left++;
			/* A busy worker comes back for queued jobs by itself. */
			if (p->idle > 0 && (p->idle == p->n_workers || p->q_n >= WAKE_JOBS ||
					    p->q_bytes >= WAKE_BYTES))
				pthread_cond_signal(&p->work);
			pthread_mutex_unlock(&p->mu);
			return 0;
		}
		pthread_mutex_unlock(&p->mu);
		if ((r = pump(c, true, true)) != 0)
			return r;
	}
}

/* A free pfile, waiting for one to be finished if all are busy. */
static int pfile_get(struct ctx *c, struct pfile **out)
{
	int r;

	while (c->p.free_list == NULL)
		if ((r = pump(c, true, false)) != 0)
			return r;
	*out = c->p.free_list;
	c->p.free_list = (*out)->next;
	return 0;
}

/* True if id was met lately in this restore (and remembers it). */
static bool recent_seen(struct pipeline *p, const uint8_t *id)
{
	uint64_t h;
	uint8_t *slot;

	memcpy(&h, id, sizeof h); /* IDs are MACs: any 8 bytes are uniform */
	slot = p->recent[h & (RECENT_SLOTS - 1)];
	if (memcmp(slot, id, BLOB_ID_LEN) == 0)
		return true;
	memcpy(slot, id, BLOB_ID_LEN);
	return false;
}

/*
 * Starts the workers: threads in all (0: one per online core); one means
 * none, the walk's thread then writes the content itself. Fewer workers
 * than asked if threads cannot be created. Returns 0 or -ENOMEM.
 */
static int pipeline_start(struct ctx *c, size_t threads)
{
	struct pipeline *p = &c->p;
	pthread_condattr_t ca;
	size_t pending = MAX_PENDING;
	struct rlimit rl;

	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		threads = n > 0 ? (size_t)n : 1;
	}
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	/*
	 * Open files cost descriptors: an eighth of the limit (hard links
	 * take up to a quarter; packs, directories and the caller need the rest).
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 8 < pending)
		pending = rl.rlim_cur / 8 > 0 ? (size_t)(rl.rlim_cur / 8) : 1;

	if (pthread_mutex_init(&p->mu, NULL) != 0)
		return -ENOMEM;
	p->mu_ok = true;
	if (pthread_mutex_init(&p->cache_mu, NULL) != 0)
		return -ENOMEM;
	p->cache_mu_ok = true;
	if (pthread_cond_init(&p->work, NULL) != 0)
		return -ENOMEM;
	p->work_ok = true;
	if (pthread_condattr_init(&ca) != 0)
		return -ENOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	p->main_ok = pthread_cond_init(&p->main, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!p->main_ok)
		return -ENOMEM;

	p->pool = calloc(pending, sizeof *p->pool);
	p->recent = calloc(RECENT_SLOTS, sizeof *p->recent);
	p->w = calloc(threads, sizeof *p->w);
	if (p->pool == NULL || p->recent == NULL || p->w == NULL)
		return -ENOMEM;
	p->pool_n = pending;
	for (size_t i = pending; i-- > 0;) {
		p->pool[i].fd = -1;
		p->pool[i].next = p->free_list;
		p->free_list = &p->pool[i];
	}
	p->w_n = threads;
	for (size_t i = 0; i < threads; i++)
		p->w[i].c = c;
	if (threads == 1)
		return 0;
	for (size_t i = 0; i < threads; i++) {
		if (pthread_create(&p->w[i].tid, NULL, worker_main, &p->w[i]) != 0)
			break;
		p->n_workers++;
	}
	/* With none at all, w[0] (never started) serves the walk's thread. */
	if (p->n_workers < threads)
		log_warnx("restoring with %zu of %zu threads: cannot create more",
			  p->n_workers, threads);
	return 0;
}

/* Stops the workers (dropping queued jobs) and waits for them. */
static void pipeline_stop(struct ctx *c)
{
	struct pipeline *p = &c->p;

	if (p->n_workers == 0)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	p->q_n = 0;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < p->n_workers; i++)
		pthread_join(p->w[i].tid, NULL);
	p->n_workers = 0;
}

/*
 * After pipeline_stop: removes the files an aborted restore left
 * unfinished (their directories are still open) and frees everything.
 */
static void pipeline_fini(struct ctx *c)
{
	struct pipeline *p = &c->p;

	for (size_t i = 0; i < p->pool_n; i++) {
		struct pfile *f = &p->pool[i];

		if (f->live && (f->fd >= 0 || f->err != 0)) {
			if (f->fd >= 0)
				close(f->fd);
			unlinkat(f->dirfd, f->name, 0);
		}
		buf_fini(&f->path);
	}
	free(p->pool);
	free(p->recent);
	for (size_t i = 0; i < p->w_n; i++)
		buf_fini(&p->w[i].blob);
	free(p->w);
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		buf_fini(&p->cache[i].data);
	if (p->main_ok)
		pthread_cond_destroy(&p->main);
	if (p->work_ok)
		pthread_cond_destroy(&p->work);
	if (p->cache_mu_ok)
		pthread_mutex_destroy(&p->cache_mu);
	if (p->mu_ok)
		pthread_mutex_destroy(&p->mu);
}

/* ---- items ------------------------------------------------------------ */

/*
 * Makes room for a new entry: a non-directory in the way is removed (a
 * restore replaces what it restores), a directory is kept. Returns 1 if a
 * directory is already there, 0 if the name is free, negative errno.
 * Not called in a directory this restore made (frame.fresh): it holds only
 * what the restore put there, under names that are unique in the listing,
 * and no other user can enter it (0700 until it is left); an entry planted
 * there by the same user makes the O_EXCL creation fail, reported.
 */
static int clear_slot(int dirfd, const char *name, mode_t *mode)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		if (mode != NULL)
			*mode = st.st_mode;
		return 1;
	}
	if (unlinkat(dirfd, name, 0) != 0)
		return -errno;
	return 0;
}

/*
 * Starts restoring a regular file's content. The file is created with
 * O_EXCL after clear_slot removed whatever was there: O_TRUNC on an
 * existing name would write through a hard link someone planted at the
 * target, and O_NOFOLLOW alone does not stop that. Its extents are then
 * queued as jobs; each extent's blob is written at its offset and the file
 * later truncated to its size if its tail is a hole (file_complete), so
 * the gaps between extents stay holes and nothing writes zeros into them.
 * A file with no extents is finished at once.
 *
 * The first member of a hard-link group (link_group) is remembered as soon
 * as it exists, marked pending until finished, so later members wait for
 * it rather than link to content still being written.
 *
 * No fsync per file: the target is not a repository and nothing depends on
 * the order in which its files reach the disk; an interrupted restore is
 * simply run again. restore_to_dir calls syncfs once at the end instead.
 *
 * Returns 0 (item handled or handed to the pipeline, errors reported and
 * counted) or -ENOMEM.
 */
static int start_file(struct ctx *c, int dirfd, const char *name, const struct node *n,
		      bool link_group)
{
	struct pipeline *p = &c->p;
	struct job j = { 0 };
	uint64_t job_bytes = 0, end = 0;
	struct pfile *f;
	bool last;
	int fd, r;

	if (n->size > (uint64_t)INT64_MAX) {
		fail_item(c, NULL, -EFBIG);
		return 0;
	}
	for (size_t i = 0; i < n->n_extents; i++) {
		const struct extent *x = &n->extents[i];

		if (x->offset > n->size || x->len > n->size - x->offset) {
			fail_item(c, NULL, -EBADMSG);
			return 0;
		}
		if (x->offset + x->len > end)
			end = x->offset + x->len;
	}
	if ((r = pfile_get(c, &f)) != 0)
		return r;
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		fail_item(c, NULL, -errno);
		f->next = p->free_list;
		p->free_list = f;
		return 0;
	}
	f->n = n;
	f->fd = fd;
	f->dirfd = dirfd;
	f->dir = c->st[c->depth - 1];
	memcpy(f->name, name, n->name_len + 1);
	buf_reset(&f->path);
	f->bytes = 0;
	f->end = end;
	f->jobs_left = 1; /* dropped once every job is queued */
	f->err = 0;
	f->blob_err = false;
	f->meta_err = 0;
	atomic_store_explicit(&f->failed, false, memory_order_relaxed);
	f->link_group = link_group;
	f->live = true;
	f->dir->pending++;
	r = buf_put(&f->path, c->path.data, c->path.len);
	if (r == 0 && link_group)
		r = hl_add(c, n, dirfd, name, f);
	if (r != 0) {
		/* Out of memory: close it; the restore stops and pipeline_fini removes it. */
		f->link_group = false;
		f->err = -ENOMEM;
		f->jobs_left = 0;
		file_complete(c, f); /* the restore stops: pipeline_fini removes it */
		return -ENOMEM;
	}

	j.f = f;
	for (size_t i = 0; i < n->n_extents; i++) {
		const struct extent *x = &n->extents[i];

		if (j.count > 0 &&
		    (j.count == JOB_MAX_EXTENTS || job_bytes + x->len > JOB_MAX_BYTES)) {
			if ((r = submit(c, &j)) != 0)
				break;
			j.first = i;
			j.count = 0;
			j.shared = 0;
			job_bytes = 0;
		}
		if (recent_seen(p, x->id))
			j.shared |= 1ull << j.count;
		j.count++;
		job_bytes += x->len;
		j.bytes = job_bytes;
		f->bytes += x->len;
	}
	if (r == 0 && j.count > 0)
		r = submit(c, &j);
	pthread_mutex_lock(&p->mu);
	last = job_done_locked(p, f, r, false, 0);
	pthread_mutex_unlock(&p->mu);
	if (last)
		file_complete(c, f);
	if (r != 0)
		return r;
	/* Without workers, finish it now: nothing else will. */
	return p->n_workers == 0 ? pump(c, false, false) : 0;
}

/*
 * Restores one entry that is not a directory into dirfd and applies its
 * metadata (for a regular file, once its content is written). Returns 0
 * (errors reported and counted) or -ENOMEM.
 */
static int restore_leaf(struct ctx *c, int dirfd, const char *name, const struct node *n)
{
	bool link_group = n->nlink > 1;
	int r;

	r = c->st[c->depth - 1]->fresh ? 0 : clear_slot(dirfd, name, NULL);
	if (r != 0) {
		fail_item(c, NULL, r > 0 ? -EISDIR : r);
		return 0;
	}
	if (link_group) {
		struct hl_ent *e;

		/* A first member still being written: wait for its outcome. */
		while ((e = hl_find(&c->hl, n->dev, n->inode)) != NULL && e->pending != NULL)
			if ((r = pump(c, true, false)) != 0)
				return r;
		if (e != NULL && !e->failed) {
			r = hl_link(c, e, dirfd, name);
			if (r == 0) {
				if (n->type == NODE_FILE)
					c->res.files++;
				else
					c->res.others++;
				return 0;
			}
			if (r == -ENOMEM)
				return r;
			log_warnx("cannot hard-link %s, restoring it as a copy: %s", cur(c),
				  coffer_strerror(r));
			link_group = false;
		}
	}

	switch (n->type) {
	case NODE_FILE:
		return start_file(c, dirfd, name, n, link_group);
	case NODE_SYMLINK:
		buf_reset(&c->tmp);
		if (buf_put(&c->tmp, n->link, n->link_len) != 0 || buf_put_u8(&c->tmp, 0) != 0)
			return -ENOMEM;
		r = symlinkat((const char *)c->tmp.data, dirfd, name);
		break;
	case NODE_FIFO:
		r = mkfifoat(dirfd, name, 0600);
		break;
	case NODE_SOCK:
		/* A socket node without its listener is inert, but some programs check for it. */
		r = mknodat(dirfd, name, S_IFSOCK | 0600, 0);
		break;
	case NODE_CHR:
	case NODE_BLK:
		/* Needs CAP_MKNOD: as non-root this fails with EPERM and is reported. */
		r = mknodat(dirfd, name, (n->type == NODE_CHR ? S_IFCHR : S_IFBLK) | 0600,
			    (dev_t)n->rdev);
		break;
	default:
		r = -1;
		errno = EBADMSG;
		break;
	}
	if (r != 0) {
		fail_item(c, NULL, -errno);
		return 0;
	}
	c->res.others++;
	r = fsmeta_apply(dirfd, name, n);
	if (r != 0)
		fail_item(c, "the metadata of ", r);
	if (link_group)
		return hl_add(c, n, dirfd, name, NULL);
	return 0;
}

/* ---- directories ------------------------------------------------------ */

static int stack_push(struct ctx *c, struct frame **out)
{
	struct frame *f;

	if (c->depth == c->st_cap) {
		size_t cap = c->st_cap ? c->st_cap * 2 : 16;
		struct frame **s = realloc(c->st, cap * sizeof *s);

		if (s == NULL)
			return -ENOMEM;
		c->st = s;
		c->st_cap = cap;
	}
	f = calloc(1, sizeof *f);
	if (f == NULL)
		return -ENOMEM;
	tree_init(&f->tree);
	f->fd = -1;
	f->parent = c->depth > 0 ? c->st[c->depth - 1] : NULL;
	if (f->parent != NULL)
		f->parent->pending++; /* until this one is settled */
	c->st[c->depth++] = f;
	c->n_frames++;
	*out = f;
	return 0;
}

static void frame_free(struct ctx *c, struct frame *f)
{
	if (f->fd >= 0 && f->fd != c->rootfd)
		close(f->fd);
	tree_fini(&f->tree);
	buf_fini(&f->path);
	free(f);
	c->n_frames--;
}

/*
 * Applies the metadata of a left directory with nothing pending in it, now
 * that its contents are complete (post-order: creating entries would
 * change its mtime, and a read-only mode would stop the filling), and
 * frees it; then does the same for its parent if that was the last thing
 * the parent waited for.
 */
static void dir_settle(struct ctx *c, struct frame *f)
{
	while (f != NULL && f->left && f->pending == 0) {
		struct frame *p = f->parent;

		if (p != NULL) {
			const struct node *n = &p->tree.nodes[f->self];
			char name[TREE_MAX_NAME + 1];
			int r;

			close(f->fd);
			f->fd = -1;
			memcpy(name, n->name, n->name_len);
			name[n->name_len] = '\0';
			r = fsmeta_apply(p->fd, name, n);
			if (r != 0) {
				log_errorx("cannot restore the metadata of %s: %s",
					   f->deferred ? esc(c, f->path.data, f->path.len) : cur(c),
					   coffer_strerror(r));
				c->res.errors++;
			}
			c->res.dirs++;
			p->pending--;
		}
		if (f->deferred) {
			if (f->dprev != NULL)
				f->dprev->dnext = f->dnext;
			else
				c->deferred = f->dnext;
			if (f->dnext != NULL)
				f->dnext->dprev = f->dprev;
			c->n_deferred--;
		}
		frame_free(c, f);
		f = p;
	}
}

/*
 * Creates (or reuses) the directory for node n, index idx of the top
 * frame's tree, opens it and pushes a frame with its listing. A new
 * directory starts as 0700 so that it can be filled whatever its final
 * mode; its metadata is applied when its frame is popped. Returns 0 (errors
 * reported and counted) or -ENOMEM.
 */
static int enter_dir(struct ctx *c, size_t idx, const char *name, bool full)
{
	struct frame *f = c->st[c->depth - 1];
	const struct node *n = &f->tree.nodes[idx];
	int dirfd = f->fd, fd, r;
	mode_t mode = 0;
	struct tree t;
	bool fresh;

	r = f->fresh ? 0 : clear_slot(dirfd, name, &mode);
	if (r == 0 && mkdirat(dirfd, name, 0700) != 0)
		r = -errno;
	fresh = r == 0;
	/*
	 * Merging into a directory that exists (a previous restore of a
	 * read-only one): open it up for its owner as a new one would be; its
	 * stored mode is applied when it is left. AT_SYMLINK_NOFOLLOW: a
	 * symlink swapped in meanwhile is not followed.
	 */
	if (r == 1 && (mode & S_IRWXU) != S_IRWXU &&
	    fchmodat(dirfd, name, (mode & 07777) | S_IRWXU, AT_SYMLINK_NOFOLLOW) != 0) {
		/* Not ours: what cannot be created in it is reported below. */
	}
	if (r < 0) {
		fail_item(c, NULL, r);
		return 0;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		fail_item(c, NULL, -errno);
		return 0;
	}
	tree_init(&t);
	r = repo_tree_load(c->r, n->subtree, &t);
	if (r != 0) {
		close(fd);
		tree_fini(&t);
		if (r == -ENOMEM)
			return r;
		log_errorx("cannot restore the contents of %s: %s", cur(c),
			   blob_reason(r, true));
		c->res.errors++;
		/* The directory exists: give it its metadata all the same. */
		r = fsmeta_apply(dirfd, name, n);
		if (r != 0)
			fail_item(c, "the metadata of ", r);
		c->res.dirs++;
		return 0;
	}
	r = stack_push(c, &f);
	if (r != 0) {
		close(fd);
		tree_fini(&t);
		return r;
	}
	f->tree = t;
	f->fd = fd;
	f->self = idx;
	f->path_len = c->path.len;
	f->full = full;
	f->fresh = fresh;
	f->acl_default = fsmeta_has_default_acl(fd);
	return 0;
}

/*
 * Pops the top directory. Its metadata is applied by dir_settle, at once
 * if nothing in it is still being written, else when the last of that is
 * finished (the directory then stays open, deferred). Finishing a file sets
 * its times and may remove it, which must come before the directory's own
 * times and mode. Deferred directories hold descriptors, so there are at
 * most as many as files may be open; beyond that the walk waits. Returns 0
 * or -ENOMEM.
 */
static int leave_dir(struct ctx *c)
{
	struct frame *f = c->st[c->depth - 1];
	struct frame *p = f->parent;
	int r = 0;

	c->depth--;
	f->left = true;
	if (f->pending > 0) {
		f->deferred = true;
		f->dnext = c->deferred;
		if (c->deferred != NULL)
			c->deferred->dprev = f;
		c->deferred = f;
		c->n_deferred++;
		r = buf_put(&f->path, c->path.data, c->path.len);
	} else {
		dir_settle(c, f);
	}
	if (p != NULL)
		path_pop(c, p->path_len);
	while (r == 0 && c->n_deferred > c->p.pool_n)
		r = pump(c, true, false);
	progress(c, false);
	return r;
}

static bool name_ok(const struct node *n)
{
	if (n->name_len == 0 || n->name_len > TREE_MAX_NAME)
		return false;
	if (memchr(n->name, '/', n->name_len) || memchr(n->name, 0, n->name_len))
		return false;
	return !(n->name[0] == '.' &&
		 (n->name_len == 1 || (n->name_len == 2 && n->name[1] == '.')));
}

/* Restores the next entry of the top frame, or leaves it when done. */
static int step(struct ctx *c)
{
	struct frame *f = c->st[c->depth - 1];
	char name[TREE_MAX_NAME + 1];
	const struct node *n;
	enum select sel;
	size_t idx, saved;
	int r;

	if (f->next == f->tree.n)
		return leave_dir(c);
	idx = f->next++;
	n = &f->tree.nodes[idx];
	if (!name_ok(n)) {
		/* The tree decoder rejects these; a hand-built tree might not. */
		log_errorx("cannot restore an entry of %s: invalid name", cur(c));
		c->res.errors++;
		return 0;
	}
	memcpy(name, n->name, n->name_len);
	name[n->name_len] = '\0';
	r = path_push(c, n->name, n->name_len, &saved);
	if (r != 0)
		return r;
	sel = f->full ? SEL_FULL : include_select(c, n->type == NODE_DIR);
	if (sel == SEL_SKIP) {
		path_pop(c, saved);
		return 0;
	}
	if (n->type == NODE_DIR) {
		size_t depth = c->depth;

		r = enter_dir(c, idx, name, sel == SEL_FULL);
		/* On success the path stays pushed until the frame is left. */
		if (c->depth == depth)
			path_pop(c, saved);
		return r;
	}
	r = restore_leaf(c, f->fd, name, n);
	path_pop(c, saved);
	progress(c, false);
	return r;
}

/* ---- TARGET ----------------------------------------------------------- */

/*
 * mkdir -p: creates TARGET and its missing parents (mode 0700: restored
 * data may be confidential, and TARGET's own metadata is not part of the
 * snapshot), following symlinks as mkdir -p does, since TARGET is the
 * operator's choice. Returns an open descriptor or negative errno.
 */
static int open_target(const char *target)
{
	char *copy = strdup(target), *p, *s;
	int fd, r = 0;

	if (copy == NULL)
		return -ENOMEM;
	fd = open(target[0] == '/' ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	for (p = strtok_r(copy, "/", &s); p != NULL; p = strtok_r(NULL, "/", &s)) {
		int nfd;

		if (mkdirat(fd, p, 0700) != 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		nfd = openat(fd, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (nfd < 0) {
			r = -errno;
			break;
		}
		close(fd);
		fd = nfd;
	}
out:
	free(copy);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	return fd;
}

/* How many hard-link descriptors to keep: a quarter of the fd limit at most. */
static size_t hl_fd_cap(void)
{
	struct rlimit rl;
	size_t cap = HL_MAX_FDS;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < cap)
		cap = (size_t)(rl.rlim_cur / 4);
	return cap;
}

int restore_to_dir(struct repo *r, const struct snapshot *snap, const char *target,
		   const struct restore_opts *o, struct restore_result *res)
{
	struct ctx c;
	struct frame *f;
	bool all = true;
	int e = 0;

	if (r == NULL || snap == NULL || target == NULL || target[0] == '\0' || res == NULL)
		return -EINVAL;
	memset(&c, 0, sizeof c);
	c.r = r;
	c.o = o;
	c.rootfd = -1;
	c.hl.max_fds = hl_fd_cap();
	if ((e = pipeline_start(&c, o != NULL ? o->threads : 0)) != 0)
		goto out;
	if (o != NULL && o->n_includes > 0) {
		if (o->includes == NULL) {
			e = -EINVAL;
			goto out;
		}
		c.inc = calloc(o->n_includes, sizeof *c.inc);
		if (c.inc == NULL) {
			e = -ENOMEM;
			goto out;
		}
		all = false;
		for (size_t i = 0; i < o->n_includes; i++) {
			if (o->includes[i] == NULL) {
				e = -EINVAL;
				goto out;
			}
			e = include_norm(o->includes[i], &c.inc[i]);
			if (e != 0)
				goto out;
			c.n_inc++;
			if (c.inc[i].len == 0) {
				c.inc[i].found = true;
				all = true;
			}
		}
	}
	/* Known exactly only for a full restore; unknown (0) with includes. */
	c.bytes_total = all ? snap->stats.bytes : 0;
	if ((e = buf_reserve(&c.path, 256)) != 0)
		goto out;
	c.path.data[0] = '\0';

	c.rootfd = open_target(target);
	if (c.rootfd < 0) {
		e = c.rootfd;
		log_errorx("cannot create %s: %s", target, coffer_strerror(e));
		goto out;
	}
	if ((e = stack_push(&c, &f)) != 0)
		goto out;
	f->fd = c.rootfd;
	f->full = all;
	f->acl_default = fsmeta_has_default_acl(c.rootfd);
	e = repo_tree_load(r, snap->tree, &f->tree);
	if (e != 0) {
		log_errorx("cannot read the snapshot's root directory listing: %s",
			   coffer_strerror(e));
		goto out;
	}
	progress(&c, true);
	while (c.depth > 0 && e == 0) {
		if (o != NULL && o->cancel != NULL &&
		    atomic_load_explicit(o->cancel, memory_order_relaxed)) {
			log_warnx("restore cancelled: %s is incomplete", target);
			e = -ECANCELED;
			break;
		}
		e = step(&c);
	}
	/* The root, left, settles when the last deferred directory does. */
	while (e == 0 && c.n_frames > 0)
		e = pump(&c, true, false);
	if (e != 0)
		goto out;

	for (size_t i = 0; i < c.n_inc; i++) {
		if (!c.inc[i].found) {
			log_errorx("%s: not found in the snapshot",
				   esc(&c, (const uint8_t *)c.inc[i].path, c.inc[i].len));
			c.res.errors++;
		}
	}
	/*
	 * One syncfs instead of an fsync per file: when restore_to_dir
	 * returns, what it restored is on stable storage (a drill's RTO and
	 * an operator's next step depend on that), at the cost of one flush.
	 * It covers TARGET's filesystem; the rare mount point met inside a
	 * merged directory is not flushed.
	 */
	if (syncfs(c.rootfd) != 0) {
		log_errorx("cannot flush %s to disk: %s", target, strerror(errno));
		c.res.errors++;
	}
	path_pop(&c, 0);
	progress(&c, true);
	*res = c.res;
out:
	/* Stopped before the directories close: unfinished files are removed by name. */
	pipeline_stop(&c);
	pipeline_fini(&c);
	while (c.depth > 0)
		frame_free(&c, c.st[--c.depth]);
	while (c.deferred != NULL) {
		f = c.deferred;
		c.deferred = f->dnext;
		frame_free(&c, f);
	}
	free(c.st);
	if (c.rootfd >= 0)
		close(c.rootfd);
	hl_fini(&c.hl);
	for (size_t i = 0; i < c.n_inc; i++)
		free(c.inc[i].path);
	free(c.inc);
	buf_fini(&c.path);
	buf_fini(&c.esc);
	buf_fini(&c.tmp);
	return e;
}
