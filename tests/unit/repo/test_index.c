/*
 * Index tests: the index file codec (round trip, canonical bytes, and
 * rejection of truncated, trailing, overlapping, unsorted and oversized
 * input, the oversized cases under an address-space limit so that a
 * decoder that allocated by the declared count would fail with -ENOMEM),
 * and the in-memory index: 100 000 blobs across many packs, then enough
 * blobs to build several sorted runs and merge them (first location wins
 * across buffer and runs, absent IDs, foreach, index_free), and temporary
 * directories that cannot be used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "repo/index.h"
#include "util/buf.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* splitmix64: deterministic, so a failure reproduces */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rnd_id(uint8_t id[32])
{
	for (int i = 0; i < 4; i++) {
		uint64_t v = rnd();
		memcpy(id + 8 * i, &v, 8);
	}
}

static struct blob_entry mk_entry(uint32_t off, uint32_t raw, uint8_t type, uint8_t comp)
{
	struct blob_entry e;
	memset(&e, 0, sizeof e);
	rnd_id(e.id);
	e.type = type;
	e.comp = comp;
	e.offset = off;
	e.raw_len = raw;
	e.stored_len = comp == BLOB_COMP_NONE ? raw + 28 : raw / 2 + 28;
	return e;
}

/* A small index file: 2 superseded IDs, 3 packs of 1, 2 and 3 blobs. */
static void sample(struct index_file *f)
{
	memset(f, 0, sizeof *f);
	f->n_supersedes = 2;
	f->supersedes = malloc(2 * 32);
	assert_non_null(f->supersedes);
	rnd_id(f->supersedes[0]);
	rnd_id(f->supersedes[1]);
	f->n_packs = 3;
	f->packs = calloc(3, sizeof *f->packs);
	assert_non_null(f->packs);
	for (size_t i = 0; i < 3; i++) {
		struct index_pack *p = &f->packs[i];
		rnd_id(p->pack_id);
		p->key_gen = (uint32_t)i * 5;
		p->n = i + 1;
		p->blobs = calloc(p->n, sizeof *p->blobs);
		assert_non_null(p->blobs);
		uint32_t off = 0;
		for (size_t j = 0; j < p->n; j++) {
			p->blobs[j] = mk_entry(off, (uint32_t)(100 * (j + 1)),
					       j == 1 ? BLOB_TREE : BLOB_DATA,
					       j == 2 ? BLOB_COMP_ZSTD : BLOB_COMP_NONE);
			off += p->blobs[j].stored_len + (uint32_t)j; /* gaps are allowed */
		}
	}
}

static void assert_files_equal(const struct index_file *a, const struct index_file *b)
{
	assert_int_equal(a->n_supersedes, b->n_supersedes);
	if (a->n_supersedes)
		assert_memory_equal(a->supersedes, b->supersedes, 32 * a->n_supersedes);
	assert_int_equal(a->n_packs, b->n_packs);
	for (size_t i = 0; i < a->n_packs; i++) {
		const struct index_pack *p = &a->packs[i], *q = &b->packs[i];
		assert_memory_equal(p->pack_id, q->pack_id, 32);
		assert_int_equal(p->key_gen, q->key_gen);
		assert_int_equal(p->n, q->n);
		for (size_t j = 0; j < p->n; j++) {
			assert_memory_equal(p->blobs[j].id, q->blobs[j].id, 32);
			assert_int_equal(p->blobs[j].type, q->blobs[j].type);
			assert_int_equal(p->blobs[j].comp, q->blobs[j].comp);
			assert_int_equal(p->blobs[j].offset, q->blobs[j].offset);
			assert_int_equal(p->blobs[j].stored_len, q->blobs[j].stored_len);
			assert_int_equal(p->blobs[j].raw_len, q->blobs[j].raw_len);
		}
	}
}

static void test_file_round_trip(void **state)
{
	struct index_file f, g;
	struct buf b = { 0 }, b2 = { 0 };

	(void)state;
	sample(&f);
	assert_int_equal(index_file_encode(&f, &b), 0);
	assert_int_equal(b.len, 4 + 4 + 64 + 4 + 3 * 40 + 6 * 48);
	/* fixed layout spot checks (docs/format/index.md) */
	assert_int_equal(le32_get(b.data), 1);
	assert_int_equal(le32_get(b.data + 4), 2);
	assert_memory_equal(b.data + 8, f.supersedes[0], 32);
	assert_int_equal(le32_get(b.data + 72), 3);
	assert_memory_equal(b.data + 76, f.packs[0].pack_id, 32);
	assert_int_equal(le32_get(b.data + 112), 1); /* n_blobs of pack 0 */
	assert_int_equal(b.data[116], f.packs[0].blobs[0].type);
	assert_int_equal(le32_get(b.data + 120), 0);  /* offset */
	assert_memory_equal(b.data + 132, f.packs[0].blobs[0].id, 32);

	memset(&g, 0xa5, sizeof g);
	assert_int_equal(index_file_decode(b.data, b.len, &g), 0);
	assert_files_equal(&f, &g);
	assert_int_equal(index_file_encode(&g, &b2), 0);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.data, b.data, b.len);
	index_file_fini(&g);

	/* an empty index file (a prune that kept nothing) */
	struct index_file empty = { 0 };
	buf_reset(&b);
	assert_int_equal(index_file_encode(&empty, &b), 0);
	assert_int_equal(b.len, 12);
	assert_int_equal(index_file_decode(b.data, b.len, &g), 0);
	assert_int_equal(g.n_packs, 0);
	assert_int_equal(g.n_supersedes, 0);
	index_file_fini(&g);
	index_file_fini(NULL);

	index_file_fini(&f);
	buf_fini(&b);
	buf_fini(&b2);
}

static int dec(const struct buf *b)
{
	struct index_file g;
	memset(&g, 0x5a, sizeof g);
	int e = index_file_decode(b->data, b->len, &g);
	if (e == 0)
		index_file_fini(&g);
	else
		assert_int_equal(g.n_packs, 0x5a5a5a5a5a5a5a5aull); /* untouched */
	return e;
}

static void test_file_malformed(void **state)
{
	struct index_file f;
	struct buf b = { 0 };

	(void)state;
	sample(&f);
	assert_int_equal(index_file_encode(&f, &b), 0);
	size_t full = b.len;
	/* every truncation */
	for (size_t len = 0; len < full; len++) {
		b.len = len;
		assert_int_equal(dec(&b), -EBADMSG);
	}
	b.len = full;
	assert_int_equal(dec(&b), 0);
	/* a trailing byte */
	assert_int_equal(buf_put_u8(&b, 0), 0);
	assert_int_equal(dec(&b), -EBADMSG);
	b.len = full;
	/* version */
	le32_put(b.data, 2);
	assert_int_equal(dec(&b), -ENOTSUP);
	le32_put(b.data, 1);
	/* the reserved field of the first blob, and its type and comp */
	b.data[118] = 1;
	assert_int_equal(dec(&b), -EBADMSG);
	b.data[118] = 0;
	b.data[116] = BLOB_DELTA + 1; /* no such type */
	assert_int_equal(dec(&b), -EBADMSG);
	b.data[116] = BLOB_DATA;
	b.data[117] = 7;
	assert_int_equal(dec(&b), -EBADMSG);
	b.data[117] = BLOB_COMP_NONE;
	/* raw_len no longer matching stored_len for an uncompressed blob */
	le32_put(b.data + 128, le32_get(b.data + 128) + 1);
	assert_int_equal(dec(&b), -EBADMSG);
	le32_put(b.data + 128, le32_get(b.data + 128) - 1);
	assert_int_equal(dec(&b), 0);
	buf_reset(&b);

	/* overlapping blobs in the last pack: blob 1 starts inside blob 0 */
	struct index_pack *p = &f.packs[2];
	p->blobs[1].offset = p->blobs[0].stored_len - 1;
	assert_int_equal(index_file_encode(&f, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	/* encode refuses it, so write it anyway and patch the bytes */
	p->blobs[1].offset = p->blobs[0].stored_len;
	assert_int_equal(index_file_encode(&f, &b), 0);
	assert_int_equal(dec(&b), 0);
	size_t off1 = b.len - 2 * 48 + 4; /* offset field of the pack's blob 1 */
	assert_int_equal(le32_get(b.data + off1), p->blobs[0].stored_len);
	le32_put(b.data + off1, p->blobs[0].stored_len - 1);
	assert_int_equal(dec(&b), -EBADMSG);
	/* unsorted: blob 1 before blob 0 */
	le32_put(b.data + off1, 0);
	le32_put(b.data + off1 - 48, 1000);
	assert_int_equal(dec(&b), -EBADMSG);
	/* a blob running past 4 GiB */
	le32_put(b.data + off1 - 48, 0);
	le32_put(b.data + off1, UINT32_MAX - 10);
	assert_int_equal(dec(&b), -EBADMSG);

	/* a pack with no blobs */
	buf_reset(&b);
	struct index_file one = { 0 };
	struct index_pack zp = { { 0 }, 0, 0, NULL };
	one.n_packs = 1;
	one.packs = &zp;
	assert_int_equal(index_file_encode(&one, &b), -EINVAL);
	buf_put_u32(&b, 1);
	buf_put_u32(&b, 0);
	buf_put_u32(&b, 1);
	uint8_t zero[40 + 48] = { 0 };
	buf_put(&b, zero, 40);
	assert_int_equal(dec(&b), -EBADMSG);
	buf_put(&b, zero, 48); /* as if one entry followed; count still 0 */
	assert_int_equal(dec(&b), -EBADMSG);

	index_file_fini(&f);
	buf_fini(&b);
}

/*
 * Decodes under an address-space limit of 64 MiB more than now: a decoder
 * that trusted a huge count would allocate gigabytes and fail -ENOMEM. The
 * limit cannot be used under AddressSanitizer, whose shadow memory needs
 * terabytes of address space; there only the result is checked.
 */
static void decode_limited(const struct buf *b, int expect)
{
#ifdef UNDER_ASAN
	assert_int_equal(dec(b), expect);
#else
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		long pages = 0;
		FILE *fp = fopen("/proc/self/statm", "r");
		if (fp == NULL || fscanf(fp, "%ld", &pages) != 1)
			_exit(2);
		fclose(fp);
		struct rlimit rl;
		rl.rlim_cur = rl.rlim_max =
			(rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (64u << 20);
		if (setrlimit(RLIMIT_AS, &rl) != 0)
			_exit(3);
		struct index_file g;
		int e = index_file_decode(b->data, b->len, &g);
		if (e == 0)
			index_file_fini(&g);
		_exit(e == expect ? 0 : (e == -ENOMEM ? 4 : 5));
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
#endif
}

static void test_file_huge_counts(void **state)
{
	struct buf b = { 0 };
	uint8_t filler[200];

	(void)state;
	memset(filler, 0, sizeof filler);
	/* n_supersedes far beyond the input */
	buf_put_u32(&b, 1);
	buf_put_u32(&b, UINT32_MAX);
	buf_put(&b, filler, 64);
	decode_limited(&b, -EBADMSG);
	buf_reset(&b);
	buf_put_u32(&b, 1);
	buf_put_u32(&b, 1u << 26);
	buf_put(&b, filler, 64);
	decode_limited(&b, -EBADMSG);
	/* n_packs */
	buf_reset(&b);
	buf_put_u32(&b, 1);
	buf_put_u32(&b, 0);
	buf_put_u32(&b, UINT32_MAX);
	buf_put(&b, filler, 88);
	decode_limited(&b, -EBADMSG);
	buf_reset(&b);
	buf_put_u32(&b, 1);
	buf_put_u32(&b, 0);
	buf_put_u32(&b, INDEX_MAX_PACKS);
	buf_put(&b, filler, 88);
	decode_limited(&b, -EBADMSG);
	/* n_blobs of one pack */
	uint32_t counts[] = { UINT32_MAX, INDEX_MAX_BLOBS, INDEX_MAX_BLOBS + 1, 3 };
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		buf_reset(&b);
		buf_put_u32(&b, 1);
		buf_put_u32(&b, 0);
		buf_put_u32(&b, 1);
		buf_put(&b, filler, 36);   /* pack_id, key_gen */
		buf_put_u32(&b, counts[i]);
		buf_put(&b, filler, 2 * 48);
		decode_limited(&b, -EBADMSG);
	}
	buf_fini(&b);
}

/* ---- in-memory index ---- */

#define NPACKS 1000
#define PER_PACK 100
#define NBLOBS (NPACKS * PER_PACK)

struct mem_fixture {
	uint8_t pack_ids[NPACKS + 1][32];
	struct blob_entry *blobs; /* NBLOBS, pack p holds [p*PER_PACK, (p+1)*PER_PACK) */
	unsigned char *seen;
};

/* IDs carry their own number in bytes 8..11, the rest random. */
static void numbered_id(uint8_t id[32], uint32_t i)
{
	rnd_id(id);
	memcpy(id + 8, &i, 4);
}

static uint32_t id_number(const uint8_t id[32])
{
	uint32_t i;
	memcpy(&i, id + 8, 4);
	return i;
}

static int count_cb(const struct blob_loc *loc, void *arg)
{
	struct mem_fixture *mf = arg;
	uint32_t i = id_number(loc->e.id);
	assert_true(i < NBLOBS);
	assert_memory_equal(loc->e.id, mf->blobs[i].id, 32);
	assert_int_equal(loc->pack_no, i / PER_PACK);
	mf->seen[i]++;
	return 0;
}

static int stop_cb(const struct blob_loc *loc, void *arg)
{
	int *n = arg;
	(void)loc;
	return ++*n == 10 ? -ECANCELED : 0;
}

static void test_memory_index(void **state)
{
	struct mem_fixture *mf = calloc(1, sizeof *mf);
	struct index *ix = index_new();
	struct blob_loc loc;

	(void)state;
	assert_non_null(mf);
	assert_non_null(ix);
	mf->blobs = calloc(NBLOBS, sizeof *mf->blobs);
	mf->seen = calloc(NBLOBS, 1);
	assert_non_null(mf->blobs);
	assert_non_null(mf->seen);
	assert_false(index_lookup(ix, mf->pack_ids[0], &loc));
	assert_int_equal(index_blob_count(ix), 0);

	for (uint32_t p = 0; p < NPACKS; p++) {
		rnd_id(mf->pack_ids[p]);
		uint32_t off = 0;
		for (uint32_t j = 0; j < PER_PACK; j++) {
			uint32_t i = p * PER_PACK + j;
			struct blob_entry *e = &mf->blobs[i];
			*e = mk_entry(off, 1000 + (i % 777), (uint8_t)(i % 2), (uint8_t)(i % 3 == 0));
			numbered_id(e->id, i);
			off += e->stored_len;
		}
		assert_int_equal(index_add_pack(ix, mf->pack_ids[p], p % 4,
						&mf->blobs[p * PER_PACK], PER_PACK), 0);
	}
	assert_int_equal(index_blob_count(ix), NBLOBS);
	assert_int_equal(index_pack_count(ix), NPACKS);

	/* every blob is found where it was put */
	for (uint32_t i = 0; i < NBLOBS; i++) {
		const struct blob_entry *e = &mf->blobs[i];
		memset(&loc, 0, sizeof loc);
		assert_true(index_lookup(ix, e->id, &loc));
		assert_int_equal(loc.pack_no, i / PER_PACK);
		assert_memory_equal(index_pack_id(ix, loc.pack_no), mf->pack_ids[i / PER_PACK], 32);
		assert_int_equal(index_pack_key_gen(ix, loc.pack_no), (i / PER_PACK) % 4);
		assert_memory_equal(loc.e.id, e->id, 32);
		assert_int_equal(loc.e.type, e->type);
		assert_int_equal(loc.e.comp, e->comp);
		assert_int_equal(loc.e.offset, e->offset);
		assert_int_equal(loc.e.stored_len, e->stored_len);
		assert_int_equal(loc.e.raw_len, e->raw_len);
	}
	/* absent IDs miss, including near-misses that share the hash bytes */
	for (int k = 0; k < 10000; k++) {
		uint8_t id[32];
		rnd_id(id);
		assert_false(index_lookup(ix, id, NULL));
		memcpy(id, mf->blobs[k * 7].id, 32);
		id[31] ^= 1;
		assert_false(index_lookup(ix, id, &loc));
	}
	/* packs by ID */
	for (uint32_t p = 0; p < NPACKS; p++) {
		uint32_t no = UINT32_MAX;
		assert_int_equal(index_find_pack(ix, mf->pack_ids[p], &no), 0);
		assert_int_equal(no, p);
	}
	uint32_t no = 12345;
	rnd_id(mf->pack_ids[NPACKS]);
	assert_int_equal(index_find_pack(ix, mf->pack_ids[NPACKS], &no), -ENOENT);
	assert_int_equal(no, 12345);
	assert_null(index_pack_id(ix, NPACKS));

	/* a new pack repeating 50 known blobs and bringing 50 new ones */
	struct blob_entry dup[100];
	for (int j = 0; j < 100; j++) {
		if (j < 50) {
			dup[j] = mf->blobs[j * 1999];
			dup[j].offset = (uint32_t)j * 1000000u; /* elsewhere */
		} else {
			dup[j] = mk_entry((uint32_t)j * 1000000u, 10, BLOB_DATA, BLOB_COMP_NONE);
		}
	}
	assert_int_equal(index_add_pack(ix, mf->pack_ids[NPACKS], 9, dup, 100), 0);
	assert_int_equal(index_pack_count(ix), NPACKS + 1);
	assert_int_equal(index_blob_count(ix), NBLOBS + 50);
	for (int j = 0; j < 50; j++) {
		assert_true(index_lookup(ix, dup[j].id, &loc));
		assert_int_equal(loc.pack_no, (uint32_t)(j * 1999) / PER_PACK);
		assert_int_equal(loc.e.offset, mf->blobs[j * 1999].offset);
	}
	for (int j = 50; j < 100; j++) {
		assert_true(index_lookup(ix, dup[j].id, &loc));
		assert_int_equal(loc.pack_no, NPACKS);
		assert_int_equal(loc.e.offset, dup[j].offset);
	}
	/* the same pack listed again (by two index files): no new number */
	assert_int_equal(index_add_pack(ix, mf->pack_ids[7], 99, &mf->blobs[7 * PER_PACK],
					PER_PACK), 0);
	assert_int_equal(index_pack_count(ix), NPACKS + 1);
	assert_int_equal(index_blob_count(ix), NBLOBS + 50);
	assert_int_equal(index_pack_key_gen(ix, 7), 3);
	assert_int_equal(index_find_pack(ix, mf->pack_ids[NPACKS], &no), 0);
	assert_int_equal(no, NPACKS);

	/*
	 * foreach visits each blob once. The 50 extra blobs carry no number,
	 * so walk an index of the numbered ones only.
	 */
	struct index *ix2 = index_new();
	assert_non_null(ix2);
	for (uint32_t p = 0; p < NPACKS; p++)
		assert_int_equal(index_add_pack(ix2, mf->pack_ids[p], 0,
						&mf->blobs[p * PER_PACK], PER_PACK), 0);
	assert_int_equal(index_foreach(ix2, count_cb, mf), 0);
	for (uint32_t i = 0; i < NBLOBS; i++)
		assert_int_equal(mf->seen[i], 1);
	int stop = 0;
	assert_int_equal(index_foreach(ix, stop_cb, &stop), -ECANCELED);
	assert_int_equal(stop, 10);
	index_free(ix2);

	index_free(ix);
	index_free(NULL);
	free(mf->blobs);
	free(mf->seen);
	free(mf);
}

static int total_cb(const struct blob_loc *loc, void *arg)
{
	(void)loc;
	++*(size_t *)arg;
	return 0;
}

/* foreach over the index with duplicates visits exactly blob_count blobs. */
static void test_foreach_count(void **state)
{
	struct index *ix = index_new();
	struct blob_entry e[3];
	uint8_t p1[32], p2[32];
	size_t n = 0;

	(void)state;
	rnd_id(p1);
	rnd_id(p2);
	e[0] = mk_entry(0, 10, BLOB_DATA, BLOB_COMP_NONE);
	e[1] = mk_entry(38, 10, BLOB_DATA, BLOB_COMP_NONE);
	e[2] = e[0];
	assert_int_equal(index_add_pack(ix, p1, 0, e, 2), 0);
	assert_int_equal(index_add_pack(ix, p2, 0, e + 1, 2), 0);
	assert_int_equal(index_blob_count(ix), 2);
	assert_int_equal(index_foreach(ix, total_cb, &n), 0);
	assert_int_equal(n, 2);
	index_free(ix);
}

/* ---- runs: the index beyond its write buffer ---- */

/*
 * The write buffer holds at least 64 Ki blobs before it is merged into a
 * sorted run (core/repo/index.c), so these tests add a few hundred
 * thousand to get several runs and merges.
 */
#define BIG 300000
#define BIG_PACK 70000   /* one pack larger than the write buffer */
#define SAME_FIRST 1000  /* [SAME_FIRST, SAME_FIRST + SAME_N) share 8 bytes */
#define SAME_N 300

/* Mappings of unlinked files (the index's run files) in this process. */
static int deleted_maps(void)
{
	char line[512];
	int n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL)
		n += strstr(line, "(deleted)") != NULL;
	fclose(f);
	return n;
}

/* Whether the index can put run files in dir. */
static bool tmp_usable(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return access(dir, W_OK) == 0;
	close(fd);
	return true;
}

/*
 * BIG numbered blobs in packs of 997, but pack 3 holds BIG_PACK; blob i
 * is at offset 1000 * i in its pack. SAME_N of them share their first 8
 * bytes, so they span several blocks of a run with equal fences.
 */
static struct blob_entry *big_blobs(size_t *starts, size_t *n_packs)
{
	struct blob_entry *b = calloc(BIG, sizeof *b);
	size_t p = 0;

	assert_non_null(b);
	for (uint32_t i = 0; i < BIG; i++) {
		b[i] = mk_entry(1000 * i, 1 + i % 5000, (uint8_t)(i % 2), (uint8_t)(i % 3 == 0));
		numbered_id(b[i].id, i);
		if (i >= SAME_FIRST && i < SAME_FIRST + SAME_N)
			memset(b[i].id, 0x5a, 8);
	}
	for (size_t i = 0; i < BIG; p++) {
		starts[p] = i;
		i += p == 3 ? BIG_PACK : 997;
		if (i > BIG)
			i = BIG;
	}
	starts[p] = BIG;
	*n_packs = p;
	return b;
}

static void assert_loc(const struct blob_loc *loc, const struct blob_entry *e,
		       uint32_t pack_no)
{
	assert_int_equal(loc->pack_no, pack_no);
	assert_memory_equal(loc->e.id, e->id, 32);
	assert_int_equal(loc->e.type, e->type);
	assert_int_equal(loc->e.comp, e->comp);
	assert_int_equal(loc->e.offset, e->offset);
	assert_int_equal(loc->e.stored_len, e->stored_len);
	assert_int_equal(loc->e.raw_len, e->raw_len);
}

struct walk {
	const struct blob_entry *b;
	const size_t *starts;
	unsigned char *seen;
	size_t n;
};

static int walk_cb(const struct blob_loc *loc, void *arg)
{
	struct walk *w = arg;
	uint32_t i = id_number(loc->e.id);

	assert_true(i < BIG);
	assert_memory_equal(loc->e.id, w->b[i].id, 32);
	assert_true(w->starts[loc->pack_no] <= i && i < w->starts[loc->pack_no + 1]);
	assert_int_equal(loc->e.offset, w->b[i].offset);
	w->seen[i]++;
	w->n++;
	return 0;
}

static void test_runs(void **state)
{
	size_t starts[BIG / 997 + 2], n_packs;
	struct blob_entry *b = big_blobs(starts, &n_packs);
	struct index *ix = index_new();
	struct blob_loc loc;
	uint8_t pid[32], id[32];
	int maps = deleted_maps();

	(void)state;
	assert_non_null(ix);
	for (size_t p = 0; p < n_packs; p++) {
		memset(pid, 0, sizeof pid);
		memcpy(pid, &p, sizeof p);
		assert_int_equal(index_add_pack(ix, pid, (uint32_t)p, &b[starts[p]],
						starts[p + 1] - starts[p]), 0);
		assert_int_equal(index_blob_count(ix), starts[p + 1]);
	}
	assert_int_equal(index_pack_count(ix), n_packs);
	if (tmp_usable("/var/tmp") || tmp_usable("/tmp"))
		assert_true(deleted_maps() > maps); /* runs are in files */

	/* every blob where it was put */
	for (size_t p = 0; p < n_packs; p++)
		for (size_t i = starts[p]; i < starts[p + 1]; i++) {
			memset(&loc, 0, sizeof loc);
			assert_true(index_lookup(ix, b[i].id, &loc));
			assert_loc(&loc, &b[i], (uint32_t)p);
		}
	/* absent: random, one bit off a present ID, around the equal fences */
	for (int k = 0; k < 20000; k++) {
		rnd_id(id);
		assert_false(index_lookup(ix, id, &loc));
		memcpy(id, b[(size_t)k * 13].id, 32);
		id[31] ^= 0x80;
		assert_false(index_lookup(ix, id, NULL));
		id[31] ^= 0x80;
		id[12] ^= 1;
		assert_false(index_lookup(ix, id, NULL));
	}
	for (uint32_t k = 0; k < SAME_N + 2; k++) {
		/* between and around the IDs sharing 8 bytes */
		memcpy(id, b[SAME_FIRST + (k < SAME_N ? k : 0)].id, 32);
		uint32_t num = SAME_FIRST + k;
		memcpy(id + 8, &num, 4);
		memset(id + 12, k == SAME_N ? 0 : 0xff, 20);
		assert_false(index_lookup(ix, id, NULL));
	}
	memset(id, 0x5a, 8);
	memset(id + 8, 0, 24);
	assert_false(index_lookup(ix, id, NULL)); /* before all of them */
	memset(id, 0, 32);
	assert_false(index_lookup(ix, id, NULL));
	memset(id, 0xff, 32);
	assert_false(index_lookup(ix, id, NULL));

	/* packs by ID */
	for (size_t p = 0; p < n_packs; p += 17) {
		uint32_t no = UINT32_MAX;
		memset(pid, 0, sizeof pid);
		memcpy(pid, &p, sizeof p);
		assert_int_equal(index_find_pack(ix, pid, &no), 0);
		assert_int_equal(no, p);
		assert_int_equal(index_pack_key_gen(ix, no), p);
	}

	/* foreach: each blob once, from the right pack; stops on request */
	struct walk w = { b, starts, calloc(BIG, 1), 0 };
	assert_non_null(w.seen);
	assert_int_equal(index_foreach(ix, walk_cb, &w), 0);
	assert_int_equal(w.n, BIG);
	for (size_t i = 0; i < BIG; i++)
		assert_int_equal(w.seen[i], 1);
	int stop = 0;
	assert_int_equal(index_foreach(ix, stop_cb, &stop), -ECANCELED);
	assert_int_equal(stop, 10);

	index_free(ix);
	assert_int_equal(deleted_maps(), maps); /* run files are gone */
	free(w.seen);
	free(b);
}

/* Adds blobs [from, to) of b as pack number `no` (pack ID from no). */
static void add_range(struct index *ix, const struct blob_entry *b, size_t from,
		      size_t to, uint32_t no)
{
	uint8_t pid[32] = { 0 };
	memcpy(pid, &no, sizeof no);
	assert_int_equal(index_add_pack(ix, pid, 0, &b[from], to - from), 0);
	assert_int_equal(index_pack_count(ix), no + 1);
}

static void assert_at(const struct index *ix, const struct blob_entry *e, uint32_t pack_no)
{
	struct blob_loc loc;
	assert_true(index_lookup(ix, e->id, &loc));
	assert_loc(&loc, e, pack_no);
}

/* A blob already present keeps its first location: in a run, in the buffer, both. */
static void test_first_location(void **state)
{
	size_t starts[BIG / 997 + 2], n_packs;
	struct blob_entry *b = big_blobs(starts, &n_packs);
	struct index *ix = index_new();
	struct blob_entry c[30];

	(void)state;
	/* pack 0: 70 000 blobs, pack 1: 1000 more, which merges pack 0 into a run */
	add_range(ix, b, 0, BIG_PACK, 0);
	add_range(ix, b, BIG_PACK, BIG_PACK + 1000, 1);
	assert_int_equal(index_blob_count(ix), BIG_PACK + 1000);
	/* pack 2: 10 blobs of pack 0 (run), 10 of pack 1 (buffer), 5 new twice */
	for (int j = 0; j < 10; j++) {
		c[j] = b[(size_t)j * 6007];
		c[10 + j] = b[BIG_PACK + (size_t)j * 97];
	}
	for (int j = 0; j < 5; j++) {
		c[20 + j] = b[BIG - 1 - (size_t)j];
		c[25 + j] = c[20 + j];
		c[25 + j].offset += 1;
	}
	for (int j = 0; j < 30; j++)
		c[j].offset = (uint32_t)j * 10000 + (j >= 25);
	add_range(ix, c, 0, 30, 2);
	assert_int_equal(index_blob_count(ix), BIG_PACK + 1005);
	for (int round = 0; round < 2; round++) {
		for (int j = 0; j < 10; j++) {
			assert_at(ix, &b[(size_t)j * 6007], 0);
			assert_at(ix, &b[BIG_PACK + (size_t)j * 97], 1);
		}
		for (int j = 0; j < 5; j++)
			assert_at(ix, &c[20 + j], 2);
		/*
		 * Then 70 000 new blobs and one more pack: buffer and runs are
		 * merged into one run; the second round checks after that.
		 */
		if (round == 0) {
			add_range(ix, b, BIG_PACK + 1000, 2 * BIG_PACK + 1000, 3);
			add_range(ix, b, 2 * BIG_PACK + 1000, 2 * BIG_PACK + 1001, 4);
			assert_int_equal(index_blob_count(ix), 2 * BIG_PACK + 1006);
		}
	}
	/* pack 0 listed again (two index files): nothing changes */
	uint8_t pid[32] = { 0 };
	assert_int_equal(index_add_pack(ix, pid, 7, b, BIG_PACK), 0);
	assert_int_equal(index_pack_count(ix), 5);
	assert_int_equal(index_blob_count(ix), 2 * BIG_PACK + 1006);
	assert_int_equal(index_pack_key_gen(ix, 0), 0);
	assert_at(ix, &b[123], 0);
	/* foreach visits exactly the counted blobs */
	size_t n = 0;
	assert_int_equal(index_foreach(ix, total_cb, &n), 0);
	assert_int_equal(n, index_blob_count(ix));
	index_free(ix);
	free(b);
}


struct delta_seen {
	const struct blob_entry *b;
	size_t n, whole_in_pack1;
};

static int delta_cb(const struct blob_loc *loc, void *arg)
{
	struct delta_seen *d = arg;
	d->n++;
	if (loc->pack_no == 1 && loc->e.type == BLOB_DATA)
		d->whole_in_pack1++;
	return 0;
}

/*
 * A whole copy replaces a delta copy of the same content found first (so
 * a delta's base resolves to a whole blob), in the buffer and after a
 * merge into runs; the reverse does not happen, and foreach reports the
 * replacing location once.
 */
static void test_whole_replaces_delta(void **state)
{
	size_t starts[BIG / 997 + 2], n_packs;
	struct blob_entry *b = big_blobs(starts, &n_packs);
	struct blob_entry c[40];
	struct index *ix = index_new();

	(void)state;
	/* pack 0: 40 blobs, the even ones stored as deltas */
	for (int j = 0; j < 40; j++) {
		c[j] = b[j];
		c[j].offset = (uint32_t)j * 1000;
		c[j].type = j % 2 ? BLOB_DATA : BLOB_DELTA;
	}
	add_range(ix, c, 0, 40, 0);
	/* pack 1: the same 40, all whole; pack 2: the same 40, all deltas */
	for (int j = 0; j < 40; j++)
		c[j].type = BLOB_DATA;
	add_range(ix, c, 0, 40, 1);
	for (int j = 0; j < 40; j++)
		c[j].type = BLOB_DELTA;
	add_range(ix, c, 0, 40, 2);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(index_blob_count(ix), round ? 40 + BIG_PACK : 40);
		for (int j = 0; j < 40; j++) {
			struct blob_loc loc;
			assert_true(index_lookup(ix, b[j].id, &loc));
			assert_int_equal(loc.e.type, BLOB_DATA);
			assert_int_equal(loc.pack_no, j % 2 ? 0 : 1);
		}
		struct delta_seen d = { .b = b };
		assert_int_equal(index_foreach(ix, delta_cb, &d), 0);
		assert_int_equal(d.n, index_blob_count(ix));
		assert_int_equal(d.whole_in_pack1, 20);
		if (round == 0) /* merge the buffer into a run and check again */
			add_range(ix, b, 1000 + BIG_PACK, 1000 + 2 * BIG_PACK, 3);
	}
	index_free(ix);
	free(b);
}

/* index_free with nothing, with a buffer only, with runs: nothing is left. */
static void test_index_free(void **state)
{
	size_t starts[BIG / 997 + 2], n_packs;
	struct blob_entry *b = big_blobs(starts, &n_packs);
	int maps = deleted_maps();

	(void)state;
	index_free(NULL);
	index_free(index_new());
	struct index *ix = index_new();
	add_range(ix, b, 0, 1000, 0);
	assert_int_equal(deleted_maps(), maps); /* a buffer only */
	index_free(ix);
	ix = index_new();
	add_range(ix, b, 0, BIG_PACK, 0);
	add_range(ix, b, BIG_PACK, BIG_PACK + 1, 1);
	if (tmp_usable("/var/tmp") || tmp_usable("/tmp"))
		assert_int_equal(deleted_maps(), maps + 1);
	index_free(ix);
	assert_int_equal(deleted_maps(), maps);
	free(b);
}

/*
 * Builds an index of 150 000 blobs (runs and merges) and checks it, and
 * that its runs are in files (mappings of unlinked files) or not.
 */
static void build_and_check(const struct blob_entry *b, bool in_files)
{
	int maps = deleted_maps();
	struct index *ix = index_new();
	struct blob_loc loc;
	uint8_t id[32];

	assert_non_null(ix);
	for (uint32_t p = 0; p < 150; p++)
		add_range(ix, b, p * 1000u, (p + 1) * 1000u, p);
	assert_int_equal(index_blob_count(ix), 150000);
	for (uint32_t i = 0; i < 150000; i += 7)
		assert_at(ix, &b[i], i / 1000);
	for (int k = 0; k < 1000; k++) {
		rnd_id(id);
		assert_false(index_lookup(ix, id, &loc));
	}
	size_t n = 0;
	assert_int_equal(index_foreach(ix, total_cb, &n), 0);
	assert_int_equal(n, 150000);
	if (in_files)
		assert_true(deleted_maps() > maps);
	else
		assert_int_equal(deleted_maps(), maps);
	index_free(ix);
}

/*
 * Temporary directories that cannot be used: TMPDIR naming a regular file
 * (the next directory is used), no file at all (too many open files: the
 * runs go to anonymous memory), and writes that fail (file size limit: the
 * same). The index works the same in every case.
 */
static void test_tmpdir_unusable(void **state)
{
	size_t starts[BIG / 997 + 2], n_packs;
	struct blob_entry *b = big_blobs(starts, &n_packs);
	char notdir[] = "/tmp/coffer-test-index-XXXXXX";
	char *old = getenv("TMPDIR");
	char *saved = old ? strdup(old) : NULL;
	struct rlimit rl, tight;
	int maps = deleted_maps();

	(void)state;
	int fd = mkstemp(notdir);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(setenv("TMPDIR", notdir, 1), 0);
	build_and_check(b, tmp_usable("/var/tmp") || tmp_usable("/tmp"));
	assert_int_equal(deleted_maps(), maps);

	/* no descriptor can be opened: anonymous memory */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	tight = rl;
	tight.rlim_cur = 0;
	struct index *ix = index_new();
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
	for (uint32_t p = 0; p < 150; p++) {
		uint8_t pid[32] = { 0 };
		memcpy(pid, &p, sizeof p);
		if (index_add_pack(ix, pid, 0, &b[p * 1000u], 1000) != 0)
			break;
	}
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(index_blob_count(ix), 150000);
	assert_int_equal(deleted_maps(), maps); /* no run file */
	for (uint32_t i = 0; i < 150000; i += 7)
		assert_at(ix, &b[i], i / 1000);
	index_free(ix);

	/* writes fail: anonymous memory again */
	assert_int_equal(unsetenv("TMPDIR"), 0);
	void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
	tight = rl;
	tight.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &tight), 0);
	build_and_check(b, false);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	signal(SIGXFSZ, old_xfsz);

	if (saved != NULL)
		setenv("TMPDIR", saved, 1);
	free(saved);
	unlink(notdir);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_round_trip),
		cmocka_unit_test(test_file_malformed),
		cmocka_unit_test(test_file_huge_counts),
		cmocka_unit_test(test_memory_index),
		cmocka_unit_test(test_foreach_count),
		cmocka_unit_test(test_runs),
		cmocka_unit_test(test_first_location),
		cmocka_unit_test(test_whole_replaces_delta),
		cmocka_unit_test(test_index_free),
		cmocka_unit_test(test_tmpdir_unusable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
