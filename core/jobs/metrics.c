/*
 * The Prometheus metrics file computed from the job history
 * (jobstore_write_metrics, docs/format/jobs.md "Metrics"). It is for
 * node_exporter's textfile collector, which reads every *.prom file of its
 * directory: the temporary file's name does not end in .prom, and the
 * rename makes the new file appear whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/jobstore.h"
#include "jobs/jobstore_int.h"
#include "util/buf.h"
#include "util/escape.h"
#include "util/log.h"

/* What the history says about one dataset and kind. */
struct mrow {
	char dataset[JOB_DATASET_MAX + 1];
	int kind;
	int64_t failures;                  /* failed + interrupted */
	bool has_success;
	int64_t last_success;              /* finished of the newest succeeded job */
	bool has_duration;
	int64_t duration;                  /* of the most recently finished job that ran */
	bool has_bytes;
	int64_t bytes;                     /* of the newest succeeded job */
};

struct mset {
	struct mrow *rows;
	size_t n, cap;
	int64_t running, queued;
};

/*
 * Per (dataset, kind), sorted so that each metric's samples come out in a
 * stable order. "Newest" is by finished time, then by id. The duration is
 * that of the newest job that started and then succeeded, failed or was
 * cancelled (an interrupted job's finished time is when the daemon noticed,
 * not when the job stopped), never negative.
 */
static const char aggregate_sql[] =
	"SELECT a.dataset, a.kind, sum(a.state IN (4, 6)),"
	" max(CASE WHEN a.state = 3 THEN a.finished END),"
	" (SELECT max(b.finished - b.started, 0) FROM jobs b"
	"   WHERE b.dataset = a.dataset AND b.kind = a.kind AND b.state IN (3, 4, 5)"
	"   AND b.started <> 0 ORDER BY b.finished DESC, b.id DESC LIMIT 1),"
	" (SELECT b.bytes FROM jobs b"
	"   WHERE b.dataset = a.dataset AND b.kind = a.kind AND b.state = 3"
	"   ORDER BY b.finished DESC, b.id DESC LIMIT 1)"
	" FROM jobs a GROUP BY a.dataset, a.kind ORDER BY a.dataset, a.kind";

static const char counts_sql[] =
	"SELECT coalesce(sum(state = 2), 0), coalesce(sum(state = 1), 0) FROM jobs";

static int mset_push(struct mset *m, struct mrow **out)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct mrow *rows = realloc(m->rows, cap * sizeof *rows);
		if (rows == NULL)
			return -ENOMEM;
		m->rows = rows;
		m->cap = cap;
	}
	*out = &m->rows[m->n++];
	memset(*out, 0, sizeof **out);
	return 0;
}

static int load(struct jobstore *js, struct mset *m)
{
	sqlite3_stmt *st = NULL;
	int e = 0, rc;
	if (sqlite3_prepare_v2(js->db, aggregate_sql, -1, &st, NULL) != SQLITE_OK)
		return jobstore_fail(js, "cannot prepare metrics query");
	while (e == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct mrow *r;
		const unsigned char *name = sqlite3_column_text(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		int kind = sqlite3_column_int(st, 1);
		if (name == NULL || len == 0 || len > JOB_DATASET_MAX || kind < JOB_BACKUP ||
		    kind > JOB_VERIFY) {
			log_errorx("jobs %s: a job breaks the schema", js->path);
			e = -EBADMSG;
			break;
		}
		if ((e = mset_push(m, &r)) != 0)
			break;
		memcpy(r->dataset, name, len);
		r->dataset[len] = 0;
		r->kind = kind;
		r->failures = sqlite3_column_int64(st, 2);
		if ((r->has_success = sqlite3_column_type(st, 3) != SQLITE_NULL))
			r->last_success = sqlite3_column_int64(st, 3);
		if ((r->has_duration = sqlite3_column_type(st, 4) != SQLITE_NULL))
			r->duration = sqlite3_column_int64(st, 4);
		if ((r->has_bytes = sqlite3_column_type(st, 5) != SQLITE_NULL))
			r->bytes = sqlite3_column_int64(st, 5);
	}
	if (e == 0 && rc != SQLITE_DONE)
		e = jobstore_fail(js, "cannot compute metrics");
	sqlite3_finalize(st);
	if (e != 0)
		return e;
	if (sqlite3_prepare_v2(js->db, counts_sql, -1, &st, NULL) != SQLITE_OK)
		return jobstore_fail(js, "cannot prepare metrics query");
	if (sqlite3_step(st) == SQLITE_ROW) {
		m->running = sqlite3_column_int64(st, 0);
		m->queued = sqlite3_column_int64(st, 1);
	} else {
		e = jobstore_fail(js, "cannot count jobs");
	}
	sqlite3_finalize(st);
	return e;
}

static int put_s(struct buf *b, const char *s)
{
	return buf_put(b, s, strlen(s));
}

static int put_i64(struct buf *b, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof num, "%" PRId64, v);
	return buf_put(b, num, (size_t)n);
}

/*
 * A label value as the exposition format wants it: backslash, double
 * quote and line feed escaped as \\, \" and \n; a byte that is not valid
 * UTF-8 becomes U+FFFD (the format is UTF-8 and has no byte escape).
 */
static int put_label_value(struct buf *b, const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s);
	int e = 0;
	for (size_t i = 0; e == 0 && i < n;) {
		size_t len = utf8_seq_len(p + i, n - i);
		if (p[i] == '\\')
			e = put_s(b, "\\\\");
		else if (p[i] == '"')
			e = put_s(b, "\\\"");
		else if (p[i] == '\n')
			e = put_s(b, "\\n");
		else if (len == 0)
			e = put_s(b, "\xef\xbf\xbd");
		else
			e = buf_put(b, p + i, len);
		i += len ? len : 1;
	}
	return e;
}

static int put_family(struct buf *b, const char *name, const char *type, const char *help)
{
	int e = put_s(b, "# HELP ");
	if (e == 0)
		e = put_s(b, name);
	if (e == 0)
		e = put_s(b, " ");
	if (e == 0)
		e = put_s(b, help);
	if (e == 0)
		e = put_s(b, "\n# TYPE ");
	if (e == 0)
		e = put_s(b, name);
	if (e == 0)
		e = put_s(b, " ");
	if (e == 0)
		e = put_s(b, type);
	if (e == 0)
		e = put_s(b, "\n");
	return e;
}

/* name{dataset="...",kind="..."} value; kind < 0: no kind label. */
static int put_sample(struct buf *b, const char *name, const char *dataset, int kind,
		      int64_t value)
{
	int e = put_s(b, name);
	if (e == 0)
		e = put_s(b, "{dataset=\"");
	if (e == 0)
		e = put_label_value(b, dataset);
	if (e == 0 && kind >= 0) {
		e = put_s(b, "\",kind=\"");
		if (e == 0)
			e = put_label_value(b, job_kind_name((enum job_kind)kind));
	}
	if (e == 0)
		e = put_s(b, "\"} ");
	if (e == 0)
		e = put_i64(b, value);
	if (e == 0)
		e = put_s(b, "\n");
	return e;
}

enum which { LAST_SUCCESS, LAST_DURATION, FAILURES, BACKUP_BYTES, SNAPSHOT_AGE };

static const struct family {
	const char *name, *type, *help;
	bool per_kind; /* else backups only, labelled by dataset alone */
} families[] = {
	[LAST_SUCCESS] = { "coffer_job_last_success_timestamp_seconds", "gauge",
			   "Unix time at which the newest successful job of this dataset and "
			   "kind finished.", true },
	[LAST_DURATION] = { "coffer_job_last_duration_seconds", "gauge",
			    "Seconds the most recently finished job of this dataset and kind "
			    "ran (succeeded, failed or cancelled after it started).", true },
	[FAILURES] = { "coffer_job_failures_total", "counter",
		       "Jobs of this dataset and kind that failed or were interrupted.",
		       true },
	[BACKUP_BYTES] = { "coffer_backup_last_bytes", "gauge",
			   "Bytes read by the newest successful backup of this dataset.",
			   false },
	[SNAPSHOT_AGE] = { "coffer_snapshot_age_seconds", "gauge",
			   "Seconds since the newest successful backup of this dataset "
			   "finished.", false },
};

/* The sample of metric w for row r, if it has one. */
static bool sample(const struct mrow *r, enum which w, int64_t now, int64_t *v)
{
	switch (w) {
	case LAST_SUCCESS:
		*v = r->last_success;
		return r->has_success;
	case LAST_DURATION:
		*v = r->duration;
		return r->has_duration;
	case FAILURES:
		*v = r->failures;
		return true;
	case BACKUP_BYTES:
		*v = r->bytes;
		return r->kind == JOB_BACKUP && r->has_bytes;
	case SNAPSHOT_AGE:
		*v = now - r->last_success;
		return r->kind == JOB_BACKUP && r->has_success;
	}
	return false;
}

/* A family without samples is left out, HELP and TYPE included. */
static int render(const struct mset *m, int64_t now, struct buf *b)
{
	int e = 0;
	int64_t v;
	for (size_t f = 0; e == 0 && f < sizeof families / sizeof families[0]; f++) {
		const struct family *fam = &families[f];
		bool head = false;
		for (size_t i = 0; e == 0 && i < m->n; i++) {
			if (!sample(&m->rows[i], (enum which)f, now, &v))
				continue;
			if (!head) {
				e = put_family(b, fam->name, fam->type, fam->help);
				head = true;
			}
			if (e == 0)
				e = put_sample(b, fam->name, m->rows[i].dataset,
					       fam->per_kind ? m->rows[i].kind : -1, v);
		}
	}
	if (e == 0)
		e = put_family(b, "coffer_jobs_running", "gauge",
			       "Jobs running now, in all daemons.");
	if (e == 0)
		e = put_s(b, "coffer_jobs_running ");
	if (e == 0)
		e = put_i64(b, m->running);
	if (e == 0)
		e = put_s(b, "\n");
	if (e == 0)
		e = put_family(b, "coffer_jobs_queued", "gauge",
			       "Jobs waiting to run, in all daemons.");
	if (e == 0)
		e = put_s(b, "coffer_jobs_queued ");
	if (e == 0)
		e = put_i64(b, m->queued);
	if (e == 0)
		e = put_s(b, "\n");
	return e;
}

/* Creates dir 0755 (whatever the umask) if it does not exist. */
static int make_dir(const char *dir)
{
	if (mkdir(dir, 0755) == 0) {
		if (chmod(dir, 0755) != 0) {
			log_warn("cannot set the mode of %s", dir);
			return -errno;
		}
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	log_warn("cannot create %s", dir);
	return -errno;
}

/* Writes data to a temporary file in dir, fsyncs it and renames it to path. */
static int replace_file(const char *dir, const char *path, const char *base,
			const uint8_t *data, size_t len)
{
	char tmp[PATH_MAX];
	int fd, dfd, e = 0;
	if ((size_t)snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, base) >= sizeof tmp)
		return -ENAMETOOLONG;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		e = -errno;
		log_warn("cannot create a file in %s", dir);
		return e;
	}
	if (fchmod(fd, 0644) != 0)
		e = -errno;
	for (size_t off = 0; e == 0 && off < len;) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			e = -errno;
		else
			off += (size_t)n;
	}
	if (e == 0 && fsync(fd) != 0)
		e = -errno;
	if (close(fd) != 0 && e == 0)
		e = -errno;
	if (e == 0 && rename(tmp, path) != 0)
		e = -errno;
	if (e != 0) {
		log_errorx("cannot write %s: %s", path, strerror(-e));
		(void)unlink(tmp);
		return e;
	}
	/* The rename itself must survive a crash. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(dfd) != 0) {
		e = -errno;
		log_warn("cannot sync %s", dir);
	}
	if (dfd >= 0)
		close(dfd);
	return e;
}

int jobstore_write_metrics(struct jobstore *js, const char *path, int64_t now)
{
	struct mset m = { 0 };
	struct buf b = { 0 };
	char dir[PATH_MAX];
	const char *base, *slash = strrchr(path, '/');
	int e;
	if (slash == NULL) {
		snprintf(dir, sizeof dir, ".");
		base = path;
	} else {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof dir)
			return -ENAMETOOLONG;
		memcpy(dir, path, n);
		dir[n] = 0;
		if (n == 0)
			snprintf(dir, sizeof dir, "/");
		base = slash + 1;
	}
	if (*base == 0)
		return -EINVAL;
	if ((e = make_dir(dir)) != 0)
		return e;
	if ((e = jobstore_lock(js)) != 0)
		return e;
	/*
	 * The write lock orders this call against every change of the history
	 * and every other metrics writer: a change committed after our view
	 * is followed by its own rewrite, which renames after ours.
	 */
	if ((e = jobstore_tx_begin(js)) == 0) {
		e = load(js, &m);
		if (e == 0)
			e = render(&m, now, &b);
		if (e == 0)
			e = replace_file(dir, path, base, b.data, b.len);
		/* Nothing was written to the database: roll back either way. */
		(void)jobstore_tx_end(js, -1);
	}
	jobstore_unlock(js);
	buf_fini(&b);
	free(m.rows);
	return e;
}
