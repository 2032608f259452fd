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
 * Damage is contained per item: a blob that cannot be loaded fails the one
 * file that needs it, which is removed (so nothing half-restored looks
 * complete), named on stderr and counted; a directory listing that cannot
 * be loaded fails that subtree. Only running out of memory or failing to
 * create TARGET or read the root listing stops the restore.
 */
#include "restore/restore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs/fsmeta.h"
#include "io/io.h"
#include "util/escape.h"
#include "util/log.h"

#define PROGRESS_INTERVAL_NS 250000000ull /* at most four calls a second */
#define HL_MAX_FDS 4096

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
	bool used;
};

struct hl_table {
	struct hl_ent *slot;
	size_t cap, n;      /* open addressing, cap a power of two */
	size_t n_fds, max_fds;
};

/* One directory being restored. */
struct frame {
	struct tree tree;   /* its listing */
	size_t next;        /* next entry of tree to restore */
	int fd;             /* the directory, open */
	size_t self;        /* index of its node in the parent frame's tree */
	size_t path_len;    /* length of its stored path in ctx.path */
	bool full;          /* every entry wanted (no include filter below) */
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
	struct frame *st;
	size_t depth, st_cap;
	struct buf path;             /* stored path of the current item, NUL-terminated */
	struct buf esc;              /* printable form of a path */
	struct buf blob;             /* data blob being written */
	struct buf tmp;
	struct include *inc;
	size_t n_inc;
	struct hl_table hl;
	uint64_t bytes_done, bytes_total;
	uint64_t last_progress;
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
	p.bytes_done = c->bytes_done;
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
 * Remembers the node just restored as name in dirfd as the first of its
 * hard-link group. Returns 0 or -ENOMEM.
 */
static int hl_add(struct ctx *c, const struct node *n, int dirfd, const char *name)
{
	struct hl_table *h = &c->hl;
	struct hl_ent *e;
	size_t i;

	if ((h->n + 1) * 2 > h->cap && hl_grow(h) != 0)
		return -ENOMEM;
	for (i = hl_hash(n->dev, n->inode) & (h->cap - 1); h->slot[i].used;
	     i = (i + 1) & (h->cap - 1))
		;
	e = &h->slot[i];
	/* The stored path without its leading '/': relative to TARGET. */
	e->rel = strndup((const char *)c->path.data + 1, c->path.len - 1);
	if (e->rel == NULL)
		return -ENOMEM;
	e->rel_len = c->path.len - 1;
	e->dev = n->dev;
	e->ino = n->inode;
	e->fd = -1;
	e->used = true;
	h->n++;
	if (h->n_fds < h->max_fds) {
		e->fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (e->fd >= 0)
			h->n_fds++;
	}
	return 0;
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

/* ---- items ------------------------------------------------------------ */

/*
 * Makes room for a new entry: a non-directory in the way is removed (a
 * restore replaces what it restores), a directory is kept. Returns 1 if a
 * directory is already there, 0 if the name is free, negative errno.
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
 * Writes a regular file's content. The file is created with O_EXCL after
 * clear_slot removed whatever was there: O_TRUNC on an existing name would
 * write through a hard link someone planted at the target, and O_NOFOLLOW
 * alone does not stop that. Each extent's blob is written at its offset and
 * the file then truncated to its size, so the gaps between extents stay
 * holes and nothing writes zeros into them.
 *
 * No fsync per file: the target is not a repository and nothing depends on
 * the order in which its files reach the disk; an interrupted restore is
 * simply run again. restore_to_dir calls syncfs once at the end instead.
 *
 * Returns 0 (item handled, errors reported and counted) or -ENOMEM.
 */
static int restore_file(struct ctx *c, int dirfd, const char *name, const struct node *n,
			bool *ok)
{
	uint64_t written = 0;
	bool blob_err = false;
	int fd, e = 0;

	*ok = false;
	if (n->size > (uint64_t)INT64_MAX) {
		fail_item(c, NULL, -EFBIG);
		return 0;
	}
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		fail_item(c, NULL, -errno);
		return 0;
	}
	for (size_t i = 0; i < n->n_extents && e == 0; i++) {
		const struct extent *x = &n->extents[i];

		if (x->offset > n->size || x->len > n->size - x->offset) {
			e = -EBADMSG;
			break;
		}
		e = repo_blob_load(c->r, x->id, BLOB_DATA, &c->blob);
		if (e == 0 && c->blob.len != x->len)
			e = -EBADMSG;
		if (e != 0) {
			blob_err = true;
			break;
		}
		e = io_pwrite_all(fd, c->blob.data, c->blob.len, (off_t)x->offset);
		if (e == 0) {
			written += x->len;
			c->bytes_done += x->len;
			progress(c, false);
		}
	}
	if (e == 0 && ftruncate(fd, (off_t)n->size) != 0)
		e = -errno;
	if (close(fd) != 0 && e == 0)
		e = -errno; /* NFS reports write errors at close */
	if (e != 0) {
		/* Nothing half-restored may look complete. */
		unlinkat(dirfd, name, 0);
		if (e == -ENOMEM)
			return e;
		if (blob_err) {
			log_errorx("cannot restore %s: %s", cur(c), blob_reason(e, false));
			c->res.errors++;
		} else {
			fail_item(c, NULL, e);
		}
		return 0;
	}
	if (n->flags & NODE_F_INCOMPLETE) {
		log_errorx("cannot restore %s completely: its content could not be read "
			   "in full at backup time", cur(c));
		c->res.errors++;
	} else if (n->flags & NODE_F_CHANGED) {
		log_warnx("%s changed while it was backed up: its content may be inconsistent",
			  cur(c));
	}
	c->res.bytes += written;
	*ok = true;
	return 0;
}

/*
 * Restores one entry that is not a directory into dirfd and applies its
 * metadata. Returns 0 (errors reported and counted) or -ENOMEM.
 */
static int restore_leaf(struct ctx *c, int dirfd, const char *name, const struct node *n)
{
	bool link_group = n->nlink > 1;
	bool ok = false;
	int r;

	r = clear_slot(dirfd, name, NULL);
	if (r != 0) {
		fail_item(c, NULL, r > 0 ? -EISDIR : r);
		return 0;
	}
	if (link_group) {
		struct hl_ent *e = hl_find(&c->hl, n->dev, n->inode);

		if (e != NULL) {
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
		r = restore_file(c, dirfd, name, n, &ok);
		if (r < 0)
			return r;
		if (!ok)
			return 0;
		break;
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
	if (n->type != NODE_FILE && r != 0) {
		fail_item(c, NULL, -errno);
		return 0;
	}
	if (n->type == NODE_FILE)
		c->res.files++;
	else
		c->res.others++;
	r = fsmeta_apply(dirfd, name, n);
	if (r != 0)
		fail_item(c, "the metadata of ", r);
	if (link_group)
		return hl_add(c, n, dirfd, name);
	return 0;
}

/* ---- directories ------------------------------------------------------ */

static int stack_push(struct ctx *c, struct frame **out)
{
	if (c->depth == c->st_cap) {
		size_t cap = c->st_cap ? c->st_cap * 2 : 16;
		struct frame *s = realloc(c->st, cap * sizeof *s);

		if (s == NULL)
			return -ENOMEM;
		c->st = s;
		c->st_cap = cap;
	}
	*out = &c->st[c->depth++];
	memset(*out, 0, sizeof **out);
	tree_init(&(*out)->tree);
	(*out)->fd = -1;
	return 0;
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
	struct frame *f = &c->st[c->depth - 1];
	const struct node *n = &f->tree.nodes[idx];
	int dirfd = f->fd, fd, r;
	mode_t mode = 0;
	struct tree t;

	r = clear_slot(dirfd, name, &mode);
	if (r == 0 && mkdirat(dirfd, name, 0700) != 0)
		r = -errno;
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
	return 0;
}

/*
 * Closes the top directory and applies its metadata from its parent, now
 * that its contents exist (post-order: creating entries would change its
 * mtime, and a read-only mode would stop the filling).
 */
static void leave_dir(struct ctx *c)
{
	struct frame *f = &c->st[c->depth - 1];

	if (c->depth > 1) {
		struct frame *p = &c->st[c->depth - 2];
		const struct node *n = &p->tree.nodes[f->self];
		char name[TREE_MAX_NAME + 1];
		int r;

		close(f->fd);
		memcpy(name, n->name, n->name_len);
		name[n->name_len] = '\0';
		r = fsmeta_apply(p->fd, name, n);
		if (r != 0)
			fail_item(c, "the metadata of ", r);
		c->res.dirs++;
		path_pop(c, p->path_len);
		progress(c, false);
	}
	tree_fini(&f->tree);
	c->depth--;
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
	struct frame *f = &c->st[c->depth - 1];
	char name[TREE_MAX_NAME + 1];
	const struct node *n;
	enum select sel;
	size_t idx, saved;
	int r;

	if (f->next == f->tree.n) {
		leave_dir(c);
		return 0;
	}
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
	if (o != NULL && o->n_includes > 0) {
		if (o->includes == NULL)
			return -EINVAL;
		c.inc = calloc(o->n_includes, sizeof *c.inc);
		if (c.inc == NULL)
			return -ENOMEM;
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
	e = repo_tree_load(r, snap->tree, &f->tree);
	if (e != 0) {
		log_errorx("cannot read the snapshot's root directory listing: %s",
			   coffer_strerror(e));
		goto out;
	}
	progress(&c, true);
	while (c.depth > 0 && e == 0)
		e = step(&c);
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
	while (c.depth > 0) {
		f = &c.st[--c.depth];
		if (f->fd >= 0 && f->fd != c.rootfd)
			close(f->fd);
		tree_fini(&f->tree);
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
	buf_fini(&c.blob);
	buf_fini(&c.tmp);
	return e;
}
