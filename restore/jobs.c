/*
 * coffer-restored's jobs, run on the runner's worker threads: a restore
 * of one snapshot (or some of its paths) into a directory, and a
 * verification that re-reads one share of a dataset's packs. Each opens
 * the dataset's repository itself, so the keystore may be locked again
 * while a job runs on the keys it took. What the libraries log (a file
 * that cannot be restored, a damaged pack) is kept with the job by the
 * runner's log sink.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/params.h"
#include "repo/maint.h"
#include "repo/repo.h"
#include "restore/restore.h"
#include "restore/restored.h"
#include "util/hex.h"
#include "util/log.h"

#define MIB 1048576.0

/* ---- restore ---------------------------------------------------------- */

struct restore_params {
	char snapshot[JOB_SNAPSHOT_LEN + 1];
	char *target;
	char **includes;
	size_t n_includes;
};

static int restore_param(const char *key, const char *value, void *arg)
{
	struct restore_params *rp = arg;
	if (strcmp(key, "snapshot") == 0) {
		snprintf(rp->snapshot, sizeof rp->snapshot, "%s", value);
		return 0;
	}
	if (strcmp(key, "target") == 0) {
		free(rp->target);
		return (rp->target = strdup(value)) != NULL ? 0 : -ENOMEM;
	}
	if (strcmp(key, "include") == 0) {
		char **v = realloc(rp->includes, (rp->n_includes + 1) * sizeof *v);
		if (v == NULL)
			return -ENOMEM;
		rp->includes = v;
		if ((v[rp->n_includes] = strdup(value)) == NULL)
			return -ENOMEM;
		rp->n_includes++;
	}
	return 0;
}

static void restore_params_fini(struct restore_params *rp)
{
	for (size_t i = 0; i < rp->n_includes; i++)
		free(rp->includes[i]);
	free(rp->includes);
	free(rp->target);
}

/* The restore's progress as last reported, for the final report. */
struct restore_ui {
	struct runner_job *rj;
	struct restore_progress last;
};

static void on_restore_progress(const struct restore_progress *p, void *arg)
{
	struct restore_ui *ui = arg;
	ui->last = *p;
	ui->last.current = NULL;
	runner_progress(ui->rj, p->files, p->bytes_done, p->bytes_total, p->errors, p->current,
			false);
}

/*
 * A shared lock, so that a prune (coffer-backupd's retention) cannot
 * delete packs while the restore reads them; released by repo_close. A
 * repository this daemon may not write a lock into is restored without
 * one, as repo_check does.
 */
static int lock_shared(struct runner_job *rj, struct repo *r)
{
	int e = repo_lock(r, false);
	if (e == -EBUSY) {
		snprintf(rj->message, sizeof rj->message,
			 "dataset %s is locked by a prune: restore it when the prune has finished",
			 rj->job.dataset);
		return e;
	}
	if (e != 0 && e != -EALREADY)
		log_warnx("cannot take a lock (%s); restoring without one", coffer_strerror(e));
	return 0;
}

/* Resolves the job's snapshot spec and loads it; the message says why not. */
static int load_snapshot(struct runner_job *rj, struct repo *r, const char *spec,
			 struct snapshot *s)
{
	uint8_t id[32];
	int e = repo_snapshot_resolve(r, spec, id);
	if (e == -ENOENT)
		snprintf(rj->message, sizeof rj->message, "no snapshot matches '%s' in dataset %s",
			 spec, rj->job.dataset);
	else if (e == -ENOTUNIQ)
		snprintf(rj->message, sizeof rj->message,
			 "snapshot prefix '%s' is ambiguous: give more digits", spec);
	else if (e == -EINVAL)
		snprintf(rj->message, sizeof rj->message,
			 "'%s' is not a snapshot ID, prefix or 'latest'", spec);
	else if (e != 0)
		snprintf(rj->message, sizeof rj->message, "cannot list the snapshots: %s",
			 coffer_strerror(e));
	if (e != 0)
		return e;
	hex_encode(id, 32, rj->snapshot);
	if ((e = repo_snapshot_load(r, id, s)) != 0)
		snprintf(rj->message, sizeof rj->message, "snapshot %s cannot be read: %s",
			 rj->snapshot, coffer_strerror(e));
	return e;
}

static int run_restore(struct restored *rs, struct runner_job *rj)
{
	struct restore_params rp = { 0 };
	struct restore_ui ui = { .rj = rj };
	struct restore_result res = { 0 };
	struct repo *r = NULL;
	struct snapshot snap;
	snapshot_init(&snap);
	int e = job_params_each(rj->job.params, restore_param, &rp);
	if (e != 0 || rp.snapshot[0] == 0 || rp.target == NULL || rp.target[0] != '/') {
		snprintf(rj->message, sizeof rj->message,
			 "the job does not name a snapshot and an absolute target");
		e = e ? e : -EINVAL;
		goto out;
	}
	if ((e = daemon_open_job_repo(&rs->c, rj, 0, &r)) != 0 || (e = lock_shared(rj, r)) != 0 ||
	    (e = load_snapshot(rj, r, rp.snapshot, &snap)) != 0)
		goto out;
	struct restore_opts o = {
		.includes = rp.includes, .n_includes = rp.n_includes,
		.progress = on_restore_progress, .progress_arg = &ui,
		.threads = 0, .cancel = &rj->cancel,
	};
	e = restore_to_dir(r, &snap, rp.target, &o, &res);
	if (e == 0) {
		ui.last.files = res.files;
		ui.last.bytes_done = res.bytes;
		ui.last.errors = res.errors;
		if (ui.last.bytes_total < res.bytes)
			ui.last.bytes_total = res.bytes;
	}
	if (e == 0 && res.errors == 0) {
		snprintf(rj->message, sizeof rj->message, "restored %llu files, %.1f MiB into %.900s",
			 (unsigned long long)res.files, (double)res.bytes / MIB, rp.target);
	} else if (e == 0) {
		/* A partial restore is a failure for the operator who asked for it. */
		snprintf(rj->message, sizeof rj->message,
			 "%llu item%s could not be restored (see the job's messages)",
			 (unsigned long long)res.errors, res.errors == 1 ? "" : "s");
		e = -EIO;
	} else if (e != -ECANCELED) {
		snprintf(rj->message, sizeof rj->message, "restore into %.900s failed: %s",
			 rp.target, coffer_strerror(e));
	}
out:
	runner_progress(rj, ui.last.files, ui.last.bytes_done, ui.last.bytes_total,
			ui.last.errors, NULL, true);
	snapshot_fini(&snap);
	repo_close(r);
	restore_params_fini(&rp);
	return e;
}

/* ---- verify ----------------------------------------------------------- */

struct verify_params {
	uint32_t cycle_days, slot;
};

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != 0 || s[0] == '-' || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int verify_param(const char *key, const char *value, void *arg)
{
	struct verify_params *vp = arg;
	if (strcmp(key, "cycle_days") == 0)
		return parse_u32(value, &vp->cycle_days);
	if (strcmp(key, "slot") == 0)
		return parse_u32(value, &vp->slot);
	return 0;
}

struct verify_ui {
	struct runner_job *rj;
	uint64_t packs_read, bytes_done, bytes_total;
};

/* Called after each pack read: packs are the job's "files". */
static void on_verify_progress(uint64_t packs_done, uint64_t packs_total, uint64_t bytes_done,
			    uint64_t bytes_total, void *arg)
{
	struct verify_ui *ui = arg;
	(void)packs_done, (void)packs_total;
	ui->packs_read++;
	ui->bytes_done = bytes_done;
	ui->bytes_total = bytes_total;
	runner_progress(ui->rj, ui->packs_read, bytes_done, bytes_total, 0, NULL, false);
}

static int run_verify(struct restored *rs, struct runner_job *rj)
{
	struct verify_params vp = { 0 };
	struct verify_ui ui = { .rj = rj };
	struct check_result res = { 0 };
	struct repo *r = NULL;
	char share[64];
	int e = job_params_each(rj->job.params, verify_param, &vp);
	if (e != 0) {
		snprintf(rj->message, sizeof rj->message, "the job's parameters cannot be read");
		goto out;
	}
	if (vp.cycle_days > 0)
		snprintf(share, sizeof share, "slot %u of %u", (unsigned)(vp.slot % vp.cycle_days),
			 (unsigned)vp.cycle_days);
	else
		snprintf(share, sizeof share, "every pack");
	/* The check itself cannot be interrupted: a stop request is honoured before it. */
	if (atomic_load(&rj->cancel)) {
		e = -ECANCELED;
		goto out;
	}
	/* repo_check loads the index files itself, naming the damaged ones. */
	if ((e = daemon_open_dataset(&rs->c, rj->job.dataset, NULL, &r)) != 0) {
		snprintf(rj->message, sizeof rj->message, "cannot open dataset %s: %s",
			 rj->job.dataset, coffer_strerror(e));
		goto out;
	}
	struct check_opts o = {
		.read_data = true, .progress = on_verify_progress, .progress_arg = &ui,
		.share_of = vp.cycle_days, .share_slot = vp.slot, .cancel = &rj->cancel,
	};
	e = repo_check(r, &o, &res);
	if (e == 0) {
		snprintf(rj->message, sizeof rj->message, "verified %llu of %llu packs (%s): no problems",
			 (unsigned long long)res.packs_read, (unsigned long long)res.packs, share);
	} else if (e == -EBADMSG) {
		snprintf(rj->message, sizeof rj->message,
			 "found %llu problems: %llu damaged packs, %llu files affected (see the "
			 "job's messages)", (unsigned long long)res.errors,
			 (unsigned long long)res.damaged_packs,
			 (unsigned long long)res.affected_files);
	} else if (e != -ECANCELED) {
		snprintf(rj->message, sizeof rj->message, "verification could not run: %s",
			 coffer_strerror(e));
	}
out:
	runner_progress(rj, e == 0 || e == -EBADMSG ? res.packs_read : ui.packs_read,
			ui.bytes_done, ui.bytes_total, res.errors, NULL, true);
	repo_close(r);
	return e;
}

int restored_run_job(struct runner_job *rj, void *arg)
{
	struct restored *rs = arg;
	switch (rj->job.kind) {
	case JOB_RESTORE:
		return run_restore(rs, rj);
	case JOB_VERIFY:
		return run_verify(rs, rj);
	default:
		snprintf(rj->message, sizeof rj->message, "coffer-restored does not run %s jobs",
			 job_kind_name(rj->job.kind));
		return -EOPNOTSUPP;
	}
}
