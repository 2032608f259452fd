/*
 * Read-ahead for the backup walk; see prefetch.h. Two ways of doing it,
 * chosen by the process's I/O engine:
 *
 * - io_uring: one thread takes up to IO_BATCH queued files at a time and
 *   has the engine open, statx, WILLNEED-hint and close them together: the
 *   hints start the reads into the page cache without copying anything
 *   out of it (reading into a throw-away buffer, as this did first, copied
 *   every byte of the tree once more: a tenth of an initial backup's CPU),
 *   and the ring's workers keep up to IO_BATCH of them going at once, the
 *   queue depth the disk needs.
 * - plain system calls: n threads each open a file and posix_fadvise
 *   WILLNEED it, so about n reads are in flight.
 *
 * Either way, PREFETCH_DIR_THREADS more threads list the subdirectories
 * the walk will enter (prefetch_push_dir) and stat their entries, so their
 * blocks and inodes are cached. Every thread here is a helper
 * (thread_as_helper): waking it does not preempt the walk.
 */
#include "backup/prefetch.h"
#include "backup/backup_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/engine.h"
#include "util/thread.h"

/* Requests queued at most: the walk pushes a window ahead of itself. */
#define PREFETCH_QUEUE_MAX 1024
/* Larger files are read ahead only in part: the walk reads them in big
 * blocks, where sequential read-ahead does the rest. */
#define PREFETCH_MAX_BYTES (8u << 20)
/*
 * Threads listing subdirectories ahead of the walk, whatever the engine:
 * a cold re-backup otherwise waits for every directory's blocks in turn
 * (reading all directories of the benchmark tree alone takes about 0.6 s
 * cold, a third of the whole unchanged re-backup).
 */
#define PREFETCH_DIR_THREADS 4
/*
 * Directories queued at most. Each queued one keeps its parent open, so
 * the bound also bounds descriptors; when full, the oldest is dropped:
 * the walk, depth first, has most likely gone past it.
 */
#define PREFETCH_DIR_MAX 64

struct prefetch_dir {
	struct prefetch *pf;
	int fd;
	unsigned refs; /* guarded by pf->mu */
};

struct prefetch_job {
	struct prefetch_job *next;
	struct prefetch_dir *dir;
	bool has_old;
	uint64_t size, inode;
	struct ns_time mtime, ctime;
	char name[];
};

struct prefetch {
	pthread_mutex_t mu;
	pthread_cond_t cv;     /* file jobs queued, or stop */
	pthread_cond_t dir_cv; /* directory jobs queued, or stop */
	struct prefetch_job *head, *tail;
	unsigned queued;
	/* Subdirectories to list: a stack of at most PREFETCH_DIR_MAX, in a
	 * ring so that the oldest can be dropped (prefetch_push_dir). */
	struct prefetch_job *dirs[PREFETCH_DIR_MAX];
	unsigned dirs_bottom, dirs_n;
	bool stop;
	bool ring; /* one thread batching through the engine */
	unsigned n_threads, n_dir_threads;
	pthread_t dir_threads[PREFETCH_DIR_THREADS];
	pthread_t threads[];
};

/* Drops a reference; the last one closes the directory. Holds pf->mu. */
static void prefetch_dir_unref(struct prefetch_dir *d)
{
	if (--d->refs == 0) {
		close(d->fd);
		free(d);
	}
}

static bool same_time(const struct ns_time *t, const struct timespec *ts)
{
	return t->sec == ts->tv_sec && t->nsec == (uint32_t)ts->tv_nsec;
}

/* True if the parent snapshot shows the file unchanged (the walk skips it). */
static bool job_unchanged(const struct prefetch_job *j, uint64_t size, uint64_t ino,
			  const struct timespec *mtime, const struct timespec *ctime)
{
	return j->has_old && j->size == size && j->inode == ino && same_time(&j->mtime, mtime) &&
	       same_time(&j->ctime, ctime);
}

static void prefetch_one(const struct prefetch_job *j)
{
	int fd = backup_openat(j->dir->fd, j->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return; /* the walk will report it */
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		if (!job_unchanged(j, (uint64_t)st.st_size, (uint64_t)st.st_ino, &st.st_mtim,
				   &st.st_ctim)) {
			off_t len = st.st_size < PREFETCH_MAX_BYTES ? st.st_size
								     : PREFETCH_MAX_BYTES;
			(void)posix_fadvise(fd, 0, len, POSIX_FADV_WILLNEED);
		}
	}
	close(fd);
}

static void *prefetch_thread(void *arg)
{
	(void)thread_as_helper();
	struct prefetch *pf = arg;
	pthread_mutex_lock(&pf->mu);
	for (;;) {
		while (pf->head == NULL && !pf->stop)
			pthread_cond_wait(&pf->cv, &pf->mu);
		if (pf->stop)
			break;
		struct prefetch_job *j = pf->head;
		pf->head = j->next;
		if (pf->head == NULL)
			pf->tail = NULL;
		pf->queued--;
		pthread_mutex_unlock(&pf->mu);
		prefetch_one(j);
		pthread_mutex_lock(&pf->mu);
		prefetch_dir_unref(j->dir);
		free(j);
	}
	pthread_mutex_unlock(&pf->mu);
	return NULL;
}

/*
 * Lists one directory and stats every entry but its subdirectories (those
 * are listed as jobs of their own), so that the walk finds the directory's
 * blocks, its names and their inodes cached. Listing alone left the walk
 * waiting on each name's lookup: the file read-ahead works a window of
 * names ahead, one directory at a time, and falls behind a cold walk.
 */
static void prefetch_list(const struct prefetch_job *j)
{
	int fd = backup_openat(j->dir->fd, j->name,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return; /* the walk will report it */
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_type != DT_DIR)
			(void)fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW);
	}
	closedir(d);
}

static void *prefetch_dir_thread(void *arg)
{
	(void)thread_as_helper();
	struct prefetch *pf = arg;
	pthread_mutex_lock(&pf->mu);
	for (;;) {
		while (pf->dirs_n == 0 && !pf->stop)
			pthread_cond_wait(&pf->dir_cv, &pf->mu);
		if (pf->stop)
			break;
		pf->dirs_n--;
		struct prefetch_job *j = pf->dirs[(pf->dirs_bottom + pf->dirs_n) % PREFETCH_DIR_MAX];
		pthread_mutex_unlock(&pf->mu);
		prefetch_list(j);
		pthread_mutex_lock(&pf->mu);
		prefetch_dir_unref(j->dir);
		free(j);
	}
	pthread_mutex_unlock(&pf->mu);
	return NULL;
}

static bool ring_want(const struct io_file_req *r, void *arg)
{
	(void)arg;
	const struct prefetch_job *j = r->user;
	struct timespec m = { .tv_sec = r->stx.stx_mtime.tv_sec,
			      .tv_nsec = r->stx.stx_mtime.tv_nsec };
	struct timespec c = { .tv_sec = r->stx.stx_ctime.tv_sec,
			      .tv_nsec = r->stx.stx_ctime.tv_nsec };
	return r->stx.stx_size > 0 && !job_unchanged(j, r->stx.stx_size, r->stx.stx_ino, &m, &c);
}

/* The io_uring variant: batches of queued files through read_files. */
static void *prefetch_ring_thread(void *arg)
{
	(void)thread_as_helper();
	struct prefetch *pf = arg;
	const struct io_engine_ops *io = io_engine();
	struct io_file_req req[IO_BATCH];
	struct prefetch_job *batch[IO_BATCH];

	pthread_mutex_lock(&pf->mu);
	for (;;) {
		while (pf->head == NULL && !pf->stop)
			pthread_cond_wait(&pf->cv, &pf->mu);
		if (pf->stop)
			break;
		unsigned n = 0;
		while (n < IO_BATCH && pf->head != NULL) {
			struct prefetch_job *j = pf->head;
			pf->head = j->next;
			pf->queued--;
			batch[n++] = j;
		}
		if (pf->head == NULL)
			pf->tail = NULL;
		pthread_mutex_unlock(&pf->mu);
		for (unsigned i = 0; i < n; i++)
			req[i] = (struct io_file_req){
				.dirfd = batch[i]->dir->fd,
				.name = batch[i]->name,
				.readahead = PREFETCH_MAX_BYTES,
				.user = batch[i],
				/* Probably unchanged: the statx still
				 * brings its inode in for the walk. */
				.stat_first = batch[i]->has_old,
			};
		/* Failures are the walk's to report when it gets there. */
		(void)io->read_files(req, n, ring_want, NULL);
		pthread_mutex_lock(&pf->mu);
		for (unsigned i = 0; i < n; i++) {
			prefetch_dir_unref(batch[i]->dir);
			free(batch[i]);
		}
	}
	pthread_mutex_unlock(&pf->mu);
	return NULL;
}

/* Frees a list of jobs never run. Holds pf->mu. */
static void jobs_drop(struct prefetch_job *j)
{
	while (j != NULL) {
		struct prefetch_job *next = j->next;
		prefetch_dir_unref(j->dir);
		free(j);
		j = next;
	}
}

/* Drops the oldest queued directory, never listed. Holds pf->mu; dirs_n > 0. */
static void dirs_drop_oldest(struct prefetch *pf)
{
	jobs_drop(pf->dirs[pf->dirs_bottom]);
	pf->dirs_bottom = (pf->dirs_bottom + 1) % PREFETCH_DIR_MAX;
	pf->dirs_n--;
}

struct prefetch *prefetch_new(unsigned n)
{
	bool ring = strcmp(io_engine()->name, "uring") == 0;
	if (ring)
		n = 1;
	struct prefetch *pf = calloc(1, sizeof *pf + n * sizeof(pthread_t));
	if (pf == NULL)
		return NULL;
	pthread_mutex_init(&pf->mu, NULL);
	pthread_cond_init(&pf->cv, NULL);
	pthread_cond_init(&pf->dir_cv, NULL);
	pf->ring = ring;
	for (; pf->n_threads < n; pf->n_threads++)
		if (pthread_create(&pf->threads[pf->n_threads], NULL,
				   ring ? prefetch_ring_thread : prefetch_thread, pf) != 0)
			break;
	if (pf->n_threads == 0) {
		prefetch_free(pf);
		return NULL;
	}
	for (; pf->n_dir_threads < PREFETCH_DIR_THREADS; pf->n_dir_threads++)
		if (pthread_create(&pf->dir_threads[pf->n_dir_threads], NULL, prefetch_dir_thread,
				   pf) != 0)
			break;
	return pf;
}

void prefetch_free(struct prefetch *pf)
{
	if (pf == NULL)
		return;
	pthread_mutex_lock(&pf->mu);
	pf->stop = true;
	pthread_cond_broadcast(&pf->cv);
	pthread_cond_broadcast(&pf->dir_cv);
	pthread_mutex_unlock(&pf->mu);
	for (unsigned i = 0; i < pf->n_threads; i++)
		pthread_join(pf->threads[i], NULL);
	for (unsigned i = 0; i < pf->n_dir_threads; i++)
		pthread_join(pf->dir_threads[i], NULL);
	jobs_drop(pf->head);
	pf->head = NULL;
	while (pf->dirs_n > 0)
		dirs_drop_oldest(pf);
	pthread_cond_destroy(&pf->dir_cv);
	pthread_cond_destroy(&pf->cv);
	pthread_mutex_destroy(&pf->mu);
	free(pf);
}

struct prefetch_dir *prefetch_dir_new(struct prefetch *pf, int fd)
{
	if (pf == NULL)
		return NULL;
	struct prefetch_dir *d = malloc(sizeof *d);
	if (d == NULL)
		return NULL;
	d->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (d->fd < 0) {
		free(d);
		return NULL;
	}
	d->pf = pf;
	d->refs = 1;
	return d;
}

void prefetch_dir_put(struct prefetch_dir *d)
{
	if (d == NULL)
		return;
	struct prefetch *pf = d->pf;
	pthread_mutex_lock(&pf->mu);
	prefetch_dir_unref(d);
	pthread_mutex_unlock(&pf->mu);
}

/* A job for name in d, not yet queued (d not yet referenced); NULL without memory. */
static struct prefetch_job *job_new(struct prefetch_dir *d, const char *name)
{
	size_t len = strlen(name);
	struct prefetch_job *j = malloc(sizeof *j + len + 1);
	if (j == NULL)
		return NULL;
	memcpy(j->name, name, len + 1);
	j->next = NULL;
	j->dir = d;
	j->has_old = false;
	return j;
}

void prefetch_push(struct prefetch_dir *d, const char *name, const struct node *old)
{
	struct prefetch_job *j = d != NULL ? job_new(d, name) : NULL;
	if (j == NULL)
		return;
	j->has_old = old != NULL && old->type == NODE_FILE && old->flags == 0;
	if (j->has_old) {
		j->size = old->size;
		j->inode = old->inode;
		j->mtime = old->mtime;
		j->ctime = old->ctime;
	}
	struct prefetch *pf = d->pf;
	pthread_mutex_lock(&pf->mu);
	if (pf->queued >= PREFETCH_QUEUE_MAX || pf->stop) {
		pthread_mutex_unlock(&pf->mu);
		free(j);
		return;
	}
	d->refs++;
	if (pf->tail != NULL)
		pf->tail->next = j;
	else
		pf->head = j;
	pf->tail = j;
	pf->queued++;
	pthread_cond_signal(&pf->cv);
	pthread_mutex_unlock(&pf->mu);
}

void prefetch_push_dir(struct prefetch_dir *d, const char *name)
{
	struct prefetch_job *j =
		d != NULL && d->pf->n_dir_threads > 0 ? job_new(d, name) : NULL;
	if (j == NULL)
		return;
	struct prefetch *pf = d->pf;
	pthread_mutex_lock(&pf->mu);
	if (pf->stop) {
		pthread_mutex_unlock(&pf->mu);
		free(j);
		return;
	}
	if (pf->dirs_n == PREFETCH_DIR_MAX)
		dirs_drop_oldest(pf);
	d->refs++;
	pf->dirs[(pf->dirs_bottom + pf->dirs_n) % PREFETCH_DIR_MAX] = j;
	pf->dirs_n++;
	pthread_cond_signal(&pf->dir_cv);
	pthread_mutex_unlock(&pf->mu);
}
