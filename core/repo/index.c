/*
 * The in-memory index: blob ID -> pack number and entry, with bounded RAM.
 *
 * A repository of a hundred million blobs cannot keep 50-odd bytes per blob
 * in anonymous memory, so the records live in a few immutable sorted runs
 * in unlinked temporary files, mmap'd read-only: their pages are page cache
 * that the kernel may drop and read again. What stays in RAM per blob is
 * small (docs/performance.md, "Index memory", has the measured figures):
 *
 * - per run, a blocked Bloom filter of 16 bits per blob, so that looking
 *   up an absent ID (most lookups of an initial backup) touches no run
 *   page, and a present one touches the pages of one run only;
 * - per run, a fence per 4 KiB block (the first 8 bytes of its first ID),
 *   so that a lookup reads one block (two when IDs share 8 bytes);
 * - a write buffer for new blobs: an array with a hash table over it,
 *   at most an eighth of the index (between 64 Ki and 4 Mi entries). When
 *   it is full it is sorted and merged with the newest runs into one run:
 *   runs are merged while a run is not at least twice as large as the one
 *   after it, so there are O(log n) runs and each record is rewritten
 *   O(log n) times;
 * - the pack table (pack number -> pack ID), a few bytes per pack.
 *
 * Blobs are deduplicated as they are added (a blob already present keeps
 * its first location; a whole copy that replaces a delta copy goes to a
 * small override table consulted first), so runs and buffer are disjoint: a lookup may stop
 * at the first hit, counts are sums, and foreach visits every record once.
 *
 * Run files go to $TMPDIR, else /var/tmp, else /tmp (O_TMPFILE, or a
 * mkstemp name unlinked at once). If none of them works, or writing fails
 * (disk full), the run is built in anonymous memory instead, with a
 * warning: the index still works, only its memory is no longer bounded.
 * The files hold blob IDs and locations in plaintext; IDs are keyed MACs
 * and reveal nothing about content without the repository's keys.
 *
 * Nothing here locks: see index.h.
 */
#include "repo/index.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/io.h"
#include "repo/idset.h"
#include "util/log.h"

/*
 * A record, in runs and in the write buffer: id[32], pack_no, offset,
 * stored_len, raw_len (u32 little-endian each), type, comp. Runs are made
 * of 4 KiB blocks of 81 records each, never split across blocks.
 */
#define REC_LEN 50
#define REC_PACK 32
#define REC_OFFSET 36
#define REC_STORED 40
#define REC_RAW 44
#define REC_TYPE 48
#define REC_COMP 49
#define BLOCK_LEN 4096
#define PER_BLOCK (BLOCK_LEN / REC_LEN)

/* Blocked Bloom filter: one 512-bit block per 32 blobs, 7 bits per blob. */
#define FILTER_BLOBS_PER_BLOCK 32
#define FILTER_K 7

/* Write buffer bounds, in records, and its share of the index. */
#define BUF_MIN (64u << 10)
#define BUF_MAX (4u << 20)
#define BUF_SHARE 8
#define BUF_FIRST 4096

/* Filter blocks prefetched ahead while a run is written. */
#define FILTER_PEND 16

/* Blocks written to a run file per pwrite. */
#define STAGE_BLOCKS 64

struct filter_block {
	uint64_t w[8];
};

/* One immutable sorted run. */
struct index_run {
	const uint8_t *base;    /* n records in blocks; mapping of map_len bytes */
	size_t map_len;
	size_t n;
	uint64_t *fences;       /* per block: prefix of its first ID */
	size_t n_blocks;
	struct filter_block *filter;
	size_t n_filter;
};

struct index_packinfo {
	uint8_t id[32];
	uint32_t key_gen;
};

struct index {
	struct index_run *runs;      /* oldest and largest first */
	size_t n_runs, runs_cap;
	size_t n_in_runs;
	uint8_t *buf;                /* buf_n records of REC_LEN bytes */
	size_t buf_n, buf_cap;
	uint64_t *slots;             /* tag << 32 | buffer record number + 1, or 0 */
	size_t slots_cap;            /* power of two >= 2 * buf_cap, or 0 */
	struct index_packinfo *packs;
	size_t n_packs, packs_cap;
	struct idset *pack_map;      /* pack ID -> pack number */
	bool warned;                 /* about runs in anonymous memory */
	/*
	 * Whole copies that replace a delta copy of the same content found
	 * first (see index_add_pack): over_n records, over_map ID -> record
	 * number. Empty, and not allocated, in all but rare repositories.
	 */
	uint8_t *over;
	size_t over_n, over_cap;
	struct idset *over_map;
};

/* The first 8 bytes of an ID as a number that sorts as memcmp does. */
static uint64_t id_prefix(const uint8_t *id)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | id[i];
	return v;
}

static void rec_encode(uint8_t *r, const struct blob_entry *b, uint32_t pack_no)
{
	memcpy(r, b->id, BLOB_ID_LEN);
	le32_put(r + REC_PACK, pack_no);
	le32_put(r + REC_OFFSET, b->offset);
	le32_put(r + REC_STORED, b->stored_len);
	le32_put(r + REC_RAW, b->raw_len);
	r[REC_TYPE] = b->type;
	r[REC_COMP] = b->comp;
}

static void rec_decode(const uint8_t *r, struct blob_loc *loc)
{
	memcpy(loc->e.id, r, BLOB_ID_LEN);
	loc->pack_no = le32_get(r + REC_PACK);
	loc->e.offset = le32_get(r + REC_OFFSET);
	loc->e.stored_len = le32_get(r + REC_STORED);
	loc->e.raw_len = le32_get(r + REC_RAW);
	loc->e.type = r[REC_TYPE];
	loc->e.comp = r[REC_COMP];
}

/* ---- filters ---- */

/*
 * IDs are uniformly random MAC outputs: bytes 16..23 pick the block and
 * bytes 24..31 the bits, independent of the bytes that order the runs and
 * hash the buffer.
 */
static size_t filter_block_of(size_t n, const uint8_t id[BLOB_ID_LEN])
{
	/* n < 2^32 (see writer_init): a multiply instead of a division */
	return (size_t)((le64_get(id + 16) >> 32) * (uint64_t)n >> 32);
}

static void filter_set(struct filter_block *b, uint64_t h)
{
	for (int k = 0; k < FILTER_K; k++, h >>= 9)
		b->w[(h & 511) >> 6] |= 1ull << (h & 63);
}

static bool filter_has(const struct filter_block *f, size_t n, const uint8_t id[BLOB_ID_LEN])
{
	const struct filter_block *b = &f[filter_block_of(n, id)];
	uint64_t h = le64_get(id + 24);

	for (int k = 0; k < FILTER_K; k++, h >>= 9)
		if (!(b->w[(h & 511) >> 6] & (1ull << (h & 63))))
			return false;
	return true;
}

/* ---- runs ---- */

static const uint8_t *run_rec(const struct index_run *r, size_t i)
{
	return r->base + i / PER_BLOCK * BLOCK_LEN + i % PER_BLOCK * REC_LEN;
}

static void run_fini(struct index_run *r)
{
	if (r->base != NULL)
		munmap((void *)r->base, r->map_len);
	free(r->fences);
	free(r->filter);
	memset(r, 0, sizeof *r);
}

/*
 * The record of id in block b of run r, or NULL; *before is set if id
 * sorts before the whole block. IDs are uniform, so the search starts
 * where id's prefix falls between this block's fence and the next one
 * and walks from there: a few adjacent cache lines instead of the seven
 * scattered ones of a binary search.
 */
static const uint8_t *block_find(const struct index_run *r, size_t b,
				 const uint8_t id[BLOB_ID_LEN], bool *before)
{
	size_t first = b * PER_BLOCK;
	size_t cnt = r->n - first < PER_BLOCK ? r->n - first : PER_BLOCK;
	uint64_t lo = r->fences[b];
	uint64_t hi = b + 1 < r->n_blocks ? r->fences[b + 1] : UINT64_MAX;
	uint64_t p = id_prefix(id);
	const uint8_t *blk = r->base + b * BLOCK_LEN;
	size_t g = 0;

	*before = false;
	if (hi > lo && p > lo)
		g = (size_t)((double)(p - lo) / (double)(hi - lo) * (double)cnt);
	if (g >= cnt)
		g = cnt - 1;
	int c = memcmp(blk + g * REC_LEN, id, BLOB_ID_LEN);
	if (c < 0) {
		while (++g < cnt && (c = memcmp(blk + g * REC_LEN, id, BLOB_ID_LEN)) < 0)
			;
	} else if (c > 0) {
		while (g > 0 && (c = memcmp(blk + (g - 1) * REC_LEN, id, BLOB_ID_LEN)) >= 0) {
			g--;
			if (c == 0)
				break;
		}
		*before = g == 0 && c > 0;
	}
	return c == 0 ? blk + g * REC_LEN : NULL;
}

/*
 * The record of id in run r, or NULL. Fences pick the last block whose
 * first ID could precede id; only when IDs share their first 8 bytes
 * across a block boundary does the search step back a block.
 */
static const uint8_t *run_find(const struct index_run *r, const uint8_t id[BLOB_ID_LEN])
{
	uint64_t p = id_prefix(id);
	size_t lo = 0, hi = r->n_blocks;
	bool before;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->fences[mid] <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t b = lo; b-- > 0;) {
		const uint8_t *rec = block_find(r, b, id, &before);
		if (rec != NULL || !before || r->fences[b] != p)
			return rec;
	}
	return NULL;
}

/*
 * An unlinked temporary file for a run, or -errno of the last attempt:
 * O_TMPFILE where the file system has it, else a mkstemp name removed at
 * once.
 */
static int run_tmpfile(void)
{
	const char *dirs[] = { getenv("TMPDIR"), "/var/tmp", "/tmp" };
	int e = -ENOENT;

	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		char path[PATH_MAX];
		if (dirs[i] == NULL || dirs[i][0] == 0)
			continue;
		int fd = open(dirs[i], O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (snprintf(path, sizeof path, "%s/coffer-index-XXXXXX", dirs[i]) >=
		    (int)sizeof path)
			continue;
		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0) {
			unlink(path);
			return fd;
		}
		e = errno == ENOMEM ? -EIO : -errno;
	}
	return e;
}

/* Builds one run from sorted record streams. */
struct run_writer {
	struct index_run run;
	size_t cap;             /* records the run has room for */
	int fd;                 /* -1: records go straight into run.base */
	uint8_t *stage;         /* STAGE_BLOCKS blocks on their way to fd */
	size_t staged_from;     /* first block in stage */
	/*
	 * Filter bits wait here a few records after their block was
	 * prefetched: the filter is too large for the cache, and setting
	 * bits at once would stall on every record.
	 */
	struct {
		struct filter_block *b;
		uint64_t h;
	} pend[FILTER_PEND];
	size_t n_pend;
};

/* Writes out the staged blocks before block `upto`. */
static int writer_drain(struct run_writer *w, size_t upto)
{
	size_t nb = upto - w->staged_from;
	int e = io_pwrite_all(w->fd, w->stage, nb * BLOCK_LEN,
			   (off_t)w->staged_from * BLOCK_LEN);
	if (e != 0)
		return e;
	memset(w->stage, 0, nb * BLOCK_LEN);
	w->staged_from = upto;
	return 0;
}

/*
 * Sets w up for at most cap records: in a temporary file if to_file,
 * else in anonymous memory. -ENOMEM, or another errno if the file cannot
 * be made (the caller then tries memory).
 */
static int writer_init(struct run_writer *w, size_t cap, bool to_file)
{
	size_t blocks = (cap + PER_BLOCK - 1) / PER_BLOCK;

	memset(w, 0, sizeof *w);
	w->fd = -1;
	w->cap = cap;
	w->run.n_filter = (cap + FILTER_BLOBS_PER_BLOCK - 1) / FILTER_BLOBS_PER_BLOCK;
	if (w->run.n_filter > UINT32_MAX)
		w->run.n_filter = UINT32_MAX; /* 2^37 blobs: more false positives */
	w->run.fences = malloc(blocks * sizeof *w->run.fences);
	w->run.filter = aligned_alloc(64, w->run.n_filter * sizeof *w->run.filter);
	if (w->run.fences == NULL || w->run.filter == NULL)
		return -ENOMEM;
	memset(w->run.filter, 0, w->run.n_filter * sizeof *w->run.filter);
	w->run.map_len = blocks * BLOCK_LEN;
	if (!to_file) {
		void *m = mmap(NULL, w->run.map_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return -ENOMEM;
		w->run.base = m;
		return 0;
	}
	w->stage = calloc(STAGE_BLOCKS, BLOCK_LEN);
	if (w->stage == NULL)
		return -ENOMEM;
	int fd = run_tmpfile();
	if (fd < 0)
		return fd;
	w->fd = fd;
	return 0;
}

/* Discards a writer that failed (or was finished: then nothing is left). */
static void writer_fini(struct run_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->stage);
	run_fini(&w->run);
}

/* Appends a record (sorted after the previous one). 0 or -errno. */
static int writer_put(struct run_writer *w, const uint8_t *rec)
{
	size_t i = w->run.n, b = i / PER_BLOCK;
	uint8_t *dst;

	if (i % PER_BLOCK == 0) {
		w->run.fences[b] = id_prefix(rec);
		if (w->fd >= 0 && b - w->staged_from == STAGE_BLOCKS) {
			int e = writer_drain(w, b);
			if (e != 0)
				return e;
		}
	}
	if (w->fd >= 0)
		dst = w->stage + (b - w->staged_from) * BLOCK_LEN;
	else
		dst = (uint8_t *)w->run.base + b * BLOCK_LEN;
	memcpy(dst + i % PER_BLOCK * REC_LEN, rec, REC_LEN);
	struct filter_block *fb = &w->run.filter[filter_block_of(w->run.n_filter, rec)];
	__builtin_prefetch(fb, 1);
	size_t slot = w->n_pend++ % FILTER_PEND;
	if (w->n_pend > FILTER_PEND)
		filter_set(w->pend[slot].b, w->pend[slot].h);
	w->pend[slot].b = fb;
	w->pend[slot].h = le64_get(rec + 24);
	w->run.n++;
	return 0;
}

/*
 * Finishes the run into *out (the writer is then empty): the file is
 * written and mapped read-only, or the anonymous memory made read-only.
 */
static int writer_finish(struct run_writer *w, struct index_run *out)
{
	struct index_run *r = &w->run;

	for (size_t i = 0; i < FILTER_PEND && i < w->n_pend; i++)
		filter_set(w->pend[i].b, w->pend[i].h);
	w->n_pend = 0;
	r->n_blocks = (r->n + PER_BLOCK - 1) / PER_BLOCK;
	if (w->fd >= 0) {
		int e = writer_drain(w, r->n_blocks);
		if (e != 0)
			return e;
		r->map_len = r->n_blocks * BLOCK_LEN;
		void *m = mmap(NULL, r->map_len, PROT_READ, MAP_SHARED, w->fd, 0);
		if (m == MAP_FAILED)
			return -errno;
		r->base = m;
		/* Lookups read one block each: read-ahead would only waste cache. */
		(void)madvise(m, r->map_len, MADV_RANDOM);
	} else if (mprotect((void *)r->base, r->map_len, PROT_READ) != 0) {
		return -errno;
	}
	*out = *r;
	memset(r, 0, sizeof *r);
	return 0;
}

/* One input of a merge: a run, or the sorted write buffer (run NULL). */
struct merge_in {
	const struct index_run *run;
	const uint8_t *buf;
	const uint32_t *order;  /* buffer record numbers in ID order */
	size_t pos, n;
	const uint8_t *rec;     /* the next record, NULL at the end */
	uint64_t key;           /* its prefix: most comparisons stop there */
};

static void merge_next(struct merge_in *in)
{
	if (in->pos == in->n) {
		in->rec = NULL;
		return;
	}
	if (in->run != NULL)
		in->rec = run_rec(in->run, in->pos);
	else {
		/* The buffer is read out of order: fetch ahead. */
		if (in->pos + 8 < in->n)
			__builtin_prefetch(in->buf + (size_t)in->order[in->pos + 8] * REC_LEN);
		in->rec = in->buf + (size_t)in->order[in->pos] * REC_LEN;
	}
	in->key = id_prefix(in->rec);
	in->pos++;
}

/* <0, 0, >0 as a's record sorts before, with or after b's. */
static int merge_cmp(const struct merge_in *a, const struct merge_in *b)
{
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return memcmp(a->rec, b->rec, BLOB_ID_LEN);
}

/*
 * Merges runs[from..n_runs) of ix and its write buffer, taken in `order`,
 * into one new run in w. Inputs are disjoint, but should the same ID
 * appear twice the older input wins, as when blobs are added.
 */
static int index_merge(const struct index *ix, size_t from, const uint32_t *order,
		       struct run_writer *w)
{
	struct merge_in in[66];
	size_t k = ix->n_runs - from + 1;

	/* Run sizes at least double, so there are fewer than 64 runs. */
	if (k > sizeof in / sizeof in[0])
		return -ENOMEM;
	for (size_t i = 0; i < k; i++) {
		memset(&in[i], 0, sizeof in[i]);
		if (i + 1 < k) {
			in[i].run = &ix->runs[from + i];
			in[i].n = in[i].run->n;
		} else {
			in[i].buf = ix->buf;
			in[i].order = order;
			in[i].n = ix->buf_n;
		}
		merge_next(&in[i]);
	}
	for (;;) {
		struct merge_in *m = NULL;
		for (size_t i = 0; i < k; i++)
			if (in[i].rec != NULL && (m == NULL || merge_cmp(&in[i], m) < 0))
				m = &in[i];
		if (m == NULL)
			return 0;
		int e = writer_put(w, m->rec);
		if (e != 0)
			return e;
		struct merge_in done = *m;
		merge_next(m);
		for (size_t i = 0; i < k; i++)
			if (&in[i] != m && in[i].rec != NULL && merge_cmp(&in[i], &done) == 0)
				merge_next(&in[i]);
	}
}

/* ---- the write buffer ---- */

static size_t slot_of(const uint8_t id[BLOB_ID_LEN], size_t cap)
{
	return (size_t)le32_get(id) & (cap - 1);
}

/*
 * A slot carries 32 more bits of the ID (bytes 4..7, not those of
 * slot_of while the table has under 2^32 slots) so that a probe reads the
 * record it points to only when these match.
 */
static uint64_t slot_tag(const uint8_t id[BLOB_ID_LEN])
{
	return (uint64_t)le32_get(id + 4) << 32;
}

/* The buffer record of id, or NULL. */
static const uint8_t *wbuf_find(const struct index *ix, const uint8_t id[BLOB_ID_LEN])
{
	if (ix->buf_n == 0)
		return NULL;
	uint64_t tag = slot_tag(id);

	for (size_t i = slot_of(id, ix->slots_cap);; i = (i + 1) & (ix->slots_cap - 1)) {
		uint64_t s = ix->slots[i];
		if (s == 0)
			return NULL;
		if ((s & 0xffffffff00000000ull) != tag)
			continue;
		const uint8_t *r = ix->buf + (size_t)((s & 0xffffffffu) - 1) * REC_LEN;
		if (memcmp(r, id, BLOB_ID_LEN) == 0)
			return r;
	}
}

/* Puts buffer record i in the hash table (which has room, id is absent). */
static void wbuf_hash(struct index *ix, size_t i)
{
	size_t mask = ix->slots_cap - 1;
	const uint8_t *id = ix->buf + i * REC_LEN;
	size_t j = slot_of(id, ix->slots_cap);

	while (ix->slots[j] != 0)
		j = (j + 1) & mask;
	ix->slots[j] = slot_tag(id) | (uint64_t)(i + 1);
}

static void wbuf_rehash(struct index *ix)
{
	memset(ix->slots, 0, ix->slots_cap * sizeof *ix->slots);
	for (size_t i = 0; i < ix->buf_n; i++)
		wbuf_hash(ix, i);
}

struct sort_ent {
	uint64_t key;   /* ID prefix */
	uint64_t i;     /* record number */
};

static int sort_ent_cmp(const uint8_t *buf, const struct sort_ent *a,
			const struct sort_ent *b)
{
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return memcmp(buf + a->i * REC_LEN, buf + b->i * REC_LEN, BLOB_ID_LEN);
}

/*
 * The buffer's record numbers in ID order, in a new array (the records do
 * not move). IDs are uniform, so a radix sort on the top 32 bits of the
 * prefix leaves only rare neighbours out of order, which an insertion
 * sort puts right. 0 or -ENOMEM.
 */
static int wbuf_order(const struct index *ix, uint32_t **out)
{
	size_t n = ix->buf_n;
	struct sort_ent *a = malloc(n * sizeof *a), *t = malloc(n * sizeof *t);
	size_t *pos = malloc(65536 * sizeof *pos);
	uint32_t *order = malloc(n * sizeof *order);
	int e = -ENOMEM;

	if (a == NULL || t == NULL || pos == NULL || order == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		a[i].key = id_prefix(ix->buf + i * REC_LEN);
		a[i].i = i;
	}
	for (int shift = 32; shift < 64; shift += 16) {
		size_t sum = 0;
		memset(pos, 0, 65536 * sizeof *pos);
		for (size_t i = 0; i < n; i++)
			pos[(a[i].key >> shift) & 0xffff]++;
		for (size_t d = 0; d < 65536; d++) {
			size_t c = pos[d];
			pos[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			t[pos[(a[i].key >> shift) & 0xffff]++] = a[i];
		struct sort_ent *x = a;
		a = t;
		t = x;
	}
	for (size_t i = 1; i < n; i++) {
		struct sort_ent x = a[i];
		size_t j = i;
		for (; j > 0 && sort_ent_cmp(ix->buf, &a[j - 1], &x) > 0; j--)
			a[j] = a[j - 1];
		a[j] = x;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = (uint32_t)a[i].i;
	*out = order;
	order = NULL;
	e = 0;
out:
	free(a);
	free(t);
	free(pos);
	free(order);
	return e;
}

/* The most records the buffer should hold before it is merged. */
static size_t wbuf_limit(const struct index *ix)
{
	size_t l = ix->n_in_runs / BUF_SHARE;
	return l < BUF_MIN ? BUF_MIN : l > BUF_MAX ? BUF_MAX : l;
}

/*
 * Makes room for `want` records in all (the buffer grows past its limit
 * only for a pack larger than the limit). 0 or -ENOMEM, buffer unchanged.
 */
static int wbuf_reserve(struct index *ix, size_t want)
{
	if (want <= ix->buf_cap)
		return 0;
	if (want > UINT32_MAX - 1 || want > SIZE_MAX / 4 / REC_LEN)
		return -ENOMEM;
	size_t cap = ix->buf_cap ? ix->buf_cap * 2 : BUF_FIRST;
	size_t limit = wbuf_limit(ix);
	if (cap > limit)
		cap = limit;
	if (cap < want)
		cap = want;
	size_t scap = ix->slots_cap ? ix->slots_cap : 2 * BUF_FIRST;
	while (scap < 2 * cap)
		scap *= 2;
	/* A larger table first: it never hurts, a too small one would. */
	if (scap != ix->slots_cap) {
		uint64_t *s = malloc(scap * sizeof *s);
		if (s == NULL)
			return -ENOMEM;
		free(ix->slots);
		ix->slots = s;
		ix->slots_cap = scap;
		wbuf_rehash(ix);
	}
	uint8_t *b = realloc(ix->buf, cap * REC_LEN);
	if (b == NULL)
		return -ENOMEM;
	ix->buf = b;
	ix->buf_cap = cap;
	return 0;
}

/*
 * Merges the buffer, in ID order, with the runs that are not at least
 * twice its size (and so on, LSM style) into one new run. On failure the
 * index is as it was. Where no temporary file can be made or written the
 * run goes to anonymous memory. 0 or -ENOMEM.
 */
static int index_flush(struct index *ix)
{
	struct run_writer w;
	struct index_run run;
	uint32_t *order = NULL;
	size_t from = ix->n_runs, total = ix->buf_n;
	int e;

	while (from > 0 && ix->runs[from - 1].n / 2 < total) {
		total += ix->runs[from - 1].n;
		from--;
	}
	if (from == ix->n_runs && ix->n_runs == ix->runs_cap) {
		size_t cap = ix->runs_cap ? ix->runs_cap * 2 : 8;
		struct index_run *r = realloc(ix->runs, cap * sizeof *r);
		if (r == NULL)
			return -ENOMEM;
		ix->runs = r;
		ix->runs_cap = cap;
	}
	e = wbuf_order(ix, &order);
	if (e != 0)
		return e;
	e = writer_init(&w, total, true);
	if (e == 0)
		e = index_merge(ix, from, order, &w);
	if (e == 0)
		e = writer_finish(&w, &run);
	if (e != 0 && e != -ENOMEM) {
		if (!ix->warned)
			log_warnx("index: cannot use a temporary file in $TMPDIR, "
				  "/var/tmp or /tmp (%s): keeping the index in "
				  "anonymous memory", coffer_strerror(e));
		ix->warned = true;
		writer_fini(&w);
		e = writer_init(&w, total, false);
		if (e == 0)
			e = index_merge(ix, from, order, &w);
		if (e == 0)
			e = writer_finish(&w, &run);
	}
	writer_fini(&w);
	free(order);
	if (e != 0)
		return -ENOMEM;
	for (size_t i = from; i < ix->n_runs; i++) {
		ix->n_in_runs -= ix->runs[i].n;
		run_fini(&ix->runs[i]);
	}
	ix->runs[from] = run;
	ix->n_runs = from + 1;
	ix->n_in_runs += run.n;
	ix->buf_n = 0;
	memset(ix->slots, 0, ix->slots_cap * sizeof *ix->slots);
	return 0;
}

/* ---- the interface ---- */

struct index *index_new(void)
{
	struct index *ix = calloc(1, sizeof *ix);
	if (ix == NULL)
		return NULL;
	ix->pack_map = idset_new();
	if (ix->pack_map == NULL) {
		free(ix);
		return NULL;
	}
	return ix;
}

void index_free(struct index *ix)
{
	if (ix == NULL)
		return;
	for (size_t i = 0; i < ix->n_runs; i++)
		run_fini(&ix->runs[i]);
	free(ix->runs);
	free(ix->buf);
	free(ix->slots);
	free(ix->packs);
	idset_free(ix->pack_map);
	free(ix->over);
	idset_free(ix->over_map);
	free(ix);
}

/* The record of id in the buffer or a run, or NULL. */
static const uint8_t *index_find(const struct index *ix, const uint8_t id[BLOB_ID_LEN])
{
	const uint8_t *r;
	uint64_t v;

	if (ix->over_n > 0 && idset_get(ix->over_map, id, &v))
		return ix->over + v * REC_LEN;
	/* Start the loads of the steps below, so that their misses overlap. */
	if (ix->buf_n > 0)
		__builtin_prefetch(&ix->slots[slot_of(id, ix->slots_cap)]);
	for (size_t i = 0; i < ix->n_runs; i++)
		__builtin_prefetch(&ix->runs[i].filter[filter_block_of(ix->runs[i].n_filter, id)]);
	r = wbuf_find(ix, id);
	/* Largest run first: a present blob is most likely there. */
	for (size_t i = 0; r == NULL && i < ix->n_runs; i++) {
		const struct index_run *run = &ix->runs[i];
		if (filter_has(run->filter, run->n_filter, id))
			r = run_find(run, id);
	}
	return r;
}

/*
 * The pack number for pack_id, adding the pack if new (a pack listed by
 * two index files keeps one number and its first key_gen).
 */
static int index_pack_no(struct index *ix, const uint8_t pack_id[32],
			 uint32_t key_gen, uint32_t *pack_no)
{
	uint64_t v;

	if (idset_get(ix->pack_map, pack_id, &v)) {
		*pack_no = (uint32_t)v;
		return 0;
	}
	if (ix->n_packs >= UINT32_MAX)
		return -ENOMEM;
	if (ix->n_packs == ix->packs_cap) {
		size_t cap = ix->packs_cap ? ix->packs_cap * 2 : 64;
		struct index_packinfo *p = realloc(ix->packs, cap * sizeof *p);
		if (p == NULL)
			return -ENOMEM;
		ix->packs = p;
		ix->packs_cap = cap;
	}
	int e = idset_add(ix->pack_map, pack_id, ix->n_packs, NULL);
	if (e != 0)
		return e;
	memcpy(ix->packs[ix->n_packs].id, pack_id, 32);
	ix->packs[ix->n_packs].key_gen = key_gen;
	*pack_no = (uint32_t)ix->n_packs++;
	return 0;
}

/* Records b (at pack_no) as the location of its ID, ahead of the buffer and runs. */
static int index_override(struct index *ix, const struct blob_entry *b, uint32_t pack_no)
{
	if (ix->over_map == NULL && (ix->over_map = idset_new()) == NULL)
		return -ENOMEM;
	if (ix->over_n == ix->over_cap) {
		size_t cap = ix->over_cap ? ix->over_cap * 2 : 16;
		uint8_t *o = realloc(ix->over, cap * REC_LEN);
		if (o == NULL)
			return -ENOMEM;
		ix->over = o;
		ix->over_cap = cap;
	}
	int e = idset_add(ix->over_map, b->id, ix->over_n, NULL);
	if (e == 0)
		rec_encode(ix->over + ix->over_n++ * REC_LEN, b, pack_no);
	return e;
}

/*
 * Room is made before anything is added, so on -ENOMEM the index holds
 * none of the pack's blobs (the pack number may already be taken, which is
 * harmless).
 */
int index_add_pack(struct index *ix, const uint8_t pack_id[32], uint32_t key_gen,
		   const struct blob_entry *blobs, size_t n)
{
	uint32_t pack_no;
	int e = 0;

	if (n > SIZE_MAX / 4 / REC_LEN)
		return -ENOMEM;
	if (ix->buf_n > 0 && ix->buf_n + n > wbuf_limit(ix))
		e = index_flush(ix);
	if (e == 0)
		e = wbuf_reserve(ix, ix->buf_n + n);
	if (e == 0)
		e = index_pack_no(ix, pack_id, key_gen, &pack_no);
	if (e != 0)
		return e;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *old = index_find(ix, blobs[i].id);
		if (old == NULL) {
			rec_encode(ix->buf + ix->buf_n * REC_LEN, &blobs[i], pack_no);
			wbuf_hash(ix, ix->buf_n++);
			continue;
		}
		/*
		 * The first location wins, except that a whole copy replaces a
		 * delta copy of the same content: a delta's base must resolve
		 * to a whole blob (docs/format/delta.md), and two concurrent
		 * backups can store one chunk both ways.
		 */
		if (old[REC_TYPE] == BLOB_DELTA && blobs[i].type == BLOB_DATA &&
		    (e = index_override(ix, &blobs[i], pack_no)) != 0)
			return e;
	}
	return 0;
}

bool index_lookup(const struct index *ix, const uint8_t id[32], struct blob_loc *loc)
{
	const uint8_t *r = index_find(ix, id);

	if (r == NULL)
		return false;
	if (loc != NULL)
		rec_decode(r, loc);
	return true;
}

size_t index_blob_count(const struct index *ix)
{
	return ix->n_in_runs + ix->buf_n;
}

size_t index_pack_count(const struct index *ix)
{
	return ix->n_packs;
}

/* NULL if pack_no is out of range. */
const uint8_t *index_pack_id(const struct index *ix, uint32_t pack_no)
{
	return pack_no < ix->n_packs ? ix->packs[pack_no].id : NULL;
}

/* 0 if pack_no is out of range. */
uint32_t index_pack_key_gen(const struct index *ix, uint32_t pack_no)
{
	return pack_no < ix->n_packs ? ix->packs[pack_no].key_gen : 0;
}

int index_find_pack(const struct index *ix, const uint8_t pack_id[32], uint32_t *pack_no)
{
	uint64_t v;

	if (!idset_get(ix->pack_map, pack_id, &v))
		return -ENOENT;
	*pack_no = (uint32_t)v;
	return 0;
}

/* rec, or the whole copy that replaces it (index_add_pack). */
static const uint8_t *index_current(const struct index *ix, const uint8_t *rec)
{
	uint64_t v;

	if (ix->over_n > 0 && idset_get(ix->over_map, rec, &v))
		return ix->over + v * REC_LEN;
	return rec;
}

/*
 * Runs are walked in order with read-ahead on: a walk of a run whose
 * pages were evicted would otherwise read it 4 KiB at a time.
 */
int index_foreach(const struct index *ix,
		  int (*cb)(const struct blob_loc *loc, void *arg), void *arg)
{
	struct blob_loc loc;
	int r = 0;

	for (size_t i = 0; r == 0 && i < ix->buf_n; i++) {
		rec_decode(index_current(ix, ix->buf + i * REC_LEN), &loc);
		r = cb(&loc, arg);
	}
	for (size_t i = 0; r == 0 && i < ix->n_runs; i++) {
		const struct index_run *run = &ix->runs[i];
		(void)madvise((void *)run->base, run->map_len, MADV_SEQUENTIAL);
		for (size_t j = 0; r == 0 && j < run->n; j++) {
			rec_decode(index_current(ix, run_rec(run, j)), &loc);
			r = cb(&loc, arg);
		}
		(void)madvise((void *)run->base, run->map_len, MADV_RANDOM);
	}
	return r;
}
