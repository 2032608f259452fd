/*
 * Maintenance tests. forget_select on hand-made times (in UTC, so day and
 * week boundaries are known), then check, forget, prune and stats on a
 * real repository in a temporary directory, built by hand:
 *
 *   snapshot A (day 0): /srv/a = a1 a2, /srv/shared = s1
 *   snapshot B (day 1): /srv/b = b1,    /srv/shared = s1
 *
 * stored as data pack P1 {a1 s1 a2}, tree pack T1 {A's trees}, data pack
 * P2 {b1}, tree pack T2 {B's trees}, one index file per flush. Forgetting
 * A leaves P1 partly used (rewritten), T1 unused (deleted), P2 and T2 kept.
 * Damage is made by flipping bytes in the files on disk; what check prints
 * on stderr is captured and matched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "repo/maint.h"
#include "repo/repo.h"
#include "util/hex.h"

#include "testutil.h"

#define PASS "test passphrase"
#define BLOB_LEN 3000
#define DAY 86400
#define T0 1767225600 /* 2026-01-01 00:00:00 UTC */

/* ---- forget_select ---- */

static int64_t utc(int y, int mon, int d, int h)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d, .tm_hour = h };
	return (int64_t)timegm(&tm);
}

/* Runs forget_select and returns the kept set as a bit mask. */
static unsigned select_mask(const int64_t *secs, size_t n, struct forget_policy p)
{
	struct ns_time t[32];
	bool keep[32];
	unsigned mask = 0;
	assert_true(n <= 32);
	for (size_t i = 0; i < n; i++) {
		t[i].sec = secs[i];
		t[i].nsec = 0;
		keep[i] = false;
	}
	forget_select(t, n, &p, keep);
	for (size_t i = 0; i < n; i++)
		if (keep[i])
			mask |= 1u << i;
	return mask;
}

static void test_select_last(void **state)
{
	int64_t t[5] = { utc(2026, 1, 1, 1), utc(2026, 1, 1, 2), utc(2026, 1, 1, 3),
			 utc(2026, 1, 1, 4), utc(2026, 1, 1, 5) };
	assert_int_equal(select_mask(t, 5, (struct forget_policy){ .keep_last = 2 }), 0x18);
	assert_int_equal(select_mask(t, 5, (struct forget_policy){ .keep_last = 9 }), 0x1f);
	assert_int_equal(select_mask(t, 0, (struct forget_policy){ .keep_last = 1 }), 0);
}

static void test_select_daily(void **state)
{
	/* Three on Jan 3, none on Jan 2 (a gap that must not use up a slot),
	 * one on Jan 1, one on Dec 30. */
	int64_t t[5] = { utc(2025, 12, 30, 9), utc(2026, 1, 1, 10), utc(2026, 1, 3, 8),
			 utc(2026, 1, 3, 12), utc(2026, 1, 3, 18) };
	/* Only the newest of Jan 3. */
	assert_int_equal(select_mask(t, 5, (struct forget_policy){ .keep_daily = 1 }), 0x10);
	/* Jan 3 (newest) and Jan 1: Jan 2 has no snapshot and does not count. */
	assert_int_equal(select_mask(t, 5, (struct forget_policy){ .keep_daily = 2 }), 0x12);
	assert_int_equal(select_mask(t, 5, (struct forget_policy){ .keep_daily = 3 }), 0x13);
	assert_int_equal(select_mask(t, 5, (struct forget_policy){ .keep_daily = 30 }), 0x13);
}

static void test_select_weekly(void **state)
{
	/* ISO weeks: Sun 2024-12-29 is 2024-W52; Mon 2024-12-30 and Sun
	 * 2025-01-05 are 2025-W01; Mon 2025-01-06 is 2025-W02. */
	int64_t t[4] = { utc(2024, 12, 29, 12), utc(2024, 12, 30, 12), utc(2025, 1, 5, 12),
			 utc(2025, 1, 6, 12) };
	assert_int_equal(select_mask(t, 4, (struct forget_policy){ .keep_weekly = 2 }), 0xc);
	assert_int_equal(select_mask(t, 4, (struct forget_policy){ .keep_weekly = 3 }), 0xd);
	/* Mon 2020-12-28 and Sun 2021-01-03 are both 2020-W53: one week,
	 * although the calendar year changes inside it. */
	int64_t u[3] = { utc(2020, 12, 27, 12), utc(2020, 12, 28, 12), utc(2021, 1, 3, 12) };
	assert_int_equal(select_mask(u, 3, (struct forget_policy){ .keep_weekly = 1 }), 0x4);
	assert_int_equal(select_mask(u, 3, (struct forget_policy){ .keep_weekly = 2 }), 0x5);
}

static void test_select_monthly_yearly(void **state)
{
	int64_t t[6] = { utc(2024, 6, 1, 0), utc(2024, 11, 30, 0), utc(2025, 1, 2, 0),
			 utc(2025, 1, 31, 0), utc(2025, 3, 1, 0), utc(2025, 3, 15, 0) };
	assert_int_equal(select_mask(t, 6, (struct forget_policy){ .keep_monthly = 2 }), 0x28);
	assert_int_equal(select_mask(t, 6, (struct forget_policy){ .keep_monthly = 4 }), 0x2b);
	assert_int_equal(select_mask(t, 6, (struct forget_policy){ .keep_yearly = 1 }), 0x20);
	assert_int_equal(select_mask(t, 6, (struct forget_policy){ .keep_yearly = 5 }), 0x22);
}

static void test_select_combined(void **state)
{
	int64_t t[6] = { utc(2024, 6, 1, 0), utc(2024, 11, 30, 0), utc(2025, 1, 2, 0),
			 utc(2025, 1, 31, 0), utc(2025, 3, 1, 0), utc(2025, 3, 15, 0) };
	/* last 2 = {4,5}; monthly 3 = {5,3,1}; yearly 2 = {5,1}. */
	struct forget_policy p = { .keep_last = 2, .keep_monthly = 3, .keep_yearly = 2 };
	assert_int_equal(select_mask(t, 6, p), 0x3a);
	/* daily 1 + weekly 1 pick the same newest snapshot: nothing else. */
	p = (struct forget_policy){ .keep_daily = 1, .keep_weekly = 1 };
	assert_int_equal(select_mask(t, 6, p), 0x20);
}

static void test_select_empty(void **state)
{
	int64_t t[3] = { utc(2025, 1, 1, 0), utc(2025, 1, 2, 0), utc(2025, 1, 3, 0) };
	struct forget_policy p = { 0 };
	assert_true(forget_policy_empty(&p));
	assert_int_equal(select_mask(t, 3, p), 0);
	p.keep_yearly = 1;
	assert_false(forget_policy_empty(&p));
}

/* ---- a repository on disk ---- */

struct fx {
	char base[256];
	char dir[300];
	struct repo *r;
	uint8_t a1[32], a2[32], s1[32], b1[32];
	uint8_t tree_a[32], tree_b[32], srv_a[32], srv_b[32];
	uint8_t snap_a[32], snap_b[32];
};

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static void save_data(struct repo *r, uint32_t seed, uint8_t id[32])
{
	uint8_t buf[BLOB_LEN];
	bool added;
	fill(buf, sizeof buf, seed);
	assert_int_equal(repo_blob_save(r, BLOB_DATA, buf, sizeof buf, id, &added), 0);
	assert_true(added);
}

static void add_file(struct tree *t, const char *name, const uint8_t *ids[], size_t k)
{
	struct node n;
	memset(&n, 0, sizeof n);
	n.name_len = strlen(name);
	n.name = malloc(n.name_len);
	memcpy(n.name, name, n.name_len);
	n.type = NODE_FILE;
	n.mode = 0644;
	n.nlink = 1;
	n.size = (uint64_t)k * BLOB_LEN;
	n.extents = calloc(k, sizeof *n.extents);
	n.n_extents = k;
	for (size_t i = 0; i < k; i++) {
		n.extents[i].offset = (uint64_t)i * BLOB_LEN;
		n.extents[i].len = BLOB_LEN;
		memcpy(n.extents[i].id, ids[i], 32);
	}
	assert_int_equal(tree_add(t, &n), 0);
}

static void add_dir(struct tree *t, const char *name, const uint8_t sub[32])
{
	struct node n;
	memset(&n, 0, sizeof n);
	n.name_len = strlen(name);
	n.name = malloc(n.name_len);
	memcpy(n.name, name, n.name_len);
	n.type = NODE_DIR;
	n.mode = 0755;
	n.nlink = 2;
	memcpy(n.subtree, sub, 32);
	assert_int_equal(tree_add(t, &n), 0);
}

static void save_tree(struct repo *r, struct tree *t, uint8_t id[32])
{
	tree_sort(t);
	assert_int_equal(repo_tree_save(r, t, id), 0);
	tree_fini(t);
}

static void save_snapshot(struct repo *r, int64_t sec, const char *host, const char *path,
			  const uint8_t tree[32], uint8_t id[32])
{
	struct snapshot s;
	char *paths[1] = { (char *)path };
	snapshot_init(&s);
	s.time.sec = sec;
	s.hostname = (char *)host;
	s.username = (char *)"root";
	s.paths = paths;
	s.n_paths = 1;
	s.source = (char *)"fs";
	s.dataset = (char *)"";
	s.program = (char *)"test_maint";
	memcpy(s.tree, tree, 32);
	assert_int_equal(repo_snapshot_save(r, &s, id), 0);
}

/* /srv holding the given files, under a root tree; flushed, then the snapshot. */
static void build_snapshot_a(struct fx *f)
{
	struct tree t;
	tree_init(&t);
	add_file(&t, "a", (const uint8_t *[]){ f->a1, f->a2 }, 2);
	add_file(&t, "shared", (const uint8_t *[]){ f->s1 }, 1);
	save_tree(f->r, &t, f->srv_a);
	add_dir(&t, "srv", f->srv_a);
	save_tree(f->r, &t, f->tree_a);
	assert_int_equal(repo_flush(f->r), 0);
	save_snapshot(f->r, T0, "host1", "/srv", f->tree_a, f->snap_a);
}

static void build_snapshot_b(struct fx *f)
{
	struct tree t;
	tree_init(&t);
	add_file(&t, "b", (const uint8_t *[]){ f->b1 }, 1);
	add_file(&t, "shared", (const uint8_t *[]){ f->s1 }, 1);
	save_tree(f->r, &t, f->srv_b);
	add_dir(&t, "srv", f->srv_b);
	save_tree(f->r, &t, f->tree_b);
	assert_int_equal(repo_flush(f->r), 0);
	save_snapshot(f->r, T0 + DAY, "host1", "/srv", f->tree_b, f->snap_b);
}

static void reopen(struct fx *f)
{
	repo_close(f->r);
	f->r = NULL;
	assert_int_equal(repo_open(f->dir, PASS, strlen(PASS), &f->r), 0);
	assert_int_equal(repo_load_index(f->r), 0);
}

static int setup_repo(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	const char *tmp = getenv("TMPDIR");
	struct repo_init_opts o;
	assert_non_null(f);
	/* Every object is fsync'd: a tmpfs keeps the many small repositories fast. */
	if (tmp == NULL)
		tmp = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(f->base, sizeof f->base, "%s/test_maint.XXXXXX", tmp);
	assert_non_null(mkdtemp(f->base));
	snprintf(f->dir, sizeof f->dir, "%s/repo", f->base);
	repo_init_opts_default(&o);
	o.scrypt_n = 1024;
	o.chunk_min = 1024;
	o.chunk_avg = 4096;
	o.chunk_max = 16384;
	assert_int_equal(repo_init(f->dir, PASS, strlen(PASS), &o), 0);
	assert_int_equal(repo_open(f->dir, PASS, strlen(PASS), &f->r), 0);
	assert_int_equal(repo_load_index(f->r), 0);
	save_data(f->r, 1, f->a1);
	save_data(f->r, 2, f->s1);
	save_data(f->r, 3, f->a2);
	assert_int_equal(repo_flush(f->r), 0);
	build_snapshot_a(f);
	save_data(f->r, 4, f->b1);
	assert_int_equal(repo_flush(f->r), 0);
	build_snapshot_b(f);
	reopen(f);
	*state = f;
	return 0;
}

static int teardown_repo(void **state)
{
	struct fx *f = *state;
	repo_close(f->r);
	testutil_rm_tree(AT_FDCWD, f->base);
	free(f);
	return 0;
}

/* Path of the pack holding blob id. */
static void pack_path_of(struct fx *f, const uint8_t id[32], char *path, size_t size,
			 char hex[65], uint32_t *offset)
{
	struct blob_loc loc;
	testutil_blob_place(f->r, f->dir, id, path, size, hex, &loc);
	if (offset != NULL)
		*offset = loc.e.offset;
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int count_pack(const char *name, uint64_t size, void *arg)
{
	(*(size_t *)arg)++;
	return 0;
}

static size_t count_packs(struct fx *f)
{
	size_t n = 0;
	assert_int_equal(store_list(repo_store(f->r), STORE_PACK, count_pack, &n), 0);
	return n;
}

/* stderr capture, to match what check names. */
static int cap_saved = -1;
static FILE *cap_file;

static void cap_start(void)
{
	fflush(stderr);
	cap_file = tmpfile();
	assert_non_null(cap_file);
	cap_saved = dup(2);
	assert_true(dup2(fileno(cap_file), 2) >= 0);
}

/* Returns what was written to stderr (caller frees) and echoes it. */
static char *cap_end(void)
{
	fflush(stderr);
	dup2(cap_saved, 2);
	close(cap_saved);
	long n = ftell(cap_file);
	char *s = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
	assert_non_null(s);
	rewind(cap_file);
	if (n > 0)
		assert_int_equal(fread(s, 1, (size_t)n, cap_file), (size_t)n);
	fclose(cap_file);
	fputs(s, stderr);
	return s;
}

static void assert_blob_content(struct fx *f, const uint8_t id[32], uint32_t seed)
{
	uint8_t want[BLOB_LEN];
	struct buf b = { 0 };
	fill(want, sizeof want, seed);
	assert_int_equal(repo_blob_load(f->r, id, BLOB_DATA, &b), 0);
	assert_int_equal(b.len, BLOB_LEN);
	assert_memory_equal(b.data, want, BLOB_LEN);
	buf_fini(&b);
}

static void assert_tree_loads(struct fx *f, const uint8_t id[32])
{
	struct tree t;
	tree_init(&t);
	assert_int_equal(repo_tree_load(f->r, id, &t), 0);
	tree_fini(&t);
}

static void test_check_clean(void **state)
{
	struct fx *f = *state;
	struct check_opts o = { .read_data = false };
	struct check_result res;
	memset(&res, 0xff, sizeof res);
	assert_int_equal(repo_check(f->r, &o, &res), 0);
	assert_int_equal(res.snapshots, 2);
	assert_int_equal(res.trees, 4);
	assert_int_equal(res.data_blobs, 4);
	assert_int_equal(res.packs, 4);
	assert_int_equal(res.packs_read, 0);
	assert_int_equal(res.errors, 0);
	assert_int_equal(res.orphan_packs, 0);
	o.read_data = true;
	assert_int_equal(repo_check(f->r, &o, &res), 0);
	assert_int_equal(res.packs_read, 4);
	assert_int_equal(res.damaged_packs, 0);
	assert_int_equal(res.affected_files, 0);
	/* check leaves no lock behind */
	char locks[400];
	snprintf(locks, sizeof locks, "%s/locks", f->dir);
	assert_int_equal(count_files(locks), 0);
}

static void test_check_pack_flip(void **state)
{
	struct fx *f = *state;
	struct check_opts o = { .read_data = false };
	struct check_result res;
	char path[512], hex[65], *out;
	uint32_t off;
	pack_path_of(f, f->a2, path, sizeof path, hex, &off);
	testutil_flip_byte(path, off + 40, 0x01);
	/* File content is not read without read_data. */
	assert_int_equal(repo_check(f->r, &o, &res), 0);
	o.read_data = true;
	cap_start();
	int e = repo_check(f->r, &o, &res);
	out = cap_end();
	assert_int_equal(e, -EBADMSG);
	assert_int_equal(res.damaged_packs, 1);
	assert_true(res.errors >= 1);
	/* a and shared in A, shared in B */
	assert_int_equal(res.affected_files, 3);
	assert_non_null(strstr(out, "content does not match its name"));
	assert_non_null(strstr(out, "fails authentication"));
	char line[256];
	char sa[9], sb[9];
	hex_encode(f->snap_a, 4, sa);
	hex_encode(f->snap_b, 4, sb);
	snprintf(line, sizeof line, "snapshot %s: /srv/a needs damaged pack %s", sa, hex);
	assert_non_null(strstr(out, line));
	snprintf(line, sizeof line, "snapshot %s: /srv/shared needs damaged pack %s", sb, hex);
	assert_non_null(strstr(out, line));
	assert_null(strstr(out, "/srv/b "));
	free(out);
}

static int find_index_listing(struct fx *f, const uint8_t pack_id[32], char name[65])
{
	char dir[400];
	snprintf(dir, sizeof dir, "%s/index", f->dir);
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0;
	assert_non_null(d);
	while (!found && (de = readdir(d)) != NULL) {
		struct index_file xf = { 0 };
		if (de->d_name[0] == '.')
			continue;
		assert_int_equal(repo_index_file_load(f->r, de->d_name, &xf), 0);
		for (size_t i = 0; i < xf.n_packs; i++)
			if (memcmp(xf.packs[i].pack_id, pack_id, 32) == 0)
				found = 1;
		if (found)
			snprintf(name, 65, "%.64s", de->d_name);
		index_file_fini(&xf);
	}
	closedir(d);
	return found;
}

static void test_check_index_flip(void **state)
{
	struct fx *f = *state;
	struct check_opts o = { .read_data = false };
	struct check_result res;
	char path[512], hex[65], name[65], *out;
	uint8_t pack_id[32];
	pack_path_of(f, f->b1, path, sizeof path, hex, NULL);
	assert_int_equal(hex_decode(hex, pack_id, 32), 0);
	assert_true(find_index_listing(f, pack_id, name));
	snprintf(path, sizeof path, "%s/index/%s", f->dir, name);
	testutil_flip_byte(path, 30, 0x01);
	cap_start();
	int e = repo_check(f->r, &o, &res);
	out = cap_end();
	assert_int_equal(e, -EBADMSG);
	assert_true(res.errors >= 2); /* the index file, the blob b1 */
	assert_int_equal(res.affected_files, 1);
	assert_int_equal(res.orphan_packs, 1); /* P2 is now in no index */
	assert_non_null(strstr(out, name));
	assert_non_null(strstr(out, "/srv/b needs blob"));
	free(out);
	/* prune refuses: it would delete P2 as an orphan */
	struct prune_result pr;
	size_t before = count_packs(f);
	assert_int_equal(repo_prune(f->r, &pr), -EBADMSG);
	assert_int_equal(count_packs(f), before);
}

static void test_check_snapshot_flip(void **state)
{
	struct fx *f = *state;
	struct check_opts o = { .read_data = false };
	struct check_result res;
	char path[512], hex[65];
	hex_encode(f->snap_b, 32, hex);
	snprintf(path, sizeof path, "%s/snapshots/%s", f->dir, hex);
	testutil_flip_byte(path, 50, 0x01);
	assert_int_equal(repo_check(f->r, &o, &res), -EBADMSG);
	assert_int_equal(res.snapshots, 1);
	assert_int_equal(res.errors, 1);
	struct prune_result pr;
	assert_int_equal(repo_prune(f->r, &pr), -EBADMSG);
}

static void test_check_missing_pack(void **state)
{
	struct fx *f = *state;
	struct check_opts o = { .read_data = false };
	struct check_result res;
	char path[512], hex[65], *out, line[256], sb[9];
	pack_path_of(f, f->b1, path, sizeof path, hex, NULL);
	assert_int_equal(unlink(path), 0);
	cap_start();
	int e = repo_check(f->r, &o, &res);
	out = cap_end();
	assert_int_equal(e, -EBADMSG);
	assert_int_equal(res.errors, 1);
	assert_int_equal(res.affected_files, 1);
	assert_non_null(strstr(out, "missing from the store"));
	hex_encode(f->snap_b, 4, sb);
	snprintf(line, sizeof line, "snapshot %s: /srv/b needs missing pack %s", sb, hex);
	assert_non_null(strstr(out, line));
	free(out);
}

static void test_check_tree_flip(void **state)
{
	struct fx *f = *state;
	struct check_opts o = { .read_data = false };
	struct check_result res;
	struct prune_result pr;
	char path[512], hex[65], *out, sb[9], line[128];
	uint32_t off;
	pack_path_of(f, f->srv_b, path, sizeof path, hex, &off);
	testutil_flip_byte(path, off + 30, 0x01);
	cap_start();
	int e = repo_check(f->r, &o, &res);
	out = cap_end();
	assert_int_equal(e, -EBADMSG);
	assert_int_equal(res.trees, 3);
	assert_true(res.affected_files >= 1);
	hex_encode(f->snap_b, 4, sb);
	snprintf(line, sizeof line, "snapshot %s: directory /srv (tree", sb);
	assert_non_null(strstr(out, line));
	free(out);
	/* prune cannot know what is used below /srv: it refuses, deletes nothing */
	size_t before = count_packs(f);
	assert_int_equal(repo_prune(f->r, &pr), -EBADMSG);
	assert_int_equal(count_packs(f), before);
}

static void test_forget_prune(void **state)
{
	struct fx *f = *state;
	struct forget_policy p = { .keep_last = 1 };
	struct forget_result fr;
	struct prune_result pr;
	struct check_opts o = { .read_data = true };
	struct check_result res;
	struct blob_loc loc;
	char index_dir[400];
	snprintf(index_dir, sizeof index_dir, "%s/index", f->dir);
	assert_int_equal(repo_forget(f->r, &p, false, &fr), 0);
	assert_int_equal(fr.kept, 1);
	assert_int_equal(fr.removed, 1);
	assert_int_equal(count_files(index_dir), 4);
	assert_int_equal(repo_prune(f->r, &pr), 0);
	assert_int_equal(pr.packs_before, 4);
	assert_int_equal(pr.packs_after, 3);
	assert_int_equal(pr.packs_deleted, 1);   /* T1 */
	assert_int_equal(pr.packs_rewritten, 1); /* P1, keeping s1 */
	assert_int_equal(pr.blobs_removed, 4);   /* a1, a2, A's two trees */
	assert_true(pr.bytes_after < pr.bytes_before);
	assert_true(pr.bytes_before - pr.bytes_after >= 2 * BLOB_LEN);
	assert_int_equal(count_files(index_dir), 1);
	assert_int_equal(count_packs(f), 3);
	/* the same handle and a fresh one both see the pruned repository */
	for (int round = 0; round < 2; round++) {
		assert_false(index_lookup(repo_index(f->r), f->a1, &loc));
		assert_false(index_lookup(repo_index(f->r), f->a2, &loc));
		assert_false(index_lookup(repo_index(f->r), f->srv_a, &loc));
		assert_blob_content(f, f->s1, 2);
		assert_blob_content(f, f->b1, 4);
		assert_tree_loads(f, f->tree_b);
		assert_tree_loads(f, f->srv_b);
		assert_int_equal(repo_check(f->r, &o, &res), 0);
		assert_int_equal(res.snapshots, 1);
		assert_int_equal(res.packs, 3);
		assert_int_equal(res.orphan_packs, 0);
		reopen(f);
	}
}

static int collect_name(const char *name, uint64_t size, void *arg)
{
	struct { char (*names)[65]; size_t max, n; } *c = arg;
	if (c->n < c->max)
		snprintf(c->names[c->n], 65, "%s", name);
	c->n++;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void list_names(struct fx *f, enum store_kind k, char out[][65], size_t max, size_t *n)
{
	struct { char (*names)[65]; size_t max, n; } c = { out, max, 0 };
	assert_int_equal(store_list(repo_store(f->r), k, collect_name, &c), 0);
	assert_true(c.n <= max);
	qsort(out, c.n, 65, name_cmp);
	*n = c.n;
}

static void test_prune_twice(void **state)
{
	struct fx *f = *state;
	struct forget_policy p = { .keep_last = 1 };
	struct forget_result fr;
	struct prune_result pr;
	char idx1[8][65], idx2[8][65], packs1[8][65], packs2[8][65];
	size_t ni1, ni2, np1, np2;

	/* Nothing unused yet: prune writes nothing, not even a merged index. */
	list_names(f, STORE_INDEX, idx1, 8, &ni1);
	assert_int_equal(repo_prune(f->r, &pr), 0);
	assert_int_equal(pr.packs_deleted + pr.packs_rewritten + pr.blobs_removed, 0);
	assert_int_equal(pr.packs_before, pr.packs_after);
	list_names(f, STORE_INDEX, idx2, 8, &ni2);
	assert_int_equal(ni1, 4);
	assert_int_equal(ni2, 4);
	assert_memory_equal(idx1, idx2, sizeof idx1[0] * ni1);

	assert_int_equal(repo_forget(f->r, &p, true, &fr), 0);
	assert_int_equal(repo_prune(f->r, &pr), 0);
	assert_true(pr.packs_rewritten + pr.packs_deleted > 0);
	list_names(f, STORE_INDEX, idx1, 8, &ni1);
	list_names(f, STORE_PACK, packs1, 8, &np1);
	assert_int_equal(repo_prune(f->r, &pr), 0);
	assert_int_equal(pr.packs_deleted + pr.packs_rewritten + pr.blobs_removed, 0);
	assert_int_equal(pr.bytes_before, pr.bytes_after);
	list_names(f, STORE_INDEX, idx2, 8, &ni2);
	list_names(f, STORE_PACK, packs2, 8, &np2);
	assert_int_equal(ni1, ni2);
	assert_int_equal(np1, np2);
	assert_memory_equal(idx1, idx2, sizeof idx1[0] * ni1);
	assert_memory_equal(packs1, packs2, sizeof packs1[0] * np1);
}

/* Every snapshot gone: every pack goes, one empty index file remains. */
static void test_prune_everything(void **state)
{
	struct fx *f = *state;
	struct prune_result pr;
	struct check_opts o = { .read_data = true };
	struct check_result res;
	char index_dir[400];
	snprintf(index_dir, sizeof index_dir, "%s/index", f->dir);
	assert_int_equal(repo_snapshot_remove(f->r, f->snap_a), 0);
	assert_int_equal(repo_snapshot_remove(f->r, f->snap_b), 0);
	assert_int_equal(repo_prune(f->r, &pr), 0);
	assert_int_equal(pr.packs_deleted, 4);
	assert_int_equal(pr.packs_rewritten, 0);
	assert_int_equal(pr.blobs_removed, 8);
	assert_int_equal(pr.packs_after, 0);
	assert_int_equal(pr.bytes_after, 0);
	assert_int_equal(count_files(index_dir), 1);
	assert_int_equal(repo_check(f->r, &o, &res), 0);
	assert_int_equal(res.packs, 0);
	assert_int_equal(repo_prune(f->r, &pr), 0);
	assert_int_equal(pr.packs_deleted + pr.packs_before, 0);
	assert_int_equal(count_files(index_dir), 1);
}

static void test_prune_orphan(void **state)
{
	struct fx *f = *state;
	struct check_opts o = { .read_data = true };
	struct check_result res;
	struct prune_result pr;
	const char *orphan = "00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff";
	uint8_t junk[100];
	uint64_t size;
	fill(junk, sizeof junk, 9);
	assert_int_equal(store_put(repo_store(f->r), STORE_PACK, orphan, junk, sizeof junk), 0);
	/* an orphan is not an error */
	assert_int_equal(repo_check(f->r, &o, &res), 0);
	assert_int_equal(res.orphan_packs, 1);
	assert_int_equal(repo_prune(f->r, &pr), 0);
	assert_int_equal(pr.packs_deleted, 1);
	assert_int_equal(pr.packs_rewritten, 0);
	assert_int_equal(pr.packs_before, 5);
	assert_int_equal(pr.packs_after, 4);
	assert_int_equal(store_size(repo_store(f->r), STORE_PACK, orphan, &size), -ENOENT);
	assert_int_equal(repo_check(f->r, &o, &res), 0);
	assert_int_equal(res.orphan_packs, 0);
	assert_blob_content(f, f->a1, 1);
}

struct saved {
	struct fx *f;
	enum store_kind k;
	char names[8][65];
	struct buf data[8];
	size_t n;
};

static int save_object(const char *name, uint64_t size, void *arg)
{
	struct saved *s = arg;
	assert_true(s->n < 8);
	snprintf(s->names[s->n], 65, "%s", name);
	memset(&s->data[s->n], 0, sizeof s->data[s->n]);
	assert_int_equal(store_get(repo_store(s->f->r), s->k, name, &s->data[s->n]), 0);
	s->n++;
	return 0;
}

/* Puts back the saved objects that are gone; returns how many. */
static size_t restore_objects(struct saved *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++) {
		uint64_t size;
		if (store_size(repo_store(s->f->r), s->k, s->names[i], &size) == 0)
			continue;
		assert_int_equal(store_put(repo_store(s->f->r), s->k, s->names[i],
					   s->data[i].data, s->data[i].len), 0);
		n++;
	}
	return n;
}

static void saved_fini(struct saved *s)
{
	for (size_t i = 0; i < s->n; i++)
		buf_fini(&s->data[i]);
}

/*
 * A prune that crashed after writing its new index, before deleting the old
 * index files (and the old packs): simulated by putting them back. The
 * repository must load, restore and check clean, and the next prune must
 * finish the job.
 */
static void test_prune_crash_points(void **state)
{
	struct fx *f = *state;
	struct forget_policy p = { .keep_last = 1 };
	struct forget_result fr;
	struct prune_result pr;
	struct check_opts o = { .read_data = true };
	struct check_result res;
	struct saved idx = { .f = f, .k = STORE_INDEX }, packs = { .f = f, .k = STORE_PACK };
	char index_dir[400];
	snprintf(index_dir, sizeof index_dir, "%s/index", f->dir);

	assert_int_equal(repo_forget(f->r, &p, true, &fr), 0);
	assert_int_equal(store_list(repo_store(f->r), STORE_INDEX, save_object, &idx), 0);
	assert_int_equal(store_list(repo_store(f->r), STORE_PACK, save_object, &packs), 0);
	assert_int_equal(repo_prune(f->r, &pr), 0);

	/* Crash before the old index files were deleted. */
	assert_int_equal(restore_objects(&idx), 4);
	assert_int_equal(count_files(index_dir), 5);
	reopen(f);
	assert_blob_content(f, f->s1, 2);
	assert_blob_content(f, f->b1, 4);
	assert_int_equal(repo_index_file_count(f->r), 1);
	assert_int_equal(repo_check(f->r, &o, &res), 0);
	assert_int_equal(res.errors, 0);
	assert_int_equal(res.orphan_packs, 0);

	/* ... and before the old packs were deleted: they are orphans. */
	assert_int_equal(restore_objects(&packs), 2);
	assert_int_equal(repo_check(f->r, &o, &res), 0);
	assert_int_equal(res.orphan_packs, 2);

	/* The next prune removes the leftovers and nothing else. */
	assert_int_equal(repo_prune(f->r, &pr), 0);
	assert_int_equal(pr.packs_deleted, 2);
	assert_int_equal(pr.packs_after, 3);
	assert_int_equal(count_files(index_dir), 1);
	reopen(f);
	assert_int_equal(repo_check(f->r, &o, &res), 0);
	assert_int_equal(res.orphan_packs, 0);
	assert_blob_content(f, f->s1, 2);
	assert_blob_content(f, f->b1, 4);
	saved_fini(&idx);
	saved_fini(&packs);
}

static void test_forget_groups(void **state)
{
	struct fx *f = *state;
	struct forget_policy p = { .keep_daily = 1 };
	struct forget_result fr;
	struct snapshot_entry *e;
	size_t n;
	uint8_t other[32];
	/* Another host's snapshot of the same path, older than both. */
	save_snapshot(f->r, T0 - DAY, "host2", "/srv", f->tree_a, other);
	assert_int_equal(repo_forget(f->r, &p, false, &fr), 0);
	assert_int_equal(fr.kept, 2);
	assert_int_equal(fr.removed, 1);
	assert_int_equal(repo_snapshot_list(f->r, &e, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(e[0].id, other, 32);
	assert_memory_equal(e[1].id, f->snap_b, 32);
	snapshot_entries_free(e, n);
	/* An empty policy is refused rather than removing everything. */
	p = (struct forget_policy){ 0 };
	assert_int_equal(repo_forget(f->r, &p, true, &fr), -EINVAL);
}

static void test_stats(void **state)
{
	struct fx *f = *state;
	struct repo_stats st;
	assert_int_equal(repo_stats(f->r, &st), 0);
	assert_int_equal(st.snapshots, 2);
	/* A: a 6000 + shared 3000; B: b 3000 + shared 3000 */
	assert_int_equal(st.logical_bytes, 15000);
	assert_int_equal(st.unique_bytes, 4 * BLOB_LEN);
	assert_int_equal(st.packs, 4);
	assert_int_equal(st.data_blobs, 4);
	assert_int_equal(st.tree_blobs, 4);
	assert_int_equal(st.index_files, 4);
	assert_true(st.stored_bytes > 4 * BLOB_LEN);
	assert_true(st.dedup_ratio > 1.24 && st.dedup_ratio < 1.26);
	/* random data does not compress: close to 1 (AEAD overhead, small trees) */
	assert_true(st.compression_ratio > 0.9 && st.compression_ratio < 1.1);
}

/* ---- delta blobs ---- */

#define BIG_LEN 16384

/* A snapshot of /x holding one file "x" made of the one chunk id. */
static void snapshot_one_chunk(struct fx *f, const uint8_t id[32], int64_t sec, uint8_t snap[32])
{
	struct tree t;
	struct node n;
	uint8_t sub[32], root[32];
	tree_init(&t);
	memset(&n, 0, sizeof n);
	n.name_len = 1;
	n.name = malloc(1);
	n.name[0] = 'x';
	n.type = NODE_FILE;
	n.mode = 0644;
	n.nlink = 1;
	n.size = BIG_LEN;
	n.extents = calloc(1, sizeof *n.extents);
	n.n_extents = 1;
	n.extents[0].len = BIG_LEN;
	memcpy(n.extents[0].id, id, 32);
	assert_int_equal(tree_add(&t, &n), 0);
	save_tree(f->r, &t, sub);
	add_dir(&t, "x", sub);
	save_tree(f->r, &t, root);
	assert_int_equal(repo_flush(f->r), 0);
	save_snapshot(f->r, sec, "host2", "/x", root, snap);
}

/*
 * Snapshot C holds chunk X, snapshot D its changed version X', stored as a
 * delta against X. Forgetting C must keep X (the base of a used delta);
 * forgetting D too frees both.
 */
static void test_prune_keeps_delta_base(void **state)
{
	struct fx *f = *state;
	uint8_t big[BIG_LEN], big2[BIG_LEN], x[32], x2[32], base[32], snap_c[32], snap_d[32];
	struct check_opts o = { .read_data = true };
	struct check_result res;
	struct prune_result pr;
	struct repo_stats st;
	struct blob_loc loc;
	struct buf b = { 0 };
	uint32_t length;
	bool added;
	fill(big, sizeof big, 30);
	memcpy(big2, big, sizeof big2);
	fill(big2 + 5000, 600, 31);
	assert_int_equal(repo_blob_save(f->r, BLOB_DATA, big, sizeof big, x, &added), 0);
	assert_int_equal(repo_flush(f->r), 0);
	snapshot_one_chunk(f, x, T0 + 2 * DAY, snap_c);
	assert_int_equal(repo_blob_save_hint(f->r, big2, sizeof big2, x, x2, &added), 0);
	assert_int_equal(repo_flush(f->r), 0);
	assert_true(index_lookup(repo_index(f->r), x2, &loc));
	assert_int_equal(loc.e.type, BLOB_DELTA);
	snapshot_one_chunk(f, x2, T0 + 3 * DAY, snap_d);
	reopen(f);

	assert_int_equal(repo_stats(f->r, &st), 0);
	assert_int_equal(st.delta_blobs, 1);
	assert_true(st.delta_saved_bytes > BIG_LEN - 2048);
	assert_true(st.delta_saved_bytes < BIG_LEN);
	assert_int_equal(st.unique_bytes, 4 * BLOB_LEN + 2 * BIG_LEN);
	o.read_data = false;
	assert_int_equal(repo_check(f->r, &o, &res), 0);
	o.read_data = true;
	assert_int_equal(repo_check(f->r, &o, &res), 0);

	assert_int_equal(repo_snapshot_remove(f->r, snap_c), 0);
	assert_int_equal(repo_prune(f->r, &pr), 0);
	assert_true(index_lookup(repo_index(f->r), x, &loc));
	assert_int_equal(loc.e.type, BLOB_DATA);
	assert_int_equal(repo_delta_header(f->r, x2, base, &length), 0);
	assert_memory_equal(base, x, 32);
	assert_int_equal(repo_blob_load(f->r, x2, BLOB_DATA, &b), 0);
	assert_int_equal(b.len, BIG_LEN);
	assert_memory_equal(b.data, big2, BIG_LEN);
	assert_int_equal(repo_check(f->r, &o, &res), 0);

	assert_int_equal(repo_snapshot_remove(f->r, snap_d), 0);
	assert_int_equal(repo_prune(f->r, &pr), 0);
	assert_false(index_lookup(repo_index(f->r), x, &loc));
	assert_false(index_lookup(repo_index(f->r), x2, &loc));
	assert_int_equal(repo_check(f->r, &o, &res), 0);
	buf_fini(&b);
}

/* A damaged base: check names the delta and the file that needs it. */
static void test_check_delta_base_damaged(void **state)
{
	struct fx *f = *state;
	uint8_t big[BIG_LEN], big2[BIG_LEN], x[32], x2[32], snap_d[32];
	struct check_opts o = { .read_data = true };
	struct check_result res;
	struct prune_result pr;
	char hex[65];
	bool added;
	fill(big, sizeof big, 40);
	memcpy(big2, big, sizeof big2);
	fill(big2 + 100, 300, 41);
	assert_int_equal(repo_blob_save(f->r, BLOB_DATA, big, sizeof big, x, &added), 0);
	assert_int_equal(repo_flush(f->r), 0);
	assert_int_equal(repo_blob_save_hint(f->r, big2, sizeof big2, x, x2, &added), 0);
	snapshot_one_chunk(f, x2, T0 + 3 * DAY, snap_d);
	reopen(f);
	testutil_damage_blob(f->r, f->dir, x);
	hex_encode(x2, 32, hex);
	/* without reading data the damage cannot be seen */
	o.read_data = false;
	assert_int_equal(repo_check(f->r, &o, &res), 0);
	{
		o.read_data = true;
		cap_start();
		int e = repo_check(f->r, &o, &res);
		char *out = cap_end();
		assert_int_equal(e, -EBADMSG);
		assert_non_null(strstr(out, hex));
		assert_non_null(strstr(out, "/x/x"));
		assert_true(res.affected_files >= 1);
		free(out);
	}
	/* prune still keeps what the delta needs (it cannot know it is lost) */
	assert_int_equal(repo_prune(f->r, &pr), 0);
}

/* ---- verification shares (check_opts.share_of) ---- */

#define SHARE_PACKS 24
#define SHARE_OF 5

struct pack_names {
	char v[64][65];
	size_t n;
};

static int collect_pack_name(const char *name, uint64_t size, void *arg)
{
	struct pack_names *pn = arg;
	(void)size;
	assert_true(pn->n < 64);
	snprintf(pn->v[pn->n++], sizeof pn->v[0], "%s", name);
	return 0;
}

/* The share slot of a pack: the first four bytes of its ID, little-endian, mod n. */
static uint32_t pack_slot(const char *hex, uint32_t n)
{
	uint8_t id[32];
	assert_int_equal(hex_decode(hex, id, 32), 0);
	return ((uint32_t)id[0] | (uint32_t)id[1] << 8 | (uint32_t)id[2] << 16 |
		(uint32_t)id[3] << 24) % n;
}

static void count_progress(uint64_t packs_done, uint64_t packs_total, uint64_t bytes_done,
			   uint64_t bytes_total, void *arg)
{
	(void)packs_done, (void)packs_total, (void)bytes_done, (void)bytes_total;
	(*(uint64_t *)arg)++;
}

/*
 * SHARE_OF consecutive slots read every pack exactly once: each slot the
 * packs whose ID's first four bytes (little-endian) are the slot modulo
 * SHARE_OF, and a damaged pack is found by its slot only.
 */
static void test_check_share(void **state)
{
	struct fx *f = *state;
	struct pack_names pn = { .n = 0 };
	uint64_t want[SHARE_OF] = { 0 }, sum = 0, calls;
	struct check_opts o = { .read_data = true, .progress = count_progress,
				.progress_arg = &calls, .share_of = SHARE_OF };
	struct check_result res;
	/* One pack per flush: 4 from the fixture, the rest one blob each. */
	for (uint32_t i = 0; i < SHARE_PACKS - 4; i++) {
		uint8_t id[32];
		save_data(f->r, 100 + i, id);
		assert_int_equal(repo_flush(f->r), 0);
	}
	reopen(f);
	assert_int_equal(store_list(repo_store(f->r), STORE_PACK, collect_pack_name, &pn), 0);
	assert_int_equal(pn.n, SHARE_PACKS);
	for (size_t i = 0; i < pn.n; i++)
		want[pack_slot(pn.v[i], SHARE_OF)]++;
	for (uint32_t slot = 0; slot < SHARE_OF; slot++) {
		o.share_slot = slot;
		calls = 0;
		assert_int_equal(repo_check(f->r, &o, &res), 0);
		assert_int_equal(res.packs, SHARE_PACKS);
		assert_int_equal(res.packs_read, want[slot]);
		assert_int_equal(calls, want[slot]);
		sum += res.packs_read;
	}
	assert_int_equal(sum, SHARE_PACKS);
	/* share_of 0 and 1 both read everything. */
	for (uint32_t of = 0; of <= 1; of++) {
		o.share_of = of;
		o.share_slot = 0;
		assert_int_equal(repo_check(f->r, &o, &res), 0);
		assert_int_equal(res.packs_read, SHARE_PACKS);
	}

	/* Damage in one pack is seen by its own slot, and by no other. */
	char path[512], hex[65];
	uint32_t off;
	pack_path_of(f, f->a1, path, sizeof path, hex, &off);
	testutil_flip_byte(path, off + 40, 0x01);
	uint32_t bad = pack_slot(hex, SHARE_OF);
	o.share_of = SHARE_OF;
	for (uint32_t slot = 0; slot < SHARE_OF; slot++) {
		o.share_slot = slot;
		if (slot != bad) {
			assert_int_equal(repo_check(f->r, &o, &res), 0);
			assert_int_equal(res.damaged_packs, 0);
			continue;
		}
		cap_start();
		int e = repo_check(f->r, &o, &res);
		char *out = cap_end();
		assert_int_equal(e, -EBADMSG);
		assert_int_equal(res.damaged_packs, 1);
		assert_non_null(strstr(out, hex));
		free(out);
	}
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select_last),
		cmocka_unit_test(test_select_daily),
		cmocka_unit_test(test_select_weekly),
		cmocka_unit_test(test_select_monthly_yearly),
		cmocka_unit_test(test_select_combined),
		cmocka_unit_test(test_select_empty),
		cmocka_unit_test_setup_teardown(test_check_clean, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_check_pack_flip, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_check_index_flip, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_check_snapshot_flip, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_check_missing_pack, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_check_tree_flip, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_forget_prune, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_prune_twice, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_prune_everything, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_prune_orphan, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_prune_crash_points, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_forget_groups, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_stats, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_prune_keeps_delta_base, setup_repo,
						teardown_repo),
		cmocka_unit_test_setup_teardown(test_check_delta_base_damaged, setup_repo,
						teardown_repo),
		cmocka_unit_test_setup_teardown(test_check_share, setup_repo, teardown_repo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
