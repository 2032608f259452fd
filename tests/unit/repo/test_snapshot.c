/*
 * Snapshot codec tests: round trips with every field set, with and without
 * a parent, a hand-written golden encoding, NULL members, and the decoder's
 * refusal of truncated, padded, non-canonical and over-long input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "repo/snapshot.h"
#include "util/buf.h"

static char *dups(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	return d;
}

static char **strv(const char *const *v, size_t n)
{
	char **out = calloc(n, sizeof *out);

	assert_non_null(out);
	for (size_t i = 0; i < n; i++)
		out[i] = dups(v[i]);
	return out;
}

static const char *const paths[] = { "/srv/a", "/etc", "/home/with space/\xff\x80" };
static const char *const tags[] = { "daily", "", "légal\nhold" };

static void make_snapshot(struct snapshot *s, bool parent)
{
	snapshot_init(s);
	s->time = (struct ns_time){ 1717171717, 123456789 };
	s->hostname = dups("backup-01.example.gov");
	s->username = dups("root");
	s->uid = 0;
	s->gid = 0xfffffffe;
	s->paths = strv(paths, 3);
	s->n_paths = 3;
	s->tags = strv(tags, 3);
	s->n_tags = 3;
	s->source = dups("fs");
	s->dataset = dups("finance");
	s->program = dups("coffer 0.1.0");
	memset(s->tree, 0x7e, sizeof s->tree);
	s->has_parent = parent;
	if (parent)
		memset(s->parent, 0xa5, sizeof s->parent);
	s->stats = (struct snapshot_stats){
		.files = 1, .dirs = 2, .others = 3, .bytes = 4,
		.bytes_read = 5, .blobs_added = 6, .bytes_added = 7,
		.stored_added = 8, .errors = 9, .duration_ns = UINT64_MAX,
	};
}

static void assert_snapshot_equal(const struct snapshot *a, const struct snapshot *b)
{
	assert_true(a->time.sec == b->time.sec);
	assert_int_equal(a->time.nsec, b->time.nsec);
	assert_string_equal(a->hostname ? a->hostname : "", b->hostname);
	assert_string_equal(a->username ? a->username : "", b->username);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_int_equal(a->n_paths, b->n_paths);
	for (size_t i = 0; i < a->n_paths; i++)
		assert_string_equal(a->paths[i], b->paths[i]);
	assert_int_equal(a->n_tags, b->n_tags);
	for (size_t i = 0; i < a->n_tags; i++)
		assert_string_equal(a->tags[i] ? a->tags[i] : "", b->tags[i]);
	assert_string_equal(a->source ? a->source : "", b->source);
	assert_string_equal(a->dataset ? a->dataset : "", b->dataset);
	assert_string_equal(a->program ? a->program : "", b->program);
	assert_memory_equal(a->tree, b->tree, sizeof a->tree);
	assert_int_equal(a->has_parent, b->has_parent);
	if (a->has_parent)
		assert_memory_equal(a->parent, b->parent, sizeof a->parent);
	assert_memory_equal(&a->stats, &b->stats, sizeof a->stats);
}

static void round_trip(bool parent)
{
	struct snapshot s, d;
	struct buf a = { 0 }, b = { 0 };

	make_snapshot(&s, parent);
	assert_int_equal(snapshot_encode(&s, &a), 0);
	assert_int_equal(snapshot_decode(a.data, a.len, &d), 0);
	assert_snapshot_equal(&s, &d);
	if (!parent) {
		static const uint8_t zero[32];

		assert_memory_equal(d.parent, zero, sizeof zero);
	}
	assert_int_equal(snapshot_encode(&d, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	snapshot_fini(&s);
	snapshot_fini(&d);
	buf_fini(&a);
	buf_fini(&b);
}

static void test_round_trip_parent(void **state) { round_trip(true); }
static void test_round_trip_no_parent(void **state) { round_trip(false); }

/* Everything empty or NULL: strings come back as "", never NULL. */
static void test_null_members(void **state)
{
	struct snapshot s, d;
	struct buf b = { 0 };
	char *tagv[1] = { NULL };

	snapshot_init(&s);
	s.time.sec = INT64_MIN;
	s.tags = tagv;
	s.n_tags = 1;
	assert_int_equal(snapshot_encode(&s, &b), 0);
	assert_int_equal(snapshot_decode(b.data, b.len, &d), 0);
	assert_true(d.time.sec == INT64_MIN);
	assert_non_null(d.hostname);
	assert_non_null(d.username);
	assert_non_null(d.source);
	assert_non_null(d.dataset);
	assert_non_null(d.program);
	assert_string_equal(d.hostname, "");
	assert_int_equal(d.n_paths, 0);
	assert_int_equal(d.n_tags, 1);
	assert_string_equal(d.tags[0], "");
	assert_false(d.has_parent);
	snapshot_fini(&d);
	buf_fini(&b);

	/* fini accepts a zeroed struct, NULL, and leaves a zeroed struct. */
	snapshot_fini(&d);
	snapshot_fini(NULL);
	assert_null(d.hostname);
}

static const uint8_t golden[] = {
	0x01, 0x00, 0x00, 0x00,                         /* version */
	0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* time -2 s */
	0x07, 0x00, 0x00, 0x00,                         /* + 7 ns */
	0x01, 0x00, 0x00, 0x00, 'h',                    /* hostname */
	0x00, 0x00, 0x00, 0x00,                         /* username "" */
	0x01, 0x00, 0x00, 0x00,                         /* uid */
	0x02, 0x00, 0x00, 0x00,                         /* gid */
	0x01, 0x00, 0x00, 0x00,                         /* n_paths */
	0x02, 0x00, 0x00, 0x00, '/', 'p',
	0x02, 0x00, 0x00, 0x00,                         /* n_tags */
	0x01, 0x00, 0x00, 0x00, 't',
	0x00, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 'f', 's',               /* source */
	0x01, 0x00, 0x00, 0x00, 'd',                    /* dataset */
	0x01, 0x00, 0x00, 0x00, 'c',                    /* program */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* tree */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0x01,                                           /* has_parent */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* parent */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	10, 0, 0, 0, 0, 0, 0, 0,                        /* files */
	11, 0, 0, 0, 0, 0, 0, 0,                        /* dirs */
	12, 0, 0, 0, 0, 0, 0, 0,                        /* others */
	13, 0, 0, 0, 0, 0, 0, 0,                        /* bytes */
	14, 0, 0, 0, 0, 0, 0, 0,                        /* bytes_read */
	15, 0, 0, 0, 0, 0, 0, 0,                        /* blobs_added */
	16, 0, 0, 0, 0, 0, 0, 0,                        /* bytes_added */
	17, 0, 0, 0, 0, 0, 0, 0,                        /* stored_added */
	18, 0, 0, 0, 0, 0, 0, 0,                        /* errors */
	19, 0, 0, 0, 0, 0, 0, 0x80,                     /* duration_ns */
};

static void test_golden(void **state)
{
	static const char *const p[] = { "/p" }, *const t[] = { "t", "" };
	struct snapshot s, d;
	struct buf b = { 0 };

	snapshot_init(&s);
	s.time = (struct ns_time){ -2, 7 };
	s.hostname = dups("h");
	s.uid = 1;
	s.gid = 2;
	s.paths = strv(p, 1);
	s.n_paths = 1;
	s.tags = strv(t, 2);
	s.n_tags = 2;
	s.source = dups("fs");
	s.dataset = dups("d");
	s.program = dups("c");
	memset(s.tree, 1, sizeof s.tree);
	s.has_parent = true;
	memset(s.parent, 2, sizeof s.parent);
	s.stats = (struct snapshot_stats){ 10, 11, 12, 13, 14, 15, 16, 17, 18,
					   19 | 1ull << 63 };
	assert_int_equal(snapshot_encode(&s, &b), 0);
	assert_int_equal(b.len, sizeof golden);
	assert_memory_equal(b.data, golden, sizeof golden);
	assert_int_equal(snapshot_decode(golden, sizeof golden, &d), 0);
	assert_snapshot_equal(&s, &d);
	snapshot_fini(&s);
	snapshot_fini(&d);
	buf_fini(&b);
}

static void truncations(bool parent)
{
	struct snapshot s, d;
	struct buf b = { 0 };

	make_snapshot(&s, parent);
	assert_int_equal(snapshot_encode(&s, &b), 0);
	for (size_t len = 0; len < b.len; len++) {
		/* An exact-size copy, so ASan sees any over-read. */
		uint8_t *p = malloc(len ? len : 1);

		assert_non_null(p);
		memcpy(p, b.data, len);
		if (snapshot_decode(p, len, &d) != -EBADMSG)
			fail_msg("truncation to %zu of %zu bytes accepted", len, b.len);
		free(p);
	}
	assert_int_equal(buf_put_u8(&b, 0), 0);
	memset(&d, 0x5a, sizeof d);
	assert_int_equal(snapshot_decode(b.data, b.len, &d), -EBADMSG);
	assert_int_equal(d.n_paths, 0x5a5a5a5a5a5a5a5aull); /* untouched */
	snapshot_fini(&s);
	buf_fini(&b);
}

static void test_truncated_and_trailing(void **state)
{
	truncations(true);
	truncations(false);
}

/* has_parent sits right before the ten u64 statistics. */
static void test_has_parent_byte(void **state)
{
	struct snapshot s, d;
	struct buf b = { 0 };

	make_snapshot(&s, false);
	assert_int_equal(snapshot_encode(&s, &b), 0);
	assert_int_equal(b.data[b.len - 81], 0);
	for (unsigned v = 2; v <= 255; v++) {
		b.data[b.len - 81] = (uint8_t)v;
		assert_int_equal(snapshot_decode(b.data, b.len, &d), -EBADMSG);
	}
	/* 1 without the 32 parent bytes is a truncation. */
	b.data[b.len - 81] = 1;
	assert_int_equal(snapshot_decode(b.data, b.len, &d), -EBADMSG);
	snapshot_fini(&s);
	buf_fini(&b);
}

static void test_version(void **state)
{
	struct snapshot s, d;
	struct buf b = { 0 };

	make_snapshot(&s, true);
	assert_int_equal(snapshot_encode(&s, &b), 0);
	b.data[0] = 2;
	assert_int_equal(snapshot_decode(b.data, b.len, &d), -ENOTSUP);
	b.data[0] = 0;
	assert_int_equal(snapshot_decode(b.data, b.len, &d), -ENOTSUP);
	assert_int_equal(snapshot_decode((const uint8_t *)"\2\0\0\0", 4, &d), -ENOTSUP);
	snapshot_fini(&s);
	buf_fini(&b);
}

/* Replaces the first occurrence of from with to (same length). */
static void patch(struct buf *b, const char *from, const char *to, size_t n)
{
	uint8_t *p = memmem(b->data, b->len, from, n);

	assert_non_null(p);
	memcpy(p, to, n);
}

static void test_nul_in_strings(void **state)
{
	static const struct {
		const char *from, *to;
		size_t n;
	} cases[] = {
		{ "backup-01", "backup\0" "01", 9 },
		{ "root", "ro\0t", 4 },
		{ "/srv/a", "/srv\0a", 6 },
		{ "/srv/a", "\0srv/a", 6 },
		{ "daily", "dail\0", 5 },
		{ "finance", "fin\0nce", 7 },
		{ "coffer 0.1.0", "coffer\0" "0.1.0", 12 },
	};
	struct snapshot s, d;
	struct buf b = { 0 };

	make_snapshot(&s, true);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_reset(&b);
		assert_int_equal(snapshot_encode(&s, &b), 0);
		patch(&b, cases[i].from, cases[i].to, cases[i].n);
		assert_int_equal(snapshot_decode(b.data, b.len, &d), -EBADMSG);
	}
	snapshot_fini(&s);
	buf_fini(&b);
}

/* Minimal snapshot: one path "x" at offset 40 (after empty host and user). */
static void minimal(struct buf *b)
{
	static const char *const p[] = { "x" };
	struct snapshot s;

	snapshot_init(&s);
	s.paths = strv(p, 1);
	s.n_paths = 1;
	buf_reset(b);
	assert_int_equal(snapshot_encode(&s, b), 0);
	assert_int_equal(b->data[32], 1);   /* n_paths */
	assert_int_equal(b->data[36], 1);   /* path length */
	assert_int_equal(b->data[40], 'x');
	snapshot_fini(&s);
}

static void test_bad_fields(void **state)
{
	struct snapshot d;
	struct buf b = { 0 };
	clock_t start = clock();

	/* An empty path. */
	minimal(&b);
	b.data[36] = 0;
	memmove(b.data + 40, b.data + 41, b.len - 41);
	b.len--;
	assert_int_equal(snapshot_decode(b.data, b.len, &d), -EBADMSG);

	/* nsec of 1e9. */
	minimal(&b);
	memcpy(b.data + 12, "\x00\xca\x9a\x3b", 4);
	assert_int_equal(snapshot_decode(b.data, b.len, &d), -EBADMSG);
	memcpy(b.data + 12, "\xff\xc9\x9a\x3b", 4);
	assert_int_equal(snapshot_decode(b.data, b.len, &d), 0);
	assert_int_equal(d.time.nsec, 999999999);
	snapshot_fini(&d);

	/* Hostile counts with a short input fail without a big allocation. */
	minimal(&b);
	memset(b.data + 32, 0xff, 4);
	assert_int_equal(snapshot_decode(b.data, b.len, &d), -EBADMSG);
	minimal(&b);
	memset(b.data + 41, 0xff, 4); /* n_tags */
	assert_int_equal(snapshot_decode(b.data, b.len, &d), -EBADMSG);
	minimal(&b);
	memset(b.data + 16, 0xff, 4); /* hostname length */
	assert_int_equal(snapshot_decode(b.data, b.len, &d), -EBADMSG);
	assert_true((double)(clock() - start) / CLOCKS_PER_SEC < 1.0);
	buf_fini(&b);
}

/*
 * Encodes s (whose tags are all empty), then raises n_tags by one and
 * inserts one more empty tag, and returns what the decoder says.
 */
static int decode_with_extra_tag(const struct snapshot *s)
{
	struct buf b = { 0 }, x = { 0 };
	struct snapshot d;
	size_t off = 4 + 12 + 4 + strlen(s->hostname) + 4 +
		     strlen(s->username) + 4 + 4 + 4;
	int e;

	for (size_t i = 0; i < s->n_paths; i++)
		off += 4 + strlen(s->paths[i]);
	assert_int_equal(snapshot_encode(s, &b), 0);
	assert_int_equal(le32_get(b.data + off), s->n_tags);
	le32_put(b.data + off, (uint32_t)s->n_tags + 1);
	assert_int_equal(buf_put(&x, b.data, off + 4), 0);
	assert_int_equal(buf_put_u32(&x, 0), 0);
	assert_int_equal(buf_put(&x, b.data + off + 4, b.len - off - 4), 0);
	e = snapshot_decode(x.data, x.len, &d);
	if (e == 0) {
		assert_int_equal(d.n_tags, s->n_tags + 1);
		snapshot_fini(&d);
	}
	buf_fini(&b);
	buf_fini(&x);
	return e;
}

static void test_limits(void **state)
{
	struct snapshot s, d;
	struct buf b = { 0 };
	char *big = malloc(SNAPSHOT_MAX_STR + 2);

	assert_non_null(big);
	memset(big, 'h', SNAPSHOT_MAX_STR + 1);

	/* A string of exactly the limit passes, one more byte does not. */
	big[SNAPSHOT_MAX_STR] = 0;
	make_snapshot(&s, false);
	free(s.hostname);
	s.hostname = big;
	assert_int_equal(snapshot_encode(&s, &b), 0);
	assert_int_equal(snapshot_decode(b.data, b.len, &d), 0);
	assert_int_equal(strlen(d.hostname), SNAPSHOT_MAX_STR);
	snapshot_fini(&d);
	big[SNAPSHOT_MAX_STR] = 'h';
	big[SNAPSHOT_MAX_STR + 1] = 0;
	buf_reset(&b);
	assert_int_equal(snapshot_encode(&s, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	snapshot_fini(&s);

	/* The decoder refuses the same over-long string (length 65537). */
	minimal(&b);
	{
		struct buf x = { 0 };
		uint8_t *pad = calloc(1, SNAPSHOT_MAX_STR + 1);

		assert_non_null(pad);
		memset(pad, 'h', SNAPSHOT_MAX_STR + 1);
		assert_int_equal(buf_put(&x, b.data, 16), 0);
		assert_int_equal(buf_put_bytes(&x, pad, SNAPSHOT_MAX_STR + 1), 0);
		assert_int_equal(buf_put(&x, b.data + 20, b.len - 20), 0);
		assert_int_equal(snapshot_decode(x.data, x.len, &d), -EBADMSG);
		free(pad);
		buf_fini(&x);
	}

	/* Encoder: empty or NULL path, nsec, too many tags. */
	make_snapshot(&s, true);
	s.paths[1][0] = 0;
	assert_int_equal(snapshot_encode(&s, &b), -EINVAL);
	free(s.paths[1]);
	s.paths[1] = NULL;
	assert_int_equal(snapshot_encode(&s, &b), -EINVAL);
	s.paths[1] = dups("/ok");
	s.time.nsec = 1000000000;
	assert_int_equal(snapshot_encode(&s, &b), -EINVAL);
	s.time.nsec = 0;
	free(s.tags[0]);
	free(s.tags[1]);
	free(s.tags[2]);
	free(s.tags);
	s.n_tags = SNAPSHOT_MAX_TAGS + 1;
	s.tags = calloc(s.n_tags, sizeof *s.tags);
	assert_non_null(s.tags);
	assert_int_equal(snapshot_encode(&s, &b), -EINVAL);
	s.n_tags = SNAPSHOT_MAX_TAGS;
	buf_reset(&b);
	assert_int_equal(snapshot_encode(&s, &b), 0);
	assert_int_equal(snapshot_decode(b.data, b.len, &d), 0);
	assert_int_equal(d.n_tags, SNAPSHOT_MAX_TAGS);
	snapshot_fini(&d);

	/* ...and the decoder refuses one more, while the same splice one
	 * tag lower decodes: the limit is what fails. */
	s.n_tags = SNAPSHOT_MAX_TAGS - 1;
	assert_int_equal(decode_with_extra_tag(&s), 0);
	s.n_tags = SNAPSHOT_MAX_TAGS;
	assert_int_equal(decode_with_extra_tag(&s), -EBADMSG);
	snapshot_fini(&s);
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_parent),
		cmocka_unit_test(test_round_trip_no_parent),
		cmocka_unit_test(test_null_members),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_truncated_and_trailing),
		cmocka_unit_test(test_has_parent_byte),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_nul_in_strings),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
