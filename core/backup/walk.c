/*
 * Backup from the filesystem. Each PATH is stored under its absolute path:
 * the snapshot's root tree holds a chain of directory nodes leading to it.
 * The walk descends by directory fds (openat), so no path string is ever
 * handed to the kernel and trees deeper than PATH_MAX back up fine.
 *
 * Unchanged files (same size, mtime, ctime and inode as in the parent
 * snapshot) are not read again: their extents are copied from the parent.
 */
#include "backup/backup_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/prefetch.h"
#include "backup/smallfile.h"
#include "fs/fsmeta.h"
#include "io/engine.h"
#include "util/escape.h"
#include "util/log.h"

/* Files read ahead of the walk, and the threads doing it (prefetch.h). */
#define WALK_PREFETCH_WINDOW 64
#define WALK_PREFETCH_THREADS 4
/* Regions from this size on are read with O_DIRECT (see direct_for). */
#define WALK_DIRECT_MIN (32ull << 20)
#define PROGRESS_INTERVAL_NS 250000000ull

#ifndef COFFER_VERSION
#define COFFER_VERSION "0.1.0"
#endif

struct walk {
	struct repo *r;
	struct chunk_stream *cs;
	const struct backup_opts *o;
	struct snapshot_stats st;
	struct backup_progress pg;
	uint64_t last_progress;
	struct prefetch *pf;   /* may be NULL: no read-ahead */
	struct smallfiles *sf; /* may be NULL: small files read here */
	struct buf path; /* current path, escaped, for messages only; NUL-terminated */
};

uint64_t backup_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void walk_progress(struct walk *w, bool force)
{
	if (w->o == NULL || w->o->progress == NULL)
		return;
	uint64_t t = backup_now_ns();
	if (!force && t - w->last_progress < PROGRESS_INTERVAL_NS)
		return;
	w->last_progress = t;
	w->pg.files = w->st.files;
	w->pg.dirs = w->st.dirs;
	w->pg.errors = w->st.errors;
	w->pg.current = (const char *)w->path.data;
	w->o->progress(&w->pg, w->o->progress_arg);
}

/* Appends "/name", printable (util/escape.h), to the message path;
 * returns the length to restore. */
static bool walk_cancelled(const struct walk *w)
{
	return w->o != NULL && w->o->cancel != NULL &&
	       atomic_load_explicit(w->o->cancel, memory_order_relaxed);
}

static size_t path_push(struct walk *w, const uint8_t *name, size_t len)
{
	size_t old = w->path.len ? w->path.len - 1 : 0; /* without the NUL */
	w->path.len = old;
	if (old != 1 || w->path.data[0] != '/')
		(void)buf_put_u8(&w->path, '/');
	(void)escape_append(&w->path, name, len);
	(void)buf_put_u8(&w->path, 0);
	return old;
}

static void path_pop(struct walk *w, size_t old)
{
	w->path.len = old;
	(void)buf_put_u8(&w->path, 0);
}

static const char *path_str(struct walk *w)
{
	return w->path.data ? (const char *)w->path.data : "/";
}

void backup_report_error(const char *path, int err, const char *what)
{
	log_errorx("cannot read %s: %s%s%s", path, what, *what ? ": " : "", coffer_strerror(err));
}

void backup_warn_vanished(const char *path)
{
	log_warnx("%s vanished during the backup", path);
}

void backup_warn_replaced(const char *path)
{
	log_warnx("%s was replaced while being backed up", path);
}

void backup_warn_changed(const char *path)
{
	log_warnx("%s changed while being backed up; its content is marked inconsistent", path);
}

bool backup_same_inode(const struct stat *now, const struct stat *listed)
{
	return now->st_ino == listed->st_ino && now->st_dev == listed->st_dev &&
	       S_ISREG(now->st_mode);
}

bool backup_same_content_stat(const struct stat *now, const struct stat *listed)
{
	return now->st_size == listed->st_size &&
	       now->st_mtim.tv_sec == listed->st_mtim.tv_sec &&
	       now->st_mtim.tv_nsec == listed->st_mtim.tv_nsec &&
	       now->st_ctim.tv_sec == listed->st_ctim.tv_sec &&
	       now->st_ctim.tv_nsec == listed->st_ctim.tv_nsec;
}

static void walk_item_error(struct walk *w, int err, const char *what)
{
	backup_report_error(path_str(w), err, what);
	w->st.errors++;
}

/* True if every extent's blob is still stored. */
static bool extents_known(struct walk *w, const struct node *n)
{
	for (size_t i = 0; i < n->n_extents; i++)
		if (!repo_blob_known(w->r, n->extents[i].id))
			return false;
	return true;
}

static bool file_unchanged(const struct node *n, const struct node *old)
{
	return old != NULL && old->type == NODE_FILE && old->flags == 0 &&
	       old->size == n->size && old->inode == n->inode &&
	       old->mtime.sec == n->mtime.sec && old->mtime.nsec == n->mtime.nsec &&
	       old->ctime.sec == n->ctime.sec && old->ctime.nsec == n->ctime.nsec;
}

static int copy_extents(struct node *n, const struct node *old)
{
	if (old->n_extents == 0)
		return 0;
	n->extents = malloc(old->n_extents * sizeof *n->extents);
	if (n->extents == NULL)
		return -ENOMEM;
	memcpy(n->extents, old->extents, old->n_extents * sizeof *n->extents);
	n->n_extents = old->n_extents;
	return 0;
}

/* Where read_region's blocks go: the chunk stream, whose failure is kept
 * apart from the source's. */
struct region_sink {
	struct walk *w;
	int err;
};

static int region_sink_write(void *arg, const void *p, size_t n)
{
	struct region_sink *rs = arg;
	struct walk *w = rs->w;
	int e = walk_cancelled(w) ? -ECANCELED : chunk_stream_write(w->cs, p, n);
	if (e != 0) {
		rs->err = e;
		return e;
	}
	w->st.bytes_read += (uint64_t)n;
	w->pg.bytes_done += (uint64_t)n;
	walk_progress(w, false);
	return 0;
}

/*
 * Large regions are read with O_DIRECT where the filesystem allows: the
 * data then goes from the disk to our buffers without being copied out of
 * the page cache, which costs a core about 1 ns per byte on this class of
 * machine (more than hashing it), and a nightly backup does not evict the
 * cache that the appliance's other work relies on. Small regions and
 * unaligned starts keep buffered reads. Failing to switch is harmless.
 */
static void direct_for(int fd, uint64_t from, uint64_t len)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return;
	bool want = len >= WALK_DIRECT_MIN && from % IO_DIRECT_ALIGN == 0;
	if (want != ((fl & O_DIRECT) != 0))
		(void)fcntl(fd, F_SETFL, want ? fl | O_DIRECT : fl & ~O_DIRECT);
}

/*
 * Reads [from, to) of fd into the chunk stream, through the I/O engine:
 * with io_uring, several 1 MiB reads stay in flight while the previous
 * block is chunked (io/engine.h, read_stream). Returns 0 or the chunk
 * stream's negative errno; a source read error goes to *src_err, and
 * *short_read is set when the file ended early (it shrank).
 */
static int read_region(struct walk *w, int fd, uint64_t from, uint64_t to,
		       bool *short_read, int *src_err)
{
	int e = chunk_stream_seek(w->cs, from);
	if (e != 0)
		return e;
	direct_for(fd, from, to - from);
	struct region_sink rs = { .w = w };
	uint64_t done = 0;
	e = io_engine()->read_stream(fd, from, to - from, region_sink_write, &rs, &done);
	if (rs.err != 0)
		return rs.err;
	if (e != 0) {
		*src_err = e;
		return 0;
	}
	if (done < to - from)
		*short_read = true;
	return 0;
}

int backup_openat(int dirfd, const char *name, int flags)
{
	int fd = openat(dirfd, name, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, flags);
	return fd;
}

/*
 * Reads a regular file's content: only its data regions (SEEK_DATA /
 * SEEK_HOLE), so holes stay holes. Bounded by the size seen at stat time,
 * so extents always lie within the node's size. old (may be NULL) is the
 * entry in the parent snapshot: its chunks are the delta bases of the new
 * ones. Returns a negative errno only for repository failures; source
 * problems set flags and are counted.
 */
static int walk_file_content(struct walk *w, int dirfd, const char *name,
			     const struct stat *st0, const struct node *old, struct node *n)
{
	int fd = backup_openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		/* Vanished, or unreadable: either way the entry is left out, so
		 * a restore never creates a file that looks whole but is not. */
		int err = -errno;
		if (err == -ENOENT)
			backup_warn_vanished(path_str(w));
		else
			walk_item_error(w, err, "open");
		return 1;
	}
	struct stat st1;
	if (fstat(fd, &st1) != 0 || !backup_same_inode(&st1, st0)) {
		backup_warn_replaced(path_str(w));
		close(fd);
		return 1;
	}
	uint64_t limit = (uint64_t)st0->st_size, off = 0;
	bool short_read = false;
	int src_err = 0, e = 0;
	chunk_stream_reset(w->cs);
	chunk_stream_set_base(w->cs, old);
	chunk_stream_expect(w->cs, limit);
	while (off < limit && !short_read && src_err == 0 && e == 0) {
		off_t data = lseek(fd, (off_t)off, SEEK_DATA);
		if (data < 0) {
			if (errno != ENXIO)
				src_err = -errno;
			break; /* ENXIO: only a hole remains */
		}
		if ((uint64_t)data >= limit)
			break;
		off_t hole = lseek(fd, data, SEEK_HOLE);
		uint64_t end = hole < 0 || (uint64_t)hole > limit ? limit : (uint64_t)hole;
		e = read_region(w, fd, (uint64_t)data, end, &short_read, &src_err);
		off = end;
	}
	if (e == 0)
		e = chunk_stream_finish(w->cs, n);
	struct stat st2;
	bool changed = short_read || fstat(fd, &st2) != 0 || !backup_same_content_stat(&st2, st0);
	close(fd);
	if (e != 0)
		return e;
	if (src_err != 0) {
		walk_item_error(w, src_err, "read");
		n->flags |= NODE_F_INCOMPLETE;
	} else if (changed) {
		backup_warn_changed(path_str(w));
		n->flags |= NODE_F_CHANGED;
	}
	return 0;
}

static int walk_dir(struct walk *w, int fd, const uint8_t *old_subtree,
		    uint8_t subtree[BLOB_ID_LEN]);

/*
 * Backs up the entry `name` in dirfd into *n. `old` is the same entry in
 * the parent snapshot, or NULL. Returns 0 (n filled), 1 (entry skipped:
 * vanished or unreadable, already reported), WALK_TO_POOL (only when
 * st_out is given: n filled but for the content of a small file, for the
 * caller to give the pool with *st_out) or a negative errno that aborts
 * the backup (repository failure).
 */
#define WALK_TO_POOL 2
static int walk_node(struct walk *w, int dirfd, const char *name, const struct node *old,
		     struct node *n, struct stat *st_out)
{
	struct stat st;
	int e = fsmeta_read_since(dirfd, name, old, n, &st);
	if (e == -ENOENT) {
		backup_warn_vanished(path_str(w));
		return 1;
	}
	if (e == -ENOMEM)
		return e;
	if (e != 0) {
		walk_item_error(w, e, "metadata");
		return 1;
	}
	switch (n->type) {
	case NODE_FILE:
		w->st.files++;
		w->st.bytes += n->size;
		if (file_unchanged(n, old) && extents_known(w, old)) {
			w->pg.bytes_done += n->size;
			return copy_extents(n, old);
		}
		if (st_out != NULL && smallfiles_wants(w->sf, &st)) {
			*st_out = st;
			return WALK_TO_POOL;
		}
		e = walk_file_content(w, dirfd, name, &st, old, n);
		if (e == 1)
			w->st.files--, w->st.bytes -= n->size;
		return e;
	case NODE_DIR: {
		if (repo_is_root(w->r, st.st_dev, st.st_ino)) {
			/* Its files change while we read them and would be
			 * stored again at every backup. */
			log_info("%s is the repository itself: not backed up", path_str(w));
			return 1;
		}
		w->st.dirs++;
		int dfd = backup_openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0) {
			int err = -errno;
			if (err == -ENOENT) {
				backup_warn_vanished(path_str(w));
				return 1;
			}
			walk_item_error(w, err, "open directory");
			return 1;
		}
		e = walk_dir(w, dfd, old && old->type == NODE_DIR ? old->subtree : NULL,
			     n->subtree);
		close(dfd);
		return e;
	}
	default:
		w->st.others++;
		return 0;
	}
}

/* strcmp compares as unsigned bytes: the same order as tree names. */
static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in a directory, sorted (strcmp is bytewise, as trees sort). */
static int read_names(int fd, char ***names_out, size_t *n_out)
{
	int dfd = dup(fd);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (d == NULL) {
		int e = -errno;
		close(dfd);
		return e;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	int e = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof *nn);
			if (nn == NULL) {
				e = -ENOMEM;
				break;
			}
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			e = -ENOMEM;
			break;
		}
		n++;
		errno = 0;
	}
	if (e == 0 && errno != 0)
		e = -errno;
	closedir(d);
	if (e != 0) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return e;
	}
	if (n)
		qsort(names, n, sizeof *names, str_cmp);
	*names_out = names;
	*n_out = n;
	return 0;
}

/* Counts the pool's outcomes and drops the entries it left out. */
static void walk_pool_results(struct walk *w, struct tree *t, struct smallfile_result *res)
{
	size_t kept = 0;
	for (size_t i = 0; i < t->n; i++) {
		struct node *n = &t->nodes[i];
		smallfile_result_report(&res[i]);
		if (res[i].error)
			w->st.errors++;
		if (res[i].skipped) {
			w->st.files--;
			w->st.bytes -= n->size;
			node_fini(n);
			continue;
		}
		if (res[i].pooled) {
			w->pg.bytes_done += n->size;
			w->st.bytes_read += res[i].bytes_read;
		}
		if (kept != i)
			t->nodes[kept] = *n;
		kept++;
	}
	t->n = kept;
}

static int walk_dir(struct walk *w, int fd, const uint8_t *old_subtree,
		    uint8_t subtree[BLOB_ID_LEN])
{
	struct tree old = { 0 }, t = { 0 };
	char **names = NULL;
	size_t n_names = 0;
	struct smallfile_batch batch = { 0 };
	struct smallfile_result *res = NULL;
	const struct node **olds = NULL; /* each name's node in the parent snapshot, or NULL */
	int e;
	if (old_subtree != NULL && repo_tree_load(w->r, old_subtree, &old) != 0)
		tree_init(&old); /* a damaged parent only costs re-reading */
	if ((e = read_names(fd, &names, &n_names)) != 0) {
		if (e == -ENOMEM)
			goto out;
		walk_item_error(w, e, "list directory");
		e = 0; /* stored as an empty directory */
	}
	/* Nodes given to the pool must not move until it is done with them. */
	if (n_names > 0 && w->sf != NULL) {
		t.nodes = calloc(n_names, sizeof *t.nodes);
		res = calloc(n_names, sizeof *res);
		if (t.nodes == NULL || res == NULL) {
			e = -ENOMEM;
			goto out;
		}
		t.cap = n_names;
	}
	if (n_names > 0 && (olds = calloc(n_names, sizeof *olds)) == NULL) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_names; i++)
		olds[i] = tree_find(&old, (const uint8_t *)names[i], strlen(names[i]));
	struct prefetch_dir *pd = prefetch_dir_new(w->pf, fd);
	/* Subdirectories the parent snapshot knows, first one on top. */
	for (size_t i = n_names; i-- > 0;)
		if (olds[i] != NULL && olds[i]->type == NODE_DIR)
			prefetch_push_dir(pd, names[i]);
	for (size_t i = 0; i < n_names && i < WALK_PREFETCH_WINDOW; i++)
		prefetch_push(pd, names[i], olds[i]);
	for (size_t i = 0; i < n_names && e == 0; i++) {
		if (walk_cancelled(w)) {
			e = -ECANCELED;
			break;
		}
		size_t ahead = i + WALK_PREFETCH_WINDOW;
		if (ahead < n_names)
			prefetch_push(pd, names[ahead], olds[ahead]);
		size_t saved = path_push(w, (const uint8_t *)names[i], strlen(names[i]));
		struct node n = { 0 };
		struct stat st;
		const struct node *o = olds[i];
		e = walk_node(w, fd, names[i], o, &n, &st);
		if (e == WALK_TO_POOL) {
			size_t k = t.n;
			e = tree_add(&t, &n); /* within t.cap: the node stays put */
			if (e == 0)
				e = smallfiles_submit(w->sf, &batch, fd, names[i], &st, o,
						      &t.nodes[k], path_str(w), &res[k]);
		} else if (e == 0) {
			e = tree_add(&t, &n);
		} else if (e == 1) {
			e = 0;
		}
		node_fini(&n);
		path_pop(w, saved);
		walk_progress(w, false);
	}
	prefetch_dir_put(pd);
	int pe = smallfiles_wait(w->sf, &batch);
	if (e == 0)
		e = pe;
	if (res != NULL)
		walk_pool_results(w, &t, res);
	if (e == 0) {
		tree_sort(&t); /* readdir order is arbitrary; trees are canonical */
		e = repo_tree_save(w->r, &t, subtree);
	}
out:
	free(olds);
	free(res);
	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	free(names);
	tree_fini(&old);
	tree_fini(&t);
	return e;
}

/* The directories leading to the backed-up paths. */
struct vdir {
	char *name;
	bool target;       /* back up everything below */
	struct vdir *kids;
	size_t n_kids;
};

static void vdir_fini(struct vdir *v)
{
	for (size_t i = 0; i < v->n_kids; i++)
		vdir_fini(&v->kids[i]);
	free(v->kids);
	free(v->name);
}

/* Inserts the components of an absolute, normalised path. */
static int vdir_insert(struct vdir *root, const char *path)
{
	struct vdir *v = root;
	const char *p = path;
	while (*p == '/')
		p++;
	while (*p && !v->target) {
		size_t len = strcspn(p, "/");
		struct vdir *k = NULL;
		for (size_t i = 0; i < v->n_kids; i++)
			if (strlen(v->kids[i].name) == len && memcmp(v->kids[i].name, p, len) == 0)
				k = &v->kids[i];
		if (k == NULL) {
			struct vdir *nk = realloc(v->kids, (v->n_kids + 1) * sizeof *nk);
			if (nk == NULL)
				return -ENOMEM;
			v->kids = nk;
			k = &nk[v->n_kids];
			memset(k, 0, sizeof *k);
			if ((k->name = strndup(p, len)) == NULL)
				return -ENOMEM;
			v->n_kids++;
		}
		v = k;
		p += len;
		while (*p == '/')
			p++;
	}
	if (!v->target) {
		v->target = true;
		for (size_t i = 0; i < v->n_kids; i++)
			vdir_fini(&v->kids[i]);
		free(v->kids);
		v->kids = NULL;
		v->n_kids = 0;
	}
	return 0;
}

/*
 * Builds the tree for the directory open at fd, holding only the entries on
 * the way to the targets below v. Returns like walk_dir.
 */
static int walk_vdir(struct walk *w, int fd, const struct vdir *v, const uint8_t *old_subtree,
		     uint8_t subtree[BLOB_ID_LEN])
{
	if (v->target)
		return walk_dir(w, fd, old_subtree, subtree);
	struct tree old = { 0 }, t = { 0 };
	int e = 0;
	if (old_subtree != NULL && repo_tree_load(w->r, old_subtree, &old) != 0)
		tree_init(&old);
	for (size_t i = 0; i < v->n_kids && e == 0; i++) {
		const struct vdir *k = &v->kids[i];
		size_t len = strlen(k->name);
		size_t saved = path_push(w, (const uint8_t *)k->name, len);
		const struct node *o = tree_find(&old, (const uint8_t *)k->name, len);
		struct node n = { 0 };
		if (k->target) {
			e = walk_node(w, fd, k->name, o, &n, NULL);
		} else {
			struct stat st;
			e = fsmeta_read(fd, k->name, &n, &st);
			if (e == 0 && n.type != NODE_DIR)
				e = -ENOTDIR;
			int kfd = e == 0 ? backup_openat(fd, k->name, O_RDONLY | O_DIRECTORY |
								     O_NOFOLLOW | O_CLOEXEC) : -1;
			if (e == 0 && kfd < 0)
				e = -errno;
			if (e == 0) {
				w->st.dirs++;
				e = walk_vdir(w, kfd, k, o && o->type == NODE_DIR ? o->subtree : NULL,
					      n.subtree);
			} else if (e != -ENOMEM) {
				walk_item_error(w, e, "");
				e = 1;
			}
			if (kfd >= 0)
				close(kfd);
		}
		if (e == 0)
			e = tree_add(&t, &n);
		else if (e == 1)
			e = 0;
		node_fini(&n);
		path_pop(w, saved);
	}
	if (e == 0) {
		tree_sort(&t);
		e = repo_tree_save(w->r, &t, subtree);
	}
	tree_fini(&old);
	tree_fini(&t);
	return e;
}

/*
 * Makes path absolute and normalises it lexically ("." and ".." removed,
 * no repeated or trailing slashes). The last component is not resolved, so
 * a symlink given on the command line is stored as a symlink.
 */
static char *path_absolute(const char *path)
{
	struct buf b = { 0 };
	char cwd[4096];
	if (path[0] != '/') {
		if (getcwd(cwd, sizeof cwd) == NULL)
			return NULL;
		(void)buf_put(&b, cwd, strlen(cwd));
		(void)buf_put_u8(&b, '/');
	}
	if (buf_put(&b, path, strlen(path) + 1) != 0) {
		buf_fini(&b);
		return NULL;
	}
	char *in = (char *)b.data, *out = malloc(b.len + 1);
	if (out == NULL) {
		buf_fini(&b);
		return NULL;
	}
	size_t o = 0;
	for (char *p = in; *p;) {
		while (*p == '/')
			p++;
		size_t len = strcspn(p, "/");
		if (len == 0)
			break;
		if (len == 1 && p[0] == '.') {
			/* skip */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else {
			out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		p += len;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = 0;
	buf_fini(&b);
	return out;
}

static bool same_strings(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/*
 * The newest snapshot of the same paths from this host, if any; *bytes is
 * its logical size, the best guess of this backup's size for the ETA.
 */
static int find_parent(struct repo *r, const struct snapshot *s, uint8_t parent[32],
		       uint8_t tree[BLOB_ID_LEN], bool *found, uint64_t *bytes)
{
	struct snapshot_entry *e;
	size_t n;
	*found = false;
	int rc = repo_snapshot_list(r, &e, &n, NULL);
	if (rc != 0)
		return rc;
	for (size_t i = n; i-- > 0;) {
		const struct snapshot *c = &e[i].snap;
		if (strcmp(c->source, "fs") == 0 && strcmp(c->hostname, s->hostname) == 0 &&
		    same_strings(c->paths, c->n_paths, s->paths, s->n_paths)) {
			memcpy(parent, e[i].id, 32);
			memcpy(tree, c->tree, BLOB_ID_LEN);
			*bytes = c->stats.bytes;
			*found = true;
			break;
		}
	}
	snapshot_entries_free(e, n);
	return 0;
}

int backup_snapshot_prepare(struct snapshot *s, const struct backup_opts *o,
			    const char *source)
{
	char host[256] = "";
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	s->time.sec = ts.tv_sec;
	s->time.nsec = (uint32_t)ts.tv_nsec;
	(void)gethostname(host, sizeof host - 1);
	s->uid = (uint32_t)getuid();
	s->gid = (uint32_t)getgid();
	const char *user = fsmeta_user_name(s->uid);
	s->hostname = strdup(host);
	s->username = strdup(user);
	s->source = strdup(source);
	s->dataset = strdup(o && o->dataset ? o->dataset : "");
	s->program = strdup("coffer " COFFER_VERSION);
	if (!s->hostname || !s->username || !s->source || !s->dataset || !s->program)
		return -ENOMEM;
	if (o != NULL && o->n_tags) {
		s->tags = calloc(o->n_tags, sizeof *s->tags);
		if (s->tags == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < o->n_tags; i++, s->n_tags++)
			if ((s->tags[i] = strdup(o->tags[i])) == NULL)
				return -ENOMEM;
	}
	return 0;
}

int backup_commit(struct repo *r, struct snapshot *s, const struct snapshot_stats *walked,
		  const struct repo_write_stats *before, uint64_t t0,
		  struct backup_result *res)
{
	int e = repo_flush(r);
	if (e != 0) {
		log_errorx("backup failed: %s", coffer_strerror(e));
		return e;
	}
	struct repo_write_stats after;
	repo_write_stats(r, &after);
	s->stats = *walked;
	s->stats.blobs_added = after.blobs_added - before->blobs_added;
	s->stats.bytes_added = after.bytes_added - before->bytes_added;
	s->stats.stored_added = after.stored_added - before->stored_added;
	s->stats.duration_ns = backup_now_ns() - t0;
	if ((e = repo_snapshot_save(r, s, res->snapshot_id)) != 0) {
		log_errorx("cannot save snapshot: %s", coffer_strerror(e));
		return e;
	}
	res->stats = s->stats;
	res->has_parent = s->has_parent;
	memcpy(res->parent, s->parent, sizeof res->parent);
	return 0;
}

int backup_paths(struct repo *r, char *const *paths, size_t n_paths,
		 const struct backup_opts *o, struct backup_result *res)
{
	struct walk w = { .r = r, .o = o };
	struct snapshot s;
	struct vdir root = { 0 };
	struct repo_write_stats before;
	uint8_t old_tree[BLOB_ID_LEN];
	uint64_t t0 = backup_now_ns();
	int rootfd = -1, e;

	snapshot_init(&s);
	repo_write_stats(r, &before);
	if ((e = repo_lock(r, false)) != 0)
		return e;
	w.cs = chunk_stream_new(r);
	w.pf = prefetch_new(WALK_PREFETCH_THREADS);
	w.sf = smallfiles_new(r, (unsigned)repo_thread_count(r));
	s.paths = calloc(n_paths ? n_paths : 1, sizeof *s.paths);
	if (w.cs == NULL || s.paths == NULL) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_paths; i++, s.n_paths++)
		if ((s.paths[i] = path_absolute(paths[i])) == NULL) {
			e = -ENOMEM;
			goto out;
		}
	qsort(s.paths, s.n_paths, sizeof *s.paths, str_cmp);
	for (size_t i = 0; i < s.n_paths; i++)
		if ((e = vdir_insert(&root, s.paths[i])) != 0)
			goto out;
	if ((e = backup_snapshot_prepare(&s, o, "fs")) != 0)
		goto out;
	if ((e = find_parent(r, &s, s.parent, old_tree, &s.has_parent,
			     &w.pg.bytes_total_hint)) != 0)
		goto out;
	/* Every path must exist when the backup starts: a typo is not a backup. */
	for (size_t i = 0; i < s.n_paths; i++) {
		struct stat st;
		if (fstatat(AT_FDCWD, s.paths[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
			e = -errno;
			log_errorx("cannot back up %s: %s", s.paths[i], strerror(errno));
			goto out;
		}
	}
	if ((rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		e = -errno;
		goto out;
	}
	(void)buf_put(&w.path, "/", 2);
	e = walk_vdir(&w, rootfd, &root, s.has_parent ? old_tree : NULL, s.tree);
	if (e == -ECANCELED) {
		log_warnx("backup cancelled: no snapshot was written");
		goto out;
	}
	if (e != 0) {
		log_errorx("backup failed: %s", coffer_strerror(e));
		goto out;
	}
	walk_progress(&w, true);
	e = backup_commit(r, &s, &w.st, &before, t0, res);
out:
	if (rootfd >= 0)
		close(rootfd);
	repo_unlock(r);
	vdir_fini(&root);
	snapshot_fini(&s);
	smallfiles_free(w.sf);
	prefetch_free(w.pf);
	chunk_stream_free(w.cs);
	buf_fini(&w.path);
	return e;
}
