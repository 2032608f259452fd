/*
 * coffer-backupd's jobs, run on the runner's worker threads: a backup of
 * the paths in the job's parameters, and retention (the policy's GFS
 * rules, then prune). Each opens the dataset's repository itself, so the
 * keystore may be locked again while a job runs on the keys it took.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/backup.h"
#include "backupd/backupd.h"
#include "catalog/catalog.h"
#include "jobs/params.h"
#include "repo/maint.h"
#include "repo/repo.h"
#include "util/hex.h"
#include "util/log.h"

struct backup_params {
	char **paths, **tags;
	size_t n_paths, n_tags;
};

static int push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof *nv);
	if (nv == NULL)
		return -ENOMEM;
	*v = nv;
	if ((nv[*n] = strdup(s)) == NULL)
		return -ENOMEM;
	(*n)++;
	return 0;
}

static int backup_param(const char *key, const char *value, void *arg)
{
	struct backup_params *bp = arg;
	if (strcmp(key, "path") == 0)
		return push(&bp->paths, &bp->n_paths, value);
	if (strcmp(key, "tag") == 0)
		return push(&bp->tags, &bp->n_tags, value);
	return 0;
}

static void backup_params_fini(struct backup_params *bp)
{
	for (size_t i = 0; i < bp->n_paths; i++)
		free(bp->paths[i]);
	for (size_t i = 0; i < bp->n_tags; i++)
		free(bp->tags[i]);
	free(bp->paths);
	free(bp->tags);
}

static void backup_progress(const struct backup_progress *p, void *arg)
{
	runner_progress(arg, p->files, p->bytes_done, p->bytes_total_hint, p->errors, p->current,
			false);
}

static int run_backup(struct backupd *b, struct runner_job *rj)
{
	struct backup_params bp = { 0 };
	struct repo *r = NULL;
	struct backup_result res = { 0 };
	char added[32];
	int e = job_params_each(rj->job.params, backup_param, &bp);
	if (e != 0 || bp.n_paths == 0) {
		snprintf(rj->message, sizeof rj->message, "the job names no paths to back up");
		e = e ? e : -EINVAL;
		goto out;
	}
	if ((e = daemon_open_job_repo(&b->c, rj, b->job_threads, &r)) != 0)
		goto out;
	struct backup_opts o = {
		.tags = bp.tags, .n_tags = bp.n_tags, .dataset = rj->job.dataset,
		.progress = backup_progress, .progress_arg = rj, .cancel = &rj->cancel,
	};
	e = backup_paths(r, bp.paths, bp.n_paths, &o, &res);
	if (e == 0) {
		hex_encode(res.snapshot_id, 32, rj->snapshot);
		const struct snapshot_stats *st = &res.stats;
		snprintf(added, sizeof added, "%.1f MiB", (double)st->bytes_added / 1048576.0);
		snprintf(rj->message, sizeof rj->message,
			 "snapshot %.16s: %llu files, %.1f MiB, %s new%s", rj->snapshot,
			 (unsigned long long)st->files, (double)st->bytes / 1048576.0, added,
			 st->errors ? "; some items could not be read (see the messages)" : "");
		runner_progress(rj, st->files, st->bytes, st->bytes, st->errors, NULL, true);
	} else if (e != -ECANCELED) {
		snprintf(rj->message, sizeof rj->message, "backup failed: %s", coffer_strerror(e));
	}
out:
	repo_close(r);
	backup_params_fini(&bp);
	return e;
}

static int run_retention(struct backupd *b, struct runner_job *rj)
{
	struct catalog *cat = NULL;
	struct policy pol;
	struct repo *r = NULL;
	policy_init(&pol);
	int e = catalog_open(b->c.a.state_dir, &cat);
	if (e == 0)
		e = catalog_policy_get(cat, rj->job.dataset, &pol);
	catalog_close(cat);
	if (e != 0) {
		snprintf(rj->message, sizeof rj->message, "cannot read the policy of %s",
			 rj->job.dataset);
		goto out;
	}
	struct forget_policy fp = { pol.keep_last, pol.keep_daily, pol.keep_weekly,
				    pol.keep_monthly, pol.keep_yearly };
	if (forget_policy_empty(&fp)) {
		snprintf(rj->message, sizeof rj->message,
			 "the policy has no keep rules: every snapshot is kept");
		goto out;
	}
	if ((e = daemon_open_job_repo(&b->c, rj, b->job_threads, &r)) != 0)
		goto out;
	struct forget_result fr = { 0 };
	struct prune_result pr = { 0 };
	e = repo_forget(r, &fp, true, &fr);
	/* Prune is crash-safe but not interruptible: a stop request is honoured before it. */
	if (e == 0 && atomic_load(&rj->cancel))
		e = -ECANCELED;
	if (e == 0)
		e = repo_prune(r, &pr);
	if (e == 0)
		snprintf(rj->message, sizeof rj->message,
			 "kept %llu snapshots, removed %llu; %llu packs deleted, %llu rewritten, "
			 "%.1f MiB freed", (unsigned long long)fr.kept, (unsigned long long)fr.removed,
			 (unsigned long long)pr.packs_deleted, (unsigned long long)pr.packs_rewritten,
			 (double)(pr.bytes_before - pr.bytes_after) / 1048576.0);
	else if (e != -ECANCELED)
		snprintf(rj->message, sizeof rj->message, "retention failed: %s", coffer_strerror(e));
out:
	repo_close(r);
	policy_fini(&pol);
	return e;
}

int backupd_run_job(struct runner_job *rj, void *arg)
{
	struct backupd *b = arg;
	switch (rj->job.kind) {
	case JOB_BACKUP:
		return run_backup(b, rj);
	case JOB_RETENTION:
		return run_retention(b, rj);
	default:
		snprintf(rj->message, sizeof rj->message, "coffer-backupd does not run %s jobs",
			 job_kind_name(rj->job.kind));
		return -EOPNOTSUPP;
	}
}
