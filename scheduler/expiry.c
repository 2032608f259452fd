/*
 * Retention expiry (docs/format/erase.md, "Requests"): when a dataset's
 * level sets dataset_retention and the dataset is older than that, the
 * scheduler files its destruction request with coffer-erased. It still
 * needs every approval; filing only saves someone from remembering.
 *
 * Each filing is a row of sched.db, kind "expiry": next_run is when the
 * request filed expires, so a request left unapproved is filed again
 * after it lapses, and never twice while one is open (coffer-erased
 * refuses a second open request for a dataset, too).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/catalog.h"
#include "conf/levels.h"
#include "ipc/client.h"
#include "scheduler/scheduler.h"
#include "util/log.h"
#include "util/vec.h"

#define EXPIRY_CHECK_MS 5000
#define IPC_TIMEOUT_MS 10000

struct expired {
	char dataset[65];
	unsigned level;
	char level_name[LEVEL_NAME_MAX + 1];
	int64_t ended;             /* created + dataset_retention */
	uint64_t retention_s;
};

struct expired_list {
	struct expired *v;
	size_t n, cap;
	const struct levels *lv;
	int64_t now;
};

static int collect(const struct dataset *d, void *arg)
{
	struct expired_list *l = arg;
	const struct level *lv = levels_find(l->lv, d->level);
	if (d->state != DATASET_ACTIVE || lv == NULL || lv->dataset_retention_s == 0)
		return 0;
	int64_t ended = d->created + (int64_t)lv->dataset_retention_s;
	if (ended > l->now)
		return 0;
	struct expired x = { .level = d->level, .ended = ended,
			     .retention_s = lv->dataset_retention_s };
	snprintf(x.dataset, sizeof x.dataset, "%s", d->name);
	snprintf(x.level_name, sizeof x.level_name, "%s", lv->name);
	return vec_push(&l->v, &l->n, &l->cap, sizeof x, &x);
}

static void utc_day(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(out, 32, "%lld", (long long)t);
}

/* Files the request; 0 with *expires, or a negative errno with why. */
static int file_request(struct scheduler *s, const struct expired *x, int64_t *expires,
			char *why, size_t size)
{
	struct ipc_client *cl = NULL;
	char reason[512], legal[256], day[32];
	int e = ipc_connect(s->c.a.run_dir, "erased", &cl);
	if (e != 0) {
		snprintf(why, size, "coffer-erased is not reachable: %s", coffer_strerror(e));
		return -EAGAIN;
	}
	utc_day(x->ended, day);
	snprintf(reason, sizeof reason, "the retention period of dataset '%s' ended on %s "
		 "(filed by coffer-scheduler)", x->dataset, day);
	snprintf(legal, sizeof legal, "levels.conf: level %u (%s), dataset_retention = %llud",
		 x->level, x->level_name, (unsigned long long)(x->retention_s / 86400));
	struct ipc_writer w;
	struct ipc_msg m;
	ipc_writer_init(&w, IPC_ERASE_REQUEST, ipc_next_reqid(cl));
	ipc_put_str(&w, x->dataset);
	ipc_put_list(&w, 0);
	ipc_put_str(&w, reason);
	ipc_put_str(&w, legal);
	e = ipc_writer_finish(&w);
	if (e == 0)
		e = ipc_call(cl, &w, &m, IPC_TIMEOUT_MS, why, size);
	ipc_writer_fini(&w);
	if (e == 0) {
		struct ipc_reader rd;
		char id[33], digest[65], statement[161];
		ipc_reader_init(&rd, &m);
		if (ipc_get_str(&rd, id, sizeof id) != 0 || ipc_get_str(&rd, digest, sizeof digest) != 0 ||
		    ipc_get_str(&rd, statement, sizeof statement) != 0 ||
		    ipc_get_i64(&rd, expires) != 0) {
			e = -EPROTO;
		} else {
			log_warnx("ALERT: the retention of dataset '%s' ended on %s: destruction request "
				  "%s filed; it needs its approvals ('coffer erase show %s')",
				  x->dataset, day, id, id);
		}
	}
	ipc_close(cl);
	return e;
}

void scheduler_expiry(struct scheduler *s, int64_t now, int64_t mono)
{
	if (s->last_expiry_ms != 0 && mono - s->last_expiry_ms < EXPIRY_CHECK_MS)
		return;
	s->last_expiry_ms = mono;
	struct levels *lv = NULL;
	struct catalog *cat = NULL;
	struct expired_list l = { .now = now };
	if (levels_load(s->c.a.config_dir, s->c.a.state_dir, &lv) != 0)
		return;
	l.lv = lv;
	if (catalog_open(s->c.a.state_dir, &cat) == 0)
		(void)catalog_list(cat, collect, &l);
	catalog_close(cat);
	for (size_t i = 0; i < l.n; i++) {
		const struct expired *x = &l.v[i];
		struct sched_row r;
		if (sched_db_get(s->db, x->dataset, "expiry", &r) == 0 && now < r.next_run)
			continue; /* filed, and that request is still open */
		char why[1100] = "";
		int64_t expires = 0;
		int e = file_request(s, x, &expires, why, sizeof why);
		if (e == -EAGAIN)
			break; /* erased is down: next check */
		memset(&r, 0, sizeof r);
		snprintf(r.dataset, sizeof r.dataset, "%s", x->dataset);
		snprintf(r.kind, sizeof r.kind, "expiry");
		r.last_slot = now;
		if (e == 0) {
			r.next_run = expires;
			snprintf(r.state, sizeof r.state, "filed");
		} else {
			/* Refused (one is open already, say): look again in an hour. */
			r.next_run = now + 3600;
			snprintf(r.state, sizeof r.state, "refused");
			if (strstr(why, "is open already") == NULL)
				log_errorx("cannot file the destruction request of '%s': %s", x->dataset,
					   why);
		}
		(void)sched_db_put(s->db, &r);
	}
	free(l.v);
	levels_free(lv);
}
