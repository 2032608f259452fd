/*
 * coffer_index_mem: how much memory the in-memory index (core/repo/index.c)
 * needs per unique blob, and how fast it answers.
 *
 * Usage: coffer_index_mem [N [LOOKUPS]]   (defaults: 1000000 blobs, 1000000)
 *
 * Builds an index of N synthetic blobs with random IDs in packs of 4000
 * (a 16 MiB pack of 4 KiB chunks; real packs hold a few thousand blobs),
 * the way opening a repository does: one index_add_pack per pack. Then
 * looks up LOOKUPS present IDs in random order and LOOKUPS absent ones.
 * It prints RssAnon, RssFile and RssShmem from /proc/self/status before
 * the index exists, after it is built and after the lookups, as bytes per
 * blob above the starting point, and the rates.
 *
 * IDs are derived from their number, so the program keeps no list of them
 * (which would distort the figures): blob i has the ID made by splitmix64
 * from i, absent IDs come from numbers >= N.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "repo/index.h"

#define PER_PACK 4000

struct rss {
	long anon, file, shmem, hwm; /* KiB */
};

static uint64_t mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void make_id(uint64_t i, uint8_t id[32])
{
	for (uint64_t k = 0; k < 4; k++) {
		uint64_t v = mix(i * 4 + k);
		memcpy(id + 8 * k, &v, 8);
	}
}

static long status_field(const char *text, const char *name)
{
	const char *p = strstr(text, name);
	return p ? strtol(p + strlen(name), NULL, 10) : -1;
}

static void rss_read(struct rss *r)
{
	char text[8192];
	FILE *f = fopen("/proc/self/status", "r");
	size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;

	if (f)
		fclose(f);
	text[n] = 0;
	r->anon = status_field(text, "RssAnon:");
	r->file = status_field(text, "RssFile:");
	r->shmem = status_field(text, "RssShmem:");
	r->hwm = status_field(text, "VmHWM:");
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rss_print(const char *what, const struct rss *r, const struct rss *base,
		      size_t n)
{
	printf("%-14s RssAnon %8ld KiB (%6.2f B/blob)  RssFile %8ld KiB (%6.2f B/blob)"
	       "  RssShmem %6ld KiB  VmHWM %8ld KiB\n", what,
	       r->anon, n ? (double)(r->anon - base->anon) * 1024 / (double)n : 0.0,
	       r->file, n ? (double)(r->file - base->file) * 1024 / (double)n : 0.0,
	       r->shmem, r->hwm);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	size_t lookups = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
	struct blob_entry *blobs = calloc(PER_PACK, sizeof *blobs);
	struct index *ix = NULL;
	struct rss base, built, looked;
	struct blob_loc loc;
	uint8_t pack_id[32], id[32];
	size_t found = 0;
	uint64_t r = 42;
	double t0, t1, t2, t3;

	if (blobs == NULL || n == 0) {
		fprintf(stderr, "usage: coffer_index_mem [N [LOOKUPS]]\n");
		return 2;
	}
	rss_read(&base);
	t0 = now();
	ix = index_new();
	if (ix == NULL)
		return 1;
	for (size_t i = 0, p = 0; i < n; p++) {
		size_t k = n - i < PER_PACK ? n - i : PER_PACK;
		uint32_t off = 0;
		make_id(~(uint64_t)p, pack_id);
		for (size_t j = 0; j < k; j++) {
			struct blob_entry *b = &blobs[j];
			make_id(i + j, b->id);
			b->type = BLOB_DATA;
			b->comp = BLOB_COMP_ZSTD;
			b->offset = off;
			b->raw_len = 4096;
			b->stored_len = 2048 + 28;
			off += b->stored_len;
		}
		int e = index_add_pack(ix, pack_id, 1, blobs, k);
		if (e != 0) {
			fprintf(stderr, "index_add_pack: %s\n", strerror(-e));
			return 1;
		}
		i += k;
	}
	t1 = now();
	rss_read(&built);
	if (index_blob_count(ix) != n) {
		fprintf(stderr, "count %zu, expected %zu\n", index_blob_count(ix), n);
		return 1;
	}
	for (size_t q = 0; q < lookups; q++) {
		r = mix(r);
		make_id(r % n, id);
		found += index_lookup(ix, id, &loc);
	}
	t2 = now();
	for (size_t q = 0; q < lookups; q++) {
		r = mix(r);
		make_id(n + r % (UINT64_MAX / 8), id);
		found += index_lookup(ix, id, &loc);
	}
	t3 = now();
	rss_read(&looked);
	if (found != lookups) {
		fprintf(stderr, "found %zu, expected %zu\n", found, lookups);
		return 1;
	}
	printf("blobs %zu in %zu packs; lookups %zu present + %zu absent\n", n,
	       index_pack_count(ix), lookups, lookups);
	rss_print("start", &base, &base, 0);
	rss_print("built", &built, &base, n);
	rss_print("after lookups", &looked, &base, n);
	printf("build %.2f s (%.2f M blobs/s); present %.2f M lookups/s; "
	       "absent %.2f M lookups/s\n", t1 - t0, (double)n / (t1 - t0) / 1e6,
	       (double)lookups / (t2 - t1) / 1e6, (double)lookups / (t3 - t2) / 1e6);
	index_free(ix);
	free(blobs);
	return 0;
}
