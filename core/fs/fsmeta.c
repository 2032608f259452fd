/*
 * POSIX metadata of one directory entry: read for backup, applied on
 * restore (see fsmeta.h).
 *
 * Every entry is reached through an O_PATH|O_NOFOLLOW descriptor opened
 * relative to its parent directory, never through a path string, so depth
 * is unlimited and a symlink is never followed. O_PATH is the one way to get
 * a handle on any kind of entry without side effects: it does not open a
 * FIFO (which would block), a device (which could rewind a tape) or a
 * socket, needs no read permission and does not touch atime. fstat,
 * readlinkat(fd, ""), fchownat(fd, "", AT_EMPTY_PATH) accept such a
 * descriptor. The f*xattr calls do not (EBADF), but the getxattr family on
 * "/proc/self/fd/N" does: following that magic link lands on exactly the
 * inode the descriptor holds, even when it is a symlink, and is not
 * resolved again by name. That is why xattrs are read and written with the
 * following (not the l*) calls on the /proc path; l* would act on the /proc
 * link itself. Without /proc (a chroot) regular files and directories fall
 * back to a real O_RDONLY|O_NONBLOCK descriptor and f*xattr; the xattrs of
 * other types are then out of reach.
 *
 * Canonical choices, so that unchanged entries encode to identical trees:
 * size is st_size for regular files and 0 for everything else (a symlink's
 * length is link_len); rdev is kept only for character and block devices,
 * as the Linux dev_t encoding of st_rdev; xattrs are sorted by strcmp.
 */
#include "fs/fsmeta.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PROC_FD_PATH_LEN 32
#define OWNER_CACHE_SLOTS 64
#define PW_BUF_MAX (1u << 20)

static const char acl_access[] = "system.posix_acl_access";
static const char acl_default[] = "system.posix_acl_default";

/* ---- owner name cache ------------------------------------------------- */

/*
 * Four small append-only caches: uid -> user, gid -> group and the reverse
 * maps for restore. A filled slot is never changed again, so a pointer to
 * its name stays valid for the life of the process; negative results are
 * cached too. When a cache is full, lookups still work but return a
 * thread-local copy that the next call on the same thread overwrites.
 * NSS lookups can be slow (LDAP), which is why the cache exists at all.
 */
enum owner_map { MAP_UID_NAME, MAP_GID_NAME, MAP_UNAME_ID, MAP_GNAME_ID, MAP_COUNT };

struct owner_slot {
	uint32_t id;
	bool found;
	char name[TREE_MAX_OWNER_NAME + 1];
};

static struct {
	struct owner_slot slot[OWNER_CACHE_SLOTS];
	size_t n;
} owner_cache[MAP_COUNT];
static pthread_mutex_t owner_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local struct owner_slot owner_spill;

/*
 * Runs one getpw*_r / getgr*_r lookup for the map m, keyed by s->id or
 * s->name, and fills the other half of s. Names longer than the format
 * allows count as unknown rather than being cut.
 */
static void owner_resolve(enum owner_map m, struct owner_slot *s)
{
	size_t len = 1024;
	char *mem = NULL;

	s->found = false;
	for (;;) {
		struct passwd pw, *pwp = NULL;
		struct group gr, *grp = NULL;
		const char *name = NULL;
		uint32_t id = 0;
		int e;
		char *p = realloc(mem, len);

		if (p == NULL)
			break;
		mem = p;
		switch (m) {
		case MAP_UID_NAME:
			e = getpwuid_r(s->id, &pw, mem, len, &pwp);
			break;
		case MAP_UNAME_ID:
			e = getpwnam_r(s->name, &pw, mem, len, &pwp);
			break;
		case MAP_GID_NAME:
			e = getgrgid_r(s->id, &gr, mem, len, &grp);
			break;
		default:
			e = getgrnam_r(s->name, &gr, mem, len, &grp);
			break;
		}
		if (e == ERANGE && len < PW_BUF_MAX) {
			len *= 2;
			continue;
		}
		if (pwp != NULL) {
			name = pwp->pw_name;
			id = pwp->pw_uid;
		} else if (grp != NULL) {
			name = grp->gr_name;
			id = grp->gr_gid;
		}
		if (name != NULL && strlen(name) <= TREE_MAX_OWNER_NAME) {
			s->found = true;
			if (m == MAP_UID_NAME || m == MAP_GID_NAME)
				strcpy(s->name, name);
			else
				s->id = id;
		}
		break;
	}
	free(mem);
	if (!s->found && (m == MAP_UID_NAME || m == MAP_GID_NAME))
		s->name[0] = '\0';
}

/*
 * Looks key (an id for the *_NAME maps, a name for the *_ID maps) up in
 * cache m, resolving and caching on a miss. Returns the slot, which is
 * either permanent or the calling thread's spill slot.
 */
static const struct owner_slot *owner_lookup(enum owner_map m, uint32_t id,
					     const char *name)
{
	bool by_id = m == MAP_UID_NAME || m == MAP_GID_NAME;
	const struct owner_slot *hit = NULL;
	struct owner_slot *s;

	pthread_mutex_lock(&owner_lock);
	for (size_t i = 0; i < owner_cache[m].n; i++) {
		s = &owner_cache[m].slot[i];
		if (by_id ? s->id == id : strcmp(s->name, name) == 0) {
			hit = s;
			goto out;
		}
	}
	if (owner_cache[m].n < OWNER_CACHE_SLOTS)
		s = &owner_cache[m].slot[owner_cache[m].n];
	else
		s = &owner_spill;
	memset(s, 0, sizeof *s);
	if (by_id)
		s->id = id;
	else
		strcpy(s->name, name);
	owner_resolve(m, s);
	if (s != &owner_spill)
		owner_cache[m].n++;
	hit = s;
out:
	pthread_mutex_unlock(&owner_lock);
	return hit;
}

/*
 * The returned string is valid for the life of the process, except when
 * the cache is full: then until the next lookup on the same thread.
 */
const char *fsmeta_user_name(unsigned uid)
{
	return owner_lookup(MAP_UID_NAME, uid, NULL)->name;
}

const char *fsmeta_group_name(unsigned gid)
{
	return owner_lookup(MAP_GID_NAME, gid, NULL)->name;
}

/* Maps a stored owner name to this host's id; false if it does not resolve. */
static bool owner_id(enum owner_map m, const char *name, uint32_t *id)
{
	const struct owner_slot *s;

	if (name == NULL || name[0] == '\0' || strlen(name) > TREE_MAX_OWNER_NAME)
		return false;
	s = owner_lookup(m, 0, name);
	if (!s->found)
		return false;
	*id = s->id;
	return true;
}

/* ---- helpers ---------------------------------------------------------- */

static void proc_fd_path(int fd, char out[PROC_FD_PATH_LEN])
{
	snprintf(out, PROC_FD_PATH_LEN, "/proc/self/fd/%d", fd);
}

/*
 * Whether /proc is mounted (it is not in a bare chroot). Checked once per
 * process and remembered while present: a backup reads metadata of every
 * entry, and one access() each was a sixth of those system calls. Absence
 * is checked again each time, so mounting /proc later is noticed.
 */
static bool have_proc(void)
{
	static _Atomic bool present;
	if (present)
		return true;
	bool p = access("/proc/self/fd", F_OK) == 0;
	if (p)
		present = true;
	return p;
}

static int node_type_of(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return NODE_FILE;
	case S_IFDIR: return NODE_DIR;
	case S_IFLNK: return NODE_SYMLINK;
	case S_IFIFO: return NODE_FIFO;
	case S_IFCHR: return NODE_CHR;
	case S_IFBLK: return NODE_BLK;
	case S_IFSOCK: return NODE_SOCK;
	default: return 0;
	}
}

/* The xattr namespaces a backup keeps. Other system.* names are skipped. */
static bool xattr_wanted(const char *name)
{
	return strncmp(name, "user.", 5) == 0 ||
	       strncmp(name, "security.", 9) == 0 ||
	       strncmp(name, "trusted.", 8) == 0 ||
	       strcmp(name, acl_access) == 0 || strcmp(name, acl_default) == 0;
}

/* Linux allows user.* only on regular files and directories. */
static bool xattr_settable(const char *name, uint8_t type)
{
	if (strncmp(name, "user.", 5) != 0)
		return true;
	return type == NODE_FILE || type == NODE_DIR;
}

/*
 * Where xattr calls go: the /proc path of an O_PATH descriptor (path set),
 * or a real descriptor for the f* calls (path NULL).
 */
struct xt {
	const char *path;
	int fd;
};

static ssize_t xt_list(const struct xt *x, char *buf, size_t len)
{
	return x->path ? listxattr(x->path, buf, len) : flistxattr(x->fd, buf, len);
}

static ssize_t xt_get(const struct xt *x, const char *name, void *buf, size_t len)
{
	return x->path ? getxattr(x->path, name, buf, len) :
			 fgetxattr(x->fd, name, buf, len);
}

static int xt_set(const struct xt *x, const char *name, const void *v, size_t len)
{
	return x->path ? setxattr(x->path, name, v, len, 0) :
			 fsetxattr(x->fd, name, v, len, 0);
}

static int xt_remove(const struct xt *x, const char *name)
{
	return x->path ? removexattr(x->path, name) : fremovexattr(x->fd, name);
}

/* A real descriptor of the same inode for the f* fallback without /proc. */
static int reopen_plain(int dirfd, const char *name, const struct stat *st)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	struct stat st2;
	int fd;

	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return -ENOTSUP;
	if (S_ISDIR(st->st_mode))
		flags |= O_DIRECTORY;
	fd = openat(dirfd, name, flags);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st2) != 0 || st2.st_dev != st->st_dev || st2.st_ino != st->st_ino) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* ---- reading ---------------------------------------------------------- */

/* Reads a symlink target of any length up to TREE_MAX_LINK. */
static int read_link(int fd, const struct stat *st, struct node *n)
{
	size_t cap = st->st_size > 0 && (uint64_t)st->st_size < TREE_MAX_LINK ?
			     (size_t)st->st_size + 1 : 256;

	for (;;) {
		uint8_t *p = malloc(cap);
		ssize_t len;

		if (p == NULL)
			return -ENOMEM;
		len = readlinkat(fd, "", (char *)p, cap);
		if (len < 0) {
			int e = -errno;

			free(p);
			return e;
		}
		if ((size_t)len < cap) {
			if (len == 0) {
				free(p);
				return -EINVAL;
			}
			n->link = p;
			n->link_len = (size_t)len;
			return 0;
		}
		/* Possibly cut: the target grew or st_size was wrong. */
		free(p);
		if (cap > TREE_MAX_LINK)
			return -ENAMETOOLONG;
		cap = cap * 2 > TREE_MAX_LINK + 1 ? TREE_MAX_LINK + 1 : cap * 2;
	}
}

static int xattr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct xattr *)a)->name, ((const struct xattr *)b)->name);
}

/* Fetches one value; 1 if it should be skipped (gone, unsupported, unreadable). */
static int read_one_xattr(const struct xt *x, const char *name, struct xattr *out)
{
	for (int tries = 0; tries < 8; tries++) {
		ssize_t len = xt_get(x, name, NULL, 0);
		uint8_t *v;

		if (len < 0)
			goto fail;
		if ((size_t)len > TREE_MAX_XATTR_VALUE)
			return -E2BIG;
		v = malloc(len ? (size_t)len : 1);
		if (v == NULL)
			return -ENOMEM;
		len = xt_get(x, name, v, len ? (size_t)len : 1);
		if (len < 0) {
			int e = errno;

			free(v);
			errno = e;
			if (e == ERANGE)
				continue; /* grew between the two calls */
			goto fail;
		}
		out->name = strdup(name);
		if (out->name == NULL) {
			free(v);
			return -ENOMEM;
		}
		if (len == 0) {
			free(v);
			v = NULL;
		}
		out->value = v;
		out->len = (size_t)len;
		return 0;
	}
	return -EAGAIN;
fail:
	/*
	 * Removed since the listing, not supported here, or unreadable (a
	 * non-root reader lacks read permission for user.*): the attribute
	 * cannot be read, so it is not part of what the backup saw.
	 */
	if (errno == ENODATA || errno == ENOTSUP || errno == EACCES || errno == EPERM)
		return 1;
	return -errno;
}

/* Reads the wanted xattrs into n, sorted by name. */
static int read_xattrs(const struct xt *x, struct node *n)
{
	char *list = NULL;
	ssize_t len = 0;
	int r = 0;

	for (int tries = 0;; tries++) {
		len = xt_list(x, NULL, 0);
		if (len < 0) {
			r = errno == ENOTSUP ? 0 : -errno;
			goto out;
		}
		if (len == 0)
			goto out;
		free(list);
		list = malloc((size_t)len);
		if (list == NULL) {
			r = -ENOMEM;
			goto out;
		}
		len = xt_list(x, list, (size_t)len);
		if (len >= 0)
			break;
		if (errno != ERANGE || tries >= 8) {
			r = -errno;
			goto out;
		}
	}
	for (ssize_t off = 0; off < len;) {
		const char *name = list + off;
		size_t nl = strnlen(name, (size_t)(len - off));

		off += (ssize_t)nl + 1;
		if (nl == 0 || nl > TREE_MAX_XATTR_NAME || !xattr_wanted(name))
			continue;
		if (n->n_xattrs == TREE_MAX_XATTRS) {
			r = -E2BIG;
			goto out;
		}
		if (n->xattrs == NULL) {
			/* Upper bound: one name per two bytes of list. */
			size_t cap = (size_t)len / 2 + 1;

			if (cap > TREE_MAX_XATTRS)
				cap = TREE_MAX_XATTRS;
			n->xattrs = calloc(cap, sizeof *n->xattrs);
			if (n->xattrs == NULL) {
				r = -ENOMEM;
				goto out;
			}
		}
		r = read_one_xattr(x, name, &n->xattrs[n->n_xattrs]);
		if (r < 0)
			goto out;
		if (r == 0)
			n->n_xattrs++;
		r = 0;
	}
	if (n->n_xattrs > 1)
		qsort(n->xattrs, n->n_xattrs, sizeof *n->xattrs, xattr_cmp);
out:
	free(list);
	return r;
}

/* The part of a node that comes from the stat alone. */
static int fill_from_stat(const struct stat *st, struct node *n)
{
	n->type = (uint8_t)node_type_of(st->st_mode);
	if (n->type == 0)
		return -EINVAL;
	n->mode = st->st_mode & 07777;
	n->uid = st->st_uid;
	n->gid = st->st_gid;
	n->user = strdup(fsmeta_user_name(st->st_uid));
	n->group = strdup(fsmeta_group_name(st->st_gid));
	if (n->user == NULL || n->group == NULL)
		return -ENOMEM;
	n->atime.sec = st->st_atim.tv_sec;
	n->atime.nsec = (uint32_t)st->st_atim.tv_nsec;
	n->mtime.sec = st->st_mtim.tv_sec;
	n->mtime.nsec = (uint32_t)st->st_mtim.tv_nsec;
	n->ctime.sec = st->st_ctim.tv_sec;
	n->ctime.nsec = (uint32_t)st->st_ctim.tv_nsec;
	n->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	n->inode = st->st_ino;
	n->dev = st->st_dev;
	n->nlink = (uint32_t)st->st_nlink;
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		n->rdev = st->st_rdev;
	return 0;
}

/*
 * Fills everything but the name from fd (O_PATH when is_path, else real).
 * dirfd/name, when given, allow the no-/proc fallback for xattrs.
 */
static int read_common(int fd, bool is_path, int dirfd, const char *name, struct node *n,
		       struct stat *st)
{
	char path[PROC_FD_PATH_LEN];
	struct xt x = { NULL, fd };
	int plain = -1;
	int r;

	if (fstat(fd, st) != 0)
		return -errno;
	if ((r = fill_from_stat(st, n)) != 0)
		return r;
	if (S_ISLNK(st->st_mode)) {
		r = read_link(fd, st, n);
		if (r < 0)
			return r;
	}

	if (is_path) {
		if (!have_proc()) {
			if (name == NULL)
				return 0; /* no way to reach the xattrs */
			plain = reopen_plain(dirfd, name, st);
			if (plain == -ENOTSUP)
				return 0;
			if (plain < 0)
				return plain;
			x.fd = plain;
		} else {
			proc_fd_path(fd, path);
			x.path = path;
		}
	}
	r = read_xattrs(&x, n);
	if (plain >= 0)
		close(plain);
	return r;
}

static int set_name(struct node *n, const uint8_t *name, size_t len)
{
	if (len == 0)
		return -EINVAL;
	if (len > TREE_MAX_NAME)
		return -ENAMETOOLONG;
	n->name = malloc(len);
	if (n->name == NULL)
		return -ENOMEM;
	memcpy(n->name, name, len);
	n->name_len = len;
	return 0;
}

int fsmeta_read_fd(int fd, const uint8_t *name, size_t name_len, struct node *n,
		   struct stat *st)
{
	struct node tmp;
	struct stat s;
	int r;

	memset(&tmp, 0, sizeof tmp);
	r = set_name(&tmp, name, name_len);
	if (r == 0)
		r = read_common(fd, (fcntl(fd, F_GETFL) & O_PATH) != 0, -1, NULL, &tmp, &s);
	if (r < 0) {
		node_fini(&tmp);
		return r;
	}
	*n = tmp;
	if (st != NULL)
		*st = s;
	return 0;
}

int fsmeta_read(int dirfd, const char *name, struct node *n, struct stat *st)
{
	struct node tmp;
	struct stat s;
	int fd, r;

	memset(&tmp, 0, sizeof tmp);
	r = set_name(&tmp, (const uint8_t *)name, strlen(name));
	if (r < 0)
		return r;
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = read_common(fd, true, dirfd, name, &tmp, &s);
	close(fd);
out:
	if (r < 0) {
		node_fini(&tmp);
		return r;
	}
	*n = tmp;
	if (st != NULL)
		*st = s;
	return 0;
}

/*
 * Whether st shows the entry old describes, untouched since: the kernel
 * sets ctime on every change of an inode (content, mode, owner, link
 * count, xattrs and ACLs), and no system call sets it back, so an equal
 * ctime on the same inode of the same type and size means the symlink
 * target and xattrs old recorded are still the entry's own.
 */
static bool stat_untouched(const struct stat *st, const struct node *old)
{
	return old != NULL && old->type == node_type_of(st->st_mode) &&
	       old->inode == (uint64_t)st->st_ino &&
	       old->ctime.sec == st->st_ctim.tv_sec &&
	       old->ctime.nsec == (uint32_t)st->st_ctim.tv_nsec &&
	       old->mtime.sec == st->st_mtim.tv_sec &&
	       old->mtime.nsec == (uint32_t)st->st_mtim.tv_nsec &&
	       (!S_ISREG(st->st_mode) || old->size == (uint64_t)st->st_size) &&
	       (!S_ISLNK(st->st_mode) || old->link_len == (uint64_t)st->st_size);
}

int fsmeta_read_since(int dirfd, const char *name, const struct node *old, struct node *n,
		      struct stat *st)
{
	struct stat s;
	if (old == NULL)
		return fsmeta_read(dirfd, name, n, st);
	if (fstatat(dirfd, name, &s, AT_SYMLINK_NOFOLLOW) != 0)
		return -errno;
	if (!stat_untouched(&s, old))
		return fsmeta_read(dirfd, name, n, st);
	struct node tmp;
	memset(&tmp, 0, sizeof tmp);
	int r = set_name(&tmp, (const uint8_t *)name, strlen(name));
	if (r == 0)
		r = fill_from_stat(&s, &tmp);
	if (r == 0)
		r = node_copy_link_xattrs(&tmp, old);
	if (r < 0) {
		node_fini(&tmp);
		return r;
	}
	*n = tmp;
	if (st != NULL)
		*st = s;
	return 0;
}

/* ---- applying --------------------------------------------------------- */

static bool node_has_xattr(const struct node *n, const char *name)
{
	for (size_t i = 0; i < n->n_xattrs; i++)
		if (strcmp(n->xattrs[i].name, name) == 0)
			return true;
	return false;
}

/*
 * Sets the node's xattrs and removes ACLs it does not have: an entry
 * created under a directory with a default ACL inherits an access ACL the
 * original never had, which would grant access the original did not.
 * Returns the first error after trying every attribute. Without
 * acl_inherited the caller knows no access ACL was inherited and the
 * removal, one system call per file, is skipped.
 */
static int apply_xattrs(const struct xt *x, const struct node *n, bool acl_inherited)
{
	int first = 0;

	for (size_t i = 0; i < n->n_xattrs; i++) {
		const struct xattr *a = &n->xattrs[i];

		if (!xattr_settable(a->name, n->type))
			continue;
		if (xt_set(x, a->name, a->value, a->len) != 0 && first == 0)
			first = -errno;
	}
	if (n->type == NODE_SYMLINK)
		return first; /* Linux has no ACLs on symlinks */
	if (acl_inherited && !node_has_xattr(n, acl_access) && xt_remove(x, acl_access) != 0 &&
	    errno != ENODATA && errno != ENOTSUP && first == 0)
		first = -errno;
	if (n->type == NODE_DIR && !node_has_xattr(n, acl_default) &&
	    xt_remove(x, acl_default) != 0 && errno != ENODATA &&
	    errno != ENOTSUP && first == 0)
		first = -errno;
	return first;
}

/*
 * Order and why:
 *  1. owner: chown clears setuid/setgid and security.capability, so it
 *     comes before the xattrs and the mode;
 *  2. xattrs and ACLs: setting system.posix_acl_access rewrites the group
 *     bits of the mode from the ACL mask (and may drop setgid), so the ACL
 *     goes first and chmod second. chmod then rewrites the ACL's owner,
 *     mask and other entries from the mode; for an entry read from a real
 *     filesystem these already agree (the kernel keeps them in sync), so
 *     both the mode and the ACL come out equal to the original. If stored
 *     data disagree (an archive), the mode wins for those three entries.
 *     Restore creates files 0600 and directories 0700, so the owner can
 *     still write user.* here even when the final mode forbids it;
 *  3. mode, never on symlinks (Linux has no symlink modes);
 *  4. atime and mtime last, as every step above changes ctime only but a
 *     later step could otherwise disturb them. ctime cannot be set at all:
 *     the kernel stamps it with the current time.
 * Steps 2 and 3 go through the /proc path of an O_PATH descriptor whose
 * type was checked, so a symlink swapped in after creation is never
 * followed (chmod follows symlinks); steps 1 and 4 use AT_EMPTY_PATH and
 * AT_SYMLINK_NOFOLLOW for the same reason. -EEXIST if the entry is no
 * longer of the node's type.
 */
/*
 * Whether this process may give files away: root, or a daemon granted
 * CAP_CHOWN alone (coffer-restored under its systemd unit). Anyone else
 * restores everything as their own, which chown would only refuse.
 */
static pthread_once_t chown_once = PTHREAD_ONCE_INIT;
static bool chown_allowed;

static void chown_probe(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	chown_allowed = geteuid() == 0 || (syscall(SYS_capget, &hdr, data) == 0 &&
					   (data[0].effective & (1u << CAP_CHOWN)));
}

static bool may_chown(void)
{
	(void)pthread_once(&chown_once, chown_probe);
	return chown_allowed;
}

/*
 * Step 1 on any descriptor (O_PATH included): the owner by name when the
 * name resolves here, else by the stored number; nothing unless may_chown.
 */
static int apply_owner(int fd, const struct node *n)
{
	uint32_t uid = n->uid, gid = n->gid;

	if (!may_chown())
		return 0;
	owner_id(MAP_UNAME_ID, n->user, &uid);
	owner_id(MAP_GNAME_ID, n->group, &gid);
	return fchownat(fd, "", uid, gid, AT_EMPTY_PATH) != 0 ? -errno : 0;
}

static void node_times(const struct node *n, struct timespec ts[2])
{
	ts[0].tv_sec = (time_t)n->atime.sec;
	ts[0].tv_nsec = n->atime.nsec;
	ts[1].tv_sec = (time_t)n->mtime.sec;
	ts[1].tv_nsec = n->mtime.nsec;
}

/* Keeps the first error of a sequence of steps. */
static void keep_first(int *first, int r)
{
	if (r != 0 && *first == 0)
		*first = r;
}

int fsmeta_apply_fd(int fd, const struct node *n, bool acl_inherited)
{
	const struct xt x = { NULL, fd };
	struct timespec ts[2];
	int first = 0;

	if (n->type != NODE_FILE)
		return -EINVAL;
	keep_first(&first, apply_owner(fd, n));
	keep_first(&first, apply_xattrs(&x, n, acl_inherited));
	if (fchmod(fd, n->mode & 07777) != 0)
		keep_first(&first, -errno);
	node_times(n, ts);
	if (futimens(fd, ts) != 0)
		keep_first(&first, -errno);
	return first;
}

bool fsmeta_has_default_acl(int dirfd)
{
	if (fgetxattr(dirfd, acl_default, NULL, 0) >= 0)
		return true;
	return errno != ENODATA && errno != ENOTSUP;
}

int fsmeta_apply(int dirfd, const char *name, const struct node *n)
{
	char path[PROC_FD_PATH_LEN];
	struct xt x = { NULL, -1 };
	struct timespec ts[2];
	struct stat st;
	int plain = -1;
	int first = 0, r, fd;

	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		first = -errno;
		goto out;
	}
	if (node_type_of(st.st_mode) != n->type) {
		first = -EEXIST;
		goto out;
	}
	proc_fd_path(fd, path);

	keep_first(&first, apply_owner(fd, n));

	if (have_proc()) {
		x.path = path;
		x.fd = fd;
	} else {
		plain = reopen_plain(dirfd, name, &st);
		x.fd = plain;
	}
	if (x.path != NULL || plain >= 0) {
		keep_first(&first, apply_xattrs(&x, n, true));
	} else {
		/* Without /proc only files and directories can be reached. */
		for (size_t i = 0; i < n->n_xattrs && first == 0; i++)
			if (xattr_settable(n->xattrs[i].name, n->type))
				first = plain;
	}

	if (n->type != NODE_SYMLINK) {
		if (plain >= 0)
			r = fchmod(plain, n->mode & 07777);
		else if (x.path != NULL)
			r = chmod(path, n->mode & 07777);
		else
			r = fchmodat(dirfd, name, n->mode & 07777, 0); /* type checked */
		if (r != 0)
			keep_first(&first, -errno);
	}

	node_times(n, ts);
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) != 0)
		keep_first(&first, -errno);
out:
	if (plain >= 0)
		close(plain);
	close(fd);
	return first;
}
