/*
 * Trees: one encoded directory listing per blob, with full POSIX metadata.
 * Nodes are sorted by name (bytewise) and names are unique, so equal
 * directories encode to equal bytes and deduplicate. Layout:
 * docs/format/tree.md.
 */
#ifndef COFFER_REPO_TREE_H
#define COFFER_REPO_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "repo/blob.h"
#include "util/buf.h"

#define TREE_FORMAT_VERSION 1
#define TREE_MAX_NAME 255          /* bytes, as NAME_MAX */
#define TREE_MAX_LINK 65536        /* symlink target bytes */
#define TREE_MAX_XATTRS 4096       /* per node */
#define TREE_MAX_XATTR_NAME 255
#define TREE_MAX_XATTR_VALUE 65536
#define TREE_MAX_OWNER_NAME 256

enum node_type {
	NODE_FILE = 1,
	NODE_DIR = 2,
	NODE_SYMLINK = 3,
	NODE_FIFO = 4,
	NODE_CHR = 5,
	NODE_BLK = 6,
	NODE_SOCK = 7,
};

enum node_flags {
	/* The file changed while it was read: content may be inconsistent. */
	NODE_F_CHANGED = 1u << 0,
	/* The content could not be read completely: restore reports it. */
	NODE_F_INCOMPLETE = 1u << 1,
};
#define NODE_F_KNOWN (NODE_F_CHANGED | NODE_F_INCOMPLETE)

struct ns_time {
	int64_t sec;
	uint32_t nsec; /* < 1e9 */
};

struct xattr {
	char *name;      /* NUL-terminated, non-empty, no NUL inside */
	uint8_t *value;
	size_t len;
};

/* One content chunk of a regular file: len bytes at offset, blob id. */
struct extent {
	uint64_t offset;
	uint32_t len;
	uint8_t id[BLOB_ID_LEN];
};

struct node {
	uint8_t *name;         /* not NUL-terminated; no '/' or NUL; not "." or ".." */
	size_t name_len;       /* 1..TREE_MAX_NAME */
	uint8_t type;          /* enum node_type */
	uint32_t flags;        /* enum node_flags */
	uint32_t mode;         /* st_mode permission bits incl. setuid/setgid/sticky (07777) */
	uint32_t uid, gid;
	char *user, *group;    /* names at backup time; may be empty strings */
	struct ns_time atime, mtime, ctime;
	uint64_t size;         /* logical size (files: apparent size incl. holes) */
	uint64_t inode, dev;   /* identify hard links within one snapshot */
	uint32_t nlink;
	uint64_t rdev;         /* CHR/BLK only */
	uint8_t *link;         /* SYMLINK target bytes (may contain anything but NUL) */
	size_t link_len;
	struct xattr *xattrs;  /* sorted by name; ACLs are system.posix_acl_* */
	size_t n_xattrs;
	struct extent *extents;/* FILE only: ascending, non-overlapping, within size */
	size_t n_extents;
	uint8_t subtree[BLOB_ID_LEN]; /* DIR only: ID of the tree blob */
};

struct tree {
	struct node *nodes;
	size_t n;
	size_t cap;            /* slots allocated in nodes (tree_add grows it) */
};

void node_fini(struct node *n);
/* Copies src's link target and xattrs into dst's empty ones; 0 or -ENOMEM (then node_fini dst). */
int node_copy_link_xattrs(struct node *dst, const struct node *src);
void tree_init(struct tree *t);
void tree_fini(struct tree *t);
/* Sorts nodes by name (call before encoding trees built in any order). */
void tree_sort(struct tree *t);
/* Binary search by name; NULL if absent. */
const struct node *tree_find(const struct tree *t, const uint8_t *name, size_t len);
/*
 * Appends a node, taking ownership of its allocated members (the caller's
 * copy is zeroed). Returns 0 or -ENOMEM.
 */
int tree_add(struct tree *t, struct node *n);

/* -EINVAL if the tree breaks an invariant (unsorted, bad name...). */
int tree_encode(const struct tree *t, struct buf *out);
/* Strict decoder: -EBADMSG on any malformed or non-canonical input. */
int tree_decode(const uint8_t *p, size_t len, struct tree *t);

#endif
