/*
 * coffer jobs [--dataset NAME] [--limit N] [--json]
 * coffer job show ID [--json] | job cancel ID | job watch ID
 *
 * Jobs live in jobs.db, which backupd and restored share, so coffer-backupd
 * lists and shows every daemon's jobs. Cancelling and watching a job that
 * still runs go to the daemon that runs it (the job's `daemon` field).
 * These exist only through the daemons.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"
#include "daemon.h"
#include "util/log.h"

/* One job record as the protocol carries it (JOB_FIELDS in core/ipc/msg.c). */
struct job_rec {
	uint64_t id;
	char kind[17], dataset[65], daemon[17], state[17];
	uint32_t requested_by;
	int64_t created, started, finished;
	uint64_t files, bytes, errors;
	char snapshot[65];
	char message[1025];
	uint32_t attempt;
	char params[8193];
};

static void get_job(struct ipc_reader *rd, struct job_rec *j)
{
	memset(j, 0, sizeof *j);
	(void)ipc_get_u64(rd, &j->id);
	(void)ipc_get_str(rd, j->kind, sizeof j->kind);
	(void)ipc_get_str(rd, j->dataset, sizeof j->dataset);
	(void)ipc_get_str(rd, j->daemon, sizeof j->daemon);
	(void)ipc_get_str(rd, j->state, sizeof j->state);
	(void)ipc_get_u32(rd, &j->requested_by);
	(void)ipc_get_i64(rd, &j->created);
	(void)ipc_get_i64(rd, &j->started);
	(void)ipc_get_i64(rd, &j->finished);
	(void)ipc_get_u64(rd, &j->files);
	(void)ipc_get_u64(rd, &j->bytes);
	(void)ipc_get_u64(rd, &j->errors);
	(void)ipc_get_str(rd, j->snapshot, sizeof j->snapshot);
	(void)ipc_get_str(rd, j->message, sizeof j->message);
	(void)ipc_get_u32(rd, &j->attempt);
	(void)ipc_get_str(rd, j->params, sizeof j->params);
}

static bool job_final(const struct job_rec *j)
{
	return strcmp(j->state, "queued") != 0 && strcmp(j->state, "running") != 0;
}

/* "1:02:03", "2:03" or "5 s" for a job's run time; "-" before it started. */
static const char *fmt_duration(const struct job_rec *j, char *buf, size_t size)
{
	if (j->started <= 0) {
		snprintf(buf, size, "-");
		return buf;
	}
	int64_t end = j->finished > 0 ? j->finished : (int64_t)time(NULL);
	long long s = end > j->started ? (long long)(end - j->started) : 0;
	if (s < 60)
		snprintf(buf, size, "%lld s", s);
	else if (s < 3600)
		snprintf(buf, size, "%lld:%02lld", s / 60, s % 60);
	else
		snprintf(buf, size, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
	return buf;
}

static void json_job_fields(const struct job_rec *j)
{
	printf("\"id\":%llu,\"kind\":", (unsigned long long)j->id);
	json_cstr(stdout, j->kind);
	printf(",\"dataset\":");
	json_cstr(stdout, j->dataset);
	printf(",\"daemon\":");
	json_cstr(stdout, j->daemon);
	printf(",\"state\":");
	json_cstr(stdout, j->state);
	printf(",\"requested_by\":%u,\"created\":%lld,\"started\":%lld,\"finished\":%lld,"
	       "\"files\":%llu,\"bytes\":%llu,\"errors\":%llu,\"snapshot\":",
	       j->requested_by, (long long)j->created, (long long)j->started,
	       (long long)j->finished, (unsigned long long)j->files, (unsigned long long)j->bytes,
	       (unsigned long long)j->errors);
	json_cstr(stdout, j->snapshot);
	printf(",\"message\":");
	json_cstr(stdout, j->message);
	printf(",\"attempt\":%u,\"params\":", j->attempt);
	json_cstr(stdout, j->params);
}

/* ---- option parsing ---------------------------------------------------- */

struct jobs_args {
	struct common_opts c;
	unsigned limit;
	uint64_t id;
};

static void jobs_usage(void)
{
	fprintf(stderr,
		"usage: coffer jobs [--dataset NAME] [--limit N] [--json]\n"
		"       coffer job show ID [--json]\n"
		"       coffer job cancel ID\n"
		"       coffer job watch ID\n"
		"All go through the daemons (--run-dir DIR or COFFER_RUN_DIR).\n"
		"job watch follows a job until it ends: exit 0 if it succeeded, else 1.\n");
}

static int parse_job_id(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *s == 0 || *end != 0 || s[0] == '-' || v == 0) {
		log_errorx("'%s' is not a job ID (see 'coffer jobs')", s);
		return -1;
	}
	*out = v;
	return 0;
}

/* Parses argv; with want_id one positional ID. -1 to go on, else an exit code. */
static int jobs_parse(int argc, char **argv, struct jobs_args *a, bool want_id)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "limit", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (common_opt(&a->c, opt, optarg))
			continue;
		switch (opt) {
		case 'L':
			if (parse_uint("limit", optarg, &a->limit) != 0)
				return EXIT_USAGE;
			if (a->limit < 1 || a->limit > 1000) {
				log_errorx("--limit must be between 1 and 1000");
				return EXIT_USAGE;
			}
			break;
		case 'h': jobs_usage(); return EXIT_OK;
		default: jobs_usage(); return EXIT_USAGE;
		}
	}
	if (argc - optind != (want_id ? 1 : 0) || a->c.repo != NULL) {
		jobs_usage();
		return EXIT_USAGE;
	}
	if (want_id && parse_job_id(argv[optind], &a->id) != 0)
		return EXIT_USAGE;
	if (console_run_dir(&a->c) == NULL) {
		log_errorx("jobs are kept by the daemons: give --run-dir DIR or set "
			   "COFFER_RUN_DIR (no daemons at /run/coffer)");
		return EXIT_USAGE;
	}
	return -1;
}

/* ---- coffer jobs ------------------------------------------------------- */

static void print_table(const struct job_rec *v, uint32_t n)
{
	int wid = 2, wds = 7;
	for (uint32_t i = 0; i < n; i++) {
		char id[24];
		int l = snprintf(id, sizeof id, "%llu", (unsigned long long)v[i].id);
		if (l > wid)
			wid = l;
		if ((int)strlen(v[i].dataset) > wds)
			wds = (int)strlen(v[i].dataset);
	}
	printf("%*s  %-9s  %-*s  %-9s  %-11s  %-19s  %8s  %8s  %-10s  %s\n", wid, "ID", "KIND", wds,
	       "DATASET", "DAEMON", "STATE", "CREATED", "DURATION", "FILES", "SIZE", "MESSAGE");
	for (uint32_t i = 0; i < n; i++) {
		const struct job_rec *j = &v[i];
		char when[32], dur[32], size[32];
		printf("%*llu  %-9s  %-*s  %-9s  %-11s  %-19s  %8s  %8llu  %-10s  ", wid,
		       (unsigned long long)j->id, j->kind, wds, j->dataset, j->daemon, j->state,
		       fmt_time(j->created, when, sizeof when), fmt_duration(j, dur, sizeof dur),
		       (unsigned long long)j->files, fmt_bytes(j->bytes, size, sizeof size));
		print_escaped(stdout, (const uint8_t *)j->message, strlen(j->message));
		printf("\n");
	}
}

int cmd_jobs(int argc, char **argv)
{
	struct jobs_args *a = calloc(1, sizeof *a);
	struct job_rec *v = NULL;
	struct ipc_client *cl = NULL;
	struct ipc_writer w;
	struct ipc_msg m;
	int rc;
	ipc_writer_init(&w, IPC_JOBS, 1);
	if (a == NULL) {
		rc = EXIT_FAIL;
		goto out;
	}
	if ((rc = jobs_parse(argc, argv, a, false)) >= 0)
		goto out;
	rc = EXIT_FAIL;
	if ((cl = console_connect(&a->c, "backupd")) == NULL)
		goto out;
	ipc_put_str(&w, a->c.dataset);
	ipc_put_u32(&w, a->limit);
	if (console_call(cl, "backupd", &w, &m) != 0)
		goto out;
	struct ipc_reader rd;
	uint32_t n = 0;
	ipc_reader_init(&rd, &m);
	(void)ipc_get_list(&rd, &n);
	v = calloc(n ? n : 1, sizeof *v);
	if (v == NULL)
		goto out;
	for (uint32_t i = 0; i < n; i++)
		get_job(&rd, &v[i]);
	if (a->c.json) {
		printf("[");
		for (uint32_t i = 0; i < n; i++) {
			printf("%s{", i ? ",\n" : "");
			json_job_fields(&v[i]);
			printf("}");
		}
		printf("]\n");
	} else if (!a->c.quiet) {
		if (n == 0)
			printf("no jobs\n");
		else
			print_table(v, n);
	}
	rc = EXIT_OK;
out:
	free(v);
	ipc_writer_fini(&w);
	ipc_close(cl);
	free(a);
	return rc;
}

/* ---- coffer job show|cancel|watch -------------------------------------- */

static const char *level_name(uint8_t level)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	return level < 4 ? names[level] : "?";
}

/*
 * A job message without the level tag the daemon's log formatting put in
 * front ("error: "), which the level column already shows.
 */
static const char *untag(const char *text)
{
	static const char *const tags[] = { "error: ", "warning: ", "info: ", "debug: " };
	for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
		if (strncmp(text, tags[i], strlen(tags[i])) == 0)
			return text + strlen(tags[i]);
	return text;
}

/*
 * JOB_SHOW of a->id to backupd on cl: the record into *j and, when rd is
 * not NULL, the reader left at the messages list. 0, or -1 after saying why.
 */
static int show_job(struct ipc_client *cl, const struct jobs_args *a, struct job_rec *j,
		    struct ipc_reader *rd)
{
	struct ipc_writer w;
	struct ipc_msg m; /* the reply stays in cl's buffer until its next receive */
	struct ipc_reader local;
	ipc_writer_init(&w, IPC_JOB_SHOW, ipc_next_reqid(cl));
	ipc_put_u64(&w, a->id);
	int e = console_call(cl, "backupd", &w, &m);
	ipc_writer_fini(&w);
	if (e != 0)
		return -1;
	if (rd == NULL)
		rd = &local;
	ipc_reader_init(rd, &m);
	get_job(rd, j);
	return 0;
}

static void print_time_line(const char *label, int64_t t)
{
	char when[32];
	printf("%-14s %s\n", label, t > 0 ? fmt_time(t, when, sizeof when) : "-");
}

static int job_show(struct jobs_args *a, struct ipc_client *cl)
{
	struct job_rec *j = malloc(sizeof *j);
	struct ipc_reader rd;
	int rc = EXIT_FAIL;
	if (j == NULL || show_job(cl, a, j, &rd) != 0)
		goto out;
	uint32_t n = 0;
	(void)ipc_get_list(&rd, &n);
	if (a->c.json) {
		printf("{");
		json_job_fields(j);
		printf(",\"messages\":[");
		for (uint32_t i = 0; i < n; i++) {
			int64_t t = 0;
			uint8_t level = 0;
			char text[2049] = "";
			(void)ipc_get_i64(&rd, &t);
			(void)ipc_get_u8(&rd, &level);
			(void)ipc_get_str(&rd, text, sizeof text);
			printf("%s{\"time\":%lld,\"level\":\"%s\",\"text\":", i ? "," : "",
			       (long long)t, level_name(level));
			json_cstr(stdout, untag(text));
			printf("}");
		}
		printf("]}\n");
		rc = EXIT_OK;
		goto out;
	}
	char dur[32], size[32];
	printf("%-14s %llu\n%-14s %s\n%-14s %s\n%-14s coffer-%s\n%-14s %s\n%-14s %u\n"
	       "%-14s uid %u\n",
	       "job", (unsigned long long)j->id, "kind", j->kind, "dataset", j->dataset, "daemon",
	       j->daemon, "state", j->state, "attempt", j->attempt, "requested by",
	       j->requested_by);
	print_time_line("created", j->created);
	print_time_line("started", j->started);
	print_time_line("finished", j->finished);
	printf("%-14s %s\n%-14s %llu\n%-14s %s (%llu bytes)\n%-14s %llu\n%-14s %s\n%-14s ",
	       "duration", fmt_duration(j, dur, sizeof dur), "files",
	       (unsigned long long)j->files, "size", fmt_bytes(j->bytes, size, sizeof size),
	       (unsigned long long)j->bytes, "errors", (unsigned long long)j->errors, "snapshot",
	       j->snapshot[0] ? j->snapshot : "-", "message");
	print_escaped(stdout, (const uint8_t *)j->message, strlen(j->message));
	printf("\n");
	/* One "KEY VALUE" line per parameter; values are escaped already (jobs/params.h). */
	const char *p = j->params;
	bool first = true;
	while (*p) {
		size_t len = strcspn(p, "\n");
		printf("%-14s ", first ? "parameters" : "");
		print_escaped(stdout, (const uint8_t *)p, len);
		printf("\n");
		first = false;
		p += len;
		if (*p == '\n')
			p++;
	}
	if (first)
		printf("%-14s -\n", "parameters");
	printf("%-14s %u%s\n", "messages", n, n ? ":" : "");
	for (uint32_t i = 0; i < n; i++) {
		int64_t t = 0;
		uint8_t level = 0;
		char text[2049] = "", when[32];
		(void)ipc_get_i64(&rd, &t);
		(void)ipc_get_u8(&rd, &level);
		(void)ipc_get_str(&rd, text, sizeof text);
		const char *body = untag(text);
		printf("  %s  %-7s  ", fmt_time(t, when, sizeof when), level_name(level));
		print_escaped(stdout, (const uint8_t *)body, strlen(body));
		printf("\n");
	}
	rc = EXIT_OK;
out:
	free(j);
	return rc;
}

/*
 * A connection to the daemon that runs job j: cl itself when that is
 * backupd, else a new one (*own set, to close). NULL after saying why.
 */
static struct ipc_client *job_daemon(const struct jobs_args *a, struct ipc_client *cl,
				     const struct job_rec *j, struct ipc_client **own)
{
	*own = NULL;
	if (strcmp(j->daemon, "backupd") == 0 || j->daemon[0] == 0)
		return cl;
	if (strcmp(j->daemon, "restored") != 0) {
		log_errorx("job %llu is run by an unknown daemon '%.16s'", (unsigned long long)j->id,
			   j->daemon);
		return NULL;
	}
	*own = console_connect(&a->c, j->daemon);
	return *own;
}

static int job_cancel(struct jobs_args *a, struct ipc_client *cl)
{
	struct job_rec *j = malloc(sizeof *j);
	struct ipc_client *own = NULL, *to;
	struct ipc_writer w = { 0 }; /* fini is safe on a zeroed writer */
	struct ipc_msg m;
	int rc = EXIT_FAIL;
	if (j == NULL || show_job(cl, a, j, NULL) != 0)
		goto out;
	/* Ended jobs are refused by their daemon too; saying so here needs no daemon. */
	if (job_final(j)) {
		log_errorx("job %llu has already ended (%s): nothing to cancel",
			   (unsigned long long)j->id, j->state);
		goto out;
	}
	if ((to = job_daemon(a, cl, j, &own)) == NULL)
		goto out;
	ipc_writer_init(&w, IPC_JOB_CANCEL, ipc_next_reqid(to));
	ipc_put_u64(&w, j->id);
	if (console_call(to, j->daemon[0] ? j->daemon : "backupd", &w, &m) != 0)
		goto out;
	if (!a->c.quiet)
		printf("job %llu: %s\n", (unsigned long long)j->id,
		       strcmp(j->state, "queued") == 0 ? "cancelled"
						       : "asked to stop at its next safe point");
	rc = EXIT_OK;
out:
	ipc_writer_fini(&w);
	ipc_close(own);
	free(j);
	return rc;
}

static int job_watch(struct jobs_args *a, struct ipc_client *cl)
{
	struct job_rec *j = malloc(sizeof *j);
	struct ipc_client *own = NULL, *to;
	struct ipc_writer w = { 0 };
	struct ipc_msg m;
	struct job_end end;
	int rc = EXIT_FAIL;
	if (j == NULL || show_job(cl, a, j, NULL) != 0)
		goto out;
	/* Any daemon answers for an ended job; a running one is watched where it runs. */
	to = job_final(j) ? cl : job_daemon(a, cl, j, &own);
	if (to == NULL)
		goto out;
	const char *name = to == cl ? "backupd" : j->daemon;
	ipc_writer_init(&w, IPC_JOB_WATCH, ipc_next_reqid(to));
	ipc_put_u64(&w, j->id);
	if (console_call(to, name, &w, &m) != 0)
		goto out;
	if (console_follow_job(to, j->id, j->kind, &a->c, &end) != 0)
		goto out;
	rc = console_job_exit(&end);
	if (a->c.json) {
		printf("{\"job\":%llu,\"state\":", (unsigned long long)j->id);
		json_cstr(stdout, end.state);
		printf(",\"message\":");
		json_cstr(stdout, end.message);
		printf(",\"snapshot\":");
		json_cstr(stdout, end.snapshot);
		printf("}\n");
	} else if (rc != EXIT_OK) {
		log_errorx("job %llu %s: %s", (unsigned long long)j->id, end.state, end.message);
	} else if (!a->c.quiet) {
		printf("job %llu %s: %s\n", (unsigned long long)j->id, end.state, end.message);
	}
out:
	ipc_writer_fini(&w);
	ipc_close(own);
	free(j);
	return rc;
}

int cmd_job(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct jobs_args *a, struct ipc_client *cl);
	} subs[] = { { "show", job_show }, { "cancel", job_cancel }, { "watch", job_watch } };
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		jobs_usage();
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		if (strcmp(argv[1], subs[i].name) != 0)
			continue;
		struct jobs_args *a = calloc(1, sizeof *a);
		if (a == NULL)
			return EXIT_FAIL;
		int rc = jobs_parse(argc - 1, argv + 1, a, true);
		if (rc < 0) {
			struct ipc_client *cl = console_connect(&a->c, "backupd");
			rc = cl != NULL ? subs[i].run(a, cl) : EXIT_FAIL;
			ipc_close(cl);
		}
		free(a);
		return rc;
	}
	log_errorx("unknown job command '%s'", argv[1]);
	jobs_usage();
	return EXIT_USAGE;
}
