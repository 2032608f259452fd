/*
 * coffer_bound: how fast this machine's cores, all together, can do the
 * per-byte work of backing up new data. Issue 3 sets the large-file target
 * at 80 % of min(the disk's sequential read, measured by fio; this rate):
 * no backup of new data can go faster than its CPU work allows.
 *
 * Usage: coffer_bound [-t THREADS] [-m MIB] FILE...
 *   -t THREADS  threads for the combined rate (default: online CPUs)
 *   -m MIB      how much of each file, from its start, is measured
 *               (default 256; all of a shorter file)
 *
 * The work is what a backup does with each new chunk (chunk_stream.c,
 * repo_blob.c): the FastCDC cut (chunker_find_cut), the blob ID (the
 * suite's MAC under the ID key) and blob_seal (zstd after its
 * incompressibility probe, then the suite's AEAD). The primitives, keys
 * and chunk sizes are those of a repository made with the defaults in a
 * temporary directory, removed as soon as they are copied out, so an
 * interrupted run leaves nothing behind. The sample is read into memory
 * before any timing: no I/O, queues, locks, packs or index lookups, so
 * what a real backup falls short of this is the pipeline's own cost.
 *
 * For each file: one thread alone, then THREADS threads at once, each over
 * the whole sample from its own start (staggered by len/THREADS, wrapping
 * round) so that they do not work on the same chunk at the same time; and,
 * for insight, each stage alone on one thread over the same chunks. Every
 * figure is the median of 3 runs. For bench/run.sh, a line
 *   bound file=PATH size=S bytes=N threads=T single_mibs=.. combined_mibs=..
 *         chunk_mibs=.. mac_mibs=.. seal_mibs=.. cpu_mibs=..
 * follows each file's readable lines (size on disk, bytes sampled; cpu_mibs
 * is the combined run's rate per CPU-second of its threads, which other
 * load on the machine lowers much less than combined_mibs), and
 *   bound total threads=T files=K size=S combined_mibs=Z
 * ends the output: Z is the rate at which the files would be done one
 * after the other, each at its own combined rate, weighted by size on disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "repo/repo.h"
#include "util/log.h"

/*
 * The zstd level of new blobs in a repository opened with the defaults:
 * repo_open_config (core/repo/repo.c) sets it; repo.h documents it but
 * offers no getter.
 */
#define BOUND_ZSTD_LEVEL 3
#define BOUND_REPS 3
#define BOUND_PASS "coffer_bound"
#define BOUND_MAX_THREADS 1024
#define BOUND_MAX_MIB 65536
#define MIB_F (1024.0 * 1024.0)

/* What sealing needs, copied out of the temporary repository. */
struct bench {
	const struct suite *suite; /* a static table entry: outlives the repo */
	struct chunker_params cp;
	uint8_t id_key[CRYPTO_KEY_LEN];
	uint8_t data_key[CRYPTO_KEY_LEN];
	int zstd_level;
};

/* One file's sample and the chunks it cuts into from its start. */
struct sample {
	const char *path;
	uint64_t size; /* st_size: the file's weight in the total */
	uint8_t *data;
	size_t len;
	uint32_t *cuts; /* chunk lengths, in order */
	size_t n_cuts;
};

enum stage { STAGE_ALL, STAGE_CHUNK, STAGE_MAC, STAGE_SEAL };

/* What sealing stored, for the readable report. */
struct tally {
	uint64_t stored;
	size_t compressed, chunks;
};

struct worker {
	const struct bench *b;
	const struct sample *s;
	enum stage stage;
	size_t start; /* STAGE_ALL: where this thread begins in the sample */
	pthread_barrier_t *go;
	pthread_t tid;
	struct buf out;
	struct tally tally;
	double begin, end, cpu; /* the pass's span; this thread's CPU time in it */
	int err;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(stderr, "usage: coffer_bound [-t THREADS] [-m MIB] FILE...\n");
	return 2;
}

/* A decimal count in [1, max], or 0 if arg is not one. */
static size_t parse_count(const char *arg, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);
	if (arg[0] < '0' || arg[0] > '9' || *end != 0 || errno != 0 || v > max)
		return 0;
	return (size_t)v;
}

static size_t online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > BOUND_MAX_THREADS ? BOUND_MAX_THREADS : (size_t)n;
}

/* ---- the temporary repository -------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (remove(path) != 0)
		fprintf(stderr, "coffer_bound: cannot remove %s: %s\n", path, strerror(errno));
	return 0; /* remove what can be removed */
}

static int bench_copy(struct bench *b, const struct repo *r)
{
	/* A new repository has one content key generation, 0, which it writes
	 * with. The key's value does not change the AEAD's speed anyway. */
	const uint8_t *dk = repo_data_key_gen(r, 0, NULL);
	if (dk == NULL)
		return -ENOKEY;
	b->suite = repo_suite(r);
	memcpy(&b->cp, repo_chunker(r), sizeof b->cp);
	memcpy(b->id_key, repo_id_key(r), sizeof b->id_key);
	memcpy(b->data_key, dk, sizeof b->data_key);
	b->zstd_level = BOUND_ZSTD_LEVEL;
	return 0;
}

/* Fills b from a repository created with the defaults. Returns 0 or 1. */
static int bench_setup(struct bench *b)
{
	const char *tmp = getenv("TMPDIR");
	struct repo_init_opts o;
	struct repo *r = NULL;
	char dir[4096];

	if (tmp == NULL || tmp[0] == 0)
		tmp = "/tmp";
	if (snprintf(dir, sizeof dir, "%s/coffer-bound.XXXXXX", tmp) >= (int)sizeof dir) {
		fprintf(stderr, "coffer_bound: TMPDIR is too long\n");
		return 1;
	}
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "coffer_bound: cannot create %s: %s\n", dir, strerror(errno));
		return 1;
	}
	repo_init_opts_default(&o);
	int e = repo_init(dir, BOUND_PASS, strlen(BOUND_PASS), &o);
	if (e == 0)
		e = repo_open(dir, BOUND_PASS, strlen(BOUND_PASS), &r);
	if (e == 0)
		e = bench_copy(b, r);
	repo_close(r);
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (e != 0) {
		fprintf(stderr, "coffer_bound: temporary repository in %s: %s\n", dir,
			coffer_strerror(e));
		return 1;
	}
	return 0;
}

/* ---- samples ------------------------------------------------------------- */

static int file_error(const char *path, const char *step, const char *why)
{
	fprintf(stderr, "coffer_bound: %s: %s: %s\n", path, step, why);
	return 1;
}

/* Opens a non-empty regular file. Returns its descriptor or -1, having said why. */
static int file_open(const char *path, uint64_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		file_error(path, "open", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		file_error(path, "stat", strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		file_error(path, "open", "not a regular file");
	} else if (st.st_size == 0) {
		file_error(path, "open", "empty, nothing to measure");
	} else {
		*size = (uint64_t)st.st_size;
		return fd;
	}
	close(fd);
	return -1;
}

/* Reads up to cap bytes from the start of s->path. Returns 0 or 1. */
static int sample_read(struct sample *s, size_t cap)
{
	int fd = file_open(s->path, &s->size);
	if (fd < 0)
		return 1;
	size_t want = s->size < cap ? (size_t)s->size : cap;
	int rc = 0;
	if ((s->data = malloc(want)) == NULL)
		rc = file_error(s->path, "read", strerror(ENOMEM));
	while (rc == 0 && s->len < want) {
		ssize_t n = read(fd, s->data + s->len, want - s->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = file_error(s->path, "read", strerror(errno));
		else if (n == 0)
			break; /* shrank since fstat: measure what there is */
		else
			s->len += (size_t)n;
	}
	close(fd);
	if (rc == 0 && s->len == 0)
		rc = file_error(s->path, "read", "empty, nothing to measure");
	return rc;
}

/*
 * The chunks of the sample, for the stages that run without the chunker.
 * All but the last are at least min_size long, which bounds their number.
 */
static int sample_cut(const struct bench *b, struct sample *s)
{
	size_t max = s->len / b->cp.min_size + 1;
	if ((s->cuts = malloc(max * sizeof *s->cuts)) == NULL)
		return -ENOMEM;
	for (size_t off = 0; off < s->len;) {
		size_t n = chunker_find_cut(&b->cp, s->data + off, s->len - off, true);
		if (n == 0 || s->n_cuts == max)
			return -EPROTO; /* against chunker.h's contract */
		s->cuts[s->n_cuts++] = (uint32_t)n;
		off += n;
	}
	return 0;
}

static void sample_free(struct sample *s)
{
	free(s->data);
	free(s->cuts);
}

/* ---- the work ------------------------------------------------------------ */

/* Seals one chunk into out, emptied afterwards as a packer would. */
static int chunk_seal(const struct bench *b, struct blob_entry *e, const uint8_t *p, size_t n,
		      struct buf *out, struct tally *t)
{
	int r = blob_seal(b->suite, b->data_key, e, p, n, b->zstd_level, out);
	if (r == 0) {
		t->stored += out->len;
		t->compressed += e->comp == BLOB_COMP_ZSTD;
		t->chunks++;
	}
	buf_reset(out);
	return r;
}

/* What a backup does with a new chunk: its ID, then the sealed blob. */
static int chunk_backup(const struct bench *b, const uint8_t *p, size_t n, struct buf *out,
			struct tally *t)
{
	struct blob_entry e = { .type = BLOB_DATA };
	int r = blob_id(b->suite, b->id_key, p, n, e.id);
	return r != 0 ? r : chunk_seal(b, &e, p, n, out, t);
}

/* Cuts [p, p + len) into chunks; backs each up unless cut_only. */
static int span_run(const struct bench *b, const uint8_t *p, size_t len, bool cut_only,
		    struct buf *out, struct tally *t)
{
	while (len > 0) {
		size_t n = chunker_find_cut(&b->cp, p, len, true);
		if (n == 0)
			return -EPROTO;
		if (!cut_only) {
			int r = chunk_backup(b, p, n, out, t);
			if (r != 0)
				return r;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int cuts_mac(const struct bench *b, const struct sample *s)
{
	uint8_t id[BLOB_ID_LEN];
	const uint8_t *p = s->data;
	for (size_t i = 0; i < s->n_cuts; p += s->cuts[i++]) {
		int r = blob_id(b->suite, b->id_key, p, s->cuts[i], id);
		if (r != 0)
			return r;
	}
	return 0;
}

static int cuts_seal(const struct bench *b, const struct sample *s, struct buf *out,
		     struct tally *t)
{
	/* The ID goes into the associated data, whose content costs nothing. */
	struct blob_entry e = { .type = BLOB_DATA };
	const uint8_t *p = s->data;
	for (size_t i = 0; i < s->n_cuts; p += s->cuts[i++]) {
		int r = chunk_seal(b, &e, p, s->cuts[i], out, t);
		if (r != 0)
			return r;
	}
	return 0;
}

static int worker_pass(struct worker *w)
{
	const struct sample *s = w->s;
	int r;
	switch (w->stage) {
	case STAGE_ALL:
		/* From start to the end, then from the beginning round to start. */
		r = span_run(w->b, s->data + w->start, s->len - w->start, false, &w->out,
			     &w->tally);
		return r != 0 ? r : span_run(w->b, s->data, w->start, false, &w->out, &w->tally);
	case STAGE_CHUNK:
		return span_run(w->b, s->data, s->len, true, &w->out, &w->tally);
	case STAGE_MAC:
		return cuts_mac(w->b, s);
	case STAGE_SEAL:
		return cuts_seal(w->b, s, &w->out, &w->tally);
	}
	return -EINVAL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct tally warm = { 0 };
	/*
	 * Warm up before the clock starts: blob.c allocates a thread's zstd
	 * context and scratch at its first seal, and out grows to a chunk's
	 * size, once per worker in a backup too. Also brings in OpenSSL's
	 * per-thread state.
	 */
	w->err = chunk_backup(w->b, w->s->data, w->s->cuts[0], &w->out, &warm);
	pthread_barrier_wait(w->go); /* even after an error: the others wait */
	w->begin = now();
	double cpu0 = thread_cpu();
	if (w->err == 0)
		w->err = worker_pass(w);
	w->end = now();
	w->cpu = thread_cpu() - cpu0;
	return NULL;
}

/*
 * Starts threads on stage st together and returns the time from the
 * barrier to the end of the last one, and the CPU time they took together;
 * *t (may be NULL) gets the first thread's tally. The threads take the
 * times themselves: this thread may be woken after a short pass is over.
 */
static int run_once(const struct bench *b, const struct sample *s, enum stage st,
		    size_t threads, double *wall, double *cpu, struct tally *t)
{
	struct worker *w = calloc(threads, sizeof *w);
	pthread_barrier_t go;
	double begin = 0, end = 0;
	int err;

	*cpu = 0;

	if (w == NULL)
		return -ENOMEM;
	if ((err = pthread_barrier_init(&go, NULL, (unsigned)threads)) != 0) {
		free(w);
		return -err;
	}
	for (size_t i = 0; i < threads; i++) {
		w[i] = (struct worker){ .b = b, .s = s, .stage = st, .go = &go,
					.start = i * (s->len / threads) };
		if ((err = pthread_create(&w[i].tid, NULL, worker_main, &w[i])) != 0) {
			/* Those started wait on the barrier for good. */
			fprintf(stderr, "coffer_bound: cannot start thread %zu: %s\n", i + 1,
				strerror(err));
			exit(1);
		}
	}
	for (size_t i = 0; i < threads; i++) {
		pthread_join(w[i].tid, NULL);
		if (i == 0 || w[i].begin < begin)
			begin = w[i].begin;
		if (w[i].end > end)
			end = w[i].end;
		*cpu += w[i].cpu;
		if (err == 0)
			err = w[i].err;
		buf_fini(&w[i].out);
	}
	if (t != NULL)
		*t = w[0].tally;
	pthread_barrier_destroy(&go);
	free(w);
	*wall = end > begin ? end - begin : 1e-9;
	*cpu = *cpu > 0 ? *cpu : 1e-9;
	return err;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/*
 * The medians over BOUND_REPS runs of threads' combined rate and of their
 * rate per CPU-second, in MiB/s. On a busy machine the threads share the
 * cores and the first falls, the second much less: it tells other load
 * from contention between the threads (caches, memory bandwidth).
 */
static int measure(const struct bench *b, const struct sample *s, enum stage st,
		   size_t threads, double *mibs, double *cpu_mibs, struct tally *t)
{
	double wall[BOUND_REPS], cpu[BOUND_REPS];
	for (int i = 0; i < BOUND_REPS; i++) {
		int e = run_once(b, s, st, threads, &wall[i], &cpu[i], t);
		if (e != 0)
			return e;
	}
	qsort(wall, BOUND_REPS, sizeof wall[0], cmp_double);
	qsort(cpu, BOUND_REPS, sizeof cpu[0], cmp_double);
	*mibs = (double)threads * (double)s->len / MIB_F / wall[BOUND_REPS / 2];
	*cpu_mibs = (double)threads * (double)s->len / MIB_F / cpu[BOUND_REPS / 2];
	return 0;
}

/* ---- the report ---------------------------------------------------------- */

/* m: the rates of bound_file's steps; c: the same per CPU-second. */
static void report_file(const struct sample *s, size_t threads, const double m[5],
			const double c[5], const struct tally *t)
{
	printf("%s: %llu bytes, sample %zu bytes in %zu chunks (average %.0f KiB)\n",
	       s->path, (unsigned long long)s->size, s->len, s->n_cuts,
	       (double)s->len / (double)s->n_cuts / 1024);
	printf("  sealed: %.1f %% of the sample stored, %zu of %zu chunks compressed\n",
	       100.0 * (double)t->stored / (double)s->len, t->compressed, t->chunks);
	printf("  all stages, 1 thread:  %9.1f MiB/s (%.1f per CPU-second)\n", m[0], c[0]);
	printf("  all stages, %zu threads: %8.1f MiB/s combined (%.1f per thread, "
	       "x%.2f of one; %.1f per CPU-second)\n", threads, m[1], m[1] / (double)threads,
	       m[1] / m[0], c[1]);
	printf("  alone, 1 thread: chunking %.1f, MAC %.1f, seal %.1f MiB/s\n",
	       m[2], m[3], m[4]);
	printf("bound file=%s size=%llu bytes=%zu threads=%zu single_mibs=%.1f "
	       "combined_mibs=%.1f chunk_mibs=%.1f mac_mibs=%.1f seal_mibs=%.1f "
	       "cpu_mibs=%.1f\n", s->path, (unsigned long long)s->size, s->len, threads,
	       m[0], m[1], m[2], m[3], m[4], c[1]);
	fflush(stdout);
}

/* Measures one file; *size and *combined feed the total. Returns 0 or 1. */
static int bound_file(const struct bench *b, const char *path, size_t cap, size_t threads,
		      uint64_t *size, double *combined)
{
	static const struct {
		const char *name;
		enum stage st;
		bool all_threads;
	} steps[5] = {
		{ "one thread", STAGE_ALL, false },   { "all threads", STAGE_ALL, true },
		{ "chunking alone", STAGE_CHUNK, false }, { "MAC alone", STAGE_MAC, false },
		{ "seal alone", STAGE_SEAL, false },
	};
	struct sample s = { .path = path };
	struct tally t = { 0 };
	double m[5], c[5];
	int rc = sample_read(&s, cap);
	int e = rc == 0 ? sample_cut(b, &s) : 0;

	if (e != 0)
		rc = file_error(path, "chunking", coffer_strerror(e));
	for (size_t i = 0; rc == 0 && i < 5; i++) {
		e = measure(b, &s, steps[i].st, steps[i].all_threads ? threads : 1, &m[i],
			    &c[i], steps[i].st == STAGE_SEAL ? &t : NULL);
		if (e != 0)
			rc = file_error(path, steps[i].name, coffer_strerror(e));
	}
	if (rc == 0) {
		report_file(&s, threads, m, c, &t);
		*size = s.size;
		*combined = m[1];
	}
	sample_free(&s);
	return rc;
}

int main(int argc, char **argv)
{
	size_t threads = online_cpus(), mib = 256;
	double total_size = 0, total_time = 0;
	struct bench b;
	int c;

	log_init("coffer_bound", LOG_LVL_WARN);
	while ((c = getopt(argc, argv, "t:m:")) != -1) {
		if (c == 't' && (threads = parse_count(optarg, BOUND_MAX_THREADS)) != 0)
			continue;
		if (c == 'm' && (mib = parse_count(optarg, BOUND_MAX_MIB)) != 0)
			continue;
		if (c == 't' || c == 'm')
			fprintf(stderr, "coffer_bound: -%c needs a number from 1 to %d\n", c,
				c == 't' ? BOUND_MAX_THREADS : BOUND_MAX_MIB);
		return usage();
	}
	if (optind >= argc)
		return usage();
	/* Refuse a bad FILE now rather than after measuring the others. */
	for (int i = optind; i < argc; i++) {
		uint64_t size;
		int fd = file_open(argv[i], &size);
		if (fd < 0)
			return 1;
		close(fd);
	}
	if (bench_setup(&b) != 0)
		return 1;
	printf("coffer_bound: suite %s, chunks %u/%u/%u KiB min/avg/max, zstd level %d, "
	       "%zu threads, up to %zu MiB of each file, median of %d runs\n",
	       suite_name(b.suite), b.cp.min_size >> 10, b.cp.avg_size >> 10,
	       b.cp.max_size >> 10, b.zstd_level, threads, mib, BOUND_REPS);
	for (int i = optind; i < argc; i++) {
		uint64_t size;
		double y;
		if (bound_file(&b, argv[i], mib << 20, threads, &size, &y) != 0)
			return 1;
		total_size += (double)size;
		total_time += (double)size / y;
	}
	printf("all files: %.1f MiB/s combined on %zu threads, each file weighted by "
	       "its size on disk\n", total_size / total_time, threads);
	printf("bound total threads=%zu files=%d size=%.0f combined_mibs=%.1f\n", threads,
	       argc - optind, total_size, total_size / total_time);
	return 0;
}
