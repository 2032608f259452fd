/*
 * What the scheduler does on each tick (scheduler.h). Every submission
 * carries the request key "sched:DATASET:KIND:SLOT[:ATTEMPT]", and the slot
 * is written to sched.db as pending before it is sent: a scheduler that
 * dies between the two sends the same key again at its next start, which
 * the daemon answers with the job it already made. A slot's row is
 * updated only once the daemon has answered, so no slot is lost either.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/catalog.h"
#include "ipc/client.h"
#include "jobs/jobstore.h"
#include "sched/calendar.h"
#include "scheduler/scheduler.h"
#include "util/log.h"
#include "util/vec.h"

#define POLL_MS 1000
#define IPC_TIMEOUT_MS 10000

struct pol {
	char dataset[65];
	struct policy p;
};

struct pols {
	struct pol *v;
	size_t n, cap;
};

static int collect_policy(const struct dataset *d, const struct policy *p, void *arg)
{
	struct pols *ps = arg;
	struct pol e;
	snprintf(e.dataset, sizeof e.dataset, "%s", d->name);
	/* The sources stay with the catalog's copy: only the scalars are kept. */
	e.p = *p;
	e.p.sources = NULL;
	return vec_push(&ps->v, &ps->n, &ps->cap, sizeof e, &e);
}

static const struct pol *find_pol(const struct pols *ps, const char *dataset)
{
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->v[i].dataset, dataset) == 0)
			return &ps->v[i];
	return NULL;
}

static bool has_keep_rules(const struct policy *p)
{
	return p->keep_last || p->keep_daily || p->keep_weekly || p->keep_monthly ||
	       p->keep_yearly;
}

static int64_t next_after(const char *spec, int64_t after)
{
	struct calendar cal;
	int64_t next = 0;
	if (calendar_parse(spec, &cal, NULL, 0) != 0 || calendar_next(&cal, after, &next) != 0)
		return 0;
	return next;
}

/* Makes the row of dataset/kind follow the policy's calendar (spec "" = none). */
static void sync_row(struct scheduler *s, const char *dataset, const char *kind,
		     const char *spec, int64_t now)
{
	struct sched_row r;
	int e = sched_db_get(s->db, dataset, kind, &r);
	if (e == -ENOENT) {
		if (spec[0] == 0)
			return;
		memset(&r, 0, sizeof r);
		snprintf(r.dataset, sizeof r.dataset, "%s", dataset);
		snprintf(r.kind, sizeof r.kind, "%s", kind);
		snprintf(r.state, sizeof r.state, "idle");
	} else if (e != 0 || strcmp(r.calendar, spec) == 0) {
		return;
	}
	/* A new or changed calendar: its first run is the next one from now. */
	snprintf(r.calendar, sizeof r.calendar, "%s", spec);
	r.next_run = spec[0] ? next_after(spec, now) : 0;
	if (spec[0] && r.next_run == 0)
		log_warnx("the calendar '%s' of %s never fires", spec, dataset);
	(void)sched_db_put(s->db, &r);
	log_info("%s of %s scheduled: %s (next %lld)", kind, dataset,
		 spec[0] ? spec : "no calendar", (long long)r.next_run);
}

/* The connection to daemon name, made on first use and after a failure. */
static struct ipc_client *conn(const char *run_dir, const char *name, struct ipc_client **slot)
{
	if (*slot == NULL && ipc_connect(run_dir, name, slot) != 0)
		*slot = NULL;
	return *slot;
}

static struct ipc_client *cl_backupd, *cl_restored;

static void conn_drop(struct ipc_client **slot)
{
	ipc_close(*slot);
	*slot = NULL;
}

/*
 * Sends the job of row r for slot to its daemon. 0 with *id; -EAGAIN when
 * the daemon could not be reached (try again next tick); another
 * negative errno when it refused (counted as a failed attempt).
 */
static int send_job(struct scheduler *s, const struct sched_row *r, const struct pol *pl,
		    int64_t slot, uint64_t *id, char *why, size_t size)
{
	char key[160];
	uint32_t attempt = r->failures + 1;
	int n = snprintf(key, sizeof key, "sched:%s:%s:%lld", r->dataset, r->kind, (long long)slot);
	if (attempt > 1)
		snprintf(key + n, sizeof key - (size_t)n, ":%u", attempt);
	bool verify = strcmp(r->kind, "verify") == 0;
	struct ipc_client **slotp = verify ? &cl_restored : &cl_backupd;
	struct ipc_client *cl = conn(s->c.a.run_dir, verify ? "restored" : "backupd", slotp);
	if (cl == NULL) {
		snprintf(why, size, "coffer-%s is not reachable", verify ? "restored" : "backupd");
		return -EAGAIN;
	}
	struct ipc_writer w;
	if (strcmp(r->kind, "backup") == 0) {
		ipc_writer_init(&w, IPC_BACKUP, ipc_next_reqid(cl));
		ipc_put_str(&w, r->dataset);
		ipc_put_list(&w, 0); /* the policy's sources */
		ipc_put_list(&w, 1);
		ipc_put_str(&w, "scheduled");
		ipc_put_str(&w, key);
		ipc_put_u32(&w, attempt);
		ipc_put_u8(&w, 0);
	} else if (strcmp(r->kind, "retention") == 0) {
		ipc_writer_init(&w, IPC_RETENTION, ipc_next_reqid(cl));
		ipc_put_str(&w, r->dataset);
		ipc_put_str(&w, key);
		ipc_put_u32(&w, attempt);
		ipc_put_u8(&w, 0);
	} else {
		uint32_t cycle = pl != NULL ? pl->p.verify_days : 1;
		ipc_writer_init(&w, IPC_VERIFY, ipc_next_reqid(cl));
		ipc_put_str(&w, r->dataset);
		ipc_put_u32(&w, cycle);
		ipc_put_u32(&w, cycle ? r->share % cycle : 0);
		ipc_put_str(&w, key);
		ipc_put_u32(&w, attempt);
		ipc_put_u8(&w, 0);
	}
	struct ipc_msg m;
	int e = ipc_writer_finish(&w);
	if (e == 0)
		e = ipc_call(cl, &w, &m, IPC_TIMEOUT_MS, why, size);
	ipc_writer_fini(&w);
	if (e == 0) {
		struct ipc_reader rd;
		ipc_reader_init(&rd, &m);
		if (ipc_get_u64(&rd, id) != 0 || ipc_end(&rd) != 0)
			e = -EPROTO;
		return e;
	}
	if (e == -ECONNRESET || e == -ETIMEDOUT || e == -EPIPE || e == -EPROTO) {
		conn_drop(slotp);
		snprintf(why, size, "lost the connection to coffer-%s", verify ? "restored" : "backupd");
		return -EAGAIN;
	}
	return e;
}

/* A failed attempt of r's slot: retry with backoff, or give up and alert. */
static void failed(struct scheduler *s, struct sched_row *r, int64_t now, const char *why)
{
	r->failures++;
	r->last_job = 0;
	if (r->failures >= SCHED_RETRIES_MAX) {
		log_errorx("ALERT: %s of %s failed %u times for the slot of %lld (%s); giving up "
			   "on this slot", r->kind, r->dataset, r->failures, (long long)r->last_slot,
			   why);
		r->retry_at = 0;
		r->failures = 0;
		snprintf(r->state, sizeof r->state, "alerted");
		return;
	}
	r->retry_at = now + ((int64_t)SCHED_BACKOFF_S << (r->failures - 1));
	snprintf(r->state, sizeof r->state, "retrying");
	log_errorx("%s of %s failed (%s); attempt %u at %lld", r->kind, r->dataset, why,
		   r->failures + 1, (long long)r->retry_at);
}

/* Submits slot for r; new: a fresh slot (advances next_run), else a retry or resubmission. */
static void submit(struct scheduler *s, struct sched_row *r, const struct pol *pl, int64_t slot,
		   bool fresh, int64_t now)
{
	char why[1100] = "";
	uint64_t id = 0;
	/*
	 * Verification reads share runs mod N of the packs: consecutive runs
	 * read consecutive shares, so every N runs read every pack even when
	 * downtime merged some days into one run. Kept with the pending slot,
	 * so a resubmission or retry reads the same share.
	 */
	if (fresh && r->pending_slot != slot)
		r->share = pl != NULL && pl->p.verify_days ? (uint32_t)(r->runs % pl->p.verify_days)
							   : 0;
	r->pending_slot = slot;
	if (sched_db_put(s->db, r) != 0)
		return; /* not durable: not sent */
	int e = send_job(s, r, pl, slot, &id, why, sizeof why);
	if (e == -EAGAIN) {
		log_warnx("cannot submit %s of %s yet: %s", r->kind, r->dataset, why);
		return; /* pending stays: sent again next tick with the same key */
	}
	r->pending_slot = 0;
	r->last_slot = slot;
	if (fresh && r->calendar[0])
		r->next_run = next_after(r->calendar, now > slot ? now : slot);
	if (e == 0) {
		if (fresh)
			r->runs++;
		r->last_job = id;
		r->retry_at = 0;
		snprintf(r->state, sizeof r->state, "running");
		log_info("submitted %s of %s for the slot of %lld: job %llu", r->kind, r->dataset,
			 (long long)slot, (unsigned long long)id);
	} else {
		failed(s, r, now, why[0] ? why : coffer_strerror(e));
	}
	(void)sched_db_put(s->db, r);
}

/* The state of job id ("" if it could not be learnt now) and its message. */
static void job_state(struct scheduler *s, uint64_t id, char *state, size_t size, char *msg,
		      size_t msize)
{
	state[0] = 0;
	struct ipc_client *cl = conn(s->c.a.run_dir, "backupd", &cl_backupd);
	if (cl == NULL)
		return;
	struct ipc_writer w;
	struct ipc_msg m;
	ipc_writer_init(&w, IPC_JOB_SHOW, ipc_next_reqid(cl));
	ipc_put_u64(&w, id);
	int e = ipc_writer_finish(&w);
	if (e == 0)
		e = ipc_call(cl, &w, &m, IPC_TIMEOUT_MS, NULL, 0);
	ipc_writer_fini(&w);
	if (e != 0) {
		if (e == -ECONNRESET || e == -ETIMEDOUT || e == -EPROTO)
			conn_drop(&cl_backupd);
		return;
	}
	struct ipc_reader rd;
	uint64_t u;
	uint32_t u32;
	int64_t i;
	char text[1025];
	ipc_reader_init(&rd, &m);
	(void)ipc_get_u64(&rd, &u);
	(void)ipc_get_str(&rd, text, sizeof text); /* kind */
	(void)ipc_get_str(&rd, text, sizeof text); /* dataset */
	(void)ipc_get_str(&rd, text, sizeof text); /* daemon */
	(void)ipc_get_str(&rd, state, size);
	(void)ipc_get_u32(&rd, &u32);
	for (int k = 0; k < 3; k++)
		(void)ipc_get_i64(&rd, &i);
	for (int k = 0; k < 3; k++)
		(void)ipc_get_u64(&rd, &u);
	(void)ipc_get_str(&rd, text, sizeof text); /* snapshot */
	(void)ipc_get_str(&rd, msg, msize);
}

/* A tracked job ended as state: on to the next step, or a retry. */
static void job_ended(struct scheduler *s, struct sched_row *r, const struct pol *pl,
		      const char *state, const char *msg, int64_t now)
{
	uint64_t id = r->last_job;
	if (strcmp(state, "succeeded") == 0 || strcmp(state, "cancelled") == 0) {
		/* A cancel is an operator's decision: not retried. */
		r->failures = 0;
		r->retry_at = 0;
		r->last_job = 0;
		snprintf(r->state, sizeof r->state, "idle");
		(void)sched_db_put(s->db, r);
		log_info("job %llu (%s of %s) %s", (unsigned long long)id, r->kind, r->dataset, state);
		/* After a scheduled backup, the policy's retention. */
		if (strcmp(state, "succeeded") == 0 && strcmp(r->kind, "backup") == 0 && pl != NULL &&
		    has_keep_rules(&pl->p)) {
			struct sched_row t;
			if (sched_db_get(s->db, r->dataset, "retention", &t) != 0) {
				memset(&t, 0, sizeof t);
				snprintf(t.dataset, sizeof t.dataset, "%s", r->dataset);
				snprintf(t.kind, sizeof t.kind, "retention");
			}
			t.failures = 0;
			submit(s, &t, pl, r->last_slot, false, now);
		}
		return;
	}
	char why[1200];
	snprintf(why, sizeof why, "job %llu %s: %.1000s", (unsigned long long)id, state, msg);
	failed(s, r, now, why);
	(void)sched_db_put(s->db, r);
}

struct rows {
	struct sched_row *v;
	size_t n, cap;
};

static int collect_row(const struct sched_row *r, void *arg)
{
	struct rows *rs = arg;
	return vec_push(&rs->v, &rs->n, &rs->cap, sizeof *r, r);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void scheduler_tick(struct daemon_ctx *c)
{
	struct scheduler *s = (struct scheduler *)c;
	int64_t now = daemon_now(&c->a);
	struct pols ps = { 0 };
	struct rows rs = { 0 };
	struct catalog *cat = NULL;
	if (catalog_open(c->a.state_dir, &cat) == 0)
		(void)catalog_policy_list(cat, collect_policy, &ps);
	catalog_close(cat);
	for (size_t i = 0; i < ps.n; i++) {
		sync_row(s, ps.v[i].dataset, "backup", ps.v[i].p.calendar, now);
		sync_row(s, ps.v[i].dataset, "verify",
			 ps.v[i].p.verify_days ? SCHED_VERIFY_CALENDAR : "", now);
	}
	bool poll = mono_ms() - s->last_poll_ms >= POLL_MS;
	if (poll)
		s->last_poll_ms = mono_ms();
	(void)sched_db_list(s->db, collect_row, &rs);
	for (size_t i = 0; i < rs.n; i++) {
		struct sched_row *r = &rs.v[i];
		if (strcmp(r->kind, "expiry") == 0)
			continue; /* expiry.c's */
		const struct pol *pl = find_pol(&ps, r->dataset);
		bool wanted = pl != NULL &&
			      (strcmp(r->kind, "backup") == 0 ? pl->p.calendar[0] != 0
			       : strcmp(r->kind, "verify") == 0 ? pl->p.verify_days > 0
								 : has_keep_rules(&pl->p));
		if (!wanted && r->last_job == 0 && r->pending_slot == 0) {
			(void)sched_db_delete(s->db, r->dataset, r->kind);
			log_info("%s of %s unscheduled (the policy no longer asks for it)", r->kind,
				 r->dataset);
			continue;
		}
		if (r->pending_slot != 0) {
			submit(s, r, pl, r->pending_slot, r->pending_slot >= r->next_run, now);
			continue;
		}
		if (r->last_job != 0) {
			if (!poll)
				continue;
			char state[32], msg[1025] = "";
			job_state(s, r->last_job, state, sizeof state, msg, sizeof msg);
			enum job_state js;
			if (state[0] && job_state_parse(state, &js) == 0 && job_state_final(js))
				job_ended(s, r, pl, state, msg, now);
			continue;
		}
		if (r->retry_at != 0 && now >= r->retry_at) {
			submit(s, r, pl, r->last_slot, false, now);
			continue;
		}
		/* A due slot; several missed ones are one run (next_run jumps past now). */
		if (wanted && r->retry_at == 0 && r->next_run != 0 && now >= r->next_run)
			submit(s, r, pl, r->next_run, true, now);
	}
	free(rs.v);
	free(ps.v);
	scheduler_expiry(s, now, mono_ms());
}

void scheduler_disconnect(void)
{
	conn_drop(&cl_backupd);
	conn_drop(&cl_restored);
}
