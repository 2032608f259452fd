/*
 * Reading and applying POSIX metadata of one directory entry, always
 * relative to an open directory fd so that paths of any depth work (no
 * path is ever longer than one name).
 */
#ifndef COFFER_FS_FSMETA_H
#define COFFER_FS_FSMETA_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "repo/tree.h"

/*
 * Fills n from the entry `name` in dirfd (not following symlinks): type,
 * mode, owner ids and names, times, size, inode, dev, nlink, rdev, symlink
 * target, xattrs (user.*, security.*, trusted.* where readable, and
 * system.posix_acl_access / system.posix_acl_default as raw values).
 * n->name is set from name. Content extents and subtree are left empty.
 * st receives the raw stat. Returns 0 or a negative errno (-ENOENT if the
 * entry vanished).
 */
int fsmeta_read(int dirfd, const char *name, struct node *n, struct stat *st);

/*
 * As fsmeta_read, given old, the same entry in the previous backup (or
 * NULL): when one stat shows the inode untouched since (same inode, type,
 * ctime, mtime and size), the symlink target and xattrs are taken from old
 * instead of being read again. That is one system call per unchanged
 * entry instead of five.
 */
int fsmeta_read_since(int dirfd, const char *name, const struct node *old, struct node *n,
		      struct stat *st);

/*
 * As fsmeta_read on an already open fd (file or directory), name given
 * separately (used for the top of a backup path).
 */
int fsmeta_read_fd(int fd, const uint8_t *name, size_t name_len, struct node *n,
		   struct stat *st);

/*
 * Applies metadata to the entry `name` in dirfd after its content exists:
 * owner (by name when the name resolves on this host, otherwise by id; only
 * when running as root), xattrs and ACLs, mode (incl. setuid/setgid/sticky,
 * after chown, which clears them), then atime and mtime with nanoseconds.
 * Symlinks get owner, xattrs (when supported) and times only. Returns 0 or
 * the first negative errno, after attempting every step.
 */
int fsmeta_apply(int dirfd, const char *name, const struct node *n);

/*
 * As fsmeta_apply, for a regular file on the descriptor it was created and
 * written through (any access mode), in four system calls plus one per
 * xattr and no lookup by name: restore's path for the bulk of a tree.
 * acl_inherited false says the caller knows the file cannot have
 * inherited an access ACL (its directory has no default ACL), so none is
 * removed. -EINVAL unless n is a regular file. The descriptor stays open.
 */
int fsmeta_apply_fd(int fd, const struct node *n, bool acl_inherited);

/*
 * Whether the open directory dirfd has a default ACL, which entries
 * created in it inherit as their access ACL. True also when that cannot
 * be told (an error other than "none" or "not supported"), so that a
 * caller relying on false never skips a removal it needs.
 */
bool fsmeta_has_default_acl(int dirfd);

/* User and group names for ids, cached. Empty string when unknown. */
const char *fsmeta_user_name(unsigned uid);
const char *fsmeta_group_name(unsigned gid);

#endif
