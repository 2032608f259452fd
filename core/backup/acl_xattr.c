/*
 * Conversion between Linux raw POSIX ACL xattr values and libarchive ACL
 * entries; see acl_xattr.h for the layout and the mode convention.
 */
#include "backup/acl_xattr.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACL_ENT_SIZE 8u

static bool acl_tag_named(uint16_t tag)
{
	return tag == ACL_TAG_USER || tag == ACL_TAG_GROUP;
}

static bool acl_tag_known(uint16_t tag)
{
	switch (tag) {
	case ACL_TAG_USER_OBJ:
	case ACL_TAG_USER:
	case ACL_TAG_GROUP_OBJ:
	case ACL_TAG_GROUP:
	case ACL_TAG_MASK:
	case ACL_TAG_OTHER:
		return true;
	}
	return false;
}

static int acl_ent_cmp(const void *a, const void *b)
{
	const struct acl_ent *x = a, *y = b;

	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return 0;
}

/*
 * The kernel's rules (posix_acl_valid) on a sorted array with ids of
 * unnamed entries already normalised. Returns true if e may be stored.
 */
static bool acl_valid_sorted(const struct acl_ent *e, size_t n)
{
	unsigned n_user_obj = 0, n_group_obj = 0, n_other = 0, n_mask = 0;
	unsigned n_named = 0;

	if (n > ACL_XATTR_MAX_ENTRIES)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!acl_tag_known(e[i].tag) || e[i].perm > 7)
			return false;
		switch (e[i].tag) {
		case ACL_TAG_USER_OBJ: n_user_obj++; break;
		case ACL_TAG_GROUP_OBJ: n_group_obj++; break;
		case ACL_TAG_OTHER: n_other++; break;
		case ACL_TAG_MASK: n_mask++; break;
		default:
			if (e[i].id == ACL_XATTR_UNDEFINED_ID)
				return false;
			if (i > 0 && e[i - 1].tag == e[i].tag && e[i - 1].id == e[i].id)
				return false;
			n_named++;
			break;
		}
	}
	if (n_user_obj != 1 || n_group_obj != 1 || n_other != 1 || n_mask > 1)
		return false;
	if (n_named > 0 && n_mask == 0)
		return false;
	return true;
}

static void acl_normalise(struct acl_ent *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!acl_tag_named(e[i].tag))
			e[i].id = ACL_XATTR_UNDEFINED_ID;
	qsort(e, n, sizeof *e, acl_ent_cmp);
}

int acl_xattr_encode(struct acl_ent *e, size_t n, struct buf *out)
{
	int r;

	if (n == 0 || n > ACL_XATTR_MAX_ENTRIES)
		return -EINVAL;
	acl_normalise(e, n);
	if (!acl_valid_sorted(e, n))
		return -EINVAL;
	r = buf_reserve(out, 4 + n * ACL_ENT_SIZE);
	if (r != 0)
		return r;
	/* Cannot fail after the reservation. */
	buf_put_u32(out, ACL_XATTR_VERSION);
	for (size_t i = 0; i < n; i++) {
		buf_put_u16(out, e[i].tag);
		buf_put_u16(out, e[i].perm);
		buf_put_u32(out, e[i].id);
	}
	return 0;
}

int acl_xattr_decode(const uint8_t *p, size_t len, struct acl_ent **out, size_t *n)
{
	struct rbuf rb;
	struct acl_ent *e = NULL;
	uint32_t version;
	size_t count;
	int r;

	rbuf_init(&rb, p, len);
	r = rbuf_get_u32(&rb, &version);
	if (r != 0)
		goto out;
	r = -EBADMSG;
	if (version != ACL_XATTR_VERSION || rbuf_left(&rb) % ACL_ENT_SIZE != 0)
		goto out;
	count = rbuf_left(&rb) / ACL_ENT_SIZE;
	if (count == 0 || count > ACL_XATTR_MAX_ENTRIES)
		goto out;
	e = calloc(count, sizeof *e);
	if (e == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		if ((r = rbuf_get_u16(&rb, &e[i].tag)) != 0 ||
		    (r = rbuf_get_u16(&rb, &e[i].perm)) != 0 ||
		    (r = rbuf_get_u32(&rb, &e[i].id)) != 0)
			goto out;
		/* Checked here: normalising must not hide an unknown tag. */
		if (!acl_tag_known(e[i].tag)) {
			r = -EBADMSG;
			goto out;
		}
	}
	acl_normalise(e, count);
	if (!acl_valid_sorted(e, count)) {
		r = -EBADMSG;
		goto out;
	}
	*out = e;
	*n = count;
	e = NULL;
	r = 0;
out:
	free(e);
	return r;
}

static int acl_tag_from_archive(int tag, uint16_t *out)
{
	switch (tag) {
	case ARCHIVE_ENTRY_ACL_USER_OBJ: *out = ACL_TAG_USER_OBJ; return 0;
	case ARCHIVE_ENTRY_ACL_USER: *out = ACL_TAG_USER; return 0;
	case ARCHIVE_ENTRY_ACL_GROUP_OBJ: *out = ACL_TAG_GROUP_OBJ; return 0;
	case ARCHIVE_ENTRY_ACL_GROUP: *out = ACL_TAG_GROUP; return 0;
	case ARCHIVE_ENTRY_ACL_MASK: *out = ACL_TAG_MASK; return 0;
	case ARCHIVE_ENTRY_ACL_OTHER: *out = ACL_TAG_OTHER; return 0;
	}
	return -EINVAL;
}

static int acl_tag_to_archive(uint16_t tag)
{
	switch (tag) {
	case ACL_TAG_USER_OBJ: return ARCHIVE_ENTRY_ACL_USER_OBJ;
	case ACL_TAG_USER: return ARCHIVE_ENTRY_ACL_USER;
	case ACL_TAG_GROUP_OBJ: return ARCHIVE_ENTRY_ACL_GROUP_OBJ;
	case ACL_TAG_GROUP: return ARCHIVE_ENTRY_ACL_GROUP;
	case ACL_TAG_MASK: return ARCHIVE_ENTRY_ACL_MASK;
	default: return ARCHIVE_ENTRY_ACL_OTHER;
	}
}

static uint16_t acl_perm_from_archive(int permset)
{
	uint16_t p = 0;

	if (permset & ARCHIVE_ENTRY_ACL_READ)
		p |= 4;
	if (permset & ARCHIVE_ENTRY_ACL_WRITE)
		p |= 2;
	if (permset & ARCHIVE_ENTRY_ACL_EXECUTE)
		p |= 1;
	return p;
}

static int acl_perm_to_archive(uint16_t perm)
{
	int p = 0;

	if (perm & 4)
		p |= ARCHIVE_ENTRY_ACL_READ;
	if (perm & 2)
		p |= ARCHIVE_ENTRY_ACL_WRITE;
	if (perm & 1)
		p |= ARCHIVE_ENTRY_ACL_EXECUTE;
	return p;
}

/*
 * Resolves the name of a named entry that came without an id: a decimal
 * number is taken as the id itself, anything else is looked up on this
 * host. Returns 0 or -EINVAL.
 */
static int acl_resolve_name(const char *name, bool group, uint32_t *id)
{
	char tmp[4096];
	char *end;
	unsigned long v;

	if (name == NULL || *name == '\0')
		return -EINVAL;
	errno = 0;
	v = strtoul(name, &end, 10);
	if (*end == '\0' && errno == 0 && name[0] >= '0' && name[0] <= '9') {
		if (v >= ACL_XATTR_UNDEFINED_ID)
			return -EINVAL;
		*id = (uint32_t)v;
		return 0;
	}
	if (group) {
		struct group gr, *res = NULL;

		if (getgrnam_r(name, &gr, tmp, sizeof tmp, &res) != 0 || res == NULL)
			return -EINVAL;
		*id = (uint32_t)gr.gr_gid;
	} else {
		struct passwd pw, *res = NULL;

		if (getpwnam_r(name, &pw, tmp, sizeof tmp, &res) != 0 || res == NULL)
			return -EINVAL;
		*id = (uint32_t)pw.pw_uid;
	}
	return 0;
}

int acl_xattr_from_archive(struct archive_entry *ae, bool dflt, uint32_t *mode,
			   struct buf *out)
{
	int want = dflt ? ARCHIVE_ENTRY_ACL_TYPE_DEFAULT : ARCHIVE_ENTRY_ACL_TYPE_ACCESS;
	struct acl_ent *e = NULL;
	size_t n = 0, cap;
	bool seen_user_obj = false, seen_group_obj = false, seen_other = false;
	bool seen_mask = false, seen_named = false;
	uint16_t group_class = 0, mask = 0;
	int count, type, permset, tag, id, r;
	const char *name;

	if (archive_entry_acl_types(ae) & ARCHIVE_ENTRY_ACL_TYPE_NFS4)
		return -ENOTSUP;
	count = archive_entry_acl_reset(ae, want);
	if (count <= (dflt ? 0 : 3))
		return 0;
	if ((size_t)count > ACL_XATTR_MAX_ENTRIES)
		return -EINVAL;
	cap = (size_t)count + 4; /* room for entries synthesised below */
	e = calloc(cap, sizeof *e);
	if (e == NULL)
		return -ENOMEM;
	while (archive_entry_acl_next(ae, want, &type, &permset, &tag, &id,
				      &name) == ARCHIVE_OK) {
		struct acl_ent *x;

		if (type != want)
			continue;
		r = -EINVAL;
		if (n == (size_t)count) /* more than reset announced */
			goto out;
		x = &e[n];
		if (acl_tag_from_archive(tag, &x->tag) != 0)
			goto out;
		if (permset & ~(ARCHIVE_ENTRY_ACL_READ | ARCHIVE_ENTRY_ACL_WRITE |
				ARCHIVE_ENTRY_ACL_EXECUTE))
			goto out;
		x->perm = acl_perm_from_archive(permset);
		x->id = ACL_XATTR_UNDEFINED_ID;
		if (acl_tag_named(x->tag)) {
			if (id >= 0)
				x->id = (uint32_t)id;
			else if (acl_resolve_name(name, x->tag == ACL_TAG_GROUP,
						  &x->id) != 0)
				goto out;
			seen_named = true;
			group_class |= x->perm;
		}
		switch (x->tag) {
		case ACL_TAG_USER_OBJ: seen_user_obj = true; break;
		case ACL_TAG_GROUP_OBJ:
			seen_group_obj = true;
			group_class |= x->perm;
			break;
		case ACL_TAG_OTHER: seen_other = true; break;
		case ACL_TAG_MASK:
			seen_mask = true;
			mask = x->perm;
			break;
		}
		n++;
	}
	/*
	 * Archives written by other tools may leave out entries the kernel
	 * requires; fill them in as setfacl would: the base entries from the
	 * mode, the mask as the union of the group class.
	 */
	if (!seen_user_obj)
		e[n++] = (struct acl_ent){ ACL_TAG_USER_OBJ, (*mode >> 6) & 7,
					   ACL_XATTR_UNDEFINED_ID };
	if (!seen_group_obj) {
		e[n++] = (struct acl_ent){ ACL_TAG_GROUP_OBJ, (*mode >> 3) & 7,
					   ACL_XATTR_UNDEFINED_ID };
		group_class |= (*mode >> 3) & 7;
	}
	if (!seen_other)
		e[n++] = (struct acl_ent){ ACL_TAG_OTHER, *mode & 7,
					   ACL_XATTR_UNDEFINED_ID };
	if (!seen_mask && seen_named) {
		e[n++] = (struct acl_ent){ ACL_TAG_MASK, group_class,
					   ACL_XATTR_UNDEFINED_ID };
		seen_mask = true;
		mask = group_class;
	}
	r = acl_xattr_encode(e, n, out);
	if (r != 0)
		goto out;
	if (!dflt && seen_mask)
		*mode = (*mode & ~070u) | (uint32_t)mask << 3;
out:
	free(e);
	return r;
}

int acl_xattr_to_archive(const uint8_t *p, size_t len, bool dflt,
			 struct archive_entry *ae)
{
	int type = dflt ? ARCHIVE_ENTRY_ACL_TYPE_DEFAULT : ARCHIVE_ENTRY_ACL_TYPE_ACCESS;
	struct acl_ent *e = NULL;
	size_t n = 0;
	int r;

	r = acl_xattr_decode(p, len, &e, &n);
	if (r != 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		int id = -1;

		if (acl_tag_named(e[i].tag)) {
			/* libarchive holds ids in an int, -1 meaning none. */
			if (e[i].id > (uint32_t)INT_MAX) {
				r = -ERANGE;
				goto out;
			}
			id = (int)e[i].id;
		}
		if (archive_entry_acl_add_entry(ae, type,
						acl_perm_to_archive(e[i].perm),
						acl_tag_to_archive(e[i].tag), id,
						NULL) != ARCHIVE_OK) {
			r = -ENOMEM;
			goto out;
		}
	}
out:
	free(e);
	return r;
}
