/*
 * Restore into an archive stream: walks a snapshot's trees depth-first and
 * writes one libarchive entry per node, directories before their contents,
 * with paths relative to the snapshot root ("srv/a/f").
 *
 * What survives depends on the format (docs/archive.md): pax keeps
 * everything a tree holds except sockets (xattrs, ACLs, sparse maps, hard
 * links, nanosecond times); cpio newc keeps hard links through shared
 * inode numbers but only second-resolution mtimes and no xattrs; zip keeps
 * files, directories and symlinks only, hard-linked names each with a full
 * copy of the content.
 *
 * An archive entry cannot be taken back once its header is written. So a
 * file of moderate size has all its blobs loaded and verified before its
 * header goes out, and a file that cannot be read is left out whole; a
 * larger file is streamed and a blob that fails to load is replaced by
 * zeros. Either way the path is named on stderr and counted.
 *
 * The walk keeps an explicit stack, so trees of any depth are restored
 * without deep recursion.
 */
#include "restore/restore.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backup/acl_xattr.h"
#include "util/escape.h"
#include "util/log.h"

/* Files storing less than this are verified whole before their header. */
#define AOUT_VERIFY_LIMIT (64ull << 20)
#define AOUT_PROGRESS_NS 250000000ull
#define AOUT_ZERO_LEN (64u << 10)

static const uint8_t aout_zeros[AOUT_ZERO_LEN];

/* Whether a path lies under an include, leads to one, or neither. */
enum aout_incl { INCL_NONE, INCL_LEADS, INCL_FULL };

struct aout_frame {
	struct tree t;
	size_t next;         /* index of the next node to write */
	size_t plen;         /* length of this directory's path */
	enum aout_incl inc;
};

/* First name written for one (dev, inode) of a multiply linked node. */
struct aout_link {
	uint64_t dev, ino;
	uint64_t cpio_ino;   /* inode number written to cpio */
	char *path;          /* NULL: slot empty */
};

struct aout {
	struct repo *r;
	struct archive *a;
	enum archive_fmt fmt;
	const struct restore_opts *o;
	struct restore_result res;

	char **incl;         /* includes without leading or trailing '/' */
	size_t *incl_len;
	bool *incl_found;    /* the include's own path was met */
	size_t n_incl;

	struct buf path;     /* current path, NUL-terminated (not in len) */
	struct buf data;     /* a small file's content, verified */
	struct buf blob;     /* one loaded blob */

	struct aout_link *links;
	size_t links_cap, links_n;
	uint64_t next_ino;   /* synthetic inode numbers for cpio */

	uint64_t bytes_total;
	uint64_t last_progress_ns;

	locale_t loc_utf8, loc_c; /* (locale_t)0 when unavailable */
};

static uint64_t aout_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* libarchive's message, never NULL. */
static const char *aout_errstr(struct archive *a)
{
	const char *s = archive_error_string(a);

	return s != NULL ? s : "unknown error";
}

/*
 * Reports a failed item on stderr and counts it. The message is escaped
 * as well: libarchive's may quote the name.
 */
static void aout_fail(struct aout *w, const char *what, int err)
{
	char pbuf[1024], wbuf[1024];

	escape_cstr(what != NULL ? what : "failed", wbuf, sizeof wbuf);
	if (err != 0)
		log_warnx("%s: %s: %s", escape_cstr((const char *)w->path.data,
			  pbuf, sizeof pbuf), wbuf, coffer_strerror(err));
	else
		log_warnx("%s: %s", escape_cstr((const char *)w->path.data, pbuf,
			  sizeof pbuf), wbuf);
	w->res.errors++;
}

static void aout_progress(struct aout *w, bool force)
{
	struct restore_progress p;
	uint64_t now;

	if (w->o == NULL || w->o->progress == NULL)
		return;
	now = aout_now_ns();
	if (!force && now - w->last_progress_ns < AOUT_PROGRESS_NS)
		return;
	w->last_progress_ns = now;
	p.files = w->res.files;
	p.dirs = w->res.dirs;
	p.bytes_done = w->res.bytes;
	p.bytes_total = w->bytes_total;
	p.errors = w->res.errors;
	p.current = w->path.len ? (const char *)w->path.data : NULL;
	w->o->progress(&p, w->o->progress_arg);
}

int archive_fmt_parse(const char *s, enum archive_fmt *out)
{
	if (s == NULL)
		return -EINVAL;
	if (strcmp(s, "pax") == 0)
		*out = ARCHIVE_PAX;
	else if (strcmp(s, "cpio") == 0)
		*out = ARCHIVE_CPIO;
	else if (strcmp(s, "zip") == 0)
		*out = ARCHIVE_ZIP;
	else
		return -EINVAL;
	return 0;
}

/* Includes are compared without their leading and trailing slashes. */
static int aout_includes_init(struct aout *w)
{
	const struct restore_opts *o = w->o;

	if (o == NULL || o->n_includes == 0)
		return 0;
	w->incl = calloc(o->n_includes, sizeof *w->incl);
	w->incl_len = calloc(o->n_includes, sizeof *w->incl_len);
	w->incl_found = calloc(o->n_includes, sizeof *w->incl_found);
	if (w->incl == NULL || w->incl_len == NULL || w->incl_found == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < o->n_includes; i++) {
		const char *s = o->includes[i];
		size_t n = 0;
		char *c;

		if (s == NULL)
			return -EINVAL;
		c = malloc(strlen(s) + 1);
		if (c == NULL)
			return -ENOMEM;
		/* Drop empty components: "/srv//a/" is "srv/a". */
		for (const char *p = s; *p != '\0'; p++) {
			if (*p == '/' && (n == 0 || c[n - 1] == '/'))
				continue;
			c[n++] = *p;
		}
		while (n > 0 && c[n - 1] == '/')
			n--;
		c[n] = '\0';
		w->incl[i] = c;
		w->incl_len[i] = n;
		w->incl_found[i] = n == 0; /* "/": the root is always there */
		w->n_incl++;
	}
	return 0;
}

/*
 * Classifies the current path given its parent directory's class, and
 * notes the includes it is exactly.
 */
static enum aout_incl aout_classify(struct aout *w, enum aout_incl parent)
{
	const char *p = (const char *)w->path.data;
	size_t n = w->path.len;
	enum aout_incl best = parent == INCL_FULL ? INCL_FULL : INCL_NONE;

	if (w->n_incl == 0)
		return INCL_FULL;
	for (size_t i = 0; i < w->n_incl; i++) {
		const char *in = w->incl[i];
		size_t il = w->incl_len[i];

		if (il == 0) {
			best = INCL_FULL; /* "/" */
			continue;
		}
		if (n >= il && memcmp(p, in, il) == 0 && (n == il || p[il] == '/')) {
			best = INCL_FULL;
			if (n == il)
				w->incl_found[i] = true;
		} else if (best == INCL_NONE && il > n && memcmp(p, in, n) == 0 &&
			   in[n] == '/') {
			best = INCL_LEADS;
		}
	}
	return best;
}

static uint64_t aout_link_hash(uint64_t dev, uint64_t ino)
{
	uint64_t h = dev * 0x9e3779b97f4a7c15ull ^ ino;

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	return h;
}

static struct aout_link *aout_link_find(struct aout *w, uint64_t dev, uint64_t ino)
{
	if (w->links_cap == 0)
		return NULL;
	size_t mask = w->links_cap - 1;
	for (size_t i = aout_link_hash(dev, ino) & mask;; i = (i + 1) & mask) {
		struct aout_link *l = &w->links[i];

		if (l->path == NULL)
			return NULL;
		if (l->dev == dev && l->ino == ino)
			return l;
	}
}

static int aout_link_grow(struct aout *w)
{
	size_t cap = w->links_cap ? w->links_cap * 2 : 64;
	struct aout_link *n = calloc(cap, sizeof *n);

	if (n == NULL)
		return -ENOMEM;
	for (size_t j = 0; j < w->links_cap; j++) {
		struct aout_link *o = &w->links[j];

		if (o->path == NULL)
			continue;
		size_t i = aout_link_hash(o->dev, o->ino) & (cap - 1);
		while (n[i].path != NULL)
			i = (i + 1) & (cap - 1);
		n[i] = *o;
	}
	free(w->links);
	w->links = n;
	w->links_cap = cap;
	return 0;
}

/* Records the current path as the first name of (dev, ino). */
static int aout_link_add(struct aout *w, uint64_t dev, uint64_t ino, uint64_t cpio_ino)
{
	int r;

	if ((w->links_n + 1) * 2 > w->links_cap) {
		r = aout_link_grow(w);
		if (r != 0)
			return r;
	}
	char *p = strdup((const char *)w->path.data);
	if (p == NULL)
		return -ENOMEM;
	size_t mask = w->links_cap - 1;
	size_t i = aout_link_hash(dev, ino) & mask;
	while (w->links[i].path != NULL)
		i = (i + 1) & mask;
	w->links[i] = (struct aout_link){ dev, ino, cpio_ino, p };
	w->links_n++;
	return 0;
}

static void aout_links_free(struct aout *w)
{
	for (size_t i = 0; i < w->links_cap; i++)
		free(w->links[i].path);
	free(w->links);
	w->links = NULL;
	w->links_cap = w->links_n = 0;
}

/* Sets path to parent (plen bytes) + "/" + name, NUL-terminated. */
static int aout_path_set(struct aout *w, size_t plen, const struct node *n)
{
	int r;

	w->path.len = plen;
	if (plen > 0 && (r = buf_put_u8(&w->path, '/')) != 0)
		return r;
	if ((r = buf_put(&w->path, n->name, n->name_len)) != 0 ||
	    (r = buf_put_u8(&w->path, 0)) != 0)
		return r;
	w->path.len--;
	return 0;
}

static mode_t aout_filetype(uint8_t type)
{
	switch (type) {
	case NODE_FILE: return AE_IFREG;
	case NODE_DIR: return AE_IFDIR;
	case NODE_SYMLINK: return AE_IFLNK;
	case NODE_FIFO: return AE_IFIFO;
	case NODE_CHR: return AE_IFCHR;
	case NODE_BLK: return AE_IFBLK;
	case NODE_SOCK: return AE_IFSOCK;
	}
	return 0;
}

static bool aout_is_acl(const char *name)
{
	return strcmp(name, ACL_XATTR_ACCESS) == 0 ||
	       strcmp(name, ACL_XATTR_DEFAULT) == 0;
}

/*
 * Fills ae with n's metadata for the current path. Returns 0 or -ENOMEM;
 * an ACL that cannot be converted is reported and counted here, and the
 * entry goes out without it.
 */
static int aout_fill(struct aout *w, const struct node *n, struct archive_entry *ae)
{
	char *link = NULL;
	int r = 0;

	archive_entry_copy_pathname(ae, (const char *)w->path.data);
	archive_entry_set_filetype(ae, aout_filetype(n->type));
	archive_entry_set_perm(ae, n->mode & 07777);
	archive_entry_set_uid(ae, n->uid);
	archive_entry_set_gid(ae, n->gid);
	if (n->user != NULL && n->user[0] != '\0')
		archive_entry_copy_uname(ae, n->user);
	if (n->group != NULL && n->group[0] != '\0')
		archive_entry_copy_gname(ae, n->group);
	archive_entry_set_atime(ae, (time_t)n->atime.sec, (long)n->atime.nsec);
	archive_entry_set_mtime(ae, (time_t)n->mtime.sec, (long)n->mtime.nsec);
	archive_entry_set_ctime(ae, (time_t)n->ctime.sec, (long)n->ctime.nsec);
	archive_entry_set_nlink(ae, n->type == NODE_DIR ? 2 : 1);
	if (n->type == NODE_CHR || n->type == NODE_BLK)
		archive_entry_set_rdev(ae, (dev_t)n->rdev);
	if (n->type == NODE_SYMLINK) {
		link = malloc(n->link_len + 1);
		if (link == NULL)
			return -ENOMEM;
		memcpy(link, n->link, n->link_len);
		link[n->link_len] = '\0';
		archive_entry_copy_symlink(ae, link);
	}
	archive_entry_set_size(ae, 0);

	/* Only pax carries xattrs and ACLs; the other writers ignore them. */
	if (w->fmt != ARCHIVE_PAX)
		goto out;
	for (size_t i = 0; i < n->n_xattrs; i++) {
		const struct xattr *x = &n->xattrs[i];

		if (aout_is_acl(x->name))
			continue;
		archive_entry_xattr_add_entry(ae, x->name, x->value, x->len);
	}
	/* After the mode: the ACL's base entries rewrite its permission bits. */
	for (size_t i = 0; i < n->n_xattrs; i++) {
		const struct xattr *x = &n->xattrs[i];
		int e;

		if (!aout_is_acl(x->name))
			continue;
		e = acl_xattr_to_archive(x->value, x->len,
					 strcmp(x->name, ACL_XATTR_DEFAULT) == 0, ae);
		if (e == -ENOMEM) {
			r = e;
			goto out;
		}
		if (e != 0)
			aout_fail(w, x->name, e);
	}
out:
	free(link);
	return r;
}

/* Writes len bytes of entry data; -EIO if the writer fails. */
static int aout_write(struct aout *w, const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len > 0) {
		la_ssize_t n = archive_write_data(w->a, b, len);

		if (n < 0) {
			log_errorx("writing archive: %s", aout_errstr(w->a));
			return -EIO;
		}
		if (n == 0)
			break; /* the writer takes no more for this entry */
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static int aout_write_zeros(struct aout *w, uint64_t len)
{
	int r;

	while (len > 0) {
		size_t k = len < AOUT_ZERO_LEN ? (size_t)len : AOUT_ZERO_LEN;

		if ((r = aout_write(w, aout_zeros, k)) != 0)
			return r;
		len -= k;
	}
	return 0;
}

/* Loads one extent's blob into w->blob; -EBADMSG on a length mismatch. */
static int aout_load_extent(struct aout *w, const struct extent *e)
{
	int r = repo_blob_load(w->r, e->id, BLOB_DATA, &w->blob);

	if (r == 0 && w->blob.len != e->len)
		r = -EBADMSG;
	return r;
}

/*
 * Validates the extent list against the size (trees are decoded strictly,
 * but a bad list would make us write garbage) and totals stored bytes.
 */
static bool aout_extents_ok(const struct node *n, uint64_t *stored)
{
	uint64_t end = 0, sum = 0;

	for (size_t i = 0; i < n->n_extents; i++) {
		const struct extent *e = &n->extents[i];

		if (e->offset < end || e->len > n->size || e->offset > n->size - e->len)
			return false;
		end = e->offset + e->len;
		sum += e->len;
	}
	*stored = sum;
	return n->size <= INT64_MAX;
}

/*
 * Names the data regions of a file with holes in ae's sparse map. GNU tar
 * reads each region's data as whole 512-byte blocks while libarchive packs
 * regions back to back; widened to block boundaries (the bytes added are
 * zeros from the holes, written as such) the map reads the same in both.
 * Holes from a filesystem are block-aligned already and stay as they are.
 */
static void aout_sparse_map(const struct node *n, struct archive_entry *ae)
{
	uint64_t rs = 0, re = 0;
	bool open = false;

	for (size_t i = 0; i < n->n_extents; i++) {
		const struct extent *e = &n->extents[i];
		uint64_t s = e->offset & ~(uint64_t)511;
		uint64_t end = (e->offset + e->len + 511) & ~(uint64_t)511;

		if (end > n->size)
			end = n->size;
		if (open && s <= re) {
			if (end > re)
				re = end;
			continue;
		}
		if (open)
			archive_entry_sparse_add_entry(ae, (la_int64_t)rs,
						       (la_int64_t)(re - rs));
		rs = s;
		re = end;
		open = true;
	}
	if (open)
		archive_entry_sparse_add_entry(ae, (la_int64_t)rs, (la_int64_t)(re - rs));
	else
		/* All hole: an empty region at the end stands for the file. */
		archive_entry_sparse_add_entry(ae, (la_int64_t)n->size, 0);
}

/* Loads and verifies all of a small file's content into w->data. */
static int aout_preload(struct aout *w, const struct node *n)
{
	int r;

	buf_reset(&w->data);
	for (size_t i = 0; i < n->n_extents; i++) {
		if ((r = aout_load_extent(w, &n->extents[i])) != 0)
			return r;
		if ((r = buf_put(&w->data, w->blob.data, w->blob.len)) != 0)
			return r;
	}
	return 0;
}

/*
 * Writes a file's content after its header, holes as zeros: the pax
 * writer takes the whole logical stream and drops the zeros of the holes
 * its sparse map names (it also writes the map itself on the first call,
 * so even a file that is all hole gets one call). Content comes from
 * w->data when preloaded, else blob by blob; a blob that fails is
 * replaced by zeros and reported once.
 */
static int aout_content(struct aout *w, const struct node *n, bool preloaded)
{
	uint64_t pos = 0, dpos = 0;
	bool failed = false;
	int r;

	for (size_t i = 0; i < n->n_extents; i++) {
		const struct extent *e = &n->extents[i];

		if ((r = aout_write_zeros(w, e->offset - pos)) != 0)
			return r;
		if (preloaded) {
			r = aout_write(w, w->data.data + dpos, e->len);
			dpos += e->len;
		} else {
			int e2 = aout_load_extent(w, e);

			if (e2 == -ENOMEM)
				return e2;
			if (e2 != 0) {
				if (!failed)
					aout_fail(w, "content lost, written as zeros", e2);
				failed = true;
				r = aout_write_zeros(w, e->len);
			} else {
				r = aout_write(w, w->blob.data, w->blob.len);
			}
		}
		if (r != 0)
			return r;
		pos = e->offset + e->len;
		w->res.bytes += e->len;
		aout_progress(w, false);
	}
	if ((r = aout_write_zeros(w, n->size - pos)) != 0)
		return r;
	w->res.bytes += n->size - pos;
	return 0;
}

/* Well-formed UTF-8 (no overlong forms, surrogates or values past U+10FFFF). */
static bool aout_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		size_t k;
		uint32_t v;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			v = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			v = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			v = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			v = v << 6 | (p[i + j] & 0x3f);
		}
		if ((k == 2 && v < 0x800) || (k == 3 && (v < 0x10000 || v > 0x10ffff)) ||
		    (v >= 0xd800 && v <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/*
 * The zip writer flags every non-ASCII name as UTF-8 when the locale is
 * UTF-8, even one that is not: switch this thread to the C locale for
 * such a name, so it goes out unflagged, as raw bytes.
 */
static void aout_zip_locale(struct aout *w)
{
	if (w->fmt != ARCHIVE_ZIP || w->loc_utf8 == (locale_t)0 ||
	    w->loc_c == (locale_t)0)
		return;
	uselocale(aout_utf8_valid(w->path.data, w->path.len) ? w->loc_utf8 : w->loc_c);
}

/* Header status: 0 written, 1 rejected by the format (reported), <0 fatal. */
static int aout_header(struct aout *w, struct archive_entry *ae)
{
	int r;

	aout_zip_locale(w);
	r = archive_write_header(w->a, ae);

	if (r == ARCHIVE_OK || r == ARCHIVE_WARN)
		return 0; /* WARN: a name not in UTF-8, written as raw bytes */
	if (r == ARCHIVE_FATAL) {
		log_errorx("writing archive: %s", aout_errstr(w->a));
		return -EIO;
	}
	aout_fail(w, aout_errstr(w->a), 0);
	return 1;
}

static int aout_finish_entry(struct aout *w)
{
	if (archive_write_finish_entry(w->a) < ARCHIVE_WARN) {
		log_errorx("writing archive: %s", aout_errstr(w->a));
		return -EIO;
	}
	return 0;
}

/*
 * Writes one node at the current path. Returns 0 (also when the node was
 * reported and skipped) or a negative errno when the archive cannot be
 * written any more.
 */
static int aout_node(struct aout *w, const struct node *n)
{
	struct archive_entry *ae = NULL;
	struct aout_link *first = NULL;
	uint64_t stored = 0;
	bool preloaded = false;
	bool linked = n->type != NODE_DIR && n->nlink > 1;
	int r;

	if (n->type == NODE_SOCK && w->fmt != ARCHIVE_CPIO) {
		char pbuf[1024];

		/* As tar does: a socket cannot be recreated usefully anyway. */
		log_warnx("%s: socket not archived", escape_cstr(
			  (const char *)w->path.data, pbuf, sizeof pbuf));
		return 0;
	}
	if (w->fmt == ARCHIVE_ZIP && n->type != NODE_FILE && n->type != NODE_DIR &&
	    n->type != NODE_SYMLINK) {
		aout_fail(w, "not archived, zip cannot hold FIFOs or devices", 0);
		return 0;
	}
	if (aout_filetype(n->type) == 0) {
		aout_fail(w, "unknown node type", 0);
		return 0;
	}
	if (n->type == NODE_FILE && !aout_extents_ok(n, &stored)) {
		aout_fail(w, "invalid extent list", -EBADMSG);
		return 0;
	}
	if (linked && w->fmt != ARCHIVE_ZIP)
		first = aout_link_find(w, n->dev, n->inode);

	ae = archive_entry_new();
	if (ae == NULL)
		return -ENOMEM;
	if ((r = aout_fill(w, n, ae)) != 0)
		goto out;

	if (w->fmt == ARCHIVE_CPIO) {
		/* Inode numbers tie cpio hard links; ours fit its 32 bits. */
		archive_entry_set_dev(ae, 0);
		if (linked) {
			archive_entry_set_nlink(ae, n->nlink);
			archive_entry_set_ino64(ae, first ? (int64_t)first->cpio_ino
						   : (int64_t)++w->next_ino);
		} else {
			archive_entry_set_ino64(ae, (int64_t)++w->next_ino);
		}
	}

	if (first != NULL) {
		/* A later name: pax names the first, cpio shares its inode. */
		if (w->fmt == ARCHIVE_PAX)
			archive_entry_copy_hardlink(ae, first->path);
		r = aout_header(w, ae);
		if (r == 0)
			r = aout_finish_entry(w);
		if (r < 0)
			goto out;
		if (r == 0) {
			if (n->type == NODE_FILE)
				w->res.files++;
			else
				w->res.others++;
		}
		r = 0;
		goto out;
	}

	if (n->type == NODE_FILE) {
		archive_entry_set_size(ae, (la_int64_t)n->size);
		if (w->fmt == ARCHIVE_PAX && stored < n->size)
			aout_sparse_map(n, ae);
		if (stored < AOUT_VERIFY_LIMIT) {
			r = aout_preload(w, n);
			if (r == -ENOMEM)
				goto out;
			if (r != 0) {
				aout_fail(w, "not archived, content unreadable", r);
				r = 0;
				goto out;
			}
			preloaded = true;
		}
	}

	r = aout_header(w, ae);
	if (r != 0) {
		if (r > 0)
			r = 0;
		goto out;
	}
	if (n->type == NODE_FILE && (r = aout_content(w, n, preloaded)) != 0)
		goto out;
	if ((r = aout_finish_entry(w)) != 0)
		goto out;
	if (linked && w->fmt != ARCHIVE_ZIP &&
	    (r = aout_link_add(w, n->dev, n->inode,
			       (uint64_t)archive_entry_ino64(ae))) != 0)
		goto out;

	switch (n->type) {
	case NODE_FILE: w->res.files++; break;
	case NODE_DIR: w->res.dirs++; break;
	default: w->res.others++; break;
	}
	if (n->flags & NODE_F_INCOMPLETE)
		aout_fail(w, "stored incompletely at backup time", 0);
	else if (n->flags & NODE_F_CHANGED) {
		char pbuf[1024];

		log_warnx("%s: changed while it was backed up", escape_cstr(
			  (const char *)w->path.data, pbuf, sizeof pbuf));
	}
out:
	archive_entry_free(ae);
	return r;
}

static int aout_open(struct aout *w, int fd)
{
	int r;

	w->a = archive_write_new();
	if (w->a == NULL)
		return -ENOMEM;
	switch (w->fmt) {
	case ARCHIVE_PAX:
		r = archive_write_set_format_pax(w->a);
		break;
	case ARCHIVE_CPIO:
		r = archive_write_set_format_cpio_newc(w->a);
		break;
	case ARCHIVE_ZIP:
		r = archive_write_set_format_zip(w->a);
		break;
	default:
		return -EINVAL;
	}
	if (r != ARCHIVE_OK)
		goto fail;
	/* No padding after the end: a zip's directory must end the file. */
	if (archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK)
		goto fail;
	if (archive_write_open_fd(w->a, fd) != ARCHIVE_OK)
		goto fail;
	return 0;
fail:
	log_errorx("cannot start archive: %s", aout_errstr(w->a));
	return -EIO;
}

static void aout_stack_free(struct aout_frame *st, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tree_fini(&st[i].t);
	free(st);
}

/*
 * Names are handed to libarchive as raw bytes in a UTF-8 locale for this
 * thread only: valid UTF-8 names are then stored as such, anything else
 * as binary, whatever locale the process runs in.
 */
static locale_t aout_locale_enter(struct aout *w)
{
	locale_t old = (locale_t)0;

	w->loc_utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	w->loc_c = newlocale(LC_CTYPE_MASK, "C", (locale_t)0);
	if (w->loc_utf8 != (locale_t)0)
		old = uselocale(w->loc_utf8);
	return old;
}

static void aout_locale_leave(struct aout *w, locale_t old)
{
	if (w->loc_utf8 != (locale_t)0) {
		uselocale(old);
		freelocale(w->loc_utf8);
	}
	if (w->loc_c != (locale_t)0)
		freelocale(w->loc_c);
}

int restore_to_archive(struct repo *r, const struct snapshot *snap, int fd,
		       enum archive_fmt fmt, const struct restore_opts *o,
		       struct restore_result *res)
{
	struct aout w;
	struct aout_frame *st = NULL;
	size_t st_n = 0, st_cap = 0;
	locale_t old_loc;
	int ret;

	memset(&w, 0, sizeof w);
	w.r = r;
	w.fmt = fmt;
	w.o = o;
	w.bytes_total = (o == NULL || o->n_includes == 0) ? snap->stats.bytes : 0;
	old_loc = aout_locale_enter(&w);

	if ((ret = aout_includes_init(&w)) != 0)
		goto out;
	if ((ret = buf_put_u8(&w.path, 0)) != 0)
		goto out;
	w.path.len = 0;

	st_cap = 16;
	st = calloc(st_cap, sizeof *st);
	if (st == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	ret = repo_tree_load(r, snap->tree, &st[0].t);
	if (ret != 0) {
		log_errorx("cannot load the snapshot's root tree: %s",
			   coffer_strerror(ret));
		goto out;
	}
	st_n = 1;
	st[0].plen = 0;
	st[0].inc = w.n_incl == 0 ? INCL_FULL : INCL_LEADS;
	if ((ret = aout_open(&w, fd)) != 0)
		goto out;

	while (st_n > 0) {
		struct aout_frame *f = &st[st_n - 1];
		const struct node *n;
		enum aout_incl inc;

		if (f->next == f->t.n) {
			tree_fini(&f->t);
			st_n--;
			continue;
		}
		n = &f->t.nodes[f->next++];
		if ((ret = aout_path_set(&w, f->plen, n)) != 0)
			goto out;
		inc = aout_classify(&w, f->inc);
		if (inc == INCL_NONE || (inc == INCL_LEADS && n->type != NODE_DIR))
			continue;
		if ((ret = aout_node(&w, n)) != 0)
			goto out;
		aout_progress(&w, false);
		if (n->type != NODE_DIR)
			continue;

		if (st_n == st_cap) {
			struct aout_frame *g = realloc(st, st_cap * 2 * sizeof *st);

			if (g == NULL) {
				ret = -ENOMEM;
				goto out;
			}
			st = g;
			st_cap *= 2;
			/* f points into the old array; it is not used below. */
		}
		struct aout_frame *c = &st[st_n];
		memset(c, 0, sizeof *c);
		int e = repo_tree_load(r, n->subtree, &c->t);
		if (e == -ENOMEM) {
			ret = e;
			goto out;
		}
		if (e != 0) {
			aout_fail(&w, "directory contents lost", e);
			continue;
		}
		c->plen = w.path.len;
		c->inc = inc;
		st_n++;
	}
	w.path.len = 0;
	w.path.data[0] = '\0';
	for (size_t i = 0; i < w.n_incl; i++) {
		char pbuf[1024];

		if (w.incl_found[i])
			continue;
		log_errorx("%s: not found in the snapshot",
			   escape_cstr(o->includes[i], pbuf, sizeof pbuf));
		w.res.errors++;
	}
	if (archive_write_close(w.a) != ARCHIVE_OK) {
		log_errorx("writing archive: %s", aout_errstr(w.a));
		ret = -EIO;
		goto out;
	}
	aout_progress(&w, true);
	*res = w.res;
	ret = 0;
out:
	aout_stack_free(st, st_n);
	if (w.a != NULL)
		archive_write_free(w.a);
	for (size_t i = 0; i < w.n_incl; i++)
		free(w.incl[i]);
	free(w.incl);
	free(w.incl_len);
	free(w.incl_found);
	aout_links_free(&w);
	buf_fini(&w.path);
	buf_fini(&w.data);
	buf_fini(&w.blob);
	aout_locale_leave(&w, old_loc);
	return ret;
}
