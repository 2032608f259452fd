/*
 * Job runner (runner.h). The queue is the store's: this process keeps the
 * IDs of its queued jobs in arrival order and takes the first whose pool
 * has room (jobstore_start_limited decides, across both daemons, in one
 * transaction). Workers wait on a condition variable with a timeout, so a
 * pool freed by the other daemon is noticed within a second.
 */
#include "daemon/runner.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/server.h"
#include "ipc/ipc.h"
#include "util/log.h"

#define WAIT_MS 1000
#define EVENT_EVERY_MS 250
#define STORE_EVERY_MS 1000

struct queued {
	struct queued *next;
	uint64_t id;
};

struct runner {
	struct server *srv;
	struct jobstore *js;
	struct runner_conf c;
	char daemon[JOB_DAEMON_MAX + 1];
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct queued *head, *tail;
	unsigned n_queued, n_running;
	struct runner_job *running;
	bool stopping;
	pthread_t *threads;
	unsigned n_threads;
};

struct done_call {
	struct runner *rn;
	struct job job;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void enqueue_locked(struct runner *rn, uint64_t id)
{
	struct queued *q = calloc(1, sizeof *q);
	if (q == NULL)
		return; /* stays queued in the store; taken after a restart */
	q->id = id;
	if (rn->tail != NULL)
		rn->tail->next = q;
	else
		rn->head = q;
	rn->tail = q;
	rn->n_queued++;
}

static void unlink_queued_locked(struct runner *rn, struct queued *prev, struct queued *q)
{
	if (prev != NULL)
		prev->next = q->next;
	else
		rn->head = q->next;
	if (rn->tail == q)
		rn->tail = prev;
	rn->n_queued--;
	free(q);
}

/* Events to watchers ---------------------------------------------------- */

static void post_progress(struct runner_job *rj, const char *current)
{
	struct ipc_writer w;
	char cur[4097];
	snprintf(cur, sizeof cur, "%s", current != NULL ? current : "");
	ipc_writer_init(&w, IPC_EV_PROGRESS, 0);
	ipc_put_u64(&w, rj->job.id);
	ipc_put_u64(&w, rj->files);
	ipc_put_u64(&w, rj->bytes);
	ipc_put_u64(&w, rj->total);
	ipc_put_u64(&w, rj->errors);
	ipc_put_str(&w, cur);
	if (ipc_writer_finish(&w) == 0)
		server_post(rj->rn->srv, rj->job.id, &w);
	ipc_writer_fini(&w);
}

static void post_done(struct runner *rn, const struct job *j)
{
	struct ipc_writer w;
	ipc_writer_init(&w, IPC_EV_DONE, 0);
	ipc_put_u64(&w, j->id);
	ipc_put_str(&w, job_state_name(j->state));
	ipc_put_str(&w, j->message);
	ipc_put_str(&w, j->snapshot);
	if (ipc_writer_finish(&w) == 0)
		server_post(rn->srv, j->id, &w);
	ipc_writer_fini(&w);
}

void runner_progress(struct runner_job *rj, uint64_t files, uint64_t bytes, uint64_t total,
		     uint64_t errors, const char *current, bool force)
{
	int64_t now = mono_ms();
	rj->files = files;
	rj->bytes = bytes;
	rj->total = total;
	rj->errors = errors;
	if (force || now - rj->last_event_ms >= EVENT_EVERY_MS) {
		rj->last_event_ms = now;
		post_progress(rj, current);
	}
	if (force || now - rj->last_store_ms >= STORE_EVERY_MS) {
		rj->last_store_ms = now;
		(void)jobstore_progress(rj->rn->js, rj->job.id, files, bytes, errors);
	}
}

/*
 * The log sink of a job's thread: the message is kept with the job and
 * sent to its watchers. The store's own errors are logged from here too;
 * the guard keeps them from coming back into the sink.
 */
static _Thread_local bool in_sink;

static void job_log_sink(enum log_level lvl, const char *msg, void *arg)
{
	struct runner_job *rj = arg;
	if (in_sink || lvl > LOG_LVL_INFO)
		return;
	in_sink = true;
	msg = log_untag(msg); /* the level is stored beside the text */
	(void)jobstore_add_message(rj->rn->js, rj->job.id, (int)lvl, msg);
	struct ipc_writer w;
	char text[2049];
	snprintf(text, sizeof text, "%s", msg);
	ipc_writer_init(&w, IPC_EV_LOG, 0);
	ipc_put_u64(&w, rj->job.id);
	ipc_put_u8(&w, (uint8_t)lvl);
	ipc_put_str(&w, text);
	if (ipc_writer_finish(&w) == 0)
		server_post(rj->rn->srv, rj->job.id, &w);
	ipc_writer_fini(&w);
	in_sink = false;
}

/* Workers ---------------------------------------------------------------- */

/*
 * Takes the first queued job that can start now (lock held). Jobs that
 * can no longer start (cancelled, taken) leave the queue; jobs whose pool
 * is full stay for later. NULL if none.
 */
static struct runner_job *take_locked(struct runner *rn)
{
	struct queued *prev = NULL;
	for (struct queued *q = rn->head; q != NULL;) {
		struct job j;
		int e = jobstore_get(rn->js, q->id, &j);
		if (e == 0 && j.state == JOB_QUEUED) {
			unsigned lim = rn->c.limit != NULL ? rn->c.limit(j.pool, rn->c.arg) : 0;
			e = jobstore_start_limited(rn->js, q->id, lim);
			if (e == -EBUSY) {
				prev = q;
				q = q->next;
				continue;
			}
		} else if (e == 0) {
			e = -EALREADY;
		}
		struct queued *next = q->next;
		unlink_queued_locked(rn, prev, q);
		q = next;
		if (e != 0)
			continue;
		struct runner_job *rj = calloc(1, sizeof *rj);
		if (rj == NULL || jobstore_get(rn->js, j.id, &rj->job) != 0) {
			free(rj);
			(void)jobstore_finish(rn->js, j.id, JOB_FAILED, "out of memory", NULL);
			continue;
		}
		rj->rn = rn;
		atomic_init(&rj->cancel, false);
		rj->next = rn->running;
		rn->running = rj;
		rn->n_running++;
		return rj;
	}
	return NULL;
}

static void done_on_loop(struct server *s, void *arg)
{
	struct done_call *d = arg;
	(void)s;
	post_done(d->rn, &d->job);
	if (d->rn->c.done != NULL)
		d->rn->c.done(d->rn, &d->job, d->rn->c.arg);
	free(d);
}

static void finish_job(struct runner *rn, struct runner_job *rj, int rc, bool stopping)
{
	enum job_state st = rc == 0 ? JOB_SUCCEEDED
			    : rc == -ECANCELED ? (stopping ? JOB_INTERRUPTED : JOB_CANCELLED)
					       : JOB_FAILED;
	if (rj->message[0] == 0)
		snprintf(rj->message, sizeof rj->message, "%s",
			 st == JOB_INTERRUPTED ? "the daemon stopped while the job ran"
			 : st == JOB_CANCELLED ? "cancelled"
			 : rc != 0 ? coffer_strerror(rc) : "done");
	(void)jobstore_progress(rn->js, rj->job.id, rj->files, rj->bytes, rj->errors);
	int e = jobstore_finish(rn->js, rj->job.id, st, rj->message,
				rj->snapshot[0] ? rj->snapshot : NULL);
	if (e != 0)
		log_errorx("%s: cannot record the end of job %llu: %s", rn->daemon,
			   (unsigned long long)rj->job.id, coffer_strerror(e));
	if (st == JOB_FAILED)
		log_errorx("job %llu (%s of %s) failed: %s", (unsigned long long)rj->job.id,
			   job_kind_name(rj->job.kind), rj->job.dataset, rj->message);
	else
		log_info("job %llu (%s of %s) %s: %s", (unsigned long long)rj->job.id,
			 job_kind_name(rj->job.kind), rj->job.dataset, job_state_name(st),
			 rj->message);
	struct done_call *d = calloc(1, sizeof *d);
	if (d != NULL) {
		d->rn = rn;
		if (jobstore_get(rn->js, rj->job.id, &d->job) != 0) {
			d->job = rj->job;
			d->job.state = st;
		}
		if (server_call_soon(rn->srv, done_on_loop, d) != 0)
			free(d);
	}
}

static void *worker(void *arg)
{
	struct runner *rn = arg;
	pthread_mutex_lock(&rn->lock);
	while (!rn->stopping) {
		struct runner_job *rj = take_locked(rn);
		if (rj == NULL) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += WAIT_MS / 1000;
			pthread_cond_timedwait(&rn->wake, &rn->lock, &ts);
			continue;
		}
		pthread_mutex_unlock(&rn->lock);
		log_set_thread_sink(job_log_sink, rj);
		int rc = rn->c.run(rj, rn->c.arg);
		log_set_thread_sink(NULL, NULL);
		pthread_mutex_lock(&rn->lock);
		bool stopping = rn->stopping;
		pthread_mutex_unlock(&rn->lock);
		finish_job(rn, rj, rc, stopping);
		pthread_mutex_lock(&rn->lock);
		for (struct runner_job **pp = &rn->running; *pp != NULL; pp = &(*pp)->next)
			if (*pp == rj) {
				*pp = rj->next;
				break;
			}
		rn->n_running--;
		free(rj);
	}
	pthread_mutex_unlock(&rn->lock);
	return NULL;
}

/* Setup and control ----------------------------------------------------- */

struct load {
	struct runner *rn;
};

static int load_one(const struct job *j, void *arg)
{
	struct load *l = arg;
	enqueue_locked(l->rn, j->id);
	return 0;
}

int runner_new(struct server *s, struct jobstore *js, const struct runner_conf *c,
	       struct runner **out)
{
	struct runner *rn = calloc(1, sizeof *rn);
	if (rn == NULL)
		return -ENOMEM;
	rn->srv = s;
	rn->js = js;
	rn->c = *c;
	snprintf(rn->daemon, sizeof rn->daemon, "%s", c->daemon);
	pthread_mutex_init(&rn->lock, NULL);
	pthread_cond_init(&rn->wake, NULL);
	int n = jobstore_mark_interrupted(js, rn->daemon);
	if (n > 0)
		log_warnx("%s: %d job(s) were running when the daemon last stopped; marked "
			  "interrupted", rn->daemon, n);
	struct job_filter f = { .daemon = rn->daemon, .state = JOB_QUEUED, .limit = 100000,
				.oldest_first = true };
	struct load l = { rn };
	int e = n < 0 ? n : jobstore_list(js, &f, load_one, &l);
	unsigned threads = c->threads ? c->threads : 1;
	rn->threads = e == 0 ? calloc(threads, sizeof *rn->threads) : NULL;
	if (e == 0 && rn->threads == NULL)
		e = -ENOMEM;
	for (unsigned i = 0; e == 0 && i < threads; i++) {
		if (pthread_create(&rn->threads[i], NULL, worker, rn) != 0)
			e = -EAGAIN;
		else
			rn->n_threads++;
	}
	if (e != 0) {
		runner_free(rn);
		return e;
	}
	*out = rn;
	return 0;
}

void runner_stop(struct runner *rn)
{
	if (rn == NULL || rn->n_threads == 0)
		return;
	pthread_mutex_lock(&rn->lock);
	rn->stopping = true;
	for (struct runner_job *rj = rn->running; rj != NULL; rj = rj->next)
		atomic_store(&rj->cancel, true);
	pthread_cond_broadcast(&rn->wake);
	pthread_mutex_unlock(&rn->lock);
	for (unsigned i = 0; i < rn->n_threads; i++)
		pthread_join(rn->threads[i], NULL);
	rn->n_threads = 0;
	/* A job that did not see the request in time is interrupted anyway. */
	(void)jobstore_mark_interrupted(rn->js, rn->daemon);
}

void runner_free(struct runner *rn)
{
	if (rn == NULL)
		return;
	runner_stop(rn);
	while (rn->head != NULL)
		unlink_queued_locked(rn, NULL, rn->head);
	free(rn->threads);
	pthread_cond_destroy(&rn->wake);
	pthread_mutex_destroy(&rn->lock);
	free(rn);
}

int runner_submit(struct runner *rn, struct job *j, uint64_t *id)
{
	snprintf(j->daemon, sizeof j->daemon, "%s", rn->daemon);
	if (j->attempt == 0)
		j->attempt = 1;
	int e = jobstore_add(rn->js, j, id);
	if (e != 0)
		return e;
	pthread_mutex_lock(&rn->lock);
	enqueue_locked(rn, *id);
	pthread_cond_signal(&rn->wake);
	pthread_mutex_unlock(&rn->lock);
	return 0;
}

int runner_cancel(struct runner *rn, uint64_t id)
{
	struct job j;
	int e = jobstore_get(rn->js, id, &j);
	if (e != 0 || strcmp(j.daemon, rn->daemon) != 0)
		return -ENOENT;
	if (job_state_final(j.state))
		return -EALREADY;
	pthread_mutex_lock(&rn->lock);
	bool found = false;
	for (struct runner_job *rj = rn->running; rj != NULL; rj = rj->next)
		if (rj->job.id == id) {
			atomic_store(&rj->cancel, true);
			found = true;
		}
	pthread_mutex_unlock(&rn->lock);
	if (found)
		return 0;
	/* Queued: ends now. A worker that takes it finds it no longer queued. */
	e = jobstore_finish(rn->js, id, JOB_CANCELLED, "cancelled before it started", NULL);
	if (e == 0 && jobstore_get(rn->js, id, &j) == 0) {
		post_done(rn, &j);
		if (rn->c.done != NULL)
			rn->c.done(rn, &j, rn->c.arg);
	}
	return e;
}

void runner_counts(struct runner *rn, unsigned *running, unsigned *queued)
{
	pthread_mutex_lock(&rn->lock);
	*running = rn->n_running;
	*queued = rn->n_queued;
	pthread_mutex_unlock(&rn->lock);
}

struct jobstore *runner_store(struct runner *rn)
{
	return rn->js;
}
