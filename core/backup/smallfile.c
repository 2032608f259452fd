/* Small files backed up by a pool of threads; see smallfile.h. */
#include "backup/smallfile.h"
#include "backup/backup_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/io.h"
#include "repo/chunker.h"
#include "util/mem.h"
#include "util/thread.h"

/* Files queued at most per thread: enough to keep the disk's queue deep
 * while the walk lists the next directory. */
#define SMALLFILE_QUEUE_PER_THREAD 16
/*
 * An idle thread is woken once this many files are queued (or when the
 * walk waits for a directory's files), not for every file: with one wake-up
 * per file, the threads slept after each and the backup of a source tree
 * made several futex calls and context switches per file.
 */
#define SMALLFILE_WAKE 8

struct smallfile_job {
	struct smallfile_job *next;
	struct smallfile_batch *b;
	int dirfd;
	char *name;
	struct stat st;
	bool has_base;
	uint8_t base[BLOB_ID_LEN];
	struct node *n;
	struct smallfile_result *res;
};

struct smallfiles {
	struct repo *r;
	size_t max_len;          /* files shorter than this come here */
	pthread_mutex_t mu;
	pthread_cond_t work_cv;  /* a job was queued, or stopping */
	pthread_cond_t space_cv; /* the queue shrank */
	pthread_cond_t done_cv;  /* some batch's count reached zero */
	struct smallfile_job *head, *tail;
	unsigned queued, queue_max;
	bool stop;
	unsigned n_threads;
	pthread_t threads[];
};

bool smallfiles_wants(const struct smallfiles *sf, const struct stat *st)
{
	return sf != NULL && S_ISREG(st->st_mode) && st->st_size > 0 &&
	       (uint64_t)st->st_size < sf->max_len &&
	       (uint64_t)st->st_blocks * 512 >= (uint64_t)st->st_size;
}

static void smallfile_failed(struct smallfile_result *res, int err, const char *what)
{
	res->event = SMALLFILE_FAILED;
	res->err = err;
	res->what = what;
	res->error = true;
}

void smallfile_result_report(struct smallfile_result *res)
{
	const char *p = res->path != NULL ? res->path : "?";
	switch (res->event) {
	case SMALLFILE_VANISHED: backup_warn_vanished(p); break;
	case SMALLFILE_REPLACED: backup_warn_replaced(p); break;
	case SMALLFILE_FAILED: backup_report_error(p, res->err, res->what); break;
	case SMALLFILE_CHANGED: backup_warn_changed(p); break;
	case SMALLFILE_OK: break;
	}
	free(res->path);
	res->path = NULL;
}

/*
 * Backs up one file into buf (max_len bytes). Returns a negative errno
 * only for a repository failure; the file's own problems go to res and
 * the node's flags, as walk_file_content does.
 */
static int smallfile_run(struct smallfiles *sf, struct smallfile_job *j, uint8_t *buf)
{
	int fd = backup_openat(j->dirfd, j->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int err = -errno;
		j->res->skipped = true;
		if (err == -ENOENT) {
			j->res->event = SMALLFILE_VANISHED;
		} else {
			smallfile_failed(j->res, err, "open");
		}
		return 0;
	}
	struct stat st1, st2;
	if (fstat(fd, &st1) != 0 || !backup_same_inode(&st1, &j->st)) {
		j->res->event = SMALLFILE_REPLACED;
		j->res->skipped = true;
		close(fd);
		return 0;
	}
	size_t got = 0;
	int src_err = io_pread_up_to(fd, buf, (size_t)j->st.st_size, 0, &got);
	bool changed = got < (size_t)j->st.st_size || fstat(fd, &st2) != 0 ||
		       !backup_same_content_stat(&st2, &j->st);
	close(fd);
	j->res->bytes_read = got;
	int e = 0;
	if (got > 0) {
		struct extent *x = malloc(sizeof *x);
		e = x == NULL ? -ENOMEM : 0;
		if (e == 0)
			e = repo_blob_save_hint(sf->r, buf, got, j->has_base ? j->base : NULL, x->id,
						NULL);
		if (e == 0) {
			x->offset = 0;
			x->len = (uint32_t)got;
			j->n->extents = x;
			j->n->n_extents = 1;
		} else {
			free(x);
		}
		mem_wipe(buf, got);
	}
	if (e != 0)
		return e;
	if (src_err != 0) {
		smallfile_failed(j->res, src_err, "read");
		j->n->flags |= NODE_F_INCOMPLETE;
	} else if (changed) {
		j->res->event = SMALLFILE_CHANGED;
		j->n->flags |= NODE_F_CHANGED;
	}
	return 0;
}

static void *smallfile_thread(void *arg)
{
	(void)thread_as_helper();
	struct smallfiles *sf = arg;
	uint8_t *buf = malloc(sf->max_len);
	pthread_mutex_lock(&sf->mu);
	for (;;) {
		while (sf->head == NULL && !sf->stop)
			pthread_cond_wait(&sf->work_cv, &sf->mu);
		struct smallfile_job *j = sf->head;
		if (j == NULL)
			break; /* stopping, and nothing left */
		sf->head = j->next;
		if (sf->head == NULL)
			sf->tail = NULL;
		sf->queued--;
		pthread_cond_signal(&sf->space_cv);
		pthread_mutex_unlock(&sf->mu);
		int e = buf != NULL ? smallfile_run(sf, j, buf) : -ENOMEM;
		pthread_mutex_lock(&sf->mu);
		if (e != 0 && j->b->err == 0)
			j->b->err = e;
		if (--j->b->outstanding == 0)
			pthread_cond_broadcast(&sf->done_cv);
		free(j->name);
		free(j);
	}
	pthread_mutex_unlock(&sf->mu);
	free(buf); /* wiped after every file */
	return NULL;
}

struct smallfiles *smallfiles_new(struct repo *r, unsigned n)
{
	if (n == 0)
		return NULL;
	struct smallfiles *sf = calloc(1, sizeof *sf + n * sizeof(pthread_t));
	if (sf == NULL)
		return NULL;
	sf->r = r;
	sf->max_len = repo_chunker(r)->min_size;
	sf->queue_max = n * SMALLFILE_QUEUE_PER_THREAD;
	pthread_mutex_init(&sf->mu, NULL);
	pthread_cond_init(&sf->work_cv, NULL);
	pthread_cond_init(&sf->space_cv, NULL);
	pthread_cond_init(&sf->done_cv, NULL);
	for (; sf->n_threads < n; sf->n_threads++)
		if (pthread_create(&sf->threads[sf->n_threads], NULL, smallfile_thread, sf) != 0)
			break;
	if (sf->n_threads == 0) {
		smallfiles_free(sf);
		return NULL;
	}
	return sf;
}

void smallfiles_free(struct smallfiles *sf)
{
	if (sf == NULL)
		return;
	pthread_mutex_lock(&sf->mu);
	sf->stop = true;
	pthread_cond_broadcast(&sf->work_cv);
	pthread_mutex_unlock(&sf->mu);
	for (unsigned i = 0; i < sf->n_threads; i++)
		pthread_join(sf->threads[i], NULL);
	pthread_cond_destroy(&sf->done_cv);
	pthread_cond_destroy(&sf->space_cv);
	pthread_cond_destroy(&sf->work_cv);
	pthread_mutex_destroy(&sf->mu);
	free(sf);
}

int smallfiles_submit(struct smallfiles *sf, struct smallfile_batch *b, int dirfd,
		      const char *name, const struct stat *st, const struct node *old,
		      struct node *n, const char *path, struct smallfile_result *res)
{
	struct smallfile_job *j = calloc(1, sizeof *j);
	char *p = strdup(path);
	if (j == NULL || p == NULL || (j->name = strdup(name)) == NULL) {
		free(j);
		free(p);
		return -ENOMEM;
	}
	j->b = b;
	j->dirfd = dirfd;
	j->st = *st;
	j->n = n;
	j->res = res;
	*res = (struct smallfile_result){ .pooled = true, .path = p };
	/* The chunk stream's delta base for the one chunk [0, size): the old
	 * extent that overlaps it most. */
	uint64_t best = 0, end = (uint64_t)st->st_size;
	for (size_t i = 0; old != NULL && old->type == NODE_FILE && i < old->n_extents; i++) {
		const struct extent *x = &old->extents[i];
		uint64_t hi = x->offset + x->len < end ? x->offset + x->len : end;
		if (x->offset < hi && hi - x->offset > best) {
			best = hi - x->offset;
			j->has_base = true;
			memcpy(j->base, x->id, BLOB_ID_LEN);
		}
	}
	pthread_mutex_lock(&sf->mu);
	while (sf->queued >= sf->queue_max)
		pthread_cond_wait(&sf->space_cv, &sf->mu);
	if (sf->tail != NULL)
		sf->tail->next = j;
	else
		sf->head = j;
	sf->tail = j;
	sf->queued++;
	b->outstanding++;
	if (sf->queued >= SMALLFILE_WAKE)
		pthread_cond_signal(&sf->work_cv);
	pthread_mutex_unlock(&sf->mu);
	return 0;
}

int smallfiles_wait(struct smallfiles *sf, struct smallfile_batch *b)
{
	if (sf == NULL)
		return b->err;
	pthread_mutex_lock(&sf->mu);
	if (sf->queued > 0)
		pthread_cond_broadcast(&sf->work_cv); /* fewer than SMALLFILE_WAKE */
	while (b->outstanding > 0)
		pthread_cond_wait(&sf->done_cv, &sf->mu);
	int e = b->err;
	pthread_mutex_unlock(&sf->mu);
	return e;
}
