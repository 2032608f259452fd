/*
 * Tree codec tests: round trips of every node type with every field set,
 * a hand-written golden encoding, canonical ordering, tree_find and
 * tree_add, and the decoder's refusal of each kind of malformed or
 * non-canonical input. Malformed inputs are produced by raw_tree(), an
 * independent writer of the layout in docs/format/tree.md that checks
 * nothing, so the decoder is tested against bytes the encoder would refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "repo/tree.h"
#include "util/buf.h"

static uint8_t *dupb(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	assert_non_null(d);
	if (n)
		memcpy(d, p, n);
	return d;
}

static char *dups(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	return d;
}

static void set_name(struct node *n, const void *name, size_t len)
{
	free(n->name);
	n->name = dupb(name, len);
	n->name_len = len;
}

static void set_link(struct node *n, const void *link, size_t len)
{
	free(n->link);
	n->link = len ? dupb(link, len) : NULL;
	n->link_len = len;
}

static void set_xattr(struct xattr *x, const char *name, const void *v, size_t len)
{
	free(x->name);
	free(x->value);
	x->name = dups(name);
	x->value = len ? dupb(v, len) : NULL;
	x->len = len;
}

/* An ACL in Linux's xattr form: header, then ACL_USER_OBJ, GROUP_OBJ, OTHER. */
static const uint8_t acl_value[] = {
	0x02, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x06, 0x00, 0xff, 0xff, 0xff, 0xff,
	0x04, 0x00, 0x04, 0x00, 0xff, 0xff, 0xff, 0xff,
	0x20, 0x00, 0x04, 0x00, 0xff, 0xff, 0xff, 0xff,
};
static const uint8_t bin_value[] = { 0x00, 0xff, 0x80, 0x00, 0x01, 0x0a };
static const char link_target[] = "../target dir/\xff\x80/x\ny";

/* Fills *n (zeroed first) with every field a node of this type carries. */
static void make_node(struct node *n, const void *name, size_t len,
		      uint8_t type, unsigned seed)
{
	memset(n, 0, sizeof *n);
	set_name(n, name, len);
	n->type = type;
	n->flags = (seed % 4) & NODE_F_KNOWN;
	n->mode = (04000 | 02000 | 01000 | 0640 | seed) & 07777;
	n->uid = 1000 + seed;
	n->gid = 0xfffffffeu - seed;
	n->user = dups(seed % 2 ? "alice" : "");
	n->group = dups("domain users");
	n->atime = (struct ns_time){ INT64_MIN + seed, 999999999 };
	n->mtime = (struct ns_time){ -1 - (int64_t)seed, 1 };
	n->ctime = (struct ns_time){ INT64_MAX - seed, 0 };
	n->inode = 0x1122334455667788ull + seed;
	n->dev = 0xfd00 + seed;
	n->nlink = 1 + seed;
	n->n_xattrs = 4;
	n->xattrs = calloc(n->n_xattrs, sizeof *n->xattrs);
	assert_non_null(n->xattrs);
	set_xattr(&n->xattrs[0], "security.selinux", "system_u:object_r:etc_t:s0", 27);
	set_xattr(&n->xattrs[1], "system.posix_acl_access", acl_value, sizeof acl_value);
	set_xattr(&n->xattrs[2], "user.bin", bin_value, sizeof bin_value);
	set_xattr(&n->xattrs[3], "user.empty", NULL, 0);

	switch (type) {
	case NODE_FILE:
		/* Holes before the first extent, between each, and at the end
		 * except for the last one that ends exactly at size. */
		n->size = (10u << 20) + seed;
		n->n_extents = 4;
		n->extents = calloc(n->n_extents, sizeof *n->extents);
		assert_non_null(n->extents);
		n->extents[0] = (struct extent){ .offset = 4096, .len = 4096 };
		n->extents[1] = (struct extent){ .offset = 8192, .len = 1000 };
		n->extents[2] = (struct extent){ .offset = 1u << 20, .len = 1u << 20 };
		n->extents[3] = (struct extent){ .offset = n->size - 7, .len = 7 };
		for (size_t i = 0; i < n->n_extents; i++)
			memset(n->extents[i].id, (int)(0x10 * i + seed), BLOB_ID_LEN);
		break;
	case NODE_DIR:
		n->size = 4096;
		memset(n->subtree, 0xd0 + (int)seed, BLOB_ID_LEN);
		break;
	case NODE_SYMLINK:
		set_link(n, link_target, sizeof link_target - 1);
		n->size = sizeof link_target - 1;
		break;
	case NODE_CHR:
		n->rdev = 0x0501;
		break;
	case NODE_BLK:
		n->rdev = 0xffffffff00000001ull;
		break;
	default:
		break;
	}
}

static char long_name[TREE_MAX_NAME];

/* Sorted by name; index 0..N_SPECS-1. */
static const struct {
	const char *name; /* NULL: long_name */
	size_t len;
	uint8_t type;
} specs[] = {
	{ "\n", 1, NODE_FIFO },
	{ " x", 2, NODE_SOCK },
	{ "...", 3, NODE_DIR },
	{ ".a", 2, NODE_FILE },
	{ NULL, TREE_MAX_NAME, NODE_FILE },
	{ "blk", 3, NODE_BLK },
	{ "chr", 3, NODE_CHR },
	{ "dir", 3, NODE_DIR },
	{ "fifo", 4, NODE_FIFO },
	{ "fil", 3, NODE_SYMLINK },
	{ "file", 4, NODE_FILE },
	{ "link", 4, NODE_SYMLINK },
	{ "new\nline", 8, NODE_DIR },
	{ "sock", 4, NODE_SOCK },
	{ "with space", 10, NODE_FILE },
	{ "\x80", 1, NODE_SYMLINK },
	{ "\xff\x80", 2, NODE_FILE },
	{ "\xff\xff", 2, NODE_CHR },
};
#define N_SPECS (sizeof specs / sizeof specs[0])

static const uint8_t *spec_name(size_t i)
{
	return specs[i].name ? (const uint8_t *)specs[i].name :
			       (const uint8_t *)long_name;
}

/* Builds the spec tree, adding nodes in the given order (NULL: sorted). */
static void build_tree(struct tree *t, const size_t *order)
{
	tree_init(t);
	for (size_t k = 0; k < N_SPECS; k++) {
		size_t i = order ? order[k] : k;
		struct node n;

		make_node(&n, spec_name(i), specs[i].len, specs[i].type, (unsigned)i);
		assert_int_equal(tree_add(t, &n), 0);
	}
}

static void assert_node_equal(const struct node *a, const struct node *b)
{
	assert_int_equal(a->name_len, b->name_len);
	assert_memory_equal(a->name, b->name, a->name_len);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_string_equal(a->user ? a->user : "", b->user ? b->user : "");
	assert_string_equal(a->group ? a->group : "", b->group ? b->group : "");
	assert_true(a->atime.sec == b->atime.sec);
	assert_int_equal(a->atime.nsec, b->atime.nsec);
	assert_true(a->mtime.sec == b->mtime.sec);
	assert_int_equal(a->mtime.nsec, b->mtime.nsec);
	assert_true(a->ctime.sec == b->ctime.sec);
	assert_int_equal(a->ctime.nsec, b->ctime.nsec);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->inode, b->inode);
	assert_int_equal(a->dev, b->dev);
	assert_int_equal(a->nlink, b->nlink);
	assert_int_equal(a->rdev, b->rdev);
	assert_int_equal(a->link_len, b->link_len);
	if (a->link_len)
		assert_memory_equal(a->link, b->link, a->link_len);
	assert_int_equal(a->n_xattrs, b->n_xattrs);
	for (size_t i = 0; i < a->n_xattrs; i++) {
		assert_string_equal(a->xattrs[i].name, b->xattrs[i].name);
		assert_int_equal(a->xattrs[i].len, b->xattrs[i].len);
		if (a->xattrs[i].len)
			assert_memory_equal(a->xattrs[i].value, b->xattrs[i].value,
					    a->xattrs[i].len);
	}
	assert_int_equal(a->n_extents, b->n_extents);
	for (size_t i = 0; i < a->n_extents; i++) {
		assert_int_equal(a->extents[i].offset, b->extents[i].offset);
		assert_int_equal(a->extents[i].len, b->extents[i].len);
		assert_memory_equal(a->extents[i].id, b->extents[i].id, BLOB_ID_LEN);
	}
	if (a->type == NODE_DIR)
		assert_memory_equal(a->subtree, b->subtree, BLOB_ID_LEN);
}

/* Writes the layout of docs/format/tree.md without checking anything. */
static void raw_node(struct buf *b, const struct node *n)
{
	const struct ns_time *times[] = { &n->atime, &n->mtime, &n->ctime };

	assert_int_equal(buf_put_bytes(b, n->name, n->name_len), 0);
	assert_int_equal(buf_put_u8(b, n->type), 0);
	assert_int_equal(buf_put_u32(b, n->flags), 0);
	assert_int_equal(buf_put_u32(b, n->mode), 0);
	assert_int_equal(buf_put_u32(b, n->uid), 0);
	assert_int_equal(buf_put_u32(b, n->gid), 0);
	assert_int_equal(buf_put_str(b, n->user), 0);
	assert_int_equal(buf_put_str(b, n->group), 0);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(buf_put_u64(b, (uint64_t)times[i]->sec), 0);
		assert_int_equal(buf_put_u32(b, times[i]->nsec), 0);
	}
	assert_int_equal(buf_put_u64(b, n->size), 0);
	assert_int_equal(buf_put_u64(b, n->inode), 0);
	assert_int_equal(buf_put_u64(b, n->dev), 0);
	assert_int_equal(buf_put_u32(b, n->nlink), 0);
	assert_int_equal(buf_put_u64(b, n->rdev), 0);
	assert_int_equal(buf_put_bytes(b, n->link, n->link_len), 0);
	assert_int_equal(buf_put_u32(b, (uint32_t)n->n_xattrs), 0);
	for (size_t i = 0; i < n->n_xattrs; i++) {
		assert_int_equal(buf_put_str(b, n->xattrs[i].name), 0);
		assert_int_equal(buf_put_bytes(b, n->xattrs[i].value,
					       n->xattrs[i].len), 0);
	}
	if (n->type == NODE_FILE) {
		assert_int_equal(buf_put_u32(b, (uint32_t)n->n_extents), 0);
		for (size_t i = 0; i < n->n_extents; i++) {
			assert_int_equal(buf_put_u64(b, n->extents[i].offset), 0);
			assert_int_equal(buf_put_u32(b, n->extents[i].len), 0);
			assert_int_equal(buf_put(b, n->extents[i].id, BLOB_ID_LEN), 0);
		}
	}
	if (n->type == NODE_DIR)
		assert_int_equal(buf_put(b, n->subtree, BLOB_ID_LEN), 0);
}

static void raw_tree(struct buf *b, uint32_t version, const struct tree *t)
{
	buf_reset(b);
	assert_int_equal(buf_put_u32(b, version), 0);
	assert_int_equal(buf_put_u32(b, (uint32_t)t->n), 0);
	for (size_t i = 0; i < t->n; i++)
		raw_node(b, &t->nodes[i]);
}

static int setup(void **state)
{
	memset(long_name, 'L', sizeof long_name);
	long_name[0] = 'B'; /* keeps it between ".a" and "blk" */
	long_name[sizeof long_name - 1] = 'z';
	return 0;
}

static void test_round_trip(void **state)
{
	struct tree t, d;
	struct buf enc = { 0 }, enc2 = { 0 }, raw = { 0 };

	build_tree(&t, NULL);
	assert_int_equal(tree_encode(&t, &enc), 0);

	/* The encoder writes exactly the documented layout. */
	raw_tree(&raw, TREE_FORMAT_VERSION, &t);
	assert_int_equal(raw.len, enc.len);
	assert_memory_equal(raw.data, enc.data, enc.len);

	assert_int_equal(tree_decode(enc.data, enc.len, &d), 0);
	assert_int_equal(d.n, N_SPECS);
	for (size_t i = 0; i < N_SPECS; i++) {
		const struct node *n = &d.nodes[i];

		assert_node_equal(&t.nodes[i], n);
		/* Decoded members are heap copies, not pointers into the input. */
		assert_true(n->name < enc.data || n->name >= enc.data + enc.len);
		assert_non_null(n->user);
		assert_non_null(n->group);
		if (n->type != NODE_SYMLINK)
			assert_int_equal(n->link_len, 0);
	}
	assert_int_equal(tree_encode(&d, &enc2), 0);
	assert_int_equal(enc2.len, enc.len);
	assert_memory_equal(enc2.data, enc.data, enc.len);

	tree_fini(&d);
	tree_fini(&t);
	buf_fini(&enc);
	buf_fini(&enc2);
	buf_fini(&raw);
}

static void test_empty_tree(void **state)
{
	static const uint8_t want[] = { 1, 0, 0, 0, 0, 0, 0, 0 };
	struct tree t, d;
	struct buf enc = { 0 };

	tree_init(&t);
	assert_int_equal(tree_encode(&t, &enc), 0);
	assert_int_equal(enc.len, sizeof want);
	assert_memory_equal(enc.data, want, sizeof want);
	assert_int_equal(tree_decode(want, sizeof want, &d), 0);
	assert_int_equal(d.n, 0);
	tree_fini(&d);
	buf_fini(&enc);
}

/* A FILE "f" with one extent and a FIFO "p" with one xattr, by hand. */
static const uint8_t golden[] = {
	0x01, 0x00, 0x00, 0x00,                         /* version */
	0x02, 0x00, 0x00, 0x00,                         /* n_nodes */
	/* node "f" */
	0x01, 0x00, 0x00, 0x00, 'f',                    /* name */
	0x01,                                           /* type FILE */
	0x03, 0x00, 0x00, 0x00,                         /* flags */
	0x00, 0x00, 0x00, 0x00,                         /* mode */
	0x00, 0x00, 0x00, 0x00,                         /* uid */
	0x00, 0x00, 0x00, 0x00,                         /* gid */
	0x00, 0x00, 0x00, 0x00,                         /* user "" */
	0x00, 0x00, 0x00, 0x00,                         /* group "" */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,             /* atime */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,             /* mtime */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,             /* ctime */
	0x0a, 0, 0, 0, 0, 0, 0, 0,                      /* size 10 */
	0, 0, 0, 0, 0, 0, 0, 0,                         /* inode */
	0, 0, 0, 0, 0, 0, 0, 0,                         /* dev */
	0x01, 0x00, 0x00, 0x00,                         /* nlink */
	0, 0, 0, 0, 0, 0, 0, 0,                         /* rdev */
	0x00, 0x00, 0x00, 0x00,                         /* link "" */
	0x00, 0x00, 0x00, 0x00,                         /* n_xattrs */
	0x01, 0x00, 0x00, 0x00,                         /* n_extents */
	0x02, 0, 0, 0, 0, 0, 0, 0,                      /* offset 2 */
	0x08, 0x00, 0x00, 0x00,                         /* len 8 */
	0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, /* id */
	0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
	0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
	0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
	/* node "p" */
	0x01, 0x00, 0x00, 0x00, 'p',                    /* name */
	0x04,                                           /* type FIFO */
	0x00, 0x00, 0x00, 0x00,                         /* flags */
	0xa4, 0x01, 0x00, 0x00,                         /* mode 0644 */
	0x01, 0x00, 0x00, 0x00,                         /* uid 1 */
	0x02, 0x00, 0x00, 0x00,                         /* gid 2 */
	0x01, 0x00, 0x00, 0x00, 'u',                    /* user "u" */
	0x00, 0x00, 0x00, 0x00,                         /* group "" */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* atime -1 s */
	0x05, 0x00, 0x00, 0x00,                         /* + 5 ns */
	0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,          /* mtime 1 s */
	0, 0, 0, 0, 0, 0, 0, 0,                         /* ctime 0 s */
	0xff, 0xc9, 0x9a, 0x3b,                         /* + 999999999 ns */
	0, 0, 0, 0, 0, 0, 0, 0,                         /* size */
	0x07, 0, 0, 0, 0, 0, 0, 0,                      /* inode 7 */
	0x08, 0, 0, 0, 0, 0, 0, 0,                      /* dev 8 */
	0x01, 0x00, 0x00, 0x00,                         /* nlink */
	0, 0, 0, 0, 0, 0, 0, 0,                         /* rdev */
	0x00, 0x00, 0x00, 0x00,                         /* link "" */
	0x01, 0x00, 0x00, 0x00,                         /* n_xattrs */
	0x06, 0x00, 0x00, 0x00, 'u', 's', 'e', 'r', '.', 'k',
	0x02, 0x00, 0x00, 0x00, 0x00, 0xff,             /* value */
};

static void test_golden(void **state)
{
	struct tree t, d;
	struct node n = { 0 };
	struct buf enc = { 0 };

	tree_init(&t);
	set_name(&n, "p", 1);
	n.type = NODE_FIFO;
	n.mode = 0644;
	n.uid = 1;
	n.gid = 2;
	n.user = dups("u"); /* group stays NULL: written as "" */
	n.atime = (struct ns_time){ -1, 5 };
	n.mtime = (struct ns_time){ 1, 0 };
	n.ctime = (struct ns_time){ 0, 999999999 };
	n.inode = 7;
	n.dev = 8;
	n.nlink = 1;
	n.n_xattrs = 1;
	n.xattrs = calloc(1, sizeof *n.xattrs);
	assert_non_null(n.xattrs);
	set_xattr(&n.xattrs[0], "user.k", "\0\xff", 2);
	assert_int_equal(tree_add(&t, &n), 0);

	set_name(&n, "f", 1);
	n.type = NODE_FILE;
	n.flags = NODE_F_CHANGED | NODE_F_INCOMPLETE;
	n.size = 10;
	n.nlink = 1;
	n.n_extents = 1;
	n.extents = calloc(1, sizeof *n.extents);
	assert_non_null(n.extents);
	n.extents[0].offset = 2;
	n.extents[0].len = 8;
	memset(n.extents[0].id, 0xab, BLOB_ID_LEN);
	assert_int_equal(tree_add(&t, &n), 0);

	assert_int_equal(tree_encode(&t, &enc), -EINVAL); /* "p" before "f" */
	tree_sort(&t);
	assert_int_equal(tree_encode(&t, &enc), 0);
	assert_int_equal(enc.len, sizeof golden);
	assert_memory_equal(enc.data, golden, sizeof golden);

	assert_int_equal(tree_decode(golden, sizeof golden, &d), 0);
	assert_int_equal(d.n, 2);
	assert_node_equal(&t.nodes[0], &d.nodes[0]);
	assert_node_equal(&t.nodes[1], &d.nodes[1]);
	assert_true(d.nodes[1].atime.sec == -1);
	assert_string_equal(d.nodes[1].group, "");

	tree_fini(&d);
	tree_fini(&t);
	buf_fini(&enc);
}

static void test_canonical(void **state)
{
	struct tree sorted, shuffled;
	struct buf a = { 0 }, b = { 0 };
	size_t order[N_SPECS];

	for (size_t i = 0; i < N_SPECS; i++)
		order[i] = i;
	/* A fixed permutation: deterministic, and far from sorted. */
	srand(1234);
	for (size_t i = N_SPECS - 1; i > 0; i--) {
		size_t j = (size_t)rand() % (i + 1), x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	build_tree(&sorted, NULL);
	build_tree(&shuffled, order);
	assert_int_equal(tree_encode(&shuffled, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	tree_sort(&shuffled);
	assert_int_equal(tree_encode(&sorted, &a), 0);
	assert_int_equal(tree_encode(&shuffled, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);

	/* Reverse order too: tree_sort handles the worst case. */
	for (size_t i = 0; i < N_SPECS; i++)
		order[i] = N_SPECS - 1 - i;
	tree_fini(&shuffled);
	build_tree(&shuffled, order);
	tree_sort(&shuffled);
	buf_reset(&b);
	assert_int_equal(tree_encode(&shuffled, &b), 0);
	assert_memory_equal(a.data, b.data, a.len);

	tree_fini(&sorted);
	tree_fini(&shuffled);
	buf_fini(&a);
	buf_fini(&b);
}

static void test_find(void **state)
{
	struct tree t;
	uint8_t longer[TREE_MAX_NAME + 1];
	static const struct {
		const char *name;
		size_t len;
	} absent[] = {
		{ "", 0 }, { "a", 1 }, { "fi", 2 }, { "file2", 5 }, { "zzz", 3 },
		{ "dir\0", 4 }, { "\xff", 1 }, { "\x80\x80", 2 }, { ". ", 2 },
	};

	build_tree(&t, NULL);
	for (size_t i = 0; i < N_SPECS; i++)
		assert_ptr_equal(tree_find(&t, spec_name(i), specs[i].len),
				 &t.nodes[i]);
	for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
		assert_null(tree_find(&t, (const uint8_t *)absent[i].name,
				      absent[i].len));
	assert_null(tree_find(&t, (const uint8_t *)long_name, TREE_MAX_NAME - 1));
	memcpy(longer, long_name, TREE_MAX_NAME);
	longer[TREE_MAX_NAME] = 'z';
	assert_null(tree_find(&t, longer, sizeof longer));
	tree_fini(&t);

	tree_init(&t);
	assert_null(tree_find(&t, (const uint8_t *)"a", 1));
}

static void test_add_many(void **state)
{
	struct tree t;
	struct buf enc = { 0 };
	char name[16];
	size_t last_cap = 0, grows = 0;

	tree_init(&t);
	for (int i = 999; i >= 0; i--) {
		struct node n = { 0 };
		int len = snprintf(name, sizeof name, "n%04d", i);

		set_name(&n, name, (size_t)len);
		n.type = NODE_SOCK;
		n.user = dups("x");
		assert_int_equal(tree_add(&t, &n), 0);
		/* Ownership moved: the caller's copy is empty. */
		assert_null(n.name);
		assert_null(n.user);
		assert_int_equal(n.name_len, 0);
		assert_true(t.cap >= t.n);
		if (t.cap != last_cap)
			grows++;
		last_cap = t.cap;
	}
	assert_int_equal(t.n, 1000);
	/* Geometric growth: a dozen reallocations, not one per node, and
	 * not wildly oversized. */
	assert_true(grows <= 12);
	assert_true(t.cap < 4000);
	tree_sort(&t);
	for (int i = 0; i < 1000; i++) {
		int len = snprintf(name, sizeof name, "n%04d", i);
		const struct node *n = tree_find(&t, (const uint8_t *)name, (size_t)len);

		assert_non_null(n);
		assert_ptr_equal(n, &t.nodes[i]);
	}
	assert_int_equal(tree_encode(&t, &enc), 0);
	tree_fini(&t);
	assert_null(t.nodes);
	assert_int_equal(t.n, 0);
	buf_fini(&enc);
}

static void test_fini_zeroed(void **state)
{
	struct node n;
	struct tree t;

	memset(&n, 0, sizeof n);
	memset(&t, 0, sizeof t);
	node_fini(&n);
	tree_fini(&t);
	node_fini(NULL);
	tree_fini(NULL);
	tree_fini(&t); /* twice is fine: fini leaves an empty tree */
}

/* The small valid tree that each rejection case breaks in one place. */
static void base_tree(struct tree *t)
{
	struct node n;

	tree_init(t);
	make_node(&n, "a", 1, NODE_FILE, 1);
	assert_int_equal(tree_add(t, &n), 0);
	make_node(&n, "b", 1, NODE_SYMLINK, 2);
	assert_int_equal(tree_add(t, &n), 0);
	make_node(&n, "c", 1, NODE_DIR, 3);
	assert_int_equal(tree_add(t, &n), 0);
}

static void mut_unsorted(struct tree *t)
{
	struct node x = t->nodes[0];

	t->nodes[0] = t->nodes[1];
	t->nodes[1] = x;
}

static void mut_duplicate(struct tree *t) { set_name(&t->nodes[1], "a", 1); }
static void mut_duplicate_dir(struct tree *t) { set_name(&t->nodes[2], "b", 1); }
static void mut_slash(struct tree *t) { set_name(&t->nodes[0], "a/x", 3); }
static void mut_slash_only(struct tree *t) { set_name(&t->nodes[0], "/", 1); }
static void mut_nul(struct tree *t) { set_name(&t->nodes[0], "a\0x", 3); }
static void mut_dot(struct tree *t) { set_name(&t->nodes[0], ".", 1); }
static void mut_dotdot(struct tree *t) { set_name(&t->nodes[0], "..", 2); }
static void mut_empty_name(struct tree *t) { set_name(&t->nodes[0], "", 0); }

static void mut_long_name(struct tree *t)
{
	uint8_t name[TREE_MAX_NAME + 1];

	memset(name, 'a', sizeof name);
	set_name(&t->nodes[0], name, sizeof name);
}

static void mut_type0(struct tree *t) { t->nodes[2].type = 0; }
static void mut_type8(struct tree *t) { t->nodes[2].type = 8; }
static void mut_type255(struct tree *t) { t->nodes[2].type = 255; }
static void mut_flag4(struct tree *t) { t->nodes[0].flags |= 1u << 2; }
static void mut_flag31(struct tree *t) { t->nodes[1].flags = 1u << 31; }
static void mut_mode(struct tree *t) { t->nodes[0].mode |= 010000; }
static void mut_mode_type(struct tree *t) { t->nodes[2].mode |= 0040000; }
static void mut_atime(struct tree *t) { t->nodes[0].atime.nsec = 1000000000; }
static void mut_mtime(struct tree *t) { t->nodes[1].mtime.nsec = 1000000000; }
static void mut_ctime(struct tree *t) { t->nodes[2].ctime.nsec = UINT32_MAX; }
static void mut_empty_link(struct tree *t) { set_link(&t->nodes[1], NULL, 0); }
static void mut_dir_link(struct tree *t) { set_link(&t->nodes[2], "x", 1); }
static void mut_file_link(struct tree *t) { set_link(&t->nodes[0], "x", 1); }
static void mut_link_nul(struct tree *t) { set_link(&t->nodes[1], "a\0b", 3); }
static void mut_rdev_file(struct tree *t) { t->nodes[0].rdev = 1; }
static void mut_rdev_dir(struct tree *t) { t->nodes[2].rdev = 1ull << 63; }

static void mut_long_link(struct tree *t)
{
	uint8_t *l = malloc(TREE_MAX_LINK + 1);

	assert_non_null(l);
	memset(l, 'l', TREE_MAX_LINK + 1);
	set_link(&t->nodes[1], l, TREE_MAX_LINK + 1);
	free(l);
}

static void mut_long_user(struct tree *t)
{
	char u[TREE_MAX_OWNER_NAME + 2];

	memset(u, 'u', sizeof u - 1);
	u[sizeof u - 1] = 0;
	free(t->nodes[0].user);
	t->nodes[0].user = dups(u);
}

static void mut_long_group(struct tree *t)
{
	char g[TREE_MAX_OWNER_NAME + 2];

	memset(g, 'g', sizeof g - 1);
	g[sizeof g - 1] = 0;
	free(t->nodes[2].group);
	t->nodes[2].group = dups(g);
}

static void mut_xattr_unsorted(struct tree *t)
{
	struct xattr x = t->nodes[0].xattrs[1];

	t->nodes[0].xattrs[1] = t->nodes[0].xattrs[2];
	t->nodes[0].xattrs[2] = x;
}

static void mut_xattr_dup(struct tree *t)
{
	set_xattr(&t->nodes[1].xattrs[3], "user.bin", "v", 1);
}

static void mut_xattr_empty_name(struct tree *t)
{
	set_xattr(&t->nodes[2].xattrs[0], "", "v", 1);
}

static void mut_xattr_long_name(struct tree *t)
{
	char name[TREE_MAX_XATTR_NAME + 2];

	memset(name, 'z', sizeof name - 1);
	name[sizeof name - 1] = 0;
	set_xattr(&t->nodes[2].xattrs[3], name, "v", 1);
}

static void mut_xattr_long_value(struct tree *t)
{
	uint8_t *v = calloc(1, TREE_MAX_XATTR_VALUE + 1);

	assert_non_null(v);
	set_xattr(&t->nodes[0].xattrs[2], "user.bin", v, TREE_MAX_XATTR_VALUE + 1);
	free(v);
}

static void mut_xattr_too_many(struct tree *t)
{
	struct node *n = &t->nodes[2];
	char name[32];

	for (size_t i = 0; i < n->n_xattrs; i++) {
		free(n->xattrs[i].name);
		free(n->xattrs[i].value);
	}
	free(n->xattrs);
	n->n_xattrs = TREE_MAX_XATTRS + 1;
	n->xattrs = calloc(n->n_xattrs, sizeof *n->xattrs);
	assert_non_null(n->xattrs);
	for (size_t i = 0; i < n->n_xattrs; i++) {
		snprintf(name, sizeof name, "user.%05zu", i);
		set_xattr(&n->xattrs[i], name, NULL, 0);
	}
}

static void mut_ext_overlap(struct tree *t)
{
	struct extent *x = t->nodes[0].extents;

	x[1].offset = x[0].offset + x[0].len - 1;
}

static void mut_ext_same(struct tree *t)
{
	struct extent *x = t->nodes[0].extents;

	x[1].offset = x[0].offset;
}

static void mut_ext_descending(struct tree *t)
{
	struct extent *x = t->nodes[0].extents, s = x[2];

	x[2] = x[1];
	x[1] = s;
}

static void mut_ext_beyond(struct tree *t) { t->nodes[0].extents[3].len++; }
static void mut_ext_small_size(struct tree *t) { t->nodes[0].size--; }
static void mut_ext_zero_len(struct tree *t) { t->nodes[0].extents[1].len = 0; }

static void mut_ext_wrap(struct tree *t)
{
	struct node *n = &t->nodes[0];

	/* offset + len wraps to a small number: must not pass as <= size. */
	n->size = UINT64_MAX;
	n->extents[3].offset = UINT64_MAX - 10;
	n->extents[3].len = 100;
}

static const struct {
	const char *what;
	void (*mutate)(struct tree *t);
} rejects[] = {
	{ "unsorted", mut_unsorted },
	{ "duplicate name", mut_duplicate },
	{ "duplicate name (last)", mut_duplicate_dir },
	{ "slash in name", mut_slash },
	{ "name \"/\"", mut_slash_only },
	{ "NUL in name", mut_nul },
	{ "name \".\"", mut_dot },
	{ "name \"..\"", mut_dotdot },
	{ "empty name", mut_empty_name },
	{ "256-byte name", mut_long_name },
	{ "type 0", mut_type0 },
	{ "type 8", mut_type8 },
	{ "type 255", mut_type255 },
	{ "flag bit 2", mut_flag4 },
	{ "flag bit 31", mut_flag31 },
	{ "mode 010000", mut_mode },
	{ "mode with S_IFDIR", mut_mode_type },
	{ "atime nsec", mut_atime },
	{ "mtime nsec", mut_mtime },
	{ "ctime nsec", mut_ctime },
	{ "symlink without target", mut_empty_link },
	{ "dir with link", mut_dir_link },
	{ "file with link", mut_file_link },
	{ "NUL in link", mut_link_nul },
	{ "link too long", mut_long_link },
	{ "rdev on file", mut_rdev_file },
	{ "rdev on dir", mut_rdev_dir },
	{ "user too long", mut_long_user },
	{ "group too long", mut_long_group },
	{ "xattrs unsorted", mut_xattr_unsorted },
	{ "xattr duplicate", mut_xattr_dup },
	{ "xattr empty name", mut_xattr_empty_name },
	{ "xattr name too long", mut_xattr_long_name },
	{ "xattr value too long", mut_xattr_long_value },
	{ "too many xattrs", mut_xattr_too_many },
	{ "extents overlap", mut_ext_overlap },
	{ "extents same offset", mut_ext_same },
	{ "extents descending", mut_ext_descending },
	{ "extent beyond size", mut_ext_beyond },
	{ "size below last extent", mut_ext_small_size },
	{ "extent of length 0", mut_ext_zero_len },
	{ "extent end wraps", mut_ext_wrap },
};

static void test_rejects(void **state)
{
	struct buf raw = { 0 }, enc = { 0 };
	struct tree t, d;

	/* The base is valid, and raw_tree writes what the encoder writes. */
	base_tree(&t);
	raw_tree(&raw, TREE_FORMAT_VERSION, &t);
	assert_int_equal(tree_encode(&t, &enc), 0);
	assert_int_equal(raw.len, enc.len);
	assert_memory_equal(raw.data, enc.data, enc.len);
	assert_int_equal(tree_decode(raw.data, raw.len, &d), 0);
	tree_fini(&d);
	tree_fini(&t);

	for (size_t i = 0; i < sizeof rejects / sizeof rejects[0]; i++) {
		print_message("reject: %s\n", rejects[i].what);
		base_tree(&t);
		rejects[i].mutate(&t);
		raw_tree(&raw, TREE_FORMAT_VERSION, &t);
		/* Out-params are set only on success. */
		memset(&d, 0x5a, sizeof d);
		assert_int_equal(tree_decode(raw.data, raw.len, &d), -EBADMSG);
		assert_int_equal(d.n, 0x5a5a5a5a5a5a5a5aull);
		buf_reset(&enc);
		assert_int_equal(tree_encode(&t, &enc), -EINVAL);
		assert_int_equal(enc.len, 0);
		tree_fini(&t);
	}
	buf_fini(&raw);
	buf_fini(&enc);
}

/* The encoder refuses fields that its layout would silently drop. */
static void test_encode_rejects_dropped_fields(void **state)
{
	struct tree t;
	struct buf enc = { 0 };
	struct node *dir;

	base_tree(&t);
	dir = &t.nodes[2];
	dir->n_extents = 1;
	dir->extents = calloc(1, sizeof *dir->extents);
	assert_non_null(dir->extents);
	dir->extents[0].len = 1;
	dir->size = 10;
	assert_int_equal(tree_encode(&t, &enc), -EINVAL);
	tree_fini(&t);
	buf_fini(&enc);
}

/* Replaces the first occurrence of from with to (same length) in b. */
static void patch(struct buf *b, const void *from, const void *to, size_t n)
{
	uint8_t *p = memmem(b->data, b->len, from, n);

	assert_non_null(p);
	memcpy(p, to, n);
}

/* Strings that a C struct cannot carry: NUL bytes inside encoded strings. */
static void test_rejects_nul_in_strings(void **state)
{
	static const struct {
		const char *from, *to;
		size_t n;
	} cases[] = {
		{ "user.bin", "user\0bin", 8 },
		{ "security.selinux", "security.selinu\0", 16 },
		{ "alice", "al\0ce", 5 },
		{ "domain users", "domain\0users", 12 },
	};
	struct buf b = { 0 };
	struct tree t, d;

	base_tree(&t);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_reset(&b);
		assert_int_equal(tree_encode(&t, &b), 0);
		patch(&b, cases[i].from, cases[i].to, cases[i].n);
		assert_int_equal(tree_decode(b.data, b.len, &d), -EBADMSG);
	}
	tree_fini(&t);
	buf_fini(&b);
}

static void test_truncated_and_trailing(void **state)
{
	struct tree t, d;
	struct buf b = { 0 };

	build_tree(&t, NULL);
	assert_int_equal(tree_encode(&t, &b), 0);
	for (size_t len = 0; len < b.len; len++) {
		/* A copy of exactly len bytes, so ASan catches any over-read. */
		uint8_t *p = malloc(len ? len : 1);

		assert_non_null(p);
		memcpy(p, b.data, len);
		if (tree_decode(p, len, &d) != -EBADMSG)
			fail_msg("truncation to %zu of %zu bytes accepted", len, b.len);
		free(p);
	}
	assert_int_equal(buf_put_u8(&b, 0), 0);
	assert_int_equal(tree_decode(b.data, b.len, &d), -EBADMSG);
	tree_fini(&t);
	buf_fini(&b);
}

static void test_version(void **state)
{
	struct tree t, d;
	struct buf b = { 0 };

	base_tree(&t);
	raw_tree(&b, 2, &t);
	assert_int_equal(tree_decode(b.data, b.len, &d), -ENOTSUP);
	raw_tree(&b, 0, &t);
	assert_int_equal(tree_decode(b.data, b.len, &d), -ENOTSUP);
	raw_tree(&b, UINT32_MAX, &t);
	assert_int_equal(tree_decode(b.data, b.len, &d), -ENOTSUP);
	/* The version is judged before anything else. */
	assert_int_equal(tree_decode((const uint8_t *)"\2\0\0\0", 4, &d), -ENOTSUP);
	tree_fini(&t);
	buf_fini(&b);
}

/*
 * Hostile counts with short inputs must fail before allocating: under
 * ASan a multi-gigabyte calloc would abort the test, and the clock check
 * catches a decoder that loops over the count.
 */
static void test_huge_counts(void **state)
{
	struct tree t, d;
	struct node n = { 0 };
	struct buf b = { 0 };
	clock_t start = clock();
	static const uint8_t huge_nodes[] = { 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
					      1, 0, 0, 0, 'a', 1 };

	assert_int_equal(tree_decode(huge_nodes, sizeof huge_nodes, &d), -EBADMSG);

	/* One node with no xattrs: its n_xattrs is the last field. */
	tree_init(&t);
	set_name(&n, "p", 1);
	n.type = NODE_FIFO;
	assert_int_equal(tree_add(&t, &n), 0);
	assert_int_equal(tree_encode(&t, &b), 0);
	memset(b.data + b.len - 4, 0xff, 4);
	for (int i = 0; i < 64; i++)
		assert_int_equal(buf_put_u8(&b, 0), 0);
	assert_int_equal(tree_decode(b.data, b.len, &d), -EBADMSG);
	tree_fini(&t);

	/* One FILE with no xattrs and no extents: n_extents is last. */
	set_name(&n, "f", 1);
	n.type = NODE_FILE;
	assert_int_equal(tree_add(&t, &n), 0);
	buf_reset(&b);
	assert_int_equal(tree_encode(&t, &b), 0);
	memset(b.data + b.len - 4, 0xff, 4);
	for (int i = 0; i < 64; i++)
		assert_int_equal(buf_put_u8(&b, 0), 0);
	assert_int_equal(tree_decode(b.data, b.len, &d), -EBADMSG);

	/* A count one higher than the nodes present. */
	buf_reset(&b);
	assert_int_equal(tree_encode(&t, &b), 0);
	b.data[4] = 2;
	assert_int_equal(tree_decode(b.data, b.len, &d), -EBADMSG);

	tree_fini(&t);
	buf_fini(&b);
	assert_true((double)(clock() - start) / CLOCKS_PER_SEC < 1.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_empty_tree),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_add_many),
		cmocka_unit_test(test_fini_zeroed),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_encode_rejects_dropped_fields),
		cmocka_unit_test(test_rejects_nul_in_strings),
		cmocka_unit_test(test_truncated_and_trailing),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_huge_counts),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
