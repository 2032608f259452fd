/*
 * Backup from an archive stream (tar/pax, cpio, zip, optionally compressed)
 * read with libarchive. An archive may list its entries in any order, list
 * a path twice, link to names seen earlier and leave out parent
 * directories, so the whole directory tree is first built in memory:
 * names form a tree, each pointing at an inode that holds the metadata
 * and content extents (hard links share one inode). Content is chunked and
 * saved while the entry is read; trees are saved bottom-up at the end and
 * one snapshot is written.
 *
 * Archive names are untrusted: leading "/" and "./" are stripped, empty
 * and "." components dropped, and an entry with a ".." component is
 * refused, so nothing can land outside the snapshot root. Items that
 * cannot be kept whole are named on stderr and counted in stats.errors;
 * an archive libarchive cannot read to the end is rejected (-EBADMSG)
 * without writing a snapshot.
 *
 * Only tar, cpio and zip with built-in decompressors are enabled: mtree
 * "archives" make libarchive read files named in them from the local
 * filesystem, and some filters run external programs.
 */
#include "backup/backup_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup/acl_xattr.h"
#include "util/escape.h"
#include "util/log.h"

#define AIN_BLOCK_SIZE (64u << 10)
#define AIN_PROGRESS_NS 250000000ull
/* Consecutive entries libarchive fails to read before the archive is given up. */
#define AIN_MAX_FAILED 1000
#define AIN_NOBODY 65534u

struct ain_inode {
	struct node n;       /* metadata and content; n.name unused */
	uint32_t refs;       /* names pointing here */
	uint64_t number;     /* synthetic inode number */
	bool counted;        /* content counted in stats.bytes */
};

struct ain_name {
	uint8_t *name;       /* NULL for the root */
	size_t name_len;
	uint64_t hash;
	uint32_t depth;
	struct ain_name *parent;
	struct ain_name **kids;
	size_t n_kids, cap_kids;
	struct ain_inode *ino;
};

/* One path component, borrowed from the entry's path string. */
struct ain_comp {
	const uint8_t *p;
	size_t n;
};

struct ain {
	struct repo *r;
	struct archive *a;
	const struct backup_opts *o;
	struct chunk_stream *cs;
	struct snapshot_stats st;
	uint64_t last_progress;
	struct ns_time now;
	const char *cur;               /* entry path, for messages */

	struct ain_name *root;
	struct ain_name **all;         /* every name, for saving and freeing */
	size_t n_all, cap_all;
	struct ain_name **tab;         /* (parent, name) hash, open addressing */
	size_t tab_cap;
	uint64_t seed;

	struct ain_comp *comps, *tcomps;
	size_t cap_comps, cap_tcomps;
};

/*
 * Reports a problem with the current entry; counted by the caller. Both
 * parts are escaped: libarchive's messages may quote names too.
 */
static void ain_warn(struct ain *w, const char *what)
{
	char pbuf[1024], wbuf[1024];

	log_warnx("%s: %s", escape_cstr(w->cur, pbuf, sizeof pbuf),
		  escape_cstr(what, wbuf, sizeof wbuf));
}

static void ain_error(struct ain *w, const char *what)
{
	ain_warn(w, what);
	w->st.errors++;
}

static void ain_progress(struct ain *w, bool force)
{
	struct backup_progress p;
	uint64_t now;

	if (w->o == NULL || w->o->progress == NULL)
		return;
	now = backup_now_ns();
	if (!force && now - w->last_progress < AIN_PROGRESS_NS)
		return;
	w->last_progress = now;
	memset(&p, 0, sizeof p);
	p.files = w->st.files;
	p.dirs = w->st.dirs;
	p.bytes_done = w->st.bytes_read;
	p.errors = w->st.errors;
	p.current = w->cur;
	w->o->progress(&p, w->o->progress_arg);
}

/*
 * The archive cannot be read further: reports libarchive's reason. Returns
 * -EBADMSG, or the system's error when reading the input itself failed.
 */
static int ain_fatal(struct ain *w)
{
	const char *msg = archive_error_string(w->a);
	int en = archive_errno(w->a);
	char pbuf[1024], mbuf[1024];

	escape_cstr(msg ? msg : "damaged or truncated", mbuf, sizeof mbuf);
	if (w->cur != NULL)
		log_errorx("archive unreadable at %s: %s",
			   escape_cstr(w->cur, pbuf, sizeof pbuf), mbuf);
	else
		log_errorx("archive unreadable: %s", mbuf);
	/* libarchive reports format problems as EINVAL, EILSEQ or -1. */
	if (en == EIO || en == EBADF || en == EISDIR || en == ENOMEM || en == EFBIG)
		return -en;
	return -EBADMSG;
}

/*
 * Splits path into components: empty and "." components are dropped
 * (this strips leading "/" and "./"). Returns 0, -EPERM for a ".."
 * component, -ENAMETOOLONG for a component longer than a tree allows,
 * -ENOMEM.
 */
static int ain_split(const char *path, struct ain_comp **comps, size_t *cap, size_t *n)
{
	const uint8_t *p = (const uint8_t *)path;
	size_t k = 0;

	while (*p != '\0') {
		const uint8_t *s = p;

		while (*p != '\0' && *p != '/')
			p++;
		size_t len = (size_t)(p - s);
		if (*p == '/')
			p++;
		if (len == 0 || (len == 1 && s[0] == '.'))
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.')
			return -EPERM;
		if (len > TREE_MAX_NAME)
			return -ENAMETOOLONG;
		if (k == *cap) {
			size_t nc = *cap ? *cap * 2 : 16;
			struct ain_comp *c = realloc(*comps, nc * sizeof *c);

			if (c == NULL)
				return -ENOMEM;
			*comps = c;
			*cap = nc;
		}
		(*comps)[k].p = s;
		(*comps)[k].n = len;
		k++;
	}
	*n = k;
	return 0;
}

static uint64_t ain_hash(const struct ain *w, const struct ain_name *parent,
			 const uint8_t *p, size_t n)
{
	uint64_t h = w->seed ^ ((uint64_t)(uintptr_t)parent * 0x9e3779b97f4a7c15ull);

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

static struct ain_name *ain_lookup(const struct ain *w, const struct ain_name *parent,
				   const uint8_t *p, size_t n)
{
	uint64_t h = ain_hash(w, parent, p, n);
	size_t mask = w->tab_cap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct ain_name *x = w->tab[i];

		if (x == NULL)
			return NULL;
		if (x->hash == h && x->parent == parent && x->name_len == n &&
		    memcmp(x->name, p, n) == 0)
			return x;
	}
}

static void ain_tab_put(struct ain_name **tab, size_t cap, struct ain_name *x)
{
	size_t i = x->hash & (cap - 1);

	while (tab[i] != NULL)
		i = (i + 1) & (cap - 1);
	tab[i] = x;
}

/* Makes room for one more name in the table and in the list of all names. */
static int ain_reserve_name(struct ain *w)
{
	if (w->n_all == w->cap_all) {
		size_t nc = w->cap_all ? w->cap_all * 2 : 256;
		struct ain_name **a = realloc(w->all, nc * sizeof *a);

		if (a == NULL)
			return -ENOMEM;
		w->all = a;
		w->cap_all = nc;
	}
	if ((w->n_all + 1) * 2 > w->tab_cap) {
		size_t nc = w->tab_cap ? w->tab_cap * 2 : 512;
		struct ain_name **t = calloc(nc, sizeof *t);

		if (t == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < w->n_all; i++)
			if (w->all[i]->parent != NULL)
				ain_tab_put(t, nc, w->all[i]);
		free(w->tab);
		w->tab = t;
		w->tab_cap = nc;
	}
	return 0;
}

/* Numbered later, by ain_number. */
static struct ain_inode *ain_inode_new(struct ain *w)
{
	(void)w;
	return calloc(1, sizeof(struct ain_inode));
}

static void ain_inode_free(struct ain_inode *ino)
{
	if (ino == NULL)
		return;
	node_fini(&ino->n);
	free(ino);
}

static void ain_inode_unref(struct ain_inode *ino)
{
	if (ino != NULL && --ino->refs == 0)
		ain_inode_free(ino);
}

/* A directory the archive implies but does not list. */
static struct ain_inode *ain_dir_synth(struct ain *w)
{
	struct ain_inode *ino = ain_inode_new(w);

	if (ino == NULL)
		return NULL;
	ino->n.type = NODE_DIR;
	ino->n.mode = 0755;
	ino->n.user = strdup("root");
	ino->n.group = strdup("root");
	ino->n.atime = ino->n.mtime = ino->n.ctime = w->now;
	if (ino->n.user == NULL || ino->n.group == NULL) {
		ain_inode_free(ino);
		return NULL;
	}
	return ino;
}

/* Adds a name under parent, taking a reference on ino. */
static int ain_add_name(struct ain *w, struct ain_name *parent, const struct ain_comp *c,
			struct ain_inode *ino, struct ain_name **out)
{
	struct ain_name *x;
	int r;

	if ((r = ain_reserve_name(w)) != 0)
		return r;
	if (parent->n_kids == parent->cap_kids) {
		size_t nc = parent->cap_kids ? parent->cap_kids * 2 : 8;
		struct ain_name **k = realloc(parent->kids, nc * sizeof *k);

		if (k == NULL)
			return -ENOMEM;
		parent->kids = k;
		parent->cap_kids = nc;
	}
	x = calloc(1, sizeof *x);
	if (x == NULL)
		return -ENOMEM;
	x->name = malloc(c->n);
	if (x->name == NULL) {
		free(x);
		return -ENOMEM;
	}
	memcpy(x->name, c->p, c->n);
	x->name_len = c->n;
	x->parent = parent;
	x->depth = parent->depth + 1;
	x->hash = ain_hash(w, parent, c->p, c->n);
	x->ino = ino;
	ino->refs++;
	parent->kids[parent->n_kids++] = x;
	w->all[w->n_all++] = x;
	ain_tab_put(w->tab, w->tab_cap, x);
	*out = x;
	return 0;
}

static bool ain_is_dir(const struct ain_name *x)
{
	return x->ino->n.type == NODE_DIR;
}

/*
 * Finds the directory that holds the last component, creating missing
 * directories when create is set. *parent is NULL (with 0 returned) when a
 * component is missing (create unset) or is not a directory (*notdir set).
 */
static int ain_walk(struct ain *w, const struct ain_comp *c, size_t n, bool create,
		    struct ain_name **parent, bool *notdir)
{
	struct ain_name *d = w->root;
	int r;

	*parent = NULL;
	*notdir = false;
	for (size_t i = 0; i + 1 < n; i++) {
		struct ain_name *x = ain_lookup(w, d, c[i].p, c[i].n);

		if (x == NULL) {
			if (!create)
				return 0;
			struct ain_inode *ino = ain_dir_synth(w);
			if (ino == NULL)
				return -ENOMEM;
			r = ain_add_name(w, d, &c[i], ino, &x);
			if (r != 0) {
				ain_inode_free(ino);
				return r;
			}
		} else if (!ain_is_dir(x)) {
			*notdir = true;
			return 0;
		}
		d = x;
	}
	*parent = d;
	return 0;
}

static uint8_t ain_node_type(mode_t ft)
{
	switch (ft) {
	case AE_IFREG: return NODE_FILE;
	case AE_IFDIR: return NODE_DIR;
	case AE_IFLNK: return NODE_SYMLINK;
	case AE_IFIFO: return NODE_FIFO;
	case AE_IFCHR: return NODE_CHR;
	case AE_IFBLK: return NODE_BLK;
	case AE_IFSOCK: return NODE_SOCK;
	}
	return 0;
}

static struct ns_time ain_time(bool set, int64_t sec, long nsec, struct ns_time dflt)
{
	struct ns_time t = dflt;

	if (set) {
		t.sec = sec;
		t.nsec = nsec >= 0 && nsec < 1000000000L ? (uint32_t)nsec : 0;
	}
	return t;
}

struct ain_xv {
	char *name;
	uint8_t *value;
	size_t len;
	size_t idx;
};

static int ain_xv_cmp(const void *a, const void *b)
{
	const struct ain_xv *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Adds (a copy of) one xattr to the list; skips what a tree cannot hold. */
static int ain_xv_add(struct ain *w, struct ain_xv **v, size_t *n, size_t *cap,
		      const char *name, const void *value, size_t len, bool *partial)
{
	struct ain_xv *x;

	if (name == NULL || name[0] == '\0' || strlen(name) > TREE_MAX_XATTR_NAME ||
	    len > TREE_MAX_XATTR_VALUE || (len > 0 && value == NULL)) {
		ain_warn(w, "extended attribute too large or unnamed, not kept");
		*partial = true;
		return 0;
	}
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct ain_xv *g = realloc(*v, nc * sizeof *g);

		if (g == NULL)
			return -ENOMEM;
		*v = g;
		*cap = nc;
	}
	x = &(*v)[*n];
	x->name = strdup(name);
	x->value = malloc(len ? len : 1);
	if (x->name == NULL || x->value == NULL) {
		free(x->name);
		free(x->value);
		return -ENOMEM;
	}
	if (len)
		memcpy(x->value, value, len);
	x->len = len;
	x->idx = *n;
	(*n)++;
	return 0;
}

/*
 * Collects the entry's xattrs and its ACLs (as raw system.posix_acl_*
 * values, which replace any xattrs of those names the archive also
 * carries) into n->xattrs, sorted, one value per name (the last one).
 */
static int ain_xattrs(struct ain *w, struct archive_entry *ae, struct node *n,
		      bool *partial)
{
	struct ain_xv *v = NULL;
	size_t nv = 0, cap = 0, out = 0;
	struct buf acl[2] = { { 0 }, { 0 } };
	bool have_acl[2] = { false, false };
	const char *acl_name[2] = { ACL_XATTR_ACCESS, ACL_XATTR_DEFAULT };
	int r = 0;

	for (int k = 0; k < 2; k++) {
		int e = acl_xattr_from_archive(ae, k == 1, &n->mode, &acl[k]);

		if (e == -ENOMEM) {
			r = e;
			goto out;
		}
		if (e != 0) {
			ain_warn(w, e == -ENOTSUP ? "NFSv4 ACL not kept"
						  : "ACL cannot be expressed, not kept");
			*partial = true;
			/* Nor the raw xattr: a half-kept ACL would mislead. */
			have_acl[k] = true;
			continue;
		}
		have_acl[k] = acl[k].len > 0;
	}

	int count = archive_entry_xattr_reset(ae);
	for (int i = 0; i < count; i++) {
		const char *name;
		const void *value;
		size_t len;

		if (archive_entry_xattr_next(ae, &name, &value, &len) != ARCHIVE_OK)
			break;
		if (name != NULL && ((have_acl[0] && strcmp(name, acl_name[0]) == 0) ||
				     (have_acl[1] && strcmp(name, acl_name[1]) == 0)))
			continue;
		if ((r = ain_xv_add(w, &v, &nv, &cap, name, value, len, partial)) != 0)
			goto out;
	}
	for (int k = 0; k < 2; k++)
		if (acl[k].len > 0 &&
		    (r = ain_xv_add(w, &v, &nv, &cap, acl_name[k], acl[k].data,
				    acl[k].len, partial)) != 0)
			goto out;
	if (nv == 0)
		goto out;

	qsort(v, nv, sizeof *v, ain_xv_cmp);
	n->xattrs = calloc(nv, sizeof *n->xattrs);
	if (n->xattrs == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nv; i++) {
		/* Of equal names keep the last: a later header overrides. */
		if (i + 1 < nv && strcmp(v[i].name, v[i + 1].name) == 0)
			continue;
		if (out == TREE_MAX_XATTRS) {
			ain_warn(w, "too many extended attributes, some not kept");
			*partial = true;
			break;
		}
		n->xattrs[out].name = v[i].name;
		n->xattrs[out].value = v[i].value;
		n->xattrs[out].len = v[i].len;
		v[i].name = NULL;
		v[i].value = NULL;
		out++;
	}
	n->n_xattrs = out;
out:
	for (size_t i = 0; i < nv; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
	buf_fini(&acl[0]);
	buf_fini(&acl[1]);
	return r;
}

static char *ain_owner_name(struct ain *w, const char *s, bool *partial)
{
	if (s == NULL)
		s = "";
	if (strlen(s) > TREE_MAX_OWNER_NAME) {
		ain_warn(w, "owner name too long, not kept");
		*partial = true;
		s = "";
	}
	return strdup(s);
}

static uint32_t ain_owner_id(struct ain *w, la_int64_t id, bool *partial)
{
	if (id < 0 || id > (la_int64_t)UINT32_MAX - 1) {
		ain_warn(w, "owner id out of range, stored as 65534");
		*partial = true;
		return AIN_NOBODY;
	}
	return (uint32_t)id;
}

/*
 * Fills n (type already set) with the entry's metadata. Returns 0, 1 when
 * the entry cannot be stored at all (reported and counted), -ENOMEM.
 * *partial is set when something was left out (reported).
 */
static int ain_fill(struct ain *w, struct archive_entry *ae, struct node *n,
		    bool *partial)
{
	struct ns_time mtime, zero = { 0, 0 };

	n->mode = (uint32_t)archive_entry_mode(ae) & 07777;
	n->uid = ain_owner_id(w, archive_entry_uid(ae), partial);
	n->gid = ain_owner_id(w, archive_entry_gid(ae), partial);
	n->user = ain_owner_name(w, archive_entry_uname(ae), partial);
	n->group = ain_owner_name(w, archive_entry_gname(ae), partial);
	if (n->user == NULL || n->group == NULL)
		return -ENOMEM;
	/* ustar and cpio have only mtime: the others default to it. */
	mtime = ain_time(archive_entry_mtime_is_set(ae), archive_entry_mtime(ae),
			 archive_entry_mtime_nsec(ae), zero);
	n->mtime = mtime;
	n->atime = ain_time(archive_entry_atime_is_set(ae), archive_entry_atime(ae),
			    archive_entry_atime_nsec(ae), mtime);
	n->ctime = ain_time(archive_entry_ctime_is_set(ae), archive_entry_ctime(ae),
			    archive_entry_ctime_nsec(ae), mtime);
	if (n->type == NODE_CHR || n->type == NODE_BLK)
		n->rdev = (uint64_t)archive_entry_rdev(ae);
	if (n->type == NODE_SYMLINK) {
		const char *t = archive_entry_symlink(ae);
		size_t len;

		if (t == NULL)
			t = archive_entry_symlink_utf8(ae);
		len = t ? strlen(t) : 0;
		if (len == 0 || len > TREE_MAX_LINK) {
			ain_error(w, len ? "symlink target too long, entry skipped"
					 : "symlink without target, entry skipped");
			return 1;
		}
		n->link = malloc(len);
		if (n->link == NULL)
			return -ENOMEM;
		memcpy(n->link, t, len);
		n->link_len = len;
	}
	return ain_xattrs(w, ae, n, partial);
}

/*
 * Reads the entry's data into the chunk stream and moves the extents into
 * n. Blocks come with offsets: a jump leaves a hole (sparse entries).
 * *end is the end of the last data. Returns 0 (*incomplete set when the
 * data could not all be read, reported), -EBADMSG when the archive is
 * unreadable, or the repository's error.
 */
static int ain_data(struct ain *w, struct node *n, uint64_t *end, bool *incomplete)
{
	uint64_t pos = 0;
	int r;

	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int ar = archive_read_data_block(w->a, &buf, &len, &off);

		if (ar == ARCHIVE_EOF)
			break;
		if (ar == ARCHIVE_FATAL)
			return ain_fatal(w);
		if (ar != ARCHIVE_OK) {
			const char *msg = archive_error_string(w->a);

			ain_warn(w, msg ? msg : "data unreadable");
			*incomplete = true;
			if (ar != ARCHIVE_WARN)
				break; /* FAILED or RETRY: this entry is lost */
		}
		if (len == 0 || buf == NULL)
			continue;
		if (off < 0 || (uint64_t)off < pos ||
		    len > (uint64_t)INT64_MAX - (uint64_t)off) {
			ain_warn(w, "data blocks out of order, rest of the file not kept");
			*incomplete = true;
			break;
		}
		if ((uint64_t)off > pos) {
			if ((r = chunk_stream_seek(w->cs, (uint64_t)off)) != 0)
				return r;
			pos = (uint64_t)off;
		}
		if ((r = chunk_stream_write(w->cs, buf, len)) != 0)
			return r;
		pos += len;
		w->st.bytes_read += len;
		ain_progress(w, false);
	}
	if ((r = chunk_stream_finish(w->cs, n)) != 0)
		return r;
	*end = pos;
	return 0;
}

/* File size: what the header says, grown to cover the data read. */
static int ain_file_content(struct ain *w, struct archive_entry *ae, struct node *n)
{
	bool incomplete = false;
	uint64_t end = 0, size = 0;
	int r;

	r = ain_data(w, n, &end, &incomplete);
	if (r != 0)
		return r;
	if (archive_entry_size_is_set(ae) && archive_entry_size(ae) > 0)
		size = (uint64_t)archive_entry_size(ae);
	/* A gap at the end is a hole only where the archive maps holes. */
	if (!incomplete && end < size && archive_entry_sparse_count(ae) == 0) {
		ain_warn(w, "data shorter than its header says");
		incomplete = true;
	}
	n->size = size > end ? size : end;
	if (incomplete) {
		n->flags |= NODE_F_INCOMPLETE;
		w->st.errors++;
	}
	return 0;
}

/*
 * A hard link entry: the name joins the target's inode. If the entry
 * carries data (cpio puts it on the last name), that becomes the inode's
 * content.
 */
static int ain_hardlink(struct ain *w, struct archive_entry *ae, const char *target,
			const struct ain_comp *c, size_t n)
{
	struct ain_name *tdir, *t, *dir, *x;
	bool notdir;
	size_t tn;
	int r;

	r = ain_split(target, &w->tcomps, &w->cap_tcomps, &tn);
	if (r == -ENOMEM)
		return r;
	if (r != 0) {
		ain_error(w, "hard link target has an unsafe name, entry skipped");
		return 0;
	}
	t = NULL;
	if (tn > 0) {
		if ((r = ain_walk(w, w->tcomps, tn, false, &tdir, &notdir)) != 0)
			return r;
		if (tdir != NULL)
			t = ain_lookup(w, tdir, w->tcomps[tn - 1].p, w->tcomps[tn - 1].n);
	}
	if (t == NULL) {
		char pbuf[1024], msg[1100];

		snprintf(msg, sizeof msg, "hard link target %s is not in the archive, "
			 "entry skipped", escape_cstr(target, pbuf, sizeof pbuf));
		ain_error(w, msg);
		return 0;
	}
	if (ain_is_dir(t)) {
		ain_error(w, "hard link to a directory, entry skipped");
		return 0;
	}
	if ((r = ain_walk(w, c, n, true, &dir, &notdir)) != 0)
		return r;
	if (dir == NULL) {
		ain_error(w, "a parent is not a directory, entry skipped");
		return 0;
	}
	x = ain_lookup(w, dir, c[n - 1].p, c[n - 1].n);
	if (x != NULL && x->ino != t->ino) {
		if (ain_is_dir(x) && x->n_kids > 0) {
			ain_error(w, "would replace a non-empty directory, entry skipped");
			return 0;
		}
		ain_inode_unref(x->ino);
		x->ino = t->ino;
		t->ino->refs++;
	} else if (x == NULL) {
		if ((r = ain_add_name(w, dir, &c[n - 1], t->ino, &x)) != 0)
			return r;
	}

	/* Data on a link entry replaces the shared content. */
	struct node tmp;
	uint64_t end = 0;
	bool incomplete = false;
	memset(&tmp, 0, sizeof tmp);
	r = ain_data(w, &tmp, &end, &incomplete);
	if (r == 0 && (end > 0 || incomplete) && t->ino->n.type == NODE_FILE) {
		struct node *tnode = &t->ino->n;
		uint64_t size = 0;

		if (archive_entry_size_is_set(ae) && archive_entry_size(ae) > 0)
			size = (uint64_t)archive_entry_size(ae);
		free(tnode->extents);
		tnode->extents = tmp.extents;
		tnode->n_extents = tmp.n_extents;
		tmp.extents = NULL;
		tmp.n_extents = 0;
		tnode->size = size > end ? size : end;
		if (incomplete) {
			tnode->flags |= NODE_F_INCOMPLETE;
			w->st.errors++;
		}
	}
	node_fini(&tmp);
	return r;
}

/* Processes one archive entry. Returns 0 or an error that ends the backup. */
static int ain_entry(struct ain *w, struct archive_entry *ae)
{
	struct ain_inode *ino = NULL;
	struct ain_name *dir, *x;
	const char *path, *hl;
	bool notdir, partial = false;
	size_t n;
	uint8_t type;
	int r;

	path = archive_entry_pathname(ae);
	if (path == NULL)
		path = archive_entry_pathname_utf8(ae);
	w->cur = path;
	if (path == NULL) {
		ain_error(w, "entry without a usable name, skipped");
		return 0;
	}
	r = ain_split(path, &w->comps, &w->cap_comps, &n);
	if (r == -ENOMEM)
		return r;
	if (r == -EPERM) {
		ain_error(w, "name contains \"..\", entry refused");
		return 0;
	}
	if (r != 0) {
		ain_error(w, "name component longer than 255 bytes, entry skipped");
		return 0;
	}
	type = ain_node_type(archive_entry_filetype(ae));
	/* cpio marks every name of a multiply linked inode, directories too. */
	hl = type == NODE_DIR ? NULL : archive_entry_hardlink(ae);
	if (n == 0) {
		/* "./" or "/": the snapshot root, which has no metadata. */
		if (type != NODE_DIR)
			ain_error(w, "the archive root is not a directory, entry skipped");
		return 0;
	}
	if (hl != NULL)
		return ain_hardlink(w, ae, hl, w->comps, n);
	if (type == 0) {
		ain_error(w, "unknown file type, entry skipped");
		return 0;
	}

	ino = ain_inode_new(w);
	if (ino == NULL)
		return -ENOMEM;
	ino->n.type = type;
	r = ain_fill(w, ae, &ino->n, &partial);
	if (r != 0) {
		if (r > 0)
			r = 0;
		goto out;
	}

	if ((r = ain_walk(w, w->comps, n, true, &dir, &notdir)) != 0)
		goto out;
	if (dir == NULL) {
		ain_error(w, "a parent is not a directory, entry skipped");
		goto out;
	}
	x = ain_lookup(w, dir, w->comps[n - 1].p, w->comps[n - 1].n);
	if (x != NULL && ain_is_dir(x) && x->n_kids > 0 && type != NODE_DIR) {
		ain_error(w, "would replace a non-empty directory, entry skipped");
		goto out;
	}
	if (type == NODE_FILE && (r = ain_file_content(w, ae, &ino->n)) != 0)
		goto out;
	if (partial)
		w->st.errors++;

	if (x == NULL) {
		r = ain_add_name(w, dir, &w->comps[n - 1], ino, &x);
		if (r != 0)
			goto out;
	} else if (ain_is_dir(x) && type == NODE_DIR) {
		/* Listed again, or after its contents: new metadata, same children. */
		node_fini(&x->ino->n);
		x->ino->n = ino->n;
		memset(&ino->n, 0, sizeof ino->n);
		goto out;
	} else {
		ain_inode_unref(x->ino);
		x->ino = ino;
		ino->refs++;
	}
	ino = NULL;
out:
	if (ino != NULL && ino->refs == 0)
		ain_inode_free(ino);
	return r;
}

static int ain_name_cmp(const void *a, const void *b)
{
	const struct ain_name *x = *(struct ain_name *const *)a;
	const struct ain_name *y = *(struct ain_name *const *)b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->name, y->name, n);

	if (c != 0)
		return c;
	return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

struct ain_visit {
	struct ain_name *d;
	size_t next;
};

/*
 * Numbers inodes in the depth-first order of sorted names, the order of a
 * listing, so that the same tree gets the same inode numbers whatever
 * order the archive gave its entries in, and its trees deduplicate.
 * Sorts every directory's names on the way.
 */
static int ain_number(struct ain *w)
{
	struct ain_visit *st;
	size_t n = 1, cap = 64;
	uint64_t next = 0;

	st = malloc(cap * sizeof *st);
	if (st == NULL)
		return -ENOMEM;
	if (w->root->n_kids > 1)
		qsort(w->root->kids, w->root->n_kids, sizeof *w->root->kids, ain_name_cmp);
	st[0] = (struct ain_visit){ w->root, 0 };
	while (n > 0) {
		struct ain_visit *v = &st[n - 1];
		struct ain_name *k;

		if (v->next == v->d->n_kids) {
			n--;
			continue;
		}
		k = v->d->kids[v->next++];
		if (k->ino->number == 0)
			k->ino->number = ++next;
		if (!ain_is_dir(k))
			continue;
		if (k->n_kids > 1)
			qsort(k->kids, k->n_kids, sizeof *k->kids, ain_name_cmp);
		if (n == cap) {
			struct ain_visit *g = realloc(st, 2 * cap * sizeof *st);

			if (g == NULL) {
				free(st);
				return -ENOMEM;
			}
			st = g;
			cap *= 2;
		}
		st[n++] = (struct ain_visit){ k, 0 };
	}
	free(st);
	return 0;
}

static int ain_depth_cmp(const void *a, const void *b)
{
	const struct ain_name *x = *(struct ain_name *const *)a;
	const struct ain_name *y = *(struct ain_name *const *)b;

	return (x->depth < y->depth) - (x->depth > y->depth);
}

/* Deep copy of a node for a second name of a hard-linked inode. */
static int ain_node_copy(struct node *dst, const struct node *src)
{
	*dst = *src;
	dst->name = NULL;
	dst->user = dst->group = NULL;
	dst->link = NULL;
	dst->xattrs = NULL;
	dst->extents = NULL;
	dst->n_xattrs = 0;
	dst->n_extents = 0;
	dst->link_len = 0;
	if ((dst->user = strdup(src->user ? src->user : "")) == NULL ||
	    (dst->group = strdup(src->group ? src->group : "")) == NULL)
		goto fail;
	if (src->n_extents) {
		dst->extents = malloc(src->n_extents * sizeof *dst->extents);
		if (dst->extents == NULL)
			goto fail;
		memcpy(dst->extents, src->extents, src->n_extents * sizeof *dst->extents);
		dst->n_extents = src->n_extents;
	}
	if (node_copy_link_xattrs(dst, src) < 0)
		goto fail;
	return 0;
fail:
	node_fini(dst);
	return -ENOMEM;
}

/*
 * Saves one directory's tree from its names. Every deeper directory was
 * saved before, so subtree IDs are known; inodes used by one name only
 * are moved into the tree, shared ones copied.
 */
static int ain_save_dir(struct ain *w, struct ain_name *d, uint8_t id[BLOB_ID_LEN])
{
	struct tree t;
	int r = 0;

	tree_init(&t);
	for (size_t i = 0; i < d->n_kids; i++) {
		struct ain_name *k = d->kids[i];
		struct ain_inode *ino = k->ino;
		struct node nd;
		uint32_t subdirs = 0;

		switch (ino->n.type) {
		case NODE_FILE:
			w->st.files++;
			if (!ino->counted)
				w->st.bytes += ino->n.size;
			ino->counted = true;
			break;
		case NODE_DIR:
			w->st.dirs++;
			for (size_t j = 0; j < k->n_kids; j++)
				subdirs += ain_is_dir(k->kids[j]);
			break;
		default:
			w->st.others++;
			break;
		}
		if (ino->refs == 1) {
			nd = ino->n;
			memset(&ino->n, 0, sizeof ino->n);
		} else if ((r = ain_node_copy(&nd, &ino->n)) != 0) {
			goto out;
		}
		nd.name = k->name;
		nd.name_len = k->name_len;
		k->name = NULL;
		nd.inode = ino->number;
		nd.dev = 0;
		nd.nlink = nd.type == NODE_DIR ? 2 + subdirs : ino->refs;
		if ((r = tree_add(&t, &nd)) != 0) {
			node_fini(&nd);
			goto out;
		}
	}
	tree_sort(&t);
	r = repo_tree_save(w->r, &t, id);
out:
	tree_fini(&t);
	return r;
}

/* Saves all trees, deepest directories first; *root_id is the root's. */
static int ain_save(struct ain *w, uint8_t root_id[BLOB_ID_LEN])
{
	struct ain_name **dirs;
	size_t nd = 0;
	int r;

	if ((r = ain_number(w)) != 0)
		return r;
	dirs = malloc((w->n_all + 1) * sizeof *dirs);
	if (dirs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < w->n_all; i++)
		if (ain_is_dir(w->all[i]))
			dirs[nd++] = w->all[i];
	qsort(dirs, nd, sizeof *dirs, ain_depth_cmp);
	for (size_t i = 0; i < nd; i++) {
		struct ain_name *d = dirs[i];

		if ((r = ain_save_dir(w, d, d->ino->n.subtree)) != 0)
			goto out;
		ain_progress(w, false);
	}
	r = ain_save_dir(w, w->root, root_id);
out:
	free(dirs);
	return r;
}

static void ain_free(struct ain *w)
{
	for (size_t i = 0; i < w->n_all; i++) {
		struct ain_name *x = w->all[i];

		ain_inode_unref(x->ino);
		free(x->name);
		free(x->kids);
		free(x);
	}
	if (w->root != NULL) {
		ain_inode_unref(w->root->ino);
		free(w->root->kids);
		free(w->root);
	}
	free(w->all);
	free(w->tab);
	free(w->comps);
	free(w->tcomps);
	chunk_stream_free(w->cs);
}

/*
 * Registers the readers: tar (ustar, pax, GNU), cpio, zip and the empty
 * input (an empty archive, as tar takes it), and each decompressor this
 * libarchive has built in. A filter it can only run as
 * an external program is left out (probing on a scratch object, since a
 * registration cannot be undone).
 */
static int ain_open(struct ain *w, int fd)
{
	static int (*const filters[])(struct archive *) = {
		archive_read_support_filter_gzip,
		archive_read_support_filter_bzip2,
		archive_read_support_filter_compress,
		archive_read_support_filter_xz,
		archive_read_support_filter_lzma,
		archive_read_support_filter_lzip,
		archive_read_support_filter_zstd,
		archive_read_support_filter_lz4,
	};

	w->a = archive_read_new();
	if (w->a == NULL)
		return -ENOMEM;
	if (archive_read_support_format_tar(w->a) != ARCHIVE_OK ||
	    archive_read_support_format_cpio(w->a) != ARCHIVE_OK ||
	    archive_read_support_format_zip(w->a) != ARCHIVE_OK ||
	    archive_read_support_format_empty(w->a) != ARCHIVE_OK)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
		struct archive *probe = archive_read_new();
		int ok;

		if (probe == NULL)
			return -ENOMEM;
		ok = filters[i](probe) == ARCHIVE_OK;
		archive_read_free(probe);
		if (ok && filters[i](w->a) != ARCHIVE_OK)
			return -ENOMEM;
	}
	if (archive_read_open_fd(w->a, fd, AIN_BLOCK_SIZE) != ARCHIVE_OK)
		return ain_fatal(w);
	return 0;
}

/* Reads every entry; -EBADMSG if the archive cannot be read to its end. */
static int ain_read_all(struct ain *w)
{
	unsigned failed = 0;
	int r;

	for (;;) {
		struct archive_entry *ae;
		int ar = archive_read_next_header(w->a, &ae);

		w->cur = NULL;
		if (ar == ARCHIVE_EOF && archive_format(w->a) == ARCHIVE_FORMAT_EMPTY) {
			/* Zero bytes is no archive: most likely the program
			 * feeding the pipe failed. An empty snapshot would then
			 * pass for the latest backup. */
			log_errorx("the archive input is empty (zero bytes); nothing "
				   "was backed up");
			return -ENODATA;
		}
		if (ar == ARCHIVE_EOF)
			return 0;
		/* RETRY means a damaged header: the archive is not whole. */
		if (ar == ARCHIVE_FATAL || ar == ARCHIVE_RETRY)
			return ain_fatal(w);
		if (ar == ARCHIVE_FAILED) {
			const char *msg = archive_error_string(w->a);

			w->cur = ae != NULL ? archive_entry_pathname(ae) : NULL;
			ain_error(w, msg ? msg : "entry unreadable, skipped");
			if (++failed >= AIN_MAX_FAILED)
				return ain_fatal(w);
			continue;
		}
		failed = 0;
		if (ar == ARCHIVE_WARN) {
			const char *msg = archive_error_string(w->a);

			w->cur = archive_entry_pathname(ae);
			if (msg != NULL)
				ain_warn(w, msg);
		}
		if ((r = ain_entry(w, ae)) != 0)
			return r;
		ain_progress(w, false);
	}
}

/*
 * Archive names and owners are taken as bytes in a UTF-8 locale for this
 * thread, so what is stored does not depend on the operator's locale.
 */
static locale_t ain_locale_enter(locale_t *old)
{
	locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);

	if (l != (locale_t)0)
		*old = uselocale(l);
	return l;
}

static void ain_locale_leave(locale_t l, locale_t old)
{
	if (l == (locale_t)0)
		return;
	uselocale(old);
	freelocale(l);
}

int backup_archive(struct repo *r, int fd, const char *name,
		   const struct backup_opts *o, struct backup_result *res)
{
	struct ain w;
	struct snapshot s;
	struct repo_write_stats before;
	uint64_t t0 = backup_now_ns();
	locale_t loc = (locale_t)0, old_loc = (locale_t)0;
	int e;

	memset(&w, 0, sizeof w);
	snapshot_init(&s);
	repo_write_stats(r, &before);
	if ((e = repo_lock(r, false)) != 0)
		return e;
	loc = ain_locale_enter(&old_loc);
	w.r = r;
	w.o = o;
	w.seed = t0 ^ (uint64_t)(uintptr_t)&w;
	w.cs = chunk_stream_new(r);
	w.root = calloc(1, sizeof *w.root);
	s.paths = calloc(1, sizeof *s.paths);
	if (w.cs == NULL || w.root == NULL || s.paths == NULL) {
		e = -ENOMEM;
		goto out;
	}
	if ((s.paths[0] = strdup(name != NULL ? name : "-")) == NULL) {
		e = -ENOMEM;
		goto out;
	}
	s.n_paths = 1;
	if ((e = backup_snapshot_prepare(&s, o, "archive")) != 0)
		goto out;
	w.now = s.time;
	if ((w.root->ino = ain_dir_synth(&w)) == NULL) {
		e = -ENOMEM;
		goto out;
	}
	w.root->ino->refs = 1;
	if ((e = ain_reserve_name(&w)) != 0)
		goto out;

	if ((e = ain_open(&w, fd)) != 0 || (e = ain_read_all(&w)) != 0)
		goto out;
	w.cur = NULL;
	if ((e = ain_save(&w, s.tree)) != 0) {
		log_errorx("backup failed: %s", coffer_strerror(e));
		goto out;
	}
	ain_progress(&w, true);
	e = backup_commit(r, &s, &w.st, &before, t0, res);
out:
	if (w.a != NULL)
		archive_read_free(w.a);
	ain_free(&w);
	snapshot_fini(&s);
	ain_locale_leave(loc, old_loc);
	repo_unlock(r);
	return e;
}
