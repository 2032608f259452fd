/*
 * POSIX ACLs in the form Linux keeps them: the raw values of the xattrs
 * system.posix_acl_access and system.posix_acl_default. Trees store ACLs
 * only in that form (fsmeta reads them as raw xattrs), so archives, which
 * carry ACLs as libarchive entries, are converted here in both directions:
 * archive_in.c when ingesting, archive_out.c when exporting.
 *
 * Raw value, little-endian:
 *
 *   OFFSET  SIZE  FIELD
 *   0       4     version, always 2
 *   4+8i    2     tag: USER_OBJ 0x01, USER 0x02, GROUP_OBJ 0x04,
 *                 GROUP 0x08, MASK 0x10, OTHER 0x20
 *   6+8i    2     perm: read 4, write 2, execute 1
 *   8+8i    4     id: uid or gid for USER and GROUP, 0xffffffff otherwise
 *
 * Entries are sorted by tag, then by id, as the kernel returns them.
 *
 * libarchive keeps the owner, owning group and other entries of an access
 * ACL in the mode: its group bits hold the owning group's permissions, not
 * the mask as in st_mode. The conversions below translate between the two
 * conventions, so an archive written by archive_out reads back unchanged.
 */
#ifndef COFFER_BACKUP_ACL_XATTR_H
#define COFFER_BACKUP_ACL_XATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define ACL_XATTR_ACCESS "system.posix_acl_access"
#define ACL_XATTR_DEFAULT "system.posix_acl_default"
#define ACL_XATTR_VERSION 2u
#define ACL_XATTR_UNDEFINED_ID 0xffffffffu
/* As many entries as fit a 64 KiB xattr value. */
#define ACL_XATTR_MAX_ENTRIES 8191u

enum acl_tag {
	ACL_TAG_USER_OBJ = 0x01,
	ACL_TAG_USER = 0x02,
	ACL_TAG_GROUP_OBJ = 0x04,
	ACL_TAG_GROUP = 0x08,
	ACL_TAG_MASK = 0x10,
	ACL_TAG_OTHER = 0x20,
};

struct acl_ent {
	uint16_t tag;  /* enum acl_tag */
	uint16_t perm; /* 0..7 */
	uint32_t id;   /* USER/GROUP: uid/gid; others ACL_XATTR_UNDEFINED_ID */
};

/*
 * Sorts e (n entries, in any order) and appends the raw value to out. The
 * ids of entries other than USER and GROUP are written as undefined.
 * Returns -EINVAL unless the entries form a valid ACL: one USER_OBJ,
 * GROUP_OBJ and OTHER each, at most one MASK, a MASK if any USER or GROUP
 * entry is present, no id twice per tag, perms within 0..7.
 */
int acl_xattr_encode(struct acl_ent *e, size_t n, struct buf *out);

/*
 * Strict decoder: -EBADMSG unless p is a valid raw value as above (any
 * entry order is accepted). *out is malloc'ed, owned by the caller.
 */
int acl_xattr_decode(const uint8_t *p, size_t len, struct acl_ent **out, size_t *n);

struct archive_entry;

/*
 * Converts ae's POSIX.1e ACL of one kind (access or default) to a raw
 * value appended to out; out is left untouched when ae has no ACL of that
 * kind (an access ACL of only the three mode entries counts as none).
 * For an access ACL with a MASK, *mode's group bits become the mask, as
 * st_mode has them. Named entries without an id are resolved by name on
 * this host. Returns 0, -ENOTSUP for NFSv4 ACLs, -EINVAL when the ACL
 * cannot be expressed (invalid, or a name that does not resolve),
 * -ENOMEM.
 */
int acl_xattr_from_archive(struct archive_entry *ae, bool dflt, uint32_t *mode,
			   struct buf *out);

/*
 * Adds the ACL of a raw value to ae as access or default entries. Call it
 * after setting ae's mode: an access ACL's owner, owning group and other
 * entries overwrite the mode's permission bits (libarchive's convention).
 * Returns 0, -EBADMSG if the value is malformed, -ERANGE for an id
 * libarchive cannot hold, -ENOMEM.
 */
int acl_xattr_to_archive(const uint8_t *p, size_t len, bool dflt,
			 struct archive_entry *ae);

#endif
